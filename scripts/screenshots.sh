#!/usr/bin/env bash
# Full-page screenshots of each title's golden issue (tests/golden/{slug}.html) in headless
# Chromium: docs/{slug}-600.png at desktop width and docs/{slug}-375.png in 375 px mobile
# emulation. Regenerate after blessing new golden files, and look at them before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromedriver >/dev/null && [ -x /usr/bin/chromium ] || {
  echo "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)" >&2
  exit 1
}
cargo run --quiet --example screenshots -- docs
