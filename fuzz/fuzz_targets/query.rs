#![no_main]
// The search query parser, on any text.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = chatvault_index::Query::parse(&String::from_utf8_lossy(data));
});
