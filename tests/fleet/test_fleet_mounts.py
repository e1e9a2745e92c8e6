"""A disk that is not mounted is never written, on a real fleet (issue 11 §1).

plotter1's tmp0 and harvester1's archive0 are tmpfs mounts marked ``mount: true``; tmp1 is listed
but missing. The roles create none of them; a pass writes to tmp0 while it is mounted, and once
both tmpfs are unmounted between passes (leaving the empty mount point dirs on the filesystem
beneath, as an unmounted disk does) every pass refuses them, naming the dir, and status shows it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from fleet import Fleet

pytestmark = pytest.mark.fleet

ROOT = Path(__file__).resolve().parents[2]
TMP0, TMP1, DST = "/srv/plotfleet/tmp0", "/srv/plotfleet/tmp1", "/srv/plotfleet/dst0"
ARCHIVE = "/srv/plotfleet/archive0"
TIMEOUT = 600


def marked_vars(path: Path) -> Path:
    """tests/fleet/vars.yml with tmp0 and archive0 marked as disks, tmp1 added, nothing created."""
    data = yaml.safe_load((ROOT / "tests/fleet/vars.yml").read_text())
    data["plotter_config"]["directories"]["tmp"] = [{"path": TMP0, "mount": True}, TMP1]
    data["plotter_config"]["directories"]["dst"] = [DST]
    data["harvester_archive_dirs"] = [{"path": ARCHIVE, "mount": True}]
    data["plotter_create_plot_dirs"] = False
    data["harvester_create_archive_dirs"] = False
    path.write_text(json.dumps(data))
    return path


def playbook(fleet: Fleet, extra: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["ansible-playbook", f"playbooks/{name}", "-e", f"@{extra}", *args]
    env = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    return fleet.controller_run(cmd, env=env, timeout=TIMEOUT)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"


def test_unmounted_disks_are_never_written(make_fleet, tmp_path):
    fleet = make_fleet(plotters=1, harvesters=1,
                       host_tmpfs={"plotter1": {TMP0: "64M"}, "harvester1": {ARCHIVE: "64M"}})
    extra = marked_vars(tmp_path / "vars.json")
    fleet.host_run("plotter1", ["mkdir", "-p", DST], check=True)

    site = playbook(fleet, extra, "site.yml")
    assert site.returncode == 0, output(site)
    assert f"tmp dir {TMP1} does not exist (not mounted?)" in site.stdout + site.stderr, output(site)
    assert not fleet.host_path("plotter1", TMP1).exists(), "the role created a disk's dir"

    would = playbook(fleet, extra, "plot.yml", "--check")
    assert would.returncode == 0, output(would)
    assert f"would start 1: {TMP0} -> {DST}" in would.stdout, output(would)

    for host, path in (("plotter1", TMP0), ("harvester1", ARCHIVE)):
        fleet.host_run(host, ["umount", path], check=True)
        assert fleet.host_run(host, ["test", "-d", path]).returncode == 0  # the empty mount point stays

    refused = playbook(fleet, extra, "plot.yml")
    assert refused.returncode == 0, output(refused)
    assert f"tmp {TMP0} is not mounted? it is marked mount: true" in refused.stdout, output(refused)
    assert f"tmp {TMP1} does not exist (not mounted?)" in refused.stdout, output(refused)
    assert fleet.host_run("plotter1", ["pgrep", "-f", "chia plots create"]).returncode != 0
    assert fleet.host_run("plotter1", ["find", TMP0, "-mindepth", "1"]).stdout == ""

    status = playbook(fleet, extra, "status.yml")
    assert status.returncode == 0, output(status)
    assert f"plotter1: tmp {TMP0} is not mounted?" in status.stdout, output(status)
    assert f"{ARCHIVE} is not mounted? it is marked mount: true" in status.stdout, output(status)
