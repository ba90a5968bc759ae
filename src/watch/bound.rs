//! Bounds on what one entry may keep, applied to the published text before the HTML parser
//! sees it: its cost grows with the square of the nesting depth, and what is kept ends up in
//! every page, feed and message that shows the entry.

use std::borrow::Cow;

/// Characters of a title, after cleaning. A 100 KB title once pushed an issue past Gmail's
/// clipping size.
pub const MAX_TITLE_CHARS: usize = 300;
/// Bytes of published HTML read from a summary; the rest is cut, with an ellipsis.
pub const MAX_SUMMARY_BYTES: usize = 20_000;
/// Elements open inside one another in a summary; deeper tags are dropped, their text kept.
pub const MAX_DEPTH: usize = 24;

/// At most `max` bytes of `text`, cut on a character boundary.
pub fn cut_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// At most `max` characters, cut at a word boundary when there is one, with an ellipsis when cut.
pub fn cut_chars(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => {
            let cut = &text[..end];
            let cut = cut.rsplit_once(' ').map_or(cut, |(head, _)| head);
            Cow::Owned(format!("{}…", cut.trim_end()))
        }
    }
}

/// The first `MAX_SUMMARY_BYTES` of published HTML, never ending inside a tag, with an
/// ellipsis when something was cut.
pub fn cut_html(html: &str) -> Cow<'_, str> {
    if html.len() <= MAX_SUMMARY_BYTES {
        return Cow::Borrowed(html);
    }
    let cut = cut_bytes(html, MAX_SUMMARY_BYTES);
    let cut = match (cut.rfind('<'), cut.rfind('>')) {
        (Some(lt), Some(gt)) if lt < gt => cut,
        (Some(lt), _) => &cut[..lt],
        (None, _) => cut,
    };
    Cow::Owned(format!("{cut}…"))
}

/// Drops start and end tags nested deeper than `max`; text and shallower tags stay as they
/// are. A rough HTML reading is enough: the result still goes through the sanitiser, so a
/// misreading can only cost formatting. Linear: the stack never holds more than `max` names.
pub fn limit_depth(html: &str, max: usize) -> Cow<'_, str> {
    let mut out = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut changed = false;
    let mut copied = 0;
    let mut at = 0;
    while let Some(pos) = html[at..].find('<') {
        let start = at + pos;
        let rest = &html[start..];
        if rest.starts_with("<!--") {
            at = start + rest.find("-->").map_or(rest.len(), |e| e + 3);
            continue;
        }
        let (closing, name_part) = match rest[1..].strip_prefix('/') {
            Some(after) => (true, after),
            None => (false, &rest[1..]),
        };
        let name_len = name_part
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(name_part.len());
        if name_len == 0 || !name_part.starts_with(|c: char| c.is_ascii_alphabetic()) {
            at = start + 1;
            continue;
        }
        let Some(len) = tag_len(rest) else { break };
        let name = name_part[..name_len].to_ascii_lowercase();
        let keep = if closing {
            match open.iter().rposition(|n| *n == name) {
                Some(i) => {
                    open.truncate(i);
                    true
                }
                None => false,
            }
        } else if is_void(&name) || rest[..len].ends_with("/>") {
            open.len() < max
        } else {
            if matches!(name.as_str(), "p" | "li") && open.last() == Some(&name) {
                // `<p>a<p>b` and `<li>a<li>b` are siblings, not nested.
                open.pop();
            }
            let keep = open.len() < max;
            if keep {
                open.push(name);
            }
            keep
        };
        if !keep {
            out.push_str(&html[copied..start]);
            copied = start + len;
            changed = true;
        }
        at = start + len;
    }
    if !changed {
        return Cow::Borrowed(html);
    }
    out.push_str(&html[copied..]);
    Cow::Owned(out)
}

/// Length of the tag at the start of `text` up to its `>`, quoted attribute values skipped.
fn tag_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut quote: Option<u8> = None;
    let mut after_equals = false;
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'>' => return Some(i + 1),
            None if (b == b'"' || b == b'\'') && after_equals => quote = Some(b),
            None => {}
        }
        if !b.is_ascii_whitespace() {
            after_equals = b == b'=';
        }
    }
    None
}

fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "source"
            | "track"
            | "wbr"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_flattened_and_the_text_kept() {
        let deep = format!("{}texte{}", "<b>".repeat(1000), "</b>".repeat(1000));
        let limited = limit_depth(&deep, 3);
        assert_eq!(limited, "<b><b><b>texte</b></b></b>");
    }

    #[test]
    fn ordinary_html_is_left_alone() {
        for html in [
            "<p>Un <a href=\"/x?a=1&b=2\" title=\"a > b\">lien</a><br><img src=x.png/></p><p>deux",
            "<ul><li>a<li>b<li>c</ul><!-- <b><b><b><b> -->",
            "a < b et 3<4",
        ] {
            assert_eq!(limit_depth(html, 3), html);
        }
        let siblings = "<p>x".repeat(50);
        assert_eq!(limit_depth(&siblings, 3), siblings);
    }

    #[test]
    fn cuts_respect_characters_words_and_tags() {
        assert_eq!(cut_bytes("été", 2), "é");
        assert_eq!(cut_chars("un deux trois", 8), "un deux…");
        assert_eq!(cut_chars("court", 8), "court");
        let long = format!(
            "<p>{}</p><a href=\"https://example.org/\">x</a>",
            "a".repeat(19_990)
        );
        let cut = cut_html(&long);
        assert!(cut.ends_with("</p>…"), "{}", &cut[cut.len() - 20..]);
    }
}
