//! The ingest use case, as the API route and the connectors call it: each item answered
//! in order, malformed items named and rejected without touching their neighbours, a
//! token bound to a platform held to it, the batch bound, and one audit entry per batch.

use chatvault_access::audit::AuditFilter;
use chatvault_app::ingest::{ingest, parse_canonical, ItemOutcome, Sender};
use chatvault_app::{App, Config};
use chatvault_archive::{Archive, KeyProvider};
use serde_json::{json, Value};

fn app(cfg: Config) -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = KeyProvider::default();
    Archive::init(&data, &keys).unwrap();
    let mut a = Archive::open(&data, &keys).unwrap();
    let acc = chatvault_app::service::open_access(&mut a, cfg.security.clone()).unwrap();
    (dir, App::new(a, acc, cfg))
}

fn msg(conv: &str, sender: &str, id: &str, text: &str) -> Value {
    json!({"platform":"wecom","conversation_id":conv,"sender_id":sender,"source_id":id,
           "sent_at":"2024-03-01T09:00:00+08:00","text":text})
}

#[test]
fn each_item_is_answered_in_order() {
    let (_d, app) = app(Config::default());
    let cases: Vec<(&str, Value, fn(&ItemOutcome) -> bool)> = vec![
        ("good", msg("c1", "u1", "1", "我要退款"), |o| {
            matches!(o, ItemOutcome::Stored { .. })
        }),
        (
            "missing_sender",
            json!({"platform":"wecom","conversation_id":"c1","sent_at":"2024-03-01T09:00:00Z","text":"x"}),
            |o| matches!(o, ItemOutcome::Rejected { reason } if reason.starts_with("messages[1]:") && reason.contains("sender_id")),
        ),
        (
            "bad_time",
            json!({"platform":"wecom","conversation_id":"c1","sender_id":"u","sent_at":"yesterday","text":"x"}),
            |o| matches!(o, ItemOutcome::Rejected { reason } if reason.starts_with("messages[2]:")),
        ),
        (
            "not_an_object",
            json!(42),
            |o| matches!(o, ItemOutcome::Rejected { reason } if reason.starts_with("messages[3]:")),
        ),
        (
            "path_attachment",
            json!({"platform":"wecom","conversation_id":"c1","sender_id":"u","sent_at":"2024-03-01T09:00:00Z","text":"x","attachments":[{"name":"a","path":"/etc/passwd"}]}),
            |o| matches!(o, ItemOutcome::Rejected { reason } if reason.contains("inline")),
        ),
        (
            "duplicate_in_batch",
            msg("c1", "u1", "1", "我要退款"),
            |o| matches!(o, ItemOutcome::Duplicate),
        ),
        ("second_good", msg("c1", "agent", "2", "您好"), |o| {
            matches!(o, ItemOutcome::Stored { .. })
        }),
    ];
    let items = parse_canonical(cases.iter().map(|c| c.1.clone()).collect(), "api");
    let r = ingest(&app, Sender::new("bot", Some("10.0.0.1"), None), items).unwrap();
    assert_eq!(r.results.len(), cases.len());
    for ((name, _, ok), got) in cases.iter().zip(&r.results) {
        assert!(ok(got), "{name}: {got:?}");
    }
    assert_eq!((r.stored, r.duplicates, r.rejected), (2, 1, 4));
    // The receipt's JSON is the API's: {"results":[{"status":"stored","id":…},…]}.
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["results"][0]["status"], "stored");
    assert!(v["results"][0]["id"].is_string());
    assert_eq!(v["results"][5], json!({"status": "duplicate"}));
    assert_eq!(v["results"][1]["status"], "rejected");
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");

    // One audit entry for the batch, with its counts.
    let acc = app.access().unwrap();
    let f = AuditFilter {
        action: Some("ingest".into()),
        ..Default::default()
    };
    let entries = acc.audit_list(&f).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, "bot");
    assert_eq!(
        entries[0].details,
        json!({"stored": 2, "duplicates": 1, "rejected": 4, "source": null})
    );
}

#[test]
fn a_source_bound_sender_stores_only_its_platform() {
    let (_d, app) = app(Config::default());
    let mut other = msg("c9", "u", "9", "hi");
    other["platform"] = json!("slack");
    let items = parse_canonical(vec![msg("c1", "u", "1", "a"), other], "api");
    let r = ingest(&app, Sender::new("bot", None, Some("wecom")), items).unwrap();
    assert!(matches!(r.results[0], ItemOutcome::Stored { .. }));
    assert!(
        matches!(&r.results[1], ItemOutcome::Rejected { reason } if reason.contains("only ingest platform `wecom`")),
        "{:?}",
        r.results[1]
    );
}

#[test]
fn a_batch_past_the_limit_stores_nothing() {
    let mut cfg = Config::default();
    cfg.limits.max_ingest_messages = 2;
    let (_d, app) = app(cfg);
    let items = parse_canonical(
        (0..3)
            .map(|i| msg("c1", "u", &i.to_string(), "x"))
            .collect(),
        "api",
    );
    let e = ingest(&app, Sender::new("bot", None, None), items).unwrap_err();
    assert_eq!(e.code, "ingest.too_large");
    assert_eq!(app.archive_stats().unwrap().messages, 0);
}

#[test]
fn the_api_form_is_bounded_before_anything_is_parsed() {
    let mut cfg = Config::default();
    cfg.limits.max_ingest_messages = 2;
    let (_d, app) = app(cfg);
    // Three records that would each be rejected: the batch is refused whole, unread.
    let e = chatvault_app::ingest::ingest_canonical(
        &app,
        Sender::new("bot", None, None),
        vec![json!(1), json!(2), json!(3)],
    )
    .unwrap_err();
    assert_eq!(e.code, "ingest.too_large");
    let r = chatvault_app::ingest::ingest_canonical(
        &app,
        Sender::new("bot", None, None),
        vec![msg("c1", "u", "1", "x"), json!("bad")],
    )
    .unwrap();
    assert_eq!((r.stored, r.rejected), (1, 1));
}
