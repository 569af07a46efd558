#!/usr/bin/env bash
# Create (or refresh) Superset's own virtualenv, .venv-superset, from the lock file.
#
# Superset pins SQLAlchemy<2 while the core platform needs 2.x, so it lives in its own venv.
# Idempotent: the venv is (re)built only when it is missing or the lock changed (a hash stamp
# of requirements/superset.txt is kept inside the venv).
#
# The dashboard tests also need a browser: on Debian, `apt-get install -y chromium`
# (never `playwright install`, which downloads its own build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-superset"
LOCK="$ROOT/requirements/superset.txt"
STAMP="$VENV/.govdata-lock-sha256"
PYTHON_VERSION="3.11"

export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}"

want="$(sha256sum "$LOCK" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/superset" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    echo "superset venv up to date: $VENV"
    exit 0
fi

echo "installing Superset into $VENV (lock $want)"
if [[ ! -x "$VENV/bin/python" ]]; then
    uv venv --python "$PYTHON_VERSION" "$VENV"
fi
rm -f "$STAMP"
uv pip sync --python "$VENV/bin/python" --compile-bytecode "$LOCK"
"$VENV/bin/python" -c "import superset, duckdb_engine, psycopg2" >/dev/null
echo "$want" > "$STAMP"
echo "superset venv ready: $VENV"
