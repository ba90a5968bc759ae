#!/usr/bin/env bash
# Scale: a 1,000,000-recipient dispatch (issue 15), on SQLite and on PostgreSQL.
#  1. `relais subscribers import` of N lines (default 1,000,000, all subscribed to
#     coopdev-info) into a fresh database: wall time, lines per second, peak RSS;
#  2. `relais issue send ISSUE` without --wait: it freezes the audience (one queued
#     `deliveries` row per recipient, one INSERT … SELECT) and returns: wall time and peak RSS
#     (`/usr/bin/time -v`), target under 10 s and under 300 MB;
#  3. the same send again, which must add nobody.
# PostgreSQL: a fresh database on RELAIS_BENCH_POSTGRES (an admin URL, default the loopback
# server), dropped after; skipped with --sqlite-only.
# Usage: scripts/bench-scale.sh [--sqlite-only|--postgres-only] [N]. RELAIS_BENCH_KEEP=1 keeps the files;
# RELAIS_BENCH_BIN=PATH measures another build of relais.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
sqlite_only=false
postgres_only=false
args=()
for arg in "$@"; do
  case $arg in
    --sqlite-only) sqlite_only=true ;;
    --postgres-only) postgres_only=true ;;
    *) args+=("$arg") ;;
  esac
done
n=${args[0]:-1000000}
pg_admin=${RELAIS_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
pg_db=relais_bench_scale_$$
command -v /usr/bin/time >/dev/null || { echo "/usr/bin/time is missing (Debian: time)" >&2; exit 1; }
$sqlite_only || command -v psql >/dev/null || { echo "psql is missing (or pass --sqlite-only)" >&2; exit 1; }

bin=${RELAIS_BENCH_BIN:-} # another build of relais to measure, instead of this tree's
if [ -z "$bin" ]; then
  echo "== building (release)"
  cargo build --release --quiet --bin relais
  bin=$target/release/relais
fi
work=$(mktemp -d)
cleanup() {
  if [ "${RELAIS_BENCH_KEEP:-}" = 1 ]; then echo "kept: $work, database $pg_db"; return; fi
  $sqlite_only || psql "$pg_admin" -qc "drop database if exists $pg_db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
: > "$work/sources.toml"

python3 - "$n" > "$work/subscribers.csv" <<'PY'
import random, sys
random.seed(15)
themes = ["sante", "eau-assainissement", "education-citoyennete", "jeunesse-volontariat", "formation", "financement"]
countries = ["SN", "MG", "BR", "PS", "KH", "CN", "BF", "ML"]
deps = ["09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"]
colleges = ["collectivite", "entreprise", "association", "recherche", "etablissement-public", ""]
out = sys.stdout
out.write("email,name,newsletters,themes,countries,departements,college\n")
for i in range(int(sys.argv[1])):
    t = ";".join(random.sample(themes, random.randint(0, 2)))
    c = ";".join(random.sample(countries, random.randint(0, 2)))
    n = random.choice(["", "coopdev-info", "coopdev-info;echos-du-reseau"])
    out.write(f"personne{i}@exemple{i % 997}.org,Personne {i},{n},{t},{c},{random.choice(deps)},{random.choice(colleges)}\n")
PY

# Runs relais under /usr/bin/time -v; "seconds peak_kib" in $work/time.
timed() {
  /usr/bin/time -v -o "$work/time.txt" "$bin" "$@"
  awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; w = s}
    /Maximum resident/ {m = $2} END {print w, m}' "$work/time.txt" > "$work/time"
}

scale() {
  local label=$1 url=$2
  (
    export RELAIS_DATABASE_URL=$url RELAIS_SOURCES=$work/sources.toml RELAIS_DATA_DIR=$work/data-$label \
      RELAIS_SECRET=bench-secret-bench-secret-bench-secret RELAIS_TEMPLATES_DIR=$root/templates
    "$bin" migrate >/dev/null
    echo "-- $label"
    timed subscribers import "$work/subscribers.csv" > "$work/import-$label.txt"
    read -r wall kib < "$work/time"
    printf 'import   %8d lines  %7.2f s  %8.0f lines/s  peak RSS %4d MB  (%s)\n' "$n" "$wall" \
      "$(echo "$n / $wall" | bc -l)" $((kib / 1024)) "$(tail -n 1 "$work/import-$label.txt")"
    local issue
    issue=$("$bin" issue create coopdev-info --subject "Un million" 2>/dev/null)
    timed issue send "$issue" --json > "$work/send-$label.json" 2>"$work/send-$label.err"
    read -r wall kib < "$work/time"
    local added
    added=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["added"])' "$work/send-$label.json")
    printf 'freeze   %8d recipients  %6.2f s (target < 10 s)  peak RSS %4d MB (target < 300 MB)\n' \
      "$added" "$wall" $((kib / 1024))
    timed issue send "$issue" --json > "$work/again-$label.json" 2>"$work/again-$label.err"
    read -r wall kib < "$work/time"
    added=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["added"])' "$work/again-$label.json")
    printf 'again    %8d added       %6.2f s\n' "$added" "$wall"
  )
}

echo "== $n subscribers ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
$postgres_only || scale sqlite "sqlite://$work/sqlite/relais.db"
if ! $sqlite_only; then
  PGOPTIONS=--client-min-messages=warning psql "$pg_admin" -qc "drop database if exists $pg_db" -c "create database $pg_db" >/dev/null
  scale postgres "${pg_admin%/*}/$pg_db"
fi
