"""How the engine's cost grows with the rows, and what more lanes buy: the same data, one run.

For each scale (TPC-H lineitem, ``bench/data.py``) and target state (empty, pre-filled with the
same rows, pre-filled with every row changed), the engine's cross-database path (extract + load
lanes + check, ``bench/run.py``'s ``engine``) runs once per lane count; the binary COPY pipe into an
empty target runs once per scale as the reference. Figures, not pass/fail:

    . scripts/env.sh && python bench/scaling.py [--scales 0.1 1 3] [--lanes 1 2 4] [--states empty prefilled changed]

Prints a markdown table (seconds per million rows, ratio to the binary COPY pipe, the check against
the load, peak RSS of the extract and of each lane) and writes ``bench/results/scaling.json``.
Each step runs in a child process of its own, so each peak RSS is that step's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402
from common import set_airflow_connections  # noqa: E402

STATES = ("empty", "prefilled", "changed")


def measure(scales: list[float], lanes: list[int], states: list[str]) -> dict[str, Any]:
    from data import ensure_databases, prepare

    set_airflow_connections(os.environ.get("BENCH_DIALECT", "postgres"))
    ensure_databases()
    out: dict[str, Any] = {"machine": bench.machine(), "code": bench.code_version(), "scales": {}}
    for scale in scales:
        rows = prepare(scale)
        bench.settle("empty")
        copy = bench.one("copy_pipe_binary")
        per: dict[str, Any] = {"rows": rows, "copy_pipe_binary": copy, "engine": {}}
        bench.log(f"scale {scale:g}: binary COPY pipe {copy['seconds']:.2f}s")
        for state in states:
            for n in lanes:
                if state != "empty" and not per["engine"]:
                    # a pre-filled state needs the rows of a load first
                    bench.settle("empty")
                    bench.engine(same_db=False)
                bench.settle(state)
                os.environ["BENCH_LANES"] = str(n)
                res = bench.engine(same_db=False)
                res["loadavg"] = round(os.getloadavg()[0], 1)
                per["engine"][f"{state}/{n}"] = res
                bench.log(f"scale {scale:g} {state:9s} lanes {n}: {res['seconds']:.2f}s "
                          f"(extract {res['extract_seconds']:.2f}, load {res['load_seconds']:.2f}, "
                          f"check {res.get('check_seconds', float('nan')):.2f})")
        out["scales"][f"{scale:g}"] = per
    return out


def table(out: dict[str, Any]) -> str:
    lines = ["| scale | rows | target | lanes | engine s | s per M rows | x binary COPY pipe | extract s | load s "
             "| check / load | extract RSS MiB | lane RSS MiB |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for scale, per in out["scales"].items():
        copy = per["copy_pipe_binary"]["seconds"]
        for key, r in per["engine"].items():
            state, n = key.split("/")
            check = r.get("check_seconds")
            ratio = "-" if check is None else f"{check / r['load_seconds']:.2f}x"
            lines.append(
                f"| {scale} | {per['rows']:,} | {state} | {n} | {r['seconds']:.2f} | "
                f"{r['seconds'] / (per['rows'] / 1e6):.2f} | {copy / r['seconds']:.2f}x | {r['extract_seconds']:.2f} | "
                f"{r['load_seconds']:.2f} | {ratio} | "
                f"{r['extract_rss'] / 2**20:.0f} | {', '.join(f'{x / 2**20:.0f}' for x in r.get('lane_rss', []))} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scales", type=float, nargs="+", default=[0.1, 1.0])
    p.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--states", nargs="+", default=list(STATES), choices=STATES)
    a = p.parse_args()
    bench.ensure_requirements()
    started = time.monotonic()
    out = measure(a.scales, a.lanes, a.states)
    out["minutes"] = round((time.monotonic() - started) / 60, 1)
    out["command"] = " ".join(["python bench/scaling.py", *sys.argv[1:]])
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "scaling.json").write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(f"code {out['code']}, {out['minutes']} min\n")
    print(table(out))


if __name__ == "__main__":
    main()
