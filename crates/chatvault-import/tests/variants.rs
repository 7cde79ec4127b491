//! Variants seen in real exports that nobody on this team wrote, one named case each:
//! the content is detected by what it holds (past a first line that is not the
//! format's usual header, never by the folder), and every record is read or reported.

use std::io::Write;
use std::path::Path;

use chatvault_import::{by_name, collect, detect, ImportContext, Limits, Parsed, Source};
use chatvault_model::{MessageKind, NewMessage, SenderRole};

struct Out {
    format: String,
    messages: Vec<NewMessage>,
    rejected: Vec<(u64, String)>,
    warnings: Vec<(u64, String)>,
}

/// Imports `bytes` written to `name` (a path that may hold folders) as `chatvault
/// import` does: detected by content unless `format` is given.
fn import_as(name: &str, bytes: &[u8], format: Option<&str>, platform: Option<&str>) -> Out {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    std::fs::write(&path, bytes).expect("write");
    let source = Source::open(&path, &Limits::default()).expect("open");
    let importer = match format {
        Some(f) => by_name(f).expect("format"),
        None => detect(&source.probe().expect("probe")).unwrap_or_else(|e| panic!("{name}: {e}")),
    };
    let ctx = ImportContext {
        file_label: name.into(),
        base_dir: path.parent().map(Path::to_owned),
        platform: platform.map(|p| chatvault_model::Platform::new(p).expect("platform")),
        csv_map: chatvault_import::CsvMap::parse("time=time,sender=sender,text=text").ok(),
        ..ImportContext::default()
    };
    let mut out = Out {
        format: importer.name().into(),
        messages: vec![],
        rejected: vec![],
        warnings: vec![],
    };
    for p in collect(importer, &source, &ctx) {
        match p {
            Parsed::Message(m) => out.messages.push(*m),
            Parsed::Rejected(r) => out.rejected.push((r.line, r.reason)),
            Parsed::Warning(r) => out.warnings.push((r.line, r.reason)),
        }
    }
    out
}

fn import(name: &str, text: &str) -> Out {
    import_as(name, text.as_bytes(), None, None)
}

fn utc(m: &NewMessage) -> String {
    chatvault_model::Timestamp::utc(m.sent_at.utc_ms).to_rfc3339()
}

/// (case, file, content, format, [(sender or "system", UTC time, text)], rejected lines)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str, &'static str)>,
    Vec<u64>,
);

#[test]
fn whatsapp_variants() {
    let cases: Vec<Case> = vec![
        (
            "pm_on_24_hour_times",
            "_chat.txt",
            "[09/10/22 11:37:00 p.m.] John Doe: a\n[10/10/22 12:37:00 p.m.] John Doe: b\n[11/10/22 13:37:00 p.m.] Jane: c\n[13/10/22 14:37:00 p.m.] Jane: d\n",
            "whatsapp",
            vec![
                ("John Doe", "2022-10-09T23:37:00Z", "a"),
                ("John Doe", "2022-10-10T12:37:00Z", "b"),
                ("Jane", "2022-10-11T13:37:00Z", "c"),
                ("Jane", "2022-10-13T14:37:00Z", "d"),
            ],
            vec![],
        ),
        (
            "nbsp_and_nnbsp_inside_markers",
            "chat.txt",
            "31/12/23, 9:05\u{a0}a.\u{a0}m. - Bob: hola\n31/12/23, 9:06\u{202f}p.\u{202f}m. - Ana: adiós\n31/12/23, 11:59\u{202f}p.\u{a0}m. - Bob: fin\n",
            "whatsapp",
            vec![
                ("Bob", "2023-12-31T09:05:00Z", "hola"),
                ("Ana", "2023-12-31T21:06:00Z", "adiós"),
                ("Bob", "2023-12-31T23:59:00Z", "fin"),
            ],
            vec![],
        ),
        (
            "hour_00_in_a_12_hour_file",
            "chat.txt",
            "01/20/2019, 11:23 a. m. - John Doe: hi\n06/20/2020, 00:08 a. m. - +12 345 578 created group \"Groupname\"\n06/20/2020, 00:09 a. m. - Jane: after midnight\n12/20/2021, 12:10 p. m. - Jane: noon\n",
            "whatsapp",
            vec![
                ("John Doe", "2019-01-20T11:23:00Z", "hi"),
                ("system", "2020-06-20T00:08:00Z", "created group"),
                ("Jane", "2020-06-20T00:09:00Z", "after midnight"),
                ("Jane", "2021-12-20T12:10:00Z", "noon"),
            ],
            vec![],
        ),
        (
            "a_single_punctuation_body",
            "chat.txt",
            "2019/01/01, 11:25 - John Doe: Lorem ipsum\n2019/01/20, 11:23 - John Doe:.\n2019/01/20, 11:24 - Jane Doe: ?\n2019/01/20, 11:25 - Jane Doe:!\n2020/06/20, 00:08 - +12 345 578 created group \"Groupname\"\n",
            "whatsapp",
            vec![
                ("John Doe", "2019-01-01T11:25:00Z", "Lorem ipsum"),
                ("John Doe", "2019-01-20T11:23:00Z", "."),
                ("Jane Doe", "2019-01-20T11:24:00Z", "?"),
                ("Jane Doe", "2019-01-20T11:25:00Z", "!"),
                ("system", "2020-06-20T00:08:00Z", "created group"),
            ],
            vec![],
        ),
        (
            "body_on_the_next_line_and_glued_to_a_known_sender",
            "chat.txt",
            "24/09/2026, 10:15 - A:\nhttps://a.com\n24/09/2026, 10:16 - A: hi\n24/09/2026, 10:17 - A:hello\n",
            "whatsapp",
            vec![
                ("A", "2026-09-24T10:15:00Z", "\nhttps://a.com"),
                ("A", "2026-09-24T10:16:00Z", "hi"),
                ("A", "2026-09-24T10:17:00Z", "hello"),
            ],
            vec![],
        ),
        (
            "days_all_below_13_decided_by_media_names",
            "chat.txt",
            "03/04/20, 10:00 - A: IMG-20200403-WA0001.jpg (file attached)\n04/04/20, 10:00 - B: ok\n05/04/20, 10:00 - A: PTT-20200405-WA0002.opus (file attached)\n",
            "whatsapp",
            vec![
                ("A", "2020-04-03T10:00:00Z", "IMG-20200403-WA0001.jpg"),
                ("B", "2020-04-04T10:00:00Z", "ok"),
                ("A", "2020-04-05T10:00:00Z", "PTT-20200405-WA0002.opus"),
            ],
            vec![],
        ),
        (
            "days_all_below_13_decided_by_line_order",
            "chat.txt",
            "11/01/20, 10:00 - A: a\n11/02/20, 10:00 - B: b\n11/03/20, 10:00 - A: c\n12/01/20, 10:00 - A: d\n01/02/21, 10:00 - B: e\n",
            "whatsapp",
            vec![
                ("A", "2020-11-01T10:00:00Z", "a"),
                ("B", "2020-11-02T10:00:00Z", "b"),
                ("A", "2020-11-03T10:00:00Z", "c"),
                ("A", "2020-12-01T10:00:00Z", "d"),
                ("B", "2021-01-02T10:00:00Z", "e"),
            ],
            vec![],
        ),
        (
            "old_ios_colon_style",
            "chat.txt",
            "13.06.18 21.25.15: Anna: hallo\n13.06.18 21.26.00: Ben: hi\nzweite Zeile\n05.02.17, 01:35:57: Nachrichten sind geschützt.\n",
            "whatsapp",
            vec![
                ("Anna", "2018-06-13T21:25:15Z", "hallo"),
                ("Ben", "2018-06-13T21:26:00Z", "hi\nzweite Zeile"),
                ("system", "2017-02-05T01:35:57Z", "Nachrichten"),
            ],
            vec![],
        ),
        (
            "bare_style_hungarian",
            "chat.txt",
            "13. 6. 2018. 21:25:15 Anna: szia\n13. 6. 2018. 21:26:00 Béla: helló\n14. 6. 2018. 08:00:00 Anna: jó reggelt\n",
            "whatsapp",
            vec![
                ("Anna", "2018-06-13T21:25:15Z", "szia"),
                ("Béla", "2018-06-13T21:26:00Z", "helló"),
                ("Anna", "2018-06-14T08:00:00Z", "jó reggelt"),
            ],
            vec![],
        ),
        (
            "a_note_before_the_first_header",
            "chat.txt",
            "Exported for the case file\nExported by IT\n\n\n06.08.2016, 13:23 - Ash: Hey\n06.08.2016, 13:25 - Brock: Hi\n",
            "whatsapp",
            vec![
                ("Ash", "2016-08-06T13:23:00Z", "Hey"),
                ("Brock", "2016-08-06T13:25:00Z", "Hi"),
            ],
            vec![1, 2],
        ),
        (
            "impossible_header_values_start_a_rejected_record",
            "chat.txt",
            "06.08.2016, 13:23 - Ash: Hey\n06.08.2016, 25:23 - Ash: hour 25\nits second line\n06.08.2016, 13:24 AM - Ash: am 13\n06.08.2016, 13:25 - Brock: Hi\n",
            "whatsapp",
            vec![
                ("Ash", "2016-08-06T13:23:00Z", "Hey"),
                ("Brock", "2016-08-06T13:25:00Z", "Hi"),
            ],
            vec![2, 4],
        ),
    ];
    run_cases(cases);
}

#[test]
fn line_formats_detected_past_a_first_line_that_is_not_their_header() {
    let cases: Vec<Case> = vec![
        (
            "qq_without_preamble",
            "log.txt",
            "从网页复制的记录\n\n2020-03-04 12:12:29 AM 礼(852649)\n1\n\n2020-03-04 12:13:41 AM 围观<indo@qq.com>\n3\n",
            "qq",
            vec![
                ("礼", "2020-03-04T00:12:29Z", "1"),
                ("围观", "2020-03-04T00:13:41Z", "3"),
            ],
            vec![1],
        ),
        (
            "line_without_its_title",
            "chat.txt",
            "Chat with Jordan (copied)\n\nFri, 25/09/2026\n21:03\tJordan Lee\tWhat time works tomorrow?\n21:10\tJordan Lee\t[Sticker]\n21:11\tMe\tnoon\n",
            "line",
            vec![
                ("Jordan Lee", "2026-09-25T21:03:00Z", "What time"),
                ("Jordan Lee", "2026-09-25T21:10:00Z", "[Sticker]"),
                ("Me", "2026-09-25T21:11:00Z", "noon"),
            ],
            vec![1],
        ),
        (
            "signal_after_a_title",
            "chat.md",
            "# Chat with Jane\n[2019-12-24 12:23:00] Jane Doe: Hello John!\n[2020-01-17 21:49:00] John Doe: Hello\nJane!\n",
            "signal",
            vec![
                ("Jane Doe", "2019-12-24T12:23:00Z", "Hello John!"),
                ("John Doe", "2020-01-17T21:49:00Z", "Hello\nJane!"),
            ],
            vec![1],
        ),
        (
            "line_quote_never_closed",
            "line.txt",
            "[LINE] Chat history with Bob\nSaved on: 2018/03/25 19:57\n\n2018/03/24 Sat\n13:05\tAnn\t\"quoted start only\n13:06\tBob\tnext message\n13:07\tAnn\tthird\n",
            "line",
            vec![
                ("Ann", "2018-03-24T13:05:00Z", "\"quoted start only"),
                ("Bob", "2018-03-24T13:06:00Z", "next message"),
                ("Ann", "2018-03-24T13:07:00Z", "third"),
            ],
            vec![],
        ),
    ];
    run_cases(cases);
}

fn run_cases(cases: Vec<Case>) {
    for (name, file, text, format, want, rejected) in cases {
        let out = import(file, text);
        assert_eq!(out.format, format, "{name}: detected");
        let got: Vec<(String, String, String)> = out
            .messages
            .iter()
            .map(|m| {
                let who = if m.sender.role == SenderRole::System || m.kind == MessageKind::System {
                    "system".to_owned()
                } else {
                    m.sender.name.clone().unwrap_or(m.sender.id.clone())
                };
                (who, utc(m), m.text.clone())
            })
            .collect();
        assert_eq!(
            got.len(),
            want.len(),
            "{name}: {got:?} rejected {:?}",
            out.rejected
        );
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.0, w.0, "{name}: sender of {g:?}");
            assert_eq!(g.1, w.1, "{name}: time of {g:?}");
            assert!(g.2.contains(w.2), "{name}: text {g:?} lacks {:?}", w.2);
        }
        let lines: Vec<u64> = out.rejected.iter().map(|r| r.0).collect();
        assert_eq!(lines, rejected, "{name}: rejected {:?}", out.rejected);
        if name.starts_with("days_all_below_13") {
            assert!(
                !out.warnings
                    .iter()
                    .any(|w| w.1.contains("day/month") || w.1.contains("month/day")),
                "{name}: decided, so no warning about the order: {:?}",
                out.warnings
            );
        }
    }
}

/// Which of Meta's apps wrote a message_N.json is told by content; the folder says
/// nothing.
#[test]
fn messenger_and_instagram_by_content_not_folder() {
    let messenger = r#"{"participants":[{"name":"A"},{"name":"B"}],"messages":[{"sender_name":"A","timestamp_ms":1600000000000,"content":"see https://www.facebook.com/events/1","type":"Share","share":{"link":"https://www.facebook.com/events/1"}},{"sender_name":"B","timestamp_ms":1599999999000,"call_duration":30,"content":"B called you."}],"title":"A","thread_path":"inbox/a_1"}"#;
    let instagram = r#"{"participants":[{"name":"a"},{"name":"b"}],"messages":[{"sender_name":"a","timestamp_ms":1600000000000,"content":"look","share":{"link":"https://www.instagram.com/p/Cm/","original_content_owner":"someone"}}],"title":"a","thread_path":"inbox/a_1","joinable_mode":{"mode":1,"link":"https://ig.me/j/x/"}}"#;
    let neither =
        r#"{"messages":[{"sender_name":"a","timestamp_ms":1600000000000,"content":"hi"}]}"#;
    type PCase<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, &'a str, bool);
    let cases: Vec<PCase> = vec![
        (
            "messenger_in_an_instagram_folder",
            "instagram/inbox/a_1/message_1.json",
            messenger,
            None,
            "messenger",
            false,
        ),
        (
            "instagram_in_a_facebook_folder",
            "facebook/messages/inbox/a_1/message_1.json",
            instagram,
            None,
            "instagram",
            false,
        ),
        (
            "instagram_anywhere",
            "message_1.json",
            instagram,
            None,
            "instagram",
            false,
        ),
        (
            "nothing_decides",
            "instagram/message_1.json",
            neither,
            None,
            "messenger",
            true,
        ),
        (
            "the_user_names_it",
            "message_1.json",
            neither,
            Some("instagram"),
            "instagram",
            false,
        ),
    ];
    for (name, file, json, platform, want, warned) in cases {
        let out = import_as(file, json.as_bytes(), None, platform);
        assert_eq!(out.format, "messenger", "{name}");
        assert!(out.rejected.is_empty(), "{name}: {:?}", out.rejected);
        for m in &out.messages {
            assert_eq!(m.platform.as_str(), want, "{name}");
        }
        assert_eq!(
            !out.warnings.is_empty(),
            warned,
            "{name}: {:?}",
            out.warnings
        );
    }
}

fn zip(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("entry");
        w.write_all(text.as_bytes()).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

/// A user missing from `users.json` (Slack Connect, a deleted account, Enterprise Grid)
/// is named from the `user_profile` the messages carry, in the sender and in mentions,
/// even in a message before their own first one.
#[test]
fn slack_names_users_missing_from_users_json() {
    let bytes = zip(&[
        (
            "users.json",
            r#"[{"id":"U1","name":"ann","profile":{"display_name":"Ann"}}]"#,
        ),
        ("channels.json", r#"[{"id":"C1","name":"general"}]"#),
        (
            "general/2020-01-01.json",
            r#"[{"type":"message","user":"U1","text":"hi <@U2>","ts":"1577880000.000100"}]"#,
        ),
        (
            "general/2020-01-02.json",
            r#"[{"type":"message","user":"U2","text":"hello","ts":"1577966400.000200","user_profile":{"display_name":"","real_name":"Kim Jae","name":"kjh"}},{"type":"message","user":"U3","text":"no profile","ts":"1577966500.000300"}]"#,
        ),
    ]);
    let out = import_as("slack.zip", &bytes, None, None);
    assert_eq!(out.format, "slack");
    let m = &out.messages;
    assert_eq!(m.len(), 3);
    assert_eq!(
        m[0].text, "hi @Kim Jae",
        "named in a mention before their first message"
    );
    assert_eq!(m[1].sender.id, "U2");
    assert_eq!(
        m[1].sender.name.as_deref(),
        Some("Kim Jae"),
        "empty display name: the real name"
    );
    assert_eq!(
        m[2].sender.name, None,
        "no name anywhere: the id alone, as the export has it"
    );
}

/// Two WhatsApp exports zipped together: both chats are read, each its own conversation.
#[test]
fn whatsapp_zip_with_two_chats_reads_both() {
    let bytes = zip(&[
        (
            "WhatsApp Chat with Ann.txt",
            "06.08.2016, 13:23 - Ann: Hey\n",
        ),
        (
            "WhatsApp Chat with Bob.txt",
            "06.08.2016, 13:24 - Bob: Hi\n06.08.2016, 13:25 - Bob: there\n",
        ),
        ("notes.txt", "a document sent in the chat"),
    ]);
    let out = import_as("chats.zip", &bytes, None, None);
    assert_eq!(out.format, "whatsapp");
    let convs: Vec<&str> = out
        .messages
        .iter()
        .map(|m| m.conversation_id.as_str())
        .collect();
    assert_eq!(convs, vec!["chat:Ann", "chat:Bob", "chat:Bob"]);
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
}

/// Lines that would be swallowed into a neighbour are reported where they stand.
#[test]
fn swallowed_lines_are_reported() {
    // LINE: a date line in a shape the reader does not know.
    let out = import(
        "line.txt",
        "[LINE] Chat history with Bob\nSaved on: 2024/01/03 09:00\n\n2024/01/01 Mon\n10:00\tBob\thi\n2024.01.02 — Tuesday, the second day\n10:05\tBob\tnext\n",
    );
    assert_eq!(out.messages.len(), 2);
    assert_eq!(
        out.warnings.iter().map(|w| w.0).collect::<Vec<_>>(),
        vec![6],
        "{:?}",
        out.warnings
    );
    // CSV: a quote left open swallows the next row into the field.
    let out = import_as(
        "a.csv",
        b"time,sender,text\n2024-01-01 10:00,bob,\"hi\n2024-01-01 10:01,ann,bye\"\n2024-01-01 10:02,bob,ok\n",
        Some("csv"),
        None,
    );
    assert_eq!(
        out.messages.len(),
        2,
        "{:?} {:?}",
        out.rejected,
        out.warnings
    );
    assert_eq!(
        out.warnings.iter().map(|w| w.0).collect::<Vec<_>>(),
        vec![3],
        "{:?}",
        out.warnings
    );
}

/// A JSON export in UTF-16 with bytes that do not decode: that record is rejected with
/// its line, the others are read (no U+FFFD ever passes as text).
#[test]
fn undecodable_bytes_in_a_transcoded_json_export_are_rejected() {
    let doc = "{\"name\":\"A\",\"type\":\"personal_chat\",\"id\":1,\"messages\":[\n{\"id\":1,\"type\":\"message\",\"date_unixtime\":\"1600000000\",\"from\":\"A\",\"text\":\"ok\"},\n{\"id\":2,\"type\":\"message\",\"date_unixtime\":\"1600000001\",\"from\":\"A\",\"text\":\"XX\"}\n]}";
    let mut bytes = vec![0xFF, 0xFE];
    for u in doc.encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    // Turn the `XX` into a lone surrogate and an `X`.
    let xx: Vec<u8> = "XX".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let at = bytes
        .windows(4)
        .position(|w| w == xx.as_slice())
        .expect("XX");
    bytes[at] = 0x00;
    bytes[at + 1] = 0xD8;
    let out = import_as("result.json", &bytes, None, None);
    assert_eq!(out.format, "telegram");
    assert_eq!(out.messages.len(), 1);
    assert_eq!(out.rejected.len(), 1, "{:?}", out.rejected);
    assert_eq!(out.rejected[0].0, 3);
    assert!(
        out.rejected[0].1.contains("not valid UTF-16"),
        "{:?}",
        out.rejected
    );
}
