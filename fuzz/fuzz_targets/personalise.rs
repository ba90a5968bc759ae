//! Personalisation of a compiled copy. An issue whose first entry is fuzzed feed content
//! (title, summary and link, cleaned as at ingest) is compiled, then personalised for a
//! reader with a fuzzed name. Feed content must never move a reader's personal links (no
//! more and no fewer than the layout puts in), and neither the name nor the links may add
//! markup to the HTML.
#![no_main]

use std::sync::OnceLock;

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use relais::domain::IssueEntry;
use relais::domain::Newsletter;
use relais::render::{IssueView, PublicPages, Recipient, Renderer};
use relais::watch::clean::{clean_summary, clean_title};

const UNSUBSCRIBE: &str = "https://relais.example.org/desabonnement/JETON-PERSONNEL-D";
const PREFERENCES: &str = "https://relais.example.org/preferences/JETON-PERSONNEL-P";

struct Fixture {
    renderer: Renderer,
    newsletter: &'static Newsletter,
    /// Personal links in (html, text) of the copy made from harmless entries.
    links: (usize, usize),
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let renderer =
            Renderer::load(&relais::assets::Templates::embedded()).expect("templates load");
        let newsletter = Newsletter::find("coopdev-info").expect("a built-in title");
        let view = view(
            newsletter,
            "Titre",
            "<p>Résumé</p>",
            "https://exemple.org/a",
        );
        let copy = renderer
            .render_issue(&view)
            .expect("harmless issue renders");
        let (html, text) = copy.personalise(&recipient("Marie"));
        let links = (personal_links(&html), personal_links(&text));
        assert!(
            links.0 > 0 && links.1 > 0,
            "the layout carries personal links"
        );
        Fixture {
            renderer,
            newsletter,
            links,
        }
    })
}

fn recipient(name: &str) -> Recipient<'_> {
    Recipient {
        name,
        unsubscribe_url: UNSUBSCRIBE,
        preferences_url: PREFERENCES,
    }
}

fn personal_links(s: &str) -> usize {
    s.matches("JETON-PERSONNEL").count()
}

fn view(newsletter: &'static Newsletter, title: &str, summary: &str, url: &str) -> IssueView {
    let at = chrono::Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let base = url::Url::parse("https://flux.example.org/rss.xml").expect("constant URL");
    let entry = IssueEntry {
        id: 1,
        section: newsletter.default_item_section.into(),
        position: 1,
        item_id: Some(1),
        ad_id: None,
        title: clean_title(title),
        summary: clean_summary(summary, &base),
        url: base.join(url).ok().map(String::from),
        source_name: Some("Veille".into()),
        published_at: Some(at),
        deadline: None,
        category: None,
        org_name: None,
        departement: None,
        expires_on: None,
        themes: vec![],
        countries: vec![],
    };
    IssueView::build(
        newsletter,
        newsletter.sections,
        "Numéro 42",
        "Les nouvelles du mois.",
        &[entry],
        relais::render::model_org(
            "Occitanie Coopération",
            "12 rue de la Solidarité, 31000 Toulouse",
        ),
        PublicPages {
            issue: "https://relais.example.org/lettres/coopdev-info/42".into(),
            subscribe: "https://relais.example.org/".into(),
            archive: "https://relais.example.org/lettres/coopdev-info".into(),
        },
    )
}

fuzz_target!(|input: (String, String, String, String)| {
    let (title, summary, url, name) = input;
    if [&title, &summary, &url, &name]
        .iter()
        .any(|s| s.contains("JETON-PERSONNEL"))
    {
        return;
    }
    let f = fixture();
    let Ok(copy) = f
        .renderer
        .render_issue(&view(f.newsletter, &title, &summary, &url))
    else {
        return;
    };
    let (html, text) = copy.personalise(&recipient(&name));
    assert_eq!(
        (personal_links(&html), personal_links(&text)),
        f.links,
        "feed content moved a reader's personal links"
    );
    assert_eq!(
        html.matches('<').count(),
        copy.html.matches('<').count(),
        "personalisation added markup to the HTML"
    );
});
