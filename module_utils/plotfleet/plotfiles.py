"""Finished plot files: names, sizes, and where they are.

A plot is finished when a file named ``*.plot`` exists: every plotter writes under a temporary
name (``.plot.2.tmp``, ``.plot.tmp``) and renames when complete, and plotfleet's transfers do
the same on the harvester side. Expected sizes are for space guards, so they round up.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

PLOT_NAME = re.compile(
    r"^plot-k(?P<k>\d{2})(?:-c(?P<c>\d{2}))?-(?P<date>\d{4}-\d{2}-\d{2}-\d{2}-\d{2})-(?P<id>[0-9a-f]{64})\.plot$"
)

# Upper bounds of k32 plot size by compression level C0..C9, in GiB (Chia's published figures,
# rounded up); other k scale by 2**(k - 32) with a little extra for the smaller tables' overhead.
_K32_GIB_BY_COMPRESSION = (101.4, 87.5, 86.0, 84.4, 82.8, 81.2, 79.6, 78.0, 76.4, 75.2)
_GIB = 1024**3


@dataclass(frozen=True)
class PlotFile:
    path: str
    name: str
    size_bytes: int
    mtime: float
    plot_id: str | None
    k: int | None
    device: int

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "name": self.name,
            "size_bytes": self.size_bytes,
            "mtime": self.mtime,
            "plot_id": self.plot_id,
            "k": self.k,
        }


def parse_plot_name(name: str) -> tuple[int | None, str | None]:
    """(k, plot id) from a plot file name, (None, None) when it is not a standard name."""
    match = PLOT_NAME.match(name)
    if not match:
        return None, None
    return int(match.group("k")), match.group("id")


def expected_plot_bytes(k: int | None, compression: int | None = None) -> int:
    """An upper bound of a finished plot's size; k unknown counts as k32."""
    k = 32 if k is None else k
    level = min(max(compression or 0, 0), len(_K32_GIB_BY_COMPRESSION) - 1)
    gib = _K32_GIB_BY_COMPRESSION[level] * 2.0 ** (k - 32)
    if k < 32:  # small plots carry proportionally more fixed overhead (k25 measured 0.626 GiB)
        gib *= 1.05
    return int(gib * _GIB)


def list_plots(directory: str) -> list[PlotFile]:
    """Complete ``.plot`` files directly in a directory, oldest first. Raises OSError."""
    plots = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.name.endswith(".plot") or entry.name.startswith("."):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:  # renamed or removed while we looked
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            k, plot_id = parse_plot_name(entry.name)
            plots.append(PlotFile(entry.path, entry.name, info.st_size, info.st_mtime, plot_id, k, info.st_dev))
    return sorted(plots, key=lambda p: (p.mtime, p.name))


@dataclass(frozen=True)
class DiskSpace:
    free_bytes: int
    total_bytes: int
    device: int


def disk_space(path: str) -> DiskSpace:
    """Space available to unprivileged writers (what a plotter or rsync can use). Raises OSError."""
    vfs = os.statvfs(path)
    return DiskSpace(vfs.f_bavail * vfs.f_frsize, vfs.f_blocks * vfs.f_frsize, os.stat(path).st_dev)
