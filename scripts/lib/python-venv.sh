# shellcheck shell=bash
# Sourced by the setup scripts that install a pinned Python tool in a venv of its own (setup-moto.sh,
# setup-ansible.sh). Uses the caller's log().

# Checks that $PYTHON (default python3) exists and is at least 3.<min_minor> with venv and ensurepip,
# or logs what to install and exits 1. Sets PYTHON.
require_python() {
  local min_minor="$1"
  PYTHON="${PYTHON:-python3}"
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    log "ERROR: $PYTHON not found. Install Python >= 3.$min_minor with its venv module (Debian: apt-get install python3-venv), then rerun."
    exit 1
  fi
  if ! "$PYTHON" -c "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, $min_minor))" >/dev/null 2>&1; then
    log "ERROR: $PYTHON is older than 3.$min_minor or has no venv/ensurepip module. Debian: apt-get install python3-venv, then rerun."
    exit 1
  fi
}

# Creates the venv at $1 afresh and pip-installs the pinned requirements in $2 (one per line). The
# caller writes its stamp afterwards, so an interrupted install is never taken for a complete one.
fresh_venv() {
  local venv_dir="$1" pins="$2"
  mkdir -p "$(dirname "$venv_dir")"
  rm -rf "$venv_dir"
  log "creating venv at $venv_dir with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$venv_dir"
  "$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r <(printf '%s\n' "$pins") >&2
}
