//! Text inputs in whatever encoding the exporter wrote: UTF-8 with or without a BOM,
//! UTF-16 (QQ, LINE on Windows), or GBK/GB18030 (Chinese Windows tools).
//!
//! The encoding is decided once from the head of the input and the whole input is then
//! decoded as a stream (`encoding_rs_io`), so the line readers downstream see UTF-8.

use std::io::{BufRead, BufReader, Read};

use encoding_rs::{Encoding, GB18030, UTF_16BE, UTF_16LE, UTF_8};

use crate::lines::{BoundedLines, MAX_LINE_BYTES};
use crate::source::Source;

/// The encoding of an input that starts with `head`.
pub fn sniff_encoding(head: &[u8]) -> &'static Encoding {
    if let Some((enc, _)) = Encoding::for_bom(head) {
        return enc;
    }
    // UTF-16 without a BOM: ASCII-range text has a zero in every other byte.
    let sample = &head[..head.len().min(4096) & !1];
    if sample.len() >= 8 {
        let zeros_odd = sample
            .iter()
            .skip(1)
            .step_by(2)
            .filter(|&&b| b == 0)
            .count();
        let zeros_even = sample.iter().step_by(2).filter(|&&b| b == 0).count();
        let half = sample.len() / 2;
        if zeros_odd * 3 > half && zeros_even * 10 < half {
            return UTF_16LE;
        }
        if zeros_even * 3 > half && zeros_odd * 10 < half {
            return UTF_16BE;
        }
    }
    match std::str::from_utf8(head) {
        Ok(_) => UTF_8,
        // A multi-byte character cut by the end of the head is still UTF-8.
        Err(e) if e.error_len().is_none() => UTF_8,
        // Not UTF-8: GBK/GB18030 when that decodes the head with fewer errors, else
        // UTF-8 with a few bad bytes, which are then reported line by line instead of
        // being decoded into replacement characters.
        Err(_) if gb18030_errors(head) < utf8_errors(head) => GB18030,
        Err(_) => UTF_8,
    }
}

/// Invalid sequences in `b` read as UTF-8 (a character cut at the end is not one).
fn utf8_errors(mut b: &[u8]) -> usize {
    let mut n = 0;
    while let Err(e) = std::str::from_utf8(b) {
        let Some(len) = e.error_len() else { break };
        n += 1;
        b = &b[e.valid_up_to() + len..];
    }
    n
}

/// Malformed sequences in `b` read as GB18030 (a character cut at the end is not one).
fn gb18030_errors(b: &[u8]) -> usize {
    let mut decoder = GB18030.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(4096);
    let (mut n, mut at) = (0, 0);
    loop {
        out.clear();
        let (result, read) =
            decoder.decode_to_string_without_replacement(&b[at..], &mut out, false);
        at += read;
        match result {
            encoding_rs::DecoderResult::InputEmpty => return n,
            encoding_rs::DecoderResult::OutputFull => {}
            encoding_rs::DecoderResult::Malformed(..) => n += 1,
        }
    }
}

/// The head decoded for sniffing: BOM dropped, lossy at a cut character.
pub fn decode_head(head: &[u8]) -> String {
    let enc = sniff_encoding(head);
    let (text, _, _) = enc.decode(head);
    text.trim_start_matches('\u{feff}').to_owned()
}

/// A reader that yields UTF-8 from `input` written in `enc`.
pub fn utf8_reader<'a>(
    enc: &'static Encoding,
    input: impl Read + Send + 'a,
) -> Box<dyn BufRead + Send + 'a> {
    if enc == UTF_8 {
        return Box::new(BufReader::with_capacity(1 << 20, input));
    }
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(enc))
        .bom_override(true)
        .build(input);
    Box::new(BufReader::with_capacity(1 << 20, decoded))
}

/// Opens a plain-file source as UTF-8 lines.
pub fn lines(source: &Source) -> std::io::Result<BoundedLines<Box<dyn BufRead + Send>>> {
    let (reader, encoding) = reader_and_encoding(source)?;
    let lines = BoundedLines::new(reader, MAX_LINE_BYTES);
    Ok(if encoding == UTF_8 {
        lines
    } else {
        lines.transcoded()
    })
}

/// Opens a plain file as UTF-8 bytes (for CSV and JSON readers).
pub fn reader(source: &Source) -> std::io::Result<Box<dyn BufRead + Send>> {
    reader_and_encoding(source).map(|(r, _)| r)
}

/// [`reader`], and the encoding it decodes from. A reader that transcodes replaces
/// undecodable bytes with U+FFFD, so its callers reject records that contain one.
pub fn reader_and_encoding(
    source: &Source,
) -> std::io::Result<(Box<dyn BufRead + Send>, &'static Encoding)> {
    let mut head = vec![0u8; 64 << 10];
    let mut f = std::fs::File::open(&source.path)?;
    let n = crate::source::read_up_to(&mut f, &mut head)?;
    head.truncate(n);
    let encoding = sniff_encoding(&head);
    let mut r = utf8_reader(encoding, source.open_file()?);
    // Drop a UTF-8 BOM so parsers see the first field's real name.
    if r.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        r.consume(3);
    }
    Ok((r, encoding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_recognised_and_decoded() {
        let text = "2019-09-23 20:43:38 骰娘(87200175)\n你好，世界\n";
        let (gbk, _, _) = GB18030.encode(text);
        let mut utf16le = vec![0xFF, 0xFE];
        utf16le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let utf16le_nobom: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let mut utf16be = vec![0xFE, 0xFF];
        utf16be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        let cases: Vec<(&str, Vec<u8>, &Encoding)> = vec![
            ("utf8", text.as_bytes().to_vec(), UTF_8),
            ("utf8_bom", bom, UTF_8),
            ("gbk", gbk.into_owned(), GB18030),
            ("utf16le_bom", utf16le, UTF_16LE),
            ("utf16le_no_bom", utf16le_nobom, UTF_16LE),
            ("utf16be_bom", utf16be, UTF_16BE),
        ];
        for (name, bytes, enc) in cases {
            assert_eq!(sniff_encoding(&bytes), enc, "{name}");
            let mut out = String::new();
            utf8_reader(sniff_encoding(&bytes), &bytes[..])
                .read_to_string(&mut out)
                .expect(name);
            assert_eq!(out.trim_start_matches('\u{feff}'), text, "{name}");
        }
        // A UTF-8 character cut by the end of the head is not mistaken for GBK.
        let cut = &"你好".as_bytes()[..4];
        assert_eq!(sniff_encoding(cut), UTF_8);
    }
}
