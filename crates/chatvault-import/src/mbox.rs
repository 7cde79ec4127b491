//! mbox e-mail (mboxo/mboxrd, Gmail Takeout, Thunderbird): each e-mail becomes a
//! message, decoded with `mail-parser` (RFC 5322 headers, RFC 2047 words, MIME parts,
//! charsets including GBK and Big5). E-mails are grouped into conversations by thread:
//! the thread of a message it references (References, In-Reply-To), else its subject.
//!
//! The splitting into e-mails is ours rather than `mail_parser::mailbox::mbox`, because
//! it must name line numbers and bound each e-mail's size.

use std::collections::HashMap;
use std::io::BufRead;

use chatvault_model::{MessageKind, Timestamp};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

use crate::draft::Draft;
use crate::source::Source;
use crate::time::{naive, LocalTime};
use crate::{ImportContext, ImportError, Importer, Probe, Sink};

pub struct Mbox;

/// Largest e-mail taken (64 MiB, attachments included).
const MAX_MAIL_BYTES: usize = 64 << 20;
/// Message-ids remembered for threading.
const MAX_THREAD_IDS: usize = 2_000_000;

/// A `From ` line that starts a new e-mail: after a blank line (mboxo, mboxrd), or
/// anywhere when it carries an envelope's date (`From - Mon Jan  1 00:00:00 2001` from
/// Netscape and Thunderbird, which write no blank line before it; `From bob at
/// example.com  Wed …` from pipermail; Gmail's `From 1844…@xxx Fri Sep 26 … 2025`).
fn is_separator(line: &[u8], after_blank: bool) -> bool {
    if !line.starts_with(b"From ") || line.len() <= 5 {
        return false;
    }
    let loose = after_blank && line[5] != b' ' && line[5] != b'\n' && line[5] != b'\r';
    loose || is_envelope(&line[5..])
}

/// A header field's first line: a name of printable ASCII, then `:`.
fn is_header_field(line: &[u8]) -> bool {
    let name = line.iter().take_while(|&&b| b != b':').count();
    name > 0 && name < line.len() && line[..name].iter().all(|b| (0x21..=0x7e).contains(b))
}

/// What follows `From `: a sender, then an asctime date: a month name, a time and a year.
fn is_envelope(rest: &[u8]) -> bool {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Ok(rest) = std::str::from_utf8(rest) else {
        return false;
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    if words.len() < 5 || words.len() > 12 {
        return false;
    }
    let is_time = |w: &str| {
        let parts: Vec<&str> = w.split(':').collect();
        (2..=3).contains(&parts.len())
            && parts.iter().enumerate().all(|(i, p)| {
                (if i == 0 { 1..=2 } else { 2..=2 }).contains(&p.len())
                    && p.bytes().all(|b| b.is_ascii_digit())
            })
    };
    let month = words.iter().position(|w| MONTHS.contains(w));
    let time = words.iter().position(|w| is_time(w));
    let year = words
        .iter()
        .rposition(|w| w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()));
    matches!((month, time, year), (Some(m), Some(t), Some(y)) if m >= 1 && m < t && t < y)
}

impl Importer for Mbox {
    fn name(&self) -> &'static str {
        "mbox"
    }

    fn description(&self) -> &'static str {
        "mbox e-mail (RFC 5322 and MIME; threads become conversations)"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        if probe.is_zip || !probe.head.starts_with(b"From ") {
            return 0;
        }
        let t =
            String::from_utf8_lossy(&probe.head[..probe.head.len().min(8192)]).to_ascii_lowercase();
        let headers = [
            "\nfrom:",
            "\ndate:",
            "\nsubject:",
            "\nmessage-id:",
            "\nto:",
            "\nmime-version:",
            "\nreceived:",
        ];
        if headers.iter().filter(|h| t.contains(*h)).count() >= 2 {
            95
        } else {
            0
        }
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let mut input = source
            .reader()
            .map_err(|e| ImportError::fatal(&ctx.origin(0), e.to_string()))?;
        let mut threads = Threads::default();
        let mut mail: Vec<u8> = Vec::new();
        let mut start_line = 0u64;
        let mut envelope = String::new();
        let mut too_big = false;
        let mut line = Vec::new();
        let mut number = 0u64;
        let mut after_blank = true;
        // One line read ahead, to tell a separator from an unquoted body line.
        let mut held: Option<Vec<u8>> = None;
        loop {
            match held.take() {
                Some(h) => line = h,
                None => {
                    line.clear();
                    let n = read_line(&mut input, &mut line, MAX_MAIL_BYTES)
                        .map_err(|e| ImportError::fatal(&ctx.origin(number + 1), e.to_string()))?;
                    if n == 0 {
                        break;
                    }
                }
            }
            number += 1;
            // A `From ` line after a blank line but with no envelope date (mboxo) starts
            // an e-mail only when a header line follows it, as Thunderbird reads it;
            // otherwise it is an unquoted body line (`From here on…`).
            let loose = after_blank
                && start_line > 0
                && line.starts_with(b"From ")
                && !is_envelope(&line[5.min(line.len())..]);
            let mut headed = true;
            if loose {
                let mut next = Vec::new();
                let n = read_line(&mut input, &mut next, MAX_MAIL_BYTES)
                    .map_err(|e| ImportError::fatal(&ctx.origin(number + 1), e.to_string()))?;
                headed = n > 0 && is_header_field(&next);
                if n > 0 {
                    held = Some(next);
                }
            }
            if headed && is_separator(&line, after_blank) {
                if start_line > 0 {
                    one(
                        &mail,
                        too_big,
                        &envelope,
                        start_line,
                        &mut threads,
                        ctx,
                        sink,
                    )?;
                } else if !mail.iter().all(u8::is_ascii_whitespace) {
                    sink.reject(&ctx.origin(1), "text before the first `From ` line")?;
                }
                mail.clear();
                too_big = false;
                start_line = number;
                envelope = String::from_utf8_lossy(&line).trim_end().to_owned();
                after_blank = false;
                continue;
            }
            if line.starts_with(b"From ") && start_line > 0 {
                // Not a separator (no blank line before it, no envelope date): an
                // unquoted body line in an mboxo file. It stays in the e-mail, reported.
                sink.warn_header_like(
                    &ctx.origin(number),
                    format!("line {number} starts with `From ` but does not start an e-mail (no envelope date, and no header line after it): kept as text of the e-mail at line {start_line}"),
                )?;
            }
            after_blank = line == b"\n" || line == b"\r\n";
            if too_big {
                continue;
            }
            if mail.len() + line.len() > MAX_MAIL_BYTES {
                too_big = true;
                mail.clear();
                continue;
            }
            // mboxrd: one `>` is removed from `>From ` lines (and `>>From ` and so on).
            let unquoted = {
                let gt = line.iter().take_while(|&&b| b == b'>').count();
                if gt > 0 && line[gt..].starts_with(b"From ") {
                    &line[1..]
                } else {
                    &line[..]
                }
            };
            mail.extend_from_slice(unquoted);
        }
        if start_line > 0 {
            one(
                &mail,
                too_big,
                &envelope,
                start_line,
                &mut threads,
                ctx,
                sink,
            )?;
        } else if !mail.iter().all(u8::is_ascii_whitespace) {
            sink.reject(&ctx.origin(1), "no `From ` separator line: not an mbox")?;
        }
        Ok(())
    }
}

/// Reads one line; a line longer than `max` is returned cut at `max` (the rest follows as
/// further lines), so memory stays bounded.
fn read_line(r: &mut dyn BufRead, out: &mut Vec<u8>, max: usize) -> std::io::Result<usize> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(out.len());
        }
        let room = max.saturating_sub(out.len()).max(1);
        let (take, done) = match buf.iter().take(room).position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len().min(room), buf.len() >= room),
        };
        out.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            return Ok(out.len());
        }
    }
}

#[derive(Default)]
struct Threads {
    by_id: HashMap<String, String>,
}

fn subject_key(subject: &str) -> String {
    const PREFIXES: &[&str] = &[
        "re:",
        "fwd:",
        "fw:",
        "aw:",
        "wg:",
        "回复:",
        "回复：",
        "答复:",
        "答复：",
        "转发:",
        "转发：",
        "回覆:",
        "回覆：",
        "轉寄:",
        "轉寄：",
    ];
    let mut s = subject.trim();
    while let Some(p) = PREFIXES
        .iter()
        .find(|p| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)))
    {
        s = s[p.len()..].trim_start();
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => vec![],
    }
}

/// The envelope line's date (`From sender Mon Jun  3 12:50:27 1996`), for e-mails
/// without a Date header.
fn envelope_date(envelope: &str, ctx: &ImportContext) -> Option<Timestamp> {
    let parts: Vec<&str> = envelope.split_whitespace().collect();
    let n = parts.len();
    if n < 6 {
        return None;
    }
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mo = months.iter().position(|m| *m == parts[n - 4])? as u32 + 1;
    let d: u32 = parts[n - 3].parse().ok()?;
    let mut t = parts[n - 2].split(':').map(|x| x.parse::<u32>().ok());
    let (h, mi, s) = (t.next()??, t.next()??, t.next().unwrap_or(Some(0))?);
    let y: i32 = parts[n - 1].parse().ok()?;
    ctx.tz.instant(naive(y, mo, d, h, mi, s)?)
}

/// `eric at example.com (Eric Windisch)` → (`eric@example.com`, `Eric Windisch`).
fn pipermail_address(s: &str) -> Option<(String, Option<String>)> {
    let (address, name) = match s.split_once(" (") {
        Some((a, n)) => (a.trim(), n.strip_suffix(')').map(|n| n.trim().to_owned())),
        None => (s.trim(), None),
    };
    let (local, domain) = address.split_once(" at ")?;
    let ok = |p: &str| !p.is_empty() && !p.contains(char::is_whitespace);
    (ok(local) && ok(domain) && domain.contains('.')).then(|| {
        (
            format!("{local}@{domain}").to_lowercase(),
            name.filter(|n| !n.is_empty()),
        )
    })
}

fn one(
    raw: &[u8],
    too_big: bool,
    envelope: &str,
    line: u64,
    threads: &mut Threads,
    ctx: &ImportContext,
    sink: &mut Sink<'_>,
) -> Result<(), ImportError> {
    let origin = ctx.origin(line);
    // The blank line before the next `From ` belongs to the separator, not the e-mail.
    let raw = raw
        .strip_suffix(b"\r\n")
        .or_else(|| raw.strip_suffix(b"\n"))
        .filter(|r| r.ends_with(b"\n"))
        .unwrap_or(raw);
    if too_big {
        return sink.reject(
            &origin,
            format!("the e-mail is larger than {MAX_MAIL_BYTES} bytes"),
        );
    }
    let Some(msg) = MessageParser::default().parse(raw) else {
        return sink.reject(&origin, "not an RFC 5322 message");
    };
    if msg.headers().is_empty() {
        return sink.reject(&origin, "the e-mail has no headers");
    }
    let subject = msg.subject().unwrap_or("").to_owned();
    let own_id = msg.message_id().map(str::to_owned);
    let refs = ids(msg.references());
    let in_reply = ids(msg.in_reply_to());
    let linked = refs
        .iter()
        .chain(&in_reply)
        .find_map(|r| threads.by_id.get(r).cloned());
    let conversation = linked
        .or_else(|| {
            refs.first()
                .or(in_reply.first())
                .map(|r| format!("thread:{r}"))
        })
        .unwrap_or_else(|| format!("subject:{}", subject_key(&subject)));
    if let Some(id) = &own_id {
        if threads.by_id.len() < MAX_THREAD_IDS {
            threads.by_id.insert(id.clone(), conversation.clone());
        }
    }
    let mut d = Draft::new("email", conversation);
    d.conversation_title = Some(subject_key(&subject)).filter(|s| !s.is_empty());
    d.source_id = own_id;
    d.reply_to = in_reply.first().cloned();
    d.sent_at = match msg.date() {
        Some(dt) => {
            let offset = (i32::from(dt.tz_hour) * 3600 + i32::from(dt.tz_minute) * 60)
                * if dt.tz_before_gmt { -1 } else { 1 };
            crate::time::epoch(dt.to_timestamp(), false).map(|t| Timestamp {
                offset_s: Some(offset),
                ..t
            })
        }
        None => envelope_date(envelope, ctx),
    };
    if d.sent_at.is_none() {
        return sink.reject(&origin, "no readable `Date:` header or envelope date");
    }
    let from = msg.from().and_then(|a| a.first());
    match from.and_then(|a| a.address()) {
        Some(address) => {
            d.sender_id = address.to_lowercase();
            d.sender_name = from.and_then(|a| a.name()).map(str::to_owned);
        }
        None => {
            // Pipermail hides addresses as `eric at example.com (Eric Windisch)`.
            let raw = from.and_then(|a| a.name()).unwrap_or("");
            match pipermail_address(raw) {
                Some((address, name)) => {
                    d.sender_id = address;
                    d.sender_name = name;
                }
                None => {
                    d.sender_id = "unknown".into();
                    d.sender_name = Some(raw.to_owned()).filter(|n| !n.is_empty());
                }
            }
        }
    }
    // Every text part is the body, however deep it is nested (an introduction, then a
    // multipart/mixed holding the forwarded text and its files): not only the first.
    let mut texts: Vec<String> = (0..msg.text_body.len())
        .filter_map(|i| msg.body_text(i))
        .map(|t| t.into_owned())
        .filter(|t| !t.trim().is_empty())
        .collect();
    let mut unnamed = 0;
    for part in msg.attachments() {
        // A plain-text part that is neither named nor marked as an attachment is text
        // that the MIME structure placed among the files: it is read as text.
        let marked = part
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
        let plain = part.content_type().is_some_and(|c| {
            c.ctype().eq_ignore_ascii_case("text")
                && c.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain"))
        });
        if plain && !marked && part.attachment_name().is_none() {
            if let Some(t) = part.text_contents() {
                texts.push(t.to_owned());
                continue;
            }
        }
        let name = match part.attachment_name() {
            Some(n) => n.to_owned(),
            None => {
                unnamed += 1;
                let mime = part
                    .content_type()
                    .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
                    .unwrap_or_default();
                format!("attachment-{unnamed}{}", crate::draft::extension_for(&mime))
            }
        };
        d.attach(&name, part.contents().to_vec());
    }
    let body = texts.join("\n\n");
    d.text = if subject.is_empty() {
        body
    } else {
        format!("{subject}\n\n{body}")
    };
    if d.text.trim().is_empty() && !d.attachments.is_empty() {
        d.kind = MessageKind::File;
    }
    match d.finish(raw.to_vec(), origin.clone()) {
        Ok(m) => sink.message(m),
        Err(e) => sink.reject(&origin, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ctx, messages, run_bytes};
    use crate::Parsed;

    #[test]
    fn threads_encodings_and_quoting() {
        let mbox = "From a@x Mon Jun  3 12:50:27 1996\n\
Message-ID: <root@x>\nFrom: =?UTF-8?B?5byg5LiJ?= <A@X.cn>\nSubject: =?GB2312?B?u+HS6Q==?=\nDate: Mon, 3 Jun 1996 12:50:27 +0800\n\n正文\n>From the quoted line\n\n\
From b@x Mon Jun  3 13:00:00 1996\n\
Message-ID: <r1@x>\nFrom: b@x\nSubject: Re: =?GB2312?B?u+HS6Q==?=\nIn-Reply-To: <root@x>\nReferences: <root@x>\nDate: Mon, 3 Jun 1996 13:00:00 +0800\n\nreply\n\n\
From c@x Mon Jun  3 14:00:00 1996\n\
Message-ID: <r2@x>\nFrom: c@x\nSubject: 回复: 会议\nDate: Mon, 3 Jun 1996 14:00:00 +0800\n\nno references\n\n\
From d@x Mon Jun  3 15:00:00 1996\n\
From: d@x\nSubject: no date header\n\nbody\n\n\
From e@x garbage\n\
From: e@x\nSubject: nothing\n\nbody\n";
        let out = run_bytes(&Mbox, "a.mbox", mbox.as_bytes(), &ctx("a.mbox"));
        let rejected: Vec<u64> = out
            .iter()
            .filter_map(|p| {
                if let Parsed::Rejected(r) = p {
                    Some(r.line)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(rejected, vec![34], "{out:?}");
        let m = messages(
            out.into_iter()
                .filter(|p| !matches!(p, Parsed::Rejected(_)))
                .collect(),
        );
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].sender.name.as_deref(), Some("张三"));
        assert_eq!(m[0].sender.id, "a@x.cn");
        assert_eq!(m[0].text, "会议\n\n正文\nFrom the quoted line\n");
        assert_eq!(m[0].sent_at.to_rfc3339(), "1996-06-03T12:50:27+08:00");
        assert_eq!(m[0].conversation_id, "subject:会议");
        assert_eq!(
            m[1].conversation_id, "subject:会议",
            "a reply joins its root's thread"
        );
        assert_eq!(m[1].reply_to.as_deref(), Some("root@x"));
        assert_eq!(
            m[2].conversation_id, "subject:会议",
            "no references: grouped by subject"
        );
        assert_eq!(
            m[3].sent_at.to_rfc3339(),
            "1996-06-03T15:00:00Z",
            "envelope date in --tz"
        );
    }

    #[test]
    fn subject_keys() {
        assert_eq!(subject_key("Re: Fwd:  Hello   world"), "Hello world");
        assert_eq!(subject_key("回复：转发: 报价"), "报价");
        assert_eq!(subject_key("RE: re: x"), "x");
    }
}
