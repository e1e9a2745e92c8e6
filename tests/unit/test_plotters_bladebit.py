"""Bladebit: ``bladebit``/``bladebit_cuda`` and ``chia plotters bladebit`` command lines, and logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import LogParser, parse_command, parse_log_file
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import Phase

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
FARMER = "aefe1789d6476f60439e1168f588ea16652dc321279f05a805fbc63933e88ae9c175d6c6ab182e54af562e1a0dce41bb"
POOL = "b6144137baa6440c17386d1a407fb3670d3b3627b4fa8bf4b56433f861eaba4e076cefac1d9365de56a0e5d976ad7354"


def test_ramplot_with_global_options() -> None:
    argv = ["bladebit", "-t", "32", "-n", "2", "-f", FARMER, "-p", POOL, "-w", "--no-numa", "--compress", "5",
            "ramplot", "/mnt/dst1", "/mnt/dst2"]  # fmt: skip
    args = parse_command(argv, "/")
    assert args is not None
    assert (args.plotter, args.mode, args.k, args.threads, args.count, args.compression) == (
        "bladebit", "ramplot", 32, 32, 2, 5)  # fmt: skip
    assert (args.tmp_dir, args.dst_dir, args.dst_dirs) == (None, "/mnt/dst1", ("/mnt/dst1", "/mnt/dst2"))
    assert (args.farmer_pk, args.pool_pk) == (FARMER, POOL)


def test_diskplot_relative_dirs_and_defaults() -> None:
    argv = ["/opt/bladebit/bladebit", "-f", FARMER, "-c", "xch1c", "diskplot", "-t1", "t1", "--temp2", "/ram/",
            "--cache", "64G", "-a", "--f1-threads", "8", "out"]  # fmt: skip
    args = parse_command(argv, "/mnt")
    assert args is not None
    assert (args.mode, args.tmp_dir, args.tmp2_dir, args.dst_dir) == ("diskplot", "/mnt/t1", "/ram", "/mnt/out")
    assert (args.buckets, args.threads, args.compression, args.count) == (256, None, 0, 1)


def test_cudaplot_and_bare_compress_flag() -> None:
    args = parse_command(["bladebit_cuda", "-z", "-f", FARMER, "-c", "xch1c", "cudaplot", "-d", "1", "/plots/"], "/")
    assert args is not None
    # a bare -z is level 1; cudaplot's -d is the GPU, not a directory
    assert (args.mode, args.compression, args.dst_dir, args.tmp_dir) == ("cudaplot", 1, "/plots", None)


def test_chia_plotters_bladebit() -> None:
    argv = ["chia", "plotters", "bladebit", "diskplot", "-r", "16", "-t", "/t1", "-2", "/t2", "-d", "/dst",
            "-u", "512", "--cache", "32G"]  # fmt: skip
    args = parse_command(argv, "/")
    assert args is not None
    assert (args.mode, args.threads, args.buckets, args.tmp_dir, args.tmp2_dir, args.dst_dir) == (
        "diskplot", 16, 512, "/t1", "/t2", "/dst")  # fmt: skip
    # chia passes --compress 1 unless told otherwise
    assert (args.compression, args.launcher) == (1, "chia plotters")


def test_launcher_and_its_child_agree_on_dirs() -> None:
    parent = parse_command(["chia", "plotters", "bladebit", "ramplot", "-d", "/mnt/d", "--compress", "3"], "/")
    child = parse_command(["/venv/bin/bladebit", "--threads", "0", "--count", "1", "--farmer-key", FARMER,
                           "--compress", "3", "ramplot", "/mnt/d"], "/")  # fmt: skip
    assert parent is not None and child is not None
    assert (parent.tmp_dir, parent.dst_dir, parent.compression) == (child.tmp_dir, child.dst_dir, child.compression)


@pytest.mark.parametrize(
    "argv",
    [
        ["bladebit", "--help"],
        ["bladebit", "-f", FARMER, "diskplot", "-h"],
        ["bladebit", "help", "diskplot"],
        ["bladebit", "--version"],
        ["bladebit", "--memory-json"],
        ["bladebit", "-f", FARMER, "ramplot"],  # no output dir
        ["bladebit", "-f", FARMER, "diskplot", "/dst"],  # diskplot needs -t1
        ["bladebit", "-f", FARMER, "diskplot", "-t1", "/t", "--bogus", "/dst"],
        ["bladebit", "-t", "x", "ramplot", "/dst"],
        ["bladebit", "-f", FARMER, "iotest", "/mnt"],
        ["bladebit", "-f", FARMER, "validate", "/mnt/plot.plot"],
        ["bladebit", "--threads=4", "ramplot", "/dst"],  # bladebit has no --name=value
        ["bladebit_cuda", "-f", FARMER, "cudaplot", "-l"],
        ["chia", "plotters", "bladebit", "ramplot"],
        ["chia", "plotters", "bladebit", "-d", "/dst"],
        ["bladebit"],
    ],
)
def test_not_a_job(argv: list[str]) -> None:
    assert parse_command(argv, "/") is None


def test_ramplot_log() -> None:
    info = parse_log_file(str(LOGS / "bladebit-2.0.1-ramplot.log"))
    assert (info.mode, info.version, info.threads, info.compression, info.k) == ("ramplot", "2.0.1", 64, 0, 32)
    assert info.phase_seconds == {1: 309.62, 2: 43.87, 3: 201.55, 4: 1.09}
    assert (info.total_seconds, info.copy_seconds) == (577.5, 21.37)
    assert info.dst_dir == "/mnt/dst1" and info.started_at == "2023-02-14T09:30:00"


def test_diskplot_log() -> None:
    info = parse_log_file(str(LOGS / "bladebit-3.1.0-diskplot.log"))
    assert (info.mode, info.buckets, info.tmp_dir, info.tmp2_dir) == ("diskplot", 256, "/mnt/nvme1/t1", "/mnt/nvme2/t2")
    assert info.phase_seconds == {1: 658.14, 2: 221.5, 3: 389.2} and info.copy_seconds == 2.36


def test_cudaplot_compressed_log() -> None:
    info = parse_log_file(str(LOGS / "bladebit-3.1.0-cudaplot-c07.log"))
    assert (info.mode, info.compression, info.total_seconds, info.copy_seconds) == ("cudaplot", 7, 32.72, 4.03)
    assert info.plot_name is not None and info.plot_name.startswith("plot-k32-c07-")


def test_bladebit_1_log_output_path_comes_before_its_signature() -> None:
    info = parse_log_file(str(LOGS / "bladebit-1.2.0-ramplot.log"))
    assert (info.plotter, info.dst_dir, info.threads) == ("bladebit", "/mnt/farm05", 48)


@pytest.mark.parametrize(
    ("name", "phases"),
    [
        ("bladebit-2.0.1-ramplot.log", [(0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (1, 7), (2, 0), (2, 1), (2, 5),
                                        (3, 0), (3, 1), (3, 6), (4, 0), (4, 1), (4, 4), (5, 0), (5, 1), (5, 2)]),
        ("bladebit-3.1.0-diskplot.log", [(0, 2), (1, 0), (1, 1), (1, 7), (2, 0), (2, 1), (2, 5), (3, 0), (3, 1),
                                         (3, 6), (3, 7), (4, 0), (5, 1), (5, 2)]),
        ("bladebit-3.1.0-cudaplot-c07.log", [(0, 1), (0, 2), (1, 0), (1, 2), (1, 7), (2, 0), (2, 1), (2, 4),
                                             (3, 0), (3, 2), (3, 6), (3, 7), (4, 0), (5, 1), (5, 2)]),
    ],
)  # fmt: skip
def test_phases_seen_while_the_log_grows(name: str, phases: list[tuple[int, int]]) -> None:
    parser = LogParser()
    seen = []
    for line in (LOGS / name).read_bytes().splitlines(keepends=True):
        parser.feed(line)
        if not seen or seen[-1] != parser.info.phase:
            seen.append(parser.info.phase)
    for phase in phases:
        assert Phase(*phase) in seen, (phase, seen)
    assert seen == sorted(seen)


# --- published real logs (read at test time from the shared dir; values from its EXPECTED.md) ----

def _reference(name: str):
    from phase_milestones import REFERENCE_GPU_LOGS

    if not REFERENCE_GPU_LOGS.is_dir():
        pytest.skip(f"reference logs not found beside the clone: {REFERENCE_GPU_LOGS}")
    return parse_log_file(str(REFERENCE_GPU_LOGS / name))


def test_reference_diskplot_2_0_complete():
    info = _reference("bladebit-diskplot-2.0dev-c0-complete.plot.log")
    assert (info.plotter, info.mode, info.k, info.compression) == ("bladebit", "diskplot", 32, 0)
    assert info.plot_id == "8f781fecff9d78b83b7116580af550b62530a623750738a19dcea498a7a73010"
    assert info.plot_name == "plot-k32-2022-05-04-00-44-" + info.plot_id
    assert (info.plot_number, info.plots_planned, info.threads, info.buckets) == (1, 1, 64, 256)
    assert info.phase_seconds == {1: 526.48, 2: 100.36, 3: 562.95}
    assert info.total_seconds == 1189.79 and info.completed


def test_reference_cudaplot_c1_plot_48():
    info = _reference("bladebit_cuda-3.0.0a4.3-c1-plot48-partial.plot.log")
    assert info.plot_id == "552902f432b15e12882744c0a931367c804b2fa172e7958434a7a3392f4f6f67"
    assert (info.k, info.compression, info.plot_number, info.plots_planned) == (32, 1, 48, 999999)
    assert info.dst_dir == "/home/mnt/pw"
    assert info.phase_seconds == {1: 68.0, 2: 8.66} and info.total_seconds is None
    assert info.phase.major == 3 and not info.completed


def test_reference_cudaplot_c7_plot_14_of_90():
    info = _reference("bladebit_cuda-3.1.0-c7-disk128-plot14of90-partial.plot.log")
    assert info.plot_id == "a87ce0887756f8dcda26bb50dd57fc1928ce6dba1e6d6c7522b873a3ffe5912a"
    assert (info.k, info.compression, info.plot_number, info.plots_planned) == (32, 7, 14, 90)
    assert info.plot_name.startswith("plot-k32-c07-2023-12-28-09-40-")
    assert info.dst_dir == "Q:\\NFT"  # where bladebit writes the .plot.tmp
    assert info.phase_seconds == {1: 2132.26, 2: 77.28} and info.phase.major == 3


def test_reference_cudaplot_c3_header():
    info = _reference("bladebit_cuda-3.1.0-c3-disk128-header-partial.plot.log")
    assert (info.version, info.mode, info.compression, info.threads, info.plots_planned) == (
        "3.1.0", "cudaplot", 3, 14, 1)
    assert info.plot_id is None and info.phase == Phase(0, 1)


def test_reference_cudaplot_tail_done():
    info = _reference("bladebit_cuda-3.0.0a3-c0-tail.plot.log")
    assert info.plot_id == "3d6a764cd3ba1be7fd28215e6db12e8850b43ea92af0d836dae94771a5a25e13"
    assert (info.k, info.compression) == (32, 0)
    assert info.phase_seconds == {3: 86.85} and info.total_seconds == 205.53 and info.copy_seconds == 5.74
    assert info.plot_file == "D:/plot-k32-2023-03-13-18-40-" + info.plot_id + ".plot" and info.completed
