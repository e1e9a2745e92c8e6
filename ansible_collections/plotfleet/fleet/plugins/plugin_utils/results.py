"""What the hosts registered in a playbook run: each host's result and how it went.

Controller-side helpers for the filters: a host may be unreachable, may have failed, may not
have been in the play at all; every report says which rather than dropping the host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def host_outcome(result: Any) -> tuple[str, str | None]:
    """(status, message) of one registered result: ok, unreachable, failed or not run."""
    if not isinstance(result, Mapping) or not result:
        return "not run", "no result (host not in this run, or skipped)"
    if result.get("unreachable"):
        return "unreachable", _message(result, "unreachable")
    if result.get("failed"):
        return "failed", _message(result, "failed")
    if result.get("skipped"):
        return "not run", str(result.get("skip_reason", "skipped"))
    return "ok", None


def _message(result: Mapping, default: str) -> str:
    """The result's message without Ansible 2.19's "Task failed: " in front (the status says it)."""
    msg = str(result.get("msg", default)).strip()
    return msg[len("Task failed: "):] if msg.startswith("Task failed: ") else msg


def host_vars(hostvars: Any, host: str) -> Mapping:
    try:
        return hostvars[host]
    except (KeyError, TypeError):
        return {}


def registered_result(hostvars: Any, host: str, var: str) -> Any:
    """What ``host`` registered as ``var``; ``var`` may name one part of a result, ``result.part``
    (status.yml's ``plotfleet_host.plotter``): the part, or the whole result when the task itself
    did not run, was unreachable or failed (it says why), or None when the result has no such part."""
    name, _, part = var.partition(".")
    result = host_vars(hostvars, host).get(name)
    if not part or not isinstance(result, Mapping) or host_outcome(result)[0] != "ok":
        return result
    return result.get(part)


def registered(hostvars: Any, hosts: Sequence[str], var: str) -> dict[str, Any]:
    """host -> the result it registered as var ({} when it has none: not in the play)."""
    results = {}
    for host in hosts:
        result = registered_result(hostvars, host, var)
        results[host] = result if isinstance(result, Mapping) else {}
    return results
