"""Who an attempt belongs to: the Airflow DAG run that began it (engine.state fences every write on it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Owner:
    """The Airflow DAG run an attempt belongs to; every task of that DAG run acts as it."""

    dag_id: str
    run_id: str

    def __str__(self) -> str:
        return f"DAG run {self.run_id!r} of {self.dag_id!r}"

    @classmethod
    def from_context(cls, context: Any) -> Owner:
        dag_run = context.get("dag_run")
        dag_id = getattr(dag_run, "dag_id", None) or getattr(context.get("dag"), "dag_id", None)
        run_id = getattr(dag_run, "run_id", None) or context.get("run_id")
        if not dag_id or not run_id:
            return ADHOC
        return cls(str(dag_id), str(run_id))


#: The owner of engine calls made outside Airflow (tests, scripts): one owner for all of them.
ADHOC = Owner("adhoc", "adhoc")
