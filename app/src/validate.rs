//! Checks on text that arrives from outside (forms, the REST API, query strings) before it is stored or used to
//! look something up: PostgreSQL's `text` cannot hold NUL (a query with one fails), control characters and
//! bidirectional overrides make a stored value display as something it is not (in the audit trail, in logs), and
//! nothing the console keeps needs them. Each refusal names its field.

use crate::error::AppError;

/// The longest key (an id, a name, a filter value) anything is looked up by.
pub const MAX_KEY_CHARS: usize = 256;

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Validation {
        field: field.into(),
        message: message.into(),
    }
}

/// Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they make text display in
/// another order than it is stored. Marks (U+200E, U+200F) and joiners are fine.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Text a person typed that the console stores and shows again (a name, a reason, notes): at most `max_chars`
/// characters, no control characters (line breaks and tabs only where `multiline`), no bidirectional overrides.
pub fn text(field: &str, value: &str, max_chars: usize, multiline: bool) -> Result<(), AppError> {
    if value.chars().count() > max_chars {
        return Err(invalid(field, format!("at most {max_chars} characters")));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(invalid(
            field,
            if multiline {
                "no control characters (line breaks and tabs are fine)"
            } else {
                "no control characters or line breaks"
            },
        ));
    }
    if value.chars().any(is_bidi_control) {
        return Err(invalid(
            field,
            "no bidirectional override characters (U+202A–U+202E, U+2066–U+2069)",
        ));
    }
    // What bytes that were not UTF-8 became on the way in: the text is not what was sent.
    if value.contains('\u{FFFD}') {
        return Err(invalid(field, "not valid UTF-8 (U+FFFD)"));
    }
    Ok(())
}

/// Something to look up by (an id, a name, a filter value): at most [`MAX_KEY_CHARS`] characters and no control
/// characters. Whether it exists is the lookup's business.
pub fn key(field: &str, value: &str) -> Result<(), AppError> {
    if value.chars().count() > MAX_KEY_CHARS {
        return Err(invalid(
            field,
            format!("at most {MAX_KEY_CHARS} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(invalid(field, "no control characters"));
    }
    Ok(())
}

/// [`key`] on an optional value.
pub fn optional_key(field: &str, value: Option<&str>) -> Result<(), AppError> {
    value.map_or(Ok(()), |v| key(field, v))
}

/// `value` cut to `max_chars` characters with an ellipsis, for echoing a refused value back.
pub fn shortened(value: &str, max_chars: usize) -> String {
    if value.chars().count() <= max_chars {
        return value.to_string();
    }
    let mut cut: String = value.chars().take(max_chars).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(result: Result<(), AppError>) -> Option<String> {
        match result {
            Err(AppError::Validation { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn text_refuses_nul_controls_and_overrides_and_keeps_odd_but_valid_unicode() {
        for ok in [
            "🚀 deploy 👩\u{200D}💻",
            "' OR '1'='1' --",
            "../../etc/passwd",
            "Z\u{0336}\u{0337}\u{0338}",
            "مرحبا\u{200F}",
        ] {
            assert_eq!(field(text("name", ok, 80, false)), None, "{ok:?}");
        }
        for bad in [
            "\u{FFFD}\u{FFFD}",
            "a\0b",
            "red\u{1b}[31m",
            "x\r\ny",
            "\u{202E}fdp.exe",
            "\u{2066}x",
        ] {
            assert_eq!(
                field(text("name", bad, 80, false)).as_deref(),
                Some("name"),
                "{bad:?}"
            );
        }
        assert_eq!(
            field(text("notes", "two\nlines\tand a tab", 80, true)),
            None
        );
        assert_eq!(
            field(text("notes", "nul\0", 80, true)).as_deref(),
            Some("notes")
        );
        // Characters, not bytes.
        assert_eq!(field(text("name", &"é".repeat(80), 80, false)), None);
        assert!(field(text("name", &"é".repeat(81), 80, false)).is_some());
    }

    #[test]
    fn keys_are_short_and_without_controls() {
        assert_eq!(field(key("id", "dep-0123abcd")), None);
        assert_eq!(field(key("id", "' OR '1'='1' --")), None);
        assert_eq!(field(key("id", "a\0")).as_deref(), Some("id"));
        assert_eq!(field(key("id", &"x".repeat(257))).as_deref(), Some("id"));
        assert_eq!(shortened("abcdef", 3), "abc…");
        assert_eq!(shortened("abc", 3), "abc");
    }
}
