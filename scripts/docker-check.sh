#!/usr/bin/env bash
# The Dockerfile checked without a Docker engine: its build stage's COPY lines are replayed into
# a scratch folder holding nothing else, and its cargo command runs there (as `cargo check`, on
# the shared target folder, so CI does not compile every dependency a second time in release);
# then the runtime stage's files (the binary, and what it COPYs from the context) are laid out as
# in the image and `relais serve` must start there and answer /healthz.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scratch=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$scratch"' EXIT

# COPY's rules: a folder's contents go into the destination; files go into a destination that
# ends with a slash, or become it.
place() {
  if [ -d "$1" ]; then mkdir -p "$2" && cp -r "$1/." "$2/"
  elif [[ "$2" == */ ]]; then mkdir -p "$2" && cp "$1" "$2"
  else mkdir -p "$(dirname "$2")" && cp "$1" "$2"; fi
}

# Build stage: every `COPY A B… DEST` before the first `FROM` after it.
mkdir -p "$scratch/build"
stage=0
build_cmd=""
runtime_copies=()
while read -r word rest; do
  case "$word" in
    FROM) stage=$((stage + 1)) ;;
    COPY)
      if [ "$stage" -eq 1 ]; then
        read -ra parts <<<"$rest"
        dest=${parts[-1]}
        for src in "${parts[@]:0:${#parts[@]}-1}"; do
          place "$root/$src" "$scratch/build/$dest"
        done
      elif [[ "$rest" != --from* ]]; then
        runtime_copies+=("$rest")
      fi ;;
    RUN) [ "$stage" -eq 1 ] && [[ "$rest" == cargo\ build* ]] && build_cmd=$rest ;;
  esac
done < Dockerfile
[ -n "$build_cmd" ] || { echo "docker-check: no 'RUN cargo build' in the build stage" >&2; exit 1; }
check_cmd=${build_cmd/cargo build --release/cargo check}
echo "== Dockerfile build stage in a scratch folder: $check_cmd"
target_dir=${CARGO_TARGET_DIR:-$root/target}
(cd "$scratch/build" && CARGO_TARGET_DIR="$target_dir" $check_cmd)

# Runtime stage: the binary plus the COPY lines from the context, in an empty working folder.
echo "== Dockerfile runtime stage: relais serve from $scratch/app"
# The binary the integration tests run (built with the same features, so no second build).
cargo test --locked --no-run --test it
mkdir -p "$scratch/app/data"
for line in "${runtime_copies[@]}"; do
  read -ra parts <<<"$line"
  place "$root/${parts[0]}" "$scratch/app/${parts[1]}"
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$scratch/app" && exec env -i PATH="$PATH" RELAIS_LISTEN="127.0.0.1:$port" \
  RELAIS_DATABASE_URL="sqlite://$scratch/app/data/relais.db" RELAIS_DATA_DIR="$scratch/app/data" \
  RELAIS_OUTBOX_DIR="$scratch/app/data/outbox" "$target_dir/debug/relais" serve \
  >"$scratch/serve.log" 2>&1) &
server=$!
for _ in $(seq 1 50); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    echo "docker-check: the image's files serve /healthz"
    exit 0
  fi
  kill -0 "$server" 2>/dev/null || break
  sleep 0.2
done
echo "docker-check: relais serve did not answer /healthz with the image's files:" >&2
cat "$scratch/serve.log" >&2
exit 1
