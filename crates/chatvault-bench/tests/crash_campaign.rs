//! The crash-point campaign's fast subset: three SIGKILLs per writer (import,
//! checkpoint, key rotation, reindex, retention sweep, backup, restore, deletion approval,
//! live ingest) against the real binary, every invariant checked after each. The full campaign is
//! `cargo run --release -p chatvault-bench --bin crash-campaign -- --kills 1000`.

#[test]
fn every_writer_survives_sigkill() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crash-campaign"))
        .args(["--kills", "27", "--messages", "2000", "--seed", "11"])
        .output()
        .expect("run crash-campaign");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("all              27"), "{text}");
}
