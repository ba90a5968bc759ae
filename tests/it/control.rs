//! Control of a send and its pacing, against smtp-sink and scripted loopback relays: pause and
//! resume lose and double nobody, a cancel sends nothing more, the ambiguous are resent only on
//! request, the 5.7.x circuit breaker pauses a send and tells the editors, the rate and the
//! per-domain limit hold.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::desk::{csrf_of, page, post_with, signed_in};
use crate::helpers::*;
use crate::sending::env_with_issue;

const PASSWORD: &str = "correct horse battery staple";

/// `n` subscribers of coopdev-info at `domain`.
pub fn people(n: usize, domain: &str) -> String {
    let mut csv = String::from("email,newsletters\n");
    for i in 0..n {
        csv.push_str(&format!("p{i:03}@{domain},coopdev-info\n"));
    }
    csv
}

fn count(status: &serde_json::Value, state: &str) -> i64 {
    status[state].as_i64().unwrap_or(-1)
}

/// The recipients of the whole messages smtp-sink took, sorted (repeats kept).
fn recipients(sink: &SmtpSink) -> Vec<String> {
    let mut r: Vec<String> = sink
        .complete_messages()
        .iter()
        .flat_map(|m| m.envelope_to.clone())
        .collect();
    r.sort();
    r
}

/// Starts `issue send --wait` and returns once `sent` messages are recorded.
async fn send_in_background(env: &TestEnv, issue: &str, sent: i64) -> tokio::process::Child {
    let child = env.spawn(&["issue", "send", issue, "--wait"]);
    assert!(
        eventually(Duration::from_secs(30), || async {
            count(&env.status(issue).await, "sent") >= sent
        })
        .await,
        "the send started"
    );
    child
}

async fn exits(mut child: tokio::process::Child) {
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("`issue send --wait` ends once nothing can be sent")
        .unwrap();
    assert!(status.success());
}

/// An issue to `n` people being sent at five messages a second over two connections to
/// smtp-sink; `command` (pause, cancel) is run once two are sent, and must say `said`.
async fn interrupted_send(
    n: usize,
    command: &str,
    said: &str,
) -> (TestEnv, FeedServer, String, SmtpSink) {
    let (mut env, server, issue) = env_with_issue(&people(n, "example.org")).await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "2");
    env.set("RELAIS_SEND_RATE", "5");
    let sending = send_in_background(&env, &issue, 2).await;
    let run = env.run(&["issue", command, &issue]).await.ok();
    assert!(run.stderr.contains(said), "{}", run.stderr);
    exits(sending).await;
    (env, server, issue, sink)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_send_stops_and_resumes_without_losing_or_doubling_anyone() {
    let (env, _server, issue, sink) = interrupted_send(30, "pause", "1 envoi(s) suspendu(s)").await;
    let status = env.status(&issue).await;
    let sent = count(&status, "sent");
    assert!(
        sent < 30 && count(&status, "queued") == 30 - sent,
        "{status}"
    );
    assert_eq!(status["dispatches"][0]["state"], "paused");
    assert_eq!(sink.wait_for(sent as usize).await.len(), sent as usize);

    // While paused, a send in this process sends nothing, and says why.
    let idle = env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert!(idle.stderr.contains("suspendu"), "{}", idle.stderr);
    assert!(idle.stderr.contains("issue resume"), "{}", idle.stderr);
    assert_eq!(count(&env.status(&issue).await, "sent"), sent);
    let text = env.run(&["issue", "status", &issue]).await.ok();
    assert!(
        text.stdout.contains("suspendu : à la demande de"),
        "{}",
        text.stdout
    );

    let resumed = env.run(&["issue", "resume", &issue]).await.ok();
    assert!(
        resumed.stderr.contains("1 envoi(s) repris"),
        "{}",
        resumed.stderr
    );
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = env.status(&issue).await;
    assert_eq!(count(&status, "sent"), 30, "{status}");
    assert_eq!(status["dispatches"][0]["state"], "active");
    sink.wait_for(30).await;
    let got = recipients(&sink);
    assert_eq!(got.len(), 30, "one message each");
    assert_eq!(
        got.iter().collect::<BTreeSet<_>>().len(),
        30,
        "nobody twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_send_sends_nothing_more_and_cannot_be_restarted() {
    let (env, _server, issue, sink) = interrupted_send(20, "cancel", "1 envoi(s) annulé(s)").await;
    let status = env.status(&issue).await;
    let sent = count(&status, "sent");
    assert!(sent < 20, "{status}");
    assert_eq!(count(&status, "queued") + count(&status, "deferred"), 0);
    assert_eq!(
        sent + count(&status, "skipped") + count(&status, "unknown"),
        20
    );
    assert_eq!(status["dispatches"][0]["state"], "cancelled");

    let again = env.run(&["issue", "send", &issue, "--wait"]).await;
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("a été annulé"), "{}", again.stderr);
    let resume = env.run(&["issue", "resume", &issue]).await;
    assert_ne!(resume.code, 0);
    assert!(
        resume.stderr.contains("ne reprend pas"),
        "{}",
        resume.stderr
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&env.status(&issue).await, "sent"), sent);
    assert_eq!(
        sink.complete_messages().len(),
        sent as usize,
        "nothing more left"
    );
    let text = env.run(&["issue", "status", &issue]).await.ok();
    assert!(text.stdout.contains("annulé"), "{}", text.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn control_commands_need_a_send_and_resend_needs_the_editors_word() {
    let (env, _server, issue) = env_with_issue(&people(2, "example.org")).await;
    for command in ["pause", "resume", "cancel"] {
        let run = env.run(&["issue", command, &issue]).await;
        assert_ne!(run.code, 0, "{command}");
        assert!(run.stderr.contains("n'a pas d'envoi"), "{}", run.stderr);
    }
    let resend = env.run(&["issue", "resend", &issue]).await;
    assert_ne!(resend.code, 0);
    assert!(resend.stderr.contains("--unknown"), "{}", resend.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn resend_unknown_tries_the_ambiguous_once_more() {
    let (mut env, _server, issue) = env_with_issue(&people(2, "example.org")).await;
    // The server takes each whole message, then hangs up without answering.
    let silent = SmtpSink::start(&["-q", "."]).await;
    env.set("RELAIS_SMTP_URL", silent.url());
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert_eq!(count(&env.status(&issue).await, "unknown"), 2);

    let accepting = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", accepting.url());
    let refused = env.run(&["issue", "resend", &issue]).await;
    assert_ne!(refused.code, 0);
    let resend = env
        .run(&["issue", "resend", &issue, "--unknown"])
        .await
        .ok();
    assert!(
        resend
            .stderr
            .contains("2 message(s) incertain(s) remis en file"),
        "{}",
        resend.stderr
    );
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = env.status(&issue).await;
    assert_eq!((count(&status, "sent"), count(&status, "unknown")), (2, 0));
    assert_eq!(recipients(&accepting).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_refusals_pause_the_send_and_the_editors_are_mailed() {
    let (mut env, _server, issue) = env_with_issue(&people(12, "example.org")).await;
    env.run_with_stdin(
        &["user", "add", "redaction@example.org", "--role", "editor"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    let refusing =
        SmtpSink::start(&["-B", "550 5.7.1 Message refused by policy", "-f", "RCPT"]).await;
    env.set("RELAIS_SMTP_URL", refusing.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "1");
    env.set("RELAIS_BREAKER_REFUSALS", "3");
    let run = env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert!(run.stderr.contains("suspendu"), "{}", run.stderr);
    let status = env.status(&issue).await;
    assert_eq!(
        (count(&status, "failed"), count(&status, "queued")),
        (3, 9),
        "{status}"
    );
    assert_eq!(status["dispatches"][0]["state"], "paused");
    let reason = status["dispatches"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("5.7.x") && reason.contains("3 message(s)"),
        "{reason}"
    );

    // The daemon sends the editors' notice, and not the paused newsletter.
    let accepting = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", accepting.url());
    let _daemon = env.serve().await;
    let notice = accepting.wait_for(1).await;
    assert_eq!(notice.len(), 1);
    assert_eq!(notice[0].envelope_to, vec!["redaction@example.org"]);
    assert!(
        notice[0]
            .header("Subject")
            .is_some_and(|s| s.contains("Envoi suspendu")),
        "{:?}",
        notice[0].header("Subject")
    );
    let text = notice[0].part("text/plain").unwrap_or_default();
    assert!(text.contains("5.7.x") && text.contains("/suivi"), "{text}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(accepting.complete_messages().len(), 1);
    assert_eq!(count(&env.status(&issue).await, "queued"), 9);
}

/// Seconds between the first and the last `sent_at` of the issue's deliveries.
async fn sent_span(env: &TestEnv) -> f64 {
    let query = if env.database_url.starts_with("postgres") {
        "select cast(extract(epoch from max(sent_at) - min(sent_at)) as text) from deliveries"
    } else {
        "select cast((julianday(max(sent_at)) - julianday(min(sent_at))) * 86400 as text) \
         from deliveries"
    };
    sql_text(env, query).await.unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_rate_spaces_the_messages_whatever_the_connections() {
    let (mut env, _server, issue) = env_with_issue(&people(9, "example.org")).await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "4");
    env.set("RELAIS_SEND_RATE", "2");
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert_eq!(count(&env.status(&issue).await, "sent"), 9);
    // Nine messages at two a second: four seconds from the first to the last (stored to the
    // second, so at least three apart).
    let span = sent_span(&env).await;
    assert!(span >= 3.0, "sent within {span} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_more_messages_are_in_flight_to_one_domain_than_its_limit() {
    let (mut env, _server, issue) = env_with_issue(&people(12, "example.org")).await;
    // Each message is held 150 ms, so that transactions overlap.
    let relay = ScriptedRelay::start(Duration::from_millis(150), |_, _| None).await;
    env.set("RELAIS_SMTP_URL", relay.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "6");
    env.set("RELAIS_PER_DOMAIN_CONNECTIONS", "2");
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = env.status(&issue).await;
    assert_eq!(
        count(&status, "sent"),
        12,
        "held messages wait, they do not fail: {status}"
    );
    let seen = relay.seen();
    let (most, accepted) = (seen.most_open, seen.accepted.len());
    assert_eq!(accepted, 12);
    assert!(most <= 2, "{most} messages to example.org at once");
}

/// Three people's send queued with a relay that does not answer, so that it stays open while
/// the editor (redaction@example.org) acts at the desk of a running daemon.
async fn open_send_at_the_desk() -> (TestEnv, FeedServer, String, Daemon) {
    let (mut env, server, issue) = env_with_issue(&people(3, "example.org")).await;
    env.run_with_stdin(
        &["user", "add", "redaction@example.org", "--role", "editor"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    env.set(
        "RELAIS_SMTP_URL",
        format!("smtp://127.0.0.1:{}", free_port()),
    );
    env.run(&["issue", "send", &issue]).await.ok();
    let daemon = env.serve().await;
    (env, server, issue, daemon)
}

#[tokio::test(flavor = "multi_thread")]
async fn editors_pause_resume_and_cancel_a_send_from_its_progress_page() {
    let (env, _server, issue, daemon) = open_send_at_the_desk().await;
    let cookie = signed_in(&daemon, "redaction@example.org").await;
    let progress = format!("/admin/numeros/{issue}/suivi");

    let report = page(&daemon, &progress, &cookie).await;
    assert!(report.contains(">Suspendre</button>"), "{report}");
    let forged = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/suspendre"),
        &cookie,
        &[("csrf", "forged")],
    )
    .await;
    assert_eq!(
        forged.status(),
        400,
        "a form without the session's CSRF token is refused"
    );
    let csrf = csrf_of(&report);
    let paused = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/suspendre"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(paused.status(), 303);
    let report = page(&daemon, &progress, &cookie).await;
    assert!(
        report.contains("data-dispatch-state=\"paused\""),
        "{report}"
    );
    assert!(
        report.contains("à la demande de redaction@example.org"),
        "{report}"
    );
    assert!(report.contains(">Reprendre</button>") && !report.contains(">Suspendre</button>"));
    assert_eq!(env.status(&issue).await["dispatches"][0]["state"], "paused");

    let resumed = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/reprendre"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(resumed.status(), 303);
    assert_eq!(env.status(&issue).await["dispatches"][0]["state"], "active");

    let confirm = page(&daemon, &format!("/admin/numeros/{issue}/annuler"), &cookie).await;
    assert!(confirm.contains("ne partiront jamais"), "{confirm}");
    let cancelled = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/annuler"),
        &cookie,
        &[("csrf", &csrf_of(&confirm))],
    )
    .await;
    assert_eq!(cancelled.status(), 303);
    let report = page(&daemon, &progress, &cookie).await;
    assert!(
        report.contains("data-dispatch-state=\"cancelled\""),
        "{report}"
    );
    assert!(!report.contains(">Reprendre</button>"));
    let status = env.status(&issue).await;
    assert_eq!(
        count(&status, "queued") + count(&status, "deferred"),
        0,
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_browser_an_editor_pauses_resumes_and_cancels_after_confirming() {
    use fantoccini::Locator;

    use crate::browser::{browser_at, click_button, wait_for_text};
    let Some(axe) = crate::browser::chromium_and_axe() else {
        return;
    };
    let (env, _server, issue, daemon) = open_send_at_the_desk().await;
    let (_driver, browser) = browser_at(None).await;
    browser.goto(&daemon.url("/admin/login")).await.unwrap();
    for (field, value) in [("email", "redaction@example.org"), ("password", PASSWORD)] {
        browser
            .find(Locator::Css(&format!("input[name={field}]")))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    click_button(&browser, "Se connecter").await;
    wait_for_text(&browser, "Rédaction").await;

    let mut problems = Vec::new();
    let mut check = async |name: &str| {
        for v in crate::browser::axe_violations_at(&browser, &axe, &["serious", "critical"]).await {
            problems.push(format!("{name}: {v}"));
        }
    };
    browser
        .goto(&daemon.url(&format!("/admin/numeros/{issue}/suivi")))
        .await
        .unwrap();
    click_button(&browser, "Suspendre").await;
    wait_for_text(&browser, "suspendu : à la demande de redaction@example.org").await;
    check("suivi, suspendu").await;
    click_button(&browser, "Reprendre").await;
    wait_for_text(&browser, "Suspendre").await;
    browser
        .find(Locator::LinkText("Annuler l'envoi…"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&browser, "ne partiront jamais").await;
    check("annuler").await;
    click_button(&browser, "Annuler l'envoi (3 message(s))").await;
    wait_for_text(&browser, "annulé : à la demande de redaction@example.org").await;
    check("suivi, annulé").await;
    let _ = browser.close().await;
    assert_eq!(
        env.status(&issue).await["dispatches"][0]["state"],
        "cancelled"
    );
    assert!(
        problems.is_empty(),
        "axe-core finds:\n{}",
        problems.join("\n")
    );
}
