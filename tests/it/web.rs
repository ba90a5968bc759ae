//! The daemon's HTTP side through the real server: health, the subscribe form and double
//! opt-in, one-click unsubscribe.

use crate::helpers::*;
use crate::pipeline::env_with_feed;

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_serves_health_metrics_and_the_subscribe_page() {
    let mut env = TestEnv::new().await;
    let daemon = env.serve().await;
    let health = daemon
        .client
        .get(daemon.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let metrics = daemon
        .client
        .get(daemon.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("\nrelais_scheduler_leader 1\n"),
        "a lone daemon leads: {metrics}"
    );
    let home = daemon.client.get(daemon.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let page = home.text().await.unwrap();
    assert!(page.contains("<html lang=\"fr\">"));
    let page = html_escape::decode_html_entities(&page);
    assert!(page.contains("action=\"/subscribe\"") && page.contains("name=\"website\""));
    assert!(page.contains("Les Échos du Réseau") && page.contains("Coopdev' info"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_subscribes_confirms_by_the_emailed_link_and_receives_the_next_issue() {
    let (mut env, _server) = env_with_feed().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    let daemon = env.serve().await;
    let form = [
        ("email", "Nadia@Example.org"),
        ("name", "Nadia"),
        ("newsletter", "coopdev-info"),
        ("theme", "sante"),
        ("website", ""),
    ];
    let answer = daemon
        .client
        .post(daemon.url("/subscribe"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let page = answer.text().await.unwrap();
    assert!(page.contains("Vérifiez votre boîte de réception"));

    // The same request again is answered the same way, without a second email.
    let again = daemon
        .client
        .post(daemon.url("/subscribe"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(again, page);
    sink.wait_for(1).await;
    // Time for a second message to arrive, if one were queued.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mails = sink.complete_messages();
    assert_eq!(mails.len(), 1, "one confirmation per address per day");
    assert_eq!(mails[0].envelope_to, vec!["nadia@example.org"]);
    assert!(
        mails[0]
            .header("From")
            .unwrap()
            .contains("ne-pas-repondre@"),
        "confirmations come from the transactional address"
    );
    let text = mails[0].part("text/plain").unwrap();
    let link = find_url(text, &daemon.url("/confirmer/")).expect("a confirmation link");

    // A GET (a link scanner) confirms nothing.
    let get = daemon.client.get(&link).send().await.unwrap();
    assert_eq!(get.status(), 200);
    let export = env.export().await;
    assert_eq!(export[0]["status"], "pending");
    assert_eq!(export[0]["newsletters"], serde_json::json!([]));

    let post = daemon.client.post(&link).send().await.unwrap();
    assert_eq!(post.status(), 200);
    let export = env.export().await;
    assert_eq!(export[0]["email"], "nadia@example.org");
    assert_eq!(export[0]["status"], "active");
    assert_eq!(
        export[0]["newsletters"],
        serde_json::json!(["coopdev-info"])
    );
    assert_eq!(export[0]["themes"], serde_json::json!(["sante"]));
    let consent = export[0]["consents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "subscribe")
        .unwrap();
    assert_eq!(consent["method"], "form");
    assert_eq!(consent["ip"], "127.0.0.1");
    assert!(consent["text_version"].is_string() && consent["confirmed_at"].is_string());

    let tampered = format!("{}x", link);
    let bad = daemon.client.post(&tampered).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("Lien non valide"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_honeypot_answers_the_same_and_does_nothing() {
    let mut env = TestEnv::new().await;
    let daemon = env.serve().await;
    let form = [
        ("email", "bot@example.org"),
        ("newsletter", "coopdev-info"),
        ("website", "http://spam"),
    ];
    let answer = daemon
        .client
        .post(daemon.url("/subscribe"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("Vérifiez votre boîte de réception"));
    let export = env.run(&["subscribers", "export", "--json"]).await.ok();
    assert!(export.stdout.trim().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_click_unsubscribe_from_the_header_stops_the_next_issue() {
    let (mut env, _server) = env_with_feed().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    let daemon = env.serve().await;
    env.run(&["fetch", "--source", "veille"]).await.ok();
    env.import("email,newsletters\nmarie@example.org,coopdev-info;echos-du-reseau\npaul@example.org,coopdev-info\n").await.ok();
    let item = env.newest_item().await;
    env.send_item("coopdev-info", &item).await;
    let marie = sink
        .messages()
        .into_iter()
        .find(|m| m.envelope_to[0] == "marie@example.org")
        .unwrap();
    let url = marie.unsubscribe_url();
    assert!(url.starts_with(&daemon.base), "{url}");

    // A GET shows a page and changes nothing.
    let get = daemon.client.get(&url).send().await.unwrap();
    assert_eq!(get.status(), 200);
    assert!(get.text().await.unwrap().contains("Me désabonner"));
    let export = env.export().await;
    let row = export
        .iter()
        .find(|s| s["email"] == "marie@example.org")
        .unwrap();
    assert_eq!(
        row["newsletters"],
        serde_json::json!(["coopdev-info", "echos-du-reseau"])
    );

    // What a mail provider sends (RFC 8058): 200, no redirect, no cookie; twice is fine.
    for _ in 0..2 {
        let post = daemon
            .client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 200);
        assert!(post.headers().get("set-cookie").is_none());
    }
    let export = env.export().await;
    let row = export
        .iter()
        .find(|s| s["email"] == "marie@example.org")
        .unwrap();
    assert_eq!(
        row["newsletters"],
        serde_json::json!(["echos-du-reseau"]),
        "only the title of the message"
    );
    assert!(row["consents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["action"] == "unsubscribe" && c["method"] == "one-click"));

    env.send_item("coopdev-info", &item).await;
    let to_marie = sink
        .messages()
        .iter()
        .filter(|m| m.envelope_to[0] == "marie@example.org")
        .count();
    let to_paul = sink
        .messages()
        .iter()
        .filter(|m| m.envelope_to[0] == "paul@example.org")
        .count();
    assert_eq!((to_marie, to_paul), (1, 2));

    // A forged token changes nothing and says so.
    let forged = url.replace("/desinscription/", "/desinscription/x");
    let post = daemon.client.post(&forged).send().await.unwrap();
    assert_eq!(post.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_polls_due_sources_and_sends_queued_issues_by_itself() {
    let (mut env, _server) = env_with_feed().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    let daemon = env.serve().await;
    let polled = eventually(std::time::Duration::from_secs(10), || async {
        env.run(&["items", "--json"]).await.ok().json_lines().len() == 3
    })
    .await;
    assert!(polled, "the daemon polled the feed on its own");
    let items = env.run(&["items", "--json"]).await.ok().json_lines();

    env.import("email,newsletters\nmarie@example.org,coopdev-info\n")
        .await
        .ok();
    let issue = env.create_issue("coopdev-info").await;
    env.run(&[
        "issue",
        "add",
        &issue,
        "--item",
        &items[0]["id"].to_string(),
    ])
    .await
    .ok();
    env.run(&["issue", "send", &issue]).await.ok();
    assert_eq!(
        sink.wait_for(1).await.len(),
        1,
        "the daemon's sender delivered the queued issue"
    );
    let status = env.status(&issue).await;
    assert_eq!(status["sent"], 1);

    // Once sent, the issue has a public web version without anyone's personal links.
    let page = daemon.url(&format!("/lettres/coopdev-info/{issue}"));
    // The daemon marks the issue sent at its next tick; a loaded machine may take a while.
    let published = eventually(std::time::Duration::from_secs(30), || async {
        daemon.client.get(&page).send().await.unwrap().status() == 200
    })
    .await;
    assert!(published, "the web version of the sent issue answers");
    let answer = daemon.client.get(&page).send().await.unwrap();
    let html = answer.text().await.unwrap();
    assert!(html.contains(
        items[0]["title"]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
    ));
    assert!(!html.contains("/desinscription/") && !html.contains("__RELAIS_"));
    let draft = env.create_issue("coopdev-info").await;
    let hidden = daemon
        .client
        .get(daemon.url(&format!("/lettres/coopdev-info/{draft}")))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), 404, "drafts are not public");
}

/// The preferences link of the newest message to `email`.
fn preferences_link(sink: &SmtpSink, email: &str, base: &str) -> String {
    let message = sink
        .messages()
        .into_iter()
        .rfind(|m| m.envelope_to[0] == email)
        .expect("a message");
    find_url(
        message.part("text/plain").unwrap(),
        &format!("{base}/preferences/"),
    )
    .expect("a preferences link")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_preferences_centre_changes_titles_and_interests_and_erases_on_request() {
    let (mut env, _server) = env_with_feed().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    let daemon = env.serve().await;
    env.run(&["fetch", "--source", "veille"]).await.ok();
    env.import("email,name,newsletters,themes\nmarie@example.org,Marie,coopdev-info;echos-du-reseau,sante\n").await.ok();
    let item = env.newest_item().await;
    let issue = env.send_item("coopdev-info", &item).await;
    let link = preferences_link(&sink, "marie@example.org", &daemon.base);

    let page = daemon
        .client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("marie@example.org") && page.contains("Vos préférences"));
    assert!(
        page.contains("value=\"sante\" checked"),
        "current interests are ticked"
    );

    // Keep only Les Échos, change interests.
    let form = [
        ("action", "enregistrer"),
        ("name", "Marie D."),
        ("newsletter", "echos-du-reseau"),
        ("theme", "agriculture"),
        ("country", "BF"),
        ("departement", "34"),
    ];
    let saved = daemon.client.post(&link).form(&form).send().await.unwrap();
    assert_eq!(saved.status(), 200);
    assert!(saved
        .text()
        .await
        .unwrap()
        .contains("Vos choix sont enregistrés"));
    let me = &env.export().await[0];
    assert_eq!(me["newsletters"], serde_json::json!(["echos-du-reseau"]));
    assert_eq!(
        (
            me["name"].as_str(),
            me["themes"].clone(),
            me["countries"].clone()
        ),
        (
            Some("Marie D."),
            serde_json::json!(["agriculture"]),
            serde_json::json!(["BF"])
        )
    );
    assert!(me["consents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["action"] == "unsubscribe" && c["method"] == "preferences"));

    // Coming back to a title left needs a new confirmation.
    let form = [
        ("action", "enregistrer"),
        ("newsletter", "echos-du-reseau"),
        ("newsletter", "coopdev-info"),
    ];
    let page = daemon
        .client
        .post(&link)
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("confirmez votre adresse"), "{page}");
    let me = &env.export().await[0];
    assert_eq!(
        me["newsletters"],
        serde_json::json!(["echos-du-reseau"]),
        "pending until confirmed"
    );
    let confirmation_mail = || {
        sink.complete_messages()
            .into_iter()
            .find(|m| m.header("Subject") == Some("Confirmez votre abonnement"))
    };
    eventually(std::time::Duration::from_secs(15), || async {
        confirmation_mail().is_some()
    })
    .await;
    let confirmation = confirmation_mail().expect("a confirmation email");
    let confirm = find_url(
        confirmation.part("text/plain").unwrap(),
        &daemon.url("/confirmer/"),
    )
    .unwrap();
    daemon.client.post(&confirm).send().await.unwrap();
    let me = &env.export().await[0];
    assert_eq!(
        me["newsletters"],
        serde_json::json!(["coopdev-info", "echos-du-reseau"])
    );

    // Download: a JSON file with the consent history.
    let data = daemon
        .client
        .get(format!("{link}/donnees"))
        .send()
        .await
        .unwrap();
    assert!(data.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let data: serde_json::Value = serde_json::from_str(&data.text().await.unwrap()).unwrap();
    assert_eq!(data["email"], "marie@example.org");
    assert!(data["consents"].as_array().unwrap().len() >= 4);

    // Erase: a GET only asks; the POST erases; an import cannot bring the person back.
    let ask = daemon
        .client
        .get(format!("{link}/effacer"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ask.contains("Effacer définitivement mes données"));
    assert_eq!(env.export().await.len(), 1);
    let erased = erase_through(&daemon, &link).await;
    assert_eq!(erased.status(), 200);
    assert!(env
        .run(&["subscribers", "export", "--json"])
        .await
        .ok()
        .stdout
        .trim()
        .is_empty());
    let reimport = env
        .import("email,newsletters\nmarie@example.org,coopdev-info\n")
        .await
        .ok();
    assert!(
        reimport.stdout.contains("0 ajouté(s)") && reimport.stdout.contains("ligne 2"),
        "{}",
        reimport.stdout
    );
    let status = env.status(&issue).await;
    assert_eq!(status["sent"], 1, "the ledger keeps its count, anonymised");
    let after = daemon
        .client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(after.contains("Aucune donnée"));

    // She may come back by herself, through the form and a new confirmation.
    let earlier: Vec<String> = sink
        .messages()
        .iter()
        .filter_map(|m| m.header("Message-ID").map(str::to_string))
        .collect();
    let form = [
        ("email", "marie@example.org"),
        ("newsletter", "coopdev-info"),
        ("website", ""),
    ];
    daemon
        .client
        .post(daemon.url("/subscribe"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let mails = sink.wait_for(earlier.len() + 1).await;
    let confirmation = mails
        .iter()
        .find(|m| {
            !earlier
                .iter()
                .any(|id| Some(id.as_str()) == m.header("Message-ID"))
        })
        .expect("a new confirmation");
    let confirm = find_url(
        confirmation.part("text/plain").unwrap(),
        &daemon.url("/confirmer/"),
    )
    .unwrap();
    daemon.client.post(&confirm).send().await.unwrap();
    let me = &env.export().await[0];
    assert_eq!(
        (me["status"].as_str(), me["newsletters"].clone()),
        (Some("active"), serde_json::json!(["coopdev-info"]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_subscribe_form_is_rate_limited_per_connection_and_per_address() {
    let mut env = TestEnv::new().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    let daemon = env.serve().await;
    let post = |email: String| {
        let client = daemon.client.clone();
        let url = daemon.url("/subscribe");
        async move {
            let form = [
                ("email", email.as_str()),
                ("newsletter", "coopdev-info"),
                ("website", ""),
            ];
            client
                .post(url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(post(format!("personne{i}@example.org")).await);
    }
    assert_eq!(
        statuses,
        vec![200, 200, 200, 200, 200, 429],
        "a burst of five, then refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_ip_addresses_are_truncated_after_the_retention_period() {
    let mut env = TestEnv::new().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    env.set("RELAIS_CONSENT_IP_RETENTION", "2s");
    let daemon = env.serve().await;
    let form = [
        ("email", "ines@example.org"),
        ("newsletter", "echos-du-reseau"),
        ("website", ""),
    ];
    daemon
        .client
        .post(daemon.url("/subscribe"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let ip = |export: &serde_json::Value| export["consents"][0]["ip"].as_str().map(str::to_string);
    let fresh = env.export().await;
    assert_eq!(
        ip(&fresh[0]).as_deref(),
        Some("127.0.0.1"),
        "kept whole while recent"
    );
    eventually(std::time::Duration::from_secs(12), || async {
        ip(&env.export().await[0]).as_deref() != Some("127.0.0.1")
    })
    .await;
    assert_eq!(ip(&env.export().await[0]).as_deref(), Some("127.0.0.0/24"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_form_comes_back_filled_in_with_the_reason() {
    let mut env = TestEnv::new().await;
    let daemon = env.serve().await;
    let form = [
        ("email", "sami@example.org"),
        ("name", "Sami"),
        ("newsletter", "echos-du-reseau"),
        ("theme", "sante"),
        ("country", "SN, XYZ"),
        ("website", ""),
    ];
    let answer = daemon
        .client
        .post(daemon.url("/subscribe"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let page = answer.text().await.unwrap();
    assert!(
        page.contains("role=\"alert\"") && page.contains("XYZ"),
        "the reason is shown"
    );
    assert!(
        page.contains("value=\"sami@example.org\"") && page.contains("value=\"Sami\""),
        "what was typed stays"
    );
    assert!(
        page.contains("value=\"sante\" checked")
            && page.contains("value=\"echos-du-reseau\" checked")
    );
    assert!(
        page.contains("<option value=\"SN\" selected>Sénégal</option>"),
        "a country chosen stays chosen, by its name"
    );
    assert!(
        !page.contains("value=\"coopdev-info\" checked"),
        "an unticked title stays unticked"
    );
    assert!(env.export().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_forms_link_to_a_privacy_notice_and_name_the_departements() {
    let mut env = TestEnv::new().await;
    env.set("RELAIS_PRIVACY_CONTACT", "dpo@occitanie-cooperation.fr");
    let daemon = env.serve().await;
    let home = daemon.text("/").await;
    assert!(home.contains("href=\"/confidentialite\""), "{home}");
    assert!(home.contains(">31 — Haute-Garonne</option>"), "{home}");
    let notice = daemon
        .client
        .get(daemon.url("/confidentialite"))
        .send()
        .await
        .unwrap();
    assert_eq!(notice.status(), 200);
    let notice = notice.text().await.unwrap();
    for expected in [
        "Occitanie Coopération",
        "mailto:dpo@occitanie-cooperation.fr",
        "après 395 jours",
        "Gérer mes préférences",
    ] {
        assert!(notice.contains(expected), "{expected} in {notice}");
    }
}
