#!/usr/bin/env bash
# Prints "N passed, N failed" over every vitest run in the log $1; $2 is npm test's exit status.
# Vitest colours its summary when the CI terminal asks for it, so ANSI codes are stripped first;
# awk does the matching because a log with no "failed" count is normal, not an error.
# A non-zero status with no failed test counted (lint, tsc, a crash) still reports one failure.
set -euo pipefail
log="${1:?usage: test-totals.sh <vitest log> <exit status>}"
status="${2:?usage: test-totals.sh <vitest log> <exit status>}"
sed -E 's/\x1b\[[0-9;]*m//g' "$log" | awk -v status="$status" '
  /^ *Tests +[0-9]/ {
    for (i = 2; i < NF; i++) {
      if ($(i + 1) ~ /^passed/) passed += $i
      if ($(i + 1) ~ /^failed/) failed += $i
    }
  }
  END {
    if (status != 0 && failed == 0) failed = 1
    printf "%d passed, %d failed\n", passed, failed
  }
'
