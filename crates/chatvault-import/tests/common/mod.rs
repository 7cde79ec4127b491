#![allow(dead_code)] // each test binary uses part of these helpers
//! Shared by the fixture suites: import a file the way `chatvault import` does (open,
//! check, detect by content) and check the outcome.

use std::path::Path;

use chatvault_import::{collect, detect, ImportContext, Limits, Parsed, Source};
use chatvault_model::{MessageKind, NewMessage};

pub struct Outcome {
    pub format: &'static str,
    pub messages: Vec<NewMessage>,
    pub rejected: Vec<String>,
    pub warnings: usize,
}

pub fn import(path: &Path, tz: &str) -> Outcome {
    let source = Source::open(path, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    let probe = source.probe().expect("probe");
    let importer = detect(&probe).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ctx = ImportContext {
        file_label: path.display().to_string(),
        base_dir: path.parent().map(Path::to_owned),
        tz: tz.parse().expect("tz"),
        ..ImportContext::default()
    };
    let mut out = Outcome {
        format: importer.name(),
        messages: vec![],
        rejected: vec![],
        warnings: 0,
    };
    for p in collect(importer, &source, &ctx) {
        match p {
            Parsed::Message(m) => out.messages.push(*m),
            Parsed::Rejected(r) => out
                .rejected
                .push(format!("{}:{}: {}", r.file, r.line, r.reason)),
            Parsed::Warning(_) => out.warnings += 1,
        }
    }
    out
}

/// One expectation about one message, found by its position in the export.
pub struct Spot {
    pub index: usize,
    pub sender: &'static str,
    /// The instant in UTC, RFC 3339 with `Z`.
    pub utc: &'static str,
    pub kind: MessageKind,
    pub text_contains: &'static str,
    pub reply_to: Option<&'static str>,
    pub attachments: usize,
}

pub struct Case {
    pub path: &'static str,
    pub tz: &'static str,
    pub format: &'static str,
    pub count: usize,
    pub conversations: usize,
    pub spots: Vec<Spot>,
}

pub fn check(root: &Path, case: &Case) {
    let path = root.join(case.path);
    let out = import(&path, case.tz);
    let name = case.path;
    assert_eq!(out.format, case.format, "{name}: detected format");
    assert!(
        out.rejected.is_empty(),
        "{name}: rejected {:?}",
        out.rejected
    );
    assert_eq!(out.messages.len(), case.count, "{name}: message count");
    let mut conversations: Vec<_> = out
        .messages
        .iter()
        .map(|m| m.conversation_id.clone())
        .collect();
    conversations.sort();
    conversations.dedup();
    assert_eq!(
        conversations.len(),
        case.conversations,
        "{name}: conversations {conversations:?}"
    );
    for s in &case.spots {
        let m = &out.messages[s.index];
        let utc = chatvault_model::Timestamp::utc(m.sent_at.utc_ms).to_rfc3339();
        assert_eq!(
            m.sender.name.as_deref().unwrap_or(&m.sender.id),
            s.sender,
            "{name}[{}] sender",
            s.index
        );
        assert_eq!(utc, s.utc, "{name}[{}] time", s.index);
        assert_eq!(m.kind, s.kind, "{name}[{}] kind", s.index);
        assert!(
            m.text.contains(s.text_contains),
            "{name}[{}] text {:?}",
            s.index,
            m.text
        );
        assert_eq!(
            m.reply_to.as_deref(),
            s.reply_to,
            "{name}[{}] reply",
            s.index
        );
        assert_eq!(
            m.attachments.len(),
            s.attachments,
            "{name}[{}] attachments",
            s.index
        );
        assert!(!m.raw.is_empty(), "{name}[{}] raw record kept", s.index);
    }
}

pub fn spot(
    index: usize,
    sender: &'static str,
    utc: &'static str,
    kind: MessageKind,
    text_contains: &'static str,
) -> Spot {
    Spot {
        index,
        sender,
        utc,
        kind,
        text_contains,
        reply_to: None,
        attachments: 0,
    }
}

/// How many e-mails Python's `mailbox.mbox` (an independent reader, in every Python 3)
/// finds in `path`. Fails, naming what is missing, where python3 is not installed.
pub fn python_mbox_count(path: &Path) -> usize {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import mailbox, sys; print(len(mailbox.mbox(sys.argv[1], create=False)))",
        ])
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is needed to count e-mails with an independent reader (Python's mailbox module): {e}")
        });
    assert!(
        out.status.success(),
        "python3 mailbox failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}

/// Imports every `.mbox` in `dir` and checks it: detected as mbox, nothing rejected, and
/// as many e-mails as Python's `mailbox` finds. Returns how many files were checked.
pub fn check_mbox_counts(dir: &Path) -> usize {
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("mbox folder") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("mbox") {
            continue;
        }
        let out = import(&path, "UTC");
        assert_eq!(out.format, "mbox", "{}", path.display());
        assert!(
            out.rejected.is_empty(),
            "{}: {:?}",
            path.display(),
            out.rejected
        );
        assert_eq!(
            out.messages.len(),
            python_mbox_count(&path),
            "{}: e-mails found here and by Python's mailbox",
            path.display()
        );
        checked += 1;
    }
    checked
}
