//! Helpers shared by the archive's integration tests.
#![allow(dead_code)]

use std::path::Path;

use chatvault_archive::{Archive, Filters, ImportReport, KeyProvider};
use chatvault_import::{CanonicalJsonl, ImportContext};

pub fn new_archive() -> (tempfile::TempDir, Archive) {
    let dir = tempfile::tempdir().expect("tempdir");
    Archive::init(dir.path(), &KeyProvider::default()).expect("init");
    let a = Archive::open(dir.path(), &KeyProvider::default()).expect("open");
    (dir, a)
}

pub fn reopen(dir: &Path) -> Archive {
    Archive::open(dir, &KeyProvider::default()).expect("open")
}

/// Imports JSONL text as if it were the file `name`.
pub fn import_text(a: &mut Archive, name: &str, text: &str) -> ImportReport {
    let ctx = ImportContext {
        file_label: name.into(),
        base_dir: None,
        ..ImportContext::default()
    };
    let mut records = CanonicalJsonl.open(Box::new(text.as_bytes()), ctx);
    a.import(&mut records, &mut |_| {}).expect("import")
}

pub fn line(conv: &str, source: Option<&str>, sender: &str, at: &str, text: &str) -> String {
    let mut v = serde_json::json!({
        "platform": "wecom", "conversation_id": conv, "sender_id": sender, "sender_name": sender,
        "sent_at": at, "text": text,
    });
    if let Some(s) = source {
        v["source_id"] = s.into();
    }
    v.to_string()
}

pub fn total(a: &mut Archive, q: &str) -> u64 {
    a.search(q, &Filters::default(), 10, 0)
        .expect("search")
        .total
}

pub fn generated(n: usize, seed: u64) -> String {
    let opts = chatvault_gen::GenOptions {
        messages: n,
        seed,
        ..Default::default()
    };
    let mut s = chatvault_gen::Generator::new(opts, None)
        .collect::<Vec<_>>()
        .join("\n");
    s.push('\n');
    s
}

/// Every file under `dir` except the search index, as bytes.
pub fn store_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    for e in walk(dir) {
        if e.components().any(|c| c.as_os_str() == "index") {
            continue;
        }
        out.push((e.display().to_string(), std::fs::read(&e).expect("read")));
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
