"""Suspending, resuming and killing plot jobs, and finding them by plot-id prefix."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import (
    PLOT_SUFFIXES,
    STATE_SUSPENDED,
    Job,
    job_dirs,
    temp_files,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import prefix_matches

try:
    import psutil
except ImportError:
    psutil = None


class ControlError(Exception):
    pass


def match_prefix(jobs: Sequence[Job], prefix: str) -> list[Job]:
    return [j for j in jobs if prefix_matches(j.plot_id, j.pid, prefix)]


def resolve_prefix(jobs: Sequence[Job], prefix: str) -> Job:
    """The one job the prefix names, or a ControlError listing what it matches."""
    if not prefix or not prefix.strip():
        raise ControlError("plot_id must not be empty; give a plot-id prefix (or all_jobs=true)")
    matches = match_prefix(jobs, prefix)
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(f"{j.label} (pid {j.pid}, phase {j.phase})" for j in jobs) or "none"
    if not matches:
        raise ControlError(f"no plot job matches {prefix!r}; jobs on this host: {known}")
    listed = ", ".join(f"{j.label} (pid {j.pid})" for j in matches)
    raise ControlError(f"{prefix!r} matches {len(matches)} jobs, give a longer prefix: {listed}")


def job_processes(job: Job) -> list:
    """psutil.Process of every process of the job and their descendants (that still exist)."""
    procs, seen = [], set()
    for pid in job.pids:
        try:
            proc = psutil.Process(pid)
            if pid in job.create_times and abs(proc.create_time() - job.create_times[pid]) > 0.01:
                continue  # the job's process ended and its pid now belongs to another process
            family = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for member in family:
            if member.pid not in seen:
                seen.add(member.pid)
                procs.append(member)
    return procs


def kill_refusal(job: Job) -> str | None:
    """Why killing this job would destroy a finished plot, or None when it would not.

    From phase 5 on the plot is complete: the plotter is copying or renaming it into its dst
    dir, and the complete copy still carries a temporary name (``.plot.2.tmp``, ``.plot.tmp``)
    that a kill's clean-up would delete.
    """
    if job.phase.major >= 5:
        return (f"{job.label} is in phase {job.phase}: its plot is complete and being moved into "
                f"{job.dst_dir}; killing it now deletes a finished plot. Wait for it to end, or set force=true")
    return None


def current_state(job: Job) -> str:
    return "suspended" if job.state == STATE_SUSPENDED else "running"


def suspend(job: Job) -> list[int]:
    procs = job_processes(job)
    for proc in procs:
        try:
            proc.suspend()
        except psutil.NoSuchProcess:
            continue
    return [p.pid for p in procs]


def resume(job: Job) -> list[int]:
    procs = job_processes(job)
    for proc in reversed(procs):
        try:
            proc.resume()
        except psutil.NoSuchProcess:
            continue
    return [p.pid for p in procs]


def terminate(job: Job, timeout: float) -> tuple[list[int], list[int]]:
    """SIGTERM every process (resumed first so it can act on it), SIGKILL what outlives timeout.

    Returns (signalled pids, pids that needed SIGKILL). Raises ControlError if one survives.
    """
    procs = job_processes(job)
    for proc in procs:
        try:
            proc.terminate()
            proc.resume()  # a stopped process only acts on SIGTERM once continued
        except psutil.NoSuchProcess:
            continue
    alive = _still_alive(procs, timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    still = _still_alive(alive, 10)
    if still:
        raise ControlError(f"processes {[p.pid for p in still]} survived SIGKILL (stuck in disk I/O?); "
                           "temp files were left in place")
    return [p.pid for p in procs], [p.pid for p in alive]


def _still_alive(procs: list, timeout: float) -> list:
    """Processes still running after up to timeout seconds; a zombie has ended (its parent reaps it)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if _running(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _running(proc) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_candidates(job: Job) -> list[str]:
    """The temp files a kill of this job deletes: its own and any other file carrying its plot id
    in its dirs, never a finished plot. What a kill's confirmation lists, and what it removes."""
    candidates = set(job.tmp_files) | set(temp_files(job_dirs(job.args), job.plot_id))
    return sorted(path for path in candidates if not path.endswith(PLOT_SUFFIXES))


def remove_temp_files(job: Job) -> list[str]:
    """Delete the job's temp files (listed again now that it is gone); never a finished plot."""
    removed = []
    for path in kill_candidates(job):
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def act(job: Job, wanted: str, check_mode: bool, kill_timeout: float) -> dict:
    """Puts one job in ``wanted`` (suspended, running, killed): plotfleet_job's action and the
    dashboard's. Returns what was (or in check mode would be) done; ``changed`` says whether it
    differed. A kill's refusal (kill_refusal) is the caller's to check first."""
    before = current_state(job)
    record = {"plot_id": job.plot_id, "pid": job.pid, "before": before, "after": wanted,
              "signalled": [], "sigkilled": [], "removed_files": [], "changed": before != wanted}
    if not record["changed"]:
        return record
    if check_mode:
        record["signalled"] = list(job.pids)
        if wanted == "killed":
            record["removed_files"] = kill_candidates(job)
        return record
    if wanted == "suspended":
        record["signalled"] = suspend(job)
    elif wanted == "running":
        record["signalled"] = resume(job)
    else:
        record["signalled"], record["sigkilled"] = terminate(job, kill_timeout)
        record["removed_files"] = remove_temp_files(job)
    return record
