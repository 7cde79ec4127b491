//! Importers: turn export files into a stream of [`NewMessage`]s or rejections.
//!
//! Each format is one module implementing [`Importer`], listed in [`IMPORTERS`]. An
//! importer reads from any `BufRead` and yields records one at a time, so an export of any
//! size streams in bounded memory. Each yielded item is either a message or a
//! [`Rejection`] naming the file and line: nothing is dropped silently.
//!
//! Importers never touch storage, keys or the index: the archive decides what is stored,
//! what is a duplicate, and how it is protected.

mod jsonl;
mod lines;

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chatvault_model::{NewMessage, Origin};
pub use jsonl::CanonicalJsonl;
pub use lines::{BoundedLines, Line, MAX_LINE_BYTES};

/// A record that could not be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    pub file: String,
    pub line: u64,
    pub reason: String,
}

impl Rejection {
    pub fn new(origin: &Origin, reason: impl Into<String>) -> Self {
        Rejection { file: origin.file.clone(), line: origin.line, reason: reason.into() }
    }
}

/// One item of an import stream.
#[derive(Debug)]
pub enum Parsed {
    Message(Box<NewMessage>),
    Rejected(Rejection),
}

/// What an importer knows about the input besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct ImportContext {
    /// How the file is named in reports.
    pub file_label: String,
    /// The folder that relative attachment paths are resolved against; `None` refuses them.
    pub base_dir: Option<PathBuf>,
}

/// The records of one input, in order. `Send`, so the archive can parse on one core while
/// it stores on another.
pub type RecordStream<'a> = Box<dyn Iterator<Item = Parsed> + Send + 'a>;

/// One export format.
pub trait Importer: Sync {
    /// The name used by `--format`.
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// How sure (0 = not at all, 100 = certain) this importer is that an input starting
    /// with `head` is its format. Judged by content; `file_name` only breaks ties.
    fn sniff(&self, head: &[u8], file_name: &str) -> u8;
    /// Streams the records of `input`.
    fn open<'a>(&self, input: Box<dyn BufRead + Send + 'a>, ctx: ImportContext) -> RecordStream<'a>;
}

/// Every importer, in the order `--format` lists them.
pub static IMPORTERS: &[&dyn Importer] = &[&CanonicalJsonl];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DetectError {
    #[error("unknown format `{0}`; known formats: {1}")]
    UnknownFormat(String, String),
    #[error("{file}: no importer recognises this content; force one with --format ({known})")]
    Unrecognised { file: String, known: String },
    #[error("{file}: the content fits several formats ({candidates}); choose one with --format")]
    Ambiguous { file: String, candidates: String },
}

fn known() -> String {
    IMPORTERS.iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
}

/// The importer named `name`.
pub fn by_name(name: &str) -> Result<&'static dyn Importer, DetectError> {
    IMPORTERS.iter().copied().find(|i| i.name() == name).ok_or_else(|| DetectError::UnknownFormat(name.into(), known()))
}

/// Picks the importer for an input by its first bytes. When the best score is shared,
/// the error lists the candidates.
pub fn detect(head: &[u8], file_name: &str) -> Result<&'static dyn Importer, DetectError> {
    let scored: Vec<(u8, &'static dyn Importer)> =
        IMPORTERS.iter().map(|i| (i.sniff(head, file_name), *i)).filter(|(s, _)| *s > 0).collect();
    let best = scored.iter().map(|(s, _)| *s).max().ok_or_else(|| DetectError::Unrecognised {
        file: file_name.to_owned(),
        known: known(),
    })?;
    let top: Vec<_> = scored.iter().filter(|(s, _)| *s == best).map(|(_, i)| *i).collect();
    match top.as_slice() {
        [one] => Ok(*one),
        many => Err(DetectError::Ambiguous {
            file: file_name.to_owned(),
            candidates: many.iter().map(|i| i.name()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// A reader that counts the bytes read through it, for progress bars.
pub struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> CountingReader<R> {
    pub fn new(inner: R) -> (Self, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        (CountingReader { inner, count: count.clone() }, count)
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_table() {
        let line = br#"{"platform":"wecom","conversation_id":"c","sender_id":"u","sent_at":"2024-01-01T00:00:00Z","text":"x"}"#;
        // (name, head, file name, the importer chosen or an error)
        type Case<'a> = (&'a str, &'a [u8], &'a str, Result<&'a str, ()>);
        let cases: Vec<Case> = vec![
            ("canonical_jsonl", line, "a.jsonl", Ok("jsonl")),
            ("canonical_without_extension", line, "export", Ok("jsonl")),
            ("plain_text", b"hello world", "a.txt", Err(())),
            ("json_array", b"[{\"a\":1}]", "a.json", Err(())),
            ("empty", b"", "a.jsonl", Err(())),
        ];
        for (name, head, file, want) in cases {
            let got = detect(head, file).map(|i| i.name()).map_err(|_| ());
            assert_eq!(got, want, "{name}");
        }
        assert!(matches!(by_name("nope"), Err(DetectError::UnknownFormat(..))));
        assert_eq!(by_name("jsonl").map(|i| i.name()), Ok("jsonl"));
    }
}
