# shellcheck shell=bash
# Sourced by the setup scripts that build a pinned tool from its Go module (setup-engine.sh,
# setup-actionlint.sh). Uses the caller's log().

# Puts a Go toolchain on PATH (a standard install that is not on PATH counts), or logs the caller's
# lines (what cannot be built, how to fix it) and exits 1.
require_go() {
  local candidate line
  if ! command -v go >/dev/null 2>&1; then
    for candidate in /usr/local/go/bin/go /usr/lib/go/bin/go; do
      if [ -x "$candidate" ]; then
        PATH="$(dirname "$candidate"):$PATH"
        break
      fi
    done
  fi
  command -v go >/dev/null 2>&1 && return 0
  for line in "$@"; do log "$line"; done
  exit 1
}
