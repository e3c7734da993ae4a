#!/usr/bin/env bash
# Installs Chromium from Debian's packages: test/e2e/reportPage.test.ts opens the report page the driver
# writes (driver/report/) in a real headless browser and reads it through the DevTools protocol.
# Idempotent: does nothing when `chromium` is already on PATH; apt-get update only when needed.
set -euo pipefail

log() { printf '[setup-chromium] %s\n' "$*" >&2; }
PACKAGES=(chromium fonts-dejavu-core)

if command -v chromium >/dev/null 2>&1; then
  log "present: $(command -v chromium)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "ERROR: apt-get not found; install Chromium with this system's package manager, then rerun."
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

updated=0
apt_update() {
  log "apt-get update"
  "${SUDO[@]}" apt-get update -q >&2 || { log "ERROR: apt-get update failed (is a Debian mirror reachable?)"; exit 1; }
  updated=1
}
apt_install() {
  log "apt-get install -y --no-install-recommends ${PACKAGES[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >&2
}

apt-cache show "${PACKAGES[@]}" >/dev/null 2>&1 || apt_update
if ! apt_install; then
  # Stale lists point at files the mirror no longer has: refresh once and retry.
  [ "$updated" -eq 1 ] && { log "ERROR: apt-get install failed; see the output above."; exit 1; }
  apt_update
  apt_install || { log "ERROR: apt-get install failed; see the output above."; exit 1; }
fi
command -v chromium >/dev/null 2>&1 || { log "ERROR: chromium still missing after install"; exit 1; }
log "installed: $(chromium --version 2>/dev/null || echo chromium)"
