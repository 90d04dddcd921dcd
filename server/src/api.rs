//! The API's routes, registered once: the router serves them and the
//! OpenAPI document (docs/openapi.json, `rapport-server --openapi`) is
//! generated from the same registration and from the wire types'
//! schemas, so the document cannot list a route the server does not
//! serve, or a body it does not read.

use crate::{AppState, auth, commands, feed, gateway, notify, uploads};
use rapport_core::wire::ErrorBody;
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rapport sync API",
        version = "1",
        description = "The reference server's API (server/), generated from rapport_core::wire and the server's router. The sync model (seq, snapshot, catch-up, live, idempotency) is described in docs/protocol.md, the events in docs/events.md. Every response carries `x-server-time` (ms since the epoch). Errors are `{code, message}` with stable codes. Commands (POST/PATCH/DELETE of an agent action) need an `Idempotency-Key` header. Responses are gzip-compressed when the client accepts it."
    ),
    components(schemas(ErrorBody, rapport_core::wire::ErrorCode)),
    modifiers(&Bearer),
    security(("bearer" = []))
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// Every route with its handler and its documentation.
pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(feed::sync))
        .routes(routes!(feed::stream))
        .routes(routes!(auth::stats))
        .routes(routes!(feed::history, commands::send))
        .routes(routes!(commands::edit_message, commands::delete_message))
        .routes(routes!(commands::react))
        .routes(routes!(commands::attach))
        .routes(routes!(uploads::open))
        .routes(routes!(uploads::part, uploads::download))
        .routes(routes!(notify::register))
        .routes(routes!(notify::unregister))
        .routes(routes!(notify::settings, notify::set_settings))
        .routes(routes!(commands::read))
        .routes(routes!(commands::open))
        .routes(routes!(commands::close))
        .routes(routes!(commands::assign))
        .routes(routes!(commands::pause_bot))
        .routes(routes!(commands::add_note))
        .routes(routes!(commands::edit_note, commands::delete_note))
        .routes(routes!(commands::edit_subscriber))
        .routes(routes!(commands::flows))
        .routes(routes!(commands::add_deal))
        .routes(routes!(commands::edit_deal))
        .routes(routes!(gateway::hook))
        .routes(routes!(gateway::files::file))
}

/// The OpenAPI document of [`routes`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// The document as docs/openapi.json holds it.
pub fn openapi_json() -> String {
    let mut json = openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}

/// Every route the server serves: (method, path), from the registration.
pub fn route_list() -> Vec<(String, String)> {
    let doc = serde_json::to_value(openapi()).unwrap_or_default();
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, ops) in paths {
            for method in ops.as_object().into_iter().flat_map(|o| o.keys()) {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}
