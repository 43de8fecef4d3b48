"""The host name Airflow records for a process of the end-to-end stack.

Both Celery workers of tests/e2e run on one machine; each gets its own name through
GAUSSDB_BATCH_E2E_HOSTNAME so a task instance's ``hostname`` tells which worker ran it.
Used as ``[core] hostname_callable = e2e_hostname.hostname``.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("GAUSSDB_BATCH_E2E_HOSTNAME") or socket.getfqdn()
