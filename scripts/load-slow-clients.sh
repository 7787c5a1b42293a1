#!/usr/bin/env bash
# The slow-client load figure of BENCHMARKS.md ("serve under slow and idle clients"): serve
# --auth sigv4 holding 1,000 slow or idle connections and 200 known-key 1 MiB uploads while a
# good signed request is timed. Loopback only, bounded (about 30 s). Prints the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test -q --workspace --test load_slow_clients -- --ignored --nocapture
