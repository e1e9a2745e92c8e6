"""Timing statistics over plot logs from the whole fleet: select, group, summarise, render, export.

Input is the records ``plotfleet_log_info`` returns, each tagged with the host it came from. Groups are
keyed by any of ``GROUP_FIELDS``; every group gets the count and mean/median/min/max of each phase's
seconds, the total and the copy time. Plain data in, plain data and text out.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.units import human_seconds
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.results import host_outcome, host_vars
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.tables import render_table

GROUP_FIELDS = ("host", "plotter", "k", "tmp_dir", "tmp2_dir", "dst_dir", "threads", "buckets", "buffer", "day")
STATS = ("mean", "median", "min", "max")
# Phases every plotter reports; columns for them are always present so CSV files line up.
BASE_PHASES = ("1", "2", "3", "4")
PLOT_CSV_FIELDS = ("host", "path", "plot_id", "plotter", "k", "completed", "phase", "started_at", "day",
                   "tmp_dir", "tmp2_dir", "dst_dir", "threads", "buckets", "buffer")


@dataclass(frozen=True)
class AnalysisOptions:
    group_by: tuple[str, ...] = ("host",)
    since: datetime | None = None  # plots started at or after
    until: datetime | None = None  # plots started before
    completed_only: bool = True


def split_fields(value: str | Sequence[str] | None) -> list[str]:
    """``"host, tmp_dir"`` or ``["host", "tmp_dir"]`` as a list of names; empty means no grouping."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [item.strip() for item in items if item.strip()]


def _parse_moment(name: str, value: str, problems: list[str], end_of_day: bool = False) -> datetime | None:
    text = str(value).strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end_of_day else day, datetime.min.time())
        return _naive(datetime.fromisoformat(text))
    except ValueError:
        problems.append(f"{name}: must be a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM[:SS], got {text!r}")
        return None


def _naive(moment: datetime) -> datetime:
    # Plot logs carry the plotter's local time without a zone; compare wall clock to wall clock.
    return moment.replace(tzinfo=None)


def option_problems(group_by: str | Sequence[str] | None = "host", since: str | None = None,
                    until: str | None = None) -> list[str]:
    """Every problem with the analysis options, each naming the option and what is allowed."""
    return _parse_options(group_by, since, until, True)[1]


def parse_options(group_by: str | Sequence[str] | None = "host", since: str | None = None,
                  until: str | None = None, completed_only: bool | str = True) -> AnalysisOptions:
    """The options as typed values; raises ValueError listing every problem."""
    options, problems = _parse_options(group_by, since, until, completed_only)
    if problems:
        raise ValueError("; ".join(problems))
    return options


def _parse_options(group_by: str | Sequence[str] | None, since: str | None, until: str | None,
                   completed_only: bool | str) -> tuple[AnalysisOptions, list[str]]:
    problems: list[str] = []
    fields = split_fields(group_by)
    unknown = [f for f in fields if f not in GROUP_FIELDS]
    if unknown:
        problems.append(f"group_by: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(GROUP_FIELDS)}")
    start = _parse_moment("since", since, problems) if since not in (None, "") else None
    end = _parse_moment("until", until, problems, end_of_day=True) if until not in (None, "") else None
    if start and end and end <= start:
        problems.append(f"until: must be after since ({since}), got {until}")
    options = AnalysisOptions(tuple(dict.fromkeys(fields)), start, end, _truthy(completed_only))
    return options, problems


def _truthy(value: bool | str) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def fleet_plots(hostvars: Any, hosts: Sequence[str], log_var: str = "analyze_logs",
                config_var: str = "analyze_config") -> dict:
    """Every host's plot records tagged with ``host``, and the hosts whose logs could not be read."""
    plots: list[dict] = []
    problems: list[str] = []
    reporting: list[str] = []
    ignored = 0  # files in the log dirs that are not plot logs
    for host in hosts:
        own = host_vars(hostvars, host)
        config_status, config_msg = host_outcome(own.get(config_var))
        if config_status in ("unreachable", "failed"):
            problems.append(f"{host}: {config_status}: {config_msg}")
            continue
        result = own.get(log_var)
        status, msg = host_outcome(result)
        if status != "ok":
            problems.append(f"{host}: {status}: {msg}")
            continue
        reporting.append(host)
        plots += [{"host": host, **plot} for plot in result.get("plots", [])]
        ignored += len(result.get("ignored") or [])
    return {"plots": plots, "hosts": reporting, "problems": problems, "ignored": ignored}


def started(plot: Mapping) -> datetime | None:
    text = plot.get("started_at")
    if not text:
        return None
    try:
        return _naive(datetime.fromisoformat(str(text)))
    except ValueError:
        return None


def plot_day(plot: Mapping) -> str | None:
    moment = started(plot)
    return moment.date().isoformat() if moment else None


def exclusion(plot: Mapping, options: AnalysisOptions) -> str | None:
    """Why a plot is left out of the statistics, or None when it counts."""
    if options.completed_only and not plot.get("completed"):
        return "incomplete"
    if options.since is None and options.until is None:
        return None
    moment = started(plot)
    if moment is None:
        return "no start time"
    if options.since and moment < options.since:
        return "before since"
    if options.until and moment >= options.until:
        return "after until"
    return None


def select_plots(plots: Iterable[Mapping], options: AnalysisOptions) -> tuple[list[dict], dict[str, int]]:
    """(the plots that count, how many were left out by reason)."""
    selected: list[dict] = []
    excluded: dict[str, int] = {}
    for plot in plots:
        reason = exclusion(plot, options)
        if reason:
            excluded[reason] = excluded.get(reason, 0) + 1
        else:
            selected.append({**plot, "day": plot_day(plot)})
    return selected, excluded


def summarize(values: Iterable[float | None]) -> dict:
    """count, mean, median, min, max of the known values (None when there is none)."""
    known = [float(v) for v in values if v is not None]
    if not known:
        return {"count": 0, **dict.fromkeys(STATS)}
    return {
        "count": len(known),
        "mean": round(statistics.fmean(known), 3),
        "median": round(statistics.median(known), 3),
        "min": round(min(known), 3),
        "max": round(max(known), 3),
    }


def phases_of(plots: Iterable[Mapping]) -> list[str]:
    seen = set(BASE_PHASES)
    for plot in plots:
        seen.update(str(p) for p in (plot.get("phase_seconds") or {}))
    return sorted(seen, key=_phase_order)


def _phase_order(phase: str) -> tuple[int, str]:
    return (int(phase), phase) if phase.isdigit() else (10**6, phase)


def metric_values(plots: Sequence[Mapping], metric: str) -> list[float | None]:
    """One value per plot: ``phase:N`` from phase_seconds, else the plot's own field."""
    if metric.startswith("phase:"):
        phase = metric.split(":", 1)[1]
        return [(plot.get("phase_seconds") or {}).get(phase) for plot in plots]
    return [plot.get(metric) for plot in plots]


def metrics_of(phases: Sequence[str]) -> list[str]:
    return [f"phase:{p}" for p in phases] + ["total_seconds", "copy_seconds"]


def _sort_key(key: Sequence[Any]) -> tuple:
    # None sorts last; numbers and texts never share a field.
    return tuple((value is None, "" if value is None else value) for value in key)


def group_plots(plots: Sequence[Mapping], group_by: Sequence[str]) -> list[tuple[tuple, list[Mapping]]]:
    groups: dict[tuple, list[Mapping]] = {}
    for plot in plots:
        groups.setdefault(tuple(plot.get(field) for field in group_by), []).append(plot)
    return sorted(groups.items(), key=lambda item: _sort_key(item[0]))


def group_stats(plots: Sequence[Mapping], group_by: Sequence[str], phases: Sequence[str]) -> list[dict]:
    """One entry per group: its key, plot count and the statistics of every metric."""
    return [
        {
            "key": dict(zip(group_by, key, strict=True)),
            "count": len(members),
            "stats": {metric: summarize(metric_values(members, metric)) for metric in metrics_of(phases)},
        }
        for key, members in group_plots(plots, group_by)
    ]


def analyze(fleet: Mapping, group_by: str | Sequence[str] | None = "host", since: str | None = None,
            until: str | None = None, completed_only: bool | str = True) -> dict:
    """The whole analysis of ``fleet_plots``' result; raises ValueError on bad options."""
    return analyze_plots(fleet, parse_options(group_by, since, until, completed_only))


def analyze_plots(fleet: Mapping, options: AnalysisOptions) -> dict:
    """Options, the plots that count, what was left out, the groups' statistics, the problems."""
    selected, excluded = select_plots(fleet.get("plots", []), options)
    phases = phases_of(selected)
    return {
        "group_by": list(options.group_by),
        "since": options.since.isoformat() if options.since else None,
        "until": options.until.isoformat() if options.until else None,
        "completed_only": options.completed_only,
        "hosts": list(fleet.get("hosts", [])),
        "plots": selected,
        "excluded": excluded,
        "phases": phases,
        "groups": group_stats(selected, options.group_by, phases) if selected else [],
        "problems": list(fleet.get("problems", [])),
        "ignored": int(fleet.get("ignored") or 0),
    }


def metric_title(metric: str) -> str:
    if metric.startswith("phase:"):
        return f"PHASE {metric.split(':', 1)[1]}"
    return metric.removesuffix("_seconds").upper()


def _stat_rows(group: Mapping, metrics: Sequence[str], key_cells: list[Any]) -> list[list[Any]]:
    rows = []
    for index, stat in enumerate(STATS):
        lead = [*key_cells, group["count"]] if index == 0 else [""] * (len(key_cells) + 1)
        cells = [_seconds_cell(group["stats"][metric], stat) for metric in metrics]
        rows.append([*lead, stat, *cells])
    return rows


def _seconds_cell(summary: Mapping, stat: str) -> str:
    value = summary.get(stat)
    if value is None:
        return "-"
    # Tiny test plots finish phases in fractions of a second; whole seconds would read as 0.
    return f"{value:.1f} s" if value < 10 else human_seconds(value)


def _key_cell(value: Any) -> Any:
    return "-" if value is None else value


def stats_table(analysis: Mapping) -> str:
    metrics = metrics_of(analysis["phases"])
    headers = [f.upper() for f in analysis["group_by"]] + ["PLOTS", "STAT"] + [metric_title(m) for m in metrics]
    rows: list[list[Any]] = []
    for group in analysis["groups"]:
        if rows:
            rows.append([""] * len(headers))
        key_cells = [_key_cell(group["key"][field]) for field in analysis["group_by"]]
        rows += _stat_rows(group, metrics, key_cells)
    return "\n".join(line.rstrip() for line in render_table(headers, rows, indent="  ").splitlines())


def _headline(analysis: Mapping) -> str:
    hosts = analysis["hosts"]
    grouping = ", ".join(analysis["group_by"]) or "nothing (all plots together)"
    text = (f"plotfleet analyze: {len(analysis['plots'])} plots from {len(hosts)} host(s) reporting, "
            f"grouped by {grouping}")
    window = [f"since {analysis['since']}" if analysis["since"] else "",
              f"before {analysis['until']}" if analysis["until"] else ""]
    if any(window):
        text += " (started " + " and ".join(w for w in window if w) + ")"
    return text


def render_analysis(analysis: Mapping) -> str:
    """The statistics as a table an operator reads, with what was left out and which hosts failed."""
    parts = [_headline(analysis)]
    if analysis["excluded"]:
        left_out = ", ".join(f"{count} {reason}" for reason, count in sorted(analysis["excluded"].items()))
        parts.append(f"left out: {left_out}")
    if analysis.get("ignored"):
        parts.append(f"skipped {analysis['ignored']} file(s) that are not plot logs")
    parts += ["", stats_table(analysis) if analysis["groups"] else "  (no plots match)"]
    if analysis["problems"]:
        parts += ["", "HOSTS NOT REPORTING", *[f"  {p}" for p in analysis["problems"]]]
    return "\n".join(parts)


def _csv_text(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows([[_csv_cell(cell) for cell in row] for row in rows])
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def plots_csv(analysis: Mapping) -> str:
    """One row per plot that counts, every field; phases as phase_N_seconds columns."""
    phases = analysis["phases"]
    headers = [*PLOT_CSV_FIELDS, *(f"phase_{p}_seconds" for p in phases), "total_seconds", "copy_seconds",
               "plot_file"]
    rows = []
    for plot in analysis["plots"]:
        row = [plot.get("phase_text") if f == "phase" else plot.get(f) for f in PLOT_CSV_FIELDS]
        row += [(plot.get("phase_seconds") or {}).get(p) for p in phases]
        row += [plot.get("total_seconds"), plot.get("copy_seconds"), plot.get("plot_file")]
        rows.append(row)
    return _csv_text(headers, rows)


def groups_csv(analysis: Mapping) -> str:
    """One row per group: the group's fields, the plot count, then <metric>_<stat> columns."""
    metrics = metrics_of(analysis["phases"])
    names = [m.replace(":", "_") + ("_seconds" if m.startswith("phase:") else "") for m in metrics]
    headers = [*analysis["group_by"], "plots"] + [f"{name}_{stat}" for name in names for stat in STATS]
    rows = []
    for group in analysis["groups"]:
        row = [group["key"][field] for field in analysis["group_by"]] + [group["count"]]
        row += [group["stats"][metric][stat] for metric in metrics for stat in STATS]
        rows.append(row)
    return _csv_text(headers, rows)
