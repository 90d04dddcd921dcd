//! A throwaway PostgreSQL cluster for tests (docs/postgres.md): `initdb`
//! in a temporary folder, the server on a free loopback port (no Unix
//! socket), stopped and removed on drop.
//!
//! The binaries: `RAPPORT_PG_BIN`, else the newest
//! `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package), else
//! `pg_config --bindir`. As root (CI), where `initdb` refuses to run, the
//! cluster runs as `postgres` (else `nobody`) through `runuser`.
//!
//! Without PostgreSQL, [`PgCluster::start_or_skip`] says why and the test
//! passes without it; with `RAPPORT_POSTGRES=require` (scripts/test.sh as
//! root) it fails.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Who runs the server's processes: `None`, this process's user.
    run_as: Option<String>,
    pub port: u16,
}

/// The superuser `initdb` creates (trust authentication, loopback only).
const SUPERUSER: &str = "rapport";

impl PgCluster {
    /// A started cluster, or `None` (with the reason on stderr) when
    /// PostgreSQL cannot run here, unless `RAPPORT_POSTGRES=require`:
    /// then it panics with the reason.
    pub fn start_or_skip(test: &str) -> Option<PgCluster> {
        match PgCluster::start() {
            Ok(c) => Some(c),
            Err(why) => {
                assert!(
                    std::env::var("RAPPORT_POSTGRES").as_deref() != Ok("require"),
                    "RAPPORT_POSTGRES=require, but no PostgreSQL for {test}: {why}"
                );
                // Straight to stderr, past the test harness's capture:
                // a skip is said even when the test passes.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED {test}: no PostgreSQL: {why} (Debian: apt-get install postgresql; \
                     or RAPPORT_PG_BIN=<folder of initdb and pg_ctl>)"
                );
                None
            }
        }
    }

    pub fn start() -> Result<PgCluster, String> {
        let bin = find_bin()?;
        let run_as = if is_root() {
            Some(
                ["postgres", "nobody"]
                    .into_iter()
                    .find(|u| id(&["-u", u]).is_ok())
                    .ok_or("running as root, and there is no postgres or nobody user to run as")?
                    .to_owned(),
            )
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("rapport-pg-")
            .tempdir()
            .map_err(|e| format!("a temporary folder: {e}"))?;
        if let Some(user) = &run_as {
            let uid = id(&["-u", user])?;
            let gid = id(&["-g", user])?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| format!("chown of the cluster's folder to {user}: {e}"))?;
        }
        let mut cluster = PgCluster {
            dir,
            bin,
            run_as,
            port: 0,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )?;
        // A port free now may be taken before the server binds it: a few
        // tries.
        let mut last = String::new();
        for _ in 0..3 {
            cluster.port = free_port()?;
            let opts = format!(
                "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off \
                 -c full_page_writes=off -c max_connections=50",
                cluster.port
            );
            let log = cluster.dir.path().join("server.log");
            match cluster.run(
                "pg_ctl",
                &[
                    "start",
                    "-w",
                    "-t",
                    "30",
                    "-D",
                    path_str(&data)?,
                    "-l",
                    path_str(&log)?,
                    "-o",
                    &opts,
                ],
            ) {
                Ok(()) => return Ok(cluster),
                Err(e) => {
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    last = format!("{e}; server log: {tail}");
                }
            }
        }
        Err(last)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of the cluster's binaries as the cluster's user.
    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args).current_dir(self.dir.path());
        let out = cmd
            .output()
            .map_err(|e| format!("{} did not run: {e}", exe.display()))?;
        checked(tool, out).map(|_| ())
    }

    /// A connection string for database `db` (libpq's key=value form).
    pub fn url(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={SUPERUSER} dbname={db}",
            self.port
        )
    }

    /// A new, empty database with a name of its own; its connection string.
    pub fn new_database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}", N.fetch_add(1, Ordering::Relaxed));
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", SUPERUSER, &name])
            .output()
            .expect("createdb runs");
        checked("createdb", out).expect("a new database");
        self.url(&name)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data();
        if let Some(data) = data.to_str()
            && let Err(e) = self.run("pg_ctl", &["stop", "-w", "-m", "immediate", "-D", data])
        {
            eprintln!("the test PostgreSQL did not stop: {e}");
        }
    }
}

fn checked(tool: &str, out: Output) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{tool} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("not UTF-8: {}", p.display()))
}

fn find_bin() -> Result<PathBuf, String> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("RAPPORT_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if has_tools(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "RAPPORT_PG_BIN={} has no initdb and pg_ctl",
                dir.display()
            ))
        };
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_tools(&bin).then_some((version, bin))
        })
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return Ok(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_tools(&dir) {
            return Ok(dir);
        }
    }
    Err("no initdb and pg_ctl in /usr/lib/postgresql/*/bin nor in pg_config --bindir".to_owned())
}

fn is_root() -> bool {
    id(&["-u"]) == Ok(0)
}

/// `id ARGS` as a number.
fn id(args: &[&str]) -> Result<u32, String> {
    let out = Command::new("id")
        .args(args)
        .output()
        .map_err(|e| format!("id did not run: {e}"))?;
    checked("id", out)?
        .trim()
        .parse()
        .map_err(|e| format!("id {args:?}: {e}"))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}
