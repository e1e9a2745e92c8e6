"""The fleet status as Prometheus metrics, for node_exporter's textfile collector.

``render_metrics(report)`` turns the document ``report.fleet_report`` builds (the same one
status.yml prints) into the text exposition format: ``plotfleet_`` names with their unit,
``_bytes``/``_seconds`` suffixes, labels for the dimensions (host, dir, kind, phase, plotter, format),
one ``# HELP`` and ``# TYPE`` per metric, every label value escaped. status.yml writes it with
``ansible.builtin.copy``, which writes a temp file in the same dir and renames it, so the collector
never reads half a file.

Only gauges: every value is read afresh from the hosts at each run (plotfleet keeps no counters).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

_PREFIX = "plotfleet_"


class _Metrics:
    """Samples grouped by metric, rendered in the order the metrics were declared."""

    def __init__(self) -> None:
        self._help: dict[str, str] = {}
        self._samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)

    def declare(self, name: str, help_text: str) -> None:
        self._help[_PREFIX + name] = help_text

    def set(self, name: str, value: float | int | None, **labels: Any) -> None:
        if value is None:
            return
        key = tuple(sorted((k, str(v)) for k, v in labels.items() if v is not None))
        self._samples[_PREFIX + name][key] = float(value)

    def add(self, name: str, value: float | int, **labels: Any) -> None:
        key = tuple(sorted((k, str(v)) for k, v in labels.items() if v is not None))
        samples = self._samples[_PREFIX + name]
        samples[key] = samples.get(key, 0.0) + float(value)

    def render(self) -> str:
        lines = []
        for name, help_text in self._help.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            for labels, value in sorted(self._samples.get(name, {}).items()):
                lines.append(f"{name}{_labels(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    pairs = [f'{key}="{_escape(value)}"' for key, value in labels]
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _phase(job: Mapping[str, Any]) -> str:
    phase = job.get("phase") or {}
    major = phase.get("major") if isinstance(phase, Mapping) else None
    return str(major) if major else "unknown"


def render_metrics(report: Mapping[str, Any], now: float | None = None) -> str:
    """The text exposition of one fleet report (see the module docstring)."""
    m = _Metrics()
    m.declare("up", "1 when the host answered this run, 0 when it did not (unreachable or failed)")
    m.declare("hosts_not_reporting", "Hosts of the inventory that did not answer this run")
    m.declare("jobs", "Plot jobs running on a plotter, by plotter tool and major phase (5: copy to dst)")
    m.declare("jobs_suspended", "Plot jobs suspended on a plotter")
    m.declare("job_temp_bytes", "Bytes of temp files the running jobs of a plotter hold")
    m.declare("dir_free_bytes", "Free bytes of a plotter tmp/dst dir or a harvester archive dir")
    m.declare("dir_size_bytes", "Size of the filesystem holding a plotter tmp/dst dir or a harvester archive dir")
    m.declare("dir_used_bytes", "Used bytes of the filesystem holding a dir")
    m.declare("plots_waiting", "Finished plots in a plotter's dst dir waiting to be archived")
    m.declare("transfers", "Archive transfers (rsync) running from a plotter")
    m.declare("transfer_bytes", "Size of the plot each running transfer sends")
    m.declare("archive_plots", "Complete plots in a harvester archive dir")
    m.declare("archive_plot_bytes", "Bytes of complete plots in a harvester archive dir")
    m.declare("archive_incoming", "Plots arriving in a harvester archive dir (partial files)")
    m.declare("census_plots", "Plots on the harvesters by format, k and compression level (census)")
    m.declare("census_bytes", "Bytes of plots on the harvesters by format, k and compression level (census)")
    m.declare("replot_target_ratio", "Share of the farm's plot bytes already in the replot target format")
    m.declare("status_timestamp_seconds", "When this status was taken (Unix time)")

    problems = 0
    for host, entry in sorted((report.get("plotters") or {}).items()):
        up = entry.get("status") == "ok"
        m.set("up", 1 if up else 0, host=host, role="plotter")
        if not up:
            problems += 1
            continue
        m.set("jobs_suspended", 0, host=host)
        m.set("job_temp_bytes", 0, host=host)
        for job in entry.get("jobs") or []:
            m.add("jobs", 1, host=host, plotter=job.get("plotter") or "unknown", phase=_phase(job))
            if job.get("state") == "suspended":
                m.add("jobs_suspended", 1, host=host)
            m.add("job_temp_bytes", int(job.get("tmp_bytes") or 0), host=host)
        for kind in ("tmp", "dst"):
            for entry_dir in entry.get(f"{kind}_dirs") or []:
                _dir_metrics(m, host, kind, entry_dir)
                if kind == "dst":
                    waiting = entry_dir.get("plot_count", len(entry_dir.get("plots") or []))
                    m.set("plots_waiting", waiting, host=host, dir=entry_dir.get("path"))
        transfers = entry.get("transfers") or []
        m.set("transfers", len(transfers), host=host)
        for transfer in transfers:
            m.set("transfer_bytes", transfer.get("size_bytes"), host=host, harvester=transfer.get("host"),
                  module=transfer.get("module"), plot=_basename(transfer.get("source")))

    space = report.get("space") or {}
    for harvester in space.get("harvesters") or []:
        host = harvester.get("host")
        m.set("up", 1, host=host, role="harvester")
        for entry_dir in harvester.get("archive_dirs") or []:
            _dir_metrics(m, host, "archive", entry_dir)
            if entry_dir.get("error"):
                continue
            path = entry_dir.get("path")
            m.set("archive_plots", entry_dir.get("plots", 0), host=host, dir=path)
            m.set("archive_plot_bytes", entry_dir.get("plot_bytes", 0), host=host, dir=path)
            m.set("archive_incoming", len(entry_dir.get("incoming") or []), host=host, dir=path)
            _census_metrics(m, host, path, entry_dir)
    for kind in ("unreachable", "failed"):
        for item in space.get(kind) or []:
            m.set("up", 0, host=item.get("host"), role="harvester")
            problems += 1
    m.set("hosts_not_reporting", problems)
    census = report.get("census") or space.get("census") or {}
    if isinstance(census, Mapping) and census.get("target_share") is not None:
        m.set("replot_target_ratio", census["target_share"], target=census.get("target"))
    if now is not None:
        m.set("status_timestamp_seconds", round(now, 3))
    return m.render()


def _dir_metrics(m: _Metrics, host: str, kind: str, entry: Mapping[str, Any]) -> None:
    if entry.get("error"):
        return
    path = entry.get("path")
    free, total = entry.get("free_bytes"), entry.get("total_bytes")
    m.set("dir_free_bytes", free, host=host, kind=kind, dir=path)
    m.set("dir_size_bytes", total, host=host, kind=kind, dir=path)
    if free is not None and total is not None:
        m.set("dir_used_bytes", max(int(total) - int(free), 0), host=host, kind=kind, dir=path)


def _census_metrics(m: _Metrics, host: str, path: str, entry: Mapping[str, Any]) -> None:
    """Plots by kind from the dir's census when the harvester reports one, else by k alone."""
    census = entry.get("census")
    kinds = census.get("kinds") if isinstance(census, Mapping) else None
    if isinstance(kinds, list):
        for kind in kinds:
            labels = {"host": host, "dir": path, "format": kind.get("format"), "k": kind.get("k"),
                      "compression": kind.get("compression")}
            m.set("census_plots", kind.get("plots"), **labels)
            m.set("census_bytes", kind.get("bytes"), **labels)
        return
    for k, count in (entry.get("plots_by_k") or {}).items():
        m.set("census_plots", count, host=host, dir=path, k=k)


def _basename(path: Any) -> str | None:
    return str(path).rstrip("/").rsplit("/", 1)[-1] if path else None
