//! Personal data in message text: Chinese resident ID numbers (checksum checked), mainland
//! mobile numbers, bank card numbers (Luhn) and e-mail addresses; and masking them for
//! readers without the `pii.view` right, e.g. `138****1234` and `110105********1234`.
//!
//! Written by hand: no maintained crate covers the Chinese formats, and each check is a
//! few lines of published arithmetic (GB 11643-1999 ISO 7064 MOD 11-2, the Luhn sum).
//!
//! Numbers are found in runs of digits, ASCII or full-width (`１３８…` is NFKC-equal to
//! `138…`, so it is found too), in which single spaces or hyphens may separate groups
//! (`6222 0212 3456 7890`, `138-1234-5678`). A run is one candidate: a longer number is
//! never read as a shorter one inside it, so an 18-digit order number does not yield a
//! phone number, while `+86 138 1234 5678` and `8613812345678` do. Masking keeps the
//! text's length in characters and every separator, so offsets and layout survive.

use std::ops::Range;

/// What kind of personal data a span holds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// 居民身份证号码: 18 characters, the last a checksum digit or `X`.
    ResidentId,
    /// A mainland mobile number: 11 digits starting 13–19, optionally after `+86`/`86`.
    Mobile,
    /// A bank card number: 13–19 digits whose Luhn sum is valid.
    BankCard,
    Email,
}

impl PiiKind {
    pub const ALL: [PiiKind; 4] = [
        PiiKind::ResidentId,
        PiiKind::Mobile,
        PiiKind::BankCard,
        PiiKind::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::ResidentId => "resident_id",
            PiiKind::Mobile => "mobile",
            PiiKind::BankCard => "bank_card",
            PiiKind::Email => "email",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// One piece of personal data: its kind and its byte range in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiSpan {
    pub kind: PiiKind,
    pub range: Range<usize>,
}

/// The kinds of personal data a message holds: the flags kept on the message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PiiFlags(u8);

impl PiiFlags {
    pub fn of(text: &str) -> PiiFlags {
        PiiFlags(detect(text).iter().fold(0, |f, s| f | s.kind.bit()))
    }
    pub fn from_bits(bits: u8) -> PiiFlags {
        PiiFlags(bits & 0b1111)
    }
    pub fn bits(self) -> u8 {
        self.0
    }
    pub fn contains(self, kind: PiiKind) -> bool {
        self.0 & kind.bit() != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn kinds(self) -> impl Iterator<Item = PiiKind> {
        PiiKind::ALL.into_iter().filter(move |k| self.contains(*k))
    }
}

/// The value of an ASCII or full-width digit.
fn digit(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '０'..='９' => Some((c as u32 - '０' as u32) as u8),
        _ => None,
    }
}

fn is_x(c: char) -> bool {
    matches!(c, 'X' | 'x' | 'Ｘ' | 'ｘ')
}

/// A run of digits with optional single separators, as found in the text.
#[derive(Default)]
struct Run {
    /// The digits' values (an ID's final `X` is 10).
    digits: Vec<u8>,
    /// The byte range of each digit in the text.
    at: Vec<Range<usize>>,
}

impl Run {
    fn span(&self, kind: PiiKind, from: usize) -> PiiSpan {
        PiiSpan {
            kind,
            range: self.at[from].start..self.at[self.at.len() - 1].end,
        }
    }
    fn push(&mut self, value: u8, at: usize, c: char) {
        self.digits.push(value);
        self.at.push(at..at + c.len_utf8());
    }
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '\u{a0}')
}

/// Calls `f` with every run of digits that stands alone (not glued to a Latin letter on
/// either side), in one pass over the text and with one pair of buffers.
fn for_each_run(text: &str, f: &mut dyn FnMut(&Run)) {
    let mut run = Run::default();
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let Some(value) = digit(c) else {
            prev = Some(c);
            continue;
        };
        // A run must not continue a word: `ab13812345678` is an identifier, not a phone.
        let glued = prev.is_some_and(|p| p.is_ascii_alphabetic());
        run.digits.clear();
        run.at.clear();
        run.push(value, at, c);
        let mut last = c;
        while let Some(&(at, c)) = chars.peek() {
            if let Some(value) = digit(c) {
                run.push(value, at, c);
            } else if !(is_separator(c)
                && text[at + c.len_utf8()..]
                    .chars()
                    .next()
                    .and_then(digit)
                    .is_some())
            {
                break;
            }
            last = c;
            chars.next();
        }
        // The ID's checksum character.
        if run.digits.len() == 17 {
            if let Some(&(at, c)) = chars.peek().filter(|(_, c)| is_x(*c)) {
                run.push(10, at, c);
                last = c;
                chars.next();
            }
        }
        prev = Some(last);
        // Nor may it run on into a word.
        let glued = glued || chars.peek().is_some_and(|(_, c)| c.is_ascii_alphabetic());
        if !glued {
            f(&run);
        }
    }
}

/// GB 11643-1999: region, birth date and the ISO 7064 MOD 11-2 check character.
fn resident_id(d: &[u8]) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [u8; 11] = [1, 0, 10, 9, 8, 7, 6, 5, 4, 3, 2];
    if d.len() != 18 || d[..17].contains(&10) || !(1..=8).contains(&d[0]) {
        return false;
    }
    let n = |r: Range<usize>| d[r].iter().fold(0u32, |a, &x| a * 10 + x as u32);
    let (year, month, day) = (n(6..10), n(10..12), n(12..14));
    let valid_date = (1900..=2099).contains(&year)
        && chrono::NaiveDate::from_ymd_opt(year as i32, month, day).is_some();
    let sum: u32 = d[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(&x, w)| x as u32 * w)
        .sum();
    valid_date && d[17] == CHECK[(sum % 11) as usize]
}

fn mobile(d: &[u8]) -> bool {
    d.len() == 11 && d[0] == 1 && (3..=9).contains(&d[1])
}

fn luhn(d: &[u8]) -> bool {
    // Every second digit from the right is doubled, and a two-digit result summed.
    const DOUBLED: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                DOUBLED[x as usize]
            } else {
                x as u32
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn classify(run: &Run) -> Option<PiiSpan> {
    let d = &run.digits;
    if resident_id(d) {
        return Some(run.span(PiiKind::ResidentId, 0));
    }
    // A final `X` (10) belongs to IDs only.
    if d.contains(&10) {
        return None;
    }
    if mobile(d) {
        return Some(run.span(PiiKind::Mobile, 0));
    }
    if d.len() == 13 && d[..2] == [8, 6] && mobile(&d[2..]) {
        return Some(run.span(PiiKind::Mobile, 2));
    }
    if (13..=19).contains(&d.len()) && d[0] != 0 && luhn(d) {
        return Some(run.span(PiiKind::BankCard, 0));
    }
    None
}

fn is_local(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-".contains(c)
}

fn is_domain(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.'
}

fn emails(text: &str, out: &mut Vec<PiiSpan>) {
    // Where the last address found ends: the next one's local part starts after it
    // (in `a@b.coma@b.com`, the second local part is not `b.coma`).
    let mut taken = 0;
    for (at, _) in text.match_indices('@') {
        if at < taken {
            continue;
        }
        let local_start = text[taken..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_local(*c))
            .last()
            .map(|(i, _)| taken + i);
        let Some(start) = local_start else { continue };
        let local = &text[start..at];
        let domain_len = text[at + 1..]
            .chars()
            .take_while(|c| is_domain(*c))
            .map(char::len_utf8)
            .sum::<usize>();
        let domain = text[at + 1..at + 1 + domain_len].trim_end_matches(['.', '-']);
        let labels: Vec<&str> = domain.split('.').collect();
        let tld_ok = labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
        let labels_ok = labels.len() >= 2
            && labels
                .iter()
                .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
        let local = local.trim_start_matches('.');
        if local.is_empty() || local.ends_with('.') || !tld_ok || !labels_ok {
            continue;
        }
        let start = at - local.len();
        taken = at + 1 + domain.len();
        out.push(PiiSpan {
            kind: PiiKind::Email,
            range: start..taken,
        });
    }
}

/// Every piece of personal data in `text`, in text order, without overlaps.
pub fn detect(text: &str) -> Vec<PiiSpan> {
    // Most messages hold no digit and no `@`: one pass, no allocation.
    if !text.chars().any(|c| c == '@' || digit(c).is_some()) {
        return vec![];
    }
    let mut out: Vec<PiiSpan> = vec![];
    emails(text, &mut out);
    let emails = out.len();
    for_each_run(text, &mut |run| {
        if let Some(span) = classify(run) {
            // Digits inside an e-mail address are part of it.
            if !out[..emails]
                .iter()
                .any(|e| e.range.start < span.range.end && span.range.start < e.range.end)
            {
                out.push(span);
            }
        }
    });
    out.sort_by_key(|s| s.range.start);
    out
}

/// Which characters of a span stay readable: the rest become `*`.
fn keep(kind: PiiKind, index: usize, len: usize) -> bool {
    match kind {
        PiiKind::ResidentId => index < 6 || index >= len - 4,
        PiiKind::Mobile => index < 3 || index >= len - 4,
        PiiKind::BankCard => index < 4 || index >= len - 4,
        // Masked by part instead: see `mask_spans`.
        PiiKind::Email => true,
    }
}

/// `text` with every piece of personal data masked: `138****1234`,
/// `110105********1234`, `6222 **** **** 7890`, `z***@example.com`. Separators and the
/// number of characters are kept.
pub fn mask(text: &str) -> String {
    mask_spans(text, &detect(text))
}

/// `text` with the given spans masked.
pub fn mask_spans(text: &str, spans: &[PiiSpan]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for span in spans {
        // `detect` never returns overlapping spans; should a caller's overlap, the text
        // between them is not repeated (and nothing panics).
        if span.range.start < last || span.range.end > text.len() {
            continue;
        }
        out.push_str(&text[last..span.range.start]);
        let part = &text[span.range.clone()];
        if span.kind == PiiKind::Email {
            let (local, domain) = part.split_once('@').unwrap_or((part, ""));
            // The first character is kept, unless it is the whole local part.
            let keep_first = local.chars().nth(1).is_some();
            for (i, c) in local.chars().enumerate() {
                out.push(if i == 0 && keep_first { c } else { '*' });
            }
            out.push('@');
            out.push_str(domain);
        } else {
            let len = part
                .chars()
                .filter(|c| digit(*c).is_some() || is_x(*c))
                .count();
            let mut index = 0;
            for c in part.chars() {
                if digit(c).is_some() || is_x(c) {
                    out.push(if keep(span.kind, index, len) { c } else { '*' });
                    index += 1;
                } else {
                    out.push(c);
                }
            }
        }
        last = span.range.end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn found(text: &str) -> Vec<(PiiKind, &str)> {
        detect(text)
            .into_iter()
            .map(|s| (s.kind, &text[s.range]))
            .collect()
    }

    #[test]
    fn detection_table() {
        use PiiKind::*;
        // (name, text, what is found)
        type Case<'a> = (&'a str, &'a str, Vec<(PiiKind, &'a str)>);
        let cases: Vec<Case> = vec![
            (
                "id",
                "身份证11010519491231002X请核对",
                vec![(ResidentId, "11010519491231002X")],
            ),
            (
                "id_lower_x",
                "id 11010519491231002x.",
                vec![(ResidentId, "11010519491231002x")],
            ),
            ("id_digit_check", "110105194912310021", vec![]),
            ("id_bad_checksum", "110105194912310025", vec![]),
            ("id_bad_date", "110105194902310028", vec![]),
            (
                "id_full_width",
                "１１０１０５１９４９１２３１００２Ｘ",
                vec![(ResidentId, "１１０１０５１９４９１２３１００２Ｘ")],
            ),
            (
                "mobile",
                "电话13812345678，谢谢",
                vec![(Mobile, "13812345678")],
            ),
            (
                "mobile_dashes",
                "call 138-1234-5678 now",
                vec![(Mobile, "138-1234-5678")],
            ),
            (
                "mobile_spaces_plus86",
                "+86 138 1234 5678",
                vec![(Mobile, "138 1234 5678")],
            ),
            (
                "mobile_86_prefix",
                "8613812345678",
                vec![(Mobile, "13812345678")],
            ),
            ("not_mobile_prefix_12", "12812345678", vec![]),
            (
                "not_mobile_inside_longer",
                "订单号 2024013812345678901",
                vec![],
            ),
            ("not_mobile_inside_word", "sku13812345678", vec![]),
            ("not_mobile_word_after", "13812345678abc", vec![]),
            (
                "bank_card",
                "卡号6222021234567890128",
                vec![(BankCard, "6222021234567890128")],
            ),
            (
                "bank_card_groups",
                "4111 1111 1111 1111",
                vec![(BankCard, "4111 1111 1111 1111")],
            ),
            ("not_bank_card_luhn", "4111 1111 1111 1112", vec![]),
            ("not_bank_card_short", "411111111111", vec![]),
            (
                "email",
                "写信给 zhang.san+cs@example.com.cn。",
                vec![(Email, "zhang.san+cs@example.com.cn")],
            ),
            (
                "email_digits_not_phone",
                "13812345678@qq.com",
                vec![(Email, "13812345678@qq.com")],
            ),
            ("not_email_no_tld", "user@localhost", vec![]),
            ("not_email_at_sign", "@张三 你好", vec![]),
            ("not_email_trailing_dot", "a@b.", vec![]),
            (
                "two_kinds",
                "13812345678 / a@b.cn",
                vec![(Mobile, "13812345678"), (Email, "a@b.cn")],
            ),
            ("plain", "您好，请问有什么可以帮您？", vec![]),
            ("money", "退款 199.00 元，订单 20240101", vec![]),
        ];
        for (name, text, want) in cases {
            assert_eq!(found(text), want, "{name}");
        }
    }

    #[test]
    fn masking_table() {
        let cases = [
            ("mobile", "电话13812345678", "电话138****5678"),
            ("mobile_dashes", "138-1234-5678", "138-****-5678"),
            (
                "not_id_runs_into_word",
                "110105194912310025X",
                "110105194912310025X",
            ),
            ("id_masked", "11010519491231002X", "110105********002X"),
            ("card", "4111 1111 1111 1111", "4111 **** **** 1111"),
            ("email", "zhang@example.com", "z****@example.com"),
            ("email_one_character_local_part", "a@b.com", "*@b.com"),
            ("email_two_characters", "ab@b.com", "a*@b.com"),
            // Two addresses run together: the second's local part starts after the
            // first address (this used to overlap the first and panic in `mask`).
            ("emails_run_together", "a@b.coma@b.com", "*@b.coma@b.com"),
            ("plain", "没有个人信息", "没有个人信息"),
        ];
        for (name, text, want) in cases {
            assert_eq!(mask(text), want, "{name}");
        }
    }

    #[test]
    fn flags() {
        let f = PiiFlags::of("13812345678 a@b.cn");
        assert!(
            f.contains(PiiKind::Mobile)
                && f.contains(PiiKind::Email)
                && !f.contains(PiiKind::BankCard)
        );
        assert_eq!(PiiFlags::from_bits(f.bits()), f);
        assert_eq!(
            f.kinds().map(PiiKind::as_str).collect::<Vec<_>>(),
            ["mobile", "email"]
        );
        assert!(PiiFlags::of("你好").is_empty());
    }

    /// A valid resident ID for the given region, birth date and sequence.
    fn make_id(region: u32, y: u32, m: u32, d: u32, seq: u32) -> String {
        const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let body = format!("{region:06}{y:04}{m:02}{d:02}{seq:03}");
        let sum: u32 = body
            .bytes()
            .zip(WEIGHTS)
            .map(|(b, w)| (b - b'0') as u32 * w)
            .sum();
        let check = "10X98765432".as_bytes()[(sum % 11) as usize] as char;
        format!("{body}{check}")
    }

    /// A Luhn-valid card number of `len` digits starting with `prefix`.
    fn make_card(prefix: &str, body: &str, len: usize) -> String {
        let mut s: String = format!("{prefix}{body}").chars().take(len - 1).collect();
        for check in 0..10 {
            let d: Vec<u8> = format!("{s}{check}").bytes().map(|b| b - b'0').collect();
            if luhn(&d) {
                s.push(char::from(b'0' + check));
                break;
            }
        }
        s
    }

    fn filler() -> impl Strategy<Value = String> {
        "[你好请问退款什么时候到账 ，。！？a-z]{0,12}"
    }

    proptest! {
        #[test]
        fn embedded_pii_is_found_exactly_and_masked_away(
            before in filler(), after in filler(),
            region in 110000u32..820000, y in 1900u32..2025, m in 1u32..13, d in 1u32..29, seq in 0u32..1000,
            phone in 3u32..10, rest in 0u64..1_000_000_000,
            card_body in "[0-9]{18}", card_len in 13usize..20,
            which in 0usize..3,
        ) {
            prop_assume!((1..=8).contains(&(region / 100_000)));
            let (kind, value) = match which {
                0 => (PiiKind::ResidentId, make_id(region, y, m, d, seq)),
                1 => (PiiKind::Mobile, format!("1{phone}{rest:09}")),
                _ => (PiiKind::BankCard, make_card("62", &card_body, card_len)),
            };
            // Fillers are not digits, and end in a non-letter so the number stands alone.
            let text = format!("{before}，{value}。{after}");
            let spans = detect(&text);
            // An 18-digit card can be a valid ID too; it is reported as the ID.
            let expect_kind = if kind == PiiKind::BankCard && value.len() == 18 && resident_id(&value.bytes().map(|b| b - b'0').collect::<Vec<_>>()) { PiiKind::ResidentId } else { kind };
            prop_assert_eq!(spans.len(), 1, "{:?}", spans);
            prop_assert_eq!(spans[0].kind, expect_kind);
            prop_assert_eq!(&text[spans[0].range.clone()], value.as_str());
            let masked = mask(&text);
            prop_assert_eq!(masked.chars().count(), text.chars().count());
            prop_assert!(detect(&masked).is_empty(), "{}", masked);
            prop_assert!(masked.starts_with(&before) && masked.ends_with(&after));
        }

        /// Addresses and numbers packed together: spans are in order, never overlap, and
        /// masking keeps the length.
        #[test]
        fn packed_addresses_and_numbers_mask_cleanly(text in "[ab@.com1380 -]{0,48}") {
            let spans = detect(&text);
            for w in spans.windows(2) {
                prop_assert!(w[0].range.end <= w[1].range.start, "{:?}", spans);
            }
            let masked = mask(&text);
            prop_assert_eq!(masked.chars().count(), text.chars().count());
        }

        #[test]
        fn masking_never_panics_and_keeps_length(text in "\\PC{0,60}") {
            let masked = mask(&text);
            prop_assert_eq!(masked.chars().count(), text.chars().count());
            for s in detect(&text) {
                prop_assert!(text.is_char_boundary(s.range.start) && text.is_char_boundary(s.range.end));
            }
        }
    }
}
