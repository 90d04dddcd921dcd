//! `noisy_neighbour_p99_ratio` (issue 16 hole 5): the p99 of one
//! workspace's light requests (`GET /v1/settings`) while another workspace
//! runs eight parallel downloads of a large file and an upload in parts,
//! over their idle p99 measured just before, in each round; the figure is
//! the median over rounds. The server has its own 2-worker runtime (as on
//! a 2-core machine); the traffic comes from another.

use crate::{Res, emit, local_server, median, percentile};
use rapport_core::model::{Member, MemberId};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

const PASSWORD: &str = "bench";
const PART: usize = 1024 * 1024;

pub fn run(dir: &Path, rounds: usize, file_mb: usize, light: usize) -> Res<()> {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    let server = server_rt.block_on(local_server(dir.join("noisy-server.db")))?;
    let state = server.state.clone();
    // Seeded from this thread, outside both runtimes.
    (|| -> Res<()> {
        for ws in ["heavy", "calm"] {
            let w = state.hub.create_workspace(ws, ws)?;
            let member = Member {
                id: MemberId::from("agent"),
                name: "Agent".into(),
                avatar_url: None,
                role: "Agent".into(),
                conversations_access: true,
            };
            state
                .hub
                .add_account(&w, &format!("agent@{ws}.test"), PASSWORD, member)?;
        }
        Ok(())
    })()?;
    let url = server.url();
    let result = client_rt.block_on(rounds_of(&url, rounds, file_mb * PART, light));
    drop(server);
    let ratios = result?;
    emit("noisy_neighbour_p99_ratio", median(ratios), None);
    Ok(())
}

async fn login(http: &reqwest::Client, url: &str, email: &str) -> Res<String> {
    let r: serde_json::Value = http
        .post(format!("{url}/v1/login"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(r["token"].as_str().ok_or("no token")?.to_owned())
}

/// Opens upload `id` (the hash is checked only when a message sends it)
/// and sends up to `parts` parts of `data`.
async fn upload(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    id: &str,
    data: &[u8],
    parts: usize,
) -> Res<()> {
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
    Ok(())
}

/// The p99 (ms) of `n` light requests, one after another.
async fn light_p99(http: &reqwest::Client, url: &str, token: &str, n: usize) -> Res<f64> {
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
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(percentile(times, 0.99))
}

async fn rounds_of(url: &str, rounds: usize, size: usize, light: usize) -> Res<Vec<f64>> {
    rapport_core::sync::install_crypto();
    let http = reqwest::Client::new();
    let heavy = login(&http, url, "agent@heavy.test").await?;
    let calm = login(&http, url, "agent@calm.test").await?;
    let mut data = fastrand_bytes(size);
    upload(&http, url, &heavy, "big", &data, usize::MAX).await?;
    light_p99(&http, url, &calm, 20).await?;
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let idle = light_p99(&http, url, &calm, light).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut load = Vec::new();
        for _ in 0..8 {
            let (http, url, heavy, stop) =
                (http.clone(), url.to_owned(), heavy.clone(), stop.clone());
            load.push(tokio::spawn(async move {
                // Bounded: stops with the light requests, or after 50.
                for _ in 0..50 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let r = http
                        .get(format!("{url}/v1/uploads/big/content"))
                        .bearer_auth(&heavy)
                        .send()
                        .await?;
                    r.error_for_status()?.bytes().await?;
                }
                Ok::<_, reqwest::Error>(())
            }));
        }
        let uploads = {
            let (http, url, heavy, stop) =
                (http.clone(), url.to_owned(), heavy.clone(), stop.clone());
            data.reverse();
            let data = data.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    upload(&http, &url, &heavy, &format!("r{round}-{i}"), &data, 4).await?;
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let busy = light_p99(&http, url, &calm, light).await?;
        stop.store(true, Ordering::Relaxed);
        for h in load {
            h.await??;
        }
        uploads.await??;
        ratios.push(busy / idle);
    }
    Ok(ratios)
}

/// `n` bytes of a fixed pseudo-random sequence (xorshift).
fn fastrand_bytes(n: usize) -> Vec<u8> {
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
