//! Pure types and rules of the domain. No I/O here: parsing, validation and policies only.

pub mod ad;
mod clock;
mod countries;
mod duration;
mod email;
mod entry;
mod interests;
mod newsletter;
pub mod optin;
mod safe_url;
pub mod schedule;
pub mod search;
pub mod similar;
mod status;

pub use clock::Clock;
pub use duration::{parse_duration, parse_duration_list};
pub use email::{hash_stored, EmailAddress, EmailError};
pub use entry::IssueEntry;
pub use interests::{Interests, Topics};
pub use newsletter::{Newsletter, Section, Sections, KNOWN_NEWSLETTERS};
pub use safe_url::{SafeUrl, UnsafeUrl};
pub use status::{
    AdCategory, DeliveryState, DispatchState, IssueStatus, ItemStatus, JobKind, JobOutcome,
    MailKind, SourceState, SubscriberStatus, SubscriptionStatus,
};

/// Themes known out of the box (DESIGN.md, taxonomy). Configuration may add more.
pub const THEMES: &[&str] = &[
    "sante",
    "eau-assainissement",
    "education-citoyennete",
    "jeunesse-volontariat",
    "formation",
    "financement",
    "migrations-accueil",
    "agriculture",
    "economie-mecenat",
    "urgence",
];

/// The 13 départements of Occitanie, as INSEE codes.
pub const DEPARTEMENTS: &[&str] = &[
    "09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82",
];

/// A département's name, by its INSEE code (those of Occitanie).
pub fn departement_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "09" => "Ariège",
        "11" => "Aude",
        "12" => "Aveyron",
        "30" => "Gard",
        "31" => "Haute-Garonne",
        "32" => "Gers",
        "34" => "Hérault",
        "46" => "Lot",
        "48" => "Lozère",
        "65" => "Hautes-Pyrénées",
        "66" => "Pyrénées-Orientales",
        "81" => "Tarn",
        "82" => "Tarn-et-Garonne",
        _ => return None,
    })
}

/// « 31 — Haute-Garonne »; the code alone for a département relais does not name.
pub fn departement_label(code: &str) -> String {
    match departement_name(code) {
        Some(name) => format!("{code} — {name}"),
        None => code.to_string(),
    }
}

/// Kinds of member organisation (collèges).
pub const COLLEGES: &[&str] = &[
    "collectivite",
    "entreprise",
    "association",
    "recherche",
    "etablissement-public",
];

/// An ISO 3166-1 alpha-2 code: two ASCII letters, stored upper case.
pub fn parse_country(raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    country_name(&code).map(|_| code)
}

pub use countries::COUNTRIES;

/// A country's French name, by its ISO 3166-1 alpha-2 code (upper case).
pub fn country_name(code: &str) -> Option<&'static str> {
    COUNTRIES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

/// A slug as used for sources, segments and themes: `[a-z0-9-]+`.
pub fn is_slug(raw: &str) -> bool {
    !raw.is_empty()
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_two_letters_upper_cased() {
        assert_eq!(parse_country(" sn "), Some("SN".into()));
        assert_eq!(parse_country("SEN"), None);
        assert_eq!(parse_country("S1"), None);
    }

    #[test]
    fn slugs_are_lower_case_ascii_with_dashes() {
        assert!(is_slug("coopdev-info"));
        assert!(!is_slug("Coopdev"));
        assert!(!is_slug(""));
        assert!(!is_slug("a b"));
    }
}

/// The network part of an IP address, written as a prefix: `192.0.2.0/24`, `2001:db8:1::/48`.
/// Anything that is not an address becomes `inconnue/0`.
pub fn truncate_ip(raw: &str) -> String {
    match raw.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{net}/48")
        }
        Err(_) => "inconnue/0".into(),
    }
}

#[cfg(test)]
mod ip_tests {
    use super::truncate_ip;

    #[test]
    fn addresses_keep_only_their_network() {
        assert_eq!(truncate_ip("192.0.2.77"), "192.0.2.0/24");
        assert_eq!(truncate_ip("2001:db8:1:2:3::9"), "2001:db8:1::/48");
        assert_eq!(truncate_ip("n'importe quoi"), "inconnue/0");
    }
}
