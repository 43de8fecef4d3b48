#!/usr/bin/env bash
# make test: every check CI runs. Starts the local PostgreSQL; installs missing test tools (promtool, compose).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
. scripts/env.sh
scripts/install_test_tools.sh
# Types first: the hooks' Protocols and every row read are checked (zero errors, or no tests).
echo "== mypy plugins/gaussdb_batch"
python -m mypy --ignore-missing-imports --follow-imports=silent plugins/gaussdb_batch
# Tests use their own Airflow home (SQLite) so they never touch the demo's.
export AIRFLOW_HOME="$ROOT/.local/airflow-test"
exec python -m pytest "$@"
