//! The JSON API through the real server: tokens made by the CLI, a member's ads, moderation,
//! watch items and issues, the per-token limit. Every answer is checked against the server's
//! own OpenAPI description: its status must be documented for the route and its body must
//! validate against the documented schema.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::{json, Value};
use sha2::Digest;

use crate::desk::env_with_story;
use crate::helpers::*;

const PASSWORD: &str = "correct horse battery staple";
const EDITOR: &str = "redaction@example.org";
const SAHEL: &str = "contact@amis-du-sahel.example.org";
const ANDES: &str = "bureau@solidarite-andes.example.org";

/// One answer: status, headers and the body read as JSON.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    /// The names of the fields a 422 refused.
    fn fields(&self) -> Vec<&str> {
        self.body["fields"]
            .as_array()
            .map(|f| f.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default()
    }
}

/// A client that checks each answer against the OpenAPI document and remembers which
/// documented operations it exercised.
struct Api<'a> {
    daemon: &'a Daemon,
    doc: Value,
    seen: Mutex<BTreeSet<(String, String)>>,
}

impl<'a> Api<'a> {
    async fn new(daemon: &'a Daemon) -> Self {
        let response = daemon
            .client
            .get(daemon.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let doc: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        Api {
            daemon,
            doc,
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.send(method, path, token, bytes.map(|b| ("application/json", b)))
            .await
    }

    #[allow(clippy::disallowed_methods)] // a client of our own server, not a fetch
    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Answer {
        // A body over the limit is refused before it is read, and the connection closed: a
        // pooled connection would be reused half-read, so such a request goes alone.
        let alone;
        let client = match &body {
            Some((_, bytes)) if bytes.len() > 64 * 1024 => {
                alone = reqwest::Client::new();
                &alone
            }
            _ => &self.daemon.client,
        };
        let mut request = client.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            self.daemon.url(path),
        );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path} → {status}: not JSON: {text}"));
        let answer = Answer {
            status,
            headers,
            body,
        };
        self.check(method, path, &answer);
        answer
    }

    /// The answer's status is documented for this route and its body fits the schema.
    fn check(&self, method: &str, path: &str, answer: &Answer) {
        let path = path.split('?').next().unwrap();
        let template = self.template(path);
        let operation = &self.doc["paths"][&template][method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {template} is not documented"
        );
        let response = &operation["responses"][answer.status.to_string()];
        assert!(
            response.is_object(),
            "{method} {template} answered {} which is not documented: {}",
            answer.status,
            answer.body
        );
        let schema = &response["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{method} {template} {}: no JSON schema documented",
            answer.status
        );
        // The schema's `$ref`s point into `#/components/schemas`: give them that root.
        let mut root = schema.clone();
        root["components"] = self.doc["components"].clone();
        let validator = jsonschema::draft202012::new(&root).expect("a valid JSON Schema");
        let errors: Vec<String> = validator
            .iter_errors(&answer.body)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {}: the body does not fit its schema: {errors:#?}\n{}",
            answer.status,
            answer.body
        );
        self.seen
            .lock()
            .unwrap()
            .insert((method.to_lowercase(), template));
    }

    /// The documented path that `path` matches, a literal segment before a parameter.
    fn template(&self, path: &str) -> String {
        let segments: Vec<&str> = path.split('/').collect();
        let mut matches: Vec<&String> = self.doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|t| {
                let parts: Vec<&str> = t.split('/').collect();
                parts.len() == segments.len()
                    && parts
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t == s || t.starts_with('{'))
            })
            .collect();
        matches.sort_by_key(|t| t.matches('{').count());
        matches
            .first()
            .unwrap_or_else(|| panic!("{path} matches no documented path"))
            .to_string()
    }

    /// Every operation of the document was exercised.
    fn assert_all_exercised(&self) {
        let seen = self.seen.lock().unwrap();
        let mut missing = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if !seen.contains(&(method.clone(), path.clone())) {
                    missing.push(format!("{method} {path}"));
                }
            }
        }
        assert!(missing.is_empty(), "never exercised: {missing:?}");
    }
}

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

fn good_ad(title: &str) -> Value {
    json!({
        "category": "don-materiel",
        "title": title,
        "body": "Dix **ordinateurs** portables reconditionnés, à retirer à Montpellier.",
        "departement": "34",
        "country": "SN",
        "contact_email": "materiel@amis-du-sahel.example.org",
    })
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

#[tokio::test(flavor = "multi_thread")]
async fn members_post_and_staff_moderate_through_the_api_as_its_openapi_document_says() {
    let (mut env, _server) = env_with_story().await;
    env.run(&["fetch"]).await.ok();
    add_people(&env).await;
    let staff = token(&env, &["--editor", EDITOR]).await;
    let sahel = token(&env, &["--member", SAHEL]).await;
    let andes = token(&env, &["--member", ANDES]).await;
    let daemon = env.serve().await;
    let api = Api::new(&daemon).await;
    let (staff, sahel, andes) = (
        Some(staff.as_str()),
        Some(sahel.as_str()),
        Some(andes.as_str()),
    );

    // No token, or a made-up one: 401, in French.
    let none = api.call("GET", "/api/v1/ads/mine", None, None).await;
    assert_eq!(none.status, 401);
    assert!(none.error().contains("Jeton manquant"), "{}", none.body);
    assert_eq!(none.headers["www-authenticate"], "Bearer");
    let forged = api
        .call("GET", "/api/v1/ads/mine", Some("relais_forged"), None)
        .await;
    assert_eq!(forged.status, 401);

    // A member posts an ad; hostile HTML in its body does not survive.
    let hostile = "Voir <script>alert('x')</script><img src=x onerror=alert(1)> \
                   [ici](javascript:alert(1)) et **là**.";
    let mut ad = good_ad("Dix ordinateurs portables");
    ad["body"] = json!(hostile);
    let posted = api.call("POST", "/api/v1/ads", sahel, Some(ad)).await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    assert_eq!(posted.body["state"], "pending");
    assert_eq!(posted.body["organisation"], "Les Amis du Sahel");
    let html = posted.body["body_html"].as_str().unwrap();
    assert!(html.contains("<strong>là</strong>"), "{html}");
    for bad in ["<script", "onerror", "javascript:"] {
        assert!(!html.contains(bad), "{bad} kept: {html}");
    }
    let first = posted.body["id"].as_i64().unwrap();
    let stored = sql_text(
        &env,
        &format!("select body_html from ads where id = {first}"),
    )
    .await
    .unwrap();
    assert!(
        !stored.contains("<script") && !stored.contains("onerror"),
        "{stored}"
    );

    // Every faulty field is named at once, in French, and nothing is stored.
    let bad = json!({
        "category": "<script>alert(1)</script>",
        "title": "x".repeat(121),
        "body": " ",
        "departement": "<img src=x onerror=alert(1)>",
        "country": "Atlantide",
        "contact_email": "pas une adresse",
        "contact_phone": "<b>06</b>",
        "expires_on": "2020-01-01",
    });
    let refused = api.call("POST", "/api/v1/ads", sahel, Some(bad)).await;
    assert_eq!(refused.status, 422);
    assert_eq!(
        refused.fields(),
        [
            "category",
            "title",
            "body",
            "departement",
            "country",
            "contact_email",
            "contact_phone",
            "expires_on"
        ]
    );
    assert!(refused.body["fields"][1]["message"]
        .as_str()
        .unwrap()
        .contains("120 caractères"));
    let only_title = api
        .call(
            "POST",
            "/api/v1/ads",
            sahel,
            Some(good_ad(&"é".repeat(121))),
        )
        .await;
    assert_eq!(
        (only_title.status, only_title.fields()),
        (422, vec!["title"])
    );

    // Bodies that are not JSON, not UTF-8, not declared as JSON or too large.
    let broken = api
        .send(
            "POST",
            "/api/v1/ads",
            sahel,
            Some(("application/json", b"{\"title\": ".to_vec())),
        )
        .await;
    assert_eq!(broken.status, 400);
    assert!(broken.error().contains("JSON"), "{}", broken.body);
    let latin1 = api
        .send(
            "POST",
            "/api/v1/ads",
            sahel,
            Some(("application/json", b"{\"title\": \"Caf\xe9\"}".to_vec())),
        )
        .await;
    assert_eq!(latin1.status, 400);
    assert!(latin1.error().contains("UTF-8"), "{}", latin1.body);
    let wrong_type = api
        .call("POST", "/api/v1/ads", sahel, Some(json!({"title": 5})))
        .await;
    assert_eq!(wrong_type.status, 400);
    let form = api
        .send(
            "POST",
            "/api/v1/ads",
            sahel,
            Some(("text/plain", b"titre".to_vec())),
        )
        .await;
    assert_eq!(form.status, 415);
    let huge = api
        .send(
            "POST",
            "/api/v1/ads",
            sahel,
            Some(("application/json", vec![b' '; 70 * 1024])),
        )
        .await;
    assert_eq!(huge.status, 413);
    assert!(huge.error().contains("taille"), "{}", huge.body);

    let mine = api.call("GET", "/api/v1/ads/mine", sahel, None).await;
    assert_eq!(mine.status, 200);
    assert_eq!(
        mine.body.as_array().unwrap().len(),
        1,
        "nothing else stored"
    );

    // Its member edits it while it waits, and reads it with its history.
    let edited = api
        .call(
            "PUT",
            &format!("/api/v1/ads/{first}"),
            sahel,
            Some(good_ad("Douze ordinateurs portables")),
        )
        .await;
    assert_eq!(
        (edited.status, &edited.body["title"]),
        (200, &json!("Douze ordinateurs portables"))
    );
    let shown = api
        .call("GET", &format!("/api/v1/ads/{first}"), sahel, None)
        .await;
    assert_eq!(shown.status, 200);
    let actions: Vec<&str> = shown.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["submitted", "edited"]);

    // Another member neither reads nor changes it: as if it did not exist.
    let path = format!("/api/v1/ads/{first}");
    let not_a_number = api.call("GET", "/api/v1/ads/premier", sahel, None).await;
    assert_eq!(not_a_number.status, 400);
    assert_eq!(api.call("GET", &path, andes, None).await.status, 404);
    assert_eq!(
        api.call("PUT", &path, andes, Some(good_ad("Pris")))
            .await
            .status,
        404
    );
    assert_eq!(
        api.call("POST", &format!("{path}/withdraw"), andes, None)
            .await
            .status,
        404
    );
    let theirs = api.call("GET", "/api/v1/ads/mine", andes, None).await;
    assert_eq!(theirs.body, json!([]));

    // A member token on staff routes, a staff token on members' routes: 403.
    for (method, route, body) in [
        ("GET", "/api/v1/ads?state=pending".to_string(), None),
        ("POST", format!("{path}/approve"), None),
        (
            "POST",
            format!("{path}/reject"),
            Some(json!({"reason": "non"})),
        ),
        ("GET", "/api/v1/items?q=jeunesse".to_string(), None),
        (
            "POST",
            "/api/v1/issues".to_string(),
            Some(json!({"newsletter": "echos-du-reseau"})),
        ),
        (
            "POST",
            "/api/v1/issues/1/entries".to_string(),
            Some(json!({"ad": first})),
        ),
    ] {
        let answer = api.call(method, &route, sahel, body).await;
        assert_eq!(answer.status, 403, "{method} {route}");
        assert!(
            answer.error().contains("Réservé à la rédaction"),
            "{}",
            answer.body
        );
    }
    let staff_posts = api
        .call("POST", "/api/v1/ads", staff, Some(good_ad("x")))
        .await;
    assert_eq!(staff_posts.status, 403);
    assert_eq!(
        api.call("POST", &format!("{path}/withdraw"), staff, None)
            .await
            .status,
        403
    );
    assert_eq!(
        api.call("GET", "/api/v1/ads/mine", staff, None)
            .await
            .status,
        403
    );

    // Staff see the queue and approve; it is then no longer the member's to edit.
    let queue = api
        .call("GET", "/api/v1/ads?state=pending", staff, None)
        .await;
    assert_eq!(queue.status, 200);
    assert_eq!(queue.body[0]["id"], first);
    let unknown_state = api
        .call("GET", "/api/v1/ads?state=archived", staff, None)
        .await;
    assert_eq!(
        (unknown_state.status, unknown_state.fields()),
        (422, vec!["state"])
    );
    let approved = api
        .call("POST", &format!("{path}/approve"), staff, None)
        .await;
    assert_eq!(
        (approved.status, &approved.body["state"]),
        (200, &json!("approved"))
    );
    assert_eq!(
        api.call("POST", &format!("{path}/approve"), staff, None)
            .await
            .status,
        409
    );
    assert_eq!(
        api.call("PUT", &path, sahel, Some(good_ad("Trop tard")))
            .await
            .status,
        409
    );
    assert_eq!(
        api.call("POST", "/api/v1/ads/999999/approve", staff, None)
            .await
            .status,
        404
    );
    // Its member extends it, up to 90 days from today.
    let extended = api
        .call("POST", &format!("{path}/extend"), sahel, None)
        .await;
    assert_eq!(extended.status, 200, "{}", extended.body);
    assert!(extended.body["expires_on"].as_str() > approved.body["expires_on"].as_str());
    let again = api
        .call("POST", &format!("{path}/extend"), sahel, None)
        .await;
    assert_eq!(again.status, 409, "already 90 days ahead: {}", again.body);
    assert_eq!(
        api.call("POST", &format!("{path}/extend"), andes, None)
            .await
            .status,
        404
    );
    let seen_by_staff = api.call("GET", &path, staff, None).await;
    assert_eq!(seen_by_staff.body["events"][2]["by"], EDITOR);
    assert_eq!(seen_by_staff.body["events"][3]["action"], "extended");

    // A second ad is refused with a reason, which is mailed to the member.
    let second = api
        .call(
            "POST",
            "/api/v1/ads",
            sahel,
            Some(good_ad("Un camion pour Dakar")),
        )
        .await;
    let second = second.body["id"].as_i64().unwrap();
    let second_path = format!("/api/v1/ads/{second}");
    let no_reason = api
        .call(
            "POST",
            &format!("{second_path}/reject"),
            staff,
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (no_reason.status, no_reason.fields()),
        (422, vec!["reason"])
    );
    let rejected = api
        .call(
            "POST",
            &format!("{second_path}/reject"),
            staff,
            Some(json!({"reason": "Précisez les dates du transport."})),
        )
        .await;
    assert_eq!(
        (rejected.status, &rejected.body["state"]),
        (200, &json!("rejected"))
    );
    assert_eq!(
        rejected.body["reject_reason"],
        "Précisez les dates du transport."
    );
    let mails = env
        .run(&["mail", "status", "--json"])
        .await
        .ok()
        .json_lines();
    let queued: i64 = mails
        .iter()
        .filter(|l| l["kind"] == "ad_rejected")
        .map(|l| {
            l["counts"]
                .as_object()
                .unwrap()
                .values()
                .filter_map(Value::as_i64)
                .sum::<i64>()
        })
        .sum();
    assert_eq!(queued, 1, "{mails:?}");
    assert_eq!(
        api.call(
            "POST",
            &format!("{second_path}/reject"),
            staff,
            Some(json!({"reason": "encore"}))
        )
        .await
        .status,
        409
    );
    // Its member withdraws it, once.
    let withdrawn = api
        .call("POST", &format!("{second_path}/withdraw"), sahel, None)
        .await;
    assert_eq!(
        (withdrawn.status, &withdrawn.body["state"]),
        (200, &json!("withdrawn"))
    );
    assert_eq!(
        api.call("POST", &format!("{second_path}/withdraw"), sahel, None)
            .await
            .status,
        409
    );

    // Watch items, each with the others of its story.
    let items = api
        .call("GET", "/api/v1/items?q=jeunesse%20solidarit", staff, None)
        .await;
    assert_eq!(items.status, 200);
    let items = items.body.as_array().unwrap().clone();
    assert_eq!(items.len(), 2, "{items:?}");
    let (a, b) = (
        items[0]["id"].as_i64().unwrap(),
        items[1]["id"].as_i64().unwrap(),
    );
    assert_eq!(items[0]["similar"], json!([b]));
    assert_eq!(items[1]["similar"], json!([a]));
    assert!(items
        .iter()
        .all(|i| ["meae", "afd"].contains(&i["source"].as_str().unwrap())));
    let all = api.call("GET", "/api/v1/items", staff, None).await;
    assert_eq!(all.body.as_array().unwrap().len(), 3);
    assert_eq!(
        api.call("GET", "/api/v1/items?limit=beaucoup", staff, None)
            .await
            .status,
        400
    );

    // An issue of Les Échos du Réseau starts with the approved ad; items go in on demand.
    let unknown = api
        .call(
            "POST",
            "/api/v1/issues",
            staff,
            Some(json!({"newsletter": "le-monde"})),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.fields()),
        (422, vec!["newsletter"])
    );
    let issue = api
        .call(
            "POST",
            "/api/v1/issues",
            staff,
            Some(json!({"newsletter": "echos-du-reseau", "subject": "Les Échos de décembre"})),
        )
        .await;
    assert_eq!(issue.status, 201, "{}", issue.body);
    assert_eq!(issue.body["subject"], "Les Échos de décembre");
    let entries = format!("/api/v1/issues/{}/entries", issue.body["id"]);
    let added = api
        .call("POST", &entries, staff, Some(json!({"item": a})))
        .await;
    assert_eq!((added.status, &added.body["item"]), (201, &json!(a)));
    assert!(
        added.body["section"].is_string() && added.body["position"] == 1,
        "{}",
        added.body
    );
    assert_eq!(
        api.call("POST", &entries, staff, Some(json!({"item": a})))
            .await
            .status,
        409
    );
    assert_eq!(
        api.call("POST", &entries, staff, Some(json!({"ad": first})))
            .await
            .status,
        409
    );
    let withdrawn_ad = api
        .call("POST", &entries, staff, Some(json!({"ad": second})))
        .await;
    assert_eq!(
        (withdrawn_ad.status, withdrawn_ad.fields()),
        (422, vec!["ad"])
    );
    let neither = api.call("POST", &entries, staff, Some(json!({}))).await;
    assert_eq!(neither.status, 422);
    let no_section = api
        .call(
            "POST",
            &entries,
            staff,
            Some(json!({"item": b, "section": "sport"})),
        )
        .await;
    assert_eq!(
        (no_section.status, no_section.fields()),
        (422, vec!["section"])
    );
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/issues/999999/entries",
            staff,
            Some(json!({"item": a}))
        )
        .await
        .status,
        404
    );
    let coopdev = api
        .call(
            "POST",
            "/api/v1/issues",
            staff,
            Some(json!({"newsletter": "coopdev-info"})),
        )
        .await;
    let coopdev_entries = format!("/api/v1/issues/{}/entries", coopdev.body["id"]);
    let no_ads_there = api
        .call("POST", &coopdev_entries, staff, Some(json!({"ad": first})))
        .await;
    assert_eq!(
        (no_ads_there.status, no_ads_there.fields()),
        (422, vec!["ad"])
    );

    // Unknown routes answer JSON too.
    let lost = daemon
        .client
        .get(daemon.url("/api/v1/nulle-part"))
        .send()
        .await
        .unwrap();
    assert_eq!(lost.status(), 404);
    let lost: Value = serde_json::from_str(&lost.text().await.unwrap()).unwrap();
    assert!(lost["error"].as_str().unwrap().contains("n'existe pas"));

    // A revoked token stops at once.
    let list = env
        .run(&["token", "list", "--json"])
        .await
        .ok()
        .json_lines();
    let andes_id = list.iter().find(|t| t["email"] == ANDES).unwrap()["id"].to_string();
    env.run(&["token", "revoke", &andes_id]).await.ok();
    let revoked = api.call("GET", "/api/v1/ads/mine", andes, None).await;
    assert_eq!(revoked.status, 401);
    assert!(revoked.error().contains("révoqué"), "{}", revoked.body);

    // So does the token of an organisation no longer active, or of a disabled staff account.
    sql(
        &env,
        "update members set state = 'disabled' where email = $1",
        &[SAHEL],
    )
    .await;
    assert_eq!(
        api.call("GET", "/api/v1/ads/mine", sahel, None)
            .await
            .status,
        401
    );
    sql(&env, "update users set disabled_at = created_at", &[]).await;
    assert_eq!(
        api.call("GET", "/api/v1/ads", staff, None).await.status,
        401
    );

    api.assert_all_exercised();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_past_its_quota_is_told_when_to_come_back() {
    let mut env = TestEnv::new().await;
    add_people(&env).await;
    let sahel = token(&env, &["--member", SAHEL]).await;
    let andes = token(&env, &["--member", ANDES]).await;
    let daemon = env.serve().await;
    let api = Api::new(&daemon).await;
    let mut allowed = 0;
    let refused = loop {
        let answer = api
            .call("GET", "/api/v1/ads/mine", Some(&sahel), None)
            .await;
        if answer.status != 200 {
            break answer;
        }
        allowed += 1;
        assert!(allowed < 200, "never limited");
    };
    assert_eq!(refused.status, 429);
    assert!(allowed >= 120, "{allowed}");
    let wait: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(
        refused.error().contains("Trop de demandes"),
        "{}",
        refused.body
    );
    let other = api
        .call("GET", "/api/v1/ads/mine", Some(&andes), None)
        .await;
    assert_eq!(other.status, 200, "another token is not held back");
}
