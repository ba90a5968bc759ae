//! Sending through a relay that speaks TLS (issue 15), against the scripted loopback relay with
//! certificates made by openssl: implicit TLS (`smtps://`) and STARTTLS (`?tls=required`)
//! deliver everyone once, the relay's authority made known by `smtp_ca_file`. A relay that
//! offers no STARTTLS, or whose certificate nobody vouches for, gets no message: the deliveries
//! wait for a retry, and say why.

use std::time::Duration;

use crate::control::people;
use crate::helpers::*;
use crate::reconnect::everyone_once;
use crate::sending::env_with_issue;

const READERS: usize = 5;

/// An issue for [`READERS`] people, sent with `--wait` to `smtp_url` by a relais that trusts
/// the test authority; the installation and the issue.
async fn send_to(smtp_url: String, pki: &TestPki) -> (TestEnv, String) {
    let (mut env, _server, issue) = env_with_issue(&people(READERS, "example.org")).await;
    env.set("RELAIS_SMTP_URL", smtp_url);
    env.set("RELAIS_SMTP_CA_FILE", pki.ca_file().display().to_string());
    env.set("RELAIS_SMTP_CONNECTIONS", "2");
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    (env, issue)
}

/// A relay that takes every message, speaking TLS as `tls` says.
async fn relay(tls: RelayTls) -> ScriptedRelay {
    ScriptedRelay::start_with(tls, Duration::ZERO, |_, _| None).await
}

/// The relay took no envelope and no message, and every delivery waits for a retry (none
/// sent, failed or uncertain) for one same reason, which is returned.
async fn nothing_sent(env: &TestEnv, issue: &str, seen: &Relayed) -> String {
    assert!(seen.accepted.is_empty(), "{seen:?}");
    let envelope = seen
        .commands
        .iter()
        .filter(|(verb, _)| matches!(verb.as_str(), "MAIL" | "RCPT" | "DATA"))
        .count();
    assert_eq!(envelope, 0, "no envelope reached the relay: {seen:?}");
    let status = env.status(issue).await;
    for (state, count) in [
        ("deferred", READERS),
        ("sent", 0),
        ("failed", 0),
        ("unknown", 0),
    ] {
        assert_eq!(
            status[state].as_u64(),
            Some(count as u64),
            "{state}: {status}"
        );
    }
    let reasons = "select cast(count(distinct last_reply) as text) from deliveries";
    assert_eq!(sql_text(env, reasons).await.as_deref(), Some("1"));
    sql_text(env, "select max(last_reply) from deliveries")
        .await
        .expect("a deferred delivery says why")
}

#[tokio::test(flavor = "multi_thread")]
async fn implicit_tls_delivers_everyone_once() {
    let Some(pki) = TestPki::new() else { return };
    let relay = relay(RelayTls::Implicit(pki.trusted())).await;
    assert!(relay.url().starts_with("smtps://"));
    let (env, issue) = send_to(relay.url(), &pki).await;
    let seen = relay.seen();
    everyone_once(READERS, &seen, &env.status(&issue).await);
    assert_eq!(seen.in_clear(), Vec::<&str>::new(), "{seen:?}");
    assert_eq!(seen.handshakes_refused, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_delivers_everyone_once_and_nothing_after_it_crosses_in_clear() {
    let Some(pki) = TestPki::new() else { return };
    let relay = relay(RelayTls::StartTls(pki.trusted())).await;
    let (env, issue) = send_to(format!("{}?tls=required", relay.url()), &pki).await;
    let seen = relay.seen();
    everyone_once(READERS, &seen, &env.status(&issue).await);
    // Each connection: EHLO and STARTTLS in clear, everything else encrypted. The
    // connections' commands interleave in any order, so they are compared as sets.
    let mut expected = ["EHLO", "STARTTLS"].repeat(seen.connections);
    let mut in_clear = seen.in_clear();
    expected.sort_unstable();
    in_clear.sort_unstable();
    assert_eq!(in_clear, expected, "{seen:?}");
    let first = |verb: &str| seen.commands.iter().position(|(v, _)| v == verb);
    assert!(first("STARTTLS") < first("MAIL"), "{seen:?}");
    assert!(first("MAIL").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_without_starttls_gets_nothing_in_clear_and_the_send_waits() {
    let Some(pki) = TestPki::new() else { return };
    let relay = relay(RelayTls::None).await;
    let (env, issue) = send_to(format!("{}?tls=required", relay.url()), &pki).await;
    let seen = relay.seen();
    let reason = nothing_sent(&env, &issue, &seen).await;
    assert!(
        reason.contains("le relais ne propose pas STARTTLS")
            && reason.contains("rien n'est envoyé en clair"),
        "{reason}"
    );
    assert!(
        seen.in_clear().iter().all(|verb| *verb == "EHLO"),
        "only the greeting crossed: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_nobody_vouches_for_gets_nothing_and_the_send_waits() {
    let Some(pki) = TestPki::new() else { return };
    for (tls, query, step) in [
        (RelayTls::Implicit(pki.untrusted()), "", "TLS"),
        (
            RelayTls::StartTls(pki.untrusted()),
            "?tls=required",
            "STARTTLS",
        ),
    ] {
        let relay = relay(tls).await;
        let (env, issue) = send_to(format!("{}{query}", relay.url()), &pki).await;
        let seen = relay.seen();
        let reason = nothing_sent(&env, &issue, &seen).await;
        assert!(
            reason.starts_with(&format!(
                "{step} : certificat du relais refusé (UnknownIssuer)"
            )) && reason.contains("smtp_ca_file"),
            "{reason}"
        );
        assert!(seen.handshakes_refused >= 1, "{seen:?}");
    }
}
