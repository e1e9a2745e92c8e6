"""A plotter's past runs, from its plot logs: how long each phase took, for estimating the end of
the jobs running now. Runs on the plotter (the dashboard's agent keeps one LogHistory alive, so
each log is parsed once, however often the dashboard refreshes)."""

from __future__ import annotations

import os
import statistics

from ansible_collections.plotfleet.fleet.plugins.module_utils.logs import is_plot_log
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import parse_log_file

# The newest completed logs that count: recent runs say most about the next ones, and a log dir
# of years holds thousands.
DEFAULT_RUNS = 50


class LogHistory:
    def __init__(self, runs: int = DEFAULT_RUNS) -> None:
        self.runs = runs
        self._parsed: dict[str, tuple[tuple[int, float], list[dict]]] = {}

    def _records(self, path: str) -> list[dict]:
        """The completed plots of one log (a log of ``-n 3`` has three); cached by size and mtime."""
        try:
            stat = os.stat(path)
        except OSError:
            return []
        key = (stat.st_size, stat.st_mtime)
        cached = self._parsed.get(path)
        if cached and cached[0] == key:
            return cached[1]
        records = []
        if is_plot_log(path):
            info = parse_log_file(path)
            records = [{"plotter": info.plotter, "k": plot.k or info.k, "total_seconds": plot.total_seconds,
                        "phase_seconds": dict(plot.phase_seconds)}
                       for plot in info.plots() if plot.completed and plot.total_seconds]
        self._parsed[path] = (key, records)
        return records

    def summary(self, log_dir: str, skip=()) -> dict:
        """``"<plotter>/k<k>"`` -> {runs, total_seconds (median), phase_seconds {major: median}},
        over the newest completed runs in ``log_dir`` (files in ``skip``, the running jobs' logs, left out)."""
        try:
            names = sorted((e.name for e in os.scandir(log_dir) if e.is_file(follow_symlinks=False)), reverse=True)
        except OSError:
            return {}
        groups: dict[str, list[dict]] = {}
        seen = 0
        for name in names:
            path = os.path.join(log_dir, name)
            if path in skip:
                continue
            for record in self._records(path):
                groups.setdefault(f"{record['plotter']}/k{record['k']}", []).append(record)
                seen += 1
            if seen >= self.runs:
                break
        return {key: _medians(records) for key, records in groups.items()}


def _medians(records: list[dict]) -> dict:
    majors = sorted({major for r in records for major in r["phase_seconds"]})
    return {
        "runs": len(records),
        "total_seconds": round(statistics.median(r["total_seconds"] for r in records), 1),
        "phase_seconds": {str(major): round(statistics.median(r["phase_seconds"].get(major, 0.0) for r in records), 1)
                          for major in majors},
    }
