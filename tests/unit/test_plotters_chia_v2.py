"""v2 plots: the launcher's command lines and its real log (tests/data/logs/chia_v2-*.log)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import (
    LogParser,
    build_command,
    detect_log_plotter,
    parse_command,
    parse_log_file,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import Phase

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
LOG = LOGS / "chia_v2-2.7.5-k18-copy.log"
FARMER = "aefe1789d6476f60439e1168f588ea16652dc321279f05a805fbc63933e88ae9c175d6c6ab182e54af562e1a0dce41bb"
POOL = "b6144137baa6440c17386d1a407fb3670d3b3627b4fa8bf4b56433f861eaba4e076cefac1d9365de56a0e5d976ad7354"
CONTRACT = "xch1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk8qarc0srg6dkm"
LAUNCHER = "/usr/local/lib/plotfleet/plotfleet-chia-plot2"
PLOT_ID = "3f4b6edf0cb1742125a3a314767b9ed3e447661a4ac2a9827c961b67acf40c52"


@pytest.mark.parametrize(
    "prefix",
    [
        ["/opt/plotfleet/chia/bin/python"],
        ["/opt/plotfleet/chia/bin/python3.11", "-u"],
        ["python3", "-X", "dev"],
        [],  # run by its shebang
    ],
)
def test_launcher_under_any_interpreter(prefix: list[str]) -> None:
    argv = [*prefix, LAUNCHER, "-k", "18", "--override-k", "--strength", "3", "-n", "2", "-t", "tmp0",
            "-d", "/mnt/dst0", "-f", FARMER, "-p", POOL]
    args = parse_command(argv, "/mnt")
    assert args is not None and args.plotter == "chia_v2"
    assert (args.k, args.count, args.tmp_dir, args.dst_dir, args.tmp2_dir) == (18, 2, "/mnt/tmp0", "/mnt/dst0", None)
    assert (args.farmer_pk, args.pool_pk, args.pool_contract_address) == (FARMER, POOL, None)


def test_defaults_and_long_options() -> None:
    args = parse_command([LAUNCHER, "--farmer_public_key", FARMER, f"--pool_contract_address={CONTRACT}"], "/srv")
    assert args is not None
    assert (args.k, args.count, args.tmp_dir, args.dst_dir) == (28, 1, "/srv", "/srv")
    assert args.pool_contract_address == CONTRACT


@pytest.mark.parametrize(
    "argv",
    [
        [LAUNCHER, "-k", "18"],  # the launcher refuses k other than 28 without --override-k
        [LAUNCHER, "--help"],
        [LAUNCHER, "--version"],
        [LAUNCHER, "--strength", "two"],
        [LAUNCHER, "--tmp", "/t"],  # no abbreviations (argparse with allow_abbrev=False)
        [LAUNCHER, "stray"],
        ["python3", "-c", "import sys", LAUNCHER],
        ["/usr/bin/less", "/var/log/plotfleet-chia-plot2.log"],
    ],
)
def test_not_a_job(argv: list[str]) -> None:
    assert parse_command(argv, "/") is None


@pytest.mark.parametrize(
    ("section", "plotting", "expect"),
    [
        ({}, {"farmer_pk": FARMER, "pool_pk": POOL}, {"k": 28, "pool_pk": POOL}),
        ({"k": 20, "override_k": True, "strength": 4, "python": "/venv/bin/python",
          "executable": "/x/plotfleet-chia-plot2", "x": True}, {"farmer_pk": FARMER, "pool_contract_address": CONTRACT},
         {"k": 20, "pool_contract_address": CONTRACT}),
    ],
)  # fmt: skip
def test_build_command_round_trip(section: dict, plotting: dict, expect: dict) -> None:
    argv = build_command("chia_v2", section, plotting, "/mnt/tmp0", "/mnt/tmp2", "/mnt/dst0")
    assert argv[0] == section.get("python", "/opt/plotfleet/chia/bin/python")
    assert argv[argv.index("--strength") + 1] == str(section.get("strength", 2))
    assert ("--override-k" in argv) == (section.get("k", 28) != 28)
    assert ("-x" in argv) == bool(section.get("x"))
    args = parse_command(argv, "/")
    assert args is not None and args.plotter == "chia_v2"
    assert (args.tmp_dir, args.tmp2_dir, args.dst_dir, args.count) == ("/mnt/tmp0", None, "/mnt/dst0", 1)
    assert {key: getattr(args, key) for key in expect} == expect


# The real log line by line: the phase after each line (tests/data/logs/README.md says how it was made).
PHASE_AFTER_LINE = [
    ("plotfleet-chia-plot2 1 (", Phase()),
    ("Farmer public key: ", Phase()),
    ("Pool public key: ", Phase()),
    ("Starting v2 plot 1/1: ", Phase(1, 0)),
    ("Writing plot to tmp: ", Phase(1, 1)),
    ("Time for writing = ", Phase(5, 0)),
    ("Copying to final dir: ", Phase(5, 1)),
    ("Renamed final file from ", Phase(5, 2)),
    ("Copy time = ", Phase(5, 2)),
    ("Total time = ", Phase(5, 2)),
    ("Created 1 of 1 v2 plots", Phase(5, 2)),
]


def test_phase_after_every_line() -> None:
    lines = LOG.read_bytes().splitlines(keepends=True)
    assert len(lines) == len(PHASE_AFTER_LINE)
    parser = LogParser()
    for line, (start, phase) in zip(lines, PHASE_AFTER_LINE, strict=True):
        assert line.decode().startswith(start)
        parser.feed(line)
        assert parser.info.phase == phase, line
        assert parser.info.completed == (phase == Phase(5, 2))


def test_what_the_log_says() -> None:
    info = parse_log_file(str(LOG))
    assert (info.plotter, info.version, info.process_id, info.k, info.compression) == ("chia_v2", "2.7.5", 7488, 18, 0)
    assert info.plot_id == PLOT_ID
    assert (info.tmp_dir, info.dst_dir) == ("/tmp/plotfleet-v2/tmp0", "/dev/shm/plotfleet-v2/dst0")
    assert info.started_at == "2026-12-02T12:39:56"
    assert info.phase_seconds == {1: 0.578} and (info.copy_seconds, info.total_seconds) == (0.002, 0.58)
    assert info.plot_file == f"/dev/shm/plotfleet-v2/dst0/plot-k18-{PLOT_ID}.plot2"
    assert info.plot_name == f"plot-k18-{PLOT_ID}"


def test_detected_among_the_other_plotters_logs() -> None:
    assert detect_log_plotter(LOG.read_text()[:4096]) == "chia_v2"
    for other in LOGS.glob("*.log"):
        if other != LOG:
            assert detect_log_plotter(other.read_text(errors="replace")[:4096]) != "chia_v2", other


def test_rename_on_one_filesystem_and_several_plots() -> None:
    """``-n 2`` with tmp and dst on one filesystem: a rename, then the next plot starts afresh."""
    second = "e52442bb77d4d12065e8bcf9cf79923c9db2ef2f65512e257a341baf6ac294e7"
    text = LOG.read_text().split("Starting v2 plot")[0] + (
        f'Starting v2 plot 1/2: ID {PLOT_ID}, k 18, strength 2, tmp "/t", final "/d", at 2026-12-02T12:38:59\n'
        f'Writing plot to tmp: "/t/plot-k18-{PLOT_ID}.plot2.tmp"\n'
        "Time for writing = 0.755 seconds, 640443 bytes\n"
        f'Moving to final dir: "/t/plot-k18-{PLOT_ID}.plot2.tmp" to "/d/plot-k18-{PLOT_ID}.plot2"\n'
        f'Renamed final file from "/t/plot-k18-{PLOT_ID}.plot2.tmp" to "/d/plot-k18-{PLOT_ID}.plot2"\n'
        "Copy time = 0.002 seconds\nTotal time = 0.757 seconds\n"
        f'Starting v2 plot 2/2: ID {second}, k 18, strength 2, tmp "/t", final "/d", at 2026-12-02T12:39:00\n'
        f'Writing plot to tmp: "/t/plot-k18-{second}.plot2.tmp"\n'
    )
    parser = LogParser()
    parser.feed(text.encode())
    info = parser.info
    assert (info.plot_id, info.phase, info.completed, info.plots_started) == (second, Phase(1, 1), False, 2)
