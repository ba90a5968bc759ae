#!/usr/bin/env bash
# Full-page screenshots in headless Chromium, written to docs/:
# - each title's golden issue (tests/golden/{slug}.html): {slug}-600.png at desktop width and
#   {slug}-375.png in 375 px mobile emulation;
# - the editors' desk on a demo installation (two realistic feeds served on loopback, three
#   subscribers, an issue being prepared and one sent to the outbox): desk-veille.png (the
#   watch inbox), desk-numero.png (the composer), desk-suivi.png (a send's report);
# - the member area and the ads board at 375 px (membre-espace.png, membre-annonce.png,
#   annonces.png), from the browser test tests/it/ads_browser.rs.
# Regenerate after changing the golden files or the desk's pages, and look at them before
# committing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromedriver >/dev/null && [ -x /usr/bin/chromium ] || {
  echo "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)" >&2
  exit 1
}
cargo build --quiet --release --bin relais --example screenshots
shots=target/release/examples/screenshots
relais="$PWD/target/release/relais"
"$shots" docs

work=$(mktemp -d)
cleanup() { kill "${feeds_pid:-}" "${serve_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/feeds"
python3 scripts/desk-demo-feeds.py "$work/feeds"
feeds_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
web_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$feeds_port" --bind 127.0.0.1 --directory "$work/feeds" >/dev/null 2>&1 &
feeds_pid=$!
cat > "$work/sources.toml" <<TOML
[[source]]
slug = "meae"
name = "Ministère de l'Europe et des Affaires étrangères"
url = "http://127.0.0.1:$feeds_port/meae.xml"
themes = ["financement"]
allow_private = true

[[source]]
slug = "afd"
name = "Agence française de développement"
url = "http://127.0.0.1:$feeds_port/afd.xml"
allow_private = true

[[rule]]
country = "SN"
keywords = ["Sénégal", "Senegal"]
TOML
export RELAIS_DATABASE_URL="sqlite://$work/relais.db" RELAIS_SOURCES="$work/sources.toml" \
  RELAIS_OUTBOX_DIR="$work/outbox" RELAIS_DATA_DIR="$work" \
  RELAIS_LISTEN="127.0.0.1:$web_port" RELAIS_BASE_URL="http://127.0.0.1:$web_port"
cd "$work"
sleep 0.5
"$relais" fetch >/dev/null
printf 'email,name,newsletters,countries\nawa@example.org,Awa,coopdev-info,SN\nbob@example.org,Bob,coopdev-info,MG\nchloe@example.org,Chloé,coopdev-info,\n' > abonnes.csv
"$relais" subscribers import abonnes.csv >/dev/null 2>&1
printf 'une phrase de passe de démonstration\n' | "$relais" user add redaction@example.org --role admin >/dev/null
# The ids of the items whose title contains a word, from the JSON lines of `relais items`.
ids_of() { "$relais" --json items | python3 -c "import json,sys; print(' '.join(str(i['id']) for i in map(json.loads, sys.stdin) if '$1' in i['title']))"; }
sent=$("$relais" issue create coopdev-info --subject "La veille de la semaine passée")
for id in $(ids_of Rapport) $(ids_of Facilité); do "$relais" issue add "$sent" --item "$id" >/dev/null 2>&1; done
"$relais" issue approve "$sent" 2>/dev/null
"$relais" issue send "$sent" --wait >/dev/null 2>&1
draft=$("$relais" issue create coopdev-info --subject "La veille du 3 décembre")
for id in $(ids_of Eau) $(ids_of Forum); do "$relais" issue add "$draft" --item "$id" >/dev/null 2>&1; done

"$relais" serve >/dev/null 2>&1 &
serve_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$web_port/healthz" >/dev/null && break; sleep 0.2; done
cd - >/dev/null
"$shots" docs --desk "http://127.0.0.1:$web_port" redaction@example.org \
  "une phrase de passe de démonstration" "$draft" "$sent"

# The member area and the ads board at phone width (membre-espace.png, membre-annonce.png,
# annonces.png), taken by the browser test that walks a member's ad from posting to the board.
RELAIS_SCREENSHOTS="$PWD/docs" cargo test --quiet --test it ads_browser
