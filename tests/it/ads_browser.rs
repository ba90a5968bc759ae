//! A small association posts an ad from a phone, in headless Chromium: it asks for a link,
//! opens the one smtp-sink captured, fills the form, previews the card, sends it; an editor
//! approves it in the desk; the board shows it. axe-core finds no serious or critical problem
//! on the member's pages and the board, and nothing scrolls sideways at 375 px.
//!
//! With `RELAIS_SCREENSHOTS=DIR`, the member area, the ad form with its preview and the board
//! are saved there as PNG (`scripts/screenshots.sh` writes them to `docs/`).

use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::browser::{assert_fits_phone, browser_at, click_button, wait_for_text};
use crate::helpers::*;

const PASSWORD: &str = "correct horse battery staple";

async fn fill(browser: &Client, css: &str, text: &str) {
    let field = browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("a field {css}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn choose(browser: &Client, select: &str, value: &str) {
    browser
        .find(Locator::Css(&format!("{select} option[value='{value}']")))
        .await
        .unwrap_or_else(|_| panic!("an option {value} in {select}"))
        .click()
        .await
        .unwrap();
}

/// Serious and critical axe-core violations of the page.
async fn serious(browser: &Client, axe: &str) -> Vec<String> {
    crate::browser::axe_violations_at(browser, axe, &["serious", "critical"]).await
}

async fn shoot(browser: &Client, name: &str) {
    let Some(dir) = std::env::var_os("RELAIS_SCREENSHOTS") else {
        return;
    };
    let png = browser.screenshot().await.unwrap();
    std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_small_association_posts_an_ad_from_a_phone_and_sees_it_published_once_approved() {
    let Some(axe) = crate::browser::chromium_and_axe() else {
        return;
    };
    let sink = SmtpSink::start(&[]).await;
    let mut env = TestEnv::new().await;
    env.set("RELAIS_SMTP_URL", sink.url());
    env.run(&[
        "member",
        "add",
        "contact@tarn-solidarite.example",
        "--org",
        "Tarn Solidarité",
        "--departement",
        "81",
        "--contact",
        "Awa Diallo",
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
    let (_phone_driver, phone) = browser_at(Some(375)).await;
    let mut problems = Vec::new();

    // From the home page to the sign-in form.
    phone.goto(&daemon.url("/")).await.unwrap();
    phone
        .find(Locator::LinkText("Publier une petite annonce"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&phone, "Espace membre").await;
    problems.extend(serious(&phone, &axe).await);
    fill(&phone, "#email", "contact@tarn-solidarite.example").await;
    click_button(&phone, "Recevoir mon lien de connexion").await;
    wait_for_text(&phone, "Vérifiez votre messagerie").await;

    // The link arrives; opened in the same browser, one button enters.
    assert!(
        eventually(Duration::from_secs(15), || async {
            !sink.complete_messages().is_empty()
        })
        .await,
        "the sign-in mail arrives"
    );
    let mail = sink.complete_messages().remove(0);
    let link = find_url(
        mail.part("text/plain").unwrap(),
        &daemon.url("/espace-membre/entrer/"),
    )
    .unwrap();
    phone.goto(&link).await.unwrap();
    click_button(&phone, "Entrer dans l'espace membre").await;
    wait_for_text(&phone, "Vos petites annonces").await;
    problems.extend(serious(&phone, &axe).await);
    assert_fits_phone(&phone).await;

    // The form: a mistake is named next to its field and the rest stays filled in.
    phone
        .find(Locator::LinkText("Nouvelle annonce"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&phone, "Comment vous répondre").await;
    choose(&phone, "#category", "transport-partage").await;
    fill(&phone, "#title", "Place dans un conteneur pour Dakar").await;
    fill(
        &phone,
        "#body",
        "Nous envoyons un conteneur en **mars** :\n\n- deux palettes libres\n- départ de Toulouse",
    )
    .await;
    choose(&phone, "#departement", "81").await;
    choose(&phone, "#country", "SN").await;
    // A phone number with letters: refused, said where.
    phone
        .find(Locator::Css("input[name=show_phone]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(&phone, "#contact_phone", "appelez-nous").await;
    click_button(&phone, "Aperçu").await;
    wait_for_text(&phone, "Ce numéro n'est pas valide").await;
    let kept = phone
        .find(Locator::Css("#title"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("Place dans un conteneur pour Dakar"));
    problems.extend(serious(&phone, &axe).await);
    fill(&phone, "#contact_phone", "05 63 12 34 56").await;
    click_button(&phone, "Aperçu").await;
    wait_for_text(&phone, "Aperçu, tel qu'il paraîtra").await;
    let frame = phone
        .find(Locator::Css("iframe.preview"))
        .await
        .unwrap()
        .attr("src")
        .await
        .unwrap()
        .unwrap();
    assert!(frame.starts_with("/espace-membre/apercu?"), "{frame}");
    assert_fits_phone(&phone).await;
    shoot(&phone, "membre-annonce").await;
    click_button(&phone, "Envoyer pour validation").await;
    wait_for_text(&phone, "En attente de validation").await;
    phone
        .find(Locator::LinkText("← Vos annonces"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&phone, "Place dans un conteneur pour Dakar").await;
    shoot(&phone, "membre-espace").await;

    // An editor approves it in the desk.
    let (_desk_driver, desk) = browser_at(None).await;
    desk.goto(&daemon.url("/admin/login")).await.unwrap();
    fill(&desk, "input[name=email]", "redaction@example.org").await;
    fill(&desk, "input[name=password]", PASSWORD).await;
    click_button(&desk, "Se connecter").await;
    wait_for_text(&desk, "1 annonce à valider").await;
    desk.find(Locator::LinkText("1 annonce à valider"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&desk, "À valider (1)").await;
    problems.extend(serious(&desk, &axe).await);
    click_button(&desk, "Valider").await;
    wait_for_text(&desk, "est validée").await;

    // The member sees it published; the board shows it, with how to answer.
    phone.goto(&daemon.url("/espace-membre")).await.unwrap();
    wait_for_text(&phone, "Publiée jusqu'au").await;
    phone.goto(&daemon.url("/annonces")).await.unwrap();
    wait_for_text(&phone, "Place dans un conteneur pour Dakar").await;
    problems.extend(serious(&phone, &axe).await);
    assert_fits_phone(&phone).await;
    shoot(&phone, "annonces").await;
    phone
        .find(Locator::LinkText("Place dans un conteneur pour Dakar"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&phone, "Par téléphone : 05 63 12 34 56").await;
    let strong = phone
        .find(Locator::Css(".ad-body strong"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        strong, "mars",
        "the Markdown is formatted, not shown as stars"
    );
    problems.extend(serious(&phone, &axe).await);
    assert!(problems.is_empty(), "axe-core: {problems:#?}");
}
