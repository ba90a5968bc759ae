//! A relay that hangs up mid-send, against a scripted loopback relay: a 421 in the middle of a
//! send, or a per-connection message limit, costs a reconnection and a retry, never a message
//! lost, doubled, failed or left uncertain.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::control::people;
use crate::helpers::*;
use crate::sending::env_with_issue;

/// Runs `issue send --wait` again until nothing is deferred any more (the retry schedule is
/// 1 s), and returns the final `issue status --json`.
async fn send_until_settled(env: &TestEnv, issue: &str) -> serde_json::Value {
    for _ in 0..10 {
        let status = env.status(issue).await;
        if status["deferred"] == 0 && status["queued"] == 0 {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        env.run(&["issue", "send", issue, "--wait"]).await.ok();
    }
    env.status(issue).await
}

/// Everyone of the `n` people got exactly one copy, each with its own Message-ID, and the
/// send ended with every delivery `sent`.
pub(crate) fn everyone_once(n: usize, seen: &Relayed, status: &serde_json::Value) {
    let expected: Vec<String> = (0..n).map(|i| format!("p{i:03}@example.org")).collect();
    assert_eq!(
        seen.recipients(),
        expected,
        "each person once: {seen:?} {status}"
    );
    let ids: BTreeSet<&str> = seen.accepted.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), n, "one Message-ID per copy: {:?}", seen.accepted);
    for (state, count) in [("sent", n as i64), ("failed", 0), ("unknown", 0)] {
        assert_eq!(status[state].as_i64(), Some(count), "{state}: {status}");
    }
}

/// An issue sent to `n` people over one connection to a relay following `script`, with a
/// retry schedule of 1 s, until nothing is deferred; checks that everyone got one copy and
/// returns what the relay saw.
async fn send_through(
    n: usize,
    script: impl Fn(usize, usize) -> Option<&'static str> + Send + Sync + 'static,
) -> Relayed {
    let (mut env, _server, issue) = env_with_issue(&people(n, "example.org")).await;
    let relay = ScriptedRelay::start(Duration::ZERO, script).await;
    env.set("RELAIS_SMTP_URL", relay.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "1");
    env.set("RELAIS_RETRY_SCHEDULE", "1s");
    // A retry may come due within this first pass (1 s later) or in a later one.
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = send_until_settled(&env, &issue).await;
    let seen = relay.seen();
    everyone_once(n, &seen, &status);
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn a_421_mid_send_reconnects_and_the_refused_message_is_retried_once() {
    // The first connection's fifth MAIL FROM is refused and the connection closed.
    let seen = send_through(20, |connection, mail| {
        (connection == 1 && mail == 5).then_some("421 4.7.0 Try again later")
    })
    .await;
    assert!(
        seen.connections >= 2,
        "the messages after the 421 went on a new connection"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_per_connection_message_limit_reconnects_and_delivers_everyone_once() {
    // Postfix's smtpd_client_message_rate_limit: three messages per connection, then 421.
    let seen = send_through(10, |_, mail| {
        (mail > 3).then_some("421 4.7.0 Too many messages on this connection")
    })
    .await;
    assert!(
        seen.connections >= 4,
        "{} connection(s) for 10 messages at 3 a connection",
        seen.connections
    );
}
