#!/usr/bin/env bash
# Feed ingestion benchmarks, measured in one run on this machine:
#  1. parse + clean of the fixture feeds: relais (criterion median) against Python feedparser
#     (median of repeated runs over the same files), and the ratio;
#  2. a `relais fetch` pass over 500 sources on one loopback host, 20% of them faulty
#     (500, 404, 410, HTML page, truncated feed): wall time and peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
fixtures=$root/tests/fixtures/feeds

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
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
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
server=$!
python3 - "$port" >"$work/sources.toml" <<'PY'
import sys
port = int(sys.argv[1])
faulty = ["err", "missing", "gone", "html", "cut"]
for i in range(500):
    kind = faulty[(i // 5) % 5] if i % 5 == 0 else "ok"
    print(f'[[source]]\nslug = "s{i:03}"\nname = "Source {i}"\nurl = "http://127.0.0.1:{port}/{kind}/{i}"\nallow_private = true\n')
PY
sleep 0.5
export RELAIS_DATABASE_URL="sqlite://$work/relais.db" RELAIS_DATA_DIR="$work/data" \
  RELAIS_SOURCES="$work/sources.toml" RELAIS_SECRET=bench-secret-that-is-long-enough-0123456789 \
  RELAIS_TEMPLATES_DIR="$root/templates"
"$target/release/relais" migrate >/dev/null
/usr/bin/time -f "%e %M" -o "$work/time" "$target/release/relais" fetch 2>"$work/fetch.log" >/dev/null
read -r wall rss_kb <"$work/time"
tail -n 1 "$work/fetch.log"
echo "wall time  ${wall} s"
echo "peak RSS   $((rss_kb / 1024)) MiB (target < 100 MiB)"
