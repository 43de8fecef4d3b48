# Sourced by the Makefile's recipes: the local Airflow environment of this checkout.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.venv/bin:$PATH"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.local/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
export GAUSSDB_BATCH_INCLUDE="$ROOT/include"
if [ -f "$ROOT/.local/pg/env" ]; then
  # shellcheck disable=SC1091
  . "$ROOT/.local/pg/env"
fi
