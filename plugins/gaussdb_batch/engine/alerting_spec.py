"""The ``alerting`` section of a batch spec, parsed and validated: its targets and their notifier types.

The spec parser calls ``parse_alerting``; gaussdb_batch.alerting turns the parsed AlertingSpec into
Airflow callbacks, deadline alerts and the compensation alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gaussdb_batch.engine.spec import AlertingSpec, Target
from gaussdb_batch.notifiers.webhook import (
    DingTalkNotifier,
    JsonWebhookNotifier,
    SlackWebhookNotifier,
    WebhookNotifier,
    WeComNotifier,
)

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
class AlertingSpecError(ValueError):
    """The ``alerting`` section of a batch spec is invalid; the message names the field."""


def notifier(target: Target, **extra: Any) -> WebhookNotifier:
    """The notifier instance of one target."""
    return NOTIFIER_TYPES[target.type](**target.kwargs(**extra))


def parse_target(raw: Any, where: str) -> Target:
    """One alert target (``{type, conn_id, options...}``) validated; errors name ``where``."""
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
        targets[event] = tuple(parse_target(item, f"alerting.{event}[{i}]") for i, item in enumerate(raw))
    late = spec_alerting.get("late_after_minutes")
    if late is not None and (isinstance(late, bool) or not isinstance(late, int) or late <= 0):
        raise AlertingSpecError(f"alerting.late_after_minutes: a positive whole number of minutes, got {late!r}")
    if late is not None and not targets["on_failure"]:
        raise AlertingSpecError("alerting.late_after_minutes: late alerts go to on_failure targets; add one")
    return AlertingSpec(late_after_minutes=late, **targets)
