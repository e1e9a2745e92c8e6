"""madMAx: ``chia_plot`` and ``chia plotters madmax`` command lines, and its logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import LogParser, parse_command, parse_log_file
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import Phase

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
FARMER = "aefe1789d6476f60439e1168f588ea16652dc321279f05a805fbc63933e88ae9c175d6c6ab182e54af562e1a0dce41bb"


@pytest.mark.parametrize("program", ["chia_plot", "/usr/local/bin/chia_plot", "./build/chia_plot", "chia_plot_k34"])
def test_chia_plot(program: str) -> None:
    argv = [program, "-n", "-1", "-r", "16", "-u", "512", "-v", "128", "-t", "/mnt/nvme/", "-2", "/mnt/ram/",
            "-d", "/mnt/farm/", "-c", "xch1contract", "-f", FARMER, "-K", "2", "-w", "-G"]  # fmt: skip
    args = parse_command(argv, "/root")
    assert args is not None
    assert (args.plotter, args.k, args.threads, args.buckets, args.count) == ("madmax", 32, 16, 512, 0)
    assert (args.tmp_dir, args.tmp2_dir, args.dst_dir) == ("/mnt/nvme", "/mnt/ram", "/mnt/farm")
    assert (args.pool_contract_address, args.farmer_pk, args.compression) == ("xch1contract", FARMER, 0)


def test_chia_plot_defaults_long_forms_and_relative_dirs() -> None:
    args = parse_command(["chia_plot", "--tmpdir=tmp/", "--stagedir", "stage/", "-k30", "--unknown", "7"], "/w")
    assert args is not None
    # final dir defaults to tmpdir; 4 threads; -u 256 buckets
    assert (args.tmp_dir, args.dst_dir, args.stage_dir, args.tmp2_dir) == ("/w/tmp", "/w/tmp", "/w/stage", None)
    assert (args.k, args.threads, args.buckets, args.count) == (30, 4, 256, 1)


def test_small_bucket_numbers_are_exponents() -> None:
    args = parse_command(["chia_plot", "-t", "/t/", "-u", "7"], "/")
    assert args is not None and args.buckets == 128


def test_chia_plotters_madmax() -> None:
    argv = ["/opt/chia/venv/bin/python", "/opt/chia/venv/bin/chia", "plotters", "madmax", "-t", "/mnt/t",
            "-d", "dst", "-r", "8", "--buckets", "128", "-w", "-f", FARMER]  # fmt: skip
    args = parse_command(argv, "/mnt")
    assert args is not None
    assert (args.plotter, args.tmp_dir, args.dst_dir, args.threads, args.buckets) == (
        "madmax", "/mnt/t", "/mnt/dst", 8, 128)  # fmt: skip
    assert args.launcher == "chia plotters"


def test_launcher_and_its_child_agree_on_dirs() -> None:
    """``chia plotters madmax`` starts chia_plot with trailing slashes; both name the same dirs."""
    parent = parse_command(["chia", "plotters", "madmax", "-t", "/mnt/t", "-d", "/mnt/d"], "/")
    child = parse_command(["/venv/madmax/chia_plot", "-f", FARMER, "-t", "/mnt/t/", "-d", "/mnt/d/", "-n", "1"], "/")
    assert parent is not None and child is not None
    assert (parent.tmp_dir, parent.dst_dir) == (child.tmp_dir, child.dst_dir)


@pytest.mark.parametrize(
    "argv",
    [
        ["chia_plot"],  # prints its help
        ["chia_plot", "--help"],
        ["chia_plot", "--version"],
        ["chia_plot", "-d", "/d/"],  # no -t: refuses to start
        ["chia_plot", "-t", "/t/", "-r", "many"],
        ["chia_plot", "-t", "/t/", "-u", "1000000"],
        ["chia_plot", "-t"],
        ["chia", "plotters", "madmax", "-t", "/t"],
        ["chia", "plotters", "madmax", "-h"],
        ["chia_plotter", "-t", "/t/"],
    ],
)
def test_not_a_job(argv: list[str]) -> None:
    assert parse_command(argv, "/") is None


def test_log_with_copy() -> None:
    info = parse_log_file(str(LOGS / "madmax-5b5bd68-k32-copy.log"))
    assert (info.version, info.threads, info.buckets, info.process_id) == ("5b5bd68", 16, 256, 41377)
    assert (info.tmp_dir, info.tmp2_dir, info.dst_dir) == ("/mnt/nvme0", "/mnt/ram", "/mnt/farm07")
    assert info.started_at == "2024-03-20T10:15:02"  # the "Crafting plot" time, to the second
    assert info.copy_seconds == 412.337 and info.completed and info.phase == Phase(5, 2)
    assert info.plot_file == f"/mnt/farm07/{info.plot_name}.plot"


def test_two_plots_and_a_copy_that_finishes_during_the_second() -> None:
    parser = LogParser()
    lines = (LOGS / "madmax-974d6e5-k32-2plots.log").read_bytes().splitlines(keepends=True)
    first_id = None
    for line in lines:
        parser.feed(line)
        info = parser.info
        if info.plots_started == 1 and info.plot_id:
            first_id = info.plot_id
        if line.startswith(b"Copy to ") and first_id and first_id.encode() in line:
            # plot 2 is in phase 1: the finished copy of plot 1 must not move or complete it
            assert info.plots_started == 2 and info.phase.major == 1 and not info.completed
    info = parser.info
    assert info.plots_started == 2 and info.completed and info.plot_id != first_id
    assert info.started_at == "2021-08-02T04:07:00"  # old madMAx: the plot name's minute
    assert info.copy_seconds == 598.113


def test_no_copy_when_the_plot_is_written_in_dst() -> None:
    parser = LogParser()
    name = "plot-k32-2024-03-20-10-15-" + "ab" * 32
    parser.feed(
        b"Multi-threaded pipelined Chia k32 plotter - 5b5bd68\n"
        b"Final Directory: /mnt/t/\nCrafting plot 1 out of 1 (2024/03/20 10:15:02)\n"
        b"Working Directory:   /mnt/t/\nWorking Directory 2: /mnt/t/\n"
        + f"Plot Name: {name}\n".encode()
        + b"Phase 4 took 30.1 sec, final plot size is 1 bytes\nTotal plot creation time was 1000.5 sec (16.675 min)\n"
    )
    info = parser.info
    assert info.completed and info.plot_file == f"/mnt/t/{name}.plot" and info.total_seconds == 1000.5
