//! What ingest writes for the desk beside each new or changed item, a batch at a time: its
//! search words, its MinHash signature and band keys, and its story. Story assignment reads
//! the bands of every indexed item, so it runs under a lock (see `STORY_LOCK`).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;
use std::future::Future;

use crate::domain::similar::{self, Signature};

use super::desk::search_text;
use super::{with_pool, BeginWrite, Result, Store};

/// The PostgreSQL advisory lock key that serialises story assignment ("stor" in ASCII).
const STORY_LOCK: i64 = 0x73746f72;

/// An item is compared with at most this many candidates: the newest indexed items sharing a
/// band key with it.
const CANDIDATES: usize = 50;

/// Integers inlined in one statement (band keys, ids): a statement stays a few dozen KB.
const INLINED: usize = 1000;

/// Band keys bound in one SQLite statement: two values each, far below its 32,766.
const BAND_ROWS: usize = 1000;

/// An item to index, in the order the feed gave it.
#[derive(Debug, Clone)]
pub(super) struct Indexing {
    pub id: i64,
    pub signature: Signature,
    /// Its story when it already has one (a changed item keeps the story it was first given).
    pub story: Option<i64>,
    /// Stored before this batch: it may hold band keys written by an earlier indexing.
    pub stored: bool,
}

/// Indexed items sharing band keys with a batch, as the database held them before it.
#[derive(Debug, Default)]
pub(super) struct Candidates {
    /// Per band key, the newest items holding it, newest first: `CANDIDATES` plus one per
    /// batch item that may already hold keys, so that leaving those out still leaves the
    /// `CANDIDATES` newest of the others.
    pub by_key: HashMap<i64, Vec<i64>>,
    /// Story (its own id when it has none) and signature of each of them.
    pub items: HashMap<i64, (i64, Option<Signature>)>,
}

/// How many newest items per band key `Candidates` must hold for this batch.
pub(super) fn per_key(batch: &[Indexing]) -> usize {
    CANDIDATES + 1 + batch.iter().filter(|i| i.stored).count()
}

/// The story of each item of the batch, as if each were indexed in turn, in order: the story
/// of the most similar candidate (at least `similar::THRESHOLD`) among the `CANDIDATES`
/// newest indexed items sharing a band key with it, else its own id; an item that has a story
/// keeps it. Items earlier in the batch count with what this batch gives them, later ones as
/// the database held them.
pub(super) fn assign_stories(batch: &[Indexing], stored: &Candidates) -> Vec<i64> {
    let mut done: HashMap<i64, (i64, &Signature)> = HashMap::new();
    let mut done_keys: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut stories = Vec::with_capacity(batch.len());
    for item in batch {
        let keys = similar::band_keys(&item.signature);
        let computed = if item.signature.is_empty() {
            item.id
        } else {
            let mut ids: Vec<i64> = keys
                .iter()
                .flat_map(|k| stored.by_key.get(k).into_iter().flatten())
                .filter(|id| !done.contains_key(id))
                .chain(
                    keys.iter()
                        .flat_map(|k| done_keys.get(k).into_iter().flatten()),
                )
                .copied()
                .filter(|&id| id != item.id)
                .collect();
            ids.sort_unstable_by(|a, b| b.cmp(a));
            ids.dedup();
            ids.truncate(CANDIDATES);
            // Newest first, and `max_by` keeps the last of equal scores: the oldest wins a tie.
            ids.iter()
                .filter_map(|id| match done.get(id) {
                    Some(&(story, sig)) => Some((story, sig)),
                    None => stored
                        .items
                        .get(id)
                        .and_then(|(story, sig)| Some((*story, sig.as_ref()?))),
                })
                .filter_map(|(story, other)| {
                    let score = similar::similarity(&item.signature, other);
                    (score >= similar::THRESHOLD).then_some((score, story))
                })
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map_or(item.id, |(_, story)| story)
        };
        let story = item.story.unwrap_or(computed);
        stories.push(story);
        done.insert(item.id, (story, &item.signature));
        if !item.signature.is_empty() {
            for key in keys {
                done_keys.entry(key).or_default().push(item.id);
            }
        }
    }
    stories
}

/// An indexed item as the candidates read it: (id, story or its own id, signature).
type StoryRow = (i64, i64, Option<Vec<u8>>);

/// The statements of indexing, per backend.
pub(super) trait IndexSql {
    /// Takes the story lock, held until commit.
    fn lock_stories(&mut self) -> impl Future<Output = sqlx::Result<()>> + Send;
    /// Per band key, up to `newest` items holding it, newest first, as (key, item).
    fn newest_by_key(
        &mut self,
        keys: &[i64],
        newest: i64,
    ) -> impl Future<Output = sqlx::Result<Vec<(i64, i64)>>> + Send;
    /// The story and signature of these items.
    fn stories_of(
        &mut self,
        ids: &[i64],
    ) -> impl Future<Output = sqlx::Result<Vec<StoryRow>>> + Send;
    fn delete_bands(
        &mut self,
        keys: &[i64],
        ids: &[i64],
    ) -> impl Future<Output = sqlx::Result<()>> + Send;
    fn insert_bands(
        &mut self,
        keys: &[i64],
        ids: &[i64],
    ) -> impl Future<Output = sqlx::Result<()>> + Send;
}

// Keys and ids are integers computed here or read from the database. SQLite gets the ids of
// reads inlined, which is safe and keeps those statements free of the bound-parameter limit;
// each such text is new, so none is kept prepared (the connections' statement caches would
// fill with hundreds of them: SQLite's peak memory doubled). The band keys looked up, a
// batch's largest list by far (16 per item), are bound as one JSON array read by `json_each`:
// one statement of fixed text per batch, compiled once per connection; the keys written are
// bound rows (see `insert_bands`).
impl IndexSql for sqlx::SqliteConnection {
    async fn lock_stories(&mut self) -> sqlx::Result<()> {
        // Write transactions are serialised already.
        Ok(())
    }

    async fn newest_by_key(&mut self, keys: &[i64], newest: i64) -> sqlx::Result<Vec<(i64, i64)>> {
        // The keys drive the join, one primary key search each (they are distinct): `in`
        // over the same list first built a temporary index of it.
        sqlx::query_as(
            "select band_key, item_id from (select b.band_key, b.item_id, row_number() \
             over (partition by b.band_key order by b.item_id desc) as place \
             from json_each($1) k join item_bands b on b.band_key = k.value) ranked \
             where place <= $2",
        )
        .bind(json_list(keys.iter().copied()))
        .bind(newest)
        .fetch_all(&mut *self)
        .await
    }

    async fn stories_of(&mut self, ids: &[i64]) -> sqlx::Result<Vec<StoryRow>> {
        let mut rows = Vec::new();
        for part in ids.chunks(INLINED) {
            let sql = format!(
                "select id, coalesce(story_id, id), signature from items where id in ({})",
                inlined(part)
            );
            rows.extend(
                sqlx::query_as::<_, StoryRow>(&sql)
                    .persistent(false)
                    .fetch_all(&mut *self)
                    .await?,
            );
        }
        Ok(rows)
    }

    async fn delete_bands(&mut self, keys: &[i64], ids: &[i64]) -> sqlx::Result<()> {
        // Through the primary key, one row at a time: changed items are few.
        for (key, id) in keys.iter().zip(ids) {
            sqlx::query("delete from item_bands where band_key = $1 and item_id = $2")
                .bind(key)
                .bind(id)
                .execute(&mut *self)
                .await?;
        }
        Ok(())
    }

    async fn insert_bands(&mut self, keys: &[i64], ids: &[i64]) -> sqlx::Result<()> {
        // Bound `values` rows, BAND_ROWS a statement: a statement of fixed text, compiled
        // once per connection, for all but the last. A JSON array of pairs read by
        // `json_each`, one statement a batch, parsed each pair twice (`->> 0`, `->> 1`): a
        // first fetch's 400,000 band keys took 1.0–1.1 s that way and 0.42–0.55 s as rows
        // (in memory, the same sorted groups of 37,000).
        for (keys, ids) in keys.chunks(BAND_ROWS).zip(ids.chunks(BAND_ROWS)) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "insert into item_bands (band_key, item_id) ",
            );
            qb.push_values(keys.iter().zip(ids), |mut row, (key, id)| {
                row.push_bind(*key).push_bind(*id);
            });
            qb.build()
                .persistent(keys.len() == BAND_ROWS)
                .execute(&mut *self)
                .await?;
        }
        Ok(())
    }
}

// PostgreSQL gets each list as one array: the statements' texts stay the same, are prepared
// once, and skip parsing thousands of literals.
impl IndexSql for sqlx::PgConnection {
    async fn lock_stories(&mut self) -> sqlx::Result<()> {
        sqlx::query("select pg_advisory_xact_lock($1)")
            .bind(STORY_LOCK)
            .execute(&mut *self)
            .await?;
        // Without JIT, which the estimates of tables grown during the pass would switch on
        // for a few milliseconds of work.
        sqlx::query("set local jit = off")
            .execute(&mut *self)
            .await?;
        Ok(())
    }

    async fn newest_by_key(&mut self, keys: &[i64], newest: i64) -> sqlx::Result<Vec<(i64, i64)>> {
        // One index probe per key (a lateral join), and below one per item: with the
        // statistics of tables that grew during the pass, the planner would otherwise scan
        // them whole, under the lock.
        sqlx::query_as(
            "select k.band_key, c.item_id from unnest($1::bigint[]) as k(band_key) \
             cross join lateral (select b.item_id from item_bands b \
             where b.band_key = k.band_key order by b.item_id desc limit $2) c",
        )
        .bind(keys)
        .bind(newest)
        .fetch_all(&mut *self)
        .await
    }

    async fn stories_of(&mut self, ids: &[i64]) -> sqlx::Result<Vec<StoryRow>> {
        sqlx::query_as(
            "select i.id, coalesce(i.story_id, i.id), i.signature \
             from unnest($1::bigint[]) as k(id) \
             cross join lateral (select id, story_id, signature from items \
             where id = k.id) i",
        )
        .bind(ids)
        .fetch_all(&mut *self)
        .await
    }

    async fn delete_bands(&mut self, keys: &[i64], ids: &[i64]) -> sqlx::Result<()> {
        sqlx::query(
            "delete from item_bands b using unnest($1::bigint[], $2::bigint[]) as d(k, i) \
             where b.band_key = d.k and b.item_id = d.i",
        )
        .bind(keys)
        .bind(ids)
        .execute(&mut *self)
        .await?;
        Ok(())
    }

    async fn insert_bands(&mut self, keys: &[i64], ids: &[i64]) -> sqlx::Result<()> {
        sqlx::query(
            "insert into item_bands (band_key, item_id) \
             select * from unnest($1::bigint[], $2::bigint[])",
        )
        .bind(keys)
        .bind(ids)
        .execute(&mut *self)
        .await?;
        Ok(())
    }
}

/// Inside a write transaction, before any row of the batch is written: takes the story lock,
/// reads the candidates and gives the story of each item of the batch, in order (an item that
/// has one keeps it). The caller writes the stories with the rows, then calls [`write_bands`].
///
/// Story assignment is serialised: two relays indexed in concurrent transactions would not
/// see each other's bands. SQLite's write transactions already are; PostgreSQL takes a
/// transaction-level advisory lock, held until commit.
pub(super) async fn assign_batch<C: IndexSql + Send>(
    conn: &mut C,
    batch: &[Indexing],
) -> sqlx::Result<Vec<i64>> {
    conn.lock_stories().await?;
    let keys: Vec<i64> = batch
        .iter()
        .filter(|i| !i.signature.is_empty())
        .flat_map(|i| similar::band_keys(&i.signature))
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    let mut candidates = Candidates::default();
    // Bands are only ever written with the item's signature, so every item a key names has
    // one.
    for (key, id) in conn.newest_by_key(&keys, per_key(batch) as i64).await? {
        candidates.by_key.entry(key).or_default().push(id);
    }
    let ids: Vec<i64> = candidates
        .by_key
        .values()
        .flatten()
        .copied()
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    for (id, story, bytes) in conn.stories_of(&ids).await? {
        let sig = bytes.as_deref().and_then(similar::from_bytes);
        candidates.items.insert(id, (story, sig));
    }
    Ok(assign_stories(batch, &candidates))
}

/// Inside the write transaction of [`assign_batch`], once the batch's new rows exist and
/// before its stored rows get their new signatures: replaces the band keys of its items stored
/// before, and writes those of the others. A stored item's keys are those of its stored
/// signature (bands are only ever written from it), so they are found through the primary
/// key: no index by item is kept, which was a third of writing the bands. The items hold no
/// band any more and get theirs under the story lock: with each item's keys distinct, a plain
/// insert cannot conflict, and skips the conflict check of every row.
pub(super) async fn write_bands<C: IndexSql + Send>(
    conn: &mut C,
    batch: &[Indexing],
) -> sqlx::Result<()> {
    let stored: Vec<i64> = batch.iter().filter(|i| i.stored).map(|i| i.id).collect();
    if !stored.is_empty() {
        let old: Vec<Indexing> = conn
            .stories_of(&stored)
            .await?
            .into_iter()
            .filter_map(|(id, _, bytes)| {
                let signature = similar::from_bytes(bytes.as_deref()?)?;
                Some(Indexing {
                    id,
                    signature,
                    story: None,
                    stored: true,
                })
            })
            .collect();
        let (keys, ids) = bands(&old);
        if !keys.is_empty() {
            conn.delete_bands(&keys, &ids).await?;
        }
    }
    let (keys, ids) = bands(batch);
    if !keys.is_empty() {
        // In key order, the primary key's pages are visited once each, left to right (on
        // PostgreSQL, a first fetch's 400,000 keys: 1.27 s in the order of the items, 1.01 s
        // sorted, in pg_stat_statements).
        let mut rows: Vec<(i64, i64)> = keys.into_iter().zip(ids).collect();
        rows.sort_unstable();
        let (keys, ids): (Vec<i64>, Vec<i64>) = rows.into_iter().unzip();
        conn.insert_bands(&keys, &ids).await?;
    }
    Ok(())
}

/// Integers as a JSON array, for `json_each`.
fn json_list(values: impl Iterator<Item = i64>) -> String {
    let mut out = String::from("[");
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write!(out, "{value}").expect("writing to a String");
    }
    out.push(']');
    out
}

/// Integers as an SQL list, to inline (they are computed here or read from the database).
fn inlined(values: &[i64]) -> String {
    values
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The band rows of a batch as (keys, item ids), each item's keys once. An item without words
/// has none: its keys would only crowd one bucket.
pub(super) fn bands(batch: &[Indexing]) -> (Vec<i64>, Vec<i64>) {
    let (mut keys, mut ids) = (Vec::new(), Vec::new());
    for item in batch.iter().filter(|i| !i.signature.is_empty()) {
        let mut own = similar::band_keys(&item.signature);
        own.sort_unstable();
        let mut last = None;
        for key in own {
            if last != Some(key) {
                keys.push(key);
                ids.push(item.id);
            }
            last = Some(key);
        }
    }
    (keys, ids)
}

impl Store {
    /// Items stored before search and stories existed get theirs (migration 0009), a batch at
    /// a time; a no-op once done.
    pub(super) async fn fill_item_search(&self) -> Result<()> {
        type Row = (
            i64,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        loop {
            let filled = with_pool!(self, |p| {
                let mut tx = p.begin_write().await?;
                let rows: Vec<Row> = sqlx::query_as(
                    "select id, title, coalesce(summary_text, ''), edited_title, edited_summary, \
                     story_id from items where search_text is null order by id limit 500",
                )
                .fetch_all(&mut *tx)
                .await?;
                let batch: Vec<Indexing> = rows
                    .iter()
                    .map(|(id, title, text, _, _, story)| Indexing {
                        id: *id,
                        signature: similar::signature(title, text),
                        story: *story,
                        stored: true,
                    })
                    .collect();
                let stories = assign_batch(&mut *tx, &batch).await?;
                write_bands(&mut *tx, &batch).await?;
                for (((id, title, text, edited_title, edited_summary, _), item), story) in
                    rows.iter().zip(&batch).zip(stories)
                {
                    // Search reads the editor's words where there are some.
                    let search = search_text(
                        edited_title.as_deref().unwrap_or(title),
                        edited_summary.as_deref().unwrap_or(text),
                    );
                    sqlx::query(
                        "update items set search_text = $2, signature = $3, story_id = $4 \
                         where id = $1",
                    )
                    .bind(id)
                    .bind(&search)
                    .bind(similar::to_bytes(&item.signature))
                    .bind(story)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(rows.len())
            })?;
            if filled == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_key_lists_are_json_that_reads_back_the_same_integers() {
        let values = [0, -1, i64::MIN, i64::MAX, 42];
        let list: Vec<i64> = serde_json::from_str(&json_list(values.into_iter())).unwrap();
        assert_eq!(list, values);
        assert_eq!(json_list(std::iter::empty()), "[]");
    }

    #[tokio::test]
    async fn band_keys_at_the_ends_of_the_integers_go_in_and_come_back_through_sqlite() {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query(
            "create table item_bands (band_key integer not null, item_id integer not null, \
             primary key (band_key, item_id)) without rowid",
        )
        .execute(&mut db)
        .await
        .unwrap();
        let keys = [i64::MIN, -1, 0, 1, i64::MAX, i64::MAX];
        let ids = [1, 2, 3, 4, 5, 6];
        db.insert_bands(&keys, &ids).await.unwrap();
        let mut found = db
            .newest_by_key(&[i64::MIN, i64::MAX, 0, 9], 1)
            .await
            .unwrap();
        found.sort_unstable();
        assert_eq!(found, [(i64::MIN, 1), (0, 3), (i64::MAX, 6)]);
    }

    const CALL: &str =
        "Le ministère ouvre l'appel à projets Jeunesse et solidarité internationale \
        pour les associations françaises travaillant avec des partenaires au Sénégal. Les \
        dossiers sont à déposer avant le 15 janvier 2027.";
    const RELAY: &str = "Relayé : le ministère ouvre l'appel à projets Jeunesse et solidarité \
        internationale pour les associations françaises travaillant avec des partenaires au \
        Senegal. Les dossiers sont à déposer avant le 15 janvier 2027 !";
    const OTHER: &str = "Le conseil a examiné la programmation de l'aide bilatérale et la \
        stratégie santé mondiale pour les cinq prochaines années.";

    fn item(id: i64, text: &str, story: Option<i64>, stored: bool) -> Indexing {
        Indexing {
            id,
            signature: similar::signature("", text),
            story,
            stored,
        }
    }

    /// The database's candidates for these stored (id, story, text).
    fn candidates(rows: &[(i64, i64, &str)]) -> Candidates {
        let mut c = Candidates::default();
        for &(id, story, text) in rows {
            let sig = similar::signature("", text);
            for key in similar::band_keys(&sig) {
                c.by_key.entry(key).or_default().push(id);
            }
            c.items.insert(id, (story, Some(sig)));
        }
        c
    }

    #[test]
    fn a_relay_joins_the_story_of_a_stored_item() {
        let stored = candidates(&[(3, 1, CALL), (4, 4, OTHER)]);
        let stories = assign_stories(&[item(10, RELAY, None, false)], &stored);
        assert_eq!(stories, [1]);
    }

    #[test]
    fn an_item_joins_an_earlier_item_of_the_same_batch_and_others_stand_alone() {
        let batch = [
            item(10, CALL, None, false),
            item(11, OTHER, None, false),
            item(12, RELAY, None, false),
        ];
        assert_eq!(assign_stories(&batch, &Candidates::default()), [10, 11, 10]);
    }

    #[test]
    fn a_changed_item_keeps_its_story_and_counts_with_its_new_text() {
        // Item 5 told another story; its feed now tells the call, and keeps story 5.
        let stored = candidates(&[(5, 5, OTHER)]);
        let batch = [item(5, CALL, Some(5), true), item(12, RELAY, None, false)];
        assert_eq!(assign_stories(&batch, &stored), [5, 5]);
    }

    #[test]
    fn an_item_without_words_is_its_own_story() {
        let stored = candidates(&[(3, 3, CALL)]);
        assert_eq!(assign_stories(&[item(9, "", None, false)], &stored), [9]);
    }
}
