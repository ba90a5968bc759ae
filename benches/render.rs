//! Rendering a 30-item issue of each title (handlebars, then mrml) and personalising it for
//! one recipient: the work done once per issue variant and once per message.
//! scripts/bench-render.sh compares the first with the reference renderer (npm mjml).

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use relais::domain::KNOWN_NEWSLETTERS;
use relais::render::{demo_issue, Recipient, Renderer};

fn bench(c: &mut Criterion) {
    let templates = relais::assets::Templates::with_overrides(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
        true,
    )
    .unwrap();
    let renderer = Renderer::load(&templates).unwrap();
    let recipient = Recipient {
        name: "Camille",
        unsubscribe_url: "https://relais.example.org/desinscription/00000042.a1b2c3d4e5f6a7b8c9d0",
        preferences_url: "https://relais.example.org/preferences/00000042.a1b2c3d4e5f6a7b8c9d0",
    };
    for n in KNOWN_NEWSLETTERS {
        let view = demo_issue(n, 30);
        c.bench_function(&format!("render_30_items/{}", n.slug), |b| {
            b.iter(|| renderer.render_issue(std::hint::black_box(&view)).unwrap())
        });
        let rendered = renderer.render_issue(&view).unwrap();
        c.bench_function(&format!("personalise_30_items/{}", n.slug), |b| {
            b.iter(|| rendered.personalise(std::hint::black_box(&recipient)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
