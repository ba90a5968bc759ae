//! Deadlines of calls for projects, when the entry states one in words ("date limite :
//! 15 janvier 2027", "avant le 15/01/2027", "jusqu'au 1er mars").

use chrono::{Datelike, NaiveDate};

use super::tag::fold;

/// Words that announce a deadline, folded (lower case, no accents, punctuation as spaces).
const TRIGGERS: &[&[&str]] = &[
    &["date", "limite"],
    &["avant", "le"],
    &["jusqu", "au"],
    &["au", "plus", "tard"],
    &["cloture"],
    &["echeance"],
    &["limite", "de", "depot"],
    &["deadline"],
];

/// How many words may stand between the trigger and the date ("avant le lundi 15 …").
const REACH: usize = 6;

/// The first date that follows a trigger in `text`. A date without a year is the next one
/// on or after `reference` (the entry's publication, else today).
pub fn find_deadline(text: &str, reference: NaiveDate) -> Option<NaiveDate> {
    find_deadline_folded(&fold(text), reference)
}

/// [`find_deadline`] in a text already folded (`tag::fold`), so that ingest folds each entry
/// once for tagging and deadlines.
pub fn find_deadline_folded(folded: &str, reference: NaiveDate) -> Option<NaiveDate> {
    // Folded text has words separated by single spaces, and a space at each end.
    let words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    // Where the text after each trigger starts, in one pass over the words.
    let mut hits: Vec<usize> = Vec::new();
    for i in 0..words.len() {
        for trigger in TRIGGERS {
            if words[i..].starts_with(trigger) {
                hits.push(i + trigger.len());
            }
        }
    }
    hits.sort_unstable();
    hits.into_iter().find_map(|after| {
        (after..(after + REACH).min(words.len())).find_map(|i| date_at(&words[i..], reference))
    })
}

/// A date starting at the first word: "15 janvier 2027", "1er mars", "15 01 2027", "2027 01 15".
fn date_at(words: &[&str], reference: NaiveDate) -> Option<NaiveDate> {
    let number = |i: usize| words.get(i).and_then(|w| w.parse::<u32>().ok());
    let year = |i: usize| number(i).filter(|y| (2000..=2100).contains(y));
    if let (Some(y), Some(m), Some(d)) = (year(0), number(1), number(2)) {
        return NaiveDate::from_ymd_opt(y as i32, m, d);
    }
    let first = words.first()?;
    let day: u32 = first.strip_suffix("er").unwrap_or(first).parse().ok()?;
    if !(1..=31).contains(&day) {
        return None;
    }
    let month = words
        .get(1)
        .and_then(|w| month_named(w))
        .or_else(|| number(1).filter(|m| (1..=12).contains(m) && year(2).is_some()))?;
    match year(2) {
        Some(y) => NaiveDate::from_ymd_opt(y as i32, month, day),
        None => {
            let this_year = NaiveDate::from_ymd_opt(reference.year(), month, day)?;
            if this_year >= reference {
                Some(this_year)
            } else {
                NaiveDate::from_ymd_opt(reference.year() + 1, month, day)
            }
        }
    }
}

fn month_named(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "janvier",
        "fevrier",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "aout",
        "septembre",
        "octobre",
        "novembre",
        "decembre",
    ];
    const SHORT: [&str; 12] = [
        "janv", "fevr", "mars", "avr", "mai", "juin", "juil", "aout", "sept", "oct", "nov", "dec",
    ];
    MONTHS
        .iter()
        .position(|m| *m == word)
        .or_else(|| SHORT.iter().position(|m| *m == word))
        .map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn stated_deadlines_are_found_in_their_usual_wordings() {
        let reference = day(2026, 11, 20);
        for (text, expected) in [
            (
                "Dépôt des dossiers. Date limite : 15 janvier 2027.",
                day(2027, 1, 15),
            ),
            ("Candidatures avant le 15/01/2027 à midi", day(2027, 1, 15)),
            ("Ouvert jusqu'au 1er mars 2027 inclus", day(2027, 3, 1)),
            ("Clôture le lundi 2 février 2027", day(2027, 2, 2)),
            ("DATE LIMITE DE DÉPÔT : 2027-03-31", day(2027, 3, 31)),
            ("au plus tard le 5 déc. 2026", day(2026, 12, 5)),
            ("Inscriptions jusqu'au 10 janvier", day(2027, 1, 10)),
            ("jusqu'au 30 novembre", day(2026, 11, 30)),
        ] {
            assert_eq!(find_deadline(text, reference), Some(expected), "{text}");
        }
    }

    #[test]
    fn dates_without_a_deadline_word_or_impossible_dates_are_ignored() {
        let reference = day(2026, 11, 20);
        for text in [
            "Rencontre le 12 décembre 2026 à Montpellier",
            "Publié le 15/01/2027",
            "Date limite : 31 février 2027",
            "Avant le début des travaux, 300 personnes",
        ] {
            assert_eq!(find_deadline(text, reference), None, "{text}");
        }
    }
}
