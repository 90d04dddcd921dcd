//! The generator, in-tree so its version always matches the library's
//! (scripts/gen-bindings.sh runs it in library mode).
fn main() {
    uniffi::uniffi_bindgen_main()
}
