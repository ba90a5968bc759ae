//! One validation for a subscriber request, whether it comes from the public form or from a
//! line of an imported file.

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

pub fn validate(raw: &RawRequest<'_>, no_title: NoTitle) -> Result<NewSubscriber, String> {
    let email = EmailAddress::parse(raw.email)
        .map_err(|e| format!("adresse « {} » refusée : {e}", raw.email.trim()))?;
    let mut newsletters = BTreeSet::new();
    for slug in &raw.newsletters {
        let n = Newsletter::find(slug).ok_or_else(|| format!("lettre inconnue « {slug} »"))?;
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
            return Err(format!("thème invalide « {t} »"));
        }
        themes.insert(t.to_string());
    }
    let mut countries = BTreeSet::new();
    for c in &raw.countries {
        countries.insert(
            domain::parse_country(c).ok_or_else(|| {
                format!("code pays invalide « {c} » (deux lettres, par exemple SN)")
            })?,
        );
    }
    let mut departements = BTreeSet::new();
    for d in &raw.departements {
        if !domain::DEPARTEMENTS.contains(d) {
            return Err(format!("département hors Occitanie ou invalide « {d} »"));
        }
        departements.insert(d.to_string());
    }
    let college = match raw.college {
        None => None,
        Some(c) if domain::COLLEGES.contains(&c) => Some(c.to_string()),
        Some(c) => return Err(format!("collège inconnu « {c} »")),
    };
    Ok(NewSubscriber {
        email: Some(email),
        name: raw.name.trim().chars().take(200).collect(),
        newsletters,
        themes,
        countries,
        departements,
        college,
    })
}
