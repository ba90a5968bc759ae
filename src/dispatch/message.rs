//! Building the MIME message of one delivery: multipart/alternative (text, then HTML) with the
//! list headers of RFC 2369, 2919 and 8058, a deterministic Message-ID and optional DKIM.

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::Message;

/// Everything that makes one recipient's message.
pub struct Envelope<'a> {
    pub from: &'a Mailbox,
    pub to: &'a str,
    pub subject: &'a str,
    pub message_id: &'a str,
    pub list_id: &'a str,
    pub unsubscribe_url: &'a str,
    /// An address that takes unsubscribe requests by mail, offered after the URL.
    pub unsubscribe_mailto: Option<&'a str>,
    pub html: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("adresse du destinataire invalide : {0}")]
    Recipient(String),
    #[error("message impossible à construire : {0}")]
    Build(String),
}

/// Validates an address such as `Nom <a@b.fr>` (used by configuration checks).
pub fn parse_mailbox(raw: &str) -> Result<Mailbox, String> {
    raw.parse::<Mailbox>().map_err(|e| e.to_string())
}

/// RFC 8058: exactly one HTTPS URL, optionally followed by a mailto whose subject carries the
/// same signed token, so a mailed request can be traced to one subscription.
fn list_unsubscribe(url: &str, mailto: Option<&str>) -> String {
    match mailto {
        Some(address) => {
            let token = url.rsplit('/').next().unwrap_or("");
            format!("<{url}>, <mailto:{address}?subject=desinscription%20{token}>")
        }
        None => format!("<{url}>"),
    }
}

fn header(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

pub fn build_message(
    e: Envelope<'_>,
    dkim: Option<&lettre::message::dkim::DkimConfig>,
) -> Result<Message, MessageError> {
    let to: Mailbox =
        e.to.parse()
            .map_err(|err| MessageError::Recipient(format!("{}: {err}", e.to)))?;
    let mut message = Message::builder()
        .from(e.from.clone())
        .to(to)
        .subject(e.subject)
        .date_now()
        .message_id(Some(e.message_id.to_string()))
        .raw_header(header("List-Id", e.list_id.to_string()))
        .raw_header(header(
            "List-Unsubscribe",
            list_unsubscribe(e.unsubscribe_url, e.unsubscribe_mailto),
        ))
        .raw_header(header(
            "List-Unsubscribe-Post",
            "List-Unsubscribe=One-Click".into(),
        ))
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(e.text))
                .singlepart(SinglePart::html(e.html)),
        )
        .map_err(|err| MessageError::Build(err.to_string()))?;
    if let Some(dkim) = dkim {
        message.sign(dkim);
    }
    Ok(message)
}

/// The DKIM configuration relais signs with: RSA, relaxed/relaxed, covering the headers that
/// RFC 8058 requires for one-click unsubscribe to be honoured.
pub fn dkim_config(
    pem: &str,
    selector: &str,
    domain: &str,
) -> anyhow::Result<lettre::message::dkim::DkimConfig> {
    use lettre::message::dkim::*;
    let pkcs1 = rsa_key_as_pkcs1(pem)?;
    let key = DkimSigningKey::new(&pkcs1, DkimSigningAlgorithm::Rsa)
        .map_err(|e| anyhow::anyhow!("DKIM key: {e}"))?;
    let headers = [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ]
    .into_iter()
    .map(HeaderName::new_from_ascii_str)
    .collect();
    Ok(DkimConfig::new(
        selector.to_string(),
        domain.to_string(),
        key,
        headers,
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

/// The RSA key in PKCS#1 PEM, as lettre reads it. Operators have either form: `openssl
/// genrsa` writes PKCS#8 (`BEGIN PRIVATE KEY`) since OpenSSL 3, older tools and
/// `openssl genrsa -traditional` write PKCS#1 (`BEGIN RSA PRIVATE KEY`).
fn rsa_key_as_pkcs1(pem: &str) -> anyhow::Result<String> {
    use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
    use rsa::pkcs8::DecodePrivateKey;
    const FORMATS: &str = "expected an RSA private key in PEM, PKCS#1 (BEGIN RSA PRIVATE KEY) or PKCS#8 (BEGIN PRIVATE KEY)";
    let key = if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
        rsa::RsaPrivateKey::from_pkcs1_pem(pem)
            .map_err(|e| anyhow::anyhow!("DKIM key: not a valid PKCS#1 RSA key ({e}); {FORMATS}"))?
    } else if pem.contains("-----BEGIN PRIVATE KEY-----") {
        rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|e| anyhow::anyhow!("DKIM key: not a valid PKCS#8 RSA key ({e}); {FORMATS}"))?
    } else {
        anyhow::bail!("DKIM key: {FORMATS}");
    };
    Ok(key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("DKIM key: {e}"))?
        .to_string())
}

/// A transactional message (a confirmation link…): no list headers, since it is not a list
/// message and must not offer to unsubscribe from one; signed when DKIM is configured.
pub fn build_transactional(
    from: &Mailbox,
    to: &str,
    subject: &str,
    message_id: &str,
    html: String,
    text: String,
    dkim: Option<&lettre::message::dkim::DkimConfig>,
) -> Result<Message, MessageError> {
    let to: Mailbox = to
        .parse()
        .map_err(|err| MessageError::Recipient(format!("{to}: {err}")))?;
    let mut message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .date_now()
        .message_id(Some(message_id.to_string()))
        .raw_header(header("Auto-Submitted", "auto-generated".into()))
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(text))
                .singlepart(SinglePart::html(html)),
        )
        .map_err(|err| MessageError::Build(err.to_string()))?;
    if let Some(dkim) = dkim {
        message.sign(dkim);
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway 1024-bit key made for these tests only, in both encodings.
    const PKCS1: &str = include_str!("../../tests/fixtures/dkim/test-key-pkcs1.pem");
    const PKCS8: &str = include_str!("../../tests/fixtures/dkim/test-key-pkcs8.pem");

    #[test]
    fn dkim_keys_are_read_in_pkcs1_and_pkcs8() {
        assert_eq!(
            rsa_key_as_pkcs1(PKCS8).unwrap(),
            rsa_key_as_pkcs1(PKCS1).unwrap()
        );
        assert!(dkim_config(PKCS8, "relais", "example.org").is_ok());
        assert!(dkim_config(PKCS1, "relais", "example.org").is_ok());
    }

    #[test]
    fn a_key_in_another_format_names_the_formats_read() {
        let e = dkim_config(
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
            "s",
            "d",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("PKCS#1") && e.contains("PKCS#8"), "{e}");
        let broken = PKCS8.replace("MII", "XXX");
        let e = dkim_config(&broken, "s", "d").err().unwrap().to_string();
        assert!(e.contains("PKCS#8"), "{e}");
    }
}
