//! Gateway mode (issue 17 §1): a workspace linked to a SendPulse account.
//!
//! - [`link`]: the link (base URL, client id, the client secret sealed with
//!   the server key, `seal`) and a random webhook secret, shown once.
//! - [`hook`]: `POST /sendpulse/hook/{secret}` answers at once and keeps the
//!   body in `sendpulse_inbox`; the worker ([`Gateway::drain`]) turns its
//!   items into the workspace's events (`ingest`), idempotently.
//! - `reconcile`: a scheduled pass through the API (dialogs, chats per bot,
//!   history) that brings the workspace to SendPulse's state whatever
//!   webhooks were missed.
//! - `out`: agents' commands go to SendPulse's API; a send is recorded
//!   before the call and looked for before it is sent again (E7).
//!
//! Phones keep the Rapport sync API, live stream and push: everything
//! lands in the log as today's events.

pub mod files;
pub(crate) mod ingest;
pub mod out;
pub mod reconcile;
pub mod seal;
pub mod stats;
pub(crate) mod store;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::hub::{Hub, HubError, HubResult};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rapport_sendpulse::{Client, Config, Credentials};
use seal::ServerKey;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use reconcile::Reconciled;

/// What a linked workspace refuses with `not_supported` whatever the chat
/// (SendPulse's API has no such call, or this gateway does not carry it
/// yet): told to the apps at login and refresh
/// (`LoginResponse::unsupported`, from [`Gateway::unsupported`]), so they
/// hide it.
pub const UNSUPPORTED: &[&str] = {
    use rapport_core::wire::unsupported as u;
    &[u::EDIT_DELETE, u::QUOTES, u::DEALS]
};

/// Limits of the gateway's SendPulse clients and of its lookups; tests
/// shrink the waits.
#[derive(Debug, Clone)]
pub struct Tuning {
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub page_size: u32,
    /// E7: after a lost answer, how many times the history is read for the
    /// message before it is sent again, and the wait between reads.
    pub lookups: u32,
    pub lookup_wait: Duration,
    /// E7: a SendPulse message counts as a recorded send's if it is no older
    /// than this before the send was recorded (clock skew).
    pub match_slack_ms: i64,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            page_size: 100,
            lookups: 3,
            lookup_wait: Duration::from_secs(2),
            match_slack_ms: 60_000,
        }
    }
}

/// What the gateway did, for tests and operators (no content).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayStats {
    pub bodies: u64,
    pub items: u64,
    /// Items that changed nothing (duplicates, replays, known state).
    pub unchanged: u64,
    /// Items set aside, by reason (`unknown_title`, `missing`, ...).
    pub skipped: BTreeMap<String, u64>,
    pub events: u64,
    /// Scheduled reconcile passes done, and what the last one did.
    pub passes: u64,
    pub last_pass: Option<Reconciled>,
    /// Webhook bodies refused because their link was over its share.
    pub refused: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the server has no key (RAPPORT_SERVER_KEY or --server-key-file)")]
    NoKey,
    #[error("the workspace is not linked to SendPulse")]
    NotLinked,
    #[error("no such workspace")]
    NoWorkspace,
    #[error("{0}")]
    Seal(#[from] seal::SealError),
    #[error("{0}")]
    Hub(#[from] HubError),
    #[error("SendPulse: {0}")]
    SendPulse(#[from] rapport_sendpulse::Error),
    #[error("bad link: {0}")]
    BadLink(String),
}

/// The gateway's state: the server key, a client per linked workspace, the
/// worker's wake-up and its counters.
pub struct Gateway {
    key: Mutex<Option<ServerKey>>,
    clients: Mutex<HashMap<String, Arc<Client>>>,
    tuning: Mutex<Tuning>,
    wake: tokio::sync::Notify,
    stats: Mutex<GatewayStats>,
    /// Commands' scopes being run against SendPulse now (one at a time).
    in_flight: Mutex<HashSet<String>>,
    /// The linked workspaces (read again by the worker every second, so a
    /// link made by another process is taken up).
    linked: Mutex<HashSet<String>>,
    /// The time between scheduled reconcile passes; `None` until
    /// [`Gateway::schedule_reconcile`] (tests run passes themselves).
    schedule: tokio::sync::watch::Sender<Option<Duration>>,
    /// Each link's share of webhook bodies ([`HOOK_BODIES_PER_S`]); `None`:
    /// unlimited.
    hooks: Mutex<Option<Arc<HookLimiter>>>,
    /// E2: the server's public base URL, under which SendPulse downloads
    /// agents' files (`files`); `None`: linked workspaces send no files.
    public_url: Mutex<Option<String>>,
    /// E5: each WhatsApp bot's templates (key: workspace and bot), read
    /// again when a name is not among them.
    templates: Mutex<HashMap<String, Arc<Vec<rapport_sendpulse::Template>>>>,
    /// I1: SendPulse's figures of each workspace's bots, reused a while.
    bot_stats: Mutex<stats::Cache>,
}

type HookLimiter = governor::DefaultKeyedRateLimiter<String>;

/// Webhook bodies a link may post per second, sustained. SendPulse posts one
/// body per event batch; a leaked secret must not let anyone fill the
/// inbox (and the disk) faster than the worker drains it. A body over the
/// share is answered 429 and not kept: a genuine one is repaired by the
/// next reconcile pass, as a lost webhook is.
pub const HOOK_BODIES_PER_S: u32 = 200;
/// Bodies a link may post at once before the rate applies (a burst after
/// SendPulse's own outage, say).
pub const HOOK_BURST: u32 = 2_000;

fn hook_limiter(per_s: u32, burst: u32) -> Option<Arc<HookLimiter>> {
    let per_s = std::num::NonZeroU32::new(per_s)?;
    let burst = std::num::NonZeroU32::new(burst).unwrap_or(per_s);
    Some(Arc::new(governor::RateLimiter::keyed(
        governor::Quota::per_second(per_s).allow_burst(burst),
    )))
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway {
            key: Mutex::new(None),
            clients: Mutex::new(HashMap::new()),
            tuning: Mutex::new(Tuning::default()),
            wake: tokio::sync::Notify::new(),
            stats: Mutex::new(GatewayStats::default()),
            in_flight: Mutex::new(HashSet::new()),
            linked: Mutex::new(HashSet::new()),
            schedule: tokio::sync::watch::Sender::new(None),
            hooks: Mutex::new(hook_limiter(HOOK_BODIES_PER_S, HOOK_BURST)),
            public_url: Mutex::new(None),
            templates: Mutex::new(HashMap::new()),
            bot_stats: Mutex::new(stats::Cache::default()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The SHA-256 of a webhook secret: what `sendpulse_links` keeps.
fn hook_hash(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// What the link's client secret is bound to (the AEAD's associated data).
fn seal_context(workspace: &str, client_id: &str) -> String {
    format!("sendpulse\n{workspace}\n{client_id}")
}

/// A new link's request.
#[derive(Clone)]
pub struct NewLink {
    pub workspace: String,
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// D1: member id -> SendPulse operator id.
    pub operators: BTreeMap<String, i64>,
}

impl std::fmt::Debug for NewLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewLink")
            .field("workspace", &self.workspace)
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// The webhook path of a link: `/sendpulse/hook/{secret}`.
pub fn hook_path(secret: &str) -> String {
    format!("/sendpulse/hook/{secret}")
}

impl Gateway {
    pub fn set_key(&self, key: ServerKey) {
        *lock(&self.key) = Some(key);
        lock(&self.clients).clear();
    }

    pub fn set_tuning(&self, t: Tuning) {
        *lock(&self.tuning) = t;
        lock(&self.clients).clear();
    }

    /// Each link's share of webhook bodies: `per_s` sustained (0:
    /// unlimited) after `burst` at once; forgets what links have used.
    pub fn set_hook_rate(&self, per_s: u32, burst: u32) {
        *lock(&self.hooks) = hook_limiter(per_s, burst);
    }

    /// Whether the link of workspace `ws` may post one more body now.
    fn hook_allowed(&self, ws: &str) -> bool {
        let Some(limiter) = lock(&self.hooks).clone() else {
            return true;
        };
        // Keys are linked workspaces (checked before this), so the map
        // stays small; drop the idle ones now and then all the same.
        if limiter.len() > 1_000 {
            limiter.retain_recent();
        }
        limiter.check_key(&ws.to_owned()).is_ok()
    }

    /// E2: the base URL (`https://host[:port][/prefix]`) at which SendPulse
    /// reaches this server; with it, linked workspaces send files
    /// ([`files`]). `None` turns files off again.
    pub fn set_public_url(&self, url: Option<&str>) -> Result<(), GatewayError> {
        let url = match url.map(|u| u.trim().trim_end_matches('/')) {
            None => None,
            Some(u) if (u.starts_with("https://") || u.starts_with("http://")) && u.len() > 8 => {
                Some(u.to_owned())
            }
            Some(_) => {
                return Err(GatewayError::BadLink(
                    "the public URL must be http(s)://host".into(),
                ));
            }
        };
        *lock(&self.public_url) = url;
        Ok(())
    }

    pub fn public_url(&self) -> Option<String> {
        lock(&self.public_url).clone()
    }

    /// What linked workspaces refuse whatever the chat: [`UNSUPPORTED`],
    /// and files (E2) while the server has no public URL.
    pub fn unsupported(&self) -> Vec<String> {
        let mut out: Vec<String> = UNSUPPORTED.iter().map(|n| (*n).to_owned()).collect();
        if self.public_url().is_none() {
            out.push(rapport_core::wire::unsupported::FILES.to_owned());
        }
        out
    }

    /// E5: the templates of WhatsApp bot `bot` as last read, if read.
    pub(crate) fn cached_templates(
        &self,
        ws: &str,
        bot: &str,
    ) -> Option<Arc<Vec<rapport_sendpulse::Template>>> {
        lock(&self.templates).get(&format!("{ws}\n{bot}")).cloned()
    }

    pub(crate) fn cache_templates(
        &self,
        ws: &str,
        bot: &str,
        list: Vec<rapport_sendpulse::Template>,
    ) -> Arc<Vec<rapport_sendpulse::Template>> {
        let list = Arc::new(list);
        lock(&self.templates).insert(format!("{ws}\n{bot}"), list.clone());
        list
    }

    /// I1: how long SendPulse's figures are reused ([`stats::STATS_TTL`]);
    /// forgets those read.
    pub fn set_stats_ttl(&self, ttl: Duration) {
        *lock(&self.bot_stats) = stats::Cache {
            ttl,
            ..Default::default()
        };
    }

    pub fn tuning(&self) -> Tuning {
        lock(&self.tuning).clone()
    }

    pub fn stats(&self) -> GatewayStats {
        lock(&self.stats).clone()
    }

    pub(crate) fn count(&self, f: impl FnOnce(&mut GatewayStats)) {
        f(&mut lock(&self.stats));
    }

    /// Links a workspace to a SendPulse account (replacing its link);
    /// returns the webhook secret, which only this answer shows. Blocking.
    pub fn link(&self, hub: &Hub, new: &NewLink) -> Result<String, GatewayError> {
        if hub.workspace(&new.workspace).is_none() {
            return Err(GatewayError::NoWorkspace);
        }
        let base = new.base_url.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(GatewayError::BadLink("the base URL must be http(s)".into()));
        }
        if new.client_id.is_empty() || new.client_secret.is_empty() {
            return Err(GatewayError::BadLink(
                "the client id and secret are required".into(),
            ));
        }
        let key = lock(&self.key).clone().ok_or(GatewayError::NoKey)?;
        let sealed = key.seal(
            &seal_context(&new.workspace, &new.client_id),
            new.client_secret.as_bytes(),
        )?;
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|_| seal::SealError::Random)?;
        let secret = hex::encode(secret);
        let operators = serde_json::to_string(&new.operators)
            .map_err(|e| GatewayError::BadLink(e.to_string()))?;
        store::put_link(
            hub,
            &store::LinkRow {
                workspace: new.workspace.clone(),
                base_url: base.to_owned(),
                client_id: new.client_id.clone(),
                sealed_secret: sealed,
                operators,
            },
            &hook_hash(&secret),
            hub.now().0,
        )?;
        lock(&self.clients).remove(&new.workspace);
        let mine = format!("{}\n", new.workspace);
        lock(&self.templates).retain(|k, _| !k.starts_with(&mine));
        lock(&self.linked).insert(new.workspace.clone());
        tracing::info!(workspace = %new.workspace, "linked to SendPulse");
        Ok(secret)
    }

    /// Whether the workspace is linked (its commands go to SendPulse).
    pub fn linked(&self, workspace: &str) -> bool {
        lock(&self.linked).contains(workspace)
    }

    /// Reads the links again (a link made by another process). Blocking.
    pub fn refresh_links(&self, hub: &Hub) -> HubResult<()> {
        let now: HashSet<String> = store::linked_workspaces(hub)?.into_iter().collect();
        *lock(&self.linked) = now;
        Ok(())
    }

    /// The workspace's SendPulse client (built once from its link). Blocking.
    pub fn client(&self, hub: &Hub, workspace: &str) -> Result<Arc<Client>, GatewayError> {
        if let Some(c) = lock(&self.clients).get(workspace) {
            return Ok(c.clone());
        }
        let row = store::link(hub, workspace)?.ok_or(GatewayError::NotLinked)?;
        let key = lock(&self.key).clone().ok_or(GatewayError::NoKey)?;
        let secret = key.open(
            &seal_context(&row.workspace, &row.client_id),
            &row.sealed_secret,
        )?;
        let secret = String::from_utf8(secret)
            .map_err(|_| GatewayError::BadLink("the sealed secret is not text".into()))?;
        let t = self.tuning();
        let mut cfg = Config::new(&row.base_url);
        cfg.max_attempts = t.max_attempts;
        cfg.backoff_base = t.backoff_base;
        cfg.backoff_max = t.backoff_max;
        cfg.page_size = t.page_size;
        let client = Arc::new(Client::new(cfg, Credentials::new(row.client_id, secret))?);
        lock(&self.clients).insert(workspace.to_owned(), client.clone());
        Ok(client)
    }

    /// Starts the scheduled reconcile: a pass of every linked workspace now
    /// (what happened while the server was down), then one every `every`.
    pub fn schedule_reconcile(&self, every: Duration) {
        self.schedule.send_replace(Some(every));
    }

    /// Wakes the worker (a body was queued).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Turns every queued webhook body into events, oldest first; the
    /// number of bodies handled. Blocking.
    pub fn drain(&self, hub: &Hub) -> HubResult<usize> {
        let mut handled = 0;
        loop {
            let batch = store::queued(hub, 50)?;
            if batch.is_empty() {
                return Ok(handled);
            }
            for (id, workspace, body) in batch {
                match hub.workspace(&workspace) {
                    Some(ws) => {
                        if let Err(e) = ingest::body(self, hub, &ws, &body) {
                            // The reconcile pass repairs what this missed.
                            tracing::warn!(error = %e, workspace, "webhook body not applied");
                        }
                    }
                    None => tracing::warn!(workspace, "webhook for a workspace not loaded"),
                }
                store::unqueue(hub, id)?;
                handled += 1;
            }
        }
    }

    /// Marks a command's scope as being carried out; `None` when it is
    /// already. The mark goes when the guard is dropped, also when the
    /// request's future is (a client that hung up).
    pub(crate) fn begin<'a>(&'a self, scope: &str) -> Option<InFlight<'a>> {
        lock(&self.in_flight)
            .insert(scope.to_owned())
            .then(|| InFlight(self, scope.to_owned()))
    }
}

/// A command's scope marked as being carried out (see [`Gateway::begin`]).
pub(crate) struct InFlight<'a>(&'a Gateway, String);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(&self.0.in_flight).remove(&self.1);
    }
}

/// D1: the SendPulse operator id of a member, from the link. Blocking.
pub(crate) fn operator(hub: &Hub, workspace: &str, member: &str) -> HubResult<Option<i64>> {
    let Some(row) = store::link(hub, workspace)? else {
        return Ok(None);
    };
    let map: BTreeMap<String, i64> = serde_json::from_str(&row.operators).unwrap_or_default();
    Ok(map.get(member).copied())
}

/// The background work: the inbox worker, and once
/// [`Gateway::schedule_reconcile`] is called a reconcile pass of every linked
/// workspace at once and then periodically. Runs until dropped.
pub async fn run(state: Arc<AppState>) {
    let worker = {
        let state = state.clone();
        async move {
            loop {
                let st = state.clone();
                let drained = tokio::task::spawn_blocking(move || {
                    st.gateway.refresh_links(&st.hub)?;
                    st.gateway.drain(&st.hub)
                })
                .await;
                match drained {
                    Ok(Err(e)) => tracing::warn!(error = %e, "webhook inbox"),
                    Err(e) => tracing::warn!(error = %e, "webhook inbox worker"),
                    Ok(Ok(_)) => {}
                }
                // A body queued while draining woke us already (Notify keeps
                // one permit); the timeout covers a body queued by another
                // process.
                let _ = tokio::time::timeout(Duration::from_secs(1), state.gateway.wake.notified())
                    .await;
            }
        }
    };
    let reconciler = async move {
        let mut schedule = state.gateway.schedule.subscribe();
        loop {
            let every = *schedule.borrow_and_update();
            let Some(every) = every else {
                if schedule.changed().await.is_err() {
                    return;
                }
                continue;
            };
            let st = state.clone();
            let linked = tokio::task::spawn_blocking(move || store::linked_workspaces(&st.hub))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            for ws in linked {
                match reconcile::pass(&state, &ws).await {
                    Ok(r) => {
                        tracing::info!(workspace = ws, events = r.events, "reconciled");
                        state.gateway.count(|s| {
                            s.passes += 1;
                            s.last_pass = Some(r);
                        });
                    }
                    Err(e) => {
                        tracing::warn!(workspace = ws, error = %shown(&e), "reconcile failed")
                    }
                }
            }
            // A new schedule cuts the wait short.
            let _ = tokio::time::timeout(every, schedule.changed()).await;
        }
    };
    tokio::join!(worker, reconciler);
}

/// The answer to a webhook: how many items were queued and set aside.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HookAccepted {
    /// Items Rapport will turn into events.
    pub items: u32,
    /// Items set aside (unknown titles or services, missing fields).
    pub skipped: u32,
}

/// SendPulse's webhooks for a linked workspace. Nothing is signed, so the
/// URL's secret is the credential: an unknown one is a 404.
#[utoipa::path(
    post,
    path = "/sendpulse/hook/{secret}",
    tag = "gateway",
    summary = "Issue 17: SendPulse webhooks (a JSON array of items) for the workspace whose link has this secret; answered at once, applied asynchronously",
    params(("secret" = String, Path, description = "the link's webhook secret")),
    request_body(content = Vec<Object>, content_type = "application/json", description = "SendPulse's webhook body: a JSON array of items (title, service, bot, contact, date, info)"),
    responses(
        (status = 200, description = "kept; applied shortly", body = HookAccepted),
        (status = 400, description = "not a JSON array (bad_request); nothing kept", body = rapport_core::wire::ErrorBody),
        (status = 404, description = "no link has this secret (not_found)", body = rapport_core::wire::ErrorBody),
        (status = 429, description = "the link is over its share of webhook bodies (rate_limited); not kept, and the reconcile pass repairs what it held", body = rapport_core::wire::ErrorBody),
        (status = 503, description = "not kept; SendPulse may send it again, and the reconcile pass repairs it (unavailable)", body = rapport_core::wire::ErrorBody),
    ),
    security(()),
)]
pub async fn hook(
    State(state): State<Arc<AppState>>,
    Path(secret): Path<String>,
    body: Bytes,
) -> ApiResult<axum::Json<HookAccepted>> {
    if secret.len() < 32 || secret.len() > 128 {
        return Err(ApiError::not_found("webhook"));
    }
    let st = state.clone();
    let hash = hook_hash(&secret);
    // Parsing a large body and SQLite both run off the async workers.
    let kept = tokio::task::spawn_blocking(move || -> HubResult<Kept> {
        let Some(ws) = store::workspace_of_hook(&st.hub, &hash)? else {
            return Ok(Kept::NoLink);
        };
        if !st.gateway.hook_allowed(&ws) {
            lock(&st.gateway.stats).refused += 1;
            return Ok(Kept::OverShare);
        }
        let parsed = match rapport_sendpulse::webhook::parse(&body) {
            Ok(p) => p,
            Err(e) => return Ok(Kept::NotWebhook(e)),
        };
        store::queue(&st.hub, &ws, &body, st.hub.now().0)?;
        Ok(Kept::Queued(HookAccepted {
            items: parsed.items.len() as u32,
            skipped: parsed.skipped.len() as u32,
        }))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()))
    .map_err(|e| {
        tracing::warn!(error = %e, "webhook body not kept");
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            rapport_core::wire::ErrorCode::Unavailable,
            "the webhook was not kept",
        );
        e.retry_after = Some(5);
        e
    })?;
    match kept {
        Kept::NoLink => Err(ApiError::not_found("webhook")),
        Kept::OverShare => {
            // Not a warning per body: a flood would flood the log too.
            tracing::debug!("a link's webhooks are over its share; body refused");
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                rapport_core::wire::ErrorCode::RateLimited,
                "too many webhook bodies for this link",
            );
            e.retry_after = Some(1);
            Err(e)
        }
        Kept::NotWebhook(e) => Err(ApiError::bad_request(format!(
            "not a SendPulse webhook body: {e}"
        ))),
        Kept::Queued(answer) => {
            state.gateway.wake();
            Ok(axum::Json(answer))
        }
    }
}

enum Kept {
    NoLink,
    OverShare,
    NotWebhook(rapport_sendpulse::webhook::WebhookError),
    Queued(HookAccepted),
}

/// An error as logs and answers may show it: a SendPulse answer that did
/// not decode is named only (serde's message can quote the answer's values:
/// a message's text, a phone number).
pub(crate) fn shown(e: &GatewayError) -> String {
    match e {
        GatewayError::SendPulse(rapport_sendpulse::Error::Decode(_)) => {
            "SendPulse: unexpected answer".to_owned()
        }
        other => other.to_string(),
    }
}

/// A SendPulse error as the API's: a refusal is remembered for the key (422
/// `not_supported`), anything that may pass is a 503 the client retries.
pub(crate) fn api_error(e: GatewayError) -> ApiError {
    use rapport_sendpulse::Error as E;
    match e {
        GatewayError::SendPulse(E::Refused { status }) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            rapport_core::wire::ErrorCode::NotSupported,
            format!("SendPulse refused the command (HTTP {status})"),
        ),
        GatewayError::SendPulse(E::Rejected) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            rapport_core::wire::ErrorCode::NotSupported,
            "SendPulse refused the command",
        ),
        GatewayError::Hub(e) => ApiError::from(e),
        other => {
            let shown = shown(&other);
            tracing::warn!(error = %shown, "SendPulse command not carried out");
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                rapport_core::wire::ErrorCode::Unavailable,
                format!("SendPulse: {shown}"),
            );
            e.retry_after = Some(2);
            e
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_shown_never_quote_an_answers_values_and_links_hide_the_secret() {
        let e = GatewayError::SendPulse(rapport_sendpulse::Error::Decode(
            "/x: invalid type: string \"call me at +33 6 12\"".into(),
        ));
        assert!(!shown(&e).contains("+33"), "{}", shown(&e));
        let e = GatewayError::SendPulse(rapport_sendpulse::Error::Refused { status: 400 });
        assert!(shown(&e).contains("400"));
        let link = NewLink {
            workspace: "w".into(),
            base_url: "https://api.sendpulse.com".into(),
            client_id: "id".into(),
            client_secret: "very-secret-value".into(),
            operators: BTreeMap::new(),
        };
        assert!(!format!("{link:?}").contains("very-secret"));
    }
}
