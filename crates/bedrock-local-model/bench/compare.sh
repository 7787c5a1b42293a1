#!/usr/bin/env bash
# Side by side: this crate's engine and llama.cpp (node-llama-cpp's prebuilt build) on the same
# GGUF, prompt, token count and thread count, alternating so that both see the same machine.
#
#   crates/bedrock-local-model/bench/compare.sh [TOKENS] [THREADS] [ROUNDS]
#
# `cargo run --release -p bench -- model` runs the same comparison (rounds at 2 and 1 threads,
# medians, ratios) and `bench all --full` puts it in BENCHMARKS.md; this script is the manual
# version. Needs node-llama-cpp (see llama-cpp.mjs) at $LLAMA_NODE_MODULES (default: where
# crates/bench/peers/setup.sh installs it, target/bench-peers/node/node_modules, else
# /tmp/llamacpp/node_modules). Set WAIT_FOR_IDLE=1 to wait until the 1-minute load
# average drops below $IDLE_LOAD (default 0.5) before each round: other work on the machine
# skews both engines, llama.cpp's spinning threads most.
set -euo pipefail
tokens=${1:-200}
threads=${2:-2}
rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
peers=${BENCH_PEERS_DIR:-$root/target/bench-peers}/node/node_modules
if [[ -z "${LLAMA_NODE_MODULES:-}" && ! -d "$peers/node-llama-cpp" ]]; then peers=/tmp/llamacpp/node_modules; fi
modules=${LLAMA_NODE_MODULES:-$peers}

cd "$root"
cargo build --release -p bedrock-local-model --example bench >&2
model=${BEDROCK_STREAM_MODEL:-$(target/release/examples/bench --print-model-path)}
echo "# $(date -u +%Y-%m-%dT%H:%MZ) | $(nproc) cores | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) | $tokens tokens | $threads threads"
for round in $(seq 1 "$rounds"); do
    if [[ "${WAIT_FOR_IDLE:-0}" == 1 ]]; then
        while awk -v max="${IDLE_LOAD:-0.5}" '{exit !($1 >= max)}' /proc/loadavg; do sleep 10; done
    fi
    echo "## round $round (load $(cut -d' ' -f1-3 /proc/loadavg))"
    BEDROCK_STREAM_MODEL="$model" target/release/examples/bench --tokens "$tokens" --threads "$threads" --runs 3 | sed 's/^/ours      | /'
    NODE_PATH="$modules" node "$here/llama-cpp.mjs" --model "$model" --tokens "$tokens" --threads "$threads" --runs 3 | sed 's/^/llama.cpp | /'
done
