//! DKIM signatures (RFC 6376): RSA-SHA256, relaxed/relaxed, over a message as it will leave.
//! Signing a whole formatted message rather than lettre's `Message` lets messages assembled
//! from pre-encoded pieces be signed too, and RSA goes through ring (already in the tree for
//! TLS), several times faster than the pure-Rust `rsa` crate; keys ring refuses (under 2048
//! bits) are still signed with `rsa`.

use base64::Engine;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

/// The headers relais signs, among them those RFC 8058 requires for one-click unsubscribe
/// to be honoured.
pub const SIGNED_HEADERS: [&str; 8] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

enum Key {
    Ring(RsaKeyPair),
    /// Under 2048 bits, which ring does not sign with.
    Small(rsa::RsaPrivateKey),
}

/// A key with its selector and domain.
pub struct DkimSigner {
    selector: String,
    domain: String,
    key: Key,
    rng: ring::rand::SystemRandom,
}

impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSigner")
            .field("selector", &self.selector)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// DER prefix of a SHA-256 DigestInfo (RFC 8017, 9.2), for the `rsa` crate's raw PKCS#1 v1.5.
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

impl DkimSigner {
    /// An RSA private key in PEM, PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE
    /// KEY`): `openssl genrsa` writes PKCS#8 since OpenSSL 3, older tools PKCS#1.
    pub fn from_pem(pem: &str, selector: &str, domain: &str) -> anyhow::Result<Self> {
        use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
        use rsa::pkcs8::DecodePrivateKey;
        const FORMATS: &str = "expected an RSA private key in PEM, PKCS#1 (BEGIN RSA PRIVATE KEY) or PKCS#8 (BEGIN PRIVATE KEY)";
        let key = if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
            rsa::RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| {
                anyhow::anyhow!("DKIM key: not a valid PKCS#1 RSA key ({e}); {FORMATS}")
            })?
        } else if pem.contains("-----BEGIN PRIVATE KEY-----") {
            rsa::RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| {
                anyhow::anyhow!("DKIM key: not a valid PKCS#8 RSA key ({e}); {FORMATS}")
            })?
        } else {
            anyhow::bail!("DKIM key: {FORMATS}");
        };
        let der = key
            .to_pkcs1_der()
            .map_err(|e| anyhow::anyhow!("DKIM key: {e}"))?;
        let key = match RsaKeyPair::from_der(der.as_bytes()) {
            Ok(pair) => Key::Ring(pair),
            Err(_) if rsa::traits::PublicKeyParts::size(&key) < 256 => Key::Small(key),
            Err(e) => anyhow::bail!("DKIM key: {e}"),
        };
        Ok(Self {
            selector: selector.to_string(),
            domain: domain.to_string(),
            key,
            rng: ring::rand::SystemRandom::new(),
        })
    }

    /// The message with its `DKIM-Signature` header in front. `message` is the whole message
    /// as sent: headers, an empty line, the body, lines ending in CRLF.
    pub fn sign(&self, message: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let header = self.signature(&message)?;
        let mut signed = Vec::with_capacity(header.len() + message.len());
        signed.extend_from_slice(header.as_bytes());
        signed.extend_from_slice(&message);
        Ok(signed)
    }

    /// The `DKIM-Signature` header field (ending in CRLF) of a whole message.
    pub fn signature(&self, message: &[u8]) -> anyhow::Result<String> {
        let (head, body) = split_message(message);
        let fields = header_fields(head);
        let mut signed_names = Vec::new();
        let mut canonical = Vec::with_capacity(head.len() + 512);
        for name in SIGNED_HEADERS {
            // One instance each in relais' messages; should there be several, the last one
            // is the one verifiers pick first (RFC 6376, 5.4.2).
            if let Some((raw_name, value)) = fields
                .iter()
                .rev()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            {
                relaxed_header(&mut canonical, raw_name, value);
                signed_names.push(name);
            }
        }
        let body_hash = base64::engine::general_purpose::STANDARD.encode(relaxed_body_hash(body));
        let value = format!(
            "v=1; a=rsa-sha256; c=relaxed/relaxed; d={}; s={}; q=dns/txt; t={};\r\n h={};\r\n bh={};\r\n b=",
            self.domain,
            self.selector,
            chrono::Utc::now().timestamp(),
            signed_names.join(":"),
            body_hash,
        );
        // The signature covers its own header with an empty b=, without the final CRLF.
        relaxed_header(&mut canonical, b"DKIM-Signature", value.as_bytes());
        canonical.truncate(canonical.len() - 2);
        let signature = base64::engine::general_purpose::STANDARD.encode(self.rsa(&canonical)?);
        let mut header = format!("DKIM-Signature: {value}");
        // Folded so that no line passes 78 characters.
        for (n, chunk) in signature.as_bytes().chunks(72).enumerate() {
            if n > 0 {
                header.push_str("\r\n ");
            }
            header.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        }
        header.push_str("\r\n");
        Ok(header)
    }

    fn rsa(&self, data: &[u8]) -> anyhow::Result<Vec<u8>> {
        match &self.key {
            Key::Ring(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &self.rng, data, &mut signature)
                    .map_err(|_| anyhow::anyhow!("DKIM: signing failed"))?;
                Ok(signature)
            }
            Key::Small(key) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, data);
                let scheme = rsa::Pkcs1v15Sign {
                    hash_len: Some(32),
                    prefix: Box::new(SHA256_DIGEST_INFO),
                };
                key.sign(scheme, digest.as_ref())
                    .map_err(|e| anyhow::anyhow!("DKIM: signing failed: {e}"))
            }
        }
    }
}

/// Headers and body: split at the first empty line.
fn split_message(message: &[u8]) -> (&[u8], &[u8]) {
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (&message[..at + 2], &message[at + 4..]),
        None => (message, &[]),
    }
}

/// Each header field as (name, value with its folding), in order.
fn header_fields(head: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut fields: Vec<(&[u8], &[u8])> = Vec::new();
    let mut start = 0;
    let mut at = 0;
    // A field ends at a CRLF not followed by a space or a tab (RFC 5322 folding).
    while at + 1 < head.len() {
        if &head[at..at + 2] == b"\r\n" && !matches!(head.get(at + 2), Some(b' ' | b'\t')) {
            let field = &head[start..at];
            if let Some(colon) = field.iter().position(|&b| b == b':') {
                fields.push((&field[..colon], &field[colon + 1..]));
            }
            start = at + 2;
            at += 2;
        } else {
            at += 1;
        }
    }
    fields
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 6376, 3.4.2: lower-case name, unfolded value, runs of whitespace as one space, none
/// around the colon or at the end.
fn relaxed_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend(name.trim_ascii().iter().map(u8::to_ascii_lowercase));
    out.push(b':');
    let mut space = false;
    let mut started = false;
    for &b in value {
        if b == b'\r' || b == b'\n' {
            continue;
        }
        if is_wsp(b) {
            space = started;
            continue;
        }
        if space {
            out.push(b' ');
            space = false;
        }
        out.push(b);
        started = true;
    }
    out.extend_from_slice(b"\r\n");
}

/// RFC 6376, 3.4.4: each line's runs of whitespace as one space and none at its end, no
/// empty lines at the end of the body, a final CRLF unless the body is empty; hashed with
/// SHA-256 as it is produced.
fn relaxed_body_hash(body: &[u8]) -> ring::digest::Digest {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut empty_lines = 0usize;
    let mut line = Vec::with_capacity(128);
    let mut lines = body.split(|&b| b == b'\n').peekable();
    while let Some(raw) = lines.next() {
        // The piece after the last LF is not a line unless it has content.
        let last = lines.peek().is_none();
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if last && raw.is_empty() {
            break;
        }
        line.clear();
        let mut space = false;
        for &b in raw {
            if is_wsp(b) {
                space = true;
                continue;
            }
            if space {
                line.push(b' ');
                space = false;
            }
            line.push(b);
        }
        if line.is_empty() {
            empty_lines += 1;
            continue;
        }
        for _ in 0..empty_lines {
            hash.update(b"\r\n");
        }
        empty_lines = 0;
        hash.update(&line);
        hash.update(b"\r\n");
    }
    hash.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_hash(body: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(relaxed_body_hash(body.as_bytes()))
    }

    #[test]
    fn relaxed_body_canonicalisation_follows_the_rfc() {
        // RFC 6376, 3.4.6's example, and the empty body's hash (RFC 8463 errata 3192).
        let sha = |s: &str| {
            base64::engine::general_purpose::STANDARD
                .encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()))
        };
        assert_eq!(body_hash(" C \r\nD \t E\r\n\r\n\r\n"), sha(" C\r\nD E\r\n"));
        assert_eq!(body_hash(""), sha(""));
        assert_eq!(body_hash("\r\n\r\n"), sha(""));
        assert_eq!(body_hash("a"), sha("a\r\n"));
    }

    #[test]
    fn relaxed_header_canonicalisation_follows_the_rfc() {
        let mut out = Vec::new();
        relaxed_header(&mut out, b"SUBJect", b" AbC\r\n  d\t e  ");
        assert_eq!(out, b"subject:AbC d e\r\n");
    }

    #[test]
    fn folded_fields_are_read_whole() {
        let head = b"From: a@b\r\nSubject: one\r\n two\r\nTo: c@d\r\n";
        let fields = header_fields(head);
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[1], (&b"Subject"[..], &b" one\r\n two"[..]));
    }
}
