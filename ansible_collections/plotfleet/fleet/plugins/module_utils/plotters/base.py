"""What every plotter description provides: plain data shared by jobs, scheduler and logs.

A plotter (chiapos, madMAx, Bladebit) is described by a ``Plotter`` value: how to recognise and
parse its command line, a table of log-line rules that move the phase, how to tell its log from
its content, and how to build the command that starts a job. Adding a plotter version is adding
rules to a table, not editing a parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True, order=True)
class Phase:
    """plotman's phase numbering: major 1-4 for the plot phases, 5 for copy/rename, 0 unknown."""

    major: int = 0
    minor: int = 0

    @property
    def known(self) -> bool:
        return self.major > 0

    def __str__(self) -> str:
        return f"{self.major}:{self.minor}" if self.known else "?:?"

    def as_dict(self) -> dict[str, int]:
        return {"major": self.major, "minor": self.minor}


@dataclass
class JobArgs:
    """What a plot job's command line says. Paths are absolute (resolved against the job's cwd)."""

    plotter: str
    k: int | None = None
    tmp_dir: str | None = None
    tmp2_dir: str | None = None
    dst_dir: str | None = None
    threads: int | None = None
    buckets: int | None = None
    buffer: int | None = None  # MiB
    count: int = 1  # plots this process makes; 0 = until stopped (madMAx -n -1, bladebit -n 0)
    farmer_pk: str | None = None
    pool_pk: str | None = None
    pool_contract_address: str | None = None
    compression: int | None = None
    plot_id: str | None = None  # when the command line fixes it (chia -i)
    mode: str | None = None  # bladebit: ramplot | diskplot | cudaplot
    stage_dir: str | None = None  # madMAx -s: where the plot file is written before the final copy
    tmp3_dir: str | None = None  # Gigahorse -3: the third temp dir of its disk mode
    dst_dirs: tuple[str, ...] = ()  # every destination when the plotter rotates them (bladebit, Gigahorse)
    # "chia plotters" when a chia launcher process runs (or is) the plotter; a launcher's child
    # plotter process then parses to the same job.
    launcher: str | None = None


@dataclass
class PlotResult:
    """What a log said of one plot it began, kept when the log goes on to the next plot (-n)."""

    plot_id: str | None
    plot_name: str | None
    k: int | None
    compression: int | None
    started_at: str | None
    phase: Phase
    phase_seconds: dict[int, float]
    total_seconds: float | None
    copy_seconds: float | None
    completed: bool
    plot_file: str | None


@dataclass
class LogInfo:
    """What a plot log says so far. Every field may be unknown (None) until its line is seen."""

    plotter: str | None = None
    plot_id: str | None = None
    k: int | None = None
    tmp_dir: str | None = None
    tmp2_dir: str | None = None
    dst_dir: str | None = None
    threads: int | None = None
    buckets: int | None = None
    buffer: int | None = None  # MiB
    phase: Phase = field(default_factory=Phase)
    phase_seconds: dict[int, float] = field(default_factory=dict)  # major phase -> seconds
    total_seconds: float | None = None
    copy_seconds: float | None = None  # moving the finished plot to dst (copy, rename, final write-out)
    started_at: str | None = None  # ISO 8601, local time of the plotter as the log shows it
    completed: bool = False
    plot_file: str | None = None  # final plot path once the log names it
    process_id: int | None = None  # the plotter's pid as the log prints it (chiapos, madMAx)
    version: str | None = None  # chia version, madMAx git hash or bladebit version
    compression: int | None = None  # compression level (bladebit, Gigahorse); 0 when uncompressed
    mode: str | None = None  # bladebit: ramplot | diskplot | cudaplot
    stage_dir: str | None = None  # madMAx: where the plot is written before the copy to dst_dir
    plot_name: str | None = None  # plot file name without directory or suffix, once known
    plots_started: int = 0  # plots begun in this log; the fields above describe the last one
    plot_number: int | None = None  # the last plot's number in its run, as the log counts (1-based)
    plots_planned: int | None = None  # plots the run makes (-n); 0 = until stopped
    tmp3_dir: str | None = None  # Gigahorse disk mode: "Working Directory 3"
    # The plots begun before the last one, oldest first; a copy that finishes while the next plot
    # is made (madMAx, Gigahorse) completes its entry here.
    earlier_plots: list[PlotResult] = field(default_factory=list)

    def plots(self) -> list[PlotResult]:
        """Every plot this log began, oldest first, the one in progress (or last) included."""
        started = self.plots_started or self.plot_id is not None
        return [*self.earlier_plots, current_plot(self)] if started else list(self.earlier_plots)


def current_plot(info: LogInfo) -> PlotResult:
    return PlotResult(
        plot_id=info.plot_id,
        plot_name=info.plot_name,
        k=info.k,
        compression=info.compression,
        started_at=info.started_at,
        phase=info.phase,
        phase_seconds=dict(info.phase_seconds),
        total_seconds=info.total_seconds,
        copy_seconds=info.copy_seconds,
        completed=info.completed,
        plot_file=info.plot_file,
    )


# A rule is applied to each complete line: if its regex matches, its action updates the info.
LogAction = Callable[[LogInfo, "re.Match[str]"], None]


@dataclass(frozen=True)
class LogRule:
    """``regex`` is matched at the start of a line; ``prefix`` is a literal every matching line
    starts with, so a parser can skip the regex for most lines with a cheap string test. A rule
    without a prefix names in ``contains`` a literal every matching line contains, if it can: the
    parser then finds its lines with a substring search instead of trying it on every line.

    A rule with a ``phase`` says only that the phase has come that far, and matches every line
    that starts with its prefix (its regex is the prefix): a parser that found the prefix may
    apply it without decoding or matching the line. Its ``action`` does the same for the others."""

    regex: str
    action: LogAction
    prefix: str = ""
    contains: str = ""
    phase: Phase | None = None

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """Compiled when a log of this plotter is first read, not at import: a module run that reads
        no log, or one plotter's, compiles no other plotter's rules (over 100 regexes in all)."""
        return re.compile(self.regex)


@dataclass(frozen=True)
class LogNoise:
    """Lines a plotter prints by the thousand and no rule wants: those starting with ``start``.

    ``min_length`` is a fact of the plotter's output format: every line that starts so has at least
    that many characters before its line break. The scan skips that many characters of each such
    line without looking at them, so it must hold for every line starting with ``start``.
    """

    start: str
    min_length: int


@dataclass(frozen=True)
class Plotter:
    """Data and small functions describing one plotter."""

    name: str  # "chia" | "madmax" | "bladebit"
    # argv (as /proc shows it) -> the plotter's own arguments after program/subcommand, or None
    # when this argv is not a job of this plotter (another program, --help, a wrapper shell).
    match_command: Callable[[Sequence[str]], Sequence[str] | None]
    # (plotter arguments, process cwd) -> JobArgs, or None when unparsable.
    parse_args: Callable[[Sequence[str], str], JobArgs | None]
    log_rules: tuple[LogRule, ...]
    # A pattern that only this plotter's log contains near its start.
    log_signature: re.Pattern[str]
    # (the plotting config section for this plotter, plotting keys, tmp, tmp2, dst) -> argv
    build_command: Callable[[Mapping[str, Any], Mapping[str, Any], str, str | None, str], list[str]]
    # Literal strings one of which the signature needs: a substring test is far cheaper than the
    # regex on text that is not a plot log at all (most of a log dir's other files).
    log_markers: tuple[str, ...] = ()
    # Lines that no rule wants and that most lines of a long log are (chiapos' per-bucket lines):
    # the candidate scan passes over a run of them without trying any prefix. No rule's prefix may
    # start with a noise start, nor be the start of one.
    log_noise: tuple[LogNoise, ...] = ()
