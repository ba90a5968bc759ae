//! The core (issue 10): transactional mail through the ledger, nothing stranded, real client
//! addresses behind a proxy, embedded defaults, DKIM keys as operators have them, the
//! configured time zone, and bounded page numbers.

use std::time::{Duration, Instant};

use crate::helpers::*;

async fn subscribe_from(
    daemon: &Daemon,
    email: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let form = [
        ("email", email),
        ("name", "Awa"),
        ("newsletter", "coopdev-info"),
        ("website", ""),
    ];
    let mut request = daemon.client.post(daemon.url("/subscribe")).form(&form);
    if let Some(ip) = forwarded_for {
        request = request.header("X-Forwarded-For", ip);
    }
    request.send().await.unwrap()
}

async fn mail_counts(env: &TestEnv) -> serde_json::Value {
    let run = env.run(&["--json", "mail", "status"]).await.ok();
    run.json_lines()
        .into_iter()
        .find(|l| l["kind"] == "confirmation")
        .expect("a line for confirmations")["counts"]
        .clone()
}

/// A relay that takes connections and never says a word.
async fn silent_relay() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_is_answered_at_once_with_the_relay_down_and_its_signed_confirmation_follows(
) {
    let dkim = has_tool("python3", &["-c", "import dkim"], "python3-dkim");
    let mut env = TestEnv::new().await;
    let (port, relay) = silent_relay().await;
    env.set("RELAIS_SMTP_URL", format!("smtp://127.0.0.1:{port}"));
    env.set("RELAIS_SMTP_TIMEOUT", "5s");
    env.set("RELAIS_RETRY_SCHEDULE", "1s");
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    let (key, public) = pkcs8_key(&env);
    env.set("RELAIS_DKIM_KEY", key.display().to_string());
    env.set("RELAIS_DKIM_SELECTOR", "relais");
    env.set("RELAIS_DKIM_DOMAIN", "occitanie-cooperation.fr");
    let daemon = env.serve().await;

    // The relay says nothing for as long as it is asked (5 s, then the sender gives up and
    // retries): the page does not wait for it. How fast the page answers is measured by
    // scripts/bench-subscribe.sh; here, only that it does not wait on SMTP.
    let started = Instant::now();
    let answer = daemon
        .client
        .post(daemon.url("/subscribe"))
        .form(&[
            ("email", "awa@example.org"),
            ("name", "Awa"),
            ("newsletter", "coopdev-info"),
            ("website", ""),
        ])
        .timeout(Duration::from_secs(4))
        .send()
        .await
        .expect("the page answers before the relay's timeout");
    let took = started.elapsed();
    assert_eq!(answer.status(), 200);
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("Vérifiez votre boîte"));
    assert!(
        took < Duration::from_secs(4),
        "the page waited {took:?} for an SMTP relay that never answers"
    );
    let counts = mail_counts(&env).await;
    assert_eq!(counts["sent"], 0, "{counts}");
    assert_eq!(
        counts["queued"].as_i64().unwrap()
            + counts["sending"].as_i64().unwrap()
            + counts["deferred"].as_i64().unwrap(),
        1,
        "the confirmation waits in the queue: {counts}"
    );

    // The relay comes back where it was; the retry delivers the confirmation, signed.
    relay.abort();
    let _ = relay.await;
    let sink = SmtpSink::start_on(port, &[]).await;
    let messages = sink.wait_for(1).await;
    assert_eq!(messages.len(), 1, "one confirmation, sent once");
    let m = &messages[0];
    assert_eq!(m.envelope_to, ["awa@example.org"]);
    assert_eq!(m.header("Subject"), Some("Confirmez votre abonnement"));
    assert!(m.header("List-Unsubscribe").is_none(), "not a list message");
    assert!(m.header("DKIM-Signature").is_some(), "signed");
    let text = m.part("text/plain").unwrap();
    assert!(text.contains("Bonjour Awa"), "{text}");
    let html = m.part("text/html").unwrap();
    assert!(html.contains("Confirmer mon abonnement"), "{html}");
    let link = find_url(text, &daemon.url("/confirmer/")).expect("a confirmation link");
    if dkim {
        assert_eq!(dkim_verifies(&env, &sink.raw_messages()[0], &public), "ok");
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            mail_counts(&env).await["sent"] == 1
        })
        .await,
        "mail status counts it sent: {}",
        mail_counts(&env).await
    );
    let metrics = daemon.text("/metrics").await;
    for line in [
        "relais_messages_total{ledger=\"mail\",outcome=\"sent\"} 1",
        "relais_messages_total{ledger=\"mail\",outcome=\"deferred\"}",
        "relais_scheduler_leader 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    let human = env.run(&["mail", "status"]).await.ok().stdout;
    assert!(
        human.contains("confirmations : en file 0") && human.contains("envoyés 1"),
        "{human}"
    );

    // The link works.
    let confirmed = daemon.client.post(&link).send().await.unwrap();
    assert_eq!(confirmed.status(), 200);
    let export = env.export().await;
    assert_eq!(export[0]["status"], "active", "{export:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_sender_leaves_nothing_stranded_while_the_daemon_runs() {
    let mut env = TestEnv::new().await;
    env.import(
        "email,newsletters\na@example.org,coopdev-info\nb@example.org,coopdev-info\nc@example.org,coopdev-info\n",
    )
    .await
    .ok();
    let issue = env.create_issue("coopdev-info").await;
    // The sender keeps the first message in flight for 30 s on a slow relay.
    let slow = SmtpSink::start(&["-W", ".:30"]).await;
    env.set("RELAIS_SMTP_URL", slow.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "1");
    let mut sender = env.spawn(&["issue", "send", &issue, "--wait"]);
    assert!(
        eventually(Duration::from_secs(10), || async {
            !slow.complete_messages().is_empty()
        })
        .await,
        "the first message reached the slow relay"
    );
    // The daemon starts while the sender is alive: its start-up recovery leaves that row
    // alone. It sends the two others through a relay that answers.
    let fast = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", fast.url());
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    let _daemon = env.serve().await;
    sender.kill().await.unwrap();

    // Housekeeping sees the dead sender's row: it becomes `unknown` (it may have arrived) and
    // the dispatch finishes.
    let settled = eventually(Duration::from_secs(20), || async {
        let s = env.status(&issue).await;
        s["sending"] == 0 && s["queued"] == 0 && s["unknown"] == 1 && s["sent"] == 2
    })
    .await;
    assert!(settled, "{}", env.status(&issue).await);
    let mut everyone: Vec<String> = slow
        .complete_messages()
        .iter()
        .chain(fast.complete_messages().iter())
        .flat_map(|m| m.envelope_to.clone())
        .collect();
    everyone.sort();
    assert_eq!(
        everyone,
        ["a@example.org", "b@example.org", "c@example.org"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_limits_and_consents_use_the_visitors_address() {
    let mut env = TestEnv::new().await;
    env.set("RELAIS_TRUSTED_PROXIES", "127.0.0.1/32, ::1");
    let daemon = env.serve().await;
    // Seven visitors through the same proxy: none is held back by the others.
    for i in 1..=7 {
        let r = subscribe_from(
            &daemon,
            &format!("visiteur{i}@example.org"),
            Some(&format!("203.0.113.{i}")),
        )
        .await;
        assert_eq!(r.status(), 200, "visitor {i} was refused");
    }
    let export = env.export().await;
    let ip = export
        .iter()
        .find(|p| p["email"] == "visiteur3@example.org")
        .map(|p| p["consents"][0]["ip"].clone())
        .unwrap();
    assert_eq!(ip, "203.0.113.3", "{export:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_trusted_proxy_forwarded_headers_change_nothing() {
    let mut env = TestEnv::new().await;
    let daemon = env.serve().await;
    // A script writing a new X-Forwarded-For each time is still one connection: the burst of
    // five passes, the sixth is held back.
    let mut statuses = Vec::new();
    for i in 1..=6 {
        let r = subscribe_from(
            &daemon,
            &format!("script{i}@example.org"),
            Some(&format!("198.51.100.{i}")),
        )
        .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    let export = env.export().await;
    let ip = &export
        .iter()
        .find(|p| p["email"] == "script1@example.org")
        .unwrap()["consents"][0]["ip"];
    assert_eq!(
        ip, "127.0.0.1",
        "the consent names the real peer: {export:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn relais_runs_from_an_empty_folder_on_its_built_in_templates_and_sources() {
    let mut env = TestEnv::new().await;
    env.env.remove("RELAIS_TEMPLATES_DIR");
    env.env.remove("RELAIS_SOURCES");
    std::fs::remove_file(env.path("sources.toml")).unwrap();
    env.run(&["migrate"]).await.ok();
    let sources = env.run(&["--json", "sources"]).await.ok().json_lines();
    assert!(sources.len() >= 5, "the built-in feed list: {sources:?}");

    // One file in the operator's folder overrides its built-in copy; the rest still works.
    std::fs::create_dir_all(env.path("templates/web")).unwrap();
    std::fs::write(env.path("templates/web/site.css"), "/* charte locale */\n").unwrap();
    let daemon = env.serve().await;
    let css = daemon.text("/static/site.css").await;
    assert_eq!(css, "/* charte locale */\n");
    let home = daemon.client.get(daemon.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("action=\"/subscribe\""));
    let issue = env.create_issue("coopdev-info").await;
    let html = env.run(&["issue", "render", &issue]).await.ok().stdout;
    assert!(html.contains("<html"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_templates_folder_that_does_not_exist_is_a_clear_error() {
    let mut env = TestEnv::new().await;
    env.set(
        "RELAIS_TEMPLATES_DIR",
        env.path("modeles").display().to_string(),
    );
    let run = env.run(&["migrate"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("templates_dir") && run.stderr.contains("modeles"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_number_past_any_archive_is_not_found_not_a_crash() {
    let mut env = TestEnv::new().await;
    let daemon = env.serve().await;
    for page in ["9223372036854775807", "4611686018427387904", "0", "-1"] {
        let r = daemon
            .client
            .get(daemon.url(&format!("/lettres/coopdev-info?page={page}")))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(r.status().as_u16(), 400 | 404),
            "page {page}: {}",
            r.status()
        );
    }
    let health = daemon
        .client
        .get(daemon.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn dates_in_an_issue_are_those_of_the_configured_time_zone() {
    // 20:00 UTC on 1 March is already 2 March in Auckland, still 1 March in Paris.
    let feed = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title><link>https://example.org/</link>\
        <item><title>Appel tardif</title><link>https://example.org/appel</link><guid>appel-1</guid>\
        <pubDate>Sun, 01 Mar 2026 20:00:00 GMT</pubDate></item></channel></rss>";
    let server = FeedServer::start(vec![("/feed.xml", Route::feed(feed))]).await;
    let mut env = TestEnv::new().await;
    env.write_sources(&format!(
        "[[source]]\nslug = \"veille\"\nname = \"Veille\"\nurl = \"{}\"\nallow_private = true\n",
        server.url("/feed.xml")
    ));
    env.run(&["fetch"]).await.ok();
    let item = env.item_id("Appel tardif").await.to_string();
    let issue = env.create_issue("coopdev-info").await;
    env.run(&["issue", "add", &issue, "--item", &item])
        .await
        .ok();
    let render = ["issue", "render", issue.as_str(), "--format", "text"];
    let paris = env.run(&render).await.ok().stdout;
    assert!(
        paris.contains("1\u{a0}mars\u{a0}2026") && !paris.contains("2\u{a0}mars"),
        "{paris}"
    );
    env.set("RELAIS_TIMEZONE", "Pacific/Auckland");
    let auckland = env.run(&render).await.ok().stdout;
    assert!(auckland.contains("2\u{a0}mars\u{a0}2026"), "{auckland}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_address_hash_is_kept_with_the_person_and_filled_in_for_older_rows() {
    let env = TestEnv::new().await;
    env.import("email,name\nmarie@example.org,Marie\n")
        .await
        .ok();
    // SHA-256 of the normalised address, as suppressions and consents keep it.
    let stored = sql_text(&env, "select email_hash from subscribers")
        .await
        .unwrap();
    assert_eq!(
        stored,
        "a28c8ac70fce16890e6b1a5117cf46068379886f363a783b42f157c6270b3c07"
    );
    // A row from before the column existed gets the same hash when relais next opens.
    sql(&env, "update subscribers set email_hash = null", &[]).await;
    env.run(&["migrate"]).await.ok();
    assert_eq!(
        sql_text(&env, "select email_hash from subscribers").await,
        Some(stored.clone())
    );
    // And it is the one suppressions use: a bounce blocks a re-import by that hash.
    sql(&env, "insert into suppressions (email_hash, reason, created_at) values ($1, 'staff', '2026-01-01 00:00:00')", &[&stored]).await;
    let run = env
        .import("email,name\nmarie@example.org,Marie B.\n")
        .await
        .ok();
    assert!(
        run.stdout.contains("0 mis à jour") && run.stdout.contains("1 rejeté(s)"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_export_shows_a_person_who_left_every_title_as_unsubscribed() {
    let mut env = TestEnv::new().await;
    let daemon = env.serve().await;
    env.import("email,newsletters\nlea@example.org,coopdev-info\n")
        .await
        .ok();
    let issue = env.create_issue("coopdev-info").await;
    let text = env
        .run(&[
            "issue",
            "render",
            &issue,
            "--format",
            "text",
            "--to",
            "lea@example.org",
        ])
        .await
        .ok()
        .stdout;
    let unsubscribe = find_url(&text, &daemon.url("/desinscription/")).expect("a link");
    let done = daemon
        .client
        .post(&unsubscribe)
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let export = env.export().await;
    assert_eq!(export[0]["status"], "unsubscribed", "{export:?}");
    assert_eq!(export[0]["newsletters"], serde_json::json!([]));
    let csv = env.run(&["subscribers", "export"]).await.ok().stdout;
    assert!(csv.contains("lea@example.org,,unsubscribed,"), "{csv}");
}
