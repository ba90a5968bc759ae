//! VERP return paths: each newsletter delivery leaves with its own envelope sender,
//! `b-<delivery id>-<tag>@<bounce_domain>`, where the tag is a short HMAC of the id under the
//! server's secret. A bounce sent back to that address names its delivery, and nobody without
//! the secret can make an address that names another one.

use crate::audience::Signer;

const PURPOSE: &str = "verp";
/// Hex digits of HMAC in the address: 48 bits, far beyond guessing by sending reports.
const TAG_LEN: usize = 12;

/// The envelope sender of delivery `id`.
pub fn address(signer: &Signer, id: i64, domain: &str) -> String {
    format!(
        "b-{id}-{}@{domain}",
        signer.short_tag(PURPOSE, &id.to_string(), TAG_LEN)
    )
}

/// What an address says about a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verp {
    /// A VERP address whose tag is right: this delivery.
    Delivery(i64),
    /// Shaped like one but its tag is wrong: forged or damaged, trusted for nothing.
    Forged,
}

/// Reads a VERP address (any domain: the setting may have changed since the send; any case:
/// some relays fold local parts). `None`: not a VERP address at all.
pub fn parse(signer: &Signer, address: &str) -> Option<Verp> {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, _domain) = address.rsplit_once('@')?;
    let rest = local
        .strip_prefix("b-")
        .or_else(|| local.strip_prefix("B-"))?;
    let (id, tag) = rest.split_once('-')?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let Ok(id) = id.parse::<i64>() else {
        return Some(Verp::Forged);
    };
    if signer.verify_short_tag(PURPOSE, &id.to_string(), tag, TAG_LEN) {
        Some(Verp::Delivery(id))
    } else {
        Some(Verp::Forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_names_its_delivery_and_a_changed_one_is_forged() {
        let signer = Signer::new("0123456789abcdef0123456789abcdef");
        let a = address(&signer, 42, "rebonds.example.org");
        assert!(
            a.starts_with("b-42-") && a.ends_with("@rebonds.example.org"),
            "{a}"
        );
        assert_eq!(parse(&signer, &a), Some(Verp::Delivery(42)));
        assert_eq!(
            parse(&signer, &format!("<{}>", a.to_uppercase())),
            Some(Verp::Delivery(42)),
            "case folded by a relay"
        );
        let other = a.replacen("b-42-", "b-43-", 1);
        assert_eq!(parse(&signer, &other), Some(Verp::Forged));
        let short = format!("b-42-{}@x.org", &a[5..7]);
        assert_eq!(parse(&signer, &short), Some(Verp::Forged));
        assert_eq!(
            parse(&Signer::new("another secret of at least 32 bytes"), &a),
            Some(Verp::Forged)
        );
        assert_eq!(parse(&signer, "lettres@example.org"), None);
        assert_eq!(parse(&signer, "b-team@example.org"), None);
    }
}
