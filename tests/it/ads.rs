//! Members' classified ads through the real server and a real relay: a member asks for a
//! sign-in link, opens it from the captured mail in the browser that asked, posts an ad;
//! editors moderate; the next Échos du Réseau carries the approved ad and not its script; a
//! refusal's reason reaches the member; withdrawn and expired ads leave the board and the
//! next issue; nobody reads another member's ad.

use crate::desk::{csrf_of, page as staff_page, post_with, signed_in};
use crate::helpers::*;
use std::time::Duration;

const PASSWORD: &str = "correct horse battery staple";

/// A browser of our own: it keeps the cookies the server sets (by name), and follows no
/// redirects so each answer is seen.
struct Browser<'a> {
    daemon: &'a Daemon,
    cookies: Vec<(String, String)>,
}

impl<'a> Browser<'a> {
    fn new(daemon: &'a Daemon) -> Self {
        Self {
            daemon,
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, answer: &reqwest::Response) {
        for value in answer.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.into(), value.into()));
            }
        }
    }

    async fn get(&mut self, path: &str) -> reqwest::Response {
        let answer = self
            .daemon
            .client
            .get(self.daemon.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&answer);
        answer
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let answer = self
            .daemon
            .client
            .post(self.daemon.url(path))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&answer);
        answer
    }

    /// The page's first CSRF token.
    async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status(), 200, "GET {path}");
        let page = page.text().await.unwrap();
        page.split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no CSRF field on {path}"))
            .to_string()
    }
}

/// The newest captured mail to `to` whose subject is `subject`, within 15 s.
async fn mail_to(sink: &SmtpSink, to: &str, subject: &str, count: usize) -> Captured {
    let found = eventually(Duration::from_secs(15), || async {
        sink.complete_messages()
            .iter()
            .filter(|m| m.envelope_to == [to] && m.header("Subject") == Some(subject))
            .count()
            >= count
    })
    .await;
    assert!(found, "{count} mail(s) « {subject} » to {to}");
    sink.complete_messages()
        .into_iter()
        .rfind(|m| m.envelope_to == [to] && m.header("Subject") == Some(subject))
        .unwrap()
}

const LINK_SUBJECT: &str = "Votre lien de connexion à l'espace membre";

/// Asks for a link in `browser`, and returns the link the mail carries (the `nth` such mail
/// to that address).
async fn ask_link(browser: &mut Browser<'_>, sink: &SmtpSink, email: &str, nth: usize) -> String {
    let asked = browser
        .post("/espace-membre/connexion", &[("email", email)])
        .await;
    assert_eq!(asked.status(), 200);
    assert!(asked.text().await.unwrap().contains("15 minutes"));
    let mail = mail_to(sink, email, LINK_SUBJECT, nth).await;
    let text = mail.part("text/plain").unwrap();
    find_url(text, &browser.daemon.url("/espace-membre/entrer/")).expect("a sign-in link")
}

/// Signs `email` in through a mailed link; returns the browser, now in the member area.
async fn member_browser<'a>(daemon: &'a Daemon, sink: &SmtpSink, email: &str) -> Browser<'a> {
    let mut browser = Browser::new(daemon);
    let link = ask_link(&mut browser, sink, email, 1).await;
    let path = link.trim_start_matches(&daemon.base).to_string();
    let entered = browser.post(&path, &[]).await;
    assert_eq!(entered.status(), 303, "{email} enters");
    assert_eq!(entered.headers()["location"], "/espace-membre");
    browser
}

fn ad_form<'a>(
    csrf: &'a str,
    title: &'a str,
    body: &'a str,
    expires_on: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("category", "don-materiel"),
        ("title", title),
        ("body", body),
        ("departement", "81"),
        ("country", "SN"),
        ("show_email", "oui"),
        ("contact_email", "dons@tarn-solidarite.example"),
        ("contact_phone", "05 63 00 00 00"),
        ("expires_on", expires_on),
        ("action", "envoyer"),
    ]
}

/// The issue as `relais issue render` prints it in `format`.
async fn rendered(env: &TestEnv, issue: &str, format: &str) -> String {
    env.run(&["issue", "render", issue, "--format", format])
        .await
        .ok()
        .stdout
}

/// Moves an ad's expiry to `days` from today (dates inline: one statement for both backends).
async fn set_expiry(env: &TestEnv, ad: i64, days: i64) {
    let statement = format!(
        "update ads set expires_on = '{}' where id = {ad}",
        in_days(days)
    );
    sql(env, &statement, &[]).await;
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string()
}

/// Posts an ad; returns its id.
async fn post_ad(browser: &mut Browser<'_>, title: &str, body: &str) -> i64 {
    let csrf = browser.csrf("/espace-membre/annonces/nouvelle").await;
    let expires = in_days(30);
    let posted = browser
        .post(
            "/espace-membre/annonces/nouvelle",
            &ad_form(&csrf, title, body, &expires),
        )
        .await;
    assert_eq!(posted.status(), 303, "the ad is sent for moderation");
    let location = posted.headers()["location"].to_str().unwrap().to_string();
    location
        .trim_start_matches("/espace-membre/annonces/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn env_with_members(sink: &SmtpSink) -> TestEnv {
    let mut env = TestEnv::new().await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.set("RELAIS_SCHEDULER_TICK", "1s");
    for (email, org) in [
        ("contact@tarn-solidarite.example", "Tarn Solidarité"),
        ("bureau@gers-cooperation.example", "Gers Coopération"),
    ] {
        env.run(&[
            "member",
            "add",
            email,
            "--org",
            org,
            "--departement",
            "81",
            "--contact",
            "Awa Diallo",
        ])
        .await
        .ok();
    }
    env.run_with_stdin(
        &["user", "add", "redaction@example.org", "--role", "editor"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_signs_in_from_the_mail_posts_an_ad_and_the_next_echos_carries_it_once_approved() {
    let sink = SmtpSink::start(&[]).await;
    let mut env = env_with_members(&sink).await;
    let daemon = env.serve().await;

    // The link works once, only in the browser that asked.
    let mut member = Browser::new(&daemon);
    let link = ask_link(&mut member, &sink, "contact@tarn-solidarite.example", 1).await;
    let path = link.trim_start_matches(&daemon.base).to_string();
    let page = member.get(&path).await;
    assert_eq!(page.status(), 200, "opening the link only shows a button");
    let mut elsewhere = Browser::new(&daemon);
    let refused = elsewhere.post(&path, &[]).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("navigateur"));
    let entered = member.post(&path, &[]).await;
    assert_eq!(entered.status(), 303);
    let again = member.post(&path, &[]).await;
    assert_eq!(again.status(), 400, "a used link is refused");
    let mut tampered = path.clone();
    tampered.push('x');
    assert_eq!(member.post(&tampered, &[]).await.status(), 400);
    let area = member.get("/espace-membre").await;
    assert_eq!(area.status(), 200);
    assert!(area.text().await.unwrap().contains("Tarn Solidarité"));
    // An unknown address gets the same answer and no mail.
    let stranger = Browser::new(&daemon)
        .post(
            "/espace-membre/connexion",
            &[("email", "inconnu@example.org")],
        )
        .await;
    assert_eq!(stranger.status(), 200);

    // Bad input: every faulty field named, the form filled back in, nothing stored.
    let csrf = member.csrf("/espace-membre/annonces/nouvelle").await;
    let long_title = "T".repeat(121);
    let past = in_days(-1);
    let mut bad = ad_form(&csrf, &long_title, "", &past);
    bad[1] = ("category", "vente-privee");
    bad[4] = ("departement", "75");
    let refused = member.post("/espace-membre/annonces/nouvelle", &bad).await;
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.unwrap();
    for message in [
        "Choisissez une catégorie",
        "Le titre dépasse 120 caractères",
        "Écrivez le texte",
        "département d&#x27;Occitanie",
        "Choisissez une date à venir",
    ] {
        assert!(page.contains(message), "{message} in {page}");
    }
    assert!(page.contains(&long_title), "the form comes back filled in");
    assert!(member
        .get("/espace-membre")
        .await
        .text()
        .await
        .unwrap()
        .contains("pas encore publié"));

    // The preview shows the card as the newsletter prints it.
    let csrf = member.csrf("/espace-membre/annonces/nouvelle").await;
    let expires = in_days(30);
    let mut preview = ad_form(
        &csrf,
        "Dix ordinateurs portables",
        "Pour une école de **Ziguinchor**.",
        &expires,
    );
    preview.last_mut().unwrap().1 = "apercu";
    let shown = member
        .post("/espace-membre/annonces/nouvelle", &preview)
        .await;
    assert_eq!(shown.status(), 200);
    let shown = shown.text().await.unwrap();
    let frame = shown
        .split("src=\"/espace-membre/apercu?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|query| {
            format!(
                "/espace-membre/apercu?{}",
                html_escape::decode_html_entities(query)
            )
        })
        .unwrap_or_else(|| panic!("a preview frame in {shown}"));
    let card = member.get(&frame).await;
    assert_eq!(card.status(), 200);
    let card = card.text().await.unwrap();
    assert!(card.contains("Dix ordinateurs portables") && card.contains("Ziguinchor"));
    assert!(card.contains("Répondre : courriel dons@tarn-solidarite.example"));

    // A hostile body is cleaned on the way in.
    let hostile = "Dix **ordinateurs** à donner.<script>alert('x')</script>\n\n\
                   <img src=x onerror=alert(1)> [voir](javascript:alert(2))";
    let ad = post_ad(&mut member, "Dix ordinateurs portables", hostile).await;
    let mine = member
        .get(&format!("/espace-membre/annonces/{ad}?envoyee=1"))
        .await;
    let mine = mine.text().await.unwrap();
    assert!(mine.contains("En attente de validation"));
    assert!(
        !mine.contains("<script>alert")
            && !mine.contains("onerror")
            && !mine.contains("javascript:")
    );

    // Another member sees none of it, through any page.
    let mut other = member_browser(&daemon, &sink, "bureau@gers-cooperation.example").await;
    assert_eq!(
        other
            .get(&format!("/espace-membre/annonces/{ad}"))
            .await
            .status(),
        404
    );
    let other_csrf = other.csrf("/espace-membre").await;
    let withdrawn = other
        .post(
            &format!("/espace-membre/annonces/{ad}/retirer"),
            &[("csrf", &other_csrf), ("confirm", "oui")],
        )
        .await;
    assert_eq!(withdrawn.status(), 404);
    assert_eq!(
        other.get("/espace-membre/apercu?title=x").await.status(),
        400,
        "a preview needs a whole ad"
    );
    // Nothing public before approval.
    assert_eq!(
        daemon
            .client
            .get(daemon.url(&format!("/annonces/{ad}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // An issue of Les Échos created before the approval does not hold the ad yet.
    let early = env.create_issue("echos-du-reseau").await;

    // The editor sees the queue on the desk's home and approves in one click.
    let staff = signed_in(&daemon, "redaction@example.org").await;
    let home = staff_page(&daemon, "/admin", &staff).await;
    assert!(home.contains("1 annonce à valider"), "{home}");
    let queue = staff_page(&daemon, "/admin/annonces", &staff).await;
    assert!(queue.contains(&format!("data-ad-id=\"{ad}\"")));
    let approved = post_with(
        &daemon,
        &format!("/admin/annonces/{ad}/valider"),
        &staff,
        &[("csrf", &csrf_of(&queue))],
    )
    .await;
    assert_eq!(approved.status(), 200);
    assert!(approved.text().await.unwrap().contains("est validée"));
    let history = member
        .get(&format!("/espace-membre/annonces/{ad}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(history.contains("Validée par la rédaction") && history.contains("Publiée jusqu"));

    // The composer of the earlier issue offers it; one click puts it in.
    let composer = staff_page(&daemon, &format!("/admin/numeros/{early}"), &staff).await;
    assert!(composer.contains("Annonces validées, pas dans ce numéro"));
    let added = post_with(
        &daemon,
        &format!("/admin/numeros/{early}/annonces"),
        &staff,
        &[("csrf", &csrf_of(&composer)), ("ad", &ad.to_string())],
    )
    .await;
    assert_eq!(added.status(), 303);
    let html = rendered(&env, &early, "html").await;
    assert!(html.contains("Dix ordinateurs portables"));

    // The board, its page and its feed show it; the next Échos du Réseau carries it, not
    // its script, with how to answer; Coopdev' info never does.
    let board = daemon
        .text("/annonces?categorie=don-materiel&departement=81")
        .await;
    assert!(board.contains("Dix ordinateurs portables"));
    let elsewhere = daemon.text("/annonces?departement=34").await;
    assert!(!elsewhere.contains("Dix ordinateurs portables"));
    let public = daemon.text(&format!("/annonces/{ad}")).await;
    assert!(public.contains("dons@tarn-solidarite.example") && !public.contains("<script>alert"));
    let feed = daemon.text("/annonces/atom.xml").await;
    assert!(
        feed.contains("Dix ordinateurs portables") && feed.contains(&format!("/annonces/{ad}"))
    );
    let echos = env.create_issue("echos-du-reseau").await;
    let html = rendered(&env, &echos, "html").await;
    assert!(
        html.contains("Dix ordinateurs portables"),
        "the approved ad is in the issue"
    );
    assert!(html.contains("Répondre : courriel dons@tarn-solidarite.example"));
    assert!(
        !html.contains("<script>alert")
            && !html.contains("onerror")
            && !html.contains("javascript:")
    );
    let text = rendered(&env, &echos, "text").await;
    assert!(text.contains("Dix ordinateurs portables") && text.contains("Répondre : courriel"));
    assert!(
        !text.contains("05 63 00 00 00"),
        "a phone number the member did not tick stays private"
    );
    let coopdev = env.create_issue("coopdev-info").await;
    let html = rendered(&env, &coopdev, "html").await;
    assert!(
        !html.contains("Dix ordinateurs portables"),
        "ads never go to Coopdev' info"
    );

    // Withdrawn: gone from the board (410) and from the next issue.
    let csrf = member
        .csrf(&format!("/espace-membre/annonces/{ad}?envoyee=1"))
        .await;
    let asked = member
        .post(
            &format!("/espace-membre/annonces/{ad}/retirer"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(asked.status(), 200, "withdrawing asks once");
    assert!(asked
        .text()
        .await
        .unwrap()
        .contains("Retirer l&#x27;annonce « Dix ordinateurs portables » ?"));
    let done = member
        .post(
            &format!("/espace-membre/annonces/{ad}/retirer"),
            &[("csrf", &csrf), ("confirm", "oui")],
        )
        .await;
    assert_eq!(done.status(), 303);
    let gone = daemon
        .client
        .get(daemon.url(&format!("/annonces/{ad}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    let next = env.create_issue("echos-du-reseau").await;
    let html = rendered(&env, &next, "html").await;
    assert!(
        !html.contains("Dix ordinateurs portables"),
        "a withdrawn ad leaves the next issue"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_reaches_the_member_and_expiry_warns_then_removes_the_ad() {
    let sink = SmtpSink::start(&[]).await;
    let mut env = env_with_members(&sink).await;
    let daemon = env.serve().await;
    let mut member = member_browser(&daemon, &sink, "contact@tarn-solidarite.example").await;
    let refused_ad = post_ad(
        &mut member,
        "Recherche camion",
        "Pour un transport vers Dakar.",
    )
    .await;
    let kept_ad = post_ad(&mut member, "Mission au Bénin", "Six mois à Porto-Novo.").await;

    let staff = signed_in(&daemon, "redaction@example.org").await;
    let queue = staff_page(&daemon, "/admin/annonces", &staff).await;
    let csrf = csrf_of(&queue);
    // A refusal needs its reason.
    let empty = post_with(
        &daemon,
        &format!("/admin/annonces/{refused_ad}/refuser"),
        &staff,
        &[("csrf", &csrf), ("reason", "  ")],
    )
    .await;
    assert_eq!(empty.status(), 422);
    let refused = post_with(
        &daemon,
        &format!("/admin/annonces/{refused_ad}/refuser"),
        &staff,
        &[
            ("csrf", &csrf),
            ("reason", "Précisez la date et le lieu de départ."),
        ],
    )
    .await;
    assert_eq!(refused.status(), 200);
    let mail = mail_to(
        &sink,
        "contact@tarn-solidarite.example",
        "Votre annonce n'a pas été publiée",
        1,
    )
    .await;
    let text = mail.part("text/plain").unwrap();
    assert!(
        text.contains("Précisez la date et le lieu de départ.")
            && text.contains("Recherche camion")
    );
    let area = member.get("/espace-membre").await.text().await.unwrap();
    assert!(area.contains("Refusée") && area.contains("Précisez la date et le lieu de départ."));
    assert!(area.contains("Modifier et renvoyer"));
    // Edited and sent again, it waits for moderation again.
    let csrf_m = member
        .csrf(&format!("/espace-membre/annonces/{refused_ad}"))
        .await;
    let expires = in_days(20);
    let resent = member
        .post(
            &format!("/espace-membre/annonces/{refused_ad}"),
            &ad_form(
                &csrf_m,
                "Recherche camion",
                "Départ de Toulouse le 3 mars.",
                &expires,
            ),
        )
        .await;
    assert_eq!(resent.status(), 303);
    let history = member
        .get(&format!("/espace-membre/annonces/{refused_ad}?envoyee=1"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        history.contains("En attente de validation")
            && history.contains("Refusée par la rédaction")
    );

    // Approved, then a week before its end the member is told, with a link that extends it.
    let approved = post_with(
        &daemon,
        &format!("/admin/annonces/{kept_ad}/valider"),
        &staff,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(approved.status(), 200);
    // The command line cannot slip an ad past moderation, nor into Coopdev' info.
    let echos = env.create_issue("echos-du-reseau").await;
    let pending = env
        .run(&["issue", "add", &echos, "--ad", &refused_ad.to_string()])
        .await;
    assert_ne!(pending.code, 0);
    assert!(
        pending.stderr.contains("n'est pas validée"),
        "{}",
        pending.stderr
    );
    let coopdev = env.create_issue("coopdev-info").await;
    let wrong_title = env
        .run(&["issue", "add", &coopdev, "--ad", &kept_ad.to_string()])
        .await;
    assert_ne!(wrong_title.code, 0);
    assert!(
        wrong_title.stderr.contains("Les Échos du Réseau"),
        "{}",
        wrong_title.stderr
    );

    set_expiry(&env, kept_ad, 3).await;
    let notice = mail_to(
        &sink,
        "contact@tarn-solidarite.example",
        "Votre annonce arrive à échéance",
        1,
    )
    .await;
    let link = find_url(
        notice.part("text/plain").unwrap(),
        &daemon.url("/espace-membre/prolonger/"),
    )
    .expect("an extension link");
    let path = link.trim_start_matches(&daemon.base).to_string();
    let anyone = Browser::new(&daemon).get(&path).await;
    assert_eq!(anyone.status(), 200, "the link works without signing in");
    let extended = Browser::new(&daemon).post(&path, &[]).await;
    assert_eq!(extended.status(), 200);
    assert!(extended.text().await.unwrap().contains("Annonce prolongée"));
    assert_eq!(
        Browser::new(&daemon).post(&path, &[]).await.status(),
        400,
        "once"
    );
    let until = sql_text(
        &env,
        &format!("select cast(expires_on as text) from ads where id = {kept_ad}"),
    )
    .await;
    assert_eq!(until, Some(in_days(33)), "30 more days");

    // Past its date, the daemon's upkeep expires it: it leaves the board and the next issue.
    let echos = env.create_issue("echos-du-reseau").await;
    let html = rendered(&env, &echos, "html").await;
    assert!(html.contains("Mission au Bénin"));
    set_expiry(&env, kept_ad, -1).await;
    let expired = eventually(Duration::from_secs(15), || async {
        daemon
            .client
            .get(daemon.url(&format!("/annonces/{kept_ad}")))
            .send()
            .await
            .unwrap()
            .status()
            == 410
    })
    .await;
    assert!(expired, "an expired ad answers 410");
    let state = eventually(Duration::from_secs(15), || async {
        sql_text(&env, &format!("select state from ads where id = {kept_ad}"))
            .await
            .as_deref()
            == Some("expired")
    })
    .await;
    assert!(state, "the upkeep marked it expired");
    let html = rendered(&env, &echos, "html").await;
    assert!(
        !html.contains("Mission au Bénin"),
        "it left the draft that held it"
    );
    let next = env.create_issue("echos-du-reseau").await;
    let html = rendered(&env, &next, "html").await;
    assert!(!html.contains("Mission au Bénin"));
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_add_a_member_and_accept_a_request_from_the_public_form() {
    let sink = SmtpSink::start(&[]).await;
    let mut env = env_with_members(&sink).await;
    let daemon = env.serve().await;
    let asked = Browser::new(&daemon)
        .post(
            "/espace-membre/adhesion",
            &[
                ("org_name", "Lot Partage"),
                ("contact_name", "Jean Martin"),
                ("email", "jean@lot-partage.example"),
                ("college", "association"),
                ("departement", "46"),
                ("website", ""),
            ],
        )
        .await;
    assert_eq!(asked.status(), 200);
    // Pending: no link yet.
    let mut early = Browser::new(&daemon);
    early
        .post(
            "/espace-membre/connexion",
            &[("email", "jean@lot-partage.example")],
        )
        .await;
    let staff = signed_in(&daemon, "redaction@example.org").await;
    let home = staff_page(&daemon, "/admin", &staff).await;
    assert!(
        home.contains("1 demande d&#x27;adhésion à examiner"),
        "{home}"
    );
    let members = staff_page(&daemon, "/admin/membres", &staff).await;
    let id = sql_text(
        &env,
        "select cast(id as text) from members where email = 'jean@lot-partage.example'",
    )
    .await
    .unwrap();
    let accepted = post_with(
        &daemon,
        &format!("/admin/membres/{id}/accepter"),
        &staff,
        &[("csrf", &csrf_of(&members))],
    )
    .await;
    assert_eq!(accepted.status(), 200);
    let mut jean = member_browser(&daemon, &sink, "jean@lot-partage.example").await;
    assert_eq!(
        sink.complete_messages()
            .iter()
            .filter(|m| m.envelope_to == ["jean@lot-partage.example"])
            .count(),
        1,
        "no link was mailed while the request waited"
    );
    let area = jean.get("/espace-membre").await.text().await.unwrap();
    assert!(area.contains("Lot Partage"));

    // A second person of the organisation, added by staff, signs in for it too.
    let members = staff_page(&daemon, "/admin/membres", &staff).await;
    let added = post_with(
        &daemon,
        &format!("/admin/membres/{id}/personnes"),
        &staff,
        &[
            ("csrf", &csrf_of(&members)),
            ("email", "marie@lot-partage.example"),
            ("name", "Marie"),
        ],
    )
    .await;
    assert_eq!(added.status(), 200);
    let mut marie = member_browser(&daemon, &sink, "marie@lot-partage.example").await;
    let ad = post_ad(
        &mut jean,
        "Conteneur partagé vers Lomé",
        "Place pour deux palettes.",
    )
    .await;
    let seen = marie
        .get(&format!("/espace-membre/annonces/{ad}?envoyee=1"))
        .await;
    assert_eq!(seen.status(), 200, "one organisation, several people");
}
