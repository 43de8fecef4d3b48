"""Each webhook notifier posts the right payload to a real local HTTP server and never raises."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from gaussdb_batch.notifiers.webhook import (
    DingTalkNotifier,
    JsonWebhookNotifier,
    SlackWebhookNotifier,
    WeComNotifier,
)

SECRET = "SEC0123456789abcdef"


class Hook:
    """A local webhook endpoint: records each request, answers from a script of replies."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.replies: list[tuple[int, dict, float]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                split = urllib.parse.urlsplit(self.path)
                hook.requests.append({
                    "path": split.path,
                    "query": urllib.parse.parse_qs(split.query),
                    "headers": dict(self.headers),
                    "json": json.loads(body),
                })
                status, reply, delay = hook.replies.pop(0) if hook.replies else (200, {"errcode": 0, "errmsg": "ok"}, 0)
                time.sleep(delay)
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


def connect(monkeypatch, conn_id: str, **fields) -> str:
    """Register an Airflow connection the way deployments do it: AIRFLOW_CONN_<ID> in JSON form."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "http", **fields}))
    return conn_id


def failure_context() -> dict:
    ti = SimpleNamespace(dag_id="orders_daily", task_id="load", run_id="scheduled__2026-01-01",
                         try_number=2, state="failed", log_url="http://airflow.local/log/1")
    return {"ti": ti, "task_instance": ti, "run_id": ti.run_id, "exception": RuntimeError("chunk 7 failed")}


FACT_LINES = [("batch", "orders"), ("dag_id", "orders_daily"), ("run_id", "scheduled__2026-01-01"),
              ("task_id", "load"), ("state", "failed"), ("try", "2")]
MARKDOWN = "\n".join([
    "### [gaussdb-batch] orders failed", "", "load failed in scheduled__2026-01-01", "",
    *(f"- **{k}**: {v}" for k, v in FACT_LINES), "- [log](http://airflow.local/log/1)",
])
TEMPLATE = "{{ ti.task_id }} failed in {{ run_id }}"


def test_dingtalk_markdown_payload(hook, monkeypatch):
    conn = connect(monkeypatch, "ding", host=f"{hook.url}/robot/send?access_token=tok")
    DingTalkNotifier(conn_id=conn, batch="orders", message=TEMPLATE, at_mobiles=["13800000000"])(failure_context())
    (req,) = hook.requests
    assert req["path"] == "/robot/send" and req["query"] == {"access_token": ["tok"]}
    assert req["json"] == {
        "msgtype": "markdown",
        "markdown": {"title": "[gaussdb-batch] orders failed", "text": MARKDOWN + " @13800000000"},
        "at": {"atMobiles": ["13800000000"], "isAtAll": False},
    }


def test_dingtalk_text_payload(hook, monkeypatch):
    conn = connect(monkeypatch, "ding", extra={"url": f"{hook.url}/robot/send?access_token=tok"})
    DingTalkNotifier(conn_id=conn, batch="orders", message="plain", msgtype="text")(failure_context())
    content = hook.requests[0]["json"]["text"]["content"]
    assert content.splitlines() == [
        "[gaussdb-batch] orders failed", "plain", *(f"{k}: {v}" for k, v in FACT_LINES),
        "log: http://airflow.local/log/1",
    ]


@pytest.mark.parametrize("where", ["extra", "password"])
def test_dingtalk_signed_request_verifies(hook, monkeypatch, where):
    secret = {"extra": {"secret": SECRET}} if where == "extra" else {"password": SECRET}
    conn = connect(monkeypatch, "ding", host=f"{hook.url}/robot/send?access_token=tok", **secret)
    DingTalkNotifier(conn_id=conn, batch="orders")(failure_context())
    query = hook.requests[0]["query"]
    (timestamp,), (sign,) = query["timestamp"], query["sign"]
    # What DingTalk does: recompute the HMAC over "<timestamp>\n<secret>" and compare.
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    assert sign == expected
    assert abs(int(timestamp) - time.time() * 1000) < 60_000  # DingTalk rejects > 1 hour skew
    assert query["access_token"] == ["tok"]


def test_wecom_markdown_payload(hook, monkeypatch):
    conn = connect(monkeypatch, "wecom", host=f"{hook.url}/cgi-bin/webhook/send?key=k1")
    WeComNotifier(conn_id=conn, batch="orders", message=TEMPLATE)(failure_context())
    (req,) = hook.requests
    assert req["query"] == {"key": ["k1"]}
    assert req["json"] == {"msgtype": "markdown", "markdown": {"content": MARKDOWN}}


def test_slack_payload(hook, monkeypatch):
    conn = connect(monkeypatch, "slack", host=f"{hook.url}/services/T/B/X")
    hook.replies.append((200, {}, 0))
    SlackWebhookNotifier(conn_id=conn, batch="orders", message=TEMPLATE)(failure_context())
    assert hook.requests[0]["json"] == {
        "text": "[gaussdb-batch] orders failed: load failed in scheduled__2026-01-01",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "[gaussdb-batch] orders failed"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "load failed in scheduled__2026-01-01"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in FACT_LINES]},
            {"type": "section", "text": {"type": "mrkdwn", "text": "<http://airflow.local/log/1|Task log>"}},
        ],
    }


def test_json_webhook_payload_and_headers(hook, monkeypatch):
    conn = connect(monkeypatch, "hook", extra={"url": f"{hook.url}/alerts",
                                              "headers": {"Authorization": "Bearer t0ken"}})
    JsonWebhookNotifier(conn_id=conn, batch="orders", message=TEMPLATE)(failure_context())
    (req,) = hook.requests
    assert req["headers"]["Authorization"] == "Bearer t0ken"
    assert req["headers"]["Content-Type"].startswith("application/json")
    assert req["json"] == {
        "batch": "orders", "dag_id": "orders_daily", "run_id": "scheduled__2026-01-01", "task_id": "load",
        "state": "failed", "message": "load failed in scheduled__2026-01-01",
        "log_url": "http://airflow.local/log/1", "title": "[gaussdb-batch] orders failed", "try_number": 2,
    }


def test_default_message_names_the_error(hook, monkeypatch):
    conn = connect(monkeypatch, "hook", host=f"{hook.url}/alerts")
    JsonWebhookNotifier(conn_id=conn)(failure_context())
    assert hook.requests[0]["json"]["message"] == "orders_daily: failed (chunk 7 failed)"
    assert hook.requests[0]["json"]["batch"] == "orders_daily"


def test_deadline_context_in_the_triggerer(hook, monkeypatch):
    """DeadlineAlert's AsyncCallback builds the notifier with the context and awaits it."""
    conn = connect(monkeypatch, "hook", host=f"{hook.url}/alerts")
    context = {"dag_run": {"dag_id": "orders_daily", "run_id": "scheduled__2026-01-02", "state": "running"},
               "deadline": {"id": "d1", "deadline_time": "2026-01-02T01:00:00+00:00"}}

    async def triggerer():
        await JsonWebhookNotifier(conn_id=conn, batch="orders", context=context,
                                  message="{{ dag_run.run_id }} still running")

    asyncio.run(triggerer())
    body = hook.requests[0]["json"]
    assert (body["run_id"], body["state"], body["message"]) == (
        "scheduled__2026-01-02", "late", "scheduled__2026-01-02 still running")


@pytest.mark.parametrize(
    ("replies", "posts"),
    [
        ([(500, {}, 0), (500, {}, 0), (500, {}, 0)], 2),  # 5xx: one retry, then give up
        ([(429, {}, 0), (200, {"errcode": 0}, 0)], 2),  # throttled, then delivered
        ([(400, {}, 0)], 1),  # a bad request is not retried
        ([(200, {"errcode": 310000, "errmsg": "sign not match"}, 0)], 1),  # robot refused: logged
    ],
)
def test_failures_are_bounded_and_never_raise(hook, monkeypatch, replies, posts):
    conn = connect(monkeypatch, "ding", host=f"{hook.url}/robot/send?access_token=tok")
    hook.replies.extend(replies)
    DingTalkNotifier(conn_id=conn, retry_delay=0.01)(failure_context())
    assert len(hook.requests) == posts


def test_robot_error_code_counts_as_not_delivered(hook, monkeypatch):
    hook.replies.append((200, {"errcode": 93000, "errmsg": "invalid webhook url"}, 0))
    notifier = WeComNotifier(conn_id="unused")
    from gaussdb_batch.notifiers.webhook import Endpoint

    assert notifier.send(Endpoint(f"{hook.url}/x", None, {}), notifier.facts(failure_context())) is False
    assert notifier.send(Endpoint(f"{hook.url}/x", None, {}), notifier.facts(failure_context())) is True


def test_timeout_bounds_a_hanging_endpoint(hook, monkeypatch):
    conn = connect(monkeypatch, "hook", host=f"{hook.url}/alerts")
    hook.replies.extend([(200, {}, 2.0), (200, {}, 2.0)])
    start = time.monotonic()
    JsonWebhookNotifier(conn_id=conn, timeout=0.3, attempts=2, retry_delay=0.01)(failure_context())
    assert time.monotonic() - start < 1.5


def logged(capsys) -> str:
    """Airflow's structlog writes task-side logs to the console, not to the logging module."""
    out, err = capsys.readouterr()
    return out + err


def test_unreachable_or_missing_configuration_is_logged_not_raised(monkeypatch, capsys):
    refused = connect(monkeypatch, "down", host="http://127.0.0.1:9/alerts")
    no_url = connect(monkeypatch, "nourl", host="chat.example")
    for conn in (refused, no_url, "no_such_connection"):
        SlackWebhookNotifier(conn_id=conn, retry_delay=0.01, timeout=1)(failure_context())
    text = logged(capsys)
    assert "127.0.0.1:9" in text and "full webhook URL" in text and "no_such_connection" in text


def test_tokens_in_the_url_are_not_logged(hook, monkeypatch, capsys):
    conn = connect(monkeypatch, "ding", host=f"{hook.url}/robot/send?access_token=very-secret-token",
                   extra={"secret": SECRET})
    hook.replies.append((500, {}, 0))
    DingTalkNotifier(conn_id=conn, attempts=1)(failure_context())
    text = logged(capsys)
    assert "very-secret-token" not in text and SECRET not in text
    assert "not delivered" in text


@pytest.mark.parametrize("bad", [{"msgtype": "image"}, {"attempts": 0}, {"conn_id": ""}])
def test_bad_arguments_fail_at_dag_definition(bad):
    with pytest.raises(ValueError):
        DingTalkNotifier(**{"conn_id": "c", **bad})
