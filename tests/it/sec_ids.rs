//! Security of people, links and imports (issue 9): links name a person by a key that is
//! never reused, confirmations expire, control characters never reach the database, the
//! import streams, and the per-address limit holds.
#![allow(clippy::disallowed_methods)] // the expiry test ages a row in the database directly

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::helpers::*;

const SUBJECT: &str = "Confirmez votre abonnement";

async fn subscribe(daemon: &Daemon, email: &str, name: &str) -> reqwest::Response {
    let form = [
        ("email", email),
        ("name", name),
        ("newsletter", "coopdev-info"),
        ("website", ""),
    ];
    daemon
        .client
        .post(daemon.url("/subscribe"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The links of the confirmation emails received for `email`, in no particular order, once
/// at least `count` have arrived (they are sent by the daemon's workers, not by the request).
async fn confirmation_links(
    sink: &SmtpSink,
    daemon: &Daemon,
    email: &str,
    count: usize,
) -> Vec<String> {
    let links = || {
        sink.complete_messages()
            .iter()
            .filter(|m| m.envelope_to == [email] && m.header("Subject") == Some(SUBJECT))
            .map(|m| find_url(m.part("text/plain").unwrap(), &daemon.url("/confirmer/")).unwrap())
            .collect::<Vec<_>>()
    };
    eventually(Duration::from_secs(15), || async { links().len() >= count }).await;
    links()
}

fn person<'a>(export: &'a [serde_json::Value], email: &str) -> Option<&'a serde_json::Value> {
    export.iter().find(|p| p["email"] == email)
}

async fn text(daemon: &Daemon, url: &str) -> String {
    daemon
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Runs one statement on the test's database, whichever backend it is.
async fn execute(env: &TestEnv, sql: &str, at: chrono::DateTime<chrono::Utc>) {
    use sqlx::Connection;
    if env.database_url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&env.database_url)
            .await
            .unwrap();
        sqlx::query(sql).bind(at).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(&env.database_url)
            .await
            .unwrap();
        sqlx::query(sql).bind(at).execute(&mut c).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_persons_old_links_never_reach_the_next_person_imported() {
    let mut env = TestEnv::new().await;
    let daemon = env.serve().await;
    env.import("email,name\nmarie@example.org,Marie\n")
        .await
        .ok();
    let issue = env.create_issue("coopdev-info").await;
    let (prefs, unsubscribe) = personal_links(&env, &issue, "marie@example.org").await;
    let erased = erase_through(&daemon, &prefs).await;
    assert_eq!(erased.status(), 200);

    env.import("email,name,newsletters\npaul@example.org,Paul Secret,coopdev-info\n")
        .await
        .ok();
    let page = text(&daemon, &prefs).await;
    assert!(page.contains("Aucune donnée"), "{page}");
    assert!(!page.contains("paul@example.org") && !page.contains("Paul Secret"));
    let download = text(&daemon, &format!("{prefs}/donnees")).await;
    assert!(!download.contains("paul@example.org"), "{download}");

    // Nothing done through Marie's links touches Paul.
    daemon
        .client
        .post(&unsubscribe)
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    daemon
        .client
        .post(&prefs)
        .form(&[("action", "enregistrer"), ("name", "Pirate")])
        .send()
        .await
        .unwrap();
    erase_through(&daemon, &prefs).await;
    let export = env.export().await;
    let paul = person(&export, "paul@example.org").expect("Paul is still there");
    assert_eq!(paul["name"], "Paul Secret");
    assert_eq!(paul["newsletters"], serde_json::json!(["coopdev-info"]));

    // Paul's own links are his.
    let (his, _) = personal_links(&env, &issue, "paul@example.org").await;
    assert_ne!(his, prefs);
    assert!(text(&daemon, &his).await.contains("paul@example.org"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_confirmation_link_never_confirms_someone_elses_subscription() {
    let mut env = TestEnv::new().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    let daemon = env.serve().await;
    subscribe(&daemon, "attaquant@example.org", "A").await;
    let own = confirmation_links(&sink, &daemon, "attaquant@example.org", 1)
        .await
        .remove(0);
    // The attacker erases their own pending record, from a preview's preferences link.
    let issue = env.create_issue("coopdev-info").await;
    let (prefs, _) = personal_links(&env, &issue, "attaquant@example.org").await;
    erase_through(&daemon, &prefs).await;

    subscribe(&daemon, "victime@example.org", "V").await;
    let replay = daemon.client.post(&own).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    let export = env.export().await;
    let victim = person(&export, "victime@example.org").unwrap();
    assert_eq!(victim["status"], "pending");
    assert_eq!(victim["newsletters"], serde_json::json!([]));

    // The victim's own link still works.
    let theirs = confirmation_links(&sink, &daemon, "victime@example.org", 1)
        .await
        .remove(0);
    assert_eq!(
        daemon.client.post(&theirs).send().await.unwrap().status(),
        200
    );
    let export = env.export().await;
    assert_eq!(
        person(&export, "victime@example.org").unwrap()["status"],
        "active"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confirmation_link_expires_after_seven_days_and_only_the_newest_one_works() {
    let mut env = TestEnv::new().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    let daemon = env.serve().await;
    subscribe(&daemon, "nadia@example.org", "Nadia").await;
    let first = confirmation_links(&sink, &daemon, "nadia@example.org", 1)
        .await
        .remove(0);

    // A link whose signed end date is past is refused, whatever it names.
    let token = first.rsplit('/').next().unwrap();
    let payload = URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    let payload = String::from_utf8(payload).unwrap();
    let subject = payload.split('.').nth(1).unwrap();
    let signer = relais::audience::Signer::new(&env.env["RELAIS_SECRET"]);
    let past = relais::audience::Claims {
        key: subject.to_string(),
        newsletter_id: 0,
        expires_at: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
    };
    let expired = daemon.url(&format!(
        "/confirmer/{}",
        signer.sign(relais::audience::Scope::Confirm, &past)
    ));
    let answer = daemon.client.post(&expired).send().await.unwrap();
    assert_eq!(answer.status(), 400);
    assert!(answer.text().await.unwrap().contains("expiré"));

    // Eight days later the emailed link is refused too, whatever the token says.
    execute(
        &env,
        "update subscribers set confirmation_sent_at = $1",
        chrono::Utc::now() - chrono::Duration::days(8),
    )
    .await;
    let stale = daemon.client.post(&first).send().await.unwrap();
    assert_eq!(stale.status(), 400);
    assert_eq!(env.export().await[0]["status"], "pending");

    // Asking again sends a new link; the old one stays dead, the new one confirms.
    subscribe(&daemon, "nadia@example.org", "Nadia").await;
    let links = confirmation_links(&sink, &daemon, "nadia@example.org", 2).await;
    assert_eq!(links.len(), 2);
    let second = links.into_iter().find(|l| *l != first).unwrap();
    assert_eq!(
        daemon.client.post(&first).send().await.unwrap().status(),
        400
    );
    assert_eq!(env.export().await[0]["status"], "pending");
    assert_eq!(
        daemon.client.post(&second).send().await.unwrap().status(),
        200
    );
    assert_eq!(env.export().await[0]["status"], "active");
}

#[tokio::test(flavor = "multi_thread")]
async fn control_characters_are_refused_or_cleaned_in_imports_and_forms() {
    let mut env = TestEnv::new().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    let daemon = env.serve().await;
    let mut csv = String::from("email,name\n");
    for i in 0..2500 {
        csv.push_str(&format!("p{i}@example.org,P{i}\n"));
    }
    csv.push_str("marie@example.org,Ma\0rie\n"); // line 2502
    csv.push_str("na\0dia@example.org,Nadia\n");
    csv.push_str("\x1b[2J@example.org,Efface\n");
    csv.push_str("jean@example.org,\x1b[31mJean\u{202E}\n");
    let run = env.import(&csv).await.ok();
    assert!(
        run.stdout.contains("2502 ajouté(s)") && run.stdout.contains("2 rejeté(s)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ligne 2503 : adresse"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ligne 2504 : adresse"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.chars().any(|c| c.is_control() && c != '\n'),
        "no control character reaches the terminal: {:?}",
        run.stdout
    );
    let export = env.export().await;
    assert_eq!(
        person(&export, "marie@example.org").unwrap()["name"],
        "Marie"
    );
    assert_eq!(
        person(&export, "jean@example.org").unwrap()["name"],
        "[31mJean"
    );

    // The subscribe form: a cleaned name, not an error page.
    let answer = subscribe(&daemon, "paul@example.org", "Pa\0ul\u{7}").await;
    assert_eq!(answer.status(), 200);
    let export = env.export().await;
    assert_eq!(person(&export, "paul@example.org").unwrap()["name"], "Paul");
    let refused = subscribe(&daemon, "pa\0ul@example.org", "Paul").await;
    assert_eq!(refused.status(), 400);

    // The preferences form.
    let issue = env.create_issue("coopdev-info").await;
    let (prefs, _) = personal_links(&env, &issue, "marie@example.org").await;
    let saved = daemon
        .client
        .post(&prefs)
        .form(&[
            ("action", "enregistrer"),
            ("name", "Marie\0 D.\r\n"),
            ("newsletter", "coopdev-info"),
            ("newsletter", "echos-du-reseau"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    let export = env.export().await;
    assert_eq!(
        person(&export, "marie@example.org").unwrap()["name"],
        "Marie D."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_lines_are_numbered_as_in_the_file_with_crlf_endings() {
    let env = TestEnv::new().await;
    let run = env
        .import(
            "email,name\r\nmarie@example.org,Marie\r\npas-une-adresse,Paul\r\n\
             lea@example.org,\"Léa\r\nsur deux lignes\"\r\nencore-faux,Zoé\r\n",
        )
        .await
        .ok();
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("ligne "))
        .collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with("ligne 3 :"), "{}", run.stdout);
    assert!(lines[1].starts_with("ligne 6 :"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_with_accents_before_the_at_is_refused_at_the_door() {
    let mut env = TestEnv::new().await;
    let daemon = env.serve().await;
    let answer = subscribe(&daemon, "andré@example.org", "André").await;
    assert_eq!(answer.status(), 400);
    let page = answer.text().await.unwrap();
    assert!(page.contains("lettres accentuées"), "{page}");

    let run = env
        .import("email\nandré@example.org\ncontact@coopération.fr\n")
        .await
        .ok();
    assert!(
        run.stdout
            .contains("ligne 2 : adresse « andré@example.org » refusée : les lettres accentuées"),
        "{}",
        run.stdout
    );
    let export = env.export().await;
    assert_eq!(export.len(), 1);
    assert_eq!(export[0]["email"], "contact@xn--coopration-e7a.fr");
}

/// Peak resident memory of one `subscribers import` of `lines` lines, in kB, polled from
/// /proc while it runs.
async fn import_peak_kb(env: &TestEnv, lines: usize) -> u64 {
    let mut csv = String::with_capacity(lines * 40);
    csv.push_str("email,name\n");
    for i in 0..lines {
        csv.push_str(&format!("pas-une-adresse-{i},Personne {i}\n"));
    }
    let path = env.path("big.csv");
    std::fs::write(&path, csv).unwrap();
    let mut child = env.spawn(&["subscribers", "import", path.to_str().unwrap()]);
    let pid = child.id().unwrap();
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Ok(Some(done)) = child.try_wait() {
            assert!(done.success());
            return peak;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_import_runs_in_bounded_memory() {
    let env = TestEnv::new().await;
    env.run(&["migrate"]).await.ok();
    let small = import_peak_kb(&env, 20_000).await;
    let large = import_peak_kb(&env, 400_000).await;
    // 380,000 more lines (15 MB more file): a stream needs no more memory for them.
    assert!(
        large < small + 8 * 1024,
        "peak {small} kB for 20,000 lines, {large} kB for 400,000"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_preferences_form_sends_at_most_three_confirmations_a_day() {
    let mut env = TestEnv::new().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    let daemon = env.serve().await;
    env.import("email,newsletters\nmarie@example.org,coopdev-info;echos-du-reseau\n")
        .await
        .ok();
    let issue = env.create_issue("coopdev-info").await;
    let (prefs, _) = personal_links(&env, &issue, "marie@example.org").await;
    for _ in 0..5 {
        for titles in [
            &["echos-du-reseau"][..],
            &["echos-du-reseau", "coopdev-info"],
        ] {
            let mut form = vec![("action", "enregistrer")];
            form.extend(titles.iter().map(|t| ("newsletter", *t)));
            let saved = daemon.client.post(&prefs).form(&form).send().await.unwrap();
            assert_eq!(saved.status(), 200);
        }
    }
    // Three confirmations queued, not ten. One queued while an older one still waited
    // replaces it (only the newest link confirms), so one to three of them are sent.
    let settled = eventually(Duration::from_secs(15), || async {
        let run = env.run(&["--json", "mail", "status"]).await.ok();
        let c = run.json_lines()[0]["counts"].clone();
        c["queued"] == 0 && c["sending"] == 0 && c["deferred"] == 0
    })
    .await;
    assert!(settled, "the queue empties");
    let run = env.run(&["--json", "mail", "status"]).await.ok();
    let counts = run.json_lines()[0]["counts"].clone();
    assert_eq!(
        counts["sent"].as_i64().unwrap() + counts["skipped"].as_i64().unwrap(),
        3,
        "three a day for one address: {counts}"
    );
    let sent = confirmation_links(&sink, &daemon, "marie@example.org", 1).await;
    assert_eq!(sent.len() as i64, counts["sent"].as_i64().unwrap());
    // Only the newest link confirms. A mail carries the key that is newest when it leaves,
    // so two mails sent after the last request carry the same, newest, link.
    let mut confirmed = Vec::new();
    for link in &sent {
        if daemon.client.post(link).send().await.unwrap().status() == 200 {
            confirmed.push(link.clone());
        }
    }
    confirmed.sort();
    confirmed.dedup();
    assert_eq!(
        confirmed.len(),
        1,
        "one link confirms: {confirmed:?} of {sent:?}"
    );
    assert_eq!(
        env.export().await[0]["newsletters"],
        serde_json::json!(["coopdev-info", "echos-du-reseau"])
    );
}
