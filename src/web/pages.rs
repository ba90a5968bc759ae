//! Server-rendered pages: handlebars templates under `templates/web`, wrapped in one layout.

use anyhow::anyhow;
use handlebars::Handlebars;
use serde::Serialize;

use crate::assets::Templates;

pub struct Pages {
    registry: Handlebars<'static>,
    org: String,
    stylesheet: String,
    desk_script: String,
}

/// What every desk page shows around its content: who is signed in, where they are.
#[derive(Serialize)]
pub struct DeskChrome {
    pub email: String,
    pub csrf: String,
    /// `veille`, `numeros`, … : the navigation marks it as the current page.
    pub section: &'static str,
    /// Seconds after which the page reloads itself (a send in progress, without script).
    pub refresh: Option<u32>,
    /// Admins also see the team page.
    pub admin: bool,
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
            "inbox",
            "item",
            "issues",
            "composer",
            "send",
            "report",
            "team",
            "sources",
            "people",
            "source-fields",
            "source-new",
            "source-edit",
            "resend",
            "cancel",
            "person",
            "password",
            "privacy",
            "member-nav",
            "ad-fields",
            "member-ask",
            "member-sent",
            "member-enter",
            "member-join",
            "member-area",
            "member-ad-form",
            "member-ad",
            "member-confirm",
            "member-extend",
            "moderation",
            "moderation-edit",
            "members",
            "board",
            "board-ad",
            "schedule",
        ] {
            let (text, origin) = templates.read(&format!("web/{name}.html.hbs"))?;
            let registered = if matches!(
                name,
                "interests" | "source-fields" | "member-nav" | "ad-fields"
            ) {
                registry.register_partial(name, text)
            } else {
                registry.register_template_string(name, text)
            };
            registered.map_err(|e| anyhow!("{origin}: {e}"))?;
        }
        let (stylesheet, _) = templates.read("web/site.css")?;
        let (desk_script, _) = templates.read("web/desk.js")?;
        Ok(Self {
            registry,
            org: org.to_string(),
            stylesheet,
            desk_script,
        })
    }

    /// The stylesheet every page links to.
    pub fn stylesheet(&self) -> &str {
        &self.stylesheet
    }

    /// The desk's script.
    pub fn desk_script(&self) -> &str {
        &self.desk_script
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
            &serde_json::json!({ "title": title, "content": content, "org": self.org, "feed": feed, "desk": null }),
        )?)
    }

    /// A desk page: the desk's navigation and its script around the content.
    pub fn render_desk<T: Serialize>(
        &self,
        template: &str,
        title: &str,
        chrome: &DeskChrome,
        data: &T,
    ) -> anyhow::Result<String> {
        let content = self.registry.render(template, data)?;
        Ok(self.registry.render(
            "layout",
            &serde_json::json!({ "title": title, "content": content, "org": self.org, "feed": null, "desk": chrome }),
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
