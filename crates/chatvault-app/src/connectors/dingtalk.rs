//! DingTalk (钉钉), two connectors:
//!
//! - `dingtalk`: the HTTP event subscription (DingCallbackCrypto, WXBizMsgCrypt's
//!   construction with the owner key: the AppKey, CorpId or SuiteKey). The query carries
//!   `msg_signature` (or `signature`), `timeStamp` (or `timestamp`, ms) and `nonce`; the
//!   body `{"encrypt": …}`. Every push, the `check_url` first, is answered with the
//!   encrypted literal `success` as `{msg_signature, timeStamp, nonce, encrypt}`, or
//!   DingTalk retries it. Its events are the organisation's (people, departments,
//!   groups, approvals): each is kept whole as a `system` line, keyed by its content
//!   (a retry is the same bytes, so it stores nothing twice). An `EventType` this build
//!   does not know is quarantined.
//! - `dingtalk-robot`: the robot's outgoing messages (HTTP mode): headers `timestamp`
//!   (ms) and `sign` (HMAC-SHA256 of `timestamp\nAppSecret`, one hour's window), then the
//!   message as JSON, keyed by `msgId`. In groups a robot receives only the messages
//!   that @ it: that is all DingTalk shows a robot.

use rand::Rng;
use serde_json::{json, Value};

use super::{Handled, Kind, Mapped, Reply, Request, Source};
use chatvault_connect::{dingtalk_robot, wxbiz, Refusal};

pub static KIND: Kind = Kind {
    name: "dingtalk",
    secrets: &["token", "aes_key"],
    settings: &["owner_key"],
    receive,
    map,
};

pub static ROBOT: Kind = Kind {
    name: "dingtalk-robot",
    secrets: &["secret"],
    settings: &[],
    receive: receive_robot,
    map: map_robot,
};

/// The first of `names` in the query, percent-decoded.
fn param(query: &str, names: &[&'static str]) -> Result<String, Refusal> {
    names
        .iter()
        .find_map(|n| super::wecom::param(query, n))
        .ok_or(Refusal::Missing(names[0]))
}

fn crypto(source: &Source<'_>) -> Result<wxbiz::Crypto, Refusal> {
    let owner = source
        .info
        .settings
        .get("owner_key")
        .ok_or_else(|| Refusal::BadKey("the source has no owner_key".into()))?;
    wxbiz::Crypto::new(source.secret("token")?, source.secret("aes_key")?, owner)
}

fn receive(source: &Source<'_>, req: &Request<'_>) -> Result<Handled, Refusal> {
    req.post_only("DingTalk's events")?;
    let sig = param(req.query, &["msg_signature", "signature"])?;
    let ts = param(req.query, &["timeStamp", "timestamp"])?;
    let nonce = param(req.query, &["nonce"])?;
    wxbiz::fresh(&ts, req.now_s)?;
    let crypto = crypto(source)?;
    let encrypt = wxbiz::encrypt_field(req.body)?;
    let opened = crypto.open(&sig, &ts, &nonce, &encrypt)?;
    // The answer DingTalk waits for, made now: the reply is a plain function of the
    // receipt, and this one depends only on the source's keys.
    let success = success(&crypto, req.now_s)?;
    let is_check = serde_json::from_slice::<Value>(&opened.message)
        .is_ok_and(|v| v["EventType"] == "check_url");
    if is_check {
        return Ok(Handled::Reply(success));
    }
    Ok(Handled::Event {
        payload: opened.message,
        reply: Box::new(move |_| success),
    })
}

/// The encrypted `success` with its signature, as DingTalk's SDKs answer.
fn success(crypto: &wxbiz::Crypto, now_s: i64) -> Result<Reply, Refusal> {
    let mut rng = rand::thread_rng();
    let random16: [u8; 16] = std::array::from_fn(|_| rng.sample(rand::distributions::Alphanumeric));
    let nonce: String = (0..8)
        .map(|_| char::from(rng.sample(rand::distributions::Alphanumeric)))
        .collect();
    let ts = (now_s * 1000).to_string();
    let encrypt = crypto.encrypt(&random16, b"success")?;
    Ok(Reply::json(
        200,
        json!({"msg_signature": crypto.signature(&ts, &nonce, &encrypt), "timeStamp": ts, "nonce": nonce, "encrypt": encrypt}),
    ))
}

/// The organisation's events DingTalk pushes (通讯录, 群会话, 审批, 签到, …): kept whole.
const EVENTS: &[&str] = &[
    "user_add_org",
    "user_modify_org",
    "user_leave_org",
    "user_active_org",
    "org_admin_add",
    "org_admin_remove",
    "org_dept_create",
    "org_dept_modify",
    "org_dept_remove",
    "org_remove",
    "org_change",
    "label_user_change",
    "label_conf_add",
    "label_conf_del",
    "label_conf_modify",
    "chat_add_member",
    "chat_remove_member",
    "chat_quit",
    "chat_update_owner",
    "chat_update_title",
    "chat_disband",
    "check_in",
    "bpms_task_change",
    "bpms_instance_change",
    "attendance_check_record",
    "attendance_schedule_change",
    "attendance_overtime_duration",
    "edu_user_insert",
    "edu_user_update",
    "edu_user_delete",
];

fn map(source: &Source<'_>, plain: &[u8]) -> Result<Mapped, String> {
    use sha2::Digest;
    let v: Value =
        serde_json::from_slice(plain).map_err(|e| format!("the decrypted event: {e}"))?;
    let event_type = v["EventType"].as_str().unwrap_or_default();
    if !EVENTS.contains(&event_type) {
        return Err(format!(
            "an event of unknown type {}",
            if event_type.is_empty() {
                "(none)".to_owned()
            } else {
                format!("`{event_type}`")
            }
        ));
    }
    // `TimeStamp` is the event's own time (ms, as text or a number) where it has one.
    let ms = match &v["TimeStamp"] {
        Value::String(s) => s.parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    let sent_at = chrono::DateTime::from_timestamp_millis(
        ms.unwrap_or_else(|| chrono::Utc::now().timestamp_millis()),
    )
    .ok_or("TimeStamp out of range")?
    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let conversation = v["ChatId"]
        .as_str()
        .map(|c| format!("chat:{c}"))
        .unwrap_or_else(|| format!("events:{}", source.info.name));
    let id = hex::encode(&sha2::Sha256::digest(plain)[..16]);
    Ok(Mapped::one(
        Ok(json!({
            "platform": "dingtalk", "conversation_id": conversation, "source_id": format!("{event_type}/{id}"),
            "sender_id": v["Operator"].as_str().or(v["OperatorStaffId"].as_str()).unwrap_or("dingtalk"),
            "sent_at": sent_at, "kind": "system", "text": format!("[{event_type}]"), "extra": v,
        })),
        "dingtalk",
    ))
}

fn receive_robot(source: &Source<'_>, req: &Request<'_>) -> Result<Handled, Refusal> {
    req.post_only("A robot's messages")?;
    dingtalk_robot::verify(
        source.secret("secret")?,
        &req.required("timestamp")?,
        &req.required("sign")?,
        req.now_s,
    )?;
    Ok(Handled::Event {
        payload: req.body.to_vec(),
        // No answer in the chat: the robot only listens.
        reply: Box::new(|_| Reply::json(200, json!({}))),
    })
}

fn map_robot(_: &Source<'_>, body: &[u8]) -> Result<Mapped, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body: {e}"))?;
    Ok(Mapped::one(robot_record(&v), "dingtalk"))
}

/// The canonical record of a message a robot received.
fn robot_record(v: &Value) -> Result<Value, String> {
    let str_of = |x: &Value| x.as_str().map(str::to_owned);
    let id = str_of(&v["msgId"]).ok_or("a message without msgId")?;
    let conversation = str_of(&v["conversationId"]).ok_or("a message without conversationId")?;
    let created = v["createAt"]
        .as_i64()
        .or_else(|| v["createAt"].as_str().and_then(|s| s.parse().ok()))
        .ok_or("a message without createAt")?;
    let sent_at = chrono::DateTime::from_timestamp_millis(created)
        .ok_or("createAt out of range")?
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let msgtype = v["msgtype"].as_str().unwrap_or("text");
    let content = &v["content"];
    let (kind, text) = match msgtype {
        "text" => (
            "text",
            v["text"]["content"]
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        ),
        "richText" => (
            "text",
            content["richText"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(""),
        ),
        "picture" => ("image", "[picture]".to_owned()),
        "audio" => (
            "voice",
            content["recognition"]
                .as_str()
                .map_or_else(|| "[audio]".to_owned(), |r| format!("[audio] {r}")),
        ),
        "video" => ("video", "[video]".to_owned()),
        "file" => (
            "file",
            format!(
                "[file {}]",
                content["fileName"].as_str().unwrap_or_default()
            ),
        ),
        other => return Err(format!("message {id}: a message of unknown type `{other}`")),
    };
    let mut r = json!({
        "platform": "dingtalk",
        "conversation_id": conversation,
        "conversation_kind": if v["conversationType"] == "1" { "direct" } else { "group" },
        "source_id": id,
        "sender_id": str_of(&v["senderStaffId"]).or_else(|| str_of(&v["senderId"])).unwrap_or_else(|| "unknown".into()),
        "sent_at": sent_at,
        "kind": kind,
        "text": text,
        // The sessionWebhook is a short-lived credential to answer in the chat: not kept.
        "extra": {"msgtype": msgtype, "content": content, "chatbotUserId": v["chatbotUserId"], "isAdmin": v["isAdmin"], "atUsers": v["atUsers"]},
    });
    if let Some(n) = str_of(&v["senderNick"]) {
        r["sender_name"] = json!(n);
    }
    if let Some(t) = str_of(&v["conversationTitle"]) {
        r["conversation_title"] = json!(t);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robot_messages_map_to_records() {
        let base = |extra: Value| {
            let mut v = json!({"msgId": "msgA1", "createAt": 1764900000000i64, "conversationType": "2",
                "conversationId": "cidX", "conversationTitle": "售后群", "senderId": "$:LWCP", "senderNick": "张三",
                "senderStaffId": "staff1", "chatbotUserId": "bot1", "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=secret"});
            for (k, x) in extra.as_object().into_iter().flatten() {
                v[k] = x.clone();
            }
            v
        };
        type Case = (
            &'static str,
            Value,
            Result<(&'static str, &'static str), &'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "a text that @s the robot",
                base(json!({"msgtype": "text", "text": {"content": " 退款进度？"}})),
                Ok(("text", "退款进度？")),
            ),
            (
                "a rich text",
                base(
                    json!({"msgtype": "richText", "content": {"richText": [{"text": "看"}, {"pictureDownloadCode": "x"}, {"text": "图"}]}}),
                ),
                Ok(("text", "看图")),
            ),
            (
                "a picture",
                base(json!({"msgtype": "picture", "content": {"downloadCode": "d"}})),
                Ok(("image", "[picture]")),
            ),
            (
                "a voice with its recognition",
                base(
                    json!({"msgtype": "audio", "content": {"recognition": "你好", "duration": 3}}),
                ),
                Ok(("voice", "[audio] 你好")),
            ),
            (
                "a file",
                base(json!({"msgtype": "file", "content": {"fileName": "合同.pdf"}})),
                Ok(("file", "[file 合同.pdf]")),
            ),
            (
                "a type DingTalk adds later",
                base(json!({"msgtype": "hologram"})),
                Err("unknown type `hologram`"),
            ),
            (
                "no msgId",
                json!({"conversationId": "c", "createAt": 1}),
                Err("without msgId"),
            ),
            (
                "a time in words",
                base(json!({"msgtype": "text", "createAt": "noon"})),
                Err("createAt"),
            ),
        ];
        for (name, v, want) in cases {
            match (robot_record(&v), want) {
                (Ok(r), Ok((kind, text))) => {
                    assert_eq!(r["kind"], kind, "{name}");
                    assert_eq!(r["text"], text, "{name}");
                    assert!(
                        !r.to_string().contains("session=secret"),
                        "{name}: the session webhook is not kept"
                    );
                    assert!(
                        crate::ingest::parse_canonical(vec![r], "t")[0].is_ok(),
                        "{name}: maps to a message"
                    );
                }
                (Err(e), Err(says)) => assert!(e.contains(says), "{name}: {e}"),
                (got, want) => panic!("{name}: {got:?} against {want:?}"),
            }
        }
    }
}
