#!/usr/bin/env bash
# How fast POST /subscribe answers while the SMTP relay does not answer at all (a listener
# that accepts connections and never greets): the confirmation is queued, never sent inside
# the request. A release build of `relais serve` on SQLite, behind a "trusted proxy" so that
# each request can come from its own visitor address (the per-connection limit would refuse
# the sixth otherwise). Prints the median and 95th percentile of N requests (default 300),
# each a new address, and the same with a relay that accepts everything (Postfix's smtp-sink),
# for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
n=${1:-300}
export PATH="/usr/sbin:/usr/bin:$PATH"

cargo build --release --quiet --bin relais
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

measure() { # $1: label, $2: SMTP URL
  local port dir
  port=$(free_port)
  dir="$work/$1"
  mkdir -p "$dir"
  : > "$dir/sources.toml"
  (cd "$dir" && exec env RELAIS_DATABASE_URL="sqlite://$dir/relais.db" RELAIS_DATA_DIR="$dir/data" \
     RELAIS_SOURCES="$dir/sources.toml" RELAIS_SMTP_URL="$2" RELAIS_SMTP_TIMEOUT=60s \
     RELAIS_LISTEN="127.0.0.1:$port" RELAIS_BASE_URL="http://127.0.0.1:$port" \
     RELAIS_TRUSTED_PROXIES=127.0.0.1 RELAIS_SECRET=bench-secret-long-enough-0123456789abcdef \
     RUST_LOG=warn "$target/release/relais" serve >"$dir/log" 2>&1) &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  for i in $(seq 1 "$n"); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "X-Forwarded-For: 10.$((i / 250)).$((i % 250)).1" \
      --data-urlencode "email=bench$i@example.org" -d newsletter=coopdev-info -d website= \
      "http://127.0.0.1:$port/subscribe"
  done > "$dir/times"
  python3 - "$1" "$dir/times" <<'PY'
import statistics, sys
t = sorted(float(x) * 1000 for x in open(sys.argv[2]))
p95 = t[int(len(t) * 0.95) - 1]
print(f"{sys.argv[1]:<24} {len(t)} requests: median {statistics.median(t):.1f} ms, p95 {p95:.1f} ms, max {t[-1]:.1f} ms")
PY
}

# A relay that takes the connection and never says a word.
silent=$(free_port)
python3 - "$silent" >/dev/null 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(512)
held = []
while True:
    c, _ = s.accept(); held.append(c)
PY
pids+=($!)
sink=$(free_port)
as_root=(); [ "$(id -u)" -eq 0 ] && as_root=(-u nobody)
smtp-sink "${as_root[@]}" "127.0.0.1:$sink" 512 >/dev/null 2>&1 &
pids+=($!)
sleep 0.3

echo "== POST /subscribe, $n new addresses, release build, SQLite"
measure "relay-silent" "smtp://127.0.0.1:$silent"
measure "relay-accepting" "smtp://127.0.0.1:$sink"
