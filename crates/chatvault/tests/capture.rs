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
            "a kind not built yet",
            vec![
                "source",
                "add",
                "bot",
                "--kind",
                "dingtalk",
                "--token-file",
                sf,
            ],
            "kind `dingtalk`",
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

    let srv = start(&data, &[]);
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
        (
            "a signed body that holds no records",
            {
                let sig =
                    chatvault_connect::standard_webhooks::sign(SECRET, "msg_3", now_s(), b"\"x\"")
                        .unwrap();
                vec![
                    "webhook-id: msg_3".into(),
                    format!("webhook-timestamp: {}", now_s()),
                    format!("webhook-signature: {sig}"),
                ]
            },
            json!("x"),
            400,
            "input.invalid",
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
    assert_eq!(found["total"], 2, "what was signed, once each: {found}");
    assert!(!found.to_string().contains("CAPTURE-6666"));
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
        3,
        "{ingested}"
    );
    // The sources live in the sealed state: the audit chain still verifies.
    let (code, out, err) = run(&data, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
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
    let forged = event("ev2", "om_2", "LARK-6666");
    for (name, headers) in [
        ("unsigned", vec![]),
        ("stale", signed(&forged, now_s() - 3600)),
        ("signed over another body", signed(&e1, now_s())),
    ] {
        assert_eq!(post(&forged, headers).status, 401, "{name}");
    }
    drop(srv);
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
    let conv: Value =
        serde_json::from_str(&ok(&data, &["--json", "show", "wecom:app:ChenJiaShun"])).unwrap();
    assert_eq!(conv["total"], 1, "once: {conv}");
    assert_eq!(conv["messages"][0]["text"], "报销单 WECOM-2024 已提交");
    let found: Value =
        serde_json::from_str(&ok(&data, &["--json", "search", "WECOM-6666"])).unwrap();
    assert_eq!(found["total"], 0);
}
