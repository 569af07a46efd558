#!/usr/bin/env bash
# Install the local open-data portal (CKAN 2.12, ckanext-dcat from the lock, and
# ckanext-localsearch from this repository) into its own venv.
#
# Idempotent: the venv is (re)built only when it is missing or when the lock
# (requirements/ckan.txt), the plugin's pyproject.toml or this script changed; a hash stamp
# inside the venv records what it was built from. CKAN pins its own Flask/SQLAlchemy/Redis
# client, so it never shares the core venv.
#
# Usage: services/ckan/install.sh [--force]     (env: CKAN_VENV, default <repo>/.venv-ckan)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${CKAN_VENV:-$repo/.venv-ckan}"
lock="$repo/requirements/ckan.txt"
plugin="$here/ckanext-localsearch"
stamp="$venv/.govdata-install-hash"

export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}"

wanted="$(cat "$lock" "$plugin/pyproject.toml" "$here/install.sh" | sha256sum | cut -d' ' -f1)"
if [[ "${1:-}" != "--force" && -x "$venv/bin/ckan" && -f "$stamp" \
      && "$(cat "$stamp")" == "$wanted" ]]; then
    echo "CKAN venv up to date: $venv"
    exit 0
fi

echo "Installing CKAN into $venv from $lock"
rm -f "$stamp"
uv venv --quiet --allow-existing --python 3.11 "$venv"
uv pip sync --quiet --python "$venv/bin/python" --compile-bytecode "$lock"
uv pip install --quiet --python "$venv/bin/python" --compile-bytecode --no-deps -e "$plugin"
"$venv/bin/python" -c "import ckan, ckanext.localsearch.plugin, ckanext.datastore, ckanext.dcat.plugins"
echo "$wanted" >"$stamp"
echo "CKAN installed: $("$venv/bin/python" -c 'import ckan; print(ckan.__version__)')"
