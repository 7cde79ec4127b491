//! WhatsApp "Export chat": `.txt` (Android `DATE, TIME - Sender: text`, iOS
//! `[DATE, TIME] Sender: text`) or the `.zip` with `_chat.txt` and media.
//!
//! The date order (day-month, month-day, year first) is not written anywhere; it is
//! decided from every header in the file in a first pass, then the file is read again to
//! import. Both passes stream, so memory stays bounded whatever the chat's length.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use chatvault_model::{ConversationKind, MessageKind, SenderRole};

use crate::draft::{self_alias, Draft};
use crate::lines::{BoundedLines, Line, Parts, MAX_LINE_BYTES};
use crate::source::Source;
use crate::time::{naive, LocalTime};
use crate::{text, ImportContext, ImportError, Importer, Probe, Sink};

pub struct WhatsApp;

/// Largest media file taken from a WhatsApp zip (2 GiB, WhatsApp's own limit).
const MAX_MEDIA_BYTES: u64 = 2 << 30;

const SPACES: &[char] = &[' ', '\u{202f}', '\u{a0}', '\u{2009}'];
const MARKS: &[char] = &['\u{200e}', '\u{200f}', '\u{feff}', '\u{202a}', '\u{202c}'];
const AM: &[&str] = &[
    "AM", "am", "a. m.", "a.m.", "a. m", "a.m", "上午", "午前", "오전", "vorm.", "ص",
];
const PM: &[&str] = &[
    "PM", "pm", "p. m.", "p.m.", "p. m", "p.m", "下午", "午後", "오후", "nachm.", "م",
];

/// A header's date and time, before the date order is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    parts: [u32; 3],
    year_first: bool,
    h: u32,
    m: u32,
    s: u32,
    pm: Option<bool>,
}

#[derive(Debug, PartialEq, Eq)]
struct Header<'a> {
    stamp: Stamp,
    rest: &'a str,
}

fn number(s: &str, max_width: usize) -> Option<(u32, usize, &str)> {
    let width = s.bytes().take_while(u8::is_ascii_digit).count();
    if width == 0 || width > max_width {
        return None;
    }
    Some((s[..width].parse().ok()?, width, &s[width..]))
}

fn marker(s: &str) -> Option<(bool, &str)> {
    for (list, pm) in [(AM, false), (PM, true)] {
        if let Some(m) = list.iter().find(|m| s.starts_with(**m)) {
            return Some((pm, &s[m.len()..]));
        }
    }
    None
}

fn skip_spaces(s: &str) -> &str {
    s.trim_start_matches(SPACES)
}

/// `DATE[,] [marker]TIME[.][ marker]` at the start of `s`.
fn parse_stamp(s: &str) -> Option<(Stamp, &str)> {
    let (a, wa, s) = number(s, 4)?;
    let sep = s.chars().next().filter(|c| "/.-".contains(*c))?;
    let (b, _, s) = number(&s[1..], 2)?;
    let s = s.strip_prefix(sep)?;
    let (c, wc, s) = number(s, 4)?;
    // A year is 2 or 4 digits, and only at one end.
    if (wa == 4 && wc == 4) || wa == 3 || wc == 3 {
        return None;
    }
    let s = s.strip_prefix('.').unwrap_or(s);
    let s = s.strip_prefix(',').unwrap_or(s);
    let after_date = skip_spaces(s);
    if after_date.len() == s.len() {
        return None;
    }
    let (pre, s) = match marker(after_date) {
        Some((pm, rest)) => (Some(pm), skip_spaces(rest)),
        None => (None, after_date),
    };
    let (h, _, s) = number(s, 2)?;
    let s = s.strip_prefix(':')?;
    let (m, wm, s) = number(s, 2)?;
    let (sec, s) = match s.strip_prefix(':') {
        Some(r) => {
            let (sec, w, r) = number(r, 2)?;
            (w == 2).then_some(())?;
            (sec, r)
        }
        None => (0, s),
    };
    let s = s
        .strip_prefix('.')
        .filter(|r| !r.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(s);
    let (pm, s) = match pre {
        Some(p) => (Some(p), s),
        None => {
            let t = skip_spaces(s);
            match marker(t) {
                Some((p, rest)) => (Some(p), rest),
                None => (None, s),
            }
        }
    };
    let hour_ok = match pm {
        Some(_) => (1..=12).contains(&h),
        None => h <= 23,
    };
    let year_first = wa == 4;
    // Day and month are never 0; a two-digit year may be (2000).
    if wm != 2
        || m > 59
        || sec > 59
        || !hour_ok
        || b == 0
        || (a == 0 && !year_first)
        || (c == 0 && year_first)
    {
        return None;
    }
    Some((
        Stamp {
            parts: [a, b, c],
            year_first,
            h,
            m,
            s: sec,
            pm,
        },
        s,
    ))
}

fn parse_header(line: &str) -> Option<Header<'_>> {
    let s = line.trim_start_matches(MARKS);
    if let Some(inner) = s.strip_prefix('[') {
        let (stamp, rest) = parse_stamp(inner)?;
        let rest = rest.trim_start_matches(SPACES).strip_prefix(']')?;
        let rest = rest.strip_prefix(SPACES).unwrap_or(rest);
        return Some(Header { stamp, rest });
    }
    let (stamp, rest) = parse_stamp(s)?;
    let rest = skip_spaces(rest);
    let rest = rest.strip_prefix('-').or_else(|| rest.strip_prefix('–'))?;
    let rest = rest.strip_prefix(SPACES).unwrap_or(rest);
    Some(Header { stamp, rest })
}

/// The day/month/year order of a file's dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Dmy,
    Mdy,
    Ymd,
    Ydm,
}

impl Order {
    fn ymd(self, p: [u32; 3]) -> (u32, u32, u32) {
        let year = |y: u32| if y < 100 { 2000 + y } else { y };
        match self {
            Order::Dmy => (year(p[2]), p[1], p[0]),
            Order::Mdy => (year(p[2]), p[0], p[1]),
            Order::Ymd => (p[0], p[1], p[2]),
            Order::Ydm => (p[0], p[2], p[1]),
        }
    }
}

/// What the first pass learns from every header.
#[derive(Default)]
struct Survey {
    headers: u64,
    year_first: u64,
    max: [u32; 3],
    /// Times the timestamp goes backwards when read as day-month and as month-day.
    backwards: [u64; 2],
    last: [Option<(u32, u32, u32, u32)>; 2],
    senders: HashSet<String>,
    group_hint: bool,
    english_ampm: bool,
}

impl Survey {
    fn add(&mut self, h: &Header) {
        let st = h.stamp;
        self.headers += 1;
        if st.year_first {
            self.year_first += 1;
        }
        let (x, y) = if st.year_first {
            (st.parts[1], st.parts[2])
        } else {
            (st.parts[0], st.parts[1])
        };
        self.max[0] = self.max[0].max(x);
        self.max[1] = self.max[1].max(y);
        let minutes = st.h * 60 + st.m;
        for (i, (mo, d)) in [(y, x), (x, y)].into_iter().enumerate() {
            let year = if st.year_first {
                st.parts[0]
            } else {
                st.parts[2]
            };
            let key = (year, mo, d, minutes);
            if self.last[i].is_some_and(|l| key < l) {
                self.backwards[i] += 1;
            }
            self.last[i] = Some(key);
        }
        if st.pm.is_some() {
            self.english_ampm = true;
        }
        match split_sender(h.rest) {
            Some((sender, _)) if self.senders.len() < 3 => {
                self.senders.insert(sender.to_owned());
            }
            None if h.rest.contains("group") || h.rest.contains("群") => self.group_hint = true,
            _ => {}
        }
    }

    fn order(&self) -> Result<(Order, Option<String>), String> {
        if self.headers == 0 {
            return Err("no WhatsApp message header (`DATE, TIME - Sender: text` or `[DATE, TIME] Sender: text`) was found".into());
        }
        let [x, y] = [self.max[0], self.max[1]];
        let year_first = self.year_first * 2 > self.headers;
        match (year_first, x > 12, y > 12) {
            (_, true, true) => Err(format!("the dates are inconsistent: both of the first two fields exceed 12 (up to {x} and {y})")),
            (true, true, false) => Ok((Order::Ydm, None)),
            (true, _, _) => Ok((Order::Ymd, None)),
            (false, true, false) => Ok((Order::Dmy, None)),
            (false, false, true) => Ok((Order::Mdy, None)),
            (false, false, false) => {
                // No day above 12 anywhere: take the order under which the chat runs forward.
                let [dm, md] = self.backwards;
                let order = if md < dm || (md == dm && self.english_ampm) { Order::Mdy } else { Order::Dmy };
                let name = if order == Order::Mdy { "month/day" } else { "day/month" };
                Ok((order, Some(format!(
                    "no day above 12 in any date: read as {name} (the chat runs backwards {} times read day/month, {} times month/day)",
                    dm, md
                ))))
            }
        }
    }
}

/// `Sender: text`, when the line has a sender.
fn split_sender(rest: &str) -> Option<(&str, &str)> {
    let (sender, text) = rest.split_once(": ")?;
    let sender = sender.trim_matches(MARKS);
    if sender.is_empty() || sender.chars().count() > 100 || is_system_phrase(sender) {
        return None;
    }
    Some((sender, text))
}

const SYSTEM_PHRASES: &[&str] = &[
    "end-to-end encrypted",
    "are now secured with end-to-end encryption",
    "created group",
    "created this group",
    " added ",
    "you were added",
    " left",
    " removed ",
    "changed the subject",
    "changed this group's icon",
    "changed the group description",
    "deleted this group's icon",
    "joined using this group's invite link",
    "security code changed",
    "changed their phone number",
    "now an admin",
    "no longer an admin",
    "turned on disappearing messages",
    "turned off disappearing messages",
    "端到端加密",
    "创建了群组",
    "创建了群",
    "加入了",
    "添加了",
    "退出了",
    "离开了",
    "移除了",
    "更改了",
    "安全码",
    "cifrados de extremo a extremo",
    "criptografadas de ponta a ponta",
    "ende-zu-ende-verschlüsselt",
    "chiffrés de bout en bout",
    "crittografati end-to-end",
    "creó el grupo",
    "criou o grupo",
    "hat die gruppe",
    "a créé le groupe",
    "ha creato il gruppo",
    "añadió a",
    "adicionou",
    "hinzugefügt",
    "a ajouté",
    "ha aggiunto",
];

fn is_system_phrase(s: &str) -> bool {
    let lower = s.to_lowercase();
    SYSTEM_PHRASES.iter().any(|p| lower.contains(p))
}

const OMITTED: &[(&str, MessageKind)] = &[
    ("<media omitted>", MessageKind::File),
    ("<省略影音内容>", MessageKind::File),
    ("<已省略多媒體檔案>", MessageKind::File),
    ("<multimedia omitido>", MessageKind::File),
    ("<mídia oculta>", MessageKind::File),
    ("<medien ausgeschlossen>", MessageKind::File),
    ("<médias omis>", MessageKind::File),
    ("<media omessi>", MessageKind::File),
    ("image omitted", MessageKind::Image),
    ("photo omitted", MessageKind::Image),
    ("sticker omitted", MessageKind::Image),
    ("video omitted", MessageKind::Video),
    ("gif omitted", MessageKind::Video),
    ("audio omitted", MessageKind::Voice),
    ("document omitted", MessageKind::File),
    ("contact card omitted", MessageKind::Other),
    ("圖片已略去", MessageKind::Image),
    ("貼圖已略去", MessageKind::Image),
    ("影片已略去", MessageKind::Video),
    ("音訊已略去", MessageKind::Voice),
    ("图片已省略", MessageKind::Image),
    ("贴纸已省略", MessageKind::Image),
    ("视频已省略", MessageKind::Video),
    ("音频已省略", MessageKind::Voice),
    ("文件已省略", MessageKind::File),
];

const ATTACHED_SUFFIXES: &[&str] = &[
    " (file attached)",
    " (文件附件)",
    " (檔案附件)",
    " (archivo adjunto)",
    " (Datei angehängt)",
    " (fichier joint)",
    " (arquivo anexado)",
    " (file allegato)",
];

const DELETED: &[&str] = &[
    "This message was deleted",
    "You deleted this message",
    "此消息已删除",
    "你删除了此消息",
    "此訊息已刪除",
    "你已刪除此訊息",
    "Se eliminó este mensaje",
    "Eliminaste este mensaje",
    "Diese Nachricht wurde gelöscht",
    "Ce message a été supprimé",
    "Esta mensagem foi apagada",
    "Questo messaggio è stato eliminato",
];

const EDITED: &[&str] = &[
    "<This message was edited>",
    "<此消息已编辑>",
    "<已編輯此訊息>",
];

fn kind_for_file(name: &str) -> MessageKind {
    let upper = name.to_ascii_uppercase();
    let ext = upper.rsplit('.').next().unwrap_or("");
    if upper.contains("-PHOTO-")
        || upper.starts_with("IMG-")
        || upper.contains("-STICKER-")
        || ["JPG", "JPEG", "PNG", "WEBP", "HEIC", "GIF"].contains(&ext)
    {
        MessageKind::Image
    } else if upper.contains("-VIDEO-")
        || upper.starts_with("VID-")
        || ["MP4", "MOV", "3GP"].contains(&ext)
    {
        MessageKind::Video
    } else if upper.contains("-AUDIO-")
        || upper.starts_with("PTT-")
        || upper.starts_with("AUD-")
        || ["OPUS", "MP3", "M4A", "AAC", "OGG"].contains(&ext)
    {
        MessageKind::Voice
    } else {
        MessageKind::File
    }
}

/// The media file a message names, if any.
fn attached_file(text: &str) -> Option<&str> {
    let first = text.lines().next().unwrap_or("").trim_matches(MARKS).trim();
    if let Some(i) = first.find("<attached: ") {
        let rest = &first[i + "<attached: ".len()..];
        return rest.split_once('>').map(|(name, _)| name.trim());
    }
    ATTACHED_SUFFIXES
        .iter()
        .find_map(|s| first.strip_suffix(s))
        .map(|n| n.trim_matches(MARKS).trim())
}

fn chat_name(file_name: &str) -> String {
    let stem = file_name.rsplit_once('.').map_or(file_name, |(s, _)| s);
    for prefix in [
        "WhatsApp Chat with ",
        "WhatsApp Chat - ",
        "WhatsApp-Chat mit ",
        "Chat de WhatsApp con ",
        "与",
        "WhatsApp 聊天 - ",
    ] {
        if let Some(n) = stem.strip_prefix(prefix) {
            return n.trim().to_owned();
        }
    }
    stem.to_owned()
}

/// The chat text inside a zip: `_chat.txt` (iOS) or `WhatsApp Chat with X.txt` (Android).
fn chat_entry(entries: &[String]) -> Option<&String> {
    let top = |e: &&String| !e.starts_with("__MACOSX/") && !e.contains('/');
    entries
        .iter()
        .filter(top)
        .find(|e| *e == "_chat.txt")
        .or_else(|| {
            entries
                .iter()
                .filter(top)
                .find(|e| e.to_ascii_lowercase().ends_with(".txt") && e.contains("WhatsApp"))
        })
        .or_else(|| {
            let txt: Vec<_> = entries
                .iter()
                .filter(top)
                .filter(|e| e.to_ascii_lowercase().ends_with(".txt"))
                .collect();
            (txt.len() == 1).then(|| txt[0])
        })
}

fn sniff_text(text: &str) -> u8 {
    let lines: Vec<&str> = text.lines().take(20).collect();
    let headers = lines.iter().filter(|l| parse_header(l).is_some()).count();
    let signal_like = lines.iter().filter(|l| crate::signal::is_header(l)).count();
    match headers {
        0 => 0,
        _ if signal_like >= headers => 0,
        n if n >= 2 || lines.len() == 1 => 80,
        _ => 40,
    }
}

impl Importer for WhatsApp {
    fn name(&self) -> &'static str {
        "whatsapp"
    }

    fn description(&self) -> &'static str {
        "WhatsApp \"Export chat\" .txt or .zip (Android and iOS, any date order and language)"
    }

    fn sniff(&self, probe: &Probe) -> u8 {
        if probe.is_zip {
            let Some(entry) = chat_entry(&probe.entries) else {
                return 0;
            };
            return probe
                .entry_head(entry)
                .map_or(0, |h| sniff_text(&text::decode_head(h)).saturating_add(10));
        }
        sniff_text(&probe.text())
    }

    fn import(
        &self,
        source: &Source,
        ctx: &ImportContext,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let start = ctx.origin(0);
        let io = |e: std::io::Error| ImportError::fatal(&start, e.to_string());
        if !source.is_zip() {
            let survey = survey(text::lines(source).map_err(io)?);
            return read_chat(
                text::lines(source).map_err(io)?,
                survey,
                None,
                source,
                ctx,
                sink,
            );
        }
        let names: Vec<String> = source.entries().iter().map(|e| e.name.clone()).collect();
        let entry = chat_entry(&names)
            .ok_or_else(|| ImportError::fatal(&start, "no chat text (_chat.txt) in the zip"))?
            .clone();
        let media: HashMap<String, String> = names
            .iter()
            .filter(|n| !n.starts_with("__MACOSX/") && **n != entry)
            .map(|n| (n.rsplit('/').next().unwrap_or(n).to_owned(), n.clone()))
            .collect();
        let entry_ctx = ImportContext {
            file_label: format!("{}!{}", ctx.file_label, entry),
            ..ctx.clone()
        };
        let survey = source
            .with_entry(&entry, |r| survey(entry_lines(r)))
            .map_err(io)?;
        source
            .with_entry(&entry, |r| {
                read_chat(
                    entry_lines(r),
                    survey,
                    Some(&media),
                    source,
                    &entry_ctx,
                    sink,
                )
            })
            .map_err(io)?
    }
}

fn entry_lines(r: &mut dyn BufRead) -> BoundedLines<&mut dyn BufRead> {
    BoundedLines::new(r, MAX_LINE_BYTES)
}

fn survey<R: BufRead>(lines: BoundedLines<R>) -> Survey {
    let mut s = Survey::default();
    for line in lines {
        if let Line::Text { text, .. } = line {
            if let Some(h) = parse_header(&text) {
                s.add(&h);
            }
        }
    }
    s
}

/// A message being read: its header line and the lines after it.
struct Pending {
    line: u64,
    stamp: Stamp,
    body: String,
    raw: String,
    broken: Option<String>,
}

struct Chat<'a> {
    ctx: &'a ImportContext,
    source: &'a Source,
    media: Option<&'a HashMap<String, String>>,
    order: Order,
    conversation: String,
    title: String,
    kind: ConversationKind,
}

fn read_chat<R: BufRead>(
    lines: BoundedLines<R>,
    survey: Survey,
    media: Option<&HashMap<String, String>>,
    source: &Source,
    ctx: &ImportContext,
    sink: &mut Sink<'_>,
) -> Result<(), ImportError> {
    let (order, note) = survey
        .order()
        .map_err(|e| ImportError::fatal(&ctx.origin(1), e))?;
    if let Some(note) = note {
        sink.warn(&ctx.origin(1), note)?;
    }
    let title = chat_name(&source.file_name());
    let chat = Chat {
        ctx,
        source,
        media,
        order,
        conversation: ctx
            .conversation
            .clone()
            .unwrap_or_else(|| format!("chat:{title}")),
        title,
        kind: if survey.group_hint || survey.senders.len() > 2 {
            ConversationKind::Group
        } else {
            ConversationKind::Direct
        },
    };
    let mut pending: Option<Pending> = None;
    for line in lines {
        let Parts {
            number,
            text,
            damage,
        } = line
            .into_parts()
            .map_err(|(n, e)| ImportError::fatal(&ctx.origin(n), e))?;
        // A damaged line is placed like any other (a header starts a message even with a
        // bad byte in its text), and the message it belongs to is rejected whole.
        if let Some(why) = damage {
            if let Some(h) = parse_header(&text) {
                if let Some(p) = pending.take() {
                    chat.flush(p, sink)?;
                }
                pending = Some(Pending {
                    line: number,
                    stamp: h.stamp,
                    body: String::new(),
                    raw: String::new(),
                    broken: Some(why),
                });
                continue;
            }
            match pending.as_mut() {
                Some(p) => {
                    p.broken.get_or_insert(why);
                }
                None => sink.reject(&ctx.origin(number), why)?,
            }
            continue;
        }
        if let Some(h) = parse_header(&text) {
            if let Some(p) = pending.take() {
                chat.flush(p, sink)?;
            }
            pending = Some(Pending {
                line: number,
                stamp: h.stamp,
                body: h.rest.to_owned(),
                raw: text.clone(),
                broken: None,
            });
            continue;
        }
        match pending.as_mut() {
            Some(p) => {
                if p.raw.len() + text.len() > chatvault_model::canonical::MAX_TEXT_BYTES * 2 {
                    p.broken
                        .get_or_insert_with(|| "the message is longer than the 1 MiB limit".into());
                    continue;
                }
                p.body.push('\n');
                p.body.push_str(&text);
                p.raw.push('\n');
                p.raw.push_str(&text);
            }
            None if text.trim_matches(MARKS).trim().is_empty() => {}
            None => sink.reject(&ctx.origin(number), "text before the first message header")?,
        }
    }
    if let Some(p) = pending.take() {
        chat.flush(p, sink)?;
    }
    Ok(())
}

impl Chat<'_> {
    fn flush(&self, p: Pending, sink: &mut Sink<'_>) -> Result<(), ImportError> {
        let origin = self.ctx.origin(p.line);
        if let Some(why) = p.broken {
            return sink.reject(&origin, why);
        }
        let st = p.stamp;
        let (y, mo, d) = self.order.ymd(st.parts);
        let h = match st.pm {
            Some(true) => st.h % 12 + 12,
            Some(false) => st.h % 12,
            None => st.h,
        };
        let Some(sent_at) =
            naive(y as i32, mo, d, h, st.m, st.s).and_then(|t| self.ctx.tz.instant(t))
        else {
            return sink.reject(
                &origin,
                format!(
                    "no such date: {y:04}-{mo:02}-{d:02} {h:02}:{:02} (read in {:?} order)",
                    st.m, self.order
                ),
            );
        };
        let mut draft = Draft::new("whatsapp", self.conversation.clone());
        draft.conversation_title = Some(self.title.clone());
        draft.conversation_kind = Some(self.kind);
        draft.sent_at = Some(sent_at);
        let body = p.body.as_str();
        let (sender, text) = match split_sender(body) {
            Some((s, t))
                if !(t.contains("end-to-end encrypted")
                    || t.starts_with('\u{200e}') && is_system_phrase(t)) =>
            {
                (Some(s), t)
            }
            Some((s, t)) => {
                draft.sender_name = Some(s.to_owned());
                (None, t)
            }
            None => (None, body),
        };
        let text = text.trim_start_matches(MARKS);
        match sender {
            Some(s) => {
                let name = self_alias(self.ctx, s).unwrap_or_else(|| s.to_owned());
                draft.sender_id = name.clone();
                draft.sender_name = Some(name);
            }
            None => {
                draft.sender_id = "system".into();
                draft.role = SenderRole::System;
                draft.kind = MessageKind::System;
            }
        }
        draft.text = text.to_owned();
        if sender.is_some() {
            self.classify(&mut draft, &origin, sink)?;
        }
        match draft.finish(p.raw.into_bytes(), origin.clone()) {
            Ok(m) => sink.message(m),
            Err(e) => sink.reject(&origin, e),
        }
    }

    fn classify(
        &self,
        draft: &mut Draft,
        origin: &chatvault_model::Origin,
        sink: &mut Sink<'_>,
    ) -> Result<(), ImportError> {
        let first = draft
            .text
            .lines()
            .next()
            .unwrap_or("")
            .trim_matches(MARKS)
            .trim()
            .to_owned();
        let lower = first.to_lowercase();
        if let Some((_, kind)) = OMITTED.iter().find(|(p, _)| lower == *p) {
            draft.kind = *kind;
            draft.tag("media-omitted");
        } else if DELETED.iter().any(|d| first == *d) {
            draft.kind = MessageKind::Other;
            draft.tag("deleted");
        } else if first.starts_with("POLL:") {
            draft.kind = MessageKind::Other;
            draft.tag("poll");
        } else if lower.starts_with("location: https://") || lower.starts_with("位置: https://") {
            draft.kind = MessageKind::Location;
        }
        if EDITED.iter().any(|e| draft.text.trim_end().ends_with(e)) {
            draft.tag("edited");
        }
        let Some(file) = attached_file(&draft.text).map(str::to_owned) else {
            return Ok(());
        };
        draft.kind = kind_for_file(&file);
        let bytes = match self.media {
            Some(media) => match media.get(&file) {
                Some(entry) => self
                    .source
                    .read_entry(entry, MAX_MEDIA_BYTES)
                    .map_err(|e| e.to_string()),
                None => Err(format!(
                    "`{file}` is not in the zip (exported without media?)"
                )),
            },
            None => crate::jsonl::load_attachment(self.ctx.base_dir.as_deref(), &file)
                .map_err(|e| format!("media not imported: {e}")),
        };
        match bytes {
            Ok(b) => draft.attach(&file, b),
            Err(why) => sink.warn(origin, why)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_table() {
        // (name, line, parts, h, m, s, pm, rest)
        type Case<'a> = (
            &'a str,
            &'a str,
            Option<([u32; 3], u32, u32, u32, Option<bool>, &'a str)>,
        );
        let cases: Vec<Case> = vec![
            (
                "android_dots",
                "06.08.2016, 13:23 - Ash Ketchum: Hey",
                Some(([6, 8, 2016], 13, 23, 0, None, "Ash Ketchum: Hey")),
            ),
            (
                "android_us",
                "1/1/21, 12:00 - A: Hi",
                Some(([1, 1, 21], 12, 0, 0, None, "A: Hi")),
            ),
            (
                "year_2000",
                "1/5/00, 12:00 - A: Hi",
                Some(([1, 5, 0], 12, 0, 0, None, "A: Hi")),
            ),
            ("day_zero", "0/5/00, 12:00 - A: Hi", None),
            (
                "android_year_first",
                "2019/01/01, 11:25 - A: x",
                Some(([2019, 1, 1], 11, 25, 0, None, "A: x")),
            ),
            (
                "android_pm_no_comma",
                "9/24/2019 11:30 p.m. - A: x",
                Some(([9, 24, 2019], 11, 30, 0, Some(true), "A: x")),
            ),
            (
                "android_dot_after_time",
                "2022/12/14, 13:34. - A: x",
                Some(([2022, 12, 14], 13, 34, 0, None, "A: x")),
            ),
            (
                "android_zh",
                "2026/4/6 下午1:54 - 张三: 你好",
                Some(([2026, 4, 6], 1, 54, 0, Some(true), "张三: 你好")),
            ),
            (
                "android_nnbsp_pm",
                "12/31/23, 9:05\u{202f}PM - Bob: hi",
                Some(([12, 31, 23], 9, 5, 0, Some(true), "Bob: hi")),
            ),
            (
                "android_spanish_am",
                "31/12/23, 9:05\u{a0}a.\u{a0}m. - Bob: hola",
                None,
            ),
            (
                "android_spanish_am_spaces",
                "31/12/23, 9:05 a. m. - Bob: hola",
                Some(([31, 12, 23], 9, 5, 0, Some(false), "Bob: hola")),
            ),
            (
                "ios",
                "[20.06.19, 15:58:47] Loris: hi",
                Some(([20, 6, 19], 15, 58, 47, None, "Loris: hi")),
            ),
            (
                "ios_lrm",
                "\u{200e}[01/01/19 11:25] A: x",
                Some(([1, 1, 19], 11, 25, 0, None, "A: x")),
            ),
            (
                "ios_zh_pm",
                "[2023/1/15 下午3:45:12] 王: 好",
                Some(([2023, 1, 15], 3, 45, 12, Some(true), "王: 好")),
            ),
            ("ios_korean", "[2023. 1. 15. 오후 3:45:12] 김: 네", None),
            ("not_header_text", "don't be so mysterious", None),
            ("not_header_bad_hour", "06.08.2016, 25:23 - A: x", None),
            ("not_header_pm_hour_13", "06.08.2016, 13:23 PM - A: x", None),
            ("not_header_no_dash", "06.08.2016, 13:23 A: x", None),
            (
                "not_header_year_both_ends",
                "2016.08.2016, 13:23 - A: x",
                None,
            ),
            ("continuation_with_time", "12:30 we meet", None),
        ];
        for (name, line, want) in cases {
            let got = parse_header(line).map(|h| {
                (
                    h.stamp.parts,
                    h.stamp.h,
                    h.stamp.m,
                    h.stamp.s,
                    h.stamp.pm,
                    h.rest,
                )
            });
            assert_eq!(got, want, "{name}");
        }
    }

    fn survey_of(lines: &[&str]) -> Survey {
        let mut s = Survey::default();
        for l in lines {
            s.add(&parse_header(l).expect(l));
        }
        s
    }

    #[test]
    fn date_order_is_decided_from_the_whole_file() {
        let cases: Vec<(&str, Vec<&str>, Result<Order, ()>)> = vec![
            (
                "day_above_12_late_in_file",
                vec![
                    "01/02/20, 10:00 - A: x",
                    "05/02/20, 10:00 - A: x",
                    "25/02/20, 10:00 - A: x",
                ],
                Ok(Order::Dmy),
            ),
            (
                "month_day",
                vec!["02/01/20, 10:00 - A: x", "02/25/20, 10:00 - A: x"],
                Ok(Order::Mdy),
            ),
            (
                "year_first",
                vec!["2020/02/01, 10:00 - A: x"],
                Ok(Order::Ymd),
            ),
            (
                "year_first_day_month",
                vec!["2020/25/01, 10:00 - A: x"],
                Ok(Order::Ydm),
            ),
            (
                "ambiguous_forward_as_dmy",
                vec![
                    "01/02/20, 10:00 - A: x",
                    "02/02/20, 10:00 - A: x",
                    "03/02/20, 10:00 - A: x",
                ],
                Ok(Order::Dmy),
            ),
            (
                "ambiguous_forward_as_mdy",
                vec![
                    "02/12/20, 10:00 - A: x",
                    "03/01/20, 10:00 - A: x",
                    "03/02/20, 10:00 - A: x",
                ],
                Ok(Order::Mdy),
            ),
            (
                "ambiguous_tie_is_dmy",
                vec!["02/01/20, 10:00 - A: x", "02/02/20, 10:00 - A: x"],
                Ok(Order::Dmy),
            ),
            (
                "inconsistent",
                vec!["25/02/20, 10:00 - A: x", "02/25/20, 10:00 - A: x"],
                Err(()),
            ),
        ];
        for (name, lines, want) in cases {
            let got = survey_of(&lines).order().map(|(o, _)| o).map_err(|_| ());
            assert_eq!(got, want, "{name}");
        }
        assert!(Survey::default().order().is_err(), "no header at all");
    }

    #[test]
    fn attachments_and_names() {
        assert_eq!(
            attached_file("\u{200e}<attached: 00000001-PHOTO-2019-06-20-16-00-15.jpg>"),
            Some("00000001-PHOTO-2019-06-20-16-00-15.jpg")
        );
        assert_eq!(
            attached_file("IMG-20200319-WA0011.jpg (file attached)\ncaption"),
            Some("IMG-20200319-WA0011.jpg")
        );
        assert_eq!(attached_file("just text"), None);
        assert_eq!(
            kind_for_file("00000002-VIDEO-2019-06-20-16-01-42.mp4"),
            MessageKind::Video
        );
        assert_eq!(
            kind_for_file("PTT-20200319-WA0001.opus"),
            MessageKind::Voice
        );
        assert_eq!(chat_name("WhatsApp Chat with Bob.txt"), "Bob");
        assert_eq!(chat_name("WhatsApp Chat - Family.zip"), "Family");
    }
}
