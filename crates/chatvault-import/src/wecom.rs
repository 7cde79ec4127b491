//! WeCom 会话内容存档: the decrypted `GetChatData` payloads, one JSON object per line or
//! a JSON array of them. Every documented `msgtype` becomes a message with readable text;
//! `action=recall` becomes a recall event pointing at `pre_msgid`; switch logs (which
//! have no `msgtype`) become system messages.
//!
//! Senders are classified by id: `wm…`/`wo…` are external contacts (customers), `wb…`
//! are robots, anything else is a member of the enterprise (an agent).

use chatvault_model::{ConversationKind, MessageKind, Origin, SenderRole};
use serde_json::Value;

use crate::draft::Draft;
use crate::jsonstream::{id_of, str_of, walk, Event, Plan};
use crate::lines::Line;
use crate::source::Source;
use crate::time::epoch;
use crate::{text, ImportContext, ImportError, Importer, Probe, Sink};

pub struct WeCom;

impl Importer for WeCom {
    fn name(&self) -> &'static str {
        "wecom"
    }

    fn transcodes(&self) -> bool {
        true
    }

    fn description(&self) -> &'static str {
        "WeCom 会话内容存档 decrypted messages (JSON lines or a JSON array)"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        if probe.is_zip {
            return 0;
        }
        let t = probe.text();
        let t = t.trim_start();
        if !(t.starts_with('{') || t.starts_with('[')) || !t.contains("\"msgid\"") {
            return 0;
        }
        let hits = [
            "\"action\"",
            "\"msgtype\"",
            "\"msgtime\"",
            "\"tolist\"",
            "\"roomid\"",
        ]
        .iter()
        .filter(|k| t.contains(*k))
        .count();
        if hits >= 2 {
            90
        } else {
            0
        }
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let io = |e: std::io::Error| ImportError::fatal(&ctx.origin(0), e.to_string());
        let mut input = text::reader(source).map_err(io)?;
        let first = loop {
            let buf = std::io::BufRead::fill_buf(&mut input).map_err(io)?;
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => break Some(buf[i]),
                None if buf.is_empty() => break None,
                None => {
                    let n = buf.len();
                    std::io::BufRead::consume(&mut input, n);
                }
            }
        };
        if first == Some(b'[') {
            let plan = |p: &[String]| {
                if p.is_empty() {
                    Plan::Stream
                } else {
                    Plan::Skip
                }
            };
            return walk(input, &ctx.file_label, &plan, &mut |ev| match ev {
                Event::Item(line, raw, v) => record(&v, raw.into_bytes(), ctx.origin(line), sink),
                _ => Ok(()),
            });
        }
        // `text::lines` also flags transcoded lines that hold undecodable bytes.
        for line in text::lines(source).map_err(io)? {
            match line {
                Line::Text { text, .. } if text.trim().is_empty() => {}
                Line::Text { number, text } => match serde_json::from_str::<Value>(&text) {
                    Ok(v) => record(&v, text.into_bytes(), ctx.origin(number), sink)?,
                    Err(e) => sink.reject(&ctx.origin(number), format!("invalid JSON: {e}"))?,
                },
                Line::TooLong { number, bytes } => sink.reject(
                    &ctx.origin(number),
                    format!("line is {bytes} bytes, too long"),
                )?,
                Line::Undecodable {
                    number,
                    valid_up_to,
                    ..
                } => sink.reject(&ctx.origin(number), crate::lines::undecodable(valid_up_to))?,
                Line::IoError { number, error } => {
                    return Err(ImportError::fatal(&ctx.origin(number), error))
                }
            }
        }
        Ok(())
    }
}

fn record(v: &Value, raw: Vec<u8>, origin: Origin, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    match draft(v).and_then(|d| d.finish(raw, origin.clone())) {
        Ok(m) => sink.message(m),
        Err(e) => sink.reject(&origin, e),
    }
}

fn role(id: &str) -> SenderRole {
    if id.starts_with("wm") || id.starts_with("wo") {
        SenderRole::Customer
    } else if id.starts_with("wb") {
        SenderRole::System
    } else {
        SenderRole::Agent
    }
}

fn draft(v: &Value) -> Result<Draft, String> {
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    let msgid = id_of(v, "msgid").ok_or("field `msgid`: missing")?;
    let action = str_of(v, "action").unwrap_or("send");
    if action == "switch" {
        // 切换企业日志: {msgid, action, time, user}
        let user = id_of(v, "user").ok_or("field `user`: missing in a switch log")?;
        let mut d = Draft::new("wecom", format!("switch:{user}"));
        d.source_id = Some(msgid);
        d.sent_at = Some(
            epoch(
                v.get("time")
                    .and_then(Value::as_i64)
                    .ok_or("field `time`: missing")?,
                true,
            )
            .ok_or("field `time`: out of range")?,
        );
        d.sender_id = user;
        d.role = SenderRole::System;
        d.kind = MessageKind::System;
        d.text = "切换企业 (switched enterprise)".into();
        return Ok(d);
    }
    let from = id_of(v, "from").ok_or("field `from`: missing")?;
    let tolist: Vec<String> = v
        .get("tolist")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect();
    let room = str_of(v, "roomid").filter(|r| !r.is_empty());
    let (conversation, kind) = match room {
        Some(r) => (format!("room:{r}"), ConversationKind::Group),
        None => {
            let mut pair = [from.clone(), tolist.first().cloned().unwrap_or_default()];
            pair.sort();
            (
                format!("single:{}", pair.join("|")),
                ConversationKind::Direct,
            )
        }
    };
    let mut d = Draft::new("wecom", conversation);
    d.conversation_kind = Some(kind);
    d.source_id = Some(msgid);
    let ms = v
        .get("msgtime")
        .and_then(Value::as_i64)
        .ok_or("field `msgtime`: missing or not a number")?;
    d.sent_at =
        Some(epoch(ms, true).ok_or_else(|| crate::time::why_no_epoch("msgtime", ms, true))?);
    d.role = role(&from);
    d.sender_id = from;
    let msgtype = str_of(v, "msgtype").ok_or("field `msgtype`: missing")?;
    let body_key = match msgtype {
        "docmsg" => "doc",
        "markdown" | "news" => "info",
        "external_redpacket" => "redpacket",
        other => other,
    };
    let body = v.get(body_key).unwrap_or(&Value::Null);
    if action == "recall" || msgtype == "revoke" {
        d.kind = MessageKind::Recall;
        d.target = Some(id_of(body, "pre_msgid").ok_or("field `revoke.pre_msgid`: missing")?);
        d.text = "撤回了一条消息".into();
        return Ok(d);
    }
    let s = |k: &str| str_of(body, k).unwrap_or("").to_owned();
    // The text of a text message: `{content: …}`, never a bare value.
    let content = || -> Result<String, String> {
        if !body.is_object() {
            return Err(format!("field `{body_key}`: not an object with `content`"));
        }
        Ok(crate::jsonstream::text_of(body, "content")
            .map_err(|e| format!("{body_key}.{e}"))?
            .unwrap_or("")
            .to_owned())
    };
    let (kind, text) = match msgtype {
        "text" => (MessageKind::Text, content()?),
        "markdown" => (MessageKind::Text, content()?),
        "image" => (MessageKind::Image, "[图片]".into()),
        "voice" => (
            MessageKind::Voice,
            format!(
                "[语音 {}秒]",
                body.get("play_length").and_then(Value::as_i64).unwrap_or(0)
            ),
        ),
        "video" => (MessageKind::Video, "[视频]".into()),
        "emotion" => (MessageKind::Image, "[表情]".into()),
        "file" => (MessageKind::File, format!("[文件] {}", s("filename"))),
        "link" => (
            MessageKind::Link,
            [s("title"), s("description"), s("link_url")]
                .into_iter()
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        "weapp" => (
            MessageKind::Link,
            format!("[小程序] {} {}", s("displayname"), s("title"))
                .trim()
                .to_owned(),
        ),
        "location" => (
            MessageKind::Location,
            [s("title"), s("address")]
                .into_iter()
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "card" => (
            MessageKind::Other,
            format!("[名片] {} {}", s("corpname"), s("userid"))
                .trim()
                .to_owned(),
        ),
        "agree" => (
            MessageKind::System,
            "同意会话存档 (agreed to archiving)".into(),
        ),
        "disagree" => (
            MessageKind::System,
            "不同意会话存档 (declined archiving)".into(),
        ),
        "news" => (MessageKind::Link, news_text(body)),
        "chatrecord" => (MessageKind::Other, chatrecord_text(body)),
        "mixed" => (MessageKind::Text, mixed_text(body)),
        "meeting_voice_call" | "voip_doc_share" | "meeting" | "calendar" | "vote" | "todo"
        | "collect" | "redpacket" | "external_redpacket" | "docmsg" | "sphfeed" | "voiptext"
        | "qydiskfile" => {
            let title = ["title", "topic", "wish", "content", "feed_desc", "filename"]
                .iter()
                .map(|k| s(k))
                .find(|x| !x.is_empty())
                .unwrap_or_default();
            (
                MessageKind::Other,
                format!("[{msgtype}] {title}").trim().to_owned(),
            )
        }
        other => (MessageKind::Other, format!("[{other}]")),
    };
    d.kind = kind;
    d.text = text;
    if !matches!(msgtype, "text" | "markdown") {
        d.tag(msgtype);
    }
    Ok(d)
}

fn news_text(body: &Value) -> String {
    body.get("item")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|i| {
            [
                str_of(i, "title"),
                str_of(i, "description"),
                str_of(i, "url"),
            ]
        })
        .flatten()
        .filter(|x| !x.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Item contents are JSON strings inside the JSON; their text is shown, one per line.
fn item_text(item: &Value) -> String {
    let content = str_of(item, "content").unwrap_or("");
    match serde_json::from_str::<Value>(content) {
        Ok(inner) => ["content", "title", "filename"]
            .iter()
            .find_map(|k| str_of(&inner, k))
            .unwrap_or("")
            .to_owned(),
        Err(_) => content.to_owned(),
    }
}

fn chatrecord_text(body: &Value) -> String {
    let mut out = vec![format!(
        "[聊天记录] {}",
        str_of(body, "title").unwrap_or("")
    )];
    for item in body
        .get("item")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let t = item_text(item);
        if !t.is_empty() {
            out.push(t);
        }
    }
    out.join("\n")
}

fn mixed_text(body: &Value) -> String {
    body.get("item")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|i| match str_of(i, "type") {
            Some("text") => item_text(i),
            Some(other) => format!("[{other}]"),
            None => String::new(),
        })
        .filter(|x| !x.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ctx, run_bytes};
    use crate::Parsed;

    #[test]
    fn wecom_table() {
        // (name, record, Ok(kind, text fragment) or Err(reason fragment))
        type Want<'a> = Result<(MessageKind, &'a str), &'a str>;
        let cases: Vec<(&str, &str, Want)> = vec![
            (
                "text",
                r#"{"msgid":"1","action":"send","from":"zhangsan","tolist":["wmX"],"roomid":"","msgtime":1603875615723,"msgtype":"text","text":{"content":"您好"}}"#,
                Ok((MessageKind::Text, "您好")),
            ),
            (
                "recall",
                r#"{"msgid":"2","action":"recall","from":"zhangsan","tolist":["wmX"],"roomid":"","msgtime":1603875615723,"msgtype":"revoke","revoke":{"pre_msgid":"1"}}"#,
                Ok((MessageKind::Recall, "撤回")),
            ),
            (
                "switch",
                r#"{"msgid":"3","action":"switch","time":1554119421840,"user":"XuJinSheng"}"#,
                Ok((MessageKind::System, "切换企业")),
            ),
            (
                "docmsg_key",
                r#"{"msgid":"4","action":"send","from":"a","tolist":["b"],"roomid":"r1","msgtime":1,"msgtype":"docmsg","doc":{"title":"周报","doc_creator":"a","link_url":"u"}}"#,
                Ok((MessageKind::Other, "周报")),
            ),
            (
                "markdown_info",
                r##"{"msgid":"5","action":"send","from":"a","tolist":["b"],"roomid":"","msgtime":1,"msgtype":"markdown","info":{"content":"# 标题"}}"##,
                Ok((MessageKind::Text, "# 标题")),
            ),
            (
                "big_meetingid",
                r#"{"msgid":"6","action":"send","from":"a","tolist":["b"],"roomid":"","msgtime":1,"msgtype":"meeting","meeting":{"topic":"会议","meetingid":123456789012345678901234567890}}"#,
                Ok((MessageKind::Other, "会议")),
            ),
            (
                "unknown_type",
                r#"{"msgid":"7","action":"send","from":"a","tolist":["b"],"roomid":"","msgtime":1,"msgtype":"hologram","hologram":{}}"#,
                Ok((MessageKind::Other, "[hologram]")),
            ),
            (
                "no_msgid",
                r#"{"action":"send","from":"a","msgtime":1,"msgtype":"text","text":{"content":"x"}}"#,
                Err("msgid"),
            ),
            (
                "recall_without_pre",
                r#"{"msgid":"8","action":"recall","from":"a","tolist":["b"],"roomid":"","msgtime":1,"msgtype":"revoke","revoke":{}}"#,
                Err("pre_msgid"),
            ),
            (
                "msgtime_string",
                r#"{"msgid":"9","action":"send","from":"a","tolist":["b"],"roomid":"","msgtime":"soon","msgtype":"text","text":{"content":"x"}}"#,
                Err("msgtime"),
            ),
            ("not_object", r#""a string""#, Err("object")),
            ("bad_json", r#"{"msgid":"#, Err("JSON")),
        ];
        for (name, line, want) in cases {
            let out = run_bytes(
                &WeCom,
                "a.jsonl",
                format!("{line}\n").as_bytes(),
                &ctx("a.jsonl"),
            );
            match (&out[..], want) {
                ([Parsed::Message(m)], Ok((kind, frag))) => {
                    assert_eq!(m.kind, kind, "{name}");
                    assert!(m.text.contains(frag), "{name}: {}", m.text);
                    assert_eq!(m.raw, line.as_bytes(), "{name}: raw kept exactly");
                }
                ([Parsed::Rejected(r)], Err(frag)) => {
                    assert!(r.reason.contains(frag), "{name}: {}", r.reason)
                }
                (other, _) => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn array_form_and_roles() {
        let doc = "[\n{\"msgid\":\"1\",\"action\":\"send\",\"from\":\"wmCustomer\",\"tolist\":[\"agent1\"],\"roomid\":\"\",\"msgtime\":1,\"msgtype\":\"text\",\"text\":{\"content\":\"在吗\"}},\n{\"msgid\":\"2\",\"action\":\"send\",\"from\":\"agent1\",\"tolist\":[\"wmCustomer\"],\"roomid\":\"\",\"msgtime\":2,\"msgtype\":\"text\",\"text\":{\"content\":\"在的\"}}\n]";
        let out = run_bytes(&WeCom, "a.json", doc.as_bytes(), &ctx("a.json"));
        let m = crate::testutil::messages(out);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].sender.role, m[1].sender.role),
            (SenderRole::Customer, SenderRole::Agent)
        );
        assert_eq!(
            m[0].conversation_id, m[1].conversation_id,
            "both directions are one conversation"
        );
        assert_eq!(m[1].origin.line, 3);
    }
}
