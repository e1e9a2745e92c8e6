"""Plot files: the one definition of their names, kinds and sizes, and where finished ones are.

Every part of plotfleet that meets a plot file (finished-plot discovery, kill clean-up, transfers,
harvester space and census, the size math of every free-space decision, log parsing) asks here.

Names, as the plotters write them:

- v1, uncompressed (chiapos, madMAx, Bladebit C0): ``plot-k32-2026-01-02-03-04-<64 hex id>.plot``;
- v1, Bladebit compressed: ``plot-k32-c05-2026-…-<id>.plot`` (the level zero-padded, C1-C9);
- v1, Gigahorse compressed: ``plot-k32-c8-2026-…-<id>.plot``, ``plot-k32-c18-…`` (not padded);
- v2 (proof of space 2): ``plot-k28-<64 hex id>.plot2`` -- no date, no compression (a strength
  that the name does not show).

A plot is finished when a file with its final name exists: every plotter writes under a temporary
name (``.plot.2.tmp``, ``.plot.tmp``, ``.plot2.tmp``) and renames when complete, and plotfleet's
transfers do the same on the harvester side (rsync's ``.<name>.XXXXXX``).

Sizes come from one table per format, k, plotter family and compression level. Expected sizes are
upper bounds for space guards, so they round up; nominal sizes are what a plot of that kind
typically takes (census estimates).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

V1 = "v1"
V2 = "v2"
FORMATS = (V1, V2)
BLADEBIT = "bladebit"  # names its compressed plots -c01 .. -c09
GIGAHORSE = "gigahorse"  # names its compressed plots -c1 .. -c9, -c18, -c30 (madMAx's GPU/CPU plotters)
FAMILIES = (BLADEBIT, GIGAHORSE)

V1_SUFFIX = ".plot"
V2_SUFFIX = ".plot2"
FINISHED_SUFFIXES = (V1_SUFFIX, V2_SUFFIX)

# The stem of a plot name (no extension), as it appears in a file name, a path or a log line:
# v1 with its date (and an optional compression level), v2 without. ``plot-mmx-`` is MMX's v1
# name from the same plotters; logs name those too. Python 3.9's re has no duplicate group
# names, so one pattern with optional parts covers both formats and ``_name_of`` checks the mix.
PLOT_STEM = (
    r"plot(?P<mmx>-mmx)?-k(?P<k>\d{2})(?:-c(?P<c>\d{1,2}))?"
    r"-(?:(?P<date>\d{4}-\d\d-\d\d-\d\d-\d\d)-)?(?P<id>[0-9a-f]{64})"
)
PLOT_STEM_RE = re.compile(PLOT_STEM)
PLOT_NAME_RE = re.compile(rf"^{PLOT_STEM}(?P<ext>\.plot2?)$")

GIB = 1024**3
# k32 plot sizes in GiB by plotter family and compression level (published figures). Bladebit:
# Chia's table. Gigahorse: madMAx's table gives C1 84.2, C9 68.1, C18 59.7, C30 43.3; C2-C8 are
# not published as text, so they are bounded from above by C1 less Bladebit's per-level step.
# A level not in a table counts as the nearest smaller level listed (a bigger plot: safe).
_UNCOMPRESSED_K32_GIB = 101.4
_K32_GIB = {
    BLADEBIT: {0: 101.4, 1: 87.5, 2: 86.0, 3: 84.4, 4: 82.8, 5: 81.2, 6: 79.6, 7: 78.0, 8: 76.4, 9: 75.2},
    GIGAHORSE: {0: 101.4, 1: 84.2, 2: 82.6, 3: 81.0, 4: 79.4, 5: 77.8, 6: 76.2, 7: 74.6, 8: 73.0, 9: 68.1,
                18: 59.7, 30: 43.3},
}
# v2: measured with chia-blockchain 2.7.5 (strength 2). k28 is the only mainnet size; smaller k
# (test plots) measured 53 MB at k24, 12 MB at k22, 0.65 MB at k18 -- below the 2**(k-28) scaling.
V2_K28_BYTES = 988_454_028
V2_MAINNET_K = 28
# Margins that turn a typical size into an upper bound. The v1 figures are already rounded up;
# the v2 size is one measured plot, and a plot's size varies a little with its id. Small k carry
# proportionally more fixed overhead (v1 k25 measured 0.626 GiB); k above the reference grows a
# little faster than 2**k (k33 208.8 GiB, k34 429.8 GiB).
_V2_MARGIN = 1.01
_SMALL_K_MARGIN = 1.05
_LARGE_K_GROWTH = 1.03


@dataclass(frozen=True, order=True)
class PlotKind:
    """What a plot file is, as far as space and replotting care: format, k, compression, family.

    ``compression`` is 0 for uncompressed v1 plots and for every v2 plot; ``family`` names the
    plotter whose compression table applies (None when uncompressed).
    """

    format: str = V1
    k: int = 32
    compression: int = 0
    family: str | None = None

    @property
    def key(self) -> str:
        """A stable identifier for grouping and JSON: ``v1-k32``, ``v1-k32-c7-bladebit``, ``v2-k28``."""
        base = f"{self.format}-k{self.k}"
        return f"{base}-c{self.compression}-{self.family}" if self.compression else base

    @property
    def label(self) -> str:
        """How a table shows it: ``v1 k32``, ``v1 k32 C7 bladebit``, ``v2 k28``."""
        base = f"{self.format} k{self.k}"
        return f"{base} C{self.compression} {self.family}" if self.compression else base

    def as_dict(self) -> dict:
        return {"kind": self.key, "format": self.format, "k": self.k, "compression": self.compression,
                "family": self.family}


@dataclass(frozen=True)
class PlotName:
    """A parsed plot file name: its kind, plot id and (v1 only) the minute its plotting began."""

    kind: PlotKind
    plot_id: str
    date: str | None = None  # YYYY-MM-DD-HH-MM as in the name; v2 names carry none

    @property
    def started_at(self) -> str | None:
        """The date in the name as ISO 8601 (minute precision), None for v2."""
        return name_date_to_iso(self.date)


def name_date_to_iso(date: str | None) -> str | None:
    """A name's ``YYYY-MM-DD-HH-MM`` as ISO 8601 (``2026-01-02T03:04:00``); None stays None (v2)."""
    if not date:
        return None
    year, month, day, hour, minute = date.split("-")
    return f"{year}-{month}-{day}T{hour}:{minute}:00"


def is_finished_plot_name(name: str) -> bool:
    """Whether a file name is a finished plot's (``*.plot``, ``*.plot2``, not hidden).

    Hidden names are rsync's temp files (``.<name>.XXXXXX``); anything ending otherwise is a
    plotter's temp file. A finished plot with a non-standard name still counts (kind unknown).
    """
    return name.endswith(FINISHED_SUFFIXES) and not name.startswith(".")


def _family_of(level_text: str) -> str:
    """Bladebit zero-pads its level to two digits (c05); Gigahorse does not (c8, c18)."""
    return BLADEBIT if len(level_text) == 2 and level_text[0] == "0" else GIGAHORSE


def _name_of(match: re.Match) -> PlotName | None:
    """The plot name a stem match describes, None when its parts do not make a known format."""
    level_text, date, ext = match.group("c"), match.group("date"), match.groupdict().get("ext")
    if match.group("mmx"):
        return None  # MMX plots are not Chia's: never counted, sized or replaced as such
    k = int(match.group("k"))
    if date is None:  # v2: no date, no level, and (in a file name) the .plot2 extension
        if level_text is not None or ext == V1_SUFFIX:
            return None
        return PlotName(PlotKind(V2, k), match.group("id"))
    if ext == V2_SUFFIX:
        return None
    if level_text is None or int(level_text) == 0:
        return PlotName(PlotKind(V1, k), match.group("id"), date)
    return PlotName(PlotKind(V1, k, int(level_text), _family_of(level_text)), match.group("id"), date)


def parse_plot_name(name: str) -> PlotName | None:
    """The kind, plot id and date of a finished plot's file name; None when it is not a standard name."""
    match = PLOT_NAME_RE.match(name)
    return _name_of(match) if match else None


def find_plot_name(text: str) -> tuple[PlotName, str] | None:
    """The first plot name in a path or log line, with the stem as written; None when none."""
    for match in PLOT_STEM_RE.finditer(text):
        parsed = _name_of(match)
        if parsed is not None:
            return parsed, match.group(0)
    return None


def prefix_matches(plot_id: str | None, pid: int, prefix: str) -> bool:
    """Whether a job (or its plot) is named by prefix: a plot-id prefix, or ``pid:N`` for a job with no id yet."""
    prefix = prefix.strip().lower()
    if prefix.startswith("pid:"):
        return prefix[4:] == str(pid)
    return bool(plot_id) and plot_id.startswith(prefix)


def plot_kind(name: str) -> PlotKind | None:
    """The kind of a finished plot from its file name; None when the name is not a standard one."""
    parsed = parse_plot_name(name)
    return parsed.kind if parsed else None


def kind_for_plotter(plotter: str | None, k: int | None = None, compression: int | None = None,
                     plot_format: str | None = None) -> PlotKind:
    """The kind of plot a job makes, from what its command line says.

    v2 when ``plot_format`` says so or the plotter type names v2; a compression level belongs to
    Gigahorse when the plotter is madMAx's (``gigahorse``, ``cuda_plot``, ``madmax``' ``-C``), else
    to Bladebit -- whose sizes are the larger, so an unknown plotter is bounded safely.
    """
    name = (plotter or "").lower()
    if plot_format == V2 or (plot_format is None and "v2" in name):
        return PlotKind(V2, V2_MAINNET_K if k is None else k)
    k = 32 if k is None else k
    if not compression:
        return PlotKind(V1, k)
    family = GIGAHORSE if any(part in name for part in ("gigahorse", "cuda_plot", "madmax")) else BLADEBIT
    return PlotKind(V1, k, compression, family)


def _k32_gib(kind: PlotKind) -> float:
    if not kind.compression:
        return _UNCOMPRESSED_K32_GIB
    table = _K32_GIB.get(kind.family or BLADEBIT, _K32_GIB[BLADEBIT])
    known = [level for level in table if level <= kind.compression]
    return table[max(known)]


def nominal_plot_bytes(kind: PlotKind) -> int:
    """What a finished plot of this kind typically takes (census estimates, not space guards)."""
    if kind.format == V2:
        return int(V2_K28_BYTES * 2.0 ** (kind.k - V2_MAINNET_K))
    return int(_k32_gib(kind) * GIB * 2.0 ** (kind.k - 32))


def _bound(kind: PlotKind) -> float:
    reference = V2_MAINNET_K if kind.format == V2 else 32
    size = nominal_plot_bytes(kind) * (_V2_MARGIN if kind.format == V2 else 1.0)
    if kind.k < reference and kind.format == V1:
        size *= _SMALL_K_MARGIN
    elif kind.k > reference:
        size *= _LARGE_K_GROWTH ** (kind.k - reference)
    return size


def expected_plot_bytes(kind: PlotKind | int | None = None, compression: int | None = None,
                        family: str | None = None) -> int:
    """An upper bound of a finished plot's size, rounded up to a MiB.

    ``kind`` is a PlotKind, or (as before kinds existed) a v1 k with an optional compression
    level and family; k unknown counts as k32, and a level of unknown family as Bladebit's.
    """
    if not isinstance(kind, PlotKind):
        kind = PlotKind(V1, 32 if kind is None else kind, compression or 0,
                        (family or BLADEBIT) if compression else None)
    mib = 1024**2
    return math.ceil(_bound(kind) / mib) * mib


@dataclass(frozen=True)
class PlotFile:
    path: str
    name: str
    size_bytes: int
    mtime: float
    plot_id: str | None
    k: int | None
    device: int
    kind: PlotKind | None = None

    def as_dict(self) -> dict:
        data = {
            "path": self.path,
            "name": self.name,
            "size_bytes": self.size_bytes,
            "mtime": self.mtime,
            "plot_id": self.plot_id,
            "k": self.k,
        }
        data.update(self.kind.as_dict() if self.kind else {"kind": None, "format": None, "compression": None,
                                                           "family": None})
        return data


def list_plots(directory: str) -> list[PlotFile]:
    """Finished plots (``.plot``, ``.plot2``) directly in a directory, oldest first. Raises OSError."""
    plots = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not is_finished_plot_name(entry.name):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:  # renamed or removed while we looked
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            parsed = parse_plot_name(entry.name)
            plots.append(PlotFile(entry.path, entry.name, info.st_size, info.st_mtime,
                                  parsed.plot_id if parsed else None, parsed.kind.k if parsed else None,
                                  info.st_dev, parsed.kind if parsed else None))
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


# --- census: what a set of finished plots is made of ------------------------------------------

UNKNOWN_KIND = "unknown"  # finished plots whose names are not standard: counted, never sized by kind


def plot_census(plots: Iterable[tuple[str, int, float]], since: float, window_seconds: float) -> dict:
    """Plots and bytes by kind from (name, size, mtime) of finished plots, plus those whose mtime
    is ``since`` or later (the recent arrivals a replot rate is measured from).

    Plain counters only -- no per-plot data -- so the result stays small with 100,000 plots.
    """
    counters: dict[str, list] = {}
    kinds: dict[str, PlotKind | None] = {}
    known: dict[str, PlotKind] = {}  # kind part of a name -> its kind, for _kind_of_name
    keys: dict[PlotKind | None, str] = {None: UNKNOWN_KIND}
    for name, size, mtime in plots:
        kind = _kind_of_name(name, known)
        key = keys.get(kind)
        if key is None:
            key = keys[kind] = kind.key
        row = counters.get(key)
        if row is None:
            row = counters[key] = [0, 0, 0, 0, None]
            kinds[key] = kind
        row[0] += 1
        row[1] += size
        if mtime >= since:
            row[2] += 1
            row[3] += size
        if row[4] is None or mtime > row[4]:
            row[4] = mtime
    entries = []
    for key in counters:
        count, size, recent, recent_size, newest = counters[key]
        kind = kinds[key]
        entry = kind.as_dict() if kind else {"kind": UNKNOWN_KIND, "format": None, "k": None, "compression": None,
                                             "family": None}
        entry.update({"plots": count, "bytes": size, "recent_plots": recent, "recent_bytes": recent_size,
                      "newest_mtime": newest})
        entries.append(entry)
    return {"window_seconds": int(window_seconds), "since": since, "kinds": sorted(entries, key=_census_order)}


_HEX = frozenset("0123456789abcdef")
_DATE_DASHES = (4, 7, 10, 13, 16)  # in "YYYY-MM-DD-HH-MM-"


def _kind_of_name(name: str, known: dict[str, PlotKind]) -> PlotKind | None:
    """``plot_kind(name)``, fast for many names of few kinds: the regex runs once per kind part
    (``plot-k32-c05-``, ``plot-k28-``) and later names of that part only have their id and date
    checked by hand -- the same answer as the regex, several times faster over 100,000 names."""
    ext = V2_SUFFIX if name.endswith(V2_SUFFIX) else V1_SUFFIX
    stem = name[: -len(ext)]
    plot_id, head = stem[-64:], stem[:-64]
    if ext == V1_SUFFIX:
        date, part = head[-17:], head[:-17]
        if len(date) != 17 or any(date[i] != "-" for i in _DATE_DASHES) or not date.replace("-", "").isdigit():
            return plot_kind(name)
    else:
        part = head
    kind = known.get(part + ext)
    if kind is None or len(plot_id) != 64 or not _HEX.issuperset(plot_id):
        kind = plot_kind(name)
        if kind is not None:
            known[part + ext] = kind
    return kind


def merge_census(censuses: Iterable[Mapping]) -> dict:
    """One census from several (a host's dirs, or the fleet's hosts): counters add up per kind."""
    merged: dict[str, dict] = {}
    window, since = 0, None
    for census in censuses:
        window = max(window, int(census.get("window_seconds") or 0))
        since = census.get("since") if since is None else since
        for entry in census.get("kinds") or []:
            key = entry.get("kind") or "-".join(str(entry.get(part)) for part in ("format", "k", "compression",
                                                                                   "family"))
            into = merged.get(key)
            if into is None:
                merged[key] = dict(entry)
                continue
            for field_name in ("plots", "bytes", "recent_plots", "recent_bytes"):
                into[field_name] += entry.get(field_name) or 0
            newest = [value for value in (into.get("newest_mtime"), entry.get("newest_mtime")) if value is not None]
            into["newest_mtime"] = max(newest) if newest else None
    entries = sorted(merged.values(), key=_census_order)
    return {"window_seconds": window, "since": since, "kinds": entries}


def _census_order(entry: Mapping) -> tuple:
    if entry.get("format") is None:
        return (1, "", 0, 0, "")
    return (0, entry["format"], entry.get("k") or 0, entry.get("compression") or 0, entry.get("family") or "")
