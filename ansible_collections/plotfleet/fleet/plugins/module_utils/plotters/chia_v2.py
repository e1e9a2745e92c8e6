"""Chia proof-of-space v2 plots (``plot-k28-<id>.plot2``) made by chia-blockchain's own code.

chia-blockchain 2.7.5 creates v2 plots only through its library (``create_v2_plots``, which calls
chia_rs ``create_v2_plot``), so plotfleet runs them through its launcher
``plotfleet-chia-plot2`` (roles/plotter/files/), started with the Python of chia's virtualenv and
taking ``chia plots create``'s key options. ``create_v2_plot`` computes the tables in memory and
then writes the file; it writes nothing else. Its only temp file is therefore the plot itself,
``<tmp>/plot-k<k>-<id>.plot2.tmp``, and while a copy to another filesystem runs,
``<dst>/plot-k<k>-<id>.plot2.tmp``.

Phases (plotman numbering): 1:0 started, 1:1 writing the plot in tmp, 5:0 plot complete in tmp,
5:1 moving (copy or rename) to dst, 5:2 in place under its final name.
When chia's CLI makes v2 plots, a definition of that command line replaces this one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import logtools as lt
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.argv import (
    CLICK,
    FLAG,
    ArgvError,
    Opt,
    has_help,
    int_value,
    option,
    parse_options,
    program_argv,
    program_name,
    resolve,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import JobArgs, LogInfo, LogRule, Plotter
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.chia import key_options

NAME = "chia_v2"
LAUNCHER = "plotfleet-chia-plot2"
DEFAULT_EXECUTABLE = "/usr/local/lib/plotfleet/plotfleet-chia-plot2"
DEFAULT_PYTHON = "/opt/plotfleet/chia/bin/python"  # roles/plotter's plotter_chia_venv
MAINNET_K = 28
DEFAULT_STRENGTH = 2
_PROGRAMS = frozenset({LAUNCHER, LAUNCHER + ".py"})

# The launcher's argparse table (allow_abbrev=False: whole option names only, as click).
_OPTIONS = (
    Opt(("-k", "--size"), "k"),
    Opt(("--override-k",), "override_k", FLAG),
    Opt(("--strength",), "strength"),
    Opt(("-n", "--num"), "count"),
    Opt(("-t", "--tmp_dir"), "tmp"),
    Opt(("-d", "--final_dir"), "dst"),
    Opt(("-f", "--farmer_public_key"), "farmer_pk"),
    Opt(("-p", "--pool_public_key"), "pool_pk"),
    Opt(("-c", "--pool_contract_address"), "contract"),
    Opt(("-a", "--alt_fingerprint"), "alt_fingerprint"),
    Opt(("-x", "--exclude_final_dir"), "exclude_final_dir", FLAG),
)


def match_command(argv: Sequence[str]) -> Sequence[str] | None:
    words = program_argv(argv)
    if words and program_name(words[0]) in _PROGRAMS:
        return words[1:]
    return None


def parse_args(args: Sequence[str], cwd: str) -> JobArgs | None:
    if has_help(args) or "--version" in args:
        return None
    values, rest = parse_options(args, _OPTIONS, CLICK)
    if rest:
        raise ArgvError(f"unrecognized argument {rest[0]!r}")
    k = int_value(values, "k", MAINNET_K)
    if k != MAINNET_K and not values.get("override_k"):
        raise ArgvError(f"k={k} needs --override-k")
    int_value(values, "strength", DEFAULT_STRENGTH)  # the launcher refuses a malformed number
    return JobArgs(
        plotter=NAME,
        k=k,
        tmp_dir=resolve(cwd, values.get("tmp", ".")),
        dst_dir=resolve(cwd, values.get("dst", ".")),
        count=int_value(values, "count", 1),
        farmer_pk=values.get("farmer_pk"),
        pool_pk=values.get("pool_pk"),
        pool_contract_address=values.get("contract"),
    )


def build_command(
    section: Mapping[str, Any] | Any, plotting: Mapping[str, Any] | Any, tmp: str, tmp2: str | None, dst: str
) -> list[str]:
    """The launcher, run by chia's Python, for one plot from the ``plotting.chia_v2`` options."""
    k = int(option(section, "k", MAINNET_K))
    argv = [
        str(option(section, "python", DEFAULT_PYTHON)),
        str(option(section, "executable", DEFAULT_EXECUTABLE)),
        "-k", str(k),
        "--strength", str(option(section, "strength", DEFAULT_STRENGTH)),
        "-n", "1",
        "-t", tmp,
        "-d", dst,
    ]  # fmt: skip
    if option(section, "override_k", False) or k != MAINNET_K:
        argv.append("--override-k")
    if option(section, "x", False):
        argv.append("-x")
    return argv + key_options(plotting, "-f", "-p", "-c")


# --- log ---------------------------------------------------------------------------------------

_V2_NAME = re.compile(r"plot-k\d+-[0-9a-f]{64}\.plot2$")


def _header(info: LogInfo, match: re.Match[str]) -> None:
    chia = re.search(r"chia-blockchain ([^,)]+)", match.group(2))
    info.version = chia.group(1) if chia else match.group(1)
    info.process_id = int(match.group(3))


def _start(info: LogInfo, match: re.Match[str]) -> None:
    lt.new_plot(info)
    info.plot_id = match.group(1)
    info.k = int(match.group(2))
    info.tmp_dir = lt.clean_dir(match.group(4))
    info.dst_dir = lt.clean_dir(match.group(5))
    info.started_at = match.group(6)
    info.compression = 0
    lt.advance(info, 1, 0)


def _written(info: LogInfo, match: re.Match[str]) -> None:
    lt.advance(info, 5, 0)
    lt.phase_seconds(info, 1, match.group(1))


def _renamed(info: LogInfo, match: re.Match[str]) -> None:
    path = match.group(2)
    if lt.is_current_plot(info, path):
        lt.finish_plot(info, path, 5, 2)
        info.plot_name = _V2_NAME.search(path).group(0)[: -len(".plot2")]


def _total(info: LogInfo, match: re.Match[str]) -> None:
    info.total_seconds = float(match.group(1))


def _copy_time(info: LogInfo, match: re.Match[str]) -> None:
    info.copy_seconds = float(match.group(1))


LOG_RULES: tuple[LogRule, ...] = (
    lt.rule(LAUNCHER + " ", r"(\S+) \((.*)\): \d+ v2 plots of size \d+, strength \d+, process ID (\d+)", _header),
    lt.rule(
        "Starting v2 plot ",
        r'\d+/\d+: ID ([0-9a-f]{64}), k (\d+), strength (\d+), tmp "(.*)", final "(.*)", at (\S+)$',
        _start,
    ),
    lt.rule("Writing plot to tmp: ", r'"(.+)"', lt.to(1, 1)),
    lt.rule("Time for writing = ", lt.SECONDS + r" seconds", _written),
    lt.rule("Copying to final dir: ", r'"(.+)" to "(.+)"', lt.to(5, 1)),
    lt.rule("Moving to final dir: ", r'"(.+)" to "(.+)"', lt.to(5, 1)),
    lt.rule("Renamed final file from ", r'"(.+)" to "(.+\.plot2)"', _renamed),
    lt.rule("Copy time = ", lt.SECONDS + r" seconds", _copy_time),
    lt.rule("Total time = ", lt.SECONDS + r" seconds", _total),
)

LOG_SIGNATURE = re.compile(r"^" + re.escape(LAUNCHER) + r" \S+ \(", re.M)

PLOTTER = Plotter(
    name=NAME,
    match_command=match_command,
    parse_args=parse_args,
    log_rules=LOG_RULES,
    log_signature=LOG_SIGNATURE,
    build_command=build_command,
    log_markers=(LAUNCHER,),
)
