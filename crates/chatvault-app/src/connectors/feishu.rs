//! Feishu / Lark event subscription v2, with an Encrypt Key configured: every request is
//! `{"encrypt": …}` signed with `X-Lark-Signature` over its raw body
//! (`chatvault_connect::feishu`).
//!
//! - `url_verification` is answered with its `challenge`. Feishu may send it unsigned;
//!   it is then answered only when it decrypts under this source's Encrypt Key and
//!   carries its Verification Token.
//! - `im.message.receive_v1` becomes a message: the chat is the conversation,
//!   `message_id` its id (Feishu's retries answer as duplicates), `parent_id` the
//!   message replied to; text and rich-text (`post`) content become its text, images and
//!   files are named in it and described in the sealed raw record.
//! - `im.message.recalled_v1` (撤回) becomes a `recall` event pointing at the original.
//! - Any other event Feishu defines is kept whole as a `system` line keyed by
//!   `event_id`; an event of a type this build does not know is quarantined.

use serde_json::{json, Value};

use super::{Handled, Kind, Mapped, Reply, Request, Source};
use chatvault_connect::{feishu, Refusal};

pub static KIND: Kind = Kind {
    name: "feishu",
    secrets: &["encrypt_key"],
    settings: &[],
    receive,
    map,
};

fn receive(source: &Source<'_>, req: &Request<'_>) -> Result<Handled, Refusal> {
    req.post_only("Feishu's events")?;
    let key = source.secret("encrypt_key")?;
    let token = source.secrets.get("verification_token").map(|t| t.as_str());
    let signature = (req.header)("x-lark-signature");
    if let Some(sig) = &signature {
        feishu::verify(
            key,
            &req.required("x-lark-request-timestamp")?,
            &req.required("x-lark-request-nonce")?,
            req.body,
            sig,
            req.now_s,
        )?;
    }
    let outer: Value =
        serde_json::from_slice(req.body).map_err(|e| Refusal::Malformed("body", e.to_string()))?;
    let encrypt = outer["encrypt"].as_str().ok_or(Refusal::Missing(
        "encrypt (configure an Encrypt Key on Feishu's side)",
    ))?;
    let plain = feishu::decrypt(key, encrypt)?;
    let v: Value = match serde_json::from_slice(&plain) {
        Ok(v) => v,
        // Signed and decrypted, yet not JSON: kept in quarantine with why.
        Err(_) if signature.is_some() => return Ok(Handled::acked(plain)),
        Err(e) => return Err(Refusal::Malformed("the decrypted event", e.to_string())),
    };
    // The token an event carries: v2 in `header.token`, the challenge at the top.
    let carried = v["header"]["token"].as_str().or(v["token"].as_str());
    let token_ok = match token {
        Some(t) => carried.is_some_and(|c| chatvault_connect::same(c.as_bytes(), t.as_bytes())),
        None => true,
    };
    if v["type"] == "url_verification" {
        // Unsigned challenges are taken only with the Verification Token configured.
        if signature.is_none() && token.is_none() || !token_ok {
            return Err(Refusal::BadSignature);
        }
        let Some(challenge) = v["challenge"].as_str() else {
            return Ok(Handled::invalid("url_verification without a challenge"));
        };
        return Ok(Handled::Reply(Reply::json(
            200,
            json!({"challenge": challenge}),
        )));
    }
    if signature.is_none() || !token_ok {
        return Err(if signature.is_none() {
            Refusal::Missing("X-Lark-Signature")
        } else {
            Refusal::BadSignature
        });
    }
    Ok(Handled::acked(plain))
}

/// The decrypted event.
fn map(_: &Source<'_>, plain: &[u8]) -> Result<Mapped, String> {
    let v: Value =
        serde_json::from_slice(plain).map_err(|e| format!("the decrypted event: {e}"))?;
    Ok(Mapped::one(record(&v), "feishu"))
}

/// Events of Feishu's open platform that carry no message: kept whole as `system`
/// lines. Any other type is one this build does not know: quarantined.
const OTHER_EVENTS: &[&str] = &[
    "im.message.message_read_v1",
    "im.message.reaction.created_v1",
    "im.message.reaction.deleted_v1",
    "im.message.updated_v1",
    "im.chat.disbanded_v1",
    "im.chat.updated_v1",
    "im.chat.member.bot.added_v1",
    "im.chat.member.bot.deleted_v1",
    "im.chat.member.user.added_v1",
    "im.chat.member.user.deleted_v1",
    "im.chat.member.user.withdrawn_v1",
    "im.chat.access_event.bot_p2p_chat_entered_v1",
    "application.bot.menu_v6",
    "contact.user.created_v3",
    "contact.user.updated_v3",
    "contact.user.deleted_v3",
    "p2p_chat_create",
];

/// Milliseconds (Feishu writes them as text) as RFC 3339.
fn time_of(ms: &Value) -> Result<String, String> {
    let ms: i64 = match ms {
        Value::String(s) => s
            .parse()
            .map_err(|_| format!("time {s:?} is not milliseconds"))?,
        Value::Number(n) => n.as_i64().ok_or("time out of range")?,
        _ => return Err("an event without a time".into()),
    };
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .ok_or_else(|| format!("time {ms} is out of range"))
}

/// The text a message's `content` (itself JSON) shows.
fn text_of(message_type: &str, content: &Value) -> String {
    match message_type {
        "text" => content["text"].as_str().unwrap_or_default().to_owned(),
        "post" => {
            // A rich text: a title, then paragraphs of elements; either directly or per
            // language (`zh_cn`, `en_us`).
            let post = if content["content"].is_array() {
                content
            } else {
                content
                    .as_object()
                    .and_then(|o| o.values().next())
                    .unwrap_or(&Value::Null)
            };
            let mut out: Vec<String> = vec![];
            if let Some(t) = post["title"].as_str().filter(|t| !t.is_empty()) {
                out.push(t.to_owned());
            }
            for para in post["content"].as_array().into_iter().flatten() {
                let line: String = para
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|el| el["text"].as_str().or(el["user_name"].as_str()))
                    .collect();
                if !line.is_empty() {
                    out.push(line);
                }
            }
            out.join("\n")
        }
        "image" => "[image]".to_owned(),
        "file" | "audio" | "media" => format!(
            "[{message_type} {}]",
            content["file_name"].as_str().unwrap_or_default()
        ),
        other => format!("[{other}]"),
    }
}

/// The canonical record of a v2 event.
fn record(v: &Value) -> Result<Value, String> {
    let header = &v["header"];
    let event_id = header["event_id"]
        .as_str()
        .ok_or("an event without header.event_id")?;
    let ev = &v["event"];
    let event_type = header["event_type"].as_str().unwrap_or_default();
    if event_type == "im.message.recalled_v1" {
        // A recall (撤回): an event that points at the original, which stays.
        let original = ev["message_id"]
            .as_str()
            .ok_or("a recall without message_id")?;
        let at = if ev["recall_time"].is_null() {
            &header["create_time"]
        } else {
            &ev["recall_time"]
        };
        return Ok(json!({
            "platform": "feishu", "conversation_id": ev["chat_id"].as_str().unwrap_or("events"),
            "source_id": format!("{original}/recall"), "kind": "recall", "target": original,
            "sender_id": ev["operator_id"]["open_id"].as_str().unwrap_or("feishu"),
            "sent_at": time_of(at)?, "text": "", "extra": v,
        }));
    }
    if event_type != "im.message.receive_v1" {
        if !OTHER_EVENTS.contains(&event_type) {
            return Err(format!(
                "event {event_id}: an event of unknown type {}",
                if event_type.is_empty() {
                    "(none)".to_owned()
                } else {
                    format!("`{event_type}`")
                }
            ));
        }
        return Ok(json!({
            "platform": "feishu", "conversation_id": "events", "source_id": event_id,
            "sender_id": "feishu", "sent_at": time_of(&header["create_time"])?,
            "kind": "system",
            "text": format!("[{}]", header["event_type"].as_str().unwrap_or("event")),
            "extra": v,
        }));
    }
    let m = &ev["message"];
    let str_of = |x: &Value| x.as_str().map(str::to_owned);
    let chat = str_of(&m["chat_id"]).ok_or("a message without chat_id")?;
    let id = str_of(&m["message_id"]).ok_or("a message without message_id")?;
    let message_type = m["message_type"].as_str().unwrap_or("text");
    let content: Value = m["content"]
        .as_str()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| format!("content: {e}"))?
        .unwrap_or(Value::Null);
    let sender = &ev["sender"]["sender_id"];
    let mut r = json!({
        "platform": "feishu",
        "conversation_id": chat,
        "conversation_kind": if m["chat_type"] == "p2p" { "direct" } else { "group" },
        "source_id": id,
        "sender_id": str_of(&sender["open_id"]).or_else(|| str_of(&sender["user_id"])).unwrap_or_else(|| "unknown".into()),
        "sent_at": time_of(&m["create_time"])?,
        "text": text_of(message_type, &content),
        "extra": {"event_id": event_id, "message_type": message_type, "content": content},
    });
    match message_type {
        "image" => r["kind"] = json!("image"),
        "file" => r["kind"] = json!("file"),
        "audio" => r["kind"] = json!("voice"),
        "media" => r["kind"] = json!("video"),
        "text" | "post" => {}
        _ => r["kind"] = json!("other"),
    }
    if let Some(parent) = str_of(&m["parent_id"]).filter(|p| !p.is_empty()) {
        r["reply_to"] = json!(parent);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(message_type: &str, content: Value) -> Value {
        json!({"schema": "2.0",
            "header": {"event_id": "e1", "event_type": "im.message.receive_v1", "create_time": "1764900000000", "token": "t"},
            "event": {"sender": {"sender_id": {"open_id": "ou_1"}, "sender_type": "user"},
                "message": {"message_id": "om_1", "parent_id": "", "create_time": "1764900000000", "chat_id": "oc_1", "chat_type": "group",
                    "message_type": message_type, "content": content.to_string()}}})
    }

    #[test]
    fn events_map_to_records() {
        type Case = (
            &'static str,
            Value,
            Result<(&'static str, &'static str), &'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "a text",
                msg("text", json!({"text": "退款 @_user_1"})),
                Ok(("text", "退款 @_user_1")),
            ),
            (
                "a rich text",
                msg(
                    "post",
                    json!({"zh_cn": {"title": "标题", "content": [[{"tag": "text", "text": "第一行"}], [{"tag": "a", "text": "链接"}]]}}),
                ),
                Ok(("text", "标题\n第一行\n链接")),
            ),
            (
                "an image",
                msg("image", json!({"image_key": "img_1"})),
                Ok(("image", "[image]")),
            ),
            (
                "a file",
                msg("file", json!({"file_key": "f", "file_name": "合同.pdf"})),
                Ok(("file", "[file 合同.pdf]")),
            ),
            (
                "a sticker",
                msg("sticker", json!({"file_key": "s"})),
                Ok(("other", "[sticker]")),
            ),
            (
                "another event",
                json!({"schema": "2.0", "header": {"event_id": "e2", "event_type": "im.chat.member.user.added_v1", "create_time": "1764900000000"}, "event": {}}),
                Ok(("system", "[im.chat.member.user.added_v1]")),
            ),
            (
                "a recall",
                json!({"schema": "2.0", "header": {"event_id": "e3", "event_type": "im.message.recalled_v1", "create_time": "1764900000000"}, "event": {"message_id": "om_1", "chat_id": "oc_1", "recall_time": "1764900001000", "recall_type": "message_owner"}}),
                Ok(("recall", "")),
            ),
            (
                "an event of a type Feishu adds later",
                json!({"schema": "2.0", "header": {"event_id": "e4", "event_type": "im.hologram.created_v9", "create_time": "1764900000000"}, "event": {}}),
                Err("unknown type `im.hologram.created_v9`"),
            ),
            (
                "no event id",
                json!({"schema": "2.0", "header": {}, "event": {}}),
                Err("without header.event_id"),
            ),
            (
                "content that is not JSON",
                {
                    let mut v = msg("text", json!({}));
                    v["event"]["message"]["content"] = json!("{not json");
                    v
                },
                Err("content"),
            ),
        ];
        for (name, v, want) in cases {
            match (record(&v), want) {
                (Ok(r), Ok((kind, text))) => {
                    assert_eq!(r["kind"].as_str().unwrap_or("text"), kind, "{name}");
                    assert_eq!(r["text"], text, "{name}");
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
