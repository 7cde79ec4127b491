//! The full-disk campaign's fast subset: three trials per writer (import, reindex, key
//! rotation, retention sweep, backup, restore) on a tmpfs that fills during the run. It
//! mounts tmpfs, so it needs root (CI runs as root) and fails saying so otherwise. The
//! full campaign is `disk-campaign --trials 600`.

#[test]
fn every_writer_fails_clearly_on_a_full_disk_and_recovers() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_disk-campaign"))
        .args(["--trials", "18", "--messages", "2000", "--seed", "5"])
        .output()
        .expect("run disk-campaign");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("all              18"), "{text}");
}
