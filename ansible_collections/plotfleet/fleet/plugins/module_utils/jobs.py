"""Stateless discovery of the plot jobs running on this host.

Everything comes from the process table and the files: a job is a process whose command line a
plotter recognises; its log is the open file under the log dir (else wherever its stdout
points); its phase comes from that log; its temp files are the files of its plot id in its dirs
plus whatever it holds open there. Nothing is remembered between runs.

Speed matters (cron runs this every minute on hosts with thousands of processes), so the scan
reads only ``/proc/<pid>/cmdline`` for every process and asks psutil for details of the few that
look like plot jobs.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import normalise_path
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import FINISHED_SUFFIXES
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import parse_command, parse_log_file
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import JobArgs, LogInfo, Phase
from ansible_collections.plotfleet.fleet.plugins.module_utils.proctable import (
    command_lines,
    in_our_namespaces,
    read_small_file,
    split_argv,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.proctable import open_paths as proctable_open_paths

try:
    import psutil
except ImportError:  # reported by the modules with an install hint
    psutil = None

# Bytes one of which every plotter's command line contains; anything else is skipped unparsed.
COMMAND_HINTS = (b"plots\0create", b"chia_plot", b"cuda_plot", b"bladebit", b"plotters\0", b"chia-plot2")
_PLOT_ID_IN_NAME = re.compile(r"-([0-9a-f]{64})\.plot")
# Finished plots (v1 ``.plot``, v2 ``.plot2``): never a job's temp files, whatever their id.
PLOT_SUFFIXES = FINISHED_SUFFIXES

STATE_RUNNING = "running"
STATE_SUSPENDED = "suspended"
STATE_DISK_SLEEP = "disk-sleep"
STATE_ZOMBIE = "zombie"


@dataclass
class Job:
    """One plot job: the outermost process of it plus what its log and files say."""

    pid: int
    pids: list[int]  # every process of the job (launcher and plotter child), outermost first
    args: JobArgs
    cmdline: list[str]
    cwd: str
    log_file: str | None
    log: LogInfo
    plot_id: str | None
    started_at: str
    wall_seconds: float
    cpu_user_seconds: float
    cpu_system_seconds: float
    iowait_seconds: float
    mem_rss_bytes: int
    io_read_bytes: int | None
    io_write_bytes: int | None
    state: str
    tmp_files: list[str] = field(default_factory=list)
    tmp_bytes: int = 0
    create_times: dict[int, float] = field(default_factory=dict)  # pid -> start time, against pid reuse

    @property
    def phase(self) -> Phase:
        return self.log.phase

    @property
    def label(self) -> str:
        """The plot id, or pid:N while it is not known: how operators and reasons name a job."""
        return self.plot_id or f"pid:{self.pid}"

    @property
    def plotter(self) -> str:
        return self.args.plotter

    @property
    def k(self) -> int | None:
        return self.log.k or self.args.k

    @property
    def tmp_dir(self) -> str | None:
        return self.args.tmp_dir

    @property
    def tmp2_dir(self) -> str | None:
        return self.args.tmp2_dir

    @property
    def dst_dir(self) -> str | None:
        return self.args.dst_dir

    def as_dict(self, with_files: bool = False) -> dict:
        data = {
            "plot_id": self.plot_id,
            "pid": self.pid,
            "pids": self.pids,
            "plotter": self.plotter,
            "k": self.k,
            "tmp_dir": self.tmp_dir,
            "tmp2_dir": self.tmp2_dir,
            "dst_dir": self.dst_dir,
            "log_file": self.log_file,
            "phase": self.phase.as_dict(),
            "phase_text": str(self.phase),
            "started_at": self.started_at,
            "wall_seconds": round(self.wall_seconds, 1),
            "cpu_user_seconds": round(self.cpu_user_seconds, 1),
            "cpu_system_seconds": round(self.cpu_system_seconds, 1),
            "iowait_seconds": round(self.iowait_seconds, 1),
            "mem_rss_bytes": self.mem_rss_bytes,
            "io_read_bytes": self.io_read_bytes,
            "io_write_bytes": self.io_write_bytes,
            "state": self.state,
            "tmp_bytes": self.tmp_bytes,
            "tmp_file_count": len(self.tmp_files),
            "threads": self.args.threads or self.log.threads,
            "buckets": self.args.buckets or self.log.buckets,
            "buffer": self.args.buffer or self.log.buffer,
            "cmdline": self.cmdline,
        }
        if with_files:
            data["tmp_files"] = self.tmp_files
        return data


@dataclass
class _Candidate:
    pid: int
    ppid: int
    argv: list[str]
    cwd: str
    args: JobArgs


def _parent_pid(proc_root: str, pid: int) -> int | None:
    raw = read_small_file(f"{proc_root}/{pid}/stat")
    if raw is None:
        return None
    # The command name in field 2 may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(b")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


def find_candidates(cmdlines: Sequence[tuple[int, bytes]] | None = None, proc_root: str = "/proc") -> list[_Candidate]:
    """Processes whose command line parses as a plot job, in pid order."""
    if cmdlines is None:
        cmdlines = command_lines(proc_root, COMMAND_HINTS)
    found = []
    for pid, raw in cmdlines:
        if not any(hint in raw for hint in COMMAND_HINTS) or not in_our_namespaces(pid, proc_root):
            continue
        try:
            cwd = os.readlink(f"{proc_root}/{pid}/cwd")
        except OSError:
            continue
        args = parse_command(split_argv(raw), cwd)
        if args is None:
            continue
        ppid = _parent_pid(proc_root, pid)
        if ppid is not None:
            found.append(_Candidate(pid, ppid, split_argv(raw), cwd, args))
    return sorted(found, key=lambda c: c.pid)


def group_candidates(candidates: Sequence[_Candidate]) -> list[list[_Candidate]]:
    """Merge a launcher and the plotter it started (same plot) into one job, outermost first.

    ``chia plotters madmax`` runs ``chia_plot`` as a child; the GUI or a wrapper may do the same.
    A child whose parent is itself a candidate with the same plotter and dirs is the same job.
    """
    by_pid = {c.pid: c for c in candidates}

    def same_job(a: _Candidate, b: _Candidate) -> bool:
        return (a.args.plotter, a.args.tmp_dir, a.args.dst_dir) == (b.args.plotter, b.args.tmp_dir, b.args.dst_dir)

    def root_of(c: _Candidate) -> _Candidate:
        while c.ppid in by_pid and same_job(by_pid[c.ppid], c):
            c = by_pid[c.ppid]
        return c

    groups: dict[int, list[_Candidate]] = {}
    for cand in candidates:
        groups.setdefault(root_of(cand).pid, []).append(cand)
    return [sorted(members, key=lambda c, r=root: (c.pid != r, c.pid)) for root, members in groups.items()]


def _regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _choose_log(open_paths: Iterable[str], stdout_paths: Iterable[str], log_dir: str | None) -> str | None:
    """The job's log: an open file under the log dir, else its stdout when that is a file."""
    if log_dir:
        prefix = log_dir.rstrip("/") + "/"
        for path in open_paths:
            if path.startswith(prefix) and _usable_log(path):
                return path
    for path in stdout_paths:
        if _usable_log(path):
            return path
    return None


def _usable_log(path: str) -> bool:
    return path.startswith("/") and not path.endswith(" (deleted)") and _regular_file(path)


def _state(statuses: Iterable[str]) -> str:
    statuses = set(statuses)
    if psutil.STATUS_STOPPED in statuses or psutil.STATUS_TRACING_STOP in statuses:
        return STATE_SUSPENDED
    if psutil.STATUS_DISK_SLEEP in statuses:
        return STATE_DISK_SLEEP
    if statuses == {psutil.STATUS_ZOMBIE}:
        return STATE_ZOMBIE
    return STATE_RUNNING


def job_dirs(args: JobArgs) -> list[str]:
    """The distinct dirs a job writes temp files to, in tmp, tmp2, tmp3, stage, dst order.

    madMAx writes the finished plot to its stage dir (-s) before the copy to dst, and Gigahorse's
    disk mode uses a third temp dir (-3): a killed job leaves files there too.
    """
    dirs = []
    for path in (args.tmp_dir, args.tmp2_dir, args.tmp3_dir, args.stage_dir, args.dst_dir):
        if path and path not in dirs:
            dirs.append(path)
    return dirs


def temp_files(dirs: Sequence[str], plot_id: str | None, open_paths: Iterable[str] = ()) -> list[str]:
    """A plot's temp files: names holding its id in its dirs, plus files it holds open there.

    A finished ``.plot`` or ``.plot2`` is never a temp file; another job's files never hold this plot's id and
    are never open in this job's processes, so they are never listed.
    """
    found: set[str] = set()
    if plot_id:
        for directory in dirs:
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        if plot_id in entry.name and not entry.name.endswith(PLOT_SUFFIXES) and entry.is_file():
                            found.add(entry.path)
            except OSError:
                continue
    # Only files directly in the job's dirs: a log or database kept in a subdir, or anything
    # open under a tmp dir of "." run from $HOME, is not a plot's temp file.
    own_dirs = {normalise_path(d) for d in dirs}
    for path in open_paths:
        if os.path.dirname(path) in own_dirs and not path.endswith((*PLOT_SUFFIXES, " (deleted)")):
            found.add(path)
    return sorted(found)


def allocated_bytes(paths: Iterable[str]) -> int:
    total = 0
    for path in paths:
        try:
            total += os.stat(path).st_blocks * 512
        except OSError:
            continue
    return total


def _plot_id_from_names(paths: Iterable[str]) -> str | None:
    for path in paths:
        match = _PLOT_ID_IN_NAME.search(os.path.basename(path))
        if match:
            return match.group(1)
    return None


def _stdout_target(pid: int, proc_root: str = "/proc") -> str | None:
    try:
        return os.readlink(f"{proc_root}/{pid}/fd/1")
    except OSError:
        return None


@dataclass
class _Observed:
    """What the process table says of one job's processes, before its log is chosen."""

    group: Sequence[_Candidate]
    create_times: dict[int, float]
    statuses: list[str]
    cpu_user: float = 0.0
    cpu_system: float = 0.0
    iowait: float = 0.0
    rss: int = 0
    io_read: int | None = 0
    io_write: int | None = 0
    open_paths: list[str] = field(default_factory=list)
    log_file: str | None = None


def observe_group(group: Sequence[_Candidate], log_dir: str | None, proc_root: str = "/proc") -> _Observed | None:
    """Measure a job's processes; None when the job ended while we looked."""
    seen = _Observed(group, {}, [])
    for cand in group:
        try:
            proc = psutil.Process(cand.pid)
            with proc.oneshot():
                seen.create_times[cand.pid] = proc.create_time()
                seen.statuses.append(proc.status())
                times = proc.cpu_times()
                seen.cpu_user += times.user
                seen.cpu_system += times.system
                seen.iowait += getattr(times, "iowait", 0.0)
                seen.rss += proc.memory_info().rss
                try:
                    counters = proc.io_counters()
                    if seen.io_read is not None:
                        seen.io_read += counters.read_bytes
                        seen.io_write += counters.write_bytes
                except (psutil.AccessDenied, AttributeError):
                    seen.io_read = seen.io_write = None
                seen.open_paths.extend(proctable_open_paths(cand.pid, proc_root))
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            if cand is group[0]:
                return None
            continue
    stdout_paths = [p for p in (_stdout_target(c.pid, proc_root) for c in group) if p]
    seen.log_file = _choose_log(seen.open_paths, stdout_paths, log_dir)
    return seen


def _read_log(path: str | None, plotter: str) -> LogInfo:
    """The log's story so far; an unreadable or vanished log is an unknown phase, not an error."""
    if path:
        try:
            return parse_log_file(path)
        except OSError:
            pass
    return LogInfo(plotter=plotter)


def build_job(seen: _Observed, log_file: str | None, now: float) -> Job:
    """The job, with its log (None when the log cannot be trusted to be this job's alone)."""
    root = seen.group[0]
    log = _read_log(log_file, root.args.plotter)
    # The files a job holds open name its plot for sure; its log only while nobody else writes there.
    plot_id = root.args.plot_id or _plot_id_from_names(seen.open_paths) or log.plot_id
    own_files = [p for p in seen.open_paths if p != seen.log_file]
    files = temp_files(job_dirs(root.args), plot_id, own_files)
    started = seen.create_times.get(root.pid, now)
    return Job(
        pid=root.pid,
        pids=[c.pid for c in seen.group],
        args=root.args,
        cmdline=root.argv,
        cwd=root.cwd,
        log_file=log_file,
        log=log,
        plot_id=plot_id,
        started_at=datetime.fromtimestamp(started).astimezone().isoformat(timespec="seconds"),
        wall_seconds=max(0.0, now - started),
        cpu_user_seconds=seen.cpu_user,
        cpu_system_seconds=seen.cpu_system,
        iowait_seconds=seen.iowait,
        mem_rss_bytes=seen.rss,
        io_read_bytes=seen.io_read,
        io_write_bytes=seen.io_write,
        state=_state(seen.statuses),
        tmp_files=files,
        tmp_bytes=allocated_bytes(files),
        create_times=dict(seen.create_times),
    )


def discover_jobs(log_dir: str | None = None, proc_root: str = "/proc", now: float | None = None,
                  cmdlines: Sequence[tuple[int, bytes]] | None = None) -> list[Job]:
    """Every plot job on this host, oldest first. Processes that vanish mid-scan are skipped.

    ``cmdlines`` lets a caller that scans the process table anyway (state.py) share its scan.
    """
    if psutil is None:
        raise RuntimeError("psutil is not installed for this Python")
    now = time.time() if now is None else now
    observed = [seen for group in group_candidates(find_candidates(cmdlines, proc_root))
                if (seen := observe_group(group, log_dir, proc_root)) is not None]
    # Two jobs writing one file (a batch script redirected once, nohup.out) cannot tell their
    # lines apart: neither gets that log, so neither takes the other's plot id or phase.
    writers = Counter(seen.log_file for seen in observed if seen.log_file)
    jobs = [build_job(seen, seen.log_file if writers[seen.log_file] == 1 else None, now) for seen in observed]
    return sorted(jobs, key=lambda j: (j.started_at, j.pid))
