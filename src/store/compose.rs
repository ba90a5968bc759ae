//! Composing an issue at the desk: its texts, the place of each entry, the editor's own text
//! blocks, and approvals. Every change is refused once the issue has started sending, and a
//! change to an approved issue sends it back to be approved again.

use chrono::{DateTime, Utc};

use crate::domain::IssueStatus;

use super::{with_pool, BeginWrite, Result, Store, StoreError};

/// The conflict reported when an issue no longer changes.
pub const FROZEN: &str = "issue_frozen";

const APPROVALS: &str = "select u.email, a.created_at from issue_approvals a \
     join users u on u.id = a.user_id where a.issue_id = $1 order by a.created_at, u.email";

/// One approval of an issue.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Approval {
    pub email: String,
    pub created_at: DateTime<Utc>,
}

/// Inside a write transaction: refuses (returning from the calling function, which drops and
/// so rolls back the transaction) if the issue is not open any more, and moves an approved
/// issue back to draft (its approvals no longer hold).
macro_rules! open_for_change {
    ($tx:expr, $issue:expr) => {{
        let status: Option<IssueStatus> =
            sqlx::query_scalar("select status from issues where id = $1")
                .bind($issue)
                .fetch_optional(&mut *$tx)
                .await?;
        match status {
            None => return Err(StoreError::NotFound),
            Some(IssueStatus::Draft) => {}
            Some(IssueStatus::Approved) => {
                sqlx::query("update issues set status = 'draft', approved_at = null where id = $1")
                    .bind($issue)
                    .execute(&mut *$tx)
                    .await?;
                sqlx::query("delete from issue_approvals where issue_id = $1")
                    .bind($issue)
                    .execute(&mut *$tx)
                    .await?;
            }
            Some(_) => return Err(StoreError::Conflict(FROZEN.into())),
        }
    }};
}

impl Store {
    /// Subject, preheader and introduction.
    pub async fn set_issue_texts(
        &self,
        issue: i64,
        subject: &str,
        preheader: &str,
        intro: &str,
    ) -> Result<()> {
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            open_for_change!(tx, issue);
            sqlx::query("update issues set subject = $2, preheader = $3, intro = $4 where id = $1")
                .bind(issue)
                .bind(subject)
                .bind(preheader)
                .bind(intro)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Puts an entry at `index` (0-based, clamped) of `section`, renumbering that section and
    /// closing the gap it leaves.
    pub async fn place_entry(
        &self,
        issue: i64,
        entry: i64,
        section: &str,
        index: usize,
    ) -> Result<()> {
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            open_for_change!(tx, issue);
            let from: Option<String> = sqlx::query_scalar(
                "select section from issue_entries where id = $1 and issue_id = $2",
            )
            .bind(entry)
            .bind(issue)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(from) = from else {
                return Err(StoreError::NotFound);
            };
            let mut order: Vec<i64> = sqlx::query_scalar(
                "select id from issue_entries where issue_id = $1 and section = $2 and id <> $3 \
                 order by position, id",
            )
            .bind(issue)
            .bind(section)
            .bind(entry)
            .fetch_all(&mut *tx)
            .await?;
            order.insert(index.min(order.len()), entry);
            let mut sections = vec![(section.to_string(), order)];
            if from != section {
                let rest: Vec<i64> = sqlx::query_scalar(
                    "select id from issue_entries where issue_id = $1 and section = $2 \
                     and id <> $3 order by position, id",
                )
                .bind(issue)
                .bind(&from)
                .bind(entry)
                .fetch_all(&mut *tx)
                .await?;
                sections.push((from, rest));
            }
            for (key, ids) in sections {
                for (i, id) in ids.iter().enumerate() {
                    sqlx::query(
                        "update issue_entries set section = $2, position = $3 where id = $1",
                    )
                    .bind(id)
                    .bind(&key)
                    .bind(i as i64 + 1)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Appends an item or an ad at the end of its section. Adding the same one twice is a
    /// conflict, not a second copy.
    pub async fn add_entry(
        &self,
        issue: i64,
        section: &str,
        item_id: Option<i64>,
        ad_id: Option<i64>,
    ) -> Result<i64> {
        let id = with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            open_for_change!(tx, issue);
            let id: i64 = sqlx::query_scalar(
                "insert into issue_entries (issue_id, section, position, item_id, ad_id) \
                 values ($1, $2, (select coalesce(max(position), 0) + 1 from issue_entries \
                   where issue_id = $1 and section = $2), $3, $4) returning id",
            )
            .bind(issue)
            .bind(section)
            .bind(item_id)
            .bind(ad_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            tx.commit().await?;
            Ok::<_, StoreError>(id)
        })?;
        Ok(id)
    }

    /// Takes an entry out of the issue (a watch item stays selected for the title).
    pub async fn remove_entry(&self, issue: i64, entry: i64) -> Result<()> {
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            open_for_change!(tx, issue);
            let done = sqlx::query("delete from issue_entries where id = $1 and issue_id = $2")
                .bind(entry)
                .bind(issue)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Adds an editor's text block at the end of a section: its Markdown, the sanitised HTML
    /// and the plain text made from it.
    pub async fn add_block(
        &self,
        issue: i64,
        section: &str,
        markdown: &str,
        html: &str,
        text: &str,
    ) -> Result<i64> {
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            open_for_change!(tx, issue);
            let id: i64 = sqlx::query_scalar(
                "insert into issue_entries (issue_id, section, position, body, body_html, summary) \
                 values ($1, $2, (select coalesce(max(position), 0) + 1 from issue_entries \
                   where issue_id = $1 and section = $2), $3, $4, $5) returning id",
            )
            .bind(issue)
            .bind(section)
            .bind(markdown)
            .bind(html)
            .bind(text)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Rewrites a text block.
    pub async fn update_block(
        &self,
        issue: i64,
        entry: i64,
        markdown: &str,
        html: &str,
        text: &str,
    ) -> Result<()> {
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            open_for_change!(tx, issue);
            let done = sqlx::query(
                "update issue_entries set body = $3, body_html = $4, summary = $5 \
                 where id = $1 and issue_id = $2 and body is not null",
            )
            .bind(entry)
            .bind(issue)
            .bind(markdown)
            .bind(html)
            .bind(text)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// The Markdown of each text block of an issue, by entry id.
    pub async fn block_sources(&self, issue: i64) -> Result<Vec<(i64, String)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select id, body from issue_entries where issue_id = $1 and body is not null",
            )
            .bind(issue)
            .fetch_all(p)
            .await
        })?)
    }

    /// Records an editor's approval; once `required` different editors approved, the issue
    /// is approved. Returns the issue's approvals. Approving twice counts once.
    pub async fn approve_issue(
        &self,
        issue: i64,
        user: i64,
        required: usize,
    ) -> Result<Vec<Approval>> {
        let at = self.now();
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let status: Option<IssueStatus> =
                sqlx::query_scalar("select status from issues where id = $1")
                    .bind(issue)
                    .fetch_optional(&mut *tx)
                    .await?;
            match status {
                None => return Err(StoreError::NotFound),
                Some(IssueStatus::Draft | IssueStatus::Approved) => {}
                Some(_) => return Err(StoreError::Conflict(FROZEN.into())),
            }
            sqlx::query(
                "insert into issue_approvals (issue_id, user_id, created_at) values ($1, $2, $3) \
                 on conflict do nothing",
            )
            .bind(issue)
            .bind(user)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            let approvals: Vec<Approval> = sqlx::query_as(APPROVALS)
                .bind(issue)
                .fetch_all(&mut *tx)
                .await?;
            if approvals.len() >= required.max(1) {
                sqlx::query(
                    "update issues set status = 'approved', approved_at = coalesce(approved_at, $2) \
                     where id = $1 and status = 'draft'",
                )
                .bind(issue)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(approvals)
        })
    }

    pub async fn approvals(&self, issue: i64) -> Result<Vec<Approval>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(APPROVALS).bind(issue).fetch_all(p).await
        })?)
    }

    /// Plans the send of an open issue (the scheduler carries it out once it is approved), or
    /// clears the plan (at any time).
    pub async fn set_issue_schedule(
        &self,
        issue: i64,
        at: Option<DateTime<Utc>>,
        segment: Option<&str>,
    ) -> Result<()> {
        let done = with_pool!(self, |p| {
            sqlx::query(
                "update issues set scheduled_at = $2, scheduled_segment = $3 \
                 where id = $1 and (status in ('draft', 'approved') or $2 is null)",
            )
            .bind(issue)
            .bind(at)
            .bind(segment)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Approved issues whose planned send is due: (issue, segment, planned time).
    pub async fn due_scheduled_issues(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, Option<String>, DateTime<Utc>)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select id, scheduled_segment, scheduled_at from issues \
                 where status = 'approved' and scheduled_at is not null and scheduled_at <= $1 \
                 order by scheduled_at",
            )
            .bind(now)
            .fetch_all(p)
            .await
        })?)
    }
}
