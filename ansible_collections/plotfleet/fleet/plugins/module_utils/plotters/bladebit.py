"""Bladebit: ``bladebit [global options] ramplot|diskplot|cudaplot [options] <out dirs>``,
``bladebit_cuda`` and ``chia plotters bladebit ramplot|diskplot|cudaplot``.

Facts from Chia-Network/bladebit (``src/main.cpp``, ``src/util/CliParser.cpp``,
``src/plotdisk/DiskPlotter.cpp``, ``src/plotmem/*``, ``cuda/CudaPlotter.cu``), 1.x logs as plotman
reads them, and chia-blockchain (``chia/plotters/bladebit.py``). Phases follow plotman's ramplot
table, the other modes mapped onto it: 0:1 allocating, 0:2 plot id chosen, 1:N working on table N,
2:N pruning (N counts the tables done), 3:N compressing tables N and N+1 (3:7 the P7 parks of
diskplot/cudaplot), 4:1-4:4 P7/C1/C2/C3 (ramplot only), 5:0 plot phases done, 5:1 final write-out,
5:2 renamed to ``.plot``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import logtools as lt
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.argv import (
    ARGPARSE,
    BLADEBIT,
    FLAG,
    OPTIONAL_NUMBER,
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

NAME = "bladebit"
NATIVE = "bladebit"
PLOTTERS_BLADEBIT = "plotters bladebit"
MODES = ("ramplot", "diskplot", "cudaplot")
_PROGRAMS = frozenset({"bladebit", "bladebit_cuda"})
_DISKPLOT_DEFAULT_BUCKETS = 256

# Global options, before the command.
_GLOBAL_OPTIONS = (
    Opt(("-t", "--threads"), "threads"),
    Opt(("-n", "--count"), "count"),
    Opt(("-f", "--farmer-key"), "farmer_pk"),
    Opt(("-p", "--pool-key"), "pool_pk"),
    Opt(("-c", "--pool-contract"), "contract"),
    Opt(("-w", "--warm-start"), "warm_start", FLAG),
    Opt(("-i", "--plot-id"), "plot_id"),
    Opt(("-z", "--compress"), "compress", OPTIONAL_NUMBER),
    Opt(("--no-direct-io",), "no_direct_io", FLAG),
    Opt(("--memo",), "memo"),
    Opt(("--show-memo",), "show_memo", FLAG),
    Opt(("-m", "--no-numa"), "no_numa", FLAG),
    Opt(("--no-cpu-affinity",), "no_cpu_affinity", FLAG),
    Opt(("-v", "--verbose"), "verbose", FLAG),
    Opt(("--benchmark", "--dry-run"), "benchmark", FLAG),
)
# Words that make bladebit print something and exit instead of plotting.
_EXITING = frozenset({"-h", "--help", "--version", "--about", "--memory", "--memory-json", "-s", "--sizes",
                      "-l", "--list", "help"})  # fmt: skip

_DISKPLOT_OPTIONS = (
    Opt(("-b", "--buckets"), "buckets"),
    Opt(("--unbounded",), "unbounded", FLAG),
    Opt(("-a", "--alternate"), "alternate", FLAG),
    Opt(("-t1", "--temp1"), "tmp"),
    Opt(("-t2", "--temp2"), "tmp2"),
    Opt(("--no-t1-direct",), "no_t1_direct", FLAG),
    Opt(("--no-t2-direct",), "no_t2_direct", FLAG),
    Opt(("--cache",), "cache"),
    Opt(("--f1-threads",), "f1_threads"),
    Opt(("--fp-threads",), "fp_threads"),
    Opt(("--c-threads",), "c_threads"),
    Opt(("--p2-threads",), "p2_threads"),
    Opt(("--p3-threads",), "p3_threads"),
)
_CUDAPLOT_OPTIONS = (
    Opt(("-d", "--device"), "device"),
    Opt(("--disk-128",), "disk_128", FLAG),
    Opt(("--disk-16",), "disk_16", FLAG),
    Opt(("-t1", "--temp1"), "tmp"),
    Opt(("-t2", "--temp2"), "tmp2"),
    Opt(("--no-t1-direct",), "no_t1_direct", FLAG),
    Opt(("--no-t2-direct",), "no_t2_direct", FLAG),
    Opt(("--check",), "check"),
    Opt(("--check-threshold",), "check_threshold"),
    Opt(("--json",), "json", FLAG),
)
_MODE_OPTIONS: dict[str, tuple[Opt, ...]] = {
    "ramplot": (),
    "diskplot": _DISKPLOT_OPTIONS,
    "cudaplot": _CUDAPLOT_OPTIONS,
}

# `chia plotters bladebit <mode>` (argparse): options after the mode, -d final dir required;
# --compress defaults to 1 and is passed on to bladebit 3.x.
_PLOTTERS_COMMON = (
    Opt(("-r", "--threads"), "threads"),
    Opt(("-n", "--count"), "count"),
    Opt(("-f", "--farmerkey"), "farmer_pk"),
    Opt(("-p", "--pool-key"), "pool_pk"),
    Opt(("-c", "--contract"), "contract"),
    Opt(("-i", "--id"), "plot_id"),
    Opt(("-w", "--warmstart"), "warm_start", FLAG),
    Opt(("--nonuma",), "no_numa", FLAG),
    Opt(("--no-cpu-affinity",), "no_cpu_affinity", FLAG),
    Opt(("-v", "--verbose"), "verbose", FLAG),
    Opt(("-D", "--connect-to-daemon"), "connect_to_daemon", FLAG),
    Opt(("-d", "--final_dir"), "dst"),
    Opt(("--compress",), "compress"),
)
_PLOTTERS_MODE_OPTIONS: dict[str, tuple[Opt, ...]] = {
    "ramplot": _PLOTTERS_COMMON,
    "diskplot": (
        *_PLOTTERS_COMMON,
        Opt(("--cache",), "cache"),
        Opt(("--f1-threads",), "f1_threads"),
        Opt(("--fp-threads",), "fp_threads"),
        Opt(("--c-threads",), "c_threads"),
        Opt(("--p2-threads",), "p2_threads"),
        Opt(("--p3-threads",), "p3_threads"),
        Opt(("--alternate",), "alternate", FLAG),
        Opt(("-t", "--tmp_dir"), "tmp"),
        Opt(("-2", "--tmp_dir2"), "tmp2"),
        Opt(("-u", "--buckets"), "buckets"),
        Opt(("-m", "--memo"), "memo"),
        Opt(("--no-t1-direct",), "no_t1_direct", FLAG),
        Opt(("--no-t2-direct",), "no_t2_direct", FLAG),
    ),
    "cudaplot": (
        *_PLOTTERS_COMMON,
        Opt(("-t", "--tmp_dir"), "tmp"),
        Opt(("-2", "--tmp_dir2"), "tmp2"),
        Opt(("--device",), "device"),
        Opt(("--disk-128",), "disk_128", FLAG),
        Opt(("--disk-16",), "disk_16", FLAG),
    ),
}


def match_command(argv: Sequence[str]) -> Sequence[str] | None:
    return native_or_chia_plotters(argv, _PROGRAMS, NATIVE, "bladebit", PLOTTERS_BLADEBIT)


def parse_args(args: Sequence[str], cwd: str) -> JobArgs | None:
    if getattr(args, "form", NATIVE) == PLOTTERS_BLADEBIT:
        return _parse_plotters(args, cwd)
    return _parse_native(args, cwd)


def _parse_native(args: Sequence[str], cwd: str) -> JobArgs | None:
    if has_help(args, tuple(_EXITING)):
        return None
    values, rest = parse_options(args, _GLOBAL_OPTIONS, BLADEBIT)
    if not rest or rest[0] not in MODES:
        raise ArgvError("no plot command (ramplot, diskplot or cudaplot)")
    mode = rest[0]
    mode_values, out_dirs = parse_options(rest[1:], _MODE_OPTIONS[mode], BLADEBIT)
    if not out_dirs or any(path.startswith("-") for path in out_dirs):
        raise ArgvError("bladebit needs output directories after the last option")
    if mode == "diskplot" and "tmp" not in mode_values:
        raise ArgvError("bladebit diskplot needs -t1")
    dst_dirs = tuple(path for path in (resolve(cwd, out) for out in out_dirs) if path)
    compress = values.get("compress")
    buckets = int_value(mode_values, "buckets", _DISKPLOT_DEFAULT_BUCKETS) if mode == "diskplot" else None
    return JobArgs(
        plotter=NAME,
        k=32,
        tmp_dir=resolve(cwd, mode_values.get("tmp")),
        tmp2_dir=resolve(cwd, mode_values.get("tmp2")),
        dst_dir=dst_dirs[0],
        threads=int_value(values, "threads", 0) or None,  # 0 / absent: every logical CPU
        buckets=buckets,
        count=int_value(values, "count", 1),  # 0: until stopped
        farmer_pk=values.get("farmer_pk"),
        pool_pk=values.get("pool_pk"),
        pool_contract_address=values.get("contract"),
        compression=(1 if compress is True else int_value(values, "compress", 0)),  # bare -z is level 1
        plot_id=hex_id(values.get("plot_id")),
        mode=mode,
        dst_dirs=dst_dirs,
    )


def _parse_plotters(args: Sequence[str], cwd: str) -> JobArgs | None:
    if not args or args[0] not in MODES or has_help(args):
        return None
    mode = args[0]
    values, rest = parse_options(args[1:], _PLOTTERS_MODE_OPTIONS[mode], ARGPARSE)
    if rest:
        raise ArgvError(f"unrecognized argument {rest[0]!r}")
    if "dst" not in values or (mode == "diskplot" and "tmp" not in values):
        raise ArgvError("chia plotters bladebit needs -d (and -t for diskplot)")
    dst = resolve(cwd, values["dst"])
    count = int_value(values, "count", 1)
    return JobArgs(
        plotter=NAME,
        k=32,
        tmp_dir=resolve(cwd, values.get("tmp")),
        tmp2_dir=resolve(cwd, values.get("tmp2")),
        dst_dir=dst,
        threads=int_value(values, "threads", 0) or None,
        buckets=int_value(values, "buckets", _DISKPLOT_DEFAULT_BUCKETS) if mode == "diskplot" else None,
        count=count,
        farmer_pk=values.get("farmer_pk"),
        pool_pk=values.get("pool_pk"),
        pool_contract_address=values.get("contract"),
        compression=int_value(values, "compress", 1),
        plot_id=hex_id(values.get("plot_id")),
        mode=mode,
        dst_dirs=(dst,) if dst else (),
        launcher="chia plotters",
    )



def build_command(
    section: Mapping[str, Any] | Any, plotting: Mapping[str, Any] | Any, tmp: str, tmp2: str | None, dst: str
) -> list[str]:
    """``bladebit`` for one plot, from the ``plotting.bladebit`` options.

    plotman's names (executable, threads, no_numa) plus mode, compression, diskplot_cache (bytes)
    and diskplot_buckets. Only diskplot uses the tmp dirs.
    """
    mode = str(option(section, "mode", "ramplot"))
    if mode not in MODES:
        raise ValueError(f"bladebit mode must be one of {', '.join(MODES)}, got {mode!r}")
    argv = [str(option(section, "executable", "bladebit"))]
    if option(section, "threads"):
        argv += ["-t", str(option(section, "threads"))]
    argv += ["-n", "1", *key_options(plotting, "-f", "-p", "-c")]
    if option(section, "no_numa", False):
        argv.append("--no-numa")
    if option(section, "compression"):
        argv += ["--compress", str(option(section, "compression"))]
    argv.append(mode)
    if mode == "diskplot":
        argv += ["-t1", tmp]
        if tmp2:
            argv += ["-t2", tmp2]
        if option(section, "diskplot_buckets"):
            argv += ["-b", str(option(section, "diskplot_buckets"))]
        if option(section, "diskplot_cache"):
            argv += ["--cache", str(option(section, "diskplot_cache"))]
    return [*argv, dst]


# --- log ---------------------------------------------------------------------------------------

_SECONDS = lt.SECONDS


def _global_config(info: LogInfo, match: re.Match[str]) -> None:
    info.k = 32
    info.compression = 0  # a " Compression Level" line follows for compressed plots


def _mode(mode: str) -> Any:
    def action(info: LogInfo, match: re.Match[str]) -> None:
        info.mode = mode

    return action


def _ram_mode(info: LogInfo, match: re.Match[str]) -> None:
    if info.mode is None:
        info.mode = "ramplot"


def _generating(info: LogInfo, match: re.Match[str]) -> None:
    lt.new_plot(info)
    info.plot_number = int(match.group(1))
    if match.group(2) is not None:
        info.plots_planned = int(match.group(2))
    info.plot_id = match.group(3)
    lt.advance(info, 0, 2)


def _will_create(info: LogInfo, match: re.Match[str]) -> None:
    info.plots_planned = int(match.group(1))


def _written(info: LogInfo, match: re.Match[str]) -> None:
    # 2.0 diskplot: "Finished writing plot <name>.plot.tmp." and no line for the rename after it.
    lt.from_plot_name(info, match.group(1))
    lt.advance(info, 5, 1)


def _temporary_file(info: LogInfo, match: re.Match[str]) -> None:
    path = match.group(1)
    info.dst_dir = lt.parent_dir(path)
    lt.from_plot_name(info, path)


def _phase_done(info: LogInfo, match: re.Match[str]) -> None:
    major = int(match.group(1))
    lt.phase_seconds(info, major, match.group(2))
    lt.advance(info, major + 1, 0)


def _total(info: LogInfo, match: re.Match[str]) -> None:
    info.total_seconds = float(match.group(1))
    # diskplot's last line: the plot is complete. 3.x logged its rename already; 2.0 never does.
    if not info.completed and info.plot_name:
        info.completed = True
        lt.advance(info, 5, 2)
        if info.dst_dir is not None:
            info.plot_file = os.path.join(info.dst_dir, info.plot_name + ".plot")


def _cuda_total(info: LogInfo, match: re.Match[str]) -> None:
    info.total_seconds = float(match.group(1))
    lt.advance(info, 5, 1)


def _write_out(info: LogInfo, match: re.Match[str]) -> None:
    info.copy_seconds = float(match.group(1))


def _renamed(info: LogInfo, match: re.Match[str]) -> None:
    lt.finish_plot(info, match.group(1), 5, 2)


def _v1_written(info: LogInfo, match: re.Match[str]) -> None:
    # bladebit 1.x: "Plot <path> finished writing to disk:" once the plot is complete.
    lt.finish_plot(info, match.group(1), 5, 2)


def _running(info: LogInfo, match: re.Match[str]) -> None:
    lt.advance(info, int(match.group(1)), 0)


_P4_STEPS = {"P7": 1, "C1": 2, "C2": 3, "C3": 4}


def _phase4_step(info: LogInfo, match: re.Match[str]) -> None:
    lt.advance(info, 4, _P4_STEPS[match.group(1)])


def _cuda_table(info: LogInfo, match: re.Match[str]) -> None:
    # cudaplot reports a table when it is done; the next one is then in progress.
    lt.advance(info, 1, min(int(match.group(1)) + 1, 7))


LOG_RULES: tuple[LogRule, ...] = (
    lt.rule("Version      : ", r"(\S+)", lt.set_text("version")),
    lt.rule("[Global Plotting Config]", "", _global_config),
    lt.rule(" Thread count", r" +: (\d+)", lt.set_int("threads")),
    lt.rule(" Compression Level", r" +: (\d+)", lt.set_int("compression")),
    lt.rule(" Output path", r" +: (.+)", lt.set_dir("dst_dir")),  # 1.x
    lt.rule("[Bladebit Disk Plotter]", "", _mode("diskplot")),
    lt.rule("[Bladebit CUDA Plotter]", "", _mode("cudaplot")),
    lt.rule("System Memory: ", r"\d+/\d+ GiB\.", _ram_mode),
    lt.rule(" Bucket count", r" +: (\d+)", lt.set_int("buckets")),
    lt.rule(" Temp1 path", r" +: (.+)", lt.set_dir("tmp_dir")),
    lt.rule(" Temp2 path", r" +: (.+)", lt.set_dir("tmp2_dir")),
    lt.phase_line("Allocating buffers", 0, 1),
    lt.rule(" Will create ", r"(\d+) plots\.", _will_create),
    lt.rule("Generating plot ", r"(\d+)(?: / (\d+))?: ([0-9a-f]{64})", _generating),
    lt.rule("Plot temporary file: ", r"(.+\.plot\.tmp)", _temporary_file),
    lt.rule("Running Phase ", r"([1-4])$", _running),
    lt.phase_line("Generating F1", 1, 0),
    lt.phase_line("Generating f1", 1, 0),  # 2.0 diskplot
    lt.rule("Finished F1 generation in ", _SECONDS, lt.to(1, 1)),  # ramplot
    lt.rule("Finished f1 generation in ", _SECONDS, lt.to(1, 1)),  # 2.0 diskplot
    lt.rule("Finished F1 in ", _SECONDS, lt.to(1, 2)),  # cudaplot
    lt.phase_line("Table 1: F1 generation", 1, 1),  # diskplot
    lt.rule("Table ", r"([2-7])$", lt.to_minor(1, lambda table: table)),  # diskplot
    lt.rule("Table ", r"([1-7]) completed in ", _cuda_table),
    *(lt.phase_line(f"Forward propagating to table {table}", 1, table) for table in range(2, 8)),
    *(lt.phase_line(f"  Prunning table {table}", 2, 7 - table) for table in range(2, 7)),
    *(lt.phase_line(f"  Pruning table {table}", 2, 7 - table) for table in range(2, 7)),
    # diskplot and cudaplot print the zero-based id of the table just marked (6 is table 7).
    *(lt.phase_line(f"Finished marking table {table} ", 2, 7 - table) for table in range(1, 7)),
    *(lt.phase_line(f"Marked Table {table} ", 2, 7 - table) for table in range(1, 7)),
    *(lt.phase_line(f"  Compressing tables {table} and", 3, table) for table in range(1, 7)),
    *(lt.phase_line(f"Compressing tables {table} and", 3, table) for table in range(1, 7)),
    *(lt.phase_line(f"Compressing Table {table} and", 3, table) for table in range(1, 7)),
    lt.phase_line("Writing P7 parks.", 3, 7),
    lt.phase_line("Serializing P7 entries", 3, 7),
    lt.rule("  Writing ", r"(P7|C1|C2|C3)\b", _phase4_step),
    lt.rule("Finished Phase ", rf"([1-4]) in {_SECONDS} seconds", _phase_done),
    lt.rule("Completed Phase ", rf"([1-4]) in {_SECONDS} seconds", _phase_done),
    lt.phase_line("Writing final plot tables to disk", 5, 1),  # ramplot
    lt.phase_line("Waiting for plot file to complete pending writes...", 5, 1),  # diskplot
    lt.rule("Completed Plot ", rf"\d+ in {_SECONDS} seconds", _cuda_total),
    lt.rule("Finished writing tables to disk in ", _SECONDS + r" seconds\.", _write_out),
    lt.rule("Completed pending writes in ", _SECONDS + r" seconds\.", _write_out),
    lt.rule("Completed writing plot in ", _SECONDS + " seconds", _write_out),
    lt.rule("Finished writing plot ", r"(plot-\S+)\.plot\.tmp\.", _written),
    lt.rule("Finished plotting in ", _SECONDS + " seconds", _total),
    lt.rule("Plot ", r"(.+\.plot) finished writing to disk:", _v1_written),
    # The plot writer renames "<name>.plot.tmp" when the file is complete; the line starts with
    # the output dir, so it has no fixed prefix.
    LogRule(r".*?\.plot\.tmp -> (.+\.plot)", _renamed, contains=".plot.tmp -> "),
)

# The header, else lines of a plot under way that only bladebit prints: a log that starts mid-run
# (rotated, or an excerpt) is still recognised.
LOG_SIGNATURE = re.compile(
    r"^Bladebit Chia Plotter$|^\[Bladebit (?:Disk|CUDA) Plotter\]$|^ Warm start enabled +: "
    r"|^Generating plot \d+ / \d+: [0-9a-f]{64}$|^Serializing P7 entries$|^Completed Phase [1-4] in ",
    re.M,
)

PLOTTER = Plotter(
    name=NAME,
    match_command=match_command,
    parse_args=parse_args,
    log_rules=LOG_RULES,
    log_signature=LOG_SIGNATURE,
    build_command=build_command,
    log_markers=("Bladebit", " Warm start enabled ", "Generating plot ", "Serializing P7", "Completed Phase "),
)
