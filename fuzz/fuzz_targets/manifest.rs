#![no_main]
// The backup manifest reader and its signature check, on any file.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<chatvault_backup::Manifest>(data) {
        let _ = chatvault_backup::check_signature(&m);
        let _ = chatvault_backup::manifest_statement(&m);
    }
});
