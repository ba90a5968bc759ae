#!/usr/bin/env bash
# Subscriber import benchmark: N lines (default 100,000) into a fresh SQLite database and,
# when RELAIS_BENCH_POSTGRES is set (an admin URL), a fresh PostgreSQL database. Each import
# runs 3 times on a fresh database; prints the median wall time and lines per second, then
# the time of re-importing the same file (which must change nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-100000}
cargo build --release --quiet
bin=$PWD/target/release/relais
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$lines" > "$work/subscribers.csv" <<'PY'
import random, sys
random.seed(7)
themes = ["sante", "eau-assainissement", "education-citoyennete", "jeunesse-volontariat", "formation", "financement"]
countries = ["SN", "MG", "BR", "PS", "KH", "CN", "BF", "ML"]
deps = ["09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"]
colleges = ["collectivite", "entreprise", "association", "recherche", "etablissement-public", ""]
print("email,name,newsletters,themes,countries,departements,college")
for i in range(int(sys.argv[1])):
    t = ";".join(random.sample(themes, random.randint(0, 2)))
    c = ";".join(random.sample(countries, random.randint(0, 2)))
    n = random.choice(["", "coopdev-info", "echos-du-reseau"])
    print(f"personne{i}@exemple{i % 97}.org,Personne {i},{n},{t},{c},{random.choice(deps)},{random.choice(colleges)}")
PY
printf 'slug = 1\n' > /dev/null
: > "$work/sources.toml"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run() { # label url-maker
  local label=$1 times=() t
  for i in 1 2 3; do
    local url; url=$($2 "$i")
    local start end
    start=$(date +%s.%N)
    RELAIS_DATABASE_URL=$url RELAIS_SOURCES=$work/sources.toml RELAIS_DATA_DIR=$work/data RELAIS_SECRET=bench-secret-bench-secret-bench-secret \
      "$bin" subscribers import "$work/subscribers.csv" > "$work/out.txt"
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  t=$(printf '%s\n' "${times[@]}" | median)
  local start end again
  start=$(date +%s.%N)
  RELAIS_DATABASE_URL=$url RELAIS_SOURCES=$work/sources.toml RELAIS_DATA_DIR=$work/data RELAIS_SECRET=bench-secret-bench-secret-bench-secret \
    "$bin" subscribers import "$work/subscribers.csv" > "$work/again.txt"
  end=$(date +%s.%N)
  again=$(echo "$end - $start" | bc)
  printf '%-10s %7d lines  median %6.2f s  %8.0f lines/s   re-import %6.2f s: %s\n' \
    "$label" "$lines" "$t" "$(echo "$lines / $t" | bc -l)" "$again" "$(tail -n 1 "$work/again.txt")"
}

sqlite_url() { rm -rf "$work/db$1"; echo "sqlite://$work/db$1/relais.db"; }
run sqlite sqlite_url

if [ -n "${RELAIS_BENCH_POSTGRES:-}" ]; then
  pg_url() {
    local name="relais_bench_$1_$$"
    psql "$RELAIS_BENCH_POSTGRES" -qc "drop database if exists $name" -c "create database $name" >/dev/null
    echo "${RELAIS_BENCH_POSTGRES%/*}/$name"
  }
  run postgres pg_url
fi
