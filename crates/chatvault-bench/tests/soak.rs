//! The soak's fast subset: 18 seconds of live ingest at 500 messages/s with searches and
//! reports beside it, against the real server; every acknowledged message must be stored
//! and no request may fail. The full soak is `soak --minutes 30 --rate 2000`.

#[test]
fn a_short_soak_loses_nothing() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(["--minutes", "0.3", "--rate", "500", "--window", "6"])
        .output()
        .expect("run soak");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("acknowledged"), "{text}");
}
