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
* ``compensation_notifier(spec, batch=...)`` -> a callable the compensate task calls with its message.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

# Exported lazily by airflow.sdk (a module __getattr__), which mypy does not follow.
from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference  # type: ignore[attr-defined]

from gaussdb_batch.engine.spec import AlertingSpec, Target
from gaussdb_batch.engine.state import RunStatus
from gaussdb_batch.notifiers.webhook import (
    DingTalkNotifier,
    JsonWebhookNotifier,
    SlackWebhookNotifier,
    WebhookNotifier,
    WeComNotifier,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

NOTIFIER_TYPES: dict[str, type[WebhookNotifier]] = {
    "dingtalk": DingTalkNotifier,
    "wecom": WeComNotifier,
    "slack": SlackWebhookNotifier,
    "webhook": JsonWebhookNotifier,
}
EVENTS = ("on_failure", "on_retry", "on_compensation")
_COMMON_OPTIONS = {"message": str, "title": str, "timeout": (int, float), "attempts": int}
_OPTIONS: dict[str, dict[str, Any]] = {
    "dingtalk": {**_COMMON_OPTIONS, "msgtype": str, "at_mobiles": list, "at_all": bool},
    "wecom": _COMMON_OPTIONS,
    "slack": _COMMON_OPTIONS,
    "webhook": _COMMON_OPTIONS,
}
LATE_MESSAGE = (
    "{{ dag_run.dag_id }} run {{ dag_run.run_id }} is not finished {{ late_after }} after it was queued"
)


class AlertingSpecError(ValueError):
    """The ``alerting`` section of a batch spec is invalid; the message names the field."""


def notifier(target: Target, **extra: Any) -> WebhookNotifier:
    """The notifier instance of one target."""
    return NOTIFIER_TYPES[target.type](**target.kwargs(**extra))


def _target(raw: Any, where: str) -> Target:
    if not isinstance(raw, Mapping):
        raise AlertingSpecError(f"{where}: expected a mapping with 'type' and 'conn_id', got {raw!r}")
    kind = raw.get("type")
    if kind not in NOTIFIER_TYPES:
        raise AlertingSpecError(f"{where}.type: {kind!r} is not one of {', '.join(sorted(NOTIFIER_TYPES))}")
    conn_id = raw.get("conn_id")
    if not isinstance(conn_id, str) or not conn_id.strip():
        raise AlertingSpecError(f"{where}.conn_id: the id of an Airflow connection is required")
    allowed = _OPTIONS[kind]
    options: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("type", "conn_id"):
            continue
        if key not in allowed:
            raise AlertingSpecError(
                f"{where}.{key}: unknown option for {kind}; allowed: {', '.join(sorted(allowed))}"
            )
        if not isinstance(value, allowed[key]) or (isinstance(value, bool) and allowed[key] is not bool):
            raise AlertingSpecError(f"{where}.{key}: {value!r} has the wrong type")
        options[key] = value
    if options.get("msgtype", "markdown") not in ("markdown", "text"):
        raise AlertingSpecError(f"{where}.msgtype: must be 'markdown' or 'text'")
    if options.get("attempts", 1) < 1 or options.get("timeout", 1) <= 0:
        raise AlertingSpecError(f"{where}: attempts must be >= 1 and timeout > 0")
    return Target(kind, conn_id.strip(), options)


def parse_alerting(spec_alerting: Any) -> AlertingSpec:
    """Validate the ``alerting`` section; errors name the offending field (``alerting.on_retry[1].type``).

    parse_spec calls this once; a BatchSpec then holds the AlertingSpec (empty without a section).
    """
    if not isinstance(spec_alerting, Mapping):
        raise AlertingSpecError(f"alerting: expected a mapping, got {type(spec_alerting).__name__}")
    unknown = set(spec_alerting) - {*EVENTS, "late_after_minutes"}
    if unknown:
        raise AlertingSpecError(
            f"alerting.{sorted(unknown)[0]}: unknown key; allowed: {', '.join((*EVENTS, 'late_after_minutes'))}"
        )
    targets: dict[str, tuple[Target, ...]] = {}
    for event in EVENTS:
        raw = spec_alerting.get(event) or []
        if not isinstance(raw, list):
            raise AlertingSpecError(f"alerting.{event}: expected a list of targets")
        targets[event] = tuple(_target(item, f"alerting.{event}[{i}]") for i, item in enumerate(raw))
    late = spec_alerting.get("late_after_minutes")
    if late is not None and (isinstance(late, bool) or not isinstance(late, int) or late <= 0):
        raise AlertingSpecError(f"alerting.late_after_minutes: a positive whole number of minutes, got {late!r}")
    if late is not None and not targets["on_failure"]:
        raise AlertingSpecError("alerting.late_after_minutes: late alerts go to on_failure targets; add one")
    return AlertingSpec(late_after_minutes=late, **targets)


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
    target = _target(raw, "deadline notifier")
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
    targets = spec.on_compensation

    def notify(message: str, context: Mapping[str, Any] | None = None) -> None:
        for target in targets:
            sender = notifier(target, batch=batch, message=message, state=RunStatus.COMPENSATED.lower())
            try:
                sender.notify(cast("Context", dict(context or {})))
            except Exception as exc:  # notify() already swallows delivery errors; this is belt and braces
                sender.log.error("compensation alert via %r not sent: %s", target.conn_id, exc)

    notify.targets = targets  # type: ignore[attr-defined]
    return notify
