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
    hm: (u32, u32),
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

/// A date line: `2015/12/25 Fri`, `2025.12.10 Wednesday`, `Sun, 26/04/2026`,
/// `2022/9/2（週五）`, `2026/1/30(金)`.
fn date_line(line: &str) -> Option<(i32, u32, u32)> {
    if line.contains('\t') {
        return None;
    }
    let t = line.trim();
    let nums = |s: &str, sep: &[char]| -> Option<Vec<u32>> {
        let v: Vec<u32> = s
            .split(sep)
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        (v.len() == 3).then_some(v)
    };
    // Year first, then an optional weekday.
    let first = t.split([' ', '（', '(']).next()?;
    if let Some(v) = nums(first, &['/', '.', '-']) {
        if v[0] >= 1970 && (1..=12).contains(&v[1]) && (1..=31).contains(&v[2]) {
            return Some((v[0] as i32, v[1], v[2]));
        }
    }
    // Weekday first, then DD/MM/YYYY.
    let (_, date) = t.split_once(", ")?;
    let v = nums(date.trim(), &['/', '.'])?;
    (v[2] >= 1970 && (1..=12).contains(&v[1])).then_some((v[2] as i32, v[1], v[0]))
}

/// `13:05`, `上午9:15`, `午後1:02`, `04:35PM` → 24-hour (h, m).
fn time_of(s: &str) -> Option<(u32, u32)> {
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
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if m > 59 {
        return None;
    }
    match pm {
        Some(_) if !(1..=12).contains(&h) => None,
        Some(true) => Some((h % 12 + 12, m)),
        Some(false) => Some((h % 12, m)),
        None => (h <= 23).then_some((h, m)),
    }
}

impl Importer for LineTxt {
    fn name(&self) -> &'static str {
        "line"
    }

    fn description(&self) -> &'static str {
        "LINE \"Send chat history\" .txt (English, 繁體, 简体, 日本語 headers)"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        let t = probe.text();
        (!probe.is_zip && t.trim_start().starts_with("[LINE]")) as u8 * 95
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
        let mut date: Option<Date> = None;
        let mut pending: Option<Pending> = None;
        let flush = |p: Option<Pending>,
                     date: Option<Date>,
                     chat: &Option<(String, bool)>,
                     sink: &mut Sink<'_>|
         -> Result<(), ImportError> {
            let Some(Pending {
                line,
                hm: (h, m),
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
            if let Some(why) = broken {
                return sink.reject(&origin, why);
            }
            let Some((y, mo, d)) = date else {
                return sink.reject(&origin, "a message before any date line");
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
                return sink.reject(&origin, format!("no such time: {y}-{mo}-{d} {h}:{m:02}"));
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
            // Inside a quoted multi-line message, every line belongs to it.
            if let Some(p) = pending.as_mut().filter(|p| p.open) {
                p.push(&text, damage);
                let quotes = text.chars().rev().take_while(|c| *c == '"').count();
                if quotes % 2 == 1 {
                    p.open = false;
                }
                continue;
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
            if let Some(d) = date_line(&text) {
                flush(pending.take(), date, &chat, sink)?;
                if let Some(why) = damage {
                    // The date itself was read; the damage is in the weekday.
                    sink.warn(&ctx.origin(number), why)?;
                }
                date = Some(d);
                continue;
            }
            let mut cols = text.splitn(3, '\t');
            let (t, s, rest) = (cols.next().unwrap_or(""), cols.next(), cols.next());
            if let (Some(hm), Some(sender)) = (time_of(t), s) {
                flush(pending.take(), date, &chat, sink)?;
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
                    hm,
                    sender,
                    text: body,
                    raw: text.clone(),
                    open,
                    broken: damage,
                });
                continue;
            }
            match (pending.as_mut(), damage) {
                (Some(p), damage) if !text.is_empty() || damage.is_some() => p.push(&text, damage),
                (Some(_), _) => {}
                (None, Some(why)) => sink.reject(&ctx.origin(number), why)?,
                (None, None) if text.trim().is_empty() => {}
                (None, None) => sink.reject(&ctx.origin(number), "text outside any message")?,
            }
        }
        flush(pending.take(), date, &chat, sink)
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
