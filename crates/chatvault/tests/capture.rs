//! Live capture on the real binary and the real server: a Standard Webhooks source is
//! added from secret files, a signed delivery becomes searchable, a replay stores nothing
//! twice, forged, stale and malformed requests are refused with nothing stored (and the
//! refusals audited, at most once a minute), and a removed source answers 404.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ok, request, run, start};
use serde_json::{json, Value};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The Standard Webhooks headers for a body, signed with `secret` at `ts`.
fn signed(secret: &str, id: &str, ts: i64, body: &Value) -> Vec<String> {
    let sig =
        chatvault_connect::standard_webhooks::sign(secret, id, ts, body.to_string().as_bytes())
            .unwrap();
    vec![
        format!("webhook-id: {id}"),
        format!("webhook-timestamp: {ts}"),
        format!("webhook-signature: {sig}"),
    ]
}

fn message(text: &str) -> Value {
    json!({"platform": "wecom", "conversation_id": "crm-1", "sender_id": "13800000000",
           "sender_name": "客户", "sent_at": "2026-12-01T10:00:00+08:00", "text": text})
}

#[test]
fn a_standard_webhooks_source_captures_what_is_signed_and_refuses_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    let secret_file = dir.path().join("whsec");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let sf = secret_file.to_str().unwrap();
    ok(
        &data,
        &[
            "source",
            "add",
            "crm",
            "--kind",
            "webhook",
            "--secret-file",
            sf,
        ],
    );
    let scrape = dir.path().join("scrape");
    std::fs::write(&scrape, "scrape-token-5150\n").unwrap();
    let cfg = dir.path().join("cfg.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nmetrics_token_file = {:?}\n",
            scrape.to_str().unwrap()
        ),
    )
    .unwrap();

    // Named cases of what `source add` refuses, each with its reason.
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "whsec_not base64!").unwrap();
    for (name, args, says) in [
        (
            "a name that is taken",
            vec![
                "source",
                "add",
                "crm",
                "--kind",
                "webhook",
                "--secret-file",
                sf,
            ],
            "exists",
        ),
        (
            "a name that is no URL segment",
            vec![
                "source",
                "add",
                "CRM/2",
                "--kind",
                "webhook",
                "--secret-file",
                sf,
            ],
            "a-z",
        ),
        (
            "a kind there is no connector for",
            vec![
                "source",
                "add",
                "bot",
                "--kind",
                "teams",
                "--token-file",
                sf,
            ],
            "kind `teams`",
        ),
        (
            "no secret",
            vec!["source", "add", "crm2", "--kind", "webhook"],
            "needs its secret",
        ),
        (
            "a secret that is not base64",
            vec![
                "source",
                "add",
                "crm3",
                "--kind",
                "webhook",
                "--secret-file",
                bad.to_str().unwrap(),
            ],
            "secret: the configured key is unusable: the secret is not base64",
        ),
        (
            "an empty secret",
            vec![
                "source",
                "add",
                "crm4",
                "--kind",
                "webhook",
                "--secret-file",
                "/dev/null",
            ],
            "use at least 24 random bytes",
        ),
    ] {
        let (code, _, err) = run(&data, &args);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
    }
    // The secret is never shown again.
    let listed = ok(&data, &["--json", "source", "list"]);
    assert!(!listed.contains("MfKQ9r8G"), "{listed}");
    let list: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(list[0]["secrets"], json!(["secret"]));
    assert!(!ok(&data, &["source", "show", "crm"]).contains("MfKQ9r8G"));

    let srv = start(&data, &["--config", cfg.to_str().unwrap()]);
    let body = json!({"messages": [message("退款单号 CAPTURE-7731 已受理")]});
    let ts = now_s();
    let r = request(
        &srv.addr,
        "POST",
        "/hooks/crm",
        &signed(SECRET, "msg_1", ts, &body),
        Some(&body),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["results"][0]["status"], "stored", "{:?}", r.body);
    // A redelivery (the platform's retry) stores nothing twice.
    let r = request(
        &srv.addr,
        "POST",
        "/hooks/crm",
        &signed(SECRET, "msg_1", ts, &body),
        Some(&body),
    );
    assert_eq!(r.body["results"][0]["status"], "duplicate", "{:?}", r.body);
    // A single record, not wrapped, is one message too.
    let one = message("第二条 CAPTURE-7732");
    let r = request(
        &srv.addr,
        "POST",
        "/hooks/crm",
        &signed(SECRET, "msg_2", now_s(), &one),
        Some(&one),
    );
    assert_eq!(r.body["results"][0]["status"], "stored", "{:?}", r.body);

    let forged_body = json!({"messages": [message("伪造 CAPTURE-6666")]});
    let stale = now_s() - 600;
    let cases: Vec<(&str, Vec<String>, Value, u16, &str)> = vec![
        (
            "another body under a good signature",
            signed(SECRET, "msg_3", now_s(), &body),
            forged_body.clone(),
            401,
            "hook.refused",
        ),
        (
            "another secret",
            signed(
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_3",
                now_s(),
                &forged_body,
            ),
            forged_body.clone(),
            401,
            "hook.refused",
        ),
        (
            "ten minutes old",
            signed(SECRET, "msg_3", stale, &forged_body),
            forged_body.clone(),
            401,
            "hook.refused",
        ),
        (
            "no signature",
            vec![
                "webhook-id: msg_3".into(),
                format!("webhook-timestamp: {}", now_s()),
            ],
            forged_body.clone(),
            401,
            "hook.refused",
        ),
    ];
    for (name, headers, b, status, code) in cases {
        let r = request(&srv.addr, "POST", "/hooks/crm", &headers, Some(&b));
        assert_eq!(
            (
                r.status,
                r.body["error"]["code"].as_str().unwrap_or_default()
            ),
            (status, code),
            "{name}: {:?}",
            r.body
        );
    }
    let r = request(
        &srv.addr,
        "POST",
        "/hooks/nobody",
        &signed(SECRET, "m", now_s(), &body),
        Some(&body),
    );
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str().unwrap()),
        (404, "hook.unknown")
    );

    // Signed, but nothing of it maps: answered 200 (the sender stops retrying), each
    // record `quarantined` with why, and the delivery kept whole.
    let post_signed = |id: &str, b: &Value| {
        request(
            &srv.addr,
            "POST",
            "/hooks/crm",
            &signed(SECRET, id, now_s(), b),
            Some(b),
        )
    };
    let half = json!({"messages": [message("半批 CAPTURE-7733"), {"platform": "wecom", "text": "no sender"}]});
    for (name, id, b, want) in [
        (
            "a body that holds no records",
            "msg_4",
            json!("x"),
            json!(["quarantined"]),
        ),
        (
            "one record of two maps",
            "msg_5",
            half.clone(),
            json!(["stored", "quarantined"]),
        ),
        (
            "the same, redelivered",
            "msg_5",
            half,
            json!(["duplicate", "quarantined"]),
        ),
    ] {
        let r = post_signed(id, &b);
        assert_eq!(r.status, 200, "{name}: {:?}", r.body);
        let statuses: Vec<&str> = r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["status"].as_str().unwrap())
            .collect();
        assert_eq!(json!(statuses), want, "{name}: {:?}", r.body);
    }
    // The figures: for the scrape token, or an admin; for nobody else.
    let metrics = |auth: Option<&str>| {
        let h: Vec<String> = auth
            .map(|a| vec![format!("Authorization: Bearer {a}")])
            .unwrap_or_default();
        request(&srv.addr, "GET", "/metrics", &h, None)
    };
    assert_eq!(metrics(None).status, 401, "no token");
    assert_eq!(
        metrics(Some("scrape-token-5151")).status,
        401,
        "a wrong token"
    );
    let m = metrics(Some("scrape-token-5150"));
    assert_eq!(m.status, 200, "{}", m.text);
    for line in [
        "chatvault_capture_stored_total{source=\"crm\",kind=\"webhook\"} 3",
        "chatvault_capture_duplicates_total{source=\"crm\",kind=\"webhook\"} 2",
        "chatvault_capture_quarantined_total{source=\"crm\",kind=\"webhook\"} 3",
        "chatvault_capture_quarantine_events{source=\"crm\",kind=\"webhook\"} 2",
        "chatvault_capture_latency_seconds_count{source=\"crm\",kind=\"webhook\"} 3",
    ] {
        assert!(m.text.contains(line), "{line} in:\n{}", m.text);
    }
    assert!(
        m.text
            .contains("chatvault_capture_refused_total{source=\"crm\",kind=\"webhook\"} "),
        "{}",
        m.text
    );

    // Removed while the server runs: its endpoint goes at once.
    ok(&data, &["source", "remove", "crm"]);
    let r = request(
        &srv.addr,
        "POST",
        "/hooks/crm",
        &signed(SECRET, "msg_9", now_s(), &body),
        Some(&body),
    );
    assert_eq!(r.status, 404);
    drop(srv);

    let found: Value = serde_json::from_str(&ok(&data, &["--json", "search", "CAPTURE"])).unwrap();
    assert_eq!(found["total"], 3, "what was signed, once each: {found}");
    assert!(!found.to_string().contains("CAPTURE-6666"));
    // The quarantine outlives the source's removal; added again, it is there to replay.
    ok(
        &data,
        &[
            "source",
            "add",
            "crm",
            "--kind",
            "webhook",
            "--secret-file",
            sf,
        ],
    );
    let held = assert_held(
        &data,
        "crm",
        &[
            "not a JSON object or array",
            "messages[1]: missing field `conversation_id`",
        ],
    );
    assert!(
        !held.to_string().contains("CAPTURE-7733"),
        "no content is shown: {held}"
    );
    let replayed: Value =
        serde_json::from_str(&ok(&data, &["--json", "source", "replay", "crm"])).unwrap();
    assert_eq!(
        (
            replayed["released"].as_u64(),
            replayed["kept"].as_array().map(Vec::len)
        ),
        (Some(0), Some(2)),
        "what still does not map stays: {replayed}"
    );
    let refused: Value = serde_json::from_str(&ok(
        &data,
        &["--json", "audit", "list", "--action", "source.refused"],
    ))
    .unwrap();
    assert_eq!(
        refused["entries"].as_array().unwrap().len(),
        1,
        "refusals audited at most once a minute: {refused}"
    );
    let ingested: Value = serde_json::from_str(&ok(
        &data,
        &[
            "--json",
            "audit",
            "list",
            "--actor",
            "source:crm",
            "--action",
            "ingest",
        ],
    ))
    .unwrap();
    assert_eq!(
        ingested["entries"].as_array().unwrap().len(),
        6,
        "three deliveries, the half batch twice, and its replay: {ingested}"
    );
    // The sources live in the sealed state: the audit chain still verifies.
    let (code, out, err) = run(&data, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Asserts that a source's quarantine holds one event for each of `says`, each event's
/// reason holding its text; answers the listing.
fn assert_held(data: &std::path::Path, name: &str, says: &[&str]) -> Value {
    let held: Value =
        serde_json::from_str(&ok(data, &["--json", "source", "quarantine", name])).unwrap();
    let reasons: Vec<&str> = held
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), says.len(), "{name}: {held}");
    for want in says {
        assert!(
            reasons.iter().any(|r| r.contains(want)),
            "{name}: {want} in {held}"
        );
    }
    held
}

/// A source's quarantine after an event of a type no connector of this build knows was
/// delivered (and retried): held once, with why, its content not shown; a replay keeps
/// it, since this build still does not know the type.
fn held_once_and_kept(data: &std::path::Path, name: &str, says: &str, content: &str) {
    let held = assert_held(data, name, &[says]);
    assert!(
        !held.to_string().contains(content),
        "{name}: no content shown: {held}"
    );
    let r: Value = serde_json::from_str(&ok(data, &["--json", "source", "replay", name])).unwrap();
    assert_eq!(
        (r["released"].as_u64(), r["kept"].as_array().map(Vec::len)),
        (Some(0), Some(1)),
        "{name}: {r}"
    );
    let found: Value = serde_json::from_str(&ok(data, &["--json", "search", content])).unwrap();
    assert_eq!(
        found["total"], 0,
        "{name}: a quarantined event is not a message"
    );
}

fn slack_signed(secret: &str, ts: i64, body: &Value) -> Vec<String> {
    vec![
        format!("X-Slack-Request-Timestamp: {ts}"),
        format!(
            "X-Slack-Signature: {}",
            chatvault_connect::slack::sign(secret, &ts.to_string(), body.to_string().as_bytes())
        ),
    ]
}

#[test]
fn a_slack_source_answers_the_handshake_and_captures_messages_edits_and_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let sf = dir.path().join("slack-secret");
    std::fs::write(&sf, secret).unwrap();
    ok(
        &data,
        &[
            "source",
            "add",
            "ws",
            "--kind",
            "slack",
            "--signing-secret-file",
            sf.to_str().unwrap(),
        ],
    );
    let srv = start(&data, &[]);
    let post = |body: &Value, headers: Vec<String>| {
        request(&srv.addr, "POST", "/hooks/ws", &headers, Some(body))
    };

    // The URL check Slack makes when the endpoint is configured.
    let hello = json!({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"});
    let r = post(&hello, slack_signed(secret, now_s(), &hello));
    assert_eq!(
        (r.status, r.body["challenge"].as_str()),
        (
            200,
            Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
        )
    );
    // Unsigned, even the handshake is refused.
    assert_eq!(post(&hello, vec![]).status, 401);

    let event = |id: &str, ev: Value| json!({"type": "event_callback", "event_id": id, "team_id": "T1", "event_time": now_s(), "event": ev});
    let msg = event(
        "Ev1",
        json!({"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1", "text": "订单 SLACK-4410 请尽快处理", "ts": "1764900000.000100"}),
    );
    assert_eq!(post(&msg, slack_signed(secret, now_s(), &msg)).status, 200);
    // Slack's retry (X-Slack-Retry-Num) of the same event stores nothing twice.
    let mut retry = slack_signed(secret, now_s(), &msg);
    retry.push("X-Slack-Retry-Num: 1".into());
    assert_eq!(post(&msg, retry).status, 200);
    let edit = event(
        "Ev2",
        json!({"type": "message", "subtype": "message_changed", "channel": "C1", "event_ts": "1764900060.000000",
        "message": {"ts": "1764900000.000100", "user": "U1", "text": "订单 SLACK-4410 已处理"}}),
    );
    assert_eq!(
        post(&edit, slack_signed(secret, now_s(), &edit)).status,
        200
    );
    let gone = event(
        "Ev3",
        json!({"type": "message", "subtype": "message_deleted", "channel": "C1", "event_ts": "1764900120.000000", "deleted_ts": "1764900000.000100"}),
    );
    assert_eq!(
        post(&gone, slack_signed(secret, now_s(), &gone)).status,
        200
    );
    let joined = event(
        "Ev4",
        json!({"type": "reaction_added", "user": "U2", "event_ts": "1764900130.000000"}),
    );
    assert_eq!(
        post(&joined, slack_signed(secret, now_s(), &joined)).status,
        200
    );
    // A type Slack adds later: 200 (no retries), quarantined, held once.
    let novel = event(
        "Ev6",
        json!({"type": "hologram_projected", "text": "SLACK-HOLO-1", "event_ts": "1764900140.000000"}),
    );
    for _ in 0..2 {
        assert_eq!(
            post(&novel, slack_signed(secret, now_s(), &novel)).status,
            200
        );
    }
    // Forged: another secret, or an old timestamp.
    let forged = event(
        "Ev5",
        json!({"type": "message", "channel": "C1", "user": "U9", "text": "SLACK-9999", "ts": "1764900200.000000"}),
    );
    assert_eq!(
        post(&forged, slack_signed("another secret", now_s(), &forged)).status,
        401
    );
    assert_eq!(
        post(&forged, slack_signed(secret, now_s() - 400, &forged)).status,
        401
    );
    drop(srv);

    held_once_and_kept(
        &data,
        "ws",
        "unknown type `hologram_projected`",
        "SLACK-HOLO-1",
    );
    let conv: Value = serde_json::from_str(&ok(&data, &["--json", "show", "slack:C1"])).unwrap();
    let msgs = conv["messages"].as_array().unwrap();
    let kinds: Vec<&str> = msgs.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["text", "edit", "recall"], "{conv}");
    assert_eq!(
        msgs[1]["target"], "1764900000.000100",
        "the edit points at the original"
    );
    let found: Value = serde_json::from_str(&ok(&data, &["--json", "search", "SLACK"])).unwrap();
    assert!(!found.to_string().contains("SLACK-9999"), "{found}");
    let events: Value =
        serde_json::from_str(&ok(&data, &["--json", "search", "reaction_added"])).unwrap();
    assert_eq!(
        events["total"], 1,
        "an event of another type is kept whole: {events}"
    );
}

#[test]
fn a_telegram_source_captures_updates_and_refuses_a_wrong_secret_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    let token = "tg_secret-Token_42";
    let tf = dir.path().join("tg");
    std::fs::write(&tf, token).unwrap();
    let (code, _, err) = run(
        &data,
        &[
            "source",
            "add",
            "bad",
            "--kind",
            "telegram",
            "--secret-token-file",
            "/dev/null",
        ],
    );
    assert_eq!(code, 2, "an empty secret token: {err}");
    ok(
        &data,
        &[
            "source",
            "add",
            "bot",
            "--kind",
            "telegram",
            "--secret-token-file",
            tf.to_str().unwrap(),
        ],
    );
    let srv = start(&data, &[]);
    let post = |body: &Value, secret: Option<&str>| {
        let headers: Vec<String> = secret
            .map(|s| vec![format!("X-Telegram-Bot-Api-Secret-Token: {s}")])
            .unwrap_or_default();
        request(&srv.addr, "POST", "/hooks/bot", &headers, Some(body))
    };
    let chat = json!({"id": -1001, "type": "supergroup", "title": "客服群"});
    let from = json!({"id": 42, "is_bot": false, "first_name": "王", "last_name": "女士"});
    let msg = json!({"update_id": 100, "message": {"message_id": 7, "date": now_s(), "chat": chat, "from": from, "text": "发票 TG-5150 没收到"}});
    assert_eq!(post(&msg, Some(token)).status, 200);
    assert_eq!(
        post(&msg, Some(token)).status,
        200,
        "a redelivery is answered too"
    );
    let novel = json!({"update_id": 103, "hologram": {"id": 1, "text": "TG-HOLO-1"}});
    for _ in 0..2 {
        assert_eq!(
            post(&novel, Some(token)).status,
            200,
            "an unknown update, and its redelivery"
        );
    }
    let edit = json!({"update_id": 101, "edited_message": {"message_id": 7, "date": now_s(), "edit_date": now_s() + 5, "chat": chat, "from": from, "text": "发票 TG-5150 已收到"}});
    assert_eq!(post(&edit, Some(token)).status, 200);
    for (name, secret) in [
        ("no header", None),
        ("a wrong token", Some("tg_secret-Token_43")),
        ("a prefix of it", Some("tg_secret")),
    ] {
        let forged = json!({"update_id": 102, "message": {"message_id": 8, "date": now_s(), "chat": chat, "from": from, "text": "TG-6666"}});
        let r = post(&forged, secret);
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (401, Some("hook.refused")),
            "{name}"
        );
    }
    drop(srv);
    held_once_and_kept(&data, "bot", "unknown type `hologram`", "TG-HOLO-1");
    let conv: Value =
        serde_json::from_str(&ok(&data, &["--json", "show", "telegram:-1001"])).unwrap();
    let kinds: Vec<&str> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["text", "edit"], "once each: {conv}");
    assert_eq!(conv["title"], "客服群");
    assert_eq!(conv["messages"][0]["sender_name"], "王 女士");
    let found: Value = serde_json::from_str(&ok(&data, &["--json", "search", "TG-6666"])).unwrap();
    assert_eq!(found["total"], 0, "nothing forged was stored");
}

#[test]
fn a_feishu_source_answers_the_challenge_and_captures_signed_encrypted_events() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    let (key, token) = ("feishu-encrypt-key", "feishu-verification-token");
    let kf = dir.path().join("k");
    let tf = dir.path().join("t");
    std::fs::write(&kf, key).unwrap();
    std::fs::write(&tf, token).unwrap();
    ok(
        &data,
        &[
            "source",
            "add",
            "lark",
            "--kind",
            "feishu",
            "--encrypt-key-file",
            kf.to_str().unwrap(),
            "--verification-token-file",
            tf.to_str().unwrap(),
        ],
    );
    let srv = start(&data, &[]);
    let wrap = |plain: &Value| json!({"encrypt": chatvault_connect::feishu::encrypt(key, b"0123456789abcdef", plain.to_string().as_bytes())});
    let signed = |body: &Value, ts: i64| {
        let ts = ts.to_string();
        vec![
            format!("X-Lark-Request-Timestamp: {ts}"),
            "X-Lark-Request-Nonce: n0nce".to_owned(),
            format!(
                "X-Lark-Signature: {}",
                chatvault_connect::feishu::sign(key, &ts, "n0nce", body.to_string().as_bytes())
            ),
        ]
    };
    let post = |body: &Value, headers: Vec<String>| {
        request(&srv.addr, "POST", "/hooks/lark", &headers, Some(body))
    };

    // The challenge, encrypted: answered (unsigned, it needs the Verification Token).
    let challenge =
        wrap(&json!({"challenge": "c-8842", "token": token, "type": "url_verification"}));
    let r = post(&challenge, vec![]);
    assert_eq!(
        (r.status, r.body["challenge"].as_str()),
        (200, Some("c-8842"))
    );
    let wrong =
        wrap(&json!({"challenge": "c-8842", "token": "another", "type": "url_verification"}));
    assert_eq!(
        post(&wrong, vec![]).status,
        401,
        "a challenge with another token"
    );

    let event = |id: &str, mid: &str, text: &str| {
        wrap(&json!({"schema": "2.0",
        "header": {"event_id": id, "event_type": "im.message.receive_v1", "create_time": "1764900000000", "token": token},
        "event": {"sender": {"sender_id": {"open_id": "ou_7"}, "sender_type": "user"},
            "message": {"message_id": mid, "parent_id": "", "create_time": "1764900000000", "chat_id": "oc_9", "chat_type": "group",
                "message_type": "text", "content": json!({"text": text}).to_string()}}}))
    };
    let e1 = event("ev1", "om_1", "合同 LARK-3108 请确认");
    assert_eq!(post(&e1, signed(&e1, now_s())).status, 200);
    assert_eq!(
        post(&e1, signed(&e1, now_s())).status,
        200,
        "Feishu's retry"
    );
    let novel = wrap(&json!({"schema": "2.0",
        "header": {"event_id": "ev9", "event_type": "im.hologram.created_v9", "create_time": "1764900000000", "token": token},
        "event": {"text": "LARK-HOLO-1"}}));
    for _ in 0..2 {
        assert_eq!(
            post(&novel, signed(&novel, now_s())).status,
            200,
            "an unknown event, and its retry"
        );
    }
    let forged = event("ev2", "om_2", "LARK-6666");
    for (name, headers) in [
        ("unsigned", vec![]),
        ("stale", signed(&forged, now_s() - 3600)),
        ("signed over another body", signed(&e1, now_s())),
    ] {
        assert_eq!(post(&forged, headers).status, 401, "{name}");
    }
    drop(srv);
    held_once_and_kept(
        &data,
        "lark",
        "unknown type `im.hologram.created_v9`",
        "LARK-HOLO-1",
    );
    let conv: Value = serde_json::from_str(&ok(&data, &["--json", "show", "feishu:oc_9"])).unwrap();
    assert_eq!(conv["total"], 1, "once: {conv}");
    assert_eq!(conv["messages"][0]["text"], "合同 LARK-3108 请确认");
    let found: Value =
        serde_json::from_str(&ok(&data, &["--json", "search", "LARK-6666"])).unwrap();
    assert_eq!(found["total"], 0);
}

/// A query value as a platform sends it (base64's `+`, `/` and `=` escaped).
fn esc(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[test]
fn a_wecom_source_answers_the_url_check_and_captures_app_messages() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    // The vendor sample's settings (../shared/vectors/connectors/wecom.json, sbzhu).
    let (token, aes_key, corp) = (
        "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
        "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
        "ww1436e0e65a779aee",
    );
    let (tf, kf) = (dir.path().join("token"), dir.path().join("aes"));
    std::fs::write(&tf, token).unwrap();
    std::fs::write(&kf, aes_key).unwrap();
    // A key of the wrong length is named at once, not at the first callback.
    let short = dir.path().join("short");
    std::fs::write(&short, "tooShort").unwrap();
    let (code, _, err) = run(
        &data,
        &[
            "source",
            "add",
            "k2",
            "--kind",
            "wecom",
            "--token-file",
            tf.to_str().unwrap(),
            "--aes-key-file",
            short.to_str().unwrap(),
            "--receive-id",
            corp,
        ],
    );
    assert!(code == 2 && err.contains("not 43"), "{err}");
    ok(
        &data,
        &[
            "source",
            "add",
            "kefu",
            "--kind",
            "wecom",
            "--token-file",
            tf.to_str().unwrap(),
            "--aes-key-file",
            kf.to_str().unwrap(),
            "--receive-id",
            corp,
        ],
    );
    let c = chatvault_connect::wxbiz::Crypto::new(token, aes_key, corp).unwrap();
    let srv = start(&data, &[]);
    let query = |enc: &str, ts: i64| {
        let ts = ts.to_string();
        format!(
            "msg_signature={}&timestamp={ts}&nonce=1372623149",
            c.signature(&ts, "1372623149", enc)
        )
    };

    // The URL check: the decrypted echostr, bare.
    let echo = c
        .encrypt(b"0123456789abcdef", b"1288432023552776189")
        .unwrap();
    let r = request(
        &srv.addr,
        "GET",
        &format!(
            "/hooks/kefu?{}&echostr={}",
            query(&echo, now_s()),
            esc(&echo)
        ),
        &[],
        None,
    );
    assert_eq!(
        (r.status, r.body.clone()),
        (200, json!(1288432023552776189_i64)),
        "{}",
        r.headers
    );
    let r = request(
        &srv.addr,
        "GET",
        &format!(
            "/hooks/kefu?{}&echostr={}",
            query(&echo, now_s()).replace("msg_signature=", "msg_signature=0"),
            esc(&echo)
        ),
        &[],
        None,
    );
    assert_eq!(r.status, 401, "a wrong signature");

    let xml = "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName><FromUserName><![CDATA[ChenJiaShun]]></FromUserName><CreateTime>1764900000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[报销单 WECOM-2024 已提交]]></Content><MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>";
    let enc = c.encrypt(b"fedcba9876543210", xml.as_bytes()).unwrap();
    let body = json!({"tousername": corp, "encrypt": enc, "agentid": "1000002"});
    for _ in 0..2 {
        let r = request(
            &srv.addr,
            "POST",
            &format!("/hooks/kefu?{}", query(&enc, now_s())),
            &[],
            Some(&body),
        );
        assert_eq!(r.status, 200, "a delivery and WeCom's retry");
    }
    let r = request(
        &srv.addr,
        "POST",
        &format!("/hooks/kefu?{}", query(&enc, now_s() - 600)),
        &[],
        Some(&body),
    );
    assert_eq!(r.status, 401, "ten minutes old, correctly signed");
    let novel = xml
        .replace(
            "<MsgType><![CDATA[text]]></MsgType>",
            "<MsgType><![CDATA[hologram]]></MsgType>",
        )
        .replace("报销单 WECOM-2024 已提交", "WECOM-HOLO-1")
        .replace("1456453720", "1456453799");
    let enc_novel = c.encrypt(b"fedcba9876543210", novel.as_bytes()).unwrap();
    for _ in 0..2 {
        let r = request(
            &srv.addr,
            "POST",
            &format!("/hooks/kefu?{}", query(&enc_novel, now_s())),
            &[],
            Some(&json!({"encrypt": enc_novel})),
        );
        assert_eq!(r.status, 200, "an unknown type, and WeCom's retry");
    }
    let other = chatvault_connect::wxbiz::Crypto::new(token, aes_key, "wwSomeoneElse").unwrap();
    let theirs = other
        .encrypt(
            b"fedcba9876543210",
            xml.replace("WECOM-2024", "WECOM-6666").as_bytes(),
        )
        .unwrap();
    let r = request(
        &srv.addr,
        "POST",
        &format!("/hooks/kefu?{}", query(&theirs, now_s())),
        &[],
        Some(&json!({"encrypt": theirs})),
    );
    assert_eq!(r.status, 401, "signed and encrypted, but for another corp");
    drop(srv);
    held_once_and_kept(&data, "kefu", "unknown type `hologram`", "WECOM-HOLO-1");
    let conv: Value =
        serde_json::from_str(&ok(&data, &["--json", "show", "wecom:app:ChenJiaShun"])).unwrap();
    assert_eq!(conv["total"], 1, "once: {conv}");
    assert_eq!(conv["messages"][0]["text"], "报销单 WECOM-2024 已提交");
    let found: Value =
        serde_json::from_str(&ok(&data, &["--json", "search", "WECOM-6666"])).unwrap();
    assert_eq!(found["total"], 0);
}

#[test]
fn dingtalk_sources_answer_success_encrypted_and_capture_events_and_robot_messages() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    // The vendor sample's settings (../shared/vectors/connectors/dingtalk.json, the
    // Python SDK's check_url case).
    let (token, aes_key, owner) = (
        "mryue",
        "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7",
        "ding6ccabc44d2c8d38b",
    );
    let (tf, kf, rf) = (
        dir.path().join("token"),
        dir.path().join("aes"),
        dir.path().join("robot"),
    );
    std::fs::write(&tf, token).unwrap();
    std::fs::write(&kf, aes_key).unwrap();
    let robot_secret = "gQkAsdf-robot-AppSecret_0x5150";
    std::fs::write(&rf, robot_secret).unwrap();
    let (code, _, err) = run(
        &data,
        &[
            "source",
            "add",
            "d2",
            "--kind",
            "dingtalk",
            "--token-file",
            tf.to_str().unwrap(),
            "--aes-key-file",
            kf.to_str().unwrap(),
        ],
    );
    assert!(
        code == 2 && err.contains("owner_key"),
        "no owner key: {err}"
    );
    ok(
        &data,
        &[
            "source",
            "add",
            "ding",
            "--kind",
            "dingtalk",
            "--token-file",
            tf.to_str().unwrap(),
            "--aes-key-file",
            kf.to_str().unwrap(),
            "--owner-key",
            owner,
        ],
    );
    ok(
        &data,
        &[
            "source",
            "add",
            "robo",
            "--kind",
            "dingtalk-robot",
            "--secret-file",
            rf.to_str().unwrap(),
        ],
    );
    let c = chatvault_connect::wxbiz::Crypto::new(token, aes_key, owner).unwrap();
    let srv = start(&data, &[]);
    let push = |plain: &Value, ts_ms: i64, sign_with: &chatvault_connect::wxbiz::Crypto| {
        let enc = sign_with
            .encrypt(b"l7Y3EcX2CU5w8av3", plain.to_string().as_bytes())
            .unwrap();
        let ts = ts_ms.to_string();
        let path = format!(
            "/hooks/ding?msg_signature={}&timeStamp={ts}&nonce=WL4PK6yA",
            sign_with.signature(&ts, "WL4PK6yA", &enc)
        );
        request(
            &srv.addr,
            "POST",
            &path,
            &[],
            Some(&json!({"encrypt": enc})),
        )
    };
    // DingTalk's answer to every push: `success`, encrypted and signed under the keys.
    let is_success = |r: &common::Reply| {
        let b = &r.body;
        let opened = c
            .open(
                b["msg_signature"].as_str().unwrap_or_default(),
                b["timeStamp"].as_str().unwrap_or_default(),
                b["nonce"].as_str().unwrap_or_default(),
                b["encrypt"].as_str().unwrap_or_default(),
            )
            .unwrap();
        r.status == 200 && opened.message == b"success"
    };
    let now_ms = || chrono::Utc::now().timestamp_millis();
    let r = push(&json!({"EventType": "check_url"}), now_ms(), &c);
    assert!(is_success(&r), "the URL check: {:?}", r.body);
    let title = json!({"EventType": "chat_update_title", "ChatId": "chat9f", "Operator": "manager01", "Title": "DING-3108 售后群", "TimeStamp": "1764900000000"});
    for _ in 0..2 {
        let r = push(&title, now_ms(), &c);
        assert!(
            is_success(&r),
            "an event, and DingTalk's retry: {:?}",
            r.body
        );
    }
    let novel = json!({"EventType": "hologram_created", "Text": "DING-HOLO-1"});
    for _ in 0..2 {
        assert!(
            is_success(&push(&novel, now_ms(), &c)),
            "an unknown event is answered too"
        );
    }
    let other = chatvault_connect::wxbiz::Crypto::new(token, aes_key, "dingSomeoneElse").unwrap();
    let forged =
        json!({"EventType": "chat_update_title", "ChatId": "chat9f", "Title": "DING-6666"});
    for (name, ts, with) in [
        ("ten minutes old", now_ms() - 600_000, &c),
        ("for another app", now_ms(), &other),
    ] {
        assert_eq!(push(&forged, ts, with).status, 401, "{name}");
    }
    let r = request(
        &srv.addr,
        "POST",
        "/hooks/ding?timeStamp=1&nonce=x",
        &[],
        Some(&json!({"encrypt": "x"})),
    );
    assert_eq!(r.status, 401, "no signature");

    // The robot: a message that @s it in a group.
    let robot = |body: &Value, ts_ms: i64, secret: &str| {
        let ts = ts_ms.to_string();
        let headers = vec![
            format!("timestamp: {ts}"),
            format!(
                "sign: {}",
                chatvault_connect::dingtalk_robot::sign(secret, &ts)
            ),
        ];
        request(&srv.addr, "POST", "/hooks/robo", &headers, Some(body))
    };
    let said = json!({"msgtype": "text", "text": {"content": " 退款 DING-ROBOT-42 到哪了"}, "msgId": "msgXyZ1", "createAt": now_ms(),
        "conversationType": "2", "conversationId": "cidGroup1", "conversationTitle": "售后群", "senderId": "$:LWCP_v1:$x",
        "senderNick": "张三", "senderStaffId": "staff7", "chatbotUserId": "$:bot", "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=SESSIONSECRET"});
    for _ in 0..2 {
        assert_eq!(
            robot(&said, now_ms(), robot_secret).status,
            200,
            "a message, and its redelivery"
        );
    }
    let mut novel_said = said.clone();
    novel_said["msgtype"] = json!("hologram");
    novel_said["msgId"] = json!("msgXyZ2");
    novel_said["text"]["content"] = json!("DING-HOLO-2");
    assert_eq!(robot(&novel_said, now_ms(), robot_secret).status, 200);
    let mut forged_said = said.clone();
    forged_said["msgId"] = json!("msgXyZ3");
    forged_said["text"]["content"] = json!("DING-6667");
    for (name, ts, secret) in [
        ("another secret", now_ms(), "another-secret"),
        ("two hours old", now_ms() - 7_200_000, robot_secret),
    ] {
        assert_eq!(robot(&forged_said, ts, secret).status, 401, "{name}");
    }
    drop(srv);

    held_once_and_kept(
        &data,
        "ding",
        "unknown type `hologram_created`",
        "DING-HOLO-1",
    );
    held_once_and_kept(&data, "robo", "unknown type `hologram`", "DING-HOLO-2");
    let conv: Value =
        serde_json::from_str(&ok(&data, &["--json", "show", "dingtalk:chat:chat9f"])).unwrap();
    assert_eq!(conv["total"], 1, "the event once: {conv}");
    assert_eq!(conv["messages"][0]["kind"], "system");
    let conv: Value =
        serde_json::from_str(&ok(&data, &["--json", "show", "dingtalk:cidGroup1"])).unwrap();
    assert_eq!(conv["total"], 1, "the robot's message once: {conv}");
    assert_eq!(conv["messages"][0]["text"], "退款 DING-ROBOT-42 到哪了");
    assert_eq!(conv["messages"][0]["sender_name"], "张三");
    let raw = ok(&data, &["--json", "search", "DING-ROBOT-42"]);
    assert!(
        !raw.contains("SESSIONSECRET"),
        "the session webhook is not kept"
    );
    for forged in ["DING-6666", "DING-6667"] {
        let found: Value = serde_json::from_str(&ok(&data, &["--json", "search", forged])).unwrap();
        assert_eq!(found["total"], 0, "{forged}");
    }
}

/// A Bot API server of the test's own (Telegram's `getUpdates`, as documented): it
/// answers the updates from the offset asked, and records each offset.
struct FakeBotApi {
    addr: String,
    updates: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    offsets: std::sync::Arc<std::sync::Mutex<Vec<i64>>>,
}

impl FakeBotApi {
    fn start(token: &'static str) -> FakeBotApi {
        let updates = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
        let offsets = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
        let (u, o) = (updates.clone(), offsets.clone());
        let addr = json_server(move |path, _| {
            if !path.starts_with(&format!("/bot{token}/getUpdates")) {
                return json!({"ok": false, "error_code": 401, "description": "Unauthorized"});
            }
            let offset: i64 = path
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("offset="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            o.lock().unwrap().push(offset);
            let due: Vec<Value> = u
                .lock()
                .unwrap()
                .iter()
                .filter(|x| x["update_id"].as_i64().unwrap() >= offset)
                .cloned()
                .collect();
            if due.is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
            json!({"ok": true, "result": due})
        });
        FakeBotApi {
            addr,
            updates,
            offsets,
        }
    }

    /// Waits (up to 30 s) until an offset at least `n` is asked after `from` asks.
    fn asked(&self, from: usize, n: i64) -> Vec<i64> {
        wait_for(&self.offsets, from, |x| *x >= n, &format!("offset {n}"))
    }
}

/// A platform's API as a test's own double: answers each request (its path and body)
/// with the JSON `answer` makes, one connection each; the address it listens at.
fn json_server(answer: impl Fn(&str, &[u8]) -> Value + Send + 'static) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let text = answer(line.split(' ').nth(1).unwrap_or_default(), &body).to_string();
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    addr
}

/// Waits (up to 30 s) until a double has recorded, after its first `from` entries, one
/// that `found` accepts; all it recorded.
fn wait_for<T: Clone + std::fmt::Debug>(
    log: &std::sync::Mutex<Vec<T>>,
    from: usize,
    found: impl Fn(&T) -> bool,
    what: &str,
) -> Vec<T> {
    for _ in 0..300 {
        let seen = log.lock().unwrap().clone();
        if seen.iter().skip(from).any(&found) {
            return seen;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{what} never asked: {:?}", log.lock().unwrap());
}

#[test]
fn a_polling_telegram_source_resumes_after_the_last_stored_update() {
    const BOT: &str = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    let (sf, bf) = (dir.path().join("s"), dir.path().join("b"));
    std::fs::write(&sf, "tg_secret-Token_42").unwrap();
    std::fs::write(&bf, format!("{BOT}\n")).unwrap();
    let api = FakeBotApi::start(BOT);
    let base = format!("http://{}", api.addr);
    let add = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "source",
            "add",
            name,
            "--kind",
            "telegram",
            "--secret-token-file",
            sf.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&data, &args)
    };
    for (name, extra, says) in [
        ("no bot token", vec!["--poll"], "bot token"),
        (
            "a bot token without --poll",
            vec!["--bot-token-file", bf.to_str().unwrap()],
            "go with --poll",
        ),
        (
            "an API base that is no URL",
            vec![
                "--poll",
                "--bot-token-file",
                bf.to_str().unwrap(),
                "--api-base",
                "ftp://x",
            ],
            "https://",
        ),
        (
            "plain http to another machine",
            vec![
                "--poll",
                "--bot-token-file",
                bf.to_str().unwrap(),
                "--api-base",
                "http://api.example.org",
            ],
            "on this machine only",
        ),
    ] {
        let (code, _, err) = add("p2", &extra);
        assert!(code == 2 && err.contains(says), "{name}: {err}");
    }
    let (code, out, err) = add(
        "poller",
        &[
            "--poll",
            "--bot-token-file",
            bf.to_str().unwrap(),
            "--api-base",
            &base,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !ok(&data, &["source", "show", "poller"]).contains("AAHdqTcv"),
        "the bot token is not shown"
    );
    let upd = |id: i64, text: &str| {
        json!({"update_id": id, "message": {"message_id": id, "date": now_s(), "chat": {"id": 77, "type": "private"},
            "from": {"id": 42, "first_name": "王"}, "text": text}})
    };
    api.updates
        .lock()
        .unwrap()
        .extend([upd(1, "POLL-1"), upd(2, "POLL-2"), upd(3, "POLL-3")]);
    let srv = start(&data, &[]);
    let seen = api.asked(0, 4);
    assert_eq!(
        seen[0], 0,
        "a new source starts at Telegram's oldest: {seen:?}"
    );
    drop(srv); // SIGKILL
    let before = api.offsets.lock().unwrap().len();
    api.updates
        .lock()
        .unwrap()
        .extend([upd(4, "POLL-4"), upd(5, "POLL-5")]);
    let srv = start(&data, &[]);
    let seen = api.asked(before, 6);
    assert_eq!(
        seen[before], 4,
        "a restart resumes after the last stored update: {seen:?}"
    );
    drop(srv);
    let conv: Value = serde_json::from_str(&ok(&data, &["--json", "show", "telegram:77"])).unwrap();
    let texts: Vec<&str> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["POLL-1", "POLL-2", "POLL-3", "POLL-4", "POLL-5"],
        "each once"
    );
}

/// A signed delivery of one message keyed `key`, for the kill test.
fn kill_delivery(key: &str) -> (Vec<String>, Value) {
    let body = json!({"platform": "wecom", "conversation_id": "kill-1", "source_id": key, "sender_id": "c1",
        "sent_at": "2026-12-01T10:00:00Z", "text": format!("KILLTEST {key}")});
    (signed(SECRET, key, now_s(), &body), body)
}

/// One delivery over a fresh connection: Some(acknowledged) or None (no answer).
fn kill_send(addr: &str, key: &str) -> Option<bool> {
    use std::io::{Read, Write};
    let (headers, body) = kill_delivery(key);
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    let payload = body.to_string();
    let mut req = format!("POST /hooks/crm HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", payload.len());
    for h in headers {
        req.push_str(&h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.push_str(&payload);
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let ok = raw.starts_with("HTTP/1.1 200")
        && (raw.contains("\"stored\"") || raw.contains("\"duplicate\""));
    (!raw.is_empty()).then_some(ok)
}

/// The server is killed (SIGKILL) while signed deliveries arrive from several clients;
/// restarted, it takes the platform's retries of what was in flight. Every delivery
/// that was acknowledged is stored, and every message is stored exactly once.
#[test]
fn no_acknowledged_delivery_is_lost_when_the_server_is_killed_under_load() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    let sf = dir.path().join("whsec");
    std::fs::write(&sf, SECRET).unwrap();
    ok(
        &data,
        &[
            "source",
            "add",
            "crm",
            "--kind",
            "webhook",
            "--secret-file",
            sf.to_str().unwrap(),
        ],
    );
    let srv = start(&data, &[]);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let in_flight = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..6)
        .map(|c| {
            let (acked, in_flight, stop, addr) = (
                acked.clone(),
                in_flight.clone(),
                stop.clone(),
                srv.addr.clone(),
            );
            std::thread::spawn(move || {
                for n in 0.. {
                    let key = format!("K{c}-{n}");
                    match kill_send(&addr, &key) {
                        Some(true) => acked.lock().unwrap().push(key),
                        Some(false) => panic!("{key}: answered, but not stored"),
                        None => {
                            // No answer: the server is gone; the platform retries it.
                            in_flight.lock().unwrap().push(key);
                            return;
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    drop(srv); // SIGKILL, mid-load
    for c in clients {
        c.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let acked = acked.lock().unwrap().clone();
    let retried = in_flight.lock().unwrap().clone();
    assert!(
        acked.len() >= 20,
        "the load ran: {} acknowledged",
        acked.len()
    );
    // Restarted, the server takes the retries: each is stored now, or was before.
    let srv = start(&data, &[]);
    for key in &retried {
        assert_eq!(kill_send(&srv.addr, key), Some(true), "{key}: the retry");
    }
    drop(srv);
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for page in 0.. {
        let v: Value = serde_json::from_str(&ok(
            &data,
            &[
                "--json",
                "show",
                "wecom:kill-1",
                "--offset",
                &(page * 200).to_string(),
                "--limit",
                "200",
            ],
        ))
        .unwrap();
        let msgs = v["messages"].as_array().unwrap();
        for m in msgs {
            let key = m["text"]
                .as_str()
                .unwrap()
                .trim_start_matches("KILLTEST ")
                .to_owned();
            *seen.entry(key).or_default() += 1;
        }
        if msgs.len() < 200 {
            break;
        }
    }
    for key in acked.iter().chain(&retried) {
        assert_eq!(seen.get(key), Some(&1), "{key}: stored exactly once");
    }
    assert_eq!(
        seen.len(),
        acked.len() + retried.len(),
        "nothing else stored"
    );
    assert!(seen.values().all(|n| *n == 1), "no message twice");
    let (code, out, err) = run(&data, &["verify"]);
    assert_eq!(code, 0, "the archive verifies after the kill: {out}{err}");
}

/// WeCom's API as the test's own double: `gettoken`, and `kf/sync_msg` answering pages
/// of two messages by cursor (`c0`, `c1`, …); it records each cursor asked.
struct FakeWecom {
    addr: String,
    msgs: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    cursors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeWecom {
    fn start() -> FakeWecom {
        let msgs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
        let cursors = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let (m, c) = (msgs.clone(), cursors.clone());
        let addr = json_server(move |path, body| {
            if path.starts_with("/cgi-bin/gettoken") {
                if path.contains("corpsecret=kf-secret-0042") {
                    json!({"errcode": 0, "errmsg": "ok", "access_token": "AT-1", "expires_in": 7200})
                } else {
                    json!({"errcode": 40001, "errmsg": "invalid credential"})
                }
            } else if path.starts_with("/cgi-bin/kf/sync_msg?access_token=AT-1") {
                let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let cursor = req["cursor"].as_str().unwrap_or("c0").to_owned();
                c.lock().unwrap().push(cursor.clone());
                let page: usize = cursor[1..].parse().unwrap_or(0);
                let all = m.lock().unwrap().clone();
                let from = (page * 2).min(all.len());
                let to = (from + 2).min(all.len());
                json!({"errcode": 0, "errmsg": "ok", "next_cursor": format!("c{}", page + usize::from(to > from)),
                    "has_more": i32::from(to < all.len()), "msg_list": all[from..to]})
            } else {
                json!({"errcode": 40014, "errmsg": "invalid access_token"})
            }
        });
        FakeWecom {
            addr,
            msgs,
            cursors,
        }
    }

    /// Waits (up to 30 s) until `cursor` is asked after `from` asks.
    fn asked(&self, from: usize, cursor: &str) -> Vec<String> {
        wait_for(
            &self.cursors,
            from,
            |x| x == cursor,
            &format!("cursor {cursor}"),
        )
    }
}

#[test]
fn a_wecom_kf_source_pulls_what_its_callback_announces_and_resumes_from_its_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    let (token, aes_key, corp) = (
        "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
        "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
        "ww1436e0e65a779aee",
    );
    let (tf, kf, sf) = (
        dir.path().join("t"),
        dir.path().join("k"),
        dir.path().join("s"),
    );
    std::fs::write(&tf, token).unwrap();
    std::fs::write(&kf, aes_key).unwrap();
    std::fs::write(&sf, "kf-secret-0042").unwrap();
    let api = FakeWecom::start();
    let base = format!("http://{}", api.addr);
    let (code, _, err) = run(
        &data,
        &[
            "source",
            "add",
            "kf2",
            "--kind",
            "wecom-kf",
            "--token-file",
            tf.to_str().unwrap(),
            "--aes-key-file",
            kf.to_str().unwrap(),
            "--receive-id",
            corp,
        ],
    );
    assert!(
        code == 2 && err.contains("corp_secret"),
        "no corp secret: {err}"
    );
    ok(
        &data,
        &[
            "source",
            "add",
            "kf",
            "--kind",
            "wecom-kf",
            "--token-file",
            tf.to_str().unwrap(),
            "--aes-key-file",
            kf.to_str().unwrap(),
            "--receive-id",
            corp,
            "--corp-secret-file",
            sf.to_str().unwrap(),
            "--api-base",
            &base,
        ],
    );
    let msg = |id: &str, origin: i64, text: &str| {
        json!({"msgid": id, "open_kfid": "wkKF1", "external_userid": "wmCUST1", "send_time": now_s(), "origin": origin,
            "servicer_userid": "zhangsan", "msgtype": "text", "text": {"content": text}})
    };
    api.msgs.lock().unwrap().extend([
        msg("k1", 3, "KF-1 我要退款"),
        msg("k2", 5, "KF-2 好的"),
        msg("k3", 3, "KF-3 谢谢"),
        json!({"msgid": "k4", "open_kfid": "wkKF1", "send_time": now_s(), "origin": 3, "external_userid": "wmCUST1", "msgtype": "hologram", "hologram": {"content": "KF-HOLO-4"}}),
    ]);
    let c = chatvault_connect::wxbiz::Crypto::new(token, aes_key, corp).unwrap();
    let callback = |addr: &str| {
        let xml = format!("<xml><ToUserName><![CDATA[{corp}]]></ToUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token><OpenKfId><![CDATA[wkKF1]]></OpenKfId></xml>", now_s());
        let enc = c.encrypt(b"fedcba9876543210", xml.as_bytes()).unwrap();
        let ts = now_s().to_string();
        let q = format!(
            "msg_signature={}&timestamp={ts}&nonce=77",
            c.signature(&ts, "77", &enc)
        );
        request(
            addr,
            "POST",
            &format!("/hooks/kf?{q}"),
            &[],
            Some(&json!({"encrypt": enc})),
        )
    };
    let srv = start(&data, &[]);
    let r = callback(&srv.addr);
    assert_eq!(
        (r.status, r.text.as_str()),
        (200, ""),
        "the callback is answered at once, empty"
    );
    let seen = api.asked(0, "c1");
    assert_eq!(seen[0], "c0", "{seen:?}");
    drop(srv); // SIGKILL
    let before = api.cursors.lock().unwrap().len();
    api.msgs.lock().unwrap().push(msg("k5", 5, "KF-5 已退款"));
    let srv = start(&data, &[]);
    callback(&srv.addr);
    let seen = api.asked(before, "c2");
    // Asking c1 meant the first page was stored and its cursor kept: the restart goes on
    // from there (c1, or c2 if the second page was stored before the kill), never c0.
    assert!(
        ["c1", "c2"].contains(&seen[before].as_str()),
        "the restart resumes from the stored cursor: {seen:?}"
    );
    // Asking c3 means the page holding k5 is stored.
    callback(&srv.addr);
    api.asked(before, "c3");
    drop(srv);
    let conv: Value =
        serde_json::from_str(&ok(&data, &["--json", "show", "wecom:kf:wkKF1:wmCUST1"])).unwrap();
    let texts: Vec<&str> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["KF-1 我要退款", "KF-2 好的", "KF-3 谢谢", "KF-5 已退款"],
        "each once: {conv}"
    );
    assert_eq!(conv["messages"][1]["sender_role"], "agent");
    held_once_and_kept(&data, "kf", "unknown type `hologram`", "KF-HOLO-4");
}

/// The test double of WeCom's chat archive SDK, as the workspace built it.
fn finance_double() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps, deps.parent().unwrap()] {
        let p = dir.join("libchatvault_finance_double.so");
        if p.exists() {
            return p;
        }
    }
    panic!(
        "libchatvault_finance_double.so is not beside {}: `cargo test --workspace` builds it (crates/chatvault-finance-double)",
        exe.display()
    );
}

#[test]
fn a_wecom_chat_archive_source_pulls_through_the_sdk_and_a_restart_mid_batch_stores_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    let (token, aes_key, corp) = (
        "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
        "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
        "ww1436e0e65a779aee",
    );
    let private = include_str!("fixtures/finance-test-rsa.pem");
    let public = include_str!("fixtures/finance-test-rsa.pub.pem");
    let files = [
        ("t", token),
        ("k", aes_key),
        ("s", "double-secret"),
        ("pem", private),
    ];
    for (f, v) in files {
        std::fs::write(dir.path().join(f), v).unwrap();
    }
    let path = |f: &str| dir.path().join(f).to_str().unwrap().to_owned();
    let so = finance_double();
    // The records WeCom would hold: each message's random key sealed with the customer's
    // public key, the message sealed by the double under that key.
    let mut rng = rand::thread_rng();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut records = vec![];
    for seq in 1..=30u64 {
        let key = format!("random-key-{seq:02}-of-thirty-two-bytes!");
        let (msgtype, text) = match seq {
            7 => ("hologram", format!("ARCH-HOLO-{seq}")),
            _ => ("text", format!("ARCH-{seq:02} 退款进度")),
        };
        let (from, to) = if seq % 2 == 1 {
            ("wmCustomer7", "zhangsan")
        } else {
            ("zhangsan", "wmCustomer7")
        };
        let msg = json!({"msgid": format!("msg-{seq}"), "action": "send", "from": from, "tolist": [to], "roomid": "",
            "msgtime": now_ms + seq as i64, "msgtype": msgtype, msgtype: {"content": text}});
        // Record 13's message is sealed under another key than the one sent: it does not open.
        let sealed_with = if seq == 13 {
            "some other key".to_owned()
        } else {
            key.clone()
        };
        records.push(json!({"seq": seq, "msgid": format!("msg-{seq}"), "publickey_ver": 1,
            "encrypt_random_key": chatvault_connect::finance::encrypt_random_key(public, &key, &mut rng).unwrap(),
            "encrypt_chat_msg": chatvault_finance_double::seal(&sealed_with, msg.to_string().as_bytes())}));
    }
    let store = dir.path().join("wecom-archive.json");
    std::fs::write(&store, serde_json::to_vec(&records).unwrap()).unwrap();

    // Named refusals of `source add`.
    let base = |name: &str| {
        vec![
            "source".to_owned(),
            "add".into(),
            name.into(),
            "--kind".into(),
            "wecom-archive".into(),
            "--receive-id".into(),
            corp.into(),
        ]
    };
    let with = |name: &str, extra: &[&str]| {
        let mut a = base(name);
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let s_path = path("s");
    let pem_path = path("pem");
    let so_path = so.to_str().unwrap().to_owned();
    for (name, args, says) in [
        (
            "no private key",
            with(
                "a1",
                &["--corp-secret-file", &s_path, "--sdk-path", &so_path],
            ),
            "private_key",
        ),
        (
            "a private key that is not one",
            with(
                "a2",
                &[
                    "--corp-secret-file",
                    &s_path,
                    "--private-key-file",
                    &s_path,
                    "--sdk-path",
                    &so_path,
                ],
            ),
            "not an RSA key",
        ),
        (
            "no SDK where it says",
            with(
                "a3",
                &[
                    "--corp-secret-file",
                    &s_path,
                    "--private-key-file",
                    &pem_path,
                    "--sdk-path",
                    "/nonexistent/libWeWorkFinanceSdk_C.so",
                ],
            ),
            "sdk_path",
        ),
    ] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = run(&data, &a);
        assert!(code == 2 && err.contains(says), "{name}: {err}");
    }
    let args = with(
        "arch",
        &[
            "--corp-secret-file",
            &s_path,
            "--private-key-file",
            &pem_path,
            "--sdk-path",
            &so_path,
            "--token-file",
            &path("t"),
            "--aes-key-file",
            &path("k"),
        ],
    );
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&data, &a);
    assert!(
        !ok(&data, &["source", "show", "arch"]).contains("PRIVATE KEY"),
        "the key is never shown"
    );

    let env = |delay: &str| {
        vec![
            (
                "WEWORK_DOUBLE_DATA".to_owned(),
                store.to_str().unwrap().to_owned(),
            ),
            ("WEWORK_DOUBLE_DELAY_MS".to_owned(), delay.to_owned()),
            ("CHATVAULT_METRICS_TOKEN".to_owned(), "scrape-9".to_owned()),
        ]
    };
    // Slowed so that the kill lands in the middle of the first batch.
    let srv = common::start_env(&data, &[], &env("40"));
    std::thread::sleep(std::time::Duration::from_millis(1200));
    drop(srv); // SIGKILL mid-batch: the cursor still stands before the batch
    let conv_of = || -> Value {
        serde_json::from_str(&ok(
            &data,
            &["--json", "show", "wecom:archive:dm:wmCustomer7:zhangsan"],
        ))
        .unwrap()
    };
    let stored_before = conv_of()["total"].as_u64().unwrap();
    assert!(
        (1..28).contains(&stored_before),
        "killed in the middle of the batch ({stored_before} of 28 stored)"
    );

    let srv = common::start_env(&data, &[], &env("0"));
    // The callback that wakes it, as WeCom sends it.
    let c = chatvault_connect::wxbiz::Crypto::new(token, aes_key, corp).unwrap();
    let xml = format!("<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[msgaudit_notify]]></Event><AgentID>2000000</AgentID></xml>", now_s());
    let enc = c.encrypt(b"fedcba9876543210", xml.as_bytes()).unwrap();
    let ts = now_s().to_string();
    let q = format!(
        "msg_signature={}&timestamp={ts}&nonce=5",
        c.signature(&ts, "5", &enc)
    );
    let r = request(
        &srv.addr,
        "POST",
        &format!("/hooks/arch?{q}"),
        &[],
        Some(&json!({"encrypt": enc})),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (200, ""),
        "msgaudit_notify is answered at once"
    );
    // The batch is read again from the cursor, which the kill left before it: every
    // record is handled once more, as stored, duplicate (stored before the kill) or
    // quarantined.
    let count = |m: &str, c: &str| {
        let line =
            format!("chatvault_capture_{c}_total{{source=\"arch\",kind=\"wecom-archive\"}} ");
        m.lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut figures = (0, 0, 0);
    for _ in 0..300 {
        let auth = ["Authorization: Bearer scrape-9".to_owned()];
        let m = request(&srv.addr, "GET", "/metrics", &auth, None).text;
        figures = (
            count(&m, "stored"),
            count(&m, "duplicates"),
            count(&m, "quarantined"),
        );
        if figures.0 + figures.1 + figures.2 >= 30 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    drop(srv);
    assert_eq!(
        figures,
        (28 - stored_before, stored_before, 2),
        "what was stored before the kill came again as duplicates; the rest was stored"
    );
    let conv = conv_of();
    let texts: Vec<String> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    let want: Vec<String> = (1..=30)
        .filter(|s| *s != 7 && *s != 13)
        .map(|s| format!("ARCH-{s:02} 退款进度"))
        .collect();
    assert_eq!(texts, want, "each once, none skipped, in order");
    assert_eq!(conv["messages"][0]["sender_role"], "customer");
    assert_eq!(conv["messages"][1]["sender_role"], "agent");
    assert_held(
        &data,
        "arch",
        &[
            "unknown type `hologram`",
            "seq 13: not decrypted (DecryptData: error 10004)",
        ],
    );
    let (code, out, err) = run(&data, &["verify"]);
    assert_eq!(code, 0, "{out}{err}");
}
