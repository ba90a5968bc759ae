//! The public subscribe form, parsed into a subscriber request.

use std::collections::BTreeSet;

use crate::domain::{self, EmailAddress, Newsletter};
use crate::store::NewSubscriber;

/// Reads the form fields (repeatable ones may come several times; `country` may also hold a
/// comma-separated list). Unknown values are refused with a reason in French.
pub fn parse_subscription(fields: &[(String, String)]) -> Result<NewSubscriber, String> {
    let values = |name: &'static str| {
        fields
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let email = values("email")
        .next()
        .ok_or("Indiquez votre adresse électronique.")?;
    let email =
        EmailAddress::parse(email).map_err(|e| format!("Adresse électronique refusée : {e}."))?;
    let mut newsletters = BTreeSet::new();
    for slug in values("newsletter") {
        let n = Newsletter::find(slug).ok_or_else(|| format!("Lettre inconnue : {slug}."))?;
        newsletters.insert(n.slug.to_string());
    }
    if newsletters.is_empty() {
        return Err("Choisissez au moins une lettre.".into());
    }
    let mut themes = BTreeSet::new();
    for t in values("theme") {
        if !domain::THEMES.contains(&t) {
            return Err(format!("Thème inconnu : {t}."));
        }
        themes.insert(t.to_string());
    }
    let mut countries = BTreeSet::new();
    for c in values("country")
        .flat_map(|v| v.split([',', ';', ' ']))
        .filter(|c| !c.is_empty())
    {
        countries.insert(
            domain::parse_country(c).ok_or_else(|| {
                format!("Code pays inconnu : {c} (deux lettres, par exemple SN).")
            })?,
        );
    }
    let mut departements = BTreeSet::new();
    for d in values("departement") {
        if !domain::DEPARTEMENTS.contains(&d) {
            return Err(format!("Département inconnu : {d}."));
        }
        departements.insert(d.to_string());
    }
    let college = match values("college").next() {
        None => None,
        Some(c) if domain::COLLEGES.contains(&c) => Some(c.to_string()),
        Some(c) => return Err(format!("Type de structure inconnu : {c}.")),
    };
    let name: String = values("name")
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    Ok(NewSubscriber {
        email: Some(email),
        name,
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

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn repeated_fields_and_country_lists_are_read() {
        let s = parse_subscription(&form(&[
            ("email", "Marie@Example.org"),
            ("newsletter", "coopdev-info"),
            ("newsletter", "echos-du-reseau"),
            ("theme", "sante"),
            ("country", "sn, mg"),
            ("departement", "31"),
            ("college", "association"),
        ]))
        .unwrap();
        assert_eq!(s.email.unwrap().as_str(), "marie@example.org");
        assert_eq!(s.newsletters.len(), 2);
        assert_eq!(
            s.countries.into_iter().collect::<Vec<_>>(),
            vec!["MG", "SN"]
        );
    }

    #[test]
    fn unknown_values_are_refused() {
        assert!(
            parse_subscription(&form(&[("email", "a@b.fr")])).is_err(),
            "a title is required"
        );
        assert!(parse_subscription(&form(&[("email", "a@b.fr"), ("newsletter", "x")])).is_err());
        assert!(parse_subscription(&form(&[
            ("email", "a@b.fr"),
            ("newsletter", "coopdev-info"),
            ("departement", "75")
        ]))
        .is_err());
    }
}
