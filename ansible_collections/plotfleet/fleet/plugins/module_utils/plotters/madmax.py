"""madMAx: ``chia_plot`` (``chia_plot_k34``) and ``chia plotters madmax``.

Facts from madMAx43v3r/chia-plotter (``src/chia_plot.cpp``, ``include/chia/phase*.hpp``) and
chia-blockchain (``chia/plotters/plotters.py``, ``madmax.py``). Phases follow plotman: 1:1 at the
plot name, 1:N+1 after table N of phase 1, 2:1 at max_table_size, 2:9-N after rewriting table N,
3:0/3:1 around the plot header, 3:N after table N of phase 3, 4:1 C1/C3 tables, 4:2 C2 table,
5:0 done plotting, 5:1 copy to dst started, 5:2 plot in place.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import logtools as lt
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.argv import (
    ARGPARSE,
    CXXOPTS,
    FLAG,
    ArgvError,
    Opt,
    has_help,
    hex_id,
    int_value,
    native_or_chia_plotters,
    option,
    parse_options,
    resolve,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import JobArgs, LogInfo, LogRule, Plotter
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.chia import key_options

NAME = "madmax"
CHIA_PLOT = "chia_plot"
PLOTTERS_MADMAX = "plotters madmax"
_PROGRAMS = frozenset({"chia_plot", "chia_plot_k34"})

# chia_plot's cxxopts table. Unknown options are ignored (allow_unrecognised_options).
_OPTIONS = (
    Opt(("-k", "--size"), "k"),
    Opt(("-C", "--level"), "level"),  # Gigahorse's CPU chia_plot; madMAx's own ignores it
    Opt(("-x", "--port"), "port"),
    Opt(("-i", "--id"), "plot_id"),
    Opt(("-n", "--count"), "count"),
    Opt(("-r", "--threads"), "threads"),
    Opt(("-u", "--buckets"), "buckets"),
    Opt(("-v", "--buckets3"), "buckets3"),
    Opt(("-t", "--tmpdir"), "tmp"),
    Opt(("-2", "--tmpdir2"), "tmp2"),
    Opt(("-d", "--finaldir"), "dst"),
    Opt(("-s", "--stagedir"), "stage"),
    Opt(("-w", "--waitforcopy"), "waitforcopy", FLAG),
    Opt(("-p", "--poolkey"), "pool_pk"),
    Opt(("-c", "--contract"), "contract"),
    Opt(("-f", "--farmerkey"), "farmer_pk"),
    Opt(("-G", "--tmptoggle"), "tmptoggle", FLAG),
    Opt(("-D", "--directout"), "directout", FLAG),
    Opt(("-Z", "--unique"), "unique", FLAG),
    Opt(("-K", "--rmulti2"), "rmulti2"),
    Opt(("--version",), "version", FLAG),
    Opt(("--help",), "help", FLAG),
)

# `chia plotters madmax` (argparse); -t and -d are required there.
_PLOTTERS_OPTIONS = (
    Opt(("-k", "--size"), "k"),
    Opt(("-n", "--count"), "count"),
    Opt(("-r", "--threads"), "threads"),
    Opt(("-u", "--buckets"), "buckets"),
    Opt(("-v", "--buckets3"), "buckets3"),
    Opt(("-t", "--tmp_dir"), "tmp"),
    Opt(("-2", "--tmp_dir2"), "tmp2"),
    Opt(("-w", "--waitforcopy"), "waitforcopy", FLAG),
    Opt(("-p", "--pool-key"), "pool_pk"),
    Opt(("-f", "--farmerkey"), "farmer_pk"),
    Opt(("-c", "--contract"), "contract"),
    Opt(("-G", "--tmptoggle"), "tmptoggle", FLAG),
    Opt(("-K", "--rmulti2"), "rmulti2"),
    Opt(("-D", "--connect-to-daemon"), "connect_to_daemon", FLAG),
    Opt(("-d", "--final_dir"), "dst"),
)


def match_command(argv: Sequence[str]) -> Sequence[str] | None:
    return native_or_chia_plotters(argv, _PROGRAMS, CHIA_PLOT, "madmax", PLOTTERS_MADMAX)


def parse_args(args: Sequence[str], cwd: str) -> JobArgs | None:
    if getattr(args, "form", CHIA_PLOT) == PLOTTERS_MADMAX:
        return _parse_plotters(args, cwd)
    return _parse_chia_plot(args, cwd)


def _parse_chia_plot(args: Sequence[str], cwd: str) -> JobArgs | None:
    # chia_plot prints its help when run without arguments; -h is not one of its options.
    if not args:
        return None
    values, _ = parse_options(args, _OPTIONS, CXXOPTS)
    if values.get("help") or values.get("version"):
        return None
    # madMAx refuses to start without -t. It also wants a trailing slash on every dir; plotfleet
    # accepts dirs without one, since paths are normalised for comparison anyway.
    tmp = resolve(cwd, values.get("tmp"))
    if tmp is None:
        raise ArgvError("chia_plot needs -t")
    count = int_value(values, "count", 1)
    return JobArgs(
        plotter=NAME,
        k=int_value(values, "k", 32),
        tmp_dir=tmp,
        tmp2_dir=resolve(cwd, values.get("tmp2")),
        dst_dir=resolve(cwd, values.get("dst")) or tmp,
        threads=int_value(values, "threads", 4),
        buckets=_buckets(int_value(values, "buckets", 256)),
        count=0 if count < 0 else count,
        farmer_pk=values.get("farmer_pk"),
        pool_pk=values.get("pool_pk"),
        pool_contract_address=values.get("contract"),
        # Gigahorse's chia_plot (default level 1) and madMAx's (no levels) share their name; without
        # -C the log's "Compression Level" line tells, and 0 is the safe (largest plot) guess.
        compression=int_value(values, "level", 0),
        plot_id=hex_id(values.get("plot_id")),
        stage_dir=resolve(cwd, values.get("stage")),
    )


def _parse_plotters(args: Sequence[str], cwd: str) -> JobArgs | None:
    if has_help(args):
        return None
    values, rest = parse_options(args, _PLOTTERS_OPTIONS, ARGPARSE)
    if rest:
        raise ArgvError(f"unrecognized argument {rest[0]!r}")
    if "tmp" not in values or "dst" not in values:
        raise ArgvError("chia plotters madmax needs -t and -d")
    count = int_value(values, "count", 1)
    return JobArgs(
        plotter=NAME,
        k=int_value(values, "k", 32),
        tmp_dir=resolve(cwd, values["tmp"]),
        tmp2_dir=resolve(cwd, values.get("tmp2")),
        dst_dir=resolve(cwd, values["dst"]),
        threads=int_value(values, "threads", 4),
        buckets=_buckets(int_value(values, "buckets", 256)),
        count=0 if count < 0 else count,
        farmer_pk=values.get("farmer_pk"),
        pool_pk=values.get("pool_pk"),
        pool_contract_address=values.get("contract"),
        compression=0,
        launcher="chia plotters",
    )


def _buckets(number: int) -> int:
    """madMAx reads -u 256 as 2^8 and -u 8 as 2^8 too (values below 16 are exponents)."""
    exponent = int(math.log2(number)) if number >= 16 else number
    if not 4 <= exponent <= 16:
        raise ArgvError(f"buckets out of range: {number}")
    return 1 << exponent



def _dir(path: str) -> str:
    return path if path.endswith(("/", "\\")) else path + "/"


def build_command(
    section: Mapping[str, Any] | Any, plotting: Mapping[str, Any] | Any, tmp: str, tmp2: str | None, dst: str
) -> list[str]:
    """``chia_plot`` for one plot, from the ``plotting.madmax`` options (plotman's names)."""
    argv = [
        str(option(section, "executable", "chia_plot")),
        "-n", "1",
        "-r", str(option(section, "n_threads", 4)),
        "-u", str(option(section, "n_buckets", 256)),
        "-v", str(option(section, "n_buckets3", 256)),
        "-K", str(option(section, "n_rmulti2", 1)),
        "-t", _dir(tmp),
        "-d", _dir(dst),
    ]  # fmt: skip
    if tmp2:
        argv += ["-2", _dir(tmp2)]
    return argv + key_options(plotting, "-f", "-p", "-c")


# --- log ---------------------------------------------------------------------------------------

_SECONDS = lt.SECONDS


def _header(info: LogInfo, match: re.Match[str]) -> None:
    info.compression = 0
    if match.group(1):
        info.version = match.group(1)


def _crafting(info: LogInfo, match: re.Match[str]) -> None:
    lt.new_plot(info)
    info.plot_number = int(match.group(1))
    planned = int(match.group(2))
    info.plots_planned = planned if planned > 0 else 0  # -n -1: until stopped
    if match.group(3):  # "(2024/03/14 20:00:00)" since 2022; older logs only have the plot name
        info.started_at = match.group(3).replace("/", "-").replace(" ", "T")


def _plot_name(info: LogInfo, match: re.Match[str]) -> None:
    lt.from_plot_name(info, match.group(1))
    lt.advance(info, 1, 1)


def _phase_took(major: int, next_major: int) -> Any:
    def action(info: LogInfo, match: re.Match[str]) -> None:
        lt.phase_seconds(info, major, match.group(1))
        lt.advance(info, next_major, 0)

    return action


def _total(info: LogInfo, match: re.Match[str]) -> None:
    info.total_seconds = float(match.group(1))
    # Without a copy (dst is where the plot was written) phase 4's rename already finished it.
    stage = info.stage_dir or info.tmp_dir
    if info.dst_dir is not None and info.dst_dir == stage and info.plot_name:
        lt.finish_plot(info, os.path.join(info.dst_dir, info.plot_name + ".plot"), 5, 2)


def _copy_started(info: LogInfo, match: re.Match[str]) -> None:
    if lt.is_current_plot(info, match.group(1)):
        lt.advance(info, 5, 1)
        return
    earlier = lt.earlier_plot(info, match.group(1))
    if earlier is not None:
        lt.advance_earlier(earlier, 5, 1)


def _copied(info: LogInfo, match: re.Match[str]) -> None:
    if lt.is_current_plot(info, match.group(1)):
        info.copy_seconds = float(match.group(2))
        lt.finish_plot(info, match.group(1), 5, 2)
    else:
        lt.finish_earlier(info, match.group(1), 5, 2, float(match.group(2)))


def _compression(info: LogInfo, match: re.Match[str]) -> None:
    info.compression = int(match.group(1))


def _plots_planned(info: LogInfo, match: re.Match[str]) -> None:
    text = match.group(1)
    info.plots_planned = 0 if text == "infinite" or text.startswith("-") else int(text)


def _renamed(info: LogInfo, match: re.Match[str]) -> None:
    lt.finish_plot(info, match.group(1), 5, 2)


LOG_RULES: tuple[LogRule, ...] = (
    lt.rule("Multi-threaded pipelined Chia k", r"\d+ plotter(?: - (\S+))?", _header),
    lt.rule("Final Directory: ", r"(.+)", lt.set_dir("dst_dir")),
    lt.rule("Stage Directory: ", r"(.+)", lt.set_dir("stage_dir")),
    lt.rule("Number of Plots: ", r"(infinite|-?\d+)", _plots_planned),
    lt.rule("Crafting plot ", r"(\d+) out of (-?\d+)(?: \((\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)\))?", _crafting),
    lt.rule("Process ID: ", r"(\d+)", lt.set_int("process_id")),
    lt.rule("Number of Threads: ", r"(\d+)", lt.set_int("threads")),
    lt.rule("Number of Buckets P1:", r" +2\^\d+ \((\d+)\)", lt.set_int("buckets")),
    lt.rule("Working Directory:", r" +(.+)", lt.set_dir("tmp_dir")),
    lt.rule("Working Directory 2:", r" +(.+)", lt.set_dir("tmp2_dir")),
    lt.rule("Compression Level: C", r"(\d+)", _compression),  # Gigahorse
    lt.rule("Plot Name: ", r"(plot-\S+)", _plot_name),
    *(lt.phase_line(f"[P1] Table {table} took ", 1, table + 1) for table in range(1, 7)),
    lt.rule("Phase 1 took ", _SECONDS + " sec", _phase_took(1, 2)),
    lt.rule("[P2] max_table_size = ", r"\d+", lt.to(2, 1)),
    *(lt.phase_line(f"[P2] Table {table} rewrite took ", 2, 9 - table) for table in range(7, 1, -1)),
    lt.rule("Phase 2 took ", _SECONDS + " sec", _phase_took(2, 3)),
    lt.rule("Wrote plot header with ", r"\d+ bytes", lt.to(3, 1)),
    *(lt.phase_line(f"[P3-2] Table {table} took ", 3, table) for table in range(2, 8)),
    lt.rule("Phase 3 took ", _SECONDS + " sec", _phase_took(3, 4)),
    lt.phase_line("[P4] Starting to write C1 and C3 tables", 4, 1),
    lt.phase_line("[P4] Writing C2 table", 4, 2),
    lt.rule("Phase 4 took ", _SECONDS + r" sec, final plot size is \d+ bytes", _phase_took(4, 5)),
    lt.rule("Total plot creation time was ", _SECONDS + " sec", _total),
    lt.rule("Started copy to ", r"(.+\.plot)", _copy_started),
    lt.rule("Copy to ", rf"(.+\.plot) finished, took {_SECONDS} sec", _copied),
    lt.rule("Renamed final plot to ", r"(.+\.plot)", _renamed),
)

LOG_SIGNATURE = re.compile(r"^Multi-threaded pipelined Chia k\d+ plotter|^\[P1\] Table 1 took ", re.M)

PLOTTER = Plotter(
    name=NAME,
    match_command=match_command,
    parse_args=parse_args,
    log_rules=LOG_RULES,
    log_signature=LOG_SIGNATURE,
    build_command=build_command,
    log_markers=("Multi-threaded pipelined Chia k", "[P1] Table 1 took "),
)
