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
/// Day-period markers, longest first where one starts another. German phones write the
/// period of the day (`3:00 nachm.`, `9:00 abends`); Chinese ones `凌晨`, `中午`, `晚上`.
const AM: &[&str] = &[
    "AM",
    "am",
    "A.M.",
    "A. M.",
    "a. m.",
    "a.m.",
    "a. m",
    "a.m",
    "上午",
    "凌晨",
    "早上",
    "午前",
    "오전",
    "vorm.",
    "vormittags",
    "morgens",
    "nachts",
    "ص",
];
const PM: &[&str] = &[
    "PM",
    "pm",
    "P.M.",
    "P. M.",
    "p. m.",
    "p.m.",
    "p. m",
    "p.m",
    "下午",
    "中午",
    "晚上",
    "午後",
    "오후",
    "nachm.",
    "nachmittags",
    "mittags",
    "abends",
    "م",
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
    style: Style,
    rest: &'a str,
}

/// What separates a header's time from the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `[DATE, TIME] Sender: text` (iOS).
    Bracket,
    /// `DATE, TIME - Sender: text` (Android).
    Dash,
    /// `DATE, TIME: Sender: text` (old exports).
    Colon,
    /// `DATE TIME Sender: text` (some locales). Colon and bare headers are taken as
    /// headers only in a file written that way: elsewhere such a line is a body line
    /// that starts with a date (and is reported).
    Bare,
}

fn number(s: &str, max_width: usize) -> Option<(u32, usize, &str)> {
    let width = s.bytes().take_while(u8::is_ascii_digit).count();
    if width == 0 || width > max_width {
        return None;
    }
    Some((s[..width].parse().ok()?, width, &s[width..]))
}

/// An a.m./p.m. marker at the start of `s`. The spaces inside a marker (`a. m.`) may be
/// any of [`SPACES`]: phones write U+00A0 or U+202F there as well as before it.
fn marker(s: &str) -> Option<(bool, &str)> {
    for (list, pm) in [(AM, false), (PM, true)] {
        for m in list.iter() {
            if let Some(rest) = strip_marker(s, m) {
                return Some((pm, rest));
            }
        }
    }
    None
}

/// `s` without the marker `m` at its start, where a space in `m` matches any of [`SPACES`].
fn strip_marker<'a>(s: &'a str, m: &str) -> Option<&'a str> {
    let mut rest = s;
    for want in m.chars() {
        let got = rest.chars().next()?;
        let same = if want == ' ' {
            SPACES.contains(&got)
        } else {
            got == want
        };
        if !same {
            return None;
        }
        rest = &rest[got.len_utf8()..];
    }
    Some(rest)
}

fn skip_spaces(s: &str) -> &str {
    s.trim_start_matches(SPACES)
}

/// How the start of a line reads as a header's date and time.
#[derive(Debug, PartialEq, Eq)]
enum StampRead<'a> {
    /// A date and a time, and what follows them.
    Stamp(Stamp, &'a str),
    /// A date and a time in a header's shape whose values no header has (hour 25, an
    /// a.m. hour of 14, month 0): why, and what follows.
    Invalid(String, &'a str),
    /// The line does not start with a date and a time.
    No,
}

/// `DATE[,] [marker]TIME[.][ marker]` at the start of `s`.
fn parse_stamp(s: &str) -> StampRead<'_> {
    use StampRead::No;
    let Some((a, wa, s)) = number(s, 4) else {
        return No;
    };
    let Some(sep) = s.chars().next().filter(|c| "/.-".contains(*c)) else {
        return No;
    };
    // `13. 6. 2018.`: a space may follow each separator.
    fn after_sep(s: &str, sep: char) -> Option<&str> {
        let s = s.strip_prefix(sep)?;
        Some(s.strip_prefix(' ').unwrap_or(s))
    }
    let Some((b, _, s)) = after_sep(s, sep).and_then(|s| number(s, 2)) else {
        return No;
    };
    let Some((c, wc, s)) = after_sep(s, sep).and_then(|s| number(s, 4)) else {
        return No;
    };
    // A year is 2 or 4 digits, and only at one end.
    if (wa == 4 && wc == 4) || wa == 3 || wc == 3 {
        return No;
    }
    let s = s.strip_prefix('.').unwrap_or(s);
    let s = s
        .strip_prefix(',')
        .or_else(|| s.strip_prefix('\u{60c}'))
        .unwrap_or(s);
    let after_date = skip_spaces(s);
    if after_date.len() == s.len() {
        return No;
    }
    // Finnish: `13.6.2018 klo 21.25.15`.
    let after_date = after_date
        .strip_prefix("klo")
        .map(skip_spaces)
        .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(after_date);
    let (pre, s) = match marker(after_date) {
        Some((pm, rest)) => (Some(pm), skip_spaces(rest)),
        None => (None, after_date),
    };
    let Some((h, _, s)) = number(s, 2) else {
        return No;
    };
    // `21:25` or, in some locales, `21.25`.
    let Some(tsep) = s.chars().next().filter(|c| *c == ':' || *c == '.') else {
        return No;
    };
    let Some((m, wm, s)) = number(&s[1..], 2) else {
        return No;
    };
    let mut problems: Vec<String> = vec![];
    let (sec, s) = match s
        .strip_prefix(tsep)
        .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    {
        Some(r) => match number(r, 2) {
            Some((sec, 2, r)) => (sec, r),
            _ => {
                problems.push("the seconds are not two digits".into());
                (0, r.trim_start_matches(|c: char| c.is_ascii_digit()))
            }
        },
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
    let year_first = wa == 4;
    // Hours 0 to 12 with a marker (some locales write midnight as 00 a.m.); a p.m.
    // marker also comes with 24-hour times (13 to 23 p.m.) in some exports.
    match pm {
        Some(false) if h > 12 => problems.push(format!("hour {h} with an a.m. marker")),
        _ if h > 23 => problems.push(format!("hour {h}")),
        _ => {}
    }
    if wm != 2 {
        problems.push("the minutes are not two digits".into());
    }
    if m > 59 {
        problems.push(format!("minute {m}"));
    }
    if sec > 59 {
        problems.push(format!("second {sec}"));
    }
    // Day and month are never 0 nor above 31; a two-digit year may be 0 (2000).
    let (x, y) = if year_first { (b, c) } else { (a, b) };
    for v in [x, y] {
        if v == 0 || v > 31 {
            problems.push(format!("a day or month of {v}"));
        }
    }
    if x > 12 && y > 12 {
        problems.push(format!("no month in {x} and {y}"));
    }
    if !problems.is_empty() {
        return StampRead::Invalid(problems.join(", "), s);
    }
    StampRead::Stamp(
        Stamp {
            parts: [a, b, c],
            year_first,
            h,
            m,
            s: sec,
            pm,
        },
        s,
    )
}

/// How a line reads: a header, or something that looks like one without being one.
type Read<'a> = crate::lines::HeaderRead<Header<'a>>;

fn read_header(line: &str) -> Read<'_> {
    let s = line.trim_start_matches(MARKS);
    let (inner, bracket) = match s.strip_prefix('[') {
        Some(inner) => (inner, true),
        None => (s, false),
    };
    // What follows the stamp in a header: `] ` (iOS), ` - ` (Android), `: ` (old
    // exports), or only a space (some locales): the style, and where the rest starts.
    let after = |rest: &str| -> Option<(Style, usize)> {
        let t = rest.trim_start_matches(SPACES);
        let (style, t) = if bracket {
            (Style::Bracket, t.strip_prefix(']')?)
        } else if let Some(t) = t.strip_prefix('-').or_else(|| t.strip_prefix('–')) {
            (Style::Dash, t)
        } else if let Some(t) = t.strip_prefix(':').filter(|t| t.starts_with(SPACES)) {
            (Style::Colon, t)
        } else if t.len() < rest.len() && !t.is_empty() {
            (Style::Bare, t)
        } else {
            return None;
        };
        let t = t.strip_prefix(SPACES).unwrap_or(t);
        Some((style, rest.len() - t.len()))
    };
    let what = if bracket { "`]`" } else { "` - `" };
    match parse_stamp(inner) {
        StampRead::No => Read::Text,
        StampRead::Stamp(stamp, rest) => match after(rest) {
            Some((style, n)) => Read::Header(Header {
                stamp,
                style,
                rest: &rest[n..],
            }),
            None => Read::Like(format!("no {what} after the time")),
        },
        StampRead::Invalid(why, rest) => match after(rest) {
            Some((Style::Bracket | Style::Dash, _)) => Read::Invalid(why),
            _ => Read::Like(why),
        },
    }
}

fn parse_header(line: &str) -> Option<Header<'_>> {
    match read_header(line) {
        Read::Header(h) => Some(h),
        _ => None,
    }
}

/// The date a WhatsApp media file name carries: Android `IMG-20200319-WA0011.jpg`
/// (`VID-`, `PTT-`, `AUD-`, `DOC-`, `STK-`), iOS `00000001-PHOTO-2019-06-20-16-00-15.jpg`.
fn media_date(text: &str) -> Option<(u32, u32, u32)> {
    let date = |y: &str, m: &str, d: &str| -> Option<(u32, u32, u32)> {
        let all = [y, m, d];
        if !all.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        let (y, m, d) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        ((1990..=2100).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d))
            .then_some((y, m, d))
    };
    // Android: three capitals, `-`, eight digits, `-WA`.
    for (i, _) in text.match_indices("-WA") {
        if i >= 12 {
            let Some(head) = text.get(i - 12..i) else {
                continue;
            };
            if !head.is_ascii() {
                continue;
            }
            let (kind, digits) = head.split_at(4);
            if kind[..3].bytes().all(|b| b.is_ascii_uppercase()) && kind.ends_with('-') {
                if let Some(d) = date(&digits[..4], &digits[4..6], &digits[6..]) {
                    return Some(d);
                }
            }
        }
    }
    // iOS: `-KIND-YYYY-MM-DD-HH-MM-SS`.
    for kind in [
        "-PHOTO-",
        "-VIDEO-",
        "-AUDIO-",
        "-STICKER-",
        "-GIF-",
        "-DOCUMENT-",
    ] {
        if let Some(i) = text.find(kind) {
            let rest = &text[i + kind.len()..];
            if let (Some(y), Some(m), Some(d)) = (rest.get(0..4), rest.get(5..7), rest.get(8..10)) {
                if let Some(found) = date(y, m, d) {
                    return Some(found);
                }
            }
        }
    }
    None
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
    /// The year, month and day of `p`. A stamp whose year stands at the other end from
    /// the file's order is read year-month-day, or day-month-year.
    fn ymd(self, p: [u32; 3], year_first: bool) -> (u32, u32, u32) {
        let year = |y: u32| if y < 100 { 2000 + y } else { y };
        let order = match (self, year_first) {
            (Order::Dmy | Order::Mdy, true) => Order::Ymd,
            (Order::Ymd | Order::Ydm, false) => Order::Dmy,
            (o, _) => o,
        };
        match order {
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
    /// Headers whose day can only be the first of the two day/month fields (it is above
    /// 12), and those where it can only be the second.
    day_first: u64,
    day_second: u64,
    /// Media file names whose date agrees with the header read day-first, and month-first.
    media: [u64; 2],
    /// Times the timestamp goes backwards when read day-first, and month-first.
    backwards: [u64; 2],
    last: [Option<(u32, u32, u32, u32)>; 2],
    senders: HashSet<String>,
    /// Everyone who wrote `Name: text`, for bodies glued to the colon (`Name:.`).
    known: HashSet<String>,
    /// Headers in the iOS or Android style, and in the colon and bare styles.
    canonical: u64,
    colon: u64,
    bare: u64,
    group_hint: bool,
    english_ampm: bool,
}

/// Distinct senders remembered for glued bodies: memory stays bounded.
const MAX_KNOWN_SENDERS: usize = 10_000;

impl Survey {
    fn add(&mut self, h: &Header) {
        let st = h.stamp;
        self.headers += 1;
        match h.style {
            Style::Bracket | Style::Dash => self.canonical += 1,
            Style::Colon => self.colon += 1,
            Style::Bare => self.bare += 1,
        }
        if st.year_first {
            self.year_first += 1;
        }
        // The two fields that are day and month, in the order written, and the year.
        let (x, y, year) = if st.year_first {
            (st.parts[1], st.parts[2], st.parts[0])
        } else {
            let c = st.parts[2];
            (st.parts[0], st.parts[1], if c < 100 { 2000 + c } else { c })
        };
        if x > 12 {
            self.day_first += 1;
        }
        if y > 12 {
            self.day_second += 1;
        }
        let minutes = st.h * 60 + st.m;
        // Reading 0 takes the first field as the day, reading 1 the second.
        for (i, (mo, d)) in [(y, x), (x, y)].into_iter().enumerate() {
            let key = (year, mo, d, minutes);
            if self.last[i].is_some_and(|l| key < l) {
                self.backwards[i] += 1;
            }
            self.last[i] = Some(key);
        }
        if x != y {
            if let Some((my, mm, md)) = media_date(h.rest) {
                if my == year && (mm, md) == (y, x) {
                    self.media[0] += 1;
                } else if my == year && (mm, md) == (x, y) {
                    self.media[1] += 1;
                }
            }
        }
        if st.pm.is_some() {
            self.english_ampm = true;
        }
        match split_sender(h.rest, None) {
            Some((sender, _)) => {
                if self.senders.len() < 3 {
                    self.senders.insert(sender.to_owned());
                }
                if self.known.len() < MAX_KNOWN_SENDERS && !self.known.contains(sender) {
                    self.known.insert(sender.to_owned());
                }
            }
            None if h.rest.contains("group") || h.rest.contains("群") => self.group_hint = true,
            None => {}
        }
    }

    /// Whether a header of `style` starts a message in this file: iOS and Android
    /// headers always do; colon and bare ones only where most headers are written so.
    fn accepts(&self, style: Style) -> bool {
        match style {
            Style::Bracket | Style::Dash => true,
            Style::Colon => self.colon > self.canonical + self.bare,
            Style::Bare => self.bare > self.canonical + self.colon,
        }
    }

    /// The file's date order, decided by the evidence it carries, strongest first: a
    /// field above 12 (it can only be the day), the dates in media file names, then the
    /// order of the lines (mostly forward under the right reading). A warning states the
    /// choice when nothing decides it.
    fn order(&self) -> Result<(Order, Option<String>), String> {
        if self.headers == 0 {
            return Err("no WhatsApp message header (`DATE, TIME - Sender: text` or `[DATE, TIME] Sender: text`) was found".into());
        }
        let year_first = self.year_first * 2 > self.headers;
        let orders = if year_first {
            [Order::Ydm, Order::Ymd]
        } else {
            [Order::Dmy, Order::Mdy]
        };
        // Reading 0 is day-first, 1 month-first. The lines that disagree with the
        // majority are rejected one by one as dates that do not exist.
        if self.day_first != self.day_second {
            let i = usize::from(self.day_second > self.day_first);
            return Ok((orders[i], None));
        }
        // Year-first files are year-month-day unless a day above 12 says otherwise.
        if year_first {
            return Ok((Order::Ymd, None));
        }
        let [m0, m1] = self.media;
        if m0 != m1 {
            return Ok((orders[usize::from(m1 > m0)], None));
        }
        let [dm, md] = self.backwards;
        if dm != md {
            return Ok((orders[usize::from(md < dm)], None));
        }
        let i = usize::from(self.english_ampm);
        let name = if i == 1 { "month/day" } else { "day/month" };
        Ok((
            orders[i],
            Some(format!(
                "no day above 12 in any date and nothing else decides the order: read as {name} (no media file name carries a date; the chat runs backwards {dm} times read day/month, {md} times month/day)"
            )),
        ))
    }
}

/// `Sender: text`, when the line has a sender.
///
/// Besides `Name: text`, a body may be glued to the colon: `Name:.` (a single
/// punctuation mark), `Name:` (the text starts on the next line), `Name:\u{200e}…`, or
/// `Name:text` from someone `known` to have written `Name: text` elsewhere in the file.
fn split_sender<'a>(rest: &'a str, known: Option<&HashSet<String>>) -> Option<(&'a str, &'a str)> {
    let ok = |sender: &str| {
        !sender.is_empty() && sender.chars().count() <= 100 && !is_system_phrase(sender)
    };
    if let Some((sender, text)) = rest.split_once(": ") {
        let sender = sender.trim_matches(MARKS);
        if ok(sender) {
            return Some((sender, text));
        }
        return None;
    }
    let (sender, text) = rest.split_once(':')?;
    let sender = sender.trim_matches(MARKS);
    let glued = text.trim_end().chars().count() <= 3
        && text
            .trim_end()
            .chars()
            .all(|c| c.is_ascii_punctuation() || ('\u{2000}'..='\u{206f}').contains(&c));
    let marked = text.starts_with(MARKS);
    let named = known.is_some_and(|k| k.contains(sender));
    (ok(sender) && (glued || marked || named)).then_some((sender, text))
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
    // Past the first lines too: a file may start with a note or a cut-off message.
    let lines: Vec<&str> = text.lines().take(60).collect();
    let (mut canonical, mut loose) = (0, 0);
    for l in &lines {
        match parse_header(l) {
            Some(h) if matches!(h.style, Style::Bracket | Style::Dash) => canonical += 1,
            // Colon and bare headers count only with a `Name: text` after them.
            Some(h) if split_sender(h.rest, None).is_some() => loose += 1,
            _ => {}
        }
    }
    let signal_like = lines.iter().filter(|l| crate::signal::is_header(l)).count();
    match (canonical, loose) {
        (0, l) if l >= 2 => 45,
        (0, _) => 0,
        (c, _) if signal_like >= c => 0,
        (c, _) if c >= 2 || lines.len() == 1 => 80,
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
                "",
                ctx,
                sink,
            );
        }
        let names: Vec<String> = source.entries().iter().map(|e| e.name.clone()).collect();
        let first = chat_entry(&names)
            .ok_or_else(|| ImportError::fatal(&start, "no chat text (_chat.txt) in the zip"))?
            .clone();
        // Several Android exports zipped together (no iOS `_chat.txt`, which is one
        // chat whose zip may carry a forwarded chat as a document): every top-level
        // `WhatsApp…txt` that holds WhatsApp headers is read, each its own conversation,
        // named after its file. Any other text file stays media.
        let mut entries = vec![first.clone()];
        if first != "_chat.txt" {
            for n in names.iter().filter(|n| **n != first && !n.contains('/')) {
                if n.to_ascii_lowercase().ends_with(".txt")
                    && n.contains("WhatsApp")
                    && source
                        .with_entry(n, |r| survey(entry_lines(r)).headers > 0)
                        .unwrap_or(false)
                {
                    entries.push(n.clone());
                }
            }
        }
        let media: HashMap<String, String> = names
            .iter()
            .filter(|n| !n.starts_with("__MACOSX/") && !entries.contains(n))
            .map(|n| (n.rsplit('/').next().unwrap_or(n).to_owned(), n.clone()))
            .collect();
        let several = entries.len() > 1;
        for entry in &entries {
            let entry_ctx = ImportContext {
                file_label: format!("{}!{}", ctx.file_label, entry),
                ..ctx.clone()
            };
            let survey = source
                .with_entry(entry, |r| survey(entry_lines(r)))
                .map_err(io)?;
            let title = if several { entry.as_str() } else { "" };
            source
                .with_entry(entry, |r| {
                    read_chat(
                        entry_lines(r),
                        survey,
                        Some(&media),
                        source,
                        title,
                        &entry_ctx,
                        sink,
                    )
                })
                .map_err(io)??;
        }
        Ok(())
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
    /// `None` for a line with a header's shape whose values cannot be read.
    stamp: Option<Stamp>,
    body: String,
    raw: String,
    broken: Option<String>,
    /// The record starts at a line that looks like a header but could not be read.
    header_like: bool,
}

struct Chat<'a> {
    ctx: &'a ImportContext,
    source: &'a Source,
    media: Option<&'a HashMap<String, String>>,
    order: Order,
    conversation: String,
    title: String,
    kind: ConversationKind,
    known: HashSet<String>,
}

fn read_chat<R: BufRead>(
    lines: BoundedLines<R>,
    mut survey: Survey,
    media: Option<&HashMap<String, String>>,
    source: &Source,
    // The file the chat is named after; empty for the input's own name.
    named_by: &str,
    ctx: &ImportContext,
    sink: &mut Sink<'_>,
) -> Result<(), ImportError> {
    let (order, note) = survey
        .order()
        .map_err(|e| ImportError::fatal(&ctx.origin(1), e))?;
    if let Some(note) = note {
        sink.warn(&ctx.origin(1), note)?;
    }
    let own_name = source.file_name();
    let title = chat_name(if named_by.is_empty() {
        &own_name
    } else {
        named_by
    });
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
        known: std::mem::take(&mut survey.known),
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
        // A header starts a message; so does a line with a header's whole shape whose
        // values cannot be read, and that message is rejected with the reason. A damaged
        // line is placed like any other (a header starts a message even with a bad byte
        // in its text), and the message it belongs to is rejected whole.
        let mut read = read_header(&text);
        if let Read::Header(h) = &read {
            if !survey.accepts(h.style) {
                read = Read::Like(format!(
                    "written {} while most of this file's headers are not",
                    match h.style {
                        Style::Colon => "`DATE, TIME: Sender`",
                        _ => "`DATE TIME Sender` with no ` - `",
                    }
                ));
            }
        }
        let start = match &read {
            Read::Header(h) => Some(Pending {
                line: number,
                stamp: Some(h.stamp),
                body: h.rest.to_owned(),
                raw: text.clone(),
                broken: damage.clone(),
                header_like: false,
            }),
            Read::Invalid(why) => Some(Pending {
                line: number,
                stamp: None,
                body: String::new(),
                raw: String::new(),
                broken: Some(format!(
                    "line {number} has the shape of a message header but cannot be one ({why})"
                )),
                header_like: true,
            }),
            Read::Like(_) | Read::Text => None,
        };
        if let Some(next) = start {
            if let Some(p) = pending.replace(next) {
                chat.flush(p, sink)?;
            }
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
        match pending.as_mut() {
            Some(p) => {
                read.warn_if_like(sink, ctx, number, p.line)?;
                if p.broken.is_some() {
                    continue;
                }
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
        let (Some(st), None) = (p.stamp, &p.broken) else {
            let why = p.broken.unwrap_or_default();
            return if p.header_like {
                sink.reject_header_like(&origin, why)
            } else {
                sink.reject(&origin, why)
            };
        };
        let (y, mo, d) = self.order.ymd(st.parts, st.year_first);
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
                    "{} (the file's dates read in {:?} order)",
                    crate::time::why_no_time(y as i32, mo, d, h, st.m, st.s),
                    self.order
                ),
            );
        };
        let mut draft = Draft::new("whatsapp", self.conversation.clone());
        draft.conversation_title = Some(self.title.clone());
        draft.conversation_kind = Some(self.kind);
        draft.sent_at = Some(sent_at);
        let body = p.body.as_str();
        let (sender, text) = match split_sender(body, Some(&self.known)) {
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
                "android_spanish_nbsp_inside_marker",
                "31/12/23, 9:05\u{a0}a.\u{a0}m. - Bob: hola",
                Some(([31, 12, 23], 9, 5, 0, Some(false), "Bob: hola")),
            ),
            (
                "ios_spanish_nnbsp_inside_marker",
                "[11/05/26, 7:16:03\u{202f}a.\u{202f}m.] Alejandra: Buenos dias",
                Some(([11, 5, 26], 7, 16, 3, Some(false), "Alejandra: Buenos dias")),
            ),
            (
                "nnbsp_before_nbsp_inside",
                "21/05/2025, 4:13\u{202f}p.\u{a0}m. - A: x",
                Some(([21, 5, 2025], 4, 13, 0, Some(true), "A: x")),
            ),
            (
                "pm_on_a_24_hour_time",
                "[11/10/22 13:37:00 p.m.] John-John Doe: Lorem",
                Some(([11, 10, 22], 13, 37, 0, Some(true), "John-John Doe: Lorem")),
            ),
            (
                "hour_00_in_12_hour_file",
                "06/20/2020, 00:08 a. m. - +12 345 578 created group \"G\"",
                Some((
                    [6, 20, 2020],
                    0,
                    8,
                    0,
                    Some(false),
                    "+12 345 578 created group \"G\"",
                )),
            ),
            (
                "am_on_a_24_hour_time",
                "06/08/2016, 14:23 a.m. - A: x",
                None,
            ),
            (
                "dotted_time",
                "03-06-2018, 01.55 PM - a: m",
                Some(([3, 6, 2018], 1, 55, 0, Some(true), "a: m")),
            ),
            (
                "finnish_klo",
                "13.6.2018 klo 21.25.15 - a: m",
                Some(([13, 6, 2018], 21, 25, 15, None, "a: m")),
            ),
            (
                "korean_pm_before_time",
                "24/8/21 PM 1:28 - kEn: hi",
                Some(([24, 8, 21], 1, 28, 0, Some(true), "kEn: hi")),
            ),
            (
                "german_abends",
                "01.03.24, 9:00 abends - Nelson: d",
                Some(([1, 3, 24], 9, 0, 0, Some(true), "Nelson: d")),
            ),
            (
                "arabic_comma_and_pm",
                "2/1/21\u{60c} 10:00\u{a0}\u{645} - A: x",
                Some(([2, 1, 21], 10, 0, 0, Some(true), "A: x")),
            ),
            (
                "chinese_evening",
                "2021/1/2 晚上9:05 - B: y",
                Some(([2021, 1, 2], 9, 5, 0, Some(true), "B: y")),
            ),
            (
                "colon_style",
                "05.02.17, 01:35:57: Nachrichten sind geschützt.",
                Some(([5, 2, 17], 1, 35, 57, None, "Nachrichten sind geschützt.")),
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
            (
                "ios_korean",
                "[2023. 1. 15. 오후 3:45:12] 김: 네",
                Some(([2023, 1, 15], 3, 45, 12, Some(true), "김: 네")),
            ),
            ("not_header_text", "don't be so mysterious", None),
            ("not_header_bad_hour", "06.08.2016, 25:23 - A: x", None),
            ("not_header_am_hour_13", "06.08.2016, 13:23 AM - A: x", None),
            ("not_header_no_dash", "06.08.2016, 13:23 A: x", None),
            (
                "not_header_year_both_ends",
                "2016.08.2016, 13:23 - A: x",
                None,
            ),
            ("continuation_with_time", "12:30 we meet", None),
        ];
        for (name, line, want) in cases {
            // A bare header (no ` - ` after the time) is a header only in a bare file.
            let got = parse_header(line)
                .filter(|h| h.style != Style::Bare)
                .map(|h| {
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
                "majority_of_days_above_12_wins",
                vec![
                    "25/02/20, 10:00 - A: x",
                    "26/02/20, 10:00 - A: x",
                    "02/27/20, 10:00 - A: x",
                ],
                Ok(Order::Dmy),
            ),
            (
                "media_names_decide_day_month",
                vec![
                    "03/04/20, 10:00 - A: IMG-20200403-WA0001.jpg (file attached)",
                    "04/04/20, 10:00 - A: x",
                ],
                Ok(Order::Dmy),
            ),
            (
                "media_names_decide_month_day",
                vec![
                    "03/04/20, 10:00 - A: x",
                    "03/05/20, 10:00 - A: VID-20200305-WA0002.mp4 (file attached)",
                ],
                Ok(Order::Mdy),
            ),
            (
                "ios_media_names_decide",
                vec!["[05.06.19, 16:00:15] L: \u{200e}<attached: 00000001-PHOTO-2019-06-05-16-00-15.jpg>"],
                Ok(Order::Dmy),
            ),
            (
                "lines_run_forward_month_day",
                vec![
                    "01/11/20, 10:00 - A: x",
                    "01/12/20, 10:00 - A: x",
                    "02/01/20, 10:00 - A: x",
                    "02/03/20, 10:00 - A: x",
                    "03/01/20, 10:00 - A: x",
                ],
                Ok(Order::Mdy),
            ),
        ];
        for (name, lines, want) in cases {
            let got = survey_of(&lines).order().map(|(o, _)| o).map_err(|_| ());
            assert_eq!(got, want, "{name}");
        }
        // Evidence decides quietly; only a file nothing decides gets the warning.
        let decided = survey_of(&["03/04/20, 10:00 - A: PTT-20200403-WA0001.opus (file attached)"]);
        assert_eq!(decided.order().expect("order").1, None);
        let undecided = survey_of(&["02/01/20, 10:00 - A: x", "02/02/20, 10:00 - A: x"]);
        let (_, note) = undecided.order().expect("order");
        assert!(note.is_some_and(|n| n.contains("read as day/month")));
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
