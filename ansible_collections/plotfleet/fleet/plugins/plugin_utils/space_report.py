"""The harvesters' space across the fleet: one document and one table from every host's result.

Controller-side: built from what ``plotfleet_space_info`` registered on each harvester.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.units import human_bytes
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.census import dir_share_text, fleet_census, render_census
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.results import host_outcome
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.tables import render_table

SPACE_TABLE_HEADERS = ("HOST", "DIR", "MODULE", "FREE", "TOTAL", "PLOTS", "INCOMING", "REPLOTTED")


def fleet_space_report(results: Mapping[str, Mapping[str, Any] | None], replot_target: Any = None,
                       replot_deadline: Any = None, now: float | None = None) -> dict[str, Any]:
    """One document from each harvester's plotfleet_space_info result (None: the host has none),
    with the farm census and replot progress toward ``replot_target`` by ``replot_deadline``
    (census.fleet_census; a bad value raises census.CensusSettingsError naming its variable).

    Unreachable and failed harvesters are listed with their message, never dropped: a report
    that silently leaves out a harvester would show less room than the fleet has, or hide a disk.
    """
    report: dict[str, Any] = {"harvesters": [], "unreachable": [], "failed": []}
    for host, result in results.items():
        status, msg = host_outcome(result)
        if status == "unreachable":
            report["unreachable"].append({"host": host, "msg": msg})
        elif status != "ok":  # failed, or no result at all (not in this run, skipped)
            report["failed"].append({"host": host, "msg": msg})
        else:
            dirs = list(result.get("archive_dirs") or [])
            report["harvesters"].append({"host": host, "archive_dirs": dirs, "totals": dict(result.get("host") or {})})
    keys = ("free_bytes", "total_bytes", "plots", "incoming", "incoming_bytes", "quarantined")
    report["totals"] = {key: sum(int(item["totals"].get(key) or 0) for item in report["harvesters"]) for key in keys}
    report["census"] = fleet_census(report["harvesters"], replot_target, replot_deadline, now)
    return report


def render_space_table(report: Mapping[str, Any], with_census: bool = True, with_down: bool = True) -> str:
    """The fleet report as a table (a row per archive dir), the hosts not read (unless
    ``with_down`` is false: status lists them in one place of its own), a summary and, unless
    ``with_census`` is false (status shows it apart), the census and replot progress."""
    census = report.get("census") or {}
    rows = [(*_space_row(item["host"], entry), dir_share_text(census, item["host"], entry["path"]) if census else "")
            for item in report["harvesters"] for entry in item["archive_dirs"]]
    lines = [render_table(SPACE_TABLE_HEADERS, rows), ""]
    # A dir's error on its own line: in the FREE column it would widen the whole table.
    lines += [f"{item['host']}: {entry['path']}: {entry['error']}"
              for item in report["harvesters"] for entry in item["archive_dirs"] if entry.get("error")]
    # Plots that failed verification after landing: kept on their disk, never farmed (plotverify).
    lines += [f"{item['host']}: QUARANTINED {plot['path']}: {'; '.join(plot.get('problems') or [])}"
              for item in report["harvesters"] for entry in item["archive_dirs"]
              for plot in entry.get("quarantined") or []]
    for kind in ("unreachable", "failed") if with_down else ():
        lines += [f"{item['host']}: {kind.upper()}: {item['msg']}" for item in report[kind]]
    totals = report["totals"]
    lines.append(
        f"{len(report['harvesters'])} harvester(s) read, {len(report['unreachable'])} unreachable, "
        f"{len(report['failed'])} failed; free {human_bytes(totals['free_bytes'])} of "
        f"{human_bytes(totals['total_bytes'])}; {totals['plots']} plots, {totals['incoming']} incoming"
        + (f", {totals['quarantined']} quarantined" if totals["quarantined"] else "")
    )
    if with_census and census:
        lines += ["", "CENSUS", render_census(census, indent="  ")]
    return "\n".join(lines)


def _space_row(host: str, entry: Mapping[str, Any]) -> tuple[object, ...]:
    module = entry.get("rsync_module") or "-"
    if entry.get("error"):
        return (host, entry["path"], module, "ERROR", "", "", "")
    incoming = entry.get("incoming") or []
    arriving = f"{len(incoming)} ({human_bytes(entry.get('incoming_bytes') or 0)})" if incoming else "0"
    free, total = human_bytes(entry.get("free_bytes")), human_bytes(entry.get("total_bytes"))
    return (host, entry["path"], module, free, total, entry.get("plots", 0), arriving)
