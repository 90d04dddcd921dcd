//! E2: attachment sizes. At most 20 MB for any file (MB = 2^20 bytes, as
//! the apps' own documents count), and each app's own lower limits, where
//! it has them, per media kind: images Viber 1 MB, WhatsApp 5 MB,
//! Instagram 8 MB (SPEC E2); WhatsApp video and audio 16 MB (WhatsApp
//! Business Platform media limits). Refusing executables needs the content
//! itself (sniffed, not the name): that check belongs to the outbox, which
//! holds the bytes.

use super::Refusal;
use crate::model::{App, MediaKind};

pub const MB: u64 = 1024 * 1024;
/// Rapport's limit for any file (E2).
pub const MAX_BYTES: u64 = 20 * MB;

/// The most bytes a file of this kind may have on this app.
pub fn limit(app: App, media: MediaKind) -> u64 {
    let own = match (app, media) {
        (App::Viber, MediaKind::Image) => MB,
        (App::Whatsapp, MediaKind::Image) => 5 * MB,
        (App::Whatsapp, MediaKind::Video | MediaKind::Audio) => 16 * MB,
        (App::Instagram, MediaKind::Image) => 8 * MB,
        _ => MAX_BYTES,
    };
    own.min(MAX_BYTES)
}

pub fn check(app: App, media: MediaKind, size_bytes: u64) -> Result<(), Refusal> {
    let limit_bytes = limit(app, media);
    if size_bytes > limit_bytes {
        return Err(Refusal::AttachmentTooLarge {
            limit_bytes,
            actual_bytes: size_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e2_boundary_table() {
        let cases = [
            (App::Telegram, MediaKind::File, MAX_BYTES, true),
            (App::Telegram, MediaKind::File, MAX_BYTES + 1, false),
            (App::Viber, MediaKind::Image, MB, true),
            (App::Viber, MediaKind::Image, MB + 1, false),
            (App::Viber, MediaKind::File, 20 * MB, true),
            (App::Whatsapp, MediaKind::Image, 5 * MB, true),
            (App::Whatsapp, MediaKind::Image, 5 * MB + 1, false),
            (App::Whatsapp, MediaKind::Video, 16 * MB + 1, false),
            (App::Instagram, MediaKind::Image, 8 * MB, true),
            (App::Instagram, MediaKind::Image, 8 * MB + 1, false),
            (App::Messenger, MediaKind::Video, 20 * MB + 1, false),
            (App::Livechat, MediaKind::Audio, 0, true),
        ];
        for (app, media, size, ok) in cases {
            assert_eq!(
                check(app, media, size).is_ok(),
                ok,
                "{app:?} {media:?} {size}"
            );
        }
    }
}
