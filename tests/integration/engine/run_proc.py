"""Run one whole attempt of a batch in its own process, as one Airflow DAG run would (overlap tests).

Usage: python -m tests.integration.engine.run_proc '<json: {"spec": {...}, "start": iso, "end": iso,
"owner": [dag_id, run_id], "lanes": n, "go": path}>'
With "go", the process starts (imports, connects nothing) and waits for that file to exist before
it begins: a test can have it ready and start the attempt at a moment of its choosing.
extract -> lanes (one after another) -> check -> finalize; a permanent error in load or check
compensates, as the DAG's compensate task does. Prints one JSON line: outcome, run id, message.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.compensate import compensate_run, finalize_run
from gaussdb_batch.engine.context import BatchContext
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from gaussdb_batch.engine.spec_parser import parse_spec
from gaussdb_batch.engine.state import NotOwnedError, OverlapError, Owner


def main() -> None:
    args = json.loads(sys.argv[1])
    ctx = BatchContext(parse_spec(args["spec"]), owner=Owner(*args["owner"]))
    out: dict = {"owner": args["owner"]}
    if args.get("go"):
        deadline = time.monotonic() + 120
        while not os.path.exists(args["go"]) and time.monotonic() < deadline:
            time.sleep(0.01)
    try:
        ex = extract(ctx, dt.datetime.fromisoformat(args["start"]), dt.datetime.fromisoformat(args["end"]))
        out.update(run_id=ex.run_id, resumed=ex.resumed)
        try:
            for lane in range(args.get("lanes", 1)):
                run_lane(ctx, ex.run_id, lane)
            check_run(ctx, ex.run_id)
            finalize_run(ctx, ex.run_id)
            out["outcome"] = "done"
        except NotOwnedError as exc:
            out.update(outcome="not_owned", message=str(exc))
        except PermanentBatchError as exc:
            result = compensate_run(ctx, ex.run_id, reason=str(exc))
            out.update(outcome="compensated", message=str(exc), compensated_chunks=result.chunks)
    except OverlapError as exc:
        out.update(outcome="overlap", message=str(exc))
    except PermanentBatchError as exc:
        out.update(outcome="refused", message=str(exc))
    finally:
        ctx.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
