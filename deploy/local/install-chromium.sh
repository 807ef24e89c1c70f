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

# shellcheck source=deploy/local/debian.sh
. "$(dirname "$0")/debian.sh"
debian_sudo install-chromium chromium chromium-driver
echo "install-chromium: installing Debian's chromium and chromium-driver packages" >&2
apt_install chromium chromium-driver
command -v chromium >/dev/null && command -v chromedriver >/dev/null
