"""Replace on arrival through playbooks/archive.yml, against a real rsync daemon and a full disk.

The harvester's archive dir is a small tmpfs filled with v1 plot files (random bytes under real
plot names: deletion is about files), so "no room" is real; the plot to place is the session's
real k18 plot under a fresh name. A k18 plot's size varies with its id (3.7-4.3 MiB seen), so the
dir is sized from it: deleting exactly one replaceable file makes room for it and the margin.
The rules let uncompressed v1 plots and v1 below C7 go; a C9 plot and a v2 plot sit beside them
and must survive every run.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_module, run_playbook
from test_archive_transfers import PASSWORD, Fleet, real_plot, sha256  # noqa: F401 - real_plot is a fixture

from ansible_collections.plotfleet.fleet.plugins.module_utils.replace import RESERVATION_NAME
from ansible_collections.plotfleet.fleet.plugins.module_utils.units import human_bytes

MIB = 1024**2
RULES = [{"name": "v1 uncompressed", "format": "v1", "compression": 0},
         {"name": "v1 below C7", "format": "v1", "compression_below": 7}]


def v1_name(n: int, date: str, level: str = "") -> str:
    return f"plot-k32{'-c' + level if level else ''}-{date}-{n:064x}.plot"


class Harvest:
    """The fleet plus one full archive dir with replaceable plots, and the inventory that says so."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        (fleet.base / "harvester").mkdir()
        # Each replaceable file is the plot's size rounded up to a MiB: one deletion is enough, none is not.
        self.size = -(-fleet.real_plot.stat().st_size // MIB) * MIB
        self.dir = fleet.mount_tmpfs(fleet.base / "harvester" / "r0", f"{(3 * self.size + 3 * MIB) // 1024}k")
        self.log = fleet.base / "replace.log"
        fleet.start_daemon({"r0": self.dir})
        # Other transfers on this machine (other tests) must not hold our plotter's only slot.
        fleet.write_config(parallel_transfers=4)
        # Least valuable first: uncompressed before C5, then the oldest.
        self.order = [v1_name(1, "2021-01-01-00-00"), v1_name(2, "2022-01-01-00-00"),
                      v1_name(3, "2020-01-01-00-00", "05")]
        for name in self.order:
            (self.dir / name).write_bytes(os.urandom(self.size))
        self.keep = [v1_name(4, "2019-01-01-00-00", "09"), f"plot-k28-{5:064x}.plot2"]  # no rule, target format
        for name in self.keep:
            (self.dir / name).write_bytes(os.urandom(MIB // 2))
        self.inventory = self._inventory()

    def _inventory(self) -> str:
        conf = self.fleet.base / "harvester.yml"
        conf.write_text(json.dumps({"archive_dirs": [{"path": str(self.dir), "rsync_module": "r0",
                                                      "max_connections": 2}], "rsync": {"port": self.fleet.port}}))
        local = {"ansible_connection": "local", "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python")}
        hosts = {
            "plotter1": {**local, "plotter_config_path": str(self.fleet.config),
                         "plotter_config": {"archiving": {"parallel_transfers": 4}}},
            "harvester1": {**local, "harvester_space_config": str(conf), "plotfleet_archive_address": "127.0.0.1",
                           "harvester_rsync_port": self.fleet.port, "plotfleet_replace_rules": RULES,
                           "plotfleet_replot_target": "v2", "plotfleet_replace_log": str(self.log)},
        }
        inventory = {"all": {"hosts": hosts, "children": {"plotters": {"hosts": {"plotter1": None}},
                                                         "harvesters": {"hosts": {"harvester1": None}}}}}
        path = self.fleet.base / "inventory.yml"
        path.write_text(yaml.safe_dump(inventory))
        return str(path)

    def run(self, check: bool = False, **extra: object):
        return run_playbook("archive.yml", {"plotfleet_margin": MIB, **extra}, check=check,
                            inventory=self.inventory)

    def plots(self) -> list[str]:
        return sorted(p.name for p in self.dir.iterdir() if not p.name.startswith("."))

    def log_lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def reservation(self) -> dict | None:
        path = self.dir / RESERVATION_NAME
        return json.loads(path.read_text()) if path.exists() else None

    def free(self) -> int:
        vfs = os.statvfs(self.dir)
        return vfs.f_bavail * vfs.f_frsize


@pytest.fixture
def harvest(tmp_path: Path, real_plot: Path) -> Iterator[Harvest]:  # noqa: F811 - the imported fixture
    fleet = Fleet(tmp_path, real_plot)
    try:
        yield Harvest(fleet)
    finally:
        fleet.teardown()


def test_the_harvester_reports_replaceable_plots_in_order(harvest: Harvest) -> None:
    result = run_module("plotfleet_space_info", {"config": str(harvest.fleet.base / "harvester.yml"),
                                                 "replace_rules": RULES, "replace_max_per_run": 5})
    (entry,) = result["archive_dirs"]
    assert [c["name"] for c in entry["replaceable"]["candidates"]] == harvest.order
    assert entry["replaceable"]["plots"] == 3 and entry["reservation"] is None
    assert result["replace"]["max_per_run"] == 5
    bad = run_module("plotfleet_space_info", {"config": str(harvest.fleet.base / "harvester.yml"),
                                              "replace_rules": [{"format": "v2"}]})
    assert bad["failed"] is True and "replace_rules[0].format: v2 is the replot target" in bad["msg"]


def test_check_mode_says_what_it_would_delete_and_deletes_nothing(harvest: Harvest) -> None:
    plot = harvest.fleet.new_plot()
    before = harvest.plots()
    run = harvest.run(check=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"would delete {harvest.order[0]} to place {plot.name} on harvester1:{harvest.dir}" in run.stdout, run.stdout
    size = human_bytes(harvest.size)
    assert f"replace: delete {harvest.order[0]} (v1 k32, {size}, rule v1 uncompressed)" in run.stdout
    assert harvest.plots() == before and plot.exists() and harvest.reservation() is None
    assert harvest.log_lines() == [] and harvest.fleet.transfers() == []


def test_a_run_deletes_just_enough_logs_it_and_the_plot_arrives_intact(harvest: Harvest) -> None:
    plot = harvest.fleet.new_plot()
    digest = sha256(plot)
    assert harvest.free() < plot.stat().st_size + MIB  # no room without replacing
    run = harvest.run(wait=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"harvester1:{harvest.dir}: deleted {harvest.order[0]} to place {plot.name}" in run.stdout
    assert sha256(harvest.dir / plot.name) == digest and not plot.exists()
    assert harvest.plots() == sorted([*harvest.order[1:], *harvest.keep, plot.name])
    (line,) = harvest.log_lines()
    assert f" deleted {harvest.dir / harvest.order[0]} size={harvest.size} kind=v1_k32 rule=\"v1 uncompressed\" " \
           f"for={plot.name} on=harvester1:{harvest.dir}" in line
    # The next run sees the plot arrived and clears the reservation; nothing else is deleted.
    assert harvest.reservation()["plot"] == plot.name
    run = harvest.run(wait=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert harvest.reservation() is None and len(harvest.log_lines()) == 1
    assert "no transfer to start" in run.stdout


def test_a_failed_transfer_after_a_deletion_is_finished_first_by_the_next_run(harvest: Harvest) -> None:
    plot = harvest.fleet.new_plot()
    digest = sha256(plot)
    harvest.fleet.password_file.write_text("not-the-password\n")
    run = harvest.run(wait=True)
    assert run.returncode != 0 and "authentication failed" in run.stdout
    assert len(harvest.log_lines()) == 1 and harvest.reservation()["plot"] == plot.name and plot.exists()
    # Another plot comes, older, so it would go first; the reserved dir is the first plot's, and
    # nothing more is deleted for it.
    harvest.fleet.password_file.write_text(PASSWORD + "\n")
    other = harvest.fleet.new_plot()
    os.utime(other, (1, 1))
    run = harvest.run(wait=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"replace: {plot.name} fills harvester1:{harvest.dir}, reserved for it by an earlier run" in run.stdout
    assert sha256(harvest.dir / plot.name) == digest and not plot.exists() and other.exists()
    assert len(harvest.log_lines()) == 1
    assert harvest.plots() == sorted([*harvest.order[1:], *harvest.keep, plot.name])


def test_two_runs_at_once_delete_once(harvest: Harvest) -> None:
    plot = harvest.fleet.new_plot()
    digest = sha256(plot)
    runs: list = []
    threads = [threading.Thread(target=lambda: runs.append(harvest.run(wait=True))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(harvest.log_lines()) == 1, [r.stdout for r in runs]
    assert sha256(harvest.dir / plot.name) == digest and not plot.exists()
    assert harvest.plots() == sorted([*harvest.order[1:], *harvest.keep, plot.name])


def test_bad_settings_stop_the_run_naming_host_and_key(harvest: Harvest) -> None:
    plot = harvest.fleet.new_plot()
    inventory = yaml.safe_load(Path(harvest.inventory).read_text())
    inventory["all"]["hosts"]["harvester1"].update(plotfleet_replace_rules=[{"format": "v2"}, {"format": "v3"}],
                                                   plotfleet_replace_max_per_run=-1)
    Path(harvest.inventory).write_text(yaml.safe_dump(inventory))
    run = harvest.run(wait=True)
    assert run.returncode != 0
    for problem in ("harvester1: plotfleet_replace_rules[0].format: v2 is the replot target",
                    'harvester1: plotfleet_replace_rules[1].format: must be one of v1, v2, got \\"v3\\"',
                    "harvester1: plotfleet_replace_max_per_run: must be an integer >= 0, got -1"):
        assert problem in run.stdout, run.stdout
    assert plot.exists() and harvest.log_lines() == [] and len(harvest.plots()) == 5
