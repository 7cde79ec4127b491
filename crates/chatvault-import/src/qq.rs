//! QQ 消息管理器 "导出为文本文件(*.txt)": sections (`消息分组:` / `消息对象:`) of
//! messages, each a header line `YYYY-MM-DD H:MM:SS[ AM|PM] Nick(QQ号|<email>)` and a
//! body up to the next header. GBK, UTF-16 or UTF-8; local time without a zone.

use chatvault_model::{ConversationKind, MessageKind, SenderRole};

use crate::draft::{self_alias, Draft};
use crate::lines::Parts;
use crate::source::Source;
use crate::time::{naive, LocalTime};
use crate::{text, ImportContext, ImportError, Importer, Probe, Sink};

pub struct Qq;

#[derive(Debug, PartialEq, Eq)]
struct Header<'a> {
    date: (i32, u32, u32),
    time: (u32, u32, u32),
    name: &'a str,
    id: Option<&'a str>,
}

/// How a line reads: a message header, or something that looks like one without being one.
type Read<'a> = crate::lines::HeaderRead<Header<'a>>;

/// `YYYY-M[M]-D[D] [上午|下午]H:MM:SS[ AM|PM] Nick[(QQ号)|<email>]`.
fn read(line: &str) -> Read<'_> {
    let digits = |s: &str, widths: std::ops::RangeInclusive<usize>| {
        (widths.contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let Some((date, rest)) = line.split_once(' ') else {
        return Read::Text;
    };
    let mut d = date.split('-');
    let (Some(y), Some(mo), Some(day), None) = (
        d.next().and_then(|p| digits(p, 4..=4)),
        d.next().and_then(|p| digits(p, 1..=2)),
        d.next().and_then(|p| digits(p, 1..=2)),
        d.next(),
    ) else {
        return Read::Text;
    };
    let (pre, rest) = match ["上午", "下午"].iter().find(|m| rest.starts_with(**m)) {
        Some(m) => (Some(*m == "下午"), rest[m.len()..].trim_start()),
        None => (None, rest),
    };
    let (time, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let t: Vec<Option<u32>> = time.split(':').map(|p| digits(p, 1..=2)).collect();
    let (h, mi, s) = match t[..] {
        [Some(h), Some(mi), Some(s)] => (h, mi, s),
        [Some(_), Some(_)] => return Read::Like("the time has no seconds".into()),
        _ => return Read::Text,
    };
    let (pm, rest) = match pre {
        Some(p) => (Some(p), rest),
        None => match rest.split_once(' ') {
            Some(("AM", r)) => (Some(false), r),
            Some(("PM", r)) => (Some(true), r),
            _ if matches!(rest.trim_end(), "AM" | "PM") => (Some(rest.trim_end() == "PM"), ""),
            _ => (None, rest),
        },
    };
    let sender = rest.trim_end();
    if sender.is_empty() {
        return Read::Like("no sender after the time".into());
    }
    let mut problems: Vec<String> = vec![];
    // A p.m. marker also comes with 24-hour times (13 PM) in some exports.
    let h = match pm {
        Some(false) if h > 12 => {
            problems.push(format!("hour {h} with an AM marker"));
            h
        }
        _ if h > 23 => {
            problems.push(format!("hour {h}"));
            h
        }
        Some(true) => h % 12 + 12,
        Some(false) => h % 12,
        None => h,
    };
    if mi > 59 {
        problems.push(format!("minute {mi}"));
    }
    if s > 59 {
        problems.push(format!("second {s}"));
    }
    if !(1..=12).contains(&mo) {
        problems.push(format!("month {mo}"));
    }
    if !(1..=31).contains(&day) {
        problems.push(format!("day {day}"));
    }
    if !problems.is_empty() {
        return Read::Invalid(problems.join(", "));
    }
    let (name, id) = if let Some(inner) = sender.strip_suffix(')').and_then(|s| s.rsplit_once('('))
    {
        if !inner.1.is_empty() && inner.1.bytes().all(|c| c.is_ascii_digit()) {
            (inner.0, Some(inner.1))
        } else {
            (sender, None)
        }
    } else if let Some(inner) = sender
        .strip_suffix('>')
        .and_then(|s| s.rsplit_once('<'))
        .filter(|(_, e)| e.contains('@'))
    {
        (inner.0, Some(inner.1))
    } else {
        (sender, None)
    };
    Read::Header(Header {
        date: (y as i32, mo, day),
        time: (h, mi, s),
        name,
        id,
    })
}

fn header(line: &str) -> Option<Header<'_>> {
    match read(line) {
        Read::Header(h) => Some(h),
        _ => None,
    }
}

/// A message being read: its header line, the lines after it, and why it cannot be
/// stored, if it cannot.
struct Pending {
    line: u64,
    head: String,
    body: Vec<String>,
    broken: Option<String>,
    /// The message starts at a line that looks like a header but could not be read.
    header_like: bool,
}

fn is_separator(line: &str) -> bool {
    line.len() >= 16 && line.bytes().all(|b| b == b'=')
}

impl Importer for Qq {
    fn name(&self) -> &'static str {
        "qq"
    }

    fn description(&self) -> &'static str {
        "QQ 消息管理器 text export (GBK, UTF-16 or UTF-8; 12- and 24-hour)"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        if probe.is_zip {
            return 0;
        }
        let t = probe.text();
        if t.starts_with("消息记录") || t.contains("消息对象:") || t.contains("消息分组:")
        {
            return 95;
        }
        let lines: Vec<&str> = t
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(10)
            .collect();
        let headers = lines
            .iter()
            .filter(|l| header(l).is_some_and(|h| h.id.is_some()))
            .count();
        if headers >= 1 && lines.first().is_some_and(|l| header(l).is_some()) {
            return 60;
        }
        // A file whose first lines are something else (a title, a note, a cut-off
        // export): QQ headers further in decide.
        let further = t
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(60)
            .filter(|l| header(l).is_some_and(|h| h.id.is_some()))
            .count();
        if further >= 2 {
            55
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
        let lines =
            text::lines(source).map_err(|e| ImportError::fatal(&ctx.origin(0), e.to_string()))?;
        let default_conversation = ctx.conversation.clone().unwrap_or_else(|| {
            source
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let mut conversation: (String, Option<ConversationKind>) = (default_conversation, None);
        let mut group = String::new();
        // The line before was blank, or a section line.
        let mut after_break = true;
        let mut pending: Option<Pending> = None;
        let flush = |p: Option<Pending>,
                     conv: &(String, Option<ConversationKind>),
                     sink: &mut Sink<'_>|
         -> Result<(), ImportError> {
            let Some(Pending {
                line,
                head,
                mut body,
                broken,
                header_like,
            }) = p
            else {
                return Ok(());
            };
            let origin = ctx.origin(line);
            let h = match (header(&head), broken) {
                (Some(h), None) => h,
                (_, broken) => {
                    let why =
                        broken.unwrap_or_else(|| format!("line {line} is not a message header"));
                    return if header_like {
                        sink.reject_header_like(&origin, why)
                    } else {
                        sink.reject(&origin, why)
                    };
                }
            };
            while body.last().is_some_and(|l| l.trim().is_empty()) {
                body.pop();
            }
            let mut d = Draft::new("qq", conv.0.clone());
            d.conversation_title = Some(conv.0.clone());
            d.conversation_kind = conv.1;
            let (y, mo, day) = h.date;
            let Some(at) =
                naive(y, mo, day, h.time.0, h.time.1, h.time.2).and_then(|t| ctx.tz.instant(t))
            else {
                return sink.reject(
                    &origin,
                    crate::time::why_no_time(y, mo, day, h.time.0, h.time.1, h.time.2),
                );
            };
            d.sent_at = Some(at);
            let name = self_alias(ctx, h.name).unwrap_or_else(|| h.name.to_owned());
            d.sender_id = h.id.map(str::to_owned).unwrap_or_else(|| name.clone());
            d.sender_name = Some(name);
            d.text = body.join("\n");
            if h.name == "系统消息" {
                d.role = SenderRole::System;
                d.kind = MessageKind::System;
            } else {
                match d.text.trim() {
                    "[图片]" | "[表情]" => d.kind = MessageKind::Image,
                    "[文件]" => d.kind = MessageKind::File,
                    "[语音]" => d.kind = MessageKind::Voice,
                    "[视频]" => d.kind = MessageKind::Video,
                    _ => {}
                }
            }
            if d.text.contains("撤回了一条消息") {
                d.tag("recall-notice");
            }
            let mut raw = head;
            for l in &body {
                raw.push('\n');
                raw.push_str(l);
            }
            match d.finish(raw.into_bytes(), origin.clone()) {
                Ok(m) => sink.message(m),
                Err(e) => sink.reject(&origin, e),
            }
        };
        for line in lines {
            let Parts {
                number,
                text,
                damage,
            } = line
                .into_parts()
                .map_err(|(n, e)| ImportError::fatal(&ctx.origin(n), e))?;
            // A header starts a message; so does a line with a header's whole shape whose
            // values cannot be read, and that message is rejected with the reason. A
            // damaged line still starts a message or belongs to the one above, and the
            // message it is part of is rejected whole.
            let read = read(&text);
            let invalid = match &read {
                Read::Invalid(why) => Some(format!(
                    "line {number} has the shape of a message header but cannot be one ({why})"
                )),
                _ => None,
            };
            if matches!(read, Read::Header(_)) || invalid.is_some() {
                after_break = false;
                flush(pending.take(), &conversation, sink)?;
                pending = Some(Pending {
                    line: number,
                    header_like: invalid.is_some(),
                    broken: invalid.or(damage),
                    head: text,
                    body: vec![],
                });
                continue;
            }
            if let Some(why) = damage {
                match pending.as_mut() {
                    Some(p) => {
                        p.broken.get_or_insert(why);
                    }
                    None => sink.reject(&ctx.origin(number), why)?,
                }
                continue;
            }
            let section_like = is_separator(&text)
                || text.starts_with("消息分组:")
                || text.starts_with("消息对象:")
                || (text.starts_with("消息记录（") && number <= 3);
            // Sections start after a message's closing blank line (or another section
            // line); the same words inside a message's text are text, and reported.
            let section = section_like && (pending.is_none() || after_break);
            after_break = text.trim().is_empty() || section;
            if section_like && !section {
                if let Some(p) = pending.as_ref() {
                    sink.warn_header_like(
                        &ctx.origin(number),
                        format!("line {number} looks like a section line but stands inside the message at line {} (no blank line before it): kept as its text", p.line),
                    )?;
                }
            }
            if section {
                flush(pending.take(), &conversation, sink)?;
                if let Some(g) = text.strip_prefix("消息分组:") {
                    group = g.trim().to_owned();
                }
                if let Some(o) = text.strip_prefix("消息对象:") {
                    let kind = if group.contains("群") || group.contains("讨论组") {
                        ConversationKind::Group
                    } else {
                        ConversationKind::Direct
                    };
                    conversation = (o.trim().to_owned(), Some(kind));
                }
                continue;
            }
            match pending.as_mut() {
                Some(p) => {
                    read.warn_if_like(sink, ctx, number, p.line)?;
                    if p.body.iter().map(String::len).sum::<usize>()
                        > chatvault_model::canonical::MAX_TEXT_BYTES
                    {
                        p.broken.get_or_insert_with(|| {
                            "the message is longer than the 1 MiB limit".into()
                        });
                        continue;
                    }
                    p.body.push(text);
                }
                None if text.trim().is_empty() => {}
                None => sink.reject(&ctx.origin(number), "text outside any message")?,
            }
        }
        flush(pending.take(), &conversation, sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_table() {
        type Want<'a> = Option<((u32, u32, u32), &'a str, Option<&'a str>)>;
        let cases: Vec<(&str, &str, Want)> = vec![
            (
                "qq_number_24h",
                "2019-09-23 20:43:38 骰娘-Roll100(87200175)",
                Some(((20, 43, 38), "骰娘-Roll100", Some("87200175"))),
            ),
            (
                "qq_number_12h",
                "2019-09-23 8:43:38 PM 暗夜(28084825)",
                Some(((20, 43, 38), "暗夜", Some("28084825"))),
            ),
            (
                "midnight_12h",
                "2020-03-04 12:12:29 AM 礼(852649)",
                Some(((0, 12, 29), "礼", Some("852649"))),
            ),
            (
                "email",
                "2020-03-04 12:13:41 AM 围观<indo@qq.com>",
                Some(((0, 13, 41), "围观", Some("indo@qq.com"))),
            ),
            (
                "no_id",
                "2020-03-04 09:13:41 小明",
                Some(((9, 13, 41), "小明", None)),
            ),
            (
                "parens_in_nick",
                "2020-03-04 09:13:41 小明(大号)(12345)",
                Some(((9, 13, 41), "小明(大号)", Some("12345"))),
            ),
            (
                "chinese_pm",
                "2020-03-04 下午1:13:41 小明(1)",
                Some(((13, 13, 41), "小明", Some("1"))),
            ),
            ("not_header_text", "今天 12:00 开会", None),
            ("not_header_no_sender", "2020-03-04 09:13:41 ", None),
            ("not_header_bad_minute", "2020-03-04 09:63:41 小明", None),
            (
                "pm_24_hour",
                "2020-03-04 13:13:41 PM 小明",
                Some(((13, 13, 41), "小明", None)),
            ),
            ("not_header_am_13", "2020-03-04 13:13:41 AM 小明", None),
            ("not_header_hour_25", "2020-03-04 25:13:41 小明", None),
        ];
        for (name, line, want) in cases {
            let got = header(line).map(|h| (h.time, h.name, h.id));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn section_words_inside_a_message_are_its_text() {
        use crate::testutil::{ctx, run_bytes};
        use crate::Parsed;
        let input = "消息记录（此消息记录为文本格式，不支持重新导入）\n\n================================================================\n消息分组:我的好友\n================================================================\n消息对象:小明\n================================================================\n\n2020-03-04 09:13:41 小明(1)\n请转给\n消息对象:老王\n================================================================\n谢谢\n\n2020-03-04 09:14:00 我(2)\n好\n\n================================================================\n消息分组:我的群聊\n================================================================\n消息对象:同学群\n================================================================\n\n2020-03-04 09:15:00 小红(3)\n大家好\n";
        let out = run_bytes(&Qq, "qq.txt", input.as_bytes(), &ctx("qq.txt"));
        let m: Vec<_> = out
            .iter()
            .filter_map(|p| {
                if let Parsed::Message(m) = p {
                    Some(m)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(m.len(), 3, "{out:?}");
        assert_eq!(m[0].text, "请转给\n消息对象:老王\n================================================================\n谢谢");
        assert_eq!(
            m[1].conversation_id, "小明",
            "a body line moves no one to another conversation"
        );
        assert_eq!(m[2].conversation_id, "同学群");
        let warned: Vec<u64> = out
            .iter()
            .filter_map(|p| {
                if let Parsed::Warning(w) = p {
                    Some(w.line)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(warned, vec![11, 12]);
    }

    #[test]
    fn malformed_table() {
        use crate::testutil::{ctx, run_bytes};
        use crate::Parsed;
        // (name, input, rejected lines)
        let cases: Vec<(&str, &[u8], Vec<u64>)> = vec![
            // Found by `cargo fuzz run qq`: the reason cut a CJK nickname mid-character.
            (
                "impossible_date_cjk_nick",
                "2019-02-30 8:43:38 PM 骰娘骰娘骰娘(1)\nx\n".as_bytes(),
                vec![1],
            ),
            (
                "text_before_any_message",
                "hello\n2019-02-03 8:43:38 PM 骰娘(1)\nx\n".as_bytes(),
                vec![1],
            ),
            (
                "invalid_utf8_line",
                b"2019-02-03 20:43:38 A(1)\nok\n\xff\xfe\xfd\xfc not text\n",
                vec![1],
            ),
            (
                "truncated_header_only",
                "2019-02-03 20:43:38 A(1)".as_bytes(),
                vec![],
            ),
        ];
        for (name, input, want) in cases {
            let out = run_bytes(&Qq, "qq.txt", input, &ctx("qq.txt"));
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
            assert_eq!(rejected, want, "{name}: {out:?}");
        }
    }
}
