//! The editors' desk through the real server: sign-in, the desk's home, issue previews per
//! segment at both widths and in plain text, sign-out.

use crate::helpers::*;
use crate::pipeline::env_with_feed;
use std::time::Duration;

pub const PASSWORD: &str = "correct horse battery staple";

async fn sign_in(daemon: &Daemon, email: &str, password: &str) -> reqwest::Response {
    daemon
        .client
        .post(daemon.url("/admin/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// A GET carrying a session cookie.
pub async fn get_with(daemon: &Daemon, path: &str, cookie: &str) -> reqwest::Response {
    daemon
        .client
        .get(daemon.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_editor_signs_in_and_previews_an_issue_as_a_segment_would_receive_it() {
    let (mut env, _server) = env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    let issue = env.create_issue("coopdev-info").await;
    for part in ["Eau et assainissement", "Rapport annuel"] {
        env.run(&[
            "issue",
            "add",
            &issue,
            "--item",
            &env.item_id(part).await.to_string(),
        ])
        .await
        .ok();
    }
    env.run(&[
        "segment",
        "add",
        "madagascar",
        "--newsletter",
        "coopdev-info",
        "--country",
        "MG",
    ])
    .await
    .ok();
    env.run_with_stdin(
        &["user", "add", "redaction@example.org", "--role", "editor"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    let daemon = env.serve().await;

    // Nothing of the desk without signing in.
    let anonymous = daemon
        .client
        .get(daemon.url("/admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/admin/login");
    let frame = format!("/admin/numeros/{issue}/apercu.html");
    let anonymous = daemon.client.get(daemon.url(&frame)).send().await.unwrap();
    assert_eq!(anonymous.status(), 303, "previews are for staff only");

    let refused = sign_in(&daemon, "redaction@example.org", "wrong").await;
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("set-cookie").is_none());
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Adresse ou mot de passe incorrect"));
    let unknown = sign_in(&daemon, "personne@example.org", PASSWORD).await;
    assert_eq!(unknown.status(), 401, "an unknown address reads the same");

    let welcome = sign_in(&daemon, "redaction@example.org", PASSWORD).await;
    assert_eq!(welcome.status(), 303);
    let set_cookie = welcome.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    let home = get_with(&daemon, "/admin", &cookie).await;
    assert_eq!(home.status(), 200);
    let home = home.text().await.unwrap();
    assert!(
        home.contains("Rencontre des acteurs"),
        "the new watch item to triage"
    );
    assert!(home.contains(&format!("/admin/numeros/{issue}/apercu")));

    let page = get_with(
        &daemon,
        &format!("/admin/numeros/{issue}/apercu?largeur=375"),
        &cookie,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(page.contains("width=\"375\""), "the phone-width frame");
    assert!(page.contains(&format!("src=\"{frame}\"")));
    assert!(page.contains("le segment madagascar"));
    assert!(
        page.contains("Rapport annuel"),
        "the text part is shown too"
    );

    let whole = get_with(&daemon, &frame, &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(whole.contains("Eau et assainissement") && whole.contains("Rapport annuel"));
    let as_segment = get_with(&daemon, &format!("{frame}?segment=madagascar"), &cookie).await;
    let as_segment = as_segment.text().await.unwrap();
    assert!(
        !as_segment.contains("Eau et assainissement"),
        "outside the segment's countries"
    );
    assert!(as_segment.contains("Rapport annuel") && as_segment.contains("ne figure pas ici"));
    let text = get_with(
        &daemon,
        &format!("/admin/numeros/{issue}/apercu.txt"),
        &cookie,
    )
    .await;
    assert!(text.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(text
        .text()
        .await
        .unwrap()
        .contains("== Politiques publiques =="));
    let missing = get_with(&daemon, &format!("{frame}?segment=inconnu"), &cookie).await;
    assert_eq!(missing.status(), 400);

    // A forged cookie is nobody; signing out needs the form's CSRF token.
    let forged = get_with(&daemon, "/admin", "relais_staff=0000").await;
    assert_eq!(forged.status(), 303);
    let csrf = home
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let logout = |token: String| {
        daemon
            .client
            .post(daemon.url("/admin/logout"))
            .header("cookie", cookie.clone())
            .form(&[("csrf", token)])
            .send()
    };
    assert_eq!(logout("forged".into()).await.unwrap().status(), 400);
    assert_eq!(get_with(&daemon, "/admin", &cookie).await.status(), 200);
    assert_eq!(logout(csrf).await.unwrap().status(), 303);
    assert_eq!(
        get_with(&daemon, "/admin", &cookie).await.status(),
        303,
        "signed out"
    );
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form with a CSRF token")
        .to_string()
}

/// A form POST carrying a session cookie.
pub async fn post_with(
    daemon: &Daemon,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    daemon
        .client
        .post(daemon.url(path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

pub async fn signed_in(daemon: &Daemon, email: &str) -> String {
    let welcome = sign_in(daemon, email, PASSWORD).await;
    assert_eq!(welcome.status(), 303, "{email} signs in");
    welcome.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

pub async fn page(daemon: &Daemon, path: &str, cookie: &str) -> String {
    let answer = get_with(daemon, path, cookie).await;
    assert_eq!(answer.status(), 200, "GET {path}");
    answer.text().await.unwrap()
}

/// The ids carried by the inbox's rows (`data-item-id`), in order.
fn row_ids(inbox: &str) -> Vec<i64> {
    inbox
        .split("data-item-id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_editor_prepares_approves_and_sends_a_week_issue_from_the_desk_alone() {
    let (mut env, _server) = env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    for who in ["redaction@example.org", "relecture@example.org"] {
        env.run_with_stdin(
            &["user", "add", who, "--role", "editor"],
            &format!("{PASSWORD}\n"),
        )
        .await
        .ok();
    }
    env.import(
        "email,name,newsletters\nawa@example.org,Awa,coopdev-info\nbob@example.org,Bob,coopdev-info\nchloe@example.org,Chloé,coopdev-info\n",
    )
    .await
    .ok();
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set("RELAIS_TWO_APPROVALS", "coopdev-info");
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    let daemon = env.serve().await;
    let cookie = signed_in(&daemon, "redaction@example.org").await;

    // Monday: the inbox, newest first, searched without accents or case.
    let inbox = page(&daemon, "/admin/veille", &cookie).await;
    assert_eq!(row_ids(&inbox).len(), 3, "the three new items");
    assert!(inbox.contains("3</strong> élément(s) correspondent"));
    let found = page(&daemon, "/admin/veille?q=SENEGAL+assain", &cookie).await;
    let eau = env.item_id("Eau et assainissement").await;
    assert_eq!(
        row_ids(&found),
        [eau],
        "accents and case ignored, prefixes match"
    );
    let none = page(&daemon, "/admin/veille?q=%22OR%20*", &cookie).await;
    assert!(row_ids(&none).is_empty() && none.contains("Rien ne correspond"));
    let by_date = page(
        &daemon,
        "/admin/veille?du=2026-11-22&au=2026-11-30",
        &cookie,
    )
    .await;
    assert!(
        row_ids(&by_date).contains(&eau)
            && !row_ids(&by_date).contains(&env.item_id("Rapport annuel").await)
    );
    let bad_date = page(&daemon, "/admin/veille?du=demain", &cookie).await;
    assert!(
        bad_date.contains("pas une date (AAAA-MM-JJ)"),
        "a bad filter is named, not a 400"
    );

    // Triage: select the call (one row's button), dismiss the meeting (bulk), edit the report.
    let csrf = csrf_of(&inbox);
    let rapport = env.item_id("Rapport annuel").await;
    let rencontre = env.item_id("Rencontre des acteurs").await;
    let selected = post_with(
        &daemon,
        "/admin/veille/trier",
        &cookie,
        &[
            ("csrf", &csrf),
            ("retour", "q=eau"),
            ("ligne", &format!("selectionner-coopdev-info:{eau}")),
        ],
    )
    .await;
    assert_eq!(selected.status(), 303);
    assert_eq!(
        selected.headers()["location"],
        "/admin/veille?q=eau",
        "back to the same filters"
    );
    let dismissed = post_with(
        &daemon,
        "/admin/veille/trier",
        &cookie,
        &[
            ("csrf", &csrf),
            ("id", &rencontre.to_string()),
            ("action", "ecarter"),
        ],
    )
    .await;
    assert_eq!(dismissed.status(), 303);
    let forged = post_with(
        &daemon,
        "/admin/veille/trier",
        &cookie,
        &[
            ("csrf", "forged"),
            ("id", &rapport.to_string()),
            ("action", "ecarter"),
        ],
    )
    .await;
    assert_eq!(forged.status(), 400, "no triage without the form's token");
    let edited = post_with(
        &daemon,
        &format!("/admin/veille/{rapport}"),
        &cookie,
        &[
            ("csrf", &csrf),
            ("title", "Rapport APD 2026 : l'essentiel"),
            ("summary", "Les chiffres clés <b>à retenir</b>."),
            ("deadline", ""),
            ("theme", "financement"),
            ("country", "SN"),
        ],
    )
    .await;
    assert_eq!(edited.status(), 303);
    let items = env.run(&["items", "--json"]).await.ok().json_lines();
    let feed_title = items.iter().find(|i| i["id"] == rapport).unwrap()["title"].clone();
    assert_eq!(
        feed_title, "Rapport annuel sur l’aide publique au développement",
        "the feed's text stays as it came"
    );
    let new_only = page(&daemon, "/admin/veille", &cookie).await;
    assert_eq!(
        row_ids(&new_only),
        [rapport],
        "only the untriaged item is still new"
    );
    assert!(
        new_only.contains("Rapport APD 2026 : l&#x27;essentiel"),
        "the editor's title in the inbox"
    );
    let dismissed_view = page(&daemon, "/admin/veille?etat=dismissed", &cookie).await;
    assert_eq!(row_ids(&dismissed_view), [rencontre]);
    let select_report = post_with(
        &daemon,
        "/admin/veille/trier",
        &cookie,
        &[
            ("csrf", &csrf),
            ("id", &rapport.to_string()),
            ("action", "selectionner-coopdev-info"),
        ],
    )
    .await;
    assert_eq!(select_report.status(), 303);

    // Tuesday: a new issue holds what was selected; the editor writes an intro block and
    // moves it to the top.
    let created = post_with(
        &daemon,
        "/admin/numeros",
        &cookie,
        &[
            ("csrf", &csrf),
            ("lettre", "coopdev-info"),
            ("objet", "La veille du 3 décembre"),
        ],
    )
    .await;
    assert_eq!(created.status(), 303);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    let issue: i64 = location
        .trim_start_matches("/admin/numeros/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let composer = page(&daemon, &location, &cookie).await;
    assert!(composer.contains("Numéro créé"));
    assert!(composer.contains("Appel à projets « Eau et assainissement » 2027"));
    assert!(composer.contains("Rapport APD 2026"), "the edited title");
    assert!(composer.contains("Brouillon"));
    let block = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/blocs"),
        &cookie,
        &[
            ("csrf", &csrf),
            ("rubrique", "politiques-publiques"),
            ("texte", "**Bonjour** à toutes et tous : lisez [le rapport](https://example.org/apd).\n\n<script>alert(1)</script>"),
        ],
    )
    .await;
    assert_eq!(block.status(), 303);
    let composer = page(&daemon, &format!("/admin/numeros/{issue}"), &cookie).await;
    let entry_ids: Vec<i64> = composer
        .split("data-entry-id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect();
    assert_eq!(entry_ids.len(), 3, "two items and the text block");
    let block_id = *entry_ids.last().unwrap();
    for _ in 0..2 {
        let moved = post_with(
            &daemon,
            &format!("/admin/numeros/{issue}/entrees/{block_id}/deplacer"),
            &cookie,
            &[("csrf", &csrf), ("vers", "haut")],
        )
        .await;
        assert_eq!(moved.status(), 303);
    }
    let html = page(
        &daemon,
        &format!("/admin/numeros/{issue}/apercu.html"),
        &cookie,
    )
    .await;
    let bonjour = html
        .find("<strong>Bonjour</strong>")
        .expect("the block, as HTML");
    let rapport_at = html.rfind("Rapport APD 2026").expect("the edited item");
    assert!(
        bonjour < rapport_at,
        "the block moved to the top of its section"
    );
    assert!(
        !html.contains("alert(1)"),
        "the editor's HTML goes through the sanitiser"
    );
    let text = page(
        &daemon,
        &format!("/admin/numeros/{issue}/apercu.txt"),
        &cookie,
    )
    .await;
    assert!(
        text.contains("Bonjour à toutes et tous : lisez le rapport (https://example.org/apd)."),
        "{text}"
    );
    assert!(
        text.contains("Les chiffres clés <b>à retenir</b>."),
        "the edited summary, as text"
    );
    let texts = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/textes"),
        &cookie,
        &[
            ("csrf", &csrf),
            ("objet", "La veille du 3 décembre"),
            ("apercu", "Eau, APD et un mot de la rédaction"),
            ("intro", ""),
        ],
    )
    .await;
    assert_eq!(texts.status(), 303);

    // Wednesday: a test reaches the editor's own address through the ledger.
    let test = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/essai"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(test.status(), 303);
    let received = sink.wait_for(1).await;
    assert_eq!(received[0].envelope_to, ["redaction@example.org"]);
    assert_eq!(
        received[0].header("Subject"),
        Some("[Essai] La veille du 3 décembre")
    );
    assert!(
        received[0]
            .part("text/html")
            .unwrap()
            .contains("Eau, APD et un mot de la rédaction"),
        "the preheader"
    );

    // Two approvals are required for this title: the first editor's is not enough to send.
    let approve = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/valider"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(approve.status(), 303);
    let refused = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/envoyer"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(refused.status(), 400, "not approved yet");
    let second = signed_in(&daemon, "relecture@example.org").await;
    let their_page = page(&daemon, &format!("/admin/numeros/{issue}"), &second).await;
    assert!(their_page.contains("Validé par redaction@example.org"));
    let approve = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/valider"),
        &second,
        &[("csrf", &csrf_of(&their_page))],
    )
    .await;
    assert_eq!(approve.status(), 303);
    assert!(page(&daemon, &format!("/admin/numeros/{issue}"), &cookie)
        .await
        .contains("Validé"));

    // Thursday: the audience is counted before the confirming click, then the send runs.
    let confirm = page(&daemon, &format!("/admin/numeros/{issue}/envoyer"), &cookie).await;
    assert!(
        confirm.contains("partira à <strong>3</strong> abonné(s) (segment : tous)"),
        "{confirm}"
    );
    let sent = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/envoyer"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(sent.status(), 303);
    assert_eq!(
        sent.headers()["location"],
        format!("/admin/numeros/{issue}/suivi").as_str()
    );
    let progress_url = format!("/admin/numeros/{issue}/suivi.json");
    assert!(
        eventually(Duration::from_secs(30), || async {
            let body = get_with(&daemon, &progress_url, &cookie)
                .await
                .text()
                .await
                .unwrap();
            let p: serde_json::Value = serde_json::from_str(&body).unwrap();
            p["done"] == true && p["counts"]["sent"] == 3
        })
        .await,
        "the counts reach the end"
    );
    assert_eq!(
        sink.wait_for(4).await.len(),
        4,
        "three subscribers and the test"
    );
    let report = page(&daemon, &format!("/admin/numeros/{issue}/suivi"), &cookie).await;
    assert!(report.contains("Envoi terminé") && report.contains("data-count=\"sent\">3<"));

    // Afterwards: one reader leaves in one click, and one message whose fate was unknown is
    // sent again after a confirmation that says the risk.
    let messages = sink.wait_for(4).await;
    let bob = messages
        .iter()
        .find(|m| m.envelope_to == ["bob@example.org"])
        .unwrap();
    let one_click = daemon
        .client
        .post(bob.unsubscribe_url())
        .body("List-Unsubscribe=One-Click")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(one_click.status(), 200);
    let report = page(&daemon, &format!("/admin/numeros/{issue}/suivi"), &cookie).await;
    assert!(
        report.contains(
            "Désabonnements depuis cet envoi : <strong data-count=\"unsubscribes\">1</strong>"
        ),
        "{report}"
    );
    assert!(
        !report.contains("Renvoyer ces messages"),
        "nothing uncertain yet"
    );
    sql(
        &env,
        "update deliveries set state = 'unknown' where email = $1",
        &["chloe@example.org"],
    )
    .await;
    let report = page(&daemon, &format!("/admin/numeros/{issue}/suivi"), &cookie).await;
    assert!(report.contains("Renvoyer ces messages…"));
    let confirm = page(
        &daemon,
        &format!("/admin/numeros/{issue}/renvoyer"),
        &cookie,
    )
    .await;
    assert!(confirm.contains("<strong>1</strong> message(s)") && confirm.contains("doublon"));
    let resent = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/renvoyer"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(resent.status(), 303);
    let again = sink.wait_for(5).await;
    let to_chloe = again
        .iter()
        .filter(|m| m.envelope_to == ["chloe@example.org"])
        .count();
    assert_eq!((again.len(), to_chloe), (5, 2), "sent again, to her only");

    // What went out no longer changes.
    let frozen = post_with(
        &daemon,
        &format!("/admin/numeros/{issue}/blocs"),
        &cookie,
        &[("csrf", &csrf), ("texte", "Trop tard")],
    )
    .await;
    assert_eq!(frozen.status(), 409);
    let published = page(&daemon, "/admin/veille?etat=published", &cookie).await;
    assert!(published.contains("Déjà dans n° ") && row_ids(&published).contains(&eau));
}

/// Two feeds telling one story (a call for projects, relayed by an agency) and another item.
pub async fn env_with_story() -> (TestEnv, FeedServer) {
    let ministry = r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>MEAE</title><link>https://meae.example.org/</link><description>x</description>
      <item><title>Appel à projets « Jeunesse et solidarité internationale » 2027 au Sénégal</title><link>https://meae.example.org/appel-jsi</link><guid>jsi</guid>
      <description>Le ministère de l'Europe et des Affaires étrangères ouvre l'appel à projets Jeunesse et solidarité internationale pour les associations françaises travaillant avec des partenaires au Sénégal. Les dossiers sont à déposer avant le 15 janvier 2027. Les projets doivent associer des jeunes des deux pays.</description></item>
      <item><title>Conseil présidentiel pour les partenariats internationaux : compte rendu</title><link>https://meae.example.org/cppi</link><guid>cppi</guid>
      <description>Le conseil a examiné la programmation de l'aide bilatérale et la stratégie santé mondiale pour les cinq prochaines années.</description></item>
    </channel></rss>"#;
    let agency = r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>AFD</title><link>https://afd.example.org/</link><description>x</description>
      <item><title>Relayé : appel à projets Jeunesse et solidarité internationale 2027 (Sénégal)</title><link>https://afd.example.org/relais-jsi</link><guid>afd-jsi</guid>
      <description>Relayé par l'AFD : le ministère de l'Europe et des Affaires étrangères ouvre l'appel à projets Jeunesse et solidarité internationale pour les associations françaises travaillant avec des partenaires au Senegal. Les dossiers sont à déposer avant le 15 janvier 2027. Les projets doivent associer des jeunes des deux pays !</description></item>
    </channel></rss>"#;
    let server = FeedServer::start(vec![
        ("/meae.xml", Route::feed(ministry)),
        ("/afd.xml", Route::feed(agency)),
    ])
    .await;
    let env = TestEnv::new().await;
    env.write_sources(&format!(
        "[[source]]\nslug = \"meae\"\nname = \"MEAE\"\nurl = \"{}\"\nallow_private = true\n\n\
         [[source]]\nslug = \"afd\"\nname = \"AFD\"\nurl = \"{}\"\nallow_private = true\n",
        server.url("/meae.xml"),
        server.url("/afd.xml")
    ));
    (env, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_story_from_two_sources_is_one_row_with_the_others_named() {
    let (mut env, _server) = env_with_story().await;
    // One pass: both feeds are polled in parallel, so either item may be indexed first.
    env.run(&["fetch"]).await.ok();
    env.run_with_stdin(
        &["user", "add", "redaction@example.org", "--role", "editor"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    let daemon = env.serve().await;
    let cookie = signed_in(&daemon, "redaction@example.org").await;
    let inbox = page(&daemon, "/admin/veille", &cookie).await;
    let jsi = env
        .item_id("Jeunesse et solidarité internationale » 2027")
        .await;
    let relay = env.item_id("Relayé : appel").await;
    let ids = row_ids(&inbox);
    assert_eq!(ids.len(), 2, "three items, two stories: {ids:?}");
    // The newest of the story stands for it and names the other.
    let (shown, other, other_url) = if jsi > relay {
        (jsi, relay, "https://afd.example.org/relais-jsi")
    } else {
        (relay, jsi, "https://meae.example.org/appel-jsi")
    };
    assert!(ids.contains(&shown) && !ids.contains(&other), "{ids:?}");
    assert!(
        inbox.contains(&format!(
            "data-item-id=\"{shown}\" data-similar=\"{other}\""
        )),
        "the row names the other item of its story"
    );
    assert!(inbox.contains(&format!("Aussi chez : <a href=\"{other_url}\"")));
    // Dismissing the row dismisses the story.
    let csrf = csrf_of(&inbox);
    post_with(
        &daemon,
        "/admin/veille/trier",
        &cookie,
        &[("csrf", &csrf), ("ligne", &format!("ecarter:{shown}"))],
    )
    .await;
    let after = page(&daemon, "/admin/veille", &cookie).await;
    assert_eq!(
        row_ids(&after).len(),
        1,
        "only the council's report is left"
    );
}

/// The temporary password an admin is shown once.
fn temporary_password(page: &str) -> String {
    let start = page.find(" : ").map(|i| i + 3).unwrap();
    page[start..].split(' ').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_manage_the_team_and_editors_cannot() {
    let mut env = TestEnv::new().await;
    env.run_with_stdin(
        &["user", "add", "admin@example.org", "--role", "admin"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    let daemon = env.serve().await;
    let admin = signed_in(&daemon, "admin@example.org").await;
    let team = page(&daemon, "/admin/equipe", &admin).await;
    let csrf = csrf_of(&team);
    let added = post_with(
        &daemon,
        "/admin/equipe",
        &admin,
        &[
            ("csrf", &csrf),
            ("email", "Nouvelle@Example.org"),
            ("role", "editor"),
        ],
    )
    .await;
    assert_eq!(added.status(), 200);
    let added = added.text().await.unwrap();
    let notice = added
        .split("Mot de passe provisoire, à lui transmettre")
        .nth(1)
        .expect("the temporary password, once");
    let temporary = temporary_password(notice);
    assert_eq!(temporary.len(), 24, "{temporary}");
    let again = post_with(
        &daemon,
        "/admin/equipe",
        &admin,
        &[
            ("csrf", &csrf),
            ("email", "nouvelle@example.org"),
            ("role", "admin"),
        ],
    )
    .await;
    assert_eq!(again.status(), 422);
    assert!(again
        .text()
        .await
        .unwrap()
        .contains("Un compte existe déjà"));

    // The editor signs in with it, may not see the team, and changes their password.
    let welcome = sign_in(&daemon, "nouvelle@example.org", &temporary).await;
    assert_eq!(welcome.status(), 303);
    let editor = welcome.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let refused = get_with(&daemon, "/admin/equipe", &editor).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("Accès réservé"));
    let home = page(&daemon, "/admin", &editor).await;
    assert!(!home.contains("/admin/equipe"), "no team link for editors");
    let editor_csrf = csrf_of(&home);
    let id = team_user_id(
        &page(&daemon, "/admin/equipe", &admin).await,
        "nouvelle@example.org",
    );
    let forbidden = post_with(
        &daemon,
        &format!("/admin/equipe/{id}/reinitialiser"),
        &editor,
        &[("csrf", &editor_csrf)],
    )
    .await;
    assert_eq!(forbidden.status(), 403, "no team action for editors either");
    let wrong = post_with(
        &daemon,
        "/admin/mot-de-passe",
        &editor,
        &[
            ("csrf", &editor_csrf),
            ("actuel", "pas le bon"),
            ("nouveau", "une phrase bien longue"),
            ("confirmation", "une phrase bien longue"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 422);
    let changed = post_with(
        &daemon,
        "/admin/mot-de-passe",
        &editor,
        &[
            ("csrf", &editor_csrf),
            ("actuel", &temporary),
            ("nouveau", "une phrase bien longue"),
            ("confirmation", "une phrase bien longue"),
        ],
    )
    .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(
        sign_in(&daemon, "nouvelle@example.org", &temporary)
            .await
            .status(),
        401
    );
    assert_eq!(
        get_with(&daemon, "/admin", &editor).await.status(),
        200,
        "this session stays"
    );

    // Disabled: the session ends and signing in is refused; enabled again, it works.
    let disabled = post_with(
        &daemon,
        &format!("/admin/equipe/{id}/desactiver"),
        &admin,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(disabled.status(), 303);
    assert_eq!(get_with(&daemon, "/admin", &editor).await.status(), 303);
    assert_eq!(
        sign_in(&daemon, "nouvelle@example.org", "une phrase bien longue")
            .await
            .status(),
        401
    );
    post_with(
        &daemon,
        &format!("/admin/equipe/{id}/reactiver"),
        &admin,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(
        sign_in(&daemon, "nouvelle@example.org", "une phrase bien longue")
            .await
            .status(),
        303
    );
    let me = team_user_id(
        &page(&daemon, "/admin/equipe", &admin).await,
        "admin@example.org",
    );
    let myself = post_with(
        &daemon,
        &format!("/admin/equipe/{me}/desactiver"),
        &admin,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(myself.status(), 400, "nobody locks themselves out");
}

/// The id of a team member's row.
fn team_user_id(team: &str, email: &str) -> i64 {
    team.split("data-user-id=\"")
        .skip(1)
        .find(|row| row.contains(email))
        .and_then(|row| row.split('"').next()?.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sources_page_says_what_fails_in_plain_words_and_pauses_a_feed() {
    let (mut env, server) = env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    env.run_with_stdin(
        &["user", "add", "redaction@example.org", "--role", "editor"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    let daemon = env.serve().await;
    let cookie = signed_in(&daemon, "redaction@example.org").await;
    let sources = page(&daemon, "/admin/sources", &cookie).await;
    assert!(
        sources.contains("le serveur a répondu 500 depuis aujourd"),
        "the failing source, in plain words, and since when"
    );
    assert!(sources.contains("aria-label=\"Éléments par semaine sur 12 semaines : 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3\""), "the three items of this week");
    let csrf = csrf_of(&sources);

    let paused = post_with(
        &daemon,
        "/admin/sources/veille/suspendre",
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(paused.status(), 303);
    let hits = server.hits("/feed.xml");
    env.run(&["fetch"]).await.ok();
    assert_eq!(
        server.hits("/feed.xml"),
        hits,
        "a paused source is not polled"
    );
    assert!(page(&daemon, "/admin/sources", &cookie)
        .await
        .contains(">suspendue<"));
    post_with(
        &daemon,
        "/admin/sources/veille/reprendre",
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    let now = post_with(
        &daemon,
        "/admin/sources/veille/relever",
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(now.status(), 200);
    assert!(now
        .text()
        .await
        .unwrap()
        .contains("Veille test : rien de neuf"));
    assert_eq!(server.hits("/feed.xml"), hits + 1);
    let unknown = post_with(
        &daemon,
        "/admin/sources/inconnue/relever",
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn editors_find_a_person_with_their_consents_and_make_a_segment_from_filters() {
    let mut env = TestEnv::new().await;
    env.import(
        "email,name,newsletters,countries,themes\nawa.diallo@example.org,Awa Diallo,coopdev-info,SN,sante\nbob@example.org,Bob_100%,coopdev-info,MG,\n",
    )
    .await
    .ok();
    env.run_with_stdin(
        &["user", "add", "redaction@example.org", "--role", "editor"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    let daemon = env.serve().await;
    let cookie = signed_in(&daemon, "redaction@example.org").await;
    let found = page(&daemon, "/admin/abonnes?q=DIALLO", &cookie).await;
    assert!(found.contains("awa.diallo@example.org") && !found.contains("bob@example.org"));
    let wildcard = page(&daemon, "/admin/abonnes?q=_", &cookie).await;
    assert!(
        wildcard.contains("bob@example.org") && !wildcard.contains("awa.diallo"),
        "_ is a character, not a wildcard"
    );
    let id: i64 = found
        .split("href=\"/admin/abonnes/")
        .nth(1)
        .and_then(|rest| rest.split('"').next()?.parse().ok())
        .unwrap();
    let person = page(&daemon, &format!("/admin/abonnes/{id}"), &cookie).await;
    assert!(person.contains("Coopdev&#x27; info"), "the title, escaped");
    assert!(person.contains("Sénégal") && person.contains("Santé"));
    assert!(
        person.contains("import"),
        "the consent record of the import"
    );
    assert_eq!(
        get_with(&daemon, "/admin/abonnes/999999", &cookie)
            .await
            .status(),
        404
    );

    let csrf = csrf_of(&found);
    let refused = post_with(
        &daemon,
        "/admin/segments",
        &cookie,
        &[
            ("csrf", &csrf),
            ("nom", "Sénégal!"),
            ("lettre", "coopdev-info"),
            ("country", "SN"),
        ],
    )
    .await;
    assert_eq!(refused.status(), 422);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("nom de segment invalide"));
    let made = post_with(
        &daemon,
        "/admin/segments",
        &cookie,
        &[
            ("csrf", &csrf),
            ("nom", "senegal-sante"),
            ("lettre", "coopdev-info"),
            ("country", "SN"),
            ("theme", "sante"),
        ],
    )
    .await;
    assert_eq!(made.status(), 303);
    let list = page(&daemon, "/admin/abonnes", &cookie).await;
    assert!(
        list.contains("<tr data-segment=\"senegal-sante\"><td>senegal-sante</td><td>Coopdev&#x27; info</td><td>1</td></tr>"),
        "the segment with its live count"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_planned_issue_waits_for_its_approval_and_then_goes_out() {
    let (mut env, _server) = env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    env.import("email,newsletters\nawa@example.org,coopdev-info\n")
        .await
        .ok();
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    let issue = env.create_issue("coopdev-info").await;
    let item = env.newest_item().await;
    env.run(&["issue", "add", &issue, "--item", &item])
        .await
        .ok();
    let past = env
        .run(&["issue", "schedule", &issue, "--at", "2020-01-01 09:00"])
        .await;
    assert!(
        past.code != 0 && past.stderr.contains("est passé"),
        "{}",
        past.stderr
    );
    let garbled = env
        .run(&["issue", "schedule", &issue, "--at", "jeudi"])
        .await;
    assert!(
        garbled.stderr.contains("heure illisible"),
        "{}",
        garbled.stderr
    );
    let at = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
    let planned = env
        .run(&["issue", "schedule", &issue, "--at", &at])
        .await
        .ok();
    assert!(
        planned.stderr.contains("ne partira que s'il est validé"),
        "{}",
        planned.stderr
    );
    let _daemon = env.serve().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        sink.messages().is_empty(),
        "a draft does not go out, even when planned"
    );
    // Approved once its time has passed (within the allowed lateness), it leaves at once.
    env.run(&["issue", "approve", &issue]).await.ok();
    let sent = sink.wait_for(1).await;
    assert_eq!(sent[0].envelope_to, ["awa@example.org"]);
    assert_eq!(env.status(&issue).await["sent"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_found_from_a_site_address_is_added_at_the_desk_and_kept() {
    let feed = include_str!("../fixtures/feeds/politiques.xml");
    let site = r#"<!doctype html><html><head><title>Partenaire</title>
        <link rel="alternate" type="application/rss+xml" title="Actualités du partenaire" href="/flux.xml">
        </head><body>Bienvenue</body></html>"#;
    let server = FeedServer::start(vec![
        ("/flux.xml", Route::feed(feed)),
        (
            "/site",
            Route {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: site.as_bytes().to_vec(),
                headers: vec![],
            },
        ),
    ])
    .await;
    let mut env = TestEnv::new().await;
    for (who, role) in [
        ("admin@example.org", "admin"),
        ("redaction@example.org", "editor"),
    ] {
        env.run_with_stdin(
            &["user", "add", who, "--role", role],
            &format!("{PASSWORD}\n"),
        )
        .await
        .ok();
    }
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    let daemon = env.serve().await;

    // An editor may not reach the local network: the page says why, nothing is added.
    let editor = signed_in(&daemon, "redaction@example.org").await;
    let csrf = csrf_of(&page(&daemon, "/admin/sources/nouvelle", &editor).await);
    let refused = post_with(
        &daemon,
        "/admin/sources/nouvelle",
        &editor,
        &[
            ("csrf", &csrf),
            ("adresse", &server.url("/site")),
            ("prive", "oui"),
        ],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(refused.contains("Pas de flux lisible ici"), "{refused}");
    assert!(
        refused.contains("allow_private"),
        "the refusal names the setting"
    );

    let admin = signed_in(&daemon, "admin@example.org").await;
    let csrf = csrf_of(&page(&daemon, "/admin/sources/nouvelle", &admin).await);
    let found = post_with(
        &daemon,
        "/admin/sources/nouvelle",
        &admin,
        &[
            ("csrf", &csrf),
            ("adresse", &server.url("/site")),
            ("prive", "oui"),
        ],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        found.contains("Actualités du partenaire"),
        "the feed the page announces"
    );
    assert!(found.contains("3 élément(s) dans le flux"), "{found}");
    assert!(
        found.contains("Rapport annuel sur l"),
        "a sample of what it would bring"
    );
    let flux = server.url("/flux.xml");
    let saved = post_with(
        &daemon,
        "/admin/sources/enregistrer",
        &admin,
        &[
            ("csrf", &csrf),
            ("url", &flux),
            ("nom", "Actualités du partenaire"),
            ("slug", "partenaire"),
            ("lettre", "echos-du-reseau"),
            ("theme", "formation"),
            ("frequence", "3600s"),
            ("prive", "oui"),
        ],
    )
    .await;
    assert_eq!(saved.status(), 303);
    let again = post_with(
        &daemon,
        "/admin/sources/enregistrer",
        &admin,
        &[
            ("csrf", &csrf),
            ("url", &flux),
            ("nom", "Autre"),
            ("slug", "partenaire"),
            ("lettre", "coopdev-info"),
        ],
    )
    .await;
    assert_eq!(
        again.status(),
        422,
        "a new source may not take an existing name"
    );
    assert!(
        eventually(Duration::from_secs(20), || async {
            row_ids(&page(&daemon, "/admin/veille?source=partenaire", &admin).await).len() == 3
        })
        .await,
        "the daemon polls the new source"
    );
    // Kept in the database: every later start knows it, with the theme given here.
    let sources = env.run(&["sources", "--json"]).await.ok().json_lines();
    assert!(sources
        .iter()
        .any(|s| s["slug"] == "partenaire" && s["url"] == flux.as_str()));
    let items = env
        .run(&["items", "--json", "--source", "partenaire"])
        .await
        .ok()
        .json_lines();
    assert!(items.iter().all(|i| i["themes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "formation")));
}
