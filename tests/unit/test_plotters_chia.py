"""chiapos: command lines of ``chia plots create`` / ``chia plotters chiapos`` and real logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import LogParser, parse_command, parse_log_file
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import Phase

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
FARMER = "aefe1789d6476f60439e1168f588ea16652dc321279f05a805fbc63933e88ae9c175d6c6ab182e54af562e1a0dce41bb"
POOL = "b6144137baa6440c17386d1a407fb3670d3b3627b4fa8bf4b56433f861eaba4e076cefac1d9365de56a0e5d976ad7354"

# chiapos writes its progress from C++ straight to fd 1, so the plot runs in a child process whose
# stdout is the log file. The file name follows chia's own pattern (plot-k<k>-<date>-<id>.plot).
_PLOT_K18 = """
import datetime, os, sys
from chiapos import DiskPlotter
tmp, tmp2, final = sys.argv[1:4]
plot_id = os.urandom(32)
name = "plot-k18-" + datetime.datetime.now().strftime("%Y-%m-%d-%H-%M") + "-" + plot_id.hex() + ".plot"
# k, memo, id, buffer MiB, buckets, stripe size, threads, nobitfield
DiskPlotter().create_plot_disk(tmp, tmp2, final, name, 18, os.urandom(128), plot_id, 200, 16, 4096, 2, False)
"""


def plot_k18(tmp: Path, tmp2: Path, final: Path, log: Path) -> None:
    """A real k=18 plot by chiapos (about a second), its output captured in ``log``."""
    for path in (tmp, tmp2, final):
        path.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        subprocess.run(
            [sys.executable, "-c", _PLOT_K18, str(tmp), str(tmp2), str(final)],
            stdout=out, stderr=subprocess.PIPE, check=True, timeout=120,
        )  # fmt: skip


# --- command lines -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    [
        ["chia"],
        ["/opt/venv/bin/chia"],
        ["python", "/opt/venv/bin/chia"],
        ["python3", "/opt/venv/bin/chia"],
        ["python3.11", "/opt/venv/bin/chia"],
        ["/opt/venv/bin/python3", "-u", "/opt/venv/bin/chia"],
        ["/usr/bin/python3.11", "-m", "chia.cmds.chia"],
        ["chia", "--root-path", "/srv/chia"],
        ["chia", "--root-path=/srv/chia"],
    ],
)
def test_plots_create_with_every_interpreter_form(prefix: list[str]) -> None:
    argv = [*prefix, "plots", "create", "-k", "32", "-r", "4", "-u", "64", "-b", "4000",
            "-t", "/mnt/tmp/01", "-2", "/mnt/tmp/02", "-d", "/mnt/dst/00", "-f", FARMER, "-p", POOL]  # fmt: skip
    args = parse_command(argv, "/home/chia")
    assert args is not None
    assert (args.plotter, args.k, args.threads, args.buckets, args.buffer) == ("chia", 32, 4, 64, 4000)
    assert (args.tmp_dir, args.tmp2_dir, args.dst_dir) == ("/mnt/tmp/01", "/mnt/tmp/02", "/mnt/dst/00")
    assert (args.farmer_pk, args.pool_pk, args.compression, args.launcher) == (FARMER, POOL, 0, None)


def test_plots_create_defaults_and_relative_dirs() -> None:
    args = parse_command(["chia", "plots", "create", "-t", "tmp", "--final_dir=../dst/"], "/mnt/work")
    assert args is not None
    assert (args.k, args.threads, args.buckets, args.buffer, args.count) == (32, 2, 128, 3389, 1)
    assert (args.tmp_dir, args.tmp2_dir, args.dst_dir) == ("/mnt/work/tmp", None, "/mnt/dst")


def test_plots_create_without_dirs_plots_in_cwd() -> None:
    args = parse_command(["chia", "plots", "create"], "/mnt/work")
    assert args is not None and (args.tmp_dir, args.dst_dir) == ("/mnt/work", "/mnt/work")


def test_plots_create_long_options_bundles_and_ids() -> None:
    argv = ["chia", "plots", "create", "--size=25", "--override-k", "-ex", "-n3", "--num_threads", "8",
            "--pool_contract_address", "xch1abc", "-i", "0xABCDEF", "--tmp_dir", "/t"]  # fmt: skip
    args = parse_command(argv, "/")
    assert args is not None
    assert (args.k, args.count, args.threads, args.pool_contract_address, args.plot_id) == (
        25, 3, 8, "xch1abc", "abcdef")  # fmt: skip


def test_chia_plotters_chiapos() -> None:
    argv = ["chia", "plotters", "chiapos", "-t", "t1", "-2", "/t2", "-d", "/dst", "-k", "25", "--override-k",
            "--compress", "3", "-f", FARMER]  # fmt: skip
    args = parse_command(argv, "/data")
    assert args is not None
    assert (args.tmp_dir, args.tmp2_dir, args.dst_dir, args.k) == ("/data/t1", "/t2", "/dst", 25)
    # buffer/threads/buckets 0 mean chiapos' own defaults: 4608 MiB, 2 threads, computed buckets
    assert (args.buffer, args.threads, args.buckets) == (4608, 2, None)
    assert (args.compression, args.launcher) == (0, "chia plotters")


@pytest.mark.parametrize(
    "argv",
    [
        ["chia", "plots", "create", "--help"],
        ["chia", "plots", "create", "-k", "32", "-h"],
        ["chia", "plots", "create", "-k", "big"],
        ["chia", "plots", "create", "--no-such-option"],
        ["chia", "plots", "create", "stray"],
        ["chia", "plots", "create", "-t"],
        ["chia", "plots", "check"],
        ["chia", "start", "farmer"],
        ["chia", "--unknown-global", "plots", "create"],
        ["chia", "plotters", "chiapos", "-t", "/t"],  # -d is required there
        ["chia", "plotters", "chiapos", "-t", "/t", "-d", "/d", "--compress", "x"],
        ["python3", "-c", "print(1)"],
        ["python3"],
        ["chia"],
        [],
        [""],
    ],
)
def test_not_a_job(argv: list[str]) -> None:
    assert parse_command(argv, "/") is None


# --- logs ----------------------------------------------------------------------------------------


def test_chia_cli_k25_log() -> None:
    info = parse_log_file(str(LOGS / "chia-2.7.5-k25.log"))
    assert (info.plotter, info.version, info.k, info.buffer, info.buckets, info.threads) == (
        "chia", "2.7.5", 25, 3389, 128, 2)  # fmt: skip
    assert info.plot_id == "ce0294538446c461f31802a0b447b802c44be7e6348eac16cf64882134e9b7c4"
    assert (info.tmp_dir, info.tmp2_dir, info.dst_dir) == ("/tmp/pt", "/tmp/pt", "/tmp/pd")
    assert info.started_at == "2026-11-25T08:18:51"
    assert info.phase_seconds == {1: 86.985, 2: 10.245, 3: 38.8, 4: 3.552}
    assert info.total_seconds == 139.584 and info.copy_seconds is None
    assert info.completed and info.phase == Phase(5, 3) and info.process_id == 2699
    assert info.plot_file == f"/tmp/pd/plot-k25-2026-11-25-08-18-{info.plot_id}.plot"


def test_chiapos_k18_rename_log() -> None:
    info = parse_log_file(str(LOGS / "chiapos-2.0.12-k18.log"))
    assert (info.plotter, info.k, info.buffer, info.buckets, info.threads) == ("chia", 18, 200, 16, 2)
    assert info.completed and info.phase == Phase(5, 3) and info.copy_seconds is None
    assert sorted(info.phase_seconds) == [1, 2, 3, 4]
    assert info.plot_file is not None and info.plot_file.startswith(f"{info.dst_dir}/plot-k18-")


def test_chiapos_k18_copy_log() -> None:
    """tmp2 and dst on different filesystems: chiapos copies, then renames."""
    info = parse_log_file(str(LOGS / "chiapos-2.0.12-k18-copy.log"))
    assert info.tmp2_dir != info.dst_dir
    assert info.copy_seconds is not None and info.completed and info.phase == Phase(5, 3)


def test_live_chiapos_k18_plot(tmp_path: Path) -> None:
    """A fresh real plot: the log ends complete, names the plot that exists on disk."""
    log = tmp_path / "k18.log"
    plot_k18(tmp_path / "t", tmp_path / "t2", tmp_path / "d", log)
    info = parse_log_file(str(log))
    assert info.plotter == "chia" and info.k == 18 and info.completed
    assert info.tmp_dir == str(tmp_path / "t") and info.dst_dir == str(tmp_path / "d")
    assert info.plot_file is not None and Path(info.plot_file).is_file()
    assert info.plot_id is not None and info.plot_id in info.plot_file
    assert info.total_seconds is not None and info.total_seconds > 0


def test_phases_in_order_while_the_log_grows() -> None:
    """Each phase the chiapos k18 log passes through, in order, as plotman numbers them."""
    parser = LogParser()
    seen: list[Phase] = []
    for line in (LOGS / "chiapos-2.0.12-k18.log").read_bytes().splitlines(keepends=True):
        parser.feed(line)
        if not seen or seen[-1] != parser.info.phase:
            seen.append(parser.info.phase)
    expected = ([Phase(1, n) for n in range(0, 8)] + [Phase(2, n) for n in range(0, 8)]
                + [Phase(3, n) for n in range(0, 7)] + [Phase(4, n) for n in range(0, 4)]
                + [Phase(5, 0), Phase(5, 3)])  # fmt: skip
    assert seen == [Phase(), *expected]


def test_progress_lines_ending_in_carriage_return() -> None:
    parser = LogParser("chia")
    parser.feed(b"Computing table 1\rProgress update: 0.01\rComputing table 2\r")
    assert parser.info.phase == Phase(1, 2)


def test_chia_logger_lines_with_ansi_colours() -> None:
    parser = LogParser()
    parser.feed(
        b"2026-11-25T08:18:51.415 2.7.5  chia.plotting.create_plots       : \x1b[32mINFO    \x1b[0m "
        b"Creating 1 plots of size 25, pool public key:  ab farmer public key: cd\x1b[0m\n"
    )
    assert (parser.info.plotter, parser.info.version, parser.info.k) == ("chia", "2.7.5", 25)
