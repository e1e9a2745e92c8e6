"""Plot logs as records: one per log file, for plotfleet_log_info and the analysis playbook."""

from __future__ import annotations

import os
from collections.abc import Iterator

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import (
    LogParser,
    detect_log_plotter,
    parse_log_file,
    read_into,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import LogInfo

# How much of a file's start is read to decide whether it is a plot log at all.
_SNIFF_BYTES = 64 * 1024
# Files up to this size are read in one go; bigger ones only after their head passed the sniff.
_WHOLE_BYTES = 8 << 20


def log_record(path: str, info: LogInfo) -> dict:
    return {
        "path": path,
        "plot_id": info.plot_id,
        "plotter": info.plotter,
        "k": info.k,
        "phase": info.phase.as_dict(),
        "phase_text": str(info.phase),
        "tmp_dir": info.tmp_dir,
        "tmp2_dir": info.tmp2_dir,
        "dst_dir": info.dst_dir,
        "phase_seconds": {str(major): seconds for major, seconds in sorted(info.phase_seconds.items())},
        "total_seconds": info.total_seconds,
        "copy_seconds": info.copy_seconds,
        "completed": info.completed,
        "started_at": info.started_at,
        "threads": info.threads,
        "buckets": info.buckets,
        "buffer": info.buffer,
        "plot_file": info.plot_file,
    }


def is_plot_log(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    return _head_is_plot_log(head)


def _head_is_plot_log(head: bytes) -> bool:
    return detect_log_plotter(head.decode("utf-8", "replace")) is not None


def read_log(path: str) -> LogInfo | None:
    """What the log file says, or None when it is no plot log (``is_plot_log``) or cannot be opened.

    The file is read once and parsed whole (a file bigger than ``_WHOLE_BYTES`` only once its head
    passed ``is_plot_log``). When the parser names the plotter from a complete line within the
    first ``_SNIFF_BYTES``, ``is_plot_log`` would say yes: that line, ended by ``\\n``, is in the
    head it looks at, and the signature that matched the line matches there too. Only otherwise
    (no plotter in the head, or ``\\r`` line ends, which the parser splits on and the signatures'
    ``$`` does not) does the head get ``is_plot_log``'s own test. OSError while reading on
    propagates, as from ``parse_log_file``.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            size = os.fstat(fd).st_size
            want = size + 1 if size < _WHOLE_BYTES else _SNIFF_BYTES
            data = os.read(fd, want)
        except OSError:
            return None
        parser = LogParser()
        parser.feed(data)
        named_in_head = parser.named_at is not None and parser.named_at <= _SNIFF_BYTES
        if (not named_in_head or data.find(b"\r", 0, _SNIFF_BYTES) >= 0) and not _head_is_plot_log(
            data[:_SNIFF_BYTES]
        ):
            return None
        if len(data) == want:  # a big file, or one that grew since fstat: read on
            read_into(parser, fd)
    finally:
        os.close(fd)
    parser.finish()
    return parser.info


def iter_log_files(directory: str, recurse: bool = False) -> Iterator[str]:
    """Regular files under a dir, sorted; raises OSError when the dir cannot be listed."""
    with os.scandir(directory) as entries:
        listed = sorted(entries, key=lambda e: e.name)
    for entry in listed:
        if entry.is_file(follow_symlinks=False):
            yield entry.path
        elif recurse and entry.is_dir(follow_symlinks=False):
            yield from iter_log_files(entry.path, recurse)


def read_logs(path: str, recurse: bool = False) -> tuple[list[dict], list[dict]]:
    """(records, ignored) for a log file or every plot log in a dir. Raises OSError."""
    if not os.path.isdir(path):
        return [log_record(path, parse_log_file(path))], []
    records, ignored = [], []
    for file_path in iter_log_files(path, recurse):
        info = read_log(file_path)
        if info is not None:
            records.append(log_record(file_path, info))
        else:
            ignored.append({"path": file_path, "reason": "not a plot log"})
    return records, ignored
