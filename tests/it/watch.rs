//! Feed polling through the real binary against a loopback server that misbehaves on
//! purpose: slow, huge, compressed past the cap, looping, moving, throttling, caching, lying
//! about its charset, serving HTML, gone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/feeds/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
}

impl Reply {
    fn feed(body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/rss+xml; charset=utf-8".into(),
            )],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    fn status(status: u16) -> Self {
        Reply {
            status,
            headers: vec![],
            body: vec![],
            delay: Duration::ZERO,
        }
    }

    fn redirect(status: u16, to: &str) -> Self {
        Reply::status(status).with("location", to)
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Default)]
struct Seen {
    /// (path, request headers) in arrival order.
    requests: Vec<(String, HashMap<String, String>)>,
    in_flight: usize,
    max_in_flight: usize,
}

/// A loopback server whose replies a test may change between passes, and which remembers
/// every request and how many were in flight at once.
struct Server {
    addr: SocketAddr,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    seen: Arc<Mutex<Seen>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(routes: Vec<(&str, Reply)>) -> Self {
        use axum::body::Body;
        use axum::http::{Request, Response};
        let replies: Arc<Mutex<HashMap<String, Reply>>> = Arc::new(Mutex::new(
            routes
                .into_iter()
                .map(|(p, r)| (p.to_string(), r))
                .collect(),
        ));
        let seen: Arc<Mutex<Seen>> = Default::default();
        let (r, s) = (replies.clone(), seen.clone());
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let (replies, seen) = (r.clone(), s.clone());
            async move {
                let path = req.uri().path().to_string();
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                {
                    let mut seen = seen.lock().unwrap();
                    seen.requests.push((path.clone(), headers));
                    seen.in_flight += 1;
                    seen.max_in_flight = seen.max_in_flight.max(seen.in_flight);
                }
                let reply = replies.lock().unwrap().get(&path).cloned();
                let reply = reply.unwrap_or_else(|| Reply::status(404));
                tokio::time::sleep(reply.delay).await;
                seen.lock().unwrap().in_flight -= 1;
                let mut b = Response::builder().status(reply.status);
                for (k, v) in &reply.headers {
                    b = b.header(k, v);
                }
                b.body(Body::from(reply.body)).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server {
            addr,
            replies,
            seen,
            _task: task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn set(&self, path: &str, reply: Reply) {
        self.replies.lock().unwrap().insert(path.into(), reply);
    }

    /// Headers of each request that reached `path`.
    fn requests(&self, path: &str) -> Vec<HashMap<String, String>> {
        let seen = self.seen.lock().unwrap();
        seen.requests
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
            .collect()
    }

    fn max_in_flight(&self) -> usize {
        self.seen.lock().unwrap().max_in_flight
    }
}

/// An installation whose sources.toml lists (slug, url) pairs on the loopback server.
async fn env_with(sources: &[(&str, String)]) -> TestEnv {
    let env = TestEnv::new().await;
    let toml: String = sources
        .iter()
        .map(|(slug, url)| {
            format!("[[source]]\nslug = \"{slug}\"\nname = \"{slug}\"\nurl = \"{url}\"\nallow_private = true\n\n")
        })
        .collect();
    env.write_sources(&toml);
    env
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

async fn items(env: &TestEnv) -> Vec<Value> {
    env.run(&["items", "--json"]).await.ok().json_lines()
}

fn rss(items: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>T</title>\
         <link>https://example.org/</link><description>D</description>{items}</channel></rss>"
    )
}

fn last_error(source: &Value) -> &str {
    source["last_error"].as_str().unwrap_or("")
}

/// A feed of one call for projects, `appel-1`, with this title and text.
fn appel(title: &str, text: &str) -> String {
    rss(&format!(
        "<item><guid>appel-1</guid><title>{title}</title><link>https://example.org/appel</link>\
         <description>{text}</description></item>"
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_entry_is_updated_and_flagged_not_duplicated() {
    let server = Server::start(vec![(
        "/feed.xml",
        Reply::feed(appel("Appel à projets", "Ouvert à tous.")),
    )])
    .await;
    let env = env_with(&[("veille", server.url("/feed.xml"))]).await;
    env.run(&["fetch"]).await.ok();
    let first = items(&env).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["changed"], false);
    assert_eq!(first[0]["deadline"], Value::Null);

    server.set(
        "/feed.xml",
        Reply::feed(appel(
            "Appel à projets (prolongé)",
            "Date limite : 15 janvier 2027.",
        )),
    );
    let run = env.run(&["fetch"]).await.ok();
    assert!(run.stderr.contains("1 mis à jour"), "{}", run.stderr);
    let after = items(&env).await;
    assert_eq!(after.len(), 1, "an edit is not a new item");
    assert_eq!(after[0]["id"], first[0]["id"]);
    assert_eq!(after[0]["title"], "Appel à projets (prolongé)");
    assert_eq!(after[0]["changed"], true);
    assert_eq!(after[0]["deadline"], "2027-01-15");
}

/// Band keys are found by key alone since migration 0024: an entry whose text changes must
/// still lose the keys of its old text (found again from its stored signature), or a relay
/// of the old text would keep joining its story, and the keys would pile up at every edit.
#[tokio::test(flavor = "multi_thread")]
async fn an_edited_entry_keeps_only_the_band_keys_of_its_new_text() {
    let old = "Le ministère ouvre un appel à projets pour l'eau potable dans les villages \
               du Sahel, avec un soutien aux collectivités partenaires et aux associations.";
    let new = "Report de la date limite : les dossiers de candidature sur la santé des enfants \
               à Madagascar seront reçus jusqu'au mois de mars, formulaire en ligne.";
    let server = Server::start(vec![(
        "/feed.xml",
        Reply::feed(appel("Appel à projets", old)),
    )])
    .await;
    let env = env_with(&[("veille", server.url("/feed.xml"))]).await;
    async fn bands(env: &TestEnv) -> i64 {
        sql_text(env, "select cast(count(*) as text) from item_bands")
            .await
            .unwrap()
            .parse()
            .unwrap()
    }
    env.run(&["fetch"]).await.ok();
    assert_eq!(bands(&env).await, 16);
    server.set("/feed.xml", Reply::feed(appel("Appel à projets", new)));
    let run = env.run(&["fetch"]).await.ok();
    assert!(run.stderr.contains("1 mis à jour"), "{}", run.stderr);
    assert_eq!(bands(&env).await, 16, "the old text's keys are gone");

    // A relay of the old text, from another source, is a story of its own now.
    let relay = Server::start(vec![(
        "/relais.xml",
        Reply::feed(rss(&format!(
            "<item><guid>relais-1</guid><title>Relayé : appel à projets</title>\
             <link>https://relais.example.org/appel</link><description>{old}</description></item>"
        ))),
    )])
    .await;
    env.write_sources(&format!(
        "[[source]]\nslug = \"veille\"\nname = \"veille\"\nurl = \"{}\"\nallow_private = true\n\n\
         [[source]]\nslug = \"relais\"\nname = \"relais\"\nurl = \"{}\"\nallow_private = true\n",
        server.url("/feed.xml"),
        relay.url("/relais.xml")
    ));
    env.run(&["fetch"]).await.ok();
    assert_eq!(
        sql_text(
            &env,
            "select cast(count(distinct coalesce(story_id, id)) as text) from items"
        )
        .await
        .as_deref(),
        Some("2")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inbox_search_finds_an_item_by_its_current_words_only() {
    let server = Server::start(vec![(
        "/feed.xml",
        Reply::feed(appel(
            "Appel à projets",
            "Eau potable dans les villages du Sahel.",
        )),
    )])
    .await;
    let mut env = env_with(&[("veille", server.url("/feed.xml"))]).await;
    env.run(&["fetch"]).await.ok();
    server.set(
        "/feed.xml",
        Reply::feed(appel("Appel à projets", "Santé des enfants à Madagascar.")),
    );
    let run = env.run(&["fetch"]).await.ok();
    assert!(run.stderr.contains("1 mis à jour"), "{}", run.stderr);
    env.run_with_stdin(
        &["user", "add", "redaction@example.org", "--role", "editor"],
        &format!("{}\n", crate::desk::PASSWORD),
    )
    .await
    .ok();
    let daemon = env.serve().await;
    let cookie = crate::desk::signed_in(&daemon, "redaction@example.org").await;
    let id = env.item_id("Appel à projets").await;
    // Whether the inbox searched for `q` shows the item.
    let finds = |q: &str| {
        let path = format!("/admin/veille?q={q}");
        let (daemon, cookie) = (&daemon, &cookie);
        async move {
            crate::desk::page(daemon, &path, cookie)
                .await
                .contains(&format!("data-item-id=\"{id}\""))
        }
    };
    assert!(finds("madagascar").await, "the feed's new words");
    assert!(!finds("sahel").await, "not the words it no longer has");

    // An editor's words replace the feed's for search.
    let inbox = crate::desk::page(&daemon, "/admin/veille", &cookie).await;
    let edited = crate::desk::post_with(
        &daemon,
        &format!("/admin/veille/{id}"),
        &cookie,
        &[
            ("csrf", crate::desk::csrf_of(&inbox).as_str()),
            ("title", "Appel à projets"),
            ("summary", "Forages à Tombouctou."),
            ("deadline", ""),
        ],
    )
    .await;
    assert_eq!(edited.status(), 303);
    assert!(finds("tombouctou").await, "the editor's words");
    assert!(!finds("madagascar").await, "not the feed's any more");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_times_out_with_a_french_reason() {
    let mut slow = Reply::feed(rss(""));
    slow.delay = Duration::from_secs(120);
    let server = Server::start(vec![("/slow.xml", slow)]).await;
    let env = env_with(&[("lente", server.url("/slow.xml"))]).await;
    let run = env.run(&["fetch"]).await.ok();
    assert!(run.stderr.contains("lente : "), "{}", run.stderr);
    let s = source(&env, "lente").await;
    assert_eq!(s["state"], "failing");
    assert!(last_error(&s).contains("délai dépassé"), "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_cap_is_an_error_not_a_crash() {
    let big = rss(&format!(
        "<item><guid>g</guid><title>{}</title></item>",
        "x".repeat(20_000)
    ));
    let server = Server::start(vec![
        ("/big.xml", Reply::feed(big)),
        (
            "/ok.xml",
            Reply::feed(rss("<item><guid>a</guid><title>A</title></item>")),
        ),
    ])
    .await;
    let mut env = env_with(&[
        ("grosse", server.url("/big.xml")),
        ("saine", server.url("/ok.xml")),
    ])
    .await;
    env.set("RELAIS_FETCH_MAX_BODY", "4000");
    env.run(&["fetch"]).await.ok();
    let s = source(&env, "grosse").await;
    assert_eq!(s["state"], "failing");
    assert!(last_error(&s).contains("trop volumineuse"), "{s}");
    assert_eq!(source(&env, "saine").await["item_count"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_bomb_stops_at_the_cap_after_decompression() {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(rss("").as_bytes()).unwrap();
    gz.write_all(&vec![b' '; 8 * 1024 * 1024]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 100_000);
    let server = Server::start(vec![(
        "/bomb.xml",
        Reply::feed(bomb).with("content-encoding", "gzip"),
    )])
    .await;
    let mut env = env_with(&[("bombe", server.url("/bomb.xml"))]).await;
    env.set("RELAIS_FETCH_MAX_BODY", "1000000");
    env.run(&["fetch"]).await.ok();
    let s = source(&env, "bombe").await;
    assert!(last_error(&s).contains("trop volumineuse"), "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_loop_is_cut_after_five_hops() {
    let server = Server::start(vec![("/loop.xml", Reply::redirect(302, "/loop.xml"))]).await;
    let env = env_with(&[("boucle", server.url("/loop.xml"))]).await;
    env.run(&["fetch"]).await.ok();
    let s = source(&env, "boucle").await;
    assert!(last_error(&s).contains("trop de redirections"), "{s}");
    assert_eq!(server.requests("/loop.xml").len(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_chain_of_permanent_redirects_moves_a_source() {
    let feed = Reply::feed(rss("<item><guid>a</guid><title>A</title></item>"));
    let server = Server::start(vec![
        ("/old.xml", Reply::redirect(301, "/mid.xml")),
        ("/mid.xml", Reply::redirect(308, "/new.xml")),
        ("/new.xml", feed.clone()),
        ("/mixed.xml", Reply::redirect(301, "/temp.xml")),
        ("/temp.xml", Reply::redirect(302, "/other.xml")),
        ("/other.xml", feed),
    ])
    .await;
    let env = env_with(&[
        ("demenagee", server.url("/old.xml")),
        ("provisoire", server.url("/mixed.xml")),
    ])
    .await;
    env.run(&["fetch"]).await.ok();
    let moved = source(&env, "demenagee").await;
    assert_eq!(moved["url"], server.url("/new.xml"));
    assert_eq!(moved["configured_url"], server.url("/old.xml"));
    let temporary = source(&env, "provisoire").await;
    assert_eq!(temporary["url"], server.url("/mixed.xml"));

    env.run(&["fetch"]).await.ok();
    assert_eq!(
        server.requests("/old.xml").len(),
        1,
        "the new address is used"
    );
    assert_eq!(server.requests("/mixed.xml").len(), 2);
    let toml = std::fs::read_to_string(env.path("sources.toml")).unwrap();
    assert!(toml.contains("/old.xml"), "sources.toml is never rewritten");
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_requests_postpones_the_next_poll_as_the_server_asks() {
    let server = Server::start(vec![
        ("/busy.xml", Reply::status(429).with("retry-after", "7200")),
        ("/unavailable.xml", Reply::status(503)),
    ])
    .await;
    let env = env_with(&[
        ("occupee", server.url("/busy.xml")),
        ("indisponible", server.url("/unavailable.xml")),
    ])
    .await;
    let before = chrono::Utc::now();
    env.run(&["fetch"]).await.ok();
    let s = source(&env, "occupee").await;
    assert_eq!(s["state"], "failing");
    assert!(last_error(&s).contains("429"), "{s}");
    let next: chrono::DateTime<chrono::Utc> = s["next_poll_at"].as_str().unwrap().parse().unwrap();
    assert!(
        next - before >= chrono::TimeDelta::seconds(7200),
        "next poll {next} must honour Retry-After"
    );
    let s = source(&env, "indisponible").await;
    let next: chrono::DateTime<chrono::Utc> = s["next_poll_at"].as_str().unwrap().parse().unwrap();
    assert!(
        next - before >= chrono::TimeDelta::seconds(3600),
        "without Retry-After a throttling server still gets an hour, not {next}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn not_modified_after_an_etag_counts_as_success() {
    let feed = rss("<item><guid>a</guid><title>A</title></item>");
    let server = Server::start(vec![(
        "/cached.xml",
        Reply::feed(feed).with("etag", "\"v1\""),
    )])
    .await;
    let env = env_with(&[("cache", server.url("/cached.xml"))]).await;
    env.run(&["fetch"]).await.ok();
    server.set("/cached.xml", Reply::status(304).with("etag", "\"v1\""));
    let run = env.run(&["fetch"]).await.ok();
    let requests = server.requests("/cached.xml");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].get("if-none-match"), None);
    assert_eq!(
        requests[1].get("if-none-match").map(String::as_str),
        Some("\"v1\"")
    );
    assert!(run.stderr.contains("0 en échec"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("1 source(s) relevée(s), dont 1 sans changement"),
        "a 304 counts as a source unchanged: {}",
        run.stderr
    );
    let s = source(&env, "cache").await;
    assert_eq!(
        (s["state"].as_str(), s["item_count"].as_i64()),
        (Some("ok"), Some(1))
    );
    assert_eq!(s["last_error"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lying_charset_header_does_not_garble_titles() {
    let server = Server::start(vec![
        (
            "/utf8.xml",
            Reply::feed(fixture("wrong-charset-header.xml"))
                .with("content-type", "text/xml; charset=iso-8859-1"),
        ),
        (
            "/cp1252.xml",
            Reply::feed(fixture("windows-1252.xml"))
                .with("content-type", "application/rss+xml; charset=utf-8"),
        ),
    ])
    .await;
    let env = env_with(&[
        ("ministere", server.url("/utf8.xml")),
        ("region", server.url("/cp1252.xml")),
    ])
    .await;
    env.run(&["fetch"]).await.ok();
    let titles: Vec<String> = items(&env)
        .await
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    assert!(
        titles.contains(&"Stratégie « Afrique\u{2013}Europe » : synthèse".to_string()),
        "{titles:?}"
    );
    assert!(
        titles.contains(
            &"Coopération décentralisée : « l\u{2019}appel 2027 » est ouvert".to_string()
        ),
        "{titles:?}"
    );
    let region = items(&env)
        .await
        .into_iter()
        .find(|i| i["source"] == "region")
        .unwrap();
    assert_eq!(region["deadline"], "2027-01-15");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_html_page_or_an_empty_body_is_not_a_feed() {
    let server = Server::start(vec![
        (
            "/page",
            Reply::feed(fixture("page.html")).with("content-type", "text/html; charset=utf-8"),
        ),
        ("/empty", Reply::feed("")),
    ])
    .await;
    let env = env_with(&[
        ("page", server.url("/page")),
        ("vide", server.url("/empty")),
    ])
    .await;
    env.run(&["fetch"]).await.ok();
    for slug in ["page", "vide"] {
        let s = source(&env, slug).await;
        assert_eq!(s["state"], "failing");
        assert!(last_error(&s).contains("n'est pas un flux"), "{s}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_feed_keeps_its_intact_items_and_says_what_was_wrong() {
    let server = Server::start(vec![("/cut.xml", Reply::feed(fixture("truncated.xml")))]).await;
    let env = env_with(&[("coupee", server.url("/cut.xml"))]).await;
    env.run(&["fetch"]).await.ok();
    let s = source(&env, "coupee").await;
    assert_eq!(
        (s["state"].as_str(), s["item_count"].as_i64()),
        (Some("ok"), Some(2))
    );
    assert!(last_error(&s).contains("flux réparé"), "{s}");

    // The same broken body again is skipped by its hash, and the note stays.
    env.run(&["fetch"]).await.ok();
    let s = source(&env, "coupee").await;
    assert_eq!(server.requests("/cut.xml").len(), 2);
    assert!(last_error(&s).contains("flux réparé"), "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gone_disables_the_source() {
    let server = Server::start(vec![("/gone.xml", Reply::status(410))]).await;
    let env = env_with(&[("partie", server.url("/gone.xml"))]).await;
    env.run(&["fetch"]).await.ok();
    assert_eq!(source(&env, "partie").await["state"], "disabled");
    env.run(&["fetch"]).await.ok();
    assert_eq!(server.requests("/gone.xml").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_host_never_gets_more_than_two_requests_at_once() {
    let mut routes = Vec::new();
    let paths: Vec<String> = (0..8).map(|i| format!("/f{i}.xml")).collect();
    for (i, path) in paths.iter().enumerate() {
        let mut reply = Reply::feed(rss(&format!(
            "<item><guid>g{i}</guid><title>T{i}</title></item>"
        )));
        reply.delay = Duration::from_millis(300);
        routes.push((path.as_str(), reply));
    }
    let server = Server::start(routes).await;
    let slugs: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    let sources: Vec<(&str, String)> = slugs
        .iter()
        .zip(&paths)
        .map(|(s, p)| (s.as_str(), server.url(p)))
        .collect();
    let env = env_with(&sources).await;
    let run = env.run(&["fetch"]).await.ok();
    assert!(run.stderr.contains("0 en échec"), "{}", run.stderr);
    assert_eq!(items(&env).await.len(), 8);
    assert_eq!(server.max_in_flight(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn feeds_are_still_fetched_while_a_slow_database_stores_the_first() {
    // One fetch at a time: the first feed, once fetched, waits for the database; the second
    // must be fetched meanwhile, not after.
    let mut first = Reply::feed(rss(
        "<item><guid>a</guid><title>Premier flux</title></item>",
    ));
    first.delay = Duration::from_millis(500);
    let server = Server::start(vec![
        ("/a.xml", first),
        (
            "/b.xml",
            Reply::feed(rss("<item><guid>b</guid><title>Second flux</title></item>")),
        ),
    ])
    .await;
    let mut env = env_with(&[("a", server.url("/a.xml")), ("b", server.url("/b.xml"))]).await;
    env.set("RELAIS_FETCH_CONCURRENCY", "1");
    let fetched = |path: &str| !server.requests(path).is_empty();
    let (run, seen_while_held) = tokio::join!(env.run(&["fetch"]), async {
        // The first request shows the sources are in place; its reply is still on its way.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !fetched("/a.xml") && !fetched("/b.xml") {
            assert!(std::time::Instant::now() < deadline, "no feed requested");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            fetched("/a.xml"),
            "the sources are polled in the order of their slugs"
        );
        hold_item_writes(&env, || fetched("/b.xml")).await;
        fetched("/b.xml")
    });
    let run = run.ok();
    assert!(run.stderr.contains("0 en échec"), "{}", run.stderr);
    assert!(
        seen_while_held,
        "the second feed waited for the first to be stored"
    );
    let titles: Vec<String> = items(&env)
        .await
        .iter()
        .map(|i| i["title"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_deflate_and_bodies_labelled_compressed_but_plain_are_read() {
    use std::io::Write;
    let feed = |title: &str| {
        rss(&format!(
            "<item><guid>{title}</guid><title>{title}</title></item>"
        ))
    };
    let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    raw.write_all(feed("Deflate brut").as_bytes()).unwrap();
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(feed("Deflate zlib").as_bytes()).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(feed("Gzip").as_bytes()).unwrap();
    let server = Server::start(vec![
        (
            "/raw.xml",
            Reply::feed(raw.finish().unwrap()).with("content-encoding", "deflate"),
        ),
        (
            "/plain-gzip.xml",
            Reply::feed(feed("Gzip annoncé, texte envoyé")).with("content-encoding", "gzip"),
        ),
        (
            "/plain-deflate.xml",
            Reply::feed(feed("Deflate annoncé, texte envoyé")).with("content-encoding", "deflate"),
        ),
        (
            "/zlib.xml",
            Reply::feed(zlib.finish().unwrap()).with("content-encoding", "deflate"),
        ),
        (
            "/gzip.xml",
            Reply::feed(gzip.finish().unwrap()).with("content-encoding", "gzip"),
        ),
    ])
    .await;
    let paths = [
        "/raw.xml",
        "/plain-gzip.xml",
        "/plain-deflate.xml",
        "/zlib.xml",
        "/gzip.xml",
    ];
    let slugs = ["brut", "gzip-texte", "deflate-texte", "zlib", "gzip"];
    let sources: Vec<(&str, String)> = slugs
        .iter()
        .zip(paths)
        .map(|(slug, path)| (*slug, server.url(path)))
        .collect();
    let env = env_with(&sources).await;
    let run = env.run(&["fetch"]).await.ok();
    assert!(run.stderr.contains("0 en échec"), "{}", run.stderr);
    let mut titles: Vec<String> = items(&env)
        .await
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "Deflate annoncé, texte envoyé",
            "Deflate brut",
            "Deflate zlib",
            "Gzip",
            "Gzip annoncé, texte envoyé"
        ]
    );
    let offered = &server.requests("/raw.xml")[0]["accept-encoding"];
    assert!(
        offered.contains("gzip") && offered.contains("deflate"),
        "{offered}"
    );
}

/// (title, url, published_at) of every stored item of `slug`, by title.
async fn stored(env: &TestEnv, slug: &str) -> Vec<(String, Value, Value)> {
    let mut found: Vec<(String, Value, Value)> = items(env)
        .await
        .into_iter()
        .filter(|i| i["source"] == slug)
        .map(|i| {
            let title = i["title"].as_str().unwrap().to_string();
            (title, i["url"].clone(), i["published_at"].clone())
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn an_atom_0_3_feed_is_read_with_its_dates_and_texts() {
    let server = Server::start(vec![(
        "/atom03.xml",
        Reply::feed(fixture("atom-0.3.xml")).with("content-type", "application/atom+xml"),
    )])
    .await;
    let env = env_with(&[("reseau", server.url("/atom03.xml"))]).await;
    let run = env.run(&["fetch"]).await.ok();
    assert!(run.stderr.contains("0 en échec"), "{}", run.stderr);
    assert_eq!(
        stored(&env, "reseau").await,
        [
            (
                "Appel à projets 2026 : jeunesse & solidarité".to_string(),
                Value::from("https://reseau.example.org/appel-2026"),
                Value::from("2026-03-01T09:00:00Z")
            ),
            (
                "Bourse Volontariat : inscriptions".to_string(),
                Value::from("https://reseau.example.org/bourse"),
                Value::from("2026-02-10T09:00:00Z")
            ),
            (
                "Rencontre des partenaires sahéliens".to_string(),
                Value::from("https://reseau.example.org/rencontre"),
                Value::from("2026-02-20T14:30:00Z")
            ),
        ]
    );
    let all = items(&env).await;
    let summary = |title: &str| {
        all.iter()
            .find(|i| i["title"].as_str().unwrap().starts_with(title))
            .map(|i| i["summary"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(
        summary("Appel").contains("<strong>15 mai 2026</strong>"),
        "{}",
        summary("Appel")
    );
    assert!(summary("Rencontre").contains("<em>Niamey</em>"));
    let s = source(&env, "reseau").await;
    assert_eq!(
        s["last_error"],
        Value::Null,
        "a valid old feed is no repair"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rss_0_90_and_rss_1_0_items_without_a_link_are_stored_without_one() {
    let server = Server::start(vec![
        ("/old.rdf", Reply::feed(fixture("rss-0.90.rdf"))),
        ("/agenda.rdf", Reply::feed(fixture("rss-1.0-no-link.rdf"))),
    ])
    .await;
    let env = env_with(&[
        ("maison", server.url("/old.rdf")),
        ("agenda", server.url("/agenda.rdf")),
    ])
    .await;
    let run = env.run(&["fetch"]).await.ok();
    assert!(run.stderr.contains("0 en échec"), "{}", run.stderr);
    let urls = |found: Vec<(String, Value, Value)>| -> Vec<(String, Value)> {
        found.into_iter().map(|(t, u, _)| (t, u)).collect()
    };
    assert_eq!(
        urls(stored(&env, "maison").await),
        [
            (
                "Journée portes ouvertes le 14 juin".to_string(),
                Value::from("https://solidarites.example.org/portes-ouvertes")
            ),
            ("Marché équitable de printemps".to_string(), Value::Null),
        ]
    );
    assert_eq!(
        urls(stored(&env, "agenda").await),
        [
            (
                "Atelier « monter un projet au Sahel »".to_string(),
                Value::Null
            ),
            (
                "Conférence sur l\u{2019}eau et l\u{2019}assainissement".to_string(),
                Value::Null
            ),
            (
                "Forum des solidarités internationales".to_string(),
                Value::from("https://agenda.example.org/forum")
            ),
        ]
    );
    // Polled again (new body, same entries), the linkless items are recognised, not doubled.
    server.set(
        "/agenda.rdf",
        Reply::feed(format!(
            "{}\n",
            String::from_utf8(fixture("rss-1.0-no-link.rdf")).unwrap()
        )),
    );
    let run = env.run(&["fetch"]).await.ok();
    assert!(
        run.stderr
            .contains(": 0 nouveau(x), 0 mis à jour, 3 inchangé(s)"),
        "{}",
        run.stderr
    );
    assert_eq!(stored(&env, "agenda").await.len(), 3);

    // An item without a link goes into an issue like any other.
    let issue = env.create_issue("coopdev-info").await;
    let id = env.item_id("Marché équitable").await.to_string();
    env.run(&["issue", "add", &issue, "--item", &id]).await.ok();
    let html = env.run(&["issue", "render", &issue]).await.ok().stdout;
    assert!(html.contains("Marché équitable de printemps"), "{html}");
    assert!(!html.contains("about:blank"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_rss_feed_declaring_a_default_namespace_is_read() {
    let server = Server::start(vec![(
        "/ns.xml",
        Reply::feed(fixture("rss-default-namespace.xml")),
    )])
    .await;
    let env = env_with(&[("collectif", server.url("/ns.xml"))]).await;
    env.run(&["fetch"]).await.ok();
    assert_eq!(
        stored(&env, "collectif").await,
        [
            (
                "Formation des animateurs".to_string(),
                Value::from("https://collectif.example.org/formation"),
                Value::from("2026-02-27T09:00:00Z")
            ),
            (
                "Semaine de la solidarité internationale : le programme".to_string(),
                Value::from("https://collectif.example.org/semaine-2026"),
                Value::from("2026-03-02T08:00:00Z")
            ),
        ]
    );
    let s = source(&env, "collectif").await;
    assert_eq!(s["state"], "ok");
    assert!(last_error(&s).contains("espace de noms"), "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn base64_atom_text_is_stored_decoded() {
    let server = Server::start(vec![(
        "/fonds.xml",
        Reply::feed(fixture("atom-base64.xml")).with("content-type", "application/atom+xml"),
    )])
    .await;
    let env = env_with(&[("fonds", server.url("/fonds.xml"))]).await;
    let run = env.run(&["fetch"]).await.ok();
    assert!(run.stderr.contains("0 en échec"), "{}", run.stderr);
    let all = items(&env).await;
    let summary = |title: &str| {
        all.iter()
            .find(|i| i["title"] == title)
            .unwrap_or_else(|| panic!("no item {title}: {all:?}"))["summary"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let laureats = summary("Douze projets retenus");
    assert!(
        laureats.starts_with("<p>Le comité a retenu <strong>douze projets</strong> portés"),
        "{laureats}"
    );
    assert!(laureats.contains("au Bénin, au Sénégal et au Maroc."));
    assert_eq!(
        summary("Calendrier du prochain appel"),
        "Résultats détaillés sur le site de la Région."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sources_check_says_which_sources_answer_with_a_feed_and_stores_nothing() {
    let server = Server::start(vec![
        (
            "/ok.xml",
            Reply::feed(rss(
                "<item><guid>a</guid><title>Appel Afrique de l'Ouest</title></item>\
                 <item><guid>b</guid><title>Semi-conducteurs</title></item>",
            )),
        ),
        (
            "/page.html",
            Reply::feed("<html><body>Bienvenue</body></html>").with("content-type", "text/html"),
        ),
        ("/gone.xml", Reply::status(404)),
    ])
    .await;
    let env = TestEnv::new().await;
    env.write_sources(&format!(
        "[[source]]\nslug = \"tri\"\nname = \"Tri\"\nurl = \"{}\"\nallow_private = true\nkeep = [\"Afrique\"]\n\n\
         [[source]]\nslug = \"page\"\nname = \"Page\"\nurl = \"{}\"\nallow_private = true\n\n\
         [[source]]\nslug = \"perdue\"\nname = \"Perdue\"\nurl = \"{}\"\nallow_private = true\n",
        server.url("/ok.xml"),
        server.url("/page.html"),
        server.url("/gone.xml")
    ));
    let run = env.run(&["sources", "check"]).await.ok();
    assert!(
        run.stdout
            .contains("tri : flux lu, 2 entrée(s), dont 1 retenue(s) par ses mots-clés"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("page : ÉCHEC"), "{}", run.stdout);
    assert!(run.stdout.contains("perdue : ÉCHEC"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("1 source(s) sur 3 répondent par un flux"),
        "{}",
        run.stderr
    );
    let json = env
        .run(&["--json", "sources", "check"])
        .await
        .ok()
        .json_lines();
    assert_eq!(json.len(), 3);
    assert!(items(&env).await.is_empty(), "nothing stored");
    let s = source(&env, "tri").await;
    assert_eq!(
        s["last_fetched_at"],
        Value::Null,
        "no schedule changed: {s}"
    );
}
