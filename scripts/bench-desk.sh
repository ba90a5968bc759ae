#!/usr/bin/env bash
# The editors' inbox (GET /admin/veille) at N watch items (default 100,000), on SQLite then on
# PostgreSQL (RELAIS_BENCH_POSTGRES, an admin URL; default the loopback server; skipped with
# --sqlite-only). A release build of `relais serve` over a database filled in bulk: 20 sources,
# one year of French items with themes, countries, a few deadlines, ~10 % relays of the same
# story by another source. Prints, per request, the matches, the median and p95 of 50 timed
# requests after a warm-up, then the overall p95 (target < 50 ms); then the same-story grouping
# of a week's 2,000 items (criterion, target < 1 s). RELAIS_BENCH_KEEP=1 keeps the databases.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
sqlite_only=false
n=100000
for arg in "$@"; do
  case $arg in
    --sqlite-only) sqlite_only=true ;;
    *) n=$arg ;;
  esac
done
pg_admin=${RELAIS_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
pg_db=relais_bench_desk
reps=50

cargo build --release --quiet --bin relais
bin=$target/release/relais
work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  if [ "${RELAIS_BENCH_KEEP:-}" = 1 ]; then echo "kept: $work, database $pg_db"; return; fi
  $sqlite_only || psql "$pg_admin" -qc "drop database if exists $pg_db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Writes the bench's sources, items and tags: into the SQLite file ($1 = sqlite), or as COPY
# files in $3 ($1 = pg). Ids are explicit, so that relays can name their story.
generate() {
  python3 - "$@" <<'PY'
import datetime as dt, hashlib, random, sqlite3, sys, unicodedata
mode, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rnd = random.Random(2026)

def fold(text):  # src/domain/search.rs::fold
    out, pending = [], False
    def push(c):
        nonlocal pending
        if c.isascii() and c.isalnum():
            if pending and out:
                out.append(" ")
            pending = False
            out.append(c.lower())
        else:
            pending = True
    for c in unicodedata.normalize("NFKD", text):
        if c in "œŒ": push("o"); push("e")
        elif c in "æÆ": push("a"); push("e")
        elif c == "ß": push("s"); push("s")
        elif unicodedata.category(c).startswith("M"): pass
        else: push(c)
    return "".join(out)

SOURCES = [("afd", "Agence française de développement"), ("cites-unies", "Cités Unies France"),
    ("coordination-sud", "Coordination SUD"), ("f3e", "F3E"), ("focus-2030", "Focus 2030"),
    ("mae-appels", "Ministère de l'Europe et des Affaires étrangères"), ("region-occitanie", "Région Occitanie"),
    ("ambassade-senegal", "Ambassade de France au Sénégal"), ("pseau", "pS-Eau"), ("gret", "Gret"),
    ("france-volontaires", "France Volontaires"), ("educasol", "Educasol"), ("resacoop", "RESACOOP"),
    ("fondation-de-france", "Fondation de France"), ("onu-info", "ONU Info"), ("ue-echo", "ECHO — Union européenne"),
    ("rfi-afrique", "RFI Afrique"), ("jeune-afrique", "Jeune Afrique"), ("so-cooperation", "Solidarités Occitanie"),
    ("agence-eau", "Agence de l'eau Adour-Garonne")]
THEMES = {"sante": ["l'accès aux soins", "la santé maternelle", "la vaccination des enfants"],
    "eau-assainissement": ["l'accès à l'eau potable", "l'assainissement en milieu rural", "la gestion de l'eau"],
    "education-citoyennete": ["l'éducation à la citoyenneté mondiale", "la scolarisation des filles"],
    "jeunesse-volontariat": ["le volontariat de réciprocité", "la mobilité internationale des jeunes"],
    "formation": ["la formation professionnelle", "le renforcement des compétences des élus"],
    "financement": ["le cofinancement des projets", "les fonds de solidarité"],
    "migrations-accueil": ["l'accueil des personnes exilées", "les migrations et le développement"],
    "agriculture": ["l'agroécologie", "la sécurité alimentaire", "les filières céréalières"],
    "economie-mecenat": ["l'économie sociale et solidaire", "le mécénat d'entreprise"],
    "urgence": ["l'aide humanitaire d'urgence", "la reconstruction après les inondations"]}
COUNTRIES = [("SN", "au Sénégal"), ("MG", "à Madagascar"), ("BF", "au Burkina Faso"), ("ML", "au Mali"),
    ("BJ", "au Bénin"), ("CM", "au Cameroun"), ("MA", "au Maroc"), ("TN", "en Tunisie"), ("HT", "en Haïti"),
    ("LB", "au Liban"), ("PS", "en Palestine"), ("VN", "au Vietnam"), ("KH", "au Cambodge"),
    ("BR", "au Brésil"), ("NE", "au Niger"), ("TG", "au Togo")]
TITLES = ["Appel à projets : {t} {c}", "Appel à candidatures pour {t} {c}", "{t} : un nouveau programme {c}",
    "Rapport annuel sur {t} {c}", "Webinaire : {t}, retours d'expérience {c}", "Journée d'échanges sur {t} à Toulouse",
    "Les élus d'Occitanie s'engagent pour {t} {c}", "Lauréats 2026 du fonds pour {t}", "Étude : où en est {t} {c} ?"]
SENTENCES = ["Le programme soutient les collectivités et les associations engagées dans {t} {c}.",
    "Les dossiers de candidature présentent un budget prévisionnel et un plan de cofinancement.",
    "Cette initiative s'inscrit dans les objectifs de développement durable des Nations unies.",
    "Les partenaires locaux participent à chaque étape, de l'identification à l'évaluation.",
    "Une réunion d'information aura lieu en ligne ; l'inscription est gratuite mais obligatoire.",
    "Le rapport souligne le rôle des acteurs de la société civile et des femmes dans {t}.",
    "La coopération décentralisée finance des actions concrètes avec des résultats mesurables.",
    "L'aide publique au développement a reculé cette année, selon les chiffres publiés.",
    "Les projets éligibles associent au moins une structure française et une structure {c}.",
    "Les lauréats bénéficient d'un accompagnement méthodologique et d'une subvention de 15 000 €."]

now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
stamp = lambda t: t.isoformat()  # sqlx's text for DateTime<Utc>: 2026-11-30T05:00:00+00:00
year = 365 * 86400
fetched = sorted(now - dt.timedelta(seconds=rnd.randrange(year)) for _ in range(n))
items, tags = [], []
for i, at in enumerate(fetched, 1):
    src = rnd.randrange(len(SOURCES))
    if i > 50 and rnd.random() < 0.10:  # a relay of a recent item by another source
        orig = items[i - 1 - rnd.randrange(1, 50)]
        src = (orig["src"] + 1 + rnd.randrange(len(SOURCES) - 1)) % len(SOURCES)
        title = rnd.choice(["Relayé : ", "À lire : ", ""]) + orig["title"]
        text = orig["text"] + " " + rnd.choice(SENTENCES).format(t="ce projet", c="partenaire")
        story, themes, ctys, deadline = orig["story"], orig["themes"], orig["ctys"], orig["deadline"]
    else:
        themes = rnd.sample(list(THEMES), rnd.choice([1, 1, 2]))
        ctys = rnd.sample(COUNTRIES, rnd.choice([0, 1, 1, 2]))
        t = rnd.choice(THEMES[themes[0]])
        c = ctys[0][1] if ctys else "en Occitanie"
        tpl = rnd.choice(TITLES)
        title = tpl.format(t=t, c=c)
        title = title[0].upper() + title[1:]
        text = " ".join(s.format(t=t, c=c) for s in rnd.sample(SENTENCES, rnd.randint(3, 5)))
        story, ctys = i, [code for code, _ in ctys]
        deadline = None
        if tpl.startswith("Appel"):
            deadline = (at + dt.timedelta(days=rnd.randint(10, 60))).date().isoformat()
    age = (now - at).days
    status = rnd.choices(["new", "dismissed", "published", "selected"],
                         [85, 10, 0, 5] if age <= 30 else [4, 70, 18, 8])[0]
    slug, _ = SOURCES[src]
    url = f"https://{slug}.example.org/actualites/{i}"
    published = None if rnd.random() < 0.03 else at - dt.timedelta(seconds=rnd.randrange(172800))
    items.append(dict(id=i, src=src, title=title, text=text, story=story, themes=themes, ctys=ctys,
        deadline=deadline, row=(i, src + 1, "guid:" + url, url, url, title, f"<p>{text}</p>", text,
        hashlib.sha256(f"{title}\n<p>{text}</p>\n{url}".encode()).hexdigest(),
        published and stamp(published), deadline, status, rnd.random() < 0.02, stamp(at), stamp(at),
        rnd.choice([1, 2]) if status in ("selected", "published") else None, story, fold(f"{title} {text}"))))
    tags += [(i, "theme", t) for t in themes] + [(i, "country", c) for c in ctys]

sources = [(k + 1, slug, name, f"https://{slug}.example.org/feed", k % 2 + 1,
            "failing" if k == 7 else "ok", stamp(now - dt.timedelta(days=400)), stamp(now))
           for k, (slug, name) in enumerate(SOURCES)]
rows = [it["row"] for it in items]
if mode == "sqlite":
    db = sqlite3.connect(out)
    with db:
        db.executemany("insert into sources (id, slug, name, url, newsletter_id, state, created_at, "
                       "updated_at) values (?,?,?,?,?,?,?,?)", sources)
        db.executemany("insert into items (id, source_id, dedup_key, guid, url, title, summary, "
                       "summary_text, content_hash, published_at, deadline, status, changed, fetched_at, "
                       "updated_at, selected_for, story_id, search_text) values "
                       "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.executemany("insert into item_tags (item_id, kind, value) values (?,?,?)", tags)
else:
    def dump(name, table):
        with open(f"{out}/{name}.tsv", "w") as f:
            for r in table:
                f.write("\t".join("\\N" if v is None else ("t" if v else "f") if isinstance(v, bool)
                                  else str(v) for v in r) + "\n")
    dump("sources", sources); dump("items", rows); dump("tags", tags)
print(sum(1 for it in items if it["story"] != it["id"]), "relays,", len(tags), "tags")
PY
}

request() { # $1: query string; prints the time in seconds, checks the page is the inbox
  curl -sf -b "$work/cookies" -o "$work/page" -w '%{time_total}\n' "$base/admin/veille?$1"
}

bench_backend() { # $1: label, $2: database URL
  local label=$1 url=$2 start port
  rm -rf "$work/data"; : > "$work/sources.toml"
  export RELAIS_DATABASE_URL=$url RELAIS_DATA_DIR=$work/data RELAIS_SOURCES=$work/sources.toml \
    RELAIS_SECRET=bench-secret-long-enough-0123456789abcdef RUST_LOG=warn
  (cd "$work" && "$bin" migrate >/dev/null)
  echo "== $label: filling $n items"
  start=$(date +%s.%N)
  if [ "$label" = sqlite ]; then
    generate sqlite "$n" "${url#sqlite://}"
  else
    mkdir -p "$work/copy"
    generate pg "$n" "$work/copy"
    psql "$url" -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
\\copy sources (id, slug, name, url, newsletter_id, state, created_at, updated_at) from '$work/copy/sources.tsv'
\\copy items (id, source_id, dedup_key, guid, url, title, summary, summary_text, content_hash, published_at, deadline, status, changed, fetched_at, updated_at, selected_for, story_id, search_text) from '$work/copy/items.tsv'
\\copy item_tags (item_id, kind, value) from '$work/copy/tags.tsv'
select setval(pg_get_serial_sequence('sources', 'id'), (select max(id) from sources));
select setval(pg_get_serial_sequence('items', 'id'), (select max(id) from items));
vacuum analyze;
SQL
  fi
  printf 'fill: %.1f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"

  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  base=http://127.0.0.1:$port
  echo 'banc-essai-veille-2026' | (cd "$work" && "$bin" user add bench@example.org --role editor >/dev/null)
  (cd "$work" && exec env RELAIS_LISTEN="127.0.0.1:$port" RELAIS_BASE_URL="$base" \
    "$bin" serve >"$work/serve-$label.log" 2>&1) &
  server=$!
  for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf -c "$work/cookies" -o /dev/null -d email=bench@example.org -d password=banc-essai-veille-2026 \
    "$base/admin/login"

  local mid=$((n / 2))
  local queries=("" "etat=tous" "q=developpement" "q=eau+senegal" "source=pseau&theme=eau-assainissement"
    "country=SN&etat=tous" "du=$(date -d '-200 days' +%F)&au=$(date -d '-170 days' +%F)"
    "limite=$(date -d '-180 days' +%F)&etat=tous" "avant=$mid" "etat=tous&avant=$mid")
  echo "== $label: GET /admin/veille, $reps timed requests each after 3 warm-ups"
  : > "$work/all-$label"
  for q in "${queries[@]}"; do
    for _ in 1 2 3; do request "$q" >/dev/null; done
    for _ in $(seq 1 "$reps"); do request "$q"; done > "$work/times"
    tee -a "$work/all-$label" < "$work/times" >/dev/null
    python3 - "${q:-(plain)}" "$work/times" "$work/page" <<'PY'
import re, statistics, sys
t = sorted(float(x) * 1000 for x in open(sys.argv[2]))
page = open(sys.argv[3], encoding="utf-8").read()
total = re.search(r"<strong>(\d+)</strong> élément", page)
rows = page.count("data-item-id=")
p95 = t[int(len(t) * 0.95) - 1]
flag = "  OVER TARGET" if p95 >= 50 else ""
print(f"  {sys.argv[1]:<42} {total.group(1) if total else '?':>6} matches {rows:>3} rows"
      f"  median {statistics.median(t):6.1f} ms  p95 {p95:6.1f} ms{flag}")
PY
  done
  python3 - "$label" "$work/all-$label" <<'PY'
import sys
t = sorted(float(x) * 1000 for x in open(sys.argv[2]))
print(f"  {sys.argv[1]} overall: {len(t)} requests, p95 {t[int(len(t) * 0.95) - 1]:.1f} ms, max {t[-1]:.1f} ms (target p95 < 50 ms)")
PY
  kill "$server"; wait "$server" 2>/dev/null || true; server=
}

bench_backend sqlite "sqlite://$work/relais.db"
if ! $sqlite_only; then
  psql "$pg_admin" -qc "drop database if exists $pg_db" -c "create database $pg_db" >/dev/null
  bench_backend postgres "${pg_admin%/*}/$pg_db"
fi

echo "== same-story grouping, 2,000 items (criterion, benches/similar.rs)"
cargo bench --quiet --bench similar -- --warm-up-time 1 --measurement-time 3 >/dev/null 2>&1
for b in signature_2000_items group_2000_items; do
  python3 - "$b" "$target/criterion/$b/new/estimates.json" <<'PY'
import json, sys
ns = json.load(open(sys.argv[2]))["median"]["point_estimate"]
print(f"  {sys.argv[1]:<22} median {ns / 1e6:8.1f} ms (target < 1 s)")
PY
done
