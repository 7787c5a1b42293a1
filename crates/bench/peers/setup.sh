#!/usr/bin/env bash
# Installs the benchmark's peers into target/bench-peers (nothing global, nothing in the repo):
#   node/     the seed's Node.js handler deps (AWS SDK v3, aws-lambda-ric) and node-llama-cpp
#   python/   a venv with boto3 + awslambdaric (the Python handler)
#   litellm/  a venv with the LiteLLM proxy
# aws-lambda-ric builds a native addon: it needs cmake, autoconf, automake, libtool and g++
# (apt-get, when missing and running as root). Idempotent: a stamp per part records what was
# installed. A part that fails to install is reported and skipped; the benchmark then says
# which comparison it could not run.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
dest="${BENCH_PEERS_DIR:-$root/target/bench-peers}"
mkdir -p "$dest"
python="${PYTHON:-python3}"
status=0

stamp_ok() { [[ -f "$dest/$1.stamp" && "$(cat "$dest/$1.stamp")" == "$2" ]]; }

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
    echo "bench peers: npm install failed (the Node.js handler and llama.cpp comparisons will be skipped)" >&2
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
    echo "bench peers: installing $name failed (its comparison will be skipped)" >&2
    status=1
  fi
}
venv_part python "$here/python/requirements.txt"
cp "$here/python/handler.py" "$dest/python/" 2>/dev/null || true
venv_part litellm "$here/python/requirements-litellm.txt"

echo "bench peers in $dest (status $status)"
exit $status
