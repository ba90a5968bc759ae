//! Email addresses, validated and normalised once at the edge.

use std::fmt;

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    #[error("adresse vide")]
    Empty,
    #[error("adresse trop longue (254 caractères au plus)")]
    TooLong,
    #[error("il manque le @ ou la partie avant ou après")]
    Shape,
    #[error("caractère non permis dans la partie avant le @")]
    LocalPart,
    #[error("les lettres accentuées ou non latines ne sont pas acceptées avant le @ : nos envois ne peuvent pas encore les acheminer")]
    NonAsciiLocalPart,
    #[error("nom de domaine invalide")]
    Domain,
}

impl EmailAddress {
    /// Validates syntax and length, converts an internationalised domain to its ASCII form
    /// and lower-cases the whole address, so that one person has one stored form. The part
    /// before the @ must be ASCII: such an address needs SMTPUTF8 end to end, which we do
    /// not send, and raw 8-bit in an envelope gets mail lost or misrouted.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(EmailError::Empty);
        }
        let (local, domain) = raw.rsplit_once('@').ok_or(EmailError::Shape)?;
        if local.is_empty() || domain.is_empty() {
            return Err(EmailError::Shape);
        }
        if !local.is_ascii() && local.chars().all(|c| c.is_alphanumeric() || c.is_ascii()) {
            return Err(EmailError::NonAsciiLocalPart);
        }
        if local.len() > 64
            || !local.chars().all(is_local_char)
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(EmailError::LocalPart);
        }
        let domain =
            idna::domain_to_ascii(domain.trim_end_matches('.')).map_err(|_| EmailError::Domain)?;
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(EmailError::Domain);
        }
        let address = format!("{}@{}", local.to_lowercase(), domain.to_ascii_lowercase());
        if address.len() > 254 {
            return Err(EmailError::TooLong);
        }
        Ok(Self(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hash kept after erasure, so an import cannot silently re-add the person.
    pub fn hash(&self) -> String {
        hash_stored(&self.0)
    }
}

/// The hash of an address as stored (already normalised), without parsing it again: rows
/// written before a rule tightened must still hash as they did.
pub fn hash_stored(stored: &str) -> String {
    hex::encode(Sha256::digest(stored.as_bytes()))
}

fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_lower_cased_and_trimmed() {
        let email = EmailAddress::parse("  Marie.Dupont@Example.ORG ").unwrap();
        assert_eq!(email.as_str(), "marie.dupont@example.org");
    }

    #[test]
    fn internationalised_domains_become_ascii() {
        let email = EmailAddress::parse("contact@coopération.fr").unwrap();
        assert_eq!(email.as_str(), "contact@xn--coopration-e7a.fr");
    }

    #[test]
    fn malformed_addresses_are_refused_with_a_reason() {
        assert_eq!(EmailAddress::parse(""), Err(EmailError::Empty));
        assert_eq!(EmailAddress::parse("marie"), Err(EmailError::Shape));
        assert_eq!(EmailAddress::parse("@example.org"), Err(EmailError::Shape));
        assert_eq!(
            EmailAddress::parse("marie@localhost"),
            Err(EmailError::Domain)
        );
        assert_eq!(
            EmailAddress::parse("ma rie@example.org"),
            Err(EmailError::LocalPart)
        );
        assert_eq!(
            EmailAddress::parse("marie..d@example.org"),
            Err(EmailError::LocalPart)
        );
        assert_eq!(
            EmailAddress::parse("marie@-bad-.org"),
            Err(EmailError::Domain)
        );
        let long = format!(
            "{}@{}.org",
            "a".repeat(64),
            "b".repeat(63) + "." + &"c".repeat(63) + "." + &"d".repeat(63)
        );
        assert_eq!(EmailAddress::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn a_non_ascii_local_part_is_refused_but_an_international_domain_is_converted() {
        assert_eq!(
            EmailAddress::parse("andré@example.org"),
            Err(EmailError::NonAsciiLocalPart)
        );
        assert_eq!(
            EmailAddress::parse("用户@例子.中国"),
            Err(EmailError::NonAsciiLocalPart)
        );
        assert_eq!(
            EmailAddress::parse("nul\0l@example.org"),
            Err(EmailError::LocalPart)
        );
        assert_eq!(
            EmailAddress::parse("andre@coopération.fr")
                .unwrap()
                .as_str(),
            "andre@xn--coopration-e7a.fr"
        );
    }

    #[test]
    fn the_same_person_hashes_the_same_whatever_the_case() {
        let a = EmailAddress::parse("Marie@Example.org").unwrap();
        let b = EmailAddress::parse("marie@example.org").unwrap();
        assert_eq!(a.hash(), b.hash());
    }
}
