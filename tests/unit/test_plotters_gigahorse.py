"""Gigahorse: command lines (cuda-plotter/README.md's options) and the published logs' values.

The values asserted for the reference logs are those EXPECTED.md in the shared reference dir lists.
"""

from __future__ import annotations

import pytest
from phase_milestones import REFERENCE_GPU_LOGS

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import (
    build_command,
    detect_log_plotter,
    parse_command,
    parse_log_file,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import Phase

CWD = "/home/farmer"
FARMER = "a" * 96
CONTRACT = "xch1" + "q" * 58


@pytest.mark.parametrize("program, k", [("cuda_plot_k32", 32), ("/opt/gh/cuda_plot_k26", 26),
                                        ("cuda_plot_k34", 34), ("cuda_plot_k32.exe", 32), ("cuda_plot_k32_v3", 32),
                                        ("cuda_plot", 32)])
def test_k_comes_from_the_program_name(program, k):
    args = parse_command([program, "-t", "/ssd/", "-d", "/hdd/"], CWD)
    assert (args.plotter, args.k) == ("gigahorse", k)


def test_full_ram_mode_with_several_destinations():
    args = parse_command(["./cuda_plot_k32", "-x", "8444", "-n", "-1", "-C", "7", "-t", "/mnt/ssd/", "-d",
                          "/mnt/hdd1/", "-d", "/mnt/hdd2/", "-c", CONTRACT, "-f", FARMER, "-g", "1", "-S", "3",
                          "-M", "128", "-r", "2", "-z", "1337", "-w"], CWD)
    assert (args.tmp_dir, args.tmp2_dir, args.tmp3_dir) == ("/mnt/ssd", None, None)
    assert (args.dst_dir, args.dst_dirs) == ("/mnt/hdd1", ("/mnt/hdd1", "/mnt/hdd2"))
    assert (args.compression, args.count, args.k) == (7, 0, 32)  # -n -1: until stopped
    assert (args.farmer_pk, args.pool_contract_address) == (FARMER, CONTRACT)


def test_partial_ram_and_disk_modes_and_defaults():
    args = parse_command(["cuda_plot_k32", "-n", "2", "-C", "8", "-M", "60", "-d", "/mnt/plot1_31/", "-t",
                          "/mnt/tmp/", "-2", "/mnt/tmp2/", "-3", "tmp3"], CWD)
    assert (args.tmp_dir, args.tmp2_dir, args.tmp3_dir) == ("/mnt/tmp", "/mnt/tmp2", "/home/farmer/tmp3")
    assert (args.count, args.compression) == (2, 8)
    args = parse_command(["cuda_plot_k30", "-2", "@RAM"], CWD)  # -t defaults to $PWD, -d to -t, -C to 1
    assert (args.tmp_dir, args.tmp2_dir, args.dst_dir, args.compression, args.k) == (CWD, None, CWD, 1, 30)


def test_remote_copy_has_no_local_destination():
    args = parse_command(["cuda_plot_k32", "-t", "/mnt/ssd/", "-d", "@192.168.1.20"], CWD)
    assert (args.dst_dir, args.dst_dirs) == (None, ())


@pytest.mark.parametrize("argv", [["cuda_plot_k32"], ["cuda_plot_k32", "--help"], ["cuda_plot_k32", "--version"],
                                  ["cuda_plot_sink", "--", "/mnt/a"], ["chia_plot_sink", "--", "/mnt/a"]])
def test_not_a_plot_job(argv):
    assert parse_command(argv, CWD) is None


def test_gigahorse_cpu_chia_plot_level():
    args = parse_command(["chia_plot", "-C", "5", "-t", "/t/", "-d", "/d/"], CWD)
    assert (args.plotter, args.compression) == ("madmax", 5)
    assert parse_command(["chia_plot", "-t", "/t/", "-d", "/d/"], CWD).compression == 0


def test_build_command_round_trip():
    argv = build_command("gigahorse", {"k": 32, "compression": 7, "device": 1, "streams": 3, "memory": 64},
                         {"farmer_pk": FARMER, "pool_contract_address": CONTRACT}, "/ssd", "/nvme", "/hdd")
    assert argv[0] == "cuda_plot_k32"
    args = parse_command(argv, CWD)
    assert (args.tmp_dir, args.tmp2_dir, args.dst_dir, args.compression, args.count) == ("/ssd", "/nvme", "/hdd", 7, 1)


def test_hand_made_cpu_log_with_a_level():
    """Gigahorse's CPU chia_plot writes madMAx's log with a level line (hand-written, two lines)."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import LogParser

    parser = LogParser()
    parser.feed(b"Multi-threaded pipelined Chia k32 plotter - 4f5b5a8\nCompression Level: C7 (xbits = 9)\n")
    assert (parser.info.plotter, parser.info.compression) == ("madmax", 7)


# --- the published logs (EXPECTED.md) -----------------------------------------------------------

needs_reference = pytest.mark.skipif(
    not REFERENCE_GPU_LOGS.is_dir(), reason=f"reference logs not found beside the clone: {REFERENCE_GPU_LOGS}"
)


@needs_reference
def test_reference_c1_header():
    info = parse_log_file(str(REFERENCE_GPU_LOGS / "gigahorse-15133ec-c1-win-header-partial.plot.log"))
    assert (info.plotter, info.k, info.version, info.compression) == ("gigahorse", 32, "15133ec", 1)
    assert info.plot_id == "4a34eda13d95ef4fd882f9be5a2bbc47be8f7b515fd4fbeb5071605ef9e6f12f"
    assert info.plot_name == "plot-k32-c1-2023-02-10-22-33-" + info.plot_id
    assert (info.plot_number, info.plots_planned, info.plots_started, info.process_id) == (1, 1, 1, 7120)
    assert (info.tmp_dir, info.tmp2_dir, info.dst_dir) == ("E:\\Chia", None, "F:\\Chia")  # tmp2 @RAM
    assert info.started_at == "2023-02-10T22:33:41"
    assert info.phase == Phase(1, 1) and not info.completed


@needs_reference
def test_reference_c8_plot_2_of_2_with_plot_1_copied():
    info = parse_log_file(str(REFERENCE_GPU_LOGS / "gigahorse-c8-disk-plot2of2-copy-partial.plot.log"))
    assert (info.plotter, info.k, info.compression) == ("gigahorse", 32, 8)
    assert info.plot_id == "b499fb004552a86954112c2d9972bde6a75bbadd8caa0ddd1c2cebd0a6fb40cc"
    assert (info.plot_number, info.plots_planned, info.process_id) == (2, 2, 2093)
    assert (info.tmp_dir, info.tmp2_dir, info.tmp3_dir, info.dst_dir) == ("/mnt/tmp",) * 3 + ("/mnt/plot1_31",)
    assert info.phase == Phase(1, 3)  # still in P1: Table 2 took 621.053 s
    (plot1,) = info.earlier_plots
    assert plot1.plot_id == "071fc7f794f95efe354cb33abfc5d9ee65c94931c9e464d2c0cbc783d6d4379b"
    assert (plot1.k, plot1.compression, plot1.copy_seconds, plot1.completed) == (32, 8, 299.365, True)
    assert plot1.plot_file == "/mnt/plot1_31/plot-k32-c8-2023-05-07-02-23-" + plot1.plot_id + ".plot"
    assert plot1.phase == Phase(5, 2)
    assert [p.plot_id for p in info.plots()] == [plot1.plot_id, info.plot_id]


@needs_reference
def test_reference_c18_plot_18_of_infinite_with_copy_started():
    info = parse_log_file(str(REFERENCE_GPU_LOGS / "gigahorse-c18-win-plot18-copy-partial.plot.log"))
    assert (info.plotter, info.k, info.compression) == ("gigahorse", 32, 18)
    assert info.plot_id == "8129d42d23b97f5fc2570e832982f1c3f1684d3da9f18e6b01a3d8f46e144973"
    assert info.plot_name.startswith("plot-k32-c18-2023-11-15-22-33-")
    assert (info.plot_number, info.plots_planned, info.process_id) == (18, 0, 7036)  # -n -1
    assert (info.tmp_dir, info.tmp2_dir, info.dst_dir) == ("Z:/Tmp", "Z:/Tmp", "S:/NFT")  # dst from the copy
    assert info.phase == Phase(1, 6)  # tables 1-5 done
    (previous,) = info.earlier_plots
    assert previous.plot_id == "592ad38bbc1ae60b34c43cd00372fa389459fa2ff57ee68756042a643632ea8c"
    assert (previous.phase, previous.completed, previous.copy_seconds) == (Phase(5, 1), False, None)


@needs_reference
def test_reference_plot_sink_log_is_no_plot_job_log():
    text = (REFERENCE_GPU_LOGS / "chia_plot_sink-c7-win-partial.plot.log").read_text()
    assert detect_log_plotter(text) is None
