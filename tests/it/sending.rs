//! Dispatch against smtp-sink: segments, refusals, lost replies, resuming.

use std::time::Duration;

use crate::helpers::*;
use crate::pipeline::env_with_feed;

/// An environment with fetched items, subscribers and one issue holding one item.
pub async fn env_with_issue(csv: &str) -> (TestEnv, FeedServer, String) {
    let (env, server) = env_with_feed().await;
    let fetch = env.run(&["fetch"]).await.ok();
    assert!(fetch.stderr.contains("3 nouveau(x)"), "{}", fetch.stderr);
    env.import(csv).await.ok();
    let issue = env
        .run(&["issue", "create", "coopdev-info", "--subject", "Essai"])
        .await
        .ok()
        .stdout
        .trim()
        .to_string();
    let items = env
        .run(&["items", "--json", "--source", "veille"])
        .await
        .ok()
        .json_lines();
    let item = items[0]["id"].to_string();
    env.run(&["issue", "add", &issue, "--item", &item])
        .await
        .ok();
    (env, server, issue)
}

fn recipients(sink: &SmtpSink) -> Vec<String> {
    let mut r: Vec<String> = sink
        .messages()
        .iter()
        .flat_map(|m| m.envelope_to.clone())
        .collect();
    r.sort();
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn a_segment_send_reaches_exactly_the_matching_subscribers() {
    let (mut env, _server, issue) = env_with_issue(
        "email,newsletters,themes,countries,departements,college\n\
         a@example.org,coopdev-info,sante,SN,31,association\n\
         b@example.org,coopdev-info,sante;eau-assainissement,MG,34,collectivite\n\
         c@example.org,coopdev-info,agriculture,SN,31,association\n\
         d@example.org,echos-du-reseau,sante,SN,31,association\n\
         e@example.org,coopdev-info,,,,\n",
    )
    .await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    // Any of the themes, and any of the countries: a (sante, SN) and b (sante, MG).
    env.run(&[
        "segment",
        "add",
        "sante-afrique",
        "--newsletter",
        "coopdev-info",
        "--theme",
        "sante",
        "--theme",
        "eau-assainissement",
        "--country",
        "SN",
        "--country",
        "MG",
    ])
    .await
    .ok();
    let segments = env
        .run(&["segment", "list", "--json"])
        .await
        .ok()
        .json_lines();
    assert_eq!(
        (
            segments[0]["slug"].as_str(),
            segments[0]["subscribers"].as_i64()
        ),
        (Some("sante-afrique"), Some(2)),
        "a live count"
    );
    env.run(&[
        "issue",
        "send",
        &issue,
        "--segment",
        "sante-afrique",
        "--wait",
    ])
    .await
    .ok();
    assert_eq!(recipients(&sink), vec!["a@example.org", "b@example.org"]);

    // A second segment of the same issue is a second dispatch; people who already had the
    // issue through the first one are left out, and the first dispatch is not repeated.
    env.run(&[
        "segment",
        "add",
        "haute-garonne",
        "--newsletter",
        "coopdev-info",
        "--departement",
        "31",
        "--college",
        "association",
    ])
    .await
    .ok();
    env.run(&[
        "issue",
        "send",
        &issue,
        "--segment",
        "haute-garonne",
        "--wait",
    ])
    .await
    .ok();
    env.run(&[
        "issue",
        "send",
        &issue,
        "--segment",
        "sante-afrique",
        "--wait",
    ])
    .await
    .ok();
    assert_eq!(
        recipients(&sink),
        vec!["a@example.org", "b@example.org", "c@example.org"]
    );

    let unknown = env
        .run(&["issue", "send", &issue, "--segment", "inconnu"])
        .await;
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("inconnu"), "{}", unknown.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_temporary_refusal_defers_and_the_retry_delivers_once() {
    let (mut env, _server, issue) =
        env_with_issue("email,newsletters\na@example.org,coopdev-info\n").await;
    let refusing = SmtpSink::start(&["-b", "451 4.7.1 try later", "-r", "RCPT"]).await;
    env.set("RELAIS_SMTP_URL", refusing.url());
    env.set("RELAIS_RETRY_SCHEDULE", "1s");
    let run = env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert!(run.stderr.contains("1 différé(s)"), "{}", run.stderr);
    assert!(refusing.messages().is_empty());
    let status = env.status(&issue).await;
    assert_eq!(status["deferred"], 1);

    let accepting = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", accepting.url());
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert_eq!(recipients(&accepting), vec!["a@example.org"]);
    let status = env.status(&issue).await;
    assert_eq!(
        (status["sent"].as_i64(), status["deferred"].as_i64()),
        (Some(1), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_mailbox_fails_and_is_never_mailed_again() {
    let (mut env, _server, issue) = env_with_issue(
        "email,newsletters\nghost@example.org,coopdev-info\nreal@example.org,coopdev-info\n",
    )
    .await;
    // smtp-sink refuses every RCPT: both fail; only 5.1.1 means the address is gone.
    let sink = SmtpSink::start(&["-B", "550 5.1.1 user unknown", "-f", "RCPT"]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = env.status(&issue).await;
    assert_eq!(status["failed"], 2);

    let export = env.export().await;
    assert!(export.iter().all(|s| s["status"] == "bounced"));

    let accepting = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", accepting.url());
    let next = env.create_issue("coopdev-info").await;
    let item = env.newest_item().await;
    env.run(&["issue", "add", &next, "--item", &item])
        .await
        .ok();
    env.run(&["issue", "send", &next, "--wait"]).await.ok();
    assert!(
        accepting.messages().is_empty(),
        "bounced addresses are suppressed"
    );
    let reimport = env
        .import("email,newsletters\nghost@example.org,coopdev-info\n")
        .await
        .ok();
    assert!(reimport.stdout.contains("ligne 2"), "{}", reimport.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_refusal_does_not_suppress_the_subscriber() {
    let (mut env, _server, issue) =
        env_with_issue("email,newsletters\na@example.org,coopdev-info\n").await;
    let sink = SmtpSink::start(&["-B", "550 5.7.1 message refused by policy", "-f", "."]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = env.status(&issue).await;
    assert_eq!(status["failed"], 1);
    let export = env.export().await;
    assert_eq!(export[0]["status"], "active");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_reply_after_the_final_dot_is_unknown_and_never_resent() {
    let (mut env, _server, issue) =
        env_with_issue("email,newsletters\na@example.org,coopdev-info\n").await;
    // The server takes the whole message, then hangs up without answering.
    let sink = SmtpSink::start(&["-q", "."]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = env.status(&issue).await;
    assert_eq!(status["unknown"], 1);
    assert_eq!(
        sink.wait_for(1).await.len(),
        1,
        "the server had the whole message before it hung up"
    );

    let accepting = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", accepting.url());
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert!(
        accepting.messages().is_empty(),
        "an ambiguous delivery is not retried blindly"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_defers_everyone() {
    let (mut env, _server, issue) = env_with_issue(
        "email,newsletters\na@example.org,coopdev-info\nb@example.org,coopdev-info\n",
    )
    .await;
    env.set(
        "RELAIS_SMTP_URL",
        format!("smtp://127.0.0.1:{}", free_port()),
    );
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = env.status(&issue).await;
    assert_eq!(status["deferred"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_in_the_middle_of_a_send_loses_nobody_and_repeats_nobody() {
    let (mut env, _server, issue) =
        env_with_issue("email,newsletters\na@example.org,coopdev-info\nb@example.org,coopdev-info\nc@example.org,coopdev-info\n").await;
    // The server keeps the first message, then takes 30 s to answer: kill the sender then.
    let slow = SmtpSink::start(&["-W", ".:30"]).await;
    env.set("RELAIS_SMTP_URL", slow.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "1");
    let mut sender = env.spawn(&["issue", "send", &issue, "--wait"]);
    // Wait for the whole first message, not just the start of its transaction.
    slow.wait_for(1).await;
    assert_eq!(
        slow.complete_messages().len(),
        1,
        "the first message reached the server"
    );
    sender.kill().await.unwrap();
    let status = env.status(&issue).await;
    assert_eq!(
        (status["sending"].as_i64(), status["queued"].as_i64()),
        (Some(1), Some(2))
    );

    let accepting = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", accepting.url());
    let run = env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert!(
        run.stderr.contains("1 remise(s) interrompue(s)"),
        "{}",
        run.stderr
    );
    let status = env.status(&issue).await;
    assert_eq!(
        (status["unknown"].as_i64(), status["sent"].as_i64()),
        (Some(1), Some(2))
    );
    let mut everyone: Vec<String> = slow
        .messages()
        .iter()
        .chain(accepting.messages().iter())
        .flat_map(|m| m.envelope_to.clone())
        .collect();
    everyone.sort();
    assert_eq!(
        everyone,
        vec!["a@example.org", "b@example.org", "c@example.org"],
        "each person once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_with_several_connections_leaves_only_the_messages_in_flight_uncertain() {
    let people: Vec<String> = (0..40).map(|n| format!("p{n:02}@example.org")).collect();
    let csv = people
        .iter()
        .fold("email,newsletters\n".to_string(), |csv, p| {
            csv + p + ",coopdev-info\n"
        });
    let (mut env, _server, issue) = env_with_issue(&csv).await;
    // Each connection's first message is kept and then waits 30 s for its reply; the others
    // of each claim were leased but not begun.
    let slow = SmtpSink::start(&["-W", ".:30"]).await;
    env.set("RELAIS_SMTP_URL", slow.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "4");
    let mut sender = env.spawn(&["issue", "send", &issue, "--wait"]);
    slow.wait_for(4).await;
    sender.kill().await.unwrap();
    let status = env.status(&issue).await;
    assert_eq!(
        (status["sending"].as_i64(), status["queued"].as_i64()),
        (Some(4), Some(36)),
        "{status}"
    );

    let accepting = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", accepting.url());
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = env.status(&issue).await;
    assert_eq!(
        (status["unknown"].as_i64(), status["sent"].as_i64()),
        (Some(4), Some(36)),
        "{status}"
    );
    let mut everyone: Vec<String> = slow
        .messages()
        .iter()
        .chain(accepting.messages().iter())
        .flat_map(|m| m.envelope_to.clone())
        .collect();
    everyone.sort();
    assert_eq!(everyone, people, "each person once");
}

/// A kill once each connection has sent several messages, at whatever step each one is (its
/// mark committing, its data leaving, its reply just read): an outcome travels with the
/// connection's next mark, so only the message in flight on each connection can be left
/// uncertain, and nobody else is missed or mailed twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_after_several_messages_per_connection_leaves_at_most_one_per_connection_uncertain()
{
    let people: Vec<String> = (0..30).map(|n| format!("q{n:02}@example.org")).collect();
    let csv = people
        .iter()
        .fold("email,newsletters\n".to_string(), |csv, p| {
            csv + p + ",coopdev-info\n"
        });
    let (mut env, _server, issue) = env_with_issue(&csv).await;
    // Each message is held 80 ms before its reply, so that the kill falls amid a stream.
    let relay = ScriptedRelay::start(Duration::from_millis(80), |_, _| None).await;
    env.set("RELAIS_SMTP_URL", relay.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "2");
    let mut sender = env.spawn(&["issue", "send", &issue, "--wait"]);
    assert!(
        eventually(Duration::from_secs(30), || async {
            relay.seen().accepted.len() >= 9
        })
        .await,
        "the relay took nine messages"
    );
    sender.kill().await.unwrap();
    let before = relay.seen().recipients();
    let status = env.status(&issue).await;
    let uncertain = status["sending"].as_i64().unwrap_or(0);
    assert!(uncertain <= 2, "at most one per connection: {status}");
    assert!(
        status["sent"].as_i64().unwrap_or(0) + uncertain >= before.len() as i64,
        "every message the relay took is sent or in flight: {status}, relay {before:?}"
    );

    let accepting = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", accepting.url());
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = env.status(&issue).await;
    let unknown = status["unknown"].as_i64().unwrap_or(0);
    assert_eq!(unknown, uncertain, "{status}");
    assert_eq!(status["sent"].as_i64(), Some(30 - unknown), "{status}");
    let mut everyone: Vec<String> = before
        .into_iter()
        .chain(
            accepting
                .messages()
                .iter()
                .flat_map(|m| m.envelope_to.clone()),
        )
        .collect();
    everyone.sort();
    let mut once = everyone.clone();
    once.dedup();
    let (doubled, missed) = (everyone.len() - once.len(), people.len() - once.len());
    assert!(
        doubled + missed <= unknown as usize,
        "missed {missed} and doubled {doubled}, with {unknown} uncertain"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_carry_a_dkim_signature_over_the_list_headers_that_an_independent_verifier_accepts(
) {
    if !has_tool("python3", &["-c", "import dkim"], "python3-dkim") {
        return;
    }
    let (mut env, _server, issue) =
        env_with_issue("email,newsletters\na@example.org,coopdev-info\n").await;
    // PKCS#8 (`BEGIN PRIVATE KEY`), what `openssl genrsa` writes since OpenSSL 3.
    let (key, public) = pkcs8_key(&env);
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set("RELAIS_DKIM_KEY", key.display().to_string());
    env.set("RELAIS_DKIM_SELECTOR", "relais");
    env.set("RELAIS_DKIM_DOMAIN", "occitanie-cooperation.fr");
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();

    let message = sink.messages().remove(0);
    let signature = message
        .header("DKIM-Signature")
        .expect("a DKIM-Signature header")
        .to_ascii_lowercase();
    let signed: String = signature
        .split(';')
        .find(|t| t.trim().starts_with("h="))
        .unwrap()
        .split_whitespace()
        .collect();
    for header in [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ] {
        assert!(
            signed
                .trim_start_matches("h=")
                .split(':')
                .any(|h| h == header),
            "{header} is not signed: {signed}"
        );
    }

    // dkimpy checks the signature with the public key in place of a DNS lookup.
    assert_eq!(
        dkim_verifies(&env, &sink.raw_messages()[0], &public),
        "ok",
        "dkimpy rejects the signature"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readers_with_interests_get_a_copy_without_what_falls_outside_them() {
    let (mut env, _server, issue) = env_with_issue(
        "email,newsletters,countries\n\
         madagascar@example.org,coopdev-info,MG\n\
         senegal@example.org,coopdev-info,SN\n\
         tout@example.org,coopdev-info,\n",
    )
    .await;
    // The issue already holds one item; make it exactly the Senegal call plus a general report.
    for part in ["Eau et assainissement", "Rapport annuel"] {
        let run = env
            .run(&[
                "issue",
                "add",
                &issue,
                "--item",
                &env.item_id(part).await.to_string(),
            ])
            .await;
        assert!(
            run.code == 0 || run.stderr.contains("déjà"),
            "{}",
            run.stderr
        );
    }
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();

    let text_for = |to: &str| {
        let m = sink
            .messages()
            .into_iter()
            .find(|m| m.envelope_to.iter().any(|r| r == to))
            .unwrap_or_else(|| panic!("nothing for {to}"));
        m.part("text/plain").unwrap().to_string()
    };
    let madagascar = text_for("madagascar@example.org");
    assert!(madagascar.contains("Rapport annuel"), "{madagascar}");
    assert!(
        !madagascar.contains("Eau et assainissement"),
        "{madagascar}"
    );
    assert!(madagascar.contains("ne figure pas ici"), "{madagascar}");
    for to in ["senegal@example.org", "tout@example.org"] {
        let text = text_for(to);
        assert!(text.contains("Rapport annuel") && text.contains("Eau et assainissement"));
        assert!(!text.contains("ne figure"), "{text}");
    }
    // The preview of a subscriber's copy is the copy they received.
    let preview = env
        .run(&[
            "issue",
            "render",
            &issue,
            "--format",
            "text",
            "--to",
            "madagascar@example.org",
        ])
        .await
        .ok();
    assert!(!preview.stdout.contains("Eau et assainissement"));
}

/// The ledger names only dispatches, issues and subscribers that exist, whatever checks it
/// (per row on SQLite, per statement on PostgreSQL): a freeze of a real audience passes, a row
/// naming nobody is refused, a subscriber deleted by hand leaves anonymous rows behind, and a
/// dispatch with rows cannot be deleted.
#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_names_only_rows_that_exist_and_keeps_its_counts_when_a_person_is_deleted() {
    let (mut env, _server, issue) = env_with_issue(
        "email,newsletters\n\
         a@example.org,coopdev-info\n\
         b@example.org,coopdev-info\n",
    )
    .await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert_eq!(
        recipients(&sink),
        vec!["a@example.org".to_string(), "b@example.org".to_string()]
    );
    let count = |q: &'static str| {
        let env = &env;
        async move { sql_text(env, q).await.unwrap_or_default() }
    };
    assert_eq!(
        count("select cast(count(*) as text) from deliveries").await,
        "2"
    );

    let copy = "insert into deliveries (dispatch_id, issue_id, subscriber_id, email, state, \
                next_attempt_at, message_id, created_at, updated_at) \
                select dispatch_id, issue_id, {subscriber}, email, 'queued', next_attempt_at, \
                message_id || '.copy', created_at, updated_at from deliveries \
                where email = 'a@example.org'";
    let err = try_sql(&env, &copy.replace("{subscriber}", "424242"), &[])
        .await
        .expect_err("a delivery to a subscriber that does not exist was stored");
    assert_reference_refused(&err);
    let err = try_sql(
        &env,
        "update deliveries set subscriber_id = 424242 where email = 'b@example.org'",
        &[],
    )
    .await
    .expect_err("a delivery was pointed at a subscriber that does not exist");
    assert_reference_refused(&err);
    assert_eq!(
        count("select cast(count(*) as text) from deliveries").await,
        "2"
    );

    // Deleting a person by hand keeps the issue's counts: the row stays, naming nobody.
    sql(
        &env,
        "delete from subscribers where email = 'a@example.org'",
        &[],
    )
    .await;
    assert_eq!(
        count(
            "select cast(count(*) as text) from deliveries \
             where email = 'a@example.org' and subscriber_id is null"
        )
        .await,
        "1"
    );
    let err = try_sql(&env, "delete from dispatches", &[])
        .await
        .expect_err("a dispatch with deliveries was deleted");
    assert_reference_refused(&err);
    let status = env.status(&issue).await;
    assert_eq!(status["sent"], 2, "{status}");
}

/// An operator who deletes a person by hand in the database, while a send waits to reach
/// them, leaves a row naming nobody: it is never claimed, and it must not keep the issue
/// « en cours d'envoi » for ever. The send ends, the others get their copy, and that row
/// counts as set aside.
#[tokio::test]
async fn a_person_deleted_by_hand_during_a_send_does_not_hold_it_open() {
    let (mut env, _server, issue) = env_with_issue(
        "email,newsletters\n\
         a@example.org,coopdev-info\n\
         b@example.org,coopdev-info\n\
         c@example.org,coopdev-info\n",
    )
    .await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    // Frozen, not yet sent: the daemon would take it from here.
    env.run(&["issue", "send", &issue]).await.ok();
    sql(
        &env,
        "delete from subscribers where email = 'b@example.org'",
        &[],
    )
    .await;

    let done = env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert_eq!(
        recipients(&sink),
        vec!["a@example.org".to_string(), "c@example.org".to_string()]
    );
    let status = env.status(&issue).await;
    assert_eq!(status["sent"], 2, "{status}");
    assert_eq!(status["skipped"], 1, "{status}");
    assert_eq!(status["queued"], 0, "{status}");
    assert!(done.stderr.contains("1 écarté(s) sur 3"), "{}", done.stderr);
    let state = sql_text(
        &env,
        &format!("select status from issues where id = {issue}"),
    )
    .await
    .unwrap();
    assert_eq!(state, "sent");
    let reason = sql_text(
        &env,
        "select last_reply from deliveries where subscriber_id is null",
    )
    .await
    .unwrap();
    assert_eq!(reason, "destinataire supprimé");
}

fn assert_reference_refused(err: &sqlx::Error) {
    assert!(
        err.as_database_error()
            .is_some_and(|e| e.is_foreign_key_violation()),
        "{err}"
    );
}

/// The daemon's send loop closes the dispatches with nothing left to try while a schedule may
/// be freezing a new one: a dispatch closed between the two would never be claimed (a
/// scheduled issue reported sent and received by nobody). Both run here side by side, many
/// times; every frozen recipient must still be claimable afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn a_dispatch_frozen_while_the_send_loop_closes_finished_ones_is_still_sent() {
    let env = TestEnv::new().await;
    env.import("email,newsletters\nlectrice@example.org,coopdev-info\n")
        .await
        .ok();
    let store = relais::store::Store::open(&env.database_url).await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Several loops, as several daemons' send loops would, to meet the window more often.
    let closers: Vec<_> = (0..3)
        .map(|_| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    for d in store.open_dispatches().await.unwrap() {
                        store.complete_dispatch_if_done(&d).await.unwrap();
                    }
                }
            })
        })
        .collect();
    let sections = relais::domain::Sections::default();
    let today = chrono::Utc::now().date_naive();
    let rounds = 200;
    for n in 0..rounds {
        let subject = format!("Numéro {n}");
        let issue =
            relais::desk::create_issue(&store, &sections, "coopdev-info", Some(&subject), today)
                .await
                .unwrap();
        let (dispatch, _) = store.find_or_create_dispatch(issue, None).await.unwrap();
        assert_eq!(
            store
                .freeze_audience(&dispatch, "example.org")
                .await
                .unwrap(),
            1
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for closer in closers {
        closer.await.unwrap();
    }
    let claimed = store
        .claim_deliveries(None, "test", 1000, Duration::from_secs(60))
        .await
        .unwrap();
    let mut sent: Vec<i64> = claimed.iter().map(|d| d.dispatch_id).collect();
    sent.sort();
    assert_eq!(
        sent.len(),
        rounds,
        "{} of {rounds} recipients queued can be sent; dispatches sent: {sent:?}",
        sent.len()
    );
    store.close().await;
}
