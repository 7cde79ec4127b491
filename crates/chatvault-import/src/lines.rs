//! Line reading in bounded memory: a line longer than the limit is skipped to its end and
//! reported, never buffered whole; undecodable bytes are reported with their line number.

use std::io::BufRead;

/// The longest line any line-based importer accepts (64 MiB, room for inline attachments).
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// The reason given for a [`Line::Undecodable`].
pub fn undecodable(valid_up_to: usize) -> String {
    format!(
        "bytes that are not valid text in the file's encoding, at byte {valid_up_to} of the line"
    )
}

/// One line, or why it could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text {
        number: u64,
        text: String,
    },
    TooLong {
        number: u64,
        bytes: u64,
    },
    /// Bytes that are not text: invalid UTF-8, or (in a transcoded input) bytes the
    /// source encoding cannot decode.
    /// `lossy` is the line with those bytes replaced by U+FFFD.
    Undecodable {
        number: u64,
        valid_up_to: usize,
        lossy: String,
    },
    IoError {
        number: u64,
        error: String,
    },
}

/// Iterates over the lines of a reader: `\n` or `\r\n` endings, a leading UTF-8 BOM
/// dropped, at most `max` bytes per line.
pub struct BoundedLines<R> {
    input: R,
    max: usize,
    number: u64,
    buf: Vec<u8>,
    done: bool,
    transcoded: bool,
}

impl<R: BufRead> BoundedLines<R> {
    pub fn new(input: R, max: usize) -> Self {
        BoundedLines {
            input,
            max,
            number: 0,
            buf: Vec::new(),
            done: false,
            transcoded: false,
        }
    }
}

/// How a line reads against a line format's record header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderRead<H> {
    Header(H),
    /// The whole shape of a header (a date, a time, and what follows them in the
    /// format) with values no header has: the record it starts is rejected with why.
    Invalid(String),
    /// A date and a time at the start, in the file's style, but not the rest of a
    /// header: kept as text of the record above, and reported.
    Like(String),
    Text,
}

impl<H> HeaderRead<H> {
    /// For a [`HeaderRead::Like`] line kept as text of the record at `record_line`: the
    /// warning that says so.
    pub(crate) fn warn_if_like(
        &self,
        sink: &mut crate::Sink<'_>,
        ctx: &crate::ImportContext,
        number: u64,
        record_line: u64,
    ) -> Result<(), crate::ImportError> {
        match self {
            HeaderRead::Like(why) => sink.warn_header_like(
                &ctx.origin(number),
                format!(
                    "line {number} starts with a date and time like a message header but is not one ({why}): kept as text of the message at line {record_line}"
                ),
            ),
            _ => Ok(()),
        }
    }
}

/// A line as a record parser sees it.
#[derive(Debug, PartialEq, Eq)]
pub struct Parts {
    pub number: u64,
    /// The text; undecodable bytes are U+FFFD, and an over-long line is empty.
    pub text: String,
    /// Why the line could not be read whole. The parser still places the line (a new
    /// record, or part of the one before) and rejects the record it belongs to.
    pub damage: Option<String>,
}

impl Line {
    /// The line as [`Parts`], or the read error that ends the input.
    pub fn into_parts(self) -> Result<Parts, (u64, String)> {
        match self {
            Line::Text { number, text } => Ok(Parts {
                number,
                text,
                damage: None,
            }),
            Line::Undecodable {
                number,
                valid_up_to,
                lossy,
            } => Ok(Parts {
                number,
                text: lossy,
                damage: Some(format!("line {number}: {}", undecodable(valid_up_to))),
            }),
            Line::TooLong { number, bytes } => Ok(Parts {
                number,
                text: String::new(),
                damage: Some(format!(
                    "line {number} is {bytes} bytes, over the {MAX_LINE_BYTES}-byte limit"
                )),
            }),
            Line::IoError { number, error } => Err((number, error)),
        }
    }
}

impl<R> BoundedLines<R> {
    /// The input was decoded from another encoding, which turns undecodable bytes into
    /// U+FFFD: a line holding one is reported as [`Line::Undecodable`].
    pub fn transcoded(mut self) -> Self {
        self.transcoded = true;
        self
    }
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        if self.done {
            return None;
        }
        self.buf.clear();
        let mut total: u64 = 0;
        let mut too_long = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Line::IoError {
                        number: self.number + 1,
                        error: e.to_string(),
                    });
                }
            };
            if chunk.is_empty() {
                self.done = true;
                if total == 0 {
                    return None;
                }
                break;
            }
            let (take, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            total += take as u64;
            if !too_long {
                if self.buf.len() + take > self.max + 2 {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.input.consume(take);
            if found {
                break;
            }
        }
        self.number += 1;
        let number = self.number;
        if too_long {
            return Some(Line::TooLong {
                number,
                bytes: total,
            });
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        let mut bytes = std::mem::take(&mut self.buf);
        if number == 1 && bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        if bytes.len() > self.max {
            return Some(Line::TooLong {
                number,
                bytes: total,
            });
        }
        match String::from_utf8(bytes) {
            Ok(text) => match text.find('\u{fffd}').filter(|_| self.transcoded) {
                Some(at) => Some(Line::Undecodable {
                    number,
                    valid_up_to: at,
                    lossy: text,
                }),
                None => Some(Line::Text { number, text }),
            },
            Err(e) => {
                let valid_up_to = e.utf8_error().valid_up_to();
                Some(Line::Undecodable {
                    number,
                    valid_up_to,
                    lossy: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Line> {
        BoundedLines::new(input, max).collect()
    }

    fn text(number: u64, t: &str) -> Line {
        Line::Text {
            number,
            text: t.into(),
        }
    }

    #[test]
    fn line_table() {
        let cases: Vec<(&str, &[u8], Vec<Line>)> = vec![
            ("lf", b"a\nb\n", vec![text(1, "a"), text(2, "b")]),
            (
                "crlf_mixed",
                b"a\r\nb\nc",
                vec![text(1, "a"), text(2, "b"), text(3, "c")],
            ),
            ("bom", b"\xEF\xBB\xBFa\n", vec![text(1, "a")]),
            (
                "blank_lines_count",
                b"a\n\nb",
                vec![text(1, "a"), text(2, ""), text(3, "b")],
            ),
            ("empty_input", b"", vec![]),
            (
                "too_long",
                b"12345678\nok\n",
                vec![
                    Line::TooLong {
                        number: 1,
                        bytes: 9,
                    },
                    text(2, "ok"),
                ],
            ),
            (
                "invalid_utf8",
                b"ok\n\xff\xfe\nok\n",
                vec![
                    text(1, "ok"),
                    Line::Undecodable {
                        number: 2,
                        valid_up_to: 0,
                        lossy: "\u{fffd}\u{fffd}".into(),
                    },
                    text(3, "ok"),
                ],
            ),
            (
                "truncated_utf8",
                "好".as_bytes()[..2].as_ref(),
                vec![Line::Undecodable {
                    number: 1,
                    valid_up_to: 0,
                    lossy: "\u{fffd}".into(),
                }],
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(lines(input, 5), want, "{name}");
        }
    }

    #[test]
    fn long_lines_use_bounded_memory() {
        // A 10 MB line with a 1 KB limit is skipped without being buffered.
        let mut input = vec![b'x'; 10 << 20];
        input.extend_from_slice(b"\nafter\n");
        let mut it = BoundedLines::new(std::io::BufReader::with_capacity(8192, &input[..]), 1024);
        assert_eq!(
            it.next(),
            Some(Line::TooLong {
                number: 1,
                bytes: (10 << 20) + 1
            })
        );
        assert!(it.buf.capacity() <= 8192 + 1024 + 2);
        assert_eq!(it.next(), Some(text(2, "after")));
    }
}
