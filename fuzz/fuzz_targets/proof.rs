#![no_main]
// The offline proof checker (`chatvault verify-proof`), on any file.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = chatvault_archive::verify_proof_file(data, None);
});
