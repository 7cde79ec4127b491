//! Live capture through the application layer, where a test can stand in for an older
//! build: an event quarantined because the build that received it did not know its
//! type is released by a replay under a build that does, stored once, and audited; one
//! that still does not map stays. A skipped sequence number raises a gap alert.

use chatvault_access::audit::AuditFilter;
use chatvault_access::sources::Secrets;
use chatvault_app::connectors::{self, Request};
use chatvault_app::{App, Config};
use chatvault_archive::{Archive, KeyProvider};
use serde_json::json;
use zeroize::Zeroizing;

const TOKEN: &str = "tg_secret-Token_42";

fn app() -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = KeyProvider::default();
    Archive::init(&data, &keys).unwrap();
    let mut a = Archive::open(&data, &keys).unwrap();
    let cfg = Config::default();
    let acc = chatvault_app::service::open_access(&mut a, cfg.security.clone()).unwrap();
    let app = App::new(a, acc, cfg);
    let mut secrets = Secrets::new();
    secrets.insert("secret_token".into(), Zeroizing::new(TOKEN.into()));
    connectors::add(
        &mut app.access().unwrap(),
        connectors::Via::Console,
        "admin",
        "bot",
        "telegram",
        Default::default(),
        &secrets,
    )
    .unwrap();
    (dir, app)
}

fn post(app: &App, body: &serde_json::Value) -> connectors::Reply {
    let header = |n: &str| (n == "x-telegram-bot-api-secret-token").then(|| TOKEN.to_owned());
    let bytes = body.to_string().into_bytes();
    let req = Request {
        method: "POST",
        query: "",
        header: &header,
        body: &bytes,
        ip: None,
        now_s: chrono::Utc::now().timestamp(),
    };
    connectors::receive(app, "bot", &req).unwrap()
}

fn update(id: i64, text: &str) -> serde_json::Value {
    json!({"update_id": id, "message": {"message_id": id, "date": 1764900000, "chat": {"id": 5, "type": "private"},
        "from": {"id": 42, "first_name": "王"}, "text": text}})
}

#[test]
fn a_replay_releases_what_maps_now_and_keeps_what_does_not() {
    let (_d, app) = app();
    // What an older build held: a message update it could not map (say, before it knew
    // `business_message`), held as the connector holds it, the verified body whole.
    let older = update(10, "REPLAY-OLD-1");
    app.access()
        .unwrap()
        .quarantine(
            "bot",
            older.to_string().as_bytes(),
            "an update of unknown type `message`",
        )
        .unwrap();
    // And one this build does not know either.
    let novel = json!({"update_id": 11, "hologram": {"text": "REPLAY-HOLO"}});
    assert_eq!(post(&app, &novel).status, 200);
    assert_eq!(
        app.access()
            .unwrap()
            .quarantined(Some("bot"))
            .unwrap()
            .len(),
        2
    );

    let r = connectors::replay(&app, "admin", "bot").unwrap();
    assert_eq!(
        (r.released, r.stored, r.duplicates, r.kept.len()),
        (1, 1, 0, 1),
        "{r:?}"
    );
    assert!(r.kept[0].reason.contains("hologram"), "{r:?}");
    let held = app.access().unwrap().quarantined(Some("bot")).unwrap();
    assert_eq!(held.len(), 1);
    assert!(held[0].reason.contains("hologram"));
    let found = app
        .archive()
        .unwrap()
        .search("REPLAY-OLD-1", &Default::default(), 10, 0)
        .unwrap();
    assert_eq!(found.total, 1, "stored once");
    // Again: nothing left to release; the kept one stays.
    let r = connectors::replay(&app, "admin", "bot").unwrap();
    assert_eq!((r.released, r.kept.len()), (0, 1));
    let acc = app.access().unwrap();
    let replays = acc
        .audit_list(&AuditFilter {
            action: Some("source.replay".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(replays.len(), 1, "the release is audited");
    let report = acc.audit_verify().unwrap();
    assert!(report.ok, "{:?}", report.errors);
}

#[test]
fn a_skipped_update_id_raises_a_gap_alert() {
    let (_d, app) = app();
    // Over a thousand updates wait on the missing 102-104 (a grace of a minute would
    // otherwise hold the alert back): a gap.
    for id in [100, 101, 101].into_iter().chain(105..1107) {
        assert_eq!(post(&app, &update(id, "GAP")).status, 200);
    }
    let figures = app.capture.figures("bot").unwrap();
    assert_eq!(
        (figures.stored, figures.duplicate, figures.gaps),
        (1004, 1, 1)
    );
    let m = app.monitor.monitor().unwrap();
    let gaps: Vec<_> = m
        .alerts()
        .into_iter()
        .filter(|a| a.kind == chatvault_analytics::monitor::AlertKind::SourceGap)
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].source.as_deref(), Some("telegram:bot"));
    assert_eq!(
        gaps[0].detail.as_deref(),
        Some("3 missing after 101 (the next was 105)")
    );
}
