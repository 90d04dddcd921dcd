//! docs/openapi.json and docs/events.md say what the server really does.

use rapport_core::model::EventPayload;
use std::collections::BTreeSet;

fn doc_routes() -> BTreeSet<(String, String)> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"))
            .expect("docs/openapi.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn s2_the_openapi_document_is_the_one_generated_from_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"))
            .expect("docs/openapi.json");
    assert!(
        committed == rapport_server::api::openapi_json(),
        "docs/openapi.json is stale: run `cargo run -p rapport-server -- --openapi > docs/openapi.json`"
    );
}

#[test]
fn s2_the_openapi_document_lists_exactly_the_servers_routes() {
    let server: BTreeSet<(String, String)> =
        rapport_server::api::route_list().into_iter().collect();
    assert_eq!(doc_routes(), server);
    assert_eq!(server.len(), 33, "a route added or lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_every_listed_route_is_really_routed() {
    let srv = rapport_tests::TestServer::start(3, 10).await;
    let http = {
        rapport_core::sync::install_crypto();
        reqwest::Client::new()
    };
    for (method, path) in rapport_server::api::route_list() {
        let url = format!(
            "{}{}",
            srv.url(),
            path.replace("{id}", "x")
                .replace("{message_id}", "y")
                .replace("{note_id}", "z")
        );
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = http.request(m, &url).send().await.unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        // The fallback answers 404 "no such route"; a wrong method 405.
        assert_ne!(status, 405, "{method} {path}");
        assert_ne!(
            body["message"], "no such route",
            "{method} {path} is not routed"
        );
    }
}

#[test]
fn s2_the_event_catalogue_lists_exactly_the_known_types() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/events.md"))
        .expect("docs/events.md");
    let documented: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    let known: BTreeSet<String> = EventPayload::KNOWN_TYPES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(documented, known);
}

#[test]
fn s2_every_path_parameter_is_documented_once_and_every_command_takes_its_key() {
    let doc = serde_json::to_value(rapport_server::api::openapi()).unwrap();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let params: Vec<(&str, &str)> = op["parameters"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap()))
                        .collect()
                })
                .unwrap_or_default();
            let vars = path.split('{').skip(1).filter_map(|s| s.split('}').next());
            for v in vars {
                let n = params.iter().filter(|p| **p == (v, "path")).count();
                assert_eq!(n, 1, "{method} {path}: {{{v}}} documented {n} times");
            }
            let is_command = matches!(method.as_str(), "post" | "patch" | "delete")
                && path.starts_with("/v1/chats/")
                || path.starts_with("/v1/deals")
                || path.starts_with("/v1/subscribers");
            if is_command {
                assert!(
                    params.contains(&("Idempotency-Key", "header")),
                    "{method} {path} takes an Idempotency-Key"
                );
            }
        }
    }
}

/// Issue 16, hole 6: a request whose handler panics gets a typed 500 (code
/// `internal`), not a dropped connection, and the server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_a_panicking_handler_answers_a_typed_500_and_the_server_goes_on() {
    let srv = rapport_tests::TestServer::start(3, 10).await;
    let http = {
        rapport_core::sync::install_crypto();
        reqwest::Client::new()
    };
    let url = format!("{}/v1/sync?since=0", srv.url());
    srv.server.state.faults.panic_next(1);
    let resp = http.get(&url).send().await.expect("an answer, not a reset");
    assert_eq!(resp.status().as_u16(), 500);
    let body: serde_json::Value = resp.json().await.expect("a JSON error body");
    assert_eq!(body["code"], "internal", "{body}");
    // The next request is served as usual (401 without a token).
    let again = http.get(&url).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 401);
}
