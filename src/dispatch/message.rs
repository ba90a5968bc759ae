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
    let key = DkimSigningKey::new(pem, DkimSigningAlgorithm::Rsa)
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
