#!/usr/bin/env bash
# Everything the tests and the rehearsal need that npm does not install: the Debian services, the
# Pulumi engine, the Glance virtualenvs and their wheelhouses, moto and actionlint. `npm test` runs it
# first (pretest), so the README's test command works on a fresh machine; each step is idempotent and
# seconds when cached.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-services.sh
bash scripts/setup-engine.sh >/dev/null
bash scripts/setup-glance.sh >/dev/null
bash scripts/setup-wheelhouse.sh >/dev/null
bash scripts/setup-moto.sh >/dev/null
bash scripts/setup-ansible.sh >/dev/null
bash scripts/setup-actionlint.sh >/dev/null
