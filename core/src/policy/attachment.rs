//! E2: attachments. What a file is comes from its bytes (magic numbers),
//! never from its name; executables are refused. Sizes: at most 20 MB for
//! any file (MB = 2^20 bytes, as the apps' own documents count), and each
//! app's own lower limits, where it has them, per media kind: images Viber
//! 1 MB, WhatsApp 5 MB, Instagram 8 MB (SPEC E2); WhatsApp video and audio
//! 16 MB (WhatsApp Business Platform media limits).
//!
//! Refused as executable, whatever the name says (see [`sniff`]): Windows
//! PE (exe, dll, scr...), ELF, Mach-O (and fat binaries), Java classes,
//! Android DEX, scripts that start with a shebang, and installers and
//! packages: APK/AAB and JAR (zips with an Android manifest, DEX code or a
//! Java manifest), iOS IPA (a zip with `Payload/*.app`), MSIX/APPX (zips
//! with an `AppxManifest.xml`), MSI/MSP/MST (OLE files with the installer's
//! class id), macOS installer packages (xar archives) and disk images (a
//! UDIF trailer), Debian and RPM packages, Chrome extensions. A name whose
//! extension makes an operating system run or install the file (`.bat`,
//! `.ps1`, `.vbs`, `.pkg`, `.dmg`, `.msix`...) is refused too: scripts are
//! plain text, so their bytes cannot tell, and a click on them runs them.
//! The extension is read as Windows reads it: trailing dots and spaces are
//! dropped (`x.bat.` runs as `x.bat`), and so is an NTFS stream name
//! (`x.bat::$DATA`).

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

/// What the bytes of a file are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sniffed {
    /// The MIME type from the content (`application/octet-stream` when
    /// nothing matched; `text/plain` for UTF-8 text).
    pub mime: String,
    pub media: MediaKind,
}

/// E2: what a file is, from its content; executables and empty files are
/// refused. `name` is only checked for extensions that run when opened.
pub fn sniff(name: &str, bytes: &[u8]) -> Result<Sniffed, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::FileEmpty);
    }
    if let Some(kind) = executable(bytes) {
        return Err(Refusal::Executable { kind: kind.into() });
    }
    if let Some(ext) = extension(name).filter(|e| RUNNABLE_EXTENSIONS.contains(&e.as_str())) {
        return Err(Refusal::Executable { kind: ext });
    }
    let (mime, media) = match infer::get(bytes) {
        Some(t) => (
            t.mime_type().to_owned(),
            match t.matcher_type() {
                infer::MatcherType::Image => MediaKind::Image,
                infer::MatcherType::Video => MediaKind::Video,
                infer::MatcherType::Audio => MediaKind::Audio,
                _ => MediaKind::File,
            },
        ),
        None if std::str::from_utf8(bytes).is_ok() => ("text/plain".into(), MediaKind::File),
        None => ("application/octet-stream".into(), MediaKind::File),
    };
    Ok(Sniffed { mime, media })
}

/// A file name's extension as the operating system that opens it sees it,
/// lower case: the last path component, without an NTFS stream name
/// (`:stream:$DATA`) and without the trailing dots, spaces and controls
/// that Windows drops.
fn extension(name: &str) -> Option<String> {
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let file = file.split(':').next().unwrap_or(file);
    let file = file.trim_end_matches(|c: char| c == '.' || c.is_whitespace() || c.is_control());
    file.rsplit_once('.')
        .map(|(_, e)| e.trim_end().to_ascii_lowercase())
}

/// Extensions that Windows, macOS or a desktop shell runs (or installs) on
/// a double click although the content is plain text or not recognisable
/// (a raw disk image has no magic number).
const RUNNABLE_EXTENSIONS: &[&str] = &[
    "bat",
    "cmd",
    "com",
    "ps1",
    "psm1",
    "vbs",
    "vbe",
    "js",
    "jse",
    "wsf",
    "wsh",
    "hta",
    "scr",
    "lnk",
    "reg",
    "command",
    "sh",
    "desktop",
    "msc",
    "cpl",
    "pkg",
    "mpkg",
    "dmg",
    "msix",
    "msixbundle",
    "appx",
    "appxbundle",
    "appinstaller",
];

/// The installer class ids of MSI, MSP and MST files (the root storage of
/// the OLE file carries one of them; Word and Excel files carry others).
const INSTALLER_CLSIDS: [&str; 3] = [
    "000c1084-0000-0000-c000-000000000046",
    "000c1086-0000-0000-c000-000000000046",
    "000c1082-0000-0000-c000-000000000046",
];

/// Which kind of executable these bytes are, if any.
fn executable(b: &[u8]) -> Option<&'static str> {
    use infer::{app, archive};
    let text = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    type Check = (fn(&[u8]) -> bool, &'static str);
    // ELF by its 4-byte magic alone: infer wants a whole header, and a
    // truncated executable is no document either.
    let is_elf = |b: &[u8]| b.starts_with(b"\x7FELF");
    let checks: [Check; 7] = [
        (app::is_exe, "pe"),
        (is_elf, "elf"),
        (app::is_mach, "mach_o"),
        (app::is_java, "java_class"),
        (app::is_dex, "dex"),
        (app::is_dey, "dex"),
        (archive::is_crx, "crx"),
    ];
    if let Some((_, kind)) = checks.iter().find(|(is, _)| is(b)) {
        return Some(kind);
    }
    if text.starts_with(b"#!") {
        return Some("script");
    }
    if archive::is_deb(b) {
        return Some("deb");
    }
    if archive::is_rpm(b) {
        return Some("rpm");
    }
    // A macOS installer package is a xar archive.
    if b.starts_with(b"xar!") {
        return Some("pkg");
    }
    // A disk image (UDIF) ends with a 512-byte "koly" trailer.
    if b.len() >= 512 && b[b.len() - 512..].starts_with(b"koly") {
        return Some("dmg");
    }
    if b.starts_with(b"PK\x03\x04") {
        return zip_executable(b);
    }
    if archive::is_msi(b) {
        // Every OLE file starts like an MSI: the root's class id tells.
        let root = cfb::CompoundFile::open(std::io::Cursor::new(b))
            .map(|f| f.root_entry().clsid().to_string());
        return match root {
            Ok(id) if INSTALLER_CLSIDS.contains(&id.as_str()) => Some("msi"),
            Ok(_) => None,
            // An OLE header over a broken body: it cannot be shown as a
            // document either, and an installer cannot be ruled out.
            Err(_) => Some("msi"),
        };
    }
    None
}

/// APK, AAB, JAR, IPA and MSIX/APPX are zips; their entry names tell them apart from
/// documents (DOCX, XLSX, ODT and EPUB are zips too).
fn zip_executable(b: &[u8]) -> Option<&'static str> {
    let has = |needle: &[u8]| memchr::memmem::find(b, needle).is_some();
    if has(b"AndroidManifest.xml") || has(b"classes.dex") {
        Some("apk")
    } else if has(b"META-INF/MANIFEST.MF") {
        Some("jar")
    } else if has(b"Payload/") && has(b".app/") {
        Some("ipa")
    } else if has(b"AppxManifest.xml") || has(b"AppxBundleManifest.xml") {
        Some("msix")
    } else {
        None
    }
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

/// E2: a file the agent picked, read from disk so its bytes never cross
/// the FFI boundary. A file larger than any app takes is refused from its
/// size alone, before a byte is read; the sniffing and each app's own limit
/// follow in [`sniff`] and [`check`] when it is queued. `Err(Err(_))`: the
/// file cannot be read.
pub fn read_file(path: &std::path::Path) -> Result<Result<Vec<u8>, Refusal>, std::io::Error> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let too_large = |actual_bytes| Refusal::AttachmentTooLarge {
        limit_bytes: MAX_BYTES,
        actual_bytes,
    };
    let size = file.metadata()?.len();
    if size > MAX_BYTES {
        return Ok(Err(too_large(size)));
    }
    // Bounded: the file may grow between the size check and the read.
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Ok(Err(too_large(bytes.len() as u64)));
    }
    Ok(Ok(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip's first local header with one entry name (enough for the
    /// sniffers, which read magic numbers and names).
    fn zip_with(names: &[&str]) -> Vec<u8> {
        let mut z = Vec::new();
        for n in names {
            z.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x08\x00");
            z.extend_from_slice(&[0; 16]);
            z.extend_from_slice(&(n.len() as u16).to_le_bytes());
            z.extend_from_slice(&[0, 0]);
            z.extend_from_slice(n.as_bytes());
            z.extend_from_slice(b"compressed bytes");
        }
        z
    }

    fn ole(clsid: &str) -> Vec<u8> {
        let mut f = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
        f.set_storage_clsid("/", uuid::Uuid::parse_str(clsid).unwrap())
            .unwrap();
        f.create_stream("/data").unwrap();
        f.flush().unwrap();
        f.into_inner().into_inner()
    }

    /// A disk image's shape: data, then the 512-byte UDIF trailer.
    fn udif() -> Vec<u8> {
        let mut b = vec![0x5A; 4096];
        b.extend_from_slice(b"koly");
        b.resize(4096 + 512, 0);
        b
    }

    fn elf() -> Vec<u8> {
        let mut b = b"\x7FELF\x02\x01\x01".to_vec();
        b.resize(64, 0);
        b
    }

    #[test]
    fn e2_executables_are_refused_by_content_whatever_the_name() {
        let mut pe = b"MZ\x90\x00".to_vec();
        pe.resize(128, 0);
        let macho = [0xCF, 0xFA, 0xED, 0xFE, 7, 0, 0, 1];
        let fat = [0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 2];
        let mut dex = b"dex\n035\0".to_vec();
        dex.resize(40, 0);
        dex[36] = 0x70;
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("photo.jpg", pe, "pe"),
            ("notes.txt", elf(), "elf"),
            ("short.bin", b"\x7FELF\x02\x01\x01\0".to_vec(), "elf"),
            ("song.mp3", macho.to_vec(), "mach_o"),
            ("song.mp3", fat.to_vec(), "mach_o"),
            ("classes.bin", dex, "dex"),
            ("readme.txt", b"#!/bin/sh\nrm -rf ~\n".to_vec(), "script"),
            (
                "readme.txt",
                b"\xEF\xBB\xBF#!/usr/bin/env python3\n".to_vec(),
                "script",
            ),
            (
                "game.zip",
                zip_with(&["AndroidManifest.xml", "classes.dex"]),
                "apk",
            ),
            (
                "bundle.zip",
                zip_with(&["base/manifest/AndroidManifest.xml"]),
                "apk",
            ),
            (
                "lib.zip",
                zip_with(&["META-INF/MANIFEST.MF", "a/B.class"]),
                "jar",
            ),
            (
                "app.zip",
                zip_with(&["Payload/", "Payload/Shop.app/Info.plist"]),
                "ipa",
            ),
            (
                "setup.doc",
                ole("000C1084-0000-0000-C000-000000000046"),
                "msi",
            ),
            (
                "patch.doc",
                ole("000C1086-0000-0000-C000-000000000046"),
                "msi",
            ),
            (
                "broken.doc",
                b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1 not ole".to_vec(),
                "msi",
            ),
            ("run.BAT", b"@echo off\r\ndel *.*\r\n".to_vec(), "bat"),
            ("invoice.pdf.ps1", b"Remove-Item C:\\".to_vec(), "ps1"),
            // Issue 16, hole 9: Windows drops trailing dots and spaces, and
            // a stream name, so each of these runs as a batch file.
            ("x.bat.", b"@echo off\r\n".to_vec(), "bat"),
            ("x.bat ", b"@echo off\r\n".to_vec(), "bat"),
            ("x.bat. . ", b"@echo off\r\n".to_vec(), "bat"),
            ("x.cmd\u{0}", b"@echo off\r\n".to_vec(), "cmd"),
            ("x.bat::$DATA", b"@echo off\r\n".to_vec(), "bat"),
            ("C:\\Users\\a\\x.VBS", b"MsgBox 1".to_vec(), "vbs"),
            // Installers by name (a raw disk image has no magic number).
            ("Setup.pkg", b"plain words".to_vec(), "pkg"),
            ("Setup.dmg", vec![0; 64], "dmg"),
            ("App.msix", b"plain words".to_vec(), "msix"),
            ("App.appx", b"plain words".to_vec(), "appx"),
            ("App.msixbundle", b"plain words".to_vec(), "msixbundle"),
            // And by content, whatever the name.
            ("invoice.pdf", b"xar!\0\x1c\0\x01".to_vec(), "pkg"),
            ("photos.zip", udif(), "dmg"),
            (
                "report.zip",
                zip_with(&["AppxManifest.xml", "AppxBlockMap.xml"]),
                "msix",
            ),
            (
                "bundle.zip",
                zip_with(&["AppxMetadata/AppxBundleManifest.xml"]),
                "msix",
            ),
        ];
        for (name, bytes, kind) in cases {
            assert_eq!(
                sniff(name, &bytes),
                Err(Refusal::Executable { kind: kind.into() }),
                "{name} as {kind}"
            );
        }
        assert_eq!(sniff("empty.txt", b""), Err(Refusal::FileEmpty));
    }

    #[test]
    fn e2_documents_and_media_pass_with_their_type_from_the_bytes() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        let jpeg = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0".to_vec();
        let mut mp4 = b"\0\0\0\x18ftypisom\0\0\0\0".to_vec();
        mp4.resize(32, 0);
        let ogg = b"OggS\0\x02\0\0\0\0\0\0\0\0".to_vec();
        let docx = zip_with(&["[Content_Types].xml", "word/document.xml"]);
        let word = ole("00020906-0000-0000-C000-000000000046");
        let cases: Vec<(&str, Vec<u8>, &str, MediaKind)> = vec![
            // The name says nothing: a PNG named .pdf is a PNG.
            ("scan.pdf", png, "image/png", MediaKind::Image),
            ("photo", jpeg, "image/jpeg", MediaKind::Image),
            ("clip.mov", mp4, "video/mp4", MediaKind::Video),
            ("voice", ogg, "audio/ogg", MediaKind::Audio),
            (
                "offer.pdf",
                b"%PDF-1.7\n".to_vec(),
                "application/pdf",
                MediaKind::File,
            ),
            (
                "notes.txt",
                "Привет 👋".as_bytes().to_vec(),
                "text/plain",
                MediaKind::File,
            ),
            (
                "data.bin",
                vec![0, 159, 146, 150],
                "application/octet-stream",
                MediaKind::File,
            ),
            ("letter.docx", docx, "application/zip", MediaKind::File),
            ("letter.doc", word, "application/msword", MediaKind::File),
            // An executable's name with harmless content: the extension
            // alone is not checked for kinds that bytes identify.
            (
                "tool.exe.txt",
                b"plain words".to_vec(),
                "text/plain",
                MediaKind::File,
            ),
            // A dot or space inside a name is no extension trick.
            (
                "Q3 report. final .txt",
                b"plain words".to_vec(),
                "text/plain",
                MediaKind::File,
            ),
            (
                "packages list.txt",
                b"pkg dmg msix".to_vec(),
                "text/plain",
                MediaKind::File,
            ),
        ];
        for (name, bytes, mime, media) in cases {
            let got = sniff(name, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((got.mime.as_str(), got.media), (mime, media), "{name}");
        }
    }

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

    #[test]
    fn e2_read_file_refuses_by_size_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        let file = std::fs::File::create(&path).unwrap();
        // Sparse: no byte is written, so only the size can tell.
        file.set_len(MAX_BYTES + 1).unwrap();
        assert_eq!(
            read_file(&path).unwrap(),
            Err(Refusal::AttachmentTooLarge {
                limit_bytes: MAX_BYTES,
                actual_bytes: MAX_BYTES + 1
            })
        );
        file.set_len(MAX_BYTES).unwrap();
        assert_eq!(read_file(&path).unwrap().unwrap().len() as u64, MAX_BYTES);
        std::fs::write(&path, b"%PDF-1.4 hello").unwrap();
        assert_eq!(read_file(&path).unwrap().unwrap(), b"%PDF-1.4 hello");
        assert!(read_file(&dir.path().join("missing")).is_err());
    }
}
