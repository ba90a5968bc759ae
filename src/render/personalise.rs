//! Per-recipient values without re-rendering: a compiled copy is scanned once for its
//! placeholders, then each message is one copy of it with the values put in.
//!
//! Pure and total: `RenderedIssue::new` then `personalise` accept any strings (a fuzz target
//! calls them on arbitrary input) and never panic.

/// Per-recipient values, as they appear in rendered output before substitution.
pub const PLACEHOLDER_UNSUBSCRIBE: &str = "__RELAIS_UNSUBSCRIBE_URL__";
pub const PLACEHOLDER_PREFERENCES: &str = "__RELAIS_PREFERENCES_URL__";
pub const PLACEHOLDER_GREETING: &str = "__RELAIS_GREETING__";

/// The compiled issue, shared by every recipient of one variant.
#[derive(Debug, Clone)]
pub struct RenderedIssue {
    pub subject: String,
    pub mjml: String,
    pub html: String,
    pub text: String,
    html_slots: Vec<Slot>,
    text_slots: Vec<Slot>,
}

/// What changes from one recipient to the next.
#[derive(Debug, Clone)]
pub struct Recipient<'a> {
    pub name: &'a str,
    pub unsubscribe_url: &'a str,
    pub preferences_url: &'a str,
}

/// Which per-recipient value a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Unsubscribe,
    Preferences,
    Greeting,
}

/// A placeholder found in the compiled output: where it starts and what goes there.
#[derive(Debug, Clone, Copy)]
struct Slot {
    at: usize,
    len: usize,
    value: Value,
}

const PLACEHOLDERS: [(&str, Value); 3] = [
    (PLACEHOLDER_UNSUBSCRIBE, Value::Unsubscribe),
    (PLACEHOLDER_PREFERENCES, Value::Preferences),
    (PLACEHOLDER_GREETING, Value::Greeting),
];

/// The placeholders of `s`, in order: found once per copy, so that each message is a single
/// pass of copying into a buffer of the right size.
fn find_slots(s: &str) -> Vec<Slot> {
    let mut slots = Vec::new();
    let mut from = 0;
    while let Some(i) = s[from..].find("__RELAIS_") {
        let at = from + i;
        match PLACEHOLDERS.iter().find(|(p, _)| s[at..].starts_with(p)) {
            Some((p, value)) => {
                slots.push(Slot {
                    at,
                    len: p.len(),
                    value: *value,
                });
                from = at + p.len();
            }
            None => from = at + 1,
        }
    }
    slots
}

fn fill(s: &str, slots: &[Slot], values: [&str; 3]) -> String {
    let extra: usize = slots
        .iter()
        .map(|slot| values[slot.value as usize].len())
        .sum();
    let mut out = String::with_capacity(s.len() + extra);
    let mut from = 0;
    for slot in slots {
        out.push_str(&s[from..slot.at]);
        out.push_str(values[slot.value as usize]);
        from = slot.at + slot.len;
    }
    out.push_str(&s[from..]);
    out
}

impl RenderedIssue {
    /// A compiled copy from its parts; its placeholders are found here, once.
    pub fn new(subject: String, mjml: String, html: String, text: String) -> Self {
        RenderedIssue {
            html_slots: find_slots(&html),
            text_slots: find_slots(&text),
            subject,
            mjml,
            html,
            text,
        }
    }

    /// (html, text) for one recipient.
    pub fn personalise(&self, r: &Recipient<'_>) -> (String, String) {
        let values = r.values();
        let html = fill(
            &self.html,
            &self.html_slots,
            values.html.each_ref().map(String::as_str),
        );
        let text = fill(
            &self.text,
            &self.text_slots,
            values.text.each_ref().map(String::as_str),
        );
        (html, text)
    }

    /// The HTML as fixed pieces and the places of per-recipient values, in order: a
    /// message can be encoded once per copy and only the values encoded per recipient.
    pub fn html_pieces(&self) -> Vec<Piece<'_>> {
        pieces(&self.html, &self.html_slots)
    }

    /// The text part, as [`RenderedIssue::html_pieces`] gives the HTML.
    pub fn text_pieces(&self) -> Vec<Piece<'_>> {
        pieces(&self.text, &self.text_slots)
    }
}

/// A piece of a compiled copy: rendered text, or the place of a per-recipient value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Fixed(&'a str),
    Value(Value),
}

fn pieces<'a>(s: &'a str, slots: &[Slot]) -> Vec<Piece<'a>> {
    let mut out = Vec::with_capacity(slots.len() * 2 + 1);
    let mut from = 0;
    for slot in slots {
        out.push(Piece::Fixed(&s[from..slot.at]));
        out.push(Piece::Value(slot.value));
        from = slot.at + slot.len;
    }
    out.push(Piece::Fixed(&s[from..]));
    out
}

/// One recipient's values as they go into the HTML (escaped) and into the text part,
/// indexed by [`Value`].
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub html: [String; 3],
    pub text: [String; 3],
}

impl Values {
    pub fn html(&self, value: Value) -> &str {
        &self.html[value as usize]
    }

    pub fn text(&self, value: Value) -> &str {
        &self.text[value as usize]
    }
}

impl Recipient<'_> {
    pub fn values(&self) -> Values {
        let name = self.name.trim();
        let (html_greeting, text_greeting) = if name.is_empty() {
            ("Vous".to_string(), "Vous".to_string())
        } else {
            (
                format!("Bonjour {}, vous", html_escape::encode_text(name)),
                format!("Bonjour {name}, vous"),
            )
        };
        Values {
            html: [
                html_escape::encode_double_quoted_attribute(self.unsubscribe_url).into_owned(),
                html_escape::encode_double_quoted_attribute(self.preferences_url).into_owned(),
                html_greeting,
            ],
            text: [
                self.unsubscribe_url.to_string(),
                self.preferences_url.to_string(),
                text_greeting,
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn personalised(html: &str, text: &str, r: &Recipient<'_>) -> (String, String) {
        RenderedIssue::new(String::new(), String::new(), html.into(), text.into()).personalise(r)
    }

    #[test]
    fn any_input_is_personalised_without_panic() {
        let recipient = Recipient {
            name: "Zoé \"<b>\" é",
            unsubscribe_url: "https://x/u/\"1\"",
            preferences_url: "https://x/p/1",
        };
        for input in [
            "",
            "__RELAIS_",
            "__RELAIS___RELAIS_GREETING__",
            "é__RELAIS_UNSUBSCRIBE_URL__é__RELAIS_",
            "__RELAIS_PREFERENCES_URL____RELAIS_GREETING__",
            "__RELAIS_UNSUBSCRIBE_URL_",
            "\u{0}__RELAIS_\u{10ffff}_GREETING__",
        ] {
            let (html, text) = personalised(input, input, &recipient);
            assert!(!html.contains(PLACEHOLDER_GREETING), "{input:?} → {html:?}");
            assert!(
                !text.contains(PLACEHOLDER_UNSUBSCRIBE),
                "{input:?} → {text:?}"
            );
        }
        let (html, text) = personalised(
            "<a href=\"__RELAIS_UNSUBSCRIBE_URL__\">x</a> __RELAIS_GREETING__",
            "__RELAIS_GREETING__ __RELAIS_UNSUBSCRIBE_URL__",
            &recipient,
        );
        assert_eq!(
            html,
            "<a href=\"https://x/u/&quot;1&quot;\">x</a> Bonjour Zoé \"&lt;b&gt;\" é, vous"
        );
        assert_eq!(text, "Bonjour Zoé \"<b>\" é, vous https://x/u/\"1\"");
    }
}
