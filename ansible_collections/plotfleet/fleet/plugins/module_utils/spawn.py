"""Starting a plot job that outlives whoever started it, and serialising scheduling passes.

A job runs in its own session (no controlling terminal, not in the Ansible connection's process
group), with stdin from /dev/null and stdout+stderr in a new log file created exclusively under
the plot log dir: a job never shares or overwrites a log. The caller learns the PID only once
the process table shows the plotter's own command line, so the next scheduling pass (or a
concurrent one waiting on the lock) already sees the new job.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import HostLock, LockTimeout, start_detached
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import parse_command
from ansible_collections.plotfleet.fleet.plugins.module_utils.proctable import read_small_file, split_argv

LOCK_NAME = ".plotfleet-schedule.lock"


class SpawnError(Exception):
    pass


@dataclass(frozen=True)
class Spawned:
    pid: int
    log_file: str
    cmdline: list[str]


class ScheduleLock(HostLock):
    """An exclusive lock held for one whole scheduling pass (decide + start + seen)."""

    def __init__(self, directory: str, timeout: float = 60.0) -> None:
        super().__init__(os.path.join(directory, LOCK_NAME), timeout)

    def __enter__(self) -> ScheduleLock:
        try:
            super().__enter__()
        except LockTimeout as err:
            raise SpawnError(f"another scheduling pass holds {self.path} for over {self.timeout:.0f} s") from err
        return self


def resolve_executable(name: str, env_path: str | None = None) -> str:
    """The absolute path of the plotter binary, or a SpawnError saying what is wrong with it."""
    if os.sep in name:
        if not os.path.exists(name):
            raise SpawnError(f"plotter executable {name} does not exist")
        if os.path.isdir(name) or not os.access(name, os.X_OK):
            raise SpawnError(f"plotter executable {name} is not an executable file")
        return name
    found = shutil.which(name, path=env_path)
    if not found:
        raise SpawnError(f"plotter executable {name!r} is not on PATH ({env_path or os.environ.get('PATH', '')}); "
                         "set plotting.<type>.executable to its absolute path")
    return found


def create_log_file(directory: str, plotter: str) -> tuple[int, str]:
    """A new, never-before-used log file: (open fd, path)."""
    stamp = datetime.now().astimezone().strftime("%Y-%m-%dT%H_%M_%S.%f%z")
    for attempt in range(100):
        suffix = f"-{attempt}" if attempt else ""
        path = os.path.join(directory, f"{stamp}{suffix}.{plotter}.plot.log")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), path
        except FileExistsError:
            continue
    raise SpawnError(f"cannot create a new log file in {directory}")


def _tail(path: str, size: int = 2000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _exited_at_once(argv: Sequence[str], code: int, log_path: str) -> str:
    """What to say about a job that ended before it showed up; an empty log is removed (it tells
    nothing, and would be read as a plot log that never started), a log with output is kept."""
    tail = _tail(log_path)
    if tail.strip():
        return f"the plot job exited at once with code {code}; its log {log_path} ends with:\n{tail}"
    with contextlib.suppress(OSError):
        os.unlink(log_path)
    return (f"the plot job exited at once with code {code} and printed nothing ({' '.join(argv)}); "
            "run that command by hand on the plotter to see why")


def _shows_job(pid: int) -> bool:
    raw = read_small_file(f"/proc/{pid}/cmdline")
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return bool(raw) and parse_command(split_argv(raw), cwd) is not None


def spawn_job(argv: Sequence[str], log_dir: str, plotter: str, env: Mapping[str, str] | None = None,
              nice: int | None = None, cwd: str | None = None, visible_timeout: float = 15.0) -> Spawned:
    """Start a plot job detached from the caller; return once the process table shows it."""
    job_env = {**os.environ, **(env or {})}
    argv = [resolve_executable(argv[0], job_env.get("PATH")), *argv[1:]]
    fd, log_path = create_log_file(log_dir, plotter)
    def set_niceness() -> None:  # in the child, before exec: an absolute level, like nice(1) -n from 0
        os.setpriority(os.PRIO_PROCESS, 0, nice)

    try:
        proc = start_detached(argv, stdout=fd, cwd=cwd or log_dir, env=job_env,
                              preexec_fn=set_niceness if nice is not None else None)
    except OSError as err:
        raise SpawnError(f"start {argv[0]}: {err.strerror or err}") from err
    except subprocess.SubprocessError as err:  # what preexec_fn raised, e.g. no right to raise priority
        raise SpawnError(f"start {argv[0]}: cannot set plotting.nice {nice}: {err}") from err
    finally:
        os.close(fd)
    deadline = time.monotonic() + visible_timeout
    while not _shows_job(proc.pid):
        code = proc.poll()
        if code is not None:
            raise SpawnError(_exited_at_once(argv, code, log_path))
        if time.monotonic() > deadline:
            raise SpawnError(f"process {proc.pid} never showed a plot job command line ({' '.join(argv)})")
        time.sleep(0.02)
    proc.returncode = 0  # the job is not ours to wait for; silence Popen's "still running" warning
    return Spawned(proc.pid, log_path, list(argv))
