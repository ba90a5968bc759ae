//! One isolated installation of relais and the real binary.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
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

    /// Saves the segment `slug` of coopdev-info: the readers interested in the theme `slug`.
    pub async fn add_theme_segment(&self, slug: &str) {
        self.run(&[
            "segment",
            "add",
            slug,
            "--newsletter",
            "coopdev-info",
            "--theme",
            slug,
        ])
        .await
        .ok();
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

    /// Starts `relais serve` on a free port and waits until /healthz answers. The port must
    /// be known before the start (links in messages carry it), so it is chosen first; if
    /// another process takes it meanwhile, the daemon says so and another port is tried.
    pub async fn serve(&mut self) -> Daemon {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let base = format!("http://127.0.0.1:{port}");
            self.set("RELAIS_LISTEN", format!("127.0.0.1:{port}"));
            self.set("RELAIS_BASE_URL", base.clone());
            let mut child = self
                .command(&["serve"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let healthz = format!("{base}/healthz");
            // Up, or gone (the port was taken): whichever comes first, within 10 s.
            for _ in 0..200 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                let answered = client.get(&healthz).send().await;
                if answered.is_ok_and(|r| r.status().is_success()) {
                    // Read all along, so that a chatty daemon never blocks on a full pipe.
                    let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
                    let mut stderr = child.stderr.take().unwrap();
                    let sink = logs.clone();
                    tokio::spawn(async move {
                        use tokio::io::AsyncReadExt;
                        let mut buf = [0u8; 8192];
                        while let Ok(n) = stderr.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            sink.lock()
                                .unwrap()
                                .push_str(&String::from_utf8_lossy(&buf[..n]));
                        }
                    });
                    return Daemon {
                        child,
                        logs,
                        base,
                        client,
                    };
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.start_kill();
            let out = child.wait_with_output().await.unwrap();
            last_error = String::from_utf8_lossy(&out.stderr).into_owned();
            if !last_error.contains("cannot listen") {
                break;
            }
        }
        panic!("relais serve did not start: {last_error}");
    }
}

/// A running `relais serve`, stopped when dropped.
pub struct Daemon {
    child: Child,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
    pub base: String,
    /// Follows no redirects, keeps no cookies: what a mail provider's one-click POST does.
    pub client: reqwest::Client,
}

impl Daemon {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the daemon runs")
    }

    /// Sends a signal (`TERM`, `KILL`…) to the daemon.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Waits until the daemon has ended (`timeout` at most): its exit code (`None`: killed
    /// by a signal) and what it wrote on stderr.
    pub async fn ended(mut self, timeout: Duration) -> (Option<i32>, String) {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .expect("the daemon ended in time")
            .unwrap();
        // The reader gets the last lines once the pipe closes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status.code(), self.logs())
    }

    /// What the daemon wrote on stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The value of one sample of `/metrics` (`name{labels}` exactly as rendered, labels
    /// sorted by name), if present.
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let text = self.text("/metrics").await;
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            l.strip_prefix(sample)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    /// `/healthz` as JSON.
    pub async fn health(&self) -> serde_json::Value {
        self.client
            .get(self.url("/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .map(|body| serde_json::from_str(&body).expect("/healthz answers JSON"))
            .unwrap()
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

/// Runs one statement on the test's database, whichever backend it is, with text parameters.
pub async fn sql(env: &TestEnv, statement: &str, params: &[&str]) {
    if let Err(e) = try_sql(env, statement, params).await {
        panic!("{statement}: {e}");
    }
}

/// Runs one statement as [`sql`] does and returns the rows it changed, or the database's
/// error. SQLite connections enforce foreign keys, as relais's own do.
pub async fn try_sql(env: &TestEnv, statement: &str, params: &[&str]) -> sqlx::Result<u64> {
    if env.database_url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&env.database_url).await?;
        let mut q = sqlx::query(statement);
        for p in params {
            q = q.bind(*p);
        }
        let done = q.execute(&pool).await;
        pool.close().await;
        done.map(|r| r.rows_affected())
    } else {
        let options: sqlx::sqlite::SqliteConnectOptions = env.database_url.parse()?;
        let pool = sqlx::SqlitePool::connect_with(options.foreign_keys(true)).await?;
        let mut q = sqlx::query(statement);
        for p in params {
            q = q.bind(*p);
        }
        let done = q.execute(&pool).await;
        pool.close().await;
        done.map(|r| r.rows_affected())
    }
}

/// Holds the items table against writes, as a long store would, until `until` says so or ten
/// seconds pass: SQLite's write lock, or on PostgreSQL a lock that lets reads through.
pub async fn hold_item_writes(env: &TestEnv, until: impl Fn() -> bool) {
    use sqlx::Connection;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let wait = || async {
        while !until() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    if env.database_url.starts_with("postgres") {
        let mut db = sqlx::PgConnection::connect(&env.database_url)
            .await
            .unwrap();
        let mut tx = db.begin().await.unwrap();
        sqlx::query("lock table items in exclusive mode")
            .execute(&mut *tx)
            .await
            .unwrap();
        wait().await;
        tx.rollback().await.unwrap();
    } else {
        let mut db = sqlx::SqliteConnection::connect(&env.database_url)
            .await
            .unwrap();
        sqlx::query("begin immediate")
            .execute(&mut db)
            .await
            .unwrap();
        wait().await;
        sqlx::query("rollback").execute(&mut db).await.unwrap();
    }
}

/// The first column of the first row `query` returns, as text (null: `None`).
pub async fn sql_text(env: &TestEnv, query: &str) -> Option<String> {
    if env.database_url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&env.database_url).await.unwrap();
        let v = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
        pool.close().await;
        v
    } else {
        let pool = sqlx::SqlitePool::connect(&env.database_url).await.unwrap();
        let v = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
        pool.close().await;
        v
    }
}
