//! The Rust side of `scripts/bench-watch.sh --ingest`.
//!
//! `ingest_bench serve DIR PORT` serves every file of DIR from memory on 127.0.0.1:PORT as an
//! RSS feed (`/NAME`), so that the fetches measure relais, not the server.
//!
//! `ingest_bench parse DIR [RUNS]` parses and cleans every feed body in DIR on one thread,
//! nothing else (no tagging, keys, signatures or store), and prints the median of RUNS passes
//! as one JSON object: the yardstick the first fetch is compared with. Beside it, `digest_s`
//! is the median of a pass of the whole digest ingest runs before the store (also tags,
//! deadlines, dedup keys, search words and same-story signatures): the part of a first fetch
//! that is not the store's.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use relais::config::{SourceConfig, TagRule};
use relais::watch::budget::Budget;
use relais::watch::{clean, digest, parse};
use url::Url;

fn main() -> anyhow::Result<()> {
    let usage = "usage: ingest_bench serve DIR PORT | ingest_bench parse DIR [RUNS]";
    let mut args = std::env::args().skip(1);
    let mode = args.next().context(usage)?;
    let dir = PathBuf::from(args.next().context(usage)?);
    let bodies = read_dir(&dir)?;
    match mode.as_str() {
        "serve" => {
            let port: u16 = args.next().context(usage)?.parse().context("PORT")?;
            serve(bodies, port)
        }
        "parse" => {
            let runs: usize = args
                .next()
                .map_or(Ok(5), |a| a.parse())
                .context("RUNS is a count")?;
            parse_clean(bodies.into_values().collect(), runs)
        }
        _ => anyhow::bail!(usage),
    }
}

/// The files of `dir` by name.
fn read_dir(dir: &Path) -> anyhow::Result<HashMap<String, Vec<u8>>> {
    let mut bodies = HashMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .context("a file name")?
            .to_string_lossy()
            .into_owned();
        bodies.insert(name, std::fs::read(&path)?);
    }
    Ok(bodies)
}

fn serve(bodies: HashMap<String, Vec<u8>>, port: u16) -> anyhow::Result<()> {
    use axum::extract::{Path, State};
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let bodies = Arc::new(bodies);
    let feed = |State(bodies): State<Arc<HashMap<String, Vec<u8>>>>, Path(name): Path<String>| async move {
        match bodies.get(&name) {
            Some(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/rss+xml")],
                body.clone(),
            )
                .into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    };
    let app = axum::Router::new()
        .route("/{name}", axum::routing::get(feed))
        .with_state(bodies);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            axum::serve(listener, app).await?;
            Ok(())
        })
}

fn parse_clean(bodies: Vec<Vec<u8>>, runs: usize) -> anyhow::Result<()> {
    let base = Url::parse("http://127.0.0.1/feed.xml")?;
    // Title and summary cleaned, as `benches/watch.rs` measures; the second pass cleans each
    // entry whole, as ingest does (`clean::clean_entry`: also the plain text and the links).
    let (mut short, mut full, mut whole, mut entries) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let source = SourceConfig {
        slug: "bench".into(),
        name: "Bench".into(),
        url: base.clone(),
        newsletter: "coopdev-info",
        themes: vec!["sante".into()],
        countries: vec!["SN".into()],
        every: Duration::from_secs(3600),
        enabled: true,
        allow_private: true,
        keep: Vec::new(),
    };
    let rule = |kind: &'static str, value: &str, keywords: &[&str]| TagRule {
        kind,
        value: value.into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
    };
    let rules = [
        rule("theme", "eau-assainissement", &["eau", "assainissement"]),
        rule("theme", "sante", &["santé", "hôpital"]),
        rule("country", "SN", &["Sénégal"]),
    ];
    let budget = Budget::new(Duration::from_secs(3600));
    let now = chrono::Utc::now();
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        for bytes in &bodies {
            let feed = parse::parse_feed(black_box(bytes), &base, None)?;
            for e in &feed.entries {
                black_box(clean::clean_title(&e.title));
                black_box(clean::clean_summary(&e.summary, &base));
            }
        }
        short.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        entries = 0;
        for bytes in &bodies {
            let feed = parse::parse_feed(black_box(bytes), &base, None)?;
            for e in &feed.entries {
                black_box(clean::clean_entry(e, &base));
                entries += 1;
            }
        }
        full.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        for bytes in &bodies {
            black_box(digest::digest_feed(
                black_box(bytes),
                &base,
                None,
                &source,
                &rules,
                now,
                &budget,
            )?);
        }
        whole.push(started.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{{\"feeds\": {}, \"entries\": {entries}, \"parse_clean_s\": {:.3}, \"parse_clean_entry_s\": {:.3}, \"digest_s\": {:.3}}}",
        bodies.len(),
        median(&mut short),
        median(&mut full),
        median(&mut whole)
    );
    Ok(())
}
