//! The command line's promises: configuration errors, imports, exports, accounts.

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_name_the_file_the_key_and_the_problem() {
    let mut env = TestEnv::new().await;
    std::fs::write(env.path("relais.toml"), "smtp_connections = 0\n").unwrap();
    let run = env.run(&["--config", "relais.toml", "migrate"]).await;
    assert_ne!(run.code, 0);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("relais.toml: `smtp_connections`"),
        "{}",
        run.stderr
    );

    std::fs::write(
        env.path("relais.toml"),
        "listen = \"127.0.0.1:9\"\nsmtp_ulr = \"smtp://x\"\n",
    )
    .unwrap();
    let run = env.run(&["--config", "relais.toml", "migrate"]).await;
    assert!(
        run.stderr.contains("`smtp_ulr`") && run.stderr.contains("unknown field"),
        "{}",
        run.stderr
    );

    std::fs::remove_file(env.path("relais.toml")).unwrap();
    env.set("RELAIS_SMTP_URL", "http://mail.example.org");
    let run = env.run(&["migrate"]).await;
    assert!(
        run.stderr
            .contains("RELAIS_SMTP_URL: `smtp_url`: unsupported scheme"),
        "{}",
        run.stderr
    );
    env.env.remove("RELAIS_SMTP_URL");

    env.write_sources(
        "[[source]]\nslug = \"Bad Slug\"\nname = \"x\"\nurl = \"https://example.org/feed\"\n",
    );
    let run = env.run(&["migrate"]).await;
    assert!(
        run.stderr
            .contains("sources.toml: `source[1] (Bad Slug).slug`"),
        "{}",
        run.stderr
    );
    assert!(
        !env.path("data/relais.db").exists() || env.database_url.starts_with("postgres"),
        "nothing starts half-configured"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_database_file_and_its_folder_are_created() {
    let mut env = TestEnv::new().await;
    if env.database_url.starts_with("postgres") {
        return assert_eq!(env.run(&["migrate"]).await.ok().code, 0);
    }
    let nested = env.path("deep/er/relais.db");
    env.set(
        "RELAIS_DATABASE_URL",
        format!("sqlite://{}", nested.display()),
    );
    env.run(&["migrate"]).await.ok();
    assert!(nested.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_takes_good_lines_reports_bad_ones_and_is_idempotent() {
    let env = TestEnv::new().await;
    let csv = "email,name,newsletters,themes,countries,departements,college\n\
               Marie@Example.org,Marie,coopdev-info,sante,SN;mg,31,association\n\
               not-an-address,,,,,,\n\
               paul@example.org,Paul,,,,99,\n\
               \"lea@example.org\",Léa,echos-du-reseau,,,,recherche\n\
               marie@example.org,Marie,coopdev-info,sante,SN;MG,31,association\n";
    let run = env.import(csv).await.ok();
    assert!(run.stdout.contains("ligne 3 :"), "{}", run.stdout);
    assert!(
        run.stdout.contains("ligne 4 :") && run.stdout.contains("99"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("2 ajouté(s), 0 mis à jour, 1 inchangé(s), 2 rejeté(s)"),
        "{}",
        run.stdout
    );
    let again = env.import(csv).await.ok();
    assert!(
        again
            .stdout
            .contains("0 ajouté(s), 0 mis à jour, 3 inchangé(s), 2 rejeté(s)"),
        "{}",
        again.stdout
    );

    let export = env.export().await;
    assert_eq!(export.len(), 2);
    let marie = &export[1];
    assert_eq!(marie["email"], "marie@example.org");
    assert_eq!(marie["countries"], serde_json::json!(["MG", "SN"]));
    assert_eq!(marie["departements"], serde_json::json!(["31"]));
    assert_eq!(marie["college"], "association");
    assert_eq!(marie["consents"][0]["method"], "import");

    let csv_export = env.run(&["subscribers", "export"]).await.ok().stdout;
    assert!(csv_export.starts_with("email,name,status,newsletters"));

    std::fs::write(env.path("nope.csv"), "name\nx\n").unwrap();
    let run = env
        .run(&[
            "subscribers",
            "import",
            env.path("nope.csv").to_str().unwrap(),
        ])
        .await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("email"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_accounts_take_their_password_from_stdin() {
    let env = TestEnv::new().await;
    let run = env
        .run_with_stdin(
            &["user", "add", "redaction@example.org", "--role", "editor"],
            "un mot de passe solide\n",
        )
        .await
        .ok();
    assert!(run.stdout.trim().parse::<i64>().is_ok());
    let twice = env
        .run_with_stdin(
            &["user", "add", "redaction@example.org", "--role", "editor"],
            "un mot de passe solide\n",
        )
        .await;
    assert_ne!(twice.code, 0);
    let weak = env
        .run_with_stdin(
            &["user", "add", "x@example.org", "--role", "admin"],
            "court\n",
        )
        .await;
    assert!(weak.stderr.contains("trop court"));
    let role = env
        .run_with_stdin(
            &["user", "add", "y@example.org", "--role", "boss"],
            "un mot de passe solide\n",
        )
        .await;
    assert!(role.stderr.contains("rôle"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sections_listed_in_the_configuration_shape_a_titles_issues() {
    let (mut env, _server) = crate::pipeline::env_with_feed().await;
    std::fs::write(
        env.path("relais.toml"),
        "[[section]]\nnewsletter = \"coopdev-info\"\nkey = \"a-la-une\"\nheading = \"À la une\"\n\n\
         [[section]]\nnewsletter = \"coopdev-info\"\nkey = \"en-bref\"\nheading = \"En bref\"\n",
    )
    .unwrap();
    let config = env.path("relais.toml").display().to_string();
    env.set("RELAIS_CONFIG", config);
    env.run(&["fetch"]).await.ok();
    let issue = env.create_issue("coopdev-info").await;
    let item = env.item_id("Rapport").await.to_string();
    let refused = env
        .run(&[
            "issue",
            "add",
            &issue,
            "--item",
            &item,
            "--section",
            "agenda",
        ])
        .await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("possibles : a-la-une, en-bref"),
        "{}",
        refused.stderr
    );
    env.run(&[
        "issue",
        "add",
        &issue,
        "--item",
        &item,
        "--section",
        "en-bref",
    ])
    .await
    .ok();
    let appel = env.item_id("Eau et assainissement").await.to_string();
    env.run(&["issue", "add", &issue, "--item", &appel])
        .await
        .ok();
    let text = env
        .run(&["issue", "render", &issue, "--format", "text"])
        .await
        .ok()
        .stdout;
    let une = text.find("== À la une ==").expect("the first section");
    let bref = text.find("== En bref ==").expect("the second section");
    assert!(une < bref, "sections in the configured order:\n{text}");
    assert!(
        text[une..bref].contains("Eau et assainissement"),
        "no section named: the first"
    );
    assert!(text[bref..].contains("Rapport annuel"));
    assert!(!text.contains("== Politiques publiques =="));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_add_says_where_the_entry_went() {
    let (env, _server) = crate::pipeline::env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    let issue = env.create_issue("coopdev-info").await;
    let items = env.run(&["--json", "items"]).await.ok().json_lines();
    let first = env
        .run(&[
            "issue",
            "add",
            &issue,
            "--item",
            &items[0]["id"].to_string(),
        ])
        .await
        .ok();
    assert!(
        first.stderr.contains(&format!(
            "ajouté au numéro {issue}, rubrique « Politiques publiques », en position 1"
        )),
        "{}",
        first.stderr
    );
    let second = env
        .run(&[
            "--json",
            "issue",
            "add",
            &issue,
            "--item",
            &items[1]["id"].to_string(),
            "--section",
            "politiques-publiques",
        ])
        .await
        .ok()
        .json_lines();
    assert_eq!(second[0]["section"], "politiques-publiques");
    assert_eq!(second[0]["position"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn people_read_states_in_french_scripts_keep_the_english_keys() {
    let (env, _server) = crate::pipeline::env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    let sources = env.run(&["sources"]).await.ok().stdout;
    assert!(
        sources.contains("en service") && sources.contains("en échec"),
        "{sources}"
    );
    let items = env.run(&["items"]).await.ok().stdout;
    assert!(items.contains("nouveau"), "{items}");
    let json = env.run(&["--json", "items"]).await.ok().json_lines();
    assert_eq!(json[0]["status"], "new");
    let json = env.run(&["--json", "sources"]).await.ok().json_lines();
    assert!(json.iter().any(|s| s["state"] == "failing"), "{json:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn items_retag_applies_new_rules_to_items_already_stored() {
    let (env, server) = crate::pipeline::env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    let themes_of = |items: &[serde_json::Value], part: &str| {
        items
            .iter()
            .find(|i| i["title"].as_str().unwrap().contains(part))
            .map(|i| i["themes"].clone())
            .unwrap()
    };
    let before = env.run(&["--json", "items"]).await.ok().json_lines();
    assert_eq!(
        themes_of(&before, "assainissement"),
        serde_json::json!(["financement"])
    );
    // The editors add a rule: items already stored get it on `items retag`.
    env.write_sources(&format!(
        "[[source]]\nslug = \"veille\"\nname = \"Veille test\"\nurl = \"{}\"\nthemes = [\"financement\"]\nallow_private = true\n\n\
         [[rule]]\ntheme = \"eau-assainissement\"\nkeywords = [\"assainissement\"]\n",
        server.url("/feed.xml")
    ));
    let run = env.run(&["items", "retag"]).await.ok();
    assert!(
        run.stderr.contains("1 dont les étiquettes ont changé"),
        "{}",
        run.stderr
    );
    let after = env.run(&["--json", "items"]).await.ok().json_lines();
    assert_eq!(
        themes_of(&after, "assainissement"),
        serde_json::json!(["eau-assainissement", "financement"])
    );
    let again = env.run(&["items", "retag"]).await.ok();
    assert!(
        again.stderr.contains("0 dont les étiquettes ont changé"),
        "{}",
        again.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_while_the_daemon_runs_holds_everything_and_opens_on_its_own() {
    let (mut env, _server) = crate::pipeline::env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    env.import("email,newsletters\nawa@example.org,coopdev-info\n")
        .await
        .ok();
    let items = env.run(&["--json", "items"]).await.ok().json_lines().len();
    assert!(items > 0);
    let copy = env.path("copie.db");
    let copy_arg = copy.display().to_string();
    if env.database_url.starts_with("postgres") {
        let refused = env.run(&["backup", &copy_arg]).await;
        assert_ne!(refused.code, 0);
        assert!(refused.stderr.contains("pg_dump"), "{}", refused.stderr);
        return;
    }
    let _daemon = env.serve().await;
    env.run(&["backup", &copy_arg]).await.ok();
    let again = env.run(&["backup", &copy_arg]).await;
    assert_ne!(again.code, 0, "an existing file is never overwritten");
    assert!(again.stderr.contains("existe déjà"), "{}", again.stderr);
    // The copy is a database of its own, with the same items and subscribers.
    env.set("RELAIS_DATABASE_URL", format!("sqlite://{copy_arg}"));
    let copied = env.run(&["--json", "items"]).await.ok().json_lines().len();
    assert_eq!(copied, items);
    let people = env.run(&["subscribers", "export", "--json"]).await.ok();
    assert!(people.stdout.contains("awa@example.org"));
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_are_json_lines_when_asked() {
    let mut env = TestEnv::new().await;
    env.set("RELAIS_LOG_FORMAT", "json");
    env.set("RUST_LOG", "debug");
    let run = env.run(&["migrate"]).await.ok();
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && *l != "migrations appliquées")
        .collect();
    assert!(!lines.is_empty(), "debug logs were written");
    for line in lines {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            entry["level"].is_string() && entry["timestamp"].is_string(),
            "{line}"
        );
    }
}
