#!/usr/bin/env bash
# The demo: a simulated province (GOVDATA_PROVINCE_CODE, default 37) through the whole
# platform on embedded DuckDB, run by Airflow, leaving Airflow, Superset and the CKAN portal
# running. Safe to re-run: sources are regenerated identically, ingestion only adds what is
# new, services are reused when already up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export GOVDATA_HOME="${GOVDATA_HOME:-$PWD/data}"
started=$(date +%s)

echo "== open-data portal (CKAN)"
.venv/bin/python -m govdata.services.ckan up

echo "== simulated sources of the province"
.venv/bin/govdata simulate

echo "== orchestrator (Airflow): start, then one run of every DAG"
.venv/bin/python -m govdata.services.airflow up
.venv/bin/python -m govdata.services.airflow run

echo "== dashboards (Superset)"
.venv/bin/govdata dashboards

eval "$(.venv/bin/python - <<'PY'
from core.settings import load_settings
from govdata.services import airflow, superset
s = load_settings()
print(f"SUPERSET_URL='{superset.dashboard_url(s)}'")
print(f"SUPERSET_LOGIN='{s.superset_admin_user} / {s.superset_admin_password}'")
print(f"AIRFLOW_URL='{airflow.base_url(s)}'")
print(f"AIRFLOW_LOGIN='{s.airflow_admin_user} / {s.airflow_admin_password}'")
print(f"CKAN_URL='{s.ckan_url}'")
print(f"CKAN_LOGIN='{s.ckan_admin_user} / {s.ckan_admin_password}'")
print(f"WAREHOUSE='{s.warehouse_path}'")
PY
)"

cat <<MSG

Demo ready in $(( $(date +%s) - started )) s.
  Orchestrator (Airflow): $AIRFLOW_URL
                          login $AIRFLOW_LOGIN
  Dashboard (Superset):   $SUPERSET_URL
                          login $SUPERSET_LOGIN
  Open-data portal (CKAN): $CKAN_URL/dataset
                          login $CKAN_LOGIN (the public needs none)
  Warehouse (DuckDB):     $WAREHOUSE  (read-only copy for readers under data/serving/)
Stop the services with: make stop
MSG
