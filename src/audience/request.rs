//! One validation for a subscriber request, whether it comes from the public form or from a
//! line of an imported file. Whatever leaves it holds no control character: free text is
//! cleaned, every other field is checked against a list or a syntax, and a refused value is
//! quoted back cleaned (it ends up in a page or on a terminal).

use std::collections::BTreeSet;

use crate::domain::{self, EmailAddress, Newsletter, KNOWN_NEWSLETTERS};
use crate::store::NewSubscriber;

/// Values as given, before validation.
#[derive(Debug, Default)]
pub struct RawRequest<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub newsletters: Vec<&'a str>,
    pub themes: Vec<&'a str>,
    pub countries: Vec<&'a str>,
    pub departements: Vec<&'a str>,
    pub college: Option<&'a str>,
}

/// What to do when no title is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoTitle {
    /// Imports: no title means both.
    MeansAll,
    /// The form: the visitor must pick one.
    IsAnError,
    /// The preferences centre: no title means none.
    MeansNone,
}

/// Free text as a person may give it: control characters (NUL, escapes, line breaks) and the
/// invisible marks that reorder text are removed, tabs and line breaks becoming a space.
pub fn clean_text(raw: &str) -> String {
    raw.chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            c if c.is_control() || is_bidi_control(c) => None,
            c => Some(c),
        })
        .collect()
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A refused value as quoted in the reason: cleaned and cut short.
fn shown(raw: &str) -> String {
    let clean = clean_text(raw.trim());
    match clean.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &clean[..at]),
        None => clean,
    }
}

pub fn validate(raw: &RawRequest<'_>, no_title: NoTitle) -> Result<NewSubscriber, String> {
    let email = EmailAddress::parse(raw.email)
        .map_err(|e| format!("adresse « {} » refusée : {e}", shown(raw.email)))?;
    let mut newsletters = BTreeSet::new();
    for slug in &raw.newsletters {
        let n =
            Newsletter::find(slug).ok_or_else(|| format!("lettre inconnue « {} »", shown(slug)))?;
        newsletters.insert(n.slug.to_string());
    }
    if newsletters.is_empty() {
        match no_title {
            NoTitle::MeansAll => {
                newsletters = KNOWN_NEWSLETTERS
                    .iter()
                    .map(|n| n.slug.to_string())
                    .collect()
            }
            NoTitle::IsAnError => return Err("choisissez au moins une lettre".into()),
            NoTitle::MeansNone => {}
        }
    }
    let mut themes = BTreeSet::new();
    for t in &raw.themes {
        if !domain::is_slug(t) {
            return Err(format!("thème invalide « {} »", shown(t)));
        }
        themes.insert(t.to_string());
    }
    let mut countries = BTreeSet::new();
    for c in &raw.countries {
        countries.insert(domain::parse_country(c).ok_or_else(|| {
            format!(
                "code pays invalide « {} » (deux lettres, par exemple SN)",
                shown(c)
            )
        })?);
    }
    let mut departements = BTreeSet::new();
    for d in &raw.departements {
        if !domain::DEPARTEMENTS.contains(d) {
            return Err(format!(
                "département hors Occitanie ou invalide « {} »",
                shown(d)
            ));
        }
        departements.insert(d.to_string());
    }
    let college = match raw.college {
        None => None,
        Some(c) if domain::COLLEGES.contains(&c) => Some(c.to_string()),
        Some(c) => return Err(format!("collège inconnu « {} »", shown(c))),
    };
    Ok(NewSubscriber {
        email: Some(email),
        name: clean_text(raw.name).trim().chars().take(200).collect(),
        newsletters,
        themes,
        countries,
        departements,
        college,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_cleaned_from_names_and_refused_elsewhere() {
        let raw = RawRequest {
            email: "marie@example.org",
            name: "Ma\0rie\u{1b}[31m\r\nD.\u{202E}",
            ..RawRequest::default()
        };
        let s = validate(&raw, NoTitle::MeansAll).unwrap();
        assert_eq!(s.name, "Marie[31m  D.");
        for bad in [
            RawRequest {
                email: "ma\0rie@example.org",
                ..RawRequest::default()
            },
            RawRequest {
                email: "marie@example.org",
                themes: vec!["sante\0"],
                ..RawRequest::default()
            },
            RawRequest {
                email: "marie@example.org",
                college: Some("association\u{7}"),
                ..RawRequest::default()
            },
        ] {
            let why = validate(&bad, NoTitle::MeansAll).unwrap_err();
            assert!(!why.chars().any(char::is_control), "{why:?}");
        }
    }
}
