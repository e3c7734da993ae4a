#!/usr/bin/env bash
# The README's first command: sets up everything on a fresh machine (Debian services, the Pulumi
# engine, the Glance virtualenvs, npm dependencies), then rehearses the upgrade of the local lab.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-services.sh
bash scripts/setup-engine.sh >/dev/null
bash scripts/setup-glance.sh >/dev/null
[ -d node_modules/@pulumi/pulumi ] || npm ci --no-audit --no-fund
npm run --silent build
exec node dist/lab/rehearse.js "$@"
