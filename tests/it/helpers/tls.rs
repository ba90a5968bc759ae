//! Certificates for TLS relays, made at test time with the openssl command line: an authority,
//! a certificate it signs for 127.0.0.1 and localhost, and a self-signed one for the same
//! names that nobody trusts.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Where the relay's certificate is good for: what relais connects to.
const NAMES: &str = "subjectAltName=IP:127.0.0.1,DNS:localhost";

pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    /// `None` when openssl is missing outside scripts/test.sh (the test is then skipped).
    pub fn new() -> Option<Self> {
        if !super::has_tool("openssl", &["version"], "openssl") {
            return None;
        }
        let pki = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let ca = ["-subj", "/CN=relais test CA"];
        pki.openssl("ca", &ca);
        // A server's certificate for our names, signed by the authority, or by itself.
        let leaf = [
            "-subj",
            "/CN=localhost",
            "-addext",
            NAMES,
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ];
        let by_ca = ["-CA", "ca.pem", "-CAkey", "ca.key"];
        pki.openssl("relay", &[&leaf[..], &by_ca].concat());
        pki.openssl("rogue", &leaf);
        Some(pki)
    }

    /// The authority's certificate: what `smtp_ca_file` names.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A relay's side of TLS with the certificate the authority signed.
    pub fn trusted(&self) -> TlsAcceptor {
        self.acceptor("relay")
    }

    /// A relay's side of TLS with a self-signed certificate, in no trust store.
    pub fn untrusted(&self) -> TlsAcceptor {
        self.acceptor("rogue")
    }

    /// A P-256 key `NAME.key` and its certificate `NAME.pem`, valid one day.
    fn openssl(&self, name: &str, args: &[&str]) {
        let out = std::process::Command::new("openssl")
            .current_dir(self.dir.path())
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
            .args([
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl ({name}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn acceptor(&self, name: &str) -> TlsAcceptor {
        let path = |ext: &str| self.dir.path().join(format!("{name}.{ext}"));
        let chain = CertificateDer::pem_file_iter(path("pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(path("key")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}
