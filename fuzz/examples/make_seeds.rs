//! Writes the crafted OLE/CFB seeds of the `attachment` target (the first
//! byte picks the file's name, see fuzz_targets/attachment.rs):
//! `cargo +nightly run --example make_seeds` from fuzz/.
use std::io::Write;

fn ole(clsid: &str, streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut f = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    f.set_storage_clsid("/", uuid::Uuid::parse_str(clsid).unwrap())
        .unwrap();
    f.create_storage("/sub").unwrap();
    for (name, data) in streams {
        f.create_stream(name).unwrap().write_all(data).unwrap();
    }
    f.flush().unwrap();
    f.into_inner().into_inner()
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/attachment");
    let write = |name: &str, pick: u8, bytes: &[u8]| {
        let mut b = vec![pick];
        b.extend_from_slice(bytes);
        std::fs::write(dir.join(name), b).unwrap();
    };
    // An MSI (the installer's class id), a Word document, an Excel sheet.
    let msi = ole("000c1084-0000-0000-c000-000000000046", &[("/data", b"x")]);
    write("ole-msi", 4, &msi);
    let doc = ole(
        "00020906-0000-0000-c000-000000000046",
        &[("/WordDocument", &[0xEC; 700]), ("/sub/1Table", b"t")],
    );
    write("ole-doc", 2, &doc);
    let xls = ole(
        "00020820-0000-0000-c000-000000000046",
        &[("/Workbook", &[9; 5000])],
    );
    write("ole-xls", 3, &xls);
    // An OLE header over a cut body.
    write("ole-cut", 2, &doc[..600.min(doc.len())]);
}
