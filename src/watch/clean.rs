//! Cleaning of untrusted feed content: plain-text titles, sanitised summaries fit for email
//! and the desk, links made absolute.

use std::collections::HashSet;

use url::Url;

/// Titles are plain text: tags dropped, entities decoded, whitespace collapsed.
pub fn clean_title(raw: &str) -> String {
    // Most titles hold no markup: the HTML parser would give back the same text.
    let text = if raw.contains('<') {
        let no_tags = ammonia::Builder::empty().clean(raw).to_string();
        html_escape::decode_html_entities(&no_tags).into_owned()
    } else {
        html_escape::decode_html_entities(raw).into_owned()
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A strict profile: formatting, lists, links and images only; http, https and mailto URLs;
/// relative URLs resolved against `base`; 1×1 tracking pixels removed.
pub fn clean_summary(raw: &str, base: &Url) -> String {
    if !raw.contains(['<', '>', '&', '\u{a0}']) {
        // Plain text: nothing to sanitise, and ammonia would return it as it is.
        return raw.trim().to_string();
    }
    let tags: HashSet<&str> = [
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
    ]
    .into_iter()
    .collect();
    let html = ammonia::Builder::default()
        .tags(tags)
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
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
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
        .clean(raw)
        .to_string();
    drop_tracking_pixels(&html).trim().to_string()
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
}
