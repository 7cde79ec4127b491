//! Named malformed inputs for every format: each is rejected with the file, the line and
//! a reason, or refused before anything is read; none panics, and nothing malformed
//! is passed on as a message.

use std::io::Write;
use std::path::Path;

use chatvault_import::{by_name, collect, CsvMap, ImportContext, Limits, Parsed, Source};

fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("entry");
        w.write_all(bytes).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

/// 2,200 continuation lines of 1,000 characters: a message over the 1 MiB limit.
fn long_body(c: &str) -> Vec<u8> {
    format!("{}\n", c.repeat(1000)).repeat(2200).into_bytes()
}

fn run(format: &str, file: &str, bytes: &[u8]) -> Result<Vec<Parsed>, String> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join(file);
    std::fs::write(&path, bytes).expect("write");
    let source = Source::open(&path, &Limits::default()).map_err(|e| e.to_string())?;
    let ctx = ImportContext {
        file_label: file.into(),
        base_dir: path.parent().map(Path::to_owned),
        csv_map: Some(CsvMap::parse("time=time,sender=sender,text=text").expect("map")),
        ..ImportContext::default()
    };
    Ok(collect(by_name(format).expect("format"), &source, &ctx))
}

/// (line, a part of `file:line reason`) for each rejection, in order.
type Rejected = &'static [(u64, &'static str)];

struct Case {
    name: &'static str,
    /// (format, file name, bytes)
    input: (&'static str, &'static str, Vec<u8>),
    rejected: Rejected,
    /// How many records still import (the ones around the damage).
    messages: usize,
}

#[test]
fn malformed_inputs_are_rejected_with_file_line_and_reason() {
    let slack_ok_users: &[u8] = br#"[{"id":"U1","name":"ann"}]"#;
    let slack_channels: &[u8] = br#"[{"id":"C1","name":"general"}]"#;
    let cases: Vec<Case> = vec![        Case { name: "wa_text_before_header", input: ("whatsapp", "chat.txt", b"hello\n06/08/2016, 13:23 - Ash: Hey\n".to_vec()), rejected: &[(1, "text before the first message header")], messages: 1 },
        Case { name: "wa_impossible_date", input: ("whatsapp", "chat.txt", b"06/08/2016, 13:23 - Ash: Hey\n31/02/2016, 13:23 - Ash: x\n".to_vec()), rejected: &[(2, "day 31 (February 2016 has 29 days)")], messages: 1 },
        Case { name: "wa_invalid_utf8", input: ("whatsapp", "chat.txt", b"06/08/2016, 13:23 - Ash: Hey\n06/08/2016, 13:24 - Ash: \xff\xfe\n".to_vec()), rejected: &[(2, "line 2: bytes that are not valid text")], messages: 1 },
        Case { name: "wa_zip_without_chat", input: ("whatsapp", "c.zip", zip(&[("a.jpg", b"x")])), rejected: &[(0, "no chat text (_chat.txt)")], messages: 0 },
        Case { name: "tg_message_not_object", input: ("telegram", "result.json", br#"{"name":"a","type":"personal_chat","id":1,"messages":[1]}"#.to_vec()), rejected: &[(1, "not a JSON object")], messages: 0 },
        Case { name: "slack_day_not_json", input: ("slack", "s.zip", zip(&[("users.json", slack_ok_users), ("channels.json", slack_channels), ("general/2020-01-01.json", b"[{\"ts\":")])), rejected: &[(1, "general/2020-01-01.json:1 invalid JSON")], messages: 0 },
        Case { name: "slack_message_without_ts", input: ("slack", "s.zip", zip(&[("users.json", slack_ok_users), ("channels.json", slack_channels), ("general/2020-01-01.json", br#"[{"type":"message","user":"U1","text":"hi"}]"#)])), rejected: &[(1, "field `ts`: missing")], messages: 0 },
        Case { name: "slack_bad_ts", input: ("slack", "s.zip", zip(&[("users.json", slack_ok_users), ("channels.json", slack_channels), ("general/2020-01-01.json", br#"[{"type":"message","user":"U1","text":"hi","ts":"soon"}]"#)])), rejected: &[(1, "`soon` is not a Slack timestamp")], messages: 0 },
        Case { name: "slack_users_not_json_is_a_warning", input: ("slack", "s.zip", zip(&[("users.json", b"{"), ("channels.json", slack_channels), ("general/2020-01-01.json", br#"[{"type":"message","user":"U1","text":"hi","ts":"1.0"}]"#)])), rejected: &[], messages: 1 },
        Case { name: "slack_bad_day_file_stops_only_itself", input: ("slack", "s.zip", zip(&[("users.json", slack_ok_users), ("channels.json", slack_channels), ("general/2020-01-01.json", b"{}"), ("general/2020-01-02.json", br#"[{"type":"message","user":"U1","text":"hi","ts":"2.0"}]"#), ("random/2020-01-01.json", br#"[{"type":"message","user":"U1","text":"yo","ts":"3.0"}]"#)])), rejected: &[(1, "general/2020-01-01.json:1 invalid JSON")], messages: 2 },
        Case { name: "csv_unquoted_comma", input: ("csv", "a.csv", b"time,sender,text\n2024-01-01 10:00,bob,hello, world\n2024-01-01 10:01,ann,ok\n".to_vec()), rejected: &[(2, "the row has 4 fields and the header 3")], messages: 1 },
        Case { name: "csv_trailing_empty_fields_are_fine", input: ("csv", "a.csv", b"time,sender,text\n2024-01-01 10:00,bob,hi,,\n".to_vec()), rejected: &[], messages: 1 },
        Case { name: "csv_short_row", input: ("csv", "a.csv", b"time,sender,text\n2024-01-01 10:00,bob\n".to_vec()), rejected: &[(2, "the row has 2 fields and the header 3")], messages: 0 },
        Case { name: "discord_truncated", input: ("discord", "d.json", br#"{"guild":{"id":"1","name":"g"},"channel":{"id":"2","type":"GuildTextChat","name":"c"},"messages":[{"id":"3","type":"Default","timestamp":"2023-01-06T14:03:03.853+00:00","content":"a","author":{"id":"4","name":"A"}},{"id""#.to_vec()), rejected: &[(1, "invalid JSON: EOF")], messages: 1 },
        Case { name: "discord_bad_timestamp", input: ("discord", "d.json", br#"{"guild":{"id":"1","name":"g"},"channel":{"id":"2","type":"GuildTextChat","name":"c"},"messages":[{"id":"3","type":"Default","timestamp":"yesterday","content":"a","author":{"id":"4","name":"A"}}]}"#.to_vec()), rejected: &[(1, "field `timestamp`: invalid timestamp `yesterday`")], messages: 0 },
        Case { name: "discord_no_author", input: ("discord", "d.json", br#"{"guild":{"id":"1","name":"g"},"channel":{"id":"2","type":"GuildTextChat","name":"c"},"messages":[{"id":"3","type":"Default","timestamp":"2023-01-06T14:03:03.853+00:00","content":"a"}]}"#.to_vec()), rejected: &[(1, "no `author.id`")], messages: 0 },
        Case { name: "messenger_no_timestamp", input: ("messenger", "message_1.json", br#"{"participants":[{"name":"A"}],"messages":[{"sender_name":"A","content":"x"}],"title":"A","thread_path":"inbox/a"}"#.to_vec()), rejected: &[(1, "no `timestamp_ms`")], messages: 0 },
        Case { name: "messenger_truncated", input: ("messenger", "message_1.json", br#"{"participants":[{"name":"A"}],"messages":[{"sender_name":"A","timestamp_ms":1,"content":"x"},"#.to_vec()), rejected: &[(1, "invalid JSON: EOF")], messages: 0 },
        Case { name: "pywxdump_bad_time", input: ("wechat-pywxdump", "a.csv", "id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime\n1,11,文本,0,wxid_a,wxid_a,hi,,never\n".as_bytes().to_vec()), rejected: &[(2, "field `CreateTime`: `never` is not a date-time")], messages: 0 },
        Case { name: "pywxdump_short_row", input: ("wechat-pywxdump", "a.csv", "id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime\n1,11,文本\n".as_bytes().to_vec()), rejected: &[(2, "the row has 3 fields and the header 9")], messages: 0 },
        Case { name: "memotrace_bad_time", input: ("wechat-memotrace", "a.csv", "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender\n1,2,1,0,0,soon,2,hi,2024-01-01 10:00:00,,A,wxid_a\n".as_bytes().to_vec()), rejected: &[(2, "(CreateTime): `soon` is not epoch seconds")], messages: 0 },
        Case { name: "chatlog_no_time", input: ("wechat-chatlog", "c.json", br#"[{"seq":1,"talker":"wxid_a","sender":"wxid_a","type":1,"content":"hi"}]"#.to_vec()), rejected: &[(1, "field `time`: missing")], messages: 0 },
        Case { name: "wecom_not_json_line", input: ("wecom", "w.jsonl", b"{\"msgid\":\"1\",\"action\":\"send\",\"from\":\"a\",\"tolist\":[\"b\"],\"roomid\":\"\",\"msgtime\":1,\"msgtype\":\"text\",\"text\":{\"content\":\"hi\"}}\nnot json\n".to_vec()), rejected: &[(2, "invalid JSON")], messages: 1 },
        Case { name: "wecom_msgtime_string", input: ("wecom", "w.jsonl", b"{\"msgid\":\"1\",\"action\":\"send\",\"from\":\"a\",\"tolist\":[\"b\"],\"roomid\":\"\",\"msgtime\":\"x\",\"msgtype\":\"text\",\"text\":{\"content\":\"hi\"}}\n".to_vec()), rejected: &[(1, "field `msgtime`")], messages: 0 },
        Case { name: "wecom_no_msgid", input: ("wecom", "w.jsonl", b"{\"action\":\"send\",\"from\":\"a\",\"tolist\":[\"b\"],\"roomid\":\"\",\"msgtime\":1,\"msgtype\":\"text\",\"text\":{\"content\":\"hi\"}}\n".to_vec()), rejected: &[(1, "field `msgid`: missing")], messages: 0 },
        Case { name: "signal_text_before_header", input: ("signal", "chat.md", b"hello\n[2019-12-24, 12:23] Jane: Hi\n".to_vec()), rejected: &[(1, "text before the first message header")], messages: 1 },
        Case { name: "signal_bad_date", input: ("signal", "chat.md", b"[2019-12-24, 12:23] Jane: Hi\n[2019-02-30, 12:23] Jane: x\n".to_vec()), rejected: &[(2, "no such time")], messages: 1 },
        Case { name: "line_message_before_date", input: ("line", "l.txt", b"[LINE] Chat history with Bob\nSaved on: 2018/03/25 19:57\n\n12:00\tBob\thi\n".to_vec()), rejected: &[(4, "a message before any date line")], messages: 0 },
        Case { name: "line_bad_date", input: ("line", "l.txt", b"[LINE] Chat history with Bob\nSaved on: 2018/03/25 19:57\n\n2018/02/30(Fri)\n12:00\tBob\thi\n".to_vec()), rejected: &[(4, "no such date: 2018-02-30"), (5, "under the unreadable date line 4")], messages: 0 },
        Case { name: "mbox_no_date", input: ("mbox", "a.mbox", b"From x@y Thu Jan  1 00:00:00 2020\nFrom: a@b\nSubject: s\n\nbody\n".to_vec()), rejected: &[], messages: 1 },
        Case { name: "mbox_bad_date", input: ("mbox", "a.mbox", b"From x@y\nFrom: a@b\nDate: soon\nSubject: s\n\nbody\n".to_vec()), rejected: &[(1, "no readable `Date:` header")], messages: 0 },
        Case { name: "mbox_no_from", input: ("mbox", "a.mbox", b"From x@y Thu Jan  1 00:00:00 2020\nDate: Fri, 26 Sep 2025 10:18:40 -0700\nSubject: s\n\nbody\n".to_vec()), rejected: &[], messages: 1 },
        Case { name: "csv_bad_time", input: ("csv", "a.csv", b"time,sender,text\nsoon,A,hi\n".to_vec()), rejected: &[(2, "time `soon` is not a date-time")], messages: 0 },
        Case { name: "csv_missing_column", input: ("csv", "a.csv", b"when,sender,text\n2020-01-01 10:00,A,hi\n".to_vec()), rejected: &[(1, "--map names columns the header does not have: time")], messages: 0 },
        Case { name: "csv_empty_sender", input: ("csv", "a.csv", b"time,sender,text\n2020-01-01 10:00,,hi\n".to_vec()), rejected: &[(2, "the sender column is empty")], messages: 0 },
        Case { name: "discord_invalid_utf8", input: ("discord", "d.json", b"{\"guild\":{\"id\":\"1\",\"name\":\"g\"},\"channel\":{\"id\":\"2\",\"type\":\"GuildTextChat\",\"name\":\"c\"},\"messages\":[{\"id\":\"3\",\"type\":\"Default\",\"timestamp\":\"2023-01-06T14:03:03.853+00:00\",\"content\":\"a\xff\",\"author\":{\"id\":\"4\",\"name\":\"A\"}}]}".to_vec()), rejected: &[(1, "invalid unicode code point")], messages: 0 },
        Case { name: "csv_invalid_utf8", input: ("csv", "a.csv", b"time,sender,text\n2020-01-01 10:00,A,\xff\xfe\n2020-01-01 10:01,A,ok\n".to_vec()), rejected: &[(2, "not valid UTF-8 text")], messages: 1 },
        Case { name: "pywxdump_gbk_bad_byte", input: ("wechat-pywxdump", "a.csv", [&encoding_rs::GB18030.encode("id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime\n1,11,文本,0,wxid_a,wxid_a,你好,,2024-01-01 10:00:00\n").0[..], b"2,12,\xe6\xe6,0,wxid_a,wxid_a,\x81\x20,,2024-01-01 10:00:00\n"].concat()), rejected: &[(3, "not valid gb18030 text")], messages: 1 },
        Case { name: "wa_invalid_utf8_continuation", input: ("whatsapp", "chat.txt", b"06/08/2016, 13:23 - Ash: Hey\nsecond \xff line\n06/08/2016, 13:24 - Ash: ok\n".to_vec()), rejected: &[(1, "line 2: bytes that are not valid text")], messages: 1 },
        Case { name: "qq_invalid_header", input: ("qq", "q.txt", b"2019-02-03 20:43:38 A(1)\nok\n2019-02-03 20:43:39 \xff(1)\nbad\n2019-02-03 20:43:40 A(1)\nfine\n".to_vec()), rejected: &[(3, "line 3: bytes that are not valid text")], messages: 2 },
        Case { name: "signal_invalid_continuation", input: ("signal", "chat.md", b"[2019-12-24, 12:23] Jane: Hi\nmore \xff\n[2019-12-24, 12:24] Jane: ok\n".to_vec()), rejected: &[(1, "line 2: bytes that are not valid text")], messages: 1 },
        Case { name: "line_invalid_message", input: ("line", "l.txt", b"[LINE] Chat history with Bob\nSaved on: 2018/03/25 19:57\n\n2018/03/25(Sun)\n12:00\tBob\thi\n12:01\tBob\t\xff\n12:02\tBob\tok\n".to_vec()), rejected: &[(6, "line 6: bytes that are not valid text")], messages: 2 },
        Case { name: "signal_message_over_the_limit", input: ("signal", "chat.md", [&b"[2019-12-24, 12:23] Jane: Hi\n"[..], &long_body("x"), b"[2019-12-24, 12:24] Jane: ok\n"].concat()), rejected: &[(1, "longer than the 1 MiB limit")], messages: 1 },
        Case { name: "line_message_over_the_limit", input: ("line", "l.txt", [&b"[LINE] Chat history with Bob\nSaved on: 2018/03/25 19:57\n\n2018/03/25(Sun)\n12:00\tBob\thi\n"[..], &long_body("y"), b"12:02\tBob\tok\n"].concat()), rejected: &[(5, "longer than the 1 MiB limit")], messages: 1 },
        Case { name: "wecom_gbk_bad_byte", input: ("wecom", "w.jsonl", [&encoding_rs::GB18030.encode("{\"msgid\":\"1\",\"action\":\"send\",\"from\":\"a\",\"tolist\":[\"b\"],\"roomid\":\"\",\"msgtime\":1,\"msgtype\":\"text\",\"text\":{\"content\":\"你好\"}}\n").0[..], b"{\"msgid\":\"2\",\"action\":\"send\",\"from\":\"a\",\"tolist\":[\"b\"],\"roomid\":\"\",\"msgtime\":2,\"msgtype\":\"text\",\"text\":{\"content\":\"\x81\x20\"}}\n"].concat()), rejected: &[(2, "not valid text")], messages: 1 },
        Case { name: "tg_text_a_number", input: ("telegram", "result.json", br#"{"name":"a","type":"personal_chat","id":1,"messages":[{"id":1,"date_unixtime":"1","text":5},{"id":2,"date_unixtime":"2","text":"ok"}]}"#.to_vec()), rejected: &[(1, "field `text`: neither text")], messages: 1 },
        Case { name: "discord_content_an_object", input: ("discord", "d.json", br#"{"guild":{"id":"1","name":"g"},"channel":{"id":"2","type":"GuildTextChat","name":"c"},"messages":[{"id":"3","type":"Default","timestamp":"2023-01-06T14:03:03.853+00:00","content":{"a":1},"author":{"id":"9","name":"x"}}]}"#.to_vec()), rejected: &[(1, "field `content`: an object where text was expected")], messages: 0 },
        Case { name: "messenger_content_a_number", input: ("messenger", "message_1.json", br#"{"participants":[{"name":"A"}],"messages":[{"sender_name":"A","timestamp_ms":1,"content":7}],"title":"A","thread_path":"inbox/a"}"#.to_vec()), rejected: &[(1, "field `content`: a number")], messages: 0 },
        Case { name: "slack_text_a_list", input: ("slack", "s.zip", zip(&[("users.json", slack_ok_users), ("channels.json", slack_channels), ("general/2020-01-01.json", br#"[{"type":"message","user":"U1","text":["hi"],"ts":"1.0"}]"#)])), rejected: &[(1, "field `text`: a list")], messages: 0 },
        Case { name: "wecom_text_body_a_string", input: ("wecom", "w.jsonl", b"{\"msgid\":\"1\",\"action\":\"send\",\"from\":\"a\",\"tolist\":[\"b\"],\"roomid\":\"\",\"msgtime\":1,\"msgtype\":\"text\",\"text\":\"hello\"}\n".to_vec()), rejected: &[(1, "field `text`: not an object with `content`")], messages: 0 },
        Case { name: "jsonl_bad_line", input: ("jsonl", "a.jsonl", b"{\"platform\":\"x\"}\n".to_vec()), rejected: &[(1, "field `conversation_id`")], messages: 0 },

    ];
    for case in cases {
        let (format, file, bytes) = &case.input;
        let out =
            run(format, file, bytes).unwrap_or_else(|e| panic!("{}: refused: {e}", case.name));
        let rejected: Vec<_> = out
            .iter()
            .filter_map(|p| {
                if let Parsed::Rejected(r) = p {
                    Some(r)
                } else {
                    None
                }
            })
            .collect();
        let messages = out
            .iter()
            .filter(|p| matches!(p, Parsed::Message(_)))
            .count();
        assert_eq!(
            rejected.len(),
            case.rejected.len(),
            "{}: {out:?}",
            case.name
        );
        for (r, (line, reason)) in rejected.iter().zip(case.rejected) {
            assert!(
                r.file.starts_with(file),
                "{}: names the file: {r:?}",
                case.name
            );
            assert_eq!(r.line, *line, "{}: line: {r:?}", case.name);
            // The reason, read as the report prints it: `file:line reason`.
            let said = format!("{}:{} {}", r.file, r.line, r.reason);
            assert!(
                said.contains(reason),
                "{}: {said:?} lacks {reason:?}",
                case.name
            );
        }
        assert_eq!(messages, case.messages, "{}: {out:?}", case.name);
        // Nothing with replacement characters gets through as a message.
        for p in &out {
            if let Parsed::Message(m) = p {
                assert!(!m.text.contains('\u{fffd}'), "{}: {:?}", case.name, m.text);
            }
        }
    }
}
