#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what the tests need (Postfix for
# smtp-sink, Chromium and its driver for browser tests, dkimpy for DKIM, PostgreSQL, Node.js
# and npm if absent), starts PostgreSQL when it is not running, checks the golden MJML with
# the reference renderer (npm mjml, strict validation), then runs formatting and lint checks,
# cargo deny, unit tests, and the integration tests on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(postfix chromium chromium-driver openssl python3 python3-dkim python3-yaml curl)
command -v pg_ctlcluster >/dev/null || packages+=(postgresql)
command -v psql >/dev/null || packages+=(postgresql-client)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
echo "== installing ${packages[*]}"
sudo_if_needed apt-get update -qq
sudo_if_needed apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

# smtp-sink is all the tests use from Postfix; the Postfix daemon itself may stay stopped.
command -v smtp-sink >/dev/null || { echo "smtp-sink missing after installing postfix" >&2; exit 1; }
command -v chromedriver >/dev/null || { echo "chromedriver missing after installing chromium-driver" >&2; exit 1; }
# dkimpy (python3-dkim), the independent DKIM verifier the signing test checks against.
python3 -c 'import dkim' || { echo "python3 cannot import dkim ($(command -v python3))" >&2; exit 1; }

# The reference MJML renderer (npm mjml, pinned in tools/mjml/package-lock.json) validates
# what our templates produce: mrml accepts some MJML that the reference rejects, so the
# golden files are checked against the reference. `--validate` runs the same validator as
# `--config.validationLevel=strict` and exits non-zero on any error, naming file and line.
echo "== reference MJML validation of tests/golden/*.mjml (npm mjml)"
npm ci --prefix tools/mjml --no-audit --no-fund --loglevel=error >/dev/null
# axe-core (pinned in tools/axe), which the browser tests run in Chromium on every public page.
npm ci --prefix tools/axe --no-audit --no-fund --loglevel=error >/dev/null
tools/mjml/node_modules/.bin/mjml --validate tests/golden/*.mjml

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "== starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  sudo_if_needed pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
# A role of the suite's own (password login works whatever pg_hba.conf says, trust or scram);
# nobody else's password changes. Each test creates and drops its own database with it.
if [ -z "${RELAIS_TEST_DATABASE_URL:-}" ]; then
  sudo_if_needed su postgres -c "psql -q -v ON_ERROR_STOP=1 -d postgres" >/dev/null <<'SQL'
select 'create role relais_test login createdb password ''relais_test'''
where not exists (select from pg_roles where rolname = 'relais_test') \gexec
SQL
  export RELAIS_TEST_DATABASE_URL="postgres://relais_test:relais_test@127.0.0.1:5432/postgres"
fi

# Inside this script every outside program the tests use is installed: none may be skipped.
export RELAIS_TEST_STRICT=1

echo "== format and lint"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

echo "== cargo deny (deny.toml)"
# Installed once per machine (about 2 minutes of compiling on two idle cores); later runs reuse it.
command -v cargo-deny >/dev/null || cargo install cargo-deny --locked
# The advisory database lives on GitHub. When it cannot be fetched, advisories are checked
# against a copy fetched earlier if there is one, else not at all, and the log says so.
deny_checks=(licenses bans sources)
deny_fetch=()
if curl -sfI -m 15 https://github.com/rustsec/advisory-db >/dev/null 2>&1; then
  deny_checks=(advisories "${deny_checks[@]}")
  echo "checks: advisories (fresh database), licences, duplicate versions, sources"
elif compgen -G "$HOME/.cargo/advisory-dbs/*" >/dev/null; then
  deny_checks=(advisories "${deny_checks[@]}")
  deny_fetch=(--offline)
  echo "checks: advisories (database NOT refreshed: GitHub unreachable), licences, duplicate versions, sources"
else
  echo "checks: licences, duplicate versions, sources; advisories NOT checked (GitHub unreachable, no local database)"
fi
cargo deny --locked "${deny_fetch[@]}" check "${deny_checks[@]}"

if docker info >/dev/null 2>&1; then
  # A Docker engine answers: the image itself is built and run, and must answer /healthz.
  echo "== the Docker image: built, run, /healthz"
  docker build -q -t relais-ci . >/dev/null
  container=$(docker run -d --rm -p 127.0.0.1::8080 relais-ci)
  port=$(docker port "$container" 8080/tcp | head -n 1 | sed 's/.*://')
  healthy=false
  for _ in $(seq 1 30); do
    if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then healthy=true; break; fi
    sleep 1
  done
  docker logs "$container" 2>&1 | tail -n 5
  docker stop "$container" >/dev/null
  $healthy || { echo "the image's relais did not answer /healthz" >&2; exit 1; }
else
  echo "== the Dockerfile's build and runtime stages, without a Docker engine"
  bash scripts/docker-check.sh
fi

echo "== deploy/compose.yaml: relais, PostgreSQL and the relay, wired to each other"
/usr/bin/python3 - <<'PY'
import yaml
c = yaml.safe_load(open("deploy/compose.yaml"))
s = c["services"]
assert {"relais", "db", "relay"} <= set(s), sorted(s)
env = s["relais"]["environment"]
assert env["RELAIS_DATABASE_URL"].startswith("postgres://") and "@db:" in env["RELAIS_DATABASE_URL"], env
assert env["RELAIS_SMTP_URL"].startswith("smtp://relay:"), env
assert s["relais"]["depends_on"]["db"]["condition"] == "service_healthy"
assert s["relais"]["build"]["dockerfile"] == "Dockerfile"
print("compose file: ok")
PY

# Two tests need several daemons on one database, which only PostgreSQL allows; one checks
# that SQLite refuses a second daemon. Each run leaves out the tests of the other database, so
# that no early return is counted as a pass.
postgres_only=(--skip daemon::two_daemons_share --skip daemon::when_the_leader_is_killed)
sqlite_only=(--skip daemon::a_second_daemon_on_the_same_sqlite_file)

echo "== tests on SQLite"
RELAIS_TEST_DATABASE_URL= cargo test --locked -- "${postgres_only[@]}"

echo "== integration tests on PostgreSQL ($RELAIS_TEST_DATABASE_URL)"
cargo test --locked --test it -- "${sqlite_only[@]}"
