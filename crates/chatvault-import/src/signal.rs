//! Signal, as exported by carderne/signal-export (Signal Desktop has no export of its
//! own): `chat.md` with `[YYYY-MM-DD HH:MM:SS] Sender: text` (older builds
//! `[YYYY-MM-DD, HH:MM]`), multi-line bodies, reaction lines `(- Name: 👍 -)` and
//! attachments `![name](./path)`. Times are local, without a zone.

use chatvault_model::{MessageKind, SenderRole};

use crate::draft::{self_alias, Draft};
use crate::lines;
use crate::source::Source;
use crate::time::{naive, LocalTime};
use crate::{text, ImportContext, ImportError, Importer, Probe, Sink};

pub struct Signal;

/// Year, month, day, hour, minute, second.
type Parts = (i32, u32, u32, u32, u32, u32);

/// `[YYYY-MM-DD HH:MM:SS] rest` or `[YYYY-MM-DD, HH:MM] rest`: the parts and the rest.
fn header(line: &str) -> Option<(Parts, &str)> {
    let inner = line.strip_prefix('[')?;
    let (stamp, rest) = inner.split_once(']')?;
    let b = stamp.as_bytes();
    if b.len() < 16 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        stamp
            .get(r)
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))?
            .parse::<u32>()
            .ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let time = stamp[10..]
        .strip_prefix(", ")
        .or_else(|| stamp[10..].strip_prefix(' '))?;
    let mut t = time.split(':');
    let h = t.next()?.parse::<u32>().ok()?;
    let mi = t.next()?.parse::<u32>().ok()?;
    let s = t.next().map_or(Some(0), |s| s.parse::<u32>().ok())?;
    if t.next().is_some() {
        return None;
    }
    Some((
        (y as i32, mo, d, h, mi, s),
        rest.strip_prefix(' ').unwrap_or(rest),
    ))
}

pub(crate) fn is_header(line: &str) -> bool {
    header(line).is_some()
}

/// The local files a message links to (`[name](./path)` or `![name](../path)`);
/// web links are text, not attachments.
fn attachment_links(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let Some(end) = after.find(')') else { break };
        let path = &after[..end];
        let before = &rest[..i];
        if before.contains('[')
            && (path.starts_with("./") || path.starts_with("../"))
            && !path.contains(char::is_whitespace)
        {
            out.push(path.to_owned());
        }
        rest = &after[end + 1..];
    }
    out
}

/// A line that starts like a header (`[` and a four-digit year and `-`) without being one.
fn looks_like_header(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 6 && b[0] == b'[' && b[1..5].iter().all(u8::is_ascii_digit) && b[5] == b'-'
}

impl Importer for Signal {
    fn name(&self) -> &'static str {
        "signal"
    }

    fn description(&self) -> &'static str {
        "Signal chat.md from signal-export"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        if probe.is_zip {
            return 0;
        }
        let text = probe.text();
        let lines: Vec<&str> = text.lines().take(20).collect();
        let headers = lines.iter().filter(|l| is_header(l)).count();
        // The first line is a header, or (a file that starts with something else)
        // headers further in decide.
        if !(lines.first().is_some_and(|l| is_header(l)) || headers >= 2) {
            return 0;
        }
        let markers =
            text.contains("\n(- ") || text.contains("](./") || probe.file_name.ends_with(".md");
        if markers {
            80
        } else {
            50
        }
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let conversation = ctx.conversation.clone().unwrap_or_else(|| {
            let parent = source
                .path
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned());
            let stem = source
                .path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if stem == "chat" {
                parent.unwrap_or(stem)
            } else {
                stem
            }
        });
        let lines =
            text::lines(source).map_err(|e| ImportError::fatal(&ctx.origin(0), e.to_string()))?;
        let mut pending: Option<(u64, Option<String>, String)> = None;
        let flush = |p: Option<(u64, Option<String>, String)>,
                     sink: &mut Sink<'_>|
         -> Result<(), ImportError> {
            let Some((line, broken, raw)) = p else {
                return Ok(());
            };
            let origin = ctx.origin(line);
            if let Some(why) = broken {
                return sink.reject(&origin, why);
            }
            let Some((parts, rest)) = header(raw.lines().next().unwrap_or("")) else {
                return Ok(());
            };
            let mut d = Draft::new("signal", format!("chat:{conversation}"));
            d.conversation_title = Some(conversation.clone());
            let (y, mo, day, h, mi, s) = parts;
            let Some(at) = naive(y, mo, day, h, mi, s).and_then(|t| ctx.tz.instant(t)) else {
                return sink.reject(&origin, crate::time::why_no_time(y, mo, day, h, mi, s));
            };
            d.sent_at = Some(at);
            let mut text_lines: Vec<&str> = vec![];
            let mut first = true;
            for l in std::iter::once(rest).chain(raw.lines().skip(1)) {
                if !first && l.starts_with("(- ") && l.ends_with(" -)") {
                    d.tag("reactions");
                    continue;
                }
                first = false;
                text_lines.push(l);
            }
            let body = text_lines.join("\n");
            match body.split_once(": ") {
                Some((sender, text)) if !sender.is_empty() && sender.chars().count() <= 100 => {
                    let name = self_alias(ctx, sender).unwrap_or_else(|| sender.to_owned());
                    d.sender_id = name.clone();
                    d.sender_name = Some(name);
                    d.text = text.to_owned();
                }
                _ => {
                    d.sender_id = "system".into();
                    d.role = SenderRole::System;
                    d.kind = MessageKind::System;
                    d.text = body.clone();
                }
            }
            if d.text.trim() == "(This message was deleted)" {
                d.kind = MessageKind::Other;
                d.tag("deleted");
            } else {
                // Every attachment link: `![name](./path)` for images, `[name](./path)`
                // for voice, video, files and stickers, several on one line.
                let paths = attachment_links(&d.text);
                for (i, path) in paths.iter().enumerate() {
                    if i == 0 {
                        d.kind = crate::draft::kind_for_mime(crate::draft::mime_for(path));
                    }
                    match crate::jsonl::load_attachment(
                        ctx.base_dir.as_deref(),
                        path.trim_start_matches("./"),
                    ) {
                        Ok(bytes) => d.attach(path, bytes),
                        Err(e) => sink.warn(&origin, format!("attachment not imported: {e}"))?,
                    }
                }
            }
            match d.finish(raw.into_bytes(), origin.clone()) {
                Ok(m) => sink.message(m),
                Err(e) => sink.reject(&origin, e),
            }
        };
        for line in lines {
            // A damaged line still starts a message or belongs to the one above, and the
            // message it is part of is rejected whole.
            let lines::Parts {
                number,
                text,
                damage,
            } = line
                .into_parts()
                .map_err(|(n, e)| ImportError::fatal(&ctx.origin(n), e))?;
            if is_header(&text) {
                flush(pending.take(), sink)?;
                pending = Some((number, damage, text));
            } else if let Some(p) = pending.as_mut() {
                if let Some(why) = damage {
                    p.1.get_or_insert(why);
                } else if looks_like_header(&text) {
                    sink.warn_header_like(
                        &ctx.origin(number),
                        format!(
                            "line {number} starts like a message header (`[YYYY-MM-DD HH:MM:SS]`) but is not one: kept as text of the message at line {}",
                            p.0
                        ),
                    )?;
                }
                // Memory stays bounded: past the limit the message is rejected, not read.
                if p.2.len() + text.len() > chatvault_model::canonical::MAX_TEXT_BYTES * 2 {
                    p.1.get_or_insert_with(|| "the message is longer than the 1 MiB limit".into());
                    continue;
                }
                p.2.push('\n');
                p.2.push_str(&text);
            } else if let Some(why) = damage {
                sink.reject(&ctx.origin(number), why)?;
            } else if !text.trim().is_empty() {
                sink.reject(&ctx.origin(number), "text before the first message header")?;
            }
        }
        flush(pending.take(), sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ctx, messages, run_bytes};

    #[test]
    fn every_attachment_link_is_read() {
        let cases: &[(&str, &str, Vec<&str>)] = &[
            ("image", "![a.jpg](./media/a.jpg)", vec!["./media/a.jpg"]),
            (
                "voice_without_bang",
                "[voice.m4a](./media/voice.m4a)  ",
                vec!["./media/voice.m4a"],
            ),
            (
                "several_on_one_line",
                "![a.jpg](./media/a.jpg)  [b.pdf](./media/b.pdf)  ",
                vec!["./media/a.jpg", "./media/b.pdf"],
            ),
            (
                "sticker",
                "[( 😀 )](../exported_stickers/1.webp)",
                vec!["../exported_stickers/1.webp"],
            ),
            (
                "web_link_is_text",
                "see [docs](https://example.com)",
                vec![],
            ),
        ];
        for (name, text, want) in cases {
            assert_eq!(attachment_links(text), *want, "{name}");
        }
        // A link whose file is missing is warned about, never dropped silently.
        let out = run_bytes(
            &Signal,
            "chat.md",
            "[2024-01-02 10:00:01] Ann: [b.pdf](./media/b.pdf)\n".as_bytes(),
            &ctx("chat.md"),
        );
        assert!(out.iter().any(|p| matches!(p, crate::Parsed::Warning(w) if w.reason.contains("attachment not imported"))));
    }

    #[test]
    fn signal_table() {
        let input = "[2024-01-02 10:00:01] Ann: hi\nsecond line\n(- Bob: 👍 -)\n[2024-01-02 10:01:00] Bob: (This message was deleted)\n[2024-01-02, 10:02] You: old style\n";
        let mut c = ctx("chat.md");
        c.self_name = Some("Me Myself".into());
        let m = messages(run_bytes(&Signal, "chat.md", input.as_bytes(), &c));
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].text, "hi\nsecond line");
        assert_eq!(m[0].tags, vec!["reactions".to_owned()]);
        assert_eq!(m[1].tags, vec!["deleted".to_owned()]);
        assert_eq!(m[2].sender.id, "Me Myself");
        assert_eq!(m[2].sent_at.to_rfc3339(), "2024-01-02T10:02:00Z");
        let bad = run_bytes(
            &Signal,
            "chat.md",
            b"preamble\n[2024-02-30 10:00:00] A: x\n",
            &c,
        );
        assert!(
            bad.iter().all(|p| matches!(p, crate::Parsed::Rejected(_))),
            "{bad:?}"
        );
        assert_eq!(bad.len(), 2);
    }
}
