"""cron.yml into a cron file of the test's own: the lines, idempotence, removal, and a line run as cron would."""

from __future__ import annotations

import fcntl
import getpass
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, run_playbook

PLAYBOOK = str(ROOT / ".venv" / "bin" / "ansible-playbook")
# What cron gives a job: no login shell, no profile, a minimal PATH.
CRON_ENV = {"HOME": os.path.expanduser("~"), "LOGNAME": getpass.getuser(), "USER": getpass.getuser(),
            "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"}


@pytest.fixture
def cron_vars(tmp_path: Path) -> dict:
    # An absolute cron_file outside /etc/cron.d: the cron daemon never runs these entries (plot.yml
    # would start real plot jobs), yet the file has the exact format of one in /etc/cron.d.
    return {
        "controller_cron_file": str(tmp_path / "plotfleet_test"),
        "controller_cron_user": getpass.getuser(),
        "controller_cron_log_dir": str(tmp_path / "log"),
        "controller_cron_lock_dir": str(tmp_path / "lock"),
        "controller_cron_inventory": "inventory/local.yml",
        "controller_cron_status_enabled": True,
        "controller_cron_status_file": str(tmp_path / "www" / "status.txt"),
    }


def install(cron_vars: dict, **overrides: object) -> subprocess.CompletedProcess:
    proc = run_playbook("cron.yml", {**cron_vars, **overrides})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def changed_count(proc: subprocess.CompletedProcess) -> int:
    return int(re.search(r"localhost\s*:.*changed=(\d+)", proc.stdout).group(1))


def entries(cron_file: Path) -> dict[str, str]:
    """Entry name -> its cron line, from the `#Ansible: <name>` markers."""
    lines = cron_file.read_text().splitlines()
    return {lines[i].removeprefix("#Ansible: "): lines[i + 1] for i in range(len(lines) - 1)
            if lines[i].startswith("#Ansible: ")}


def command_of(line: str) -> str:
    """The command of a cron_file line: after minute, hour, day, month, weekday and user."""
    return line.split(None, 6)[6]


def run_as_cron(line: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", command_of(line)], env=CRON_ENV, cwd="/", capture_output=True,
                          text=True, timeout=300, check=False)


def test_lines_have_schedule_flock_absolute_paths_and_log(cron_vars: dict, tmp_path: Path) -> None:
    first = install(cron_vars)
    assert changed_count(first) > 0
    lines = entries(tmp_path / "plotfleet_test")
    assert set(lines) == {"plotfleet plot", "plotfleet archive", "plotfleet status"}
    user = getpass.getuser()
    root = str(ROOT)
    for name, schedule in (("plot", "* * * * *"), ("archive", "*/5 * * * *")):
        assert lines[f"plotfleet {name}"] == (
            f"{schedule} {user} cd {root} && {{ date -Is; ANSIBLE_CONFIG={root}/ansible.cfg /usr/bin/flock -n "
            f"{tmp_path}/lock/plotfleet-{name}.lock {PLAYBOOK} -i {root}/inventory/local.yml "
            f"{root}/playbooks/{name}.yml; }} >> {tmp_path}/log/cron-{name}.log 2>&1")
    status = lines["plotfleet status"]
    assert status.startswith(f"*/5 * * * * {user} cd {root} && ")
    assert f"/usr/bin/flock -n {tmp_path}/lock/plotfleet-status.lock -c '{PLAYBOOK} " in status
    assert f"> {tmp_path}/www/status.txt.partial && mv {tmp_path}/www/status.txt.partial {tmp_path}/www/status.txt'"\
        in status
    for made in ("log", "lock", "www"):
        assert (tmp_path / made).is_dir()

    assert changed_count(install(cron_vars)) == 0


def test_status_line_runs_as_cron_runs_it_and_skips_while_locked(cron_vars: dict, tmp_path: Path) -> None:
    install(cron_vars)
    line = entries(tmp_path / "plotfleet_test")["plotfleet status"]
    snapshot, log = tmp_path / "www" / "status.txt", tmp_path / "log" / "cron-status.log"

    # A run still holding the lock: the new one gives up at once and writes nothing.
    lock = tmp_path / "lock" / "plotfleet-status.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        skipped = run_as_cron(line)
    assert skipped.returncode == 1  # flock -n: the lock is taken
    assert not snapshot.exists()
    assert not (tmp_path / "www" / "status.txt.partial").exists()
    assert len(log.read_text().splitlines()) == 1  # just the time stamp of the skipped run

    ran = run_as_cron(line)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    text = snapshot.read_text()
    assert "plotfleet: " in text
    assert "PLAY RECAP" in text
    assert not (tmp_path / "www" / "status.txt.partial").exists()
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
    assert len([s for s in log.read_text().splitlines() if stamp.fullmatch(s)]) == 2


def test_metrics_line_writes_the_textfile_node_exporter_reads(cron_vars: dict, tmp_path: Path) -> None:
    textfile_dir = tmp_path / "node-exporter"
    missing = run_playbook("cron.yml", {**cron_vars, "controller_cron_metrics_enabled": True,
                                        "controller_cron_metrics_textfile": str(textfile_dir / "plotfleet.prom")})
    assert missing.returncode != 0
    assert f"controller_cron_metrics_textfile: {textfile_dir} is not a directory" in missing.stdout, missing.stdout

    textfile_dir.mkdir()
    install(cron_vars, controller_cron_metrics_enabled=True,
            controller_cron_metrics_textfile=str(textfile_dir / "plotfleet.prom"))
    line = entries(tmp_path / "plotfleet_test")["plotfleet metrics"]
    assert line.startswith("* * * * * ") and f"{ROOT}/playbooks/status.yml -e plotfleet_output=prometheus " \
        f"-e plotfleet_textfile={textfile_dir}/plotfleet.prom;" in line, line

    ran = run_as_cron(line)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    metrics = (textfile_dir / "plotfleet.prom").read_text()
    assert "# TYPE plotfleet_up gauge" in metrics and "plotfleet_status_timestamp_seconds " in metrics, metrics
    assert [p.name for p in textfile_dir.iterdir()] == ["plotfleet.prom"]  # no temp file left beside it


def test_disabled_entries_are_removed_and_absent_removes_the_file(cron_vars: dict, tmp_path: Path) -> None:
    cron_file = tmp_path / "plotfleet_test"
    install(cron_vars)
    install(cron_vars, controller_cron_archive_enabled=False, controller_cron_plot_every_minutes=2)
    lines = entries(cron_file)
    assert set(lines) == {"plotfleet plot", "plotfleet status"}
    assert lines["plotfleet plot"].startswith("*/2 * * * * ")

    install(cron_vars, controller_cron_state="absent")
    assert not cron_file.exists()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"controller_cron_archive_every_minutes": 90},
     "controller_cron_archive_every_minutes: must be a whole number of minutes from 1 to 59, got 90"),
    ({"controller_cron_flock": "/nonexistent/flock"},
     "controller_cron_flock: /nonexistent/flock is not an executable file"),
    ({"controller_cron_state": "gone"}, "controller_cron_state"),
])
def test_bad_settings_fail_naming_the_variable(cron_vars: dict, tmp_path: Path, overrides: dict,
                                               message: str) -> None:
    proc = run_playbook("cron.yml", {**cron_vars, **overrides})
    assert proc.returncode != 0
    assert message in " ".join((proc.stdout + proc.stderr).split())
    assert not (tmp_path / "plotfleet_test").exists()


def test_entries_drive_the_inventory_cron_yml_ran_with(cron_vars: dict, tmp_path: Path) -> None:
    # `ansible-playbook -i inventory/myfleet playbooks/cron.yml` must install entries for myfleet,
    # not for the ansible.cfg default (issue 11 §2).
    fleet = tmp_path / "myfleet.yml"
    fleet.write_text((ROOT / "inventory" / "local.yml").read_text())
    settings = {key: value for key, value in cron_vars.items() if key != "controller_cron_inventory"}
    proc = run_playbook("cron.yml", settings, inventory=str(fleet))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in entries(tmp_path / "plotfleet_test").values():
        assert f" -i {fleet} " in line
    install(settings, controller_cron_inventory="")  # explicitly none: ansible.cfg's
    assert all(" -i " not in line for line in entries(tmp_path / "plotfleet_test").values())
