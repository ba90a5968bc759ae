//! Parse and clean throughput on the feed fixtures: the work `poll_source` does between the
//! body arriving and the store. scripts/bench-watch.sh compares it with Python feedparser.

use criterion::{criterion_group, criterion_main, Criterion};
use relais::watch::{clean, parse};
use url::Url;

/// The fixture feeds (HTML pages left out), in name order: the set the script also gives
/// to feedparser.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/feeds");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "html"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn parse_and_clean(bytes: &[u8], base: &Url) -> usize {
    let Ok(feed) = parse::parse_feed(bytes, base, None) else {
        return 0;
    };
    feed.entries
        .iter()
        .map(|e| clean::clean_title(&e.title).len() + clean::clean_summary(&e.summary, base).len())
        .sum()
}

fn bench(c: &mut Criterion) {
    let files = fixtures();
    let base = Url::parse("https://example.org/feed.xml").unwrap();
    c.bench_function("parse_clean_all_fixtures", |b| {
        b.iter(|| {
            files
                .iter()
                .map(|(_, bytes)| parse_and_clean(std::hint::black_box(bytes), &base))
                .sum::<usize>()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
