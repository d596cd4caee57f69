//! UniFFI's command-line binding generator, pinned to the uniffi version
//! that peerfx-ffi is built with (the two must match exactly). Used by
//! `scripts/bindings`: `uniffi-bindgen generate --library libpeerfx_ffi.so
//! --language kotlin --out-dir OUT`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
