"""Farm census and replot progress: what the harvesters hold, how much is already in the target
format, how fast the fleet adds target-format plots, and whether it ends before the deadline.

Controller-side, from the censuses ``plotfleet_space_info`` returns per archive dir (plots and
bytes by kind, and the plots whose mtime falls in its arrival window). Operator inputs are the
inventory variables ``plotfleet_replot_target`` (``v2`` by default) and
``plotfleet_replot_deadline`` (a date, e.g. ``2027-06-01``).

The rate is the target-format bytes that arrived in the window, per day. The time left is the
bytes of plots not yet in the target format divided by that rate: replotting replaces them, so
the farm is done when none is left. Free space filled with new plots counts in the rate but
leaves the remaining bytes as they are.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import (
    FORMATS,
    V2,
    V2_MAINNET_K,
    PlotKind,
    merge_census,
    nominal_plot_bytes,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.units import human_bytes
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.tables import render_table

DEFAULT_TARGET = V2
TARGET_VAR = "plotfleet_replot_target"
DEADLINE_VAR = "plotfleet_replot_deadline"
_DAY = 86400.0


class CensusSettingsError(ValueError):
    """An operator input of the census is unusable; the message names the variable."""


def replot_target(value: Any) -> str:
    """The target format from ``plotfleet_replot_target`` (None or empty: the default, v2)."""
    if value is None or value == "":
        return DEFAULT_TARGET
    if not isinstance(value, str) or value.lower() not in FORMATS:
        raise CensusSettingsError(f"{TARGET_VAR}: must be one of {', '.join(FORMATS)}, got {value!r}")
    return value.lower()


def replot_deadline(value: Any) -> dt.date | None:
    """The deadline from ``plotfleet_replot_deadline``: a YAML date, or text ``YYYY-MM-DD``."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise CensusSettingsError(f"{DEADLINE_VAR}: must be a date (YYYY-MM-DD, e.g. 2027-06-01), got {value!r}")


def fleet_census(harvesters: Sequence[Mapping[str, Any]], target: Any = None, deadline: Any = None,
                 now: float | None = None) -> dict[str, Any]:
    """The census of the harvesters read (fleet_space_report's ``harvesters``): per dir, per host
    and for the fleet, with the replot progress toward ``target`` and ``deadline``."""
    target, deadline_date = replot_target(target), replot_deadline(deadline)
    now = time.time() if now is None else now
    dirs, hosts = [], []
    for harvester in harvesters:
        host = harvester.get("host")
        censuses = []
        for entry in harvester.get("archive_dirs") or []:
            census = entry.get("census")
            if entry.get("error") or not isinstance(census, Mapping):
                continue
            censuses.append(census)
            dirs.append({"host": host, "path": entry.get("path"), **_shares(census.get("kinds") or [], target)})
        hosts.append({"host": host, **_shares(merge_census(censuses).get("kinds") or [], target)})
    fleet = merge_census(_dir_censuses(harvesters))
    report = {"target": target, "deadline": deadline_date.isoformat() if deadline_date else None,
              "window_seconds": fleet["window_seconds"], **_shares(fleet["kinds"], target, with_kinds=True)}
    report.update(_progress(report, target, deadline_date, now))
    report["dirs"], report["hosts"] = dirs, hosts
    return report


def _dir_censuses(harvesters: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for harvester in harvesters:
        for entry in harvester.get("archive_dirs") or []:
            if not entry.get("error") and isinstance(entry.get("census"), Mapping):
                yield entry["census"]


def _shares(kinds: Sequence[Mapping[str, Any]], target: str, with_kinds: bool = False) -> dict[str, Any]:
    plots = sum(int(kind.get("plots") or 0) for kind in kinds)
    size = sum(int(kind.get("bytes") or 0) for kind in kinds)
    mine = [kind for kind in kinds if kind.get("format") == target]
    target_plots = sum(int(kind.get("plots") or 0) for kind in mine)
    target_bytes = sum(int(kind.get("bytes") or 0) for kind in mine)
    result = {
        "plots": plots,
        "bytes": size,
        "target_plots": target_plots,
        "target_bytes": target_bytes,
        # Share of the farm's plot space: v2 plots are small, a share by count would flatter it.
        "target_share": round(target_bytes / size, 4) if size else None,
        "target_share_plots": round(target_plots / plots, 4) if plots else None,
        "recent_target_plots": sum(int(kind.get("recent_plots") or 0) for kind in mine),
        "recent_target_bytes": sum(int(kind.get("recent_bytes") or 0) for kind in mine),
    }
    if with_kinds:
        result["kinds"] = [{**kind, "share": round(int(kind.get("bytes") or 0) / size, 4) if size else None}
                           for kind in kinds]
    return result


def _progress(fleet: Mapping[str, Any], target: str, deadline: dt.date | None, now: float) -> dict[str, Any]:
    window_days = (fleet["window_seconds"] or _DAY) / _DAY
    remaining = fleet["bytes"] - fleet["target_bytes"]
    rate_bytes = fleet["recent_target_bytes"] / window_days
    progress: dict[str, Any] = {
        "other_plots": fleet["plots"] - fleet["target_plots"],
        "remaining_bytes": remaining,
        "remaining_plots": _plots_to_make(remaining, target),
        "rate_plots_per_day": round(fleet["recent_target_plots"] / window_days, 1),
        "rate_bytes_per_day": round(rate_bytes),
        "days_left": None,
        "finish_date": None,
        "on_track": None,
    }
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    if remaining <= 0:
        progress.update(days_left=0.0, finish_date=today.isoformat())
    elif rate_bytes > 0:
        days = remaining / rate_bytes
        progress.update(days_left=round(days, 1),
                        finish_date=(today + dt.timedelta(days=min(days, 36500))).isoformat())
    if deadline is not None and progress["finish_date"] is not None:
        progress["on_track"] = dt.date.fromisoformat(progress["finish_date"]) <= deadline
    elif deadline is not None and remaining > 0:
        progress["on_track"] = False  # nothing arrives: it never ends
    progress["verdict"] = _verdict(fleet, progress, target, deadline)
    return progress


def _plots_to_make(remaining_bytes: int, target: str) -> int | None:
    """About how many target-format plots replace the remaining bytes (v2: k28 plots)."""
    if remaining_bytes <= 0:
        return 0
    per_plot = nominal_plot_bytes(PlotKind(V2, V2_MAINNET_K) if target == V2 else PlotKind())
    return -(-remaining_bytes // per_plot)


def _verdict(fleet: Mapping[str, Any], progress: Mapping[str, Any], target: str, deadline: dt.date | None) -> str:
    if not fleet["plots"]:
        return "no plots on the harvesters read"
    if progress["remaining_bytes"] <= 0:
        return f"done: every plot is {target}"
    window = _window_text(fleet["window_seconds"])
    if progress["days_left"] is None:
        tail = f"; the deadline {deadline.isoformat()} cannot be met at this rate" if deadline else ""
        return f"no {target} plots arrived in the last {window}: no rate to project{tail}"
    text = f"{progress['days_left']:.0f} days left at this rate, done about {progress['finish_date']}"
    if deadline is None:
        return text
    if progress["on_track"]:
        return f"{text}, before the deadline {deadline.isoformat()}"
    return f"{text}, AFTER the deadline {deadline.isoformat()}"


def _window_text(seconds: int) -> str:
    hours = (seconds or _DAY) / 3600
    return f"{hours / 24:g} days" if hours >= 48 and hours % 24 == 0 else f"{hours:g} h"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def render_census(census: Mapping[str, Any], indent: str = "") -> str:
    """The census as text: a row per kind fleet-wide, then the progress toward the target."""
    target, deadline = census["target"], census.get("deadline")
    title = f"target {target}" + (f", deadline {deadline}" if deadline else "")
    rows = [(PlotKind(kind["format"], kind["k"], kind["compression"], kind["family"]).label
             if kind.get("format") else "unknown names", f"{kind['plots']:,}", human_bytes(kind["bytes"]),
             _percent(kind.get("share")), f"{kind.get('recent_plots', 0):,}")
            for kind in census.get("kinds") or []]
    lines = [f"{indent}{title}"]
    if rows:
        window = _window_text(census["window_seconds"])
        lines.append(render_table(("KIND", "PLOTS", "SIZE", "SHARE", f"LAST {window.upper()}"), rows, indent=indent))
    lines.append(
        f"{indent}{target}: {_percent(census['target_share'])} of the plot space "
        f"({census['target_plots']:,} of {census['plots']:,} plots); "
        f"{census['rate_plots_per_day']:g} plots/day ({human_bytes(census['rate_bytes_per_day'])}/day) recently"
    )
    if census["remaining_bytes"] > 0:
        lines.append(f"{indent}to replot: {human_bytes(census['remaining_bytes'])} in {census['other_plots']:,} "
                     f"plots (about {census['remaining_plots']:,} {target} plots)")
    lines.append(f"{indent}{census['verdict']}")
    return "\n".join(lines)


def dir_share_text(census: Mapping[str, Any], host: str, path: str) -> str:
    """The target share of one dir for a table cell (``37.5%``), ``-`` when it has no plots."""
    for entry in census.get("dirs") or []:
        if entry["host"] == host and entry["path"] == path:
            return _percent(entry["target_share"]) if entry["plots"] else "-"
    return ""
