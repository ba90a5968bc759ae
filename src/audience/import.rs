//! CSV import of subscribers: every line is checked on its own; good lines go in, bad lines
//! are reported with their line number and reason.

use std::io::Read;

use super::request::{validate, NoTitle, RawRequest};
use crate::store::NewSubscriber;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Line in the file, the header being line 1.
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("fichier illisible : {0}")]
    Unreadable(String),
    #[error("la colonne `email` manque dans l'en-tête")]
    NoEmailColumn,
    #[error("colonne inconnue `{0}` (colonnes possibles : email, name, newsletters, themes, countries, departements, college)")]
    UnknownColumn(String),
}

/// Good lines (with their line number) and rejected ones.
pub type Parsed = (Vec<(u64, NewSubscriber)>, Vec<Rejected>);

const COLUMNS: &[&str] = &[
    "email",
    "name",
    "newsletters",
    "themes",
    "countries",
    "departements",
    "college",
];

/// Parses the whole file first: a file that cannot be read at all changes nothing.
pub fn parse_csv(reader: impl Read) -> Result<Parsed, ImportError> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|e| ImportError::Unreadable(e.to_string()))?
        .clone();
    for h in headers.iter() {
        if !COLUMNS.contains(&h) {
            return Err(ImportError::UnknownColumn(h.to_string()));
        }
    }
    let column = |name: &str| headers.iter().position(|h| h == name);
    let email_col = column("email").ok_or(ImportError::NoEmailColumn)?;
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for record in csv.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                bad.push(Rejected {
                    line,
                    reason: format!("ligne illisible : {e}"),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.len() != headers.len() {
            bad.push(Rejected {
                line,
                reason: format!("{} colonnes au lieu de {}", record.len(), headers.len()),
            });
            continue;
        }
        let field = |name: &str| column(name).and_then(|i| record.get(i)).unwrap_or("");
        match parse_line(record.get(email_col).unwrap_or(""), field) {
            Ok(s) => good.push((line, s)),
            Err(reason) => bad.push(Rejected { line, reason }),
        }
    }
    Ok((good, bad))
}

fn list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(';').map(str::trim).filter(|v| !v.is_empty())
}

fn parse_line<'a>(
    email: &'a str,
    field: impl Fn(&str) -> &'a str,
) -> Result<NewSubscriber, String> {
    let raw = RawRequest {
        email,
        name: field("name"),
        newsletters: list(field("newsletters")).collect(),
        themes: list(field("themes")).collect(),
        countries: list(field("countries")).collect(),
        departements: list(field("departements")).collect(),
        college: Some(field("college")).filter(|c| !c.is_empty()),
    };
    validate(&raw, NoTitle::MeansAll)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_lines_pass_and_bad_lines_are_reported_with_their_line() {
        let csv = "email,name,newsletters,countries,departements,college\n\
                   marie@example.org,Marie,coopdev-info,SN;mg,31,association\n\
                   pas-une-adresse,Paul,,,,\n\
                   jean@example.org,Jean,,,75,\n\
                   lea@example.org,Léa,inconnue,,,\n\
                   zoe@example.org,Zoé,,,,\n";
        let (good, bad) = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(good.len(), 2);
        assert_eq!(
            good[0].1.countries.iter().collect::<Vec<_>>(),
            vec!["MG", "SN"]
        );
        assert_eq!(
            good[1].1.newsletters.len(),
            2,
            "empty newsletters means both titles"
        );
        let lines: Vec<u64> = bad.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(bad[1].reason.contains("75"));
    }

    #[test]
    fn a_file_without_email_column_is_refused_whole() {
        assert!(matches!(
            parse_csv("name\nMarie\n".as_bytes()),
            Err(ImportError::NoEmailColumn)
        ));
        assert!(matches!(
            parse_csv("email,colour\na@b.fr,red\n".as_bytes()),
            Err(ImportError::UnknownColumn(_))
        ));
    }
}
