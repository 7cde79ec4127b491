//! Property: in every line format, a body line that looks like a header of the file's
//! own format is either read as a header (a record starts at that line) or reported
//! (a rejection or a warning names that line). It is never absorbed silently into the
//! message above. Every real header is accounted for the same way.
//!
//! Messages are written the way each exporter writes them; header-like lines, in every
//! variant the writer knows (valid headers, headers of the other style, impossible
//! values, a date and time without the rest), are inserted into their bodies.

use std::collections::BTreeSet;

use chatvault_import::{by_name, collect, ImportContext, Limits, Parsed, Source};
use chrono::{DateTime, Utc};
use proptest::prelude::*;

/// A body line: plain text, or header-like line number `n` of the format's variants.
#[derive(Debug, Clone)]
enum Body {
    Plain(String),
    Like(usize),
}

#[derive(Debug, Clone)]
struct Msg {
    sender: &'static str,
    at: i64,
    body: Vec<Body>,
}

const SENDERS: &[&str] = &["张三", "Li Si", "Ann-Marie", "😀 Emoji"];

fn plain_line() -> impl Strategy<Value = String> {
    "[a-zA-Z你好世界]{1}[a-zA-Z0-9 你好世界，。!?]{0,20}".prop_map(|s| s.trim_end().to_owned())
}

fn body() -> impl Strategy<Value = Vec<Body>> {
    let line = prop_oneof![
        3 => plain_line().prop_map(Body::Plain),
        2 => (0usize..64).prop_map(Body::Like),
    ];
    (plain_line(), prop::collection::vec(line, 0..5)).prop_map(|(first, rest)| {
        let mut b = vec![Body::Plain(first)];
        b.extend(rest);
        b
    })
}

fn messages() -> impl Strategy<Value = Vec<Msg>> {
    let one =
        (0..SENDERS.len(), 946_684_800i64..1_900_000_000, body()).prop_map(|(s, at, body)| Msg {
            sender: SENDERS[s],
            at,
            body,
        });
    prop::collection::vec(one, 1..8).prop_map(|mut ms| {
        ms.sort_by_key(|m| m.at);
        ms
    })
}

fn dt(at: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(at, 0).expect("time")
}

/// A written file: its lines, the numbers of the real header lines and of the
/// inserted header-like lines.
#[derive(Default)]
struct Written {
    lines: Vec<String>,
    headers: Vec<u64>,
    inserted: Vec<u64>,
}

/// LINE's date lines are read as dates: they start no record. Such a line is
/// accounted for when it is reported, or when no message took it as text.
fn is_line_date(line: &str) -> bool {
    let first = line.split(' ').next().unwrap_or("");
    !line.contains('\t') && first.len() == 10 && first.as_bytes()[4] == b'/'
}

impl Written {
    fn push(&mut self, line: String) -> u64 {
        self.lines.push(line);
        self.lines.len() as u64
    }
    fn header(&mut self, line: String) {
        let n = self.push(line);
        self.headers.push(n);
    }
    fn inserted(&mut self, line: String) {
        let n = self.push(line);
        self.inserted.push(n);
    }
    fn text(&self, eol: &str) -> String {
        self.lines.join(eol) + eol
    }
}

/// Writes each message's body, with `like` making the header-like lines.
fn bodies(w: &mut Written, m: &Msg, like: &dyn Fn(usize, &Msg) -> String) {
    // The first body line is written with the header.
    for b in m.body.iter().skip(1) {
        match b {
            Body::Plain(p) => {
                w.push(p.clone());
            }
            Body::Like(v) => w.inserted(like(*v, m)),
        }
    }
}

fn first_line(m: &Msg) -> String {
    match &m.body[0] {
        Body::Plain(p) => p.clone(),
        Body::Like(_) => unreachable!("the first body line is plain"),
    }
}

/// Header-like lines for WhatsApp: every shape the writer knows, valid and not.
fn whatsapp_like(v: usize, m: &Msg) -> String {
    let t = dt(m.at + 60);
    let (d, mo, y, y2) = (
        t.format("%d"),
        t.format("%m"),
        t.format("%Y"),
        t.format("%y"),
    );
    let (hh, mm, ss) = (t.format("%H"), t.format("%M"), t.format("%S"));
    let h12 = t.format("%-I");
    let variants = [
        format!("{d}/{mo}/{y}, {hh}:{mm} - Eve: valid android"),
        format!("[{d}/{mo}/{y2}, {hh}:{mm}:{ss}] Eve: valid ios"),
        format!("{d}/{mo}/{y}, {h12}:{mm}\u{202f}p.\u{a0}m. - Eve: marker with nbsp inside"),
        format!("{d}/{mo}/{y}, 25:{mm} - Eve: hour 25"),
        format!("{d}/{mo}/{y}, 14:{mm} a.m. - Eve: am hour 14"),
        format!("{d}/{mo}/{y}, 10:61 - Eve: minute 61"),
        format!("32/{mo}/{y}, 10:00 - Eve: day 32"),
        format!("13/13/{y}, 10:00 - Eve: no month"),
        format!("{d}/{mo}/{y}, {hh}:{mm} Eve no dash"),
        format!("{d}/{mo}/{y}, {hh}:{mm}: Eve: colon style"),
        format!("{y}-{mo}-{d} {hh}:{mm}:{ss}"),
        format!("[{d}/{mo}/{y2}, {hh}:{mm}:{ss} Eve: no bracket"),
        format!("\u{200e}[{d}/{mo}/{y2}, 25:{mm}:{ss}] Eve: bad ios"),
        format!("{d}.{mo}.{y}, {hh}.{mm} - Eve: dotted"),
    ];
    variants[v % variants.len()].clone()
}

fn whatsapp_android(ms: &[Msg]) -> Written {
    let mut w = Written::default();
    // A day above 12 so the order is certain.
    w.header("13/01/2000, 00:00 - Messages and calls are end-to-end encrypted.".into());
    for m in ms {
        w.header(format!(
            "{} - {}: {}",
            dt(m.at).format("%d/%m/%Y, %H:%M"),
            m.sender,
            first_line(m)
        ));
        bodies(&mut w, m, &whatsapp_like);
    }
    w
}

fn whatsapp_ios(ms: &[Msg]) -> Written {
    let mut w = Written::default();
    w.header(
        "[13/01/00, 00:00:00] Group: \u{200e}Messages and calls are end-to-end encrypted.".into(),
    );
    for m in ms {
        let t = dt(m.at);
        w.header(format!(
            "[{}, {}:{}\u{202f}{}] {}: {}",
            t.format("%d/%m/%y"),
            t.format("%-I"),
            t.format("%M:%S"),
            t.format("%p"),
            m.sender,
            first_line(m)
        ));
        bodies(&mut w, m, &whatsapp_like);
    }
    w
}

fn qq_like(v: usize, m: &Msg) -> String {
    let t = dt(m.at + 60);
    let (date, time) = (t.format("%Y-%m-%d"), t.format("%-H:%M:%S"));
    let variants = [
        format!("{date} {time} Eve(10002)"),
        format!("{date} {time} Eve<eve@qq.com>"),
        format!("{date} 25:00:00 Eve(10002)"),
        format!("{date} 13:00:00 AM Eve(10002)"),
        format!("{date} 10:61:00 Eve(10002)"),
        format!("{date} {time}"),
        format!("{date} {}", t.format("%-H:%M")),
        format!("{} {time} Eve(10002)", t.format("%Y-%-m-%-d")),
        format!("{}-13-40 10:00:00 Eve(10002)", t.format("%Y")),
    ];
    variants[v % variants.len()].clone()
}

fn qq(ms: &[Msg]) -> Written {
    let mut w = Written::default();
    for l in [
        "消息记录（此消息记录为文本格式，不支持重新导入）",
        "",
        "================================================================",
        "消息分组:我的好友",
        "================================================================",
        "消息对象:测试",
        "================================================================",
        "",
    ] {
        w.push(l.into());
    }
    for m in ms {
        w.header(format!(
            "{} {}(10001)",
            dt(m.at).format("%Y-%m-%d %-H:%M:%S"),
            m.sender
        ));
        w.push(first_line(m));
        bodies(&mut w, m, &qq_like);
        w.push(String::new());
    }
    w
}

fn line_like(v: usize, m: &Msg) -> String {
    let t = dt(m.at + 60);
    let variants = [
        format!("{}\tEve\tvalid header", t.format("%H:%M")),
        format!("{}\t\tEve joined", t.format("%H:%M")),
        t.format("%Y/%m/%d %a").to_string(),
        format!("25:{}\tEve\thour 25", t.format("%M")),
        format!("{}/13/45 Fri", t.format("%Y")),
        format!("{}PM\tEve\t12-hour", t.format("%-I:%M")),
    ];
    variants[v % variants.len()].clone()
}

fn line(ms: &[Msg]) -> Written {
    let mut w = Written::default();
    w.push("[LINE] Chat history with 测试".into());
    w.push("Saved on: 2030/01/01 00:00".into());
    w.push(String::new());
    let mut day = String::new();
    for m in ms {
        let d = dt(m.at).format("%Y/%m/%d %a").to_string();
        if d != day {
            w.push(d.clone());
            day = d;
        }
        let multi = m.body.len() > 1;
        let first = if multi {
            format!("\"{}", first_line(m))
        } else {
            first_line(m)
        };
        w.header(format!(
            "{}\t{}\t{}",
            dt(m.at).format("%H:%M"),
            m.sender,
            first
        ));
        bodies(&mut w, m, &line_like);
        if multi {
            let last = w.lines.last_mut().expect("a line");
            last.push('"');
        }
    }
    w
}

fn signal_like(v: usize, m: &Msg) -> String {
    let t = dt(m.at + 60);
    let variants = [
        format!("[{}] Eve: valid", t.format("%Y-%m-%d %H:%M:%S")),
        format!("[{}] Eve: old style", t.format("%Y-%m-%d, %H:%M")),
        format!("[{}] Eve: single digits", t.format("%Y-%-m-%-d %H:%M")),
        format!("[{} 25:00:00] Eve: hour 25", t.format("%Y-%m-%d")),
        format!("[{} Eve: no bracket", t.format("%Y-%m-%d %H:%M:%S")),
    ];
    variants[v % variants.len()].clone()
}

fn signal(ms: &[Msg]) -> Written {
    let mut w = Written::default();
    for m in ms {
        w.header(format!(
            "[{}] {}: {}",
            dt(m.at).format("%Y-%m-%d %H:%M:%S"),
            m.sender,
            first_line(m)
        ));
        bodies(&mut w, m, &signal_like);
    }
    w
}

fn mbox_like(v: usize, m: &Msg) -> String {
    let t = dt(m.at + 60);
    let variants = [
        format!("From eve@example.com {}", t.format("%a %b %e %H:%M:%S %Y")),
        format!("From - {}", t.format("%a %b %e %H:%M:%S %Y")),
        "From here on we disagree.".to_owned(),
        "From eve at example.com".to_owned(),
    ];
    variants[v % variants.len()].clone()
}

fn mbox(ms: &[Msg]) -> Written {
    let mut w = Written::default();
    for (i, m) in ms.iter().enumerate() {
        let t = dt(m.at);
        w.header(format!(
            "From a@example.com {}",
            t.format("%a %b %e %H:%M:%S %Y")
        ));
        w.push("From: a@example.com".into());
        w.push(format!("Subject: message {i}"));
        w.push(format!("Message-ID: <m{i}@example.com>"));
        w.push(format!("Date: {}", t.format("%a, %d %b %Y %H:%M:%S +0000")));
        w.push(String::new());
        w.push(first_line(m));
        bodies(&mut w, m, &mbox_like);
        w.push(String::new());
    }
    w
}

/// Imports `w` as `format` and checks every header and inserted line is a record's
/// first line or named by a rejection or a warning.
fn accounted(format: &str, file: &str, w: &Written, eol: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join(file);
    std::fs::write(&path, w.text(eol)).expect("write");
    let source = Source::open(&path, &Limits::default()).expect("open");
    let ctx = ImportContext {
        file_label: file.into(),
        ..ImportContext::default()
    };
    let out = collect(by_name(format).expect("format"), &source, &ctx);
    let mut starts = BTreeSet::new();
    let mut reported = BTreeSet::new();
    for p in &out {
        match p {
            Parsed::Message(m) => {
                starts.insert(m.origin.line);
            }
            Parsed::Rejected(r) | Parsed::Warning(r) => {
                reported.insert(r.line);
            }
        }
    }
    let raws: Vec<String> = out
        .iter()
        .filter_map(|p| match p {
            Parsed::Message(m) => Some(String::from_utf8_lossy(&m.raw).into_owned()),
            _ => None,
        })
        .collect();
    for (what, lines) in [("header", &w.headers), ("header-like line", &w.inserted)] {
        for n in lines {
            let text = &w.lines[*n as usize - 1];
            let read_as_date = format == "line"
                && is_line_date(text)
                && !raws.iter().any(|r| r.lines().any(|l| l == text));
            prop_assert!(
                starts.contains(n) || reported.contains(n) || read_as_date,
                "{format}: {what} {n} `{}` was absorbed: neither read as a record nor reported\n{}\n{out:?}",
                w.lines[*n as usize - 1],
                w.text(eol)
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn whatsapp_android_header_like_lines(ms in messages()) {
        accounted("whatsapp", "WhatsApp Chat with 测试.txt", &whatsapp_android(&ms), "\n")?;
    }

    #[test]
    fn whatsapp_ios_header_like_lines(ms in messages()) {
        accounted("whatsapp", "_chat.txt", &whatsapp_ios(&ms), "\r\n")?;
    }

    #[test]
    fn qq_header_like_lines(ms in messages()) {
        accounted("qq", "qq.txt", &qq(&ms), "\r\n")?;
    }

    #[test]
    fn line_header_like_lines(ms in messages()) {
        accounted("line", "line.txt", &line(&ms), "\n")?;
    }

    #[test]
    fn signal_header_like_lines(ms in messages()) {
        accounted("signal", "chat.md", &signal(&ms), "\n")?;
    }

    #[test]
    fn mbox_header_like_lines(ms in messages()) {
        accounted("mbox", "a.mbox", &mbox(&ms), "\n")?;
    }
}
