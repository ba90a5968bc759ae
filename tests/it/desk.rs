//! The editors' desk through the real server: sign-in, the desk's home, issue previews per
//! segment at both widths and in plain text, sign-out.

use crate::helpers::*;
use crate::pipeline::env_with_feed;

const PASSWORD: &str = "correct horse battery staple";

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
