//! Transports: SMTP (one connection per sender worker, driven step by step so that a lost
//! reply to the final dot is told apart from an earlier failure) or an outbox folder of
//! `.eml` files. The only user of lettre's SMTP client.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::address::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::wire::{Probe, Watched};
use crate::config::{SmtpSettings, SmtpTls};

/// How one attempt ended, from the transport's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// 2xx after the final dot.
    Accepted(String),
    /// 4xx, or a failure before the message was complete: safe to try again later.
    Transient(String),
    /// 5xx: `enhanced` is the RFC 3463 code when the server gave one (5.1.1…).
    Permanent {
        reply: String,
        enhanced: Option<String>,
    },
    /// The message was sent but no reply came: it may have been accepted.
    Ambiguous(String),
}

#[derive(Debug, Clone)]
pub enum Transport {
    Smtp {
        settings: SmtpSettings,
        reply_timeout: Duration,
    },
    Outbox(PathBuf),
}

impl Transport {
    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp { settings, .. } => format!("SMTP {}:{}", settings.host, settings.port),
            Transport::Outbox(dir) => format!("outbox folder {}", dir.display()),
        }
    }

    pub fn connection(&self) -> Connection {
        Connection {
            transport: self.clone(),
            smtp: None,
        }
    }
}

/// A worker's own link to the transport; SMTP connections are opened on first use, reused
/// across messages, and dropped after any error.
pub struct Connection {
    transport: Transport,
    smtp: Option<Session>,
}

/// An open SMTP connection and the probe on its socket.
struct Session {
    conn: AsyncSmtpConnection,
    probe: Arc<Probe>,
    /// The server offers PIPELINING (RFC 2920): MAIL, RCPT and DATA leave in one write.
    pipelining: bool,
    /// The probe's stream carries the message as it is written, so that message data staged
    /// there (see `wire`) goes out as is: in clear, or with implicit TLS under it. Not after
    /// STARTTLS, where the stream sits under the encryption: the data goes through lettre.
    staging: bool,
    /// A reply is missing or the server waits for message data: RSET would be answered by
    /// the wrong reply, or taken as data, so the connection can only be dropped.
    out_of_step: bool,
}

impl Session {
    /// MAIL, RCPT and DATA, in one write when the server allows pipelining. Every reply is
    /// read before returning, so that the session stays in step with the server; the first
    /// refusal is the answer.
    async fn envelope(
        &mut self,
        from: &Address,
        to: &Address,
        wait: Duration,
    ) -> Result<(), SendResult> {
        let steps = [
            ("MAIL", Mail::new(Some(from.clone()), vec![]).to_string()),
            ("RCPT", Rcpt::new(to.clone(), vec![]).to_string()),
            ("DATA", Data.to_string()),
        ];
        let pipelined: String = steps.iter().map(|(_, command)| command.as_str()).collect();
        let mut refusal = None;
        let mut data_accepted = false;
        for (n, (name, command)) in steps.iter().enumerate() {
            let reply = match (self.pipelining, n) {
                (false, _) => timeout(wait, self.conn.command(command)).await,
                (true, 0) => timeout(wait, self.conn.command(&pipelined)).await,
                (true, _) => timeout(wait, self.conn.read_response()).await,
            };
            match reply {
                Ok(Ok(_)) => data_accepted = *name == "DATA",
                Ok(Err(e)) if e.status().is_some() => {
                    refusal.get_or_insert_with(|| classify_refusal(&e, name));
                    if !self.pipelining {
                        break;
                    }
                }
                Ok(Err(e)) => {
                    self.out_of_step = true;
                    return Err(classify_refusal(&e, name));
                }
                Err(_) => {
                    self.out_of_step = true;
                    return Err(SendResult::Transient(format!(
                        "{name} : pas de réponse du serveur"
                    )));
                }
            }
        }
        match refusal {
            None => Ok(()),
            Some(refusal) => {
                // RFC 2920 forbids a 354 once every recipient was refused; a server that
                // gives one waits for a message that must not be sent.
                self.out_of_step |= data_accepted;
                Err(refusal)
            }
        }
    }
}

const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

impl Connection {
    /// Sends one message. `message_id` names the outbox file, so a retry overwrites it.
    pub async fn send(
        &mut self,
        from: &Address,
        to: &Address,
        message_id: &str,
        bytes: &[u8],
    ) -> SendResult {
        match self.begin(from, to).await {
            Ok(()) => self.finish(message_id, bytes).await,
            Err(refusal) => refusal,
        }
    }

    /// Opens the transaction of one message (connecting first if need be): MAIL, RCPT and
    /// DATA. When it returns, nothing of the message has left, so the caller may still give
    /// it up with [`Connection::abandon`]; [`Connection::finish`] sends it. The sender runs
    /// this while its "attempt started" mark is being committed: the mark is durable before
    /// the first byte of the message, and the envelope's round trip is not added to it.
    pub async fn begin(&mut self, from: &Address, to: &Address) -> Result<(), SendResult> {
        let Transport::Smtp {
            settings,
            reply_timeout,
        } = &self.transport
        else {
            return Ok(());
        };
        let (settings, reply_timeout) = (settings.clone(), *reply_timeout);
        let opened = self
            .open_transaction(&settings, reply_timeout, from, to)
            .await;
        if opened.is_err() {
            self.reset().await;
        }
        opened
    }

    /// Sends the message of the transaction [`Connection::begin`] opened.
    pub async fn finish(&mut self, message_id: &str, bytes: &[u8]) -> SendResult {
        let reply_timeout = match &self.transport {
            Transport::Outbox(dir) => return write_outbox(dir, message_id, bytes).await,
            Transport::Smtp { reply_timeout, .. } => *reply_timeout,
        };
        let result = self.send_data(reply_timeout, bytes).await;
        if !matches!(result, SendResult::Accepted(_)) {
            self.reset().await;
        }
        result
    }

    /// Gives up the transaction [`Connection::begin`] opened without sending its message.
    /// The server waits for message data, which no command can interrupt: the connection is
    /// closed, and the server discards a transaction whose final dot never came.
    pub fn abandon(&mut self) {
        self.smtp = None;
    }

    pub async fn close(&mut self) {
        if let Some(mut session) = self.smtp.take() {
            let _ = timeout(Duration::from_secs(5), session.conn.quit()).await;
        }
    }

    /// After a refused command the session may go on with RSET; after anything else the
    /// connection is dropped.
    async fn reset(&mut self) {
        let Some(session) = self.smtp.as_mut() else {
            return;
        };
        if session.out_of_step {
            // Not even QUIT: the server would take it as message data or answer it late.
            // Closing the socket without a final dot makes it discard any message begun.
            self.smtp = None;
            return;
        }
        let usable = matches!(
            timeout(Duration::from_secs(30), session.conn.command(Rset)).await,
            Ok(Ok(_))
        ) && !session.conn.has_broken();
        if !usable {
            if let Some(mut session) = self.smtp.take() {
                let _ = timeout(Duration::from_secs(5), session.conn.abort()).await;
            }
        }
    }

    /// Opens a session whose socket is watched (see `wire`): with implicit TLS the probe sits
    /// above the encryption, with STARTTLS below it; either way a failed write or the start
    /// of the wait for a reply is seen. The socket is ours, not lettre's, for `TCP_NODELAY`:
    /// `wire` already writes each command and each message whole, so Nagle's algorithm could
    /// only hold a short write back until the server's delayed ACK.
    async fn connect(settings: &SmtpSettings) -> Result<Session, String> {
        let hello = ClientId::default();
        let refused = |e: &dyn std::fmt::Display| format!("connexion SMTP impossible : {e}");
        let tcp = match timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((settings.host.as_str(), settings.port)),
        )
        .await
        {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(refused(&e)),
            Err(_) => return Err(refused(&"délai de connexion dépassé")),
        };
        tcp.set_nodelay(true).map_err(|e| refused(&e))?;
        // lettre's stream type, deprecated as a public type but the only way to put our probe
        // under a lettre session; it also does the implicit TLS handshake.
        #[allow(deprecated)]
        let mut stream =
            lettre::transport::smtp::client::AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
        if settings.tls == SmtpTls::Wrapper {
            stream
                .upgrade_tls(tls_parameters(settings)?)
                .await
                .map_err(|e| tls_failure(&e, "TLS"))?;
        }
        let probe = Arc::new(Probe::default());
        let peer = stream.peer_addr();
        let watched = Watched::new(stream.compat(), probe.clone(), peer);
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(watched), &hello)
            .await
            .map_err(|e| refused(&e))?;
        if settings.tls == SmtpTls::StartTls {
            // lettre would refuse too, in English; nothing but EHLO has crossed in clear.
            if !conn.server_info().supports_feature(Extension::StartTls) {
                return Err("le relais ne propose pas STARTTLS, que smtp_url exige \
                            (tls=required) : rien n'est envoyé en clair"
                    .into());
            }
            conn.starttls(tls_parameters(settings)?, &hello)
                .await
                .map_err(|e| tls_failure(&e, "STARTTLS"))?;
        }
        // lettre keeps only the extensions it uses; a second EHLO (allowed at any time, and
        // before AUTH so that it cannot reset anything) tells whether commands may be pipelined.
        let pipelining = conn
            .command(Ehlo::new(hello.clone()))
            .await
            .map(|reply| {
                reply
                    .message()
                    .any(|line| line.trim().eq_ignore_ascii_case("PIPELINING"))
            })
            .map_err(|e| refused(&e))?;
        if let Some((user, pass)) = &settings.credentials {
            conn.auth(
                &[Mechanism::Plain, Mechanism::Login],
                &Credentials::new(user.clone(), pass.clone()),
            )
            .await
            .map_err(|e| format!("authentification SMTP refusée : {e}"))?;
        }
        Ok(Session {
            conn,
            probe,
            pipelining,
            staging: settings.tls != SmtpTls::StartTls,
            out_of_step: false,
        })
    }

    async fn open_transaction(
        &mut self,
        settings: &SmtpSettings,
        reply_timeout: Duration,
        from: &Address,
        to: &Address,
    ) -> Result<(), SendResult> {
        if self.smtp.is_none() {
            // A relay that accepts the connection and never greets must not hold a worker.
            match tokio::time::timeout(reply_timeout, Self::connect(settings)).await {
                Ok(Ok(conn)) => self.smtp = Some(conn),
                Ok(Err(e)) => return Err(SendResult::Transient(e)),
                Err(_) => {
                    return Err(SendResult::Transient(
                        "connexion SMTP : pas d'accueil du serveur dans le délai".into(),
                    ))
                }
            }
        }
        let Some(session) = self.smtp.as_mut() else {
            return Err(SendResult::Transient("connexion SMTP absente".into()));
        };
        let command_timeout = reply_timeout.min(COMMAND_TIMEOUT);
        session.envelope(from, to, command_timeout).await
    }

    async fn send_data(&mut self, reply_timeout: Duration, bytes: &[u8]) -> SendResult {
        let Some(session) = self.smtp.as_mut() else {
            return SendResult::Transient("connexion SMTP absente".into());
        };
        let Session {
            conn,
            probe,
            out_of_step,
            staging,
            ..
        } = session;
        // Once the final dot is fully written the server may have the whole message: only an
        // explicit reply is an answer, silence or a dropped connection is ambiguous. Before
        // that, the message is provably incomplete and safe to send again.
        probe.mark();
        // The data goes out dot-stuffed by us, ahead of the final dot of the empty message
        // lettre is asked for (see `wire`); after STARTTLS, through lettre's encoder and the
        // encryption.
        let result = if *staging {
            probe.stage(super::wire::dot_stuff(bytes));
            timeout(reply_timeout, conn.message(b"")).await
        } else {
            timeout(reply_timeout, conn.message(bytes)).await
        };
        let fully_written = probe.is_fully_written();
        // Only a reply, positive or not, leaves the session in step with the server.
        *out_of_step = match &result {
            Ok(Ok(_)) => false,
            Ok(Err(e)) => e.status().is_none(),
            Err(_) => true,
        };
        match result {
            Ok(Ok(response)) => SendResult::Accepted(format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )),
            Ok(Err(e)) if e.status().is_some() => classify_refusal(&e, "fin du message"),
            Ok(Err(e)) if !fully_written => {
                SendResult::Transient(format!("connexion perdue avant la fin du message : {e}"))
            }
            Ok(Err(e)) => {
                SendResult::Ambiguous(format!("connexion perdue après l'envoi du message : {e}"))
            }
            Err(_) if !fully_written => SendResult::Transient(format!(
                "message pas entièrement transmis au bout de {} s",
                reply_timeout.as_secs()
            )),
            Err(_) => SendResult::Ambiguous(format!(
                "pas de réponse {} s après l'envoi du message",
                reply_timeout.as_secs()
            )),
        }
    }
}

/// What the relay's certificate is checked against: the built-in roots and the operator's own
/// (`smtp_ca_file`), for the name or address of `smtp_url`.
fn tls_parameters(settings: &SmtpSettings) -> Result<TlsParameters, String> {
    let tls_error = |e: lettre::transport::smtp::Error| format!("TLS : {e}");
    let mut builder = TlsParameters::builder(settings.host.clone());
    for root in &settings.extra_roots {
        builder =
            builder.add_root_certificate(Certificate::from_der(root.to_vec()).map_err(tls_error)?);
    }
    builder.build().map_err(tls_error)
}

/// Why the TLS handshake (`step`: TLS or STARTTLS) failed; a refused certificate says so in
/// words, with the setting that makes an internal authority known.
fn tls_failure(e: &lettre::transport::smtp::Error, step: &str) -> String {
    // Somewhere under lettre's errors, tokio-rustls's io::Error holds the rustls error (an
    // io::Error is looked into: its own `source` skips what it holds).
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut refused = None;
    while let Some(error) = cause {
        let held = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        refused = held.unwrap_or(error).downcast_ref::<rustls::Error>();
        if refused.is_some() {
            break;
        }
        cause = error.source();
    }
    match refused {
        Some(rustls::Error::InvalidCertificate(why)) => format!(
            "{step} : certificat du relais refusé ({why:?}) ; s'il vient d'une autorité \
             interne, smtp_ca_file la fait reconnaître"
        ),
        _ => format!("{step} : {e}"),
    }
}

fn classify_refusal(e: &lettre::transport::smtp::Error, step: &str) -> SendResult {
    let reply = format!("{step} : {e}");
    if e.is_permanent() {
        SendResult::Permanent {
            enhanced: enhanced_code(&e.to_string()),
            reply,
        }
    } else {
        SendResult::Transient(reply)
    }
}

/// The first RFC 3463 status (`5.1.1`) in a reply text.
pub fn enhanced_code(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == ':' || c == '(' || c == ')')
        .find(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && parts[1..]
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
}

async fn write_outbox(dir: &std::path::Path, message_id: &str, bytes: &[u8]) -> SendResult {
    let name: String = message_id
        .trim_matches(|c| c == '<' || c == '>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("{name}.eml"));
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = async {
        tokio::fs::create_dir_all(dir).await?;
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await
    };
    match write.await {
        Ok(()) => SendResult::Accepted(format!("écrit dans {}", path.display())),
        Err(e) => {
            SendResult::Transient(format!("écriture impossible dans {} : {e}", dir.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_codes_are_found_in_reply_texts() {
        assert_eq!(
            enhanced_code("permanent error (550): 5.1.1 user unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(enhanced_code("550 5.7.1 policy").as_deref(), Some("5.7.1"));
        assert_eq!(enhanced_code("500 Error: command failed"), None);
    }
}
