//! The noisy-neighbour load (issue 16 hole 5), in one place for the test
//! (tests/tests/noisy_neighbour.rs, a wide-margin check) and the bench
//! (`rapport-bench noisy`, `noisy_neighbour_p99_ratio`): one workspace runs
//! eight parallel downloads of a large file and an upload in parts while
//! another's member makes light requests (`GET /v1/settings`) one after
//! another; the same light requests idle, just before, are the baseline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One upload part.
pub const PART: usize = 1024 * 1024;

pub async fn login(http: &reqwest::Client, url: &str, email: &str, password: &str) -> Res<String> {
    let r: serde_json::Value = http
        .post(format!("{url}/v1/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(r["token"].as_str().ok_or("no token")?.to_owned())
}

/// Opens upload `id` of `data` (the hash is checked only when a message
/// sends it) and sends up to `parts` parts from where it stands; the bytes
/// received after.
pub async fn upload(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    id: &str,
    data: &[u8],
    parts: usize,
) -> Res<usize> {
    let st: serde_json::Value = http
        .post(format!("{url}/v1/uploads"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "id": id, "name": "big.bin", "size_bytes": data.len(), "sha256": "0".repeat(64),
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut at = st["received"].as_u64().ok_or("no received")? as usize;
    for _ in 0..parts {
        if at >= data.len() {
            break;
        }
        let end = (at + PART).min(data.len());
        let st: serde_json::Value = http
            .put(format!("{url}/v1/uploads/{id}/content?offset={at}"))
            .bearer_auth(token)
            .body(data[at..end].to_vec())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        at = st["received"].as_u64().ok_or("no received")? as usize;
    }
    Ok(at)
}

/// `n` light requests, one after another: their times.
pub async fn light(http: &reqwest::Client, url: &str, token: &str, n: usize) -> Res<Vec<Duration>> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        http.get(format!("{url}/v1/settings"))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        times.push(t.elapsed());
    }
    Ok(times)
}

/// `n` bytes of a fixed pseudo-random sequence (xorshift).
pub fn bytes(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What one round measured.
pub struct Round {
    pub idle: Vec<Duration>,
    pub busy: Vec<Duration>,
    /// Whole downloads done meanwhile.
    pub downloads: usize,
    /// Whether the load still ran when the busy light requests ended.
    pub overlapped: bool,
}

/// One round: `n` idle light requests of `calm`, then `n` more while
/// `heavy` downloads upload `big` (of `size` bytes, uploaded before) eight
/// times in parallel (up to 50 each) and uploads `more` (a few parts; up
/// to 15 times, within the member's quota) under ids tagged `tag`; the
/// light requests start once a download has ended.
#[allow(clippy::too_many_arguments)]
pub async fn round(
    http: &reqwest::Client,
    url: &str,
    heavy: &str,
    calm: &str,
    size: usize,
    more: Arc<Vec<u8>>,
    n: usize,
    tag: &str,
) -> Res<Round> {
    let idle = light(http, url, calm, n).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let downloads = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (http, url, heavy) = (http.clone(), url.to_owned(), heavy.to_owned());
        let (stop, downloads) = (stop.clone(), downloads.clone());
        load.push(tokio::spawn(async move {
            for _ in 0..50 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let body = http
                    .get(format!("{url}/v1/uploads/big/content"))
                    .bearer_auth(&heavy)
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?;
                if body.len() != size {
                    return Err(format!("a download of {} bytes, not {size}", body.len()).into());
                }
                downloads.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    {
        let (http, url, heavy, stop) =
            (http.clone(), url.to_owned(), heavy.to_owned(), stop.clone());
        let tag = tag.to_owned();
        load.push(tokio::spawn(async move {
            // Uploads are never sent here, so they count against the
            // member's quota of unsent bytes: the upload load ends there.
            for i in 0..15 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match upload(
                    &http,
                    &url,
                    &heavy,
                    &format!("{tag}-{i}"),
                    &more,
                    usize::MAX,
                )
                .await
                {
                    Err(e)
                        if e.downcast_ref::<reqwest::Error>().and_then(|e| e.status())
                            == Some(reqwest::StatusCode::PAYLOAD_TOO_LARGE) =>
                    {
                        break;
                    }
                    r => r?,
                };
            }
            Ok(())
        }));
    }
    // Once the downloads are under way (bounded: they may all fail).
    while downloads.load(Ordering::Relaxed) == 0 && !load.iter().all(|h| h.is_finished()) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let busy = light(http, url, calm, n).await?;
    let overlapped = !load.iter().all(|h| h.is_finished());
    stop.store(true, Ordering::Relaxed);
    for h in load {
        h.await??;
    }
    Ok(Round {
        idle,
        busy,
        downloads: downloads.load(Ordering::Relaxed),
        overlapped,
    })
}
