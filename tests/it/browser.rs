//! A person in a real browser (headless Chromium through chromedriver, phone-sized): subscribe,
//! confirm, tune interests, unsubscribe in one click, erase their data. All in French. And a
//! 30-item issue of each title as a reader's phone shows it.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

use crate::helpers::*;
use crate::pipeline::env_with_feed;

/// chromedriver on a free port, stopped when dropped with the Chromium it started, even when
/// a failing test never closed its session: both live in a process group of their own.
pub struct Driver {
    child: std::process::Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn phone_browser() -> (Driver, Client) {
    browser_at(Some(375)).await
}

/// A browser with a phone's screen (`Some(width)`), or a desktop's (1280 × 900).
pub async fn browser_at(phone_width: Option<u32>) -> (Driver, Client) {
    let port = free_port();
    let mut child = std::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver runs (Debian packages chromium and chromium-driver)");
    let profile = tempfile::tempdir().unwrap();
    let mut ready = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromedriver did not listen");
    }
    let driver = Driver {
        child,
        port,
        _profile: profile,
    };
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", format!("--user-data-dir={}", driver._profile.path().display()),
            ],
        }
    });
    let mut capabilities = capabilities;
    match phone_width {
        Some(width) => {
            capabilities["goog:chromeOptions"]["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": { "width": width, "height": 812, "pixelRatio": 2.0 }
            })
        }
        None => capabilities["goog:chromeOptions"]["args"]
            .as_array_mut()
            .unwrap()
            .push("--window-size=1280,900".into()),
    }
    // chromedriver speaks plain HTTP on loopback: no TLS stack for the WebDriver client.
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session");
    (driver, client)
}

/// Waits (up to 10 s) for the page to show `expected`, across the navigation a click starts.
pub async fn wait_for_text(browser: &Client, expected: &str) {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(body) = browser.find(Locator::Css("body")).await {
            if let Ok(text) = body.text().await {
                if text.contains(expected) {
                    return;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never showed « {expected} »; it shows:\n{last}");
}

pub async fn click_button(browser: &Client, label: &str) {
    browser
        .find(Locator::XPath(&format!(
            "//button[normalize-space()=\"{label}\"]"
        )))
        .await
        .unwrap_or_else(|_| panic!("a button « {label} »"))
        .click()
        .await
        .unwrap();
}

/// The page fits a 375 px screen: nothing scrolls sideways.
pub async fn assert_fits_phone(browser: &Client) {
    let widths = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let scroll = widths[0].as_f64().unwrap();
    let viewport = widths[1].as_f64().unwrap();
    assert!(viewport <= 400.0, "phone emulation is on: {viewport}");
    assert!(
        scroll <= viewport,
        "the page scrolls sideways: {scroll} > {viewport}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_subscribes_tunes_unsubscribes_and_erases_in_a_phone_browser() {
    if !has_tool("chromedriver", &["--version"], "chromium-driver")
        || !has_tool("chromium", &["--version"], "chromium")
    {
        return;
    }
    let (mut env, _server) = env_with_feed().await;
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    let daemon = env.serve().await;
    let (_driver, browser) = phone_browser().await;

    // Subscribe.
    browser.goto(&daemon.url("/")).await.unwrap();
    assert_fits_phone(&browser).await;
    wait_for_text(&browser, "Recevoir nos lettres d'information").await;
    browser
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("Awa.Diop@example.org")
        .await
        .unwrap();
    browser
        .find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("Awa Diop")
        .await
        .unwrap();
    browser
        .find(Locator::Css("input[name=theme][value=sante]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Countries are chosen by name from a list.
    browser
        .find(Locator::Css("#country option[value=SN]"))
        .await
        .expect("Sénégal in the list of countries")
        .click()
        .await
        .unwrap();
    click_button(&browser, "S'abonner").await;
    wait_for_text(&browser, "Vérifiez votre boîte de réception").await;

    // Confirm through the emailed link: the page has one button.
    let confirmation = sink
        .wait_for(1)
        .await
        .into_iter()
        .next()
        .expect("a confirmation email");
    let link = find_url(
        confirmation.part("text/plain").unwrap(),
        &daemon.url("/confirmer/"),
    )
    .unwrap();
    browser.goto(&link).await.unwrap();
    click_button(&browser, "Confirmer mon abonnement").await;
    wait_for_text(&browser, "Abonnement confirmé").await;

    // The next issue arrives, with a preferences link.
    let item = env.run(&["items", "--json", "--limit", "1"]).await.ok();
    let item = if item.stdout.trim().is_empty() {
        env.run(&["fetch", "--source", "veille"]).await.ok();
        env.newest_item().await
    } else {
        item.json_lines()[0]["id"].to_string()
    };
    env.send_item("coopdev-info", &item).await;
    let letter = sink
        .messages()
        .into_iter()
        .find(|m| m.header("List-Id").is_some())
        .expect("the issue");
    assert_eq!(letter.envelope_to, vec!["awa.diop@example.org"]);
    let preferences = find_url(
        letter.part("text/plain").unwrap(),
        &daemon.url("/preferences/"),
    )
    .unwrap();

    // Tune interests.
    browser.goto(&preferences).await.unwrap();
    assert_fits_phone(&browser).await;
    browser
        .find(Locator::Css("input[name=theme][value=agriculture]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_button(&browser, "Enregistrer").await;
    wait_for_text(&browser, "Vos choix sont enregistrés").await;
    let me = &env.export().await[0];
    assert_eq!(me["themes"], serde_json::json!(["agriculture", "sante"]));

    // Unsubscribe from the link in the message.
    browser.goto(&letter.unsubscribe_url()).await.unwrap();
    click_button(&browser, "Me désabonner").await;
    wait_for_text(&browser, "Vous êtes désabonné·e").await;
    let me = &env.export().await[0];
    // Both titles were ticked on the form; the link ends only the title of the message.
    assert_eq!(me["newsletters"], serde_json::json!(["echos-du-reseau"]));

    // Erase everything.
    browser.goto(&preferences).await.unwrap();
    browser
        .find(Locator::LinkText("Effacer mes données"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_button(&browser, "Effacer définitivement mes données").await;
    wait_for_text(&browser, "Vos données ont été effacées").await;
    assert!(env
        .run(&["subscribers", "export", "--json"])
        .await
        .ok()
        .stdout
        .trim()
        .is_empty());
    browser.close().await.unwrap();
}

/// What the phone test reads from a loaded issue.
const ISSUE_FACTS: &str = r#"return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    hrefs: [...document.querySelectorAll('a')].map(a => a.getAttribute('href')),
    imagesWithoutAlt: [...document.images]
        .filter(img => !(img.getAttribute('alt') || '').trim())
        .map(img => img.outerHTML),
    linksNotHttps: [...document.querySelectorAll('a')]
        .filter(a => !(a.getAttribute('href') || '').startsWith('https://'))
        .map(a => a.outerHTML),
};"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_thirty_item_issue_of_each_title_reads_on_a_phone_without_sideways_scroll() {
    if !has_tool("chromedriver", &["--version"], "chromium-driver")
        || !has_tool("chromium", &["--version"], "chromium")
    {
        return;
    }
    use relais::domain::KNOWN_NEWSLETTERS;
    use relais::render::{demo_issue, Recipient, Renderer};

    let templates = relais::assets::Templates::with_overrides(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
        true,
    )
    .unwrap();
    let renderer = Renderer::load(&templates).unwrap();
    let pages = tempfile::tempdir().unwrap();
    let (_driver, browser) = phone_browser().await;
    for n in KNOWN_NEWSLETTERS {
        let issue = demo_issue(n, 30);
        let entry_links = issue
            .sections
            .iter()
            .flat_map(|s| &s.entries)
            .filter(|e| e.url.is_some())
            .count();
        let (html, _) = renderer
            .render_issue(&issue)
            .unwrap()
            .personalise(&Recipient {
                name: "Awa Diop",
                unsubscribe_url: "https://relais.example.org/desinscription/00000042.a1b2c3d4",
                preferences_url: "https://relais.example.org/preferences/00000042.a1b2c3d4",
            });
        let page = pages.path().join(format!("{}.html", n.slug));
        std::fs::write(&page, html).unwrap();
        browser
            .goto(url::Url::from_file_path(&page).unwrap().as_str())
            .await
            .unwrap();
        let facts = browser.execute(ISSUE_FACTS, vec![]).await.unwrap();
        let slug = n.slug;
        assert_eq!(facts["innerWidth"], 375, "{slug}: phone emulation is on");
        let scroll = facts["scrollWidth"].as_u64().unwrap();
        assert!(scroll <= 375, "{slug} scrolls sideways: {scroll} px wide");
        let hrefs = facts["hrefs"].as_array().unwrap();
        assert!(
            hrefs.len() > entry_links
                && hrefs
                    .iter()
                    .any(|h| h.as_str().unwrap_or("").contains("/desinscription/")),
            "{slug}: the links of the entries and of the footer are there: {hrefs:?}"
        );
        assert_eq!(
            facts["imagesWithoutAlt"],
            serde_json::json!([]),
            "{slug}: images without a text alternative"
        );
        assert_eq!(
            facts["linksNotHttps"],
            serde_json::json!([]),
            "{slug}: links that are not https"
        );
    }
    browser.close().await.unwrap();
}

/// axe-core's script when Chromium, its driver and axe-core (tools/axe) are all here; `None`
/// (the test skips, saying which package is missing) on a machine without them.
pub fn chromium_and_axe() -> Option<String> {
    let axe_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tools/axe/node_modules/axe-core/axe.min.js"
    );
    let here = has_tool("chromedriver", &["--version"], "chromium-driver")
        && has_tool("chromium", &["--version"], "chromium")
        && has_tool(
            "test",
            &["-f", axe_path],
            "npm axe-core (npm ci --prefix tools/axe)",
        );
    here.then(|| std::fs::read_to_string(axe_path).unwrap())
}

/// axe-core (tools/axe, installed by scripts/test.sh) run in the page: every violation, as
/// "rule: help (selector…)".
pub async fn axe_violations(browser: &Client, axe: &str) -> Vec<String> {
    axe_violations_at(browser, axe, &[]).await
}

/// The same, only of these impacts (`serious`, `critical`…; none: all), as
/// "rule (impact): help (selector…)".
pub async fn axe_violations_at(browser: &Client, axe: &str, impacts: &[&str]) -> Vec<String> {
    browser.execute(axe, vec![]).await.expect("axe-core loads");
    let result = browser
        .execute_async(
            "const impacts = arguments[0]; const done = arguments[arguments.length - 1];\
             axe.run(document, { resultTypes: ['violations'] })\
               .then(r => done(r.violations\
                 .filter(v => impacts.length === 0 || impacts.includes(v.impact))\
                 .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' (' +\
                   v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ') + ')')))\
               .catch(e => done(['axe failed: ' + e]));",
            vec![serde_json::json!(impacts)],
        )
        .await
        .expect("axe-core runs");
    result
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_public_page_passes_axe_core() {
    let Some(axe) = crate::browser::chromium_and_axe() else {
        return;
    };
    let (mut env, _server) = env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    env.import("email,newsletters\nlecteur@example.org,coopdev-info\n")
        .await
        .ok();
    let item = env.newest_item().await;
    let issue = env.send_item("coopdev-info", &item).await;
    let daemon = env.serve().await;
    let (_driver, browser) = phone_browser().await;
    let mut failures = Vec::new();
    for path in [
        "/".to_string(),
        "/confidentialite".into(),
        "/lettres".into(),
        "/lettres/coopdev-info".into(),
        format!("/lettres/coopdev-info/{issue}"),
        "/admin/login".into(),
        "/page-inconnue".into(),
    ] {
        browser.goto(&daemon.url(&path)).await.unwrap();
        for v in axe_violations(&browser, &axe).await {
            failures.push(format!("{path}: {v}"));
        }
    }
    let _ = browser.close().await;
    assert!(
        failures.is_empty(),
        "axe-core finds:\n{}",
        failures.join("\n")
    );
}
