//! The event log's storage seam (docs/postgres.md): the same cases against
//! `SqliteLog` and `PgLog`, then what only PostgreSQL does: two instances
//! (two pools) appending at once, and a wake-up from one's append reaching
//! a listener on the other. PostgreSQL runs in a throwaway cluster
//! (support/pg_cluster.rs).

mod support {
    pub mod pg_cluster;
}

use rapport_core::model::Seq;
use rapport_server::hub::{HubError, HubResult};
use rapport_server::log_storage::{LogStorage, PgLog, SqliteLog, Wakeup};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::pg_cluster::PgCluster;

/// How a case gets logs of one kind.
trait Backend {
    type Log: LogStorage;
    /// A new, empty log.
    fn fresh(&mut self) -> Self::Log;
    /// The last fresh log opened again, as after a restart.
    fn reopen(&mut self) -> Self::Log;
    /// In an append's transaction, a row of the caller's own.
    fn write_aside(tx: &<Self::Log as LogStorage>::Tx<'_>, key: &str) -> HubResult<()>;
    /// Whether that row is there, read outside the log.
    fn aside(&mut self, key: &str) -> bool;
}

/// The events a case appends: JSON that says where it was put, with text
/// that must come back byte for byte.
fn json(seq: Seq, tag: &str) -> String {
    format!(
        r#"{{"seq":{},"tag":"{tag}","text":"a \"quote\", é, 🙂"}}"#,
        seq.0
    )
}

fn append<L: LogStorage>(log: &L, ws: &str, count: usize, tag: &str) -> HubResult<Seq> {
    log.append(ws, count, |_, first| {
        Ok((0..count)
            .map(|i| json(Seq(first.0 + i as u64), tag))
            .collect())
    })
    .map(|(first, _)| first)
}

fn seq_of(json: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(json).expect("stored JSON");
    v["seq"].as_u64().expect("a seq")
}

fn empty<B: Backend>(b: &mut B) {
    let log = b.fresh();
    assert_eq!(log.workspace_ids().unwrap(), Vec::<String>::new());
    assert_eq!(log.head("w1").unwrap(), Seq(0));
    assert_eq!(
        log.events_after("w1", Seq(0), 10).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(log.event("w1", Seq(1)).unwrap(), None);
}

fn appends_and_reads_back<B: Backend>(b: &mut B) {
    let log = b.fresh();
    log.create_workspace("w1", "One").unwrap();
    log.create_workspace("w2", "Two").unwrap();
    assert_eq!(append(&log, "w1", 3, "a").unwrap(), Seq(1));
    assert_eq!(append(&log, "w1", 2, "b").unwrap(), Seq(4));
    assert_eq!(
        append(&log, "w2", 1, "c").unwrap(),
        Seq(1),
        "seqs per workspace"
    );
    assert_eq!(log.head("w1").unwrap(), Seq(5));
    assert_eq!(log.head("w2").unwrap(), Seq(1));
    let all = log.events_after("w1", Seq(0), 100).unwrap();
    let expected: Vec<String> = [(1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "b")]
        .iter()
        .map(|&(s, t)| json(Seq(s), t))
        .collect();
    assert_eq!(all, expected, "in seq order, byte for byte");
    assert_eq!(log.events_after("w1", Seq(2), 2).unwrap(), expected[2..4]);
    assert_eq!(
        log.events_after("w1", Seq(5), 10).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(log.event("w1", Seq(4)).unwrap(), Some(expected[3].clone()));
    assert_eq!(log.event("w1", Seq(6)).unwrap(), None);
    assert_eq!(log.event("w2", Seq(1)).unwrap(), Some(json(Seq(1), "c")));
    // Creating a workspace again keeps it as it is.
    log.create_workspace("w1", "Renamed").unwrap();
    assert_eq!(log.head("w1").unwrap(), Seq(5));
    let mut ids = log.workspace_ids().unwrap();
    ids.sort();
    assert_eq!(ids, ["w1", "w2"]);
    // The JSON fill returned is handed back.
    let (first, jsons) = log
        .append("w2", 2, |_, first| {
            Ok(vec![json(first, "d"), json(Seq(first.0 + 1), "d")])
        })
        .unwrap();
    assert_eq!(first, Seq(2));
    assert_eq!(jsons, [json(Seq(2), "d"), json(Seq(3), "d")]);
}

fn fill_writes_with_the_events<B: Backend>(b: &mut B) {
    let log = b.fresh();
    log.create_workspace("w1", "One").unwrap();
    append(&log, "w1", 1, "a").unwrap();
    let (first, _) = log
        .append("w1", 2, |tx, first| {
            assert_eq!(first, Seq(2), "fill learns the first seq");
            B::write_aside(tx, "kept")?;
            Ok(vec![json(first, "b"), json(Seq(3), "b")])
        })
        .unwrap();
    assert_eq!(first, Seq(2));
    assert!(b.aside("kept"), "fill's row committed with the events");
}

fn a_failing_fill_takes_nothing<B: Backend>(b: &mut B) {
    let log = b.fresh();
    log.create_workspace("w1", "One").unwrap();
    append(&log, "w1", 2, "a").unwrap();
    let failed = log.append("w1", 2, |tx, _| {
        B::write_aside(tx, "lost")?;
        Err(HubError::Invalid("the caller's own failure".to_owned()))
    });
    assert!(matches!(failed, Err(HubError::Invalid(m)) if m == "the caller's own failure"));
    assert!(!b.aside("lost"), "fill's row rolled back");
    assert_eq!(log.head("w1").unwrap(), Seq(2));
    assert_eq!(log.events_after("w1", Seq(0), 10).unwrap().len(), 2);
    assert_eq!(
        append(&log, "w1", 1, "b").unwrap(),
        Seq(3),
        "no seq used by the failed append"
    );
}

fn a_wrong_count_is_refused<B: Backend>(b: &mut B) {
    let log = b.fresh();
    log.create_workspace("w1", "One").unwrap();
    for given in [0, 1, 3] {
        let r = log.append("w1", 2, |_, first| {
            Ok((0..given).map(|i| json(Seq(first.0 + i), "x")).collect())
        });
        assert!(
            matches!(r, Err(HubError::Invalid(_))),
            "{given} for 2: {r:?}"
        );
    }
    assert_eq!(log.head("w1").unwrap(), Seq(0));
    assert_eq!(
        log.events_after("w1", Seq(0), 10).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(append(&log, "w1", 2, "a").unwrap(), Seq(1));
}

fn an_unknown_workspace_is_refused<B: Backend>(b: &mut B) {
    let log = b.fresh();
    log.create_workspace("w1", "One").unwrap();
    let r = append(&log, "nope", 1, "a");
    assert!(
        matches!(&r, Err(HubError::NoWorkspace(w)) if w == "nope"),
        "{r:?}"
    );
    assert_eq!(log.head("nope").unwrap(), Seq(0));
    assert_eq!(log.workspace_ids().unwrap(), ["w1"]);
}

fn reopening_keeps_the_log<B: Backend>(b: &mut B) {
    {
        let log = b.fresh();
        log.create_workspace("w1", "One").unwrap();
        append(&log, "w1", 4, "a").unwrap();
    }
    let log = b.reopen();
    assert_eq!(log.workspace_ids().unwrap(), ["w1"]);
    assert_eq!(log.head("w1").unwrap(), Seq(4));
    assert_eq!(append(&log, "w1", 1, "b").unwrap(), Seq(5));
    let seqs: Vec<u64> = log
        .events_after("w1", Seq(0), 10)
        .unwrap()
        .iter()
        .map(|j| seq_of(j))
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}

fn a_large_batch_pages_back_in_order<B: Backend>(b: &mut B) {
    let log = b.fresh();
    log.create_workspace("w1", "One").unwrap();
    assert_eq!(append(&log, "w1", 2_500, "big").unwrap(), Seq(1));
    let mut since = Seq(0);
    let mut seen = 0;
    loop {
        let page = log.events_after("w1", since, 1_000).unwrap();
        if page.is_empty() {
            break;
        }
        for j in &page {
            seen += 1;
            assert_eq!(seq_of(j), seen);
        }
        since = Seq(seq_of(page.last().unwrap()));
    }
    assert_eq!(seen, 2_500);
}

type Case<B> = (&'static str, fn(&mut B));

fn cases<B: Backend>() -> Vec<Case<B>> {
    vec![
        ("empty", empty::<B>),
        ("appends_and_reads_back", appends_and_reads_back::<B>),
        (
            "fill_writes_with_the_events",
            fill_writes_with_the_events::<B>,
        ),
        (
            "a_failing_fill_takes_nothing",
            a_failing_fill_takes_nothing::<B>,
        ),
        ("a_wrong_count_is_refused", a_wrong_count_is_refused::<B>),
        (
            "an_unknown_workspace_is_refused",
            an_unknown_workspace_is_refused::<B>,
        ),
        ("reopening_keeps_the_log", reopening_keeps_the_log::<B>),
        (
            "a_large_batch_pages_back_in_order",
            a_large_batch_pages_back_in_order::<B>,
        ),
    ]
}

fn run_cases<B: Backend>(kind: &str, b: &mut B) {
    for (name, case) in cases::<B>() {
        eprintln!("{kind}: {name}");
        case(b);
    }
}

// ---- SQLite ----

struct Sqlite {
    dirs: Vec<tempfile::TempDir>,
}

impl Sqlite {
    fn path(&self) -> std::path::PathBuf {
        self.dirs
            .last()
            .expect("a fresh log first")
            .path()
            .join("server.db")
    }
}

impl Backend for Sqlite {
    type Log = SqliteLog;
    fn fresh(&mut self) -> SqliteLog {
        self.dirs.push(tempfile::tempdir().unwrap());
        SqliteLog::open(&self.path()).unwrap()
    }
    fn reopen(&mut self) -> SqliteLog {
        SqliteLog::open(&self.path()).unwrap()
    }
    fn write_aside(tx: &rusqlite::Transaction<'_>, key: &str) -> HubResult<()> {
        tx.execute(
            "INSERT INTO idempotency (workspace, key, status, body) VALUES ('w1', ?1, 200, '{}')",
            [key],
        )?;
        Ok(())
    }
    fn aside(&mut self, key: &str) -> bool {
        rusqlite::Connection::open(self.path())
            .unwrap()
            .query_row(
                "SELECT count(*) FROM idempotency WHERE key = ?1",
                [key],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
            == 1
    }
}

#[test]
fn sqlite_log_conforms() {
    run_cases("sqlite", &mut Sqlite { dirs: Vec::new() });
}

// ---- PostgreSQL ----

/// A runtime standing for one server instance's.
fn instance_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `sql` on `url` outside any log (the tests' own tables).
fn sql(rt: &tokio::runtime::Runtime, url: &str, sql: &str) {
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(conn);
        client.simple_query(sql).await.unwrap();
        drop(client);
        let _ = task.await;
    });
}

/// The single number `query` answers.
fn count(rt: &tokio::runtime::Runtime, url: &str, query: &str) -> i64 {
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(conn);
        let n: i64 = client.query_one(query, &[]).await.unwrap().get(0);
        drop(client);
        let _ = task.await;
        n
    })
}

struct Pg<'c> {
    cluster: &'c PgCluster,
    rt: tokio::runtime::Runtime,
    url: String,
}

impl Backend for Pg<'_> {
    type Log = PgLog;
    fn fresh(&mut self) -> PgLog {
        self.url = self.cluster.new_database();
        sql(
            &self.rt,
            &self.url,
            "CREATE TABLE aside (key TEXT PRIMARY KEY)",
        );
        self.reopen()
    }
    fn reopen(&mut self) -> PgLog {
        PgLog::connect(&self.url, 4, self.rt.handle().clone()).unwrap()
    }
    fn write_aside(tx: &rapport_server::log_storage::PgTx<'_>, key: &str) -> HubResult<()> {
        tx.execute("INSERT INTO aside (key) VALUES ($1)", &[&key])?;
        Ok(())
    }
    fn aside(&mut self, key: &str) -> bool {
        let q = format!("SELECT count(*) FROM aside WHERE key = '{key}'");
        count(&self.rt, &self.url, &q) == 1
    }
}

/// Two instances (a pool and a runtime each) append to one workspace at
/// once, from two threads each: every seq is used once, none is skipped,
/// each batch's seqs are contiguous and hold that batch's events, and both
/// instances read the same log.
fn two_instances_append_at_once(cluster: &PgCluster) {
    let url = cluster.new_database();
    let (rt_a, rt_b) = (instance_runtime(), instance_runtime());
    let a = Arc::new(PgLog::connect(&url, 2, rt_a.handle().clone()).unwrap());
    let b = Arc::new(PgLog::connect(&url, 2, rt_b.handle().clone()).unwrap());
    a.create_workspace("w1", "One").unwrap();
    b.create_workspace("w1", "One").unwrap();
    const BATCHES: usize = 60;
    let writers: Vec<_> = [a.clone(), a.clone(), b.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .map(|(t, log)| {
            std::thread::spawn(move || {
                (0..BATCHES)
                    .map(|i| {
                        let count = 1 + (t + i) % 4;
                        let tag = format!("{t}-{i}");
                        (append(&*log, "w1", count, &tag).unwrap(), count, tag)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut batches: Vec<(Seq, usize, String)> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    batches.sort();
    let total: usize = batches.iter().map(|b| b.1).sum();
    let mut next = 1;
    for (first, count, _) in &batches {
        assert_eq!(first.0, next, "batches neither overlap nor leave gaps");
        next += *count as u64;
    }
    assert_eq!(a.head("w1").unwrap(), Seq(total as u64));
    assert_eq!(b.head("w1").unwrap(), Seq(total as u64));
    let from_a = a.events_after("w1", Seq(0), 10_000).unwrap();
    assert_eq!(from_a, b.events_after("w1", Seq(0), 10_000).unwrap());
    assert_eq!(from_a.len(), total);
    for (first, count, tag) in &batches {
        for k in 0..*count {
            let seq = Seq(first.0 + k as u64);
            assert_eq!(from_a[seq.0 as usize - 1], json(seq, tag));
        }
    }
}

/// An append on one instance wakes a listener on the other, after its
/// commit, with the head; the listener reads the events by seq. A failed
/// append wakes nobody.
fn a_wakeup_reaches_the_other_instance(cluster: &PgCluster) {
    let url = cluster.new_database();
    let (rt_a, rt_b) = (instance_runtime(), instance_runtime());
    let a = PgLog::connect(&url, 2, rt_a.handle().clone()).unwrap();
    let b = PgLog::connect(&url, 2, rt_b.handle().clone()).unwrap();
    a.create_workspace("w1", "One").unwrap();
    let mut heard = b.listen().unwrap();
    let mut latencies = Vec::new();
    for round in 0..20u64 {
        let sent = Instant::now();
        append(&a, "w1", 2, "live").unwrap();
        let w = heard
            .recv_timeout(Duration::from_secs(5))
            .unwrap()
            .expect("woken within 5 s");
        latencies.push(sent.elapsed());
        let head = Seq(2 * (round + 1));
        assert_eq!(
            w,
            Wakeup {
                workspace: "w1".into(),
                head
            }
        );
        let tail = b.events_after("w1", Seq(head.0 - 2), 10).unwrap();
        assert_eq!(tail, [json(Seq(head.0 - 1), "live"), json(head, "live")]);
    }
    let failed = a.append("w1", 1, |_, _| {
        Err(HubError::Invalid("rolled back".to_owned()))
    });
    assert!(failed.is_err());
    assert_eq!(
        heard.recv_timeout(Duration::from_millis(300)).unwrap(),
        None,
        "a rolled-back append wakes nobody"
    );
    latencies.sort();
    eprintln!(
        "wake-up from the other instance: median {:?}, max {:?} (append to wake-up, loopback)",
        latencies[latencies.len() / 2],
        latencies.last().unwrap()
    );
    // The listener's connection closing ends the wake-ups with an error,
    // not a silence.
    sql(
        &rt_a,
        &url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    );
    assert!(heard.recv_timeout(Duration::from_secs(5)).is_err());
}

/// An instance whose connection dies in the middle of an append (killed,
/// cut off) holds nothing: its transaction rolls back with the seqs it
/// reserved, the other instance waiting on the workspace goes on from the
/// committed head without a gap, and the dead instance's pool replaces
/// the connection and appends again.
fn an_instance_dying_mid_append_leaves_no_gap(cluster: &PgCluster) {
    let url = cluster.new_database();
    let (rt_a, rt_b, rt_t) = (instance_runtime(), instance_runtime(), instance_runtime());
    let a = PgLog::connect(&url, 1, rt_a.handle().clone()).unwrap();
    let b = Arc::new(PgLog::connect(&url, 1, rt_b.handle().clone()).unwrap());
    a.create_workspace("w1", "One").unwrap();
    append(&a, "w1", 2, "before").unwrap();
    let dying = a.append("w1", 3, |_, first| {
        assert_eq!(first, Seq(3));
        // B's append now waits on the workspace's row, which A holds.
        let b2 = b.clone();
        let waiting = std::thread::spawn(move || append(&*b2, "w1", 1, "b"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while count(
            &rt_t,
            &url,
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
        ) == 0
        {
            assert!(Instant::now() < deadline, "B never waited on A's row");
            std::thread::sleep(Duration::from_millis(10));
        }
        // A dies with its transaction open.
        sql(
            &rt_t,
            &url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE state = 'idle in transaction' AND pid <> pg_backend_pid()",
        );
        assert_eq!(
            waiting.join().unwrap().unwrap(),
            Seq(3),
            "B takes the seq A had"
        );
        Ok((3..6).map(|s| json(Seq(s), "dead")).collect())
    });
    assert!(matches!(dying, Err(HubError::Postgres(_))), "{dying:?}");
    assert_eq!(
        a.head("w1").unwrap(),
        Seq(3),
        "the pool has a new connection"
    );
    assert_eq!(append(&a, "w1", 1, "after").unwrap(), Seq(4));
    let tags: Vec<String> = b
        .events_after("w1", Seq(0), 10)
        .unwrap()
        .iter()
        .map(|j| serde_json::from_str::<serde_json::Value>(j).unwrap()["tag"].to_string())
        .collect();
    assert_eq!(tags, [r#""before""#, r#""before""#, r#""b""#, r#""after""#]);
}

/// Instances starting together on an empty database both bring the
/// schema up (one creates it, the other waits and finds it); a database
/// whose schema is newer than this build is refused with the versions.
fn schema_steps(cluster: &PgCluster) {
    let url = cluster.new_database();
    let rt = instance_runtime();
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let (url, h) = (url.clone(), rt.handle().clone());
            std::thread::spawn(move || PgLog::connect(&url, 1, h).map(|_| ()))
        })
        .collect();
    for s in starts {
        s.join().unwrap().unwrap();
    }
    assert_eq!(count(&rt, &url, "SELECT version FROM rapport_schema"), 1);
    sql(&rt, &url, "UPDATE rapport_schema SET version = 99");
    let r = PgLog::connect(&url, 1, rt.handle().clone());
    assert!(
        matches!(
            r,
            Err(HubError::PgTooNew {
                found: 99,
                known: 1
            })
        ),
        "{:?}",
        r.err()
    );
    let bad = PgLog::connect("host=127.0.0.1 port=notaport", 1, rt.handle().clone());
    assert!(matches!(bad, Err(HubError::Postgres(_))), "{:?}", bad.err());
}

/// A `HubError` names what PostgreSQL refused (its message and SQLSTATE,
/// where tokio-postgres alone says "db error") but not the DETAIL of a
/// constraint error, which quotes the row ("Key (k)=(...) already
/// exists"), so no value reaches a log.
fn an_error_quotes_no_value(cluster: &PgCluster) {
    let url = cluster.new_database();
    let rt = instance_runtime();
    sql(&rt, &url, "CREATE TABLE t (k text PRIMARY KEY)");
    let err = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(conn);
        let insert = "INSERT INTO t VALUES ('call me at 555-0100')";
        client.simple_query(insert).await.unwrap();
        let err = client.simple_query(insert).await.unwrap_err();
        drop(client);
        let _ = task.await;
        err
    });
    let detail = err.as_db_error().and_then(|d| d.detail()).unwrap_or("");
    assert!(
        detail.contains("555-0100"),
        "PostgreSQL quotes the row: {detail}"
    );
    let shown = HubError::from(err).to_string();
    assert!(!shown.contains("555-0100"), "{shown}");
    assert!(shown.contains("23505"), "the SQLSTATE stays: {shown}");
}

#[test]
fn postgres_log_conforms() {
    let Some(cluster) = PgCluster::start_or_skip("postgres_log_conforms") else {
        return;
    };
    let started = Instant::now();
    run_cases(
        "postgres",
        &mut Pg {
            cluster: &cluster,
            rt: instance_runtime(),
            url: String::new(),
        },
    );
    eprintln!("postgres: two_instances_append_at_once");
    two_instances_append_at_once(&cluster);
    eprintln!("postgres: a_wakeup_reaches_the_other_instance");
    a_wakeup_reaches_the_other_instance(&cluster);
    eprintln!("postgres: an_instance_dying_mid_append_leaves_no_gap");
    an_instance_dying_mid_append_leaves_no_gap(&cluster);
    eprintln!("postgres: schema_steps");
    schema_steps(&cluster);
    eprintln!("postgres: an_error_quotes_no_value");
    an_error_quotes_no_value(&cluster);
    eprintln!("postgres cases: {:?}", started.elapsed());
}
