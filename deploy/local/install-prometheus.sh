#!/usr/bin/env bash
# Install Prometheus and promtool from Debian's `prometheus` package when missing.
#
# Idempotent and fast when both binaries are already on PATH (no apt call at all).
# Needs root (or passwordless sudo) on a Debian/Ubuntu host; elsewhere it says what to
# install and exits non-zero. The test suite uses promtool (rule checks and rule unit
# tests) and the prometheus server (the scrape integration test).
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi

# shellcheck source=deploy/local/debian.sh
. "$(dirname "$0")/debian.sh"
debian_sudo install-prometheus prometheus
echo "install-prometheus: installing Debian's prometheus package (prometheus, promtool)" >&2
# The package would start a system-wide Prometheus service; the tests run their own
# servers, so forbid service starts during the install (policy-rc.d exit 101) unless
# the host already has a policy of its own.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  trap '$SUDO rm -f "$POLICY"' EXIT
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
fi
apt_install prometheus
command -v promtool >/dev/null && command -v prometheus >/dev/null
