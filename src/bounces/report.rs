//! Reading one report: a delivery status notification (RFC 3464, `multipart/report;
//! report-type=delivery-status`), a complaint (ARF, RFC 5965, `report-type=feedback-report`),
//! or one of the plain-text bounces that some mail servers still write (Exim's « This message
//! was created automatically by mail delivery software », qmail's « failure notice »…). Pure:
//! bytes in, a [`Report`] out. MIME is read by `mailparse`.

use mailparse::{MailHeaderMap, ParsedMail};

use crate::dispatch::transport::enhanced_code;

/// What a report says happened to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The address does not work (5.1.x, 5.2.1, 5.4.x…): suppress it.
    Hard,
    /// A temporary failure (4.x.x, a delay, a full mailbox): counted, suppressed after N.
    Soft,
    /// Refused for who sent it or what it held (5.7.x policy, 5.6.x content, 5.3.4 size):
    /// about us, never about the address; recorded only.
    Policy,
    /// The reader marked the message as spam (ARF `Feedback-Type: abuse`): suppress.
    Complaint,
    /// Nothing to act on: a success notice, another kind of feedback.
    Other,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Hard => "hard",
            Kind::Soft => "soft",
            Kind::Policy => "policy",
            Kind::Complaint => "complaint",
            Kind::Other => "other",
        }
    }

    /// What the desk's report of an issue calls a kind, as stored (`bounces.kind`).
    pub fn label_of(kind: &str) -> &'static str {
        match kind {
            "hard" => "rejets définitifs (adresse exclue)",
            "soft" => "rejets temporaires",
            "complaint" => "plaintes pour spam (adresse exclue)",
            "policy" => "refus liés à l'expéditeur ou au message",
            _ => "autres avis",
        }
    }

    /// Which of two recipients' outcomes decides for the report.
    fn weight(self) -> u8 {
        match self {
            Kind::Complaint => 4,
            Kind::Hard => 3,
            Kind::Policy => 2,
            Kind::Soft => 1,
            Kind::Other => 0,
        }
    }
}

/// One report, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub kind: Kind,
    /// The shape it came in: `dsn`, `arf` or `text`.
    pub format: &'static str,
    /// The RFC 3463 status (`5.1.1`), when the report gives one.
    pub status: Option<String>,
    /// The remote server's words, or the feedback type.
    pub diagnostic: Option<String>,
    /// Whom the message was for, as the report names them (lowercase).
    pub recipients: Vec<String>,
    /// Addresses that may be a VERP return path: where the report was delivered (`To`,
    /// `Delivered-To`, `X-Original-To`, `Envelope-To`), and the original's envelope sender
    /// (`Original-Mail-From`, its `Return-Path`).
    pub return_paths: Vec<String>,
    /// `Message-ID`s of the original message found in the report, `<…>` included.
    pub message_ids: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("message illisible : {0}")]
    Unreadable(String),
    #[error("ni un avis de non-remise ni une plainte")]
    NotAReport,
}

/// Reads one report.
pub fn parse(bytes: &[u8]) -> Result<Report, ReportError> {
    let mail = mailparse::parse_mail(bytes).map_err(|e| ReportError::Unreadable(e.to_string()))?;
    if mail.headers.is_empty() {
        return Err(ReportError::Unreadable("aucun en-tête".into()));
    }
    let mut found = Found::default();
    for name in [
        "Delivered-To",
        "X-Original-To",
        "Envelope-To",
        "X-Envelope-To",
        "To",
    ] {
        for value in mail.headers.get_all_values(name) {
            found.return_paths.extend(addresses_in(&value));
        }
    }
    walk(&mail, &mut found);
    for value in mail.headers.get_all_values("X-Failed-Recipients") {
        found.failed.extend(addresses_in(&value));
    }
    let subject = mail.headers.get_first_value("Subject").unwrap_or_default();
    let from = mail.headers.get_first_value("From").unwrap_or_default();
    for text in &found.texts {
        found.message_ids.extend(message_ids_in_text(text));
    }
    let (kind, format, status, diagnostic, mut recipients) = if let Some(arf) = &found.feedback {
        let feedback_type = field(arf, "Feedback-Type").unwrap_or_default();
        let kind = if feedback_type.eq_ignore_ascii_case("abuse") {
            Kind::Complaint
        } else {
            Kind::Other
        };
        let recipients = fields(arf, "Original-Rcpt-To")
            .iter()
            .flat_map(|v| addresses_in(v))
            .collect();
        found.return_paths.extend(
            fields(arf, "Original-Mail-From")
                .iter()
                .flat_map(|v| addresses_in(v)),
        );
        (
            kind,
            "arf",
            None,
            Some(format!("feedback-type: {feedback_type}")),
            recipients,
        )
    } else if let Some(dsn) = &found.delivery_status {
        let (kind, status, diagnostic, recipients) = read_delivery_status(dsn);
        (kind, "dsn", status, diagnostic, recipients)
    } else if mail.ctype.mimetype.eq_ignore_ascii_case("multipart/report") {
        return Err(ReportError::Unreadable(
            "multipart/report sans partie delivery-status ni feedback-report (message tronqué ?)"
                .into(),
        ));
    } else if found.texts.iter().all(|t| t.trim().is_empty()) {
        return Err(ReportError::Unreadable("aucun texte".into()));
    } else if looks_like_a_bounce(&subject, &from, &found) {
        let (kind, status, diagnostic) = read_plain_bounce(&found.texts);
        (kind, "text", status, diagnostic, Vec::new())
    } else {
        return Err(ReportError::NotAReport);
    };
    recipients.extend(found.failed.iter().cloned());
    dedup(&mut recipients);
    dedup(&mut found.return_paths);
    dedup(&mut found.message_ids);
    Ok(Report {
        kind,
        format,
        status,
        diagnostic,
        recipients,
        return_paths: found.return_paths,
        message_ids: found.message_ids,
    })
}

/// What the walk through the MIME tree collected.
#[derive(Default)]
struct Found {
    delivery_status: Option<Vec<u8>>,
    feedback: Option<Vec<u8>>,
    /// Decoded text parts, in order (the human part of a report, a plain-text bounce).
    texts: Vec<String>,
    return_paths: Vec<String>,
    message_ids: Vec<String>,
    failed: Vec<String>,
}

fn walk(part: &ParsedMail<'_>, found: &mut Found) {
    let mime = part.ctype.mimetype.to_ascii_lowercase();
    match mime.as_str() {
        "message/delivery-status" | "message/global-delivery-status" => {
            found.delivery_status = part.get_body_raw().ok();
        }
        "message/feedback-report" => found.feedback = part.get_body_raw().ok(),
        "message/rfc822" | "message/global" => {
            if let Ok(raw) = part.get_body_raw() {
                if let Ok(original) = mailparse::parse_mail(&raw) {
                    original_headers(&original.headers, found);
                }
            }
        }
        "text/rfc822-headers" | "message/rfc822-headers" => {
            if let Ok(raw) = part.get_body_raw() {
                if let Ok((headers, _)) = mailparse::parse_headers(&raw) {
                    original_headers(&headers, found);
                }
            }
        }
        "text/plain" => {
            if let Ok(text) = part.get_body() {
                found.texts.push(text);
            }
        }
        _ => {}
    }
    for sub in &part.subparts {
        walk(sub, found);
    }
}

fn original_headers(headers: &[mailparse::MailHeader<'_>], found: &mut Found) {
    for id in headers.get_all_values("Message-ID") {
        found.message_ids.extend(message_id(&id));
    }
    for value in headers.get_all_values("Return-Path") {
        found.return_paths.extend(addresses_in(&value));
    }
}

/// `<…>` from a Message-ID value.
fn message_id(value: &str) -> Option<String> {
    let start = value.find('<')?;
    let end = start + value[start..].find('>')?;
    let id = &value[start..=end];
    (id.len() > 2 && !id.contains(char::is_whitespace)).then(|| id.to_string())
}

/// Message-IDs quoted in a text: a bounce that copies the original's headers into its body.
fn message_ids_in_text(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("Message-ID")
                .then(|| message_id(value))
                .flatten()
        })
        .collect()
}

/// The values of `name` in the header blocks of a report part (RFC 3464 and 5965 write their
/// fields as header blocks: one for the message, then one per recipient).
fn blocks(raw: &[u8]) -> Vec<Vec<(String, String)>> {
    let mut blocks = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        // Blank lines between blocks.
        let skip = rest
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
            .count();
        rest = &rest[skip..];
        if rest.is_empty() {
            break;
        }
        let Ok((headers, used)) = mailparse::parse_headers(rest) else {
            break;
        };
        if headers.is_empty() || used == 0 {
            break;
        }
        blocks.push(
            headers
                .iter()
                .map(|h| {
                    (
                        h.get_key().to_ascii_lowercase(),
                        h.get_value().trim().to_string(),
                    )
                })
                .collect(),
        );
        rest = &rest[used.min(rest.len())..];
    }
    blocks
}

fn fields(raw: &[u8], name: &str) -> Vec<String> {
    blocks(raw)
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

fn field(raw: &[u8], name: &str) -> Option<String> {
    fields(raw, name).into_iter().next()
}

type Verdict = (Kind, Option<String>, Option<String>, Vec<String>);

/// The recipient blocks of a DSN: the most serious outcome decides, every recipient named.
fn read_delivery_status(raw: &[u8]) -> Verdict {
    let mut verdict: Option<(Kind, Option<String>, Option<String>)> = None;
    let mut recipients = Vec::new();
    for block in blocks(raw) {
        let get = |name: &str| {
            block
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let (action, final_rcpt, original_rcpt) = (
            get("action"),
            get("final-recipient"),
            get("original-recipient"),
        );
        if action.is_none() && final_rcpt.is_none() {
            continue; // the per-message block
        }
        for r in [&final_rcpt, &original_rcpt].into_iter().flatten() {
            // `rfc822; a@b.fr`
            let address = r.split_once(';').map(|(_, a)| a).unwrap_or(r);
            recipients.extend(addresses_in(address));
        }
        let diagnostic = get("diagnostic-code").map(|d| {
            let d = d.split_once(';').map(|(_, t)| t).unwrap_or(&d);
            collapse(d)
        });
        let status = get("status")
            .and_then(|s| status_code(&s))
            .or_else(|| diagnostic.as_deref().and_then(status_code));
        let kind = classify(action.as_deref(), status.as_deref());
        if verdict
            .as_ref()
            .is_none_or(|(k, _, _)| kind.weight() > k.weight())
        {
            verdict = Some((kind, status, diagnostic));
        }
    }
    let (kind, status, diagnostic) = verdict.unwrap_or((Kind::Other, None, None));
    (kind, status, diagnostic, recipients)
}

/// A DSN recipient's outcome from its `Action` and `Status`.
fn classify(action: Option<&str>, status: Option<&str>) -> Kind {
    let action = action.map(|a| a.trim().to_ascii_lowercase());
    match (action.as_deref(), status) {
        (Some("delivered" | "relayed" | "expanded"), _) => Kind::Other,
        (Some("delayed"), _) => Kind::Soft,
        (_, Some(s)) if s.starts_with("4.") => Kind::Soft,
        (_, Some(s)) if s.starts_with("5.") => permanent(s),
        (Some("failed"), _) => Kind::Hard,
        _ => Kind::Other,
    }
}

/// A 5.x.x status: about the address (hard), about us or the message (policy), or a full
/// mailbox, which empties again (soft).
fn permanent(status: &str) -> Kind {
    let mut parts = status.split('.').skip(1);
    match (parts.next(), parts.next()) {
        (Some("7" | "6"), _) | (Some("3"), Some("4")) => Kind::Policy,
        (Some("2"), Some("2")) => Kind::Soft,
        _ => Kind::Hard,
    }
}

/// The RFC 3463 code in a status field or a server's reply; for a reply with a basic code
/// only (`550 User unknown`), its class (`5.0.0`).
fn status_code(text: &str) -> Option<String> {
    // `550-5.1.1 …` (a multi-line reply quoted whole) reads as `550 5.1.1`.
    let spaced = text.replace('-', " ");
    enhanced_code(&spaced).or_else(|| {
        spaced
            .split_whitespace()
            .find(|w| w.len() == 3 && w.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|w| match w.as_bytes()[0] {
                b'4' => Some("4.0.0".to_string()),
                b'5' => Some("5.0.0".to_string()),
                _ => None,
            })
    })
}

/// Whether a message with neither a DSN nor an ARF part is a bounce written as plain text.
fn looks_like_a_bounce(subject: &str, from: &str, found: &Found) -> bool {
    let subject = subject.to_ascii_lowercase();
    let from = from.to_ascii_lowercase();
    let text = found.texts.join("\n").to_ascii_lowercase();
    !found.failed.is_empty()
        || from.contains("mailer-daemon")
        || (from.contains("postmaster") && subject.contains("deliver"))
        || text.contains("created automatically by mail delivery software")
        || [
            "mail delivery failed",
            "undeliverable",
            "undelivered mail",
            "delivery status notification",
            "returned mail",
            "failure notice",
            "delivery failure",
        ]
        .iter()
        .any(|s| subject.contains(s))
}

/// A plain-text bounce: the first status or reply code in the explanation (before the copy of
/// the original), and its words about permanence.
fn read_plain_bounce(texts: &[String]) -> (Kind, Option<String>, Option<String>) {
    let text = texts.join("\n");
    let explanation = ORIGINAL_MARKERS
        .iter()
        .filter_map(|m| text.find(m))
        .min()
        .map_or(text.as_str(), |end| &text[..end]);
    let lower = explanation.to_ascii_lowercase();
    // The server's reply as quoted (`550 5.1.1 …`), else the first line holding a status
    // (qmail's `Remote host said: 550 5.1.1 …`).
    let reply_line = explanation
        .lines()
        .map(str::trim)
        .find(|line| status_code_at_start(line))
        .or_else(|| {
            explanation
                .lines()
                .map(str::trim)
                .find(|line| enhanced_code(&line.replace('-', " ")).is_some())
        })
        .map(collapse);
    let status = reply_line.as_deref().and_then(status_code);
    let delayed = lower.contains("has not yet been delivered")
        || lower.contains("delayed")
        || lower.contains("will keep trying")
        || lower.contains("temporary");
    let kind = match status.as_deref() {
        Some(s) if s.starts_with("4.") => Kind::Soft,
        Some(s) if s.starts_with("5.") && !delayed => permanent(s),
        _ if delayed => Kind::Soft,
        _ if lower.contains("permanent") || lower.contains("could not be delivered") => Kind::Hard,
        _ => Kind::Other,
    };
    (kind, status, reply_line)
}

/// Where plain-text bounces start their copy of the original message.
const ORIGINAL_MARKERS: &[&str] = &[
    "------ This is a copy of the message",
    "--- Below this line is a copy of the message",
    "----- Original message -----",
    "------ Original message ------",
];

/// A server's reply quoted in a bounce: `550 5.1.1 …`, `550-5.1.1 …`, `554 …`.
fn status_code_at_start(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 4
        && matches!(b[0], b'4' | b'5')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && matches!(b[3], b' ' | b'-')
}

/// Addresses in a header or field value (`Nom <a@b.fr>, c@d.fr`), lowercase.
fn addresses_in(value: &str) -> Vec<String> {
    value
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '"' | '(' | ')'))
        .map(|w| w.trim_matches(|c: char| c == '.' || c == ':' || c == '\''))
        .filter(|w| {
            w.len() >= 3 && w.matches('@').count() == 1 && !w.starts_with('@') && !w.ends_with('@')
        })
        .map(str::to_ascii_lowercase)
        .collect()
}

/// One line, spaces collapsed, at most 300 characters: a diagnostic as stored and shown.
fn collapse(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.join(" ").chars().take(300).collect()
}

fn dedup(list: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    list.retain(|x| seen.insert(x.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Report {
        let path = format!(
            "{}/tests/fixtures/bounces/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    // The delivery the fixtures are about; integration tests put a real one in their place.
    const ID: &str = "<relais.7.42@occitanie-cooperation.fr>";
    const VERP: &str = "b-42-5f1e0c9a7d3b@rebonds.occitanie-cooperation.fr";
    const RCPT: &str = "lecteur@example.net";

    #[test]
    fn postfix_dsn_is_a_hard_bounce_with_its_recipient_and_original() {
        let r = fixture("postfix-dsn.eml");
        assert_eq!((r.kind, r.format), (Kind::Hard, "dsn"));
        assert_eq!(r.status.as_deref(), Some("5.1.1"));
        assert!(
            r.diagnostic.as_deref().unwrap().contains("User unknown"),
            "{r:?}"
        );
        assert_eq!(r.recipients, vec![RCPT]);
        assert_eq!(r.message_ids, vec![ID]);
        assert!(r.return_paths.iter().any(|a| a == VERP), "{r:?}");
    }

    #[test]
    fn exim_plain_text_bounce_is_read_from_its_words() {
        let r = fixture("exim-plain.eml");
        assert_eq!((r.kind, r.format), (Kind::Hard, "text"));
        assert_eq!(r.status.as_deref(), Some("5.1.1"));
        assert_eq!(r.recipients, vec![RCPT]);
        assert_eq!(r.message_ids, vec![ID]);
    }

    #[test]
    fn qmail_failure_notice_is_read_from_its_words() {
        let r = fixture("qmail-failure.eml");
        assert_eq!((r.kind, r.format), (Kind::Hard, "text"));
        assert_eq!(r.status.as_deref(), Some("5.1.1"));
        assert!(r
            .diagnostic
            .as_deref()
            .unwrap()
            .starts_with("Remote host said: 550 5.1.1"));
        assert_eq!(r.message_ids, vec![ID]);
        assert!(r.return_paths.iter().any(|a| a == VERP), "{r:?}");
    }

    #[test]
    fn gmail_dsn_reads_the_multiline_reply() {
        let r = fixture("gmail-dsn.eml");
        assert_eq!((r.kind, r.format), (Kind::Hard, "dsn"));
        assert_eq!(r.status.as_deref(), Some("5.1.1"));
        assert!(r.diagnostic.as_deref().unwrap().contains("does not exist"));
        assert_eq!(r.message_ids, vec![ID]);
    }

    #[test]
    fn outlook_ndr_has_a_three_digit_detail() {
        let r = fixture("outlook-ndr.eml");
        assert_eq!((r.kind, r.format), (Kind::Hard, "dsn"));
        assert_eq!(r.status.as_deref(), Some("5.1.10"));
        assert_eq!(r.message_ids, vec![ID]);
    }

    #[test]
    fn a_delay_notice_is_soft() {
        let r = fixture("postfix-delayed.eml");
        assert_eq!((r.kind, r.status.as_deref()), (Kind::Soft, Some("4.4.1")));
    }

    #[test]
    fn a_policy_refusal_is_recorded_not_held_against_the_address() {
        let r = fixture("policy-571.eml");
        assert_eq!((r.kind, r.status.as_deref()), (Kind::Policy, Some("5.7.1")));
    }

    #[test]
    fn an_arf_abuse_report_is_a_complaint_with_the_original_sender() {
        let r = fixture("arf-abuse.eml");
        assert_eq!((r.kind, r.format), (Kind::Complaint, "arf"));
        assert_eq!(r.message_ids, vec![ID]);
        assert!(r.return_paths.iter().any(|a| a == VERP), "{r:?}");
    }

    #[test]
    fn a_report_about_someone_else_still_parses() {
        let r = fixture("unrelated-dsn.eml");
        assert_eq!(r.kind, Kind::Hard);
        assert_eq!(r.message_ids, vec!["<20261130.ABC123@autre.example>"]);
    }

    #[test]
    fn a_malformed_report_or_an_ordinary_message_is_refused() {
        let path = format!(
            "{}/tests/fixtures/bounces/malformed.eml",
            env!("CARGO_MANIFEST_DIR")
        );
        assert!(parse(&std::fs::read(path).unwrap()).is_err());
        assert_eq!(
            parse(b"From: ami@example.org\r\nSubject: Bonjour\r\n\r\nMerci pour la lettre !\r\n"),
            Err(ReportError::NotAReport)
        );
        assert!(matches!(parse(b""), Err(ReportError::Unreadable(_))));
    }

    #[test]
    fn any_cut_or_damage_of_a_report_gives_an_answer_not_a_panic() {
        let dir = format!("{}/tests/fixtures/bounces", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let step = bytes.len() / 60 + 1;
            for cut in (0..bytes.len()).step_by(step) {
                let _ = parse(&bytes[..cut]);
                let mut damaged = bytes.clone();
                damaged[cut] ^= 0x80;
                if let Ok(r) = parse(&damaged) {
                    assert!(r
                        .message_ids
                        .iter()
                        .all(|id| id.starts_with('<') && id.ends_with('>')));
                }
            }
        }
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(Some("failed"), Some("5.1.1")), Kind::Hard);
        assert_eq!(classify(Some("failed"), Some("5.7.26")), Kind::Policy);
        assert_eq!(classify(Some("failed"), Some("5.2.2")), Kind::Soft);
        assert_eq!(classify(Some("failed"), Some("4.4.7")), Kind::Soft);
        assert_eq!(classify(Some("delayed"), None), Kind::Soft);
        assert_eq!(classify(Some("delivered"), Some("2.0.0")), Kind::Other);
        assert_eq!(classify(Some("failed"), None), Kind::Hard);
        assert_eq!(
            status_code("smtp; 550 User unknown").as_deref(),
            Some("5.0.0")
        );
    }
}
