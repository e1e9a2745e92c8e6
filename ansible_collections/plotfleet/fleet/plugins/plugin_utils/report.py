"""The fleet at a glance: one structure and one readable text from every host's results.

Input is what the status playbook registered on each host (``plotfleet_jobs_info`` on plotters,
``plotfleet_space_info`` on harvesters), including unreachable and failed hosts, which are reported
rather than dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.pause import pause_reason
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import prefix_matches
from ansible_collections.plotfleet.fleet.plugins.module_utils.units import human_bytes, human_seconds
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.archive import summary_lines
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.census import render_census
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.results import host_outcome, registered, registered_result
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.space_report import fleet_space_report, render_space_table
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.tables import render_table


def fleet_report(hostvars: Any, plotters: Sequence[str], harvesters: Sequence[str],
                 plotter_var: str = "plotfleet_state", harvester_var: str = "plotfleet_space_info",
                 archive_plan: Mapping | None = None, replot_target: Any = None,
                 replot_deadline: Any = None) -> dict:
    """The fleet status; with ``archive_plan`` (fleetvars.fleet_archive_plan) also what archiving
    would do now and why plots wait -- e.g. that no harvester has room, so dst dirs are filling.
    ``census`` is the farm census with the replot progress toward ``replot_target`` (inventory
    ``plotfleet_replot_target``, default v2) by ``replot_deadline`` (``plotfleet_replot_deadline``)."""
    report: dict[str, Any] = {"plotters": {}, "problems": [], "archive": dict(archive_plan or {})}
    for host in plotters:
        result = registered_result(hostvars, host, plotter_var)
        status, msg = host_outcome(result)
        entry = {"status": status, "msg": msg}
        if status == "ok":
            entry.update({key: result.get(key, []) for key in ("jobs", "tmp_dirs", "dst_dirs", "transfers")})
            entry["paused"] = {kind: flag for kind, flag in (result.get("paused") or {}).items() if flag}
        else:
            report["problems"].append(f"plotter {host}: {status}: {msg}")
        report["plotters"][host] = entry
    report["space"] = fleet_space_report(registered(hostvars, harvesters, harvester_var), replot_target,
                                         replot_deadline)
    report["census"] = report["space"]["census"]
    for kind in ("unreachable", "failed"):
        report["problems"] += [f"harvester {item['host']}: {kind}: {item['msg']}" for item in report["space"][kind]]
    report["summary"] = _summary(report)
    return report


def _summary(report: Mapping) -> dict:
    ok_plotters = [p for p in report["plotters"].values() if p["status"] == "ok"]
    space = report["space"]
    return {
        "jobs": sum(len(p["jobs"]) for p in ok_plotters),
        "plots_waiting": sum(d.get("plot_count", len(d.get("plots", []))) for p in ok_plotters for d in p["dst_dirs"]),
        "transfers": sum(len(p["transfers"]) for p in ok_plotters),
        "archive_free_bytes": space["totals"]["free_bytes"],
        "archive_plots": space["totals"]["plots"],
        "hosts_down": [host for host, e in report["plotters"].items() if e["status"] != "ok"]
        + [item["host"] for kind in ("unreachable", "failed") for item in space[kind]],
    }


def _short(plot_id: str | None, pid: int, length: int = 8) -> str:
    return plot_id[:length] if plot_id else f"pid:{pid}"


def _jobs_table(report: Mapping) -> str:
    rows = []
    for host, entry in report["plotters"].items():
        for job in entry.get("jobs", []):
            rows.append([host, _short(job.get("plot_id"), job.get("pid")), job.get("plotter"), job.get("k"),
                         job.get("phase_text"), job.get("tmp_dir"), job.get("dst_dir"),
                         human_seconds(job.get("wall_seconds")), job.get("state"),
                         human_bytes(job.get("tmp_bytes")), job.get("pid")])
    if not rows:
        return "  (no plot jobs)"
    return render_table(["HOST", "PLOT", "PLOTTER", "K", "PHASE", "TMP", "DST", "WALL", "STATE", "TMP USED", "PID"],
                        rows, indent="  ")


def _dirs_table(report: Mapping) -> str:
    rows = []
    notes = []  # a dir's problem on its own line: in the FREE column it would widen the table
    for host, entry in report["plotters"].items():
        for kind in ("tmp", "dst"):
            for d in entry.get(f"{kind}_dirs", []):
                plots = d.get("plot_count", "") if kind == "dst" else ""
                free = human_bytes(d.get("free_bytes"))
                if d.get("refused") or d.get("error"):
                    free = "NOT USED" if d.get("refused") else "ERROR"
                    notes.append(f"  {host}: {kind} {d.get('refused') or d.get('path') + ': ' + d['error']}")
                rows.append([host, kind, d.get("path"), free, human_bytes(d.get("total_bytes")),
                             len(d.get("jobs", [])), plots])
    if not rows:
        return "  (no dirs)"
    table = render_table(["HOST", "KIND", "DIR", "FREE", "TOTAL", "JOBS", "PLOTS READY"], rows, indent="  ")
    return "\n".join([table, *notes])


def _transfers_table(report: Mapping) -> str:
    rows = []
    for host, entry in report["plotters"].items():
        for t in entry.get("transfers", []):
            rows.append([host, t.get("source"), f"{t.get('host')}::{t.get('module')}",
                         human_bytes(t.get("size_bytes")), t.get("started_at"), t.get("pid")])
    if not rows:
        return "  (no transfers running)"
    return render_table(["PLOTTER", "PLOT", "TO", "SIZE", "STARTED", "PID"], rows, indent="  ")


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else line for line in text.splitlines())


def render_status(report: Mapping) -> str:
    summary = report["summary"]
    parts = [
        f"plotfleet: {summary['jobs']} jobs, {summary['plots_waiting']} plots waiting in dst, "
        f"{summary['transfers']} transfers, {human_bytes(summary['archive_free_bytes'])} free on harvesters",
        "", "JOBS", _jobs_table(report),
        "", "PLOTTER DIRS", _dirs_table(report),
        "", "TRANSFERS", _transfers_table(report),
        "", "HARVESTERS", _indent(render_space_table(report["space"], with_census=False, with_down=False)),
    ]
    if report.get("census"):
        parts += ["", "REPLOT", render_census(report["census"], indent="  ")]
    if report.get("archive"):
        parts += ["", "ARCHIVING (what archive.yml would do now)",
                  *[f"  {line}" for line in summary_lines(report["archive"], with_down=False)]]
    paused = [f"  {host}: {pause_reason(flag, kind)}" for host, entry in report["plotters"].items()
              for kind, flag in (entry.get("paused") or {}).items()]
    if paused:
        parts += ["", "PAUSED (plot.yml / archive.yml start nothing there)", *paused]
    if report["problems"]:
        parts += ["", "HOSTS NOT REPORTING", *[f"  {p}" for p in report["problems"]]]
    return "\n".join(parts)


def pass_summary(result: Mapping, check_mode: bool = False) -> str:
    """One line for a plotfleet_plot result: what started where, or why nothing did. Under
    ``--check`` (``check_mode``) nothing started, so the line says what would start."""
    started = result.get("started") or []
    if not started:
        jobs = result.get("jobs_running", 0)
        suspended = result.get("jobs_suspended", 0)
        counts = f"{jobs - suspended} running" + (f", {suspended} suspended" if suspended else "")
        return f"waiting ({counts}): {result.get('reason')}"
    moves = "; ".join(
        f"{s['tmp_dir']} -> {s['dst_dir']}" + (f" (pid {s['pid']})" if s.get("pid") else "") for s in started
    )
    line = f"{'would start' if check_mode else 'started'} {len(started)}: {moves}"
    return f"{line}; then waiting: {result['reason']}" if result.get("reason") else line


class PrefixError(ValueError):
    pass


def resolve_fleet_prefix(hostvars: Any, hosts: Sequence[str], prefix: str, var: str = "plotfleet_state") -> dict:
    """The one job across the fleet that prefix names: {host, plot_id, pid, phase_text}.

    Raises PrefixError listing host and id of every candidate when there is not exactly one.
    """
    if not str(prefix).strip():
        raise PrefixError("plot_id must not be empty")
    candidates = []
    for host in hosts:
        result = registered_result(hostvars, host, var)
        if host_outcome(result)[0] != "ok":
            continue
        for job in result.get("jobs", []):
            if prefix_matches(job.get("plot_id"), job.get("pid"), str(prefix)):
                candidates.append({"host": host, "plot_id": job.get("plot_id"), "pid": job.get("pid"),
                                   "phase_text": job.get("phase_text")})
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise PrefixError(f"no plot job in the fleet matches {prefix!r}")
    listed = ", ".join(f"{c['host']}: {_short(c['plot_id'], c['pid'], 64)} (phase {c['phase_text']})"
                       for c in candidates)
    raise PrefixError(f"{prefix!r} matches {len(candidates)} jobs, give a longer prefix: {listed}")
