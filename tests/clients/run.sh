#!/usr/bin/env bash
# Proves the local Bedrock endpoint and serve with real clients: boto3, the openai SDK and the agent
# frameworks on top of them (Strands Agents, LangChain, the OpenAI Agents SDK; pytest), the AWS SDK
# for JavaScript v3 (default HTTP/2 handler and NodeHttpHandler) and the Vercel AI SDK's Bedrock
# provider (node --test).
#
# Installs the pinned clients idempotently (pip into the current Python, npm ci into
# tests/clients/js/node_modules; nothing global), then runs both suites. It does not build: it
# uses $BEDROCK_STREAM_BIN, or target/debug/bedrock-stream (cargo build -p bedrock-stream).
# Every server the tests start listens on 127.0.0.1 with port 0. Exits non-zero on any failure.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root" || exit 2

bin="${BEDROCK_STREAM_BIN:-target/debug/bedrock-stream}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
if [[ ! -x "$bin" ]]; then
  echo "tests/clients: $bin is missing; run 'cargo build -p bedrock-stream' or set BEDROCK_STREAM_BIN" >&2
  exit 2
fi
export BEDROCK_STREAM_BIN="$bin"

python="${PYTHON:-python3}"
export PYTHONDONTWRITEBYTECODE=1
# The pinned SDK (a 2026 release) runs on Node 20; only releases after early 2027 need Node 22.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

echo "== installing pinned clients"
if ! timeout 300 "$python" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
  -r "$here/python/requirements.txt"; then
  echo "tests/clients: pip install failed" >&2
  exit 1
fi
lock_sum="$(sha256sum "$here/js/package-lock.json" | cut -d' ' -f1)"
stamp="$here/js/node_modules/.installed-lock-sha256"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_sum" ]]; then
  if ! timeout 300 npm ci --prefix "$here/js" --no-audit --no-fund --engine-strict --loglevel=error; then
    echo "tests/clients: npm ci failed" >&2
    exit 1
  fi
  echo "$lock_sum" >"$stamp"
fi

status=0

echo "== Python clients: boto3 $("$python" -c 'import boto3; print(boto3.__version__)'), openai, Strands Agents, LangChain, OpenAI Agents SDK"
timeout 180 "$python" -m pytest -q -p no:cacheprovider -rxXs "$here/python" || status=1

echo "== JavaScript clients: AWS SDK v3, Vercel AI SDK (node $(node --version))"
timeout 180 node --test --test-timeout=60000 "$here"/js/test/*.test.mjs || status=1

if [[ $status -ne 0 ]]; then
  echo "tests/clients: FAILED" >&2
fi
exit $status
