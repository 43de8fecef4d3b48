"""`make bench`: TPC-H lineitem through every peer and through this project's engine, side by side.

Figures, not pass/fail. For each scale (BENCH_SCALES, default "1") the runner generates
lineitem with tpchgen-cli, fills a source database, then measures every method against an
empty target and again against the filled target (every row an update). Each measured
step runs in a child process of its own, so its peak RSS is its own. Results go to
bench/results/results.json, the chart to docs/bench.png and the tables into BENCHMARKS.md
(between the generated-results markers).

Environment knobs (all optional):
  BENCH_SCALES="1"            scales to run (1 = 6M lineitem rows)
  BENCH_METHODS="a,b"         these methods (names as in METHODS below; default DEFAULT_METHODS)
  BENCH_LANES=2               engine load lanes (separate processes)
  BENCH_LOAD_PATH=auto        the engine's spec load_path: auto (direct key ranges where allowed) or landing
  BENCH_CHUNK_ROWS=10000      engine chunk size (the spec default)
  BENCH_DIALECT=postgres      engine dialect of the target connection (postgres: ON CONFLICT, gaussdb: MERGE)
  BENCH_SAMPLE_SINGLE=2000    rows for single-row autocommit inserts
  BENCH_SAMPLE_MANY=20000     rows for executemany
  BENCH_SAMPLE_GT=50000       rows for GenericTransfer
  BENCH_SAMPLE_VALUES=200000  rows for execute_values (0: all)
  BENCH_PYSPY=1               record py-spy profiles of the engine's processes (.local/bench/profiles)
  BENCH_LOAD_DEADLINE=1800    seconds the engine's load may take before its lanes are stopped (reported as such)
  BENCH_NO_REPORT=1           do not rewrite BENCHMARKS.md / docs/bench.png (results.json only)
  BENCH_FRESH=1               forget scales measured by earlier runs (default: a run replaces only its scales)
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import CONTROL, DST_DB, ROOT, SRC_DB, TARGET, WORK, dsn, pg_env, set_airflow_connections  # noqa: E402


def ensure_requirements() -> None:
    if all(importlib.util.find_spec(m) for m in ("matplotlib", "dlt", "sling_linux_amd64")) \
            and (Path(sys.executable).parent / "py-spy").exists():
        return
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", str(HERE / "requirements.txt")], check=True)


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# --------------------------------------------------------------------------- child processes
def _child(i: int, name: str, args: tuple, queue: Any) -> None:
    import logging

    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    logging.basicConfig(level=logging.WARNING)
    try:
        import methods

        queue.put((i, "ok", getattr(methods, name)(*args)))
    except BaseException:
        queue.put((i, "error", traceback.format_exc()))


def run_children(calls: list[tuple[str, tuple]], *, profile_as: str | None = None,
                 deadline: float | None = None, extra_env: dict | None = None) -> tuple[list[dict], float]:
    """Run each (method name, args) in its own spawned process, concurrently; (results, wall seconds).

    Past ``deadline`` seconds the processes still running are killed and their result is None.
    """
    mpc = mp.get_context("spawn")
    queue = mpc.Queue()
    procs = [mpc.Process(target=_child, args=(i, name, args, queue), daemon=False) for i, (name, args) in enumerate(calls)]
    t0 = time.monotonic()
    saved = {k: os.environ.get(k) for k in (extra_env or {})}
    os.environ.update(extra_env or {})
    for p in procs:
        p.start()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    spies = []
    if profile_as and os.environ.get("BENCH_PYSPY") == "1":
        pdir = WORK / "profiles"
        pdir.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(procs):
            out = pdir / f"{profile_as}-{i}.txt"
            spies.append(subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(p.pid), "--format", "raw",
                 "--rate", "50", "--idle", "--nonblocking", "-o", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    results: list[Any] = [None] * len(calls)
    errors = []
    import queue as queue_mod

    for _ in calls:
        left = None if deadline is None else max(0.1, deadline - (time.monotonic() - t0))
        try:
            i, status, payload = queue.get(timeout=left)
        except queue_mod.Empty:
            for p in procs:
                if p.is_alive():
                    p.kill()
            terminate_bench_sessions()
            log(f"{calls[0][0]}: stopped at the {deadline:.0f}s deadline")
            break
        if status == "ok":
            results[i] = payload
        else:
            errors.append(f"{calls[i][0]}: {payload}")
    wall = time.monotonic() - t0
    for p in procs:
        p.join()
    for s in spies:
        s.wait(timeout=60)
    if errors:
        raise RuntimeError("\n".join(errors))
    return results, wall


def one(name: str, *args: Any) -> dict:
    return run_children([(name, args)])[0][0]


# --------------------------------------------------------------------------- target state
def _super_conn():
    import psycopg2

    e = pg_env()
    pw = os.environ.get("GAUSSDB_BATCH_PG_SUPERPASSWORD")
    if not pw:
        return None
    try:
        c = psycopg2.connect(host=e["HOST"], port=e["PORT"], user="postgres", password=pw, dbname=DST_DB)
    except psycopg2.Error:
        return None
    c.autocommit = True
    return c


def terminate_bench_sessions() -> None:
    """End the server sessions of killed bench processes (a statement outlives its client)."""
    s = _super_conn()
    if s is None:
        return
    with s.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN (%s, %s) "
                    "AND pid <> pg_backend_pid()", (SRC_DB, DST_DB))
    s.close()


def settle(state: str) -> None:
    """Before a measurement: empty the target (and the engine's control schema), keep the rows the
    last method loaded (pre-filled: the source's rows), or change one column of every one of them
    (changed: every row then differs from its source row); vacuum, analyze, checkpoint."""
    import psycopg2

    c = psycopg2.connect(dsn(DST_DB))
    c.autocommit = True
    with c.cursor() as cur:
        if state == "empty":
            cur.execute(f"TRUNCATE {TARGET}")
            cur.execute(f"DROP SCHEMA IF EXISTS {CONTROL} CASCADE")
            cur.execute("DROP TABLE IF EXISTS bench_land")
        elif state == "changed":
            cur.execute(f"UPDATE {TARGET} SET l_comment = left('~' || l_comment, 44)")
        cur.execute(f"VACUUM ANALYZE {TARGET}")
    c.close()
    s = _super_conn()
    if s is not None:
        with s.cursor() as cur:
            cur.execute("CHECKPOINT")
        s.close()


# --------------------------------------------------------------------------- the methods
def _done_chunks(run_id: int) -> tuple[int, int, int]:
    import psycopg2

    with psycopg2.connect(dsn(DST_DB)) as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*) FILTER (WHERE status = 'DONE'), count(*),"
                    f" coalesce(sum(rows_written) FILTER (WHERE status = 'DONE'), 0)"
                    f" FROM {CONTROL}.chunks WHERE run_id = %s", (run_id,))
        return cur.fetchone()


def engine(same_db: bool, what_if: str | None = None) -> dict:
    lanes = env_int("BENCH_LANES", 2)
    chunk_rows = env_int("BENCH_CHUNK_ROWS", 10_000)
    deadline = float(os.environ.get("BENCH_LOAD_DEADLINE", 1800))
    common = (same_db, chunk_rows, lanes)
    tag = ("same_db" if same_db else "cross_db") + (f"-{what_if}" if what_if else "")
    env = {"BENCH_WHAT_IF": what_if or ""}
    (ex,), _ = run_children([("engine_extract", common)], profile_as=f"{tag}-extract", extra_env=env)
    t_load = time.time()
    lane_res, _ = run_children([("engine_lane", (*common, ex["run_id"], i)) for i in range(lanes)],
                               profile_as=f"{tag}-lane", deadline=deadline, extra_env=env)
    if any(r is None for r in lane_res):
        done, total, rows = _done_chunks(ex["run_id"])
        load = time.time() - t_load
        log(f"{tag}: {done} of {total} chunks ({rows} rows) loaded in {load:.0f}s; no check")
        return {"rows": rows, "seconds": ex["seconds"] + load, "rss": max((r["rss"] for r in lane_res if r), default=0),
                "incomplete": f"{done} of {total} chunks in {deadline:.0f}s", "extract_seconds": ex["seconds"],
                "load_seconds": load, "extract_rss": ex["rss"], "lanes": lanes, "chunk_rows": chunk_rows,
                "chunks": total, "statements": {"extract": ex["statements"]}}
    # The load's time runs from the first lane's first claim to the last lane's end
    # (process start-up and imports excluded, as for every other step).
    load_wall = max(r["ended"] for r in lane_res) - min(r["started"] for r in lane_res)
    (chk,), _ = run_children([("engine_check", (*common, ex["run_id"]))], profile_as=f"{tag}-check", extra_env=env)
    statements: dict[str, list[float]] = {}
    for r in lane_res:
        for k, (sec, n) in r["statements"].items():
            s = statements.setdefault(k, [0.0, 0])
            s[0] += sec
            s[1] += n
    return {
        "rows": ex["rows"], "seconds": ex["seconds"] + load_wall, "rss": max(r["rss"] for r in lane_res),
        "extract_seconds": ex["seconds"], "load_seconds": load_wall, "check_seconds": chk["seconds"],
        "finalize_seconds": chk["finalize_seconds"], "extract_rss": ex["rss"], "check_rss": chk["rss"],
        "lane_rss": [r["rss"] for r in lane_res], "lanes": lanes, "chunk_rows": chunk_rows,
        "chunks": ex["chunks"], "rows_written": sum(r["rows"] for r in lane_res), "mismatched": chk["mismatched"],
        "statements": {"extract": ex["statements"], "lanes (summed over lanes)": statements,
                       "check": chk["statements"]},
    }


BOTH = ("empty", "prefilled")
#: Also against a pre-filled target whose every row differs from the source (the upserts that
#: do real work whether or not they skip identical rows).
THREE = ("empty", "prefilled", "changed")
#: name -> (what it is, target states it runs against, (sample env knob, default rows) or None for all rows)
METHODS: dict[str, tuple[str, tuple[str, ...], tuple[str, int] | None]] = {
    "copy_pipe": ("COPY (SELECT ...) TO STDOUT piped into COPY ... FROM STDIN of the typed target (psycopg 3); "
                  "an empty target only: COPY cannot upsert", ("empty",), None),
    "copy_pipe_binary": ("copy_pipe in binary format on both sides (the extract's format between PostgreSQL "
                         "servers when every column has the target's type)", ("empty",), None),
    "landing_limit": ("limit of the landing design across databases: the COPY pipe into an UNLOGGED typed table, "
                      "then one INSERT ... SELECT ... ON CONFLICT DO UPDATE", THREE, None),
    "engine_cross_db": ("this project: extract (COPY pipe into the landing) + load lanes (a plain INSERT while "
                        "the lane finds no existing key, else the undo capture, then the upsert)", THREE, None),
    "insert_select": ("one INSERT ... SELECT ... ON CONFLICT DO UPDATE inside the target database", THREE, None),
    "same_db_limit": ("limit of the landing design within one database: INSERT ... SELECT into an UNLOGGED typed "
                      "table, then the merge", THREE, None),
    "engine_same_db": ("this project, same-database path: extract (INSERT ... SELECT into the landing) + load "
                       "lanes", THREE, None),
    "execute_values": ("psycopg2.extras.execute_values upsert, 1000 rows a statement, a commit per 10,000", BOTH,
                       ("BENCH_SAMPLE_VALUES", 200_000)),
    "generic_transfer": ("Airflow's GenericTransfer (get_records, then insert_rows replace=True, "
                         "commit_every=1000)", BOTH, ("BENCH_SAMPLE_GT", 50_000)),
    "executemany_1000": ("psycopg2 executemany of the upsert, a commit per 1000 rows", BOTH,
                         ("BENCH_SAMPLE_MANY", 20_000)),
    "single_row": ("one autocommit INSERT ... ON CONFLICT per row", BOTH, ("BENCH_SAMPLE_SINGLE", 2_000)),
    "dlt_merge": ("dlt (sql_table, pyarrow backend, 100k-row chunks) into its postgres destination, "
                  "write_disposition merge on the key", BOTH, None),
    "sling_upsert": ("sling CLI (the sling-linux-amd64 wheel's binary), incremental mode on the primary key "
                     "(upsert) into a typed PK table", BOTH, None),
}
#: What `make bench` measures unless BENCH_METHODS says otherwise.
DEFAULT_METHODS = ("copy_pipe", "copy_pipe_binary", "landing_limit", "engine_cross_db", "insert_select",
                   "same_db_limit", "engine_same_db", "generic_transfer", "dlt_merge", "sling_upsert")
PEERS = ("dlt_merge", "sling_upsert")


def run_method(name: str, total: int, state: str) -> dict:
    if name in PEERS:
        return one(name, state == "prefilled")
    if name.startswith("engine_"):
        return engine(same_db=name.startswith("engine_same_db"))
    sample = METHODS[name][2]
    if sample is None:
        return one(name)
    n = env_int(*sample)
    return one(name, total if n <= 0 else min(n, total))


def code_version() -> str:
    """The commit measured, and whether the engine had uncommitted changes (others work in this tree)."""
    if os.environ.get("BENCH_CODE"):  # a run from an exported snapshot of a commit names it
        return os.environ["BENCH_CODE"]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", "plugins")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes in plugins/" if dirty else "")


def machine() -> dict[str, Any]:
    import psutil

    from data import server_facts

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    disk = psutil.disk_usage(str(ROOT))
    return {
        "nproc": os.cpu_count(), "cpu": cpu, "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "disk_gib": round(disk.total / 2**30), "kernel": platform.release(), "python": platform.python_version(),
        "postgres": server_facts(), "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def main() -> None:
    ensure_requirements()
    scales = [float(s) for s in os.environ.get("BENCH_SCALES", "1").split(",") if s.strip()]
    wanted = [m for m in os.environ.get("BENCH_METHODS", ",".join(DEFAULT_METHODS)).split(",") if m.strip()]
    unknown = [m for m in wanted if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown BENCH_METHODS {unknown}; known: {', '.join(METHODS)}")
    dialect = os.environ.get("BENCH_DIALECT", "postgres")
    set_airflow_connections(dialect)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from data import ensure_databases, prepare

    ensure_databases()
    out = {"machine": machine(), "dialect": dialect, "command": "make bench", "scales": {}}
    out["code"] = code_version()
    out["env"] = {k: v for k, v in os.environ.items() if k.startswith("BENCH_")}
    started = time.monotonic()
    for scale in scales:
        total = prepare(scale)
        log(f"scale {scale:g}: {total} lineitem rows")
        per: dict[str, Any] = {}
        for name in wanted:
            what, states, _ = METHODS[name]
            per[name] = {"what": what}
            for state in states:
                settle(state)
                t0 = time.monotonic()
                res = run_method(name, total, state)
                res["sampled"] = res["rows"] < total
                # Other work on the machine skews a figure: keep the 1-minute load average after each one.
                res["loadavg"] = round(os.getloadavg()[0], 1)
                per[name][state] = res
                log(f"scale {scale:g} {name:17s} {state:9s}: {res['rows']:>9} rows in {res['seconds']:8.2f}s = "
                    f"{res['rows'] / res['seconds']:>10.0f} rows/s, peak RSS {res['rss'] / 2**20:.0f} MiB"
                    f" ({time.monotonic() - t0:.0f}s with children)")
        out["scales"][f"{scale:g}"] = {"rows": total, "methods": per, "runs": [
            {"date": time.strftime("%Y-%m-%d %H:%M"), "knobs": out["env"], "code": out["code"], "methods": wanted}]}
    out["total_minutes"] = round((time.monotonic() - started) / 60, 1)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    old = results / "results.json"
    if old.exists() and os.environ.get("BENCH_FRESH") != "1":
        # Keep the scales this run did not measure (each keeps its own knobs and date).
        # Within a scale measured again, keep the methods this run did not measure.
        kept = json.loads(old.read_text()).get("scales", {})
        for k, v in out["scales"].items():
            if k in kept:
                v["methods"] = {**kept[k]["methods"], **v["methods"]}
                # An earlier run stays listed only for the methods whose figures are still its own.
                older = [{**r, "methods": [x for x in r["methods"] if x not in wanted]} for r in kept[k].get("runs", [])]
                v["runs"] = [r for r in older if r["methods"]] + v["runs"]
        out["scales"] = {**{k: v for k, v in kept.items() if k not in out["scales"]}, **out["scales"]}
        out["scales"] = dict(sorted(out["scales"].items(), key=lambda kv: float(kv[0])))
    (results / "results.json").write_text(json.dumps(out, indent=1, default=str) + "\n")
    log(f"done in {out['total_minutes']} min; results in bench/results/results.json")
    if os.environ.get("BENCH_NO_REPORT") != "1":
        import report

        report.write(out)


if __name__ == "__main__":
    main()
