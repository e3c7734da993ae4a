#!/usr/bin/env bash
# Installs Ansible for the peers benchmark (bench/peers.ts runs bench/peers/upgrade.yml with it):
# ansible-core from PyPI in a venv in the cache dir, plus the community.general collection (its
# haproxy module drains the nodes), ansible.posix (its json callback times every task), and
# community.aws with amazon.aws (community.aws.elb_target drains an ALB target), which need boto3.
#
# ansible-galaxy cannot reach its server here, and no PyPI package holds community.general alone;
# the `ansible` package on PyPI bundles it with ~100 other collections (210 MB unpacked). So the
# `ansible` wheel is downloaded without its dependencies and only the collections it needs are unpacked
# from it into a collections path (~21 MB). The two pins are a matching pair: ansible 12.x is built
# for ansible-core 2.19, the last line that installs on Python 3.11.
# Idempotent: seconds when the pinned set is already there. Prints the venv path on its last line
# (ansible-playbook is its bin/ansible-playbook; the collections are in its collections/ folder).
set -euo pipefail

ANSIBLE_CORE_VERSION="2.19.14"
ANSIBLE_VERSION="12.3.0"
COLLECTIONS="community/general ansible/posix community/aws amazon/aws"
CACHE_ROOT="${GRU_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-rolling-upgrade}"
VENV_DIR="$CACHE_ROOT/ansible-venv"
STAMP="$VENV_DIR/.gru-ansible-pins"
log() { printf '[setup-ansible] %s\n' "$*" >&2; }
# shellcheck source-path=SCRIPTDIR source=lib/python-venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/python-venv.sh"

# `pip freeze` of ansible-core==2.19.14 on Python 3.11 (first resolved 2026-11), with boto3 and
# its dependencies for amazon.aws (boto3 >= 1.34; resolved 2026-12).
PINS="$(
  cat <<'PINS'
ansible-core==2.19.14
boto3==1.43.11
botocore==1.43.127
cffi==2.1.1
cryptography==50.0.2
Jinja2==3.1.6
jmespath==1.1.0
MarkupSafe==3.0.4
packaging==26.4
pycparser==3.12
python-dateutil==2.9.0.post0
PyYAML==6.0.4
resolvelib==1.2.1
s3transfer==0.17.1
six==1.17.0
urllib3==2.8.0
PINS
)"
WANTED="$PINS
collections from ansible==$ANSIBLE_VERSION: $COLLECTIONS"

installed_ok() {
  [ -x "$VENV_DIR/bin/ansible-playbook" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANTED" ] &&
    [ -f "$VENV_DIR/collections/ansible_collections/community/general/plugins/modules/haproxy.py" ] &&
    [ -f "$VENV_DIR/collections/ansible_collections/community/aws/plugins/modules/elb_target.py" ] &&
    [ "$("$VENV_DIR/bin/python" -c 'import importlib.metadata as m; print(m.version("ansible-core"))' 2>/dev/null)" = "$ANSIBLE_CORE_VERSION" ]
}

if installed_ok; then
  log "ansible-core $ANSIBLE_CORE_VERSION and collections from ansible $ANSIBLE_VERSION already in $VENV_DIR"
  echo "$VENV_DIR"
  exit 0
fi

require_python 11
start=$(date +%s)
log "installing ansible-core==$ANSIBLE_CORE_VERSION and its pinned dependencies"
fresh_venv "$VENV_DIR" "$PINS"

download="$(mktemp -d)"
trap 'rm -rf "$download"' EXIT
log "downloading the ansible==$ANSIBLE_VERSION wheel (~54 MB, no dependencies) for its collections"
"$VENV_DIR/bin/python" -m pip download --quiet --disable-pip-version-check --no-input --no-deps \
  --only-binary=:all: "ansible==$ANSIBLE_VERSION" -d "$download" >&2
"$VENV_DIR/bin/python" - "$download"/ansible-"$ANSIBLE_VERSION"-*.whl "$VENV_DIR/collections" $COLLECTIONS <<'PY'
import sys, zipfile
wheel, dest, *wanted = sys.argv[1:]
prefixes = tuple(f"ansible_collections/{c}/" for c in wanted)
with zipfile.ZipFile(wheel) as z:
    members = [n for n in z.namelist() if n.startswith(prefixes)]
    for c in wanted:
        if not any(n.startswith(f"ansible_collections/{c}/") for n in members):
            sys.exit(f"{wheel} has no collection {c}")
    z.extractall(dest, members)
PY
printf '%s' "$WANTED" >"$STAMP"
log "installed ansible-core $ANSIBLE_CORE_VERSION + ${COLLECTIONS// /, } in $(($(date +%s) - start)) s at $VENV_DIR"
echo "$VENV_DIR"
