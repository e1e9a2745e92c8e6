"""plotman's job commands for the whole fleet: ``details``, ``files``, ``dsched`` and ``logs``.

``job_view(hostvars, plotters, show, prefix)`` reads what every plotter registered with
``plotfleet_jobs_info`` (temp files included) and returns ``{"text", "error", "host", "log_file"}``:
the text an operator reads, or the error that stops the playbook (an unknown view, a prefix that
names no job or several), plus the host and log of the one job for ``logs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import same_path
from ansible_collections.plotfleet.fleet.plugins.module_utils.units import human_bytes, human_seconds
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.report import PrefixError, resolve_fleet_prefix
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.results import host_outcome, registered
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.tables import render_table

VIEWS = ("details", "files", "dsched", "logs")


def job_view(hostvars: Any, plotters: Sequence[str], show: str, prefix: str | None = None,
             var: str = "plotfleet_state") -> dict:
    show = str(show or "").strip()
    if show not in VIEWS:
        return _error(f"plotfleet_show must be one of {', '.join(VIEWS)}, got {show!r}")
    results = registered(hostvars, plotters, var)
    down = [f"{host}: {status}: {msg}" for host, result in results.items()
            for status, msg in [host_outcome(result)] if status != "ok"]
    if show == "dsched":
        return _done(dst_schedule(results), down)
    prefix = str(prefix or "").strip()
    if show == "files" and not prefix:
        return _done(temp_files_table(results), down)
    if not prefix:
        return _error(f"plotfleet_show={show} needs -e plotfleet_plot_id=<plot id prefix, or pid:N>")
    try:
        target = resolve_fleet_prefix(hostvars, plotters, prefix, var)
    except PrefixError as err:
        return _error(str(err) + (f" (hosts not reporting: {'; '.join(down)})" if down else ""))
    job = next(j for j in results[target["host"]].get("jobs", []) if j.get("pid") == target["pid"])
    if show == "logs":
        if not job.get("log_file"):
            return _error(f"job {_label(job)} on {target['host']} has no log file plotfleet can see "
                          "(its output does not go to a file)")
        return {"text": "", "error": None, "host": target["host"], "log_file": job["log_file"]}
    text = job_details(target["host"], job) if show == "details" else temp_files_table({target["host"]: {
        "jobs": [job]}})
    return _done(text, down)


def job_details(host: str, job: Mapping[str, Any]) -> str:
    """One job, plotman's ``details``: where, what, how far, and its files."""
    cpu = (job.get("cpu_user_seconds") or 0) + (job.get("cpu_system_seconds") or 0)
    rows = [
        ("host", host),
        ("plot id", job.get("plot_id") or "(not known yet)"),
        ("pid", " ".join(str(p) for p in job.get("pids") or [job.get("pid")])),
        ("plotter", f"{job.get('plotter')} k{job.get('k')}"),
        ("state", job.get("state")),
        ("phase", job.get("phase_text")),
        ("started", job.get("started_at")),
        ("wall", human_seconds(job.get("wall_seconds"))),
        ("cpu", f"{human_seconds(cpu)} (iowait {human_seconds(job.get('iowait_seconds'))})"),
        ("memory", human_bytes(job.get("mem_rss_bytes"))),
        ("io", f"read {human_bytes(job.get('io_read_bytes'))}, written {human_bytes(job.get('io_write_bytes'))}"),
        ("tmp", job.get("tmp_dir")),
        ("tmp2", job.get("tmp2_dir")),
        ("dst", job.get("dst_dir")),
        ("threads/buckets/buffer", f"{job.get('threads')}/{job.get('buckets')}/{job.get('buffer')}"),
        ("log", job.get("log_file") or "(none: output not in a file)"),
        ("command", " ".join(job.get("cmdline") or [])),
        ("temp files", f"{job.get('tmp_file_count', 0)} ({human_bytes(job.get('tmp_bytes'))})"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {'-' if value in (None, '') else value}" for name, value in rows]
    lines += [f"{''.ljust(width)}  {path}" for path in _files(job)]
    return "\n".join(lines)


def temp_files_table(results: Mapping[str, Any]) -> str:
    """plotman's ``files``: every job's temp files, with their sizes."""
    rows = []
    for host, result in sorted(results.items()):
        if not isinstance(result, Mapping) or host_outcome(result)[0] != "ok":
            continue
        for job in result.get("jobs") or []:
            files = _files(job)
            for index, path in enumerate(files or ["(none)"]):
                first = index == 0
                rows.append((host if first else "", _label(job) if first else "",
                             human_bytes(job.get("tmp_bytes")) if first else "", path))
    return render_table(("HOST", "PLOT", "TEMP BYTES", "FILE"), rows) if rows else "no plot jobs"


def dst_schedule(results: Mapping[str, Any]) -> str:
    """plotman's ``dsched``: each dst dir, the jobs that will write their plot there (with their
    phases, furthest first), its free space and the plots already waiting in it."""
    rows = []
    for host, result in sorted(results.items()):
        if not isinstance(result, Mapping) or host_outcome(result)[0] != "ok":
            continue
        jobs = result.get("jobs") or []
        for entry in result.get("dst_dirs") or []:
            path = entry.get("path") or ""
            inbound = sorted((j for j in jobs if same_path(j.get("dst_dir"), path)), key=_phase_key, reverse=True)
            phases = " ".join(f"{_label(j)}@{j.get('phase_text')}" for j in inbound) or "-"
            waiting = entry.get("plot_count", len(entry.get("plots") or []))
            free = f"ERROR: {entry['error']}" if entry.get("error") else human_bytes(entry.get("free_bytes"))
            rows.append((host, path, free, len(inbound), phases, waiting))
    if not rows:
        return "no dst dirs"
    return render_table(("HOST", "DST", "FREE", "JOBS", "PHASES (furthest first)", "PLOTS READY"), rows)


def _files(job: Mapping[str, Any]) -> list[str]:
    files = job.get("tmp_files") or []
    return [f.get("path") if isinstance(f, Mapping) else str(f) for f in files]


def _label(job: Mapping[str, Any]) -> str:
    return (job.get("plot_id") or "")[:8] or f"pid:{job.get('pid')}"


def _phase_key(job: Mapping[str, Any]) -> tuple[int, int]:
    phase = job.get("phase") or {}
    return int(phase.get("major") or 0), int(phase.get("minor") or 0)


def _done(text: str, down: list[str]) -> dict:
    if down:
        text += "\n\nHOSTS NOT REPORTING\n" + "\n".join(f"  {line}" for line in down)
    return {"text": text, "error": None, "host": None, "log_file": None}


def _error(message: str) -> dict:
    return {"text": "", "error": message, "host": None, "log_file": None}
