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
    fn default_sections_belong_to_their_title() {
        for n in KNOWN_NEWSLETTERS {
            assert!(n.section(n.default_item_section).is_some(), "{}", n.slug);
            assert!(n.section(n.default_ad_section).is_some(), "{}", n.slug);
        }
    }
}
