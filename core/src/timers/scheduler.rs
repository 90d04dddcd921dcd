//! The deadline scheduler (S4): fires an event when a deadline's time comes,
//! without polling. One tokio task holds the deadlines ordered by time and
//! sleeps until the earliest; setting a deadline wakes it to re-arm.

use super::clock::{BoxFuture, Clock};
use crate::model::{ChatId, MessageId, Timestamp};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a deadline is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeadlineKey {
    /// E4: the chat's support window closes.
    WindowCloses(ChatId),
    /// E3/F7: the bot pause for the chat's subscriber ends.
    PauseEnds(ChatId),
    /// B8: a Telegram message turns 48 hours old (no more edit or delete).
    EditDeleteEnds(ChatId, MessageId),
}

/// A deadline reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimerEvent {
    pub key: DeadlineKey,
    /// The deadline (server time); the event fires as soon after as the
    /// runtime wakes.
    pub at: Timestamp,
}

pub type TimerListener = Arc<dyn Fn(TimerEvent) + Send + Sync>;

enum Cmd {
    /// Deadlines, and the time when they were set.
    Set(Vec<(DeadlineKey, Option<Timestamp>)>, Timestamp),
    Count(tokio::sync::oneshot::Sender<usize>),
}

/// Deadlines, each firing once. Dropping the scheduler stops it.
pub struct Scheduler {
    tx: mpsc::UnboundedSender<Cmd>,
    task: JoinHandle<()>,
    clock: Arc<dyn Clock>,
}

impl Scheduler {
    /// Starts the scheduler on `runtime`; `listener` hears each event, on
    /// the scheduler's task (it must not block).
    pub fn start(
        runtime: &tokio::runtime::Handle,
        clock: Arc<dyn Clock>,
        listener: TimerListener,
    ) -> Scheduler {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = runtime.spawn(run(clock.clone(), listener, rx));
        Scheduler { tx, task, clock }
    }

    /// Sets, moves (`Some`) or removes (`None`) deadlines. A deadline not in
    /// the future now, when it is set, is not armed: what it would announce
    /// has already happened and queries show it. One that passes while the
    /// command travels to the task fires at once.
    pub fn set(&self, deadlines: Vec<(DeadlineKey, Option<Timestamp>)>) {
        if !deadlines.is_empty() {
            // Fails only once the task has ended (the runtime shut down).
            let _ = self.tx.send(Cmd::Set(deadlines, self.clock.now()));
        }
    }

    /// How many deadlines are armed (after every `set` sent before).
    pub async fn armed(&self) -> usize {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Cmd::Count(tx)).is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct Deadlines {
    by_time: BTreeSet<(Timestamp, DeadlineKey)>,
    by_key: HashMap<DeadlineKey, Timestamp>,
}

impl Deadlines {
    fn set(&mut self, key: DeadlineKey, at: Option<Timestamp>, now: Timestamp) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key.clone()));
        }
        if let Some(at) = at.filter(|at| *at > now) {
            self.by_time.insert((at, key.clone()));
            self.by_key.insert(key, at);
        }
    }

    fn next(&self) -> Option<Timestamp> {
        self.by_time.first().map(|(t, _)| *t)
    }

    fn take_due(&mut self, now: Timestamp) -> Vec<TimerEvent> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.by_time.first()
            && *at <= now
        {
            if let Some((at, key)) = self.by_time.pop_first() {
                self.by_key.remove(&key);
                due.push(TimerEvent { key, at });
            }
        }
        due
    }
}

async fn run(clock: Arc<dyn Clock>, listener: TimerListener, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut d = Deadlines::default();
    loop {
        let sleep: BoxFuture = match d.next() {
            Some(t) => clock.sleep_until(t),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            // Commands first: a change committed before a deadline passed
            // must move it before it can fire.
            biased;
            cmd = rx.recv() => match cmd {
                None => return,
                Some(Cmd::Set(list, set_at)) => {
                    for (k, at) in list {
                        d.set(k, at, set_at);
                    }
                }
                Some(Cmd::Count(reply)) => {
                    let _ = reply.send(d.by_key.len());
                }
            },
            _ = sleep => {
                for ev in d.take_due(clock.now()) {
                    listener(ev);
                }
            }
        }
    }
}
