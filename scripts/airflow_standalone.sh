#!/usr/bin/env bash
# make airflow: `airflow standalone` (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1.
#   AIRFLOW_PORT=8081 make airflow     another port (default 8080); the Execution API URL and the
#                                      log servers' ports (port+713, port+714) follow it
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
# Every URL and port of Airflow's components follows the port: the task supervisor calls the
# Execution API at base_url (Airflow's default is localhost:8080, whatever the api-server's port),
# and the log servers of the workers and the triggerer move with it (8793/8794 for 8080).
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://127.0.0.1:$PORT}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-${AIRFLOW__API__BASE_URL%/}/execution/}"
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="${AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT:-$(( PORT + 713 ))}"
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="${AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT:-$(( PORT + 714 ))}"
# A new DAG file shows in the UI within 30 s, not Airflow's 5 minutes (local work only).
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
# LocalExecutor starts one worker process per parallelism slot (Airflow's default is 32).
export AIRFLOW__CORE__PARALLELISM="$PARALLELISM"
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="${AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG:-$PARALLELISM}"
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="${AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES:-$(( CPUS > 2 ? 2 : 1 ))}"
export AIRFLOW__API__WORKERS="${AIRFLOW__API__WORKERS:-1}"

for p in "$PORT" "$AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT" "$AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"; do
  if ! python - "$p" <<'PY'
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
    echo "make airflow: port $p on 127.0.0.1 is already in use (another Airflow, or another program)." >&2
    echo "Start it on another port:  AIRFLOW_PORT=8081 make airflow" >&2
    exit 1
  fi
done
if [ -n "${AIRFLOW_STANDALONE_DRY_RUN:-}" ]; then
  env | grep -E '^AIRFLOW__(API__(HOST|PORT|WORKERS|BASE_URL)|CORE__(PARALLELISM|MAX_ACTIVE_TASKS_PER_DAG|EXECUTION_API_SERVER_URL)|DAG_PROCESSOR__(PARSING_PROCESSES|REFRESH_INTERVAL)|LOGGING__(WORKER|TRIGGER)_LOG_SERVER_PORT)=' | sort
  exit 0
fi
scripts/airflow_init.sh
LOG="$AIRFLOW_HOME/standalone.log"
echo "== airflow standalone (port $PORT, parallelism $PARALLELISM; log $LOG)"
# Its own process group, so stopping reaches every process it started (standalone stops its
# components on SIGINT only; a SIGTERM would leave them running).
setsid airflow standalone > >(tee "$LOG") 2>&1 &
PID=$!
stop() {
  trap - INT TERM EXIT
  if kill -0 "$PID" 2>/dev/null; then
    kill -INT "$PID" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$PID" 2>/dev/null || break; sleep 1; done
  fi
  # Whatever of the group is left (task processes, log servers): TERM, then KILL.
  if kill -TERM -- "-$PID" 2>/dev/null; then
    sleep 3
    kill -KILL -- "-$PID" 2>/dev/null || true
  fi
}
trap stop INT TERM EXIT
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
