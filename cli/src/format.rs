//! How things read on a terminal: names, dots, ticks, times and sizes.
//! Pure display; every fact shown comes from rapport-core.

use rapport_core::model::{
    App, ChatKind, ChatStatus, Content, Delivery, Member, MemberId, Message, ReactionBy, Sender,
    Timestamp,
};
use rapport_core::policy::window::WindowState;

pub fn app_name(app: App) -> &'static str {
    match app {
        App::Telegram => "Telegram",
        App::Whatsapp => "WhatsApp",
        App::Instagram => "Instagram",
        App::Messenger => "Messenger",
        App::Viber => "Viber",
        App::Livechat => "Live chat",
    }
}

/// A2: the two-letter tag every list row carries.
pub fn app_tag(app: App) -> &'static str {
    match app {
        App::Telegram => "TG",
        App::Whatsapp => "WA",
        App::Instagram => "IG",
        App::Messenger => "FB",
        App::Viber => "VB",
        App::Livechat => "LC",
    }
}

pub fn kind_name(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::Personal => "personal",
        ChatKind::Group => "group",
    }
}

/// A5: open is an empty red circle, unread a filled red one, closed grey.
pub fn status_dot(status: ChatStatus) -> &'static str {
    match status {
        ChatStatus::Open => "○",
        ChatStatus::Unread => "●",
        ChatStatus::Closed => "○",
    }
}

pub fn status_name(status: ChatStatus) -> &'static str {
    match status {
        ChatStatus::Open => "open",
        ChatStatus::Unread => "unread",
        ChatStatus::Closed => "closed",
    }
}

/// B5: one grey tick sent, two grey delivered, two blue read; the outbox's
/// own states as a clock and a cross.
pub fn ticks(d: Delivery) -> &'static str {
    match d {
        Delivery::Pending => "◷",
        Delivery::Sent => "✓",
        Delivery::Delivered | Delivery::Read => "✓✓",
        Delivery::Failed => "✗",
    }
}

pub fn delivery_name(d: Delivery) -> &'static str {
    match d {
        Delivery::Pending => "sending",
        Delivery::Sent => "sent",
        Delivery::Delivered => "delivered",
        Delivery::Read => "read",
        Delivery::Failed => "failed",
    }
}

/// A member's name, or their id if the store does not know them.
pub fn member_name(members: &[Member], id: &MemberId) -> String {
    members
        .iter()
        .find(|m| &m.id == id)
        .map_or_else(|| id.to_string(), |m| m.name.clone())
}

/// B9: who sent a message.
pub fn sender_name(sender: &Sender, subscriber: &str, members: &[Member]) -> String {
    match sender {
        Sender::Subscriber => subscriber.to_owned(),
        Sender::Bot => "Bot".into(),
        Sender::ThirdPartyApp => "Third-party app".into(),
        Sender::Member(id) => member_name(members, id),
    }
}

/// B2-B4: a message's content on one line.
pub fn content_line(c: &Content) -> String {
    match c {
        Content::Text { text } => text.clone(),
        Content::ButtonPress { label } => format!("[pressed: {label}]"),
        Content::Attachment(a) => {
            let mut s = format!("📎 {} ({}, {})", a.name, size(a.size_bytes), a.mime);
            if let Some(c) = &a.caption {
                s.push_str(&format!(" {c}"));
            }
            if let Some(u) = &a.url {
                s.push_str(&format!(" ⤓ {u}"));
            }
            s
        }
        Content::AdClick { ad, text } => format!(
            "[ad click-through: {} {}]{}",
            ad.name,
            ad.url,
            text.as_deref().map(|t| format!(" {t}")).unwrap_or_default()
        ),
        Content::StoryMention { story_url } => format!("[mentioned you in a story: {story_url}]"),
        Content::Template { name, text } => format!("[template {name}] {text}"),
    }
}

/// B7: reactions, e.g. "👍 subscriber, ❤ Agent 0".
pub fn reactions(m: &Message, members: &[Member]) -> Option<String> {
    if m.reactions.is_empty() {
        return None;
    }
    Some(
        m.reactions
            .iter()
            .map(|r| match &r.by {
                ReactionBy::Subscriber => format!("{} subscriber", r.emoji),
                ReactionBy::Member(id) => format!("{} {}", r.emoji, member_name(members, id)),
            })
            .collect::<Vec<_>>()
            .join(", "),
    )
}

pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.0} KB", b as f64 / (1 << 10) as f64),
        b => format!("{b} B"),
    }
}

/// "2d 3h", "5h 07m", "12m 30s", "45s".
pub fn duration_ms(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Server time as "YYYY-MM-DD HH:MM" (UTC).
pub fn date_time(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t.0).map_or_else(
        || t.0.to_string(),
        |d| d.format("%Y-%m-%d %H:%M").to_string(),
    )
}

/// "HH:MM" today, the date and time otherwise (UTC).
pub fn short_time(t: Timestamp, now: Timestamp) -> String {
    let (Some(d), Some(n)) = (
        chrono::DateTime::from_timestamp_millis(t.0),
        chrono::DateTime::from_timestamp_millis(now.0),
    ) else {
        return t.0.to_string();
    };
    if d.date_naive() == n.date_naive() {
        d.format("%H:%M").to_string()
    } else {
        d.format("%b %d %H:%M").to_string()
    }
}

/// E4: the reply box's window line.
pub fn window_line(w: WindowState, now: Timestamp) -> String {
    match w {
        WindowState::Unlimited => "no reply window".into(),
        WindowState::Open { closes_at } => format!(
            "window closes in {}",
            duration_ms(closes_at.0.saturating_sub(now.0))
        ),
        WindowState::Closed { closed_at: Some(t) } => {
            format!(
                "window closed {} ago",
                duration_ms(now.0.saturating_sub(t.0))
            )
        }
        WindowState::Closed { closed_at: None } => {
            "window closed (the subscriber never wrote)".into()
        }
    }
}

/// G1: an amount in minor units (cents) with its currency, exactly:
/// `125.00 EUR`.
pub fn amount(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", m / 100, m % 100)
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

pub fn alternatives(instead: &[rapport_core::policy::window::Alternative]) -> String {
    use rapport_core::policy::window::Alternative;
    instead
        .iter()
        .map(|a| match a {
            Alternative::WhatsappTemplate => "a WhatsApp template".to_owned(),
            Alternative::MessengerTag(t) => format!("a Messenger message tagged {t:?}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration_ms(45_000), "45s");
        assert_eq!(duration_ms(12 * 60_000 + 30_000), "12m 30s");
        assert_eq!(duration_ms(5 * 3_600_000 + 7 * 60_000), "5h 07m");
        assert_eq!(duration_ms(2 * 86_400_000 + 3 * 3_600_000), "2d 3h");
        assert_eq!(duration_ms(-5), "0s");
    }

    #[test]
    fn b5_ticks() {
        assert_eq!(ticks(Delivery::Sent), "✓");
        assert_eq!(ticks(Delivery::Delivered), "✓✓");
        assert_eq!(ticks(Delivery::Read), "✓✓");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(2048), "2 KB");
        assert_eq!(size(3 * 1024 * 1024 / 2), "1.5 MB");
    }
}
