#!/usr/bin/env bash
# Installs real OpenStack Glance releases from PyPI into one virtualenv per release, for the lab:
#   scripts/setup-glance.sh [release...]        (default: 2023.2 2024.1)
# Each venv lives at $CACHE_ROOT/glance-venvs/<release> and is pinned with that release's
# upper-constraints (lab/pins/). Idempotent: a venv that already holds the release's Glance version
# is kept. Progress goes to stderr; the venv paths (one per line) go to stdout.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${GRU_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-rolling-upgrade}"
VENVS_DIR="$CACHE_ROOT/glance-venvs"
PYTHON="${GRU_PYTHON:-python3}"
log() { printf '[setup-glance] %s\n' "$*" >&2; }

# The release table is lab/releases.ts (one `"<release>": { glanceVersion: "X", constraintsFile: "F" }` per line).
release_field() { # $1 release, $2 field name
  sed -n "s/^ *\"$1\": *{.*$2: *\"\([^\"]*\)\".*/\1/p" "$REPO_DIR/lab/releases.ts"
}

installed_version() { # $1 venv: the Glance version a completed install holds, or nothing
  [ -f "$1/.gru-installed" ] && [ -x "$1/bin/glance-api" ] && cat "$1/.gru-installed"
}

if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  log "ERROR: $PYTHON cannot create virtualenvs (the venv/ensurepip modules are missing)."
  log "Fix: apt-get install -y python3-venv (or set GRU_PYTHON to a Python >= 3.10 that has them), then rerun."
  exit 1
fi

[ "$#" -gt 0 ] || set -- 2023.2 2024.1
mkdir -p "$VENVS_DIR"
for release in "$@"; do
  version="$(release_field "$release" glanceVersion)"
  pins="$(release_field "$release" constraintsFile)"
  if [ -z "$version" ] || [ -z "$pins" ]; then
    log "ERROR: unknown release '$release'; known: $(sed -n 's/^ *"\([0-9.]*\)": *{.*/\1/p' "$REPO_DIR/lab/releases.ts" | tr '\n' ' ')"
    exit 1
  fi
  venv="$VENVS_DIR/$release"
  if [ "$(installed_version "$venv" || true)" = "$version" ]; then
    log "$release: glance $version already installed in $venv"
    echo "$venv"
    continue
  fi
  # A venv cannot be moved (its scripts hold absolute paths), so an unfinished install is wiped and redone.
  start=$(date +%s)
  log "$release: installing glance $version into $venv (pinned by $pins)"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  # The release's WSGI server, where the table names one (uWSGI: Glance 32 runs only under a WSGI server).
  wsgi_server="$(release_field "$release" wsgiServer)"
  # shellcheck disable=SC2086 # $wsgi_server is one requirement or nothing
  "$venv/bin/pip" install --quiet --disable-pip-version-check -c "$REPO_DIR/$pins" "glance==$version" PyMySQL $wsgi_server >&2
  got="$("$venv/bin/pip" show glance 2>/dev/null | sed -n 's/^Version: //p')"
  if [ "$got" != "$version" ]; then
    log "ERROR: $release: pip installed glance '$got', expected $version; see the pip output above."
    exit 1
  fi
  if [ -n "$wsgi_server" ] && [ ! -x "$venv/bin/uwsgi" ]; then
    log "ERROR: $release: pip installed $wsgi_server but $venv/bin/uwsgi is missing; see the pip output above."
    exit 1
  fi
  echo "$version" >"$venv/.gru-installed"
  log "$release: glance $version installed in $(( $(date +%s) - start )) s"
  echo "$venv"
done
