//! Bounces and complaints: reports read from a maildir, a folder of `.eml` files or one file
//! (`relais bounces ingest`, and the daemon's `bounce_maildir` every tick), each mapped to the
//! delivery it is about and applied to its subscriber by the store.
//!
//! A report names its delivery by the VERP address it was sent back to (`verp`: checked by its
//! HMAC; a forged one names nothing), else by the original's deterministic Message-ID, found
//! in the attached original or its headers, when the report's recipient is the delivery's. A
//! report that names nothing is counted and logged, never an error that stops the run.

pub mod report;
pub mod verp;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::audience::Signer;
use crate::store::{BounceEffect, BouncedDelivery, NewBounce, Store};
use report::{Kind, Report};
use verp::Verp;

/// Reports larger than this are not read (a report holds a message, not a mailbox).
const MAX_REPORT_BYTES: u64 = 25 * 1024 * 1024;

/// What reading reports needs.
pub struct Ingest<'a> {
    pub store: &'a Store,
    pub signer: &'a Signer,
    /// Soft bounces (on different deliveries) after which an address is suppressed.
    pub soft_limit: usize,
}

/// What became of one file.
#[derive(Debug)]
pub enum Outcome {
    /// The report names a delivery; `effect` says whether it was new.
    Applied {
        report: Report,
        delivery: i64,
        effect: BounceEffect,
    },
    /// A report that names no delivery of ours (or a forged one).
    Unmatched { report: Report, reason: String },
    /// Not a report, or not readable.
    Unreadable { error: String },
}

/// Counts over a run (`relais bounces ingest --json` prints them as they are).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Reports read (matched or not; unreadable files apart).
    pub read: usize,
    pub matched: usize,
    pub hard: usize,
    pub soft: usize,
    pub complaints: usize,
    pub policy: usize,
    pub other: usize,
    pub unmatched: usize,
    pub unreadable: usize,
    /// Matched reports already recorded by an earlier run: they changed nothing.
    pub already_seen: usize,
    /// Addresses suppressed by this run.
    pub suppressed: usize,
}

impl Summary {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Applied { report, effect, .. } => {
                self.read += 1;
                self.matched += 1;
                *match report.kind {
                    Kind::Hard => &mut self.hard,
                    Kind::Soft => &mut self.soft,
                    Kind::Complaint => &mut self.complaints,
                    Kind::Policy => &mut self.policy,
                    Kind::Other => &mut self.other,
                } += 1;
                match effect {
                    BounceEffect::AlreadySeen => self.already_seen += 1,
                    BounceEffect::Recorded {
                        suppressed: true, ..
                    } => self.suppressed += 1,
                    BounceEffect::Recorded { .. } => {}
                }
            }
            Outcome::Unmatched { .. } => {
                self.read += 1;
                self.unmatched += 1;
            }
            Outcome::Unreadable { .. } => self.unreadable += 1,
        }
    }

    /// The French line `relais bounces ingest` prints.
    pub fn describe(&self) -> String {
        let n = |count: usize, one: &str, many: &str| {
            format!("{count} {}", if count > 1 { many } else { one })
        };
        let mut kinds = vec![
            n(self.hard, "rejet définitif", "rejets définitifs"),
            n(self.soft, "temporaire", "temporaires"),
            n(self.complaints, "plainte", "plaintes"),
        ];
        if self.policy > 0 {
            kinds.push(n(
                self.policy,
                "refus lié à l'expéditeur ou au message",
                "refus liés à l'expéditeur ou au message",
            ));
        }
        if self.other > 0 {
            kinds.push(n(self.other, "avis sans suite", "avis sans suite"));
        }
        let mut line = format!(
            "{}, {} ({}), {}",
            n(self.read, "rapport lu", "rapports lus"),
            n(self.matched, "lié à un envoi", "liés à un envoi"),
            kinds.join(", "),
            n(self.unmatched, "sans correspondance", "sans correspondance"),
        );
        if self.unreadable > 0 {
            line += &format!(
                ", {}",
                n(self.unreadable, "fichier illisible", "fichiers illisibles")
            );
        }
        if self.already_seen > 0 {
            line += &format!(
                " ; {}",
                n(
                    self.already_seen,
                    "déjà lu auparavant, sans effet",
                    "déjà lus auparavant, sans effet"
                )
            );
        }
        if self.suppressed > 0 {
            line += &format!(
                " ; {}",
                n(
                    self.suppressed,
                    "adresse désormais exclue des envois",
                    "adresses désormais exclues des envois"
                )
            );
        }
        line
    }
}

impl Ingest<'_> {
    /// Reads every report under `path` (a maildir: its unread messages, each moved to `cur/`
    /// and flagged seen once read; a folder: its `.eml` files; or one file), calling `each`
    /// with every file's outcome. Only the store's errors stop the run.
    pub async fn path(
        &self,
        path: &Path,
        mut each: impl FnMut(&Path, &Outcome),
    ) -> anyhow::Result<Summary> {
        let (files, maildir) = report_files(path)?;
        let mut summary = Summary::default();
        for file in files {
            let outcome = self.file(&file).await?;
            summary.count(&outcome);
            let result = match &outcome {
                Outcome::Applied { report, .. } => report.kind.as_str(),
                Outcome::Unmatched { .. } => "unmatched",
                Outcome::Unreadable { .. } => "unreadable",
            };
            metrics::counter!("relais_bounce_reports_total", "result" => result).increment(1);
            each(&file, &outcome);
            if maildir {
                if let Err(e) = mark_seen(&file) {
                    tracing::warn!(file = %file.display(), "report not moved to cur/: {e}");
                }
            }
        }
        Ok(summary)
    }

    async fn file(&self, file: &Path) -> anyhow::Result<Outcome> {
        let path = file.to_path_buf();
        // Parsing MIME is CPU work: off the async workers.
        let read = tokio::task::spawn_blocking(move || -> Result<(Report, String), String> {
            let size = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
            if size > MAX_REPORT_BYTES {
                return Err(format!(
                    "{size} octets, plus que les {MAX_REPORT_BYTES} lus au plus"
                ));
            }
            let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
            let report = report::parse(&bytes).map_err(|e| e.to_string())?;
            Ok((report, hex::encode(Sha256::digest(&bytes))))
        })
        .await?;
        match read {
            Ok((report, hash)) => self.report(report, &hash).await,
            Err(error) => Ok(Outcome::Unreadable { error }),
        }
    }

    /// Applies one parsed report whose bytes hash to `hash`.
    pub async fn report(&self, report: Report, hash: &str) -> anyhow::Result<Outcome> {
        let delivery = match self.delivery_of(&report).await? {
            Ok(d) => d,
            Err(reason) => return Ok(Outcome::Unmatched { report, reason }),
        };
        let effect = self
            .store
            .record_bounce(
                &NewBounce {
                    delivery: &delivery,
                    kind: report.kind.as_str(),
                    status: report.status.as_deref(),
                    diagnostic: report.diagnostic.as_deref(),
                    report_hash: hash,
                },
                self.soft_limit as i64,
            )
            .await?;
        Ok(Outcome::Applied {
            report,
            delivery: delivery.id,
            effect,
        })
    }

    /// The delivery a report is about, or why none.
    async fn delivery_of(
        &self,
        report: &Report,
    ) -> anyhow::Result<Result<BouncedDelivery, String>> {
        let mut forged = false;
        for address in &report.return_paths {
            match verp::parse(self.signer, address) {
                Some(Verp::Delivery(id)) => {
                    if let Some(d) = self.store.delivery_by_id(id).await? {
                        return Ok(Ok(d));
                    }
                }
                Some(Verp::Forged) => forged = true,
                None => {}
            }
        }
        if forged {
            // A return path that claims a delivery without the secret's tag: nothing in the
            // report is trusted.
            return Ok(Err(
                "adresse de retour VERP dont la signature est fausse".into()
            ));
        }
        for (id, (dispatch, subscriber)) in report
            .message_ids
            .iter()
            .filter_map(|id| Some((id, delivery_message_id(id)?)))
        {
            let Some(d) = self
                .store
                .delivery_by_message_id(id, dispatch, subscriber)
                .await?
            else {
                continue;
            };
            let recipient_agrees = report.recipients.is_empty()
                || d.email.is_empty()
                || report
                    .recipients
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&d.email));
            if recipient_agrees {
                return Ok(Ok(d));
            }
            return Ok(Err(format!(
                "le destinataire du rapport n'est pas celui de l'envoi {id}"
            )));
        }
        Ok(Err(
            "ni adresse VERP ni Message-ID d'un envoi de relais".into()
        ))
    }
}

/// `<relais.DISPATCH.SUBSCRIBER@domain>`: a newsletter delivery's Message-ID, and the two
/// ids it names.
fn delivery_message_id(id: &str) -> Option<(i64, i64)> {
    let (numbers, _) = id.strip_prefix("<relais.")?.split_once('@')?;
    let (dispatch, subscriber) = numbers.split_once('.')?;
    let number = |p: &str| {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<i64>().ok())
            .flatten()
    };
    Some((number(dispatch)?, number(subscriber)?))
}

/// The files to read under `path`, and whether it is a maildir.
fn report_files(path: &Path) -> anyhow::Result<(Vec<PathBuf>, bool)> {
    use anyhow::Context;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{} : introuvable ou illisible", path.display()))?;
    if meta.is_file() {
        return Ok((vec![path.to_path_buf()], false));
    }
    let list = |dir: &Path| -> anyhow::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir)
            .with_context(|| format!("{} : dossier illisible", dir.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && entry.file_type()?.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        Ok(files)
    };
    let is_maildir = |dir: &Path| dir.join("new").is_dir() && dir.join("cur").is_dir();
    // `maildir/new` named instead of the maildir: the same thing.
    let path = match path.parent() {
        Some(parent)
            if matches!(
                path.file_name().and_then(|n| n.to_str()),
                Some("new" | "cur")
            ) && is_maildir(parent) =>
        {
            parent
        }
        _ => path,
    };
    let maildir = is_maildir(path);
    if maildir {
        let mut files = list(&path.join("new"))?;
        files.extend(
            list(&path.join("cur"))?
                .into_iter()
                .filter(|f| !maildir_flags(f).contains('S')),
        );
        return Ok((files, true));
    }
    let files = list(path)?
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e.eq_ignore_ascii_case("eml")))
        .collect();
    Ok((files, false))
}

/// The flags of a maildir file name (`…:2,FS` → `FS`).
fn maildir_flags(file: &Path) -> String {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    name.split_once(":2,")
        .map(|(_, flags)| flags.to_string())
        .unwrap_or_default()
}

/// Moves a maildir message to `cur/` with the seen flag, as a mail reader does.
fn mark_seen(file: &Path) -> std::io::Result<()> {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let base = name.split_once(":2,").map_or(&*name, |(b, _)| b);
    let mut flags: Vec<char> = maildir_flags(file).chars().collect();
    flags.push('S');
    flags.sort_unstable();
    flags.dedup();
    let maildir = file
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| std::io::Error::other("not in a maildir"))?;
    let target = maildir.join("cur").join(format!(
        "{base}:2,{}",
        flags.into_iter().collect::<String>()
    ));
    std::fs::rename(file, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_newsletter_message_ids_are_looked_up() {
        assert_eq!(
            delivery_message_id("<relais.7.42@example.org>"),
            Some((7, 42))
        );
        for other in [
            "<relais.preview.7.ab12@example.org>",
            "<relais.7@example.org>",
            "<relais.7.42.1@example.org>",
            "<relais.7.+42@example.org>",
            "<relais.7.99999999999999999999@example.org>",
            "<20261130.ABC@example.org>",
        ] {
            assert_eq!(delivery_message_id(other), None, "{other}");
        }
    }

    #[test]
    fn a_maildir_message_read_goes_to_cur_flagged_seen() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("new/1.M1P1.hote"), "x").unwrap();
        std::fs::write(dir.path().join("cur/2.M2P2.hote:2,F"), "x").unwrap();
        std::fs::write(dir.path().join("cur/3.M3P3.hote:2,S"), "x").unwrap();
        let (files, maildir) = report_files(dir.path()).unwrap();
        assert!(maildir);
        assert_eq!(files.len(), 2, "{files:?}");
        for f in &files {
            mark_seen(f).unwrap();
        }
        let (files, _) = report_files(dir.path()).unwrap();
        assert!(files.is_empty(), "{files:?}");
        std::fs::write(dir.path().join("new/4.M4P4.hote"), "x").unwrap();
        let (files, maildir) = report_files(&dir.path().join("new")).unwrap();
        assert!(maildir, "new/ named for its maildir");
        assert_eq!(files, [dir.path().join("new/4.M4P4.hote")]);
        assert!(dir.path().join("cur/1.M1P1.hote:2,S").is_file());
        assert!(dir.path().join("cur/2.M2P2.hote:2,FS").is_file());
    }

    #[test]
    fn the_summary_reads_as_a_sentence() {
        let s = Summary {
            read: 12,
            matched: 10,
            hard: 7,
            soft: 2,
            complaints: 1,
            unmatched: 2,
            ..Summary::default()
        };
        assert_eq!(
            s.describe(),
            "12 rapports lus, 10 liés à un envoi (7 rejets définitifs, 2 temporaires, 1 plainte), 2 sans correspondance"
        );
    }
}
