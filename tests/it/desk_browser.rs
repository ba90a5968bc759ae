//! The desk in a real browser (headless Chromium, desktop-sized): an editor triages with the
//! keyboard, composes an issue in two sections and reorders it, previews it at phone width,
//! sends a test, approves, sends to a segment and watches the counts reach the end; axe-core
//! finds no serious or critical problem on any desk page.

use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::browser::{browser_at, wait_for_text};
use crate::helpers::*;
use crate::pipeline::env_with_feed;

const PASSWORD: &str = "correct horse battery staple";

/// Serious and critical axe-core violations of the page, as "rule (impact): help (nodes)".
async fn serious_violations(browser: &Client, axe: &str) -> Vec<String> {
    crate::browser::axe_violations_at(browser, axe, &["serious", "critical"]).await
}

async fn press(browser: &Client, keys: &str) {
    let focused = browser.active_element().await.unwrap();
    for key in keys.chars() {
        focused.send_keys(&key.to_string()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn click(browser: &Client, xpath: &str) {
    browser
        .find(Locator::XPath(xpath))
        .await
        .unwrap_or_else(|_| panic!("an element {xpath}"))
        .click()
        .await
        .unwrap();
}

/// Waits until `script` (an expression) is true in the page.
async fn until(browser: &Client, script: &str) -> bool {
    for _ in 0..100 {
        let v = browser
            .execute(&format!("return !!({script});"), vec![])
            .await
            .unwrap_or_default();
        if v == serde_json::Value::Bool(true) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn an_editor_works_the_week_in_a_browser_with_the_keyboard_and_the_mouse() {
    let Some(axe) = crate::browser::chromium_and_axe() else {
        return;
    };
    let (mut env, _server) = env_with_feed().await;
    env.run(&["fetch"]).await.ok();
    env.run_with_stdin(
        &["user", "add", "redaction@example.org", "--role", "editor"],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    env.import(
        "email,newsletters,countries\nawa@example.org,coopdev-info,SN\nbob@example.org,coopdev-info,MG\nchloe@example.org,coopdev-info,SN\n",
    )
    .await
    .ok();
    env.run(&[
        "segment",
        "add",
        "senegal",
        "--newsletter",
        "coopdev-info",
        "--country",
        "SN",
    ])
    .await
    .ok();
    let sink = SmtpSink::start(&[]).await;
    env.set("RELAIS_SMTP_URL", sink.url());
    let daemon = env.serve().await;
    let (_driver, browser) = browser_at(None).await;
    let mut problems = Vec::new();

    // Sign in.
    browser.goto(&daemon.url("/admin/login")).await.unwrap();
    browser
        .find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys("redaction@example.org")
        .await
        .unwrap();
    browser
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    click(&browser, "//button[@type='submit']").await;
    wait_for_text(&browser, "Rédaction").await;

    // Triage the three new items with the keyboard: select, dismiss, select.
    browser.goto(&daemon.url("/admin/veille")).await.unwrap();
    wait_for_text(&browser, "élément(s) correspondent").await;
    problems.extend(
        serious_violations(&browser, &axe)
            .await
            .into_iter()
            .map(|v| format!("veille: {v}")),
    );
    press(&browser, "?").await;
    assert!(
        until(&browser, "!document.getElementById('aide-clavier').hidden").await,
        "? shows the keys"
    );
    press(&browser, "\u{e00c}").await; // Escape
    assert!(
        until(&browser, "document.getElementById('aide-clavier').hidden").await,
        "Escape hides them"
    );
    press(&browser, "j").await;
    press(&browser, "s").await;
    press(&browser, "x").await;
    // The third one goes to the other title, chosen beside the keys' help.
    browser
        .find(Locator::Css("#k-titre"))
        .await
        .unwrap()
        .select_by_value("echos-du-reseau")
        .await
        .unwrap();
    browser
        .execute(
            "document.activeElement.blur(); document.querySelectorAll('li.row')[2].focus();",
            vec![],
        )
        .await
        .unwrap();
    press(&browser, "s").await;
    let triaged = until(
        &browser,
        "document.querySelectorAll('li.row[data-done]').length === 3",
    )
    .await;
    assert!(triaged, "the three rows are triaged in place");
    let items = env.run(&["items", "--json"]).await.ok().json_lines();
    let mut states: Vec<String> = items
        .iter()
        .map(|i| i["status"].as_str().unwrap().to_string())
        .collect();
    states.sort();
    assert_eq!(states, ["dismissed", "selected", "selected"]);
    browser
        .goto(&daemon.url("/admin/veille?etat=selected"))
        .await
        .unwrap();
    wait_for_text(&browser, "retenu pour Les Échos du Réseau").await;
    wait_for_text(&browser, "retenu pour Coopdev' info").await;
    // On second thoughts, that one goes to Coopdev' info too: ticked, then the bulk button.
    let echos_row = browser
        .find(Locator::XPath(
            "//li[contains(@class,'row')][.//p[contains(.,'retenu pour Les Échos du Réseau')]]",
        ))
        .await
        .unwrap();
    echos_row
        .find(Locator::Css("input[type=checkbox]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(
        &browser,
        "//div[@class='bulk']/button[normalize-space()=\"Sélectionner pour Coopdev' info\"]",
    )
    .await;
    wait_for_text(&browser, "Éléments cochés").await;
    assert!(
        until(
            &browser,
            "!document.body.innerText.includes('retenu pour Les Échos du Réseau')"
        )
        .await,
        "both selected items are now for Coopdev' info"
    );
    browser.goto(&daemon.url("/admin/veille")).await.unwrap();
    wait_for_text(&browser, "Rien ne correspond").await;

    // An item's edit form.
    let first = items[0]["id"].as_i64().unwrap();
    browser
        .goto(&daemon.url(&format!("/admin/veille/{first}")))
        .await
        .unwrap();
    wait_for_text(&browser, "Modifier un élément").await;
    problems.extend(
        serious_violations(&browser, &axe)
            .await
            .into_iter()
            .map(|v| format!("modifier: {v}")),
    );

    // Compose: a new issue holds the two selected items; move one to another section.
    browser.goto(&daemon.url("/admin/numeros")).await.unwrap();
    problems.extend(
        serious_violations(&browser, &axe)
            .await
            .into_iter()
            .map(|v| format!("numeros: {v}")),
    );
    click(&browser, "//button[normalize-space()='Créer le numéro']").await;
    wait_for_text(&browser, "Numéro créé").await;
    problems.extend(
        serious_violations(&browser, &axe)
            .await
            .into_iter()
            .map(|v| format!("composer: {v}")),
    );
    let entries = browser.find_all(Locator::Css("li.entry")).await.unwrap();
    assert_eq!(entries.len(), 2, "the two selected items");
    // The first entry goes to « Appels à projets » through its menu.
    let first_entry = &entries[0];
    let label = first_entry
        .find(Locator::Css(".label"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    first_entry
        .find(Locator::Css("select[name=rubrique]"))
        .await
        .unwrap()
        .select_by_value("appels-a-projets")
        .await
        .unwrap();
    first_entry
        .find(Locator::XPath(".//button[normalize-space()='Déplacer']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&browser, "Entrée déplacée").await;
    let in_calls = browser
        .find(Locator::Css(
            "section[data-section='appels-a-projets'] li.entry .label",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(in_calls, label, "two sections now");
    // A text block, then moved up above the remaining item with its button.
    browser
        .find(Locator::Css("#a-rubrique"))
        .await
        .unwrap()
        .select_by_value("politiques-publiques")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#a-texte"))
        .await
        .unwrap()
        .send_keys("Le mot de la **rédaction**.")
        .await
        .unwrap();
    click(&browser, "//button[normalize-space()='Ajouter le texte']").await;
    wait_for_text(&browser, "Texte enregistré").await;
    click(&browser, "//section[@data-section='politiques-publiques']//li[last()]//button[normalize-space()='↑']").await;
    wait_for_text(&browser, "Entrée déplacée").await;
    let first_in_section = browser
        .find(Locator::Css(
            "section[data-section='politiques-publiques'] li.entry .kind",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        first_in_section.to_lowercase(),
        "texte",
        "the block now leads its section"
    );

    // Preview at phone width.
    browser
        .find(Locator::Css("#v-largeur"))
        .await
        .unwrap()
        .select_by_value("375")
        .await
        .unwrap();
    click(&browser, "//button[normalize-space()='Afficher']").await;
    assert!(
        until(
            &browser,
            "document.querySelector('iframe.issue-frame').getAttribute('width') === '375'"
        )
        .await
    );

    // A test, then approval.
    click(
        &browser,
        "//button[normalize-space()=\"M'envoyer un test\"]",
    )
    .await;
    wait_for_text(&browser, "Essai envoyé").await;
    let test = sink.wait_for(1).await;
    assert_eq!(test[0].envelope_to, ["redaction@example.org"]);
    click(&browser, "//button[normalize-space()='Valider']").await;
    wait_for_text(&browser, "Validé par redaction@example.org").await;

    // Send to the Sénégal segment: the count first, then the progress to the end.
    browser
        .find(Locator::Css("#s-segment"))
        .await
        .unwrap()
        .select_by_value("senegal")
        .await
        .unwrap();
    click(
        &browser,
        "//button[normalize-space()='Envoyer maintenant…']",
    )
    .await;
    wait_for_text(
        &browser,
        "Ce numéro partira à 2 abonné(s) (segment : senegal)",
    )
    .await;
    problems.extend(
        serious_violations(&browser, &axe)
            .await
            .into_iter()
            .map(|v| format!("envoyer: {v}")),
    );
    click(
        &browser,
        "//button[normalize-space()='Envoyer à 2 abonné(s)']",
    )
    .await;
    wait_for_text(&browser, "Envoi terminé").await;
    let sent = browser
        .find(Locator::Css("[data-count=sent]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(sent, "2");
    problems.extend(
        serious_violations(&browser, &axe)
            .await
            .into_iter()
            .map(|v| format!("suivi: {v}")),
    );
    let delivered = sink.wait_for(3).await;
    let mut to: Vec<String> = delivered
        .iter()
        .skip(1)
        .flat_map(|m| m.envelope_to.clone())
        .collect();
    to.sort();
    let received: Vec<String> = delivered
        .iter()
        .map(|m| format!("{:?} {:?}", m.envelope_to, m.header("Subject")))
        .collect();
    assert_eq!(
        to,
        ["awa@example.org", "chloe@example.org"],
        "exactly the segment; the relay received {received:#?}"
    );

    for path in [
        "/admin/sources",
        "/admin/sources/nouvelle",
        "/admin/sources/veille/modifier",
        "/admin/mot-de-passe",
        "/admin",
        "/admin/abonnes?q=example",
        "/admin/abonnes/1",
    ] {
        browser.goto(&daemon.url(path)).await.unwrap();
        problems.extend(
            serious_violations(&browser, &axe)
                .await
                .into_iter()
                .map(|v| format!("{path}: {v}")),
        );
    }

    // An editor is refused the team page.
    browser.goto(&daemon.url("/admin/equipe")).await.unwrap();
    wait_for_text(&browser, "Accès réservé").await;

    let _ = browser.close().await;
    assert!(
        problems.is_empty(),
        "axe-core finds:\n{}",
        problems.join("\n")
    );
}
