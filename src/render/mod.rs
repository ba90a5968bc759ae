//! Rendering: handlebars fills the MJML layout of a title, mrml compiles it to HTML, and a
//! text template makes the plain-text part from the same data. Pure: strings in, strings out.
//!
//! An issue is rendered once with placeholders for what differs per recipient; `personalise`
//! substitutes them into the compiled HTML and text, so sending never re-renders.

mod demo;
mod mail;
mod model;
mod personalise;

pub use demo::demo_issue;

use anyhow::{anyhow, Context};
use handlebars::Handlebars;

use crate::assets::Templates;
use crate::domain::MailKind;

pub use mail::{MailView, RenderedMail};
pub use model::{
    french_date, plain_text, printable_line, printable_text, title_line, truncate, EntryView,
    IssueView, OrgView, PublicPages, SectionView, Selection,
};

/// The publisher, in the default time zone (Europe/Paris).
pub fn model_org(name: &str, postal_address: &str) -> OrgView {
    model_org_in(name, postal_address, chrono_tz::Europe::Paris)
}

pub fn model_org_in(name: &str, postal_address: &str, timezone: chrono_tz::Tz) -> OrgView {
    OrgView {
        name: name.to_string(),
        postal_address: postal_address.to_string(),
        timezone,
    }
}

pub use personalise::{
    Piece, Recipient, RenderedIssue, Value, Values, PLACEHOLDER_GREETING, PLACEHOLDER_PREFERENCES,
    PLACEHOLDER_UNSUBSCRIBE,
};

pub struct Renderer {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
    /// Template or partial name → its file, for error messages.
    files: std::collections::HashMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{template}: {message}")]
    Template { template: String, message: String },
    #[error("the MJML made from {template} does not compile: {message}")]
    Mjml { template: String, message: String },
}

impl Renderer {
    /// Loads every template (the operator's folder overriding the built-in copies) and checks
    /// each newsletter layout and transactional mail by rendering sample data through mrml, so
    /// a broken template stops the start-up instead of a send.
    pub fn load(templates: &Templates) -> anyhow::Result<Self> {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);

        for registry in [&mut html, &mut text] {
            registry.register_helper("plural", Box::new(plural));
        }
        let mut files = std::collections::HashMap::new();
        let mut register = |registry: &mut Handlebars<'static>,
                            name: &str,
                            relative: &str,
                            partial: bool|
         -> anyhow::Result<()> {
            let (source, origin) = templates.read(relative)?;
            let done = if partial {
                registry.register_partial(name, source)
            } else {
                registry.register_template_string(name, source)
            };
            done.map_err(|e| syntax_error(&origin, &e))?;
            files.insert(name.to_string(), origin);
            Ok(())
        };
        for name in templates.names("partials", ".mjml.hbs")? {
            register(&mut html, &name, &format!("partials/{name}.mjml.hbs"), true)?;
        }
        for n in crate::domain::KNOWN_NEWSLETTERS {
            register(
                &mut html,
                n.slug,
                &format!("newsletters/{}.mjml.hbs", n.slug),
                false,
            )?;
        }
        register(&mut text, "text", "newsletters/text.txt.hbs", false)?;
        for kind in MailKind::ALL.iter().filter(|k| k.templated()) {
            let name = kind.as_str();
            register(
                &mut html,
                &mail_template(*kind),
                &format!("mail/{name}.mjml.hbs"),
                false,
            )?;
            register(
                &mut text,
                &mail_template(*kind),
                &format!("mail/{name}.txt.hbs"),
                false,
            )?;
        }

        let renderer = Renderer { html, text, files };
        for n in crate::domain::KNOWN_NEWSLETTERS {
            renderer
                .render_issue(&IssueView::sample(n))
                .with_context(|| format!("template check failed for {}", n.slug))?;
        }
        for kind in MailKind::ALL.iter().filter(|k| k.templated()) {
            renderer
                .render_mail(&MailView::sample(*kind))
                .with_context(|| format!("template check failed for mail/{}", kind.as_str()))?;
        }
        Ok(renderer)
    }

    /// A transactional mail: subject, HTML (from MJML) and text, from the kind's templates.
    pub fn render_mail(&self, view: &MailView) -> Result<RenderedMail, RenderError> {
        let name = mail_template(view.kind);
        let data = handlebars::Context::wraps(view).map_err(|e| self.render_error(&name, &e))?;
        let mjml = self
            .html
            .render_with_context(&name, &data)
            .map_err(|e| self.render_error(&name, &e))?;
        let html = compile_mjml(&mjml).map_err(|message| RenderError::Mjml {
            template: self.file(&name),
            message,
        })?;
        let text = self
            .text
            .render_with_context(&name, &data)
            .map_err(|e| self.render_error(&name, &e))?;
        Ok(RenderedMail {
            subject: view.subject.clone(),
            html,
            text: tidy_text(&text),
        })
    }

    pub fn render_issue(&self, view: &IssueView) -> Result<RenderedIssue, RenderError> {
        let slug = view.newsletter.slug;
        // The view becomes JSON once, for both templates.
        let data = handlebars::Context::wraps(view).map_err(|e| self.render_error(slug, &e))?;
        let mjml = self
            .html
            .render_with_context(slug, &data)
            .map_err(|e| self.render_error(slug, &e))?;
        let html = compile_mjml(&mjml).map_err(|message| RenderError::Mjml {
            template: self.file(slug),
            message,
        })?;
        let text = self
            .text
            .render_with_context("text", &data)
            .map_err(|e| self.render_error("text", &e))?;
        Ok(RenderedIssue::new(
            view.subject.clone(),
            mjml,
            html,
            tidy_text(&text),
        ))
    }

    fn file(&self, name: &str) -> String {
        self.files
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }

    /// `file:line:column: reason`, naming the partial where the error is, not its caller.
    fn render_error(&self, template: &str, e: &handlebars::RenderError) -> RenderError {
        let file = self.file(e.template_name.as_deref().unwrap_or(template));
        let at = match (e.line_no, e.column_no) {
            (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
            _ => file,
        };
        RenderError::Template {
            template: at,
            message: e.reason().to_string(),
        }
    }
}

fn syntax_error(origin: &str, e: &handlebars::TemplateError) -> anyhow::Error {
    match e.pos() {
        Some((line, column)) => anyhow!("{origin}:{line}:{column}: {}", e.reason()),
        None => anyhow!("{origin}: {}", e.reason()),
    }
}

/// The registry name of a transactional mail's templates (one in each registry).
fn mail_template(kind: MailKind) -> String {
    format!("mail/{}", kind.as_str())
}

handlebars::handlebars_helper!(plural: |count: u64, one: str, many: str| {
    format!("{count} {}", if count > 1 { many } else { one })
});

/// HTML from MJML. mrml passes unknown `mj-` elements through untouched where the reference
/// renderer would refuse them, so any left in the output is an error too. Errors name the
/// line of the generated MJML, shown in full.
pub fn compile_mjml(mjml: &str) -> Result<String, String> {
    let at = |offset: usize| {
        let line = mjml[..offset.min(mjml.len())].matches('\n').count() + 1;
        let text = mjml.lines().nth(line - 1).unwrap_or("").trim();
        format!("line {line} of the generated MJML: {text}")
    };
    let parsed = mrml::parse(mjml).map_err(|e| {
        let position = e.to_string();
        let offset = position
            .rsplit("position ")
            .next()
            .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse::<usize>().ok());
        match offset {
            Some(offset) => format!("{e} ({})", at(offset)),
            None => e.to_string(),
        }
    })?;
    let html = parsed
        .element
        .render(&mrml::prelude::render::RenderOptions::default())
        .map_err(|e| e.to_string())?;
    if let Some(offset) = html.find("<mj-").or_else(|| html.find("</mj-")) {
        let element: String = html[offset..]
            .chars()
            .take_while(|c| *c != '>' && *c != ' ')
            .collect();
        let source = mjml.find(&element).map(at).unwrap_or_default();
        return Err(format!("unknown element {element}> ({source})"));
    }
    Ok(html)
}

/// At most one blank line in a row; templates are easier to read with more.
fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        blank = if line.is_empty() { blank + 1 } else { 0 };
        if blank <= 1 {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.trim_start_matches('\n').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Newsletter, KNOWN_NEWSLETTERS};
    use std::path::Path;

    fn renderer() -> Renderer {
        Renderer::load(&Templates::embedded()).unwrap()
    }

    fn big_issue(n: &'static crate::domain::Newsletter, items: usize) -> IssueView {
        let mut view = IssueView::sample(n);
        let entry = |i: usize| {
            EntryView {
            title: format!("Appel à projets numéro {i} pour la coopération décentralisée en Afrique de l'Ouest"),
            url: crate::domain::SafeUrl::parse(&format!("https://www.example.org/appels/{i}?utm_source=relais")).ok(),
            meta: Some("Agence française de développement · 23 novembre 2026".into()),
            excerpt: "Un texte de présentation de deux cent quatre-vingts caractères au plus, qui décrit l'appel, les structures éligibles, les montants et le calendrier, pour que le lecteur sache s'il doit cliquer. ".repeat(2).chars().take(280).collect(),
            deadline: Some("15 janvier 2027".into()),
            is_ad: i.is_multiple_of(5),
            body_html: None,
            body_text: None,
            group_heading: None,
            contact: None,
            category: None,
            base_meta: None,
            topics: Default::default(),
        }
        };
        let per_section = items / view.sections.len();
        for (s, section) in view.sections.iter_mut().enumerate() {
            section.entries = (0..per_section)
                .map(|i| entry(s * per_section + i))
                .collect();
        }
        view
    }

    #[test]
    fn both_titles_render_to_html_and_text_with_their_sections() {
        let r = renderer();
        for n in KNOWN_NEWSLETTERS {
            let out = r.render_issue(&IssueView::sample(n)).unwrap();
            assert!(out.html.starts_with("<!doctype html>"), "{}", n.slug);
            for s in n.sections {
                assert!(
                    out.text.contains(&format!("== {} ==", s.heading)),
                    "{} lacks {}",
                    n.slug,
                    s.heading
                );
            }
            assert!(
                out.html.contains(n.name.replace('\'', "&#x27;").as_str())
                    || out.html.contains(n.name)
            );
        }
    }

    /// `RELAIS_BLESS=1 cargo test --lib golden` rewrites them; review the diff before committing.
    #[test]
    fn each_title_renders_as_its_golden_files() {
        let r = renderer();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        let bless = std::env::var_os("RELAIS_BLESS").is_some();
        for n in KNOWN_NEWSLETTERS {
            let out = r.render_issue(&demo_issue(n, 10)).unwrap();
            let (html, text) = out.personalise(&Recipient {
                name: "Camille",
                unsubscribe_url: "https://relais.example.org/desinscription/JETON",
                preferences_url: "https://relais.example.org/preferences/JETON",
            });
            for (ext, got) in [("mjml", &out.mjml), ("html", &html), ("txt", &text)] {
                let path = dir.join(format!("{}.{ext}", n.slug));
                if bless {
                    std::fs::create_dir_all(&dir).unwrap();
                    std::fs::write(&path, got).unwrap();
                    continue;
                }
                let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                    panic!("{}: {e} (bless with RELAIS_BLESS=1)", path.display())
                });
                if let Some((i, (w, g))) = want
                    .lines()
                    .zip(got.lines())
                    .enumerate()
                    .find(|(_, (w, g))| w != g)
                {
                    panic!("{} line {}:\n want {w}\n  got {g}", path.display(), i + 1);
                }
                assert_eq!(
                    want.lines().count(),
                    got.lines().count(),
                    "{}",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn feed_text_cannot_smuggle_a_placeholder_into_a_message() {
        let r = renderer();
        let n = Newsletter::find("coopdev-info").unwrap();
        let (subject, intro, mut entries) = demo::demo_rows(n, 1);
        entries[0].title = format!("Cliquez {PLACEHOLDER_UNSUBSCRIBE}");
        entries[0].summary = format!("<a href=\"{PLACEHOLDER_UNSUBSCRIBE}\">ici</a>");
        let view = IssueView::build(
            n,
            n.sections,
            &subject,
            &intro,
            &entries,
            model_org("Occitanie Coopération", "Toulouse"),
            PublicPages {
                issue: "https://x/w".into(),
                subscribe: "https://x/".into(),
                archive: "https://x/l".into(),
                post_ad: "https://x/espace-membre".into(),
            },
        );
        let (html, text) = r.render_issue(&view).unwrap().personalise(&Recipient {
            name: "",
            unsubscribe_url: "https://x/u/SECRET",
            preferences_url: "https://x/p/SECRET",
        });
        assert_eq!(
            html.matches("https://x/u/SECRET").count(),
            1,
            "only the footer link"
        );
        assert_eq!(text.matches("https://x/u/SECRET").count(), 1);
    }

    #[test]
    fn ads_are_grouped_by_category_and_filtered_copies_say_what_they_left_out() {
        let r = renderer();
        let n = Newsletter::find("echos-du-reseau").unwrap();
        let full = demo_issue(n, 8);
        let ads = full.sections.iter().find(|s| s.key == "annonces").unwrap();
        let headings: Vec<_> = ads.entries.iter().filter_map(|e| e.group_heading).collect();
        assert_eq!(
            headings,
            [
                "Dons de matériel",
                "Transport partagé",
                "Recherche de partenaires"
            ]
        );
        // A reader in the Hérault (34) only: ads from other départements go, news stays.
        let reader = crate::domain::Interests::from_pairs([("departement", "34")]);
        let copy = full.for_interests(&reader);
        let kept: usize = copy.sections.iter().map(|s| s.entries.len()).sum();
        assert_eq!(kept + copy.left_out, 8);
        assert!(copy.left_out > 0);
        let out = r.render_issue(&copy).unwrap();
        assert!(
            out.text.contains("sujets ne figurent pas ici")
                || out.text.contains("sujet ne figure pas ici")
        );
        assert!(out.html.contains("lire le numéro complet"));
        assert!(!r.render_issue(&full).unwrap().text.contains("ne figure"));
    }

    #[test]
    fn template_errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let copy = |from: &Path, to: &Path| {
            std::fs::create_dir_all(to).unwrap();
            for f in std::fs::read_dir(from).unwrap() {
                let f = f.unwrap().path();
                std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
            }
        };
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for sub in ["partials", "newsletters"] {
            copy(&templates.join(sub), &dir.path().join(sub));
        }
        let broken = |partial: &str, from: &str, to: &str| {
            let path = dir.path().join("partials").join(partial);
            let original = std::fs::read_to_string(&path).unwrap();
            assert!(original.contains(from), "{partial} has no {from}");
            std::fs::write(&path, original.replace(from, to)).unwrap();
            let error = format!(
                "{:#}",
                Renderer::load(&Templates::with_overrides(dir.path(), true).unwrap())
                    .err()
                    .expect("refused")
            );
            std::fs::write(&path, original).unwrap();
            error
        };
        let missing = broken("item-card.mjml.hbs", "{{title}}", "\n{{titre}}");
        assert!(missing.contains("item-card.mjml.hbs:2:1"), "{missing}");
        assert!(missing.contains("titre"), "{missing}");
        let syntax = broken("sections.mjml.hbs", "{{#each entries}}", "{{#each entries}");
        assert!(syntax.contains("sections.mjml.hbs:5:"), "{syntax}");
        let unknown = broken("sections.mjml.hbs", "<mj-column>", "<mj-colonne>");
        assert!(unknown.contains("unknown element <mj-colonne"), "{unknown}");
        assert!(unknown.contains("of the generated MJML"), "{unknown}");
        let sections = dir.path().join("partials/sections.mjml.hbs");
        let original = std::fs::read_to_string(&sections).unwrap();
        std::fs::write(&sections, original.replace("\n", "\r\n")).unwrap();
        assert!(
            Renderer::load(&Templates::with_overrides(dir.path(), true).unwrap()).is_ok(),
            "CRLF line endings are fine"
        );
    }

    #[test]
    fn a_thirty_item_issue_stays_under_gmail_clipping_size() {
        let r = renderer();
        for n in KNOWN_NEWSLETTERS {
            let out = r.render_issue(&big_issue(n, 32)).unwrap();
            assert!(
                out.html.len() < 102 * 1024,
                "{}: {} bytes",
                n.slug,
                out.html.len()
            );
        }
    }

    #[test]
    fn personalising_fills_every_placeholder_and_escapes_names() {
        let r = renderer();
        let mut view = IssueView::sample(&KNOWN_NEWSLETTERS[0]);
        view.urls.unsubscribe = PLACEHOLDER_UNSUBSCRIBE.into();
        view.urls.preferences = PLACEHOLDER_PREFERENCES.into();
        view.recipient.greeting = PLACEHOLDER_GREETING.into();
        let out = r.render_issue(&view).unwrap();
        let (html, text) = out.personalise(&Recipient {
            name: "Zoé <b>",
            unsubscribe_url: "https://x/u/1",
            preferences_url: "https://x/p/1",
        });
        for s in [&html, &text] {
            assert!(!s.contains("__RELAIS_"), "a placeholder survived");
            assert!(s.contains("https://x/u/1") && s.contains("https://x/p/1"));
        }
        assert!(html.contains("Bonjour Zoé &lt;b&gt;, vous"));
        assert!(text.contains("Bonjour Zoé <b>, vous"));
    }
}
