"""Host primitives every module shares: one lock, one detached start, one path normalisation,
one rsync version probe.

Kept apart so that there is exactly one way to do each: scheduling passes and archive runs lock
the same way, plot jobs and transfers are started detached the same way, every comparison of
directories normalises paths the same way, and a plotter's transfer route and a harvester's report
read rsync's version the same way (without loading the transfer code).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any


class LockTimeout(Exception):
    """Another process held the lock for longer than we were willing to wait."""


class HostLock:
    """An exclusive ``flock`` on a file, held for a ``with`` block.

    ``timeout=None`` waits as long as it takes; otherwise LockTimeout names the file and the wait.
    The lock dies with the process (the kernel drops it when the fd closes), so a killed run never
    leaves a stale lock behind.
    """

    def __init__(self, path: str, timeout: float | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> HostLock:
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
                self._fd = fd
                return self
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    os.close(fd)
                    raise LockTimeout(f"another run holds {self.path} for over {self.timeout:.0f} s") from err
                time.sleep(0.05)

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def start_detached(argv: Sequence[str], stdout: Any, stderr: Any = subprocess.STDOUT, cwd: str | None = None,
                   env: Mapping[str, str] | None = None,
                   preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen:
    """Start a process in its own session, with no stdin, that outlives the caller (Ansible's
    module process): plot jobs and transfers. Once this returns the process table shows it."""
    return subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        start_new_session=True,
        close_fds=True,
        preexec_fn=preexec_fn,
    )


def normalise_path(path: str, cwd: str | None = None) -> str:
    """An absolute path without ``..``, ``.`` or a trailing slash; relative paths are taken from
    ``cwd`` (a process's working dir) when given. Symlinks are left alone: a dir is what the
    operator wrote."""
    if cwd is not None and not os.path.isabs(path):
        path = os.path.join(cwd, path)
    return os.path.normpath(path)


def same_path(a: str | None, b: str | None) -> bool:
    """Whether two paths name the same directory as written (``/mnt/d0/`` is ``/mnt/d0``)."""
    return a is not None and b is not None and normalise_path(a) == normalise_path(b)


def _mount_points(mountinfo: str = "/proc/self/mountinfo") -> set[str]:
    """Every mount point this process sees (bind mounts included, which ``ismount`` can miss)."""
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as handle:
            fields = [line.split(" ", 5) for line in handle]
    except OSError:
        return set()
    # mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
    return {f[4].encode().decode("unicode_escape") for f in fields if len(f) > 4}


def is_mount_point(path: str) -> bool:
    """Whether ``path`` is the root of a mounted filesystem (a disk of its own)."""
    return os.path.ismount(path) or os.path.realpath(path) in _mount_points()


def dir_refusal(path: str, mount: bool = False) -> str | None:
    """Why a plot dir must not be written now, or None when it may be.

    On a farm these dirs are disks: an unmounted disk leaves its dir missing, or an empty dir on
    the root filesystem. A missing dir is always refused (it is never created for the disk); a dir
    marked ``mount`` is refused also when it is not a mount point, so nothing fills the system disk.
    """
    if not os.path.lexists(path):
        return f"{path} does not exist (not mounted?)"
    if not os.path.isdir(path):
        return f"{path} is not a directory"
    if mount and not is_mount_point(path):
        return (f"{path} is not mounted? it is marked mount: true but is on the filesystem "
                f"mounted at {_containing_mount(path)}")
    return None


def _containing_mount(path: str) -> str:
    path = os.path.dirname(os.path.realpath(path))
    while not is_mount_point(path) and path != os.path.dirname(path):
        path = os.path.dirname(path)
    return path


def rsync_version(text: str) -> tuple[int, ...] | None:
    """(3, 2, 3) from ``rsync --version`` output ("rsync  version 3.2.3  protocol version 31")."""
    match = re.search(r"version\s+v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(part or 0) for part in match.groups()) if match else None


def installed_rsync_version(rsync: str) -> tuple[int, ...] | None:
    """The version of the rsync at ``rsync`` (a path, or a name on PATH); None when it cannot be run."""
    try:
        out = subprocess.run([rsync, "--version"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return rsync_version(out)
