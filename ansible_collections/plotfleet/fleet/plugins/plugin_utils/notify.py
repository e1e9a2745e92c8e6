"""The controller's part of notifications (playbooks/notify.yml): settings, the events the hosts
claimed, which hosts did not report, the replot deadline, and what to record where afterwards.

The hosts find and claim their own events (``plotfleet_events``); the controller adds the two
kinds only it can see (a host that does not answer cannot say so; the deadline needs every
harvester's census), keeps those in its own state file like any host, and posts everything.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.events import (
    KINDS,
    REPLOT_DEADLINE_AT_RISK,
    event,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.webhook import PRESETS
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.census import (
    CensusSettingsError,
    fleet_census,
    replot_deadline,
)
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.results import host_outcome, host_vars

# Inventory variables and their defaults (README "Notifications").
DEFAULTS: dict[str, Any] = {
    "plotfleet_notify_url": "",
    "plotfleet_notify_preset": "generic",
    "plotfleet_notify_events": list(KINDS),
    "plotfleet_notify_state_dir": "/var/lib/plotfleet/notify",
    "plotfleet_notify_not_reporting_passes": 3,
    "plotfleet_notify_deadline_margin_days": 0,
    "plotfleet_notify_retries": 3,
    "plotfleet_notify_backoff_seconds": 1.0,
    "plotfleet_notify_timeout": 10,
    "plotfleet_notify_deadline_seconds": 120,
    "plotfleet_notify_max_events": 20,
    "plotfleet_notify_lease_seconds": 900,
}


def notify_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """The checked notification settings from the inventory variables in ``values`` (undefined
    ones take their defaults); ``problems`` name the variable, never show the URL."""
    settings = {name: values.get(name) if values.get(name) not in (None, "") else default
                for name, default in DEFAULTS.items()}
    problems = []
    url = settings.pop("plotfleet_notify_url")
    if not isinstance(url, str) or (url and not url.startswith(("http://", "https://"))):
        problems.append("plotfleet_notify_url: must be an http:// or https:// URL (not shown: it may hold a token)")
    preset = settings["plotfleet_notify_preset"]
    if preset not in PRESETS:
        problems.append(f"plotfleet_notify_preset: must be one of {', '.join(PRESETS)}, got {preset!r}")
    kinds = settings["plotfleet_notify_events"]
    if isinstance(kinds, str):
        kinds = [kinds]
    bad = [kind for kind in kinds or [] if kind not in KINDS] if isinstance(kinds, list) else [kinds]
    if bad:
        problems.append(f"plotfleet_notify_events: each must be one of {', '.join(KINDS)}, got {bad!r}")
    for name, low in (("plotfleet_notify_not_reporting_passes", 1), ("plotfleet_notify_retries", 0),
                      ("plotfleet_notify_timeout", 1), ("plotfleet_notify_deadline_seconds", 1),
                      ("plotfleet_notify_max_events", 1), ("plotfleet_notify_deadline_margin_days", 0),
                      ("plotfleet_notify_lease_seconds", 60),
                      ("plotfleet_notify_backoff_seconds", 0)):
        value = _number(settings[name])
        if value is None or value < low:
            problems.append(f"{name}: must be a number >= {low}, got {settings[name]!r}")
        else:
            settings[name] = value
    lease, deadline = settings["plotfleet_notify_lease_seconds"], settings["plotfleet_notify_deadline_seconds"]
    if not problems and lease < deadline + 60:
        # A claim must outlive the posts of its pass, or a second pass could post the same events.
        problems.append(f"plotfleet_notify_lease_seconds: must be at least plotfleet_notify_deadline_seconds + 60 "
                        f"({deadline + 60}), got {lease}")
    try:
        replot_deadline(values.get("plotfleet_replot_deadline"))
    except CensusSettingsError as err:
        problems.append(str(err))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return {"enabled": bool(url), "problems": problems, "preset": preset, "kinds": kinds if not bad else list(KINDS),
            "run_id": f"{stamp}-{uuid.uuid4().hex[:12]}",
            **{name[len("plotfleet_notify_"):]: value for name, value in settings.items()
               if name not in ("plotfleet_notify_preset", "plotfleet_notify_events")}}


def _number(value: Any) -> float | int | None:
    """A number from a YAML number or from text (``-e name=3`` gives text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    return int(value) if float(value).is_integer() else value


def gather(hostvars: Any, hosts: Sequence[str], var: str = "notify_claimed") -> dict[str, Any]:
    """What the hosts claimed (each event with its ``host``), and per host None when it reported,
    else why not. A host not in the run (``--limit``) is left out of both."""
    events, reporting = [], {}
    for host in hosts:
        result = host_vars(hostvars, host).get(var)
        status, msg = host_outcome(result)
        if status == "ok":
            reporting[host] = None
            events += [{**item, "host": host} for item in result.get("events") or []]
        elif status != "not run":
            reporting[host] = f"{status}: {msg}"
    return {"events": events, "reporting": reporting}


def deadline_events(hostvars: Any, harvesters: Sequence[str], target: Any = None, deadline: Any = None,
                    margin_days: float = 0, var: str = "notify_claimed",
                    now: float | None = None) -> dict[str, Any]:
    """The replot deadline at risk, from every harvester's census: ``events`` (none or one) and
    ``scanned`` (the id prefix, only when every harvester answered, so a partial census never
    clears or raises the alarm)."""
    when = deadline
    deadline = replot_deadline(deadline)
    if deadline is None or not harvesters:
        return {"events": [], "scanned": [f"{REPLOT_DEADLINE_AT_RISK}:"] if when in (None, "") else []}
    read = []
    for host in harvesters:
        result = host_vars(hostvars, host).get(var)
        if host_outcome(result)[0] != "ok":
            return {"events": [], "scanned": []}
        read.append({"host": host, "archive_dirs": result.get("census_dirs") or []})
    now = time.time() if now is None else now
    census = fleet_census(read, target, deadline, now)
    found = {"events": [], "scanned": [f"{REPLOT_DEADLINE_AT_RISK}:"]}
    if census["remaining_bytes"] <= 0 or not census["plots"]:
        return found
    finish = census.get("finish_date")
    latest = deadline - dt.timedelta(days=float(margin_days or 0))
    if finish is not None and dt.date.fromisoformat(finish) <= latest:
        return found
    found["events"].append(event(
        f"{REPLOT_DEADLINE_AT_RISK}:{deadline.isoformat()}", REPLOT_DEADLINE_AT_RISK,
        f"replot deadline at risk: {deadline.isoformat()}",
        f"replot to {census['target']}: {census['verdict']} ({census['remaining_plots']} plots to go, "
        f"{census['rate_plots_per_day']} a day)", now, deadline=deadline.isoformat(), finish_date=finish,
        days_left=census.get("days_left"), remaining_plots=census.get("remaining_plots"),
        rate_plots_per_day=census.get("rate_plots_per_day"), target_share=census.get("target_share")))
    return found


def outcome_for(result: Any, host: str | None, claimed: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """What one state file records after the post: the ids of ``host``'s claimed events that were
    delivered, and the others (released for the next pass). A failed or missing post releases all."""
    result = result if isinstance(result, Mapping) else {}
    done = {item.get("id") for item in result.get("delivered") or [] if item.get("host") == host}
    ids = [item["id"] for item in claimed]
    return {"delivered": [i for i in ids if i in done], "released": [i for i in ids if i not in done]}


def summary(result: Any, gathered: Mapping[str, Any], fleet_claimed: Any) -> dict[str, Any]:
    """Lines for the run's output: what was sent, what failed and why (never the URL)."""
    result = result if isinstance(result, Mapping) else {}
    fleet = fleet_claimed.get("events") or [] if isinstance(fleet_claimed, Mapping) else []
    events = list(gathered.get("events") or []) + list(fleet)
    lines = [f"sent {len(result.get('delivered') or [])} of {len(events)} event(s)"]
    sent = {(item.get("host"), item.get("id")) for item in result.get("delivered") or []}
    for item in events:
        mark = "sent" if (item.get("host"), item["id"]) in sent else "NOT SENT"
        lines.append(f"{mark}: {item.get('host') or 'fleet'}: {item['title']}")
    failed = result.get("undelivered")
    if not isinstance(failed, list):  # the module itself failed (or did not run): nothing went out
        failed = [{"host": None, "id": "*", "error": str(result.get("msg", "not posted"))}] if events else []
    if failed and all(item.get("error") == "check mode: not sent" for item in failed):
        lines = [line.replace("NOT SENT: ", "would send: ") for line in lines]
        failed = []
    lines += [f"error: {item.get('host') or 'fleet'}: {item['id']}: {item['error']}" for item in failed[:5]]
    for host, reason in sorted((gathered.get("reporting") or {}).items()):
        if reason:
            lines.append(f"not reporting: {host}: {reason}")
    return {"lines": lines, "failed": len(events) - len(sent)}
