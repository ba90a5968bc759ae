//! The two titles and their sections. Both exist without any configuration.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub key: &'static str,
    pub heading: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Newsletter {
    pub slug: &'static str,
    pub name: &'static str,
    /// The name after « de », as French contracts it: « de Coopdev' info », « des Échos du
    /// Réseau ».
    pub of_name: &'static str,
    /// What the reader is told about why they receive it (footer).
    pub tagline: &'static str,
    pub sections: &'static [Section],
    /// Section used when `issue add` names none: watch items and ads go to different places.
    pub default_item_section: &'static str,
    pub default_ad_section: &'static str,
}

pub const KNOWN_NEWSLETTERS: &[Newsletter] = &[
    Newsletter {
        slug: "coopdev-info",
        name: "Coopdev' info",
        of_name: "de Coopdev' info",
        tagline: "la veille sur la coopération et la solidarité internationale",
        sections: &[
            Section {
                key: "appels-a-projets",
                heading: "Appels à projets",
            },
            Section {
                key: "politiques-publiques",
                heading: "Politiques publiques",
            },
            Section {
                key: "agenda",
                heading: "Agenda",
            },
            Section {
                key: "ressources",
                heading: "Ressources",
            },
        ],
        default_item_section: "politiques-publiques",
        default_ad_section: "ressources",
    },
    Newsletter {
        slug: "echos-du-reseau",
        name: "Les Échos du Réseau",
        of_name: "des Échos du Réseau",
        tagline: "les nouvelles du réseau Occitanie Coopération et de ses membres",
        sections: &[
            Section {
                key: "actualites",
                heading: "Actualités des membres",
            },
            Section {
                key: "annonces",
                heading: "Petites annonces",
            },
            Section {
                key: "agenda",
                heading: "Agenda",
            },
            Section {
                key: "volontariat",
                heading: "Volontariat et service civique",
            },
        ],
        default_item_section: "actualites",
        default_ad_section: "annonces",
    },
];

impl Newsletter {
    pub fn find(slug: &str) -> Option<&'static Newsletter> {
        KNOWN_NEWSLETTERS.iter().find(|n| n.slug == slug)
    }

    pub fn section(&self, key: &str) -> Option<&'static Section> {
        self.sections.iter().find(|s| s.key == key)
    }

    /// RFC 2919 list identifier, one per title. The phrase is an RFC 2047 encoded word when
    /// the name is not plain ASCII.
    pub fn list_id(&self, domain: &str) -> String {
        use base64::Engine;
        let phrase = if self.name.is_ascii() {
            format!("\"{}\"", self.name)
        } else {
            format!(
                "=?utf-8?b?{}?=",
                base64::engine::general_purpose::STANDARD.encode(self.name)
            )
        };
        format!("{phrase} <{}.{}>", self.slug, domain)
    }
}

/// The sections of each title, in reading order: the title's own, unless the configuration
/// lists others for it. Entries in a section that no longer exists still show, under its key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sections {
    configured: Vec<(&'static str, Vec<Section>)>,
}

impl Sections {
    /// Replaces the sections of the title `slug`.
    pub fn set(&mut self, slug: &'static str, sections: Vec<Section>) {
        self.configured.retain(|(s, _)| *s != slug);
        self.configured.push((slug, sections));
    }

    pub fn of(&self, n: &Newsletter) -> &[Section] {
        self.configured
            .iter()
            .find(|(slug, _)| *slug == n.slug)
            .map(|(_, sections)| sections.as_slice())
            .unwrap_or(n.sections)
    }

    pub fn find(&self, n: &Newsletter, key: &str) -> Option<&Section> {
        self.of(n).iter().find(|s| s.key == key)
    }

    /// Where `issue add` puts an item (or an ad) when no section is named: the title's usual
    /// section if it is still there, else the first one.
    pub fn default_for(&self, n: &Newsletter, ad: bool) -> &'static str {
        let usual = if ad {
            n.default_ad_section
        } else {
            n.default_item_section
        };
        match self.find(n, usual) {
            Some(s) => s.key,
            None => self.of(n).first().map(|s| s.key).unwrap_or(usual),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_titles_exist_with_their_sections() {
        let coopdev = Newsletter::find("coopdev-info").unwrap();
        assert!(coopdev.section("appels-a-projets").is_some());
        let echos = Newsletter::find("echos-du-reseau").unwrap();
        assert_eq!(
            echos.section("annonces").unwrap().heading,
            "Petites annonces"
        );
        assert!(Newsletter::find("autre").is_none());
        assert_eq!(
            coopdev.list_id("asso.fr"),
            "\"Coopdev' info\" <coopdev-info.asso.fr>"
        );
        assert!(echos.list_id("asso.fr").starts_with("=?utf-8?b?"));
    }

    #[test]
    fn configured_sections_replace_a_titles_own_and_defaults_follow() {
        let echos = Newsletter::find("echos-du-reseau").unwrap();
        let coopdev = Newsletter::find("coopdev-info").unwrap();
        let mut sections = Sections::default();
        assert_eq!(sections.of(echos), echos.sections);
        sections.set(
            "echos-du-reseau",
            vec![
                Section {
                    key: "edito",
                    heading: "Édito",
                },
                Section {
                    key: "annonces",
                    heading: "Annonces",
                },
            ],
        );
        assert_eq!(sections.of(echos).len(), 2);
        assert_eq!(sections.default_for(echos, true), "annonces");
        assert_eq!(
            sections.default_for(echos, false),
            "edito",
            "actualites is gone"
        );
        assert_eq!(
            sections.of(coopdev),
            coopdev.sections,
            "other titles keep theirs"
        );
    }

    #[test]
    fn default_sections_belong_to_their_title() {
        for n in KNOWN_NEWSLETTERS {
            assert!(n.section(n.default_item_section).is_some(), "{}", n.slug);
            assert!(n.section(n.default_ad_section).is_some(), "{}", n.slug);
        }
    }
}
