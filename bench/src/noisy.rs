//! `noisy_neighbour_p99_ratio` (issue 16 hole 5): the p99 of one
//! workspace's light requests (`GET /v1/settings`) while another workspace
//! runs eight parallel downloads of a large file and an upload in parts,
//! over their idle p99 measured just before, in each round; the figure is
//! the median over rounds. The server has its own 2-worker runtime (as on
//! a 2-core machine); the traffic comes from another. The load itself is
//! `rapport_tests::noisy`, which the test runs too.

use crate::{PASSWORD, Res, emit, local_server, median, percentile};
use rapport_core::model::MemberId;
use rapport_tests::noisy::{self, PART};
use std::path::Path;
use std::sync::Arc;

pub fn run(dir: &Path, rounds: usize, file_mb: usize, light: usize) -> Res<()> {
    let server_rt = crate::runtime(2)?;
    let client_rt = crate::runtime(4)?;
    let server = server_rt.block_on(local_server(dir.join("noisy-server.db")))?;
    let state = server.state.clone();
    // Seeded from this thread, outside both runtimes.
    (|| -> Res<()> {
        for ws in ["heavy", "calm"] {
            crate::agent_workspace(&state.hub, ws, MemberId::from("agent"))?;
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

async fn rounds_of(url: &str, rounds: usize, size: usize, light: usize) -> Res<Vec<f64>> {
    rapport_core::sync::install_crypto();
    let http = reqwest::Client::new();
    let heavy = noisy::login(&http, url, "agent@heavy.test", PASSWORD).await?;
    let calm = noisy::login(&http, url, "agent@calm.test", PASSWORD).await?;
    let mut data = noisy::bytes(size);
    noisy::upload(&http, url, &heavy, "big", &data, usize::MAX).await?;
    noisy::light(&http, url, &calm, 20).await?;
    let mut ratios = Vec::new();
    for round in 0..rounds {
        data.reverse();
        let r = noisy::round(
            &http,
            url,
            &heavy,
            &calm,
            size,
            Arc::new(data[..2 * PART].to_vec()),
            light,
            &format!("r{round}"),
        )
        .await?;
        let p99 = |v: Vec<std::time::Duration>| {
            percentile(v.iter().map(|d| d.as_secs_f64() * 1000.0).collect(), 0.99)
        };
        ratios.push(p99(r.busy) / p99(r.idle));
    }
    Ok(ratios)
}
