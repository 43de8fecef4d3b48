#!/usr/bin/env bash
# make demo: real TPC-H data through the demo batch DAGs with `airflow dags test`, then a summary.
# The TPC-H dates are moved 28 years later (2020..2026, see scripts/demo_data.py), so the
# runs below have recent data intervals. Every engine line of each run is shown as it happens;
# the full Airflow log of each run is kept in .local/demo_<batch>.log.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
. scripts/env.sh
scripts/airflow_init.sh
python scripts/demo_data.py --scale "${TPCH_SCALE:-0.1}"
gaussdb-batch validate include/batches
# One month of orders (COPY from the source database, upsert) and one year of lineitem (4 lanes).
# `airflow dags test <dag> <logical date>` runs the interval that ends at that date.
ORDERS_DATE="${DEMO_ORDERS_DATE:-2026-08-01}"
LINEITEM_DATE="${DEMO_LINEITEM_DATE:-2026-01-01}"
started="$(date -u +%Y-%m-%dT%H:%M:%S+00:00)"
for spec in "tpch_orders $ORDERS_DATE" "tpch_lineitem $LINEITEM_DATE"; do
  set -- $spec
  echo "== airflow dags test $1 $2"
  log=".local/demo_$1.log"
  # The engine's own lines (pre-flight, landing, every chunk, checks, DONE), without Airflow's prefix.
  set +e
  # `dags test` parses the DAGs in this process: it looks connections up as Airflow's own
  # processes do (env, secrets backend, metadata DB), so the targets' Assets (and their events)
  # see the connections airflow_settings.yaml stored; tasks still get theirs as tasks do.
  _AIRFLOW_PROCESS_CONTEXT=server airflow dags test "$1" "$2" 2>&1 | tee "$log" \
    | grep --line-buffered -E "batch=$1[ :]" \
    | sed -u -E 's/^[^ ]+ \[[a-z ]+\] +//; s/ +\[gaussdb_batch[^]]*\].*$//; s/(quality checks passed) \{.*/\1/'
  rc="${PIPESTATUS[0]}"
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "demo: $1 failed (exit $rc); its errors (full log in $log):" >&2
    grep -E "ERROR|AirflowFailException" "$log" | tail -15 >&2
    exit 1
  fi
done
python scripts/demo_summary.py --since "$started"
