//! The full-disk campaign's fast subset: three trials per writer (import, reindex, key
//! rotation, retention sweep, backup, restore) on a tmpfs that fills during the run. It
//! mounts tmpfs, so it needs root (CI runs as root) and fails saying so otherwise. The
//! full campaign is `disk-campaign --trials 600` (and `--fault fsync`, below).

mod common;

#[test]
fn every_writer_fails_clearly_on_a_full_disk_and_recovers() {
    let text = common::campaign(
        env!("CARGO_BIN_EXE_disk-campaign"),
        &["--trials", "18", "--messages", "2000", "--seed", "5"],
    );
    assert!(text.contains("all              18"), "{text}");
}

/// The failing-flush subset: three trials per writer, each with its k-th `fsync` (and
/// every later one) failing with `EIO` through an `LD_PRELOAD` library built with `cc`.
/// The full campaign is `disk-campaign --fault fsync --trials 600`.
#[test]
fn every_writer_fails_clearly_on_a_failing_flush_and_recovers() {
    let text = common::campaign(
        env!("CARGO_BIN_EXE_disk-campaign"),
        &[
            "--fault",
            "fsync",
            "--trials",
            "18",
            "--messages",
            "2000",
            "--seed",
            "6",
        ],
    );
    assert!(text.contains("all              18"), "{text}");
}
