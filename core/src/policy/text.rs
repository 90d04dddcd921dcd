//! E1: text length.
//!
//! Rapport's own limit is 512 characters, counted as a person sees them:
//! **extended grapheme clusters** (UAX #29, the `unicode-segmentation`
//! crate). "👩‍👩‍👧" is one character on screen although it is 5 code
//! points and 8 UTF-16 units; "é" written as e + combining accent is one.
//! Counting code points or bytes would make the agent's visible count and
//! the core's disagree, which the UI could not explain.
//!
//! Each messaging app also has its own limit, in its own unit, and the
//! tighter one wins. With emoji, 512 graphemes can exceed an app's limit:
//! - Instagram: 1000 bytes of UTF-8 (512 emoji do not fit);
//! - Messenger: 2000 characters, Telegram 4096 and WhatsApp 4096, Viber
//!   7000: counted in UTF-16 code units (what these platforms' APIs count
//!   as a "character"; a family emoji is 8 units, so 512 of them pass our
//!   limit but not Messenger's);
//! - live chat: no limit of its own.

use super::Refusal;
use crate::model::App;
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

/// Rapport's limit for every app (E1).
pub const MAX_GRAPHEMES: u32 = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LengthUnit {
    /// Characters as a person sees them.
    Characters,
    Utf16Units,
    Utf8Bytes,
}

impl std::fmt::Display for LengthUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LengthUnit::Characters => "characters",
            LengthUnit::Utf16Units => "UTF-16 units",
            LengthUnit::Utf8Bytes => "bytes",
        })
    }
}

/// The app's own limit, where it has one.
pub fn app_limit(app: App) -> Option<(u32, LengthUnit)> {
    match app {
        App::Instagram => Some((1000, LengthUnit::Utf8Bytes)),
        App::Messenger => Some((2000, LengthUnit::Utf16Units)),
        App::Telegram | App::Whatsapp => Some((4096, LengthUnit::Utf16Units)),
        App::Viber => Some((7000, LengthUnit::Utf16Units)),
        App::Livechat => None,
    }
}

pub fn measure(text: &str, unit: LengthUnit) -> u32 {
    let n = match unit {
        LengthUnit::Characters => text.graphemes(true).count(),
        LengthUnit::Utf16Units => text.encode_utf16().count(),
        LengthUnit::Utf8Bytes => text.len(),
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Whether `text` may be sent on `app` as far as its length goes.
/// C1: a note holds at most 2000 characters (grapheme clusters, as E1
/// counts).
pub const NOTE_MAX: u32 = 2000;

/// C1: may this be a note?
pub fn check_note(text: &str) -> Result<(), Refusal> {
    if text.trim().is_empty() {
        return Err(Refusal::TextEmpty);
    }
    let actual = measure(text, LengthUnit::Characters);
    if actual > NOTE_MAX {
        return Err(Refusal::TextTooLong {
            limit: NOTE_MAX,
            actual,
            unit: LengthUnit::Characters,
        });
    }
    Ok(())
}

pub fn check(app: App, text: &str) -> Result<(), Refusal> {
    if text.trim().is_empty() {
        return Err(Refusal::TextEmpty);
    }
    let limits = std::iter::once((MAX_GRAPHEMES, LengthUnit::Characters)).chain(app_limit(app));
    for (limit, unit) in limits {
        let actual = measure(text, unit);
        if actual > limit {
            return Err(Refusal::TextTooLong {
                limit,
                actual,
                unit,
            });
        }
    }
    Ok(())
}

/// What is left to type, in the unit that binds first (for a counter under
/// the reply box).
pub fn remaining(app: App, text: &str) -> (i64, LengthUnit) {
    std::iter::once((MAX_GRAPHEMES, LengthUnit::Characters))
        .chain(app_limit(app))
        .map(|(limit, unit)| (i64::from(limit) - i64::from(measure(text, unit)), unit))
        .min_by_key(|(left, _)| *left)
        .unwrap_or((0, LengthUnit::Characters))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(app: App, text: &str) -> Option<&'static str> {
        check(app, text).err().map(|r| r.code())
    }

    #[test]
    fn e1_boundary_table() {
        let family = "👩‍👩‍👧"; // 1 grapheme, 5 code points, 8 UTF-16 units, 18 bytes
        let cyr = "ж"; // 1 grapheme, 2 bytes
        let cases: Vec<(App, String, Option<&str>)> = vec![
            (App::Telegram, "a".repeat(512), None),
            (App::Telegram, "a".repeat(513), Some("text_too_long")),
            (App::Livechat, "é".repeat(512), None),
            (App::Livechat, "e\u{301}".repeat(512), None), // combining accent: still 512
            (App::Livechat, "e\u{301}".repeat(513), Some("text_too_long")),
            (App::Whatsapp, "😀".repeat(512), None),
            (App::Whatsapp, "😀".repeat(513), Some("text_too_long")),
            // Instagram: 1000 bytes. 500 Cyrillic letters = 1000 bytes.
            (App::Instagram, cyr.repeat(500), None),
            (
                App::Instagram,
                format!("{}a", cyr.repeat(500)),
                Some("text_too_long"),
            ),
            (App::Instagram, "a".repeat(512), None),
            // 512 emoji do not fit Instagram (4 bytes each).
            (App::Instagram, "😀".repeat(250), None),
            (
                App::Instagram,
                format!("{}😀", "😀".repeat(250)),
                Some("text_too_long"),
            ),
            // Messenger: 2000 UTF-16 units; 250 families = 2000 units.
            (App::Messenger, family.repeat(250), None),
            (
                App::Messenger,
                format!("{}a", family.repeat(250)),
                Some("text_too_long"),
            ),
            (App::Telegram, family.repeat(512), None),
            (App::Messenger, String::new(), Some("text_empty")),
            (App::Messenger, " \n\t ".into(), Some("text_empty")),
        ];
        for (app, text, want) in cases {
            assert_eq!(code(app, &text), want, "{app:?} {} bytes", text.len());
        }
    }

    #[test]
    fn e1_refusal_says_limit_unit_and_count() {
        let err = check(App::Instagram, &"😀".repeat(300)).unwrap_err();
        assert_eq!(
            err,
            Refusal::TextTooLong {
                limit: 1000,
                actual: 1200,
                unit: LengthUnit::Utf8Bytes
            }
        );
    }

    #[test]
    fn e1_remaining_reports_the_binding_limit() {
        assert_eq!(
            remaining(App::Telegram, "hi"),
            (510, LengthUnit::Characters)
        );
        assert_eq!(
            remaining(App::Instagram, &"😀".repeat(200)),
            (200, LengthUnit::Utf8Bytes)
        );
    }
}
