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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
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
    pub fn clear(&self) {
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
    let latency = f.latency_ms.load(SeqCst);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if take(&f.fail_next) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            rapport_core::wire::ErrorCode::Unavailable,
            "injected fault",
        )
        .into_response();
    }
    if take(&f.drop_next) {
        let broken = futures_util::stream::once(async {
            Err::<axum::body::Bytes, _>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected fault: connection reset",
            ))
        });
        return Response::new(axum::body::Body::from_stream(broken));
    }
    if take(&f.rate_limit_next) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            rapport_core::wire::ErrorCode::RateLimited,
            "slow down",
        );
        e.retry_after = Some(f.retry_after_s.load(SeqCst));
        return e.into_response();
    }
    if take(&f.panic_next) {
        panic!("injected fault: a handler's bug");
    }
    if take(&f.portal_next) {
        return html_page();
    }
    let served = next.run(req).await;
    if take(&f.mangle_next) {
        return html_page();
    }
    served
}
