//! Telegram Bot API webhooks: the `X-Telegram-Bot-Api-Secret-Token` header set with
//! `setWebhook` (`chatvault_connect::telegram`), then one `Update` per request.
//!
//! - `message` and `channel_post` become messages: the chat is the conversation,
//!   `message_id` the message's id (a redelivery answers as a duplicate),
//!   `reply_to_message` the message replied to; photos, documents, voice and video are
//!   named in the text and described in the sealed raw record (their bytes need
//!   `getFile`, not built yet).
//! - `edited_message` and `edited_channel_post` become `edit` events pointing at the
//!   original, which is never overwritten.
//! - Any other update the Bot API defines is kept whole as a `system` line keyed by
//!   `update_id`; an update of a type this build does not know is quarantined. A skipped
//!   `update_id` raises a gap alert.

use serde_json::{json, Value};

use super::{Handled, Kind, Mapped, Request, Source};
use chatvault_connect::{telegram, Refusal};

pub static KIND: Kind = Kind {
    name: "telegram",
    // With --poll, also `bot_token` (checked by `check_poll`).
    secrets: &["secret_token"],
    settings: &[],
    receive,
    map,
};

fn receive(source: &Source<'_>, req: &Request<'_>) -> Result<Handled, Refusal> {
    req.post_only("Telegram's updates")?;
    telegram::verify(
        source.secret("secret_token")?,
        (req.header)("x-telegram-bot-api-secret-token").as_deref(),
    )?;
    Ok(Handled::acked(req.body.to_vec()))
}

/// One `Update`: its message, and its `update_id` as the source's sequence (a skipped
/// number is an update never delivered).
pub fn map(_: &Source<'_>, body: &[u8]) -> Result<Mapped, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body: {e}"))?;
    let mut m = Mapped::one(record(&v), "telegram");
    m.seq = v["update_id"].as_i64();
    Ok(m)
}

/// The updates of the Bot API (9.x) that carry no message of a chat: kept whole as
/// `system` lines. Anything else is a type this build does not know: quarantined.
const OTHER_UPDATES: &[&str] = &[
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
];

/// Whether a source pulls its updates (`--poll`).
pub fn polls(settings: &std::collections::BTreeMap<String, String>) -> bool {
    settings.get("mode").is_some_and(|m| m == "poll")
}

/// The Bot API server a polling source asks.
pub fn api_base(settings: &std::collections::BTreeMap<String, String>) -> &str {
    settings
        .get("api_base")
        .map_or("https://api.telegram.org", |b| b.trim_end_matches('/'))
}

/// A polling source needs its bot's token, and an API base that is an http(s) URL.
pub fn check_poll(
    secrets: &chatvault_access::sources::Secrets,
    settings: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    if let Some(m) = settings.get("mode").filter(|m| *m != "poll") {
        return Err(format!(
            "mode `{m}`: a telegram source is a webhook, or polls (--poll)"
        ));
    }
    if !polls(settings) {
        if settings.contains_key("api_base") || secrets.contains_key("bot_token") {
            return Err("--api-base and --bot-token-file go with --poll".into());
        }
        return Ok(());
    }
    let token = secrets
        .get("bot_token")
        .map(|t| t.as_str())
        .unwrap_or_default();
    // A bot token is `<bot id>:<35 characters>`; it goes into the URL path.
    let well_formed = token.split_once(':').is_some_and(|(id, rest)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && rest.len() >= 30
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !well_formed {
        return Err(
            "bot token: give the token @BotFather issued (`123456:AA…`) with --bot-token-file"
                .into(),
        );
    }
    super::check_api_base(api_base(settings))
}

/// Unix seconds as RFC 3339.
fn time_of(secs: i64) -> Result<String, String> {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .ok_or_else(|| format!("date {secs} is out of range"))
}

/// Who sent it: the user's names, else the chat's (a channel post).
fn sender(m: &Value) -> (String, Option<String>) {
    let from = if m["from"].is_object() {
        &m["from"]
    } else {
        &m["chat"]
    };
    let id = from["id"]
        .as_i64()
        .map(|i| i.to_string())
        .unwrap_or_else(|| "unknown".into());
    let name = [from["first_name"].as_str(), from["last_name"].as_str()]
        .iter()
        .flatten()
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let name = Some(name)
        .filter(|n| !n.is_empty())
        .or_else(|| from["title"].as_str().map(str::to_owned))
        .or_else(|| from["username"].as_str().map(str::to_owned));
    (id, name)
}

/// The canonical record of an update.
fn record(v: &Value) -> Result<Value, String> {
    let update_id = v["update_id"]
        .as_i64()
        .ok_or("an update without update_id")?;
    let (key, m) = [
        "message",
        "channel_post",
        "edited_message",
        "edited_channel_post",
    ]
    .iter()
    .find_map(|k| v[*k].is_object().then(|| (*k, &v[*k])))
    .unwrap_or(("", &Value::Null));
    if key.is_empty() {
        // Another kind of update (a callback query, a poll, a member change): kept whole.
        let kind = v
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "update_id").cloned())
            .unwrap_or_else(|| "update".into());
        if !OTHER_UPDATES.contains(&kind.as_str()) {
            return Err(format!(
                "update {update_id}: an update of unknown type `{kind}`"
            ));
        }
        return Ok(json!({
            "platform": "telegram", "conversation_id": "updates", "source_id": format!("update-{update_id}"),
            "sender_id": "telegram", "sent_at": time_of(chrono::Utc::now().timestamp())?,
            "kind": "system", "text": format!("[{kind}]"), "extra": v,
        }));
    }
    let chat = &m["chat"];
    let chat_id = chat["id"].as_i64().ok_or("a message without chat.id")?;
    let message_id = m["message_id"]
        .as_i64()
        .ok_or("a message without message_id")?;
    let date = m["date"].as_i64().ok_or("a message without date")?;
    let (sender_id, sender_name) = sender(m);
    let mut r = json!({
        "platform": "telegram",
        "conversation_id": chat_id.to_string(),
        "conversation_kind": if chat["type"] == "private" { "direct" } else { "group" },
        "sender_id": sender_id,
        "text": m["text"].as_str().or_else(|| m["caption"].as_str()).unwrap_or_default(),
        "extra": {"update_id": update_id},
    });
    if let Some(n) = sender_name {
        r["sender_name"] = json!(n);
    }
    if let Some(t) = chat["title"].as_str() {
        r["conversation_title"] = json!(t);
    }
    if key.starts_with("edited_") {
        let at = m["edit_date"].as_i64().unwrap_or(date);
        r["kind"] = json!("edit");
        r["target"] = json!(message_id.to_string());
        r["source_id"] = json!(format!("{message_id}/edit/{at}"));
        r["sent_at"] = json!(time_of(at)?);
        return Ok(r);
    }
    r["source_id"] = json!(message_id.to_string());
    r["sent_at"] = json!(time_of(date)?);
    if let Some(parent) = m["reply_to_message"]["message_id"].as_i64() {
        r["reply_to"] = json!(parent.to_string());
    }
    // Media: named in the text, described in the raw record (the bytes need getFile).
    for (field, kind, mime) in [
        ("photo", "image", "image/jpeg"),
        ("document", "file", "application/octet-stream"),
        ("voice", "voice", "audio/ogg"),
        ("video", "video", "video/mp4"),
        ("audio", "voice", "audio/mpeg"),
    ] {
        if m[field].is_null() {
            continue;
        }
        let f = if m[field].is_array() {
            m[field]
                .as_array()
                .and_then(|a| a.last())
                .cloned()
                .unwrap_or(Value::Null)
        } else {
            m[field].clone()
        };
        // The canonical attachment needs the bytes or their hash: the file is named in
        // the text and kept, as Telegram describes it, in the sealed raw record.
        let name = f["file_name"].as_str().unwrap_or(field);
        r["kind"] = json!(kind);
        if r["text"] == "" {
            r["text"] = json!(format!("[{field} {name}]"));
        }
        r["extra"]["file"] = json!({"field": field, "name": name, "mime": f["mime_type"].as_str().unwrap_or(mime), "file_id": f["file_id"], "file_unique_id": f["file_unique_id"], "file_size": f["file_size"]});
        break;
    }
    if r["kind"].is_null() && m["text"].is_null() && m["caption"].is_null() {
        // A sticker, a location, a contact, a service message: kept whole.
        r["kind"] = json!("other");
        r["extra"] = json!({"update_id": update_id, "message": m});
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_map_to_records() {
        let chat = json!({"id": -1001, "type": "supergroup", "title": "客服群"});
        let from = json!({"id": 42, "is_bot": false, "first_name": "王", "last_name": "女士"});
        type Case = (
            &'static str,
            Value,
            Result<(&'static str, &'static str), &'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "a text",
                json!({"update_id": 1, "message": {"message_id": 7, "date": 1764900000, "chat": chat, "from": from, "text": "退款"}}),
                Ok(("text", "7")),
            ),
            (
                "a reply",
                json!({"update_id": 2, "message": {"message_id": 8, "date": 1764900001, "chat": chat, "from": from, "text": "好", "reply_to_message": {"message_id": 7}}}),
                Ok(("text", "8")),
            ),
            (
                "a photo with a caption",
                json!({"update_id": 3, "message": {"message_id": 9, "date": 1764900002, "chat": chat, "from": from, "caption": "收据", "photo": [{"file_id": "a"}, {"file_id": "b"}]}}),
                Ok(("image", "9")),
            ),
            (
                "an edit",
                json!({"update_id": 4, "edited_message": {"message_id": 7, "date": 1764900000, "edit_date": 1764900060, "chat": chat, "from": from, "text": "退款!"}}),
                Ok(("edit", "7/edit/1764900060")),
            ),
            (
                "a channel post",
                json!({"update_id": 5, "channel_post": {"message_id": 3, "date": 1764900003, "chat": {"id": -1002, "type": "channel", "title": "公告"}, "text": "通知"}}),
                Ok(("text", "3")),
            ),
            (
                "a sticker",
                json!({"update_id": 6, "message": {"message_id": 10, "date": 1764900004, "chat": chat, "from": from, "sticker": {"file_id": "s"}}}),
                Ok(("other", "10")),
            ),
            (
                "a callback query",
                json!({"update_id": 7, "callback_query": {"id": "q", "data": "x"}}),
                Ok(("system", "update-7")),
            ),
            (
                "an update of a type Telegram adds later",
                json!({"update_id": 9, "hologram": {"id": 1}}),
                Err("unknown type `hologram`"),
            ),
            (
                "no update_id",
                json!({"message": {}}),
                Err("without update_id"),
            ),
            (
                "a message without its chat",
                json!({"update_id": 8, "message": {"message_id": 1, "date": 1}}),
                Err("without chat.id"),
            ),
        ];
        for (name, v, want) in cases {
            match (record(&v), want) {
                (Ok(r), Ok((kind, id))) => {
                    assert_eq!(r["kind"].as_str().unwrap_or("text"), kind, "{name}");
                    assert_eq!(r["source_id"], id, "{name}");
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
