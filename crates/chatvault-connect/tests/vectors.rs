//! Every vendor vector in `../shared/vectors/connectors/` (each names its source), then
//! our own negative cases beside them.

#![allow(clippy::unwrap_used)]

use chatvault_connect::{
    dingtalk_robot, feishu, slack, standard_webhooks, telegram, wxbiz, Refusal,
};
use serde_json::Value;

/// A vector file: fails, never skips, when the shared folder is missing.
fn cases(file: &str) -> Vec<Value> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/connectors")
        .join(file);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (CI clones the project with ../shared beside it)",
            p.display()
        )
    });
    let v: Value = serde_json::from_str(&text).unwrap();
    let cases = v["cases"].as_array().unwrap().clone();
    assert!(!cases.is_empty(), "{file} has no cases");
    cases
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("field {k} missing in {v}"))
}

/// WeCom and DingTalk share the construction; DingTalk's receiver is the owner key.
fn wxbiz_vectors(file: &str) -> usize {
    let mut n = 0;
    for c in cases(file) {
        let (id, kind, i, e) = (s(&c, "id"), s(&c, "kind"), &c["input"], &c["expected"]);
        match kind {
            "verify_url" | "decrypt_message" => {
                let crypto =
                    wxbiz::Crypto::new(s(i, "token"), s(i, "encoding_aes_key"), s(i, "receive_id"))
                        .unwrap();
                let encrypt = match (i.get("echostr"), i.get("post_body")) {
                    (Some(x), _) => x.as_str().unwrap().to_owned(),
                    (None, Some(body)) => {
                        let enc = wxbiz::encrypt_field(body.as_str().unwrap().as_bytes()).unwrap();
                        assert_eq!(enc, s(i, "encrypt"), "{id}: the body's Encrypt");
                        enc
                    }
                    (None, None) => s(i, "encrypt").to_owned(),
                };
                let (ts, nonce) = (s(i, "timestamp"), s(i, "nonce"));
                assert_eq!(
                    crypto.signature(ts, nonce, &encrypt),
                    s(e, "msg_signature"),
                    "{id}: signature"
                );
                let opened = crypto
                    .open(s(e, "msg_signature"), ts, nonce, &encrypt)
                    .unwrap_or_else(|r| panic!("{id}: {r}"));
                assert_eq!(
                    String::from_utf8(opened.message.clone()).unwrap(),
                    s(e, "plaintext"),
                    "{id}: plaintext"
                );
                assert_eq!(
                    crypto.decrypt(&encrypt).unwrap().2,
                    s(e, "receive_id_in_plaintext"),
                    "{id}"
                );
                let r16 = s(e, "random16");
                let want: Vec<u8> = if r16.len() == 32 && r16.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    hex::decode(r16).unwrap()
                } else {
                    r16.as_bytes().to_vec()
                };
                assert_eq!(opened.random16.to_vec(), want, "{id}: random16");
                // A signature over anything else is refused.
                assert_eq!(
                    crypto.open(s(e, "msg_signature"), ts, "other-nonce", &encrypt),
                    Err(Refusal::BadSignature),
                    "{id}"
                );
                // Another receiver's key holder is refused even with a good signature.
                let other =
                    wxbiz::Crypto::new(s(i, "token"), s(i, "encoding_aes_key"), "someone-else")
                        .unwrap();
                assert!(
                    matches!(
                        other.open(s(e, "msg_signature"), ts, nonce, &encrypt),
                        Err(Refusal::WrongReceiver { .. })
                    ),
                    "{id}"
                );
            }
            "reject_signature" => {
                assert_ne!(
                    wxbiz::signature(
                        s(i, "token"),
                        s(i, "timestamp"),
                        s(i, "nonce"),
                        s(i, "encrypt")
                    ),
                    s(i, "msg_signature"),
                    "{id}"
                );
            }
            "encrypt_deterministic" => {
                let crypto =
                    wxbiz::Crypto::new(s(i, "token"), s(i, "encoding_aes_key"), s(i, "receive_id"))
                        .unwrap();
                let r: [u8; 16] = s(i, "random16").as_bytes().try_into().unwrap();
                let enc = crypto.encrypt(&r, s(i, "plaintext").as_bytes()).unwrap();
                assert_eq!(enc, s(e, "encrypt"), "{id}: ciphertext");
                assert_eq!(
                    crypto.signature(s(i, "timestamp"), s(i, "nonce"), &enc),
                    s(e, "msg_signature"),
                    "{id}"
                );
            }
            "aes_raw" => {
                let crypto = wxbiz::Crypto::new("", s(i, "encoding_aes_key"), "").unwrap();
                assert_eq!(
                    crypto.encrypt_raw(s(i, "raw_plaintext").as_bytes()),
                    s(e, "ciphertext_b64"),
                    "{id}"
                );
            }
            other => panic!("{id}: unknown kind {other}"),
        }
        n += 1;
    }
    n
}

#[test]
fn wecom_vectors() {
    assert_eq!(wxbiz_vectors("wecom.json"), 7);
}

#[test]
fn dingtalk_vectors() {
    assert_eq!(wxbiz_vectors("dingtalk.json"), 4);
}

#[test]
fn dingtalk_answers_success_that_its_sdk_opens() {
    // The reply to every event: the literal "success", encrypted and signed.
    let c = wxbiz::Crypto::new(
        "mryue",
        "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7",
        "ding6ccabc44d2c8d38b",
    )
    .unwrap();
    let enc = c.encrypt(b"0123456789abcdef", b"success").unwrap();
    let sig = c.signature("1608001896814", "WL4PK6yA", &enc);
    assert_eq!(
        c.open(&sig, "1608001896814", "WL4PK6yA", &enc)
            .unwrap()
            .message,
        b"success"
    );
}

#[test]
fn feishu_vectors() {
    let mut n = 0;
    for c in cases("feishu.json") {
        let (id, i, e) = (s(&c, "id"), &c["input"], &c["expected"]);
        let plain = feishu::decrypt(s(i, "encrypt_key"), s(i, "encrypt"))
            .unwrap_or_else(|r| panic!("{id}: {r}"));
        assert_eq!(String::from_utf8(plain).unwrap(), s(e, "plaintext"), "{id}");
        assert!(
            feishu::decrypt("another key", s(i, "encrypt")).is_err()
                || feishu::decrypt("another key", s(i, "encrypt")).unwrap()
                    != s(e, "plaintext").as_bytes(),
            "{id}: another key does not open it"
        );
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn slack_vectors() {
    for c in cases("slack.json") {
        let (id, kind, i, e) = (s(&c, "id"), s(&c, "kind"), &c["input"], &c["expected"]);
        let now = i["now"].as_i64().unwrap();
        let (secret, ts, body) = (
            s(i, "signing_secret"),
            s(i, "timestamp"),
            s(i, "raw_body").as_bytes(),
        );
        match kind {
            "valid" => {
                let sig = s(e, "x_slack_signature");
                assert_eq!(slack::sign(secret, ts, body), sig, "{id}");
                assert_eq!(slack::verify(secret, ts, body, sig, now), Ok(()), "{id}");
            }
            "reject" => {
                assert_eq!(
                    slack::verify(secret, ts, body, s(i, "x_slack_signature"), now),
                    Err(Refusal::BadSignature),
                    "{id}"
                );
            }
            other => panic!("{id}: unknown kind {other}"),
        }
    }
}

#[test]
fn standard_webhooks_vectors() {
    for c in cases("standard_webhooks.json") {
        let (id, kind, i, e) = (s(&c, "id"), s(&c, "kind"), &c["input"], &c["expected"]);
        let (secret, wid, body) = (
            s(i, "secret"),
            s(i, "webhook_id"),
            s(i, "raw_body").as_bytes(),
        );
        let ts = i["webhook_timestamp"].as_i64().unwrap();
        match kind {
            "sign" => {
                let sig = standard_webhooks::sign(secret, wid, ts, body).unwrap();
                assert_eq!(sig, s(e, "webhook_signature"), "{id}");
                assert_eq!(
                    standard_webhooks::verify(secret, wid, &ts.to_string(), body, &sig, ts),
                    Ok(()),
                    "{id}"
                );
            }
            "verify" => {
                let r = standard_webhooks::verify(
                    secret,
                    wid,
                    &ts.to_string(),
                    body,
                    s(i, "webhook_signature"),
                    i["now"].as_i64().unwrap(),
                );
                let accept = s(e, "result").starts_with("accept");
                assert_eq!(r.is_ok(), accept, "{id}: {r:?}");
            }
            other => panic!("{id}: unknown kind {other}"),
        }
    }
}

/// Our own: each malformed or hostile request, by name, and what it gets.
#[test]
fn refusals() {
    let sw = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = br#"{"test": 2432232314}"#;
    let good = standard_webhooks::sign(sw, "msg_1", 1_700_000_000, body).unwrap();
    let stale = |r: Result<(), Refusal>| matches!(r, Err(Refusal::Stale { .. }));
    type Case<'a> = (&'a str, bool);
    let table: Vec<Case> = vec![
        (
            "standard webhooks: the good one",
            standard_webhooks::verify(sw, "msg_1", "1700000000", body, &good, 1_700_000_000)
                .is_ok(),
        ),
        (
            "standard webhooks: 301 s late",
            stale(standard_webhooks::verify(
                sw,
                "msg_1",
                "1700000000",
                body,
                &good,
                1_700_000_301,
            )),
        ),
        (
            "standard webhooks: 301 s early",
            stale(standard_webhooks::verify(
                sw,
                "msg_1",
                "1700000000",
                body,
                &good,
                1_699_999_699,
            )),
        ),
        (
            "standard webhooks: another id",
            standard_webhooks::verify(sw, "msg_2", "1700000000", body, &good, 1_700_000_000)
                == Err(Refusal::BadSignature),
        ),
        (
            "standard webhooks: one byte more",
            standard_webhooks::verify(
                sw,
                "msg_1",
                "1700000000",
                b"{\"test\": 24322323145}",
                &good,
                1_700_000_000,
            ) == Err(Refusal::BadSignature),
        ),
        (
            "standard webhooks: no id",
            standard_webhooks::verify(sw, "", "1700000000", body, &good, 1_700_000_000)
                == Err(Refusal::Missing("webhook-id")),
        ),
        (
            "standard webhooks: a timestamp in words",
            matches!(
                standard_webhooks::verify(sw, "msg_1", "yesterday", body, &good, 1_700_000_000),
                Err(Refusal::Malformed(..))
            ),
        ),
        (
            "standard webhooks: the MAC under v2",
            standard_webhooks::verify(
                sw,
                "msg_1",
                "1700000000",
                body,
                &good.replacen("v1,", "v2,", 1),
                1_700_000_000,
            ) == Err(Refusal::BadSignature),
        ),
        (
            "standard webhooks: a secret that is not base64",
            matches!(standard_webhooks::key("whsec_***"), Err(Refusal::BadKey(_))),
        ),
        (
            "standard webhooks: an empty secret",
            matches!(
                standard_webhooks::check_secret("whsec_"),
                Err(Refusal::BadKey(_))
            ),
        ),
        (
            "standard webhooks: a 2-byte secret",
            matches!(
                standard_webhooks::check_secret("whsec_AAA="),
                Err(Refusal::BadKey(_))
            ),
        ),
        (
            "standard webhooks: the spec's 24-byte secret",
            standard_webhooks::check_secret(sw).is_ok(),
        ),
        (
            "standard webhooks: exactly 300 s late is in",
            standard_webhooks::verify(sw, "msg_1", "1700000000", body, &good, 1_700_000_300)
                .is_ok(),
        ),
        (
            "standard webhooks: a timestamp of i64::MIN",
            stale(standard_webhooks::verify(
                sw,
                "msg_1",
                &i64::MIN.to_string(),
                body,
                &good,
                1_700_000_000,
            )),
        ),
        (
            "wxbiz: a callback ten minutes old",
            stale(wxbiz::fresh("1700000000", 1_700_000_600)),
        ),
        (
            "wxbiz: DingTalk's milliseconds, now",
            wxbiz::fresh("1700000000123", 1_700_000_001).is_ok(),
        ),
        (
            "wxbiz: a timestamp in words",
            matches!(
                wxbiz::fresh("soon", 1_700_000_000),
                Err(Refusal::Malformed(..))
            ),
        ),
        (
            "slack: a v1 signature",
            matches!(
                slack::verify("s", "1700000000", b"x", "v1=00", 1_700_000_000),
                Err(Refusal::Malformed(..))
            ),
        ),
        (
            "slack: six minutes old",
            stale(slack::verify(
                "s",
                "1700000000",
                b"x",
                &slack::sign("s", "1700000000", b"x"),
                1_700_000_360,
            )),
        ),
        (
            "slack: uppercase hex is another string",
            slack::verify(
                "s",
                "1700000000",
                b"x",
                &slack::sign("s", "1700000000", b"x")
                    .to_uppercase()
                    .replacen("V0=", "v0=", 1),
                1_700_000_000,
            ) == Err(Refusal::BadSignature),
        ),
        (
            "telegram: no header",
            telegram::verify("abc", None)
                == Err(Refusal::Missing("X-Telegram-Bot-Api-Secret-Token")),
        ),
        (
            "telegram: a prefix of the secret",
            telegram::verify("abcdef", Some("abc")) == Err(Refusal::BadSignature),
        ),
        (
            "telegram: the secret",
            telegram::verify("abc_-9", Some("abc_-9")).is_ok(),
        ),
        (
            "telegram: a secret with a space",
            telegram::check_secret("a b").is_err(),
        ),
        (
            "dingtalk robot: its own signature",
            dingtalk_robot::verify(
                "sec",
                "1700000000000",
                &dingtalk_robot::sign("sec", "1700000000000"),
                1_700_000_000,
            )
            .is_ok(),
        ),
        (
            "dingtalk robot: an hour and a second late",
            stale(dingtalk_robot::verify(
                "sec",
                "1700000000000",
                &dingtalk_robot::sign("sec", "1700000000000"),
                1_700_003_601,
            )),
        ),
        (
            "dingtalk robot: another secret",
            dingtalk_robot::verify(
                "sec",
                "1700000000000",
                &dingtalk_robot::sign("other", "1700000000000"),
                1_700_000_000,
            ) == Err(Refusal::BadSignature),
        ),
        (
            "feishu: a signature over another body",
            feishu::verify("k", "1700000000", "n", b"{}", "00", 1_700_000_000)
                == Err(Refusal::BadSignature),
        ),
        (
            "feishu: ten minutes old",
            stale(feishu::verify(
                "k",
                "1700000000",
                "n",
                b"{}",
                "00",
                1_700_000_600,
            )),
        ),
        (
            "feishu: a ciphertext of half a block",
            feishu::decrypt("k", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_err(),
        ),
        (
            "wxbiz: an EncodingAESKey of 42 characters",
            matches!(
                wxbiz::Crypto::new("t", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", "id"),
                Err(Refusal::BadKey(_))
            ),
        ),
        (
            "wxbiz: a body with no Encrypt",
            wxbiz::encrypt_field(b"<xml><ToUserName>x</ToUserName></xml>").is_err(),
        ),
        (
            "wxbiz: a JSON body with no encrypt",
            wxbiz::encrypt_field(br#"{"other":"x"}"#) == Err(Refusal::Missing("encrypt")),
        ),
        (
            "wxbiz: a body that is not XML",
            wxbiz::encrypt_field(b"<xml><Encrypt>abc").is_err(),
        ),
    ];
    let failed: Vec<&str> = table
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    // A ciphertext that is not whole blocks, or whose length field runs past its end.
    let c = wxbiz::Crypto::new("t", "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7", "id").unwrap();
    assert!(matches!(c.decrypt("AAAA"), Err(Refusal::Malformed(..))));
    let mut lying = Vec::new();
    lying.extend_from_slice(&[0u8; 16]);
    lying.extend_from_slice(&1000u32.to_be_bytes());
    lying.extend_from_slice(b"short");
    let enc = c.encrypt_raw(&lying);
    assert!(matches!(c.decrypt(&enc), Err(Refusal::Malformed(..))));
}
