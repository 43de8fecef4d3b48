#!/usr/bin/env bash
# make airflow: `airflow standalone` (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1:8080.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
. scripts/env.sh
scripts/airflow_init.sh
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="${AIRFLOW_PORT:-8080}"
echo "Airflow UI: http://127.0.0.1:${AIRFLOW__API__PORT}  (user 'admin'; the password is printed below"
echo "and stored in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
exec airflow standalone
