//! The public subscribe form, parsed into a subscriber request.

use super::request::{validate, NoTitle, RawRequest};
use crate::store::NewSubscriber;

/// Reads the form fields (repeatable ones may come several times; `country` may also hold a
/// comma-separated list). Unknown values are refused with a reason in French.
pub fn parse_subscription(fields: &[(String, String)]) -> Result<NewSubscriber, String> {
    parse_fields(fields, None, NoTitle::IsAnError)
}

/// Whether the preferences form asked to leave every title at once.
pub fn leaves_everything(fields: &[(String, String)]) -> bool {
    fields.iter().any(|(k, v)| k == "action" && v == "tout")
}

/// What the preferences form asks for. "Unsubscribe from all" changes only the titles: the
/// person's name and interests stay as they are (`current`), whatever the form carried.
pub fn preferences_request(
    fields: &[(String, String)],
    email: &str,
    current: Option<&crate::store::SubscriberExport>,
) -> Result<NewSubscriber, String> {
    let mut wanted = parse_preferences(fields, email)?;
    if leaves_everything(fields) {
        if let Some(p) = current {
            wanted.name = p.name.clone();
            wanted.themes = p.themes.iter().cloned().collect();
            wanted.countries = p.countries.iter().cloned().collect();
            wanted.departements = p.departements.iter().cloned().collect();
            wanted.college = p.college.clone();
        }
        wanted.newsletters.clear();
    }
    Ok(wanted)
}

/// The preferences form: the address is the subscriber's own, and no title means none.
pub fn parse_preferences(
    fields: &[(String, String)],
    email: &str,
) -> Result<NewSubscriber, String> {
    parse_fields(fields, Some(email), NoTitle::MeansNone)
}

fn parse_fields(
    fields: &[(String, String)],
    email: Option<&str>,
    no_title: NoTitle,
) -> Result<NewSubscriber, String> {
    let values = |name: &'static str| {
        fields
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let raw = RawRequest {
        email: match email {
            Some(e) => e,
            None => values("email")
                .next()
                .ok_or("indiquez votre adresse électronique")?,
        },
        name: values("name").next().unwrap_or(""),
        newsletters: values("newsletter").collect(),
        themes: values("theme").collect(),
        countries: values("country")
            .flat_map(|v| v.split([',', ';', ' ']))
            .filter(|c| !c.is_empty())
            .collect(),
        departements: values("departement").collect(),
        college: values("college").next(),
    };
    validate(&raw, no_title)
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
