//! The soak's fast subset: 18 seconds of live ingest at 100 messages/s (the suite runs
//! the debug build) with searches and reports beside it, against the real server; every
//! acknowledged message must be stored and no request may fail. The full soak is `soak --minutes 30 --rate 2000`.

mod common;

#[test]
fn a_short_soak_loses_nothing() {
    let text = common::campaign(
        env!("CARGO_BIN_EXE_soak"),
        &[
            "--minutes",
            "0.3",
            "--rate",
            "100",
            "--batch",
            "50",
            "--window",
            "6",
        ],
    );
    assert!(text.contains("acknowledged"), "{text}");
}
