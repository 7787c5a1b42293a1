#!/usr/bin/env bash
# End-to-end test of the page at GET / in Debian's headless Chromium (playwright-core drives it;
# no browser is downloaded: it uses /usr/bin/chromium from the distribution).
#
# Installs what it needs idempotently: Debian's `chromium` when /usr/bin/chromium is missing
# (apt-get, as root, which CI is), and the pinned playwright-core with `npm ci` into
# tests/browser/node_modules when that is missing or older than package-lock.json. Then runs
# tests/browser/*.test.mjs with node's test runner. It does not build: it uses
# $BEDROCK_STREAM_BIN, or target/debug/bedrock-stream (cargo build -p bedrock-stream).
# Every server the tests start listens on 127.0.0.1 port 0. Screenshots land in
# tests/browser/screenshots/. Exits non-zero on any failure.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root" || exit 2

bin="${BEDROCK_STREAM_BIN:-target/debug/bedrock-stream}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
if [[ ! -x "$bin" ]]; then
  echo "tests/browser: $bin is missing; run 'cargo build -p bedrock-stream' or set BEDROCK_STREAM_BIN" >&2
  exit 2
fi
export BEDROCK_STREAM_BIN="$bin"

if [[ ! -x /usr/bin/chromium ]]; then
  echo "== installing Debian's chromium"
  if [[ $(id -u) -ne 0 ]]; then
    echo "tests/browser: /usr/bin/chromium is missing and this is not root; apt-get install chromium" >&2
    exit 1
  fi
  if ! { timeout 300 apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq chromium >/dev/null; }; then
    echo "tests/browser: installing chromium failed" >&2
    exit 1
  fi
fi

lock_sum="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
stamp="$here/node_modules/.installed-lock-sha256"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_sum" ]]; then
  echo "== installing playwright-core (npm ci)"
  if ! timeout 300 npm ci --prefix "$here" --no-audit --no-fund --engine-strict --loglevel=error; then
    echo "tests/browser: npm ci failed" >&2
    exit 1
  fi
  echo "$lock_sum" >"$stamp"
fi

echo "== page at GET / in $(/usr/bin/chromium --version 2>/dev/null) via playwright-core $(node -p "require('$here/node_modules/playwright-core/package.json').version") (node $(node --version))"
timeout 300 node --test --test-timeout=120000 "$here"/*.test.mjs
status=$?
if [[ $status -ne 0 ]]; then
  echo "tests/browser: FAILED" >&2
else
  echo "tests/browser: screenshots in ${here#"$root"/}/screenshots/"
fi
exit $status
