#!/usr/bin/env bash
# make airflow: `airflow standalone` (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1.
#   AIRFLOW_PORT=8081 make airflow     another port (default 8080)
#   AIRFLOW_PARALLELISM=8 make airflow  more task processes (default: 2 per CPU, at least 4)
# The port is checked before anything starts; the UI address is printed once the api-server
# answers, and the script stops (with the service's last lines) if it does not.
# AIRFLOW_STANDALONE_DRY_RUN=1 prints the settings it would use and exits.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
. scripts/env.sh
PORT="${AIRFLOW_PORT:-8080}"
CPUS="$(nproc 2>/dev/null || echo 2)"
PARALLELISM="${AIRFLOW_PARALLELISM:-$(( CPUS * 2 > 4 ? CPUS * 2 : 4 ))}"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$PORT"
# LocalExecutor starts one worker process per parallelism slot (Airflow's default is 32).
export AIRFLOW__CORE__PARALLELISM="$PARALLELISM"
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="${AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG:-$PARALLELISM}"
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="${AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES:-$(( CPUS > 2 ? 2 : 1 ))}"
export AIRFLOW__API__WORKERS="${AIRFLOW__API__WORKERS:-1}"

if ! python - "$PORT" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
then
  echo "make airflow: port $PORT on 127.0.0.1 is already in use (another Airflow, or another program)." >&2
  echo "Start it on another port:  AIRFLOW_PORT=8081 make airflow" >&2
  exit 1
fi
if [ -n "${AIRFLOW_STANDALONE_DRY_RUN:-}" ]; then
  env | grep -E '^AIRFLOW__(API__(HOST|PORT|WORKERS)|CORE__(PARALLELISM|MAX_ACTIVE_TASKS_PER_DAG)|DAG_PROCESSOR__PARSING_PROCESSES)=' | sort
  exit 0
fi
scripts/airflow_init.sh
LOG="$AIRFLOW_HOME/standalone.log"
echo "== airflow standalone (port $PORT, parallelism $PARALLELISM; log $LOG)"
airflow standalone > >(tee "$LOG") 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null' INT TERM EXIT
for _ in $(seq 1 180); do
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "make airflow: airflow standalone stopped before the UI came up; last lines of $LOG:" >&2
    tail -20 "$LOG" >&2
    exit 1
  fi
  if python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
       "http://127.0.0.1:$PORT/api/v2/monitor/health" 2>/dev/null; then
    echo
    echo "Airflow UI: http://127.0.0.1:$PORT  (user 'admin'; the password is in"
    echo "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated). Ctrl-C stops it."
    wait "$PID"
    exit $?
  fi
  sleep 1
done
echo "make airflow: the UI did not answer on port $PORT within 180 s; see $LOG" >&2
exit 1
