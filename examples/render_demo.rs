//! The Rust side of scripts/bench-render.sh: renders a 30-item demo issue of each title,
//! writes its MJML and personalised HTML to OUT_DIR (for the reference renderer and for size
//! checks) and prints one JSON object of timings on stdout.
//!
//! `cargo run --release --example render_demo -- OUT_DIR [RENDER_RUNS] [ROUNDS] [MESSAGES]`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use relais::domain::KNOWN_NEWSLETTERS;
use relais::render::{compile_mjml, demo_issue, Recipient, Renderer};

const ITEMS: usize = 30;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .context("usage: render_demo OUT_DIR [RUNS] [ROUNDS] [MESSAGES]")?,
    );
    let number = |arg: Option<String>, default: usize| -> anyhow::Result<usize> {
        arg.map_or(Ok(default), |a| {
            a.parse().with_context(|| format!("not a count: {a}"))
        })
    };
    let runs = number(args.next(), 200)?.max(1);
    let rounds = number(args.next(), 5)?.max(1);
    let messages = number(args.next(), 100_000)?.max(1);

    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let templates = relais::assets::Templates::with_overrides(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
        true,
    )
    .unwrap();
    let renderer = Renderer::load(&templates)?;

    // Distinct per-recipient values, as a real send has, built before the clock starts.
    let people: Vec<(String, String, String)> = (0..1000)
        .map(|i| {
            (
                ["Camille", "Awa Diop", "", "Jean-Pierre Lefèvre"][i % 4].to_string(),
                format!("https://relais.example.org/desinscription/{i:08}.a1b2c3d4e5f6a7b8c9d0"),
                format!("https://relais.example.org/preferences/{i:08}.a1b2c3d4e5f6a7b8c9d0"),
            )
        })
        .collect();

    let mut titles = Vec::new();
    for n in KNOWN_NEWSLETTERS {
        let view = demo_issue(n, ITEMS);
        let rendered = renderer.render_issue(&view)?;
        let (html, text) = rendered.personalise(&Recipient {
            name: "Camille",
            unsubscribe_url: &people[0].1,
            preferences_url: &people[0].2,
        });
        std::fs::write(out.join(format!("{}.mjml", n.slug)), &rendered.mjml)?;
        std::fs::write(out.join(format!("{}.html", n.slug)), &html)?;

        // Warm-up, then one timing per render: handlebars + mrml, and mrml alone on the same
        // MJML (what the reference renderer is compared with).
        for _ in 0..10 {
            black_box(renderer.render_issue(&view)?);
        }
        let render_ms = median((0..runs).map(|_| {
            let t = Instant::now();
            black_box(renderer.render_issue(black_box(&view)).expect("renders"));
            t.elapsed().as_secs_f64() * 1e3
        }));
        let mrml_ms = median((0..runs).map(|_| {
            let t = Instant::now();
            black_box(compile_mjml(black_box(&rendered.mjml)).expect("compiles"));
            t.elapsed().as_secs_f64() * 1e3
        }));

        // Single thread: each round personalises `messages` copies, html and text.
        let per_second = median((0..rounds).map(|_| {
            let t = Instant::now();
            for i in 0..messages {
                let (name, unsubscribe_url, preferences_url) = &people[i % people.len()];
                black_box(rendered.personalise(&Recipient {
                    name,
                    unsubscribe_url,
                    preferences_url,
                }));
            }
            messages as f64 / t.elapsed().as_secs_f64()
        }));

        titles.push(serde_json::json!({
            "slug": n.slug,
            "items": ITEMS,
            "render_ms": render_ms,
            "mrml_ms": mrml_ms,
            "personalise_per_s": per_second,
            "mjml_bytes": rendered.mjml.len(),
            "html_bytes": html.len(),
            "text_bytes": text.len(),
        }));
    }
    let report = serde_json::json!({
        "runs": runs,
        "rounds": rounds,
        "messages": messages,
        "titles": titles,
    });
    println!("{report}");
    Ok(())
}

fn median(samples: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = samples.collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
