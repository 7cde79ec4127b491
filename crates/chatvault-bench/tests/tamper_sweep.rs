//! The tamper sweep, whole: one changed value in every column of every table of both
//! databases, and flipped bits in the search index, a backup target and an evidence
//! package. Each must be detected or harmless (`tamper-sweep` exits 1 otherwise).

mod common;

#[test]
fn every_stored_byte_is_covered() {
    let text = common::campaign(env!("CARGO_BIN_EXE_tamper-sweep"), &[]);
    for table in [
        "access.db users",
        "access.db grants",
        "archive.db messages",
        "files backup/",
        "files evidence.zip",
        "files index/",
    ] {
        assert!(text.contains(table), "{table} was not swept: {text}");
    }
}
