//! The public archive through the real server: index pages, the web version of sent issues,
//! and the Atom feeds partners subscribe to, read back with a real feed parser.

use crate::helpers::*;
use crate::pipeline::env_with_feed;

async fn get(daemon: &Daemon, path: &str) -> (u16, String, String) {
    let answer = daemon.client.get(daemon.url(path)).send().await.unwrap();
    let status = answer.status().as_u16();
    let kind = answer
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, answer.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn sent_issues_are_archived_with_pages_and_feeds() {
    let (mut env, _server) = env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    let item = env.newest_item().await;
    let items = env.run(&["items", "--json"]).await.ok().json_lines();
    let stored = items
        .iter()
        .find(|i| i["id"] == item.parse::<i64>().unwrap())
        .unwrap();
    let item_title = stored["title"].as_str().unwrap().to_string();
    // 22 sent issues (nobody subscribed: sending completes at once) and one draft.
    let mut sent = Vec::new();
    for _ in 0..22 {
        sent.push(env.send_item("coopdev-info", &item).await);
    }
    let draft = env.create_issue("coopdev-info").await;
    let daemon = env.serve().await;

    let (status, _, first) = get(&daemon, "/lettres/coopdev-info").await;
    assert_eq!(status, 200);
    let newest = sent.last().unwrap();
    assert!(first.contains(&format!("href=\"/lettres/coopdev-info/{newest}\"")));
    assert_eq!(
        first
            .matches("<li><a href=\"/lettres/coopdev-info/")
            .count(),
        20
    );
    assert!(
        !first.contains(&format!("/lettres/coopdev-info/{draft}\"")),
        "drafts stay private"
    );
    assert!(first.contains("href=\"/lettres/coopdev-info?page=2\""));
    assert!(
        first.contains("application/atom+xml"),
        "the page announces its feed"
    );
    let (_, _, second) = get(&daemon, "/lettres/coopdev-info?page=2").await;
    assert_eq!(
        second
            .matches("<li><a href=\"/lettres/coopdev-info/")
            .count(),
        2
    );
    assert!(second.contains(&format!("/lettres/coopdev-info/{}\"", sent[0])));
    assert!(second.contains("Numéros plus récents") && !second.contains("Numéros plus anciens"));
    assert_eq!(get(&daemon, "/lettres/coopdev-info?page=3").await.0, 404);
    assert_eq!(get(&daemon, "/lettres/inconnue").await.0, 404);

    let (_, _, titles) = get(&daemon, "/lettres").await;
    assert!(titles.contains("Coopdev&#x27; info") || titles.contains("Coopdev' info"));
    assert!(
        titles.contains("Aucun numéro publié pour l'instant"),
        "échos has none yet"
    );
    assert!(
        titles.contains("Tous les numéros des Échos du Réseau") && !titles.contains("de Les "),
        "French contracts « de Les » to « des »"
    );

    let (status, _, web) = get(&daemon, &format!("/lettres/coopdev-info/{newest}")).await;
    assert_eq!(status, 200);
    assert!(web.contains(&item_title.replace('\'', "&#x27;")) || web.contains(&item_title));
    assert!(web.contains("S&#x27;abonner") || web.contains("S'abonner"));
    assert!(!web.contains("/preferences/") && !web.contains("/desinscription/"));
    let today = relais::render::french_date(
        chrono::Utc::now()
            .with_timezone(&chrono_tz::Europe::Paris)
            .date_naive(),
    );
    assert!(
        web.contains(&format!("Paru le {today}")),
        "the web version is dated"
    );

    let (status, kind, xml) = get(&daemon, "/lettres/coopdev-info/atom.xml").await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("application/atom+xml"), "{kind}");
    let feed = feed_rs::parser::parse(xml.as_bytes()).expect("a valid feed");
    assert_eq!(feed.entries.len(), 20);
    let top = &feed.entries[0];
    assert_eq!(
        top.links[0].href,
        daemon.url(&format!("/lettres/coopdev-info/{newest}"))
    );
    assert!(top.published.is_some());
    let contents = top.content.as_ref().and_then(|c| c.body.clone()).unwrap();
    assert!(contents.contains(&item_title), "{contents}");

    let (status, _, xml) = get(&daemon, "/veille/atom.xml").await;
    assert_eq!(status, 200);
    let watch = feed_rs::parser::parse(xml.as_bytes()).expect("a valid feed");
    assert_eq!(
        watch.entries.len(),
        1,
        "an item published 22 times is one entry"
    );
    let entry = &watch.entries[0];
    assert_eq!(entry.title.as_ref().unwrap().content, item_title);
    assert_eq!(Some(entry.links[0].href.as_str()), stored["url"].as_str());
    assert!(entry.categories.iter().any(|c| c.term == "financement"));
    assert_eq!(entry.authors[0].name.as_deref(), Some("Veille test"));
}
