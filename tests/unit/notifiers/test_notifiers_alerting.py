"""alerting.py turns a spec's alerting section into real Airflow callbacks and DeadlineAlerts."""

from __future__ import annotations

import asyncio
import datetime
import json

import pytest

from airflow.sdk import DAG, AsyncCallback, DeadlineAlert, DeadlineReference
from airflow.sdk.bases.operator import BaseOperator
from airflow.serialization.serialized_objects import DagSerialization

from gaussdb_batch import alerting
from gaussdb_batch.alerting import (
    AlertingSpec,
    AlertingSpecError,
    build_callbacks,
    build_deadlines,
    compensation_notifier,
    parse_alerting,
)
from gaussdb_batch.notifiers.webhook import (
    DingTalkNotifier,
    JsonWebhookNotifier,
    SlackWebhookNotifier,
    WeComNotifier,
)

SPEC = parse_alerting({
    "on_failure": [{"type": "dingtalk", "conn_id": "ding_ops", "at_mobiles": ["13800000000"]},
                   {"type": "webhook", "conn_id": "pager", "timeout": 5}],
    "on_retry": [{"type": "slack", "conn_id": "slack_etl"}],
    "on_compensation": [{"type": "wecom", "conn_id": "wecom_dba"}],
    "late_after_minutes": 90,
})


def test_no_alerting_means_no_callbacks():
    assert build_callbacks(AlertingSpec()) == {"on_failure_callback": [], "on_retry_callback": []}
    assert build_deadlines(AlertingSpec()) == []
    assert build_deadlines(parse_alerting({"on_failure": [{"type": "slack", "conn_id": "s"}]})) == []


def test_callbacks_are_configured_notifier_instances():
    got = build_callbacks(SPEC, batch="orders")
    ding, hook = got["on_failure_callback"]
    (slack,) = got["on_retry_callback"]
    assert (type(ding), ding.conn_id, ding.at_mobiles, ding.batch) == (DingTalkNotifier, "ding_ops", ["13800000000"], "orders")
    assert (type(hook), hook.conn_id, hook.timeout) == (JsonWebhookNotifier, "pager", 5)
    assert (type(slack), slack.conn_id) == (SlackWebhookNotifier, "slack_etl")


def test_callbacks_attach_to_a_real_task():
    with DAG("alerting_probe", schedule=None, default_args=build_callbacks(SPEC, batch="orders")):
        task = BaseOperator(task_id="load")
    assert [type(c) for c in task.on_failure_callback] == [DingTalkNotifier, JsonWebhookNotifier]
    assert [type(c) for c in task.on_retry_callback] == [SlackWebhookNotifier]


def test_deadline_alert_is_the_real_airflow_class():
    alert = alerting.deadline_alert(datetime.timedelta(minutes=45),
                                    {"type": "dingtalk", "conn_id": "ding_ops", "batch": "orders"})
    assert type(alert) is DeadlineAlert
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.interval == datetime.timedelta(minutes=45)
    assert isinstance(alert.callback, AsyncCallback)
    assert alert.callback.path == "gaussdb_batch.notifiers.webhook.DingTalkNotifier"
    assert alert.callback.kwargs == {
        "conn_id": "ding_ops", "batch": "orders", "state": "late",
        "message": "{{ dag_run.dag_id }} run {{ dag_run.run_id }} is not finished 45 min after it was queued",
    }
    json.dumps(alert.callback.serialize())  # the scheduler stores it as JSON


def test_spec_deadlines_go_to_every_failure_target_and_serialise_with_the_dag():
    deadlines = build_deadlines(SPEC, batch="orders")
    assert [d.callback.path.rsplit(".", 1)[1] for d in deadlines] == ["DingTalkNotifier", "JsonWebhookNotifier"]
    assert {d.interval for d in deadlines} == {datetime.timedelta(minutes=90)}
    assert deadlines[0].callback.kwargs["at_mobiles"] == ["13800000000"]
    with DAG("deadline_probe", schedule=None, deadline=deadlines) as dag:
        BaseOperator(task_id="load")
    serialized = DagSerialization.to_dict(dag)
    assert "DingTalkNotifier" in json.dumps(serialized)


def test_the_triggerer_can_run_the_deadline_callback(monkeypatch):
    """What CallbackTrigger does: import the path, await callback(**kwargs, context=...)."""
    from airflow.sdk._shared.module_loading import import_string

    sent = []
    monkeypatch.setattr(JsonWebhookNotifier, "send", lambda self, endpoint, facts: sent.append(facts) or True)
    monkeypatch.setenv("AIRFLOW_CONN_PAGER", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9/x"}))
    alert = alerting.deadline_alert(datetime.timedelta(minutes=5), {"type": "webhook", "conn_id": "pager"})
    callback = import_string(alert.callback.path)
    context = {"dag_run": {"dag_id": "orders_daily", "run_id": "r1"}, "deadline": {"id": "d"}}

    async def run():
        await callback(**alert.callback.kwargs, context=context)

    asyncio.run(run())
    (facts,) = sent
    assert (facts.state, facts.message) == ("late", "orders_daily run r1 is not finished 5 min after it was queued")


def test_compensation_notifier_sends_the_message_verbatim(monkeypatch):
    sent = []
    monkeypatch.setattr(WeComNotifier, "send", lambda self, endpoint, facts: sent.append(facts) or True)
    monkeypatch.setenv("AIRFLOW_CONN_WECOM_DBA", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9/x"}))
    notify = compensation_notifier(SPEC, batch="orders")
    notify("run r1 undone: chunk 3 failed with {{ weird }} text")
    (facts,) = sent
    assert (facts.batch, facts.state) == ("orders", "compensated")
    assert facts.message == "run r1 undone: chunk 3 failed with {{ weird }} text"


def test_compensation_notifier_never_raises(monkeypatch):
    def boom(self, endpoint, facts):
        raise RuntimeError("network down")

    monkeypatch.setattr(WeComNotifier, "send", boom)
    monkeypatch.setenv("AIRFLOW_CONN_WECOM_DBA", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9/x"}))
    compensation_notifier(SPEC, batch="orders")("undone")
    compensation_notifier(AlertingSpec())("nobody to tell")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("dingtalk", "alerting: expected a mapping"),
        ({"on_falure": []}, "alerting.on_falure: unknown key"),
        ({"on_failure": {"type": "slack"}}, "alerting.on_failure: expected a list"),
        ({"on_failure": ["slack"]}, "alerting.on_failure[0]: expected a mapping"),
        ({"on_retry": [{"type": "slack", "conn_id": "s"}, {"type": "teams", "conn_id": "t"}]},
         "alerting.on_retry[1].type: 'teams' is not one of dingtalk, slack, webhook, wecom"),
        ({"on_compensation": [{"type": "wecom"}]}, "alerting.on_compensation[0].conn_id"),
        ({"on_failure": [{"type": "slack", "conn_id": "s", "url": "https://hooks"}]},
         "alerting.on_failure[0].url: unknown option for slack"),
        ({"on_failure": [{"type": "slack", "conn_id": "s", "at_all": True}]},
         "alerting.on_failure[0].at_all: unknown option for slack"),
        ({"on_failure": [{"type": "dingtalk", "conn_id": "d", "at_all": "yes"}]},
         "alerting.on_failure[0].at_all: 'yes' has the wrong type"),
        ({"on_failure": [{"type": "dingtalk", "conn_id": "d", "msgtype": "image"}]},
         "alerting.on_failure[0].msgtype"),
        ({"on_failure": [{"type": "webhook", "conn_id": "w", "timeout": 0}]}, "alerting.on_failure[0]: attempts"),
        ({"on_failure": [{"type": "slack", "conn_id": "s"}], "late_after_minutes": 0}, "alerting.late_after_minutes"),
        ({"on_failure": [{"type": "slack", "conn_id": "s"}], "late_after_minutes": "90"}, "alerting.late_after_minutes"),
        ({"late_after_minutes": 30}, "alerting.late_after_minutes: late alerts go to on_failure targets"),
    ],
)
def test_invalid_specs_name_the_field(spec, field):
    with pytest.raises(AlertingSpecError) as err:
        parse_alerting(spec)
    assert str(err.value).startswith(field)


@pytest.mark.parametrize("bad", [datetime.timedelta(0), 90])
def test_deadline_needs_a_positive_timedelta(bad):
    with pytest.raises(AlertingSpecError, match="max_duration"):
        alerting.deadline_alert(bad, {"type": "slack", "conn_id": "s"})
