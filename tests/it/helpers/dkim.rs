//! DKIM keys as operators have them, and dkimpy as the independent verifier.

use super::*;

/// An RSA key as `openssl genrsa` writes it today (PKCS#8, `BEGIN PRIVATE KEY`), and its
/// public half in DER for the verifier.
pub fn pkcs8_key(env: &TestEnv) -> (std::path::PathBuf, Vec<u8>) {
    let key = env.path("dkim.pem");
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        key.to_str().unwrap(),
    ]);
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    let public = openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-pubout",
        "-outform",
        "DER",
    ]);
    (key, public)
}

/// Whether dkimpy accepts the signature of `raw`, with `public` as the DNS record's key.
pub fn dkim_verifies(env: &TestEnv, raw: &[u8], public: &[u8]) -> String {
    let message = env.path("message.eml");
    std::fs::write(&message, raw).unwrap();
    let key = env.path("public.der");
    std::fs::write(&key, public).unwrap();
    let verify = std::process::Command::new("python3")
        .args([
            "-c",
            "import base64, sys, dkim\n\
             msg = open(sys.argv[1], 'rb').read()\n\
             record = b'v=DKIM1; k=rsa; p=' + base64.b64encode(open(sys.argv[2], 'rb').read())\n\
             print('ok' if dkim.verify(msg, dnsfunc=lambda name, timeout=5: record) else 'bad')",
            message.to_str().unwrap(),
            key.to_str().unwrap(),
        ])
        .output()
        .expect("python3 runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout).trim(),
        String::from_utf8_lossy(&verify.stderr)
    )
}
