//! `ffi_page_us` baseline: the first page of 50 chat rows through
//! `rapport_ffi::RapportClient::chat_page` called from Rust, the very call
//! the Kotlin benchmark (bindings/kotlin, FfiPageBench) makes through JNA.
//! Same warm-up, same count, median in µs.

use super::{Res, median};
use rapport_ffi::{RapportClient, SecretStore, SecretStoreError, types::ChatFilter};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

struct NoSecrets;

impl SecretStore for NoSecrets {
    fn load(&self, _: String) -> Result<Option<String>, SecretStoreError> {
        Ok(None)
    }
    fn save(&self, _: String, _: String) -> Result<(), SecretStoreError> {
        Ok(())
    }
    fn delete(&self, _: String) -> Result<(), SecretStoreError> {
        Ok(())
    }
}

/// Prints `{"us": MEDIAN}`.
pub fn baseline(db: &Path, warmup: usize, runs: usize) -> Res<()> {
    let client = RapportClient::new(
        db.display().to_string(),
        "http://127.0.0.1:9".into(),
        Arc::new(NoSecrets),
    )?;
    let mut us = Vec::with_capacity(runs);
    for i in 0..warmup + runs {
        let t = Instant::now();
        let page = client.chat_page(ChatFilter::default(), None, 50)?;
        let took = t.elapsed().as_secs_f64() * 1e6;
        if page.rows.len() != 50 {
            return Err("the store must have 50 chats".into());
        }
        if i >= warmup {
            us.push(took);
        }
    }
    println!("{}", json!({"us": median(us)}));
    Ok(())
}
