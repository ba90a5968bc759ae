//! A scripted SMTP relay on loopback, for what smtp-sink cannot do on command: hold each
//! message a while, or answer one MAIL FROM of one connection with a refusal and hang up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// What a [`ScriptedRelay`] saw.
#[derive(Debug, Default, Clone)]
pub struct Relayed {
    /// Connections accepted.
    pub connections: usize,
    /// (recipient, Message-ID) of each message accepted after its final dot, in order.
    pub accepted: Vec<(String, String)>,
    /// Transactions open now (MAIL taken, final dot not yet answered), and the most at once.
    pub open: usize,
    pub most_open: usize,
}

impl Relayed {
    /// The recipients of the accepted messages, sorted (repeats kept).
    pub fn recipients(&self) -> Vec<String> {
        let mut r: Vec<String> = self.accepted.iter().map(|(to, _)| to.clone()).collect();
        r.sort();
        r
    }
}

/// Answers the `mail`-th MAIL FROM (from 1) of the `connection`-th connection (from 1): `None`
/// takes it, `Some(reply)` sends that reply and closes the connection.
pub type MailScript = dyn Fn(usize, usize) -> Option<&'static str> + Send + Sync;

/// A loopback relay that speaks enough ESMTP (with PIPELINING) for relais, holds each message
/// `hold` before accepting it, and follows a [`MailScript`].
pub struct ScriptedRelay {
    pub port: u16,
    seen: Arc<Mutex<Relayed>>,
}

impl ScriptedRelay {
    pub async fn start(
        hold: Duration,
        script: impl Fn(usize, usize) -> Option<&'static str> + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Relayed::default()));
        let shared = seen.clone();
        let script: Arc<MailScript> = Arc::new(script);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let connection = {
                    let mut s = shared.lock().unwrap();
                    s.connections += 1;
                    s.connections
                };
                let session = Session {
                    seen: shared.clone(),
                    script: script.clone(),
                    hold,
                    connection,
                };
                tokio::spawn(session.run(socket));
            }
        });
        Self { port, seen }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Relayed {
        self.seen.lock().unwrap().clone()
    }
}

struct Session {
    seen: Arc<Mutex<Relayed>>,
    script: Arc<MailScript>,
    hold: Duration,
    connection: usize,
}

impl Session {
    async fn run(self, socket: tokio::net::TcpStream) {
        let (read, mut write) = socket.into_split();
        let mut reader = BufReader::new(read);
        let _ = write.write_all(b"220 relais-scripte ESMTP\r\n").await;
        let mut mails = 0;
        let mut open = false;
        let mut to = String::new();
        while let Some(line) = next_line(&mut reader).await {
            let verb = line.to_ascii_uppercase();
            let reply: &[u8] = if verb.starts_with("EHLO") {
                b"250-relais-scripte\r\n250 PIPELINING\r\n"
            } else if verb.starts_with("MAIL") {
                mails += 1;
                if let Some(refusal) = (self.script)(self.connection, mails) {
                    // As Postfix does: the reply, then the connection closes. What the client
                    // pipelined behind MAIL is read and dropped, so that the close is a FIN.
                    let _ = write.write_all(format!("{refusal}\r\n").as_bytes()).await;
                    let _ = write.shutdown().await;
                    let mut rest = Vec::new();
                    let _ = tokio::time::timeout(
                        Duration::from_secs(10),
                        reader.read_to_end(&mut rest),
                    )
                    .await;
                    break;
                }
                let mut s = self.seen.lock().unwrap();
                s.open += 1;
                s.most_open = s.most_open.max(s.open);
                open = true;
                b"250 2.1.0 ok\r\n"
            } else if verb.starts_with("RCPT") {
                to = line
                    .split('<')
                    .nth(1)
                    .and_then(|r| r.split('>').next())
                    .unwrap_or_default()
                    .to_string();
                b"250 2.1.5 ok\r\n"
            } else if verb.starts_with("DATA") {
                if write.write_all(b"354 go ahead\r\n").await.is_err() {
                    break;
                }
                let mut message_id = String::new();
                while let Some(l) = next_line(&mut reader).await {
                    if l == "." {
                        break;
                    }
                    if let Some((name, value)) = l.split_once(':') {
                        if message_id.is_empty() && name.eq_ignore_ascii_case("Message-ID") {
                            message_id = value.trim().to_string();
                        }
                    }
                }
                tokio::time::sleep(self.hold).await;
                let mut s = self.seen.lock().unwrap();
                s.open -= 1;
                s.accepted.push((std::mem::take(&mut to), message_id));
                open = false;
                b"250 2.0.0 queued\r\n"
            } else if verb.starts_with("QUIT") {
                let _ = write.write_all(b"221 bye\r\n").await;
                break;
            } else {
                b"250 ok\r\n"
            };
            if write.write_all(reply).await.is_err() {
                break;
            }
        }
        if open {
            self.seen.lock().unwrap().open -= 1;
        }
    }
}

/// The next line without its CRLF, `None` at the end of the connection.
async fn next_line(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<String> {
    let mut bytes = Vec::new();
    match reader.read_until(b'\n', &mut bytes).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(
            String::from_utf8_lossy(&bytes)
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        ),
    }
}
