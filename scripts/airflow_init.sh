#!/usr/bin/env bash
# Migrate the local Airflow metadata DB (once) and import airflow_settings.yaml (every time).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
. scripts/env.sh
mkdir -p "$AIRFLOW_HOME"
marker="$AIRFLOW_HOME/.migrated-$(python -c 'import airflow; print(airflow.__version__)')"
if [ ! -f "$marker" ]; then
  echo "== airflow db migrate ($AIRFLOW_HOME)"
  airflow db migrate > "$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/migrate.log"; exit 1; }
  touch "$marker"
fi
python scripts/bootstrap_airflow.py airflow_settings.yaml 2>/dev/null | tail -1
