"""Posting notification events to a webhook: the payload presets and a delivery with retries.

One HTTP POST per event. The presets:

- ``generic``: the event as JSON (``source``, ``host``, ``id``, ``kind``, ``severity``, ``title``,
  ``text``, ``at`` in ISO 8601 UTC, ``fields``);
- ``discord``: a Discord webhook message with one embed (colour by severity, no mentions);
- ``slack``: a Slack incoming-webhook message (``text`` plus mrkdwn blocks);
- ``ntfy``: an ntfy publish to the topic URL: the text as the body, ``Title``, ``Priority`` and
  ``Tags`` headers.

The URL often carries a secret (a Discord or Slack token, an ntfy topic): no message made here
contains it, not even an error from the network stack.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

PRESETS = ("generic", "discord", "slack", "ntfy")
_COLOURS = {"info": 0x2ECC71, "warning": 0xF1C40F, "error": 0xE74C3C}
_SLACK_MARK = {"info": ":white_check_mark:", "warning": ":warning:", "error": ":rotating_light:"}
_NTFY_PRIORITY = {"info": "2", "warning": "4", "error": "5"}
_NTFY_TAGS = {"info": "white_check_mark", "warning": "warning", "error": "rotating_light"}
# Worth another try: the receiver (or something before it) is busy or briefly down.
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
USER_AGENT = "plotfleet-notify/1"


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def headline(item: Mapping[str, Any]) -> str:
    host = item.get("host")
    return f"{host}: {item['title']}" if host else str(item["title"])


def payload(preset: str, item: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The request body and headers for one event (with its ``host``) in a preset's format."""
    severity = item.get("severity", "info")
    if preset == "ntfy":
        headers = {"Title": _latin1(headline(item)), "Priority": _NTFY_PRIORITY.get(severity, "3"),
                   "Tags": f"{_NTFY_TAGS.get(severity, 'bell')},{item['kind']}",
                   "Content-Type": "text/plain; charset=utf-8"}
        return str(item["text"]).encode("utf-8"), headers
    if preset == "discord":
        body: dict[str, Any] = {
            "username": "plotfleet",
            "allowed_mentions": {"parse": []},
            "embeds": [{"title": headline(item)[:256], "description": str(item["text"])[:4000],
                        "color": _COLOURS.get(severity, 0x95A5A6), "timestamp": _iso(item["at"]),
                        "footer": {"text": f"plotfleet {item['kind']} {item['id']}"[:2048]}}],
        }
    elif preset == "slack":
        mark = _SLACK_MARK.get(severity, ":bell:")
        text = f"{mark} *{_slack(headline(item))}*\n{_slack(str(item['text']))}"
        body = {"text": text, "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _slack(
                f"plotfleet {item['kind']} at {_iso(item['at'])}")}]},
        ]}
    else:
        body = {"source": "plotfleet", "host": item.get("host"), "id": item["id"], "kind": item["kind"],
                "severity": severity, "title": item["title"], "text": item["text"], "at": _iso(item["at"]),
                "fields": item.get("fields") or {}}
    return json.dumps(body).encode("utf-8"), {"Content-Type": "application/json"}


def _slack(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _latin1(text: str) -> str:
    """HTTP header values are Latin-1; anything else becomes '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


class Redactor:
    """Removes the URL and its secret-bearing parts from any text."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        secrets = [url, parts.path, parts.query, parts.password or "", parts.username or ""]
        self.secrets = sorted({s for s in secrets if len(s) > 1}, key=len, reverse=True)
        self.safe = f"{parts.scheme}://{parts.hostname or '?'}"

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float,
         opener: Callable[..., Any] | None = None) -> tuple[int | None, str, float | None]:
    """(HTTP status or None, error text, Retry-After seconds) of one POST; status 2xx is success."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"User-Agent": USER_AGENT, **dict(headers)})
    try:
        with (opener or urllib.request.urlopen)(request, timeout=timeout) as response:
            response.read(65536)
            return response.status, "", None
    except urllib.error.HTTPError as err:
        retry_after = _retry_after(err.headers.get("Retry-After") if err.headers else None)
        return err.code, f"HTTP {err.code} {err.reason}", retry_after
    except urllib.error.URLError as err:
        return None, f"cannot connect: {err.reason}", None
    except (socket.timeout, TimeoutError):  # noqa: UP041 - not one class before Python 3.10 (hosts: 3.9)
        return None, f"no answer within {timeout:g} s", None
    except (OSError, ValueError) as err:
        return None, f"{type(err).__name__}: {err}", None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


def deliver(url: str, preset: str, items: Sequence[Mapping[str, Any]], *, retries: int = 3,
            backoff: float = 1.0, max_backoff: float = 30.0, timeout: float = 10.0, deadline: float = 120.0,
            headers: Mapping[str, str] | None = None, opener: Callable[..., Any] | None = None,
            sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Post each event; retry a failed post up to ``retries`` times, waiting ``backoff`` seconds,
    then twice that, and so on (or the receiver's Retry-After, both at most ``max_backoff``), all
    within ``deadline`` seconds. When an event still fails for a reason worth retrying, the rest
    are not tried in this pass (the receiver is down). Returns ``delivered`` (the items' ``host``
    and ``id``), ``undelivered`` (the same with ``error``) and ``requests``."""
    redact = Redactor(url)
    end = clock() + deadline
    delivered: list[dict[str, Any]] = []
    undelivered: list[dict[str, Any]] = []
    requests = 0
    receiver_down: str | None = None
    for item in items:
        key = {"host": item.get("host"), "id": item["id"]}
        if receiver_down:
            undelivered.append({**key, "error": f"not tried in this pass: {receiver_down}"})
            continue
        body, extra = payload(preset, item)
        attempt, error, retryable = 0, "", False
        while True:
            status, error, retry_after = post(url, body, {**extra, **dict(headers or {})},
                                              min(timeout, max(end - clock(), 0.1)), opener)
            requests += 1
            if status is not None and 200 <= status < 300:
                delivered.append(key)
                break
            retryable = status is None or status in _RETRY_STATUS
            wait = min(retry_after if retry_after is not None else backoff * 2 ** attempt, max_backoff)
            if not retryable or attempt >= retries or clock() + wait >= end:
                break
            sleep(wait)
            attempt += 1
        if status is None or not 200 <= status < 300:
            error = redact(error)
            tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
            undelivered.append({**key, "error": f"{error} ({tries}, {redact.safe})"})
            if retryable:
                receiver_down = f"{error} from {redact.safe}"
    return {"delivered": delivered, "undelivered": undelivered, "requests": requests}
