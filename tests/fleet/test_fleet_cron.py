"""cron.yml run with the fleet's inventory installs entries that drive that fleet (issue 11 §2).

The installed status line is run the way cron runs it (``/bin/sh -c``, no ANSIBLE_INVENTORY in the
environment) from the controller; the snapshot it writes names the fleet's hosts, not localhost.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fleet import Fleet

pytestmark = pytest.mark.fleet


def cron_lines(cron_file: Path) -> dict[str, str]:
    lines = cron_file.read_text().splitlines()
    return {lines[i].removeprefix("#Ansible: "): lines[i + 1] for i in range(len(lines) - 1)
            if lines[i].startswith("#Ansible: ")}


def test_installed_status_line_reaches_the_fleet(make_fleet, tmp_path: Path) -> None:
    fleet: Fleet = make_fleet(plotters=1, harvesters=1)
    cron_file, snapshot = tmp_path / "plotfleet_cron", tmp_path / "status.json"
    settings = {"controller_cron_file": str(cron_file), "controller_cron_user": "root",
                "controller_cron_log_dir": str(tmp_path / "log"), "controller_cron_lock_dir": str(tmp_path / "lock"),
                "controller_cron_status_enabled": True, "controller_cron_status_file": str(snapshot),
                "controller_cron_status_args": "-e plotfleet_output=json"}
    install = fleet.controller_run(["ansible-playbook", "-i", str(fleet.inventory), "playbooks/cron.yml",
                                    "-e", json.dumps(settings)])
    assert install.returncode == 0, install.stdout + install.stderr
    line = cron_lines(cron_file)["plotfleet status"]
    assert f" -i {fleet.inventory} " in line
    command = line.split(None, 6)[6]  # after the schedule and the user column
    ran = fleet.controller_run(["env", "-u", "ANSIBLE_INVENTORY", "/bin/sh", "-c", command], cwd="/", timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr + (tmp_path / "log" / "cron-status.log").read_text()
    shown = snapshot.read_text()
    # The fleet is not rolled out, so both hosts are reported down: what matters is that they were asked.
    for host in ("plotter1", "harvester1"):
        assert re.search(rf"^{host}\s+: ok=", shown, re.MULTILINE), shown
