//! Shared test helpers, by concern: `env` (an isolated installation and the real binary),
//! `feeds` (a loopback HTTP server), `smtp` (Postfix's smtp-sink and the captured messages),
//! `relay` (a scripted loopback SMTP relay, in clear or TLS), `tls` (its certificates), `dkim`
//! (keys and an independent verifier), and here the waiting and tool checks.
#![allow(clippy::disallowed_methods)] // tests reach the database and HTTP directly

mod dkim;
mod env;
mod feeds;
mod relay;
mod smtp;
mod tls;

pub use dkim::*;
pub use env::*;
pub use feeds::*;
pub use relay::*;
pub use smtp::*;
pub use tls::*;

use std::time::Duration;

/// Polls `condition` every 50 ms until it holds or `timeout` has passed; says whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first URL in `text` that starts with `prefix`.
pub fn find_url(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// The preferences and unsubscribe links `email` would get in `issue`, from a real render.
pub async fn personal_links(env: &TestEnv, issue: &str, email: &str) -> (String, String) {
    let out = env
        .run(&["issue", "render", issue, "--format", "text", "--to", email])
        .await
        .ok()
        .stdout;
    let base = env.env["RELAIS_BASE_URL"].clone();
    (
        find_url(&out, &format!("{base}/preferences/")).expect("a preferences link"),
        find_url(&out, &format!("{base}/desinscription/")).expect("an unsubscribe link"),
    )
}

/// What a person's "erase my data" button sends, from their preferences link `prefs`.
pub async fn erase_through(daemon: &Daemon, prefs: &str) -> reqwest::Response {
    daemon
        .client
        .post(format!("{prefs}/effacer"))
        .send()
        .await
        .unwrap()
}

/// Whether an outside program a test needs is here. `scripts/test.sh` installs all of them and
/// sets `RELAIS_TEST_STRICT`, so there a missing one fails the test; a bare `cargo test` on a
/// machine without it skips the test and says why on stderr.
pub fn has_tool(program: &str, args: &[&str], package: &str) -> bool {
    let found = std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let what = format!("`{program} {}` failed", args.join(" "));
        assert!(
            std::env::var_os("RELAIS_TEST_STRICT").is_none(),
            "{what} (Debian package {package}), and scripts/test.sh requires it"
        );
        // Straight to the process's stderr: the test harness would swallow eprintln! of a
        // passing test, and a skip must be seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {what} (Debian package {package}); bash scripts/test.sh installs it"
        );
    }
    found
}
