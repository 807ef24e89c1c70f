# Sourced by the installers of Debian packages (install-prometheus.sh, install-chromium.sh).
#
# debian_sudo NAME PACKAGE...   sets SUDO ("" as root, "sudo -n" with passwordless sudo),
#                               or says what to install and exits non-zero (no apt-get
#                               here, or no rights to use it)
# apt_install PACKAGE...        refreshes the index and installs, quietly, no recommends

debian_sudo() {
  local name=$1
  shift
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$name: no apt-get here; install $* yourself" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      SUDO="sudo -n"
    else
      echo "$name: run as root (or with passwordless sudo): apt-get install $*" >&2
      exit 1
    fi
  fi
}

apt_install() {
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
