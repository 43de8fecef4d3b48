"""Run one loader lane in its own process (for crash, concurrency and memory tests).

Usage: python -m tests.integration.engine.lane_proc '<json: {"spec": {...}, "run_id": n, "lane": k}>'
Prints one JSON line: the lane's counts and the process's peak RSS in KiB.
"""

from __future__ import annotations

import json
import resource
import sys

from gaussdb_batch.engine.context import BatchContext
from gaussdb_batch.engine.load import run_lane
from gaussdb_batch.engine.spec_parser import parse_spec


def main() -> None:
    args = json.loads(sys.argv[1])
    ctx = BatchContext(parse_spec(args["spec"]))
    try:
        result = run_lane(ctx, args["run_id"], args["lane"])
    finally:
        ctx.close()
    print(json.dumps({
        "lane": result.lane, "chunks": result.chunks, "rows_written": result.rows_written,
        "chunk_nos": [c.chunk_no for c in result.chunk_results],
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


if __name__ == "__main__":
    main()
