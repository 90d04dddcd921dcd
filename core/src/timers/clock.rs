//! A clock on server time (S4).
//!
//! Every deadline of the product is on server time. The device clock may
//! be off by any amount (a skew of hours is common), so the core never
//! trusts it: each server response carries the server's time, and
//! [`ServerClock`] anchors "server now" to the monotonic clock at the
//! moment it was observed. Until the first observation it falls back to
//! the device clock.
//!
//! Tests use [`ManualClock`], which moves only when told to.

use crate::model::Timestamp;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Server time, and a way to wait for it.
pub trait Clock: Send + Sync + 'static {
    /// Server time now.
    fn now(&self) -> Timestamp;
    /// Resolves when `now() >= t`. It may resolve early if the clock's idea
    /// of server time changes; callers check `now()` again.
    fn sleep_until(&self, t: Timestamp) -> BoxFuture;
}

/// How many recent observations are kept; the one with the shortest round
/// trip (the least uncertain) sets the offset.
const SAMPLES: usize = 8;

#[derive(Clone, Copy, Debug)]
struct Sample {
    /// Server time at `at`, estimated as the response's time plus half the
    /// round trip.
    server: Timestamp,
    at: Instant,
    rtt: Duration,
}

/// Server time from the monotonic clock and observations of the server's.
pub struct ServerClock {
    device: Box<dyn Fn() -> Timestamp + Send + Sync>,
    samples: Mutex<Vec<Sample>>,
    /// Bumped on every observation, to wake sleepers whose deadline moved.
    changed: watch::Sender<u64>,
}

impl Default for ServerClock {
    fn default() -> Self {
        Self::with_device_clock(|| {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            Timestamp(ms)
        })
    }
}

impl ServerClock {
    /// A clock whose device time comes from `device` (tests skew it).
    pub fn with_device_clock(device: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        ServerClock {
            device: Box::new(device),
            samples: Mutex::new(Vec::new()),
            changed: watch::channel(0).0,
        }
    }

    /// Records a server response: its server time, and when the request was
    /// sent and the response received (monotonic).
    pub fn observe(&self, server_time: Timestamp, sent: Instant, received: Instant) {
        let rtt = received.saturating_duration_since(sent);
        let sample = Sample {
            server: server_time.plus_millis((rtt / 2).as_millis() as i64),
            at: received,
            rtt,
        };
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        s.push(sample);
        if s.len() > SAMPLES {
            s.remove(0);
        }
        drop(s);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Server time minus device time, as now estimated (for diagnostics).
    pub fn offset_ms(&self) -> i64 {
        self.now().0 - (self.device)().0
    }

    fn best(&self) -> Option<Sample> {
        let s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        s.iter().min_by_key(|x| x.rtt).copied()
    }
}

impl Clock for ServerClock {
    fn now(&self) -> Timestamp {
        match self.best() {
            Some(b) => b
                .server
                .plus_millis(Instant::now().saturating_duration_since(b.at).as_millis() as i64),
            None => (self.device)(),
        }
    }

    fn sleep_until(&self, t: Timestamp) -> BoxFuture {
        let wait = Duration::from_millis((t.0 - self.now().0).max(0) as u64);
        let mut changed = self.changed.subscribe();
        Box::pin(async move {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = changed.changed() => {}
            }
        })
    }
}

/// A clock that moves only when a test moves it.
pub struct ManualClock {
    now: watch::Sender<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: watch::channel(start).0,
        }
    }

    pub fn set(&self, t: Timestamp) {
        self.now.send_replace(t);
    }

    pub fn advance_ms(&self, ms: i64) {
        self.now.send_modify(|t| *t = t.plus_millis(ms));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    fn sleep_until(&self, t: Timestamp) -> BoxFuture {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // Wait for a change, or return if the sender is gone.
            let _ = rx.wait_for(|now| *now >= t).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s4_device_skew_of_an_hour_either_way_changes_nothing() {
        let real = || ServerClock::default().now();
        for skew in [-3_600_000i64, 3_600_000] {
            let c = ServerClock::with_device_clock(move || real().plus_millis(skew));
            // Before any server response, the device clock is all there is.
            assert!((c.now().0 - real().0 - skew).abs() < 50);
            let sent = Instant::now();
            c.observe(real(), sent, Instant::now());
            assert!((c.now().0 - real().0).abs() < 50, "skew {skew}");
            assert!((c.offset_ms() + skew).abs() < 50);
        }
    }

    #[test]
    fn s4_the_least_uncertain_sample_wins() {
        let c = ServerClock::with_device_clock(|| Timestamp(0));
        let t = Instant::now();
        c.observe(Timestamp(1_000_000), t, t + Duration::from_millis(10));
        // A slow response (2 s round trip) claiming a very different time.
        c.observe(Timestamp(5_000_000), t, t + Duration::from_secs(2));
        let now = c.now().0;
        assert!((1_000_000..1_100_000).contains(&now), "{now}");
    }
}
