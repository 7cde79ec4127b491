//! Property: messages written in format X (the way its exporter writes them) and
//! imported again come back the same: sender, instant, text and order.

use std::io::Write;

use chatvault_import::{by_name, collect, ImportContext, Limits, Parsed, Source};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
struct Msg {
    sender: String,
    /// Seconds since the epoch, UTC (the tests read local times in UTC).
    at: i64,
    text: String,
}

const SENDERS: &[&str] = &[
    "张三",
    "Li Si",
    "Ann-Marie",
    "王 五",
    "😀 Emoji",
    "Jean d'Arc",
];

/// Text lines a line-based export can carry: they start with a letter (not a digit or
/// bracket that could look like a header), have no tabs or quotes, and are not empty.
fn plain_line() -> impl Strategy<Value = String> {
    "[a-zA-Z你好世界中文测试]{1}[a-zA-Z0-9 你好世界中文测试，。!?:😀é]{0,30}"
        .prop_map(|s| s.trim_end().to_owned())
}

fn plain_text() -> impl Strategy<Value = String> {
    prop::collection::vec(plain_line(), 1..4).prop_map(|l| l.join("\n"))
}

/// Text for structured formats (JSON, CSV): anything printable, quotes and all.
fn any_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 \"',;\\\\{}<>&你好世界😀\n\t]{1,40}"
}

fn messages(text: impl Strategy<Value = String>, seconds: bool) -> impl Strategy<Value = Vec<Msg>> {
    let one =
        (0..SENDERS.len(), 946_684_800i64..1_900_000_000, text).prop_map(move |(s, at, text)| {
            Msg {
                sender: SENDERS[s].to_owned(),
                at: if seconds { at } else { at - at % 60 },
                text,
            }
        });
    prop::collection::vec(one, 1..12)
}

fn dt(at: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(at, 0).expect("time")
}

fn import(format: &str, name: &str, bytes: &[u8]) -> Vec<Msg> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write");
    let source = Source::open(&path, &Limits::default()).expect("open");
    let mut ctx = ImportContext {
        file_label: name.into(),
        ..ImportContext::default()
    };
    ctx.csv_map =
        Some(chatvault_import::CsvMap::parse("time=time,sender=sender,text=text").expect("map"));
    let probe = source.probe().expect("probe");
    assert_eq!(
        chatvault_import::detect(&probe).map(|i| i.name()).ok(),
        Some(format),
        "detected by content"
    );
    collect(by_name(format).expect("format"), &source, &ctx)
        .into_iter()
        .filter_map(|p| match p {
            Parsed::Message(m) => Some(Msg {
                sender: m.sender.name.unwrap_or(m.sender.id),
                at: m.sent_at.utc_ms / 1000,
                text: m.text,
            }),
            Parsed::Warning(_) => None,
            Parsed::Rejected(r) => panic!("{format}: rejected line {}: {}", r.line, r.reason),
        })
        .collect()
}

fn same(format: &str, want: &[Msg], got: &[Msg]) -> Result<(), TestCaseError> {
    prop_assert_eq!(want.len(), got.len(), "{}: count", format);
    for (w, g) in want.iter().zip(got) {
        prop_assert_eq!(&w.sender, &g.sender, "{}", format);
        prop_assert_eq!(w.at, g.at, "{}", format);
        prop_assert_eq!(&w.text, &g.text, "{}", format);
    }
    Ok(())
}

fn whatsapp_android(ms: &[Msg]) -> String {
    // Day first, with a day above 12 so the order is certain.
    let mut out = "13/01/2000, 00:00 - Messages and calls are end-to-end encrypted.\r\n".to_owned();
    for m in ms {
        out.push_str(&format!(
            "{} - {}: {}\n",
            dt(m.at).format("%d/%m/%Y, %H:%M"),
            m.sender,
            m.text
        ));
    }
    out
}

fn whatsapp_ios(ms: &[Msg]) -> String {
    let mut out = String::new();
    for m in ms {
        let t = dt(m.at);
        let h12 = t
            .format("%I")
            .to_string()
            .trim_start_matches('0')
            .to_owned();
        out.push_str(&format!(
            "[{}, {}:{}\u{202f}{}] {}: {}\r\n",
            t.format("%-m/%-d/%y"),
            h12,
            t.format("%M:%S"),
            t.format("%p"),
            m.sender,
            m.text.replace('\n', "\r\n")
        ));
    }
    out + "[12/31/20, 11:59:59\u{202f}PM] x: y\r\n"
}

fn qq(ms: &[Msg]) -> String {
    let mut out = "消息记录（此消息记录为文本格式，不支持重新导入）\r\n\r\n================================================================\r\n消息分组:我的好友\r\n================================================================\r\n消息对象:测试\r\n================================================================\r\n\r\n".to_owned();
    for m in ms {
        out.push_str(&format!(
            "{} {}(10001)\r\n{}\r\n\r\n",
            dt(m.at).format("%Y-%m-%d %-H:%M:%S"),
            m.sender,
            m.text.replace('\n', "\r\n")
        ));
    }
    out
}

fn line(ms: &[Msg]) -> String {
    let mut out = "[LINE] Chat history with 测试\nSaved on: 2030/01/01 00:00\n\n".to_owned();
    let mut day = String::new();
    for m in ms {
        let d = dt(m.at).format("%Y/%m/%d %a").to_string();
        if d != day {
            out.push_str(&format!("{d}\n"));
            day = d;
        }
        let text = if m.text.contains('\n') {
            format!("\"{}\"", m.text)
        } else {
            m.text.clone()
        };
        out.push_str(&format!(
            "{}\t{}\t{}\n",
            dt(m.at).format("%H:%M"),
            m.sender,
            text
        ));
    }
    out
}

fn signal(ms: &[Msg]) -> String {
    ms.iter()
        .map(|m| {
            format!(
                "[{}] {}: {}\n",
                dt(m.at).format("%Y-%m-%d %H:%M:%S"),
                m.sender,
                m.text
            )
        })
        .collect()
}

fn telegram(ms: &[Msg]) -> String {
    let messages: Vec<_> = ms
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"id": i + 1, "type": "message", "date": dt(m.at).format("%Y-%m-%dT%H:%M:%S").to_string(), "date_unixtime": m.at.to_string(), "from": m.sender, "from_id": format!("user{}", m.sender.len()), "text": m.text, "text_entities": []}))
        .collect();
    serde_json::to_string_pretty(
        &json!({"name": "测试", "type": "personal_chat", "id": 1, "messages": messages}),
    )
    .expect("json")
}

fn discord(ms: &[Msg]) -> String {
    let messages: Vec<_> = ms
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"id": (1000 + i).to_string(), "type": "Default", "timestamp": dt(m.at).format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string(), "timestampEdited": null, "content": m.text, "author": {"id": "1", "name": m.sender, "nickname": m.sender, "isBot": false}, "attachments": []}))
        .collect();
    serde_json::to_string_pretty(&json!({"guild": {"id": "1", "name": "g"}, "channel": {"id": "2", "type": "GuildTextChat", "name": "c"}, "dateRange": {}, "messages": messages})).expect("json")
}

/// Meta writes every non-ASCII string as its UTF-8 bytes, one `\u00XX` escape per byte.
fn mojibake(s: &str) -> String {
    s.bytes().map(char::from).collect()
}

fn messenger(ms: &[Msg]) -> String {
    let mut messages: Vec<_> = ms.iter().map(|m| json!({"sender_name": mojibake(&m.sender), "timestamp_ms": m.at * 1000, "content": mojibake(&m.text)})).collect();
    messages.reverse();
    serde_json::to_string_pretty(&json!({"participants": [{"name": "a"}, {"name": "b"}], "messages": messages, "title": mojibake("测试"), "thread_path": "inbox/x_1"})).expect("json")
}

fn wecom(ms: &[Msg]) -> String {
    ms.iter()
        .enumerate()
        .map(|(i, m)| json!({"msgid": format!("{i}_x"), "action": "send", "from": m.sender, "tolist": ["b"], "roomid": "", "msgtime": m.at * 1000, "msgtype": "text", "text": {"content": m.text}}).to_string() + "\n")
        .collect()
}

fn csv(ms: &[Msg]) -> String {
    let mut w = ::csv::Writer::from_writer(vec![]);
    w.write_record(["time", "sender", "text"]).expect("csv");
    for m in ms {
        w.write_record([
            dt(m.at).format("%Y-%m-%d %H:%M:%S").to_string(),
            m.sender.clone(),
            m.text.clone(),
        ])
        .expect("csv");
    }
    String::from_utf8(w.into_inner().expect("csv")).expect("utf8")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn whatsapp_android_round_trip(ms in messages(plain_text(), false)) {
        let got = import("whatsapp", "WhatsApp Chat with 测试.txt", whatsapp_android(&ms).as_bytes());
        same("whatsapp-android", &ms, &got[1..])?;
    }

    #[test]
    fn whatsapp_ios_round_trip(ms in messages(plain_text(), true)) {
        let got = import("whatsapp", "_chat.txt", whatsapp_ios(&ms).as_bytes());
        same("whatsapp-ios", &ms, &got[..got.len() - 1])?;
    }

    #[test]
    fn qq_round_trip(ms in messages(plain_text(), true)) {
        same("qq", &ms, &import("qq", "qq.txt", qq(&ms).as_bytes()))?;
    }

    #[test]
    fn qq_gbk_round_trip(ms in messages("[a-z你好世界中文测试]{1,20}", true)) {
        let text = qq(&ms);
        let (gbk, _, _) = encoding_rs::GB18030.encode(&text);
        same("qq-gbk", &ms, &import("qq", "qq.txt", &gbk))?;
    }

    #[test]
    fn line_round_trip(ms in messages(plain_text(), false)) {
        let mut ms = ms;
        ms.sort_by_key(|m| m.at);
        same("line", &ms, &import("line", "line.txt", line(&ms).as_bytes()))?;
    }

    #[test]
    fn signal_round_trip(ms in messages(plain_text(), true)) {
        same("signal", &ms, &import("signal", "chat.md", signal(&ms).as_bytes()))?;
    }

    #[test]
    fn telegram_round_trip(ms in messages(any_text(), true)) {
        same("telegram", &ms, &import("telegram", "result.json", telegram(&ms).as_bytes()))?;
    }

    #[test]
    fn discord_round_trip(ms in messages(any_text(), true)) {
        same("discord", &ms, &import("discord", "c.json", discord(&ms).as_bytes()))?;
    }

    #[test]
    fn messenger_round_trip(ms in messages(any_text(), true)) {
        let mut got = import("messenger", "message_1.json", messenger(&ms).as_bytes());
        got.reverse();
        same("messenger", &ms, &got)?;
    }

    #[test]
    fn wecom_round_trip(ms in messages(any_text(), true)) {
        same("wecom", &ms, &import("wecom", "a.jsonl", wecom(&ms).as_bytes()))?;
    }

    #[test]
    fn csv_round_trip(ms in messages(any_text(), true)) {
        same("csv", &ms, &import("csv", "a.csv", csv(&ms).as_bytes()))?;
    }
}
