#!/usr/bin/env bash
# End-to-end check of the function under `cargo lambda watch` (its Runtime API and function URL
# emulation, http://127.0.0.1:PORT/lambda-url/<function>/):
#   1. `stream-demo` (this crate's runtime with a router that writes N lines GAP ms apart) must
#      reach the HTTP client in several pieces spread in time, not in one lump at the end;
#   2. the real `bedrock-stream-lambda` binary answers GET /healthz with `ok`.
#   3. the seed's request (events/event.json) through the function URL emulation to the real
#      binary, against a local Bedrock endpoint (scripted engine, 30 ms between chunks) that this
#      script starts: the text must arrive in many pieces spread in time.
#
# Needs: cargo-lambda (`pip install cargo-lambda`), curl, python3. Offline is fine.
# Env: PORT (default: a free one), LINES (10), GAP_MS (200), BUILD_TIMEOUT (600 s).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)"
cd "$root"
command -v cargo-lambda >/dev/null || { echo "cargo-lambda is not installed: pip install cargo-lambda" >&2; exit 1; }

PORT="${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
LINES="${LINES:-10}"
GAP_MS="${GAP_MS:-200}"
BUILD_TIMEOUT="${BUILD_TIMEOUT:-600}"
base="http://127.0.0.1:${PORT}/lambda-url"
log="$(mktemp -t cargo-lambda-watch.XXXXXX.log)"

# Build first so the first invocation does not wait on the compiler.
cargo build -p bedrock-stream-lambda --features stream-demo --bins
cargo build --workspace --all-targets  # target/debug/bedrock-stream, with the features the tests use

# The local Bedrock endpoint the function talks to (through the real AWS SDK).
bedrock_log="$(mktemp -t local-bedrock.XXXXXX.log)"
target/debug/bedrock-stream local-bedrock --engine scripted --chunk-delay-ms 30 --listen 127.0.0.1:0 \
  >/dev/null 2>"$bedrock_log" &
bedrock_pid=$!
bedrock_url=""
for _ in $(seq 1 100); do
  bedrock_url="$(sed -n 's/.*listening on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$bedrock_log" | head -1)"
  [[ -n "$bedrock_url" ]] && break
  sleep 0.1
done

# --ignore-changes: others edit the workspace; a rebuild mid-test would restart the function.
cargo lambda watch -p bedrock-stream-lambda -F stream-demo -A 127.0.0.1 -P "$PORT" --ignore-changes \
  --env-var "BEDROCK_ENDPOINT_URL=${bedrock_url}" --env-var AWS_REGION=us-east-1 \
  --env-var AWS_ACCESS_KEY_ID=AKIDLOCAL --env-var AWS_SECRET_ACCESS_KEY=local \
  --env-var AWS_MAX_ATTEMPTS=1 >"$log" 2>&1 &
watch_pid=$!
cleanup() {
  kill "$watch_pid" "$bedrock_pid" 2>/dev/null || true
  wait "$watch_pid" "$bedrock_pid" 2>/dev/null || true
}
trap cleanup EXIT
[[ -n "$bedrock_url" ]] || { echo "FAIL: local-bedrock did not start: $(cat "$bedrock_log")" >&2; exit 1; }

fail() { echo "FAIL: $*" >&2; echo "--- cargo lambda watch log ($log):" >&2; tail -40 "$log" >&2; exit 1; }

# Wait for the emulator to listen, then for the function to answer.
deadline=$((SECONDS + BUILD_TIMEOUT))
until curl -s -o /dev/null "http://127.0.0.1:${PORT}/"; do
  ((SECONDS < deadline)) || fail "cargo lambda watch did not start listening on ${PORT}"
  kill -0 "$watch_pid" 2>/dev/null || fail "cargo lambda watch exited"
  sleep 0.5
done

# Reads the response as it arrives and prints one line per read: "<ms since request> <bytes>",
# then "status <code>" and "body <json string>".
read_stream() {
  python3 - "$@" <<'PY'
import http.client, json, sys, time, urllib.parse
method, url = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
start = time.monotonic()
conn.request(method, u.path + ("?" + u.query if u.query else ""), body=data,
             headers={"content-type": "application/json"})
resp = conn.getresponse()
body = b""
while True:
    piece = resp.read1(65536)
    if not piece:
        break
    print(f"{(time.monotonic() - start) * 1000:.1f} {len(piece)}", flush=True)
    body += piece
print(f"status {resp.status}")
print("body " + json.dumps(body.decode("utf-8", "replace")))
PY
}

echo "== stream-demo: ${LINES} lines ${GAP_MS} ms apart through ${base}/stream-demo/"
out="$(read_stream GET "${base}/stream-demo/healthz")" || fail "stream-demo did not answer"
grep -q '^status 200$' <<<"$out" || fail "stream-demo /healthz: $out"
out="$(read_stream POST "${base}/stream-demo/?n=${LINES}&gap_ms=${GAP_MS}" '{}')" || fail "stream-demo stream failed"
grep -q '^status 200$' <<<"$out" || fail "stream-demo: $out"
reads="$(grep -E '^[0-9.]+ [0-9]+$' <<<"$out")"
pieces="$(wc -l <<<"$reads")"
first_ms="$(head -1 <<<"$reads" | cut -d' ' -f1)"
last_ms="$(tail -1 <<<"$reads" | cut -d' ' -f1)"
expected_body="$(python3 -c "import json; print(json.dumps(''.join(f'line {i}\n' for i in range(${LINES}))))")"
body="$(sed -n 's/^body //p' <<<"$out")"
echo "$reads" | awk '{printf "  read at %8.1f ms: %s bytes\n", $1, $2}'
echo "pieces: ${pieces} for ${LINES} lines; first at ${first_ms} ms, last at ${last_ms} ms"
[[ "$body" == "$expected_body" ]] || fail "body differs: $body"
python3 - "$pieces" "$first_ms" "$last_ms" "$LINES" "$GAP_MS" <<'PY' || fail "the body did not stream (it arrived in one lump)"
import sys
pieces, first, last, lines, gap = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
span = last - first
expected = (lines - 1) * gap
ok = pieces >= max(2, lines // 2) and span >= 0.5 * expected
print(f"spread {span:.0f} ms of {expected} ms written; {'streams' if ok else 'BUFFERED'}")
sys.exit(0 if ok else 1)
PY

echo "== stream-demo: a mid-stream error (error trailers on the Runtime API side)"
out="$(read_stream GET "${base}/stream-demo/?n=3&gap_ms=50&fail=1")" || fail "stream-demo fail=1 broke the client"
body="$(sed -n 's/^body //p' <<<"$out")"
echo "status $(sed -n 's/^status //p' <<<"$out"), body ${body}"
[[ "$body" == '"line 0\nline 1\nline 2\n"' ]] || fail "lines before the error were lost: $body"
grep -q 'Lambda-Runtime-Function-Error' <<<"$body" && fail "error text leaked into the body"

echo "== bedrock-stream-lambda: GET /healthz"
out="$(read_stream GET "${base}/bedrock-stream-lambda/healthz")" || fail "bedrock-stream-lambda did not answer"
grep -q '^status 200$' <<<"$out" || fail "bedrock-stream-lambda /healthz: $out"
grep -q '^body "ok' <<<"$out" || fail "bedrock-stream-lambda /healthz body: $out"
echo "ok"

echo "== bedrock-stream-lambda: POST / with events/event.json, against ${bedrock_url}"
out="$(read_stream POST "${base}/bedrock-stream-lambda/" "$(cat events/event.json)")" || fail "seed request failed"
grep -q '^status 200$' <<<"$out" || fail "seed request: $out"
grep -q '^body "Scripted answer to: Explain serverless to a 5th grader.' <<<"$out" || fail "seed request body: $out"
reads="$(grep -E '^[0-9.]+ [0-9]+$' <<<"$out")"
pieces="$(wc -l <<<"$reads")"
first_ms="$(head -1 <<<"$reads" | cut -d' ' -f1)"
last_ms="$(tail -1 <<<"$reads" | cut -d' ' -f1)"
echo "pieces: ${pieces}; first at ${first_ms} ms, last at ${last_ms} ms"
# About 40 words 30 ms apart: many pieces over most of a second, not one lump.
python3 -c "import sys; p,f,l=int('$pieces'),float('$first_ms'),float('$last_ms'); sys.exit(0 if p>=10 and l-f>=500 else 1)" \
  || fail "the seed request's answer did not stream"
echo "PASS"
