//! Bounces: each delivery leaves with its own VERP return path; reports written after real
//! servers' shapes (tests/fixtures/bounces) are read back from a maildir, a folder of `.eml`
//! files or one file, and mapped to the right deliveries and people.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::helpers::*;
use crate::sending::env_with_issue;

/// What the fixtures say, replaced by a real delivery's values.
const FIXTURE_VERP: &str = "b-42-5f1e0c9a7d3b@rebonds.occitanie-cooperation.fr";
const FIXTURE_ID: &str = "<relais.7.42@occitanie-cooperation.fr>";
const FIXTURE_RCPT: &str = "lecteur@example.net";
const DOMAIN: &str = "rebonds.example.org";

/// One message as it left: its envelope sender and Message-ID.
struct Sent {
    /// MAIL FROM: the delivery's VERP address when `bounce_domain` is set.
    verp: String,
    message_id: String,
}

/// The messages smtp-sink received, by recipient.
fn sent_by_recipient(messages: &[Captured]) -> HashMap<String, Sent> {
    messages
        .iter()
        .map(|m| {
            let mail_from = m.header("X-Mail-Args").expect("smtp-sink's MAIL FROM line");
            let verp = mail_from
                .trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_string();
            (
                m.envelope_to[0].clone(),
                Sent {
                    verp,
                    message_id: m.header("Message-ID").unwrap().trim().to_string(),
                },
            )
        })
        .collect()
}

/// A fixture about the delivery `sent` to `rcpt`.
fn report(fixture: &str, verp: &str, message_id: &str, rcpt: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bounces")
        .join(fixture);
    std::fs::read_to_string(path)
        .unwrap()
        .replace(FIXTURE_VERP, verp)
        .replace(FIXTURE_ID, message_id)
        .replace(FIXTURE_RCPT, rcpt)
}

fn about(fixture: &str, sent: &Sent, rcpt: &str) -> String {
    report(fixture, &sent.verp, &sent.message_id, rcpt)
}

fn maildir(root: &Path) -> PathBuf {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    root.to_path_buf()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn statuses(env: &TestEnv) -> HashMap<String, String> {
    env.export()
        .await
        .iter()
        .map(|s| {
            (
                s["email"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const AUDIENCE: &str = "email,newsletters\n\
    hard@example.org,coopdev-info\n\
    complaint@example.org,coopdev-info\n\
    policy@example.org,coopdev-info\n\
    soft@example.org,coopdev-info\n\
    tamper@example.org,coopdev-info\n\
    byid@example.org,coopdev-info\n";

#[tokio::test(flavor = "multi_thread")]
async fn reports_map_to_their_deliveries_and_suppress_only_whom_they_should() {
    let (mut env, _server, issue) = env_with_issue(AUDIENCE).await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set("RELAIS_BOUNCE_DOMAIN", DOMAIN);
    env.set("RELAIS_SOFT_BOUNCE_LIMIT", "2");
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let messages = sink.wait_for(6).await;
    let sent = sent_by_recipient(&messages);
    assert_eq!(sent.len(), 6);

    // Every envelope sender is its own delivery's address on the bounce domain; the From
    // readers see is unchanged.
    let mut ids: Vec<&str> = sent
        .values()
        .map(|s| {
            let (local, domain) = s.verp.split_once('@').unwrap();
            assert_eq!(domain, DOMAIN, "{}", s.verp);
            let mut parts = local.split('-');
            assert_eq!(parts.next(), Some("b"), "{}", s.verp);
            let id = parts.next().unwrap();
            assert!(id.bytes().all(|b| b.is_ascii_digit()), "{}", s.verp);
            let tag = parts.next().unwrap();
            assert!(
                tag.len() == 12 && tag.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}",
                s.verp
            );
            id
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "one return path per delivery");
    assert!(messages.iter().all(|m| m
        .header("From")
        .unwrap()
        .contains("@occitanie-cooperation.fr")));

    let tampered = {
        let verp = &sent["tamper@example.org"].verp;
        let (head, tag) = verp.split_once('@').unwrap().0.rsplit_once('-').unwrap();
        let flipped: String = tag
            .chars()
            .rev()
            .map(|c| if c == '0' { '1' } else { '0' })
            .collect();
        format!("{head}-{flipped}@{DOMAIN}")
    };
    let inbox = maildir(&env.path("rebonds"));
    let reports = [
        (
            "1.hard",
            about(
                "postfix-dsn.eml",
                &sent["hard@example.org"],
                "hard@example.org",
            ),
        ),
        (
            "2.complaint",
            about(
                "arf-abuse.eml",
                &sent["complaint@example.org"],
                "complaint@example.org",
            ),
        ),
        (
            "3.policy",
            about(
                "policy-571.eml",
                &sent["policy@example.org"],
                "policy@example.org",
            ),
        ),
        (
            "4.soft",
            about(
                "postfix-delayed.eml",
                &sent["soft@example.org"],
                "soft@example.org",
            ),
        ),
        (
            "5.tampered",
            report(
                "exim-plain.eml",
                &tampered,
                &sent["tamper@example.org"].message_id,
                "tamper@example.org",
            ),
        ),
        // No VERP (as when bounce_domain was unset): the original's Message-ID names it.
        (
            "6.by-message-id",
            report(
                "outlook-ndr.eml",
                "lettres@occitanie-cooperation.fr",
                &sent["byid@example.org"].message_id,
                "byid@example.org",
            ),
        ),
        ("7.unrelated", report("unrelated-dsn.eml", "", "", "")),
        ("8.malformed", report("malformed.eml", FIXTURE_VERP, "", "")),
    ];
    for (name, text) in &reports {
        std::fs::write(inbox.join("new").join(name), text).unwrap();
    }

    let run = env
        .run(&["bounces", "ingest", inbox.to_str().unwrap()])
        .await
        .ok();
    assert!(
        run.stderr.contains(
            "7 rapports lus, 5 liés à un envoi (2 rejets définitifs, 1 temporaire, 1 plainte, \
             1 refus lié à l'expéditeur ou au message), 2 sans correspondance, 1 fichier illisible"
        ),
        "{}",
        run.stderr
    );
    for (name, says) in [
        ("5.tampered", "sans correspondance"),
        ("7.unrelated", "sans correspondance"),
        ("8.malformed", "ignoré (message illisible"),
    ] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(name) && l.contains(says)),
            "{name}: {}",
            run.stderr
        );
    }
    assert!(files_in(&inbox.join("new")).is_empty());
    let read = files_in(&inbox.join("cur"));
    assert_eq!(read.len(), 8, "{read:?}");
    assert!(read.iter().all(|f| f.ends_with(":2,S")), "{read:?}");

    let expected: HashMap<String, String> = [
        ("hard", "bounced"),
        ("complaint", "complained"),
        ("policy", "active"),
        ("soft", "active"),
        ("tamper", "active"),
        ("byid", "bounced"),
    ]
    .iter()
    .map(|(who, status)| (format!("{who}@example.org"), status.to_string()))
    .collect();
    assert_eq!(statuses(&env).await, expected);

    // The same reports again, as a folder of .eml files: recognised, nothing changes.
    let again = env.path("encore");
    std::fs::create_dir(&again).unwrap();
    for (name, text) in &reports {
        std::fs::write(again.join(format!("{name}.eml")), text).unwrap();
    }
    let rerun = env
        .run(&["bounces", "ingest", again.to_str().unwrap(), "--json"])
        .await
        .ok();
    let summary = &rerun.json_lines()[0];
    assert_eq!(
        (
            summary["matched"].as_i64(),
            summary["already_seen"].as_i64(),
            summary["suppressed"].as_i64(),
            summary["unmatched"].as_i64(),
            summary["unreadable"].as_i64()
        ),
        (Some(5), Some(5), Some(0), Some(2), Some(1)),
        "{summary}"
    );
    assert_eq!(statuses(&env).await, expected);
    assert_eq!(files_in(&again).len(), 8, "a plain folder is left as it is");

    // The next issue skips the suppressed; a second soft bounce suppresses at the limit (2).
    let next_sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", next_sink.url());
    let item = env.newest_item().await;
    let next = env.create_issue("coopdev-info").await;
    env.run(&["issue", "add", &next, "--item", &item])
        .await
        .ok();
    env.run(&["issue", "send", &next, "--wait"]).await.ok();
    let second = sent_by_recipient(&next_sink.wait_for(3).await);
    let mut reached: Vec<&str> = second.keys().map(String::as_str).collect();
    reached.sort();
    assert_eq!(
        reached,
        [
            "policy@example.org",
            "soft@example.org",
            "tamper@example.org"
        ]
    );
    let file = env.path("retard.eml");
    std::fs::write(
        &file,
        about(
            "postfix-delayed.eml",
            &second["soft@example.org"],
            "soft@example.org",
        ),
    )
    .unwrap();
    let run = env
        .run(&["bounces", "ingest", file.to_str().unwrap()])
        .await
        .ok();
    assert!(
        run.stderr.contains("1 rapport lu, 1 lié à un envoi (0 rejet définitif, 1 temporaire, 0 plainte), 0 sans correspondance ; 1 adresse désormais exclue des envois"),
        "{}",
        run.stderr
    );
    assert_eq!(statuses(&env).await["soft@example.org"], "bounced");
}

/// An issue sent to one subscriber through smtp-sink: the installation, the issue, and the
/// message as it left.
async fn sent_to_one(
    email: &str,
    bounce_domain: Option<&str>,
) -> (TestEnv, String, HashMap<String, Sent>) {
    let (mut env, _server, issue) =
        env_with_issue(&format!("email,newsletters\n{email},coopdev-info\n")).await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    if let Some(domain) = bounce_domain {
        env.set("RELAIS_BOUNCE_DOMAIN", domain);
    }
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let sent = sent_by_recipient(&sink.wait_for(1).await);
    (env, issue, sent)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_reads_its_bounce_maildir() {
    let (mut env, issue, sent) = sent_to_one("parti@example.org", Some(DOMAIN)).await;
    let inbox = maildir(&env.path("rebonds"));
    env.run_with_stdin(
        &["user", "add", "redaction@example.org", "--role", "editor"],
        "correct horse battery staple\n",
    )
    .await
    .ok();
    env.set("RELAIS_BOUNCE_MAILDIR", inbox.display().to_string());
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    let daemon = env.serve().await;
    std::fs::write(
        inbox.join("tmp/1.M1P1.mx"),
        about(
            "gmail-dsn.eml",
            &sent["parti@example.org"],
            "parti@example.org",
        ),
    )
    .unwrap();
    // Delivered into the maildir the way an MTA does: written in tmp/, then moved to new/.
    std::fs::rename(inbox.join("tmp/1.M1P1.mx"), inbox.join("new/1.M1P1.mx")).unwrap();
    let bounced = eventually(std::time::Duration::from_secs(20), || async {
        statuses(&env).await["parti@example.org"] == "bounced"
    })
    .await;
    assert!(bounced, "the daemon read the report");
    assert_eq!(files_in(&inbox.join("cur")), ["1.M1P1.mx:2,S"]);

    // The issue's report at the desk counts it.
    let cookie = crate::desk::signed_in(&daemon, "redaction@example.org").await;
    let report =
        crate::desk::page(&daemon, &format!("/admin/numeros/{issue}/suivi"), &cookie).await;
    assert!(
        report.contains("Retours des serveurs de messagerie")
            && report.contains("1 — rejets définitifs (adresse exclue)"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_bounce_domain_the_envelope_sender_is_the_senders_address() {
    let (_env, _issue, sent) = sent_to_one("a@example.org", None).await;
    assert_eq!(
        sent["a@example.org"].verp,
        "lettres@occitanie-cooperation.fr"
    );
}

/// A report found by the original's Message-ID alone (no VERP): the Message-ID names its
/// dispatch and person, and is found through them, also once the person was erased; a
/// Message-ID that names another dispatch, or another person, finds nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_id_finds_its_delivery_even_once_the_person_is_erased() {
    let (mut env, _server, issue) = env_with_issue(
        "email,newsletters\nefface@example.org,coopdev-info\nreste@example.org,coopdev-info\n",
    )
    .await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let sent = sent_by_recipient(&sink.wait_for(2).await);

    // The person erases their data through their own preferences link.
    let daemon = env.serve().await;
    let (prefs, _) = personal_links(&env, &issue, "efface@example.org").await;
    let erased = erase_through(&daemon, &prefs).await;
    assert_eq!(erased.status(), 200);

    let kept = &sent["reste@example.org"].message_id;
    let (dispatch, person) = kept
        .strip_prefix("<relais.")
        .and_then(|r| r.split_once('@'))
        .and_then(|(numbers, _)| numbers.split_once('.'))
        .expect("a delivery's Message-ID");
    let (dispatch, person): (i64, i64) = (dispatch.parse().unwrap(), person.parse().unwrap());
    let domain = kept.split_once('@').unwrap().1;
    let other_dispatch = format!("<relais.{}.{person}@{domain}", dispatch + 1);
    let other_person = format!("<relais.{dispatch}.{}@{domain}", person + 100);
    let folder = env.path("rapports");
    std::fs::create_dir(&folder).unwrap();
    for (name, id, rcpt) in [
        (
            "1-efface",
            sent["efface@example.org"].message_id.as_str(),
            "efface@example.org",
        ),
        (
            "2-autre-envoi",
            other_dispatch.as_str(),
            "reste@example.org",
        ),
        (
            "3-autre-personne",
            other_person.as_str(),
            "reste@example.org",
        ),
    ] {
        let text = report(
            "outlook-ndr.eml",
            "lettres@occitanie-cooperation.fr",
            id,
            rcpt,
        );
        std::fs::write(folder.join(format!("{name}.eml")), text).unwrap();
    }
    let run = env
        .run(&["bounces", "ingest", folder.to_str().unwrap(), "--json"])
        .await
        .ok();
    let summary = &run.json_lines()[0];
    assert_eq!(
        (
            summary["matched"].as_i64(),
            summary["suppressed"].as_i64(),
            summary["unmatched"].as_i64()
        ),
        (Some(1), Some(0), Some(2)),
        "{summary}\n{}",
        run.stderr
    );
    assert_eq!(statuses(&env).await["reste@example.org"], "active");
    drop(daemon);
}
