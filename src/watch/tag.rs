//! Tagging: a source's default themes and countries, plus keyword rules matched without
//! regard to case or accents.

use std::collections::BTreeSet;

use aho_corasick::AhoCorasick;

use crate::config::{SourceConfig, TagRule};
use crate::domain::search::decompose;

/// Lower case, accents removed, everything but letters and digits turned into spaces; words
/// separated by one space, with one space before the first and after the last (`"  "` when
/// there is no word), so that `" mot "` finds whole words only.
///
/// Canonical decomposition (NFD), combining marks dropped, then lower case: in that order, so
/// that a mark lower-casing brings back ("İ" gives "i" and a dot) is a word break.
pub fn fold(text: &str) -> String {
    fold_joined(&[text])
}

/// [`fold`] of `texts` joined by spaces, without joining a copy.
fn fold_joined(texts: &[&str]) -> String {
    let mut out = String::with_capacity(texts.iter().map(|t| t.len() + 1).sum::<usize>() + 1);
    out.push(' ');
    // A character that is no letter or digit came since the last one that is.
    let mut gap = false;
    let mut push = |c: char, out: &mut String| {
        if c.is_alphanumeric() {
            if gap && out.len() > 1 {
                out.push(' ');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    };
    for text in texts {
        decompose(text, false, |c| {
            if c.is_ascii() {
                push(c.to_ascii_lowercase(), &mut out);
            } else if !unicode_normalization::char::is_combining_mark(c) {
                c.to_lowercase().for_each(|l| push(l, &mut out));
            }
        });
        push(' ', &mut out);
    }
    out.push(' ');
    out
}

/// The text tagging reads, folded: title and plain text of the summary.
pub fn folded_entry(title: &str, summary_text: &str) -> String {
    fold_joined(&[title, summary_text])
}

/// Keywords, folded, each found as whole words in a folded text; all of them in one pass.
struct Keywords {
    /// The distinct folded keywords, as `fold` pads them.
    patterns: Vec<String>,
    /// For each pattern, the groups (rules) it belongs to.
    owners: Vec<Vec<usize>>,
    /// `None` without patterns, or if the automaton could not be built (then each pattern
    /// is searched on its own).
    automaton: Option<AhoCorasick>,
}

impl Keywords {
    /// `groups[i]` is the keywords of group `i`, as written in the configuration.
    fn new<'a>(groups: impl IntoIterator<Item = &'a [String]>) -> Self {
        let (mut patterns, mut owners): (Vec<String>, Vec<Vec<usize>>) = (Vec::new(), Vec::new());
        for (group, keywords) in groups.into_iter().enumerate() {
            for keyword in keywords {
                let folded = fold(keyword);
                if folded.trim().is_empty() {
                    continue;
                }
                match patterns.iter().position(|p| *p == folded) {
                    Some(i) => owners[i].push(group),
                    None => {
                        patterns.push(folded);
                        owners.push(vec![group]);
                    }
                }
            }
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            AhoCorasick::new(&patterns).ok()
        };
        Keywords {
            patterns,
            owners,
            automaton,
        }
    }

    /// Calls `hit` with the group of every keyword found in `folded` (a group may come more
    /// than once).
    fn for_each_hit(&self, folded: &str, mut hit: impl FnMut(usize)) {
        match &self.automaton {
            // Overlapping: " eau " and " eau potable " are both found in " eau potable ".
            Some(ac) => {
                for m in ac.find_overlapping_iter(folded) {
                    self.owners[m.pattern().as_usize()]
                        .iter()
                        .for_each(|&g| hit(g));
                }
            }
            None => {
                for (pattern, owners) in self.patterns.iter().zip(&self.owners) {
                    if folded.contains(pattern.as_str()) {
                        owners.iter().for_each(|&g| hit(g));
                    }
                }
            }
        }
    }

    fn any(&self, folded: &str) -> bool {
        match &self.automaton {
            Some(ac) => ac.is_match(folded),
            None => self.patterns.iter().any(|p| folded.contains(p.as_str())),
        }
    }
}

/// A source's `keep` words and the keyword rules, folded once for all the entries of a feed.
pub struct Tagger<'a> {
    source: &'a SourceConfig,
    rules: &'a [TagRule],
    keep: Keywords,
    keywords: Keywords,
}

impl<'a> Tagger<'a> {
    pub fn new(source: &'a SourceConfig, rules: &'a [TagRule]) -> Self {
        Tagger {
            source,
            rules,
            keep: Keywords::new([source.keep.as_slice()]),
            keywords: Keywords::new(rules.iter().map(|r| r.keywords.as_slice())),
        }
    }

    /// [`kept`], for the entry's text as [`folded_entry`] gives it.
    pub fn kept(&self, folded: &str) -> bool {
        self.source.keep.is_empty() || self.keep.any(folded)
    }

    /// [`tags_for`], for the entry's text as [`folded_entry`] gives it.
    pub fn tags(&self, folded: &str) -> (Vec<String>, Vec<String>) {
        let mut themes: BTreeSet<String> = self.source.themes.iter().cloned().collect();
        let mut countries: BTreeSet<String> = self.source.countries.iter().cloned().collect();
        let mut hit = vec![false; self.rules.len()];
        self.keywords.for_each_hit(folded, |rule| hit[rule] = true);
        for (rule, _) in self.rules.iter().zip(hit).filter(|(_, hit)| *hit) {
            match rule.kind {
                "theme" => themes.insert(rule.value.clone()),
                _ => countries.insert(rule.value.clone()),
            };
        }
        (
            themes.into_iter().collect(),
            countries.into_iter().collect(),
        )
    }
}

/// Whether an entry of this source is kept: the source names no `keep` words, or the title or
/// summary holds one of them (whole words, without regard to case or accents).
pub fn kept(source: &SourceConfig, title: &str, summary_text: &str) -> bool {
    Tagger::new(source, &[]).kept(&folded_entry(title, summary_text))
}

/// (themes, countries) for an entry of this source.
pub fn tags_for(
    source: &SourceConfig,
    rules: &[TagRule],
    title: &str,
    summary_text: &str,
) -> (Vec<String>, Vec<String>) {
    Tagger::new(source, rules).tags(&folded_entry(title, summary_text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::search::tests::FOLD_SAMPLES;
    use unicode_normalization::UnicodeNormalization;

    /// The folding as it was written first, over the streaming normaliser: the reference.
    fn fold_reference(text: &str) -> String {
        let folded: String = text
            .nfd()
            .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
            .flat_map(char::to_lowercase)
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect();
        format!(
            " {} ",
            folded.split_whitespace().collect::<Vec<_>>().join(" ")
        )
    }

    /// Tagging as it was written first: each keyword folded and searched on its own.
    fn tags_reference(
        source: &SourceConfig,
        rules: &[TagRule],
        title: &str,
        summary_text: &str,
    ) -> (Vec<String>, Vec<String>) {
        let mut themes: BTreeSet<String> = source.themes.iter().cloned().collect();
        let mut countries: BTreeSet<String> = source.countries.iter().cloned().collect();
        let text = fold_reference(&format!("{title} {summary_text}"));
        for rule in rules {
            let hit = rule
                .keywords
                .iter()
                .map(|k| fold_reference(k))
                .filter(|k| !k.trim().is_empty())
                .any(|k| text.contains(&k));
            if hit {
                match rule.kind {
                    "theme" => themes.insert(rule.value.clone()),
                    _ => countries.insert(rule.value.clone()),
                };
            }
        }
        (
            themes.into_iter().collect(),
            countries.into_iter().collect(),
        )
    }

    fn kept_reference(source: &SourceConfig, title: &str, summary_text: &str) -> bool {
        if source.keep.is_empty() {
            return true;
        }
        let text = fold_reference(&format!("{title} {summary_text}"));
        source
            .keep
            .iter()
            .map(|k| fold_reference(k))
            .filter(|k| !k.trim().is_empty())
            .any(|k| text.contains(&k))
    }

    #[test]
    fn folding_gives_what_the_streaming_normaliser_gives() {
        for text in FOLD_SAMPLES {
            assert_eq!(fold(text), fold_reference(text), "{text:?}");
        }
        assert_eq!(fold(""), "  ");
        assert_eq!(fold(" l'Œuvre, À "), " l œuvre a ");
        for title in FOLD_SAMPLES {
            for text in FOLD_SAMPLES {
                let joined = fold_reference(&format!("{title} {text}"));
                assert_eq!(folded_entry(title, text), joined, "{title:?} {text:?}");
            }
        }
    }

    #[test]
    fn the_repository_rules_tag_and_keep_as_before() {
        let sources =
            crate::config::Sources::parse(include_str!("../../sources.toml"), "sources.toml")
                .unwrap();
        let texts: Vec<(String, String)> = FOLD_SAMPLES
            .iter()
            .map(|t| (t.to_string(), String::new()))
            .chain([
                (
                    "Appel à projets : Eau potable et assainissement au Sénégal".into(),
                    "Le ministère lance un appel à propositions pour la santé et l'hôpital \
                     de district ; cofinancement FICOL, date limite le 15 janvier 2027."
                        .into(),
                ),
                (
                    "ÉDUCATION À LA CITOYENNETÉ MONDIALE".into(),
                    "Webinaire sur l'économie sociale et solidaire (ESS) ; volontariat \
                     en service civique, chantier de jeunes. Réfugiés, diaspora et asile."
                        .into(),
                ),
                (
                    "Sécurité alimentaire, agroécologie, élevage".into(),
                    "Crise humanitaire après le séisme ; aide humanitaire et famine. \
                     Santécool, Eaux, assainissements, hygiènes, citoyennete mondiale."
                        .into(),
                ),
                (
                    "Global Europe: civil society and local authorities".into(),
                    "International partnerships, NDICI, DEAR, humanitarian; Afrique, AFRICA, \
                     société civile, collectivités, Solidarité, volunteering, migration."
                        .into(),
                ),
                ("Call for proposals".into(), "semi-conducteurs".into()),
            ])
            .collect();
        let (mut tagged, mut kept_some, mut dropped_some) = (0, false, false);
        for source in &sources.sources {
            let tagger = Tagger::new(source, &sources.rules);
            for (title, text) in &texts {
                let folded = folded_entry(title, text);
                let tags = tagger.tags(&folded);
                assert_eq!(
                    tags,
                    tags_reference(source, &sources.rules, title, text),
                    "{} {title:?} {text:?}",
                    source.slug
                );
                tagged += usize::from(tags.0.len() + tags.1.len() > 1);
                let kept = tagger.kept(&folded);
                assert_eq!(kept, kept_reference(source, title, text), "{title:?}");
                kept_some |= kept && !source.keep.is_empty();
                dropped_some |= !kept;
            }
        }
        assert!(
            tagged > 0 && kept_some && dropped_some,
            "the samples exercise the rules"
        );
    }

    #[test]
    fn keywords_match_whole_words_without_case_or_accents() {
        let source = crate::config::Sources::parse(
            "[[source]]\nslug = \"s\"\nname = \"S\"\nurl = \"https://s.fr\"\nthemes = [\"financement\"]\n",
            "t",
        )
        .unwrap()
        .sources
        .remove(0);
        let rules = vec![
            TagRule {
                kind: "theme",
                value: "eau-assainissement".into(),
                keywords: vec!["assainissement".into(), "eau potable".into()],
            },
            TagRule {
                kind: "country",
                value: "SN".into(),
                keywords: vec!["Sénégal".into()],
            },
            TagRule {
                kind: "theme",
                value: "sante".into(),
                keywords: vec!["santé".into()],
            },
            TagRule {
                kind: "theme",
                value: "eau".into(),
                // The same keyword as another rule's, and one inside it: both rules match.
                keywords: vec!["EAU".into(), "Eau potable".into(), "!!".into()],
            },
        ];
        let (themes, countries) = tags_for(&source, &rules, "Accès à l'EAU POTABLE au SENEGAL", "");
        assert_eq!(themes, vec!["eau", "eau-assainissement", "financement"]);
        assert_eq!(countries, vec!["SN"]);
        let (themes, _) = tags_for(&source, &rules, "Santécool", "");
        assert_eq!(
            themes,
            vec!["financement"],
            "a word inside another word is not a match"
        );
    }

    #[test]
    fn a_source_with_keep_words_keeps_only_the_entries_that_name_one() {
        let parse = |extra: &str| {
            crate::config::Sources::parse(
                &format!("[[source]]\nslug = \"s\"\nname = \"S\"\nurl = \"https://s.fr\"\n{extra}"),
                "t",
            )
            .unwrap()
            .sources
            .remove(0)
        };
        let all = parse("");
        assert!(kept(&all, "Appel sur les semi-conducteurs", ""));
        let broad =
            parse("keep = [\"solidarité internationale\", \"Afrique\", \"développement\"]\n");
        assert!(kept(
            &broad,
            "Call for proposals",
            "Partenariats avec l'AFRIQUE de l'Ouest"
        ));
        assert!(kept(&broad, "Aide au developpement local", ""));
        assert!(!kept(
            &broad,
            "Appel sur les semi-conducteurs",
            "Industrie européenne"
        ));
        assert!(!kept(&broad, "Afriquement vôtre", ""), "whole words only");
        let blank = parse("keep = [\" \", \"!\"]\n");
        assert!(
            !kept(&blank, "Afrique", ""),
            "keep words that fold to nothing"
        );
    }
}
