#!/usr/bin/env bash
# Installs moto server (an AWS API emulator from PyPI) into a Python venv in the cache dir, for the
# ELBv2/RDS integration tests. Every package is pinned to the set resolved for moto[server]==$MOTO_VERSION
# on Python 3.11, so an install is reproducible. Idempotent: seconds when the pinned set is already there.
# Prints the venv path on its last line.
set -euo pipefail

MOTO_VERSION="5.2.5"
CACHE_ROOT="${GRU_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-rolling-upgrade}"
VENV_DIR="$CACHE_ROOT/moto-venv"
STAMP="$VENV_DIR/.gru-moto-pins"
log() { printf '[setup-moto] %s\n' "$*" >&2; }
# shellcheck source-path=SCRIPTDIR source=lib/python-venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/python-venv.sh"

# `pip freeze` of moto[server]==5.2.5 (first resolved 2026-05). Flask/Werkzeug/flask-cors carry the
# server; boto3/botocore carry the API models moto answers with.
PINS="$(
  cat <<'PINS'
moto[server]==5.2.5
annotated-types==0.8.0
antlr4-python3-runtime==4.13.2
attrs==26.1.0
aws-xray-sdk==2.15.0
blinker==1.9.0
boto3==1.44.8
botocore==1.44.8
certifi==2026.10.19.post1
cffi==2.1.1
cfn-lint==1.58.0
charset-normalizer==3.5.2
click==8.5.1
cryptography==50.0.2
docker==7.2.0
Flask==3.1.3
flask-cors==6.0.5
graphql-core==3.3.2
idna==3.20
itsdangerous==2.2.0
Jinja2==3.1.6
jmespath==1.1.0
joserfc==1.8.0
jsonpatch==1.48
jsonpath-ng==1.16.0
jsonpointer==3.12
jsonschema==4.26.0
jsonschema-path==0.5.0
jsonschema-specifications==2025.9.1
lazy-object-proxy==1.13.0
MarkupSafe==3.0.4
mpmath==1.3.0
networkx==3.6.1
openapi-schema-validator==0.9.0
openapi-spec-validator==0.9.0
pathable==0.6.0
py-partiql-parser==0.6.3
pycparser==3.12
pydantic==2.14.4
pydantic-settings==2.16.3
pydantic_core==2.50.5
pyparsing==3.3.3
python-dateutil==2.9.0.post0
python-dotenv==1.2.4
PyYAML==6.0.4
referencing==0.37.0
regex==2026.11.19
requests==2.34.2
responses==0.26.3
rfc3339-validator==0.1.4
rpds-py==2026.9.1
s3transfer==0.19.3
six==1.17.0
sympy==1.14.0
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
wrapt==2.5.2
xmltodict==1.0.4
PINS
)"

installed_ok() {
  [ -x "$VENV_DIR/bin/moto_server" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PINS" ] &&
    [ "$("$VENV_DIR/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" = "$MOTO_VERSION" ]
}

if installed_ok; then
  log "moto $MOTO_VERSION already installed in $VENV_DIR"
  echo "$VENV_DIR"
  exit 0
fi

require_python 9
start=$(date +%s)
log "installing moto[server]==$MOTO_VERSION and its pinned dependencies (~20 s)"
fresh_venv "$VENV_DIR" "$PINS"
printf '%s' "$PINS" >"$STAMP"
log "installed moto $MOTO_VERSION in $(($(date +%s) - start)) s at $VENV_DIR"
echo "$VENV_DIR"
