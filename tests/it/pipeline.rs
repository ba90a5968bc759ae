//! The whole path: a feed on a local server, fetch, compose an issue, render, send over SMTP.

use crate::helpers::*;

const FEED: &str = include_str!("../fixtures/feeds/politiques.xml");

pub async fn env_with_feed() -> (TestEnv, FeedServer) {
    let server = FeedServer::start(vec![
        ("/feed.xml", Route::feed(FEED)),
        ("/gone.xml", Route::status(500)),
    ])
    .await;
    let env = TestEnv::new().await;
    env.write_sources(&format!(
        "[[source]]\nslug = \"veille\"\nname = \"Veille test\"\nurl = \"{}\"\nthemes = [\"financement\"]\nallow_private = true\n\n\
         [[source]]\nslug = \"en-panne\"\nname = \"Source en panne\"\nurl = \"{}\"\nallow_private = true\n\n\
         [[rule]]\ncountry = \"SN\"\nkeywords = [\"Sénégal\"]\n",
        server.url("/feed.xml"),
        server.url("/gone.xml")
    ));
    (env, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_stores_clean_items_once_and_reports_failing_sources() {
    let (env, server) = env_with_feed().await;
    let run = env.run(&["fetch"]).await.ok();
    assert!(
        run.stderr.contains("en-panne : le serveur a répondu 500"),
        "{}",
        run.stderr
    );

    let items = env.run(&["items", "--json"]).await.ok().json_lines();
    assert_eq!(items.len(), 3);
    let appel = items
        .iter()
        .find(|i| i["guid"] == "appel-eau-2027")
        .unwrap();
    assert_eq!(
        appel["title"],
        "Appel à projets « Eau et assainissement » 2027"
    );
    assert_eq!(
        appel["url"],
        format!("{}", server.url("/appels/eau-2027?utm_source=rss"))
    );
    let summary = appel["summary"].as_str().unwrap();
    assert!(
        !summary.contains("script") && !summary.contains("pixel.gif"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("href=\"{}\"", server.url("/senegal"))),
        "{summary}"
    );
    assert_eq!(appel["countries"], serde_json::json!(["SN"]));
    assert_eq!(appel["themes"], serde_json::json!(["financement"]));
    assert_eq!(appel["status"], "new");
    let rapport = items
        .iter()
        .find(|i| i["title"].as_str().unwrap().starts_with("Rapport"))
        .unwrap();
    assert_eq!(
        rapport["title"],
        "Rapport annuel sur l\u{2019}aide publique au développement"
    );

    // A second pass, of one source only, finds nothing new.
    env.run(&["fetch", "--source", "veille"]).await.ok();
    assert_eq!(
        env.run(&["items", "--json"]).await.ok().json_lines().len(),
        3
    );
    assert_eq!((server.hits("/feed.xml"), server.hits("/gone.xml")), (2, 1));
    let unknown = env.run(&["fetch", "--source", "inconnue"]).await;
    assert_ne!(unknown.code, 0);

    let sources = env.run(&["sources", "--json"]).await.ok().json_lines();
    let broken = sources.iter().find(|s| s["slug"] == "en-panne").unwrap();
    assert_eq!(broken["state"], "failing");
    assert!(broken["last_error"].as_str().unwrap().contains("500"));
    let ok = sources.iter().find(|s| s["slug"] == "veille").unwrap();
    assert_eq!(
        (ok["state"].as_str(), ok["item_count"].as_i64()),
        (Some("ok"), Some(3))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_issue_goes_from_feed_to_every_subscriber_exactly_once() {
    let (mut env, _server) = env_with_feed().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set(
        "RELAIS_LIST_UNSUBSCRIBE_MAILTO",
        "desinscription@example.org",
    );
    env.run(&["fetch"]).await.ok();
    env.import(
        "email,name,newsletters\nmarie@example.org,Marie Dupont,coopdev-info\npaul@example.org,,\nlea@example.org,Léa,echos-du-reseau\n",
    )
    .await
    .ok();

    let issue = env
        .run(&[
            "issue",
            "create",
            "coopdev-info",
            "--subject",
            "Veille de novembre",
        ])
        .await
        .ok();
    let issue = issue.stdout.trim().to_string();
    assert!(
        issue.parse::<i64>().is_ok(),
        "issue create prints the id alone: {issue:?}"
    );
    let appel = env.item_id("Eau et assainissement").await.to_string();
    let rapport = env.item_id("Rapport").await.to_string();
    env.run(&[
        "issue",
        "add",
        &issue,
        "--item",
        &appel,
        "--section",
        "appels-a-projets",
    ])
    .await
    .ok();
    env.run(&["issue", "add", &issue, "--item", &rapport])
        .await
        .ok();
    let twice = env.run(&["issue", "add", &issue, "--item", &rapport]).await;
    assert_ne!(twice.code, 0, "the same item cannot be added twice");

    let text = env
        .run(&["issue", "render", &issue, "--format", "text"])
        .await
        .ok()
        .stdout;
    assert!(text.contains("== Appels à projets =="), "{text}");
    assert!(text.contains("Appel à projets « Eau et assainissement » 2027"));
    // Rendered for no one in particular, the personal links say that they are each reader's.
    assert!(
        text.contains("/desinscription/LIEN-PERSONNEL-DE-CHAQUE-ABONNE")
            && text.contains("/preferences/LIEN-PERSONNEL-DE-CHAQUE-ABONNE"),
        "{text}"
    );
    let html = env.run(&["issue", "render", &issue]).await.ok().stdout;
    assert!(html.contains("<!doctype html>") && html.contains("Politiques publiques"));
    assert!(!html.contains("Agenda"), "empty sections disappear");

    let run = env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert!(run.stderr.contains("2 envoyé(s)"), "{}", run.stderr);
    let status = env.status(&issue).await;
    assert_eq!(status["sent"], 2);
    assert_eq!(status["queued"], 0);

    let messages = sink.messages();
    let mut recipients: Vec<String> = messages
        .iter()
        .flat_map(|m| m.envelope_to.clone())
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        vec!["marie@example.org", "paul@example.org"],
        "one message per subscriber of the title"
    );
    for m in &messages {
        assert_eq!(m.content_type, "multipart/alternative");
        assert_eq!(m.header("To"), Some(m.envelope_to[0].as_str()));
        assert_eq!(m.header("Subject"), Some("Veille de novembre"));
        assert_eq!(
            m.header("List-Unsubscribe-Post"),
            Some("List-Unsubscribe=One-Click")
        );
        assert!(m.header("List-Id").unwrap().contains("<coopdev-info."));
        assert!(m
            .unsubscribe_url()
            .starts_with("http://127.0.0.1:8080/desinscription/"));
        let header = m.header("List-Unsubscribe").unwrap();
        assert!(
            header.contains(">, <mailto:desinscription@example.org?subject=desinscription%20"),
            "{header}"
        );
        for single in ["From", "To", "Subject", "Date", "Message-ID"] {
            assert_eq!(m.header_count(single), 1, "{single} appears once");
        }
        let text = m.part("text/plain").expect("a text part");
        let html = m.part("text/html").expect("an HTML part");
        assert!(text.contains("Rapport annuel"));
        assert!(html.contains("Rapport annuel"));
        assert!(
            text.contains(&m.unsubscribe_url()),
            "the text part writes the unsubscribe link out"
        );
    }
    let marie = messages
        .iter()
        .find(|m| m.envelope_to[0] == "marie@example.org")
        .unwrap();
    assert!(marie
        .part("text/plain")
        .unwrap()
        .contains("Bonjour Marie Dupont, vous recevez"));

    // Sending again resumes the same dispatch: nobody gets a second copy.
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert_eq!(sink.messages().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_smtp_messages_go_to_the_outbox_folder() {
    let (env, _server) = env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    env.import("email\nmarie@example.org\n").await.ok();
    let issue = env.create_issue("coopdev-info").await;
    let item = env.item_id("Rencontre").await.to_string();
    env.run(&[
        "issue",
        "add",
        &issue,
        "--item",
        &item,
        "--section",
        "agenda",
    ])
    .await
    .ok();
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let files: Vec<_> = std::fs::read_dir(env.path("outbox"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1);
    let message = Captured::parse(&std::fs::read(&files[0]).unwrap());
    assert_eq!(message.header("To"), Some("marie@example.org"));
    assert!(message
        .part("text/plain")
        .unwrap()
        .contains("Rencontre des acteurs"));
}

/// Band keys and tags are stored beside each item without foreign keys (issue 15): deleting
/// items by hand, as an operator cleaning a source's history would, still takes them along,
/// and nothing of a deleted item is found by its similarity keys or its tags.
#[tokio::test(flavor = "multi_thread")]
async fn deleting_items_deletes_their_band_keys_and_tags() {
    let (env, _server) = env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    let count = |table: &'static str| {
        let env = &env;
        async move {
            sql_text(env, &format!("select cast(count(*) as text) from {table}"))
                .await
                .unwrap_or_default()
                .parse::<i64>()
                .unwrap()
        }
    };
    assert_eq!(count("items").await, 3);
    assert_eq!(count("item_bands").await, 3 * 16);
    assert!(
        count("item_tags").await >= 3,
        "every item has its source's theme"
    );
    sql(
        &env,
        "delete from items where id in (select min(id) from items)",
        &[],
    )
    .await;
    assert_eq!(count("items").await, 2);
    assert_eq!(count("item_bands").await, 2 * 16);
    assert_eq!(
        count("item_tags where item_id not in (select id from items)").await,
        0
    );
    sql(&env, "delete from items", &[]).await;
    assert_eq!(count("item_bands").await, 0);
    assert_eq!(count("item_tags").await, 0);
}
