//! Human output. Message content is untrusted: before it reaches a terminal, every control
//! character (C0, C1, DEL: escape sequences could rewrite the screen or the title bar) and
//! every bidirectional override (which could make text read differently from what it is)
//! is replaced by a visible `\u{…}` escape.

/// `s` made safe for a terminal; newlines become `↵ ` when `one_line`, else stay.
pub fn safe(s: &str, one_line: bool) -> String {
    chatvault_model::display::visible(s, one_line)
}

/// A snippet with its highlights in bold (when `color`), made safe.
pub fn highlighted(snippet: &str, highlights: &[[usize; 2]], color: bool) -> String {
    let mut out = String::new();
    for (i, c) in snippet.chars().enumerate() {
        if color && highlights.iter().any(|h| h[0] == i) {
            out.push_str("\x1b[1;33m");
        }
        out.push_str(&safe(c.encode_utf8(&mut [0; 4]), true));
        if color && highlights.iter().any(|h| h[1] == i + 1) {
            out.push_str("\x1b[0m");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_content_table() {
        let cases = [
            ("escape_sequence", "\x1b[2Jgone", "\\u{1b}[2Jgone"),
            ("title_bar", "\x1b]0;pwned\x07", "\\u{1b}]0;pwned\\u{7}"),
            ("carriage_return", "ok\rfake", "ok\\u{d}fake"),
            ("rtl_override", "abc\u{202E}gnp.exe", "abc\\u{202e}gnp.exe"),
            ("isolate", "\u{2067}x\u{2069}", "\\u{2067}x\\u{2069}"),
            ("c1", "a\u{9b}31m", "a\\u{9b}31m"),
            ("newline_one_line", "a\nb", "a↵ b"),
            ("chinese_kept", "退款👍", "退款👍"),
        ];
        for (name, input, want) in cases {
            assert_eq!(safe(input, true), want, "{name}");
        }
        assert_eq!(safe("a\nb", false), "a\nb");
    }

    #[test]
    fn highlights_wrap_the_right_characters() {
        assert_eq!(
            highlighted("我要退款", &[[2, 4]], true),
            "我要\x1b[1;33m退款\x1b[0m"
        );
        assert_eq!(highlighted("我要退款", &[[2, 4]], false), "我要退款");
    }
}
