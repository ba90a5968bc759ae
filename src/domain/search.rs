//! Full-text search in French that ignores accents and case, the same on both databases.
//!
//! Text is folded here, once, into words of `[a-z0-9]` separated by single spaces; SQLite's
//! FTS5 (`unicode61`) and PostgreSQL's `to_tsvector('simple', …)` both split such a string into
//! exactly those words and neither stems nor drops any, so a query of folded prefixes finds
//! the same items on both.

use unicode_normalization::UnicodeNormalization;

/// At most this many words of a query are used; the rest is ignored.
pub const MAX_TERMS: usize = 8;

/// Lowercase, without accents, ligatures spelled out, every run of other characters one space.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    let mut push = |c: char, out: &mut String| {
        if c.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_space = true;
        }
    };
    for c in text.nfkd() {
        match c {
            'œ' | 'Œ' => "oe".chars().for_each(|c| push(c, &mut out)),
            'æ' | 'Æ' => "ae".chars().for_each(|c| push(c, &mut out)),
            'ß' => "ss".chars().for_each(|c| push(c, &mut out)),
            c if unicode_normalization::char::is_combining_mark(c) => {}
            c => push(c, &mut out),
        }
    }
    out
}

/// The words of a search box, folded, at most `MAX_TERMS`, each at most 40 characters.
pub fn terms(query: &str) -> Vec<String> {
    fold(query)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(40).collect())
        .take(MAX_TERMS)
        .collect()
}

/// An FTS5 match expression: every term as a prefix, all required. Terms are `[a-z0-9]+`, so
/// quoting them cannot be escaped from.
pub fn fts5_query(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{t}\"*"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A PostgreSQL `to_tsquery('simple', …)` expression with the same meaning.
pub fn tsquery(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("{t}:*"))
        .collect::<Vec<_>>()
        .join(" & ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_case_and_punctuation_fold_away() {
        assert_eq!(
            fold("Développement durable : l'Œuvre d'ÉCOLE (2030) — Sénégal!"),
            "developpement durable l oeuvre d ecole 2030 senegal"
        );
        assert_eq!(fold("  "), "");
    }

    #[test]
    fn queries_keep_words_only_and_cannot_inject_syntax() {
        let t = terms("\"eau\" OR * NEAR(santé) -x ");
        assert_eq!(t, ["eau", "or", "near", "sante", "x"]);
        assert_eq!(fts5_query(&t[..2]), "\"eau\"* \"or\"*");
        assert_eq!(tsquery(&t[..2]), "eau:* & or:*");
        assert_eq!(terms("a b c d e f g h i j").len(), MAX_TERMS);
    }
}
