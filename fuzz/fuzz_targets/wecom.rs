#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| chatvault_import::fuzz::run("wecom", data));
