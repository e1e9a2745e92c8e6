"""plotman's commands for the fleet (scripts/plotfleet, playbooks/jobs.yml) on a real chia job."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT, ansible_env, wait_for

ID_LINE = re.compile(rb"ID: ([0-9a-f]{64})")
CLI = str(ROOT / "scripts" / "plotfleet")


@pytest.fixture
def inventory(tmp_path, plot_dirs):
    path = tmp_path / "inventory.yml"
    localhost = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "plotter_config_path": str(plot_dirs.config)}
    path.write_text(json.dumps({"all": {"hosts": {"localhost": localhost},
                                        "children": {"plotters": {"hosts": {"localhost": {}}}}}}))
    return path


def plotfleet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=300,
                          check=False)


def test_details_files_dsched_and_logs_of_a_real_job(plot_dirs, jobs, inventory):
    log = plot_dirs.logs / "job.log"
    job = jobs.start(plot_dirs.tmp[0], plot_dirs.dst[0], log)
    plot_id = wait_for(lambda: (m := ID_LINE.search(log.read_bytes())) and m.group(1).decode(), 60, "plot id")
    wait_for(lambda: [p for p in plot_dirs.tmp[0].iterdir() if plot_id in p.name], 60, "temp files")
    # chia creates and removes its temp files as it goes: any one of this plot's counts.
    temp_prefix = f"{plot_dirs.tmp[0]}/plot-k25-"

    details = plotfleet("-i", str(inventory), "details", plot_id[:10])
    assert details.returncode == 0, details.stdout + details.stderr
    assert plot_id in details.stdout and str(log) in details.stdout and str(job.pid) in details.stdout
    assert temp_prefix in details.stdout and str(plot_dirs.dst[0]) in details.stdout

    files = plotfleet("-i", str(inventory), "files")
    assert files.returncode == 0 and temp_prefix in files.stdout and plot_id[:8] in files.stdout

    dsched = plotfleet("-i", str(inventory), "dsched")
    assert dsched.returncode == 0, dsched.stdout + dsched.stderr
    row = next(line for line in dsched.stdout.splitlines() if str(plot_dirs.dst[0]) in line)
    assert f"{plot_id[:8]}@" in row

    logs = plotfleet("-i", str(inventory), "logs", plot_id[:10], "3")
    assert logs.returncode == 0, logs.stdout + logs.stderr
    # The tests run Ansible with JSON results: the message is one JSON string.
    message = next(json.loads(line.strip()[len('"msg": '):]) for line in logs.stdout.splitlines()
                   if line.strip().startswith(f'"msg": "{log}:'))
    tail = [line.strip() for line in message.splitlines()[1:]]
    log_lines = [line.strip() for line in log.read_text().splitlines()]
    assert len(tail) == 3 and all(line in log_lines for line in tail), (tail, logs.stdout)

    unknown = plotfleet("-i", str(inventory), "details", "ffff0000")
    assert unknown.returncode != 0 and "no plot job in the fleet matches 'ffff0000'" in unknown.stdout + unknown.stderr


def test_config_generate_path_and_version(tmp_path):
    target = tmp_path / "myfleet"
    made = plotfleet("config", "generate", str(target))
    assert made.returncode == 0, made.stderr
    assert (target / "hosts.yml").is_file() and (target / "group_vars" / "plotters.yml").is_file()
    again = plotfleet("config", "generate", str(target))
    assert again.returncode != 0 and "not empty" in again.stderr, "an existing inventory is never overwritten"
    listed = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-inventory"), "-i", str(target), "--graph"],
                            cwd=ROOT, env=ansible_env(), capture_output=True, text=True, check=False)
    assert listed.returncode == 0 and "@plotters" in listed.stdout and "@harvesters" in listed.stdout

    path = plotfleet("-i", str(target), "config", "path")
    assert path.returncode == 0 and str(target) in path.stdout and "/etc/plotfleet/plotfleet.yml" in path.stdout
    version = plotfleet("version")
    assert version.returncode == 0 and version.stdout.startswith("plotfleet ")
    assert "ansible [core 2.19" in version.stdout
