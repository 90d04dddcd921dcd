//! The attachment sniffer (core/src/policy/attachment.rs, E2): magic
//! bytes, zip entry names, OLE/CFB class ids (the cfb crate has a history of
//! panics and huge allocations: run with -rss_limit_mb and
//! -malloc_limit_mb). The first byte picks the file's name, the rest is
//! its content. Never panics; an empty file is refused and a refusal is
//! typed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rapport_core::model::{App, MediaKind};
use rapport_core::policy::attachment;

const NAMES: &[&str] = &[
    "photo.jpg",
    "report.pdf",
    "letter.doc",
    "sheet.xlsx",
    "setup.msi",
    "x.bat.",
    "x.bat ",
    "x.bat::$DATA",
    "app.apk",
    "noext",
    "",
    ".",
    "a.",
    "..ps1",
    "voice.ogg",
    "ünïcödé.docx",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    match attachment::sniff(name, bytes) {
        Ok(s) => {
            assert!(!bytes.is_empty());
            assert!(!s.mime.is_empty());
            for app in App::ALL {
                let _ = attachment::check(app, s.media, bytes.len() as u64);
                assert!(attachment::limit(app, s.media) <= attachment::MAX_BYTES);
            }
        }
        Err(r) => {
            let _ = r.code();
        }
    }
    let _ = attachment::check(App::Whatsapp, MediaKind::Image, bytes.len() as u64);
});
