//! The data a layout sees. Built from stored rows; serialised for handlebars.
//!
//! This is the boundary where stored text becomes shown text: every string taken from a row
//! loses its control characters here, and every link is a `SafeUrl`, so no template, subject
//! or feed receives either, whatever the database holds.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::{PLACEHOLDER_GREETING, PLACEHOLDER_PREFERENCES, PLACEHOLDER_UNSUBSCRIBE};
use crate::domain::{AdCategory, Interests, IssueEntry, Newsletter, SafeUrl, Section, Topics};

const EXCERPT_CHARS: usize = 280;

#[derive(Debug, Clone, Serialize)]
pub struct IssueView {
    #[serde(serialize_with = "newsletter_fields")]
    pub newsletter: &'static Newsletter,
    pub subject: String,
    /// The subject with the title's name before it, unless the subject already names it
    /// (a title is said once: `<title>`, the text part's first line).
    pub title_line: String,
    /// When the issue went out, in words (« 30 novembre 2026 »), for its web version.
    pub sent_on: Option<String>,
    pub intro: String,
    pub preheader: String,
    /// The editor's own preheader, if any.
    #[serde(skip)]
    pub own_preheader: Option<String>,
    pub sections: Vec<SectionView>,
    /// Entries left out of this copy because they fall outside the reader's interests.
    pub left_out: usize,
    /// The public web page of the issue: no personal links, an invitation to subscribe.
    pub web_version: bool,
    pub org: OrgView,
    pub urls: UrlsView,
    pub recipient: RecipientView,
}

/// One flag per entry of an issue, in reading order: kept or left out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selection(Vec<bool>);

#[derive(Debug, Clone, Serialize)]
pub struct SectionView {
    pub key: String,
    pub heading: String,
    pub entries: Vec<EntryView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    pub title: String,
    /// Only http and https links are links; an entry with any other has none.
    pub url: Option<SafeUrl>,
    pub meta: Option<String>,
    pub excerpt: String,
    /// A call's closing date, shown apart so nobody misses it.
    pub deadline: Option<String>,
    pub is_ad: bool,
    /// An editor's text block: sanitised HTML, and its plain text for the text part.
    pub body_html: Option<String>,
    pub body_text: Option<String>,
    /// Set on the first ad of each category when a section holds only ads.
    pub group_heading: Option<&'static str>,
    /// How to answer an ad: « Répondre : courriel … · tél. … ».
    pub contact: Option<String>,
    #[serde(skip)]
    pub category: Option<AdCategory>,
    /// `meta` before grouping decides whether an ad's category goes in it.
    #[serde(skip)]
    pub base_meta: Option<String>,
    #[serde(skip)]
    pub topics: Topics,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgView {
    pub name: String,
    pub postal_address: String,
    /// The publisher's time zone: dates shown in the issue are its dates.
    #[serde(skip)]
    pub timezone: chrono_tz::Tz,
}

#[derive(Debug, Clone, Serialize)]
pub struct UrlsView {
    pub unsubscribe: String,
    pub preferences: String,
    pub web: String,
    /// Where the web version invites readers to subscribe, and lists past issues.
    pub subscribe: String,
    pub archive: String,
    /// Where members post an ad.
    pub post_ad: String,
}

/// The public pages an issue links to: its own web version, the subscribe form, the archive.
#[derive(Debug, Clone)]
pub struct PublicPages {
    pub issue: String,
    pub subscribe: String,
    pub archive: String,
    /// Where members post an ad (Les Échos du Réseau invites them).
    pub post_ad: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecipientView {
    pub greeting: String,
}

fn newsletter_fields<S: serde::Serializer>(
    n: &&'static Newsletter,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("Newsletter", 3)?;
    st.serialize_field("slug", n.slug)?;
    st.serialize_field("name", n.name)?;
    st.serialize_field("tagline", n.tagline)?;
    st.end()
}

impl IssueView {
    /// The view of a stored issue, with per-recipient placeholders (`web_url` is the issue's
    /// public page). Sections follow the title's order; empty ones are left out.
    pub fn build(
        newsletter: &'static Newsletter,
        layout: &[Section],
        subject: &str,
        intro: &str,
        entries: &[IssueEntry],
        org: OrgView,
        pages: PublicPages,
    ) -> Self {
        let mut sections: Vec<SectionView> = layout
            .iter()
            .map(|s| SectionView {
                key: s.key.into(),
                heading: s.heading.into(),
                entries: vec![],
            })
            .collect();
        for e in entries {
            let view = EntryView::from_row(e, org.timezone);
            match sections.iter_mut().find(|s| s.key == e.section) {
                Some(section) => section.entries.push(view),
                None => sections.push(SectionView {
                    key: e.section.clone(),
                    heading: printable_line(&e.section),
                    entries: vec![view],
                }),
            }
        }
        sections.retain(|s| !s.entries.is_empty());
        sections.iter_mut().for_each(SectionView::group_ads);
        let mut view = IssueView {
            newsletter,
            subject: printable_line(subject),
            title_line: title_line(newsletter, &printable_line(subject)),
            sent_on: None,
            intro: printable_text(intro),
            preheader: String::new(),
            own_preheader: None,
            sections,
            left_out: 0,
            web_version: false,
            org,
            urls: UrlsView {
                unsubscribe: PLACEHOLDER_UNSUBSCRIBE.into(),
                preferences: PLACEHOLDER_PREFERENCES.into(),
                web: pages.issue,
                subscribe: pages.subscribe,
                archive: pages.archive,
                post_ad: pages.post_ad,
            },
            recipient: RecipientView {
                greeting: PLACEHOLDER_GREETING.into(),
            },
        };
        view.preheader = view.make_preheader();
        view
    }

    /// Which entries, in reading order, a reader with these interests gets. Readers whose
    /// selections are equal get the same copy, so copies are cached by selection.
    pub fn selection(&self, interests: &Interests) -> Selection {
        Selection(
            self.sections
                .iter()
                .flat_map(|s| s.entries.iter())
                .map(|e| interests.admits(&e.topics))
                .collect(),
        )
    }

    /// The copy made of the selected entries; those left out are counted, so the layout can
    /// point to the full issue online. Empty sections go.
    pub fn select(&self, selection: &Selection) -> IssueView {
        let mut view = self.clone();
        let mut keep = selection.0.iter().copied();
        for section in &mut view.sections {
            let before = section.entries.len();
            section.entries.retain(|_| keep.next().unwrap_or(true));
            view.left_out += before - section.entries.len();
            section.group_ads();
        }
        view.sections.retain(|s| !s.entries.is_empty());
        view.preheader = view.make_preheader();
        view
    }

    /// The same view with the editor's preheader (blank: the one made from the content).
    pub fn with_preheader(mut self, preheader: &str) -> Self {
        self.own_preheader = Some(printable_line(preheader));
        self.preheader = self.make_preheader();
        self
    }

    pub fn for_interests(&self, interests: &Interests) -> IssueView {
        self.select(&self.selection(interests))
    }

    /// The public web page: the whole issue, with no personal links.
    /// The public web page of the issue, dated by the day it went out.
    pub fn for_web(&self, sent_on: Option<NaiveDate>) -> IssueView {
        let mut view = self.clone();
        view.web_version = true;
        view.sent_on = sent_on.map(french_date);
        view.urls.unsubscribe = view.urls.subscribe.clone();
        view.urls.preferences = view.urls.subscribe.clone();
        view.recipient.greeting = "Vous".into();
        view
    }

    /// The line inbox lists show after the subject, when the editor wrote none: the intro,
    /// or the first titles.
    fn make_preheader(&self) -> String {
        if let Some(own) = self
            .own_preheader
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            truncate(own, 200)
        } else if self.intro.trim().is_empty() {
            self.sections
                .iter()
                .flat_map(|s| s.entries.iter().map(|e| e.title.as_str()))
                .take(3)
                .collect::<Vec<_>>()
                .join(" · ")
        } else {
            truncate(&self.intro, 140)
        }
    }

    /// Small data that exercises every part of a layout (start-up template check).
    pub fn sample(newsletter: &'static Newsletter) -> Self {
        let entry = |is_ad: bool| EntryView {
            title: "Exemple".into(),
            url: SafeUrl::parse("https://example.org/").ok(),
            meta: Some("Source · 1 janvier 2026".into()),
            excerpt: "Texte d'exemple.".into(),
            deadline: (!is_ad).then(|| "1 février 2026".into()),
            is_ad,
            body_html: None,
            body_text: None,
            group_heading: is_ad.then_some("Annonces"),
            contact: is_ad.then(|| "Répondre : contact@example.org".into()),
            category: None,
            base_meta: None,
            topics: Topics::default(),
        };
        let block = EntryView {
            body_html: Some("<p>Un <strong>mot</strong> de la rédaction.</p>".into()),
            body_text: Some("Un mot de la rédaction.".into()),
            url: None,
            meta: None,
            deadline: None,
            group_heading: None,
            ..entry(false)
        };
        IssueView {
            newsletter,
            subject: "Numéro d'exemple".into(),
            title_line: title_line(newsletter, "Numéro d'exemple"),
            sent_on: Some("3 août 2026".into()),
            intro: "Introduction.".into(),
            preheader: "Exemple".into(),
            own_preheader: None,
            sections: newsletter
                .sections
                .iter()
                .map(|s| SectionView {
                    key: s.key.into(),
                    heading: s.heading.into(),
                    entries: vec![block.clone(), entry(false), entry(true)],
                })
                .collect(),
            left_out: 1,
            web_version: false,
            org: OrgView {
                name: "Occitanie Coopération".into(),
                postal_address: "Adresse".into(),
                timezone: chrono_tz::Europe::Paris,
            },
            urls: UrlsView {
                unsubscribe: "https://example.org/u".into(),
                preferences: "https://example.org/p".into(),
                web: "https://example.org/w".into(),
                subscribe: "https://example.org/".into(),
                archive: "https://example.org/lettres/x".into(),
                post_ad: "https://example.org/espace-membre".into(),
            },
            recipient: RecipientView {
                greeting: "Vous".into(),
            },
        }
    }
}

impl SectionView {
    /// A section made only of ads reads as a small board: ads ordered by category, each
    /// category under its own heading. Elsewhere an ad names its category in its meta line.
    fn group_ads(&mut self) {
        let all_ads = self.entries.iter().all(|e| e.is_ad);
        if all_ads {
            let rank = |e: &EntryView| {
                e.category
                    .and_then(|c| AdCategory::ALL.iter().position(|a| *a == c))
                    .unwrap_or(AdCategory::ALL.len())
            };
            self.entries.sort_by_key(rank);
        }
        let mut previous = None;
        for e in self.entries.iter_mut().filter(|e| e.is_ad) {
            let label = e.category.unwrap_or(AdCategory::Autre).label();
            e.group_heading = (all_ads && previous != Some(label)).then_some(label);
            e.meta = match (&e.base_meta, all_ads) {
                (base, true) => base.clone(),
                (Some(base), false) => Some(format!("{label} · {base}")),
                (None, false) => Some(label.to_string()),
            };
            previous = Some(label);
        }
    }
}

impl EntryView {
    fn from_row(e: &IssueEntry, zone: chrono_tz::Tz) -> Self {
        let is_ad = e.ad_id.is_some();
        let category = e.category.as_deref().and_then(AdCategory::parse);
        let mut meta = Vec::new();
        if is_ad {
            if let Some(org) = &e.org_name {
                meta.push(printable_line(org));
            }
            if let Some(d) = &e.departement {
                meta.push(crate::domain::departement_label(d));
            }
            if let Some(d) = e.expires_on {
                meta.push(format!("jusqu'au {}", french_date(d)));
            }
        } else {
            if let Some(source) = &e.source_name {
                meta.push(printable_line(source));
            }
            if let Some(p) = e.published_at {
                meta.push(french_date(p.with_timezone(&zone).date_naive()));
            }
        }
        let meta = (!meta.is_empty()).then(|| inert(&meta.join("\u{a0}· ")));
        EntryView {
            title: inert(&printable_line(&e.title)),
            url: SafeUrl::checked(e.url.as_deref().map(inert_url).as_deref()),
            base_meta: meta.clone(),
            meta,
            excerpt: inert(&truncate(&plain_text(&e.summary), EXCERPT_CHARS)),
            deadline: e.deadline.filter(|_| !is_ad).map(french_date),
            is_ad,
            body_html: e.body_html.as_deref().map(inert),
            // A block keeps its plain text (made from its Markdown) in `summary`.
            body_text: e
                .body_html
                .is_some()
                .then(|| inert(&printable_text(&e.summary))),
            group_heading: None,
            contact: is_ad.then(|| contact_line(e)).flatten(),
            category,
            topics: Topics {
                themes: e.themes.clone(),
                countries: e.countries.clone(),
                departement: e.departement.clone(),
            },
        }
    }
}

/// « Répondre : courriel x@y · tél. 06 … », from what the member chose to show.
fn contact_line(e: &IssueEntry) -> Option<String> {
    let mut ways = Vec::new();
    if let Some(email) = &e.contact_email {
        ways.push(format!("courriel {}", printable_line(email)));
    }
    if let Some(phone) = &e.contact_phone {
        ways.push(format!("tél. {}", printable_line(phone)));
    }
    (!ways.is_empty()).then(|| inert(&format!("Répondre : {}", ways.join("\u{a0}· "))))
}

/// Feed and ad text cannot carry a per-recipient placeholder into the compiled issue.
fn inert(text: &str) -> String {
    text.replace("__RELAIS_", "__RELAIS\u{2060}_")
}

/// The same for a link: an escaped underscore means the same to the server it names.
fn inert_url(url: &str) -> String {
    url.replace("__RELAIS_", "%5F_RELAIS_")
}

/// One line of shown text: line breaks and tabs become spaces, other control characters
/// (C0, DEL, C1) and the code points XML 1.0 refuses go.
pub fn printable_line(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            c if is_unprintable(c) => None,
            c => Some(c),
        })
        .collect()
}

/// Shown text of several lines (an intro): line breaks stay, the rest as `printable_line`.
pub fn printable_text(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .filter_map(|c| match c {
            '\n' => Some('\n'),
            '\t' | '\r' => Some(' '),
            c if is_unprintable(c) => None,
            c => Some(c),
        })
        .collect()
}

fn is_unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}')
}

/// `subject` when it already names the title (any case), else "Title — subject".
pub fn title_line(newsletter: &Newsletter, subject: &str) -> String {
    let names = |s: &str| s.to_lowercase().contains(&newsletter.name.to_lowercase());
    if names(subject) {
        subject.to_string()
    } else {
        format!("{} — {subject}", newsletter.name)
    }
}

pub fn french_date(d: NaiveDate) -> String {
    const MONTHS: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    // No-break spaces: a date never splits across lines.
    format!(
        "{}\u{a0}{}\u{a0}{}",
        d.day(),
        MONTHS[d.month0() as usize],
        d.year()
    )
}

/// Text of sanitised HTML: tags dropped, entities decoded, whitespace collapsed.
pub fn plain_text(html: &str) -> String {
    let spaced = html.replace('<', " <");
    let stripped = ammonia::Builder::empty().clean(&spaced).to_string();
    printable_line(&html_escape::decode_html_entities(&stripped))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// At most `max` characters, cut at a word boundary, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let cut = cut.rsplit_once(' ').map(|(head, _)| head).unwrap_or(&cut);
    format!("{}…", cut.trim_end_matches([',', ';', ':', '.', ' ']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_in_french() {
        assert_eq!(
            french_date(NaiveDate::from_ymd_opt(2026, 8, 3).unwrap()),
            "3\u{a0}août\u{a0}2026"
        );
    }

    #[test]
    fn shown_text_carries_no_control_character() {
        assert_eq!(
            printable_line("Appel\u{1}\u{8} à\tprojets\r\n\u{85}\u{ffff}"),
            "Appel à projets  "
        );
        assert_eq!(printable_text("Un\r\ndeux\u{1b}[31m"), "Un\ndeux[31m");
        assert_eq!(plain_text("<p>a&#1;b &#x7f;c</p>"), "ab c");
    }

    #[test]
    fn entries_link_only_to_web_pages() {
        let n = crate::domain::Newsletter::find("coopdev-info").unwrap();
        let (subject, intro, mut entries) = super::super::demo::demo_rows(n, 3);
        entries[0].url = Some("javascript:alert(document.cookie)".into());
        entries[1].url = Some("https://example.org/__RELAIS_UNSUBSCRIBE_URL__".into());
        entries[2].title = "Titre\u{0}\u{1b} piégé".into();
        let view = IssueView::build(
            n,
            n.sections,
            &subject,
            &intro,
            &entries,
            super::super::model_org("Org", "Adresse"),
            PublicPages {
                issue: "https://x/w".into(),
                subscribe: "https://x/".into(),
                archive: "https://x/l".into(),
                post_ad: "https://x/espace-membre".into(),
            },
        );
        let urls: Vec<_> = view
            .sections
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.url.as_ref().map(SafeUrl::as_str))
            .collect();
        assert!(urls.contains(&None), "{urls:?}");
        assert!(
            urls.contains(&Some("https://example.org/%5F_RELAIS_UNSUBSCRIBE_URL__")),
            "{urls:?}"
        );
        let titles: Vec<_> = view
            .sections
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.title.as_str())
            .collect();
        assert!(titles.contains(&"Titre piégé"), "{titles:?}");
    }

    #[test]
    fn excerpts_are_plain_and_cut_between_words() {
        assert_eq!(
            plain_text("<p>Un&nbsp;<b>appel</b></p><p>ouvert</p>"),
            "Un appel ouvert"
        );
        assert_eq!(truncate("un deux trois quatre", 10), "un deux…");
        assert_eq!(truncate("court", 10), "court");
    }

    #[test]
    fn the_title_is_said_once() {
        let n = crate::domain::Newsletter::find("echos-du-reseau").unwrap();
        assert_eq!(
            title_line(n, "Les Échos du Réseau — 30 novembre 2026"),
            "Les Échos du Réseau — 30 novembre 2026"
        );
        assert_eq!(
            title_line(n, "les échos du réseau de décembre"),
            "les échos du réseau de décembre"
        );
        assert_eq!(
            title_line(n, "Numéro spécial"),
            "Les Échos du Réseau — Numéro spécial"
        );
    }
}
