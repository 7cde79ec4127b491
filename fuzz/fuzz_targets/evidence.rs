#![no_main]
// The evidence package checker (`chatvault verify PACKAGE`), on any zip.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = chatvault_evidence::check("fuzz.zip", std::io::Cursor::new(data));
});
