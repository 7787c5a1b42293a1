#!/usr/bin/env bash
# Installs the benchmark's peers into target/bench-peers (nothing global, nothing in the repo):
#   node/     the seed's Node.js handler deps (AWS SDK v3, aws-lambda-ric) and node-llama-cpp
#   python/   a venv with boto3 + awslambdaric (the Python handler)
#   litellm/  a venv with the LiteLLM proxy
# aws-lambda-ric builds a native addon: it needs cmake, autoconf, automake, libtool and g++
# (apt-get, when missing and running as root). Idempotent: a stamp per part records what was
# installed.
#
# Every peer is OPTIONAL, and these are the only optional checks of scripts/test:
#   bench-peer:node       the seed's Node.js handler in the cold-start comparison (npm)
#   bench-peer:llama.cpp  llama.cpp (node-llama-cpp, same npm install) beside the embedded model
#   bench-peer:python     a boto3 handler in the cold-start comparison (pip venv)
#   bench-peer:litellm    the LiteLLM proxy in the gateway comparison (pip venv)
# A part that fails to install is reported, its checks are appended to $OPTIONAL_SKIPS_FILE
# (when set) as "name<TAB>reason" lines for the summary of scripts/test, and the exit status is
# 1; the benchmark then says which comparison it could not run.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
dest="${BENCH_PEERS_DIR:-$root/target/bench-peers}"
mkdir -p "$dest"
python="${PYTHON:-python3}"
status=0

stamp_ok() { [[ -f "$dest/$1.stamp" && "$(cat "$dest/$1.stamp")" == "$2" ]]; }

# optional_skip CHECK REASON: says so, and records it for the summary of scripts/test.
optional_skip() {
  echo "bench peers: OPTIONAL check $1 will not run: $2" >&2
  if [[ -n "${OPTIONAL_SKIPS_FILE:-}" ]]; then
    printf '%s\t%s\n' "$1" "$2" >> "$OPTIONAL_SKIPS_FILE"
  fi
}

# --- node: the seed's handler deps and llama.cpp
node_sum="$(sha256sum "$here/node/package.json" | cut -d' ' -f1)"
if ! stamp_ok node "$node_sum"; then
  if ! command -v cmake >/dev/null || ! command -v autoreconf >/dev/null || ! command -v libtoolize >/dev/null; then
    if [[ "$(id -u)" == 0 ]]; then
      echo "== bench peers: apt-get install cmake autoconf automake libtool g++ (aws-lambda-ric builds a native addon)"
      timeout 600 apt-get install -y -q cmake autoconf automake libtool make g++ >/dev/null \
        || { timeout 300 apt-get update -q >/dev/null && timeout 600 apt-get install -y -q cmake autoconf automake libtool make g++ >/dev/null; } \
        || echo "bench peers: apt-get failed; aws-lambda-ric may not build" >&2
    fi
  fi
  echo "== bench peers: npm install (AWS SDK v3, aws-lambda-ric, node-llama-cpp) into $dest/node"
  mkdir -p "$dest/node"
  cp "$here/node/package.json" "$here/node/index.mjs" "$dest/node/"
  if (cd "$dest/node" && timeout 900 npm install --no-audit --no-fund --loglevel=error >/dev/null); then
    echo "$node_sum" > "$dest/node.stamp"
  else
    optional_skip bench-peer:node "npm install into $dest/node failed"
    optional_skip bench-peer:llama.cpp "npm install into $dest/node failed"
    status=1
  fi
else
  cp "$here/node/index.mjs" "$dest/node/"
fi

# --- python: boto3 + awslambdaric
venv_part() { # name requirements-file
  local name="$1" req="$2" sum
  sum="$(sha256sum "$req" | cut -d' ' -f1)"
  if stamp_ok "$name" "$sum"; then return 0; fi
  echo "== bench peers: pip install -r $(basename "$req") into $dest/$name"
  rm -rf "$dest/$name"
  if "$python" -m venv "$dest/$name" \
    && timeout 900 "$dest/$name/bin/pip" install -q --disable-pip-version-check -r "$req"; then
    echo "$sum" > "$dest/$name.stamp"
  else
    optional_skip "bench-peer:$name" "pip install -r $(basename "$req") into $dest/$name failed"
    status=1
  fi
}
venv_part python "$here/python/requirements.txt"
cp "$here/python/handler.py" "$dest/python/" 2>/dev/null || true
venv_part litellm "$here/python/requirements-litellm.txt"

echo "bench peers in $dest (status $status)"
exit $status
