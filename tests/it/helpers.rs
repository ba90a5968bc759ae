//! Shared test helpers: a fresh environment per test (its own database, folders, ports),
//! the real `relais` binary, a loopback HTTP server for feeds, and Postfix's smtp-sink.
#![allow(clippy::disallowed_methods)] // tests reach the database and HTTP directly

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_relais");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Output of one command run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "command failed\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    }
}

/// One isolated installation of relais: a temporary folder, its own database (SQLite, or a
/// fresh PostgreSQL database when RELAIS_TEST_DATABASE_URL is set) and its own settings.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub env: HashMap<String, String>,
    pub database_url: String,
}

impl TestEnv {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match std::env::var("RELAIS_TEST_DATABASE_URL") {
            Ok(admin) if !admin.is_empty() => fresh_postgres_database(&admin).await,
            _ => format!("sqlite://{}", dir.path().join("data/relais.db").display()),
        };
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut env = HashMap::new();
        env.insert("RELAIS_DATABASE_URL".into(), database_url.clone());
        env.insert(
            "RELAIS_DATA_DIR".into(),
            dir.path().join("data").display().to_string(),
        );
        env.insert(
            "RELAIS_OUTBOX_DIR".into(),
            dir.path().join("outbox").display().to_string(),
        );
        env.insert(
            "RELAIS_SOURCES".into(),
            dir.path().join("sources.toml").display().to_string(),
        );
        env.insert(
            "RELAIS_TEMPLATES_DIR".into(),
            root.join("templates").display().to_string(),
        );
        env.insert(
            "RELAIS_SECRET".into(),
            "test-secret-that-is-long-enough-0123456789".into(),
        );
        env.insert("RELAIS_RETRY_SCHEDULE".into(), "1h".into());
        std::fs::write(dir.path().join("sources.toml"), "").unwrap();
        TestEnv {
            dir,
            env,
            database_url,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.env.insert(key.into(), value.into());
    }

    pub fn write_sources(&self, toml: &str) {
        std::fs::write(self.path("sources.toml"), toml).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .kill_on_drop(true);
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "").await
    }

    pub async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        use tokio::io::AsyncWriteExt;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("relais binary runs");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .expect("command finished in time")
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts a command without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// `subscribers export --json`, one value per subscriber.
    pub async fn export(&self) -> Vec<serde_json::Value> {
        self.run(&["subscribers", "export", "--json"])
            .await
            .ok()
            .json_lines()
    }

    /// `issue status ISSUE --json`.
    pub async fn status(&self, issue: &str) -> serde_json::Value {
        self.run(&["issue", "status", issue, "--json"])
            .await
            .ok()
            .json_lines()
            .remove(0)
    }

    /// A new draft of `newsletter`; its id.
    pub async fn create_issue(&self, newsletter: &str) -> String {
        self.run(&["issue", "create", newsletter])
            .await
            .ok()
            .stdout
            .trim()
            .to_string()
    }

    /// The id of the newest watch item.
    pub async fn newest_item(&self) -> String {
        self.run(&["items", "--json", "--limit", "1"])
            .await
            .ok()
            .json_lines()[0]["id"]
            .to_string()
    }

    /// The id of the watch item whose title contains `title_part`.
    pub async fn item_id(&self, title_part: &str) -> i64 {
        let items = self.run(&["items", "--json"]).await.ok().json_lines();
        items
            .iter()
            .find(|i| i["title"].as_str().unwrap().contains(title_part))
            .unwrap_or_else(|| panic!("no item with {title_part}"))["id"]
            .as_i64()
            .unwrap()
    }

    /// A new issue of `newsletter` holding `item`, sent with `--wait`; its id.
    pub async fn send_item(&self, newsletter: &str, item: &str) -> String {
        let issue = self.create_issue(newsletter).await;
        self.run(&["issue", "add", &issue, "--item", item])
            .await
            .ok();
        self.run(&["issue", "send", &issue, "--wait"]).await.ok();
        issue
    }

    /// Imports subscribers from CSV text (header included).
    pub async fn import(&self, csv: &str) -> Run {
        std::fs::write(self.path("import.csv"), csv).unwrap();
        self.run(&[
            "subscribers",
            "import",
            self.path("import.csv").to_str().unwrap(),
        ])
        .await
    }

    /// Starts `relais serve` on a free port and waits until /healthz answers.
    pub async fn serve(&mut self) -> Daemon {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        self.set("RELAIS_LISTEN", format!("127.0.0.1:{port}"));
        self.set("RELAIS_BASE_URL", base.clone());
        let child = self
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
                if r.status().is_success() {
                    return Daemon {
                        _child: child,
                        base,
                        client,
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let out = child.wait_with_output().await.unwrap();
        panic!(
            "relais serve did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A running `relais serve`, stopped when dropped.
pub struct Daemon {
    _child: Child,
    pub base: String,
    /// Follows no redirects, keeps no cookies: what a mail provider's one-click POST does.
    pub client: reqwest::Client,
}

impl Daemon {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The body of `GET path`, whatever its status.
    pub async fn text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for TestEnv {
    /// Each PostgreSQL test database goes away with its test.
    fn drop(&mut self) {
        if !self.database_url.starts_with("postgres") {
            return;
        }
        let url = url::Url::parse(&self.database_url).unwrap();
        let name = url.path().trim_start_matches('/').to_string();
        let mut admin = url.clone();
        admin.set_path("/postgres");
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(admin.as_str()).await {
                    let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

async fn fresh_postgres_database(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("relais_test_{}", hex::encode(rand::random::<[u8; 6]>()));
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| {
            panic!("RELAIS_TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {e}")
        });
    sqlx::query(&format!("create database {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(admin_url).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A loopback HTTP server serving fixed bodies, counting requests per path.
pub struct FeedServer {
    pub addr: SocketAddr,
    hits: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    _task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
pub struct Route {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Route {
    pub fn feed(body: impl Into<Vec<u8>>) -> Self {
        Route {
            status: 200,
            content_type: "application/rss+xml; charset=utf-8",
            body: body.into(),
            headers: vec![],
        }
    }

    pub fn status(status: u16) -> Self {
        Route {
            status,
            content_type: "text/plain",
            body: b"nope".to_vec(),
            headers: vec![],
        }
    }
}

impl FeedServer {
    pub async fn start(routes: Vec<(&str, Route)>) -> Self {
        use axum::body::Body;
        use axum::http::{Request, Response};
        let routes: Arc<HashMap<String, Route>> = Arc::new(
            routes
                .into_iter()
                .map(|(p, r)| (p.to_string(), r))
                .collect(),
        );
        let hits: Arc<std::sync::Mutex<HashMap<String, usize>>> = Default::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counter = hits.clone();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let routes = routes.clone();
            let counter = counter.clone();
            async move {
                let path = req.uri().path().to_string();
                *counter.lock().unwrap().entry(path.clone()).or_default() += 1;
                match routes.get(&path) {
                    Some(r) => {
                        let mut b = Response::builder()
                            .status(r.status)
                            .header("content-type", r.content_type);
                        for (k, v) in &r.headers {
                            b = b.header(*k, v);
                        }
                        b.body(Body::from(r.body.clone())).unwrap()
                    }
                    None => Response::builder()
                        .status(404)
                        .body(Body::from("not found"))
                        .unwrap(),
                }
            }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FeedServer {
            addr,
            hits,
            _task: task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// Postfix's smtp-sink on a free port, dumping every message into a folder. `flags` are
/// passed through (`-r RCPT`, `-q .`…).
pub struct SmtpSink {
    pub port: u16,
    dump: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpSink {
    pub async fn start(flags: &[&str]) -> Self {
        Self::start_on(free_port(), flags).await
    }

    /// Waits until at least `count` whole messages arrived (15 s at most) and returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Captured> {
        eventually(Duration::from_secs(15), || async {
            self.complete_messages().len() >= count
        })
        .await;
        self.complete_messages()
    }

    /// smtp-sink on a port chosen by the test (a relay that comes back where it was).
    pub async fn start_on(port: u16, flags: &[&str]) -> Self {
        use std::os::unix::fs::PermissionsExt;
        // As root, smtp-sink drops to nobody: the dump folder must be writable by anyone.
        let dump = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dump.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut cmd = std::process::Command::new("smtp-sink");
        cmd.env(
            "PATH",
            format!(
                "/usr/sbin:/usr/bin:/sbin:/bin:{}",
                std::env::var("PATH").unwrap_or_default()
            ),
        );
        if is_root() {
            cmd.args(["-u", "nobody"]);
        }
        let template = format!("{}/%H%M%S.", dump.path().display());
        cmd.args(flags)
            .args(["-d", &template, &format!("127.0.0.1:{port}"), "100"]);
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink runs (Debian package postfix)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return SmtpSink { port, dump, child };
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("smtp-sink did not listen on {port}");
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, parsed.
    pub fn messages(&self) -> Vec<Captured> {
        self.raw_messages()
            .iter()
            .map(|m| Captured::parse(m))
            .collect()
    }

    /// Messages received in full: smtp-sink creates its dump file when DATA starts and fills
    /// it as it goes (an aborted transaction leaves a partial or empty file behind).
    pub fn complete_messages(&self) -> Vec<Captured> {
        self.raw_messages()
            .iter()
            .filter(|raw| {
                let text = String::from_utf8_lossy(raw);
                let m = Captured::parse(raw);
                m.header("Content-Type")
                    .and_then(|ct| ct.split("boundary=").nth(1))
                    .map(|b| b.trim_matches('"').to_string())
                    .is_some_and(|b| text.contains(&format!("--{b}--")))
            })
            .map(|raw| Captured::parse(raw))
            .collect()
    }

    /// Every message received so far, as bytes (smtp-sink's own headers first).
    pub fn raw_messages(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<PathBuf> = walk(self.dump.path());
        files.sort();
        files.iter().map(|f| std::fs::read(f).unwrap()).collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// One message as a server received it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub envelope_to: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub content_type: String,
    /// (mime type, decoded body) of each leaf part.
    pub parts: Vec<(String, String)>,
}

impl Captured {
    pub fn parse(bytes: &[u8]) -> Self {
        let mail = mailparse::parse_mail(bytes).expect("well-formed MIME");
        let headers: Vec<(String, String)> = mail
            .headers
            .iter()
            .map(|h| (h.get_key(), h.get_value()))
            .collect();
        let envelope_to = headers
            .iter()
            .filter(|(k, _)| k == "X-Rcpt-Args")
            .map(|(_, v)| {
                v.trim()
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        let mut parts = Vec::new();
        collect_parts(&mail, &mut parts);
        Captured {
            envelope_to,
            content_type: mail.ctype.mimetype.clone(),
            headers,
            parts,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn part(&self, mime: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|(m, _)| m == mime)
            .map(|(_, b)| b.as_str())
    }

    /// The URL inside `List-Unsubscribe: <…>`.
    pub fn unsubscribe_url(&self) -> String {
        let v = self
            .header("List-Unsubscribe")
            .expect("List-Unsubscribe header");
        v.trim()
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_string()
    }
}

fn collect_parts(mail: &mailparse::ParsedMail<'_>, out: &mut Vec<(String, String)>) {
    if mail.subparts.is_empty() {
        out.push((
            mail.ctype.mimetype.clone(),
            mail.get_body().unwrap_or_default(),
        ));
    }
    for p in &mail.subparts {
        collect_parts(p, out);
    }
}

/// An RSA key as `openssl genrsa` writes it today (PKCS#8, `BEGIN PRIVATE KEY`), and its
/// public half in DER for the verifier.
pub fn pkcs8_key(env: &TestEnv) -> (std::path::PathBuf, Vec<u8>) {
    let key = env.path("dkim.pem");
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        key.to_str().unwrap(),
    ]);
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    let public = openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-pubout",
        "-outform",
        "DER",
    ]);
    (key, public)
}

/// Whether dkimpy accepts the signature of `raw`, with `public` as the DNS record's key.
pub fn dkim_verifies(env: &TestEnv, raw: &[u8], public: &[u8]) -> String {
    let message = env.path("message.eml");
    std::fs::write(&message, raw).unwrap();
    let key = env.path("public.der");
    std::fs::write(&key, public).unwrap();
    let verify = std::process::Command::new("python3")
        .args([
            "-c",
            "import base64, sys, dkim\n\
             msg = open(sys.argv[1], 'rb').read()\n\
             record = b'v=DKIM1; k=rsa; p=' + base64.b64encode(open(sys.argv[2], 'rb').read())\n\
             print('ok' if dkim.verify(msg, dnsfunc=lambda name, timeout=5: record) else 'bad')",
            message.to_str().unwrap(),
            key.to_str().unwrap(),
        ])
        .output()
        .expect("python3 runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout).trim(),
        String::from_utf8_lossy(&verify.stderr)
    )
}

/// Polls `condition` every 50 ms until it holds or `timeout` has passed; says whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first URL in `text` that starts with `prefix`.
pub fn find_url(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// Whether an outside program a test needs is here. `scripts/test.sh` installs all of them and
/// sets `RELAIS_TEST_STRICT`, so there a missing one fails the test; a bare `cargo test` on a
/// machine without it skips the test and says why on stderr.
pub fn has_tool(program: &str, args: &[&str], package: &str) -> bool {
    let found = std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let what = format!("`{program} {}` failed", args.join(" "));
        assert!(
            std::env::var_os("RELAIS_TEST_STRICT").is_none(),
            "{what} (Debian package {package}), and scripts/test.sh requires it"
        );
        // Straight to the process's stderr: the test harness would swallow eprintln! of a
        // passing test, and a skip must be seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {what} (Debian package {package}); bash scripts/test.sh installs it"
        );
    }
    found
}
