//! Security of sending (issue 9): one copy of an issue per person whatever the dispatches,
//! a message cut before its final dot is sent again, and weak signing keys are refused.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::*;
use crate::pipeline::env_with_feed;

const PEOPLE: usize = 30;
const ROUNDS: usize = 5;

/// Every `.eml` in `dir`, counted by recipient.
fn outbox_recipients(dir: &std::path::Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "eml") {
            let message = Captured::parse(&std::fs::read(&path).unwrap());
            let to = message.header("To").unwrap_or_default().to_string();
            *counts.entry(to).or_default() += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn two_dispatches_of_one_issue_sent_at_the_same_moment_reach_each_person_once() {
    let (mut env, _server) = env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    let mut csv = String::from("email,newsletters,themes\n");
    for n in 0..PEOPLE {
        csv.push_str(&format!("personne{n:02}@example.org,coopdev-info,sante\n"));
    }
    env.import(&csv).await.ok();
    // The segment holds everybody: the whole title and the segment overlap completely.
    env.add_theme_segment("sante").await;
    let item = env.newest_item().await;

    for round in 0..ROUNDS {
        let outbox = env.path(&format!("outbox-{round}"));
        env.set("RELAIS_OUTBOX_DIR", outbox.display().to_string());
        let issue = env.create_issue("coopdev-info").await;
        env.run(&["issue", "add", &issue, "--item", &item])
            .await
            .ok();
        let whole = ["issue", "send", &issue, "--wait"];
        let segment = ["issue", "send", &issue, "--segment", "sante", "--wait"];
        let (whole, segment) = tokio::join!(env.run(&whole), env.run(&segment));
        whole.ok();
        segment.ok();

        let received = outbox_recipients(&outbox);
        let twice: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "round {round}: people who received the issue more than once: {twice:?}"
        );
        assert_eq!(received.len(), PEOPLE, "round {round}: everybody got it");
        let status = env.status(&issue).await;
        assert_eq!(
            (status["sent"].as_u64(), status["queued"].as_u64()),
            (Some(PEOPLE as u64), Some(0)),
            "round {round}: {status}"
        );
    }
}

/// A loopback SMTP server that accepts the envelope, answers 354 to DATA, reads nothing more
/// and hangs up a moment later. Its small segments and receive window keep the client's socket
/// buffers small, so a message larger than they are is still being written when the
/// connection goes: the final dot is never written.
async fn server_hanging_up_after_data() -> (u16, tokio::task::JoinHandle<()>) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_tcp_mss(536).unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    socket.set_nonblocking(true).unwrap();
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.listen(16).unwrap();
    let listener = tokio::net::TcpListener::from_std(socket.into()).unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                if write.write_all(b"220 coupe ESMTP\r\n").await.is_err() {
                    return;
                }
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.to_ascii_uppercase();
                    let reply: &[u8] = if verb.starts_with("EHLO") || verb.starts_with("HELO") {
                        b"250 coupe\r\n"
                    } else if verb.starts_with("DATA") {
                        let _ = write.write_all(b"354 go ahead\r\n").await;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        return; // both halves dropped: the connection is closed mid-DATA
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
    (port, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_dropped_before_the_final_dot_is_deferred_and_the_retry_delivers_once() {
    // Enough entries for a message of well over 64 KB.
    let mut rss = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel>\
         <title>Appels</title><link>https://exemple.org/</link><description>d</description>",
    );
    for n in 0..60 {
        rss.push_str(&format!(
            "<item><title>Appel à projets {n} pour la coopération décentralisée en Afrique de l'Ouest</title>\
             <link>https://exemple.org/appels/{n}</link><guid>appel-{n}</guid>\
             <description>{}</description></item>",
            "Conditions, calendrier et montants de l'appel, pour les associations du réseau. "
                .repeat(4)
        ));
    }
    rss.push_str("</channel></rss>");
    let _server = FeedServer::start(vec![("/appels.xml", Route::feed(rss))]).await;
    let mut env = TestEnv::new().await;
    env.write_sources(&format!(
        "[[source]]\nslug = \"appels\"\nname = \"Appels\"\nurl = \"{}\"\nallow_private = true\n",
        _server.url("/appels.xml")
    ));
    env.run(&["fetch"]).await.ok();
    env.import("email,newsletters\na@example.org,coopdev-info\n")
        .await
        .ok();
    let issue = env.create_issue("coopdev-info").await;
    for item in env.run(&["items", "--json"]).await.ok().json_lines() {
        env.run(&["issue", "add", &issue, "--item", &item["id"].to_string()])
            .await
            .ok();
    }
    let eml = env
        .run(&[
            "issue",
            "render",
            &issue,
            "--format",
            "eml",
            "--to",
            "a@example.org",
        ])
        .await
        .ok()
        .stdout;
    assert!(
        eml.len() > 64 * 1024,
        "the message ({} bytes) must outgrow the socket buffers",
        eml.len()
    );
    let (port, server) = server_hanging_up_after_data().await;
    env.set("RELAIS_SMTP_URL", format!("smtp://127.0.0.1:{port}"));
    env.set("RELAIS_RETRY_SCHEDULE", "1s");
    let run = env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let status = env.status(&issue).await;
    assert_eq!(
        (status["deferred"].as_i64(), status["unknown"].as_i64()),
        (Some(1), Some(0)),
        "an incomplete message is not a maybe-delivered one: {status} ({})",
        run.stderr
    );
    server.abort();

    let accepting = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", accepting.url());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    env.run(&["issue", "send", &issue, "--wait"]).await.ok();
    let received: Vec<_> = accepting
        .messages()
        .iter()
        .flat_map(|m| m.envelope_to.clone())
        .collect();
    assert_eq!(received, vec!["a@example.org"]);
    let status = env.status(&issue).await;
    assert_eq!(
        (status["sent"].as_i64(), status["deferred"].as_i64()),
        (Some(1), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signing_key_shorter_than_32_bytes_is_refused_however_it_is_given() {
    let mut env = TestEnv::new().await;

    env.set("RELAIS_SECRET", "a");
    let run = env.run(&["migrate"]).await;
    assert_ne!(run.code, 0, "RELAIS_SECRET=a accepted: {}", run.stderr);
    assert!(
        run.stderr.contains("RELAIS_SECRET") && run.stderr.contains("32"),
        "the error names the variable and the minimum: {}",
        run.stderr
    );

    env.set("RELAIS_SECRET", "b".repeat(40));
    let run = env.run(&["migrate"]).await;
    assert_ne!(
        run.code, 0,
        "one repeated character accepted: {}",
        run.stderr
    );

    env.env.remove("RELAIS_SECRET");
    std::fs::write(env.path("relais.toml"), "secret = \"court\"\n").unwrap();
    let run = env.run(&["migrate"]).await;
    assert_ne!(run.code, 0, "secret = \"court\" accepted: {}", run.stderr);
    assert!(
        run.stderr.contains("relais.toml") && run.stderr.contains("`secret`"),
        "the error names the file and the key: {}",
        run.stderr
    );

    std::fs::remove_file(env.path("relais.toml")).unwrap();
    std::fs::create_dir_all(env.path("data")).unwrap();
    std::fs::write(env.path("data/secret"), "court\n").unwrap();
    let run = env.run(&["migrate"]).await;
    assert_ne!(run.code, 0, "a short data/secret accepted: {}", run.stderr);
    assert!(run.stderr.contains("secret"), "{}", run.stderr);

    env.set("RELAIS_SECRET", "0123456789abcdef0123456789abcdef");
    env.run(&["migrate"]).await.ok();
}
