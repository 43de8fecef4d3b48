"""Chat and webhook notifiers (DingTalk, WeCom, Slack, generic JSON) for batch alerts.

Each notifier reads its endpoint from an Airflow Connection, never from DAG code:

* ``host``: the full webhook URL (``https://oapi.dingtalk.com/robot/send?access_token=...``), or
* ``extra``: ``{"url": "<full webhook URL>"}`` (wins over ``host``);
* DingTalk "加签" (signed) robots: the signing secret in ``extra.secret`` or ``password``;
* generic JSON webhooks: optional ``extra.headers`` (e.g. an ``Authorization`` header).

A failed alert must never fail or slow down a batch: every notifier tries at most
``attempts`` times (default 2, one retry after ``retry_delay`` seconds, only for network
errors, HTTP 429 and 5xx), each with a ``timeout``, and logs what went wrong instead of
raising. URLs carry tokens, so only the endpoint's host is ever logged.

They work as task callbacks (``on_failure_callback=[DingTalkNotifier(conn_id=...)]``, run in
the worker), as DAG callbacks, and in ``DeadlineAlert(callback=AsyncCallback(DingTalkNotifier,
kwargs={...}))``, which the triggerer awaits with a smaller context (``dag_run`` as a dict).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, BaseNotifier

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from airflow.sdk.definitions.context import Context

USER_AGENT = "gaussdb-batch-notifier/1"
#: Chat robots cut long messages (WeCom: 4096 bytes of markdown); keep well below.
MAX_TEXT_CHARS = 3500


class WebhookConfigError(ValueError):
    """The connection does not describe a usable webhook."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret: str | None
    headers: Mapping[str, str]

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).netloc or "?"


def endpoint_from_connection(conn: Connection) -> Endpoint:
    """Read URL, signing secret and extra headers from a connection (shape in the module docstring)."""
    extra = conn.extra_dejson or {}
    url = extra.get("url") or conn.host or ""
    if not url.startswith(("http://", "https://")):
        raise WebhookConfigError(
            f"connection {conn.conn_id!r}: put the full webhook URL (http:// or https://) in "
            "'host' or in extra {\"url\": ...}"
        )
    headers = extra.get("headers") or {}
    if not isinstance(headers, dict):
        raise WebhookConfigError(f"connection {conn.conn_id!r}: extra 'headers' must be an object")
    return Endpoint(url=url, secret=extra.get("secret") or conn.password or None,
                    headers={str(k): str(v) for k, v in headers.items()})


@dataclass(frozen=True)
class Facts:
    """What an alert says, gathered from whichever context Airflow passed."""

    batch: str
    dag_id: str | None
    run_id: str | None
    task_id: str | None
    state: str | None
    message: str
    log_url: str | None
    try_number: int | None
    title: str

    def lines(self) -> list[tuple[str, str]]:
        pairs = [("batch", self.batch), ("dag_id", self.dag_id), ("run_id", self.run_id),
                 ("task_id", self.task_id), ("state", self.state),
                 ("try", None if self.try_number is None else str(self.try_number))]
        return [(k, v) for k, v in pairs if v]


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _state_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def gather_facts(context: Mapping[str, Any], *, batch: str | None, message: str | None,
                 title: str | None, state: str | None) -> Facts:
    """Facts from a task/DAG callback context, or the triggerer's deadline context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = _get(ti, "dag_id") or _get(dag_run, "dag_id") or _get(context.get("dag"), "dag_id")
    run_id = _get(ti, "run_id") or _get(dag_run, "run_id") or _get(dag_run, "dag_run_id")
    run_state = state or _state_text(_get(ti, "state")) or _state_text(_get(dag_run, "state"))
    if "deadline" in context and not state:
        run_state = "late"
    log_url = None
    try:
        log_url = _get(ti, "log_url")
    except Exception:  # log_url needs [api] base_url; an alert without it is still an alert
        log_url = None
    who = batch or dag_id or "gaussdb_batch"
    text = message
    if not text:
        error = context.get("exception") or context.get("reason")
        text = f"{who}: {run_state or 'event'}" + (f" ({error})" if error else "")
    try_number = _get(ti, "try_number")
    return Facts(
        batch=who, dag_id=dag_id, run_id=run_id, task_id=_get(ti, "task_id"), state=run_state,
        message=str(text)[:MAX_TEXT_CHARS], log_url=log_url,
        try_number=try_number if isinstance(try_number, int) else None,
        title=title or f"[gaussdb-batch] {who} {run_state or 'alert'}",
    )


class WebhookNotifier(BaseNotifier):
    """Base for the webhook notifiers: connection lookup, payload, bounded POST, no raising."""

    template_fields: Sequence[str] = ("message", "title")

    def __init__(
        self,
        *,
        conn_id: str,
        message: str | None = None,
        title: str | None = None,
        batch: str | None = None,
        state: str | None = None,
        timeout: float = 10.0,
        attempts: int = 2,
        retry_delay: float = 2.0,
        context: Context | None = None,
    ) -> None:
        super().__init__(context=context)
        if not conn_id:
            raise ValueError(f"{type(self).__name__}: conn_id is required")
        if attempts < 1:
            raise ValueError(f"{type(self).__name__}: attempts must be at least 1")
        self.conn_id = conn_id
        self.message = message
        self.title = title
        self.batch = batch
        self.state = state
        self.timeout = timeout
        self.attempts = attempts
        self.retry_delay = retry_delay

    # -- what subclasses define ------------------------------------------------------------
    def payload(self, facts: Facts) -> dict[str, Any]:
        raise NotImplementedError

    def url(self, endpoint: Endpoint) -> str:
        return endpoint.url

    def accepted(self, status: int, body: bytes) -> bool:
        """Whether the service took the message (chat robots answer 200 with an error code)."""
        return 200 <= status < 300

    # -- sending -------------------------------------------------------------------------
    def facts(self, context: Mapping[str, Any]) -> Facts:
        return gather_facts(context, batch=self.batch, message=self.message, title=self.title,
                            state=self.state)

    def notify(self, context: Context) -> None:
        try:
            endpoint = endpoint_from_connection(BaseHook.get_connection(self.conn_id))
            self.send(endpoint, self.facts(context))
        except Exception as exc:
            self.log.error("%s alert via connection %r not sent: %s", type(self).__name__, self.conn_id, exc)

    async def async_notify(self, context: Context) -> None:
        try:
            endpoint = endpoint_from_connection(await BaseHook.aget_connection(self.conn_id))
            await asyncio.to_thread(self.send, endpoint, self.facts(context))
        except Exception as exc:
            self.log.error("%s alert via connection %r not sent: %s", type(self).__name__, self.conn_id, exc)

    def send(self, endpoint: Endpoint, facts: Facts) -> bool:
        """POST the payload; True when delivered. Never raises for HTTP or network failures."""
        data = json.dumps(self.payload(facts), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   **endpoint.headers}
        for attempt in range(1, self.attempts + 1):
            retryable = False
            try:
                request = urllib.request.Request(self.url(endpoint), data=data, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    status, body = response.status, response.read(65536)
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read(2048)
            except (OSError, TimeoutError) as exc:  # URLError, refused, timeout
                self.log.warning("%s: %s unreachable (try %s/%s): %s", type(self).__name__,
                                 endpoint.host, attempt, self.attempts, exc)
                status, body, retryable = 0, b"", True
            if status and self.accepted(status, body):
                self.log.info("%s: alert for %s delivered to %s", type(self).__name__, facts.batch, endpoint.host)
                return True
            if status:
                retryable = status == 429 or status >= 500
                self.log.warning("%s: %s answered %s (try %s/%s): %s", type(self).__name__, endpoint.host,
                                 status, attempt, self.attempts, body[:300].decode(errors="replace"))
            if not retryable or attempt == self.attempts:
                break
            time.sleep(self.retry_delay)
        self.log.error("%s: alert for %s not delivered to %s", type(self).__name__, facts.batch, endpoint.host)
        return False


def _markdown(facts: Facts) -> str:
    rows = [f"- **{k}**: {v}" for k, v in facts.lines()]
    link = [f"- [log]({facts.log_url})"] if facts.log_url else []
    return "\n".join([f"### {facts.title}", "", facts.message, "", *rows, *link])


def _robot_accepted(status: int, body: bytes) -> bool:
    """DingTalk and WeCom answer HTTP 200 with {"errcode": 0} on success, another code otherwise."""
    if not 200 <= status < 300:
        return False
    try:
        return json.loads(body or b"{}").get("errcode", 0) == 0
    except ValueError:
        return False


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")), URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


class DingTalkNotifier(WebhookNotifier):
    """DingTalk custom robot (markdown or text), with the signed-secret mode when a secret is set."""

    def __init__(self, *, msgtype: str = "markdown", at_mobiles: Sequence[str] = (),
                 at_all: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if msgtype not in ("markdown", "text"):
            raise ValueError(f"DingTalkNotifier: msgtype must be 'markdown' or 'text', not {msgtype!r}")
        self.msgtype = msgtype
        self.at_mobiles = list(at_mobiles)
        self.at_all = at_all

    def url(self, endpoint: Endpoint) -> str:
        if not endpoint.secret:
            return endpoint.url
        timestamp = int(time.time() * 1000)
        glue = "&" if urllib.parse.urlsplit(endpoint.url).query else "?"
        return f"{endpoint.url}{glue}timestamp={timestamp}&sign={dingtalk_sign(endpoint.secret, timestamp)}"

    def payload(self, facts: Facts) -> dict[str, Any]:
        mentions = "".join(f" @{m}" for m in self.at_mobiles)
        at = {"atMobiles": self.at_mobiles, "isAtAll": self.at_all}
        if self.msgtype == "text":
            body = "\n".join([facts.title, facts.message, *(f"{k}: {v}" for k, v in facts.lines()),
                              *([f"log: {facts.log_url}"] if facts.log_url else [])])
            return {"msgtype": "text", "text": {"content": body + mentions}, "at": at}
        return {"msgtype": "markdown", "markdown": {"title": facts.title, "text": _markdown(facts) + mentions},
                "at": at}

    def accepted(self, status: int, body: bytes) -> bool:
        return _robot_accepted(status, body)


class WeComNotifier(WebhookNotifier):
    """WeCom (企业微信) group robot, markdown message."""

    def payload(self, facts: Facts) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": _markdown(facts)}}

    def accepted(self, status: int, body: bytes) -> bool:
        return _robot_accepted(status, body)


class SlackWebhookNotifier(WebhookNotifier):
    """Slack incoming webhook: ``text`` for notifications plus Block Kit blocks."""

    def payload(self, facts: Facts) -> dict[str, Any]:
        fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in facts.lines()]
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": facts.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": facts.message}},
        ]
        if fields:
            blocks.append({"type": "section", "fields": fields[:10]})
        if facts.log_url:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"<{facts.log_url}|Task log>"}})
        return {"text": f"{facts.title}: {facts.message}", "blocks": blocks}


class JsonWebhookNotifier(WebhookNotifier):
    """Any HTTP endpoint taking a flat JSON object (incident tools, an in-house gateway)."""

    def payload(self, facts: Facts) -> dict[str, Any]:
        return {
            "batch": facts.batch,
            "dag_id": facts.dag_id,
            "run_id": facts.run_id,
            "task_id": facts.task_id,
            "state": facts.state,
            "message": facts.message,
            "log_url": facts.log_url,
            "title": facts.title,
            "try_number": facts.try_number,
        }
