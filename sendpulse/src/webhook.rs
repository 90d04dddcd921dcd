//! SendPulse's webhook bodies: a JSON array of items, one per event
//! (`components/schemas/WebhookItem` in docs/sendpulse/openapi.yml).
//!
//! An item Rapport cannot use is skipped with a typed reason and the others
//! are kept; only a body that is not a JSON array is an error. Nothing here
//! logs an item's content.

use std::fmt;

use serde_json::Value;

use crate::codes::App;

/// The events SendPulse posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Title {
    IncomingMessage,
    OutgoingMessage,
    OpenChat,
    NewSubscriber,
    Unsubscribe,
    BotBlock,
    RunCustomFlow,
    LinkClick,
}

impl Title {
    pub fn parse(s: &str) -> Option<Title> {
        Some(match s {
            "incoming_message" => Title::IncomingMessage,
            "outgoing_message" => Title::OutgoingMessage,
            "open_chat" => Title::OpenChat,
            "new_subscriber" => Title::NewSubscriber,
            "unsubscribe" => Title::Unsubscribe,
            "bot_block" => Title::BotBlock,
            "run_custom_flow" => Title::RunCustomFlow,
            "link_click" => Title::LinkClick,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Title::IncomingMessage => "incoming_message",
            Title::OutgoingMessage => "outgoing_message",
            Title::OpenChat => "open_chat",
            Title::NewSubscriber => "new_subscriber",
            Title::Unsubscribe => "unsubscribe",
            Title::BotBlock => "bot_block",
            Title::RunCustomFlow => "run_custom_flow",
            Title::LinkClick => "link_click",
        }
    }
}

/// One usable webhook item.
#[derive(Clone, PartialEq)]
pub struct Item {
    pub title: Title,
    pub app: App,
    pub bot_id: String,
    pub contact_id: String,
    pub contact_name: Option<String>,
    /// Unix seconds.
    pub date: i64,
    /// The message's id (`info.message.id`) where the item carries one:
    /// the key that makes a duplicate delivery change nothing.
    pub message_id: Option<String>,
    /// The message's text (`info.message.text`, else `contact.last_message`).
    pub text: Option<String>,
    /// The platform's own payload, as it came.
    pub info: Value,
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Item")
            .field("title", &self.title)
            .field("app", &self.app)
            .field("bot_id", &self.bot_id)
            .field("contact_id", &self.contact_id)
            .field("date", &self.date)
            .field("message_id", &self.message_id)
            .field(
                "text",
                &self.text.as_ref().map(|t| format!("<{} bytes>", t.len())),
            )
            .finish_non_exhaustive()
    }
}

/// Why an item was set aside.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error("unknown title {0:?}")]
    UnknownTitle(String),
    #[error("unknown service {0:?}")]
    UnknownService(String),
    #[error("item lacks {0}")]
    Missing(&'static str),
    #[error("item is not an object")]
    NotAnObject,
}

/// A body that is not a webhook at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook body is not JSON: {0}")]
    NotJson(String),
    #[error("webhook body is not a JSON array")]
    NotAnArray,
}

/// A parsed body: the usable items in their order, and each skipped one
/// with its index in the array and the reason.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub items: Vec<Item>,
    pub skipped: Vec<(usize, Skip)>,
}

pub fn parse(body: &[u8]) -> Result<Parsed, WebhookError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        // serde's message names a position, never the content.
        WebhookError::NotJson(e.to_string())
    })?;
    let Value::Array(list) = v else {
        return Err(WebhookError::NotAnArray);
    };
    let mut out = Parsed::default();
    for (i, raw) in list.into_iter().enumerate() {
        match item(raw) {
            Ok(it) => out.items.push(it),
            Err(s) => out.skipped.push((i, s)),
        }
    }
    Ok(out)
}

fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn item(mut raw: Value) -> Result<Item, Skip> {
    let obj = raw.as_object_mut().ok_or(Skip::NotAnObject)?;
    let title = obj
        .get("title")
        .and_then(Value::as_str)
        .ok_or(Skip::Missing("title"))?;
    let title = Title::parse(title).ok_or_else(|| Skip::UnknownTitle(title.to_owned()))?;
    let service = obj
        .get("service")
        .and_then(Value::as_str)
        .ok_or(Skip::Missing("service"))?;
    let app = App::from_webhook_service(service)
        .ok_or_else(|| Skip::UnknownService(service.to_owned()))?;
    let bot_id = id_of(obj.get("bot").and_then(|b| b.get("id"))).ok_or(Skip::Missing("bot.id"))?;
    let contact = obj.get("contact");
    let contact_id = id_of(contact.and_then(|c| c.get("id"))).ok_or(Skip::Missing("contact.id"))?;
    let contact_name = contact
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let date = obj
        .get("date")
        .and_then(|d| d.as_i64().or_else(|| d.as_f64().map(|f| f as i64)))
        .ok_or(Skip::Missing("date"))?;
    let last_message = contact
        .and_then(|c| c.get("last_message"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let info = obj.remove("info").unwrap_or(Value::Null);
    let message = info.get("message");
    let message_id = id_of(message.and_then(|m| m.get("id")));
    let text = message
        .and_then(|m| m.get("text"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(last_message);
    if matches!(title, Title::IncomingMessage | Title::OutgoingMessage) && message_id.is_none() {
        return Err(Skip::Missing("info.message.id"));
    }
    Ok(Item {
        title,
        app,
        bot_id,
        contact_id,
        contact_name,
        date,
        message_id,
        text,
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(id: &str) -> Value {
        serde_json::json!({
            "title": "incoming_message", "service": "telegram",
            "bot": {"id": "b1", "name": "Shop"},
            "contact": {"id": "c1", "name": "Ann", "last_message": "hi"},
            "date": 1_700_000_000,
            "info": {"message": {"id": id, "text": "hello"}}
        })
    }

    #[test]
    fn webhook_array_with_unknown_titles_keeps_the_rest() {
        let body = serde_json::json!([
            incoming("m1"),
            {"title": "something_new", "service": "telegram", "bot": {"id": "b"},
             "contact": {"id": "c"}, "date": 1},
            {"title": "open_chat", "service": "viber", "bot": {"id": "b2"},
             "contact": {"id": "c2"}, "date": 2},
            {"title": "incoming_message", "service": "tiktok", "bot": {"id": "b"},
             "contact": {"id": "c"}, "date": 1},
            {"title": "incoming_message", "service": "telegram", "bot": {"id": "b"},
             "date": 1},
            7,
        ]);
        let p = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].message_id.as_deref(), Some("m1"));
        assert_eq!(p.items[0].text.as_deref(), Some("hello"));
        assert_eq!(p.items[1].title, Title::OpenChat);
        assert_eq!(p.items[1].app, App::Viber);
        assert_eq!(
            p.skipped,
            vec![
                (1, Skip::UnknownTitle("something_new".into())),
                (3, Skip::UnknownService("tiktok".into())),
                (4, Skip::Missing("contact.id")),
                (5, Skip::NotAnObject),
            ]
        );
    }

    #[test]
    fn webhook_malformed_bodies_are_typed_errors() {
        assert!(matches!(
            parse(b"{\"title\":"),
            Err(WebhookError::NotJson(_))
        ));
        assert_eq!(
            parse(incoming("m").to_string().as_bytes()),
            Err(WebhookError::NotAnArray)
        );
        assert_eq!(parse(b"[]").unwrap(), Parsed::default());
    }

    #[test]
    fn webhook_message_without_id_is_skipped_and_debug_hides_text() {
        let mut m = incoming("x");
        m["info"] = serde_json::json!({});
        let p = parse(serde_json::json!([m]).to_string().as_bytes()).unwrap();
        assert_eq!(p.skipped, vec![(0, Skip::Missing("info.message.id"))]);
        let p = parse(serde_json::json!([incoming("m2")]).to_string().as_bytes()).unwrap();
        assert!(!format!("{:?}", p.items[0]).contains("hello"));
    }
}
