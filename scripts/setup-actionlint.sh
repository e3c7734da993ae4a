#!/usr/bin/env bash
# Makes actionlint available to lint .github/workflows (the workflows cannot run here, so CI checks
# them statically): builds the pinned version from its Go module into a cache dir, once.
# Prints the binary's path on its last line. Idempotent; instant when cached.
set -euo pipefail

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-1.7.12}"
CACHE_ROOT="${GRU_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-rolling-upgrade}"
BIN_DIR="$CACHE_ROOT/actionlint-$ACTIONLINT_VERSION"
BIN="$BIN_DIR/actionlint"
log() { printf '[setup-actionlint] %s\n' "$*" >&2; }
# shellcheck source-path=SCRIPTDIR source=lib/go-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-build.sh"

if [ -x "$BIN" ] && "$BIN" -version 2>/dev/null | head -n1 | grep -qx "v\?$ACTIONLINT_VERSION"; then
  log "using cached actionlint v$ACTIONLINT_VERSION"
  echo "$BIN"
  exit 0
fi

require_go \
  "ERROR: no Go toolchain is available to build actionlint v$ACTIONLINT_VERSION." \
  "Fix: install Go >= 1.24 (https://go.dev/doc/install), then rerun this script."

start=$(date +%s)
mkdir -p "$BIN_DIR"
log "building actionlint v$ACTIONLINT_VERSION from its Go module"
GOBIN="$BIN_DIR" GOTOOLCHAIN=local GOFLAGS="-buildvcs=false" \
  go install -trimpath -ldflags "-s -w -X github.com/rhysd/actionlint.version=v$ACTIONLINT_VERSION" \
  "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION" >&2
log "built $("$BIN" -version | head -n1) in $(( $(date +%s) - start )) s at $BIN"
echo "$BIN"
