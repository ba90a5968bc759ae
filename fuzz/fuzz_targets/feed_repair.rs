//! The feed repair pass on any bytes: `repair` must give text an XML parser accepts
//! character by character, and parsing (repair, feed-rs, salvage of intact entries) must
//! end without a panic whatever the document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relais::watch::{parse::parse_feed, repair::repair};

/// XML 1.0 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the Content-Type a server might have sent with the document.
    let (content_type, bytes) = match data.split_first() {
        Some((0, rest)) => (Some("application/rss+xml; charset=iso-8859-1"), rest),
        Some((1, rest)) => (Some("text/xml; charset=\"shift_jis\""), rest),
        Some((2, rest)) => (Some("application/atom+xml; charset=utf-16"), rest),
        Some((3, rest)) => (Some("application/feed+json"), rest),
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    let repaired = repair(bytes, content_type);
    if let Some(bad) = repaired.text.chars().find(|c| !is_xml_char(*c)) {
        panic!("repair left {bad:?}, which is not an XML character");
    }
    let base = url::Url::parse("https://flux.example.org/rss.xml").expect("constant URL");
    let _ = parse_feed(bytes, &base, content_type);
});
