#!/usr/bin/env bash
# Install headless Chromium and its WebDriver from Debian's `chromium` and
# `chromium-driver` packages when missing.
#
# Idempotent and fast when both are already there (no apt call at all). Needs root (or
# passwordless sudo) on a Debian/Ubuntu host; elsewhere it says what to install and exits
# non-zero. The status-page browser test (tests/integration/test_status_page.py) drives
# /usr/bin/chromium through /usr/bin/chromedriver with selenium.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: no apt-get here; install Chromium and chromedriver yourself" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install-chromium: run as root (or with passwordless sudo):" \
      "apt-get install chromium chromium-driver" >&2
    exit 1
  fi
fi

echo "install-chromium: installing Debian's chromium and chromium-driver packages" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
