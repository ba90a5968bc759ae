//! Schedules through the real daemon: a `[[schedule]]` firing every few seconds creates
//! drafts, refuses an unapproved send and tells the editors, sends an approved issue to the
//! relay, and `relais schedule --json` and the desk list the runs.

use std::time::Duration;

use serde_json::Value;

use crate::desk::get_with;
use crate::helpers::*;
use crate::sec_web::{add_editor, sign_in_editor};

/// Draft at :00, :20, :40; reminder 4 s before the send at :10, :30, :50.
const SCHEDULE: &str = "[[schedule]]\nnewsletter = \"coopdev-info\"\n\
    draft = \"0,20,40 * * * * *\"\nsend = \"10,30,50 * * * * *\"\nremind = \"4s\"\nmin_entries = 0\n";

async fn runs(env: &TestEnv) -> Vec<Value> {
    env.run(&["schedule", "--json"]).await.ok().json_lines()
}

/// Waits (70 s at most) for a recorded run matching `pick`.
async fn wait_for_run(env: &TestEnv, pick: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..280 {
        if let Some(run) = runs(env).await.into_iter().find(|r| pick(r)) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("no such run: {:#?}", runs(env).await);
}

/// Writes `relais.toml` with `config`, ticks every second and sends to a new smtp-sink.
async fn with_schedule(env: &mut TestEnv, config: &str) -> SmtpSink {
    std::fs::write(env.path("relais.toml"), config).unwrap();
    env.set(
        "RELAIS_CONFIG",
        env.path("relais.toml").display().to_string(),
    );
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    sink
}

/// `relais COMMAND` fails with one line holding every one of `words`.
async fn refused(env: &TestEnv, command: &str, words: &[&str]) {
    let run = env.run(&[command]).await;
    assert_ne!(run.code, 0);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        words.iter().all(|w| run.stderr.contains(w)),
        "{}",
        run.stderr
    );
}

fn is(run: &Value, kind: &str, outcome: &str) -> bool {
    run["kind"] == kind && run["outcome"] == outcome && !run["ran_at"].is_null()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_drafts_refuses_the_unapproved_issue_and_sends_the_approved_one() {
    let mut env = TestEnv::new().await;
    env.import("email,newsletters\nlectrice@example.org,coopdev-info\n")
        .await
        .ok();
    add_editor(&env).await;
    let sink = with_schedule(&mut env, SCHEDULE).await;

    // Before the daemon runs anything, the next occurrence of each kind is listed.
    let listed = runs(&env).await;
    for kind in ["draft", "remind", "send"] {
        assert!(
            listed
                .iter()
                .any(|r| r["kind"] == kind && r["outcome"] == "pending" && r["ran_at"].is_null()),
            "{listed:#?}"
        );
    }

    let daemon = env.serve().await;
    let first = wait_for_run(&env, |r| is(r, "draft", "done")).await;
    let first_issue = first["issue"].as_i64().unwrap();
    let refused = wait_for_run(&env, |r| {
        is(r, "send", "refused") && r["issue"].as_i64() == Some(first_issue)
    })
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("pas validé"),
        "{refused}"
    );

    let second = wait_for_run(&env, |r| {
        is(r, "draft", "done") && r["issue"].as_i64().is_some_and(|i| i > first_issue)
    })
    .await;
    let second_id = second["issue"].as_i64().unwrap();
    let second_issue = second_id.to_string();
    env.run(&["issue", "approve", &second_issue]).await.ok();
    wait_for_run(&env, |r| {
        is(r, "send", "done") && r["issue"].as_i64() == Some(second_id)
    })
    .await;

    // The reader gets the approved issue, once; the editors were told of the refusal.
    let delivered = eventually(Duration::from_secs(20), || async {
        sink.complete_messages()
            .iter()
            .any(|m| m.envelope_to.contains(&"lectrice@example.org".to_string()))
    })
    .await;
    assert!(
        delivered,
        "{} message(s); the daemon said:\n{}",
        sink.messages().len(),
        daemon.logs()
    );
    let messages = sink.complete_messages();
    let to_reader = messages
        .iter()
        .filter(|m| m.envelope_to.contains(&"lectrice@example.org".to_string()))
        .count();
    assert_eq!(to_reader, 1);
    let notices: Vec<String> = messages
        .iter()
        .filter(|m| m.envelope_to.contains(&"redaction@example.org".to_string()))
        .filter_map(|m| m.header("subject").map(str::to_string))
        .collect();
    assert!(
        notices.iter().any(|s| s.contains("non validé")),
        "{notices:?}"
    );
    assert_eq!(env.status(&second_issue).await["sent"].as_i64(), Some(1));

    // Every occurrence is recorded once.
    let all = runs(&env).await;
    let mut keys: Vec<(String, String)> = all
        .iter()
        .filter(|r| !r["ran_at"].is_null())
        .map(|r| (r["kind"].to_string(), r["due_at"].to_string()))
        .collect();
    let total = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), total, "{all:#?}");

    // The desk lists the same runs.
    let cookie = sign_in_editor(&daemon).await;
    let home = get_with(&daemon, "/admin", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(home.contains("/admin/programmation"), "{home}");
    let page = get_with(&daemon, "/admin/programmation", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-outcome=\"refused\""), "{page}");
    assert!(page.contains(&format!("numéro {second_issue}")), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_for_an_unknown_title_stops_the_daemon_with_a_french_message() {
    let mut env = TestEnv::new().await;
    std::fs::write(
        env.path("relais.toml"),
        "[[schedule]]\nnewsletter = \"la-gazette\"\ndraft = \"0 0 9 * * Mon\"\nsend = \"0 0 9 * * Thu\"\n",
    )
    .unwrap();
    env.set(
        "RELAIS_CONFIG",
        env.path("relais.toml").display().to_string(),
    );
    let run = env.run(&["schedule"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("schedule[1].newsletter") && run.stderr.contains("lettre inconnue"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_sends_to_its_segment_and_tells_only_its_editors() {
    let mut env = TestEnv::new().await;
    env.import(
        "email,newsletters,themes\nsante@example.org,coopdev-info,sante\nautre@example.org,coopdev-info,culture\n",
    )
    .await
    .ok();
    add_editor(&env).await;
    env.run_with_stdin(
        &["user", "add", "direction@example.org", "--role", "admin"],
        "correct horse battery staple\n",
    )
    .await
    .ok();
    let config =
        |editor: &str| format!("{SCHEDULE}segment = \"sante\"\neditors = [\"{editor}\"]\n");
    let sink = with_schedule(&mut env, &config("Redaction@Example.org")).await;

    // What the file names must exist: the daemon says which key is wrong.
    env.set("RELAIS_LISTEN", format!("127.0.0.1:{}", free_port()));
    refused(
        &env,
        "serve",
        &["schedule[1].segment", "segment « sante » inconnu"],
    )
    .await;
    env.add_theme_segment("sante").await;
    std::fs::write(env.path("relais.toml"), config("personne@example.org")).unwrap();
    refused(
        &env,
        "serve",
        &["schedule[1].editors", "« personne@example.org »"],
    )
    .await;
    std::fs::write(env.path("relais.toml"), config("not an address")).unwrap();
    refused(
        &env,
        "schedule",
        &["schedule[1].editors", "« not an address »"],
    )
    .await;

    std::fs::write(env.path("relais.toml"), config("Redaction@Example.org")).unwrap();
    let daemon = env.serve().await;
    let first = wait_for_run(&env, |r| is(r, "draft", "done")).await;
    let first_issue = first["issue"].as_i64().unwrap();
    wait_for_run(&env, |r| {
        is(r, "send", "refused") && r["issue"].as_i64() == Some(first_issue)
    })
    .await;
    let second = wait_for_run(&env, |r| {
        is(r, "draft", "done") && r["issue"].as_i64().is_some_and(|i| i > first_issue)
    })
    .await;
    let second_id = second["issue"].as_i64().unwrap();
    env.run(&["issue", "approve", &second_id.to_string()])
        .await
        .ok();
    wait_for_run(&env, |r| {
        is(r, "send", "done") && r["issue"].as_i64() == Some(second_id)
    })
    .await;
    let reached = |who: &'static str| {
        let sink = &sink;
        async move {
            sink.complete_messages()
                .iter()
                .filter(|m| m.envelope_to.iter().any(|t| t == who))
                .count()
        }
    };
    assert!(
        eventually(Duration::from_secs(20), || async {
            reached("sante@example.org").await == 1 && reached("redaction@example.org").await > 0
        })
        .await,
        "{} message(s); the daemon said:\n{}",
        sink.messages().len(),
        daemon.logs()
    );
    assert_eq!(reached("autre@example.org").await, 0, "outside the segment");
    assert_eq!(
        reached("direction@example.org").await,
        0,
        "not a listed editor"
    );
}
