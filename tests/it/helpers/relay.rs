//! A scripted SMTP relay on loopback, for what smtp-sink cannot do on command: hold each
//! message a while, answer one MAIL FROM of one connection with a refusal and hang up, or speak
//! TLS (from the first byte, or after STARTTLS) and tell which commands came encrypted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::TlsAcceptor;

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
    /// Every command's verb (EHLO, STARTTLS, MAIL…) in the order received, and whether it
    /// came encrypted.
    pub commands: Vec<(String, bool)>,
    /// TLS handshakes the client broke off (it did not trust the certificate).
    pub handshakes_refused: usize,
}

impl Relayed {
    /// The recipients of the accepted messages, sorted (repeats kept).
    pub fn recipients(&self) -> Vec<String> {
        let mut r: Vec<String> = self.accepted.iter().map(|(to, _)| to.clone()).collect();
        r.sort();
        r
    }

    /// The verbs of the commands received in clear, in order.
    pub fn in_clear(&self) -> Vec<&str> {
        self.commands
            .iter()
            .filter(|(_, encrypted)| !encrypted)
            .map(|(verb, _)| verb.as_str())
            .collect()
    }
}

/// How a [`ScriptedRelay`] speaks TLS.
#[derive(Clone)]
pub enum RelayTls {
    /// Never: in clear, and EHLO offers no STARTTLS.
    None,
    /// From the first byte, as on port 465 (`smtps://`).
    Implicit(TlsAcceptor),
    /// In clear until STARTTLS, which EHLO offers.
    StartTls(TlsAcceptor),
}

/// Answers the `mail`-th MAIL FROM (from 1) of the `connection`-th connection (from 1): `None`
/// takes it, `Some(reply)` sends that reply and closes the connection.
pub type MailScript = dyn Fn(usize, usize) -> Option<&'static str> + Send + Sync;

/// A loopback relay that speaks enough ESMTP (with PIPELINING) for relais, holds each message
/// `hold` before accepting it, and follows a [`MailScript`].
pub struct ScriptedRelay {
    pub port: u16,
    seen: Arc<Mutex<Relayed>>,
    implicit_tls: bool,
}

impl ScriptedRelay {
    /// A relay in clear.
    pub async fn start(
        hold: Duration,
        script: impl Fn(usize, usize) -> Option<&'static str> + Send + Sync + 'static,
    ) -> Self {
        Self::start_with(RelayTls::None, hold, script).await
    }

    pub async fn start_with(
        tls: RelayTls,
        hold: Duration,
        script: impl Fn(usize, usize) -> Option<&'static str> + Send + Sync + 'static,
    ) -> Self {
        let implicit_tls = matches!(tls, RelayTls::Implicit(_));
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
                    tls: tls.clone(),
                };
                tokio::spawn(session.run(socket));
            }
        });
        Self {
            port,
            seen,
            implicit_tls,
        }
    }

    /// `smtps://` for implicit TLS, else `smtp://`; STARTTLS is asked for by the caller.
    pub fn url(&self) -> String {
        let scheme = if self.implicit_tls { "smtps" } else { "smtp" };
        format!("{scheme}://127.0.0.1:{}", self.port)
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
    tls: RelayTls,
}

/// Either side of a connection, in clear or encrypted.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connection, read line by line (writes go through to the stream).
type Conn = BufReader<Box<dyn Stream>>;

impl Session {
    /// The TLS handshake, as the server; `None` (and counted) if the client broke it off.
    async fn handshake(&self, acceptor: &TlsAcceptor, clear: Box<dyn Stream>) -> Option<Conn> {
        match acceptor.accept(clear).await {
            Ok(tls) => Some(BufReader::new(Box::new(tls))),
            Err(_) => {
                self.seen.lock().unwrap().handshakes_refused += 1;
                None
            }
        }
    }

    async fn run(self, socket: tokio::net::TcpStream) {
        let mut encrypted = false;
        let mut conn: Conn = match &self.tls {
            RelayTls::Implicit(acceptor) => {
                encrypted = true;
                match self.handshake(acceptor, Box::new(socket)).await {
                    Some(conn) => conn,
                    None => return,
                }
            }
            _ => BufReader::new(Box::new(socket)),
        };
        let _ = send(&mut conn, b"220 relais-scripte ESMTP\r\n").await;
        let mut mails = 0;
        let mut open = false;
        let mut to = String::new();
        while let Some(line) = next_line(&mut conn).await {
            let verb = line.to_ascii_uppercase();
            let first = verb
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            self.seen.lock().unwrap().commands.push((first, encrypted));
            let starttls = match &self.tls {
                RelayTls::StartTls(acceptor) if !encrypted => Some(acceptor),
                _ => None,
            };
            let reply: &[u8] = if verb.starts_with("EHLO") {
                match starttls {
                    Some(_) => b"250-relais-scripte\r\n250-STARTTLS\r\n250 PIPELINING\r\n",
                    None => b"250-relais-scripte\r\n250 PIPELINING\r\n",
                }
            } else if verb.starts_with("STARTTLS") {
                let Some(acceptor) = starttls else {
                    let _ = send(&mut conn, b"502 5.5.1 STARTTLS not offered\r\n").await;
                    continue;
                };
                if !send(&mut conn, b"220 2.0.0 ready to start TLS\r\n").await {
                    break;
                }
                // Anything the client sent behind STARTTLS is dropped with the buffer.
                match self.handshake(acceptor, conn.into_inner()).await {
                    Some(tls) => conn = tls,
                    None => return,
                }
                encrypted = true;
                continue;
            } else if verb.starts_with("MAIL") {
                mails += 1;
                if let Some(refusal) = (self.script)(self.connection, mails) {
                    // As Postfix does: the reply, then the connection closes. What the client
                    // pipelined behind MAIL is read and dropped, so that the close is a FIN.
                    let _ = send(&mut conn, format!("{refusal}\r\n").as_bytes()).await;
                    let _ = conn.shutdown().await;
                    let mut rest = Vec::new();
                    let _ =
                        tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut rest))
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
                if !send(&mut conn, b"354 go ahead\r\n").await {
                    break;
                }
                let mut message_id = String::new();
                while let Some(l) = next_line(&mut conn).await {
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
                let _ = send(&mut conn, b"221 bye\r\n").await;
                break;
            } else {
                b"250 ok\r\n"
            };
            if !send(&mut conn, reply).await {
                break;
            }
        }
        if open {
            self.seen.lock().unwrap().open -= 1;
        }
    }
}

/// Writes a reply and flushes it (through the TLS layer when there is one); whether it went.
async fn send(conn: &mut Conn, reply: &[u8]) -> bool {
    conn.write_all(reply).await.is_ok() && conn.flush().await.is_ok()
}

/// The next line without its CRLF, `None` at the end of the connection.
async fn next_line(reader: &mut Conn) -> Option<String> {
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
