//! mbox: separators as real archives write them, every text part as the body, and every
//! fixture's count equal to Python's `mailbox` module's.

mod common;

use std::path::Path;

use chatvault_import::{by_name, collect, ImportContext, Limits, Parsed, Source};
use chatvault_model::NewMessage;

fn fixtures() -> std::path::PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mbox")).to_owned()
}

#[test]
fn every_mbox_fixture_counts_as_pythons_mailbox_does() {
    let checked = common::check_mbox_counts(&fixtures());
    assert!(checked >= 4, "only {checked} mbox fixtures");
}

fn run(bytes: &[u8]) -> Vec<Parsed> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("a.mbox");
    std::fs::write(&path, bytes).expect("write");
    let source = Source::open(&path, &Limits::default()).expect("open");
    let ctx = ImportContext {
        file_label: "a.mbox".into(),
        ..ImportContext::default()
    };
    collect(by_name("mbox").expect("mbox"), &source, &ctx)
}

fn messages(out: &[Parsed]) -> Vec<&NewMessage> {
    out.iter()
        .filter_map(|p| match p {
            Parsed::Message(m) => Some(&**m),
            _ => None,
        })
        .collect()
}

#[test]
fn netscape_separators_without_a_blank_line_start_new_messages() {
    let out = common::import(&fixtures().join("netscape-no-blank-line.mbox"), "UTC");
    let m = &out.messages;
    assert_eq!(m.len(), 3, "never merged into the e-mail above");
    assert!(
        m[0].text.trim_end().ends_with("The build server is back."),
        "{:?}",
        m[0].text
    );
    assert!(!m[0].text.contains("Thanks"));
    assert_eq!(m[1].sender.id, "ann@example.com");
    assert!(
        m[1].text.contains("From what I can see"),
        "mboxrd unquoting"
    );
    assert_eq!(
        m[1].conversation_id, m[0].conversation_id,
        "threaded by In-Reply-To"
    );
    assert_eq!(m[2].sender.name.as_deref(), Some("张三"));
    assert!(m[2].text.contains("明天开会"));
}

#[test]
fn pipermail_archives_keep_working() {
    let out = common::import(&fixtures().join("pipermail.mbox"), "UTC");
    let m = &out.messages;
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].sent_at.utc_ms, 1_344_537_557_000);
    assert!(m[0]
        .text
        .starts_with("[dev] Making the RPC backend a required configuration parameter"));
    assert_eq!(m[1].reply_to.as_deref(), Some("A1@example.com"));
    assert_eq!(m[1].conversation_id, m[0].conversation_id);
    // Pipermail writes `name at example.com (Name)`: the sender keeps a readable handle.
    assert_eq!(m[0].sender.id, "eric@example.com");
    assert_eq!(m[0].sender.name.as_deref(), Some("Eric Windisch"));
    assert_eq!(m[1].sender.id, "mark@example.org");
}

#[test]
fn every_text_part_is_the_body_however_deeply_nested() {
    let out = common::import(&fixtures().join("nested-multipart.mbox"), "UTC");
    let m = &out.messages;
    assert_eq!(m.len(), 2);
    assert!(
        m[0].text.contains("See the forwarded thread below."),
        "{:?}",
        m[0].text
    );
    assert!(
        m[0].text.contains("合同第三条需要修改。"),
        "the nested text part is searchable: {:?}",
        m[0].text
    );
    let names: Vec<&str> = m[0]
        .attachments
        .iter()
        .map(|a| a.reference.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec!["contract.pdf", "attachment-1.png"],
        "no text part among the files"
    );
    assert!(m[1].text.contains("deep text"), "{:?}", m[1].text);
    assert!(m[1].attachments.is_empty());
}

/// Named malformed and odd separators: each `From ` line is a new e-mail or is
/// reported, never silently kept inside its neighbour.
#[test]
fn from_lines_are_separators_or_reported() {
    type Case = (&'static str, &'static str, usize, Vec<u64>);
    let cases: Vec<Case> = vec![
        (
            "unquoted_body_from_line",
            "From a@x Mon Jun  3 12:50:27 1996\nFrom: a@x\nSubject: s\nDate: Mon, 3 Jun 1996 12:50:27 +0800\n\nhello\nFrom here on we disagree.\nbye\n",
            1,
            vec![7],
        ),
        (
            "unquoted_from_after_a_blank_line",
            "From a@x Mon Jun  3 12:50:27 1996\nFrom: a@x\nSubject: s\nDate: Mon, 3 Jun 1996 12:50:27 +0800\n\nhello\n\nFrom here on we disagree.\nbye\n",
            1,
            vec![8],
        ),
        (
            "mboxo_separator_without_date_then_headers",
            "From a@x Mon Jun  3 12:50:27 1996\nFrom: a@x\nSubject: s\nDate: Mon, 3 Jun 1996 12:50:27 +0800\n\nhello\n\nFrom bob\nFrom: b@x\nSubject: t\nDate: Mon, 3 Jun 1996 13:00:00 +0800\n\nsecond\n",
            2,
            vec![],
        ),
        (
            "envelope_after_body_line",
            "From a@x Mon Jun  3 12:50:27 1996\nFrom: a@x\nSubject: s\nDate: Mon, 3 Jun 1996 12:50:27 +0800\n\nhello\nFrom b@x Mon Jun  3 13:00:00 1996\nFrom: b@x\nSubject: t\nDate: Mon, 3 Jun 1996 13:00:00 +0800\n\nsecond\n",
            2,
            vec![],
        ),
        (
            "gmail_takeout_envelope",
            "From 1844347792267117879@xxx Fri Sep 26 17:18:40 +0000 2025\nFrom: a@x\nSubject: s\nDate: Fri, 26 Sep 2025 10:18:40 -0700\n\nhello\nFrom 1844347792267117880@xxx Fri Sep 26 17:19:40 +0000 2025\nFrom: a@x\nSubject: s2\nDate: Fri, 26 Sep 2025 10:19:40 -0700\n\nsecond\n",
            2,
            vec![],
        ),
        (
            "pipermail_envelope_after_body",
            "From eric at example.com  Thu Aug  9 18:39:17 2012\nFrom: eric at example.com (Eric)\nDate: Thu, 9 Aug 2012 14:39:17 -0400\nSubject: a\n\nbody\nFrom mark at example.org  Thu Aug  9 19:02:00 2012\nFrom: mark at example.org (Mark)\nDate: Thu, 9 Aug 2012 15:02:00 -0400\nSubject: b\n\nbody 2\n",
            2,
            vec![],
        ),
    ];
    for (name, input, want, warned) in cases {
        let out = run(input.as_bytes());
        assert_eq!(messages(&out).len(), want, "{name}: {out:?}");
        let header_like: Vec<u64> = out
            .iter()
            .filter_map(|p| match p {
                Parsed::Warning(r) | Parsed::Rejected(r) if r.header_like => Some(r.line),
                _ => None,
            })
            .collect();
        assert_eq!(header_like, warned, "{name}: {out:?}");
        if name == "unquoted_body_from_line" {
            assert!(messages(&out)[0].text.contains("From here on we disagree."));
        }
    }
}
