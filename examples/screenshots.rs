//! Full-page screenshots of each title's golden HTML (`tests/golden/{slug}.html`) in headless
//! Chromium through chromedriver: `{slug}-600.png` at desktop width (the 600 px layout) and
//! `{slug}-375.png` in 375 px mobile emulation, both at pixel ratio 1.
//!
//! `cargo run --example screenshots -- OUT_DIR` (scripts/screenshots.sh writes to docs/)

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
    let metrics = |height: u64| Cdp {
        cmd: "Emulation.setDeviceMetricsOverride",
        params: json!({
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500,
        }),
    };
    browser.issue_cmd(metrics(900)).await?;
    browser.goto(url.as_str()).await?;
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
            "warning: {} is {} px wide at {width} px: it scrolls sideways",
            page.display(),
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
