#!/usr/bin/env bash
# Feed ingestion benchmarks, measured in one run on this machine:
#  1. parse + clean of the fixture feeds: relais (criterion median) against Python feedparser
#     (median of repeated runs over the same files), and the ratio;
#  2. a `relais fetch` pass over 500 sources on one loopback host, 20% of them faulty
#     (500, 404, 410, HTML page, truncated feed): wall time and peak memory;
#  3. ingest: a first `relais fetch` of 500 loopback feeds of 50 new items each (25,000 items,
#     ~10 % of them relays of another source's item), on SQLite then on PostgreSQL
#     (RELAIS_BENCH_POSTGRES, an admin URL, default the loopback server; skipped with
#     --sqlite-only), a second fetch of the same bodies, and parse + clean of the same bodies
#     alone on one thread (`examples/ingest_bench.rs`, which also serves the feeds): wall
#     times, peak memory and the ratio first fetch / parse + clean (target ≤ 3×); the first fetch
#     is run RUNS times (default 3), each into a fresh database, and its median is compared.
# Usage: scripts/bench-watch.sh [--ingest] [--sqlite-only]; --ingest runs the third part only.
# RELAIS_BENCH_KEEP=1 keeps the work folder and the PostgreSQL database; RELAIS_BENCH_PG_STATS=1
# prints PostgreSQL's slowest statements of the last first fetch (needs pg_stat_statements).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
fixtures=$root/tests/fixtures/feeds
ingest_only=false
sqlite_only=false
for arg in "$@"; do
  case $arg in
    --ingest) ingest_only=true ;;
    --sqlite-only) sqlite_only=true ;;
    *) echo "usage: $0 [--ingest] [--sqlite-only]" >&2; exit 2 ;;
  esac
done
pg_admin=${RELAIS_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
pg_db=relais_bench_ingest
work=$(mktemp -d)
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ "${RELAIS_BENCH_KEEP:-}" = 1 ]; then echo "kept: $work, database $pg_db"; return; fi
  $sqlite_only || psql "$pg_admin" -qc "drop database if exists $pg_db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

if ! $ingest_only; then
python3 -c 'import feedparser' 2>/dev/null || pip install --quiet feedparser

echo "== parse + clean, fixture feeds (relais, criterion)"
cargo bench --quiet --bench watch -- --warm-up-time 2 --measurement-time 5 >/dev/null
rust_ns=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['median']['point_estimate'])" \
  "$target/criterion/parse_clean_all_fixtures/new/estimates.json")

echo "== parse + clean, same files (Python feedparser $(python3 -c 'import feedparser; print(feedparser.__version__)'))"
python_ns=$(python3 - "$fixtures" <<'PY'
import glob, statistics, sys, time
import feedparser
files = sorted(f for f in glob.glob(sys.argv[1] + "/*") if not f.endswith(".html"))
data = [open(f, "rb").read() for f in files]
for d in data:
    feedparser.parse(d)
samples = []
deadline = time.perf_counter() + 5
while time.perf_counter() < deadline or len(samples) < 20:
    t = time.perf_counter()
    for d in data:
        feedparser.parse(d)
    samples.append(time.perf_counter() - t)
print(statistics.median(samples) * 1e9)
PY
)
python3 -c "
import sys
r, p = float(sys.argv[1]), float(sys.argv[2])
print(f'relais     median {r/1e3:10.1f} µs per pass over the fixtures')
print(f'feedparser median {p/1e3:10.1f} µs per pass over the fixtures')
print(f'ratio      {p/r:10.1f}× (target ≥ 20×)')
" "$rust_ns" "$python_ns"

echo "== relais fetch: 500 sources on one host, 20% faulty"
cargo build --quiet --release
port=$(free_port)
python3 - "$port" "$fixtures" <<'PY' &
import sys, http.server, socketserver
port, fixtures = int(sys.argv[1]), sys.argv[2]
feed = open(fixtures + "/politiques.xml", "rb").read()
page = open(fixtures + "/page.html", "rb").read()
cut = open(fixtures + "/truncated.xml", "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        kind = self.path.split("/")[1]
        status, ctype, body = {
            "ok": (200, "application/rss+xml", feed),
            "err": (500, "text/plain", b"boom"),
            "missing": (404, "text/plain", b"no"),
            "gone": (410, "text/plain", b"gone"),
            "html": (200, "text/html", page),
            "cut": (200, "application/rss+xml", cut),
        }[kind]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 128
S(("127.0.0.1", port), H).serve_forever()
PY
servers+=($!)
python3 - "$port" >"$work/sources.toml" <<'PY'
import sys
port = int(sys.argv[1])
faulty = ["err", "missing", "gone", "html", "cut"]
for i in range(500):
    kind = faulty[(i // 5) % 5] if i % 5 == 0 else "ok"
    print(f'[[source]]\nslug = "s{i:03}"\nname = "Source {i}"\nurl = "http://127.0.0.1:{port}/{kind}/{i}"\nallow_private = true\n')
PY
sleep 0.5
(
  export RELAIS_DATABASE_URL="sqlite://$work/relais.db" RELAIS_DATA_DIR="$work/data" \
    RELAIS_SOURCES="$work/sources.toml" RELAIS_SECRET=bench-secret-that-is-long-enough-0123456789 \
    RELAIS_TEMPLATES_DIR="$root/templates"
  "$target/release/relais" migrate >/dev/null
  /usr/bin/time -f "%e %M" -o "$work/time" "$target/release/relais" fetch 2>"$work/fetch.log" >/dev/null
  read -r wall rss_kb <"$work/time"
  tail -n 1 "$work/fetch.log"
  echo "wall time  ${wall} s"
  echo "peak RSS   $((rss_kb / 1024)) MiB (target < 100 MiB)"
)
fi

echo "== ingest: first fetch of 500 feeds × 50 new items, second fetch, parse + clean alone"
cargo build --quiet --release --bin relais --example ingest_bench
feeds=$work/feeds
mkdir -p "$feeds"
ingest_port=$(free_port)
# Seeded French-like items: titles of 6 to 12 words, summaries of 40 to 90 words in a few
# paragraphs with links and emphasis, a deadline in one item of eight, and about 10 % relays
# (another title, a few words changed) of an item of an earlier source.
python3 - "$feeds" "$ingest_port" >"$work/ingest-sources.toml" <<'PY'
import datetime as dt, html, random, sys
out, port = sys.argv[1], int(sys.argv[2])
rnd = random.Random(2026)
words = ("appel projets ambassade coopération décentralisée collectivités associations jeunesse "
  "solidarité eau assainissement santé éducation formation agriculture climat énergie "
  "gouvernance partenariat territoires développement programme financement subvention dossier "
  "candidature lauréats région département commune réseau acteurs internationale Sénégal Maroc "
  "Tunisie Burkina Bénin Madagascar Liban Haïti volontariat mobilité accueil migrations "
  "urgence humanitaire rapport stratégie conseil ministère agence fonds européen mission "
  "rencontre atelier webinaire semaine forum bilan évaluation numérique culture sport "
  "économie sociale mécénat entreprises innovation recherche université hôpital école "
  "femmes enfants rural urbain littoral sahel afrique méditerranée francophonie citoyenneté").split()
THEMES = ["sante", "eau-assainissement", "education-citoyennete", "jeunesse-volontariat",
          "formation", "financement", "migrations-accueil", "agriculture"]
COUNTRIES = ["SN", "MA", "TN", "BF", "BJ", "MG", "LB", "HT"]
def phrase(n):
    return " ".join(rnd.choice(words) for _ in range(n))
def summary(text_words):
    paras, out_html = [], []
    while text_words:
        k = rnd.randint(15, 35)
        paras.append(text_words[:k]); text_words = text_words[k:]
    for p in paras:
        i = rnd.randrange(len(p))
        p = list(p)
        if rnd.random() < 0.5:
            p[i] = f'<a href="/dossiers/{rnd.randrange(10**6)}">{p[i]}</a>'
        elif rnd.random() < 0.5:
            p[i] = f"<strong>{p[i]}</strong>"
        out_html.append("<p>" + " ".join(p) + "</p>")
    return "".join(out_html)
published = []  # (title, words) of items already written, for relays
start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
for s in range(500):
    items = []
    for i in range(50):
        if published and rnd.random() < 0.1:
            title, text = rnd.choice(published)
            title = "Relayé : " + title
            text = list(text)
            for _ in range(3):
                text[rnd.randrange(len(text))] = rnd.choice(words)
        else:
            title = phrase(rnd.randint(6, 12)).capitalize()
            text = phrase(rnd.randint(40, 90)).split()
            if i % 8 == 0:
                text += "dossiers à déposer avant le 15 janvier 2027".split()
            if rnd.random() < 0.3:
                published.append((title, text))
        when = start + dt.timedelta(minutes=rnd.randrange(40000))
        items.append(
            f"<item><title>{html.escape(title)}</title>"
            f"<link>https://source{s}.example.org/articles/{i}?utm_source=rss</link>"
            f"<guid isPermaLink=\"false\">s{s}-{i}</guid>"
            f"<pubDate>{when.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            f"<description>{html.escape(summary(text))}</description></item>")
    with open(f"{out}/{s:03}.xml", "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Source {s}</title><link>https://source{s}.example.org/</link>"
                "<description>banc</description>" + "".join(items) + "</channel></rss>")
    themes = ", ".join(f'"{t}"' for t in rnd.sample(THEMES, rnd.randint(0, 2)))
    print(f'[[source]]\nslug = "s{s:03}"\nname = "Source {s}"\n'
          f'url = "http://127.0.0.1:{port}/{s:03}.xml"\nallow_private = true\n'
          f'themes = [{themes}]\ncountries = ["{rnd.choice(COUNTRIES)}"]\n')
for theme, keys in [("eau-assainissement", ["eau", "assainissement"]), ("sante", ["santé", "hôpital"])]:
    print(f'[[rule]]\ntheme = "{theme}"\nkeywords = {keys!r}\n'.replace("'", '"'))
print('[[rule]]\ncountry = "SN"\nkeywords = ["Sénégal"]\n')
PY
"$target/release/examples/ingest_bench" serve "$feeds" "$ingest_port" &
servers+=($!)
sleep 0.5
echo "bodies     $(ls "$feeds" | wc -l) feeds, $(du -sk "$feeds" | cut -f1) KiB"
parse_json=$("$target/release/examples/ingest_bench" parse "$feeds" 5)

# Times `relais fetch` with the environment's database: "wall peak_kib" in $work/time; shows
# the pass's summary line.
timed_fetch() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$target/release/relais" fetch \
    2>"$work/fetch.log" >/dev/null
  tail -n 1 "$work/fetch.log" | sed 's/^/  /'
}

# A fresh, migrated database for one first fetch: "$1" is sqlite or postgres.
fresh_database() {
  if [ "$1" = sqlite ]; then
    rm -f "$work"/ingest.db*
  else
    psql "$pg_admin" -qc "drop database if exists $pg_db" >/dev/null
    psql "$pg_admin" -qc "create database $pg_db" >/dev/null
  fi
  "$target/release/relais" migrate >/dev/null 2>"$work/migrate.log" || { cat "$work/migrate.log" >&2; exit 1; }
}

# With RELAIS_BENCH_PG_STATS=1, where the server loads pg_stat_statements
# (shared_preload_libraries): "reset" before a first fetch, "show" after it prints the
# statements that took the most time in it, which is where PostgreSQL's writer spends the pass.
statement_stats() {
  [ "${RELAIS_BENCH_PG_STATS:-}" = 1 ] || return 0
  local db=${pg_admin%/*}/$pg_db
  if [ "$1" = reset ]; then
    psql "$db" -qc "create extension if not exists pg_stat_statements" -c "select pg_stat_statements_reset()" \
      >/dev/null 2>&1 || echo "  pg_stat_statements unavailable: add it to shared_preload_libraries" >&2
    return 0
  fi
  echo "  statements of the last first fetch (ms of execution, calls, rows, MB of WAL):"
  psql "$db" -AtF ' | ' -c "select round(total_exec_time), calls, rows, round(wal_bytes / 1e6, 1),
      left(regexp_replace(query, '\s+', ' ', 'g'), 90) from pg_stat_statements
      where query not like '%pg_stat_statements%' order by total_exec_time desc limit 8" 2>/dev/null | sed 's/^/    /'
}

# RUNS first fetches (default 3), each into a fresh database, then a second fetch after the
# last; the median first fetch against the median parse + clean.
ingest_on() {
  local label=$1 url=$2 firsts=() peaks=()
  (
    export RELAIS_DATABASE_URL="$url" RELAIS_DATA_DIR="$work/data-$label" \
      RELAIS_SOURCES="$work/ingest-sources.toml" \
      RELAIS_SECRET=bench-secret-that-is-long-enough-0123456789 \
      RELAIS_TEMPLATES_DIR="$root/templates"
    echo "-- $label"
    for _ in $(seq "${RUNS:-3}"); do
      fresh_database "$label"
      [ "$label" = postgres ] && statement_stats reset
      timed_fetch
      read -r first first_kb <"$work/time"
      firsts+=("$first")
      peaks+=("$first_kb")
    done
    [ "$label" = postgres ] && statement_stats show
    timed_fetch
    read -r second _ <"$work/time"
    python3 - "$label" "$second" "$parse_json" "${firsts[*]}" "${peaks[*]}" <<'PY'
import json, statistics, sys
label, second, parsed = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
firsts = [float(v) for v in sys.argv[4].split()]
peak = max(int(v) for v in sys.argv[5].split())
first = statistics.median(firsts)
pc, pce = parsed["parse_clean_s"], parsed["parse_clean_entry_s"]
runs = " ".join(f"{v:.2f}" for v in firsts)
print(f"first fetch   {first:6.2f} s  median of {len(firsts)} (runs: {runs}; peak RSS {peak // 1024} MiB)")
print(f"second fetch  {second:6.2f} s")
print(f"parse+clean   {pc:6.2f} s  median (with plain text and links, as ingest cleans: {pce:.2f} s)")
print(f"ratio         {first / pc:6.2f}× first fetch / parse+clean (target ≤ 3×; {first / pce:.2f}× against the full cleaning)")
PY
  )
}

ingest_on sqlite "sqlite://$work/ingest.db"
if ! $sqlite_only; then
  ingest_on postgres "${pg_admin%/*}/$pg_db"
fi
