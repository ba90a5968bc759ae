#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ for a bounded time: scripts/fuzz.sh [SECONDS] (60 each
# by default). Installs cargo-fuzz if missing. Exits non-zero if any target found a crash, a
# failed check or a timeout; the input that did it is kept under fuzz/artifacts/TARGET/ and can
# be replayed with `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none TARGET FILE`.
#
# Not part of scripts/test.sh: the first build compiles every dependency again with coverage
# instrumentation (fuzz/target, about 15 minutes on two cores), later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds="${1:-60}"
case "$seconds" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;;
esac

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# cargo fuzz asks rustc for options that only a nightly toolchain accepts (-Z flags for the
# coverage instrumentation libFuzzer needs); RUSTC_BOOTSTRAP=1 lets this stable toolchain accept
# them. No sanitizer: relais forbids unsafe code, and a stable toolchain ships no sanitizer
# runtimes for its standard library; panics, failed assertions and timeouts are what we catch.
export RUSTC_BOOTSTRAP=1

targets=(feed_repair csv_import personalise)
failed=()
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  seeds=()
  # Real feeds (broken ones included) as a starting point for the repair pass.
  [ "$target" = feed_repair ] && seeds=(tests/fixtures/feeds)
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  [ -f "fuzz/dict/$target.dict" ] && options+=(-dict="fuzz/dict/$target.dict")
  [ "$target" = feed_repair ] && options+=(-max_len=65536)
  echo "== fuzzing $target for ${seconds}s"
  if ! cargo fuzz run --sanitizer none "$target" "$corpus" "${seeds[@]}" -- "${options[@]}"; then
    failed+=("$target")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzzing clean: ${targets[*]}, ${seconds}s each"
