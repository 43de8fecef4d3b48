#!/usr/bin/env bash
# make demo: real TPC-H data through the demo batch DAGs with `airflow dags test`, then a summary.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
. scripts/env.sh
scripts/airflow_init.sh
python scripts/demo_data.py --scale "${TPCH_SCALE:-0.1}"
# One month of orders (COPY from the source database, upsert) and one year of lineitem (4 lanes).
ORDERS_DATE="${DEMO_ORDERS_DATE:-1995-02-01}"
LINEITEM_DATE="${DEMO_LINEITEM_DATE:-1996-01-01}"
started="$(date -u +%Y-%m-%dT%H:%M:%S+00:00)"
for spec in "tpch_orders $ORDERS_DATE" "tpch_lineitem $LINEITEM_DATE"; do
  set -- $spec
  echo "== airflow dags test $1 $2"
  log=".local/demo_$1.log"
  if ! airflow dags test "$1" "$2" > "$log" 2>&1; then
    tail -40 "$log"; echo "demo: $1 failed, full log in $log" >&2; exit 1
  fi
  grep -E "batch=$1 .*(landed|DONE|chunk [0-9]+ of)" "$log" | sed -E 's/^[^ ]+ \[[a-z ]+\] //; s/ \[gaussdb_batch[^]]*\].*//' | tail -6
done
python scripts/demo_summary.py --since "$started"
