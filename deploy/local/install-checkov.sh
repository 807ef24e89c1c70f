#!/usr/bin/env bash
# Install checkov (PyPI) into a venv of its own, so its many dependencies never touch
# the project's; prints the path of its executable. Idempotent and quick when present.
# The test suite runs it over deploy/ (tests/unit/test_checkov.py).
set -euo pipefail

VERSION=3.3.30
ROOT="${CREDITSTREAM_CACHE_DIR:-$HOME/.cache/creditstream}/checkov-$VERSION"
if [ ! -x "$ROOT/bin/checkov" ]; then
  echo "install-checkov: installing checkov $VERSION into $ROOT" >&2
  PY="$(command -v python3.11 || command -v python3)"
  rm -rf "$ROOT"
  "$PY" -m venv "$ROOT"
  "$ROOT/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$VERSION"
fi
echo "$ROOT/bin/checkov"
