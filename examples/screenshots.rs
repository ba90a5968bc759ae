//! Full-page screenshots of each title's golden HTML (`tests/golden/{slug}.html`) in headless
//! Chromium through chromedriver: `{slug}-600.png` at desktop width (the 600 px layout) and
//! `{slug}-375.png` in 375 px mobile emulation, both at pixel ratio 1.
//!
//! `cargo run --example screenshots -- OUT_DIR` (scripts/screenshots.sh writes to docs/)
//!
//! With `--desk BASE_URL EMAIL PASSWORD DRAFT SENT`, it signs in to a running `relais serve`
//! and takes the desk instead, at 1280 px: the watch inbox (`desk-veille.png`), the composer
//! of issue DRAFT (`desk-numero.png`) and the report of issue SENT (`desk-suivi.png`).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use axum::http::Method;
use base64::Engine;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use relais::domain::KNOWN_NEWSLETTERS;
use serde_json::{json, Value};
use url::Url;

/// A Chrome DevTools command sent through chromedriver's `goog/cdp/execute` endpoint: WebDriver
/// screenshots stop at the viewport, so the viewport is grown to the page's height first.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &Url, session: Option<&str>) -> Result<Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or("")
        ))
    }

    fn method_and_body(&self, _: &Url) -> (Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (Method::POST, Some(body.to_string()))
    }
}

/// chromedriver on a free port, stopped when dropped with the Chromium it started (both in a
/// process group of their own), even if an error left a session open.
struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("chromedriver runs (Debian packages chromium and chromium-driver)")?;
        let driver = Driver {
            child,
            port,
            profile: tempfile::tempdir()?,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(driver);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("chromedriver did not listen on port {port}")
    }

    /// A fresh browser; with `phone`, in 375 px mobile emulation as the browser tests use.
    async fn browser(&self, phone: bool) -> anyhow::Result<Client> {
        let mut options = json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--hide-scrollbars", "--window-size=600,900",
                format!("--user-data-dir={}", self.profile.path().display()),
            ],
        });
        if phone {
            options["mobileEmulation"] =
                json!({ "deviceMetrics": { "width": 375, "height": 812, "pixelRatio": 1.0 } });
        }
        let capabilities = json!({ "goog:chromeOptions": options });
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.as_object().cloned().unwrap_or_default())
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .context("a browser session")?;
        Ok(client)
    }
}

/// Loads `page` at `width` CSS pixels and returns the whole page as PNG bytes.
async fn screenshot(browser: &Client, page: &Path, width: u32) -> anyhow::Result<Vec<u8>> {
    let url = Url::from_file_path(page).map_err(|_| anyhow::anyhow!("{}", page.display()))?;
    screenshot_url(browser, &url, width).await
}

/// Loads `url` at `width` CSS pixels and returns the whole page as PNG bytes.
async fn screenshot_url(browser: &Client, url: &Url, width: u32) -> anyhow::Result<Vec<u8>> {
    let page = url.as_str();
    let metrics = |height: u64| Cdp {
        cmd: "Emulation.setDeviceMetricsOverride",
        params: json!({
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500,
        }),
    };
    browser.issue_cmd(metrics(900)).await?;
    browser.goto(page).await?;
    let size = browser
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight];",
            vec![],
        )
        .await?;
    let (scroll_width, height) = (size[0].as_u64(), size[1].as_u64());
    let height = height.context("page height")?;
    if scroll_width.is_some_and(|w| w > u64::from(width)) {
        eprintln!(
            "warning: {page} is {} px wide at {width} px: it scrolls sideways",
            scroll_width.unwrap_or_default()
        );
    }
    browser.issue_cmd(metrics(height)).await?;
    let shot = browser
        .issue_cmd(Cdp {
            cmd: "Page.captureScreenshot",
            params: json!({ "format": "png" }),
        })
        .await?;
    let data = shot["data"].as_str().context("screenshot data")?;
    Ok(base64::engine::general_purpose::STANDARD.decode(data)?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .context("usage: screenshots OUT_DIR")?,
    );
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let args: Vec<String> = std::env::args().skip(2).collect();
    if args.first().map(String::as_str) == Some("--desk") {
        return desk(&out, &args[1..]).await;
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let driver = Driver::start().await?;
    for (width, phone) in [(600, false), (375, true)] {
        let browser = driver.browser(phone).await?;
        for n in KNOWN_NEWSLETTERS {
            let png = screenshot(&browser, &golden.join(format!("{}.html", n.slug)), width).await?;
            let path = out.join(format!("{}-{width}.png", n.slug));
            std::fs::write(&path, &png)?;
            println!("{} ({} KB)", path.display(), png.len() / 1024);
        }
        browser.close().await?;
    }
    Ok(())
}

/// The desk of a running daemon: sign in through the form, then one picture per screen.
async fn desk(out: &Path, args: &[String]) -> anyhow::Result<()> {
    let [base, email, password, draft, sent] = args else {
        bail!("usage: screenshots OUT_DIR --desk BASE_URL EMAIL PASSWORD DRAFT SENT");
    };
    let base = Url::parse(base)?;
    let driver = Driver::start().await?;
    let browser = driver.browser(false).await?;
    browser.goto(base.join("/admin/login")?.as_str()).await?;
    use fantoccini::Locator;
    browser
        .find(Locator::Css("input[name=email]"))
        .await?
        .send_keys(email)
        .await?;
    browser
        .find(Locator::Css("input[name=password]"))
        .await?
        .send_keys(password)
        .await?;
    browser
        .find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (path, name) in [
        ("/admin/veille".to_string(), "desk-veille"),
        (format!("/admin/numeros/{draft}"), "desk-numero"),
        (format!("/admin/numeros/{sent}/suivi"), "desk-suivi"),
    ] {
        let png = screenshot_url(&browser, &base.join(&path)?, 1280).await?;
        let file = out.join(format!("{name}.png"));
        std::fs::write(&file, &png)?;
        println!("{} ({} KB)", file.display(), png.len() / 1024);
    }
    browser.close().await?;
    Ok(())
}
