//! The desk's reads and writes on watch items: the inbox, triage, an editor's edits, and the
//! stories that group the same news told by several sources.

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{search, ItemStatus};

use super::{with_pool, BeginWrite, Result, Store, StoreError};

/// What the inbox shows; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct InboxFilter {
    /// Folded search words (`domain::search::terms`), all required, as prefixes.
    pub terms: Vec<String>,
    pub source: Option<String>,
    pub theme: Option<String>,
    pub country: Option<String>,
    pub status: Option<ItemStatus>,
    /// Published (or, without a date, collected) on or after / on or before.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only items with a deadline, on or before this day.
    pub deadline_before: Option<NaiveDate>,
    /// Only items older than this one (the next page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// An item as the desk shows it: the editor's text where there is one.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct DeskItem {
    pub id: i64,
    pub source: String,
    pub source_name: String,
    pub url: Option<String>,
    pub title: String,
    pub feed_title: String,
    pub summary_text: String,
    pub feed_summary_text: String,
    pub published_at: Option<DateTime<Utc>>,
    pub fetched_at: DateTime<Utc>,
    pub deadline: Option<NaiveDate>,
    pub feed_deadline: Option<NaiveDate>,
    pub status: ItemStatus,
    pub changed: bool,
    pub edited: bool,
    pub story_id: i64,
    /// The title it was selected for (slug).
    pub selected_for: Option<String>,
    #[sqlx(skip)]
    pub themes: Vec<String>,
    #[sqlx(skip)]
    pub countries: Vec<String>,
}

/// An editor's version of an item; a field equal to the feed's clears the edit.
#[derive(Debug, Clone, Default)]
pub struct ItemEdit {
    pub title: String,
    pub summary: String,
    pub deadline: Option<NaiveDate>,
    pub themes: Vec<String>,
    pub countries: Vec<String>,
}

/// An issue an item is already in.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ItemPlacement {
    pub item_id: i64,
    pub issue_id: i64,
    pub newsletter: String,
    pub issue_status: crate::domain::IssueStatus,
}

/// The columns of a [`DeskItem`], over `items i`, `sources s` and `newsletters n`.
macro_rules! desk_columns {
    () => {
        "select i.id, s.slug as source, s.name as source_name, i.url, \
    coalesce(i.edited_title, i.title) as title, i.title as feed_title, \
    coalesce(i.edited_summary, i.summary_text, '') as summary_text, \
    coalesce(i.summary_text, '') as feed_summary_text, \
    i.published_at, i.fetched_at, coalesce(i.edited_deadline, i.deadline) as deadline, \
    i.deadline as feed_deadline, i.status, i.changed, \
    (i.edited_title is not null or i.edited_summary is not null or i.edited_deadline is not null) as edited, \
    coalesce(i.story_id, i.id) as story_id, n.slug as selected_for "
    };
}

/// The tables every desk read joins to an item.
macro_rules! desk_joins {
    () => {
        " join sources s on s.id = i.source_id left join newsletters n on n.id = i.selected_for"
    };
}

const DESK_SELECT: &str = concat!(desk_columns!(), "from items i", desk_joins!());

/// A SQLite search reads the full-text index in rowid (= item id) order, newest first, and
/// stops at the page: filtering `items` by a subquery of matches would sort every match.
const DESK_SELECT_FTS: &str = concat!(
    desk_columns!(),
    "from items_fts f cross join items i on i.id = f.rowid",
    desk_joins!()
);

/// The inbox counts its matches up to this many.
pub const COUNT_CAP: i64 = 1000;

/// The folded words searched for an item: its title and text as editors see them, each cut
/// to [`search::MAX_WORD`] characters (a search term is at most 40 and matches as a prefix,
/// so a longer word is still found; PostgreSQL refuses a lexeme past 2047 bytes).
pub(crate) fn search_text(title: &str, text: &str) -> String {
    search::fold_joined(&[title, text], search::MAX_WORD)
}

impl Store {
    /// The sources as the inbox's filter lists them: (slug, name, state), without counting
    /// their items.
    pub async fn source_choices(
        &self,
    ) -> Result<Vec<(String, String, crate::domain::SourceState)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as("select slug, name, state from sources order by slug")
                .fetch_all(p)
                .await
        })?)
    }

    /// Items matching the filter, newest collected first, and how many match in all (at most
    /// `COUNT_CAP + 1`: more than the cap reads « plus de … »).
    pub async fn inbox(&self, f: &InboxFilter) -> Result<(Vec<DeskItem>, i64)> {
        let sqlite = matches!(self.pool, super::Pool::Sqlite(_));
        let (mut rows, total) = with_pool!(self, |p, Db| {
            let mut rows = Vec::new();
            let mut total = 0i64;
            for count in [false, true] {
                // The count reads `items` alone and stops past COUNT_CAP: joins and an exact
                // count of 100,000 rows cost more than the page itself.
                let fts = sqlite && !f.terms.is_empty();
                let mut qb = sqlx::QueryBuilder::<Db>::new(match (count, fts) {
                    (true, false) => "select count(*) from (select 1 from items i",
                    (true, true) => {
                        "select count(*) from (select 1 from items_fts f \
                         cross join items i on i.id = f.rowid"
                    }
                    (false, false) => DESK_SELECT,
                    (false, true) => DESK_SELECT_FTS,
                });
                qb.push(" where 1 = 1");
                if !f.terms.is_empty() {
                    if fts {
                        qb.push(" and f.items_fts match ");
                        qb.push_bind(search::fts5_query(&f.terms));
                    } else {
                        qb.push(" and i.search_vector @@ to_tsquery('simple', ");
                        qb.push_bind(search::tsquery(&f.terms));
                        qb.push(")");
                    }
                }
                if let Some(source) = &f.source {
                    qb.push(" and i.source_id = (select id from sources where slug = ")
                        .push_bind(source.clone())
                        .push(")");
                }
                for (kind, value) in [("theme", &f.theme), ("country", &f.country)] {
                    if let Some(value) = value {
                        qb.push(" and i.id in (select item_id from item_tags where kind = ")
                            .push_bind(kind)
                            .push(" and value = ")
                            .push_bind(value.clone())
                            .push(")");
                    }
                }
                if let Some(status) = f.status {
                    qb.push(" and i.status = ").push_bind(status);
                }
                if let Some(from) = f.from {
                    qb.push(" and coalesce(i.published_at, i.fetched_at) >= ")
                        .push_bind(from);
                }
                if let Some(to) = f.to {
                    qb.push(" and coalesce(i.published_at, i.fetched_at) <= ")
                        .push_bind(to);
                }
                if let Some(d) = f.deadline_before {
                    // The `is not null` lets both planners use the partial index of items
                    // that have a deadline.
                    qb.push(
                        " and coalesce(i.edited_deadline, i.deadline) is not null \
                         and coalesce(i.edited_deadline, i.deadline) <= ",
                    )
                    .push_bind(d);
                }
                // `f.rowid` is `i.id`; naming the index's own column keeps FTS5 reading its
                // matches in order instead of sorting them all.
                let id = if fts { "f.rowid" } else { "i.id" };
                if count {
                    // Newest first, like the page: the capped count stops among the rows the
                    // page reads. Oldest first, a search for a common word on the newest
                    // items read 40,000 old matches to count 1,001 (840 ms against 7 ms).
                    qb.push(format!(" order by {id} desc limit "))
                        .push_bind(COUNT_CAP + 1)
                        .push(") c");
                    total = qb.build_query_scalar::<i64>().fetch_one(p).await?;
                } else {
                    if let Some(before) = f.before_id {
                        qb.push(format!(" and {id} < ")).push_bind(before);
                    }
                    qb.push(format!(" order by {id} desc limit "))
                        .push_bind(f.limit);
                    rows = qb.build_query_as::<DeskItem>().fetch_all(p).await?;
                }
            }
            Ok::<_, sqlx::Error>((rows, total))
        })?;
        self.attach_desk_tags(&mut rows).await?;
        Ok((rows, total))
    }

    pub async fn desk_item(&self, id: i64) -> Result<DeskItem> {
        let sql = format!("{DESK_SELECT} where i.id = $1");
        let row: Option<DeskItem> = with_pool!(self, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        let mut rows = vec![row.ok_or(StoreError::NotFound)?];
        self.attach_desk_tags(&mut rows).await?;
        Ok(rows.remove(0))
    }

    /// Every item of these stories, oldest first (the page shows the others beside each row).
    pub async fn story_members(&self, stories: &[i64]) -> Result<Vec<DeskItem>> {
        if stories.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = stories.iter().map(i64::to_string).collect();
        // Ids come from the database itself: inlining them is safe.
        let sql = format!(
            "{DESK_SELECT} where coalesce(i.story_id, i.id) in ({}) order by i.id",
            list.join(",")
        );
        let mut rows: Vec<DeskItem> =
            with_pool!(self, |p| sqlx::query_as(&sql).fetch_all(p).await)?;
        self.attach_desk_tags(&mut rows).await?;
        Ok(rows)
    }

    /// The issues these items are already in.
    pub async fn placements(&self, items: &[i64]) -> Result<Vec<ItemPlacement>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = items.iter().map(i64::to_string).collect();
        let sql = format!(
            "select e.item_id, e.issue_id, n.slug as newsletter, s.status as issue_status \
             from issue_entries e join issues s on s.id = e.issue_id \
             join newsletters n on n.id = s.newsletter_id \
             where e.item_id in ({}) order by e.issue_id",
            list.join(",")
        );
        Ok(with_pool!(self, |p| sqlx::query_as(&sql)
            .fetch_all(p)
            .await)?)
    }

    /// Moves items to `status`; `selected_for` names the title for a selection. Returns how
    /// many changed. Unknown ids are ignored.
    pub async fn triage(
        &self,
        ids: &[i64],
        status: ItemStatus,
        selected_for: Option<&str>,
    ) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let at = self.now();
        let done = with_pool!(self, |p, Db| {
            let mut qb = sqlx::QueryBuilder::<Db>::new("update items set status = ");
            qb.push_bind(status)
                .push(", changed = ")
                .push_bind(false)
                .push(", updated_at = ")
                .push_bind(at)
                .push(", selected_for = (select id from newsletters where slug = ")
                .push_bind(selected_for.map(str::to_string))
                .push(") where id in ");
            super::push_list(&mut qb, ids.iter().copied());
            qb.build().execute(p).await.map(|r| r.rows_affected())
        })?;
        Ok(done)
    }

    /// Items selected for a title and in no issue of it yet, oldest first.
    pub async fn selected_for(&self, newsletter: &str) -> Result<Vec<DeskItem>> {
        let sql = format!(
            "{DESK_SELECT} where i.status = 'selected' and n.slug = $1 and not exists \
             (select 1 from issue_entries e join issues x on x.id = e.issue_id \
              where e.item_id = i.id and x.newsletter_id = i.selected_for) order by i.id"
        );
        let mut rows: Vec<DeskItem> = with_pool!(self, |p| sqlx::query_as(&sql)
            .bind(newsletter)
            .fetch_all(p)
            .await)?;
        self.attach_desk_tags(&mut rows).await?;
        Ok(rows)
    }

    /// How many items are selected for each title and not yet in an issue of it.
    pub async fn selected_counts(&self) -> Result<Vec<(String, i64)>> {
        Ok(with_pool!(self, |p| {
            sqlx::query_as(
                "select n.slug, count(*) from items i join newsletters n on n.id = i.selected_for \
                 where i.status = 'selected' and not exists \
                 (select 1 from issue_entries e join issues x on x.id = e.issue_id \
                  where e.item_id = i.id and x.newsletter_id = i.selected_for) \
                 group by n.slug order by n.slug",
            )
            .fetch_all(p)
            .await
        })?)
    }

    /// Stores an editor's version beside the feed's: a field equal to the feed's clears the
    /// edit, so a later change in the feed shows again. Themes and countries set here are kept
    /// by retagging.
    pub async fn edit_item(&self, id: i64, edit: &ItemEdit) -> Result<()> {
        let current = self.desk_item(id).await?;
        let differs =
            |new: &str, feed: &str| (new.trim() != feed.trim()).then(|| new.trim().to_string());
        let title = differs(&edit.title, &current.feed_title);
        let summary = differs(&edit.summary, &current.feed_summary_text);
        let deadline = edit.deadline.filter(|d| Some(*d) != current.feed_deadline);
        let search = search_text(
            title.as_deref().unwrap_or(&current.feed_title),
            summary.as_deref().unwrap_or(&current.feed_summary_text),
        );
        let at = self.now();
        with_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(
                "update items set edited_title = $2, edited_summary = $3, edited_deadline = $4, \
                 search_text = $5, tags_edited = $6, updated_at = $7 where id = $1",
            )
            .bind(id)
            .bind(&title)
            .bind(&summary)
            .bind(deadline)
            .bind(&search)
            .bind(true)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("delete from item_tags where item_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let tags = edit
                .themes
                .iter()
                .map(|t| ("theme", t))
                .chain(edit.countries.iter().map(|c| ("country", c)));
            for (kind, value) in tags {
                sqlx::query(
                    "insert into item_tags (item_id, kind, value) values ($1, $2, $3) \
                     on conflict do nothing",
                )
                .bind(id)
                .bind(kind)
                .bind(value)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    async fn attach_desk_tags(&self, rows: &mut [DeskItem]) -> Result<()> {
        let mut tags = self.tags_of(rows.iter().map(|r| r.id)).await?;
        for row in rows.iter_mut() {
            (row.themes, row.countries) = tags.remove(&row.id).unwrap_or_default();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_are_cut_and_keep_their_start() {
        let long = "x".repeat(3000);
        let text = search_text("Été", &format!("avant {long} après"));
        let words: Vec<&str> = text.split(' ').collect();
        assert_eq!(words.len(), 4, "{text}");
        assert_eq!(words[0], "ete");
        assert_eq!(words[2], "x".repeat(search::MAX_WORD));
        assert_eq!(words[3], "apres");
        assert_eq!(search_text("Court", "et simple"), "court et simple");
    }
}
