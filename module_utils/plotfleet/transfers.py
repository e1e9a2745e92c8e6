"""Running archive transfers, recognised from the process table alone.

A transfer is an ``rsync`` process sending one ``.plot`` file to an rsync daemon module
(``rsync://[user@]host[:port]/module/[path]`` or ``[user@]host::module/[path]``). Nothing about
transfers is stored anywhere else, so a controller that died mid-run loses nothing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime

try:
    import psutil
except ImportError:
    psutil = None

_DAEMON_URL = re.compile(r"^rsync://(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?/(?P<module>[^/]+)")
_DAEMON_PAIR = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+)::(?P<module>[^/]+)")


@dataclass(frozen=True)
class Transfer:
    pid: int
    source: str
    destination: str
    host: str
    port: int | None
    module: str
    size_bytes: int | None
    started_at: str | None
    log_file: str | None

    def as_dict(self) -> dict:
        return {
            "pid": self.pid,
            "source": self.source,
            "destination": self.destination,
            "host": self.host,
            "port": self.port,
            "module": self.module,
            "size_bytes": self.size_bytes,
            "started_at": self.started_at,
            "log_file": self.log_file,
        }


def parse_rsync_command(argv: list[str]) -> tuple[str, str, dict] | None:
    """(source plot, destination, parsed destination) of an rsync pushing one plot, else None."""
    if not argv or os.path.basename(argv[0]) != "rsync":
        return None
    positional = [arg for arg in argv[1:] if not arg.startswith("-")]
    if len(positional) < 2 or not positional[-2].endswith(".plot"):
        return None
    destination = positional[-1]
    match = _DAEMON_URL.match(destination) or _DAEMON_PAIR.match(destination)
    if not match:
        return None
    parts = match.groupdict()
    parts["port"] = int(parts["port"]) if parts.get("port") else None
    return positional[-2], destination, parts


def _log_file(argv: list[str]) -> str | None:
    for arg in argv:
        if arg.startswith("--log-file="):
            return arg.split("=", 1)[1]
    return None


def find_transfers(proc_root: str = "/proc") -> list[Transfer]:
    """Every running rsync that pushes a plot to a daemon module, one per source file."""
    found: dict[str, Transfer] = {}
    try:
        names = os.listdir(proc_root)
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"{proc_root}/{name}/cmdline", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        if b"rsync" not in raw or b".plot" not in raw:
            continue
        argv = [p.decode("utf-8", "surrogateescape") for p in raw.rstrip(b"\0").split(b"\0")]
        parsed = parse_rsync_command(argv)
        if parsed is None:
            continue
        source, destination, parts = parsed
        pid = int(name)
        if source in found and found[source].pid < pid:
            continue  # rsync forks; the first (lowest pid) process stands for the transfer
        found[source] = Transfer(
            pid=pid,
            source=source,
            destination=destination,
            host=parts["host"],
            port=parts["port"],
            module=parts["module"],
            size_bytes=_size(source),
            started_at=_started_at(pid),
            log_file=_log_file(argv),
        )
    return sorted(found.values(), key=lambda t: t.pid)


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _started_at(pid: int) -> str | None:
    try:
        created = psutil.Process(pid).create_time()
    except (psutil.Error, AttributeError):  # gone, or psutil missing
        return None
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="seconds")
