//! Server-rendered pages: handlebars templates under `templates/web`, wrapped in one layout.

use anyhow::anyhow;
use handlebars::Handlebars;
use serde::Serialize;

use crate::assets::Templates;

pub struct Pages {
    registry: Handlebars<'static>,
    org: String,
    stylesheet: String,
}

#[derive(Serialize)]
pub struct Action {
    pub url: String,
    pub label: String,
}

#[derive(Serialize)]
struct Notice<'a> {
    heading: &'a str,
    paragraphs: &'a [&'a str],
    action: Option<Action>,
}

impl Pages {
    pub fn load(templates: &Templates, org: &str) -> anyhow::Result<Self> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        for name in [
            "layout",
            "home",
            "notice",
            "preferences",
            "interests",
            "archive",
            "login",
            "desk",
            "preview",
            "privacy",
        ] {
            let (text, origin) = templates.read(&format!("web/{name}.html.hbs"))?;
            let registered = if name == "interests" {
                registry.register_partial(name, text)
            } else {
                registry.register_template_string(name, text)
            };
            registered.map_err(|e| anyhow!("{origin}: {e}"))?;
        }
        let (stylesheet, _) = templates.read("web/site.css")?;
        Ok(Self {
            registry,
            org: org.to_string(),
            stylesheet,
        })
    }

    /// The stylesheet every page links to.
    pub fn stylesheet(&self) -> &str {
        &self.stylesheet
    }

    /// A page: `template` rendered with `data`, inside the layout.
    pub fn render<T: Serialize>(
        &self,
        template: &str,
        title: &str,
        data: &T,
    ) -> anyhow::Result<String> {
        self.render_with_feed(template, title, data, None)
    }

    /// A page that announces an Atom feed in its head.
    pub fn render_with_feed<T: Serialize>(
        &self,
        template: &str,
        title: &str,
        data: &T,
        feed: Option<&str>,
    ) -> anyhow::Result<String> {
        let content = self.registry.render(template, data)?;
        Ok(self.registry.render(
            "layout",
            &serde_json::json!({ "title": title, "content": content, "org": self.org, "feed": feed }),
        )?)
    }

    /// A short page with a heading, some paragraphs and optionally one button.
    pub fn notice(
        &self,
        heading: &str,
        paragraphs: &[&str],
        action: Option<Action>,
    ) -> anyhow::Result<String> {
        self.render(
            "notice",
            heading,
            &Notice {
                heading,
                paragraphs,
                action,
            },
        )
    }
}
