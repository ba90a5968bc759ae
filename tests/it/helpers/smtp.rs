//! Postfix's smtp-sink, and the messages it captured.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::*;

/// Postfix's smtp-sink on a free port, dumping every message into a folder. `flags` are
/// passed through (`-r RCPT`, `-q .`…).
pub struct SmtpSink {
    pub port: u16,
    dump: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpSink {
    /// smtp-sink on a free port; if another process takes the port first, on another one.
    pub async fn start(flags: &[&str]) -> Self {
        for _ in 0..4 {
            if let Some(sink) = Self::try_start_on(free_port(), flags).await {
                return sink;
            }
        }
        Self::start_on(free_port(), flags).await
    }

    /// Waits until at least `count` whole messages arrived and returns them all; fails the
    /// test, naming who did get one, when they are not all there within 15 s.
    pub async fn wait_for(&self, count: usize) -> Vec<Captured> {
        let arrived = eventually(Duration::from_secs(15), || async {
            self.complete_messages().len() >= count
        })
        .await;
        let messages = self.complete_messages();
        assert!(
            arrived,
            "the relay received {} whole message(s) of {count} within 15 s, for {:?}",
            messages.len(),
            messages.iter().map(|m| &m.envelope_to).collect::<Vec<_>>()
        );
        messages
    }

    /// smtp-sink on a port chosen by the test (a relay that comes back where it was).
    pub async fn start_on(port: u16, flags: &[&str]) -> Self {
        Self::try_start_on(port, flags)
            .await
            .unwrap_or_else(|| panic!("smtp-sink did not listen on {port}"))
    }

    async fn try_start_on(port: u16, flags: &[&str]) -> Option<Self> {
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
        // smtp-sink exits at once when the port is taken.
        for _ in 0..100 {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Someone answers; make sure it is this smtp-sink, not another process that
                // holds the port (then this one is exiting).
                tokio::time::sleep(Duration::from_millis(50)).await;
                if matches!(child.try_wait(), Ok(None)) {
                    return Some(SmtpSink { port, dump, child });
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        None
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
