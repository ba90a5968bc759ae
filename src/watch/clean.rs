//! Cleaning of untrusted feed content: plain-text titles, sanitised summaries fit for email
//! and the desk, web links only, no control characters, bounded sizes. What leaves this
//! module may be stored and shown as it is.

use std::borrow::Cow;
use std::collections::HashSet;

use url::Url;

use super::bound::{self, MAX_DEPTH, MAX_TITLE_CHARS};
use super::dedup::sha256_hex;
use super::parse::RawEntry;

/// Longer links are not links anyone follows.
const MAX_LINK_BYTES: usize = 2048;
/// Longer guids are kept as their hash.
const MAX_GUID_BYTES: usize = 512;

/// An entry fit to store: every field cleaned and bounded.
#[derive(Debug, Clone, Default)]
pub struct CleanEntry {
    pub guid: Option<String>,
    pub link: Option<String>,
    pub title: String,
    /// Sanitised HTML.
    pub summary: String,
    /// The summary's words, computed once here so that no page has to parse its HTML again.
    pub summary_text: String,
}

pub fn clean_entry(raw: &RawEntry, base: &Url) -> CleanEntry {
    let summary = clean_summary(&raw.summary, base);
    CleanEntry {
        guid: raw.guid.as_deref().and_then(clean_guid),
        link: raw.link.as_deref().and_then(|l| web_link(l, base)),
        title: clean_title(&raw.title),
        summary_text: plain_text(&summary),
        summary,
    }
}

/// An `http` or `https` address, relative ones resolved against `base`; anything else
/// (`javascript:`, `data:`, `vbscript:`, `mailto:`, garbage) is no link at all. An absolute
/// address is kept as the feed wrote it, so stored links do not change under existing items.
pub fn web_link(raw: &str, base: &Url) -> Option<String> {
    let raw = strip_controls(raw);
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_LINK_BYTES {
        return None;
    }
    let is_web = |u: &Url| matches!(u.scheme(), "http" | "https") && u.host_str().is_some();
    match Url::parse(raw) {
        Ok(url) if is_web(&url) && !raw.contains(char::is_whitespace) => Some(raw.to_string()),
        Ok(url) if is_web(&url) => Some(url.to_string()),
        Ok(_) => None,
        Err(_) => base.join(raw).ok().filter(is_web).map(|u| u.to_string()),
    }
}

/// The publisher's identifier without control characters; a very long one becomes its hash.
fn clean_guid(raw: &str) -> Option<String> {
    let guid = strip_controls(raw);
    let guid = guid.trim();
    if guid.is_empty() {
        return None;
    }
    if guid.len() > MAX_GUID_BYTES {
        return Some(format!("sha256:{}", sha256_hex(guid)));
    }
    Some(guid.to_string())
}

/// Removes C0 and C1 control characters (tab and line breaks excepted) and what XML 1.0
/// cannot carry, wherever they came from: raw bytes, XML references, JSON `\u0000` escapes.
pub fn strip_controls(text: &str) -> Cow<'_, str> {
    let unwanted = |c: char| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if !text.contains(unwanted) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter(|c| !unwanted(*c)).collect())
}

/// Titles are plain text: tags dropped, entities decoded, control characters removed,
/// whitespace collapsed, at most `MAX_TITLE_CHARS` characters.
pub fn clean_title(raw: &str) -> String {
    let raw = bound::cut_bytes(raw, MAX_TITLE_CHARS * 16);
    // Most titles hold no markup: the HTML parser would give back the same text.
    let text = if raw.contains('<') {
        let no_tags = ammonia::Builder::empty().clean(raw).to_string();
        html_escape::decode_html_entities(&no_tags).into_owned()
    } else {
        html_escape::decode_html_entities(raw).into_owned()
    };
    let text = strip_controls(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    bound::cut_chars(&text, MAX_TITLE_CHARS).into_owned()
}

/// The words of sanitised HTML, tags dropped (each one a word break), entities decoded.
pub fn plain_text(html: &str) -> String {
    let text = match serialized_text(html) {
        Some(text) => text,
        None => return plain_text_parsed(html),
    };
    strip_controls(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The tags `clean_summary` lets through, and the only ones [`serialized_text`] reads itself.
/// None of them changes how the HTML parser reads what follows it (as `script`, `textarea`,
/// `table` or `svg` would).
const SUMMARY_TAGS: [&str; 16] = [
    "a",
    "b",
    "blockquote",
    "br",
    "code",
    "em",
    "h3",
    "h4",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "ul",
];

/// The text of HTML shaped as `clean_summary` writes it (html5ever's serialisation of an
/// allow-listed tree), a space for each tag, the serialiser's five escapes decoded; `None`
/// for anything else, which [`plain_text_parsed`] reads.
///
/// On such input this gives the text the HTML parser gives, without parsing a second time
/// what `clean_summary` has just parsed (that second parse was a fifth of ingest's CPU): each
/// `<` starts a tag `<name attr="value"…>` or `</name>` with `name` one of `SUMMARY_TAGS`
/// and values without `"` (the serialiser escapes it), between tags is text, and in text `&`
/// only starts `&amp;`, `&lt;`, `&gt;`, `&quot;` or `&nbsp;`. With those tags the parser only
/// moves elements, never text (no raw text, no foster parenting); the whitespace it drops (a
/// line break after `<pre>`) and the line ends it normalises are next to a tag's space.
fn serialized_text(html: &str) -> Option<String> {
    // The parser drops a byte order mark that opens its input.
    if html.starts_with('\u{feff}') {
        return None;
    }
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    let mut i = 0;
    while let Some(next) = memchr::memchr2(b'<', b'&', &bytes[i..]) {
        out.push_str(&html[i..i + next]);
        i += next;
        if bytes[i] == b'&' {
            let rest = &bytes[i + 1..];
            let (decoded, len) = [
                ("&", "amp;"),
                ("<", "lt;"),
                (">", "gt;"),
                ("\"", "quot;"),
                ("\u{a0}", "nbsp;"),
            ]
            .into_iter()
            .find(|(_, name)| rest.starts_with(name.as_bytes()))
            .map(|(decoded, name)| (decoded, name.len()))?;
            out.push_str(decoded);
            i += 1 + len;
            continue;
        }
        // A tag: `<name`, then ` attr="value"` pairs, then `>`; or `</name>`.
        i += 1;
        let closing = bytes.get(i) == Some(&b'/');
        i += usize::from(closing);
        let name_len = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            .count();
        if !SUMMARY_TAGS.contains(&&html[i..i + name_len]) {
            return None;
        }
        i += name_len;
        while !closing && bytes.get(i) == Some(&b' ') {
            i += 1;
            let attr_len = bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_lowercase())
                .count();
            if attr_len == 0 || !bytes[i + attr_len..].starts_with(b"=\"") {
                return None;
            }
            i += attr_len + 2;
            i += memchr::memchr(b'"', &bytes[i..])? + 1;
        }
        if bytes.get(i) != Some(&b'>') {
            return None;
        }
        i += 1;
        out.push(' ');
    }
    out.push_str(&html[i..]);
    Some(out)
}

/// [`plain_text`] through the HTML parser: for HTML that `clean_summary` did not write.
fn plain_text_parsed(html: &str) -> String {
    let spaced = html.replace('<', " <");
    let stripped = ammonia::Builder::empty().clean(&spaced).to_string();
    strip_controls(&html_escape::decode_html_entities(&stripped))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A strict profile: formatting, lists, links and images only; http and https URLs, relative
/// ones resolved against `base`; 1×1 tracking pixels removed. At most
/// `bound::MAX_SUMMARY_BYTES` of the published HTML are read, nested at most `MAX_DEPTH` deep.
pub fn clean_summary(raw: &str, base: &Url) -> String {
    let raw = strip_controls(raw);
    let raw = bound::cut_html(&raw);
    if !raw.contains(['<', '>', '&', '\u{a0}']) {
        // Plain text: nothing to sanitise, and ammonia would return it as it is.
        return raw.trim().to_string();
    }
    let raw = bound::limit_depth(&raw, MAX_DEPTH);
    let html = ammonia::Builder::default()
        .tags(SUMMARY_TAGS.into_iter().collect())
        .tag_attributes(
            [
                ("a", ["href", "title"].into_iter().collect()),
                (
                    "img",
                    ["src", "alt", "width", "height"].into_iter().collect(),
                ),
            ]
            .into_iter()
            .collect(),
        )
        .generic_attributes(HashSet::new())
        .url_schemes(["http", "https"].into_iter().collect())
        .url_relative(ammonia::UrlRelative::RewriteWithBase(base.clone()))
        .link_rel(Some("noopener noreferrer"))
        .attribute_filter(|element, attribute, value| {
            let tiny = |v: &str| {
                v.trim()
                    .trim_end_matches("px")
                    .parse::<u32>()
                    .is_ok_and(|n| n <= 1)
            };
            if element == "img" && (attribute == "width" || attribute == "height") && tiny(value) {
                // Marked so the pixel can be removed whole below.
                return Some("0".into());
            }
            Some(value.into())
        })
        .clean(&raw)
        .to_string();
    // A character reference such as `&#1;` comes out of the parser as the character itself.
    strip_controls(drop_tracking_pixels(&html).trim()).into_owned()
}

/// Removes `<img>` elements that the filter marked as 1×1 (width or height 0).
fn drop_tracking_pixels(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<img ") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('>')
            .map(|e| start + e + 1)
            .unwrap_or(rest.len());
        let tag = &rest[start..end];
        if !(tag.contains("width=\"0\"") || tag.contains("height=\"0\"")) {
            out.push_str(tag);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://example.org/news/").unwrap()
    }

    #[test]
    fn titles_are_plain_text_with_entities_decoded() {
        assert_eq!(
            clean_title("  <b>Appel</b> &agrave; projets &amp; subventions\n"),
            "Appel à projets & subventions"
        );
    }

    #[test]
    fn the_plain_text_shortcuts_give_what_the_sanitiser_gives() {
        for raw in [
            "  Appel à projets 2027 ",
            "R&amp;D &eacute;t&eacute; &amp;lt;b&amp;gt; \"guillemets\" 'apostrophe' a > b",
            "Le 12 décembre à Montpellier.\n",
        ] {
            let slow_title = html_escape::decode_html_entities(
                &ammonia::Builder::empty().clean(raw).to_string(),
            )
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
            assert_eq!(clean_title(raw), slow_title, "{raw}");
        }
        let plain = " Le 12 décembre à Montpellier, \"salle B\" (l'étage).\n";
        assert_eq!(
            clean_summary(plain, &base()),
            ammonia::Builder::default().clean(plain).to_string().trim()
        );
    }

    /// Pieces of HTML soup: allowed and refused tags, attributes holding quotes and angle
    /// brackets, every kind of character reference, line ends, accents, a byte order mark.
    const SOUP: &[&str] = &[
        "<p>",
        "</p>",
        "<b>",
        "</b>",
        "<i>",
        "</i>",
        "<em>",
        "</em>",
        "<strong>",
        "</strong>",
        "<a href=\"/appel?x=1&amp;y=2\">",
        "<a href='https://e.org/a b' title=\"x > y < z\">",
        "<a title='dit \"oui\"'>",
        "</a>",
        "<br>",
        "<br/>",
        "</br>",
        "<img src=\"p.gif\" width=\"1\" height=\"1\">",
        "<img src=\"photo.jpg\" alt=\"a<b>\">",
        "<ul>",
        "<li>",
        "</li>",
        "</ul>",
        "<ol>",
        "</ol>",
        "<h3>",
        "</h3>",
        "<h4>",
        "<blockquote>",
        "</blockquote>",
        "<pre>",
        "<pre>\n",
        "</pre>",
        "<code>",
        "</code>",
        "<div>",
        "</div>",
        "<span class=x>",
        "</span>",
        "<table><tr><td>",
        "</td></tr></table>",
        "<script>alert(1)</script>",
        "<style>p{}</style>",
        "<textarea>",
        "<!-- note -->",
        "<svg><text>s</text></svg>",
        "<font>",
        "<center>",
        "<P>",
        "<B >",
        "Appel",
        " à projets",
        "Sénégal",
        " cœur",
        "ÉCOLE",
        "l'eau",
        " ",
        "  ",
        "\n",
        "\r\n",
        "\t",
        "&amp;",
        "&amp;amp;",
        "&lt;b&gt;",
        "&eacute;",
        "&nbsp;",
        "&#160;",
        "&#xA0;",
        "&quot;",
        "&#39;",
        "&apos;",
        "&copy",
        "&",
        "&#0;",
        "&#1;",
        "&#x85;",
        "a > b",
        "\u{a0}",
        "\u{feff}",
        "\u{202f}",
        "«",
        "»",
        "—",
        "2027",
        "date limite",
        "\u{0}",
        "\u{7}",
        "’",
    ];

    #[test]
    fn plain_text_without_a_second_parse_gives_what_the_parser_gives() {
        use rand::{Rng, SeedableRng};
        let base = base();
        let mut summaries: Vec<String> = Vec::new();
        // The fixture feeds' summaries, as ingest cleans them.
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/feeds");
        for file in std::fs::read_dir(fixtures).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            if let Ok(feed) = super::super::parse::parse_feed(&bytes, &base, None) {
                summaries.extend(
                    feed.entries
                        .iter()
                        .map(|e| clean_summary(&e.summary, &base)),
                );
            }
        }
        // Random soup, as feeds send it.
        let mut rng = rand::rngs::StdRng::seed_from_u64(15);
        for _ in 0..4000 {
            let n = rng.gen_range(0..40);
            let raw: String = (0..n).map(|_| SOUP[rng.gen_range(0..SOUP.len())]).collect();
            summaries.push(clean_summary(&raw, &base));
        }
        let mut fast = 0;
        for summary in &summaries {
            fast += usize::from(serialized_text(summary).is_some());
            assert_eq!(
                plain_text(summary),
                plain_text_parsed(summary),
                "{summary:?}"
            );
        }
        assert!(
            fast * 10 > summaries.len() * 9,
            "{fast} of {}",
            summaries.len()
        );
        // What clean_summary does not write still goes through the parser.
        for other in [
            "<div>a</div>b",
            "<p class=x>a</p>",
            "&eacute;t&eacute;",
            "<!--x-->y",
        ] {
            assert!(serialized_text(other).is_none(), "{other}");
            assert_eq!(plain_text(other), plain_text_parsed(other));
        }
    }

    #[test]
    fn hostile_html_is_neutralised() {
        let dirty = r#"<p onclick="x()">Bonjour<script>alert(1)</script></p>
            <iframe src="https://evil"></iframe><a href="javascript:alert(1)">lien</a>
            <style>p{}</style><form><input name=a></form><img src="data:image/png;base64,AAA">"#;
        let clean = clean_summary(dirty, &base());
        for banned in [
            "script",
            "onclick",
            "iframe",
            "javascript:",
            "style",
            "form",
            "input",
            "data:",
        ] {
            assert!(!clean.contains(banned), "{banned} survived in {clean}");
        }
        assert!(clean.contains("Bonjour"));
    }

    #[test]
    fn relative_links_become_absolute_and_pixels_disappear() {
        let html = r#"<a href="/appel">Appel</a><img src="pixel.gif" width="1" height="1"><img src="photo.jpg" alt="Photo">"#;
        let clean = clean_summary(html, &base());
        assert!(
            clean.contains(r#"href="https://example.org/appel""#),
            "{clean}"
        );
        assert!(
            clean.contains(r#"src="https://example.org/news/photo.jpg""#),
            "{clean}"
        );
        assert!(!clean.contains("pixel.gif"), "{clean}");
    }

    #[test]
    fn only_web_links_are_links() {
        let base = Url::parse("https://example.org/feeds/rss.xml").unwrap();
        for hostile in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "java\tscript:alert(1)",
            "\u{0}javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "mailto:a@example.org",
            "file:///etc/passwd",
            "http://",
            "",
        ] {
            assert_eq!(web_link(hostile, &base), None, "{hostile:?}");
        }
        assert_eq!(
            web_link("/appel?id=1", &base).as_deref(),
            Some("https://example.org/appel?id=1")
        );
        assert_eq!(
            web_link("//autre.example.org/x", &base).as_deref(),
            Some("https://autre.example.org/x")
        );
        assert_eq!(
            web_link("https://Example.org/a b\u{7}", &base).as_deref(),
            Some("https://example.org/a%20b")
        );
        assert_eq!(
            web_link("http://example.org", &base).as_deref(),
            Some("http://example.org"),
            "a valid address is kept as written"
        );
    }

    #[test]
    fn summaries_keep_only_web_urls() {
        let dirty = r#"<a href="mailto:a@b.fr">m</a><a href=" javascript:x">j</a>
            <a href="vbscript:x">v</a><img src="data:image/png;base64,AA"><a href="/ok">ok</a>"#;
        let clean = clean_summary(dirty, &base());
        for banned in ["mailto:", "javascript:", "vbscript:", "data:"] {
            assert!(!clean.contains(banned), "{banned} survived in {clean}");
        }
        assert!(
            clean.contains(r#"href="https://example.org/ok""#),
            "{clean}"
        );
    }

    #[test]
    fn control_characters_never_survive_cleaning() {
        let title = clean_title("A\u{0}B\u{1b}[1m \u{85}C\u{9b}D &#1;E &#x85;F");
        // html_escape leaves a reference to a control character as text: harmless.
        assert_eq!(title, "AB[1m CD &#1;E F");
        let summary = clean_summary("<p>a\u{0}b &#1;c &#x9b;d\u{9f}</p>", &base());
        assert!(!summary.chars().any(|c| c.is_control()), "{summary:?}");
        assert_eq!(
            clean_guid(" \u{0}id\u{85} ").as_deref(),
            Some("id"),
            "guids too"
        );
        assert_eq!(clean_guid("\u{1}\u{2}"), None);
    }

    #[test]
    fn pathological_sizes_are_bounded() {
        let title = clean_title(&"mot ".repeat(50_000));
        assert!(title.chars().count() <= MAX_TITLE_CHARS && title.ends_with('…'));
        let deep = format!(
            "{}fond{}",
            "<b><i>".repeat(25_000),
            "</i></b>".repeat(25_000)
        );
        let summary = clean_summary(&deep, &base());
        assert!(
            summary.len() < 2 * bound::MAX_SUMMARY_BYTES,
            "{}",
            summary.len()
        );
        assert_eq!(
            plain_text("<p>un</p><p>deux &amp; trois</p>"),
            "un deux & trois"
        );
        let guid = clean_guid(&"g".repeat(10_000)).unwrap();
        assert!(guid.starts_with("sha256:") && guid.len() < 100);
    }
}
