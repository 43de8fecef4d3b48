"""Refuse the PyPI ``gaussdb`` driver before it can crash the worker.

gaussdb 1.0.x loads the system libpq through ctypes with a ``PQconninfoOption``
layout that only Huawei's libpq has; with a stock libpq (Debian's) the process dies
with SIGSEGV in ``PQconninfoParse`` at the first connect. A segfault cannot be
caught, so the first use in a process parses a conninfo in a child process and
only goes ahead when the child survives.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

_PROBE = (
    "from gaussdb import conninfo\n"
    "conninfo.conninfo_to_dict('host=127.0.0.1 port=5432 dbname=probe user=probe')\n"
    "print('ok')\n"
)

_lock = threading.Lock()
_result: str | None = None  # None: not probed yet; "" ok; otherwise the failure text


class DriverUnavailableError(RuntimeError):
    """The configured driver cannot run in this environment."""


def _probe(timeout: float) -> str:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"the probe did not finish within {timeout:.0f}s"
    if proc.returncode == 0 and proc.stdout.strip() == "ok":
        return ""
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        return f"the probe process was killed by {name}"
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return f"the probe exited with status {proc.returncode}: {last}"


def ensure_gaussdb_driver_usable(timeout: float = 30.0) -> None:
    """Raise DriverUnavailableError unless ``gaussdb`` can parse a conninfo here (cached per process)."""
    global _result
    with _lock:
        if _result is None:
            _result = _probe(timeout)
        failure = _result
    if failure:
        raise DriverUnavailableError(
            "Connection extra driver='gaussdb' cannot be used in this environment: the PyPI gaussdb "
            f"package failed to parse a connection string with the system libpq ({failure}). "
            "gaussdb needs Huawei's GaussDB libpq (install the GaussDB client and put its lib "
            "directory on LD_LIBRARY_PATH), or use driver 'psycopg2' with md5 authentication "
            "on the server (password_encryption_type=0 or 1 and md5 in pg_hba.conf)."
        )


def reset_cache() -> None:
    """Forget the probe result (tests, or after installing Huawei's libpq in a live process)."""
    global _result
    with _lock:
        _result = None
