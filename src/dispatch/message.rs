//! The MIME message of one delivery: multipart/alternative (text, then HTML, both
//! quoted-printable) with the list headers of RFC 2369, 2919 and 8058, a deterministic
//! Message-ID and optional DKIM.
//!
//! A copy of an issue is encoded once ([`Template`]): its header fields shared by every
//! reader, and its parts cut at the per-recipient values, each fixed piece encoded on its own
//! and ended by a soft line break, so that a value encoded alone can go between two pieces.
//! A message is then the pieces and its values copied into one buffer, instead of the whole
//! 50 KB being encoded again for each reader.

use lettre::message::header::{self, HeaderName, HeaderValue, Headers};
use lettre::message::{Mailbox, Mailboxes};

use super::dkim::DkimSigner;
use crate::render::{Piece, Value, Values};

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

fn raw(headers: &mut Headers, name: &'static str, value: String) {
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str(name),
        value,
    ));
}

/// What every message made from one copy shares.
pub struct Common<'a> {
    pub from: &'a Mailbox,
    pub subject: &'a str,
    /// A list message (an issue), or a transactional one: no list headers, since it must not
    /// offer to unsubscribe from a list.
    pub list: Option<List<'a>>,
}

pub struct List<'a> {
    pub id: &'a str,
    /// An address that takes unsubscribe requests by mail, offered after the URL.
    pub unsubscribe_mailto: Option<&'a str>,
}

/// What differs from one message to the next besides the values in the parts.
pub struct Personal<'a> {
    pub to: &'a str,
    pub message_id: &'a str,
    /// Required for a list message.
    pub unsubscribe_url: Option<&'a str>,
}

#[derive(Debug)]
enum Chunk {
    /// Already encoded, lines ending in CRLF or a soft line break.
    Fixed(String),
    Html(Value),
    Text(Value),
}

/// A copy of an issue (or a transactional mail) encoded once.
#[derive(Debug)]
pub struct Template {
    head: String,
    body: Vec<Chunk>,
    unsubscribe_mailto: Option<String>,
    list: bool,
    size: usize,
}

/// Quoted-printable of one piece of a part, lines ending in CRLF; `soft_end` ends it with a
/// soft line break so that what follows starts a line of its own.
fn encode_piece(out: &mut String, piece: &str, soft_end: bool) {
    if piece.is_empty() {
        return;
    }
    let crlf = piece.replace("\r\n", "\n").replace('\n', "\r\n");
    out.push_str(&quoted_printable::encode_to_str(crlf));
    if soft_end && !out.ends_with("\r\n") {
        out.push_str("=\r\n");
    }
}

impl Template {
    pub fn new(common: Common<'_>, html: &[Piece<'_>], text: &[Piece<'_>]) -> Self {
        let boundary = format!("=_relais_{}", hex::encode(rand::random::<[u8; 12]>()));
        let mut headers = Headers::new();
        headers.set(header::From::from(Mailboxes::from(common.from.clone())));
        headers.set(header::Subject::from(common.subject.to_string()));
        match &common.list {
            Some(list) => {
                raw(&mut headers, "List-Id", list.id.to_string());
                raw(
                    &mut headers,
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click".into(),
                );
            }
            None => raw(&mut headers, "Auto-Submitted", "auto-generated".into()),
        }
        headers.set(header::MIME_VERSION_1_0);
        raw(
            &mut headers,
            "Content-Type",
            format!("multipart/alternative; boundary=\"{boundary}\""),
        );
        let mut body = Vec::new();
        let mut fixed = String::new();
        for (kind, pieces) in [("plain", text), ("html", html)] {
            fixed.push_str(&format!(
                "--{boundary}\r\nContent-Type: text/{kind}; charset=utf-8\r\n\
                 Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            ));
            for (n, piece) in pieces.iter().enumerate() {
                match piece {
                    Piece::Fixed(s) => encode_piece(&mut fixed, s, n + 1 < pieces.len()),
                    Piece::Value(value) => {
                        body.push(Chunk::Fixed(std::mem::take(&mut fixed)));
                        body.push(match kind {
                            "html" => Chunk::Html(*value),
                            _ => Chunk::Text(*value),
                        });
                    }
                }
            }
            fixed.push_str("\r\n");
        }
        fixed.push_str(&format!("--{boundary}--\r\n"));
        body.push(Chunk::Fixed(fixed));
        let head = headers.to_string();
        let size = head.len()
            + body
                .iter()
                .map(|c| match c {
                    Chunk::Fixed(s) => s.len(),
                    _ => 0,
                })
                .sum::<usize>();
        Template {
            head,
            body,
            unsubscribe_mailto: common
                .list
                .as_ref()
                .and_then(|l| l.unsubscribe_mailto.map(str::to_string)),
            list: common.list.is_some(),
            size,
        }
    }

    /// One reader's message, signed when a DKIM key is given.
    pub fn message(
        &self,
        personal: &Personal<'_>,
        values: &Values,
        dkim: Option<&DkimSigner>,
    ) -> Result<Vec<u8>, MessageError> {
        let to: Mailbox = personal
            .to
            .parse()
            .map_err(|err| MessageError::Recipient(format!("{}: {err}", personal.to)))?;
        let mut headers = Headers::new();
        headers.set(header::To::from(Mailboxes::from(to)));
        headers.set(header::Date::now());
        headers.set(header::MessageId::from(personal.message_id.to_string()));
        if self.list {
            let url = personal.unsubscribe_url.ok_or_else(|| {
                MessageError::Build("un message de liste demande un lien de désinscription".into())
            })?;
            raw(
                &mut headers,
                "List-Unsubscribe",
                list_unsubscribe(url, self.unsubscribe_mailto.as_deref()),
            );
        }
        let mut out = String::with_capacity(self.size + 2048);
        out.push_str(&self.head);
        out.push_str(&headers.to_string());
        out.push_str("\r\n");
        for chunk in &self.body {
            match chunk {
                Chunk::Fixed(s) => out.push_str(s),
                Chunk::Html(v) => encode_piece(&mut out, values.html(*v), true),
                Chunk::Text(v) => encode_piece(&mut out, values.text(*v), true),
            }
        }
        let bytes = out.into_bytes();
        match dkim {
            Some(dkim) => dkim
                .sign(bytes)
                .map_err(|e| MessageError::Build(e.to_string())),
            None => Ok(bytes),
        }
    }
}

/// The DKIM key relais signs with (see [`DkimSigner`]).
pub fn dkim_config(pem: &str, selector: &str, domain: &str) -> anyhow::Result<DkimSigner> {
    DkimSigner::from_pem(pem, selector, domain)
}

/// A whole message from finished parts (a preview, a transactional mail): a template
/// without per-recipient values.
pub fn build(
    common: Common<'_>,
    personal: &Personal<'_>,
    html: &str,
    text: &str,
    dkim: Option<&DkimSigner>,
) -> Result<Vec<u8>, MessageError> {
    Template::new(common, &[Piece::Fixed(html)], &[Piece::Fixed(text)]).message(
        personal,
        &Values::default(),
        dkim,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{Recipient, RenderedIssue};

    // A throwaway 1024-bit key made for these tests only, in both encodings.
    const PKCS1: &str = include_str!("../../tests/fixtures/dkim/test-key-pkcs1.pem");
    const PKCS8: &str = include_str!("../../tests/fixtures/dkim/test-key-pkcs8.pem");

    #[test]
    fn dkim_keys_are_read_in_pkcs1_and_pkcs8() {
        let message = b"From: a@example.org\r\nTo: b@example.org\r\n\r\nCorps\r\n";
        let b = |pem| {
            let header = dkim_config(pem, "relais", "example.org")
                .unwrap()
                .signature(message)
                .unwrap();
            header.split("b=").last().unwrap().to_string()
        };
        // PKCS#1 v1.5 signatures are deterministic: the same key signs the same bytes alike
        // (unless the second changed between the two, which the timestamp would show).
        assert_eq!(b(PKCS1), b(PKCS8));
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

    #[test]
    fn a_message_from_the_encoded_copy_reads_as_the_personalised_copy() {
        let long = "Appel à projets « coopération » — ".repeat(12);
        let html = format!(
            "<p>__RELAIS_GREETING__ lisez</p>\n<p>{long}</p>\n\
             <a href=\"__RELAIS_UNSUBSCRIBE_URL__\">désinscription</a>\
             <a href=\"__RELAIS_PREFERENCES_URL__\">préférences</a>=x  \n"
        );
        let text = format!("__RELAIS_GREETING__ lisez\n\n{long}\n__RELAIS_UNSUBSCRIBE_URL__");
        let copy = RenderedIssue::new("Sujet é".into(), String::new(), html, text);
        let from: Mailbox = "Lettre <lettre@example.org>".parse().unwrap();
        let template = Template::new(
            Common {
                from: &from,
                subject: "Le numéro d'été",
                list: Some(List {
                    id: "Info <info.example.org>",
                    unsubscribe_mailto: Some("desinscription@example.org"),
                }),
            },
            &copy.html_pieces(),
            &copy.text_pieces(),
        );
        let recipient = Recipient {
            name: "Zoé <Ndiaye> & co",
            unsubscribe_url: "https://example.org/desinscription/abc=def?x=1&y=2",
            preferences_url: "https://example.org/preferences/abc",
        };
        let bytes = template
            .message(
                &Personal {
                    to: "zoe@example.org",
                    message_id: "<relais.1.2@example.org>",
                    unsubscribe_url: Some(recipient.unsubscribe_url),
                },
                &recipient.values(),
                None,
            )
            .unwrap();
        let raw = String::from_utf8(bytes.clone()).unwrap();
        assert!(raw.is_ascii());
        for line in raw.split("\r\n") {
            assert!(line.len() <= 78, "{line:?}");
            assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
        }
        let mail = mailparse::parse_mail(&bytes).unwrap();
        let header = |name: &str| {
            use mailparse::MailHeaderMap;
            mail.headers.get_first_value(name).unwrap()
        };
        assert_eq!(header("Subject"), "Le numéro d'été");
        assert_eq!(header("To"), "zoe@example.org");
        assert_eq!(header("Message-ID"), "<relais.1.2@example.org>");
        assert_eq!(
            header("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click"
        );
        assert!(header("List-Unsubscribe")
            .starts_with("<https://example.org/desinscription/abc=def?x=1&y=2>, <mailto:"));
        let (html, text) = copy.personalise(&recipient);
        let crlf = |s: String| s.replace('\n', "\r\n");
        assert_eq!(mail.subparts.len(), 2);
        assert_eq!(mail.subparts[0].ctype.mimetype, "text/plain");
        assert_eq!(mail.subparts[0].get_body().unwrap(), crlf(text));
        assert_eq!(mail.subparts[1].ctype.mimetype, "text/html");
        assert_eq!(mail.subparts[1].get_body().unwrap(), crlf(html));
    }

    #[test]
    fn a_transactional_message_has_no_list_headers() {
        let from: Mailbox = "Lettre <lettre@example.org>".parse().unwrap();
        let bytes = build(
            Common {
                from: &from,
                subject: "Confirmez",
                list: None,
            },
            &Personal {
                to: "zoe@example.org",
                message_id: "<m@example.org>",
                unsubscribe_url: None,
            },
            "<p>Lien</p>",
            "Lien",
            None,
        )
        .unwrap();
        let raw = String::from_utf8(bytes).unwrap();
        assert!(raw.contains("Auto-Submitted: auto-generated\r\n"), "{raw}");
        assert!(!raw.contains("List-"), "{raw}");
        assert!(raw.contains("\r\n\r\nLien\r\n--"), "{raw}");
    }
}
