"""Print what the demo's batch runs did, read from the control schema (rows, time, rows/s)."""

from __future__ import annotations

import argparse
import os

import psycopg2


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--since", required=True, help="only runs started at or after this timestamp")
    args = p.parse_args()
    e = os.environ
    dsn = (f"host={e['GAUSSDB_BATCH_PG_HOST']} port={e['GAUSSDB_BATCH_PG_PORT']} dbname=gbtarget "
           f"user={e['GAUSSDB_BATCH_PG_USER']} password={e['GAUSSDB_BATCH_PG_PASSWORD']}")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            """SELECT r.batch, r.run_id, r.interval_start::date, r.interval_end::date, r.status,
                      r.rows_extracted, r.rows_loaded, r.rows_rejected, r.chunks_total,
                      extract(epoch FROM r.finished_at - r.started_at),
                      extract(epoch FROM max(c.finished_at) - min(c.started_at))
               FROM gaussdb_batch.runs r LEFT JOIN gaussdb_batch.chunks c ON c.run_id = r.run_id
               WHERE r.started_at >= %s GROUP BY r.run_id ORDER BY r.run_id""",
            (args.since,),
        )
        rows = cur.fetchall()
    if not rows:
        raise SystemExit("demo: no batch run recorded")
    print()
    print(f"{'batch':<15} {'run':>4} {'interval':<23} {'status':<8} {'read':>8} {'written':>8} "
          f"{'rejected':>8} {'chunks':>6} {'run s':>7} {'load s':>7} {'rows/s':>9}")
    failed = False
    for batch, run_id, a, b, status, read, written, rej, chunks, secs, load_secs in rows:
        rate = (written or 0) / float(secs) if secs else 0.0
        print(f"{batch:<15} {run_id:>4} {str(a) + '..' + str(b):<23} {status:<8} {read or 0:>8} "
              f"{written or 0:>8} {rej or 0:>8} {chunks or 0:>6} {float(secs or 0):>7.2f} "
              f"{float(load_secs or 0):>7.2f} {rate:>9.0f}")
        failed |= status != "DONE"
    print("\nrun s: extract to finalize inside the tasks; load s: first chunk start to last chunk commit")
    if failed:
        raise SystemExit("demo: a run did not finish DONE")


if __name__ == "__main__":
    main()
