//! The full-disk campaign's fast subset: three trials per writer (import, reindex, key
//! rotation, retention sweep, backup, restore) on a tmpfs that fills during the run. It
//! mounts tmpfs, so it needs root (CI runs as root) and fails saying so otherwise. The
//! full campaign is `disk-campaign --trials 600`.

mod common;

#[test]
fn every_writer_fails_clearly_on_a_full_disk_and_recovers() {
    let text = common::campaign(
        env!("CARGO_BIN_EXE_disk-campaign"),
        &["--trials", "18", "--messages", "2000", "--seed", "5"],
    );
    assert!(text.contains("all              18"), "{text}");
}
