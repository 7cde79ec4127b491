//! WeChat, as the PC-database tools export it (WeChat itself has no export):
//! PyWxDump-style CSV (old and new column layouts), MemoTrace (LC044/WeChatMsg) CSV (the
//! 12-column layout and the 9-column one of ≤ 0.2.6), and sjzar/chatlog JSON.
//!
//! Conversations are keyed by the WeChat id (`wxid_…`, `…@chatroom`) where the tool gives
//! it, so the same chat exported by PyWxDump and chatlog lands in one conversation.
//! Revocations become recall events when the record names the revoked message
//! (`<newmsgid>`); otherwise they are kept as system notices tagged `recall`, since a
//! recall event must point at its original.

use chatvault_model::{ConversationKind, MessageKind, Origin, SenderRole, Timestamp};
use serde_json::Value;

use crate::csvmap::{for_each_row, Row};
use crate::draft::{self_alias, Draft};
use crate::jsonstream::{id_of, str_of, walk, Event, Plan};
use crate::source::Source;
use crate::time::{epoch, parse_any, parse_local};
use crate::{text, ImportContext, ImportError, Importer, Probe, Sink};

pub struct PyWxDump;
pub struct MemoTrace;
pub struct Chatlog;

fn first_line(probe: &Probe) -> String {
    probe.text().lines().next().unwrap_or("").trim().to_owned()
}

/// The owner of the export: `--self`, else "我".
fn me(ctx: &ImportContext) -> String {
    ctx.self_name.clone().unwrap_or_else(|| "我".into())
}

fn kind_of_type(t: i64, sub: i64) -> MessageKind {
    match (t, sub) {
        (1, _) => MessageKind::Text,
        (3 | 47, _) => MessageKind::Image,
        (34, _) => MessageKind::Voice,
        (43, _) => MessageKind::Video,
        (48, _) => MessageKind::Location,
        (49, 5) => MessageKind::Link,
        (49, 6) => MessageKind::File,
        (49, 57) => MessageKind::Text,
        (10000 | 10002, _) => MessageKind::System,
        _ => MessageKind::Other,
    }
}

/// `<tag>value</tag>` from WeChat's XML payloads.
fn xml_tag<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    let v = xml[start..end].trim();
    let v = v
        .strip_prefix("<![CDATA[")
        .and_then(|v| v.strip_suffix("]]>"))
        .unwrap_or(v);
    (!v.is_empty()).then_some(v)
}

/// Marks a revocation: a recall event when the revoked message's id is given.
fn revoke(d: &mut Draft, content: &str) {
    if let Some(id) = xml_tag(content, "newmsgid") {
        d.kind = MessageKind::Recall;
        d.target = Some(id.to_owned());
    } else {
        d.kind = MessageKind::System;
        d.tag("recall");
    }
    d.role = SenderRole::System;
    d.text = xml_tag(content, "replacemsg")
        .or_else(|| xml_tag(content, "revokemsg"))
        .unwrap_or(content)
        .to_owned();
}

fn is_revoke(content: &str) -> bool {
    content.contains("<revokemsg>") || content.contains("撤回了一条消息")
}

fn type_name_kind(name: &str) -> MessageKind {
    match name {
        "文本" | "引用回复" => MessageKind::Text,
        "图片" | "动画表情" => MessageKind::Image,
        "语音" => MessageKind::Voice,
        "视频" => MessageKind::Video,
        "文件" => MessageKind::File,
        "位置" => MessageKind::Location,
        "分享链接" | "卡片式链接" | "链接" => MessageKind::Link,
        "系统通知" | "系统消息" => MessageKind::System,
        _ => MessageKind::Other,
    }
}

fn finish(
    d: Draft,
    row: &Row<'_>,
    origin: &Origin,
    sink: &mut Sink<'_>,
) -> Result<(), ImportError> {
    match d.finish(row.raw(), origin.clone()) {
        Ok(m) => sink.message(m),
        Err(e) => sink.reject(origin, e),
    }
}

impl Importer for PyWxDump {
    fn name(&self) -> &'static str {
        "wechat-pywxdump"
    }

    fn description(&self) -> &'static str {
        "WeChat CSV from PyWxDump (id,MsgSvrID,type_name,is_sender,talker,room_name,…), old and new layouts"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        let l = first_line(probe);
        (!probe.is_zip && l.starts_with("id,MsgSvrID,type_name,is_sender,talker,room_name,")) as u8
            * 95
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        for_each_row(source, ctx, sink, &mut |row, sink| {
            if let Some(why) = row.width_error() {
                return sink.reject(&ctx.origin(row.line), why);
            }
            let origin = ctx.origin(row.line);
            let get = |k: &str| row.get(k).map(str::trim).unwrap_or("");
            let room = get("room_name");
            let room = if room.is_empty() { get("talker") } else { room };
            if room.is_empty() {
                return sink.reject(&origin, "no `room_name` or `talker`");
            }
            let mut d = Draft::new("wechat", room);
            d.conversation_kind = Some(if room.ends_with("@chatroom") {
                ConversationKind::Group
            } else {
                ConversationKind::Direct
            });
            d.source_id = Some(get("MsgSvrID").to_owned()).filter(|s| !s.is_empty() && s != "0");
            let time = get("CreateTime");
            let Some(at) = parse_any(time, &ctx.tz) else {
                return sink.reject(
                    &origin,
                    format!("field `CreateTime`: `{time}` is not a date-time"),
                );
            };
            d.sent_at = Some(at);
            let mine = get("is_sender") == "1";
            d.sender_id = if mine {
                me(ctx)
            } else {
                get("talker").to_owned()
            };
            if d.sender_id.is_empty() {
                d.sender_id = room.to_owned();
            }
            // New layout: `msg` and `src`; old layout: `content` = {"src": …, "msg": …}.
            let (msg, src) = match row.get("msg") {
                Some(m) => (m.to_owned(), get("src").to_owned()),
                None => {
                    let content = get("content");
                    // Content that is not `{"msg": text, …}` is kept as the text itself.
                    match serde_json::from_str::<Value>(content) {
                        Ok(v) if str_of(&v, "msg").is_some() => (
                            str_of(&v, "msg").unwrap_or("").to_owned(),
                            str_of(&v, "src").unwrap_or("").to_owned(),
                        ),
                        _ => (content.to_owned(), String::new()),
                    }
                }
            };
            let type_name = get("type_name");
            d.kind = type_name_kind(type_name);
            d.text = msg;
            if type_name == "引用回复" {
                d.tag("quote");
            }
            if d.kind == MessageKind::System || is_revoke(&d.text) {
                d.role = SenderRole::System;
                if is_revoke(&d.text) {
                    let t = d.text.clone();
                    revoke(&mut d, &t);
                }
            }
            if !src.is_empty() && !src.starts_with("http") {
                let rel = src.replace('\\', "/");
                match crate::jsonl::load_attachment(ctx.base_dir.as_deref(), &rel) {
                    Ok(bytes) => d.attach(&rel, bytes),
                    Err(e) => {
                        d.tag("media-not-in-export");
                        sink.warn(&origin, format!("media not imported: {e}"))?;
                    }
                }
            }
            finish(d, row, &origin, sink)
        })
    }
}

impl Importer for MemoTrace {
    fn name(&self) -> &'static str {
        "wechat-memotrace"
    }

    fn description(&self) -> &'static str {
        "WeChat CSV from MemoTrace/WeChatMsg (12 columns, or the 9 of ≤ 0.2.6)"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        let l = first_line(probe);
        (!probe.is_zip && l.starts_with("localId,TalkerId,Type,SubType,IsSender,CreateTime,")) as u8
            * 95
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let title = source
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned());
        for_each_row(source, ctx, sink, &mut |row, sink| {
            let origin = ctx.origin(row.line);
            // Columns by position: ≤ 0.2.6 wrote 9 values under a header that did not
            // always match them (WeChatMsg#160, #174), so the header is not trusted.
            let n = row.record.len();
            if n != 12 && n != 9 {
                return sink.reject(
                    &origin,
                    format!("{n} columns; MemoTrace rows have 12 (or 9 before 0.2.7)"),
                );
            }
            let f = |i: usize| row.record.get(i).map(str::trim).unwrap_or("");
            let talker = f(1);
            if talker.is_empty() {
                return sink.reject(&origin, "column 2 (TalkerId) is empty");
            }
            let conversation = ctx
                .conversation
                .clone()
                .unwrap_or_else(|| format!("talker:{talker}"));
            let mut d = Draft::new("wechat", conversation);
            d.conversation_title = title.clone();
            d.source_id = Some(format!("local:{}", f(0))).filter(|_| !f(0).is_empty());
            let Ok(secs) = f(5).parse::<i64>() else {
                return sink.reject(
                    &origin,
                    format!("column 6 (CreateTime): `{}` is not epoch seconds", f(5)),
                );
            };
            let Some(mut at) = epoch(secs, false) else {
                return sink.reject(
                    &origin,
                    format!("column 6 (CreateTime): {secs} seconds since 1970 is outside the years 0001 to 9999"),
                );
            };
            // StrTime is CreateTime in the exporting machine's zone: the difference is its offset.
            at.offset_s = parse_local(f(8))
                .map(|l| (l.and_utc().timestamp() - secs) as i32)
                .filter(|o| o.abs() <= 14 * 3600);
            d.sent_at = Some(at);
            let mine = f(4) == "1";
            d.sender_id = if mine {
                me(ctx)
            } else if n == 12 && !f(11).is_empty() {
                f(11).to_owned()
            } else {
                format!("talker:{talker}")
            };
            if n == 12 && !mine {
                d.sender_name = Some(f(10).to_owned()).filter(|s| !s.is_empty());
            }
            let (t, sub) = (
                f(2).parse::<i64>().unwrap_or(-1),
                f(3).parse::<i64>().unwrap_or(0),
            );
            d.kind = kind_of_type(t, sub);
            let content = f(7);
            d.text = match d.kind {
                MessageKind::Text | MessageKind::System => content.to_owned(),
                MessageKind::Image => "[图片]".into(),
                MessageKind::Voice => "[语音]".into(),
                MessageKind::Video => "[视频]".into(),
                _ => xml_tag(content, "title").map_or_else(
                    || {
                        if content.starts_with('<') {
                            String::new()
                        } else {
                            content.to_owned()
                        }
                    },
                    str::to_owned,
                ),
            };
            if t == 49 && sub == 57 {
                d.tag("quote");
            }
            if d.kind == MessageKind::System {
                d.role = SenderRole::System;
                if is_revoke(content) {
                    revoke(&mut d, content);
                }
            }
            finish(d, row, &origin, sink)
        })
    }
}

impl Importer for Chatlog {
    fn name(&self) -> &'static str {
        "wechat-chatlog"
    }

    fn transcodes(&self) -> bool {
        true
    }

    fn description(&self) -> &'static str {
        "WeChat JSON from sjzar/chatlog (/api/v1/chatlog?format=json)"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        let t = probe.text();
        let t = t.trim_start();
        let keys = [
            "\"talkerName\"",
            "\"senderName\"",
            "\"isChatRoom\"",
            "\"isSelf\"",
            "\"seq\"",
        ];
        (!probe.is_zip && t.starts_with('[') && keys.iter().filter(|k| t.contains(*k)).count() >= 4)
            as u8
            * 90
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let input =
            text::reader(source).map_err(|e| ImportError::fatal(&ctx.origin(0), e.to_string()))?;
        let plan = |p: &[String]| {
            if p.is_empty() {
                Plan::Stream
            } else {
                Plan::Skip
            }
        };
        walk(input, &ctx.file_label, &plan, &mut |ev| {
            let Event::Item(line, raw, v) = ev else {
                return Ok(());
            };
            let origin = ctx.origin(line);
            match chatlog_message(&v, ctx).and_then(|d| d.finish(raw.into_bytes(), origin.clone()))
            {
                Ok(m) => sink.message(m),
                Err(e) => sink.reject(&origin, e),
            }
        })
    }
}

fn chatlog_message(v: &Value, ctx: &ImportContext) -> Result<Draft, String> {
    let talker = str_of(v, "talker")
        .filter(|t| !t.is_empty())
        .ok_or("field `talker`: missing")?;
    let mut d = Draft::new("wechat", talker);
    d.conversation_title = str_of(v, "talkerName").map(str::to_owned);
    let group = v
        .get("isChatRoom")
        .and_then(Value::as_bool)
        .unwrap_or(talker.ends_with("@chatroom"));
    d.conversation_kind = Some(if group {
        ConversationKind::Group
    } else {
        ConversationKind::Direct
    });
    d.source_id = id_of(v, "seq").map(|s| format!("seq:{s}"));
    let time = str_of(v, "time").ok_or("field `time`: missing")?;
    d.sent_at = Some(Timestamp::parse_rfc3339(time).map_err(|e| format!("field `time`: {e}"))?);
    let mine = v.get("isSelf").and_then(Value::as_bool) == Some(true);
    let sender = str_of(v, "sender").unwrap_or("");
    d.sender_id = if mine && sender.is_empty() {
        me(ctx)
    } else {
        sender.to_owned()
    };
    if d.sender_id.is_empty() {
        d.sender_id = talker.to_owned();
    }
    d.sender_name = str_of(v, "senderName")
        .map(str::to_owned)
        .filter(|s| !s.is_empty());
    if let Some(n) = d.sender_name.as_deref().and_then(|n| self_alias(ctx, n)) {
        d.sender_name = Some(n);
    }
    let t = v.get("type").and_then(Value::as_i64).unwrap_or(1);
    let sub = v.get("subType").and_then(Value::as_i64).unwrap_or(0);
    d.kind = kind_of_type(t, sub);
    let content = str_of(v, "content").unwrap_or("").to_owned();
    let contents = v.get("contents").unwrap_or(&Value::Null);
    if let Some(refer) = contents.get("refer") {
        d.reply_to = id_of(refer, "seq").map(|s| format!("seq:{s}"));
    }
    d.text = if content.is_empty() {
        str_of(contents, "title").unwrap_or("").to_owned()
    } else {
        content.clone()
    };
    if d.kind == MessageKind::System || sender == "系统消息" {
        d.kind = MessageKind::System;
        d.role = SenderRole::System;
        if is_revoke(&content) {
            revoke(&mut d, &content);
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ctx, messages, run_bytes};
    use crate::Parsed;

    #[test]
    fn pywxdump_old_layout_and_revokes() {
        let csv = "id,MsgSvrID,type_name,is_sender,talker,room_name,content,CreateTime\n\
            1,111,文本,0,wxid_a,wxid_a,\"{\"\"src\"\":\"\"\"\",\"\"msg\"\":\"\"你好\"\"}\",2024-10-04 11:42:05\n\
            2,112,系统通知,1,wxid_me,wxid_a,\"{\"\"src\"\":\"\"\"\",\"\"msg\"\":\"\"<revokemsg>你撤回了一条消息</revokemsg>\"\"}\",2024-10-04 11:43:05\n\
            3,113,系统通知,0,wxid_a,wxid_a,\"{\"\"src\"\":\"\"\"\",\"\"msg\"\":\"\"<sysmsg type=\\\"\"revokemsg\\\"\"><revokemsg><newmsgid>111</newmsgid><replacemsg><![CDATA[\\\"\"A\\\"\" 撤回了一条消息]]></replacemsg></revokemsg></sysmsg>\"\"}\",2024-10-04 11:44:05\n\
            4,114,文本,0,wxid_a,wxid_a,x,not-a-time\n";
        let mut c = ctx("old.csv");
        c.tz = "Asia/Shanghai".parse().expect("tz");
        c.self_name = Some("本人".into());
        let out = run_bytes(&PyWxDump, "old.csv", csv.as_bytes(), &c);
        assert!(
            matches!(out.last(), Some(Parsed::Rejected(r)) if r.line == 5 && r.reason.contains("CreateTime")),
            "{out:?}"
        );
        let m = messages(
            out.into_iter()
                .filter(|p| !matches!(p, Parsed::Rejected(_)))
                .collect(),
        );
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[0].text.as_str(), m[0].source_id.as_deref()),
            ("你好", Some("111"))
        );
        assert_eq!(m[0].sent_at.to_rfc3339(), "2024-10-04T11:42:05+08:00");
        assert_eq!(
            (m[1].kind, m[1].sender.id.as_str(), m[1].text.as_str()),
            (MessageKind::System, "本人", "你撤回了一条消息")
        );
        assert_eq!(m[1].tags, vec!["recall".to_owned()]);
        assert_eq!(
            (m[2].kind, m[2].target.as_deref()),
            (MessageKind::Recall, Some("111"))
        );
    }

    #[test]
    fn memotrace_both_layouts() {
        let csv = "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender\n\
            1,7,1,0,0,1728013325,2,在吗,2024-10-04 11:42:05,备注,小王,wxid_w\n\
            2,7,1,0,1,1728013385,2,在,2024-10-04 11:43:05\n\
            3,7,10000,0,0,1728013445,2,\"\"\"小王\"\" 撤回了一条消息\",2024-10-04 11:44:05,,,\n\
            4,7,1,0,0,1728013445,2\n";
        let out = run_bytes(&MemoTrace, "小王.csv", csv.as_bytes(), &ctx("小王.csv"));
        assert!(
            matches!(out.last(), Some(Parsed::Rejected(r)) if r.line == 5),
            "{out:?}"
        );
        let m = messages(
            out.into_iter()
                .filter(|p| !matches!(p, Parsed::Rejected(_)))
                .collect(),
        );
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[0].sender.id.as_str(), m[0].sender.name.as_deref()),
            ("wxid_w", Some("小王"))
        );
        assert_eq!(m[0].sent_at.to_rfc3339(), "2024-10-04T11:42:05+08:00");
        assert_eq!(m[1].sender.id, "我");
        assert_eq!(m[2].kind, MessageKind::System);
        assert!(m[2].tags.contains(&"recall".to_owned()));
        assert_eq!(m[0].conversation_title.as_deref(), Some("小王"));
    }

    #[test]
    fn chatlog_json() {
        let doc = r#"[
 {"seq":1728013325000,"time":"2024-10-04T11:42:05+08:00","talker":"123@chatroom","talkerName":"项目群","isChatRoom":true,"sender":"wxid_a","senderName":"阿甲","isSelf":false,"type":1,"subType":0,"content":"开会了"},
 {"seq":1728013385000,"time":"2024-10-04T11:43:05+08:00","talker":"123@chatroom","talkerName":"项目群","isChatRoom":true,"sender":"wxid_b","senderName":"阿乙","isSelf":true,"type":49,"subType":57,"content":"收到","contents":{"refer":{"seq":1728013325000}}},
 {"seq":1728013445000,"time":"2024-10-04T11:44:05+08:00","talker":"123@chatroom","talkerName":"项目群","isChatRoom":true,"sender":"系统消息","senderName":"系统消息","isSelf":false,"type":10000,"subType":0,"content":"\"阿甲\" 撤回了一条消息"},
 {"seq":1,"talker":"123@chatroom","type":1,"content":"no time"}
]"#;
        let out = run_bytes(&Chatlog, "a.json", doc.as_bytes(), &ctx("a.json"));
        assert!(
            matches!(out.last(), Some(Parsed::Rejected(r)) if r.line == 5 && r.reason.contains("time")),
            "{out:?}"
        );
        let m = messages(
            out.into_iter()
                .filter(|p| !matches!(p, Parsed::Rejected(_)))
                .collect(),
        );
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[0].conversation_id.as_str(), m[0].conversation_kind),
            ("123@chatroom", Some(ConversationKind::Group))
        );
        assert_eq!(m[1].reply_to.as_deref(), Some("seq:1728013325000"));
        assert_eq!(m[2].kind, MessageKind::System);
    }
}
