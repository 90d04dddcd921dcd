//! Issue 16 hole 5: a workspace's file bytes (E2: downloads and upload
//! parts) have a share of the server's time, so one workspace moving large
//! files cannot starve another's light requests.
//!
//! Moving the SQLite work off the async workers was not enough: on loopback
//! eight parallel 20 MB downloads copy bytes as fast as the cores allow,
//! both cores go to the kernel's copies, and another workspace's requests
//! wait for a core (the light requests' p99 went from under a millisecond
//! to tens). So each workspace's file bytes pass a GCRA rate limiter of the
//! `governor` crate (one bucket per workspace, in KiB): up to
//! [`BURST_BYTES`] at once, then [`DEFAULT_BYTES_PER_S`] sustained. That is
//! above what a phone's link usually carries (a download over 4G or Wi-Fi runs
//! at its link's speed as before), but it caps what one workspace can make
//! the server copy, whatever its number of connections. Light requests
//! (JSON commands, sync, settings) do not pass it.
//!
//! Downloads take their bytes chunk by chunk ([`CHUNK`]) as they stream, so
//! the file flows evenly rather than in bursts of a whole part; an upload
//! part takes its announced length before its body is read.

use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};

/// A workspace's sustained rate of file bytes: 32 MiB/s (256 Mbit/s, above
/// what a phone's 4G or Wi-Fi link carries). At 64 MiB/s another
/// workspace's light requests still had a p99 about twice their idle one on
/// a 2-core machine (`noisy_neighbour_p99_ratio` 2.0-2.2); at 32 MiB/s 1.25.
pub const DEFAULT_BYTES_PER_S: u64 = 32 * 1024 * 1024;
/// What a workspace may move at once before the rate applies: one whole
/// upload part (the largest is 2 MB) plus some.
pub const BURST_BYTES: u64 = 4 * 1024 * 1024;
/// How a download is cut as it streams: small pieces keep each burst of
/// copying short (64 KiB measured better than 256 KiB).
pub const CHUNK: usize = 64 * 1024;
/// Workspace buckets kept before stale ones are dropped.
const RETAIN_AFTER: usize = 10_000;

const KIB: u64 = 1024;

/// Per-workspace shares of file bytes; `None` inside: unlimited.
pub struct BulkLimits {
    limiter: RwLock<Option<Arc<DefaultKeyedRateLimiter<String>>>>,
}

impl BulkLimits {
    /// `bytes_per_s` per workspace (0: unlimited).
    pub fn new(bytes_per_s: u64) -> BulkLimits {
        BulkLimits {
            limiter: RwLock::new(limiter(bytes_per_s)),
        }
    }

    pub fn standard() -> BulkLimits {
        BulkLimits::new(DEFAULT_BYTES_PER_S)
    }

    /// Replaces the rate (0: unlimited) and forgets every bucket: an
    /// operator's setting, and tests or benches that measure without it.
    pub fn reconfigure(&self, bytes_per_s: u64) {
        *self.limiter.write().unwrap_or_else(|e| e.into_inner()) = limiter(bytes_per_s);
    }

    /// Waits until workspace `ws` may move `bytes` more.
    pub async fn take(&self, ws: &str, bytes: usize) {
        let Some(limiter) = self
            .limiter
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        else {
            return;
        };
        let key = ws.to_owned();
        // In pieces no larger than the burst, so no request is refused for
        // its size (the limiter cannot grant more than its burst at once).
        let mut left = (bytes as u64).div_ceil(KIB);
        while left > 0 {
            let n = left.min(BURST_BYTES / KIB);
            left -= n;
            let n = NonZeroU32::new(n as u32).unwrap_or(NonZeroU32::MIN);
            // Cannot fail: n is at most the burst.
            let _ = limiter.until_key_n_ready(&key, n).await;
        }
        if limiter.len() > RETAIN_AFTER {
            limiter.retain_recent();
        }
    }
}

fn limiter(bytes_per_s: u64) -> Option<Arc<DefaultKeyedRateLimiter<String>>> {
    let per_s = NonZeroU32::new(u32::try_from(bytes_per_s.div_ceil(KIB)).unwrap_or(u32::MAX))?;
    let burst = NonZeroU32::new((BURST_BYTES / KIB) as u32).unwrap_or(NonZeroU32::MIN);
    Some(Arc::new(DefaultKeyedRateLimiter::keyed(
        Quota::per_second(per_s).allow_burst(burst),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A workspace past its burst waits at its rate; another workspace
    /// does not wait for it; unlimited never waits.
    #[tokio::test]
    async fn e2_each_workspace_has_its_own_share() {
        let limits = BulkLimits::new(8 * 1024 * 1024);
        let t = Instant::now();
        limits.take("heavy", BURST_BYTES as usize).await;
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "the burst is free"
        );
        let t = Instant::now();
        limits.take("heavy", 2 * 1024 * 1024).await;
        let waited = t.elapsed();
        // 2 MiB at 8 MiB/s: a quarter of a second.
        assert!(
            waited >= Duration::from_millis(200),
            "past the burst a workspace waits at its rate ({waited:?})"
        );
        let t = Instant::now();
        limits.take("calm", 1024 * 1024).await;
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "another workspace has its own bucket"
        );
        limits.reconfigure(0);
        let t = Instant::now();
        limits.take("heavy", 64 * 1024 * 1024).await;
        assert!(t.elapsed() < Duration::from_millis(100), "0: unlimited");
    }

    /// More than the burst at once is granted in pieces, not refused.
    #[tokio::test]
    async fn e2_a_take_larger_than_the_burst_is_granted_in_pieces() {
        let limits = BulkLimits::new(1024 * 1024 * 1024);
        let t = Instant::now();
        limits.take("w", 3 * BURST_BYTES as usize).await;
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
