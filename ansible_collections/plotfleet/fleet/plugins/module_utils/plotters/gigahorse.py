"""Gigahorse, madMAx's GPU plotter for compressed plots: ``cuda_plot_k26`` ... ``cuda_plot_k34``.

Facts from madMAx43v3r/chia-gigahorse (``cuda-plotter/README.md``: the options) and the logs
users published in its issues. Gigahorse's CPU plotter is ``chia_plot`` with ``-C``, madMAx's
format: see madmax.py.

The k size is in the program's name. ``-t`` only caches the finished plot for its copy to
``-d`` (several ``-d`` are used in turn; ``@HOST`` copies to a remote ``chia_plot_sink``),
``-2``/``-3`` are the SSDs of partial-RAM and disk mode (``@RAM`` when absent).

The log is madMAx's with GPU figures: ``[P1] Setup took``, ``[P1] Table 3 took 12.7 sec,
4294562155 entries, ...``, the level (``Compression Level: C8 (xbits = 8, final table = 4)``),
an unpadded level in the name (``plot-k32-c8-...``). The copy of a plot runs while the next one
is made, so its ``Flushing to disk``/``Started copy to``/``Copy to ... finished`` lines fall in
the next plot's section. Phases follow madmax.py: 1:1 at the plot name, 1:N+1 after table N,
2-4 from the ``[P2]``..``[P4]`` lines, 5:0 plot written to the ``-t`` cache, 5:1 copy started,
5:2 copied. ``Phase N took`` and ``Total plot creation time`` are read when printed but are not
needed to follow a job: no published Gigahorse log shows them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import logtools as lt
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import madmax
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.argv import (
    CXXOPTS,
    FLAG,
    MULTI,
    Opt,
    hex_id,
    int_value,
    option,
    parse_options,
    program_argv,
    program_name,
    resolve,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import JobArgs, LogInfo, LogRule, Plotter
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.chia import key_options

NAME = "gigahorse"
_PROGRAM = re.compile(r"cuda_plot(?:_k(\d+))?(?:_v\d+)?")
_DEFAULT_K = 32
_DEFAULT_LEVEL = 1
_RAM = "@RAM"

# cuda_plot's cxxopts table (README "Usage"); unknown options are ignored as in madMAx.
_OPTIONS = (
    Opt(("-C", "--level"), "level"),
    Opt(("-x", "--port"), "port"),
    Opt(("-n", "--count"), "count"),
    Opt(("-g", "--device"), "device"),
    Opt(("-r", "--ndevices"), "ndevices"),
    Opt(("-t", "--tmpdir"), "tmp"),
    Opt(("-2", "--tmpdir2"), "tmp2"),
    Opt(("-3", "--tmpdir3"), "tmp3"),
    Opt(("-d", "--finaldir"), "dst", MULTI),
    Opt(("-z", "--dstport"), "dstport"),
    Opt(("-w", "--waitforcopy"), "waitforcopy", FLAG),
    Opt(("-p", "--poolkey"), "pool_pk"),
    Opt(("-c", "--contract"), "contract"),
    Opt(("-f", "--farmerkey"), "farmer_pk"),
    Opt(("-Z", "--unique"), "unique", FLAG),
    Opt(("-S", "--streams"), "streams"),
    Opt(("-B", "--chunksize"), "chunksize"),
    Opt(("-Q", "--maxtmp"), "maxtmp"),
    Opt(("-A", "--copylimit"), "copylimit"),
    Opt(("-W", "--maxcopy"), "maxcopy"),
    Opt(("-M", "--memory"), "memory"),
    Opt(("-i", "--id"), "plot_id"),
    Opt(("--version",), "version", FLAG),
    Opt(("--help",), "help", FLAG),
)


def match_command(argv: Sequence[str]) -> Sequence[str] | None:
    words = program_argv(argv)
    if not words or not _PROGRAM.fullmatch(program_name(words[0])):
        return None
    return words


def _k_of(program: str) -> int:
    match = _PROGRAM.fullmatch(program_name(program))
    return int(match.group(1)) if match and match.group(1) else _DEFAULT_K


def _local_dir(cwd: str, path: str | None) -> str | None:
    """A dir on this host: None for @RAM (memory) and @HOST (a remote chia_plot_sink)."""
    if path is None or path.startswith("@"):
        return None
    return resolve(cwd, path)


def parse_args(args: Sequence[str], cwd: str) -> JobArgs | None:
    """``args`` starts with the program (its name holds k)."""
    if len(args) < 2:  # without arguments cuda_plot prints its help
        return None
    values, _ = parse_options(args[1:], _OPTIONS, CXXOPTS)
    if values.get("help") or values.get("version"):
        return None
    tmp = resolve(cwd, values.get("tmp")) or resolve(cwd, ".")
    dsts = values.get("dst") or []
    remote = bool(dsts) and all(d.startswith("@") for d in dsts)
    dst_dirs = tuple(d for d in (_local_dir(cwd, d) for d in dsts) if d) or (() if remote else (tmp,))
    count = int_value(values, "count", 1)
    return JobArgs(
        plotter=NAME,
        k=_k_of(args[0]),
        tmp_dir=tmp,
        tmp2_dir=_local_dir(cwd, values.get("tmp2")),
        tmp3_dir=_local_dir(cwd, values.get("tmp3")),
        dst_dir=dst_dirs[0] if dst_dirs else None,
        count=0 if count < 0 else count,
        farmer_pk=values.get("farmer_pk"),
        pool_pk=values.get("pool_pk"),
        pool_contract_address=values.get("contract"),
        compression=int_value(values, "level", _DEFAULT_LEVEL),
        plot_id=hex_id(values.get("plot_id")),
        dst_dirs=dst_dirs,
    )


def _dir(path: str) -> str:
    return path if path.endswith(("/", "\\")) else path + "/"


def build_command(
    section: Mapping[str, Any] | Any, plotting: Mapping[str, Any] | Any, tmp: str, tmp2: str | None, dst: str
) -> list[str]:
    """``cuda_plot_kNN`` for one plot: options executable, k, compression, device, streams, memory."""
    k = int(option(section, "k", _DEFAULT_K))
    argv = [
        str(option(section, "executable", f"cuda_plot_k{k}")),
        "-n", "1",
        "-C", str(option(section, "compression", _DEFAULT_LEVEL)),
        "-t", _dir(tmp),
        "-d", _dir(dst),
    ]  # fmt: skip
    if tmp2:
        argv += ["-2", _dir(tmp2)]
    for name, flag in (("device", "-g"), ("streams", "-S"), ("memory", "-M")):
        if option(section, name) is not None:
            argv += [flag, str(option(section, name))]
    return argv + key_options(plotting, "-f", "-p", "-c")


# --- log ---------------------------------------------------------------------------------------

_SECONDS = lt.SECONDS


def _banner(info: LogInfo, match: re.Match[str]) -> None:
    info.k = int(match.group(1))
    info.version = match.group(2)


def _local_dir_of(name: str) -> Any:
    def action(info: LogInfo, match: re.Match[str]) -> None:
        path = match.group(1).strip()
        setattr(info, name, None if path.startswith("@") else lt.clean_dir(path))

    return action


def _final_destination(info: LogInfo, match: re.Match[str]) -> None:
    # One line per -d; plots go to them in turn, the first is the one a single plot uses.
    if info.dst_dir is None and not match.group(1).startswith("@"):
        info.dst_dir = lt.clean_dir(match.group(1))


def _flushed(info: LogInfo, match: re.Match[str]) -> None:
    # The flush is of the plot that finished phase 4: the current one only if it got that far
    # (otherwise it is the previous plot's, written while this one began).
    if info.phase.major >= 4:
        lt.advance(info, 5, 0)


def _p3_step(info: LogInfo, match: re.Match[str]) -> None:
    table = int(match.group(1))
    # Each table goes PDSK, LPSK, NSK; after NSK the table is done.
    lt.advance(info, 3, table if match.group(2) == "NSK" else table - 1)


LOG_RULES: tuple[LogRule, ...] = (
    lt.rule("Chia k", r"(\d+) next-gen CUDA plotter(?: - (\S+))?", _banner),
    lt.rule("Final Destination: ", r"(.+)", _final_destination),
    lt.rule("Working Directory 2:", r" +(.+)", _local_dir_of("tmp2_dir")),
    lt.rule("Working Directory 3:", r" +(.+)", _local_dir_of("tmp3_dir")),
    lt.rule("[P1] Setup took ", _SECONDS, lt.to(1, 1)),
    *(lt.phase_line(f"[P1] Table {table} took ", 1, min(table + 1, 7)) for table in range(1, 8)),
    lt.rule("[P3] Table ", r"([2-7]) (PDSK|LPSK|NSK) took ", _p3_step),
    lt.rule("Flushing to disk took ", _SECONDS + " sec", _flushed),
    # madMAx's table: the header lines, "Crafting plot", "Plot Name", "Phase N took", the copy.
    *madmax.LOG_RULES,
    # Any other line of a phase: at least in that phase.
    lt.phase_line("[P2] ", 2, 0),
    lt.phase_line("[P3] ", 3, 0),
    lt.phase_line("[P4] ", 4, 0),
)

# The banner, else lines madMAx's CPU plotter never prints (the log of a run with -n -1 may have
# lost its start to rotation): the GPU setup step, the disk-mode dir, a table with GPU figures.
LOG_SIGNATURE = re.compile(
    r"^Chia k\d+ next-gen CUDA plotter|^\[P1\] Setup took |^Working Directory 3:"
    r"|^\[P1\] Table \d took \S+ sec, \d+ entries",
    re.M,
)

PLOTTER = Plotter(
    name=NAME,
    match_command=match_command,
    parse_args=parse_args,
    log_rules=LOG_RULES,
    log_signature=LOG_SIGNATURE,
    build_command=build_command,
    log_markers=("next-gen CUDA plotter", "[P1] Setup took ", "Working Directory 3:", " entries, "),
)
