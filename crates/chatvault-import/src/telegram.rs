//! Telegram Desktop "Export chat history" / "Export Telegram data": `result.json`, in the
//! single-chat shape (`{name, type, id, messages}`) or the full-account shape
//! (`{chats: {list: [...]}, left_chats: {list: [...]}, ...}`), streamed message by message.

use chatvault_model::{ConversationKind, MessageKind, SenderRole, Timestamp};
use serde_json::Value;

use crate::draft::{kind_for_mime, mime_for, Draft};
use crate::jsonstream::{id_of, str_of, walk, Event, FixHexEscapes, Plan};
use crate::source::Source;
use crate::time::{epoch, parse_local, LocalTime};
use crate::{text, ImportContext, ImportError, Importer, Probe, Sink};

pub struct Telegram;

#[derive(Default, Clone)]
struct Chat {
    id: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    /// For a chat with no id or name: a key from its first message's content, the same
    /// whichever file or path the export is imported from.
    anonymous: Option<String>,
}

fn plan(path: &[String]) -> Plan {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["name" | "type" | "id"] => Plan::Keep,
        ["messages"] => Plan::Stream,
        ["chats" | "left_chats"] => Plan::Descend,
        ["chats" | "left_chats", "list"] => Plan::Descend,
        ["chats" | "left_chats", "list", _] => Plan::Descend,
        ["chats" | "left_chats", "list", _, "name" | "type" | "id"] => Plan::Keep,
        ["chats" | "left_chats", "list", _, "messages"] => Plan::Stream,
        _ => Plan::Skip,
    }
}

impl Importer for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn transcodes(&self) -> bool {
        true
    }

    fn description(&self) -> &'static str {
        "Telegram Desktop result.json (one chat or the whole account)"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        if probe.is_zip {
            return 0;
        }
        let t = probe.text();
        let t = t.trim_start();
        if !t.starts_with('{') {
            return 0;
        }
        let chat_types = [
            "\"personal_chat\"",
            "\"private_group\"",
            "\"private_supergroup\"",
            "\"public_supergroup\"",
            "\"bot_chat\"",
            "\"saved_messages\"",
            "\"private_channel\"",
            "\"public_channel\"",
        ];
        let single = chat_types.iter().any(|k| t.contains(k)) && t.contains("\"messages\"");
        let account = t.contains("\"personal_information\"")
            || (t.contains("\"chats\"") && t.contains("\"list\""));
        // Old Desktop versions write neither `date_unixtime` nor `text_entities`.
        let message = t.contains("\"date_unixtime\"")
            || t.contains("\"text_entities\"")
            || (t.contains("\"from_id\"") && t.contains("\"date\""));
        match (single || account, message) {
            (true, _) => 90,
            (false, true) => 60,
            _ => 0,
        }
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let input =
            text::reader(source).map_err(|e| ImportError::fatal(&ctx.origin(0), e.to_string()))?;
        let mut chat = Chat::default();
        let mut on = |ev: Event<'_>| -> Result<(), ImportError> {
            match ev {
                Event::Enter(p) if p.len() == 3 => chat = Chat::default(),
                Event::Value(p, v) => match p.last().map(String::as_str) {
                    Some("id") => chat.id = id_of(&serde_json::json!({"id": v}), "id"),
                    Some("name") => chat.name = v.as_str().map(str::to_owned),
                    Some("type") => chat.kind = v.as_str().map(str::to_owned),
                    _ => {}
                },
                Event::Item(line, raw, v) => {
                    let origin = ctx.origin(line);
                    if chat.id.is_none() && chat.name.is_none() && chat.anonymous.is_none() {
                        use sha2::Digest;
                        let h = sha2::Sha256::digest(raw.as_bytes());
                        chat.anonymous = Some(format!("anon:{}", hex::encode(&h[..8])));
                    }
                    match message(&chat, &v, ctx, sink, &origin) {
                        Ok(d) => match d.finish(raw.into_bytes(), origin.clone()) {
                            Ok(m) => sink.message(m)?,
                            Err(e) => sink.reject(&origin, e)?,
                        },
                        Err(MsgError::Reject(e)) => sink.reject(&origin, e)?,
                        Err(MsgError::Import(e)) => return Err(e),
                    }
                }
                _ => {}
            }
            Ok(())
        };
        walk(FixHexEscapes::new(input), &ctx.file_label, &plan, &mut on)
    }
}

enum MsgError {
    Reject(String),
    Import(ImportError),
}

impl From<ImportError> for MsgError {
    fn from(e: ImportError) -> Self {
        MsgError::Import(e)
    }
}

/// The text of a message: a string, or an array of strings and `{type, text}` entities.
fn flatten_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| match p {
                Value::String(s) => s.as_str(),
                other => str_of(other, "text").unwrap_or(""),
            })
            .collect(),
        _ => String::new(),
    }
}

fn sent_at(v: &Value, ctx: &ImportContext) -> Result<Timestamp, String> {
    let local = str_of(v, "date").and_then(parse_local);
    if let Some(unix) = id_of(v, "date_unixtime") {
        let secs: i64 = unix
            .parse()
            .map_err(|_| format!("date_unixtime `{unix}` is not a number"))?;
        let mut t = epoch(secs, false)
            .ok_or_else(|| crate::time::why_no_epoch("date_unixtime", secs, false))?;
        // `date` is the exporting machine's wall clock: the difference is its offset.
        t.offset_s = local
            .map(|l| (l.and_utc().timestamp() - secs) as i32)
            .filter(|o| o.abs() <= 14 * 3600 && o % 60 == 0);
        return Ok(t);
    }
    let local = match (local, str_of(v, "date")) {
        (Some(l), _) => l,
        (None, Some(d)) => {
            return Err(format!(
                "field `date`: `{}` is not a date and time that exists (YYYY-MM-DDTHH:MM:SS)",
                d.chars().take(40).collect::<String>()
            ))
        }
        (None, None) => return Err("no `date` or `date_unixtime`".into()),
    };
    ctx.tz
        .instant(local)
        .ok_or_else(|| "field `date`: outside the years 0001 to 9999".into())
}

const NOT_INCLUDED: char = '(';

fn message(
    chat: &Chat,
    v: &Value,
    ctx: &ImportContext,
    sink: &mut Sink<'_>,
    origin: &chatvault_model::Origin,
) -> Result<Draft, MsgError> {
    if !v.is_object() {
        return Err(MsgError::Reject("the message is not a JSON object".into()));
    }
    // Trimmed exports and old Desktop versions may leave out the chat's id and name:
    // the chat is then named by the file (and its place in the list), so a second
    // import of the same file finds the same conversation.
    let conversation = chat
        .id
        .clone()
        .or_else(|| chat.name.clone())
        .or_else(|| ctx.conversation.clone())
        .or_else(|| chat.anonymous.clone())
        .unwrap_or_default();
    let mut d = Draft::new("telegram", conversation);
    d.conversation_title = chat.name.clone().or_else(|| {
        (chat.kind.as_deref() == Some("saved_messages")).then(|| "Saved Messages".into())
    });
    d.conversation_kind = chat.kind.as_deref().map(|k| match k {
        "personal_chat" | "bot_chat" | "saved_messages" => ConversationKind::Direct,
        _ => ConversationKind::Group,
    });
    // A message without `id` (trimmed exports) is kept: the archive recognises a second
    // copy by its content, as for every source without ids.
    d.source_id = id_of(v, "id");
    d.sent_at = Some(sent_at(v, ctx).map_err(MsgError::Reject)?);
    let service = str_of(v, "type") == Some("service");
    let (id_key, name_key) = if service {
        ("actor_id", "actor")
    } else {
        ("from_id", "from")
    };
    d.sender_id = id_of(v, id_key)
        .or_else(|| str_of(v, name_key).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    d.sender_name = str_of(v, name_key)
        .map(str::to_owned)
        .or_else(|| str_of(v, "author").map(str::to_owned));
    if !matches!(
        v.get("text"),
        None | Some(Value::Null | Value::String(_) | Value::Array(_))
    ) {
        return Err(MsgError::Reject(
            "field `text`: neither text nor a list of text parts".into(),
        ));
    }
    d.text = flatten_text(v.get("text"));
    d.reply_to = id_of(v, "reply_to_message_id");
    if v.get("edited").is_some() || v.get("edited_unixtime").is_some() {
        d.tag("edited");
    }
    if v.get("forwarded_from").is_some() {
        d.tag("forwarded");
    }
    if service {
        d.kind = MessageKind::System;
        d.role = SenderRole::System;
        if d.text.is_empty() {
            d.text = describe_action(v);
        }
        return Ok(d);
    }
    if str_of(v, "type") == Some("unsupported") {
        d.kind = MessageKind::Other;
        d.tag("unsupported");
    }
    let media = [("photo", None), ("file", str_of(v, "media_type"))];
    for (key, media_type) in media {
        let Some(path) = str_of(v, key) else { continue };
        d.kind = match (key, media_type) {
            ("photo", _) | (_, Some("sticker")) => MessageKind::Image,
            (_, Some("voice_message" | "audio_file")) => MessageKind::Voice,
            (_, Some("video_message" | "video_file" | "animation")) => MessageKind::Video,
            _ => kind_for_mime(str_of(v, "mime_type").unwrap_or_else(|| mime_for(path))),
        };
        if path.starts_with(NOT_INCLUDED) {
            d.tag("media-omitted");
            continue;
        }
        match crate::jsonl::load_attachment(ctx.base_dir.as_deref(), path) {
            Ok(bytes) => d.attach(path, bytes),
            Err(e) => sink.warn(origin, format!("media not imported: {e}"))?,
        }
    }
    if v.get("poll").is_some() {
        d.kind = MessageKind::Other;
        d.tag("poll");
        if d.text.is_empty() {
            d.text = v["poll"]
                .get("question")
                .map(|q| flatten_text(Some(q)))
                .unwrap_or_default();
        }
    }
    if v.get("location_information").is_some() {
        d.kind = MessageKind::Location;
    }
    if v.get("contact_information").is_some() {
        d.kind = MessageKind::Other;
        d.tag("contact");
    }
    Ok(d)
}

/// Readable text for a service message, which Telegram exports with an empty `text`.
fn describe_action(v: &Value) -> String {
    let action = str_of(v, "action").unwrap_or("service");
    let mut out = action.replace('_', " ");
    if let Some(title) = str_of(v, "title") {
        out.push_str(&format!(": {title}"));
    }
    if let Some(Value::Array(members)) = v.get("members") {
        let names: Vec<&str> = members.iter().filter_map(Value::as_str).collect();
        out.push_str(&format!(": {}", names.join(", ")));
    }
    if let Some(secs) = v.get("duration_seconds").and_then(Value::as_i64) {
        out.push_str(&format!(" ({secs} s"));
        if let Some(reason) = str_of(v, "discard_reason") {
            out.push_str(&format!(", {reason}"));
        }
        out.push(')');
    }
    if let Some(id) = id_of(v, "message_id") {
        out.push_str(&format!(" (message {id})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ctx, messages, run_bytes};
    use crate::Parsed;

    #[test]
    fn full_account_shape_and_quirks() {
        let doc = r#"{
 "about": "x",
 "personal_information": {"user_id": 1},
 "chats": {"about": "y", "list": [
  {"name": "群聊", "type": "private_supergroup", "id": 42, "messages": [
   {"id": 1, "type": "message", "date": "2024-01-02T10:00:00", "date_unixtime": "1704160800", "from": "张三", "from_id": "user7",
    "text": ["看 ", {"type": "link", "text": "https://t.me"}, "\x0C"], "text_entities": []},
   {"id": 2, "type": "message", "date": "2024-01-02T10:01:00", "edited": "2024-01-02T10:02:00", "from": "李四", "from_id": "user8",
    "reply_to_message_id": 1, "text": "好的", "text_entities": []},
   {"id": 3, "type": "service", "date": "2024-01-02T10:03:00", "actor": "张三", "actor_id": "user7", "action": "invite_members", "members": ["王五"], "text": ""}
  ]},
  {"type": "saved_messages", "id": 43, "messages": [
   {"id": 9, "type": "message", "date": "2024-01-02T10:00:00", "from": "Me", "from_id": "user1", "photo": "(File not included. Change data exporting settings to download.)", "text": ""},
   {"id": 10, "type": "message", "from": "Me", "text": "no date"}
  ]}
 ]},
 "left_chats": {"about": "z", "list": []}
}"#;
        let mut c = ctx("result.json");
        c.tz = "Asia/Shanghai".parse().expect("tz");
        let out = run_bytes(&Telegram, "result.json", doc.as_bytes(), &c);
        let rejected: Vec<_> = out
            .iter()
            .filter_map(|p| {
                if let Parsed::Rejected(r) = p {
                    Some((r.line, r.reason.clone()))
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(rejected.len(), 1, "{rejected:?}");
        assert_eq!(rejected[0].0, 14);
        let m = messages(
            out.into_iter()
                .filter(|p| !matches!(p, Parsed::Rejected(_)))
                .collect(),
        );
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].text, "看 https://t.me\u{c}");
        assert_eq!(m[0].sent_at.to_rfc3339(), "2024-01-02T10:00:00+08:00");
        assert_eq!(m[0].conversation_id, "42");
        assert_eq!(m[0].conversation_kind, Some(ConversationKind::Group));
        assert_eq!(m[1].reply_to.as_deref(), Some("1"));
        assert_eq!(m[1].tags, vec!["edited".to_owned()]);
        assert_eq!(m[1].sent_at.to_rfc3339(), "2024-01-02T10:01:00+08:00");
        assert_eq!(
            (m[2].kind, m[2].text.as_str()),
            (MessageKind::System, "invite members: 王五")
        );
        assert_eq!(
            (m[3].kind, m[3].conversation_title.as_deref()),
            (MessageKind::Image, Some("Saved Messages"))
        );
        assert_eq!(m[3].tags, vec!["media-omitted".to_owned()]);
    }

    /// Trimmed exports and old Desktop versions: messages without `id`, chats without
    /// `id` or `name`, no `date_unixtime`, times before 1970. Each message is imported;
    /// a message is rejected only without a date, naming the field.
    #[test]
    fn trimmed_and_old_exports() {
        type Case<'a> = (
            &'a str,
            &'a str,
            Vec<(&'a str, Option<&'a str>, &'a str)>,
            Vec<&'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                "message_without_id",
                r#"{"name":"Bob","type":"personal_chat","id":7,"messages":[{"type":"message","date":"2020-01-02T10:00:00","from":"Bob","text":"hi"},{"id":2,"type":"message","date":"2020-01-02T10:01:00","from":"Ann","text":"yo"}]}"#,
                vec![
                    ("7", None, "2020-01-02T10:00:00Z"),
                    ("7", Some("2"), "2020-01-02T10:01:00Z"),
                ],
                vec![],
            ),
            (
                "chat_without_id_or_name",
                r#"{"type":"personal_chat","messages":[{"id":1,"type":"message","date":"2020-01-02T10:00:00","from":"Bob","text":"hi"}]}"#,
                vec![("anon:", Some("1"), "2020-01-02T10:00:00Z")],
                vec![],
            ),
            (
                "chat_with_name_only",
                r#"{"name":"Bob","messages":[{"id":1,"date":"2020-01-02T10:00:00","from":"Bob","text":"hi"}]}"#,
                vec![("Bob", Some("1"), "2020-01-02T10:00:00Z")],
                vec![],
            ),
            (
                "account_chats_without_ids",
                r#"{"chats":{"list":[{"messages":[{"date":"2020-01-02T10:00:00","from":"A","text":"x"}]},{"messages":[{"date":"2020-01-03T10:00:00","from":"B","text":"y"},{"from":"B","text":"no date"}]}]}}"#,
                vec![
                    ("anon:", None, "2020-01-02T10:00:00Z"),
                    ("anon:", None, "2020-01-03T10:00:00Z"),
                ],
                vec!["no `date` or `date_unixtime`"],
            ),
            (
                "before_1970",
                r#"{"name":"Old","type":"personal_chat","id":1,"messages":[{"id":1,"type":"message","date":"1969-07-20T20:17:40","date_unixtime":"-14182940","from":"A","text":"x"}]}"#,
                vec![("1", Some("1"), "1969-07-20T20:17:40Z")],
                vec![],
            ),
        ];
        for (name, doc, want, rejected) in cases {
            let out = run_bytes(
                &Telegram,
                "result.json",
                doc.as_bytes(),
                &ctx("result.json"),
            );
            let got: Vec<(String, Option<String>, String)> = out
                .iter()
                .filter_map(|p| match p {
                    Parsed::Message(m) => Some((
                        if m.conversation_id.starts_with("anon:") {
                            "anon:".to_owned()
                        } else {
                            m.conversation_id.clone()
                        },
                        m.source_id.clone(),
                        chatvault_model::Timestamp::utc(m.sent_at.utc_ms).to_rfc3339(),
                    )),
                    _ => None,
                })
                .collect();
            let want: Vec<(String, Option<String>, String)> = want
                .into_iter()
                .map(|(c, s, t)| (c.to_owned(), s.map(str::to_owned), t.to_owned()))
                .collect();
            assert_eq!(got, want, "{name}");
            let reasons: Vec<&str> = out
                .iter()
                .filter_map(|p| match p {
                    Parsed::Rejected(r) => Some(r.reason.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(reasons.len(), rejected.len(), "{name}: {reasons:?}");
            for (r, w) in reasons.iter().zip(&rejected) {
                assert!(r.contains(w), "{name}: {r}");
            }
        }
        // Two chats without ids are two conversations, the same on every import.
        let doc = br#"{"chats":{"list":[{"messages":[{"date":"2020-01-02T10:00:00","from":"A","text":"x"}]},{"messages":[{"date":"2020-01-03T10:00:00","from":"B","text":"y"}]}]}}"#;
        let ids = |label: &str| -> Vec<String> {
            run_bytes(&Telegram, "result.json", doc, &ctx(label))
                .into_iter()
                .filter_map(|p| match p {
                    Parsed::Message(m) => Some(m.conversation_id),
                    _ => None,
                })
                .collect()
        };
        let (first, again) = (ids("result.json"), ids("other/result.json"));
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], first[1]);
        assert_eq!(
            first, again,
            "the key does not depend on the file's name or place"
        );
        // A date that cannot exist names the field and why.
        let out = run_bytes(
            &Telegram,
            "result.json",
            br#"{"name":"a","id":1,"messages":[{"id":1,"date":"2023-02-30T10:00:00","text":"a"}]}"#,
            &ctx("result.json"),
        );
        assert!(
            matches!(&out[..], [Parsed::Rejected(r)] if r.reason.contains("field `date`")),
            "{out:?}"
        );
    }

    #[test]
    fn malformed_documents() {
        let cases: Vec<(&str, &str, usize)> = vec![
            ("truncated", "{\"name\":\"a\",\"type\":\"personal_chat\",\"id\":1,\"messages\":[{\"id\":1,\"type\":\"message\",\"date_unixtime\":\"1\",\"from_id\":\"u\",\"text\":\"a\"},{\"id\":", 2),
            ("messages_not_array", "{\"name\":\"a\",\"type\":\"personal_chat\",\"id\":1,\"messages\":{}}", 1),
            ("bad_unixtime", "{\"name\":\"a\",\"type\":\"personal_chat\",\"id\":1,\"messages\":[{\"id\":1,\"date_unixtime\":\"soon\",\"text\":\"a\"}]}", 1),
            ("no_date", "{\"name\":\"a\",\"type\":\"personal_chat\",\"id\":1,\"messages\":[{\"id\":1,\"text\":\"a\"}]}", 1),
            ("impossible_date", "{\"name\":\"a\",\"type\":\"personal_chat\",\"id\":1,\"messages\":[{\"id\":1,\"date\":\"2023-02-30T10:00:00\",\"text\":\"a\"}]}", 1),
            ("message_not_object", "{\"name\":\"a\",\"type\":\"personal_chat\",\"id\":1,\"messages\":[7]}", 1),
            ("not_json", "hello", 1),
        ];
        for (name, doc, n) in cases {
            let out = run_bytes(
                &Telegram,
                "result.json",
                doc.as_bytes(),
                &ctx("result.json"),
            );
            assert_eq!(out.len(), n, "{name}: {out:?}");
            assert!(
                matches!(out.last(), Some(Parsed::Rejected(_))),
                "{name}: {out:?}"
            );
        }
    }
}
