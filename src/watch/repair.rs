//! Repairs applied to feed bytes before feed-rs reads them: charset to UTF-8, XML-forbidden
//! characters dropped, HTML entities and bare ampersands fixed, a missing RSS version added,
//! a default namespace on `<rss>` removed; RSS 0.90 and Atom 0.3 rewritten as RSS 1.0 and
//! Atom 1.0, RSS 1.0 items without a link kept, base64 Atom text decoded.
//! Also the last resort when feed-rs still fails: keep only the entries that are intact.

use std::collections::HashMap;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

use super::budget::{Budget, Exhausted};

/// The document as UTF-8 text fit for an XML parser, and what had to be fixed (plain words).
#[derive(Debug, Clone)]
pub struct Repaired {
    pub text: String,
    pub fixes: Vec<String>,
}

/// Every repair in order. JSON documents only get the charset step.
pub fn repair(bytes: &[u8], content_type: Option<&str>) -> Repaired {
    let mut fixes = Vec::new();
    let text = to_utf8(bytes, content_type, &mut fixes);
    let before = text.len();
    let mut text: String = text.chars().filter(|c| is_xml_char(*c)).collect();
    if text.len() != before {
        fixes.push("caractères interdits en XML retirés".into());
    }
    if text.trim_start().starts_with('{') {
        return Repaired { text, fixes };
    }
    text = declare_utf8(&text);
    let (text, dropped) = drop_late_declarations(&text);
    if dropped {
        fixes.push("déclaration XML en trop retirée".into());
    }
    let (fixed, changed) = fix_entities(&text);
    if changed {
        fixes.push("entités HTML ou « & » isolés corrigés".into());
    }
    let (text, versioned) = fix_rss_version(&fixed);
    if versioned {
        fixes.push("version RSS absente ou inconnue, lue comme 2.0".into());
    }
    // Only the namespace on <rss> is a defect worth telling editors about: RSS 0.90, Atom 0.3
    // and items without a link are old or sparse, not broken.
    let root = root_tag(&text).map(|t| t.split_name().1.to_string());
    let rewritten = match root.as_deref() {
        Some("rss") => unbind_rss_namespace(&text).inspect(|_| {
            fixes.push("espace de noms inconnu sur <rss> retiré".into());
        }),
        Some("RDF") => keep_rdf_items(&text),
        Some("feed") => atom_1_0(&text),
        _ => None,
    };
    let text = rewritten.unwrap_or(text);
    Repaired { text, fixes }
}

/// Valid UTF-8 is kept as it is whatever the declarations say: a wrong declaration would
/// otherwise decode twice. Other bytes are read in the first charset found among the byte
/// order mark, the HTTP header and the XML declaration, else as windows-1252.
fn to_utf8(bytes: &[u8], content_type: Option<&str>, fixes: &mut Vec<String>) -> String {
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return text.into_owned();
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_string();
    }
    let declared = [
        content_type.and_then(header_charset),
        xml_declared_encoding(bytes),
    ];
    let chosen = declared
        .iter()
        .flatten()
        .filter_map(|label| Encoding::for_label(label.trim().as_bytes()))
        .find(|e| *e != UTF_8 && e.is_ascii_compatible());
    let encoding = chosen.unwrap_or_else(|| {
        fixes.push("octets invalides en UTF-8, lus comme windows-1252".into());
        WINDOWS_1252
    });
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    text.into_owned()
}

fn header_charset(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The `encoding` of an `<?xml …?>` declaration at the start of the document.
fn xml_declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(512)];
    let head = String::from_utf8_lossy(head);
    let decl = declaration(&head)?;
    attribute(decl, "encoding").map(str::to_string)
}

/// The `<?xml …?>` declaration, when the document starts with one.
fn declaration(text: &str) -> Option<&str> {
    let start = text.len() - text.trim_start().len();
    let rest = &text[start..];
    if !rest.starts_with("<?xml") {
        return None;
    }
    rest.find("?>").map(|end| &rest[..end + 2])
}

/// The value of `name="…"` (or single-quoted) inside a tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let (_, value) = attribute_span(tag, name)?;
    Some(value)
}

/// (start of the value, value) of an attribute inside a tag.
fn attribute_span<'a>(tag: &'a str, name: &str) -> Option<(usize, &'a str)> {
    let mut from = 0;
    while let Some(pos) = tag[from..].find(name) {
        let at = from + pos;
        from = at + name.len();
        let before_ok = tag[..at].ends_with(|c: char| c.is_whitespace());
        let rest = tag[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let rest = rest[1..].trim_start();
        let quote = rest.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let value_start = tag.len() - rest.len() + 1;
        let end = tag[value_start..].find(quote)?;
        return Some((value_start, &tag[value_start..value_start + end]));
    }
    None
}

/// The text is UTF-8 now, so the declaration must say so.
fn declare_utf8(text: &str) -> String {
    let Some(decl) = declaration(text) else {
        return text.to_string();
    };
    let offset = text.len() - text.trim_start().len();
    match attribute_span(decl, "encoding") {
        Some((start, value)) if !value.eq_ignore_ascii_case("utf-8") => {
            let start = offset + start;
            format!("{}utf-8{}", &text[..start], &text[start + value.len()..])
        }
        _ => text.to_string(),
    }
}

/// An XML declaration is only allowed at the very start. A second one further down (two feeds
/// glued together) is invalid, and one naming another encoding makes feed-rs's XML reader
/// panic (found by the `feed_repair` fuzz target), so every declaration after the first goes.
/// `<?xml-stylesheet …?>` and other instructions stay.
fn drop_late_declarations(text: &str) -> (String, bool) {
    let is_declaration = |s: &str| {
        s.strip_prefix("<?xml")
            .is_some_and(|after| after.starts_with(|c: char| c.is_ascii_whitespace() || c == '?'))
    };
    let lead = text.len() - text.trim_start().len();
    let first_end = if is_declaration(&text[lead..]) {
        text[lead..]
            .find("?>")
            .map_or(text.len(), |end| lead + end + 2)
    } else {
        lead
    };
    let (head, mut rest) = text.split_at(first_end);
    let mut out = String::with_capacity(text.len());
    out.push_str(head);
    let mut changed = false;
    while let Some(pos) = rest.find("<?xml") {
        if !is_declaration(&rest[pos..]) {
            out.push_str(&rest[..pos + 5]);
            rest = &rest[pos + 5..];
            continue;
        }
        out.push_str(&rest[..pos]);
        changed = true;
        rest = match rest[pos..].find("?>") {
            Some(end) => &rest[pos + end + 2..],
            None => "",
        };
    }
    out.push_str(rest);
    (out, changed)
}

/// XML 1.0 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// HTML named entities become numeric references; an `&` that starts no reference becomes
/// `&amp;`. CDATA sections, comments and the doctype are left alone.
fn fix_entities(text: &str) -> (String, bool) {
    let mut out = String::with_capacity(text.len() + 64);
    let mut changed = false;
    let mut rest = text;
    while let Some(pos) = rest.find(['&', '<']) {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        if rest.starts_with('<') {
            let skip = ["<![CDATA[", "<!--", "<!DOCTYPE"]
                .iter()
                .zip(["]]>", "-->", ">"])
                .find(|(open, _)| rest.starts_with(**open))
                .map(|(_, close)| rest.find(close).map_or(rest.len(), |e| e + close.len()))
                .unwrap_or(1);
            out.push_str(&rest[..skip]);
            rest = &rest[skip..];
            continue;
        }
        let (replacement, used) = entity(rest);
        match replacement {
            Some(r) => {
                out.push_str(&r);
                changed = true;
            }
            None => out.push_str(&rest[..used]),
        }
        rest = &rest[used..];
    }
    out.push_str(rest);
    (out, changed)
}

/// For text starting with `&`: (replacement if one is needed, bytes consumed).
fn entity(text: &str) -> (Option<String>, usize) {
    let body = &text[1..];
    let name_len = body
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '#')
        .unwrap_or(body.len());
    let name = &body[..name_len];
    if name.is_empty() || !body[name_len..].starts_with(';') {
        return (Some("&amp;".into()), 1);
    }
    let whole = name_len + 2;
    if let Some(number) = name.strip_prefix('#') {
        let valid = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => number.parse::<u32>().ok(),
        }
        .and_then(char::from_u32)
        .is_some_and(is_xml_char);
        return if valid {
            (None, whole)
        } else {
            (Some(String::new()), whole)
        };
    }
    if matches!(name, "amp" | "lt" | "gt" | "quot" | "apos") {
        return (None, whole);
    }
    let reference = &text[..whole];
    let decoded = html_escape::decode_html_entities(reference);
    if decoded == reference {
        return (Some("&amp;".into()), 1);
    }
    let numeric = decoded
        .chars()
        .map(|c| format!("&#{};", c as u32))
        .collect();
    (Some(numeric), whole)
}

/// feed-rs knows `<rss>` only with version 2.0, 0.91, 0.92 or empty.
fn fix_rss_version(text: &str) -> (String, bool) {
    let Some(start) = find_open_tag(text, "rss", 0) else {
        return (text.to_string(), false);
    };
    let Some(end) = text[start..].find('>').map(|e| start + e) else {
        return (text.to_string(), false);
    };
    let tag = &text[start..end];
    match attribute_span(tag, "version") {
        Some((_, "2.0" | "0.91" | "0.92" | "")) => (text.to_string(), false),
        Some((at, value)) => {
            let at = start + at;
            let fixed = format!("{}2.0{}", &text[..at], &text[at + value.len()..]);
            (fixed, true)
        }
        None => {
            let at = start + "<rss".len();
            (
                format!("{} version=\"2.0\"{}", &text[..at], &text[at..]),
                true,
            )
        }
    }
}

/// Position of the first `<name` followed by a space, `>` or `/`, from `from`.
fn find_open_tag(text: &str, name: &str, from: usize) -> Option<usize> {
    let open = format!("<{name}");
    let mut at = from;
    while let Some(pos) = text[at..].find(&open) {
        let start = at + pos;
        let next = text[start + open.len()..].chars().next();
        if next.is_some_and(|c| c.is_whitespace() || c == '>' || c == '/') {
            return Some(start);
        }
        at = start + open.len();
    }
    None
}

/// The namespace feed-rs reads RSS 1.0 elements in.
const RSS_1_0_NS: &str = "http://purl.org/rss/1.0/";
/// RSS 0.90's namespace: the same elements as RSS 1.0 for what we read.
const RSS_0_90_NS: &str = "http://my.netscape.com/rdf/simple/0.9/";
const ATOM_1_0_NS: &str = "http://www.w3.org/2005/Atom";
const ATOM_0_3_NS: &str = "http://purl.org/atom/ns#";
/// Given to RSS 0.90 and 1.0 items without a link: feed-rs drops those, and this one is no
/// web address, so the item is kept with no link (`clean::web_link`).
const NO_LINK: &str = "about:blank";

/// A start or end tag found by `next_tag`.
struct Tag<'a> {
    start: usize,
    /// Just past its `>`.
    end: usize,
    /// The qualified name, prefix included.
    name: &'a str,
    closing: bool,
    /// `<name …/>`.
    empty: bool,
}

impl<'a> Tag<'a> {
    /// (prefix, local name).
    fn split_name(&self) -> (Option<&'a str>, &'a str) {
        match self.name.split_once(':') {
            Some((prefix, local)) => (Some(prefix), local),
            None => (None, self.name),
        }
    }
}

/// The next start or end tag from `from`, past comments, CDATA sections, processing
/// instructions and declarations. None at the end of the text or when a construct never
/// ends: callers then leave the rest as it is, so every scan stays linear.
fn next_tag(text: &str, from: usize) -> Option<Tag<'_>> {
    let mut at = from;
    loop {
        let start = at + text.get(at..)?.find('<')?;
        let rest = &text[start..];
        let skip = [
            ("<!--", "-->"),
            ("<![CDATA[", "]]>"),
            ("<?", "?>"),
            ("<!", ">"),
        ]
        .iter()
        .find(|(open, _)| rest.starts_with(open))
        .map(|(open, close)| {
            rest[open.len()..]
                .find(close)
                .map(|e| open.len() + e + close.len())
        });
        match skip {
            Some(Some(len)) => {
                at = start + len;
                continue;
            }
            Some(None) => return None,
            None => {}
        }
        let closing = rest[1..].starts_with('/');
        let after = &rest[1 + usize::from(closing)..];
        let name_len = after
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(after.len());
        let name = &after[..name_len];
        if !name.starts_with(|c: char| c.is_alphabetic() || c == '_') {
            // A stray `<` in text.
            at = start + 1;
            continue;
        }
        let len = tag_len(rest)?;
        return Some(Tag {
            start,
            end: start + len,
            name,
            closing,
            empty: !closing && rest[..len].ends_with("/>"),
        });
    }
}

/// Length of the tag at the start of `text` up to its `>`, quoted attribute values skipped.
fn tag_len(text: &str) -> Option<usize> {
    let mut quote = None;
    for (i, b) in text.bytes().enumerate().skip(1) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i + 1),
            None => {}
        }
    }
    None
}

/// The attributes of a start tag as (name, value as written). None when they cannot be
/// read: the tag is then left alone.
fn attributes(tag: &str) -> Option<Vec<(&str, &str)>> {
    let body = tag.strip_prefix('<')?;
    let body = body.strip_suffix("/>").or_else(|| body.strip_suffix('>'))?;
    let mut rest = body.trim_start_matches(|c: char| !c.is_whitespace());
    let mut found = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Some(found);
        }
        let name_len = rest.find(|c: char| c.is_whitespace() || c == '=')?;
        let name = &rest[..name_len];
        rest = rest[name_len..]
            .trim_start()
            .strip_prefix('=')?
            .trim_start();
        let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
        let end = rest[1..].find(quote)?;
        found.push((name, &rest[1..1 + end]));
        rest = &rest[end + 2..];
    }
}

/// A start tag written anew; values keep their escapes, and their quotes when they hold `"`.
fn write_tag(name: &str, attributes: &[(&str, &str)], empty: bool) -> String {
    let mut tag = format!("<{name}");
    for (key, value) in attributes {
        let quote = if value.contains('"') { '\'' } else { '"' };
        tag.push_str(&format!(" {key}={quote}{value}{quote}"));
    }
    tag.push_str(if empty { "/>" } else { ">" });
    tag
}

/// The end tag `</name>` at or after `from`: (its start, just past it).
fn find_end_tag(text: &str, from: usize, name: &str) -> Option<(usize, usize)> {
    let open = format!("</{name}");
    let mut at = from;
    loop {
        let start = at + text[at..].find(&open)?;
        let after = text[start + open.len()..].trim_start();
        if after.starts_with('>') {
            return Some((start, text.len() - after.len() + 1));
        }
        at = start + open.len();
    }
}

/// The root element's start tag, past the declaration, comments and doctype.
fn root_tag(text: &str) -> Option<Tag<'_>> {
    next_tag(text, 0).filter(|t| !t.closing)
}

/// Prefixes the root binds to one of `namespaces`, and whether its unprefixed elements are in
/// one of them (or in none, which feed-rs reads as the format's own).
fn bound_prefixes<'a>(attributes: &[(&'a str, &str)], namespaces: &[&str]) -> (Vec<&'a str>, bool) {
    let prefixes = attributes
        .iter()
        .filter(|(_, value)| namespaces.contains(value))
        .filter_map(|(key, _)| key.strip_prefix("xmlns:"))
        .collect();
    let default = attributes
        .iter()
        .find(|(key, _)| *key == "xmlns")
        .is_none_or(|(_, value)| namespaces.contains(value));
    (prefixes, default)
}

/// Rewrites, in place in `attributes`, every namespace declaration of `from` to `to`.
fn rebind(attributes: &mut [(&str, &str)], from: &str, to: &'static str) -> bool {
    let mut changed = false;
    for (key, value) in attributes.iter_mut() {
        if (*key == "xmlns" || key.starts_with("xmlns:")) && *value == from {
            *value = to;
            changed = true;
        }
    }
    changed
}

/// `<rss xmlns="…">`: a default namespace puts every element of the feed in it, and feed-rs
/// then reads none of them. The declaration goes, unless it names RSS 1.0's namespace, which
/// feed-rs reads.
fn unbind_rss_namespace(text: &str) -> Option<String> {
    let root = root_tag(text)?;
    let mut attributes = attributes(&text[root.start..root.end])?;
    let before = attributes.len();
    attributes.retain(|(key, value)| *key != "xmlns" || *value == RSS_1_0_NS);
    if attributes.len() == before {
        return None;
    }
    Some(format!(
        "{}{}{}",
        &text[..root.start],
        write_tag(root.name, &attributes, root.empty),
        &text[root.end..]
    ))
}

/// RSS 0.90 and 1.0 (`<rdf:RDF>`): RSS 0.90's namespace becomes RSS 1.0's, which feed-rs
/// reads, and an item without a link gets one that is no web address: feed-rs drops items
/// without a link, and such items are kept, with no link.
fn keep_rdf_items(text: &str) -> Option<String> {
    let root = root_tag(text)?;
    let (prefixes, default) = bound_prefixes(
        &attributes(&text[root.start..root.end])?,
        &[RSS_1_0_NS, RSS_0_90_NS],
    );
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    let mut changed = false;
    // Inside an item, and whether it has a link with text.
    let (mut in_item, mut has_link) = (false, false);
    while let Some(tag) = next_tag(text, at) {
        at = tag.end;
        let (prefix, local) = tag.split_name();
        let rss = prefix.map_or(default, |p| prefixes.contains(&p));
        if tag.closing {
            if rss && local == "item" && in_item && !has_link {
                let link = prefix.map_or("link".to_string(), |p| format!("{p}:link"));
                out.push_str(&text[copied..tag.start]);
                out.push_str(&format!("<{link}>{NO_LINK}</{link}>"));
                copied = tag.start;
                changed = true;
            }
            in_item &= !(rss && local == "item");
            continue;
        }
        if rss && local == "item" {
            (in_item, has_link) = (!tag.empty, false);
        } else if rss && local == "link" && !tag.empty {
            let content = text[tag.end..].split('<').next().unwrap_or_default();
            has_link |= !content.trim().is_empty();
        }
        let Some(mut attributes) = attributes(&text[tag.start..tag.end]) else {
            continue;
        };
        if rebind(&mut attributes, RSS_0_90_NS, RSS_1_0_NS) {
            out.push_str(&text[copied..tag.start]);
            out.push_str(&write_tag(tag.name, &attributes, tag.empty));
            copied = tag.end;
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// Atom 0.3 read as Atom 1.0, and text constructs in either written the 0.3 way made
/// readable: the namespace becomes Atom 1.0's, `issued` and `created` become `published` (an
/// entry's `issued` wins over its `created`), `modified` becomes `updated`, `tagline`
/// `subtitle` and `copyright` `rights`; a text construct's `type` (a media type in 0.3) and
/// `mode` (`xml`, `escaped` or `base64`) become the Atom 1.0 `type`, base64 text decoded.
/// The text of renamed elements and text constructs is never scanned for tags: inline XHTML
/// stays as it is.
fn atom_1_0(text: &str) -> Option<String> {
    let root = root_tag(text)?;
    let (prefixes, default) = bound_prefixes(
        &attributes(&text[root.start..root.end])?,
        &[ATOM_1_0_NS, ATOM_0_3_NS],
    );
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    let mut changed = false;
    let mut issued = false;
    while let Some(tag) = next_tag(text, at) {
        at = tag.end;
        if tag.closing {
            continue;
        }
        let Some(mut attributes) = attributes(&text[tag.start..tag.end]) else {
            continue;
        };
        let mut rewrite = rebind(&mut attributes, ATOM_0_3_NS, ATOM_1_0_NS);
        let (prefix, local) = tag.split_name();
        let atom = prefix.map_or(default, |p| prefixes.contains(&p));
        let renamed = match local {
            _ if !atom => None,
            "entry" => {
                issued = false;
                None
            }
            "issued" => {
                issued = true;
                Some("published")
            }
            "created" if !issued => Some("published"),
            "modified" => Some("updated"),
            "tagline" => Some("subtitle"),
            "copyright" => Some("rights"),
            _ => None,
        };
        let local = renamed.unwrap_or(local);
        let construct = atom
            && matches!(
                local,
                "title" | "subtitle" | "summary" | "content" | "rights"
            );
        let mut decode = false;
        let new_type = construct
            .then(|| atom_1_0_type(local, &attributes))
            .flatten();
        if let Some((new_type, base64)) = new_type {
            attributes.retain(|(key, _)| *key != "type" && *key != "mode");
            if new_type != "text" {
                attributes.push(("type", new_type));
            }
            rewrite = true;
            decode = base64;
        }
        let name = match (renamed, prefix) {
            (Some(new), Some(p)) => format!("{p}:{new}"),
            (Some(new), None) => new.to_string(),
            (None, _) => tag.name.to_string(),
        };
        rewrite |= renamed.is_some();
        if rewrite {
            out.push_str(&text[copied..tag.start]);
            out.push_str(&write_tag(&name, &attributes, tag.empty));
            copied = tag.end;
            changed = true;
        }
        if tag.empty || !(construct || renamed.is_some()) {
            continue;
        }
        // Straight to the element's end: its text holds no element to rename.
        let Some((close_start, close_end)) = find_end_tag(text, tag.end, tag.name) else {
            break;
        };
        if decode {
            if let Some(decoded) = decode_base64_text(&text[tag.end..close_start]) {
                out.push_str(&decoded);
                copied = close_start;
            }
        }
        if renamed.is_some() {
            out.push_str(&text[copied..close_start]);
            out.push_str(&format!("</{name}>"));
            copied = close_end;
        }
        at = close_end;
    }
    if !changed {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// The Atom 1.0 `type` of a text construct written with an Atom 0.3 `type` (a media type,
/// plain text when absent) and `mode` (`xml` when absent, `escaped` or `base64`), and
/// whether its text is base64; None when it is fine as it is. A `content` of another media
/// type keeps it (feed-rs reads those), base64 included.
fn atom_1_0_type(element: &str, attributes: &[(&str, &str)]) -> Option<(&'static str, bool)> {
    let value = |name: &str| {
        attributes
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, v)| v.trim().to_ascii_lowercase())
    };
    let (declared, mode) = (value("type"), value("mode"));
    let base64 = mode.as_deref() == Some("base64");
    let escaped = mode.as_deref() == Some("escaped");
    let new_type = match declared.as_deref() {
        None | Some("text" | "text/plain") => "text",
        Some("html" | "text/html") => "html",
        Some("xhtml" | "application/xhtml+xml") if base64 || escaped => "html",
        Some("xhtml" | "application/xhtml+xml") => "xhtml",
        Some(_) if element == "content" => return None,
        Some(_) => "text",
    };
    let same = declared.as_deref().unwrap_or("text") == new_type && mode.is_none();
    (!same).then_some((new_type, base64))
}

/// Base64 text (line breaks and all, possibly in a CDATA section) decoded and escaped as XML
/// text; None when it is no base64, and the text then stays as it is.
fn decode_base64_text(raw: &str) -> Option<String> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    let raw = raw.trim();
    let raw = raw
        .strip_prefix("<![CDATA[")
        .and_then(|r| r.strip_suffix("]]>"))
        .unwrap_or(raw);
    let compact: String = raw.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let bytes = GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(compact)
        .ok()?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => WINDOWS_1252.decode(e.as_bytes()).0.into_owned(),
    };
    let mut escaped = String::with_capacity(text.len() + 64);
    for c in text.chars().filter(|c| is_xml_char(*c)) {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    Some(escaped)
}

/// What `salvage` kept.
#[derive(Debug)]
pub struct Salvaged {
    pub text: String,
    pub kept: usize,
    pub dropped: usize,
}

/// Rebuilds the document from its head and those entries (`<item>` or `<entry>`) that are
/// well formed on their own, closing whatever the head left open. One pass over the text: each
/// entry is checked within the span that ends where the next one starts, never the whole
/// document again. The budget is checked between entries.
pub fn salvage(text: &str, budget: &Budget) -> Result<Option<Salvaged>, Exhausted> {
    let Some((name, first)) = ["item", "entry"]
        .iter()
        .filter_map(|n| entry_starts(text, n).first().map(|p| (*n, *p)))
        .min_by_key(|(_, p)| *p)
    else {
        return Ok(None);
    };
    let head = &text[..first];
    let closing = closing_tags(head);
    let close = format!("</{name}>");
    let starts = entry_starts(text, name);
    let mut good = Vec::new();
    let mut dropped = 0;
    for (i, start) in starts.iter().enumerate() {
        if i % 256 == 0 {
            budget.check()?;
        }
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        let segment = &text[*start..end];
        let whole = segment
            .rfind(&close)
            .map(|e| &segment[..e + close.len()])
            .filter(|s| is_well_formed(s));
        match whole {
            Some(s) => good.push(s),
            None => dropped += 1,
        }
    }
    let text = format!("{head}{}{closing}", good.concat());
    Ok(Some(Salvaged {
        text,
        kept: good.len(),
        dropped,
    }))
}

/// Positions of each `<name` start tag outside CDATA sections and comments.
fn entry_starts(text: &str, name: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 0;
    while let Some(pos) = text[at..].find('<') {
        let start = at + pos;
        let rest = &text[start..];
        let skip = [("<![CDATA[", "]]>"), ("<!--", "-->")]
            .iter()
            .find(|(open, _)| rest.starts_with(open))
            .map(|(_, close)| rest.find(close).map_or(rest.len(), |e| e + close.len()));
        if let Some(skip) = skip {
            at = start + skip;
            continue;
        }
        let after = &rest[1..];
        if after.starts_with(name)
            && after[name.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/')
        {
            starts.push(start);
        }
        at = start + 1;
    }
    starts
}

/// True when the fragment is a sequence of well-formed XML: tags balanced and matching,
/// attributes and character references valid. Linear in the fragment's length.
fn is_well_formed(fragment: &str) -> bool {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(fragment);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Err(_) => return false,
            Ok(Event::Start(e)) => {
                if e.attributes().any(|a| a.is_err()) {
                    return false;
                }
                depth += 1;
            }
            Ok(Event::Empty(e)) => {
                if e.attributes().any(|a| a.is_err()) {
                    return false;
                }
            }
            Ok(Event::End(_)) => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Ok(Event::GeneralRef(r)) => {
                if r.resolve_char_ref().is_err() {
                    return false;
                }
            }
            Ok(Event::Eof) => return depth == 0,
            Ok(_) => {}
        }
    }
}

/// End tags for the elements still open at the end of `head`, innermost first. An end tag
/// closes the innermost open element of its name; the count of open elements per name makes
/// an end tag with no open element cost nothing, so the whole scan stays linear.
fn closing_tags(head: &str) -> String {
    let mut stack: Vec<&str> = Vec::new();
    let mut open: HashMap<&str, usize> = HashMap::new();
    let mut rest = head;
    while let Some(pos) = rest.find('<') {
        rest = &rest[pos..];
        let skip_to = |close: &str| rest.find(close).map_or(rest.len(), |e| e + close.len());
        if rest.starts_with("<![CDATA[") {
            rest = &rest[skip_to("]]>")..];
        } else if rest.starts_with("<!--") {
            rest = &rest[skip_to("-->")..];
        } else if rest.starts_with("<?") {
            rest = &rest[skip_to("?>")..];
        } else if rest.starts_with("<!") {
            rest = &rest[skip_to(">")..];
        } else {
            let end = skip_to(">");
            let tag = &rest[..end];
            rest = &rest[end..];
            if let Some(closing) = tag.strip_prefix("</") {
                let name = closing.trim_end_matches('>').trim();
                if open.get(name).copied().unwrap_or(0) > 0 {
                    while let Some(top) = stack.pop() {
                        if let Some(n) = open.get_mut(top) {
                            *n -= 1;
                        }
                        if top == name {
                            break;
                        }
                    }
                }
            } else if !tag.ends_with("/>") {
                let name = tag[1..]
                    .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
                    .next()
                    .unwrap_or("");
                if !name.is_empty() {
                    stack.push(name);
                    *open.entry(name).or_insert(0) += 1;
                }
            }
        }
    }
    stack.iter().rev().map(|n| format!("</{n}>")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_xml_declaration_stays() {
        let glued = "<?xml version=\"1.0\"?>\n<rss><?xml-stylesheet href=\"a.xsl\"?>\
                     <?xml version=\"1.0\" encoding=\"iso-8859-1\"?><channel/></rss>";
        let (text, changed) = drop_late_declarations(glued);
        assert!(changed);
        assert_eq!(
            text,
            "<?xml version=\"1.0\"?>\n<rss><?xml-stylesheet href=\"a.xsl\"?><channel/></rss>"
        );
        let fine = "<?xml version=\"1.0\"?><rss/>";
        assert_eq!(drop_late_declarations(fine), (fine.to_string(), false));
    }

    #[test]
    fn a_second_declaration_naming_another_encoding_is_a_feed_not_a_panic() {
        let glued = "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>A</title>\
                     <?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\
                     <item><title>Un</title></item></channel></rss>";
        let base = url::Url::parse("https://example.org/rss.xml").unwrap();
        let feed = crate::watch::parse::parse_feed(glued.as_bytes(), &base, None);
        assert!(feed.is_ok());
    }

    #[test]
    fn windows_1252_bytes_declared_utf8_are_read_as_windows_1252() {
        let bytes = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss><t>Caf\xe9 \x93cit\xe9\x94 \x80</t></rss>";
        let r = repair(bytes, Some("application/rss+xml; charset=utf-8"));
        assert!(r.text.contains("Café “cité” €"), "{}", r.text);
    }

    #[test]
    fn declared_latin1_is_transcoded_and_the_declaration_rewritten() {
        let bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><t>\xe9t\xe9</t></rss>";
        let r = repair(bytes, None);
        assert!(r.text.contains("été"), "{}", r.text);
        assert!(r
            .text
            .starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
    }

    #[test]
    fn valid_utf8_wins_over_a_wrong_header() {
        let bytes = "<?xml version=\"1.0\"?><rss version=\"2.0\"><t>été</t></rss>".as_bytes();
        let r = repair(bytes, Some("text/xml; charset=iso-8859-1"));
        assert!(r.text.contains("été"), "{}", r.text);
    }

    #[test]
    fn utf16_with_bom_is_decoded() {
        let mut bytes = vec![0xff, 0xfe];
        for u in "<rss version=\"2.0\"><t>é</t></rss>".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        assert!(repair(&bytes, None).text.contains("<t>é</t>"));
    }

    #[test]
    fn forbidden_control_characters_are_dropped() {
        let r = repair(b"<rss version=\"2.0\"><t>a\x0bb\x00c</t></rss>", None);
        assert!(r.text.contains("<t>abc</t>"));
        assert!(!r.fixes.is_empty());
    }

    #[test]
    fn html_entities_become_numeric_and_bare_ampersands_are_escaped() {
        let (text, changed) = fix_entities(
            "<t>A&nbsp;B &eacute;t&eacute; l&rsquo;eau R&D &amp; &#233; &#x2019; &bogus; &</t><![CDATA[&eacute; & x]]>",
        );
        assert!(changed);
        assert_eq!(
            text,
            "<t>A&#160;B &#233;t&#233; l&#8217;eau R&amp;D &amp; &#233; &#x2019; &amp;bogus; &amp;</t><![CDATA[&eacute; & x]]>"
        );
    }

    #[test]
    fn rss_without_version_or_with_an_odd_one_becomes_2_0() {
        assert_eq!(
            fix_rss_version("<rss><channel/></rss>").0,
            "<rss version=\"2.0\"><channel/></rss>"
        );
        assert_eq!(
            fix_rss_version("<rss xmlns:a=\"x\" version=\"2.0.1\">").0,
            "<rss xmlns:a=\"x\" version=\"2.0\">"
        );
        assert!(!fix_rss_version("<rss version=\"0.91\">").1);
    }

    #[test]
    fn a_default_namespace_on_rss_goes_and_other_declarations_stay() {
        assert_eq!(
            unbind_rss_namespace(
                "<?xml version=\"1.0\"?><rss xmlns=\"http://backend.userland.com/rss2\" \
                 xmlns:dc='http://purl.org/dc/elements/1.1/' version=\"2.0\"><channel/></rss>"
            )
            .unwrap(),
            "<?xml version=\"1.0\"?><rss xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
             version=\"2.0\"><channel/></rss>"
        );
        for fine in [
            "<rss version=\"2.0\"><channel/></rss>",
            "<rss xmlns=\"http://purl.org/rss/1.0/\" version=\"2.0\"/>",
        ] {
            assert_eq!(unbind_rss_namespace(fine), None, "{fine}");
        }
    }

    #[test]
    fn rdf_items_without_a_link_get_one_that_is_no_web_address() {
        let rdf = "<rdf:RDF xmlns:rdf=\"r\" xmlns=\"http://my.netscape.com/rdf/simple/0.9/\">\
                   <channel><link>c</link><items/></channel><item><title>A</title></item >\
                   <!-- </item> --><![CDATA[</item>]]><item><link> </link></item>\
                   <item><link>b</link></item></rdf:RDF>";
        assert_eq!(
            keep_rdf_items(rdf).unwrap(),
            "<rdf:RDF xmlns:rdf=\"r\" xmlns=\"http://purl.org/rss/1.0/\">\
             <channel><link>c</link><items/></channel><item><title>A</title><link>about:blank</link></item >\
             <!-- </item> --><![CDATA[</item>]]><item><link> </link><link>about:blank</link></item>\
             <item><link>b</link></item></rdf:RDF>"
        );
        let prefixed = "<r:RDF xmlns:r=\"x\" xmlns:rss=\"http://purl.org/rss/1.0/\" xmlns=\"o\">\
                        <rss:item/><rss:item>t</rss:item><item>u</item></r:RDF>";
        assert_eq!(
            keep_rdf_items(prefixed).unwrap(),
            "<r:RDF xmlns:r=\"x\" xmlns:rss=\"http://purl.org/rss/1.0/\" xmlns=\"o\">\
             <rss:item/><rss:item>t<rss:link>about:blank</rss:link></rss:item><item>u</item></r:RDF>"
        );
        let fine =
            "<rdf:RDF xmlns=\"http://purl.org/rss/1.0/\"><item><link>a</link></item></rdf:RDF>";
        assert_eq!(keep_rdf_items(fine), None);
    }

    #[test]
    fn atom_0_3_elements_and_modes_become_atom_1_0() {
        let feed = "<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\" xmlns:dc=\"d\">\
            <tagline type=\"text/html\" mode=\"escaped\">&lt;b&gt;T&lt;/b&gt;</tagline>\
            <copyright>C</copyright><modified>2026-01-01T00:00:00Z</modified>\
            <entry><created>1</created><issued>2</issued><dc:created>3</dc:created>\
            <title mode=\"escaped\" type=\"text/plain\">A &amp; B</title>\
            <content type=\"application/xhtml+xml\"><div xmlns=\"h\"><issued>x</issued></div></content>\
            <summary type='text/html' mode='base64'>PGI+w6k8L2I+\n</summary></entry>\
            <entry><issued>4</issued><created>5</created>\
            <content type=\"image/png\" mode=\"base64\">iVBO</content></entry></feed>";
        assert_eq!(
            atom_1_0(feed).unwrap(),
            "<feed version=\"0.3\" xmlns=\"http://www.w3.org/2005/Atom\" xmlns:dc=\"d\">\
            <subtitle type=\"html\">&lt;b&gt;T&lt;/b&gt;</subtitle>\
            <rights>C</rights><updated>2026-01-01T00:00:00Z</updated>\
            <entry><published>1</published><published>2</published><dc:created>3</dc:created>\
            <title>A &amp; B</title>\
            <content type=\"xhtml\"><div xmlns=\"h\"><issued>x</issued></div></content>\
            <summary type=\"html\">&lt;b&gt;é&lt;/b&gt;</summary></entry>\
            <entry><published>4</published><created>5</created>\
            <content type=\"image/png\" mode=\"base64\">iVBO</content></entry></feed>"
        );
        let atom_1_0_feed =
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"html\">a</title>\
            <entry><title>t</title><content type=\"xhtml\"><div><created/></div></content>\
            <content type=\"text/csv\">a,b</content></entry></feed>";
        assert_eq!(atom_1_0(atom_1_0_feed), None, "nothing to change");
    }

    #[test]
    fn base64_text_is_decoded_escaped_and_kept_to_xml_characters() {
        assert_eq!(
            decode_base64_text(" <![CDATA[PHA+YSAmIGIAPC9wPg]]> ").unwrap(),
            "&lt;p&gt;a &amp; b&lt;/p&gt;"
        );
        assert_eq!(decode_base64_text("pas du base64 !"), None);
    }

    #[test]
    fn hostile_documents_stay_linear() {
        let started = std::time::Instant::now();
        let n = 50_000;
        let atom = "<feed xmlns=\"http://purl.org/atom/ns#\">";
        let hostile = [
            format!("{atom}{}", "<title mode=\"base64\">".repeat(n)),
            format!("{atom}{}", "<entry><created>x</created><issued>".repeat(n)),
            format!("{atom}{}", "<title a=\"".repeat(n)),
            format!("{atom}{}", "<issued><modified>".repeat(n)),
            format!(
                "{atom}{}",
                "<content type=\"text/html\" mode=\"escaped\">x</content>".repeat(3 * n)
            ),
            format!("<rss xmlns=\"x\">{}", "<rss xmlns=\"y\">".repeat(n)),
            format!(
                "<RDF xmlns=\"{RSS_0_90_NS}\">{}",
                "<item></item>".repeat(3 * n)
            ),
            format!("<RDF>{}", "<!-- ".repeat(n)),
        ];
        for doc in &hostile {
            let r = repair(doc.as_bytes(), None);
            assert!(r.text.len() < doc.len() * 3, "{}", &doc[..60]);
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "sanity limit: {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn salvage_keeps_intact_entries_and_closes_the_document() {
        let text = "<rss version=\"2.0\"><channel><title>T</title>\
            <item><title>A</title></item>\
            <item><title>B</title></titl></item>\
            <item><title>C</title></item>\
            <item><title>D</tit";
        let s = salvage(text, &Budget::new(std::time::Duration::from_secs(60)))
            .unwrap()
            .unwrap();
        assert_eq!((s.kept, s.dropped), (2, 2));
        assert!(s
            .text
            .ends_with("<item><title>C</title></item></channel></rss>"));
    }

    #[test]
    fn closing_tags_ignore_declarations_and_closed_elements() {
        assert_eq!(
            closing_tags("<?xml version=\"1.0\"?><!-- x --><rdf:RDF a=\"1\"><channel><title>T</title><br/></channel>"),
            "</rdf:RDF>"
        );
    }
}
