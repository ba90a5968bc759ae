//! A round of a subscriber import (`Store::import_subscribers`): what it does to each person,
//! decided in Rust from what the database holds, and its PostgreSQL form, which sends the
//! rows with `COPY` into staging tables and merges them in a few set-based statements.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::audience::{interests, NewSubscriber};
use crate::domain::optin::{self, ImportOutcome};
use crate::domain::SubscriberStatus;

/// The titles by slug.
pub(super) const NEWSLETTERS: &str = "select slug, id from newsletters";

/// A known person as the import reads it: id, name, college, status.
pub(super) type Known = (i64, String, Option<String>, SubscriberStatus);

/// One round: distinct addresses, with their normalised form and hash, in file order.
pub(super) struct Round<'a> {
    pub batch: &'a [&'a NewSubscriber],
    pub emails: &'a [&'a str],
    pub hashes: &'a [String],
}

/// What a round does, decided before it writes.
pub(super) struct Plan {
    pub outcomes: Vec<ImportOutcome>,
    /// Each line's subscriber once known (`None` for a refused one).
    ids: Vec<Option<i64>>,
    /// Lines whose person is new.
    pub fresh: Vec<usize>,
    /// Lines whose known person gets the line's name and college and becomes active.
    pub updated: Vec<(usize, i64)>,
}

/// An interest row to write: subscriber, kind, value.
pub(super) type Interest = (i64, String, String);

impl Round<'_> {
    /// Each line's outcome from the suppressions and the known people.
    pub fn decide(&self, suppressed: &HashSet<String>, existing: &HashMap<String, Known>) -> Plan {
        let mut plan = Plan {
            outcomes: vec![ImportOutcome::Unchanged; self.batch.len()],
            ids: vec![None; self.batch.len()],
            fresh: Vec::new(),
            updated: Vec::new(),
        };
        for (i, s) in self.batch.iter().enumerate() {
            let found = existing.get(self.emails[i]);
            plan.outcomes[i] = optin::import_outcome(
                suppressed.contains(&self.hashes[i]),
                found.map(|(_, name, college, status)| optin::Known {
                    status: *status,
                    name,
                    college: college.as_deref(),
                }),
                &s.name,
                s.college.as_deref(),
            );
            match (plan.outcomes[i], found) {
                (ImportOutcome::Suppressed, _) => {}
                (ImportOutcome::Added, _) | (_, None) => plan.fresh.push(i),
                (ImportOutcome::Unchanged, Some((id, ..))) => plan.ids[i] = Some(*id),
                (ImportOutcome::Updated, Some((id, ..))) => {
                    plan.ids[i] = Some(*id);
                    plan.updated.push((i, *id));
                }
            }
        }
        plan
    }

    /// Runs the round on PostgreSQL, in one transaction.
    pub async fn run_postgres(
        &self,
        pool: &PgPool,
        at: DateTime<Utc>,
    ) -> sqlx::Result<Vec<ImportOutcome>> {
        let (batch, emails, hashes) = (self.batch, self.emails, self.hashes);
        let mut tx = pool.begin().await?;
        let newsletters: HashMap<String, i64> = sqlx::query_as(NEWSLETTERS)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
        let suppressed: HashSet<String> =
            sqlx::query_scalar("select email_hash from suppressions where email_hash = any($1)")
                .bind(hashes)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        let existing: HashMap<String, Known> =
            sqlx::query_as::<_, (String, i64, String, Option<String>, SubscriberStatus)>(
                "select email, id, name, college, status from subscribers where email = any($1)",
            )
            .bind(emails)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|(e, id, n, c, st)| (e, (id, n, c, st)))
            .collect();
        let mut plan = self.decide(&suppressed, &existing);

        if !plan.updated.is_empty() {
            let (ids, names, colleges): (Vec<i64>, Vec<&str>, Vec<Option<&str>>) = plan
                .updated
                .iter()
                .map(|&(i, id)| (id, batch[i].name.as_str(), batch[i].college.as_deref()))
                .fold(Default::default(), |(mut a, mut b, mut c), (x, y, z)| {
                    a.push(x);
                    b.push(y);
                    c.push(z);
                    (a, b, c)
                });
            sqlx::query(
                "update subscribers s set name = u.name, college = u.college, status = 'active', \
                 updated_at = $4 from unnest($1::bigint[], $2::text[], $3::text[]) \
                 as u(id, name, college) where s.id = u.id",
            )
            .bind(ids)
            .bind(names)
            .bind(colleges)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        if !plan.fresh.is_empty() {
            sqlx::query(
                "create temp table import_people (email text, name text, college text, \
                 link_key text, email_hash text) on commit drop",
            )
            .execute(&mut *tx)
            .await?;
            let mut rows = String::new();
            for &i in &plan.fresh {
                copy_row(
                    &mut rows,
                    &[
                        Some(emails[i]),
                        Some(&batch[i].name),
                        batch[i].college.as_deref(),
                        Some(&super::subscribe::new_key()),
                        Some(&hashes[i]),
                    ],
                );
            }
            copy(
                &mut tx,
                "import_people (email, name, college, link_key, email_hash)",
                rows,
            )
            .await?;
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "insert into subscribers (email, name, status, college, created_at, updated_at, \
                 link_key, email_hash) select email, name, 'active', college, $1, $1, link_key, \
                 email_hash from import_people returning email, id",
            )
            .bind(at)
            .fetch_all(&mut *tx)
            .await?;
            let fresh = std::mem::take(&mut plan.fresh);
            plan.found_ids(emails, &fresh, rows);
        }

        let people = plan.people();
        let ids: Vec<i64> = people.iter().map(|&i| plan.id(i)).collect();
        let current: Vec<Interest> = sqlx::query_as(
            "select subscriber_id, kind, value from subscriber_interests where subscriber_id = any($1)",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let (to_clear, to_write) = plan.interest_changes(batch, &people, current);
        if !to_clear.is_empty() {
            sqlx::query("delete from subscriber_interests where subscriber_id = any($1)")
                .bind(&to_clear)
                .execute(&mut *tx)
                .await?;
        }
        if !to_write.is_empty() {
            let mut rows = String::new();
            for (id, kind, value) in &to_write {
                copy_row(&mut rows, &[Some(&id.to_string()), Some(kind), Some(value)]);
            }
            copy(
                &mut tx,
                "subscriber_interests (subscriber_id, kind, value)",
                rows,
            )
            .await?;
        }

        let wanted = plan.wanted_titles(batch, &people, &newsletters);
        if !wanted.is_empty() {
            sqlx::query(
                "create temp table import_titles (subscriber_id bigint, newsletter_id bigint) \
                 on commit drop",
            )
            .execute(&mut *tx)
            .await?;
            let mut rows = String::new();
            for (_, id, newsletter) in &wanted {
                let _ = writeln!(rows, "{id}\t{newsletter}");
            }
            copy(
                &mut tx,
                "import_titles (subscriber_id, newsletter_id)",
                rows,
            )
            .await?;
            let added: HashSet<(i64, i64)> = sqlx::query_as(
                "insert into subscriptions (subscriber_id, newsletter_id, status, created_at, \
                 confirmed_at) select subscriber_id, newsletter_id, 'active', $1, $1 \
                 from import_titles on conflict (subscriber_id, newsletter_id) do nothing \
                 returning subscriber_id, newsletter_id",
            )
            .bind(at)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
            let consents = plan.consents(&wanted, &added);
            if !consents.is_empty() {
                let at = at.to_rfc3339();
                let mut rows = String::new();
                for (i, id, newsletter) in consents {
                    copy_row(
                        &mut rows,
                        &[
                            Some(&id.to_string()),
                            Some(&hashes[*i]),
                            Some(&newsletter.to_string()),
                            Some("subscribe"),
                            Some("import"),
                            Some("import"),
                            Some(&at),
                            Some(&at),
                        ],
                    );
                }
                copy(
                    &mut tx,
                    "consents (subscriber_id, email_hash, newsletter_id, action, method, \
                     text_version, created_at, confirmed_at)",
                    rows,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(plan.outcomes)
    }
}

impl Plan {
    /// Records the ids the insert of new people returned (`part`: their lines).
    pub fn found_ids(&mut self, emails: &[&str], part: &[usize], rows: Vec<(String, i64)>) {
        let by_email: HashMap<String, i64> = rows.into_iter().collect();
        for &i in part {
            self.ids[i] = by_email.get(emails[i]).copied();
        }
    }

    /// The lines whose person is stored (all but the refused ones).
    pub fn people(&self) -> Vec<usize> {
        (0..self.ids.len())
            .filter(|&i| self.ids[i].is_some())
            .collect()
    }

    /// A stored line's subscriber.
    pub fn id(&self, line: usize) -> i64 {
        self.ids[line].unwrap_or_default()
    }

    /// Interests to replace, from the current ones: the people whose interests are cleared
    /// first, and the rows to write. A person whose interests change is updated.
    pub fn interest_changes(
        &mut self,
        batch: &[&NewSubscriber],
        people: &[usize],
        current: Vec<Interest>,
    ) -> (Vec<i64>, Vec<Interest>) {
        let mut by_person: HashMap<i64, BTreeSet<(String, String)>> = HashMap::new();
        for (id, kind, value) in current {
            by_person.entry(id).or_default().insert((kind, value));
        }
        let (mut to_clear, mut to_write) = (Vec::new(), Vec::new());
        for &i in people {
            let id = self.id(i);
            let wanted = interests(batch[i]);
            let have = by_person.remove(&id).unwrap_or_default();
            if wanted != have {
                if !have.is_empty() {
                    to_clear.push(id);
                }
                if self.outcomes[i] == ImportOutcome::Unchanged {
                    self.outcomes[i] = ImportOutcome::Updated;
                }
                to_write.extend(wanted.into_iter().map(|(k, v)| (id, k, v)));
            }
        }
        (to_clear, to_write)
    }

    /// The subscriptions the lines ask for: (line, subscriber, title).
    pub fn wanted_titles(
        &self,
        batch: &[&NewSubscriber],
        people: &[usize],
        newsletters: &HashMap<String, i64>,
    ) -> Vec<(usize, i64, i64)> {
        people
            .iter()
            .flat_map(|&i| {
                batch[i]
                    .newsletters
                    .iter()
                    .filter_map(move |slug| newsletters.get(slug).map(|n| (i, self.id(i), *n)))
            })
            .collect()
    }

    /// The subscriptions just added, each of which gets a consent record; their people are
    /// updated.
    pub fn consents<'w>(
        &mut self,
        wanted: &'w [(usize, i64, i64)],
        added: &HashSet<(i64, i64)>,
    ) -> Vec<&'w (usize, i64, i64)> {
        let consents: Vec<&(usize, i64, i64)> = wanted
            .iter()
            .filter(|(_, id, n)| added.contains(&(*id, *n)))
            .collect();
        for (i, _, _) in &consents {
            if self.outcomes[*i] == ImportOutcome::Unchanged {
                self.outcomes[*i] = ImportOutcome::Updated;
            }
        }
        consents
    }
}

/// Appends one row of `COPY … FROM STDIN` text format: tab-separated, `\N` for null, and
/// backslash, tab, newline and carriage return escaped.
fn copy_row(out: &mut String, fields: &[Option<&str>]) {
    for (n, field) in fields.iter().enumerate() {
        if n > 0 {
            out.push('\t');
        }
        match field {
            None => out.push_str("\\N"),
            Some(text) => {
                for c in text.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\t' => out.push_str("\\t"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
            }
        }
    }
    out.push('\n');
}

/// Sends `rows` (COPY text format) into `table (columns)`.
async fn copy(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &str,
    rows: String,
) -> sqlx::Result<u64> {
    let mut copy = tx.copy_in_raw(&format!("copy {table} from stdin")).await?;
    copy.send(rows.into_bytes()).await?;
    copy.finish().await
}

#[cfg(test)]
mod tests {
    use super::copy_row;

    #[test]
    fn copy_rows_escape_what_the_text_format_reads_as_syntax() {
        let mut out = String::new();
        copy_row(&mut out, &[Some("a\tb\\c\nd\re"), None, Some("Zoé")]);
        assert_eq!(out, "a\\tb\\\\c\\nd\\re\t\\N\tZoé\n");
    }
}
