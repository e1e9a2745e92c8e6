"""chiapos, the stock plotter: ``chia plots create`` and ``chia plotters chiapos``.

Facts from chia-blockchain (``chia/cmds/plots.py``, ``chia/plotters/plotters.py``) and chiapos
(``src/plotter_disk.hpp``). Phases follow plotman: 1:N computing table N, 2:N back-propagating
(table 7 is 2:1, table 2 is 2:6, the table-1 rewrite 2:7), 3:N compressing tables N and N+1,
4:1-4:3 checkpoint tables, 5:0 done plotting, 5:1 copied to dst, 5:2 temp2 removed, 5:3 renamed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import logtools as lt
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.argv import (
    ARGPARSE,
    CLICK,
    FLAG,
    ArgvError,
    Opt,
    PlotterArgv,
    chia_subcommand,
    has_help,
    hex_id,
    int_value,
    option,
    parse_options,
    resolve,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import (
    JobArgs,
    LogInfo,
    LogNoise,
    LogRule,
    Plotter,
)

NAME = "chia"
PLOTS_CREATE = "plots create"
PLOTTERS_CHIAPOS = "plotters chiapos"

# `chia plots create` (click). Defaults: k 32, buffer 3389 MiB, 2 threads, 128 buckets, dirs ".".
_CREATE_OPTIONS = (
    Opt(("-k", "--size"), "k"),
    Opt(("--override-k",), "override_k", FLAG),
    Opt(("-n", "--num"), "count"),
    Opt(("-b", "--buffer"), "buffer"),
    Opt(("-r", "--num_threads"), "threads"),
    Opt(("-u", "--buckets"), "buckets"),
    Opt(("-a", "--alt_fingerprint"), "alt_fingerprint"),
    Opt(("-c", "--pool_contract_address"), "contract"),
    Opt(("-f", "--farmer_public_key"), "farmer_pk"),
    Opt(("-p", "--pool_public_key"), "pool_pk"),
    Opt(("-t", "--tmp_dir"), "tmp"),
    Opt(("-2", "--tmp2_dir"), "tmp2"),
    Opt(("-d", "--final_dir"), "dst"),
    Opt(("-i", "--plotid"), "plot_id"),
    Opt(("-m", "--memo"), "memo"),
    Opt(("-e", "--nobitfield"), "nobitfield", FLAG),
    Opt(("-x", "--exclude_final_dir"), "exclude_final_dir", FLAG),
    Opt(("-D", "--connect_to_daemon"), "connect_to_daemon", FLAG),
)

# `chia plotters chiapos` (argparse). -t and -d are required; buffer/threads/buckets default to 0,
# which chiapos turns into 4608 MiB, 2 threads and a bucket count computed from the buffer.
_PLOTTERS_OPTIONS = (
    Opt(("-k", "--size"), "k"),
    Opt(("-t", "--tmp_dir"), "tmp"),
    Opt(("-2", "--tmp_dir2"), "tmp2"),
    Opt(("-m", "--memo"), "memo"),
    Opt(("-i", "--id"), "plot_id"),
    Opt(("-b", "--buffer"), "buffer"),
    Opt(("-u", "--buckets"), "buckets"),
    Opt(("-s", "--stripes"), "stripes"),
    Opt(("-r", "--threads"), "threads"),
    Opt(("-e", "--nobitfield"), "nobitfield", FLAG),
    Opt(("--override-k",), "override_k", FLAG),
    Opt(("-a", "--alt_fingerprint"), "alt_fingerprint"),
    Opt(("-c", "--contract"), "contract"),
    Opt(("-f", "--farmerkey"), "farmer_pk"),
    Opt(("-p", "--pool-key"), "pool_pk"),
    Opt(("-n", "--count"), "count"),
    Opt(("-x", "--exclude_final_dir"), "exclude_final_dir", FLAG),
    Opt(("-D", "--connect-to-daemon"), "connect_to_daemon", FLAG),
    Opt(("-d", "--final_dir"), "dst"),
    Opt(("--compress",), "compress"),  # accepted by chia, unused by chiapos
)

_CHIAPOS_DEFAULT_BUFFER = 4608
_CHIAPOS_DEFAULT_THREADS = 2


def match_command(argv: Sequence[str]) -> Sequence[str] | None:
    args = chia_subcommand(argv, "plots", "create")
    if args is not None:
        return PlotterArgv(args, PLOTS_CREATE)
    args = chia_subcommand(argv, "plotters", "chiapos")
    if args is not None:
        return PlotterArgv(args, PLOTTERS_CHIAPOS)
    return None


def parse_args(args: Sequence[str], cwd: str) -> JobArgs | None:
    if has_help(args):
        return None
    form = getattr(args, "form", PLOTS_CREATE)
    if form == PLOTTERS_CHIAPOS:
        return _parse_plotters(args, cwd)
    return _parse_create(args, cwd)


def _parse_create(args: Sequence[str], cwd: str) -> JobArgs:
    values, rest = parse_options(args, _CREATE_OPTIONS, CLICK)
    if rest:
        raise ArgvError(f"unexpected argument {rest[0]!r}")
    return JobArgs(
        plotter=NAME,
        k=int_value(values, "k", 32),
        tmp_dir=resolve(cwd, values.get("tmp", ".")),
        tmp2_dir=resolve(cwd, values.get("tmp2")),
        dst_dir=resolve(cwd, values.get("dst", ".")),
        threads=int_value(values, "threads", 2),
        buckets=int_value(values, "buckets", 128),
        buffer=int_value(values, "buffer", 3389),
        count=int_value(values, "count", 1),
        farmer_pk=values.get("farmer_pk"),
        pool_pk=values.get("pool_pk"),
        pool_contract_address=values.get("contract"),
        compression=0,
        plot_id=hex_id(values.get("plot_id")),
    )


def _parse_plotters(args: Sequence[str], cwd: str) -> JobArgs:
    values, rest = parse_options(args, _PLOTTERS_OPTIONS, ARGPARSE)
    if rest:
        raise ArgvError(f"unrecognized argument {rest[0]!r}")
    if "tmp" not in values or "dst" not in values:
        raise ArgvError("chia plotters chiapos needs -t and -d")
    int_value(values, "compress", 1)  # argparse checks the type even though chiapos ignores it
    buckets = int_value(values, "buckets", 0)
    return JobArgs(
        plotter=NAME,
        k=int_value(values, "k", 32),
        tmp_dir=resolve(cwd, values["tmp"]),
        tmp2_dir=resolve(cwd, values.get("tmp2")),
        dst_dir=resolve(cwd, values["dst"]),
        threads=int_value(values, "threads", 0) or _CHIAPOS_DEFAULT_THREADS,
        buckets=buckets or None,  # 0: chiapos picks the count from the buffer size
        buffer=int_value(values, "buffer", 0) or _CHIAPOS_DEFAULT_BUFFER,
        count=int_value(values, "count", 1),
        farmer_pk=values.get("farmer_pk"),
        pool_pk=values.get("pool_pk"),
        pool_contract_address=values.get("contract"),
        compression=0,
        plot_id=hex_id(values.get("plot_id")),
        launcher="chia plotters",
    )



def build_command(
    section: Mapping[str, Any] | Any, plotting: Mapping[str, Any] | Any, tmp: str, tmp2: str | None, dst: str
) -> list[str]:
    """``chia plots create`` for one plot, from the ``plotting.chia`` options (plotman's names)."""
    argv = [
        str(option(section, "executable", "chia")),
        "plots",
        "create",
        "-k", str(option(section, "k", 32)),
        "-r", str(option(section, "n_threads", 2)),
        "-u", str(option(section, "n_buckets", 128)),
        "-b", str(option(section, "job_buffer", 3389)),
        "-t", tmp,
        "-d", dst,
    ]  # fmt: skip
    if tmp2:
        argv += ["-2", tmp2]
    if option(section, "e", False):
        argv.append("-e")
    if option(section, "x", False):
        argv.append("-x")
    if option(section, "override_k", False) or int(option(section, "k", 32)) < 32:
        argv.append("--override-k")
    return argv + key_options(plotting, "-f", "-p", "-c")


def key_options(plotting: Mapping[str, Any] | Any, farmer: str, pool: str, contract: str) -> list[str]:
    """Farmer key, then the pool contract (portable plots) or else the pool key."""
    argv = []
    if option(plotting, "farmer_pk"):
        argv += [farmer, str(option(plotting, "farmer_pk"))]
    if option(plotting, "pool_contract_address"):
        argv += [contract, str(option(plotting, "pool_contract_address"))]
    elif option(plotting, "pool_pk"):
        argv += [pool, str(option(plotting, "pool_pk"))]
    return argv


# --- log ---------------------------------------------------------------------------------------

# Lines of chia's own logger around the chiapos output, e.g.
# 2026-11-25T08:18:51.415 2.7.5  chia.plotting.create_plots       : INFO     Creating 1 plots of size 25, ...
# The message that names k: "Creating 1 plots of size 25, pool public key: ...".
_LOGGER = (
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)? (?:(\d[\w.+-]*) +)?(?:chia|src)\.plotting\.create_plots\s*:"
    r"\s*\w+\s+(?:Creating \d+ plots of size (\d+))?.*"
)


def _logger_line(info: LogInfo, match: re.Match[str]) -> None:
    version, k = match.group(1, 2)
    if version:
        info.version = version
    if k:
        info.k = int(k)


def _start(info: LogInfo, match: re.Match[str]) -> None:
    lt.new_plot(info)
    info.compression = 0
    info.tmp_dir = lt.clean_dir(match.group(1))
    info.tmp2_dir = lt.clean_dir(match.group(2))


def _plot_id(info: LogInfo, match: re.Match[str]) -> None:
    info.plot_id = match.group(1)


def _phase_start(info: LogInfo, match: re.Match[str]) -> None:
    major = int(match.group(1))
    lt.advance(info, major, 0)
    if major == 1:
        # ctime's fixed 24 characters end the line: "Wed Nov 25 08:18:51 2026"
        info.started_at = lt.ctime_to_iso(match.group(2)[-24:])
    elif major == 3:
        lt.from_plot_name(info, match.group(2))


def _phase_time(info: LogInfo, match: re.Match[str]) -> None:
    lt.phase_seconds(info, int(match.group(1)), match.group(2))


def _total(info: LogInfo, match: re.Match[str]) -> None:
    info.total_seconds = float(match.group(1))


def _copy_time(info: LogInfo, match: re.Match[str]) -> None:
    info.copy_seconds = float(match.group(1))


def _renamed(info: LogInfo, match: re.Match[str]) -> None:
    lt.finish_plot(info, match.group(2), 5, 3)


_SECONDS = lt.SECONDS
_CPU_AND_TIME = r" seconds\. CPU \([\d.]+%\) \w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}"

LOG_RULES: tuple[LogRule, ...] = (
    LogRule(_LOGGER, _logger_line, "20"),
    lt.rule("Starting plotting progress into temporary dirs: ", r"(.+) and (.+)", _start),
    lt.rule("ID: ", r"([0-9a-f]{64})", _plot_id),
    lt.rule("Plot size is: ", r"(\d+)", lt.set_int("k")),
    lt.rule("Buffer size is: ", r"(\d+)MiB", lt.set_int("buffer")),
    lt.rule("Using ", r"(\d+) buckets", lt.set_int("buckets")),
    lt.rule("Using ", r"(\d+) threads of stripe size \d+", lt.set_int("threads")),
    lt.rule("Final Directory is: ", r"(.+)", lt.set_dir("dst_dir")),
    lt.rule("Process ID is: ", r"(\d+)", lt.set_int("process_id")),
    lt.rule("Starting phase ", r"([1-4])/4: (.+)", _phase_start),
    *(lt.phase_line(f"Computing table {table}", 1, table) for table in range(1, 8)),
    *(lt.phase_line(f"Backpropagating on table {table}", 2, 8 - table) for table in range(7, 1, -1)),
    lt.rule("table 1 new size: ", r"\d+", lt.to(2, 7)),
    *(lt.phase_line(f"Compressing tables {table} and {table + 1}", 3, table) for table in range(1, 7)),
    lt.phase_line("\tStarting to write C1 and C3 tables", 4, 1),
    lt.phase_line("\tWriting C2 table", 4, 2),
    lt.phase_line("\tFinal table pointers:", 4, 3),
    lt.rule("Time for phase ", rf"([1-4]) = {_SECONDS}{_CPU_AND_TIME}", _phase_time),
    lt.rule("Approximate working space used (without final file): ", r"[\d.]+ GiB", lt.to(5, 0)),
    lt.rule("Total time = ", _SECONDS + _CPU_AND_TIME, _total),
    lt.rule("Copied final file from ", r'"(.+)" to "(.+)"', lt.to(5, 1)),
    lt.rule("Copy time = ", _SECONDS + _CPU_AND_TIME, _copy_time),
    lt.rule("Removed temp2 file ", r'"(.+)"\? \d', lt.to(5, 2)),
    lt.rule("Renamed final file from ", r'"(.+)" to "(.+\.plot)"', _renamed),
)

# ~94% of a chiapos log's lines, one per bucket and table: the sort manager's
#   "\tBucket 0 uniform sort. Ram: 0.250GiB, u_sort min: 0.500GiB, qs min: 0.125GiB."
#   "\tBucket 127 QS. Ram: 0.250GiB, u_sort min: 0.500GiB, qs min: 0.125GiB. force_qs: 1"
# (chiapos src/sort_manager.hpp, unchanged since 0.12.39 of December 2020, before mainnet). chiapos
# prints no other line that starts with a tab and a B, and the bucket number and three amounts at
# three decimals make each at least 78 characters (the QS form at least 80).
_BUCKET_LINES = LogNoise("\tB", 78)

LOG_SIGNATURE = re.compile(
    r"(?:chia|src)\.plotting\.create_plots|^Starting plotting progress into temporary dirs: ", re.M
)

PLOTTER = Plotter(
    name=NAME,
    match_command=match_command,
    parse_args=parse_args,
    log_rules=LOG_RULES,
    log_signature=LOG_SIGNATURE,
    build_command=build_command,
    log_markers=("create_plots", "Starting plotting progress into temporary dirs: "),
    log_noise=(_BUCKET_LINES,),
)
