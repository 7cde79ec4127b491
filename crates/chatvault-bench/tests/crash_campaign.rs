//! The crash-point campaign's fast subset: three SIGKILLs per writer (import,
//! checkpoint, key rotation, reindex, retention sweep, backup, restore, deletion approval,
//! live ingest) against the real binary, every invariant checked after each. The full campaign is
//! `cargo run --release -p chatvault-bench --bin crash-campaign -- --kills 1000`.

mod common;

#[test]
fn every_writer_survives_sigkill() {
    let text = common::campaign(
        env!("CARGO_BIN_EXE_crash-campaign"),
        &["--kills", "27", "--messages", "2000", "--seed", "11"],
    );
    assert!(text.contains("all              27"), "{text}");
}
