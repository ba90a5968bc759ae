//! What is shown, through the real server: links that are not http(s) are links nowhere,
//! every answer carries the security headers, axum's own refusals are French pages, and a
//! sent issue stays as it went out whatever happens to its items afterwards.
#![allow(clippy::disallowed_methods)] // the tests poison stored rows directly

use crate::desk::get_with;
use crate::helpers::*;
use crate::pipeline::env_with_feed;

const PASSWORD: &str = "correct horse battery staple";
const SCRIPT_LINK: &str = "javascript:alert(document.cookie)";
const DATA_LINK: &str = "data:text/html,<script>alert(1)</script>";

/// Runs one statement against the test's own database, SQLite or PostgreSQL, with text
/// parameters bound in order.
async fn get(daemon: &Daemon, path: &str) -> reqwest::Response {
    daemon.client.get(daemon.url(path)).send().await.unwrap()
}

async fn text_of(daemon: &Daemon, path: &str) -> String {
    let answer = get(daemon, path).await;
    assert_eq!(answer.status(), 200, "{path}");
    answer.text().await.unwrap()
}

/// Signs in a new editor; the session cookie.
async fn editor_cookie(env: &TestEnv, daemon: &Daemon) -> String {
    add_editor(env).await;
    sign_in_editor(daemon).await
}

/// Creates the account redaction@example.org (an editor).
pub(crate) async fn add_editor(env: &TestEnv) {
    env.run_with_stdin(
        &["user", "add", "redaction@example.org", "--role", "editor"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
}

/// Signs in the editor `add_editor` created; the session cookie.
pub(crate) async fn sign_in_editor(daemon: &Daemon) -> String {
    let answer = daemon
        .client
        .post(daemon.url("/admin/login"))
        .form(&[("email", "redaction@example.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

fn assert_no_script_link(what: &str, text: &str) {
    for scheme in ["javascript:", "data:text/html", "vbscript:"] {
        assert!(
            !text.to_ascii_lowercase().contains(scheme),
            "{what} carries a {scheme} link:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_javascript_link_in_a_stored_item_is_a_link_nowhere() {
    let (mut env, _server) = env_with_feed().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.run(&["fetch"]).await.ok();
    // Stored before ingest checked links, or by any other way: rendering must not trust it.
    let sent_item = env.item_id("Eau et assainissement").await;
    let new_item = env.item_id("Rapport annuel").await;
    let waiting_item = env.item_id("Rencontre des acteurs").await;
    sql(
        &env,
        "update items set url = $1 where id = cast($2 as bigint)",
        &[SCRIPT_LINK, &sent_item.to_string()],
    )
    .await;
    sql(
        &env,
        "update items set url = $1 where id = cast($2 as bigint)",
        &[DATA_LINK, &new_item.to_string()],
    )
    .await;
    sql(
        &env,
        "update items set url = $1 where id = cast($2 as bigint)",
        &["vbscript:msgbox(1)", &waiting_item.to_string()],
    )
    .await;
    env.import("email,newsletters\nlecteur@example.org,coopdev-info\n")
        .await
        .ok();
    let issue = env.send_item("coopdev-info", &sent_item.to_string()).await;
    let draft = env.create_issue("coopdev-info").await;
    env.run(&["issue", "add", &draft, "--item", &new_item.to_string()])
        .await
        .ok();

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let html = messages[0].part("text/html").unwrap();
    let text = messages[0].part("text/plain").unwrap();
    assert!(html.contains("Eau et assainissement"), "{html}");
    assert_no_script_link("the email's HTML", html);
    assert_no_script_link("the email's text", text);

    let daemon = env.serve().await;
    let web = text_of(&daemon, &format!("/lettres/coopdev-info/{issue}")).await;
    assert!(web.contains("Eau et assainissement"));
    assert_no_script_link("the web version", &web);
    let feed = text_of(&daemon, "/lettres/coopdev-info/atom.xml").await;
    assert!(feed.contains("Eau et assainissement"));
    assert_no_script_link("the title's feed", &feed);
    let watch = text_of(&daemon, "/veille/atom.xml").await;
    assert_no_script_link("the watch feed", &watch);
    let watch = feed_rs::parser::parse(watch.as_bytes()).expect("a valid feed");
    assert_eq!(watch.entries.len(), 1);
    assert!(watch.entries[0].links.is_empty(), "{:?}", watch.entries[0]);

    let cookie = editor_cookie(&env, &daemon).await;
    let home = get_with(&daemon, "/admin", &cookie).await;
    assert_eq!(home.status(), 200);
    let home = home.text().await.unwrap();
    assert!(home.contains("Rencontre des acteurs"), "{home}");
    assert_no_script_link("the desk", &home);
    for part in ["apercu", "apercu.html", "apercu.txt"] {
        let preview = get_with(&daemon, &format!("/admin/numeros/{draft}/{part}"), &cookie).await;
        assert_eq!(preview.status(), 200);
        let preview = preview.text().await.unwrap();
        assert!(preview.contains("Rapport annuel"), "{part}");
        assert_no_script_link(part, &preview);
    }
}

fn assert_secured(path: &str, answer: &reqwest::Response, framed_by_desk: bool) {
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{path} ({}) has no {name}", answer.status()))
            .to_str()
            .unwrap()
            .to_string()
    };
    let csp = header("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
    if path.starts_with("/admin") && !framed_by_desk {
        // The desk's own script file, and nothing inline.
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
    } else {
        assert!(
            !csp.contains("script-src"),
            "{path}: no script at all: {csp}"
        );
    }
    assert!(!csp.contains("unsafe-eval"), "{path}: {csp}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    assert!(
        ["no-referrer", "same-origin", "strict-origin"]
            .contains(&header("referrer-policy").as_str()),
        "{path}"
    );
    if framed_by_desk {
        assert!(csp.contains("frame-ancestors 'self'"), "{path}: {csp}");
        assert_eq!(header("x-frame-options"), "SAMEORIGIN", "{path}");
    } else {
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_carries_the_security_headers() {
    let (mut env, _server) = env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    let item = env.newest_item().await;
    let issue = env.send_item("coopdev-info", &item).await;
    let daemon = env.serve().await;
    let cookie = editor_cookie(&env, &daemon).await;

    for (path, status) in [
        ("/", 200),
        ("/lettres", 200),
        ("/lettres/coopdev-info", 200),
        ("/lettres/coopdev-info/atom.xml", 200),
        ("/veille/atom.xml", 200),
        ("/admin/login", 200),
        ("/static/site.css", 200),
        ("/healthz", 200),
        ("/page-qui-n-existe-pas", 404),
        ("/lettres/inconnue", 404),
        ("/confirmer/jeton-bidon", 400),
        ("/lettres/coopdev-info?page=deux", 400),
    ] {
        let answer = get(&daemon, path).await;
        assert_eq!(answer.status(), status, "{path}");
        assert_secured(path, &answer, false);
    }
    // The site's own pages need no inline style, so their policy allows none.
    for path in ["/", "/lettres", "/admin/login"] {
        let page = text_of(&daemon, path).await;
        assert!(
            !page.contains("<style") && !page.contains(" style="),
            "{path}"
        );
        assert!(page.contains("href=\"/static/site.css\""), "{path}");
    }
    let css = get(&daemon, "/static/site.css").await;
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));

    // The web version keeps mrml's inline styles, and still no script.
    let path = format!("/lettres/coopdev-info/{issue}");
    let answer = get(&daemon, &path).await;
    assert_eq!(answer.status(), 200);
    assert_secured(&path, &answer, false);
    let csp = answer.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("img-src") && csp.contains("https:"), "{csp}");

    let desk = get_with(&daemon, "/admin", &cookie).await;
    assert_eq!(desk.status(), 200);
    assert_secured("/admin", &desk, false);
    let path = format!("/admin/numeros/{issue}/apercu");
    let preview = get_with(&daemon, &path, &cookie).await;
    assert_eq!(preview.status(), 200);
    assert_secured(&path, &preview, false);
    let preview = preview.text().await.unwrap();
    assert!(!preview.contains(" style="), "{preview}");
    let path = format!("/admin/numeros/{issue}/apercu.html");
    let frame = get_with(&daemon, &path, &cookie).await;
    assert_eq!(frame.status(), 200);
    assert_secured(&path, &frame, true);

    let refused = daemon
        .client
        .post(daemon.url("/admin/login"))
        .header("content-type", "text/plain")
        .body("email=a")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 415);
    assert_secured("/admin/login (a refused form)", &refused, false);
}

/// The answer is the French error page, with the status axum chose.
async fn assert_french_page(answer: reqwest::Response, status: u16, heading: &str) {
    assert_eq!(answer.status(), status);
    let kind = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("text/html"), "{status}: {kind}");
    let page = answer.text().await.unwrap();
    assert!(page.contains("<html lang=\"fr\""), "{page}");
    assert!(page.contains(heading), "{heading}: {page}");
    assert!(page.contains("Retour à l'accueil"), "{page}");
    for english in [
        "Failed to",
        "Invalid",
        "Expected",
        "missing field",
        "Content-Type",
    ] {
        assert!(!page.contains(english), "{english}: {page}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_by_the_framework_are_french_error_pages() {
    let mut env = TestEnv::new().await;
    let daemon = env.serve().await;
    let login = daemon.url("/admin/login");
    let c = &daemon.client;

    let wrong_type = c
        .post(&login)
        .header("content-type", "text/plain")
        .body("email=a@example.org&password=x")
        .send()
        .await
        .unwrap();
    assert_french_page(wrong_type, 415, "Format non pris en charge").await;
    let json = c
        .post(&login)
        .header("content-type", "application/json")
        .body("{\"email\":\"a@example.org\"}")
        .send()
        .await
        .unwrap();
    assert_french_page(json, 415, "Format non pris en charge").await;
    let missing_field = c
        .post(&login)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=a%40example.org")
        .send()
        .await
        .unwrap();
    assert_french_page(missing_field, 422, "Demande incorrecte").await;
    let bad_query = c
        .get(daemon.url("/lettres/coopdev-info?page=%FF%FE"))
        .send()
        .await
        .unwrap();
    assert_french_page(bad_query, 400, "Demande incorrecte").await;
    let bad_path = c
        .get(daemon.url("/lettres/coopdev-info/pas-un-nombre"))
        .send()
        .await
        .unwrap();
    assert_french_page(bad_path, 400, "Demande incorrecte").await;
    let unknown = c.get(daemon.url("/nulle-part")).send().await.unwrap();
    assert_french_page(unknown, 404, "Page introuvable").await;
    let wrong_method = c.delete(daemon.url("/")).send().await.unwrap();
    assert_french_page(wrong_method, 405, "Demande incorrecte").await;
    let too_big = c
        .post(daemon.url("/subscribe"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email={}", "a".repeat(100 * 1024)))
        .send()
        .await
        .unwrap();
    assert_french_page(too_big, 413, "Demande trop volumineuse").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sent_issue_stays_as_it_went_out_when_its_item_changes() {
    let (mut env, _server) = env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    let item = env.item_id("Eau et assainissement").await;
    let issue = env.send_item("coopdev-info", &item.to_string()).await;
    let page = format!("/lettres/coopdev-info/{issue}");
    let paths = [
        page.as_str(),
        "/lettres/coopdev-info",
        "/lettres/coopdev-info/atom.xml",
        "/veille/atom.xml",
    ];
    let daemon = env.serve().await;
    let mut before = Vec::new();
    for path in paths {
        before.push(text_of(&daemon, path).await);
    }
    assert!(before[0].contains("Eau et assainissement"));

    // The source edits its entry, with a control character, a script link and a new theme.
    let id = item.to_string();
    sql(
        &env,
        "update items set title = $1, url = $2, summary = $3 where id = cast($4 as bigint)",
        &[
            "Titre remplacé\u{1}\u{1b}[2J",
            SCRIPT_LINK,
            "<p>Résumé remplacé\u{8}\u{0b}</p>",
            &id,
        ],
    )
    .await;
    sql(
        &env,
        "update sources set name = $1 where slug = 'veille'",
        &["Source renommée\u{7}"],
    )
    .await;
    for (path, was) in paths.iter().zip(&before) {
        let now = text_of(&daemon, path).await;
        assert_eq!(&now, was, "{path} changed after the issue was sent");
    }
    for path in ["/lettres/coopdev-info/atom.xml", "/veille/atom.xml"] {
        let xml = text_of(&daemon, path).await;
        feed_rs::parser::parse(xml.as_bytes()).expect("a valid feed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn control_characters_reach_no_page_feed_or_subject() {
    let (mut env, _server) = env_with_feed().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.run(&["fetch"]).await.ok();
    let item = env.item_id("Eau et assainissement").await;
    // Stored by an older ingest, before the issue was composed and sent.
    sql(
        &env,
        "update items set title = $1, summary = $2 where id = cast($3 as bigint)",
        &[
            "Appel\u{1} piégé\u{1b}[31m",
            "<p>Résumé\u{8} piégé\u{0b}</p>",
            &item.to_string(),
        ],
    )
    .await;
    env.import("email,newsletters\nlecteur@example.org,coopdev-info\n")
        .await
        .ok();
    let issue = env
        .run(&[
            "issue",
            "create",
            "coopdev-info",
            "--subject",
            "Numéro\u{7} spécial",
        ])
        .await
        .ok()
        .stdout
        .trim()
        .to_string();
    env.run(&["issue", "add", &issue, "--item", &item.to_string()])
        .await
        .ok();
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();

    let unprintable = |c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t');
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let subject = messages[0].header("Subject").unwrap();
    assert!(subject.contains("Numéro spécial"), "{subject:?}");
    for (mime, body) in &messages[0].parts {
        assert!(!body.contains(unprintable), "{mime}: {body:?}");
        assert!(body.contains("Appel piégé"), "{mime}");
    }

    let daemon = env.serve().await;
    for path in [
        format!("/lettres/coopdev-info/{issue}"),
        "/lettres/coopdev-info".to_string(),
        "/lettres/coopdev-info/atom.xml".to_string(),
        "/veille/atom.xml".to_string(),
    ] {
        let body = text_of(&daemon, &path).await;
        assert!(!body.contains(unprintable), "{path}: {body:?}");
        if path.ends_with(".xml") {
            let feed = feed_rs::parser::parse(body.as_bytes()).expect("a valid feed");
            assert!(!feed.entries.is_empty(), "{path}");
        }
    }
}
