#!/usr/bin/env bash
# Sending speed, side by side with Postfix's smtp-source in the same run: both send N messages
# (default 5,000) over C connections (default 8) to one Postfix smtp-sink on loopback.
# relais sends a 30-item personalised issue (about 48 KB) to N imported subscribers with
# `relais issue send ISSUE --wait`; smtp-source sends messages of the same size, reusing its
# connections as relais does (`-d`). Four settings: SQLite and PostgreSQL (a fresh database on
# RELAIS_BENCH_POSTGRES, an admin URL, default the loopback server; dropped after), each without
# and with DKIM (a 2048-bit RSA key made with openssl). Each is run RUNS times (default 3), each
# time a new issue to the same audience, smtp-source right before it; prints the medians in
# messages per second, the ratio relais / smtp-source (issue 15's target: at least 0.8) and the
# peak resident memory of relais (target: under 100 MB).
# Usage: scripts/bench-send.sh [--sqlite-only|--postgres-only] [--no-dkim] [N] [C]. RELAIS_BENCH_KEEP=1 keeps the files;
# RELAIS_BENCH_PERF=DIR records each timed send with `perf record` (DWARF call graphs) into
# DIR/LABEL-RUN.data, for `perf report` (the figures are then slower than without it); with
# RELAIS_BENCH_PERF_ALL=1 the whole machine is sampled instead (`perf report --sort comm,dso,sym`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
export PATH=/usr/sbin:/usr/bin:$PATH
sqlite_only=false
postgres_only=false
no_dkim=false
args=()
for arg in "$@"; do
  case $arg in
    --sqlite-only) sqlite_only=true ;;
    --postgres-only) postgres_only=true ;;
    --no-dkim) no_dkim=true ;;
    *) args+=("$arg") ;;
  esac
done
n=${args[0]:-5000}
c=${args[1]:-8}
runs=${RUNS:-3}
pg_admin=${RELAIS_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
pg_db=relais_bench_send_$$
# The benchmark databases' URLs: the admin URL's, on another database, with its options
# (`?sslmode=disable`, `?host=/var/run/postgresql` for the Unix socket…).
pg_url() {
  local base=${pg_admin%%\?*} query=
  [ "$base" = "$pg_admin" ] || query="?${pg_admin#*\?}"
  echo "${base%/*}/$1$query"
}

for tool in smtp-sink smtp-source /usr/bin/time openssl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (Debian: postfix, time, openssl, python3)" >&2; exit 1; }
done
$sqlite_only || command -v psql >/dev/null || { echo "psql is missing (or pass --sqlite-only)" >&2; exit 1; }

bin=${RELAIS_BENCH_BIN:-} # another build of relais to measure, instead of this tree's
if [ -z "$bin" ]; then
  echo "== building (release)"
  cargo build --release --quiet --bin relais
  bin=$target/release/relais
fi
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ "${RELAIS_BENCH_KEEP:-}" = 1 ]; then echo "kept: $work, database $pg_db"; return; fi
  $sqlite_only || psql "$pg_admin" -qc "drop database if exists $pg_db" -c "drop database if exists ${pg_db}_dkim" \
    >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

# A feed of 30 calls for projects, long enough for a message of about 48 KB, served on loopback.
mkdir -p "$work/feed"
python3 - > "$work/feed/appels.xml" <<'PY'
print('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
      '<title>Appels</title><link>https://exemple.org/</link><description>d</description>')
for n in range(30):
    text = ("Le programme soutient les collectivités et les associations engagées dans la "
            "coopération décentralisée ; les dossiers présentent un budget "
            "prévisionnel. ")
    print(f'<item><title>Appel à projets {n} pour la coopération décentralisée en Afrique de l\'Ouest</title>'
          f'<link>https://exemple.org/appels/{n}</link><guid>appel-{n}</guid>'
          f'<pubDate>Mon, 30 Nov 2026 08:{n:02d}:00 +0000</pubDate><description>{text}</description></item>')
print('</channel></rss>')
PY
feed_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$work/feed" "$feed_port" >/dev/null 2>&1 &
pids+=($!)
printf '[[source]]\nslug = "appels"\nname = "Appels"\nurl = "http://127.0.0.1:%s/appels.xml"\nallow_private = true\n' \
  "$feed_port" > "$work/sources.toml"

python3 - "$n" > "$work/subscribers.csv" <<'PY'
import sys
print("email,name,newsletters")
for i in range(int(sys.argv[1])):
    print(f"personne{i}@exemple{i % 97}.org,Personne {i},coopdev-info")
PY

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/dkim.pem" 2>/dev/null

sink_port=$(free_port)
sink_user=()
[ "$(id -u)" = 0 ] && sink_user=(-u nobody)
smtp-sink "${sink_user[@]}" "127.0.0.1:$sink_port" 256 &
pids+=($!)
for _ in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $sink_port))" 2>/dev/null && break
  sleep 0.1
done

relais() { "$bin" "$@"; }

# CPU seconds used so far by the processes named $1 (the database server's, or the sink's):
# the live ones, plus what their parents collected from children that exited (a PostgreSQL
# backend ends with the relais process it served).
cpu_of() {
  python3 - "$1" <<'PY'
import os, sys
ticks = 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    if comm == sys.argv[1]:
        ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
print(ticks / os.sysconf("SC_CLK_TCK"))
PY
}

# smtp-source: N messages of SIZE bytes over C connections; prints messages per second.
source_rate() {
  local start end
  start=$(now)
  /usr/bin/time -f '%U %S' -o "$work/source-time.txt" \
    smtp-source -d -l "$1" -m "$n" -s "$c" -f lettres@example.org -t to@example.org "127.0.0.1:$sink_port" >/dev/null
  end=$(now)
  echo "$n / ($end - $start)" | bc -l
}

# One setting: label, database URL, then extra environment (KEY=VALUE…).
bench() {
  local label=$1 url=$2
  shift 2
  export RELAIS_DATABASE_URL=$url RELAIS_SOURCES=$work/sources.toml RELAIS_DATA_DIR=$work/data-$label \
    RELAIS_SECRET=bench-secret-bench-secret-bench-secret RELAIS_TEMPLATES_DIR=$root/templates \
    RELAIS_SMTP_URL=smtp://127.0.0.1:$sink_port RELAIS_SMTP_CONNECTIONS=$c
  unset RELAIS_DKIM_KEY RELAIS_DKIM_SELECTOR RELAIS_DKIM_DOMAIN
  local kv
  for kv in "$@"; do export "${kv?}"; done
  relais fetch 2>/dev/null
  relais subscribers import "$work/subscribers.csv" >/dev/null 2>&1
  local items
  items=$(relais items --json --source appels | python3 -c 'import json, sys; print(" ".join(str(json.loads(l)["id"]) for l in sys.stdin))')
  local ours=() theirs=() rss=() size=0 r
  # CPU microseconds per message, medians: relais itself, the database server, the
  # sink while relais sends, and smtp-source itself: where the time of a message goes.
  local cpu_ours=() cpu_db=() cpu_sink=() cpu_theirs=()
  for r in $(seq "$runs"); do
    local issue item
    issue=$(relais issue create coopdev-info --subject "Banc d'essai $r" 2>/dev/null)
    for item in $items; do relais issue add "$issue" --item "$item" 2>/dev/null; done
    size=$(relais issue render "$issue" --format eml --to personne0@exemple0.org | wc -c)
    # smtp-source runs on a settled database: after the previous run's 5,000 updates,
    # PostgreSQL's autovacuum and checkpointer otherwise worked beside it (its CPU per message
    # was four times what it is alone, and its rate half). relais' own run is left as it was.
    case $url in postgres*) psql "$url" -q -c "vacuum analyze" -c "checkpoint" >/dev/null ;; esac
    theirs+=("$(source_rate "$size")")
    cpu_theirs+=("$(awk -v n="$n" '{print ($1 + $2) * 1e6 / n}' "$work/source-time.txt")")
    relais issue send "$issue" >/dev/null 2>&1 # freezes the audience; the timed run only sends
    local start end db0 sink0
    db0=$(cpu_of postgres)
    sink0=$(cpu_of smtp-sink)
    start=$(now)
    local prof=()
    if [ -n "${RELAIS_BENCH_PERF:-}" ]; then
      prof=(perf record -q -F 499 --call-graph dwarf,16384 -o "$RELAIS_BENCH_PERF/$label-$r.data" --)
      # The whole machine (the database server and the sink too), sampled without call graphs.
      [ "${RELAIS_BENCH_PERF_ALL:-}" = 1 ] && prof=(perf record -q -a -e cpu-clock -F 999 -o "$RELAIS_BENCH_PERF/$label-$r.data" --)
    fi
    /usr/bin/time -v -o "$work/time.txt" "${prof[@]}" "$bin" issue send "$issue" --wait --json > "$work/send.json" 2>"$work/send.err"
    end=$(now)
    cpu_db+=("$(echo "($(cpu_of postgres) - $db0) * 1000000 / $n" | bc -l)")
    cpu_sink+=("$(echo "($(cpu_of smtp-sink) - $sink0) * 1000000 / $n" | bc -l)")
    cpu_ours+=("$(awk -F': ' -v n="$n" '/User time|System time/ {t += $2} END {print t * 1e6 / n}' "$work/time.txt")")
    local sent
    sent=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["counts"]["sent"])' "$work/send.json")
    [ "$sent" = "$n" ] || { echo "$label: $sent of $n sent" >&2; cat "$work/send.json" "$work/send.err" >&2; exit 1; }
    ours+=("$(echo "$n / ($end - $start)" | bc -l)")
    rss+=("$(awk -F': ' '/Maximum resident/ {print $2}' "$work/time.txt")")
  done
  local ours_m theirs_m rss_max
  ours_m=$(printf '%s\n' "${ours[@]}" | median)
  theirs_m=$(printf '%s\n' "${theirs[@]}" | median)
  rss_max=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
  printf '%-16s %6.0f msg/s  smtp-source %6.0f msg/s  ratio %5.2f  peak RSS %4.0f MB  (%s B messages; runs: %s)\n' \
    "$label" "$ours_m" "$theirs_m" "$(echo "$ours_m / $theirs_m" | bc -l)" "$(echo "$rss_max / 1024" | bc -l)" \
    "$size" "$(printf '%.0f ' "${ours[@]}")" | tee -a "$work/results.txt"
  printf '%-16s CPU µs per message: relais %4.0f, database %4.0f, sink %4.0f; smtp-source %4.0f\n' "" \
    "$(printf '%s\n' "${cpu_ours[@]}" | median)" "$(printf '%s\n' "${cpu_db[@]}" | median)" \
    "$(printf '%s\n' "${cpu_sink[@]}" | median)" "$(printf '%s\n' "${cpu_theirs[@]}" | median)" | tee -a "$work/results.txt"
}

dkim=(RELAIS_DKIM_KEY="$work/dkim.pem" RELAIS_DKIM_SELECTOR=bench RELAIS_DKIM_DOMAIN=example.org)
echo "== $n messages over $c connections, $runs runs each ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
if ! $postgres_only; then
  bench sqlite "sqlite://$work/sqlite/relais.db"
  $no_dkim || bench sqlite+dkim "sqlite://$work/sqlite-dkim/relais.db" "${dkim[@]}"
fi
if ! $sqlite_only; then
  for db in "$pg_db" "${pg_db}_dkim"; do
    PGOPTIONS=--client-min-messages=warning psql "$pg_admin" -qc "drop database if exists $db" -c "create database $db" >/dev/null
  done
  bench postgres "$(pg_url "$pg_db")"
  $no_dkim || bench postgres+dkim "$(pg_url "${pg_db}_dkim")" "${dkim[@]}"
fi
