//! The text counters (core/src/policy/text.rs): E1's per-app units.
//! Never panics, and the counts agree with each other and with the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rapport_core::model::App;
use rapport_core::policy::text::{self, LengthUnit};

const APPS: [App; 6] = App::ALL;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let chars = text::measure(&text, LengthUnit::Characters);
    let utf16 = text::measure(&text, LengthUnit::Utf16Units);
    let bytes = text::measure(&text, LengthUnit::Utf8Bytes);
    assert_eq!(bytes as usize, text.len());
    assert_eq!(utf16 as usize, text.encode_utf16().count());
    // A grapheme holds at least one scalar, each 1-2 UTF-16 units, 1-4 bytes.
    assert!(chars <= utf16 && utf16 <= bytes);
    let blank = text.trim().is_empty();
    for app in APPS {
        let ok = text::check(app, &text).is_ok();
        let (left, _) = text::remaining(app, &text);
        assert_eq!(
            ok,
            !blank && left >= 0,
            "{app:?}: check and remaining agree"
        );
    }
    let note = text::check_note(&text).is_ok();
    assert_eq!(note, !blank && chars <= text::NOTE_MAX);
});
