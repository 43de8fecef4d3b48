"""Turns a batch spec's ``alerting`` section into Airflow callbacks, deadline alerts and a compensation alert.

Spec shape (every key optional)::

    alerting:
      on_failure:      [{type: dingtalk, conn_id: ding_ops, at_mobiles: ["138..."]}]
      on_retry:        [{type: slack, conn_id: slack_etl}]
      on_compensation: [{type: wecom, conn_id: wecom_dba}, {type: webhook, conn_id: pager}]
      late_after_minutes: 90   # alert (to the on_failure targets) when a run is not done 90 min after it was queued

A target takes ``type`` and ``conn_id`` plus, optionally, ``message``, ``title``, ``timeout``,
``attempts`` and, for DingTalk, ``msgtype``, ``at_mobiles``, ``at_all``. The DAG factory uses:

* ``build_callbacks(spec)`` -> ``{"on_failure_callback": [...], "on_retry_callback": [...]}``
  for ``default_args`` (task callbacks run in the worker);
* ``build_deadlines(spec, batch=...)`` -> ``[DeadlineAlert, ...]`` for ``DAG(deadline=...)``;
* ``compensation_notifier(spec, batch=...)`` -> a callable the compensate task calls with its message;
* ``reconcile_notifier(spec, batch=...)`` -> the same to the ``on_failure`` targets, for a reconciliation
  that found differences.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

# Exported lazily by airflow.sdk (a module __getattr__), which mypy does not follow.
from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference  # type: ignore[attr-defined]

from gaussdb_batch.engine.alerting_spec import (  # noqa: F401 - re-exported: the parsing half of alerting
    EVENTS,
    NOTIFIER_TYPES,
    AlertingSpecError,
    notifier,
    parse_alerting,
    parse_target,
)
from gaussdb_batch.engine.spec import AlertingSpec, Target
from gaussdb_batch.engine.state import RunStatus

if TYPE_CHECKING:
    from airflow.sdk import Context

LATE_MESSAGE = (
    "{{ dag_run.dag_id }} run {{ dag_run.run_id }} is not finished {{ late_after }} after it was queued"
)


def build_callbacks(spec: AlertingSpec, *, batch: str | None = None) -> dict[str, list]:
    """Task callback kwargs (for ``default_args`` or an operator): lists of notifier instances."""
    return {
        "on_failure_callback": [notifier(t, batch=batch) for t in spec.on_failure],
        "on_retry_callback": [notifier(t, batch=batch) for t in spec.on_retry],
    }


def deadline_alert(max_duration: datetime.timedelta, notifier_kwargs: Mapping[str, Any]) -> DeadlineAlert:
    """A DeadlineAlert firing when a run is not finished ``max_duration`` after it was queued.

    ``notifier_kwargs`` is one target (``{"type": "dingtalk", "conn_id": ..., ...}``) plus, optionally,
    ``batch``. Airflow's triggerer imports the notifier class and awaits it with these kwargs and the
    deadline context, so everything in them must be JSON-serialisable.
    """
    if not isinstance(max_duration, datetime.timedelta) or max_duration <= datetime.timedelta(0):
        raise AlertingSpecError(f"deadline max_duration: a positive timedelta, got {max_duration!r}")
    raw = dict(notifier_kwargs)
    batch = raw.pop("batch", None)
    target = parse_target(raw, "deadline notifier")
    minutes = int(max_duration.total_seconds() // 60)
    options = {"message": LATE_MESSAGE.replace("{{ late_after }}", f"{minutes} min"), **target.options}
    kwargs = Target(target.type, target.conn_id, options).kwargs(state="late")
    if batch:
        kwargs["batch"] = batch
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=max_duration,
        callback=AsyncCallback(NOTIFIER_TYPES[target.type], kwargs=kwargs),
        name=f"{batch or 'batch'} late after {minutes} min ({target.type}:{target.conn_id})",
    )


def build_deadlines(spec: AlertingSpec, *, batch: str | None = None) -> list[DeadlineAlert]:
    """``DAG(deadline=...)``: one DeadlineAlert per on_failure target when late_after_minutes is set."""
    if spec.late_after_minutes is None:
        return []
    late = datetime.timedelta(minutes=spec.late_after_minutes)
    # A failure target's own message speaks of failures; the late alert keeps its own text.
    return [
        deadline_alert(late, {"type": t.type, "conn_id": t.conn_id, "batch": batch,
                              **{k: v for k, v in t.options.items() if k != "message"}})
        for t in spec.on_failure
    ]


def compensation_notifier(spec: AlertingSpec, *, batch: str | None = None) -> Callable[..., None]:
    """The alert the compensate task sends: ``notify(message, context=None)``.

    The message is sent as-is (it may quote database errors, so it is not a template).
    Each target is tried on its own; a failing one is logged and never raises.
    """
    return _message_notifier(spec.on_compensation, batch=batch, state=RunStatus.COMPENSATED.lower())


#: The state a reconciliation alert carries (report mode: differences found, the task succeeded).
RECONCILE_STATE = "differences found"


def reconcile_notifier(spec: AlertingSpec, *, batch: str | None = None) -> Callable[..., None]:
    """The alert a reconciliation that found differences sends, to the ``on_failure`` targets:
    ``notify(message, context=None)``, never raising."""
    return _message_notifier(spec.on_failure, batch=batch, state=RECONCILE_STATE)


def _message_notifier(targets: tuple[Target, ...], *, batch: str | None, state: str) -> Callable[..., None]:
    """``notify(message, context=None)`` sending ``message`` as-is to each target on its own."""

    def notify(message: str, context: Mapping[str, Any] | None = None) -> None:
        for target in targets:
            sender = notifier(target, batch=batch, message=message, state=state)
            try:
                sender.notify(cast("Context", dict(context or {})))
            except Exception as exc:  # notify() already swallows delivery errors; this is belt and braces
                sender.log.error("%s alert via %r not sent: %s", state, target.conn_id, exc)

    notify.targets = targets  # type: ignore[attr-defined]
    return notify
