//! Same-story grouping over a week and more of watch items: signing 2,000 items, then grouping
//! them. Synthetic items from a fixed word list and a seeded generator, about 10 % of them
//! near-copies of an earlier item (another title, a word changed, a sentence added), as
//! relays are.

use criterion::{criterion_group, criterion_main, Criterion};
use relais::domain::similar::{group, signature, Signature};

const ITEMS: usize = 2000;

const WORDS: &[&str] = &[
    "appel",
    "projets",
    "ambassade",
    "france",
    "coopération",
    "décentralisée",
    "collectivités",
    "associations",
    "jeunesse",
    "solidarité",
    "eau",
    "assainissement",
    "santé",
    "éducation",
    "formation",
    "agriculture",
    "climat",
    "énergie",
    "gouvernance",
    "démocratie",
    "femmes",
    "égalité",
    "migrations",
    "accueil",
    "urgence",
    "humanitaire",
    "financement",
    "subvention",
    "dossier",
    "candidature",
    "date",
    "limite",
    "dépôt",
    "mars",
    "avril",
    "juin",
    "septembre",
    "2025",
    "2026",
    "euros",
    "Sénégal",
    "Bénin",
    "Cameroun",
    "Madagascar",
    "Maroc",
    "Tunisie",
    "Burkina",
    "Mali",
    "Niger",
    "Togo",
    "Haïti",
    "Liban",
    "Palestine",
    "Arménie",
    "Vietnam",
    "Occitanie",
    "Toulouse",
    "Montpellier",
    "réseau",
    "plateforme",
    "programme",
    "fonds",
    "innovation",
    "société",
    "civile",
    "acteurs",
    "territoires",
    "partenariat",
    "volontariat",
    "service",
    "civique",
    "mobilité",
    "internationale",
    "nations",
    "unies",
    "union",
    "européenne",
    "commission",
    "développement",
    "durable",
    "objectifs",
    "biodiversité",
    "forêts",
    "alimentation",
    "nutrition",
    "vaccination",
    "hôpital",
    "école",
    "université",
    "recherche",
    "numérique",
    "culture",
    "patrimoine",
    "tourisme",
    "entreprises",
    "emploi",
    "insertion",
    "économie",
    "sociale",
    "microfinance",
    "rapport",
    "étude",
    "webinaire",
    "rencontre",
    "forum",
    "assises",
    "lauréats",
    "sélection",
    "critères",
    "éligibilité",
    "cofinancement",
    "budget",
    "prévisionnel",
    "statuts",
    "courriel",
    "information",
    "réunion",
];

/// xorshift64*: small, seeded, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn words(&mut self, n: usize) -> Vec<&'static str> {
        (0..n).map(|_| WORDS[self.below(WORDS.len())]).collect()
    }
}

/// (title, text) pairs: 8-word titles, 60-word texts; one in ten is a near-copy of an earlier
/// item.
fn items() -> Vec<(String, String)> {
    let mut rng = Rng(0x5eed_1e75_0f5a_3e01);
    let mut items: Vec<(String, String)> = Vec::with_capacity(ITEMS);
    while items.len() < ITEMS {
        if !items.is_empty() && rng.below(10) == 0 {
            let (_, text) = &items[rng.below(items.len())];
            let mut words: Vec<&str> = text.split(' ').collect();
            let changed = rng.below(words.len());
            words[changed] = WORDS[rng.below(WORDS.len())];
            let title = format!("Relayé : {}", rng.words(6).join(" "));
            let text = format!("{}. {}", words.join(" "), rng.words(8).join(" "));
            items.push((title, text));
        } else {
            items.push((rng.words(8).join(" "), rng.words(60).join(" ")));
        }
    }
    items
}

fn bench(c: &mut Criterion) {
    let items = items();
    c.bench_function("signature_2000_items", |b| {
        b.iter(|| {
            std::hint::black_box(&items)
                .iter()
                .map(|(title, text)| signature(title, text))
                .collect::<Vec<Signature>>()
        })
    });
    let sigs: Vec<Signature> = items.iter().map(|(t, x)| signature(t, x)).collect();
    let groups = group(&sigs);
    let grouped = groups.iter().filter(|g| g.len() > 1).count();
    eprintln!(
        "{ITEMS} items, {} groups, {grouped} of them with more than one item",
        groups.len()
    );
    c.bench_function("group_2000_items", |b| {
        b.iter(|| group(std::hint::black_box(&sigs)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
