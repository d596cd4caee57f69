//! Free text from peers (notes, chat lines, reasons) is data, never terminal
//! control.
//!
//! Validation refuses any text with a character [`is_forbidden`] names: C0
//! and C1 control characters (escape sequences start with ESC, U+001B, or
//! CSI, U+009B; a line feed or carriage return forges lines of output), the
//! line and paragraph separators, and the bidirectional embeddings, overrides
//! and isolates that make text display in another order than it is stored
//! (a "Trojan Source" note could show a different rate than the offer's).
//! The plain direction marks (U+200E, U+200F, U+061C) stay allowed: they only
//! nudge neutral characters and cannot reorder a whole line.
//!
//! Renderers still call [`escape`] on whatever they print from a peer, so
//! data stored before this rule existed, or from a peer whose node skipped it,
//! prints as visible `\u{..}` escapes.

use std::fmt::Write;

/// Whether `c` may not appear in text from a peer.
pub fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// The first forbidden character of `text`, if any.
pub fn first_forbidden(text: &str) -> Option<char> {
    text.chars().find(|&c| is_forbidden(c))
}

/// `text` with every forbidden character written as a visible `\u{XXXX}`
/// escape (and backslashes doubled, so an escape cannot be forged).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_forbidden(c) {
            let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_forbidden_and_escaped() {
        for bad in [
            "\x1b[2K",
            "a\nb",
            "\r",
            "\0",
            "\u{9b}",
            "\u{202e}",
            "\u{2066}x\u{2069}",
        ] {
            assert!(first_forbidden(bad).is_some(), "{bad:?}");
            assert!(escape(bad).chars().all(|c| !is_forbidden(c)), "{bad:?}");
        }
        for ok in [
            "Kreuzberg, evenings",
            "ab\u{200f}c",
            "€ 100 — ok",
            "日本語",
            "",
        ] {
            assert_eq!(first_forbidden(ok), None, "{ok:?}");
            assert_eq!(escape(ok), ok);
        }
        assert_eq!(escape("\x1b]0;pwned\x07"), "\\u{001b}]0;pwned\\u{0007}");
        // A literal backslash-u in the input cannot pose as an escape.
        assert_eq!(escape("\\u{001b}"), "\\\\u{001b}");
    }
}
