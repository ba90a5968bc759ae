//! The daemon as an operator runs it: several `serve` processes on one PostgreSQL database,
//! the leader killed, a stop in the middle of a send, one daemon per SQLite file, health and
//! metrics.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::sending::env_with_issue;

/// `n` people subscribed to coopdev-info, as CSV.
fn people(n: usize) -> (Vec<String>, String) {
    let people: Vec<String> = (0..n).map(|i| format!("p{i:04}@example.org")).collect();
    let csv = people
        .iter()
        .fold("email,newsletters\n".to_string(), |csv, p| {
            csv + p + ",coopdev-info\n"
        });
    (people, csv)
}

/// How many messages each envelope recipient got, across servers.
fn copies(sinks: &[&SmtpSink]) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for sink in sinks {
        for m in sink.messages() {
            for to in m.envelope_to {
                *count.entry(to).or_insert(0) += 1;
            }
        }
    }
    count
}

/// These tests run several daemons on one database: PostgreSQL only. On SQLite they say so
/// on stderr, as a skip, never as a pass of what they check.
fn on_postgres() -> bool {
    let pg = std::env::var("RELAIS_TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty());
    if !pg {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: several daemons need PostgreSQL (RELAIS_TEST_DATABASE_URL)"
        );
    }
    pg
}

async fn wait_until_sent(
    env: &TestEnv,
    issue: &str,
    n: i64,
    within: Duration,
) -> serde_json::Value {
    eventually(within, || async { env.status(issue).await["sent"] == n }).await;
    env.status(issue).await
}

/// Starts the daemon again, on a server that accepts at once, until `(sent, unknown)` is the
/// ledger's count; then everyone got exactly one copy from the first server or this one.
async fn restart_and_check(
    env: &mut TestEnv,
    issue: &str,
    first: &SmtpSink,
    everyone: &[String],
    (sent, unknown): (i64, i64),
) {
    let accepting = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", accepting.url());
    let _again = env.serve().await;
    let status = wait_until_sent(env, issue, sent, Duration::from_secs(60)).await;
    assert_eq!(
        (status["sent"].as_i64(), status["unknown"].as_i64()),
        (Some(sent), Some(unknown)),
        "{status}"
    );
    assert_each_once(&[first, &accepting], everyone);
}

/// Each of `everyone`, and nobody else, got exactly one message across `sinks`.
fn assert_each_once(sinks: &[&SmtpSink], everyone: &[String]) {
    let got = copies(sinks);
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), everyone);
    assert!(got.values().all(|n| *n == 1), "someone got two copies");
}

const SENT: &str = "relais_messages_total{ledger=\"newsletter\",outcome=\"sent\"}";

#[tokio::test(flavor = "multi_thread")]
async fn two_daemons_share_a_send_of_2000_and_each_person_gets_one_copy() {
    if !on_postgres() {
        return;
    }
    let (everyone, csv) = people(2000);
    let (mut env, _server, issue) = env_with_issue(&csv).await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    let a = env.serve().await;
    let b = env.serve().await;
    env.run(&["issue", "send", &issue]).await.ok();
    let status = wait_until_sent(&env, &issue, 2000, Duration::from_secs(300)).await;
    assert_eq!(status["sent"], 2000, "{status}");
    assert_eq!(status["unknown"], 0, "{status}");

    assert_each_once(&[&sink], &everyone);
    let by_a = a.metric(SENT).await.unwrap_or(0.0);
    let by_b = b.metric(SENT).await.unwrap_or(0.0);
    assert_eq!(by_a + by_b, 2000.0);
    assert!(by_a > 0.0 && by_b > 0.0, "both sent: {by_a} and {by_b}");
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "two daemons: {by_a} and {by_b} messages");
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_leader_is_killed_the_other_daemon_leads_within_90_seconds() {
    if !on_postgres() {
        return;
    }
    let mut env = TestEnv::new().await;
    let first = env.serve().await;
    let second = env.serve().await;
    assert_eq!(first.health().await["scheduler"], "leader");
    assert_eq!(second.health().await["scheduler"], "follower");
    assert_eq!(first.metric("relais_scheduler_leader").await, Some(1.0));
    assert_eq!(second.metric("relais_scheduler_leader").await, Some(0.0));

    first.signal("KILL");
    let killed = Instant::now();
    let (code, _) = first.ended(Duration::from_secs(10)).await;
    assert_eq!(code, None, "killed by the signal");
    let took_over = eventually(Duration::from_secs(90), || async {
        second.metric("relais_scheduler_leader").await == Some(1.0)
    })
    .await;
    let took = killed.elapsed();
    assert!(took_over, "no new leader after {took:?}");
    assert_eq!(second.health().await["scheduler"], "leader");
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "failover took {:.1} s",
        took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_send_exits_within_the_grace_and_the_restart_serves_everyone_once() {
    let (everyone, csv) = people(40);
    let (mut env, _server, issue) = env_with_issue(&csv).await;
    // Each message's final reply takes a second: the stop comes while messages are in flight.
    let slow = SmtpSink::start(&["-W", ".:1"]).await;
    env.set("RELAIS_SMTP_URL", slow.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "2");
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    let daemon = env.serve().await;
    env.run(&["issue", "send", &issue]).await.ok();
    assert!(
        eventually(Duration::from_secs(30), || async {
            env.status(&issue).await["sent"].as_i64() >= Some(2)
        })
        .await
    );
    daemon.signal("TERM");
    let asked = Instant::now();
    let (code, logs) = daemon.ended(Duration::from_secs(40)).await;
    let took = asked.elapsed();
    assert_eq!(code, Some(0), "{logs}");
    assert!(took < Duration::from_secs(30), "stopped in {took:?}");
    let status = env.status(&issue).await;
    assert_eq!(
        status["sending"], 0,
        "the messages in flight ended: {status}"
    );
    assert_eq!(status["unknown"], 0, "{status}");
    let left = status["queued"].as_i64().unwrap();
    assert!(left > 0, "the stop came before the end: {status}");
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SIGTERM: stopped in {:.2} s, {left} left queued",
        took.as_secs_f64()
    );

    restart_and_check(&mut env, &issue, &slow, &everyone, (40, 0)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_grace_the_stop_cuts_the_messages_in_flight_and_loses_nobody_else() {
    let (everyone, csv) = people(20);
    let (mut env, _server, issue) = env_with_issue(&csv).await;
    // Each message waits 30 s for its final reply, longer than the grace.
    let stuck = SmtpSink::start(&["-W", ".:30"]).await;
    env.set("RELAIS_SMTP_URL", stuck.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "2");
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    env.set("RELAIS_SHUTDOWN_GRACE", "1s");
    let daemon = env.serve().await;
    env.run(&["issue", "send", &issue]).await.ok();
    stuck.wait_for(2).await;
    daemon.signal("TERM");
    let (code, logs) = daemon.ended(Duration::from_secs(20)).await;
    assert_eq!(code, Some(1), "{logs}");
    assert!(logs.contains("délai de grâce (1 s)"), "{logs}");
    let status = env.status(&issue).await;
    assert_eq!(
        (status["sending"].as_i64(), status["queued"].as_i64()),
        (Some(2), Some(18)),
        "only the messages in flight are uncertain; the claims not attempted are queued: {status}"
    );

    env.set("RELAIS_SHUTDOWN_GRACE", "30s");
    restart_and_check(&mut env, &issue, &stuck, &everyone, (18, 2)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_on_the_same_sqlite_file_is_refused_and_commands_still_work() {
    let mut env = TestEnv::new().await;
    if env.database_url.starts_with("postgres") {
        // Several daemons on PostgreSQL are the tests above.
        return;
    }
    let _daemon = env.serve().await;
    env.set("RELAIS_LISTEN", format!("127.0.0.1:{}", free_port()));
    let second = env.run(&["serve"]).await;
    assert_ne!(second.code, 0);
    let file = env.path("data/relais.db").display().to_string();
    let message = second.stderr.trim();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("un autre « relais serve » utilise déjà la base SQLite")
            && message.contains(&file),
        "{message}"
    );
    env.run(&["sources", "--json"]).await.ok();
    let issue = env.create_issue("coopdev-info").await;
    env.status(&issue).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_and_metrics_tell_how_the_work_goes() {
    let (mut env, _server) = crate::pipeline::env_with_feed().await;
    env.import("email,newsletters\na@example.org,coopdev-info\nb@example.org,coopdev-info\nc@example.org,coopdev-info\n")
        .await
        .ok();
    // One connection and two seconds per message: the queue is seen waiting.
    let sink = SmtpSink::start(&["-W", ".:2"]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "1");
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    let daemon = env.serve().await;
    // The leader polls the feeds at once: one works, one answers 500.
    assert!(
        eventually(Duration::from_secs(20), || async {
            daemon
                .metric("relais_feed_errors_total{source=\"en-panne\"}")
                .await
                == Some(1.0)
        })
        .await,
        "{}",
        daemon.text("/metrics").await
    );
    assert_eq!(
        daemon
            .metric("relais_feed_fetches_total{source=\"veille\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(
        daemon
            .metric("relais_feed_errors_total{source=\"veille\"}")
            .await,
        None
    );
    assert_eq!(daemon.metric("relais_items_new_total").await, Some(3.0));
    let health = daemon.health().await;
    assert_eq!(health["database"], "ok");
    assert_eq!(health["scheduler"], "leader");
    assert!(health["last_fetch"].is_string(), "{health}");
    assert!(health["oldest_queued"].is_null(), "{health}");

    let item = env.newest_item().await;
    let issue = env.create_issue("coopdev-info").await;
    env.run(&["issue", "add", &issue, "--item", &item])
        .await
        .ok();
    env.run(&["issue", "send", &issue]).await.ok();
    let waiting = daemon.health().await;
    assert!(waiting["oldest_queued"].is_string(), "{waiting}");
    assert!(waiting["oldest_queued_age_seconds"].as_i64() >= Some(0));
    assert!(
        daemon
            .metric("relais_queue_depth{ledger=\"newsletter\"}")
            .await
            > Some(0.0)
    );
    wait_until_sent(&env, &issue, 3, Duration::from_secs(30)).await;
    assert_eq!(daemon.metric(SENT).await, Some(3.0));
    // The ledger: a mark and an outcome per message, in group commits of one or more.
    assert_eq!(daemon.metric("relais_ledger_writes_total").await, Some(6.0));
    let commits = daemon.metric("relais_ledger_commits_total").await;
    assert!(commits >= Some(1.0) && commits <= Some(6.0), "{commits:?}");
    assert_eq!(
        daemon.metric("relais_deliveries{state=\"sent\"}").await,
        Some(3.0)
    );
    assert_eq!(
        daemon.metric("relais_deliveries{state=\"queued\"}").await,
        Some(0.0)
    );
    assert_eq!(
        daemon
            .metric("relais_queue_depth{ledger=\"newsletter\"}")
            .await,
        Some(0.0)
    );
    assert_eq!(daemon.metric("relais_scheduler_leader").await, Some(1.0));
    assert!(daemon.health().await["oldest_queued"].is_null());
}
