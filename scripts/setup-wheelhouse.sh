#!/usr/bin/env bash
# Builds a local wheelhouse per Glance release, for the lab's realistic upgrade mode (a node installs
# its release from it, offline, into an environment of its own: lab/bin/glance-node install/prestage):
#   scripts/setup-wheelhouse.sh [--rebuild] [release...]        (default: 2023.2 2024.1)
# A wheelhouse holds exactly what the release's virtualenv (scripts/setup-glance.sh) holds: its
# `pip freeze` as requirements.txt and one wheel per line of it (sdists such as netifaces are built
# into wheels here, once). It lives at $CACHE_ROOT/glance-wheelhouses/<release>, beside the venvs.
# Idempotent: a wheelhouse whose stamp names the release's Glance version is kept (a stamp check, no
# pip); --rebuild builds it again. Progress goes to stderr; the wheelhouse paths go to stdout.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${GRU_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-rolling-upgrade}"
VENVS_DIR="$CACHE_ROOT/glance-venvs"
WHEELHOUSES_DIR="$CACHE_ROOT/glance-wheelhouses"
# Written last: the Glance version the wheelhouse installs. Without it a wheelhouse is unfinished.
STAMP=".gru-complete"
log() { printf '[setup-wheelhouse] %s\n' "$*" >&2; }

release_field() { # $1 release, $2 field name (the table is lab/releases.ts, one release per line)
  sed -n "s/^ *\"$1\": *{.*$2: *\"\([^\"]*\)\".*/\1/p" "$REPO_DIR/lab/releases.ts"
}

rebuild=false
if [ "${1:-}" = "--rebuild" ]; then
  rebuild=true
  shift
fi
[ "$#" -gt 0 ] || set -- 2023.2 2024.1
mkdir -p "$WHEELHOUSES_DIR"
for release in "$@"; do
  version="$(release_field "$release" glanceVersion)"
  if [ -z "$version" ]; then
    log "ERROR: unknown release '$release'; known: $(sed -n 's/^ *"\([0-9.]*\)": *{.*/\1/p' "$REPO_DIR/lab/releases.ts" | tr '\n' ' ')"
    exit 1
  fi
  wheelhouse="$WHEELHOUSES_DIR/$release"
  if ! $rebuild && [ -f "$wheelhouse/$STAMP" ] && [ "$(cat "$wheelhouse/$STAMP")" = "$version" ]; then
    log "$release: wheelhouse for glance $version already built in $wheelhouse"
    echo "$wheelhouse"
    continue
  fi
  venv="$VENVS_DIR/$release"
  if [ "$(cat "$venv/.gru-installed" 2>/dev/null || true)" != "$version" ]; then
    log "ERROR: $release: no complete Glance $version virtualenv at $venv to take the package list from."
    log "Fix: bash scripts/setup-glance.sh $release, then rerun."
    exit 1
  fi
  start=$(date +%s)
  log "$release: building the wheelhouse for glance $version in $wheelhouse (from pip freeze of $venv)"
  # Built beside its final place and renamed into it, so a wheelhouse is never half there.
  partial="$wheelhouse.partial"
  rm -rf "$partial"
  mkdir -p "$partial"
  # --all: pip and setuptools too (paste needs setuptools at run time), so the list is the venv's whole.
  "$venv/bin/pip" freeze --all --disable-pip-version-check --exclude-editable >"$partial/requirements.txt"
  grep -qx "glance==$version" "$partial/requirements.txt" || {
    log "ERROR: $release: pip freeze of $venv has no glance==$version; rebuild it: rm -rf $venv && bash scripts/setup-glance.sh $release"
    exit 1
  }
  # The interpreter the wheels are for (some are CPython-version specific): what glance-node builds
  # a node's environment with.
  sed -n 's/^executable = //p' "$venv/pyvenv.cfg" >"$partial/python"
  [ -s "$partial/python" ] || "$venv/bin/python" -c 'import sys; print(sys._base_executable)' >"$partial/python"
  "$venv/bin/pip" wheel --quiet --disable-pip-version-check --no-deps \
    --wheel-dir "$partial" -r "$partial/requirements.txt" >&2
  # Proof that it installs offline: resolve the whole list from the wheelhouse alone.
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --dry-run --ignore-installed \
    --no-index --find-links "$partial" -r "$partial/requirements.txt" >&2; then
    log "ERROR: $release: the wheelhouse in $partial does not resolve offline; see the pip output above."
    exit 1
  fi
  echo "$version" >"$partial/$STAMP"
  rm -rf "$wheelhouse"
  mv "$partial" "$wheelhouse"
  log "$release: wheelhouse for glance $version built in $(($(date +%s) - start)) s ($(du -sh "$wheelhouse" | cut -f1), $(find "$wheelhouse" -name '*.whl' | wc -l) wheels)"
  echo "$wheelhouse"
done
