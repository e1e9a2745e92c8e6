"""build_command: what plotfleet starts is what parse_command later recognises as that job."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import PLOTTERS, build_command, parse_command

FARMER = "aefe1789d6476f60439e1168f588ea16652dc321279f05a805fbc63933e88ae9c175d6c6ab182e54af562e1a0dce41bb"
POOL = "b6144137baa6440c17386d1a407fb3670d3b3627b4fa8bf4b56433f861eaba4e076cefac1d9365de56a0e5d976ad7354"
PLOTTING = {"farmer_pk": FARMER, "pool_pk": POOL}
CONTRACT = {"farmer_pk": FARMER, "pool_contract_address": "xch1contract"}


def test_the_three_plotters() -> None:
    assert sorted(PLOTTERS) == ["bladebit", "chia", "chia_v2", "gigahorse", "madmax"]
    assert all(name == plotter.name for name, plotter in PLOTTERS.items())


@pytest.mark.parametrize(
    ("section", "expect"),
    [
        ({}, {"k": 32, "threads": 2, "buckets": 128, "buffer": 3389}),
        ({"executable": "/opt/venv/bin/chia", "k": 25, "n_threads": 4, "n_buckets": 64, "job_buffer": 4000,
          "e": True, "x": True}, {"k": 25, "threads": 4, "buckets": 64, "buffer": 4000}),
    ],
)  # fmt: skip
def test_chia_round_trip(section: dict[str, object], expect: dict[str, object]) -> None:
    argv = build_command("chia", section, PLOTTING, "/mnt/tmp/01", "/mnt/tmp/02", "/mnt/dst/00")
    args = parse_command(argv, "/somewhere")
    assert args is not None and args.plotter == "chia"
    assert (args.tmp_dir, args.tmp2_dir, args.dst_dir) == ("/mnt/tmp/01", "/mnt/tmp/02", "/mnt/dst/00")
    assert {key: getattr(args, key) for key in expect} == expect
    assert (args.farmer_pk, args.pool_pk, args.count) == (FARMER, POOL, 1)


def test_chia_small_k_gets_override() -> None:
    argv = build_command("chia", {"k": 25}, PLOTTING, "/t", None, "/d")
    assert "--override-k" in argv
    args = parse_command(["python3", *argv], "/")
    assert args is not None and args.k == 25 and args.tmp2_dir is None


def test_madmax_round_trip() -> None:
    section = {"n_threads": 16, "n_buckets": 512, "n_buckets3": 128, "n_rmulti2": 2}
    argv = build_command("madmax", section, CONTRACT, "/mnt/nvme", "/mnt/ram", "/mnt/farm")
    assert "/mnt/nvme/" in argv  # madMAx wants the trailing slash
    args = parse_command(argv, "/")
    assert args is not None
    assert (args.plotter, args.threads, args.buckets, args.count) == ("madmax", 16, 512, 1)
    assert (args.tmp_dir, args.tmp2_dir, args.dst_dir) == ("/mnt/nvme", "/mnt/ram", "/mnt/farm")
    assert (args.pool_contract_address, args.pool_pk) == ("xch1contract", None)


@pytest.mark.parametrize("mode", ["ramplot", "diskplot", "cudaplot"])
def test_bladebit_round_trip(mode: str) -> None:
    section = {"mode": mode, "threads": 24, "no_numa": True, "compression": 3 if mode != "diskplot" else None,
               "diskplot_buckets": 128, "diskplot_cache": 68719476736}  # fmt: skip
    argv = build_command("bladebit", section, PLOTTING, "/mnt/t1", "/mnt/t2", "/mnt/farm")
    args = parse_command(argv, "/")
    assert args is not None
    assert (args.plotter, args.mode, args.threads, args.dst_dir, args.count) == ("bladebit", mode, 24, "/mnt/farm", 1)
    if mode == "diskplot":
        assert (args.tmp_dir, args.tmp2_dir, args.buckets, args.compression) == ("/mnt/t1", "/mnt/t2", 128, 0)
    else:
        assert (args.tmp_dir, args.compression) == (None, 3)


def test_options_may_be_objects() -> None:
    """The config module hands over dataclasses; attribute access works like a mapping."""
    section = SimpleNamespace(executable="chia_plot", n_threads=8, n_buckets=256, n_buckets3=256, n_rmulti2=1)
    plotting = SimpleNamespace(farmer_pk=FARMER, pool_pk=POOL, pool_contract_address=None)
    argv = build_command("madmax", section, plotting, "/t", None, "/d")
    args = parse_command(argv, "/")
    assert args is not None and args.threads == 8 and args.pool_pk == POOL


def test_unknown_plotter_or_mode() -> None:
    with pytest.raises(ValueError, match="unknown plotter 'plotman'"):
        build_command("plotman", {}, PLOTTING, "/t", None, "/d")
    with pytest.raises(ValueError, match="bladebit mode"):
        build_command("bladebit", {"mode": "gpu"}, PLOTTING, "/t", None, "/d")


@pytest.mark.parametrize(
    "argv",
    [
        ["rsync", "-a", "/mnt/dst/plot.plot", "harvester::plots"],
        ["bash", "-c", "chia plots create"],
        ["python3", "-m", "plotman", "plot"],
        ["/usr/bin/python3", "-W"],
        ["\x00", "\xff"],
        ["chia", "plots", "create", "-n", "\udcff"],
    ],
)
def test_other_processes(argv: list[str]) -> None:
    assert parse_command(argv, "/") is None
