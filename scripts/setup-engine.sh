#!/usr/bin/env bash
# Makes the Pulumi engine available on a machine that cannot download it (DESIGN.md §5):
# uses an installed `pulumi` at least as new as the pin, else builds the pinned CLI from its Go
# module into a cache dir and puts the dynamic-provider launcher beside it.
# Prints the engine root on its last line (the CLI is ROOT/bin/pulumi, as PulumiCommand.get expects).
# Idempotent; seconds when cached.
set -euo pipefail

PULUMI_VERSION="${PULUMI_VERSION:-3.274.1}"
CACHE_ROOT="${GRU_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-rolling-upgrade}"
ENGINE_ROOT="$CACHE_ROOT/pulumi-v$PULUMI_VERSION"
ENGINE_DIR="$ENGINE_ROOT/bin"
log() { printf '[setup-engine] %s\n' "$*" >&2; }
# shellcheck source-path=SCRIPTDIR source=lib/go-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-build.sh"

version_ge() { # $1 >= $2, dotted numbers
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}

installed_ok() {
  local bin="$1" v
  [ -x "$bin" ] || return 1
  v="$("$bin" version 2>/dev/null | tr -d 'v' | head -n1)" || return 1
  [ -n "$v" ] && version_ge "$v" "$PULUMI_VERSION"
}

launcher_dir_for() { # a dir holding pulumi-resource-pulumi-nodejs, or empty
  local d="$1"
  [ -x "$d/pulumi-resource-pulumi-nodejs" ] && echo "$d"
}

# 1. A standard install that is new enough, with its launcher beside it.
if command -v pulumi >/dev/null 2>&1; then
  existing="$(command -v pulumi)"
  existing_dir="$(dirname "$(readlink -f "$existing")")"
  if installed_ok "$existing" && [ -n "$(launcher_dir_for "$existing_dir")" ]; then
    log "using installed pulumi $("$existing" version) at $existing_dir"
    dirname "$existing_dir"
    exit 0
  fi
fi

# The cached build's version, remembered for this exact binary (size, mtime, inode): the driver runs
# this script at every start, and `pulumi version` is a Go process start (0.2-0.4 s on a busy 2-core
# machine). Only for our own build: nothing is written beside an installed pulumi.
cached_version() {
  local bin="$ENGINE_DIR/pulumi" stamp="$ENGINE_DIR/.pulumi-version" id v
  [ -x "$bin" ] || return 1
  id="$(stat -c '%s %Y %i' "$bin")" || return 1
  if [ -f "$stamp" ] && [ "$(sed -n 1p "$stamp")" = "$id" ]; then
    sed -n 2p "$stamp"
    return 0
  fi
  v="$("$bin" version 2>/dev/null | tr -d 'v' | head -n1)" || return 1
  [ -n "$v" ] || return 1
  printf '%s\n%s\n' "$id" "$v" >"$stamp.$$" && mv "$stamp.$$" "$stamp"
  echo "$v"
}

# 2. The cached build.
if cached="$(cached_version)" && version_ge "$cached" "$PULUMI_VERSION" &&
  [ -x "$ENGINE_DIR/pulumi-resource-pulumi-nodejs" ]; then
  log "using cached pulumi v$PULUMI_VERSION at $ENGINE_DIR"
  echo "$ENGINE_ROOT"
  exit 0
fi

# 3. Build it.
require_go \
  "ERROR: no 'pulumi' >= v$PULUMI_VERSION is installed and no Go toolchain is available to build one." \
  "Fix: install the Pulumi CLI (https://www.pulumi.com/docs/install/) or Go >= 1.24, then rerun."

start=$(date +%s)
build_dir="$CACHE_ROOT/build-v$PULUMI_VERSION"
mkdir -p "$build_dir" "$ENGINE_DIR"
log "building pulumi v$PULUMI_VERSION from its Go module (first time: ~3 min of downloads + ~3.5 min of build)"
cat >"$build_dir/go.mod" <<GOMOD
module gru/pulumi-cli

go 1.24

require github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
GOMOD
cat >"$build_dir/tools.go" <<'GOSRC'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GOSRC
(
  cd "$build_dir"
  export GOFLAGS="-mod=mod" GOTOOLCHAIN=local
  log "resolving modules"
  go mod download github.com/pulumi/pulumi/pkg/v3 >&2
  go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$PULUMI_VERSION" >&2
  log "compiling (2 cores: a few minutes)"
  go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    -o "$ENGINE_DIR/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
  mv "$ENGINE_DIR/pulumi.tmp" "$ENGINE_DIR/pulumi"
  sdk_dir="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
  install -m 0755 "$sdk_dir/nodejs/dist/pulumi-resource-pulumi-nodejs" "$ENGINE_DIR/pulumi-resource-pulumi-nodejs"
)
log "built pulumi $("$ENGINE_DIR/pulumi" version) in $(( $(date +%s) - start )) s at $ENGINE_DIR"
echo "$ENGINE_ROOT"
