//! Hostile feeds and hostile networks, through the real binary: links that run scripts,
//! control characters, feeds built to eat the CPU, proxies that would skip the
//! private-address guard. The generators of the pathological feeds live here.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;

fn rss(items: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>T</title>\
         <link>https://example.org/</link><description>D</description>{items}</channel></rss>"
    )
}

fn item(guid: &str, title: &str, link: &str, description: &str) -> String {
    format!(
        "<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>\
         <description>{description}</description></item>"
    )
}

/// `[[source]]` tables for (slug, url, allow_private).
fn sources_toml(sources: &[(&str, &str, bool)]) -> String {
    sources
        .iter()
        .map(|(slug, url, allow)| {
            format!(
                "[[source]]\nslug = \"{slug}\"\nname = \"{slug}\"\nurl = \"{url}\"\nallow_private = {allow}\n\n"
            )
        })
        .collect()
}

async fn items(env: &TestEnv) -> Vec<Value> {
    env.run(&["items", "--json", "--limit", "1000"])
        .await
        .ok()
        .json_lines()
}

async fn source(env: &TestEnv, slug: &str) -> Value {
    env.run(&["sources", "--json"])
        .await
        .ok()
        .json_lines()
        .into_iter()
        .find(|s| s["slug"] == slug)
        .unwrap_or_else(|| panic!("no source {slug}"))
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

// ---- Generators of pathological feeds ----

/// One item whose summary nests `depth` allowed elements inside one another (the report's
/// case: 50,000).
fn deeply_nested_feed(depth: usize) -> String {
    let open = "<blockquote><b><i>".repeat(depth / 3);
    let close = "</i></b></blockquote>".repeat(depth / 3);
    let summary = format!("{open}Appel à projets au cœur{close}");
    rss(&item(
        "profond-1",
        "Un résumé très profond",
        "https://example.org/profond",
        &format!("<![CDATA[{summary}]]>"),
    ))
}

/// `count` items, then a document cut in the middle of one more; the item at `broken` is
/// malformed. About 9 MB for 150,000 items.
fn long_broken_feed(count: usize, broken: usize) -> String {
    let mut body = String::with_capacity(count * 64);
    for i in 0..count {
        let end = if i == broken { "</titl>" } else { "" };
        body.push_str(&format!(
            "<item><guid>{i}</guid><title>entrée {i}{end}</title></item>"
        ));
    }
    body.push_str("<item><guid>coupée</guid><title>fin abrupte");
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>T</title>\
         <link>https://example.org/</link>{body}"
    )
}

// ---- Defect 7: the private-address guard and proxies ----

/// A source whose name resolves to loopback, and an environment proxy that would serve it.
async fn proxy_and_origin() -> (FeedServer, FeedServer) {
    let via_proxy = rss(&item(
        "p",
        "Servi par le proxy",
        "https://example.org/p",
        "p",
    ));
    let direct = rss(&item(
        "o",
        "Servi par l'origine",
        "https://example.org/o",
        "o",
    ));
    let proxy = FeedServer::start(vec![("/feed.xml", Route::feed(via_proxy))]).await;
    let origin = FeedServer::start(vec![("/feed.xml", Route::feed(direct))]).await;
    (proxy, origin)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_from_the_environment_is_never_asked_for_a_private_name() {
    let (proxy, origin) = proxy_and_origin().await;
    let mut env = TestEnv::new().await;
    for var in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
        env.set(var, proxy.url(""));
    }
    let url = format!("http://localhost:{}/feed.xml", origin.addr.port());
    env.write_sources(&sources_toml(&[("interne", &url, false)]));
    let run = env.run(&["fetch"]).await.ok();

    assert_eq!(
        proxy.hits("/feed.xml"),
        0,
        "the environment's proxy was used"
    );
    assert_eq!(origin.hits("/feed.xml"), 0, "a private name was fetched");
    assert!(items(&env).await.is_empty());
    let s = source(&env, "interne").await;
    assert!(
        text(&s["last_error"]).contains("adresse privée"),
        "{s}\n{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configured_proxy_carries_allowed_sources_and_never_sees_private_ones() {
    let (proxy, origin) = proxy_and_origin().await;
    let mut env = TestEnv::new().await;
    env.set("RELAIS_FETCH_PROXY", proxy.url(""));
    let port = origin.addr.port();
    let private = format!("http://localhost:{port}/feed.xml");
    let literal = format!("http://127.0.0.1:{port}/feed.xml");
    let allowed = format!("http://localhost:{port}/feed.xml?autorise");
    env.write_sources(&sources_toml(&[
        ("par-nom", &private, false),
        ("par-adresse", &literal, false),
        ("autorisee", &allowed, true),
    ]));
    env.run(&["fetch"]).await.ok();

    assert_eq!(
        origin.hits("/feed.xml"),
        0,
        "a configured proxy means no direct request"
    );
    assert_eq!(
        proxy.hits("/feed.xml"),
        1,
        "only the source that allows private addresses reaches the proxy"
    );
    for slug in ["par-nom", "par-adresse"] {
        let s = source(&env, slug).await;
        assert!(text(&s["last_error"]).contains("adresse privée"), "{s}");
        // The refusal says how to allow a feed that really lives on a private network.
        assert!(
            text(&s["last_error"]).contains("allow_private = true"),
            "{s}"
        );
    }
    let titles: Vec<String> = items(&env)
        .await
        .iter()
        .map(|i| text(&i["title"]).to_string())
        .collect();
    assert_eq!(titles, ["Servi par le proxy"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_proxy_setting_is_refused_at_start() {
    let mut env = TestEnv::new().await;
    env.set("RELAIS_FETCH_PROXY", "ftp://proxy.example.org");
    let run = env.run(&["sources"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("RELAIS_FETCH_PROXY") && run.stderr.contains("fetch_proxy"),
        "{}",
        run.stderr
    );
}

// ---- Defect 2 (ingest): only web links are stored ----

#[tokio::test(flavor = "multi_thread")]
async fn script_and_data_links_from_feeds_are_never_stored() {
    let hostile = [
        ("js", "javascript:alert(document.domain)"),
        ("js-case", " JaVaScRiPt:alert(1)"),
        ("js-tab", "java&#9;script:alert(1)"),
        (
            "data",
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        ),
        ("vbs", "vbscript:msgbox(1)"),
        ("file", "file:///etc/passwd"),
    ];
    let mut body: String = hostile
        .iter()
        .map(|(guid, link)| {
            item(
                guid,
                &format!("Entrée {guid}"),
                link,
                "&lt;a href=\"javascript:alert(2)\"&gt;clic&lt;/a&gt; \
                 &lt;a href=\"data:text/html,x\"&gt;d&lt;/a&gt; \
                 &lt;img src=\"vbscript:x\"&gt; &lt;a href=\"/relatif\"&gt;r&lt;/a&gt;",
            )
        })
        .collect();
    body.push_str(&item("rel", "Entrée relative", "/articles/1", "texte"));
    let atom = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
        <feed xmlns=\"http://www.w3.org/2005/Atom\"><title>A</title><id>urn:a</id>\
        <updated>2026-11-01T00:00:00Z</updated>\
        <entry><id>urn:a:1</id><title>Entrée Atom</title><updated>2026-11-01T00:00:00Z</updated>\
        <link rel=\"alternate\" href=\"javascript:alert(3)\"/>\
        <link rel=\"related\" href=\"https://example.org/vrai\"/></entry></feed>";
    let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"J","items":[
        {"id":"j1","url":"javascript:alert(4)","title":"Entrée JSON","content_html":"<a href='vbscript:y'>v</a>"}]}"#;
    let server = FeedServer::start(vec![
        ("/rss.xml", Route::feed(rss(&body))),
        ("/atom.xml", Route::feed(atom)),
        ("/feed.json", Route::feed(json)),
    ])
    .await;
    let env = TestEnv::new().await;
    env.write_sources(&sources_toml(&[
        ("rss", &server.url("/rss.xml"), true),
        ("atom", &server.url("/atom.xml"), true),
        ("json", &server.url("/feed.json"), true),
    ]));
    env.run(&["fetch"]).await.ok();

    let items = items(&env).await;
    assert_eq!(items.len(), hostile.len() + 3, "every entry is kept");
    for i in &items {
        let url = text(&i["url"]);
        assert!(
            url.is_empty() || url.starts_with("http://") || url.starts_with("https://"),
            "{} kept the link {url:?}",
            i["title"]
        );
        let summary = text(&i["summary"]).to_ascii_lowercase();
        for scheme in ["javascript:", "data:", "vbscript:"] {
            assert!(!summary.contains(scheme), "{scheme} in {summary}");
        }
    }
    let by_title = |t: &str| {
        items
            .iter()
            .find(|i| i["title"] == t)
            .unwrap_or_else(|| panic!("no {t}"))
    };
    assert_eq!(
        by_title("Entrée relative")["url"],
        server.url("/articles/1"),
        "a relative link resolves against the feed"
    );
    assert_eq!(by_title("Entrée Atom")["url"], "https://example.org/vrai");
    assert!(by_title("Entrée js")["url"].is_null());
    assert!(text(&by_title("Entrée js")["summary"]).contains(&server.url("/relatif")));
}

// ---- Defect 5 (ingest): no control characters ----

#[tokio::test(flavor = "multi_thread")]
async fn control_characters_from_json_and_xml_feeds_are_removed_at_ingest() {
    let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"J","items":[
        {"id":"j\u0000\u0001","url":"https://example.org/a\u0000b","title":"Appel\u0000 \u001b[31mrouge\u0007 \u0085suite\u009b",
         "content_html":"<p>Texte\u0000 \u0008avec\u009f contr\u00f4les\u000b</p>",
         "authors":[{"name":"Au\u0000teur"}]}]}"#;
    // XML 1.0 forbids C0 controls but allows C1: here raw and as references.
    let xml = rss(&item(
        "x\u{85}1",
        "Titre\u{80} &#x9b;C1 &#x85;fin",
        "https://example.org/x",
        "&lt;p&gt;R\u{9f}ésumé &amp;#1; &amp;#x9b;&lt;/p&gt;",
    ));
    let server = FeedServer::start(vec![
        ("/feed.json", Route::feed(json)),
        ("/rss.xml", Route::feed(xml)),
    ])
    .await;
    let env = TestEnv::new().await;
    env.write_sources(&sources_toml(&[
        ("json", &server.url("/feed.json"), true),
        ("rss", &server.url("/rss.xml"), true),
    ]));
    env.run(&["fetch"]).await.ok();

    let items = items(&env).await;
    assert_eq!(items.len(), 2);
    for i in &items {
        for field in ["title", "summary", "url", "guid"] {
            let value = text(&i[field]);
            assert!(
                !value
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')),
                "control character in {field}: {value:?}"
            );
        }
    }
    let titles: Vec<&str> = items.iter().map(|i| text(&i["title"])).collect();
    assert!(titles.contains(&"Appel [31mrouge suite"), "{titles:?}");
    assert!(titles.contains(&"Titre C1 fin"), "{titles:?}");
}

// ---- Defect 4: feeds that eat the CPU ----

#[tokio::test(flavor = "multi_thread")]
async fn fifty_thousand_nested_tags_are_read_quickly_and_kept_bounded() {
    let feed = deeply_nested_feed(50_000);
    assert!(feed.len() > 600_000);
    let server = FeedServer::start(vec![("/profond.xml", Route::feed(feed))]).await;
    let env = TestEnv::new().await;
    env.write_sources(&sources_toml(&[(
        "profond",
        &server.url("/profond.xml"),
        true,
    )]));
    let started = Instant::now();
    env.run(&["fetch"]).await.ok();
    let items = items(&env).await;
    assert_eq!(items.len(), 1, "the entry is kept");
    let summary = text(&items[0]["summary"]);
    assert!(summary.len() < 30_000, "summary of {} bytes", summary.len());
    assert!(summary.contains("<blockquote>"), "shallow formatting stays");

    // The item shows in an issue and its web version without the cost coming back.
    let issue = env.create_issue("coopdev-info").await;
    let id = items[0]["id"].to_string();
    env.run(&["issue", "add", &issue, "--item", &id]).await.ok();
    env.run(&["issue", "render", &issue]).await.ok();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "sanity limit: {:?}",
        started.elapsed()
    );
}

/// A word of thousands of letters (a pasted hash, a broken feed) is stored and searchable by
/// its start like any other, with its neighbours: PostgreSQL refuses a lexeme past 2047
/// bytes, and one item must not fail its feed.
#[tokio::test(flavor = "multi_thread")]
async fn an_item_with_a_word_of_thousands_of_letters_is_stored_and_found() {
    let word = format!("Interminable{}", "abcdefghij".repeat(400));
    let body = rss(&format!(
        "{}{}",
        item(
            "long-1",
            "Un mot sans fin",
            "https://example.org/long",
            &format!("Avant {word} après, au Sénégal."),
        ),
        item(
            "court-1",
            "Appel ordinaire",
            "https://example.org/court",
            "Un appel à projets.",
        )
    ));
    let server = FeedServer::start(vec![("/long.xml", Route::feed(body))]).await;
    let env = TestEnv::new().await;
    env.write_sources(&sources_toml(&[("long", &server.url("/long.xml"), true)]));
    let run = env.run(&["fetch"]).await.ok();
    assert!(run.stderr.contains("2 nouveau(x)"), "{}", run.stderr);
    assert_eq!(source(&env, "long").await["state"], "ok");

    let store = relais::store::Store::open(&env.database_url).await.unwrap();
    let search = |words: &str| {
        let filter = relais::store::InboxFilter {
            terms: relais::domain::search::terms(words),
            limit: 50,
            ..Default::default()
        };
        let store = &store;
        async move {
            let (rows, _) = store.inbox(&filter).await.unwrap();
            rows.into_iter().map(|r| r.title).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search("interminableabcdefghijabcdefghijabcdefghij").await,
        ["Un mot sans fin"]
    );
    assert_eq!(search("senegal apres").await, ["Un mot sans fin"]);
    assert_eq!(search("appel projets").await, ["Appel ordinaire"]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_title_is_cut_and_the_issue_stays_under_gmails_clipping_size() {
    let huge = "Coopération ".repeat(100_000 / 13);
    let body = rss(&item(
        "titre-1",
        &huge,
        "https://example.org/titre",
        &"Un résumé long. ".repeat(10_000),
    ));
    let server = FeedServer::start(vec![("/titre.xml", Route::feed(body))]).await;
    let env = TestEnv::new().await;
    env.write_sources(&sources_toml(&[("titre", &server.url("/titre.xml"), true)]));
    env.run(&["fetch"]).await.ok();
    let items = items(&env).await;
    let title = text(&items[0]["title"]);
    assert!(
        title.chars().count() <= 300,
        "{} characters",
        title.chars().count()
    );
    assert!(title.starts_with("Coopération Coopération") && title.ends_with('…'));

    let issue = env.create_issue("coopdev-info").await;
    let id = items[0]["id"].to_string();
    env.run(&["issue", "add", &issue, "--item", &id]).await.ok();
    let eml = env
        .run(&[
            "issue",
            "render",
            &issue,
            "--format",
            "eml",
            "--to",
            "a@example.org",
        ])
        .await
        .ok()
        .stdout;
    assert!(eml.len() < 102 * 1024, "message of {} bytes", eml.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feed_of_150000_items_with_a_broken_end_keeps_its_newest_intact_items() {
    let feed = long_broken_feed(150_000, 5);
    assert!(feed.len() > 7_000_000, "the generator makes the 8 MB case");
    let server = FeedServer::start(vec![("/long.xml", Route::feed(feed))]).await;
    let env = TestEnv::new().await;
    env.write_sources(&sources_toml(&[("longue", &server.url("/long.xml"), true)]));
    let started = Instant::now();
    let run = env.run(&["fetch"]).await.ok();
    let items = items(&env).await;
    let titles: Vec<&str> = items.iter().map(|i| text(&i["title"])).collect();
    assert_eq!(
        titles.len(),
        300,
        "a feed keeps at most its 300 newest entries"
    );
    for kept in ["entrée 0", "entrée 4", "entrée 6", "entrée 300"] {
        assert!(titles.contains(&kept), "{kept} missing");
    }
    assert!(
        !titles.contains(&"entrée 5"),
        "the malformed entry is left out"
    );
    let s = source(&env, "longue").await;
    assert_eq!(s["state"], "ok", "{}", run.stderr);
    assert!(text(&s["last_error"]).contains("intacte"), "{s}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "sanity limit: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_asked_to_stop_while_reading_a_hostile_feed_stops() {
    let server = FeedServer::start(vec![(
        "/long.xml",
        Route::feed(long_broken_feed(150_000, 5)),
    )])
    .await;
    let mut env = TestEnv::new().await;
    env.write_sources(&sources_toml(&[("longue", &server.url("/long.xml"), true)]));
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    env.set("RELAIS_LISTEN", format!("127.0.0.1:{}", free_port()));
    let mut daemon = env.spawn(&["serve"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.hits("/long.xml") == 0 {
        assert!(Instant::now() < deadline, "the daemon never polled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = daemon.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), daemon.wait())
        .await
        .expect("the daemon stopped within the sanity limit")
        .unwrap();
    assert!(status.success(), "{status}");
}
