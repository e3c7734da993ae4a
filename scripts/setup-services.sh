#!/usr/bin/env bash
# Installs the Debian packages the lab and the integration tests start their own services from:
# MariaDB (server, client, mysqldump), HAProxy, OpenSSH (server and client) and openssl (the lab's own
# CA for MariaDB's TLS) and sudo (its env_reset, test/integration/glanceManageSudo.test.ts). Starts nothing.
# tmux: test/e2e/liveView.test.ts runs the driver in a tmux pane to read its live view (capture-pane).
# chromium (with a font): the report page is opened in a real headless browser (test/support/reportBrowser.ts).
# The Galera lab (lab up --galera) needs galera-4 (the wsrep provider) and rsync (its SST), which Debian 12's
# mariadb-server depends on; named here so that a missing one is installed and checked.
# Idempotent: does nothing when every binary is already there; apt-get update only when needed.
set -euo pipefail

log() { printf '[setup-services] %s\n' "$*" >&2; }
PACKAGES=(mariadb-server mariadb-client galera-4 rsync haproxy openssh-server openssh-client openssl sudo tmux chromium fonts-dejavu-core)
BINARIES=(mariadbd haproxy sshd mysqldump openssl sudo rsync tmux chromium)

# sbin dirs are not on a non-root PATH everywhere, and mariadbd/sshd live there.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

missing=()
find_missing() { # sets missing to the BINARIES not on PATH
  local bin
  missing=()
  for bin in "${BINARIES[@]}"; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
  done
  [ -f /usr/lib/galera/libgalera_smm.so ] || missing+=(libgalera_smm.so)
}

find_missing
if [ "${#missing[@]}" -eq 0 ]; then
  log "all present: ${BINARIES[*]}"
  exit 0
fi
log "missing: ${missing[*]}; installing ${PACKAGES[*]}"

if ! command -v apt-get >/dev/null 2>&1; then
  log "ERROR: apt-get not found; install ${PACKAGES[*]} with this system's package manager, then rerun."
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    log "ERROR: installing packages needs root: rerun as root or with passwordless sudo."
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive

updated=0
apt_update() {
  log "apt-get update"
  "${SUDO[@]}" apt-get update -q >&2 || { log "ERROR: apt-get update failed (is a Debian mirror reachable?)"; exit 1; }
  updated=1
}
apt_install() {
  log "apt-get install -y ${PACKAGES[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${PACKAGES[@]}" >&2
}

# Package lists are needed only when apt knows none of the packages (a fresh image ships without lists).
apt-cache show "${PACKAGES[@]}" >/dev/null 2>&1 || apt_update
if ! apt_install; then
  # Stale lists point at files the mirror no longer has: refresh once and retry.
  [ "$updated" -eq 1 ] && { log "ERROR: apt-get install failed; see the output above."; exit 1; }
  apt_update
  apt_install || { log "ERROR: apt-get install failed; see the output above."; exit 1; }
fi

find_missing
if [ "${#missing[@]}" -ne 0 ]; then
  log "ERROR: still missing after install: ${missing[*]}"
  exit 1
fi
log "installed; all present: ${BINARIES[*]}"
