//! Dispatch against relays that pipeline, or not, and refuse one recipient among others: the
//! session stays in step with the server, and a message goes only where DATA was meant.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::*;
use crate::sending::env_with_issue;

/// What a scripted relay saw: the connections it accepted and the recipient of each message
/// it accepted.
#[derive(Default)]
struct Seen {
    connections: usize,
    delivered: Vec<String>,
}

/// A loopback relay that offers PIPELINING and refuses `refused` (550 5.1.1). With no
/// recipient accepted it answers DATA with 554, as RFC 2920 asks, or, when `lenient`, with
/// 354 anyway, and then takes whatever comes as a message until the final dot.
async fn relay_refusing(
    refused: &'static str,
    lenient: bool,
) -> (u16, Arc<Mutex<Seen>>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            shared.lock().unwrap().connections += 1;
            let seen = shared.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 relais-test ESMTP\r\n").await;
                let mut rcpt: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.to_ascii_uppercase();
                    let reply: &[u8] = if verb.starts_with("EHLO") {
                        b"250-relais-test\r\n250 PIPELINING\r\n"
                    } else if verb.starts_with("RCPT") {
                        if line.contains(refused) {
                            b"550 5.1.1 no such user\r\n"
                        } else {
                            rcpt = line.split(['<', '>']).nth(1).map(str::to_string);
                            b"250 2.1.5 ok\r\n"
                        }
                    } else if verb.starts_with("DATA") {
                        if rcpt.is_none() && !lenient {
                            b"554 5.5.1 no valid recipients\r\n"
                        } else {
                            if write.write_all(b"354 go ahead\r\n").await.is_err() {
                                return;
                            }
                            loop {
                                match lines.next_line().await {
                                    Ok(Some(l)) if l == "." => break,
                                    Ok(Some(_)) => {}
                                    _ => return, // cut before the final dot: nothing kept
                                }
                            }
                            let to = rcpt.take().unwrap_or_else(|| "<nobody>".into());
                            seen.lock().unwrap().delivered.push(to);
                            b"250 2.0.0 queued\r\n"
                        }
                    } else if verb.starts_with("RSET") || verb.starts_with("MAIL") {
                        rcpt = None;
                        b"250 2.0.0 ok\r\n"
                    } else if verb.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen, task)
}

const THREE: &str = "email,newsletters\na@example.org,coopdev-info\nabsent@example.org,coopdev-info\nc@example.org,coopdev-info\n";

#[tokio::test(flavor = "multi_thread")]
async fn with_pipelining_a_refused_recipient_fails_alone_and_the_connection_goes_on() {
    let (mut env, _server, issue) = env_with_issue(THREE).await;
    let (port, seen, relay) = relay_refusing("absent@", false).await;
    env.set("RELAIS_SMTP_URL", format!("smtp://127.0.0.1:{port}"));
    env.set("RELAIS_SMTP_CONNECTIONS", "1");
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = env.status(&issue).await;
    assert_eq!(
        (status["sent"].as_i64(), status["failed"].as_i64()),
        (Some(2), Some(1)),
        "{status}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.delivered, vec!["a@example.org", "c@example.org"]);
    assert_eq!(seen.connections, 1, "the refusal left the session in step");
    relay.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_that_says_354_after_refusing_everyone_gets_no_message() {
    let (mut env, _server, issue) = env_with_issue(THREE).await;
    let (port, seen, relay) = relay_refusing("absent@", true).await;
    env.set("RELAIS_SMTP_URL", format!("smtp://127.0.0.1:{port}"));
    env.set("RELAIS_SMTP_CONNECTIONS", "1");
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = env.status(&issue).await;
    assert_eq!(
        (status["sent"].as_i64(), status["failed"].as_i64()),
        (Some(2), Some(1)),
        "{status}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.delivered,
        vec!["a@example.org", "c@example.org"],
        "the connection is dropped, not fed the message meant for nobody"
    );
    assert_eq!(seen.connections, 2);
    relay.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_without_pipelining_gets_every_message() {
    let (mut env, _server, issue) = env_with_issue(THREE).await;
    let sink = SmtpSink::start(&["-p"]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set("RELAIS_SMTP_CONNECTIONS", "1");
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    assert_eq!(env.status(&issue).await["sent"], 3);
    assert_eq!(sink.wait_for(3).await.len(), 3, "three whole messages");
}
