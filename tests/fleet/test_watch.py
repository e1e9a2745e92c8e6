"""scripts/watch: the live status over paramiko sessions, against real sshd hosts of the fleet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleet import Fleet

pytestmark = pytest.mark.fleet
ROOT = Path(__file__).resolve().parents[2]


def write_configs(fleet: Fleet) -> None:
    for name in ("plotter1", "plotter2"):
        config = {"directories": {"tmp": ["/srv/plotfleet/tmp0"], "dst": ["/srv/plotfleet/dst0"]},
                  "logging": {"plots": "/var/log/plotfleet/plots"}}
        for directory in ("/srv/plotfleet/tmp0", "/srv/plotfleet/dst0", "/var/log/plotfleet/plots"):
            fleet.host_path(name, directory).mkdir(parents=True, exist_ok=True)
        fleet.host_path(name, "/etc/plotfleet/plotfleet.yml").write_text(json.dumps(config))
    archive = fleet.host_path("harvester1", "/srv/plotfleet/archive0")
    archive.mkdir(parents=True, exist_ok=True)
    (archive / f"plot-k25-2026-01-01-00-00-{'ab' * 32}.plot").write_bytes(b"\0" * 4096)
    fleet.host_path("harvester1", "/etc/plotfleet/harvester.yml").write_text(
        json.dumps({"archive_dirs": [{"path": "/srv/plotfleet/archive0", "rsync_module": "plots-archive0"}]}))


def test_watch_once_shows_every_host_and_names_the_one_down(make_fleet):
    fleet = make_fleet(plotters=2, harvesters=1)
    write_configs(fleet)
    fleet.host_run("plotter2", ["ip", "link", "set", "eth0", "down"], check=True)

    result = fleet.controller_run([str(ROOT / "scripts" / "watch"), "--once", "-i", str(fleet.inventory)],
                                  timeout=120)

    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    assert "plotter1  tmp   /srv/plotfleet/tmp0" in text
    assert "harvester1  /srv/plotfleet/archive0  plots-archive0" in text
    assert "HOSTS NOT REPORTING" in text and "plotter plotter2: unreachable" in text
    assert "1 harvester(s) read, 0 unreachable, 0 failed" in text and "; 1 plots," in text


def test_watch_reports_a_bad_config_per_host(make_fleet):
    fleet = make_fleet(plotters=1, harvesters=1)
    write_configs_for = fleet.host_path("plotter1", "/etc/plotfleet/plotfleet.yml")
    write_configs_for.write_text("directories:\n  tmp: relative/dir\n")
    result = fleet.controller_run([str(ROOT / "scripts" / "watch"), "--once", "-i", str(fleet.inventory)],
                                  timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "plotter plotter1: failed: load config:" in result.stdout
    assert "directories.tmp" in result.stdout
    # The same words as plotfleet_space_info and status.yml: the file, and what is wrong with it.
    assert ("harvester harvester1: failed: load harvester config /etc/plotfleet/harvester.yml: cannot read it"
            in result.stdout), result.stdout
