//! CSV import of subscribers: every line is checked on its own; good lines go in, bad lines
//! are reported with their line number and reason. The file is read as a stream, one record
//! at a time, so memory does not grow with its length.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Read;
use std::rc::Rc;

use super::request::{validate, NoTitle, RawRequest};
use crate::store::NewSubscriber;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Line in the file, the header being line 1.
    pub line: u64,
    pub reason: String,
}

/// A good line: where it starts in the file, and the subscriber it asks for.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: u64,
    pub subscriber: NewSubscriber,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("fichier illisible")]
    Unreadable(#[source] csv::Error),
    #[error("la colonne `email` manque dans l'en-tête")]
    NoEmailColumn,
    #[error("colonne inconnue `{0}` (colonnes possibles : email, name, newsletters, themes, countries, departements, college)")]
    UnknownColumn(String),
}

const COLUMNS: [&str; 7] = [
    "email",
    "name",
    "newsletters",
    "themes",
    "countries",
    "departements",
    "college",
];

/// The lines of a CSV file after its header, each checked on its own: `Ok` for a line to
/// import, `Err` for a rejected one. A header that cannot be read, or names an unknown
/// column, refuses the whole file before any line is read. Works on any bytes without a
/// database (the fuzz target calls it on `&[u8]`).
pub fn parse_lines<R: Read>(reader: R) -> Result<Lines<R>, ImportError> {
    let breaks = Rc::new(RefCell::new(Breaks::default()));
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(Counting {
            inner: reader,
            offset: 0,
            breaks: breaks.clone(),
        });
    let headers = csv.headers().map_err(ImportError::Unreadable)?.clone();
    let mut columns = [None; COLUMNS.len()];
    for (i, h) in headers.iter().enumerate() {
        // A spreadsheet's byte-order mark may stick to the first name.
        let h = h.trim_start_matches('\u{feff}');
        let known = COLUMNS
            .iter()
            .position(|c| *c == h)
            .ok_or_else(|| ImportError::UnknownColumn(super::request::clean_text(h)))?;
        columns[known] = Some(i);
    }
    if columns[0].is_none() {
        return Err(ImportError::NoEmailColumn);
    }
    Ok(Lines {
        csv,
        breaks,
        line: 1,
        record: csv::StringRecord::new(),
        width: headers.len(),
        columns,
        failure: None,
    })
}

/// Good lines (with their line number) and rejected ones.
pub type Parsed = (Vec<(u64, NewSubscriber)>, Vec<Rejected>);

/// [`parse_lines`] collected whole: for small inputs and the fuzz target; the CLI streams.
pub fn parse_csv(reader: impl Read) -> Result<Parsed, ImportError> {
    let mut parsed: Parsed = (Vec::new(), Vec::new());
    for line in parse_lines(reader)? {
        match line {
            Ok(row) => parsed.0.push((row.line, row.subscriber)),
            Err(rejected) => parsed.1.push(rejected),
        }
    }
    Ok(parsed)
}

/// The iterator [`parse_lines`] returns. It ends early only when the underlying reader
/// fails (see [`Lines::failure`]).
pub struct Lines<R> {
    csv: csv::Reader<Counting<R>>,
    breaks: Rc<RefCell<Breaks>>,
    /// Line of the file where the last record began (the header is line 1).
    line: u64,
    record: csv::StringRecord,
    width: usize,
    columns: [Option<usize>; COLUMNS.len()],
    failure: Option<csv::Error>,
}

impl<R> Lines<R> {
    /// Why reading stopped before the end of the file, if it did.
    pub fn failure(&mut self) -> Option<csv::Error> {
        self.failure.take()
    }
}

impl<R: Read> Iterator for Lines<R> {
    type Item = Result<Row, Rejected>;

    fn next(&mut self) -> Option<Self::Item> {
        let read = self.csv.read_record(&mut self.record);
        let start = match &read {
            Err(e) => e.position(),
            Ok(_) => self.record.position(),
        };
        let line = match start {
            Some(p) => self.line_at(p.byte()),
            None => self.line,
        };
        match read {
            Ok(false) => None,
            Ok(true) => Some(self.check(line)),
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                self.failure = Some(e);
                None
            }
            Err(e) => {
                let reason = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => {
                        "ligne illisible : elle n'est pas en UTF-8".into()
                    }
                    _ => "ligne illisible".into(),
                };
                Some(Err(Rejected { line, reason }))
            }
        }
    }
}

impl<R> Lines<R> {
    /// The line of a record from its byte offset. The csv crate's own line count is one too
    /// low after a CRLF ending (it counts a line at the `\n` it has not yet passed when the
    /// next record starts), so line breaks are counted here: every run of CR and LF that
    /// begins at or before the record's start lies before its first character.
    fn line_at(&mut self, offset: u64) -> u64 {
        let mut breaks = self.breaks.borrow_mut();
        while let Some(run) = breaks.runs.front() {
            if run.start > offset {
                break;
            }
            self.line += run.newlines;
            breaks.runs.pop_front();
        }
        self.line
    }

    fn check(&self, line: u64) -> Result<Row, Rejected> {
        if self.record.len() != self.width {
            return Err(Rejected {
                line,
                reason: format!("{} colonnes au lieu de {}", self.record.len(), self.width),
            });
        }
        let field = |name: usize| {
            self.columns[name]
                .and_then(|i| self.record.get(i))
                .unwrap_or("")
        };
        let raw = RawRequest {
            email: field(0),
            name: field(1),
            newsletters: list(field(2)).collect(),
            themes: list(field(3)).collect(),
            countries: list(field(4)).collect(),
            departements: list(field(5)).collect(),
            college: Some(field(6)).filter(|c| !c.is_empty()),
        };
        validate(&raw, NoTitle::MeansAll)
            .map(|subscriber| Row { line, subscriber })
            .map_err(|reason| Rejected { line, reason })
    }
}

/// Runs of CR and LF bytes read but not yet passed by a record: (first byte, number of LF).
/// The csv reader reads ahead by one buffer, so this stays small.
#[derive(Default)]
struct Breaks {
    runs: VecDeque<Run>,
}

struct Run {
    start: u64,
    end: u64,
    newlines: u64,
}

/// The file as the csv reader sees it, noting where line breaks are.
struct Counting<R> {
    inner: R,
    offset: u64,
    breaks: Rc<RefCell<Breaks>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut breaks = self.breaks.borrow_mut();
        for (i, b) in buf[..n].iter().enumerate() {
            if *b != b'\r' && *b != b'\n' {
                continue;
            }
            let at = self.offset + i as u64;
            let newline = u64::from(*b == b'\n');
            match breaks.runs.back_mut() {
                Some(run) if run.end == at => {
                    run.end = at + 1;
                    run.newlines += newline;
                }
                _ => breaks.runs.push_back(Run {
                    start: at,
                    end: at + 1,
                    newlines: newline,
                }),
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

fn list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(';').map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(csv: &str) -> (Vec<Row>, Vec<Rejected>) {
        let (good, bad): (Vec<_>, Vec<_>) = parse_lines(csv.as_bytes())
            .unwrap()
            .partition(Result::is_ok);
        (
            good.into_iter().filter_map(Result::ok).collect(),
            bad.into_iter().filter_map(Result::err).collect(),
        )
    }

    #[test]
    fn good_lines_pass_and_bad_lines_are_reported_with_their_line() {
        let csv = "email,name,newsletters,countries,departements,college\n\
                   marie@example.org,Marie,coopdev-info,SN;mg,31,association\n\
                   pas-une-adresse,Paul,,,,\n\
                   jean@example.org,Jean,,,75,\n\
                   lea@example.org,Léa,inconnue,,,\n\
                   zoe@example.org,Zoé,,,,\n";
        let (good, bad) = parse(csv);
        assert_eq!(good.len(), 2);
        assert_eq!(
            good[0].subscriber.countries.iter().collect::<Vec<_>>(),
            vec!["MG", "SN"]
        );
        assert_eq!(
            good[1].subscriber.newsletters.len(),
            2,
            "empty newsletters means both titles"
        );
        let lines: Vec<u64> = bad.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(bad[1].reason.contains("75"));
    }

    #[test]
    fn line_numbers_hold_with_crlf_endings_quoted_breaks_and_blank_lines() {
        let csv =
            "email,name\r\na@example.org,A\r\nbad,B\r\n\r\nc@example.org,\"C\r\nD\"\r\nbad2,E\r\n";
        let (good, bad) = parse(csv);
        assert_eq!(good.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 5]);
        assert_eq!(bad.iter().map(|r| r.line).collect::<Vec<_>>(), vec![3, 7]);
    }

    #[test]
    fn a_file_without_email_column_is_refused_whole() {
        assert!(matches!(
            parse_lines("name\nMarie\n".as_bytes()),
            Err(ImportError::NoEmailColumn)
        ));
        assert!(matches!(
            parse_lines("email,colour\na@b.fr,red\n".as_bytes()),
            Err(ImportError::UnknownColumn(_))
        ));
    }
}
