//! PDF exports with Chinese text: krilla lays the text with one CJK system font, found
//! with fontdb (or `CHATVAULT_PDF_FONT`), and embeds only the glyphs used (subsetting).
//!
//! Lines are broken by an estimate of each character's width (East Asian wide characters
//! one em, others about half), which keeps every line inside the margins; krilla shapes
//! each line. Unlike the other formats, a PDF is assembled in memory before it is written.

use std::io::{self, Write};
use std::sync::Arc;

use chatvault_model::display::visible;
use chatvault_model::StoredMessage;
use krilla::geom::Point;
use krilla::page::PageSettings;
use krilla::text::{Font, TextDirection};
use krilla::Document;

use crate::{Header, Sink};

const W: f32 = 595.0;
const H: f32 = 842.0;
const MARGIN: f32 = 48.0;
const BODY: f32 = 10.0;
const SMALL: f32 = 8.0;
const TITLE: f32 = 14.0;

/// Font families tried, in order, for Chinese text.
const FAMILIES: &[&str] = &[
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Noto Serif CJK SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "AR PL UMing CN",
    "Noto Sans CJK JP",
];

/// The bytes and face index of a CJK font: `CHATVAULT_PDF_FONT` (a file, optionally
/// `FILE#INDEX`), else the first of [`FAMILIES`] installed.
pub fn find_font() -> io::Result<(Vec<u8>, u32)> {
    if let Ok(spec) = std::env::var("CHATVAULT_PDF_FONT") {
        let (path, index) = match spec.rsplit_once('#') {
            Some((p, i)) => (p.to_owned(), i.parse().unwrap_or(0)),
            None => (spec.clone(), 0),
        };
        let bytes = std::fs::read(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("CHATVAULT_PDF_FONT {path}: {e}")))?;
        return Ok((bytes, index));
    }
    let mut db = fontdb::Database::new();
    db.load_system_fonts();
    for fam in FAMILIES {
        let q = fontdb::Query {
            families: &[fontdb::Family::Name(fam)],
            ..Default::default()
        };
        if let Some(id) = db.query(&q) {
            if let Some((src, index)) = db.face_source(id) {
                let bytes = match src {
                    fontdb::Source::File(p) => std::fs::read(&p)?,
                    fontdb::Source::Binary(b) => b.as_ref().as_ref().to_vec(),
                };
                return Ok((bytes, index));
            }
        }
    }
    Err(io::Error::new(io::ErrorKind::NotFound, "no CJK font for the PDF: install fonts-noto-cjk (apt-get install fonts-noto-cjk) or set CHATVAULT_PDF_FONT=/path/to/font.ttf"))
}

/// How wide a character is, in ems (an estimate good enough to break lines).
fn em(c: char) -> f32 {
    let wide = matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
    if wide {
        1.0
    } else if c.is_ascii_uppercase() || c == 'm' || c == 'w' {
        0.7
    } else {
        0.55
    }
}

/// Breaks text into lines no wider than `width` points at `size`.
pub fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    let max = width / size;
    let mut lines = vec![];
    for para in text.split('\n') {
        let mut line = String::new();
        let mut w = 0.0;
        for c in para.chars() {
            let cw = em(c);
            if w + cw > max && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                w = 0.0;
            }
            line.push(c);
            w += cw;
        }
        lines.push(line);
    }
    lines
}

struct Line {
    text: String,
    size: f32,
    indent: f32,
    gap: f32,
}

pub struct PdfSink<'w> {
    out: Box<dyn Write + 'w>,
    lines: Vec<Line>,
}

impl<'w> PdfSink<'w> {
    pub fn new(out: Box<dyn Write + 'w>) -> PdfSink<'w> {
        PdfSink { out, lines: vec![] }
    }

    fn push(&mut self, text: &str, size: f32, indent: f32, gap: f32) {
        let mut first = true;
        for l in wrap(&visible(text, false), size, W - 2.0 * MARGIN - indent) {
            self.lines.push(Line {
                text: l,
                size,
                indent,
                gap: if first { gap } else { 0.0 },
            });
            first = false;
        }
    }
}

impl Sink for PdfSink<'_> {
    fn begin(&mut self, h: &Header) -> io::Result<()> {
        self.push(&h.title, TITLE, 0.0, 0.0);
        for (k, v) in [
            ("selection", &h.selection),
            ("exported by", &h.exported_by),
            ("exported at", &h.exported_at),
            ("times in", &h.time_zone),
            ("archive", &h.archive_id),
            ("signing key", &h.key_fingerprint),
        ] {
            if k == "times in" && v.is_empty() {
                continue;
            }
            self.push(&format!("{k}: {v}"), SMALL, 0.0, 2.0);
        }
        self.push(&format!("grants: {}", h.grants.join(", ")), SMALL, 0.0, 2.0);
        Ok(())
    }

    fn message(&mut self, m: &StoredMessage) -> io::Result<()> {
        let who = m.sender_name.as_deref().unwrap_or(&m.sender);
        self.push(
            &format!(
                "{who} ({}) · {} · {} · {}",
                m.sender_role.as_str(),
                m.sent_at,
                m.conversation,
                m.kind.as_str()
            ),
            SMALL,
            0.0,
            10.0,
        );
        self.push(m.text.as_deref().unwrap_or(""), BODY, 8.0, 2.0);
        for a in &m.attachments {
            self.push(
                &format!("[{} · {} · {} bytes]", a.name, a.mime, a.size),
                SMALL,
                8.0,
                1.0,
            );
        }
        self.push(&format!("id {}", m.id), SMALL - 1.0, 8.0, 1.0);
        Ok(())
    }

    fn finish(&mut self, count: u64) -> io::Result<()> {
        self.push(&format!("{count} messages"), SMALL, 0.0, 12.0);
        let (bytes, index) = find_font()?;
        let font = Font::new(Arc::new(bytes).into(), index)
            .ok_or_else(|| io::Error::other("the PDF font does not load"))?;
        let mut doc = Document::new();
        let settings = || PageSettings::from_wh(W, H).ok_or_else(|| io::Error::other("page size"));
        let mut i = 0;
        let mut page_no = 0;
        while i < self.lines.len() {
            page_no += 1;
            let mut page = doc.start_page_with(settings()?);
            let mut surface = page.surface();
            let mut y = MARGIN;
            while i < self.lines.len() {
                let l = &self.lines[i];
                let step = l.gap + l.size * 1.45;
                if y + step > H - MARGIN && y > MARGIN {
                    break;
                }
                y += step;
                if !l.text.is_empty() {
                    surface.draw_text(
                        Point::from_xy(MARGIN + l.indent, y),
                        font.clone(),
                        l.size,
                        &l.text,
                        false,
                        TextDirection::Auto,
                    );
                }
                i += 1;
            }
            surface.draw_text(
                Point::from_xy(W - MARGIN - 30.0, H - MARGIN / 2.0),
                font.clone(),
                SMALL - 1.0,
                &format!("{page_no}"),
                false,
                TextDirection::Auto,
            );
            surface.finish();
            page.finish();
        }
        let pdf = doc
            .finish()
            .map_err(|e| io::Error::other(format!("PDF: {e:?}")))?;
        self.out.write_all(&pdf)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn lines_fit_the_width() {
        let cases = [
            ("short", "你好", 1),
            ("chinese wraps at 10 ems", "一二三四五六七八九十一二三", 2),
            ("latin is narrower", "abcdefghijklnopqr", 1),
            ("newlines kept", "a\nb", 2),
            ("empty", "", 1),
        ];
        for (name, text, lines) in cases {
            assert_eq!(wrap(text, 10.0, 100.0).len(), lines, "{name}");
        }
    }
}
