//! Fault injection, switchable per test: added latency, 5xx, 429 with
//! Retry-After, connections broken mid-response and 200s whose body is an
//! HTML page (a captive portal that never forwards the request, or a proxy
//! that replaces the answer) and panics on the next requests, live streams cut after
//! some events, duplicated and reordered deliveries on the stream.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct Faults {
    latency_ms: AtomicU64,
    fail_next: AtomicU32,
    drop_next: AtomicU32,
    rate_limit_next: AtomicU32,
    portal_next: AtomicU32,
    panic_next: AtomicU32,
    mangle_next: AtomicU32,
    retry_after_s: AtomicU64,
    cut_after: AtomicU64,
    duplicate: AtomicBool,
    reorder: AtomicBool,
    /// Faults drawn at random per request (chaos rounds).
    random: Mutex<Option<(FaultSpec, fastrand::Rng)>>,
}

fn take(n: &AtomicU32) -> bool {
    n.fetch_update(SeqCst, SeqCst, |v| v.checked_sub(1)).is_ok()
}

impl Faults {
    /// Every request waits this long first.
    pub fn set_latency_ms(&self, ms: u64) {
        self.latency_ms.store(ms, SeqCst);
    }
    /// The next `n` requests answer 503.
    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, SeqCst);
    }
    /// The next `n` requests get their headers and then the connection
    /// breaks mid-body (a reset on a mobile network).
    pub fn drop_next(&self, n: u32) {
        self.drop_next.store(n, SeqCst);
    }
    /// The next `n` requests answer 429 with `Retry-After: secs`.
    pub fn rate_limit_next(&self, n: u32, secs: u64) {
        self.retry_after_s.store(secs, SeqCst);
        self.rate_limit_next.store(n, SeqCst);
    }
    /// The next `n` requests never reach the server: a captive portal
    /// answers 200 with its HTML login page.
    pub fn portal_next(&self, n: u32) {
        self.portal_next.store(n, SeqCst);
    }
    /// The next `n` requests are served, but a proxy replaces each answer
    /// with a 200 HTML page: the command ran, its answer is lost.
    pub fn mangle_next(&self, n: u32) {
        self.mangle_next.store(n, SeqCst);
    }
    /// The next `n` requests panic in the server, as a handler's bug would.
    pub fn panic_next(&self, n: u32) {
        self.panic_next.store(n, SeqCst);
    }
    /// Each live stream is cut (closed without a close frame) after it has
    /// sent `n` events; 0: never.
    pub fn cut_streams_after(&self, n: u64) {
        self.cut_after.store(n, SeqCst);
    }
    /// Every stream frame is sent twice.
    pub fn set_duplicate(&self, on: bool) {
        self.duplicate.store(on, SeqCst);
    }
    /// The first two events of each stream frame swap places.
    pub fn set_reorder(&self, on: bool) {
        self.reorder.store(on, SeqCst);
    }
    /// Chaos rounds: every request draws a fault from `spec` (with its
    /// seeded generator); `None` stops drawing. The stream faults of the
    /// spec (cut, duplicate, reorder) are set as by their own setters.
    pub fn set_random(&self, spec: Option<FaultSpec>) {
        if let Some(s) = &spec {
            self.cut_streams_after(s.cut_after);
            self.set_duplicate(s.duplicate);
            self.set_reorder(s.reorder);
        }
        *self.random.lock().unwrap_or_else(|e| e.into_inner()) =
            spec.map(|s| (s.clone(), fastrand::Rng::with_seed(s.seed)));
    }

    /// The fault and extra latency this request draws, if drawing is on.
    fn draw(&self) -> (Option<Drawn>, u64) {
        let mut random = self.random.lock().unwrap_or_else(|e| e.into_inner());
        let Some((spec, rng)) = random.as_mut() else {
            return (None, 0);
        };
        let latency = if spec.latency_ms > 0 {
            rng.u64(0..=spec.latency_ms)
        } else {
            0
        };
        let mut x = rng.f64();
        for (p, fault) in [
            (spec.fail, Drawn::Fail),
            (spec.drop, Drawn::Drop),
            (spec.rate_limit, Drawn::RateLimit),
            (spec.portal, Drawn::Portal),
            (spec.mangle, Drawn::Mangle),
            (spec.panic, Drawn::Panic),
        ] {
            if x < p {
                return (Some(fault), latency);
            }
            x -= p;
        }
        (None, latency)
    }

    pub fn clear(&self) {
        self.set_random(None);
        self.set_latency_ms(0);
        self.fail_next(0);
        self.drop_next(0);
        self.rate_limit_next(0, 0);
        self.portal_next(0);
        self.panic_next(0);
        self.mangle_next(0);
        self.cut_streams_after(0);
        self.set_duplicate(false);
        self.set_reorder(false);
    }

    pub(crate) fn duplicate(&self) -> bool {
        self.duplicate.load(SeqCst)
    }
    pub(crate) fn reorder(&self) -> bool {
        self.reorder.load(SeqCst)
    }
    pub(crate) fn cut_stream(&self, sent: u64) -> bool {
        let n = self.cut_after.load(SeqCst);
        n > 0 && sent >= n
    }
}

/// Random faults for chaos rounds, `rapport-server --faults SPEC`: a
/// comma-separated list of `seed=N`, `latency=MS` (each request waits up
/// to MS), the probabilities per request `fail=P` (503), `drop=P`
/// (connection reset mid-body, the command not run), `429=P` (Retry-After
/// 0), `portal=P` (HTML 200, not run), `mangle=P` (run, its answer
/// replaced with HTML 200), `panic=P`, and the stream faults `cut=N`
/// (cut each stream after N events), `duplicate`, `reorder`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultSpec {
    pub seed: u64,
    pub latency_ms: u64,
    pub fail: f64,
    pub drop: f64,
    pub rate_limit: f64,
    pub portal: f64,
    pub mangle: f64,
    pub panic: f64,
    pub cut_after: u64,
    pub duplicate: bool,
    pub reorder: bool,
}

impl std::str::FromStr for FaultSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<FaultSpec, String> {
        let mut spec = FaultSpec::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let bad = || format!("--faults: bad value in {part:?}");
            let int = || value.parse::<u64>().map_err(|_| bad());
            let p = || match value.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
                _ => Err(bad()),
            };
            match name {
                "seed" => spec.seed = int()?,
                "latency" => spec.latency_ms = int()?,
                "fail" => spec.fail = p()?,
                "drop" => spec.drop = p()?,
                "429" => spec.rate_limit = p()?,
                "portal" => spec.portal = p()?,
                "mangle" => spec.mangle = p()?,
                "panic" => spec.panic = p()?,
                "cut" => spec.cut_after = int()?,
                "duplicate" => spec.duplicate = true,
                "reorder" => spec.reorder = true,
                _ => return Err(format!("--faults: unknown fault {name:?}")),
            }
        }
        let total =
            spec.fail + spec.drop + spec.rate_limit + spec.portal + spec.mangle + spec.panic;
        if total > 1.0 {
            return Err("--faults: the probabilities add up to more than 1".into());
        }
        Ok(spec)
    }
}

/// A fault drawn for one request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Drawn {
    Fail,
    Drop,
    RateLimit,
    Portal,
    Mangle,
    Panic,
}

/// What a captive portal or a meddling proxy answers.
fn html_page() -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><html><body>Sign in to the hotel Wi-Fi</body></html>",
    )
        .into_response()
}

/// The HTTP side: latency, 503, 429, broken bodies, HTML 200s.
pub async fn inject(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let f = &state.faults;
    let (drawn, extra) = f.draw();
    let is = |d: Drawn| drawn == Some(d);
    let latency = f.latency_ms.load(SeqCst) + extra;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if take(&f.fail_next) || is(Drawn::Fail) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            rapport_core::wire::ErrorCode::Unavailable,
            "injected fault",
        )
        .into_response();
    }
    if take(&f.drop_next) || is(Drawn::Drop) {
        let broken = futures_util::stream::once(async {
            Err::<axum::body::Bytes, _>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected fault: connection reset",
            ))
        });
        return Response::new(axum::body::Body::from_stream(broken));
    }
    if take(&f.rate_limit_next) || is(Drawn::RateLimit) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            rapport_core::wire::ErrorCode::RateLimited,
            "slow down",
        );
        e.retry_after = Some(if is(Drawn::RateLimit) {
            0
        } else {
            f.retry_after_s.load(SeqCst)
        });
        return e.into_response();
    }
    if take(&f.panic_next) || is(Drawn::Panic) {
        panic!("injected fault: a handler's bug");
    }
    if take(&f.portal_next) || is(Drawn::Portal) {
        return html_page();
    }
    let served = next.run(req).await;
    if take(&f.mangle_next) || is(Drawn::Mangle) {
        return html_page();
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s2_a_fault_spec_parses_and_refuses_what_it_cannot_mean() {
        let spec: FaultSpec = "seed=7,latency=20,fail=0.1,429=0.05,cut=30,duplicate"
            .parse()
            .unwrap();
        assert_eq!(spec.seed, 7);
        assert_eq!(spec.latency_ms, 20);
        assert_eq!(spec.fail, 0.1);
        assert_eq!(spec.rate_limit, 0.05);
        assert_eq!(spec.cut_after, 30);
        assert!(spec.duplicate && !spec.reorder);
        for bad in ["fail=2", "nope=1", "latency=x", "fail=0.6,drop=0.6"] {
            assert!(bad.parse::<FaultSpec>().is_err(), "{bad}");
        }
        // The same seed draws the same faults.
        let draws = |spec: &FaultSpec| {
            let f = Faults::default();
            f.set_random(Some(spec.clone()));
            (0..200).map(|_| f.draw()).collect::<Vec<_>>()
        };
        let a = draws(&spec);
        assert!(a == draws(&spec));
        assert!(a.iter().any(|(d, _)| *d == Some(Drawn::Fail)));
        f_cleared(&spec);
    }

    fn f_cleared(spec: &FaultSpec) {
        let f = Faults::default();
        f.set_random(Some(spec.clone()));
        f.clear();
        assert!((0..50).all(|_| f.draw() == (None, 0)));
    }
}
