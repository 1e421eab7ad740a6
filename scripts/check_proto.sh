#!/usr/bin/env bash
# Contract checks: buf lint, buf breaking against the previous commit, generated-code drift.
# BUF: path of the buf binary (default: ~/.cache/vigie/tools/node_modules/.bin/buf, installed with
#   npm install --prefix ~/.cache/vigie/tools @bufbuild/buf@1.75.0).
# PYTHON: interpreter with grpcio-tools (default: ~/.cache/vigie/venv/bin/python, else python3).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

BUF="${BUF:-$HOME/.cache/vigie/tools/node_modules/.bin/buf}"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$HOME/.cache/vigie/venv/bin/python" ]]; then
    PYTHON="$HOME/.cache/vigie/venv/bin/python"
  else
    PYTHON=python3
  fi
fi
if ! command -v "$BUF" >/dev/null 2>&1; then
  echo "buf not found at '$BUF'; set BUF or run:" >&2
  echo "  npm install --prefix ~/.cache/vigie/tools @bufbuild/buf@1.75.0" >&2
  exit 2
fi

echo "== buf lint ($("$BUF" --version))"
"$BUF" lint
echo "ok"

echo "== buf breaking (FILE) against HEAD~1"
if ! git rev-parse --verify --quiet 'HEAD~1^{commit}' >/dev/null; then
  echo "skipped: HEAD~1 does not exist (no previous commit to compare with)"
elif ! git cat-file -e 'HEAD~1:buf.yaml' 2>/dev/null; then
  echo "skipped: HEAD~1 has no buf.yaml (the contracts did not exist yet)"
else
  "$BUF" breaking --against '.git#ref=HEAD~1'
  echo "ok"
fi

echo "== generated code drift"
"$PYTHON" scripts/gen_proto.py --check
