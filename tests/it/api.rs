//! API tokens through the real binary: made by the CLI, shown once, stored hashed, listed
//! and revoked.

use serde_json::json;
use sha2::Digest;

use crate::helpers::*;

const PASSWORD: &str = "correct horse battery staple";
const EDITOR: &str = "redaction@example.org";
const SAHEL: &str = "contact@amis-du-sahel.example.org";
const ANDES: &str = "bureau@solidarite-andes.example.org";

/// An editor and two member organisations.
async fn add_people(env: &TestEnv) {
    env.run_with_stdin(
        &["user", "add", EDITOR, "--role", "editor"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    for (email, org) in [(SAHEL, "Les Amis du Sahel"), (ANDES, "Solidarité Andes")] {
        env.run(&["member", "add", email, "--org", org]).await.ok();
    }
}

/// `relais token create …`: the token, alone on its line.
async fn token(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    let run = env.run(&all).await.ok();
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    run.stdout.trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_made_shown_once_stored_hashed_listed_and_revoked_by_the_cli() {
    let env = TestEnv::new().await;
    add_people(&env).await;
    for (args, expected) in [
        (
            ["--editor", "personne@example.org"],
            "aucun compte de la rédaction n'a l'adresse personne@example.org",
        ),
        (
            ["--member", "personne@example.org"],
            "aucune personne d'un membre n'a l'adresse personne@example.org",
        ),
        (["--member", "pas une adresse"], "adresse refusée"),
    ] {
        let run = env.run(&["token", "create", args[0], args[1]]).await;
        assert_ne!(run.code, 0);
        assert!(run.stderr.contains(expected), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    let staff = token(&env, &["--editor", EDITOR, "--label", "tableau de bord"]).await;
    let member = token(&env, &["--member", SAHEL]).await;
    assert!(staff.starts_with("relais_") && staff.len() >= 43, "{staff}");
    assert_ne!(staff, member);

    // Only the SHA-256 of a token is kept.
    let stored = sql_text(
        &env,
        "select token_hash from api_tokens order by id limit 1",
    )
    .await
    .unwrap();
    assert_eq!(stored, hex::encode(sha2::Sha256::digest(staff.as_bytes())));

    let list = env
        .run(&["token", "list", "--json"])
        .await
        .ok()
        .json_lines();
    assert_eq!(list.len(), 2);
    assert!(!list.iter().any(|t| t.to_string().contains(&member)));
    assert_eq!(
        (&list[0]["kind"], &list[0]["email"], &list[0]["org_name"]),
        (&json!("member"), &json!(SAHEL), &json!("Les Amis du Sahel"))
    );
    assert_eq!(
        (&list[1]["kind"], &list[1]["label"]),
        (&json!("editor"), &json!("tableau de bord"))
    );
    let id = list[1]["id"].to_string();
    env.run(&["token", "revoke", &id]).await.ok();
    let list = env
        .run(&["token", "list", "--json"])
        .await
        .ok()
        .json_lines();
    assert!(list[1]["revoked_at"].is_string());
    let missing = env.run(&["token", "revoke", "999"]).await;
    assert!(
        missing.stderr.contains("aucun jeton n° 999"),
        "{}",
        missing.stderr
    );
}
