//! What a reader chose to hear about, and which entries of an issue that lets through.
//!
//! The rule matches segments: within one kind (themes, countries, départements) any match
//! will do; across kinds every kind must agree; a kind that the reader or the entry leaves
//! empty says nothing and lets the entry through. So an untagged item reaches everyone.

use std::collections::BTreeSet;

/// A reader's interests; ordered sets, so equal choices make equal cache keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Interests {
    pub themes: BTreeSet<String>,
    pub countries: BTreeSet<String>,
    pub departements: BTreeSet<String>,
}

/// What an entry is about: an item's tags, an ad's département.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topics {
    pub themes: Vec<String>,
    pub countries: Vec<String>,
    pub departement: Option<String>,
}

impl Interests {
    /// From `(kind, value)` rows as stored for subscribers and segments; other kinds are ignored.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut out = Interests::default();
        for (kind, value) in pairs {
            let set = match kind {
                "theme" => &mut out.themes,
                "country" => &mut out.countries,
                "departement" => &mut out.departements,
                _ => continue,
            };
            set.insert(value.to_string());
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.themes.is_empty() && self.countries.is_empty() && self.departements.is_empty()
    }

    pub fn admits(&self, topics: &Topics) -> bool {
        fn agrees<'a>(
            chosen: &BTreeSet<String>,
            mut about: impl Iterator<Item = &'a String>,
        ) -> bool {
            let mut about = about.by_ref().peekable();
            chosen.is_empty() || about.peek().is_none() || about.any(|v| chosen.contains(v))
        }
        agrees(&self.themes, topics.themes.iter())
            && agrees(&self.countries, topics.countries.iter())
            && agrees(&self.departements, topics.departement.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(themes: &[&str], countries: &[&str], dep: Option<&str>) -> Topics {
        Topics {
            themes: themes.iter().map(|s| s.to_string()).collect(),
            countries: countries.iter().map(|s| s.to_string()).collect(),
            departement: dep.map(str::to_string),
        }
    }

    #[test]
    fn a_reader_without_interests_gets_everything() {
        let none = Interests::default();
        assert!(none.admits(&topics(&["sante"], &["SN"], Some("31"))));
    }

    #[test]
    fn kinds_must_all_agree_and_any_value_within_a_kind_will_do() {
        let reader = Interests::from_pairs([
            ("theme", "eau-assainissement"),
            ("theme", "sante"),
            ("country", "SN"),
            ("departement", "34"),
        ]);
        assert!(reader.admits(&topics(&["sante", "formation"], &["SN"], None)));
        assert!(
            !reader.admits(&topics(&["sante"], &["MG"], None)),
            "wrong country"
        );
        assert!(
            !reader.admits(&topics(&["agriculture"], &["SN"], None)),
            "wrong theme"
        );
        assert!(
            reader.admits(&topics(&["sante"], &[], None)),
            "no country said"
        );
        assert!(
            reader.admits(&topics(&[], &[], None)),
            "untagged news reaches everyone"
        );
        assert!(reader.admits(&topics(&[], &[], Some("34"))));
        assert!(
            !reader.admits(&topics(&[], &[], Some("31"))),
            "an ad from elsewhere"
        );
    }

    #[test]
    fn equal_choices_make_equal_keys_whatever_their_order() {
        let a = Interests::from_pairs([("theme", "a"), ("theme", "b"), ("college", "x")]);
        let b = Interests::from_pairs([("theme", "b"), ("theme", "a")]);
        assert_eq!(a, b);
    }
}
