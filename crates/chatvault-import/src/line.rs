//! LINE "Send chat history" (.txt): a `[LINE] …` header naming the chat, date lines, and
//! `TIME<TAB>Sender<TAB>Text` messages; multi-line text is quoted across lines. Headers
//! in English, 繁體, 简体 and Japanese; UTF-8, UTF-8 with BOM or UTF-16.

use chatvault_model::{ConversationKind, MessageKind, SenderRole};

use crate::draft::{self_alias, Draft};
use crate::lines::Parts;
use crate::source::Source;
use crate::time::{naive, LocalTime};
use crate::{text, ImportContext, ImportError, Importer, Probe, Sink};

pub struct LineTxt;

/// A message being read: where it starts, its time, sender, text and raw lines, and
/// whether a quoted multi-line text is still open.
struct Pending {
    line: u64,
    /// `None` for a line with a header's shape whose time cannot be read.
    hm: Option<(u32, u32)>,
    sender: String,
    text: String,
    raw: String,
    open: bool,
    /// Why a line of the message could not be read: the message is rejected.
    broken: Option<String>,
}

type Date = (i32, u32, u32);

/// The chat's name, and whether the header says it is a group.
impl Pending {
    fn push(&mut self, line: &str, damage: Option<String>) {
        if let Some(why) = damage {
            self.broken.get_or_insert(why);
        }
        // Memory stays bounded: past the limit the message is rejected, not read.
        if self.raw.len() + line.len() > chatvault_model::canonical::MAX_TEXT_BYTES * 2 {
            self.broken
                .get_or_insert_with(|| "the message is longer than the 1 MiB limit".into());
            return;
        }
        for s in [&mut self.text, &mut self.raw] {
            s.push('\n');
            s.push_str(line);
        }
    }
}

fn chat_header(line: &str) -> Option<(String, bool)> {
    let rest = line
        .trim_start_matches('\u{feff}')
        .strip_prefix("[LINE]")?
        .trim();
    let patterns: [(&str, &str, bool); 6] = [
        ("Chat history with ", "", false),
        ("Chat history in ", "", true),
        ("与", "的聊天记录", false),
        ("與", "的聊天記錄", false),
        ("", "とのトーク履歴", false),
        ("", "のトーク履歴", true),
    ];
    for (pre, post, group) in patterns {
        if let Some(name) = rest.strip_prefix(pre).and_then(|r| r.strip_suffix(post)) {
            if !name.is_empty() && (!pre.is_empty() || !post.is_empty()) {
                return Some((name.trim().to_owned(), group));
            }
        }
    }
    Some((rest.to_owned(), false))
}

/// How a line reads as a date line.
#[derive(Debug, PartialEq, Eq)]
enum DateRead {
    Date(Date),
    /// A date line's shape with a date that does not exist: why.
    Invalid(String),
    /// A year and a separator at the start, in no shape this reader knows.
    Like,
    Text,
}

/// A date line: `2015/12/25 Fri`, `2025.12.10 Wednesday`, `Sun, 26/04/2026`,
/// `2022/9/2（週五）`, `2026/1/30(金)`.
fn read_date(line: &str) -> DateRead {
    if line.contains('\t') {
        return DateRead::Text;
    }
    let t = line.trim();
    let nums = |s: &str, sep: &[char]| -> Option<Vec<u32>> {
        let v: Vec<u32> = s
            .split(sep)
            .map(|p| {
                (!p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| p.parse().ok())
                    .flatten()
            })
            .collect::<Option<_>>()?;
        (v.len() == 3).then_some(v)
    };
    let check = |y: u32, m: u32, d: u32| -> DateRead {
        if chrono::NaiveDate::from_ymd_opt(y as i32, m, d).is_some() {
            DateRead::Date((y as i32, m, d))
        } else {
            DateRead::Invalid(format!("no such date: {y:04}-{m:02}-{d:02}"))
        }
    };
    // `2024年1月1日 星期一`, `2026年1月30日(金)`.
    if let Some((y, rest)) = t.split_once('年') {
        if let Some((m, rest)) = rest.split_once('月') {
            if let Some((d, rest)) = rest.split_once('日') {
                let all = [y, m, d].map(str::trim);
                if let Some(v) = nums(&all.join("/"), &['/']) {
                    // Then nothing, or a weekday: `星期一`, `周一`, `(金)`, `（週五）`, `Monday`.
                    let rest = rest.trim();
                    let weekday = rest.is_empty()
                        || ["星期", "周", "週", "(", "（", "礼拜"]
                            .iter()
                            .any(|p| rest.starts_with(p))
                        || rest.chars().all(|c| c.is_ascii_alphabetic());
                    if all[0].len() == 4 && weekday && rest.chars().count() <= 12 {
                        return check(v[0], v[1], v[2]);
                    }
                }
            }
        }
    }
    // Korean `2026. 1. 30. 금요일`: spaces after the dots.
    let collapsed;
    let t = if t.len() > 5 && t.as_bytes()[4] == b'.' && t.contains(". ") {
        collapsed = t.replacen(". ", ".", 2);
        collapsed.as_str()
    } else {
        t
    };
    // Year first, then an optional weekday (a word, not more numbers).
    let mut words = t.splitn(2, [' ', '（', '(']);
    let first = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("");
    let first = first.strip_suffix('.').unwrap_or(first);
    if let Some(v) = nums(first, &['/', '.', '-']) {
        let weekday = !rest.starts_with(|c: char| c.is_ascii_digit()) && rest.chars().count() <= 20;
        if first
            .split(['/', '.', '-'])
            .next()
            .is_some_and(|y| y.len() == 4)
            && weekday
        {
            return check(v[0], v[1], v[2]);
        }
    }
    // Weekday first, then DD/MM/YYYY.
    if let Some((day, date)) = t.split_once(", ") {
        if day.chars().count() <= 12 && !day.contains(|c: char| c.is_ascii_digit()) {
            if let Some(v) = nums(date.trim(), &['/', '.']) {
                if date
                    .trim()
                    .rsplit(['/', '.'])
                    .next()
                    .is_some_and(|y| y.len() == 4)
                {
                    return check(v[2], v[1], v[0]);
                }
            }
        }
    }
    // A year and a separator at the start, and nothing read: a date line in a shape
    // this reader does not know. It is reported where it stands, never taken silently.
    let b = t.as_bytes();
    if b.len() >= 6
        && b[..4].iter().all(u8::is_ascii_digit)
        && (matches!(b[4], b'/' | b'.' | b'-') || t[4..].starts_with('年'))
    {
        return DateRead::Like;
    }
    DateRead::Text
}

fn date_line(line: &str) -> Option<Date> {
    match read_date(line) {
        DateRead::Date(d) => Some(d),
        _ => None,
    }
}

/// `13:05`, `上午9:15`, `午後1:02`, `04:35PM` → 24-hour (h, m); an error when the shape is
/// a time's and the values are not.
fn read_time(s: &str) -> Option<Result<(u32, u32), String>> {
    let s = s.trim();
    let (pm, s) = if let Some(r) = s.strip_prefix("上午").or_else(|| s.strip_prefix("午前")) {
        (Some(false), r)
    } else if let Some(r) = s.strip_prefix("下午").or_else(|| s.strip_prefix("午後")) {
        (Some(true), r)
    } else if let Some(r) = s.strip_suffix("AM").or_else(|| s.strip_suffix("am")) {
        (Some(false), r.trim_end())
    } else if let Some(r) = s.strip_suffix("PM").or_else(|| s.strip_suffix("pm")) {
        (Some(true), r.trim_end())
    } else {
        (None, s)
    };
    let (h, m) = s.trim().split_once(':')?;
    let digits = |p: &str| {
        (!p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
    };
    let (h, m) = (digits(h)?, digits(m)?);
    if m > 59 {
        return Some(Err(format!("minute {m}")));
    }
    // Hours 0 to 12 with a marker; a p.m. marker also comes with 24-hour times.
    Some(match pm {
        Some(false) if h > 12 => Err(format!("hour {h} with an a.m. marker")),
        _ if h > 23 => Err(format!("hour {h}")),
        Some(true) => Ok((h % 12 + 12, m)),
        Some(false) => Ok((h % 12, m)),
        None => Ok((h, m)),
    })
}

fn time_of(s: &str) -> Option<(u32, u32)> {
    read_time(s)?.ok()
}

impl Importer for LineTxt {
    fn name(&self) -> &'static str {
        "line"
    }

    fn description(&self) -> &'static str {
        "LINE \"Send chat history\" .txt (English, 繁體, 简体, 日本語 headers)"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        if probe.is_zip {
            return 0;
        }
        let t = probe.text();
        if t.trim_start().starts_with("[LINE]") {
            return 95;
        }
        // No `[LINE]` title (cut off, or another tool's header): date lines and
        // `TIME<TAB>Sender<TAB>Text` lines further in decide.
        let lines: Vec<&str> = t
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(60)
            .collect();
        let dates = lines.iter().filter(|l| date_line(l).is_some()).count();
        let messages = lines
            .iter()
            .filter(|l| {
                let mut cols = l.splitn(3, '\t');
                cols.next().and_then(time_of).is_some() && cols.next().is_some()
            })
            .count();
        if dates >= 1 && messages >= 2 {
            60
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
        let mut chat: Option<(String, bool)> = None;
        // The date of the messages that follow, or why they have none.
        let mut date: Result<Date, String> = Err("a message before any date line".into());
        let mut pending: Option<Pending> = None;
        let flush = |p: Option<Pending>,
                     date: &Result<Date, String>,
                     chat: &Option<(String, bool)>,
                     sink: &mut Sink<'_>|
         -> Result<(), ImportError> {
            let Some(Pending {
                line,
                hm,
                sender,
                text,
                raw,
                broken,
                ..
            }) = p
            else {
                return Ok(());
            };
            let origin = ctx.origin(line);
            let Some((h, m)) = hm else {
                let why = broken.unwrap_or_default();
                return sink.reject_header_like(&origin, why);
            };
            if let Some(why) = broken {
                return sink.reject(&origin, why);
            }
            let (y, mo, d) = match date {
                Ok(d) => *d,
                Err(why) => return sink.reject(&origin, why.clone()),
            };
            let name = ctx
                .conversation
                .clone()
                .or_else(|| chat.as_ref().map(|c| c.0.clone()))
                .unwrap_or_else(|| "LINE".into());
            let mut dr = Draft::new("line", format!("chat:{name}"));
            dr.conversation_title = Some(name);
            dr.conversation_kind = chat.as_ref().map(|c| {
                if c.1 {
                    ConversationKind::Group
                } else {
                    ConversationKind::Direct
                }
            });
            let Some(at) = naive(y, mo, d, h, m, 0).and_then(|t| ctx.tz.instant(t)) else {
                return sink.reject(&origin, crate::time::why_no_time(y, mo, d, h, m, 0));
            };
            dr.sent_at = Some(at);
            if sender.is_empty() {
                dr.sender_id = "system".into();
                dr.role = SenderRole::System;
                dr.kind = MessageKind::System;
            } else {
                let s = self_alias(ctx, &sender).unwrap_or(sender);
                dr.sender_id = s.clone();
                dr.sender_name = Some(s);
            }
            let text = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                Some(inner) if text.contains('\n') => inner.replace("\"\"", "\""),
                _ => text,
            };
            dr.kind = match text.as_str() {
                "[Sticker]" | "[貼圖]" | "[贴图]" | "[スタンプ]" | "[Photo]" | "[照片]"
                | "[写真]" => MessageKind::Image,
                "[Video]" | "[影片]" | "[视频]" | "[動画]" => MessageKind::Video,
                "[File]" | "[檔案]" | "[文件]" | "[ファイル]" => MessageKind::File,
                "[Voice message]" | "[語音訊息]" | "[语音信息]" | "[ボイスメッセージ]" => {
                    MessageKind::Voice
                }
                _ => dr.kind,
            };
            dr.text = text;
            match dr.finish(raw.into_bytes(), origin.clone()) {
                Ok(msg) => sink.message(msg),
                Err(e) => sink.reject(&origin, e),
            }
        };
        for line in lines {
            // A damaged line is placed like any other (a message of its own, or part of
            // the one above), and the message it belongs to is rejected whole.
            let Parts {
                number,
                text,
                damage,
            } = line
                .into_parts()
                .map_err(|(n, e)| ImportError::fatal(&ctx.origin(n), e))?;
            let mut cols = text.splitn(3, '\t');
            let (t, s, rest) = (cols.next().unwrap_or(""), cols.next(), cols.next());
            // A message header: a time, a tab, and the rest (`read_time` is `None` when
            // the first column is not a time's shape at all).
            let header = s.and_then(|_| read_time(t));
            let dated = read_date(&text);
            // Inside a quoted multi-line message, every line belongs to it, except a
            // message header or a date line: the quote was never closed (a message that
            // merely starts with `"`), and is ended there, with a warning.
            if let Some(p) = pending.as_mut().filter(|p| p.open) {
                let breaks = matches!(header, Some(Ok(_))) || matches!(dated, DateRead::Date(_));
                if !breaks {
                    if header.is_some() || matches!(dated, DateRead::Invalid(_) | DateRead::Like) {
                        sink.warn_header_like(
                            &ctx.origin(number),
                            format!("line {number} looks like a message header or date line but is not one: kept as quoted text of the message at line {}", p.line),
                        )?;
                    }
                    p.push(&text, damage);
                    let quotes = text.chars().rev().take_while(|c| *c == '"').count();
                    if quotes % 2 == 1 {
                        p.open = false;
                    }
                    continue;
                }
                sink.warn_header_like(
                    &ctx.origin(number),
                    format!("line {number} is a message header or date line inside the quoted text of the message at line {}, whose quote was never closed: read as a new record, the quote taken as text", p.line),
                )?;
            }
            if number <= 2 && chat.is_none() && damage.is_none() {
                if let Some(c) = chat_header(&text) {
                    chat = Some(c);
                    continue;
                }
            }
            if number <= 3
                && (text.starts_with("Saved on:")
                    || text.starts_with("儲存日期")
                    || text.starts_with("保存日期")
                    || text.starts_with("保存日時"))
            {
                continue;
            }
            match dated {
                DateRead::Date(d) => {
                    flush(pending.take(), &date, &chat, sink)?;
                    if let Some(why) = damage {
                        // The date itself was read; the damage is in the weekday.
                        sink.warn(&ctx.origin(number), why)?;
                    }
                    date = Ok(d);
                    continue;
                }
                DateRead::Invalid(why) => {
                    // The messages under a date line that cannot be read have no date:
                    // each is rejected, naming this line.
                    flush(pending.take(), &date, &chat, sink)?;
                    sink.reject_header_like(
                        &ctx.origin(number),
                        format!(
                            "line {number} has the shape of a date line but is not a date ({why})"
                        ),
                    )?;
                    date = Err(format!(
                        "the message is under the unreadable date line {number}"
                    ));
                    continue;
                }
                DateRead::Text | DateRead::Like => {}
            }
            match (header, s) {
                (Some(Ok(hm)), Some(sender)) => {
                    flush(pending.take(), &date, &chat, sink)?;
                    let (sender, body) = match rest {
                        Some(body) => (sender.to_owned(), body.to_owned()),
                        None => (String::new(), sender.to_owned()),
                    };
                    let open = body.starts_with('"')
                        && (body.len() == 1
                            || !body.ends_with('"')
                            || body.ends_with("\"\"") && !body.ends_with("\"\"\""));
                    pending = Some(Pending {
                        line: number,
                        hm: Some(hm),
                        sender,
                        text: body,
                        raw: text.clone(),
                        open,
                        broken: damage,
                    });
                    continue;
                }
                (Some(Err(why)), Some(_)) => {
                    // The shape of a header with a time no clock shows: the message it
                    // starts is rejected.
                    flush(pending.take(), &date, &chat, sink)?;
                    pending = Some(Pending {
                        line: number,
                        hm: None,
                        sender: String::new(),
                        text: String::new(),
                        raw: text.clone(),
                        open: false,
                        broken: Some(format!(
                            "line {number} has the shape of a message header but cannot be one ({why})"
                        )),
                    });
                    continue;
                }
                _ => {}
            }
            // A time at the start with spaces where the tabs should be: kept as text of
            // the message above, and reported.
            let spaced = text
                .split_once([' ', '\u{a0}'])
                .is_some_and(|(t, r)| time_of(t).is_some() && !r.trim().is_empty());
            let unknown_date = matches!(dated, DateRead::Like);
            match (pending.as_mut(), damage) {
                (Some(p), damage) if !text.is_empty() || damage.is_some() => {
                    if (spaced || unknown_date) && damage.is_none() {
                        let what = if spaced {
                            "starts with a time like a message header but has no tab after it"
                        } else {
                            "starts like a date line in a shape this reader does not know (the dates after it stay those of the line before)"
                        };
                        sink.warn_header_like(
                            &ctx.origin(number),
                            format!(
                                "line {number} {what}: kept as text of the message at line {}",
                                p.line
                            ),
                        )?;
                    }
                    p.push(&text, damage)
                }
                (Some(_), _) => {}
                (None, Some(why)) => sink.reject(&ctx.origin(number), why)?,
                (None, None) if text.trim().is_empty() => {}
                (None, None) => sink.reject(&ctx.origin(number), "text outside any message")?,
            }
        }
        flush(pending.take(), &date, &chat, sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ctx, messages, run_bytes};
    use crate::Parsed;

    #[test]
    fn parts_table() {
        assert_eq!(
            chat_header("[LINE] Chat history with Bob"),
            Some(("Bob".into(), false))
        );
        assert_eq!(
            chat_header("[LINE] Chat history in 同學會"),
            Some(("同學會".into(), true))
        );
        assert_eq!(
            chat_header("[LINE] 與小明的聊天記錄"),
            Some(("小明".into(), false))
        );
        assert_eq!(
            chat_header("[LINE] 与小明的聊天记录"),
            Some(("小明".into(), false))
        );
        assert_eq!(
            chat_header("[LINE] 山田とのトーク履歴"),
            Some(("山田".into(), false))
        );
        let dates = [
            ("2024年1月1日 星期一", Some((2024, 1, 1))),
            ("2026年1月30日(金)", Some((2026, 1, 30))),
            ("2026. 1. 30. 금요일", Some((2026, 1, 30))),
            ("2024年1月1日に会いましょう", None),
            ("2015/12/25 Fri", Some((2015, 12, 25))),
            ("2025.12.10 Wednesday", Some((2025, 12, 10))),
            ("Sun, 26/04/2026", Some((2026, 4, 26))),
            ("2022/9/2（週五）", Some((2022, 9, 2))),
            ("2024/01/15（一）", Some((2024, 1, 15))),
            ("2026/1/30(金)", Some((2026, 1, 30))),
            ("13:05\tBob\t2015/12/25", None),
            ("hello", None),
        ];
        for (l, want) in dates {
            assert_eq!(date_line(l), want, "{l}");
        }
        let times = [
            ("13:05", Some((13, 5))),
            ("上午9:15", Some((9, 15))),
            ("午後1:02", Some((13, 2))),
            ("04:35PM", Some((16, 35))),
            ("12:10AM", Some((0, 10))),
            ("25:00", None),
            ("x", None),
        ];
        for (t, want) in times {
            assert_eq!(time_of(t), want, "{t}");
        }
    }

    #[test]
    fn line_export() {
        let input = "\u{feff}[LINE] Chat history in 讀書會\nSaved on: 2018/03/25 19:57\n\n2018/03/24 Sat\n13:05\tAnn\thello\n13:06\tBob\t\"first\nsecond \"\"quoted\"\"\nthird\"\n13:07\t\tAnn joined the group\n下午1:08\tBob\t[Sticker]\n";
        let mut c = ctx("line.txt");
        c.tz = "Asia/Taipei".parse().expect("tz");
        let m = messages(run_bytes(&LineTxt, "line.txt", input.as_bytes(), &c));
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].conversation_id, "chat:讀書會");
        assert_eq!(m[0].sent_at.to_rfc3339(), "2018-03-24T13:05:00+08:00");
        assert_eq!(m[1].text, "first\nsecond \"quoted\"\nthird");
        assert_eq!(m[2].kind, MessageKind::System);
        assert_eq!(m[3].kind, MessageKind::Image);
        let out = run_bytes(
            &LineTxt,
            "line.txt",
            b"[LINE] Chat history with A\n13:05\tAnn\thello\n",
            &c,
        );
        assert!(
            matches!(&out[..], [Parsed::Rejected(r)] if r.reason.contains("date")),
            "{out:?}"
        );
    }
}
