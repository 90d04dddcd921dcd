//! Lines of text from the core's data: timeline items (B1-B9, C1), the
//! subscriber card (F1-F6, G), sync progress. Shared by the console and the
//! text output of `rapport show`.

use super::{CYAN, DIM, GREEN, RED, YELLOW};
use crate::format;
use rapport_core::model::{
    Deal, Delivery, Member, Sender, Subscriber, SubscriptionStatus, Timestamp,
};
use rapport_core::store::TimelineItem;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// "12,000 / 40,000 events (30%)".
pub fn progress_text(at: u64, head: u64) -> String {
    let pct = (at * 100).checked_div(head).unwrap_or(100).min(100);
    format!("{} / {} events ({pct}%)", thousands(at), thousands(head))
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The text of a line, without its styles.
pub fn plain(line: &Line<'_>) -> String {
    line.spans.iter().map(|s| s.content.as_ref()).collect()
}

/// B1-B9, C1: one timeline item as lines (not wrapped).
pub fn item_lines(
    item: &TimelineItem,
    subscriber: &str,
    members: &[Member],
    now: Timestamp,
) -> Vec<Line<'static>> {
    item_lines_with(item, subscriber, members, now, None)
}

pub(super) fn item_lines_with(
    item: &TimelineItem,
    subscriber: &str,
    members: &[Member],
    now: Timestamp,
    failed: Option<&str>,
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    match item {
        TimelineItem::Note(n) => {
            out.push(Line::from(vec![
                Span::styled(format::short_time(n.created_at, now), DIM),
                Span::raw(" "),
                Span::styled(
                    format!("✎ note by {}: ", format::member_name(members, &n.author)),
                    YELLOW.add_modifier(Modifier::BOLD),
                ),
                Span::styled(n.text.clone(), YELLOW),
                Span::styled(
                    if n.edited_at.is_some() {
                        " (edited)"
                    } else {
                        ""
                    },
                    DIM,
                ),
            ]));
        }
        TimelineItem::Message(m) => {
            let indent = " ".repeat(format::short_time(m.sent_at, now).chars().count() + 1);
            if let Some(q) = &m.quote {
                // B6: the quoted message above the reply.
                out.push(Line::from(vec![
                    Span::raw(indent.clone()),
                    Span::styled(format!("┆ ↩ {}", crate::format::truncate(&q.text, 80)), DIM),
                ]));
            }
            if let Some(ad) = &m.in_reply_to_ad {
                // F4: a message after an ad answers that ad.
                out.push(Line::from(vec![
                    Span::raw(indent.clone()),
                    Span::styled(
                        format!("┆ in response to the ad {} {}", ad.name, ad.url),
                        DIM,
                    ),
                ]));
            }
            let who = format::sender_name(&m.sender, subscriber, members);
            let who_style = match m.sender {
                Sender::Subscriber => CYAN.add_modifier(Modifier::BOLD),
                _ => GREEN.add_modifier(Modifier::BOLD),
            };
            let body = if m.deleted_at.is_some() {
                "[deleted]".to_owned()
            } else {
                format::content_line(&m.content)
            };
            let mut spans = vec![
                Span::styled(format::short_time(m.sent_at, now), DIM),
                Span::raw(" "),
                Span::styled(format!("{who}: "), who_style),
                Span::raw(body),
            ];
            if m.edited_at.is_some() {
                spans.push(Span::styled(" (edited)", DIM));
            }
            if let Some(d) = m.delivery {
                // B5: grey ticks, blue when read; the outbox's own states.
                let style = match d {
                    Delivery::Read => Style::new().fg(Color::Blue),
                    Delivery::Failed => RED,
                    _ => DIM,
                };
                spans.push(Span::styled(format!(" {}", format::ticks(d)), style));
            }
            out.push(Line::from(spans));
            if let Some(r) = format::reactions(m, members) {
                out.push(Line::from(vec![Span::raw(indent.clone()), Span::raw(r)]));
            }
            if let Some(reason) = failed {
                // E7: a refused reply stays, with its reason, until the
                // agent retries or discards it.
                out.push(Line::from(vec![
                    Span::raw(indent),
                    Span::styled(format!("✗ not sent: {reason} (R retry · D discard)"), RED),
                ]));
            }
        }
    }
    out
}

/// F1-F6, G: the subscriber card as lines.
pub fn card_lines(s: &Subscriber, deals: &[Deal], _now: Timestamp) -> Vec<String> {
    let mut out = vec![match &s.username {
        Some(u) => format!("{} @{u}", s.name),
        None => s.name.clone(),
    }];
    let status = match s.status {
        SubscriptionStatus::Active => "subscribed",
        SubscriptionStatus::Unsubscribed => "unsubscribed",
        SubscriptionStatus::Disabled => "disabled",
    };
    out.push(format!("{} · {status}", format::app_name(s.app)));
    out.push(format!("since {}", format::date_time(s.subscribed_at)));
    if let Some(t) = s.last_activity_at {
        out.push(format!("last active {}", format::date_time(t)));
    }
    if let Some(e) = &s.email {
        out.push(format!("email {e}"));
    }
    if let Some(p) = &s.phone {
        out.push(format!("phone {p}"));
    }
    if let Some(g) = &s.group {
        out.push(format!("group of {} members", g.member_count));
        if let Some(l) = &g.share_link {
            out.push(format!("share {l}"));
        }
        if let Some(l) = &g.invite_link {
            out.push(format!("invite {l}"));
        }
    }
    if let Some(i) = &s.instagram {
        let yn = |b: bool| if b { "yes" } else { "no" };
        out.push(format!(
            "follows you: {} · you follow: {}",
            yn(i.follows_business),
            yn(i.business_follows)
        ));
    }
    if let Some(ad) = &s.ad_source {
        out.push(format!("came from the ad {} {}", ad.name, ad.url));
    }
    if !s.tags.is_empty() {
        out.push(format!("tags: {}", s.tags.join(", ")));
    }
    for (k, v) in &s.variables {
        out.push(format!("{k} = {v}"));
    }
    if let Some(f) = &s.active_flow {
        out.push(format!("flow {} ({} queued)", f.name, f.queued_messages));
    }
    if let Some(c) = &s.crm_contact {
        out.push(format!(
            "CRM: {} {}{}",
            c.first_name,
            c.last_name,
            c.phone
                .as_deref()
                .map(|p| format!(" {p}"))
                .unwrap_or_default()
        ));
    }
    for d in deals {
        out.push(format!(
            "deal {} · {} · {}",
            d.name,
            d.stage.name,
            format::amount(d.amount_minor, &d.currency)
        ));
    }
    out
}

/// Splits a line into lines of at most `width` characters, keeping styles.
pub(super) fn wrap(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    // Continuation lines start with two spaces: leave room after them.
    let width = width.max(4);
    let mut out: Vec<Line<'static>> = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in line.spans {
        let mut rest: Vec<char> = span.content.chars().collect();
        while !rest.is_empty() {
            let room = width - used;
            let take = rest.len().min(room);
            let piece: String = rest.drain(..take).collect();
            used += take;
            cur.push(Span::styled(piece, span.style));
            if used == width && !rest.is_empty() {
                out.push(Line::from(std::mem::take(&mut cur)));
                cur.push(Span::raw("  "));
                used = 2;
            }
        }
    }
    out.push(Line::from(cur));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_in_thousands() {
        assert_eq!(
            progress_text(12_000, 40_000),
            "12,000 / 40,000 events (30%)"
        );
        assert_eq!(progress_text(5, 0), "5 / 0 events (100%)");
    }

    #[test]
    fn wrapping_keeps_every_character_and_the_styles() {
        let line = Line::from(vec![Span::styled("abcdef", RED), Span::raw("ghij")]);
        let lines = wrap(line, 4);
        let text: Vec<String> = lines.iter().map(plain).collect();
        assert_eq!(text, ["abcd", "  ef", "  gh", "  ij"]);
        assert_eq!(lines[1].spans[1].style, RED);
    }
}
