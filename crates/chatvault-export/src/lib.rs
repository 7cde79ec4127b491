//! Exports: JSON, CSV and HTML, written one message at a time, so an export of any size
//! runs in bounded memory.
//!
//! Message content is untrusted in every format:
//! - **JSON** carries text as data.
//! - **CSV** starts with a UTF-8 BOM (Excel reads it as UTF-8), and any cell that begins
//!   with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'` so no
//!   spreadsheet runs it as a formula.
//! - **PDF** embeds a subset of a CJK system font, so Chinese is drawn and can be
//!   extracted back as text (see [`pdf`]).
//! - **HTML** is one self-contained file: every value is escaped and its control and
//!   bidirectional characters made visible, a CSP in the file forbids every script, and
//!   nothing is loaded from anywhere.

use std::io::{self, Write};

pub mod pdf;

use chatvault_model::display::visible;
use chatvault_model::StoredMessage;
use serde::Serialize;

pub const FORMAT: &str = "chatvault-export/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Html,
    Pdf,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "html" => Some(Format::Html),
            "pdf" => Some(Format::Pdf),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Html => "html",
            Format::Pdf => "pdf",
        }
    }
}

/// What the export is, said at its top.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub format: &'static str,
    pub title: String,
    /// How the messages were chosen (`conversation wecom:c-1`, `query 退款 from … to …`).
    pub selection: String,
    pub exported_by: String,
    pub exported_at: String,
    pub archive_id: String,
    pub key_fingerprint: String,
    /// The grants the export was made under.
    pub grants: Vec<String>,
    /// The zone the times of a format for people (CSV, HTML, PDF) are shown in
    /// (`Asia/Shanghai`); see [`sink_shown`]. Empty: as each source wrote them.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub time_zone: String,
}

/// A format, fed one message at a time.
pub trait Sink {
    fn begin(&mut self, h: &Header) -> io::Result<()>;
    fn message(&mut self, m: &StoredMessage) -> io::Result<()>;
    fn finish(&mut self, count: u64) -> io::Result<()>;
}

/// A sink whose formats for people (CSV, HTML, PDF) show each message's time through
/// `show` (in the deployment's zone, named by the header's `time_zone`). JSON is data:
/// it keeps each time as its source wrote it, offset included.
pub fn sink_shown<'w>(
    format: Format,
    out: Box<dyn Write + 'w>,
    show: Box<dyn Fn(&str) -> String + 'w>,
) -> Box<dyn Sink + 'w> {
    let inner = sink(format, out);
    match format {
        Format::Json => inner,
        Format::Csv | Format::Html | Format::Pdf => Box::new(ShownTimes { inner, show }),
    }
}

struct ShownTimes<'w> {
    inner: Box<dyn Sink + 'w>,
    show: Box<dyn Fn(&str) -> String + 'w>,
}

impl Sink for ShownTimes<'_> {
    fn begin(&mut self, h: &Header) -> io::Result<()> {
        self.inner.begin(h)
    }
    fn message(&mut self, m: &StoredMessage) -> io::Result<()> {
        let mut shown = m.clone();
        shown.sent_at = (self.show)(&m.sent_at);
        self.inner.message(&shown)
    }
    fn finish(&mut self, count: u64) -> io::Result<()> {
        self.inner.finish(count)
    }
}

/// A sink that writes each message's time as its source wrote it.
pub fn sink<'w>(format: Format, out: Box<dyn Write + 'w>) -> Box<dyn Sink + 'w> {
    match format {
        Format::Json => Box::new(JsonSink { out, first: true }),
        Format::Csv => Box::new(CsvSink {
            raw: Some(out),
            out: None,
        }),
        Format::Html => Box::new(HtmlSink { out }),
        Format::Pdf => Box::new(pdf::PdfSink::new(out)),
    }
}

struct JsonSink<'w> {
    out: Box<dyn Write + 'w>,
    first: bool,
}

impl Sink for JsonSink<'_> {
    fn begin(&mut self, h: &Header) -> io::Result<()> {
        write!(
            self.out,
            "{{\"header\":{},\"messages\":[",
            serde_json::to_string(h)?
        )
    }
    fn message(&mut self, m: &StoredMessage) -> io::Result<()> {
        if !std::mem::take(&mut self.first) {
            self.out.write_all(b",")?;
        }
        self.out.write_all(b"\n")?;
        serde_json::to_writer(&mut self.out, m)?;
        Ok(())
    }
    fn finish(&mut self, count: u64) -> io::Result<()> {
        write!(self.out, "\n],\"count\":{count}}}\n")?;
        self.out.flush()
    }
}

/// A cell a spreadsheet takes as text: a leading `=`, `+`, `-`, `@`, tab or carriage
/// return (how formulas and DDE payloads start) gets a `'` before it (OWASP's advice).
pub fn csv_cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_owned(),
    }
}

pub const CSV_COLUMNS: [&str; 12] = [
    "id",
    "sent_at",
    "platform",
    "conversation",
    "sender",
    "sender_name",
    "sender_role",
    "kind",
    "text",
    "reply_to",
    "target",
    "attachments",
];

struct CsvSink<'w> {
    /// The file until the BOM is written; then the CSV writer over it.
    raw: Option<Box<dyn Write + 'w>>,
    out: Option<csv::Writer<Box<dyn Write + 'w>>>,
}

impl<'w> CsvSink<'w> {
    fn w(&mut self) -> io::Result<&mut csv::Writer<Box<dyn Write + 'w>>> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("CSV export: begin was not called"))
    }
}

fn csv_err(e: csv::Error) -> io::Error {
    io::Error::other(e.to_string())
}

impl Sink for CsvSink<'_> {
    fn begin(&mut self, _h: &Header) -> io::Result<()> {
        let mut raw = self
            .raw
            .take()
            .ok_or_else(|| io::Error::other("CSV export: begun twice"))?;
        // The BOM makes Excel read the file as UTF-8 (Chinese included).
        raw.write_all("\u{FEFF}".as_bytes())?;
        self.out = Some(csv::WriterBuilder::new().from_writer(raw));
        self.w()?.write_record(CSV_COLUMNS).map_err(csv_err)
    }
    fn message(&mut self, m: &StoredMessage) -> io::Result<()> {
        let atts = m
            .attachments
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let cells = [
            m.id.as_str(),
            m.sent_at.as_str(),
            m.platform.as_str(),
            m.conversation.as_str(),
            m.sender.as_str(),
            m.sender_name.as_deref().unwrap_or(""),
            m.sender_role.as_str(),
            m.kind.as_str(),
            m.text.as_deref().unwrap_or(""),
            m.reply_to.as_deref().unwrap_or(""),
            m.target.as_deref().unwrap_or(""),
            atts.as_str(),
        ];
        self.w()?
            .write_record(cells.iter().map(|c| csv_cell(c)))
            .map_err(csv_err)
    }
    fn finish(&mut self, _count: u64) -> io::Result<()> {
        self.w()?.flush()
    }
}

/// HTML-escapes text after making its deceptive characters visible. (Five replacements:
/// a template engine for a streamed file is not worth its weight.)
pub fn html(s: &str) -> String {
    let v = visible(s, false);
    let mut out = String::with_capacity(v.len() + 16);
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

struct HtmlSink<'w> {
    out: Box<dyn Write + 'w>,
}

const STYLE: &str = "body{font-family:system-ui,'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:2rem;color:#1b1f24}\
table.meta td{padding:.1rem .8rem .1rem 0;vertical-align:top}table.meta td:first-child{color:#5a6270}\
.m{border:1px solid #d9dde3;border-radius:8px;padding:.4rem .7rem;margin:.4rem 0;max-width:48rem}\
.m.agent{margin-left:auto;background:#eef3ff}.who{font-weight:600}.t{color:#5a6270;font-size:.85em}\
.x{white-space:pre-wrap;overflow-wrap:anywhere;unicode-bidi:isolate;margin:.2rem 0}.a{font-size:.85em;color:#5a6270}";

impl Sink for HtmlSink<'_> {
    fn begin(&mut self, h: &Header) -> io::Result<()> {
        write!(
            self.out,
            "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>\n\
             <h1>{}</h1>\n<table class=\"meta\">",
            html(&h.title),
            html(&h.title)
        )?;
        for (k, v) in [
            ("selection", h.selection.as_str()),
            ("exported by", h.exported_by.as_str()),
            ("exported at", h.exported_at.as_str()),
            ("times in", h.time_zone.as_str()),
            ("archive", h.archive_id.as_str()),
            ("signing key", h.key_fingerprint.as_str()),
        ] {
            if k == "times in" && v.is_empty() {
                continue;
            }
            write!(self.out, "<tr><td>{k}</td><td>{}</td></tr>", html(v))?;
        }
        write!(
            self.out,
            "<tr><td>grants</td><td>{}</td></tr></table>\n<div class=\"msgs\">\n",
            html(&h.grants.join(", "))
        )
    }
    fn message(&mut self, m: &StoredMessage) -> io::Result<()> {
        let who = m.sender_name.as_deref().unwrap_or(&m.sender);
        write!(
            self.out,
            "<div class=\"m {}\" id=\"m-{}\"><div><span class=\"who\">{}</span> <span class=\"t\">{} · {} · {} · {}</span></div><p class=\"x\">{}</p>",
            html(m.sender_role.as_str()),
            html(&m.id),
            html(who),
            html(&m.sent_at),
            html(m.platform.as_str()),
            html(&m.conversation),
            html(m.kind.as_str()),
            html(m.text.as_deref().unwrap_or(""))
        )?;
        for a in &m.attachments {
            write!(
                self.out,
                "<div class=\"a\">{} · {} · {} bytes</div>",
                html(&a.name),
                html(&a.mime),
                a.size
            )?;
        }
        self.out.write_all(b"</div>\n")
    }
    fn finish(&mut self, count: u64) -> io::Result<()> {
        write!(
            self.out,
            "</div>\n<p class=\"t\">{count} messages</p></body></html>\n"
        )?;
        self.out.flush()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_never_start_a_formula() {
        let cases = [
            ("plain", "退款", "退款"),
            ("formula", "=1+1", "'=1+1"),
            ("plus", "+86 138", "'+86 138"),
            ("minus", "-2+3", "'-2+3"),
            ("at", "@SUM(A1)", "'@SUM(A1)"),
            ("tab", "\t=cmd", "'\t=cmd"),
            ("cr", "\r=cmd", "'\r=cmd"),
            ("dde", "=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("inside is fine", "a=b", "a=b"),
            ("empty", "", ""),
        ];
        for (name, input, want) in cases {
            assert_eq!(csv_cell(input), want, "{name}");
        }
    }

    #[test]
    fn html_escapes_and_shows_deceptive_characters() {
        let cases = [
            (
                "script",
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("attribute", "\" onerror='x'", "&quot; onerror=&#39;x&#39;"),
            ("entity", "a&b", "a&amp;b"),
            ("rtl", "abc\u{202E}gnp.exe", "abc\\u{202e}gnp.exe"),
            ("chinese", "退款已处理", "退款已处理"),
        ];
        for (name, input, want) in cases {
            assert_eq!(html(input), want, "{name}");
        }
    }

    proptest::proptest! {
        #[test]
        fn escaped_html_has_no_markup(s in "\\PC*") {
            let h = html(&s);
            proptest::prop_assert!(!h.contains('<') && !h.contains('>') && !h.contains('"'));
        }

        #[test]
        fn no_csv_cell_starts_a_formula(s in "\\PC*") {
            let c = csv_cell(&s);
            proptest::prop_assert!(!matches!(c.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r')));
        }
    }
}
