//! Untrusted text made safe to show. Every control character (C0, C1, DEL: escape
//! sequences could rewrite a terminal) and every bidirectional control (an override can
//! make `exe.png` read as `gnp.exe`) is replaced by a visible `\u{…}` escape, so what a
//! reader sees is what the message holds. Renderers still escape for their own syntax
//! (HTML, CSV); this only removes what would deceive in any of them.

use std::fmt::Write;

/// Whether `c` must not reach a reader as itself.
pub fn deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}')
}

/// `s` with every deceptive character escaped; newlines become `↵ ` when `one_line`,
/// else stay (so do tabs).
pub fn visible(s: &str, one_line: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' if one_line => out.push_str("↵ "),
            '\n' | '\t' if !one_line => out.push(c),
            c if deceptive(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn deceptive_characters_become_visible() {
        let cases = [
            ("plain", "退款 refund", false, "退款 refund"),
            (
                "rtl override",
                "abc\u{202E}gnp.exe",
                true,
                "abc\\u{202e}gnp.exe",
            ),
            (
                "isolate",
                "a\u{2067}b\u{2069}",
                true,
                "a\\u{2067}b\\u{2069}",
            ),
            ("escape sequence", "\u{1b}[2Jx", true, "\\u{1b}[2Jx"),
            ("newline kept", "a\nb", false, "a\nb"),
            ("newline folded", "a\nb", true, "a↵ b"),
            ("c1", "a\u{85}b", false, "a\\u{85}b"),
        ];
        for (name, input, one_line, want) in cases {
            assert_eq!(visible(input, one_line), want, "{name}");
        }
    }
}
