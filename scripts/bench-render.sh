#!/usr/bin/env bash
# Rendering benchmarks, measured in one run on this machine, on a 30-item demo issue of each
# title (relais::render::demo_issue):
#  1. relais rendering it: handlebars + mrml, and mrml alone (median of RENDER_RUNS);
#  2. personalisation: messages per second on one core (median of ROUNDS rounds of MESSAGES);
#  3. the reference renderer, npm mjml 4.18 in Node, compiling the same MJML in-process
#     (median of MJML_RUNS after warm-up), and the speed-up of relais over it;
#  4. the size of each personalised HTML (Gmail clips messages above 102 KB).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
render_runs=${RENDER_RUNS:-200}
rounds=${ROUNDS:-5}
messages=${MESSAGES:-100000}
mjml_runs=${MJML_RUNS:-200}

command -v node >/dev/null || { echo "node is missing (Debian: apt-get install nodejs npm)" >&2; exit 1; }
[ -x tools/mjml/node_modules/.bin/mjml ] || npm ci --prefix tools/mjml --no-audit --no-fund --loglevel=error >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== building (release)"
cargo build --quiet --release --example render_demo

echo "== relais: render ×$render_runs, personalise ${rounds}×$messages per title"
"$target/release/examples/render_demo" "$work" "$render_runs" "$rounds" "$messages" >"$work/relais.json"

echo "== reference: npm mjml $(node -p "require('./tools/mjml/node_modules/mjml/package.json').version") on Node $(node --version), ×$mjml_runs per title"
node tools/mjml/bench.js "$work" "$mjml_runs" >"$work/mjml.json"

echo "== results ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$work/relais.json" "$work/mjml.json" <<'PY'
import json, sys
relais = {t["slug"]: t for t in json.load(open(sys.argv[1]))["titles"]}
mjml = {t["slug"]: t for t in json.load(open(sys.argv[2]))["titles"]}
ok = True
def check(good, target):
    global ok
    ok &= good
    return f"(target {target}{'' if good else ', MISSED'})"
for slug, r in relais.items():
    m = mjml[slug]
    kb = r["html_bytes"] / 1024
    print(f"{slug}, {r['items']} items")
    print(f"  relais render (handlebars + mrml) {r['render_ms']:8.2f} ms  {check(r['render_ms'] <= 5, '≤ 5 ms')}")
    print(f"  relais mrml alone                 {r['mrml_ms']:8.2f} ms")
    print(f"  npm mjml, same MJML               {m['median_ms']:8.2f} ms")
    speedup = m["median_ms"] / r["render_ms"]
    print(f"  speed-up, whole render vs mjml    {speedup:8.1f}×    {check(speedup >= 30, '≥ 30×')}")
    print(f"  speed-up, mrml vs mjml            {m['median_ms'] / r['mrml_ms']:8.1f}×")
    rate = r["personalise_per_s"]
    print(f"  personalise                       {rate:8.0f} messages/s on one core  {check(rate >= 50000, '≥ 50,000')}")
    print(f"  HTML size                         {kb:8.1f} KB (mjml's: {m['html_bytes'] / 1024:.1f} KB)  {check(kb < 102, '< 102 KB, Gmail clips above')}")
print("all targets met" if ok else "some targets missed")
PY
