//! Tagging: a source's default themes and countries, plus keyword rules matched without
//! regard to case or accents.

use std::collections::BTreeSet;

use unicode_normalization::UnicodeNormalization;

use crate::config::{SourceConfig, TagRule};

/// Lower case, accents removed, everything but letters and digits turned into spaces.
pub fn fold(text: &str) -> String {
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

/// Whether an entry of this source is kept: the source names no `keep` words, or the title or
/// summary holds one of them (whole words, without regard to case or accents).
pub fn kept(source: &SourceConfig, title: &str, summary_text: &str) -> bool {
    if source.keep.is_empty() {
        return true;
    }
    let text = fold(&format!("{title} {summary_text}"));
    source
        .keep
        .iter()
        .map(|k| fold(k))
        .filter(|k| !k.trim().is_empty())
        .any(|k| text.contains(&k))
}

/// (themes, countries) for an entry of this source.
pub fn tags_for(
    source: &SourceConfig,
    rules: &[TagRule],
    title: &str,
    summary_text: &str,
) -> (Vec<String>, Vec<String>) {
    let mut themes: BTreeSet<String> = source.themes.iter().cloned().collect();
    let mut countries: BTreeSet<String> = source.countries.iter().cloned().collect();
    let text = fold(&format!("{title} {summary_text}"));
    for rule in rules {
        let hit = rule
            .keywords
            .iter()
            .map(|k| fold(k))
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

#[cfg(test)]
mod tests {
    use super::*;

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
        ];
        let (themes, countries) = tags_for(&source, &rules, "Accès à l'EAU POTABLE au SENEGAL", "");
        assert_eq!(themes, vec!["eau-assainissement", "financement"]);
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
    }
}
