//! Reading SendPulse's answers the way Rapport needs them, with no Rapport
//! type: ids, times, names, variables, message texts, and whether a message
//! in a history is a send whose answer was lost. Shared by the gateway
//! (rapport-server) and the direct connector (rapport-core), so the two read
//! SendPulse identically; the mapping onto Rapport's model types is
//! `rapport_core::sendpulse`.

use serde_json::Value;

/// A SendPulse id as a Rapport id: `sp-` and the id when it is short and
/// plain, else `sph-` and a hash of it (Rapport ids must be 1-64 of
/// A-Z a-z 0-9 - _). Stable: the same remote id is always the same local id.
pub fn local_id(remote: &str) -> String {
    let plain = remote
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain && !remote.is_empty() && remote.len() <= 56 {
        format!("sp-{remote}")
    } else {
        use sha2::Digest;
        format!(
            "sph-{}",
            &hex::encode(sha2::Sha256::digest(remote.as_bytes()))[..40]
        )
    }
}

/// The SendPulse id a local id was made from, when it was made plainly
/// (`sp-` + id); a hashed one cannot be read back.
pub fn remote_id(local: &str) -> Option<&str> {
    local.strip_prefix("sp-").filter(|r| !r.is_empty())
}

/// SendPulse's time (`2025-10-09T12:00:00+00:00`, or a space for the `T`)
/// in ms since the epoch; `None` when unreadable.
pub fn parse_time(s: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%:z"))
        .ok()?;
    Some(t.timestamp_millis())
}

/// A contact's (or bot's) name as its app's `channel_data` gives it.
pub fn name_of(channel_data: &Value) -> Option<String> {
    let s = |k: &str| {
        channel_data
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    s("name").or_else(|| {
        let full = [s("first_name"), s("last_name")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!full.is_empty()).then_some(full).or_else(|| s("username"))
    })
}

/// A contact's variables as a card keeps them: text, empty ones left out.
pub fn variables_of(v: &Value) -> std::collections::BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (!text.is_empty()).then(|| (k.clone(), text))
        })
        .collect()
}

/// A message's text: `data.text`, or the app's nested shapes.
pub fn text_of(data: &Value) -> String {
    for p in ["/text", "/text/body", "/message/text", "/text/text"] {
        if let Some(t) = data.pointer(p).and_then(Value::as_str) {
            return t.to_owned();
        }
    }
    String::new()
}

/// E7: what identifies a message of a history for the lost-send match
/// ([`find_send`]): its text ([`text_of`]); else a WhatsApp template's
/// `template:{name}` (`data.template.name`); else a file's `file:{url}`, the
/// URL the file was sent by (`data`'s first `http(s)` string under a key
/// SendPulse's file shapes use: `link`, `url`, `path`, `photo`, `video`,
/// `audio`, `document`, `img`, `file`). Rapport records a send under the
/// same key ([`template_key`], [`file_key`]), and a file's URL is unique to
/// its upload, so a file is matched by its URL, not by a caption.
pub fn send_key(data: &Value) -> String {
    let text = text_of(data);
    if !text.is_empty() {
        return text;
    }
    if let Some(name) = data.pointer("/template/name").and_then(Value::as_str) {
        return template_key(name);
    }
    file_url(data).map(file_key).unwrap_or_default()
}

/// E5: the key of a template send (see [`send_key`]).
pub fn template_key(name: &str) -> String {
    format!("template:{name}")
}

/// E2: the key of a file sent by `url` (see [`send_key`]).
pub fn file_key(url: &str) -> String {
    format!("file:{url}")
}

fn file_url(v: &Value) -> Option<&str> {
    const KEYS: [&str; 9] = [
        "link", "url", "path", "photo", "video", "audio", "document", "img", "file",
    ];
    match v {
        Value::Object(m) => m.iter().find_map(|(k, v)| match v {
            Value::String(s)
                if KEYS.contains(&k.as_str())
                    && (s.starts_with("https://") || s.starts_with("http://")) =>
            {
                Some(s.as_str())
            }
            other => file_url(other),
        }),
        Value::Array(a) => a.iter().find_map(file_url),
        _ => None,
    }
}

/// E7 without idempotency keys: whether an outgoing message of a history
/// (`text`, stored at `at_ms`) can be a send of `sent_text` started at
/// `started_ms` whose answer was lost. Same text, and stored no earlier
/// than `slack_ms` before the send started (clocks differ: SendPulse's
/// time against ours).
pub fn is_send_of(sent_text: &str, started_ms: i64, text: &str, at_ms: i64, slack_ms: i64) -> bool {
    text == sent_text && at_ms >= started_ms.saturating_sub(slack_ms)
}

/// E7: the first outgoing message of `history` that is the send described
/// (see [`is_send_of`]; a message is named by its [`send_key`]) and not already `taken` by another send.
pub fn find_send<'a>(
    history: &'a [crate::Message],
    sent_text: &str,
    started_ms: i64,
    slack_ms: i64,
    taken: impl Fn(&str) -> bool,
) -> Option<&'a crate::Message> {
    history.iter().find(|m| {
        m.direction == crate::Direction::Out
            && !taken(&m.id)
            && is_send_of(
                sent_text,
                started_ms,
                &send_key(&m.data),
                m.created_at
                    .as_deref()
                    .and_then(parse_time)
                    .unwrap_or(i64::MAX),
                slack_ms,
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn local_ids_are_stable_and_valid() {
        assert_eq!(local_id("64a1f0"), "sp-64a1f0");
        let odd = local_id("a/b c");
        assert!(odd.starts_with("sph-") && odd.len() <= 64);
        assert_eq!(odd, local_id("a/b c"));
        assert!(local_id(&"x".repeat(200)).len() <= 64);
        assert_eq!(remote_id("sp-c1"), Some("c1"));
        assert_eq!(remote_id("m-1"), None);
    }

    #[test]
    fn times_names_and_texts_as_sendpulse_writes_them() {
        assert_eq!(
            parse_time("2025-10-09T12:00:00+00:00"),
            Some(1_760_011_200_000)
        );
        assert_eq!(
            parse_time("2025-10-09 12:00:00+00:00"),
            Some(1_760_011_200_000)
        );
        assert_eq!(parse_time("t000001"), None);
        let cd = json!({"first_name": "Ann", "last_name": "Lee"});
        assert_eq!(name_of(&cd).as_deref(), Some("Ann Lee"));
        assert_eq!(name_of(&json!({})), None);
        assert_eq!(text_of(&json!({"text": {"body": "hi"}})), "hi");
        assert_eq!(text_of(&json!({"text": "yo"})), "yo");
        let vars = variables_of(&json!({"a": "x", "b": "", "c": 3, "d": null}));
        assert_eq!(vars.len(), 2);
        assert_eq!(vars["c"], "3");
    }

    #[test]
    fn e7_a_lost_send_is_found_by_text_and_time_once() {
        let msg = |id: &str, dir: i64, text: &str, at: &str| -> crate::Message {
            serde_json::from_value(json!({"id": id, "data": {"text": text},
                "direction": dir, "created_at": at}))
            .unwrap()
        };
        let h = vec![
            msg("m1", 2, "hi", "2025-10-09T11:00:00+00:00"),
            msg("m2", 1, "hi", "2025-10-09T12:00:01+00:00"),
            msg("m3", 2, "hi", "2025-10-09T12:00:02+00:00"),
            msg("m4", 2, "hi", "2025-10-09T12:00:03+00:00"),
        ];
        let start = 1_760_011_200_000;
        // Too old (m1), inbound (m2): not it; m3 is.
        assert_eq!(
            find_send(&h, "hi", start, 60_000, |_| false).map(|m| m.id.as_str()),
            Some("m3")
        );
        // m3 bound to another send: m4.
        assert_eq!(
            find_send(&h, "hi", start, 60_000, |id| id == "m3").map(|m| m.id.as_str()),
            Some("m4")
        );
        assert!(find_send(&h, "other", start, 60_000, |_| false).is_none());
    }

    #[test]
    fn e2_e5_templates_and_files_are_keyed_by_name_and_url() {
        assert_eq!(send_key(&json!({"text": "hi"})), "hi");
        let t = json!({"type": "template", "template": {"name": "follow_up",
            "language": {"code": "en"}}});
        assert_eq!(send_key(&t), template_key("follow_up"));
        let url = "https://files.example/sendpulse/files/t0k3n/a.png";
        for data in [
            json!({"type": "photo", "photo": url, "caption": "see"}),
            json!({"type": "image", "image": {"link": url, "caption": "see"}}),
            json!({"type": "RESPONSE", "content_type": "media_img", "img": url}),
            json!({"type": "image", "message": {"attachment": {"type": "image",
                "payload": {"is_external_attachment": true, "url": url}}}}),
            json!({"type": "image", "image": {"file": {"is_path_absolute": true, "path": url}}}),
        ] {
            assert_eq!(send_key(&data), file_key(url), "{data}");
        }
        assert_eq!(
            send_key(&json!({"type": "photo", "photo": "not a url"})),
            ""
        );
    }
}
