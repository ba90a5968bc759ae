//! Issues of a newsletter and their entries (watch items or ads, in sections).

use crate::domain::{IssueEntry, IssueStatus};
use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use super::{with_pool, BeginWrite, Result, Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct IssueRow {
    pub id: i64,
    pub newsletter: String,
    pub subject: String,
    pub intro: String,
    pub preheader: String,
    pub status: IssueStatus,
    pub created_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    /// A planned send, in UTC, and the segment it goes to (none: the whole title).
    pub scheduled_at: Option<DateTime<Utc>>,
    pub scheduled_segment: Option<String>,
}

/// An issue's content as it went out, frozen in the transaction that starts its sending.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrozenIssue {
    pub subject: String,
    pub intro: String,
    #[serde(default)]
    pub preheader: String,
    pub entries: Vec<IssueEntry>,
}

/// An entry reads, in order: this issue's override, the editor's edit of the item, what the
/// feed said (or the ad). A text block has neither item nor ad: its title is empty and its
/// summary is its plain text. The editor's plain-text summary of an item is escaped where the
/// feed's HTML summary goes.
const ENTRIES: &str = "select e.id, e.section, e.position, e.item_id, e.ad_id, \
       coalesce(e.title, i.edited_title, i.title, a.title, '') as title, \
       coalesce(e.summary, \
         replace(replace(replace(i.edited_summary, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), \
         i.summary, nullif(a.body_html, ''), a.body, '') as summary, \
       i.url, s.name as source_name, i.published_at, coalesce(i.edited_deadline, i.deadline) as deadline, \
       a.category, m.org_name, a.departement, a.expires_on, e.body_html, \
       a.contact_email, a.contact_phone \
     from issue_entries e \
     left join items i on i.id = e.item_id \
     left join sources s on s.id = i.source_id \
     left join ads a on a.id = e.ad_id \
     left join members m on m.id = a.member_id \
     where e.issue_id = $1 order by e.section, e.position";

const ENTRY_TAGS: &str = "select t.item_id, t.kind, t.value from item_tags t \
     join issue_entries e on e.item_id = t.item_id \
     where e.issue_id = $1 order by t.item_id, t.kind, t.value";

fn attach_tags(entries: &mut [IssueEntry], tags: Vec<(i64, String, String)>) {
    for (item_id, kind, value) in tags {
        for e in entries.iter_mut().filter(|e| e.item_id == Some(item_id)) {
            match kind.as_str() {
                "theme" => e.themes.push(value.clone()),
                _ => e.countries.push(value.clone()),
            }
        }
    }
}

fn encode_snapshot(issue: &FrozenIssue) -> std::result::Result<String, sqlx::Error> {
    serde_json::to_string(issue).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

fn decode_snapshot(json: &str) -> std::result::Result<FrozenIssue, sqlx::Error> {
    serde_json::from_str(json).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

impl Store {
    pub async fn create_issue(&self, newsletter: &str, subject: &str) -> Result<i64> {
        let id: i64 = with_pool!(self, |p| {
            sqlx::query_scalar(
                "insert into issues (newsletter_id, subject, created_at) \
                 select id, $2, $3 from newsletters where slug = $1 returning id",
            )
            .bind(newsletter)
            .bind(subject)
            .bind(self.now())
            .fetch_optional(p)
            .await
        })?
        .ok_or(StoreError::NotFound)?;
        Ok(id)
    }

    pub async fn issue(&self, id: i64) -> Result<IssueRow> {
        let row = with_pool!(self, |p| {
            sqlx::query_as(
                "select i.id, n.slug as newsletter, i.subject, i.intro, i.preheader, i.status, \
                 i.created_at, i.approved_at, i.sent_at, i.scheduled_at, i.scheduled_segment \
                 from issues i join newsletters n on n.id = i.newsletter_id where i.id = $1",
            )
            .bind(id)
            .fetch_optional(p)
            .await
        })?;
        row.ok_or(StoreError::NotFound)
    }

    /// Entries in section order as stored, then position.
    pub async fn issue_entries(&self, issue_id: i64) -> Result<Vec<IssueEntry>> {
        let (mut entries, tags): (Vec<IssueEntry>, Vec<(i64, String, String)>) =
            with_pool!(self, |p| {
                let entries = sqlx::query_as(ENTRIES).bind(issue_id).fetch_all(p).await?;
                let tags = sqlx::query_as(ENTRY_TAGS)
                    .bind(issue_id)
                    .fetch_all(p)
                    .await?;
                Ok::<_, sqlx::Error>((entries, tags))
            })?;
        attach_tags(&mut entries, tags);
        Ok(entries)
    }

    /// The issue's content as it went out, once it started sending (issues sent before
    /// snapshots existed have none).
    pub async fn frozen_issue(&self, issue_id: i64) -> Result<Option<FrozenIssue>> {
        let json: Option<Option<String>> = with_pool!(self, |p| {
            sqlx::query_scalar("select snapshot from issues where id = $1")
                .bind(issue_id)
                .fetch_optional(p)
                .await
        })?;
        match json.flatten() {
            Some(json) => Ok(Some(decode_snapshot(&json)?)),
            None => Ok(None),
        }
    }

    /// Moves an issue along. From `sending` on, its content is frozen (once: a later status
    /// change keeps the first snapshot) in the same transaction; once it is sent, its watch
    /// items count as published.
    pub async fn set_issue_status(&self, id: i64, status: IssueStatus) -> Result<()> {
        self.write_issue_status(id, status, "").await.map(|_| ())
    }

    /// Marks the issue sent if none of its dispatches is still open; returns whether it did.
    /// Checked in the status write itself: a dispatch reopened by a freeze just before keeps
    /// the issue `sending`.
    pub async fn mark_issue_sent_if_done(&self, id: i64) -> Result<bool> {
        self.write_issue_status(
            id,
            IssueStatus::Sent,
            " and not exists (select 1 from dispatches where issue_id = $1 \
               and completed_at is null)",
        )
        .await
    }

    async fn write_issue_status(&self, id: i64, status: IssueStatus, guard: &str) -> Result<bool> {
        let at = self.now();
        let update = format!(
            "update issues set status = $2, \
             approved_at = case when $2 = 'approved' then $3 else approved_at end, \
             sent_at = case when $2 = 'sent' then coalesce(sent_at, $3) else sent_at end \
             where id = $1{guard}"
        );
        let freezes = matches!(status, IssueStatus::Sending | IssueStatus::Sent);
        Ok(with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            if freezes {
                let unfrozen: Option<(String, String, String)> = sqlx::query_as(
                    "select subject, intro, preheader from issues where id = $1 and snapshot is null",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((subject, intro, preheader)) = unfrozen {
                    let mut entries: Vec<IssueEntry> =
                        sqlx::query_as(ENTRIES).bind(id).fetch_all(&mut *tx).await?;
                    let tags = sqlx::query_as(ENTRY_TAGS)
                        .bind(id)
                        .fetch_all(&mut *tx)
                        .await?;
                    attach_tags(&mut entries, tags);
                    let snapshot = encode_snapshot(&FrozenIssue {
                        subject,
                        intro,
                        preheader,
                        entries,
                    })?;
                    sqlx::query("update issues set snapshot = $2 where id = $1")
                        .bind(id)
                        .bind(snapshot)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let written = sqlx::query(&update)
                .bind(id)
                .bind(status)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            if !written {
                // Nothing moved: the snapshot taken above (if any) goes with the rollback.
                return Ok(false);
            }
            if status == IssueStatus::Sent {
                sqlx::query(
                    "update items set status = 'published', updated_at = $2 \
                     where id in (select item_id from issue_entries where issue_id = $1)",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        })?)
    }

    /// Issues not sent yet (drafts, approved, sending), newest first: the desk's work list.
    pub async fn open_issues(&self) -> Result<Vec<IssueRow>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select i.id, n.slug as newsletter, i.subject, i.intro, i.preheader, i.status, \
                 i.created_at, i.approved_at, i.sent_at, i.scheduled_at, i.scheduled_segment \
                 from issues i join newsletters n on n.id = i.newsletter_id \
                 where i.status <> 'sent' order by i.created_at desc, i.id desc limit 50",
            )
            .fetch_all(p)
            .await
        })?)
    }

    /// Sent issues of a title, newest first, and how many there are in all.
    pub async fn sent_issues(
        &self,
        newsletter: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<IssueRow>, i64)> {
        Ok(with_pool!(self, |p| {
            let rows = sqlx::query_as(
                "select i.id, n.slug as newsletter, i.subject, i.intro, i.preheader, i.status, \
                 i.created_at, i.approved_at, i.sent_at, i.scheduled_at, i.scheduled_segment \
                 from issues i join newsletters n on n.id = i.newsletter_id \
                 where n.slug = $1 and i.status = 'sent' \
                 order by i.sent_at desc, i.id desc limit $2 offset $3",
            )
            .bind(newsletter)
            .bind(limit)
            .bind(offset)
            .fetch_all(p)
            .await?;
            let total: i64 = sqlx::query_scalar(
                "select count(*) from issues i join newsletters n on n.id = i.newsletter_id \
                 where n.slug = $1 and i.status = 'sent'",
            )
            .bind(newsletter)
            .fetch_one(p)
            .await?;
            Ok::<_, sqlx::Error>((rows, total))
        })?)
    }

    /// Watch items that went out in a sent issue, newest first, each with the time it went
    /// out, the title it went out in, and its themes: as frozen in that issue when it has a
    /// snapshot, so that later edits of the item change nothing.
    pub async fn published_items(&self, limit: i64) -> Result<Vec<PublishedItem>> {
        let mut items: Vec<PublishedItem> = with_pool!(self, |p| {
            sqlx::query_as(
                "select i.id, u.id as issue_id, coalesce(e.title, i.title) as title, \
                   coalesce(e.summary, i.summary) as summary, i.url, s.name as source_name, \
                   n.slug as newsletter, u.sent_at \
                 from items i \
                 join sources s on s.id = i.source_id \
                 join issue_entries e on e.item_id = i.id \
                 join issues u on u.id = e.issue_id and u.status = 'sent' \
                 join newsletters n on n.id = u.newsletter_id \
                 where not exists (select 1 from issue_entries e2 join issues u2 on u2.id = e2.issue_id \
                   where e2.item_id = i.id and u2.status = 'sent' \
                   and (u2.sent_at < u.sent_at or (u2.sent_at = u.sent_at and u2.id < u.id))) \
                 order by u.sent_at desc, e.section, e.position limit $1",
            )
            .bind(limit)
            .fetch_all(p)
            .await
        })?;
        let mut issue_ids: Vec<i64> = items.iter().map(|i| i.issue_id).collect();
        issue_ids.sort_unstable();
        issue_ids.dedup();
        let mut frozen = std::collections::HashMap::new();
        for issue_id in issue_ids {
            if let Some(issue) = self.frozen_issue(issue_id).await? {
                frozen.insert(issue_id, issue);
            }
        }
        for item in items.iter_mut() {
            let entry = frozen
                .get(&item.issue_id)
                .and_then(|f| f.entries.iter().find(|e| e.item_id == Some(item.id)));
            if let Some(e) = entry {
                item.title = e.title.clone();
                item.summary = e.summary.clone();
                item.url = e.url.clone();
                item.source_name = e.source_name.clone().unwrap_or_default();
                item.themes = e.themes.clone();
                item.frozen = true;
            }
        }
        let ids: Vec<i64> = items.iter().filter(|i| !i.frozen).map(|i| i.id).collect();
        if ids.is_empty() {
            return Ok(items);
        }
        let tags: Vec<(i64, String)> = with_pool!(self, |p, Db| {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "select item_id, value from item_tags where kind = 'theme' and item_id in ",
            );
            super::push_list(&mut qb, ids.iter().copied());
            qb.push(" order by item_id, value");
            qb.build_query_as().fetch_all(p).await
        })?;
        for (id, theme) in tags {
            for item in items.iter_mut().filter(|i| i.id == id && !i.frozen) {
                item.themes.push(theme.clone());
            }
        }
        Ok(items)
    }
}

/// A watch item as partners syndicate it (the network's published watch).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PublishedItem {
    pub id: i64,
    /// The sent issue it first went out in.
    pub issue_id: i64,
    pub title: String,
    pub summary: String,
    pub url: Option<String>,
    pub source_name: String,
    pub newsletter: String,
    pub sent_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub themes: Vec<String>,
    /// Read from the issue's snapshot rather than the live item.
    #[sqlx(skip)]
    pub frozen: bool,
}
