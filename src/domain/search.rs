//! Full-text search in French that ignores accents and case, the same on both databases.
//!
//! Text is folded here, once, into words of `[a-z0-9]` separated by single spaces; SQLite's
//! FTS5 (`unicode61`) and PostgreSQL's `array_to_tsvector` of the words split on spaces
//! (migration 0022; `to_tsvector('simple', …)` before, which read the same words for two and
//! a half times the work) index exactly those words and neither stem nor drop any, so a query of
//! folded prefixes finds the same items on both.

use unicode_normalization::UnicodeNormalization;

/// At most this many words of a query are used; the rest is ignored.
pub const MAX_TERMS: usize = 8;

/// The words searched for are cut to this many characters (ASCII once folded); a query's terms
/// are at most 40, and match as prefixes.
pub const MAX_WORD: usize = 64;

/// A query's terms are cut to this many characters.
const TERM_CHARS: usize = 40;
const _: () = assert!(TERM_CHARS <= MAX_WORD);

/// Lowercase, without accents, ligatures spelled out, every run of other characters one space.
pub fn fold(text: &str) -> String {
    fold_joined(&[text], usize::MAX)
}

/// [`fold`] of `texts` joined by spaces, each word cut to `max_word` characters, without
/// joining or cutting copies.
pub fn fold_joined(texts: &[&str], max_word: usize) -> String {
    let mut out = String::with_capacity(texts.iter().map(|t| t.len() + 1).sum());
    let mut pending_space = false;
    // Characters of the word being written.
    let mut word = 0;
    let mut push = |c: char, out: &mut String| {
        if c.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
                word = 0;
            }
            pending_space = false;
            if word < max_word {
                out.push(c.to_ascii_lowercase());
                word += 1;
            }
        } else {
            pending_space = true;
        }
    };
    for text in texts {
        decompose(text, true, |c| match c {
            'œ' | 'Œ' => "oe".chars().for_each(|c| push(c, &mut out)),
            'æ' | 'Æ' => "ae".chars().for_each(|c| push(c, &mut out)),
            'ß' => "ss".chars().for_each(|c| push(c, &mut out)),
            c if unicode_normalization::char::is_combining_mark(c) => {}
            c => push(c, &mut out),
        });
        push(' ', &mut out);
    }
    out
}

/// Feeds `f` the characters of `text` in canonical (NFD) or, when `compatible`, compatibility
/// (NFKD) decomposition, exactly as `text.nfd()` or `text.nfkd()` give them.
///
/// ASCII characters go straight to `f` and only the runs of other characters go through the
/// normaliser: an ASCII character has no decomposition and is a starter (combining class 0),
/// so the canonical reordering never crosses it and the decomposition of the whole text is
/// the decompositions of its pieces end to end. Feed text is mostly ASCII, and the streaming
/// normaliser over every character cost most of ingest's folding time.
pub fn decompose(text: &str, compatible: bool, mut f: impl FnMut(char)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii() {
            f(char::from(bytes[i]));
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii() {
            i += 1;
        }
        // Both ends are character boundaries: a run starts at a non-ASCII byte after an
        // ASCII one (or at 0) and ends before an ASCII byte (or at the end).
        let run = &text[start..i];
        if compatible {
            run.nfkd().for_each(&mut f);
        } else {
            run.nfd().for_each(&mut f);
        }
    }
}

/// The words of a search box, folded, at most `MAX_TERMS`, each at most 40 characters.
pub fn terms(query: &str) -> Vec<String> {
    fold(query)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(TERM_CHARS).collect())
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
pub(crate) mod tests {
    use super::*;

    #[test]
    fn accents_case_and_punctuation_fold_away() {
        assert_eq!(
            fold("Développement durable : l'Œuvre d'ÉCOLE (2030) — Sénégal!"),
            "developpement durable l oeuvre d ecole 2030 senegal"
        );
        assert_eq!(fold("  "), "");
    }

    /// French (and less French) texts that exercise accents, case, ligatures, combining
    /// marks written apart and in a non-canonical order, compatibility forms and scripts
    /// without case: shared by the folding tests of tagging and search.
    pub(crate) const FOLD_SAMPLES: &[&str] = &[
        "",
        "  ",
        "Développement durable : l'Œuvre d'ÉCOLE (2030) — Sénégal!",
        "Appel à projets « Eau & assainissement » 2027 : date limite le 15 janvier 2027.",
        "ÉDUCATION À LA CITOYENNETÉ MONDIALE, cœur, Cœur, Æsop, straße, STRASSE",
        "Accès à l'EAU POTABLE au SÉNÉGAL; hôpital, Hôpital, HÔPITAL, hopital",
        "e\u{301}cole, E\u{301}COLE, a\u{323}\u{302} a\u{302}\u{323} q\u{307}\u{323}",
        "İstanbul, ǅemal, ﬁnancement, ｆｕｌｌ ｗｉｄｔｈ, ½, ², Ⅻ, ℌ, ㎏",
        "Łódź, Øresund, ðæ, Þór, Ωmega, ΣΊΣΥΦΟΣ, Москва, 北京, العربية, עברית",
        "\u{a0}non\u{a0}sécable\u{202f}fine, tab\tnew\nline\r\n—–‑-…’‘“”«»",
        "🙂 émoji, ❤\u{fe0f} cœur, 👩\u{200d}💻, \u{feff}bom, zero\u{200b}width",
        "Ouvert jusqu'au 1er mars 2027 inclus ; DATE LIMITE DE DÉPÔT : 2027-03-31",
    ];

    #[test]
    fn folding_gives_what_the_streaming_normaliser_gives() {
        // `fold` used to read `text.nfkd()`: the same characters make the same words.
        for text in FOLD_SAMPLES {
            let mut nfd = String::new();
            decompose(text, false, |c| nfd.push(c));
            assert_eq!(nfd, text.nfd().collect::<String>(), "{text:?}");
            let mut nfkd = String::new();
            decompose(text, true, |c| nfkd.push(c));
            assert_eq!(nfkd, text.nfkd().collect::<String>(), "{text:?}");
        }
    }

    #[test]
    fn folding_texts_together_is_folding_them_joined_then_cutting_words() {
        // What `fold_joined` replaced: a copy of the texts joined by a space, folded, and each
        // word of the result cut.
        let reference = |a: &str, b: &str, max: usize| {
            fold(&format!("{a} {b}"))
                .split(' ')
                .map(|w| &w[..w.len().min(max)])
                .collect::<Vec<_>>()
                .join(" ")
        };
        let long = format!("{}é{} ", "x".repeat(70), "y".repeat(10));
        let mut samples: Vec<&str> = FOLD_SAMPLES.to_vec();
        samples.push(&long);
        for a in &samples {
            for b in &samples {
                for max in [3, MAX_WORD, usize::MAX] {
                    assert_eq!(
                        fold_joined(&[a, b], max),
                        reference(a, b, max),
                        "{a:?} {b:?}"
                    );
                }
            }
        }
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
