//! Importers: turn export files into a stream of [`NewMessage`]s, rejections and warnings.
//!
//! Each format is one module implementing [`Importer`], listed in [`IMPORTERS`]. An input
//! is first opened as a [`Source`] (a plain file or a zip archive, checked against
//! hostile-input limits before anything is read), then matched to an importer by
//! sniffing its content ([`detect`]), then streamed: the importer pushes one record at a
//! time into a [`Sink`], so an export of any size is read in bounded memory. Every record
//! is pushed as a message or as a [`Rejection`] naming the file and line: nothing is
//! dropped silently.
//!
//! Importers never touch storage, keys or the index: the archive decides what is stored,
//! what is a duplicate, and how it is protected.

mod csvmap;
mod discord;
mod draft;
mod jsonl;
mod jsonstream;
mod line;
mod lines;
mod mbox;
mod messenger;
mod qq;
mod signal;
mod slack;
mod source;
mod telegram;
mod text;
mod time;
mod wechat;
mod wecom;
mod whatsapp;

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chatvault_model::{NewMessage, Origin, Platform};
pub use csvmap::{CsvMap, GenericCsv};
pub use jsonl::CanonicalJsonl;
pub use lines::{BoundedLines, Line, MAX_LINE_BYTES};
pub use source::{Limits, Source, SourceError};
pub use time::{machine_zone, LocalTime};

/// A record that could not be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    pub file: String,
    pub line: u64,
    pub reason: String,
    /// The line looks like a record header of the file's own format (a date and time at
    /// the start, in the file's style; an mbox `From ` line) but was not read as one. It
    /// is reported rather than taken silently as text of the record above it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub header_like: bool,
}

impl Rejection {
    pub fn new(origin: &Origin, reason: impl Into<String>) -> Self {
        Rejection {
            file: origin.file.clone(),
            line: origin.line,
            reason: reason.into(),
            header_like: false,
        }
    }
}

/// One item of an import stream.
#[derive(Debug)]
pub enum Parsed {
    Message(Box<NewMessage>),
    Rejected(Rejection),
    /// The record was imported, but something it refers to was not (a media file the
    /// export did not include, say). Reported, never fatal.
    Warning(Rejection),
}

/// What an importer knows about the input besides its bytes.
#[derive(Debug, Clone)]
pub struct ImportContext {
    /// How the file is named in reports.
    pub file_label: String,
    /// The folder that relative attachment paths are resolved against; `None` refuses them.
    pub base_dir: Option<PathBuf>,
    /// The zone of sources that write local wall-clock time without an offset.
    pub tz: chrono_tz::Tz,
    /// The user's own name, for exports that write "我", "You" or "Me".
    pub self_name: Option<String>,
    /// The conversation id for formats that carry none (WhatsApp, Signal, a CSV file).
    pub conversation: Option<String>,
    /// The platform name for the generic CSV importer.
    pub platform: Option<Platform>,
    /// The column mapping for the generic CSV importer.
    pub csv_map: Option<CsvMap>,
}

impl Default for ImportContext {
    fn default() -> Self {
        ImportContext {
            file_label: String::new(),
            base_dir: None,
            tz: chrono_tz::UTC,
            self_name: None,
            conversation: None,
            platform: None,
            csv_map: None,
        }
    }
}

impl ImportContext {
    pub fn origin(&self, line: u64) -> Origin {
        Origin {
            file: self.file_label.clone(),
            line,
        }
    }
}

/// The receiver gave up (storing failed): the importer must stop reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// Where an importer pushes its records.
pub struct Sink<'a> {
    push: &'a mut dyn FnMut(Parsed) -> bool,
}

impl<'a> Sink<'a> {
    pub fn new(push: &'a mut dyn FnMut(Parsed) -> bool) -> Self {
        Sink { push }
    }
    pub fn push(&mut self, p: Parsed) -> Result<(), ImportError> {
        if (self.push)(p) {
            Ok(())
        } else {
            Err(ImportError::Stopped)
        }
    }
    pub fn message(&mut self, m: NewMessage) -> Result<(), ImportError> {
        self.push(Parsed::Message(Box::new(m)))
    }
    pub fn reject(
        &mut self,
        origin: &Origin,
        reason: impl Into<String>,
    ) -> Result<(), ImportError> {
        self.push(Parsed::Rejected(Rejection::new(origin, reason)))
    }
    pub fn warn(&mut self, origin: &Origin, reason: impl Into<String>) -> Result<(), ImportError> {
        self.push(Parsed::Warning(Rejection::new(origin, reason)))
    }
    /// Reports a line that looks like a record header but is kept as text of the record
    /// above it (a warning that counts as header-like).
    pub fn warn_header_like(
        &mut self,
        origin: &Origin,
        reason: impl Into<String>,
    ) -> Result<(), ImportError> {
        self.push(Parsed::Warning(Rejection {
            header_like: true,
            ..Rejection::new(origin, reason)
        }))
    }
    /// Rejects a record that starts at a line which looks like a record header but could
    /// not be read as one (a rejection that counts as header-like).
    pub fn reject_header_like(
        &mut self,
        origin: &Origin,
        reason: impl Into<String>,
    ) -> Result<(), ImportError> {
        self.push(Parsed::Rejected(Rejection {
            header_like: true,
            ..Rejection::new(origin, reason)
        }))
    }
}

/// Why an importer stopped before the end of its input.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("stopped")]
    Stopped,
    /// The rest of the input could not be read (a syntax error in a JSON document, an
    /// unreadable zip entry). Records pushed before it stand.
    #[error("{file}:{line}: {reason}")]
    Fatal {
        file: String,
        line: u64,
        reason: String,
    },
}

impl ImportError {
    pub fn fatal(origin: &Origin, reason: impl Into<String>) -> Self {
        ImportError::Fatal {
            file: origin.file.clone(),
            line: origin.line,
            reason: reason.into(),
        }
    }
}

/// What detection sees of an input.
#[derive(Debug, Default)]
pub struct Probe {
    /// The input's file name (not its folder).
    pub file_name: String,
    /// The first bytes of a plain file, or of the zip's main text/JSON entry.
    pub head: Vec<u8>,
    /// For a zip: every entry name, and the heads of its top-level `.txt`/`.json` files.
    pub entries: Vec<String>,
    pub entry_heads: Vec<(String, Vec<u8>)>,
    pub is_zip: bool,
}

impl Probe {
    /// The head as text: BOM dropped, decoded as UTF-16 or GB18030 when it is not UTF-8.
    pub fn text(&self) -> String {
        text::decode_head(&self.head)
    }
    pub fn entry_head(&self, name: &str) -> Option<&[u8]> {
        self.entry_heads
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h.as_slice())
    }
}

/// One export format.
pub trait Importer: Sync {
    /// The name used by `--format`.
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// How sure (0 = not at all, 100 = certain) this importer is that the probed input
    /// is its format. Judged by content; the file name only breaks ties.
    fn sniff(&self, probe: &Probe) -> u8;
    /// Whether this importer reads the file through the transcoding reader and hands its
    /// records over as parsed values (the JSON formats): a record that still holds a
    /// U+FFFD from an undecodable byte is then rejected by [`run`]. Line readers report
    /// such lines themselves; mbox and canonical JSONL read raw bytes.
    fn transcodes(&self) -> bool {
        false
    }
    /// Whether the options suffice for this format (checked before anything is written).
    fn check(&self, _ctx: &ImportContext) -> Result<(), String> {
        Ok(())
    }
    /// Reads `source`, pushing every record into `sink`.
    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError>;
}

/// Every importer, in the order `--format` lists them.
pub static IMPORTERS: &[&dyn Importer] = &[
    &whatsapp::WhatsApp,
    &telegram::Telegram,
    &slack::Slack,
    &discord::Discord,
    &messenger::Messenger,
    &wechat::PyWxDump,
    &wechat::MemoTrace,
    &wechat::Chatlog,
    &wecom::WeCom,
    &qq::Qq,
    &signal::Signal,
    &line::LineTxt,
    &mbox::Mbox,
    &GenericCsv,
    &CanonicalJsonl,
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DetectError {
    #[error("unknown format `{0}`; known formats: {1}")]
    UnknownFormat(String, String),
    #[error("{file}: no importer recognises this content; force one with --format ({known})")]
    Unrecognised { file: String, known: String },
    #[error("{file}: the content fits several formats ({candidates}); choose one with --format")]
    Ambiguous { file: String, candidates: String },
    #[error("{file}: the zip holds another zip ({inner}) and nothing chatvault can import; archives inside archives are never opened: extract it first")]
    NestedZip { file: String, inner: String },
}

fn known() -> String {
    IMPORTERS
        .iter()
        .map(|i| i.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The importer named `name`.
pub fn by_name(name: &str) -> Result<&'static dyn Importer, DetectError> {
    IMPORTERS
        .iter()
        .copied()
        .find(|i| i.name() == name)
        .ok_or_else(|| DetectError::UnknownFormat(name.into(), known()))
}

/// Picks the importer for an input by content. When the best score is shared, the error
/// lists the candidates.
pub fn detect(probe: &Probe) -> Result<&'static dyn Importer, DetectError> {
    let scored: Vec<(u8, &'static dyn Importer)> = IMPORTERS
        .iter()
        .map(|i| (i.sniff(probe), *i))
        .filter(|(s, _)| *s > 0)
        .collect();
    let Some(best) = scored.iter().map(|(s, _)| *s).max() else {
        if let Some(inner) = probe
            .entries
            .iter()
            .find(|e| e.to_ascii_lowercase().ends_with(".zip"))
        {
            return Err(DetectError::NestedZip {
                file: probe.file_name.clone(),
                inner: inner.clone(),
            });
        }
        return Err(DetectError::Unrecognised {
            file: probe.file_name.clone(),
            known: known(),
        });
    };
    let top: Vec<_> = scored
        .iter()
        .filter(|(s, _)| *s == best)
        .map(|(_, i)| *i)
        .collect();
    match top.as_slice() {
        [one] => Ok(*one),
        many => Err(DetectError::Ambiguous {
            file: probe.file_name.clone(),
            candidates: many.iter().map(|i| i.name()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Runs `importer` over `source`, turning a fatal error into one last rejection so the
/// caller's report still accounts for it.
pub fn run(
    importer: &dyn Importer,
    source: &Source,
    ctx: &ImportContext,
    push: &mut dyn FnMut(Parsed) -> bool,
) -> bool {
    // A file decoded from UTF-16 or GB18030 turns bytes it cannot decode into U+FFFD:
    // a record of a transcoding reader that still holds one is rejected here.
    let transcoded = (importer.transcodes() && !source.is_zip())
        .then(|| source.probe().ok())
        .flatten()
        .map(|p| text::sniff_encoding(&p.head))
        .filter(|e| *e != encoding_rs::UTF_8);
    let mut checked = |p: Parsed| -> bool {
        match (p, transcoded) {
            (Parsed::Message(m), Some(enc))
                if String::from_utf8_lossy(&m.raw).contains('\u{fffd}') =>
            {
                push(Parsed::Rejected(Rejection::new(
                    &m.origin,
                    format!(
                        "the record holds bytes that are not valid {} text",
                        enc.name()
                    ),
                )))
            }
            (p, _) => push(p),
        }
    };
    let mut sink = Sink::new(&mut checked);
    match importer.import(source, ctx, &mut sink) {
        Ok(()) => true,
        Err(ImportError::Stopped) => false,
        Err(ImportError::Fatal { file, line, reason }) => sink
            .push(Parsed::Rejected(Rejection {
                file,
                line,
                reason: format!("{reason}; the rest of the file could not be read"),
                header_like: false,
            }))
            .is_ok(),
    }
}

/// Collects everything an importer pushes: for tests and small inputs.
pub fn collect(importer: &dyn Importer, source: &Source, ctx: &ImportContext) -> Vec<Parsed> {
    let mut out = vec![];
    run(importer, source, ctx, &mut |p| {
        out.push(p);
        true
    });
    out
}

/// A reader that counts the bytes read through it, for progress bars.
pub struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> CountingReader<R> {
    pub fn with_counter(inner: R, count: Arc<AtomicU64>) -> Self {
        CountingReader { inner, count }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Helpers for the importers' unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// Writes `bytes` to a file named `name` in a fresh folder and imports it.
    pub fn run_bytes(
        importer: &dyn Importer,
        name: &str,
        bytes: &[u8],
        ctx: &ImportContext,
    ) -> Vec<Parsed> {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let source = Source::open(&path, &Limits::default()).expect("open");
        collect(importer, &source, ctx)
    }

    /// The messages of an import, panicking on anything else but warnings.
    pub fn messages(out: Vec<Parsed>) -> Vec<NewMessage> {
        out.into_iter()
            .filter_map(|p| match p {
                Parsed::Message(m) => Some(*m),
                Parsed::Warning(_) => None,
                Parsed::Rejected(r) => panic!("rejected {}:{}: {}", r.file, r.line, r.reason),
            })
            .collect()
    }

    pub fn ctx(label: &str) -> ImportContext {
        ImportContext {
            file_label: label.into(),
            ..ImportContext::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(head: &[u8], file: &str) -> Probe {
        Probe {
            file_name: file.into(),
            head: head.to_vec(),
            ..Probe::default()
        }
    }

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
            ("whatsapp_android", b"06.08.2016, 13:23 - Ash: Hey\n06.08.2016, 13:25 - Brock: Hi\n", "chat.txt", Ok("whatsapp")),
            ("whatsapp_ios", b"[20.06.19, 15:58:53] John: Hey\r\n", "_chat.txt", Ok("whatsapp")),
            ("signal", b"[2019-12-24, 12:23] Jane Doe: Hello John!\n", "chat.md", Ok("signal")),
            ("telegram", b"{\n \"name\": \"Bob\",\n \"type\": \"personal_chat\",\n \"id\": 7,\n \"messages\": [", "result.json", Ok("telegram")),
            ("wecom", br#"{"msgid":"x","action":"send","from":"a","tolist":["b"],"roomid":"","msgtime":1,"msgtype":"text","text":{"content":"hi"}}"#, "a.jsonl", Ok("wecom")),
            ("pywxdump", "id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime\n".as_bytes(), "a.csv", Ok("wechat-pywxdump")),
            ("memotrace", "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender\n".as_bytes(), "a.csv", Ok("wechat-memotrace")),
            ("qq", "消息记录（此消息记录为文本格式，不支持重新导入）\n".as_bytes(), "a.txt", Ok("qq")),
            ("mbox", b"From 1844347792267117879@xxx\nMIME-Version: 1.0\nDate: Fri, 26 Sep 2025 10:18:40 -0700\n", "a.mbox", Ok("mbox")),
            ("line", b"[LINE] Chat history with Bob\nSaved on: 2018/03/25 19:57\n\n", "a.txt", Ok("line")),
        ];
        for (name, head, file, want) in cases {
            let got = detect(&probe(head, file)).map(|i| i.name()).map_err(|_| ());
            assert_eq!(got, want, "{name}");
        }
        // A tie names every candidate.
        let tie = probe("[LINE] Chat history with 消息对象:x\n".as_bytes(), "x.txt");
        match detect(&tie) {
            Err(DetectError::Ambiguous { candidates, .. }) => assert_eq!(candidates, "qq, line"),
            other => panic!("{:?}", other.map(|i| i.name())),
        }
        // A zip holding only another zip is refused with that reason.
        let nested = Probe {
            file_name: "x.zip".into(),
            is_zip: true,
            entries: vec!["inner.zip".into()],
            ..Probe::default()
        };
        assert!(matches!(
            detect(&nested),
            Err(DetectError::NestedZip { .. })
        ));
        assert!(matches!(
            by_name("nope"),
            Err(DetectError::UnknownFormat(..))
        ));
        assert_eq!(by_name("jsonl").map(|i| i.name()), Ok("jsonl"));
    }

    #[test]
    fn every_importer_has_a_unique_name() {
        let mut names: Vec<_> = IMPORTERS.iter().map(|i| i.name()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}

/// The entry point of the `fuzz/` targets: imports `bytes` as `format`, through the same
/// open, check, probe and import steps as `chatvault import`. It must never panic.
#[doc(hidden)]
pub mod fuzz {
    use super::*;

    pub fn run(format: &str, bytes: &[u8]) {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let ext = match format {
            "whatsapp" | "slack" => "zip",
            "csv" | "wechat-pywxdump" | "wechat-memotrace" => "csv",
            _ => "txt",
        };
        let path = dir.join(format!(
            "chatvault-fuzz-{}-{}.{ext}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        if std::fs::write(&path, bytes).is_err() {
            return;
        }
        if let Ok(source) = Source::open(&path, &Limits::default()) {
            if let Ok(probe) = source.probe() {
                let _ = detect(&probe);
            }
            let ctx = ImportContext {
                file_label: "fuzz".into(),
                csv_map: CsvMap::parse("time=time,sender=sender,text=text").ok(),
                self_name: Some("me".into()),
                ..ImportContext::default()
            };
            if let Ok(importer) = by_name(format) {
                for p in collect(importer, &source, &ctx) {
                    if let Parsed::Message(m) = p {
                        // Whatever is accepted must be a valid record.
                        assert!(!m.sender.id.is_empty() && !m.conversation_id.is_empty());
                    }
                }
            }
        }
        let _ = std::fs::remove_file(&path);
    }
}
