"""Small pieces the plotters' log rule tables share."""

from __future__ import annotations

import re
from collections.abc import Callable

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import PLOT_STEM_RE, name_date_to_iso
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import (
    LogAction,
    LogInfo,
    LogRule,
    Phase,
    PlotResult,
    current_plot,
)

# Fields that describe one plot; a log of several plots (-n 3) starts them afresh for each plot.
# Configuration fields (dirs, threads, buckets, k, version, pid) carry over.
_PER_PLOT_DEFAULTS = {
    "plot_id": None,
    "phase_seconds": dict,
    "total_seconds": None,
    "copy_seconds": None,
    "started_at": None,
    "completed": False,
    "plot_file": None,
    "plot_name": None,
    "plot_number": None,
}

_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}

# The one definition of a plot name (plotfiles): plot-k32-2021-07-14-21-56-<id>, plot-k32-c05-…
# (Bladebit), plot-k32-c8-… (Gigahorse), plot-mmx-k30-…, and v2's plot-k28-<id> (no date).
PLOT_NAME = PLOT_STEM_RE
SECONDS = r"(\d+(?:\.\d*)?(?:e[+-]?\d+)?)"  # madMAx prints doubles with iostream's default format


def rule(prefix: str, rest: str, action: LogAction) -> LogRule:
    """A rule for lines that start with the literal ``prefix`` followed by the regex ``rest``."""
    return LogRule(re.escape(prefix) + rest, action, prefix)


def phase_line(prefix: str, major: int, minor: int = 0) -> LogRule:
    """A rule for lines that start with the literal ``prefix`` and say only that the phase has come
    to ``major:minor``, whatever follows (a duration, a count)."""
    return LogRule(re.escape(prefix), to(major, minor), prefix, phase=Phase(major, minor))


def advance(info: LogInfo, major: int, minor: int = 0) -> None:
    """Move the phase forward only: lines of another thread (a copy finishing) never set it back."""
    current = info.phase
    if major > current.major or (major == current.major and minor > current.minor):
        info.phase = _PHASES.get((major, minor)) or Phase(major, minor)


# The phases the rules name, made once: Phase is frozen, so one value serves every log.
_PHASES = {(major, minor): Phase(major, minor) for major in range(6) for minor in range(10)}


def to(major: int, minor: int = 0) -> LogAction:
    phase = Phase(major, minor)

    def action(info: LogInfo, match: re.Match[str]) -> None:
        current = info.phase
        if major > current.major or (major == current.major and minor > current.minor):
            info.phase = phase

    return action


def to_minor(major: int, minor_of: Callable[[int], int]) -> LogAction:
    """Phase ``major``, minor computed from the line's first group (a table number)."""
    phases: dict[str, Phase] = {}  # group text -> phase, for the few table numbers a log has

    def action(info: LogInfo, match: re.Match[str]) -> None:
        text = match.group(1)
        phase = phases.get(text)
        if phase is None:
            phase = Phase(major, minor_of(int(text)))
            if len(phases) < 64:
                phases[text] = phase
        current = info.phase
        if major > current.major or (major == current.major and phase.minor > current.minor):
            info.phase = phase

    return action


def new_plot(info: LogInfo) -> None:
    """A new plot begins in the same log: keep the previous plot's results aside, start afresh."""
    if info.plots_started or info.plot_id is not None:
        info.earlier_plots.append(current_plot(info))
    for name, default in _PER_PLOT_DEFAULTS.items():
        setattr(info, name, default() if callable(default) else default)
    info.phase = Phase()
    info.plots_started += 1


def set_int(name: str) -> LogAction:
    def action(info: LogInfo, match: re.Match[str]) -> None:
        setattr(info, name, int(match.group(1)))

    return action


def set_dir(name: str) -> LogAction:
    def action(info: LogInfo, match: re.Match[str]) -> None:
        setattr(info, name, clean_dir(match.group(1)))

    return action


def set_text(name: str) -> LogAction:
    def action(info: LogInfo, match: re.Match[str]) -> None:
        setattr(info, name, match.group(1))

    return action


def phase_seconds(info: LogInfo, major: int, seconds: str) -> None:
    info.phase_seconds[major] = float(seconds)


def clean_dir(path: str) -> str | None:
    """A directory as the log prints it, without the trailing slash madMAx and bladebit add."""
    path = path.strip()
    if not path or path == "$PWD":
        return None
    stripped = path.rstrip("/\\")
    return stripped or path[:1]


def parent_dir(path: str) -> str | None:
    """The dir of a path as a log prints it, POSIX or Windows (``Q:\\NFT\\x.plot.tmp``)."""
    cut = max(path.rfind("/"), path.rfind("\\"))
    return clean_dir(path[: cut + 1]) if cut >= 0 else None


def is_current_plot(info: LogInfo, path: str) -> bool:
    """Whether a copy/rename line is about the plot in progress, not a previous one still copying."""
    return info.plot_id is None or info.plot_id in path


def earlier_plot(info: LogInfo, path: str) -> PlotResult | None:
    """The earlier plot a copy line names (the newest with that id).

    A plot whose own lines are not in the log (a log that starts mid-run, or was rotated) is
    added from its file name: its copy still shows where this run's plots go.
    """
    for plot in reversed(info.earlier_plots):
        if plot.plot_id is not None and plot.plot_id in path:
            return plot
    match = PLOT_NAME.search(path)
    if match is None:
        return None
    plot = PlotResult(
        plot_id=match.group("id"),
        plot_name=match.group(0),
        k=int(match.group("k")),
        compression=int(match.group("c")) if match.group("c") is not None else 0,
        started_at=name_date_to_iso(match.group("date")),
        phase=Phase(5, 0),
        phase_seconds={},
        total_seconds=None,
        copy_seconds=None,
        completed=False,
        plot_file=None,
    )
    info.earlier_plots.append(plot)
    if info.dst_dir is None and not path.startswith("@"):
        info.dst_dir = parent_dir(path)
    return plot


def advance_earlier(plot: PlotResult, major: int, minor: int) -> None:
    phase = Phase(major, minor)
    if phase > plot.phase:
        plot.phase = phase


def finish_earlier(info: LogInfo, path: str, major: int, minor: int, copy_seconds: float | None = None) -> None:
    """An earlier plot's copy to dst finished while this log went on with the next plot."""
    plot = earlier_plot(info, path)
    if plot is None:
        return
    advance_earlier(plot, major, minor)
    plot.completed = True
    plot.plot_file = path
    if copy_seconds is not None:
        plot.copy_seconds = copy_seconds


def finish_plot(info: LogInfo, path: str, major: int, minor: int) -> None:
    if not is_current_plot(info, path):
        return
    advance(info, major, minor)
    info.completed = True
    info.plot_file = path
    if info.dst_dir is None:
        info.dst_dir = parent_dir(path)
    from_plot_name(info, path)


def from_plot_name(info: LogInfo, name: str) -> None:
    """Fill plot id, k and (minute precision) start time from a plot file name."""
    match = PLOT_NAME.search(name)
    if match is None:
        return
    info.plot_name = match.group(0)
    info.plot_id = match.group("id")
    info.k = int(match.group("k"))
    # The name is the plot's own word on its level: no -cN means uncompressed.
    info.compression = int(match.group("c")) if match.group("c") is not None else 0
    if info.started_at is None:
        info.started_at = name_date_to_iso(match.group("date"))


_CLOCK = re.compile(r"\d\d:\d\d:\d\d")


def ctime_to_iso(text: str) -> str | None:
    """``Wed Nov 25 08:18:51 2026`` (C's ctime, as chiapos prints it) -> ``2026-11-25T08:18:51``.

    Parsed by hand: strptime's %a/%b follow the locale, the log's names are always English.
    """
    parts = text.split()
    if len(parts) != 5 or parts[1] not in _MONTHS:
        return None
    _, month, day, clock, year = parts
    if not (day.isdigit() and year.isdigit() and _CLOCK.fullmatch(clock)):
        return None
    return f"{year}-{_MONTHS[month]:02d}-{int(day):02d}T{clock}"
