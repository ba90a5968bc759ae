//! Members' ads as the newsletter shows them: the body's Markdown made safe, and the card
//! previewed exactly as Les Échos du Réseau prints it.

use url::Url;

use crate::audience::Links;
use crate::domain::ad::AdDraft;
use crate::domain::{IssueEntry, Newsletter};
use crate::render::{model_org_in, IssueView, PublicPages, Recipient, Renderer};

/// The ad's Markdown as sanitised HTML (the same allow-list as feeds and editors' blocks).
pub fn body_html(markdown: &str, base: &Url) -> String {
    super::compose::markdown_block(markdown, base).html
}

/// The entry an ad makes in an issue.
pub fn entry_of(ad: &AdDraft, body_html: &str, org_name: &str, section: &str) -> IssueEntry {
    IssueEntry {
        id: 0,
        section: section.to_string(),
        position: 0,
        item_id: None,
        ad_id: Some(0),
        title: ad.title.clone(),
        summary: body_html.to_string(),
        url: None,
        source_name: None,
        published_at: None,
        deadline: None,
        category: Some(ad.category.as_str().to_string()),
        org_name: Some(org_name.to_string()),
        departement: Some(ad.departement.clone()),
        expires_on: Some(ad.expires_on),
        body_html: None,
        contact_email: ad.contact_email.clone(),
        contact_phone: ad.contact_phone.clone(),
        themes: Vec::new(),
        countries: Vec::new(),
    }
}

/// An issue of Les Échos du Réseau holding only this ad, as HTML: what « Aperçu » shows.
pub fn preview(
    renderer: &Renderer,
    links: &Links,
    masthead: &super::Masthead,
    ad: &AdDraft,
    org_name: &str,
) -> anyhow::Result<String> {
    let n = Newsletter::find("echos-du-reseau").expect("a built-in title");
    let html = body_html(&ad.body, &links.base);
    let entry = entry_of(ad, &html, org_name, masthead.sections.default_for(n, true));
    let view = IssueView::build(
        n,
        masthead.sections.of(n),
        "Aperçu de votre annonce",
        "",
        &[entry],
        model_org_in(
            &masthead.organisation,
            &masthead.postal_address,
            masthead.timezone,
        ),
        PublicPages {
            issue: links.page("/annonces"),
            subscribe: links.page("/"),
            archive: links.page("/lettres/echos-du-reseau"),
            post_ad: links.page("/espace-membre"),
        },
    );
    let rendered = renderer.render_issue(&view)?;
    let home = links.page("/");
    let (html, _) = rendered.personalise(&Recipient {
        name: "",
        unsubscribe_url: &home,
        preferences_url: &home,
    });
    Ok(html)
}
