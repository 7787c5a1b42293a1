#!/usr/bin/env bash
# Lints the SAM template and checks what linters do not:
#   1. cfn-lint template.yaml                         (cfn-lint from scripts/requirements-ci.txt)
#   2. sam validate --lint                            (SAM CLI in .venv-sam/, pinned below)
#   3. python3 -m pytest -q tests/template            (InvokeMode, AuthType, arm64, IAM, logs, env)
#
#   bash scripts/lint-template.sh
#
# The SAM CLI lives in its own virtualenv, .venv-sam/ at the repo root (git-ignored), created and
# filled here when missing: it needs newer boto3/botocore than the system Python keeps pinned for
# awscli, so it must never be installed there. Idempotent; when everything is installed the whole
# run takes a few seconds. Needs no AWS credentials and makes no AWS calls.
set -euo pipefail
cd "$(dirname "$0")/.."

SAM_CLI_VERSION="1.170.0"
venv=".venv-sam"
python="${PYTHON:-python3}"
stamp="$venv/.installed-aws-sam-cli-$SAM_CLI_VERSION"

export SAM_CLI_TELEMETRY=0
export PYTHONDONTWRITEBYTECODE=1
export AWS_EC2_METADATA_DISABLED=true

step() { printf '== %s\n' "$*"; }

# cfn-lint and pytest in the Python that runs the tests (scripts/test installs them first; this
# covers running the script on its own). requirements-ci.txt touches neither boto3 nor botocore.
if ! "$python" -c 'import cfnlint, pytest' 2>/dev/null; then
  step "installing scripts/requirements-ci.txt"
  "$python" -m pip install -q --disable-pip-version-check -r scripts/requirements-ci.txt
fi

if [[ ! -f "$stamp" || ! -x "$venv/bin/sam" ]]; then
  step "installing SAM CLI $SAM_CLI_VERSION into $venv/"
  if [[ ! -x "$venv/bin/python" ]]; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
  fi
  rm -f "$venv"/.installed-aws-sam-cli-*
  timeout 900 "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "aws-sam-cli==$SAM_CLI_VERSION"
  "$venv/bin/sam" --version
  touch "$stamp"
fi

step "cfn-lint template.yaml ($("$python" -c 'import cfnlint.version as v; print(v.__version__)'))"
"$python" -c 'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())' \
  template.yaml
echo "cfn-lint: no findings"

# --lint runs cfn-lint (the venv's own, newer release) on the template instead of calling IAM,
# so it works offline and without credentials; it still wants a region.
step "sam validate --lint"
"$venv/bin/sam" validate --lint --region us-east-1 --template-file template.yaml

step "pytest tests/template"
"$python" -m pytest -q -p no:cacheprovider tests/template
