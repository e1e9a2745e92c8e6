"""One cheap pass over the process table, shared by job and transfer discovery.

Only ``/proc/<pid>/cmdline`` is read for every process, with raw ``os`` calls (Python file
objects cost a third more over thousands of processes); anything costlier is done later for the
few processes whose command line holds one of the hint bytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def read_small_file(path: str) -> bytes | None:
    """The whole content of a /proc file, or None when the process is gone or hidden."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)


def command_lines(proc_root: str = "/proc", hints: Sequence[bytes] = ()) -> list[tuple[int, bytes]]:
    """(pid, raw NUL-separated cmdline) of every process whose cmdline holds one of the hints."""
    try:
        names = os.listdir(proc_root)
    except OSError:
        return []
    found = []
    for name in names:
        if not name.isdigit():
            continue
        raw = read_small_file(f"{proc_root}/{name}/cmdline")
        if raw and any(hint in raw for hint in hints):
            found.append((int(name), raw))
    return found


def split_argv(raw: bytes) -> list[str]:
    return [part.decode("utf-8", "surrogateescape") for part in raw.rstrip(b"\0").split(b"\0")]


def open_paths(pid: int, proc_root: str = "/proc") -> list[str]:
    """Paths of the files a process holds open (what psutil.open_files reports, much cheaper)."""
    fd_dir = f"{proc_root}/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return []
    paths = []
    for fd in fds:
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("/") and not target.startswith(("/dev/", "/proc/")):
            paths.append(target)
    return paths
