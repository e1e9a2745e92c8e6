"""The test fleet itself: real sshd, real Ansible over SSH, real namespaces and mounts."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import psutil
import pytest

from fleet import Fleet, FleetError, HostSpec, plan_hosts
from fleet.harness import PRIVATE_DIRS, mounts_under
from fleet.procs import wait_for

pytestmark = pytest.mark.fleet


def ansible_ping(fleet: Fleet, pattern: str = "all") -> dict[str, str]:
    """Host -> status word (SUCCESS, UNREACHABLE!...) of ``ansible PATTERN -m ping`` from the controller."""
    result = fleet.controller_run(["ansible", pattern, "-m", "ping"], timeout=120)
    return dict(re.findall(r"^(\S+) \| (\S+) =>", result.stdout, re.MULTILINE))


@pytest.fixture(scope="module")
def shared_fleet(make_module_fleet) -> Fleet:
    return make_module_fleet(plotters=1, harvesters=1,
                             host_tmpfs={"harvester1": {"/srv/plotfleet/archive1": "8M"}})


def test_ansible_reaches_every_host_over_ssh(shared_fleet: Fleet) -> None:
    assert ansible_ping(shared_fleet) == {"plotter1": "SUCCESS", "harvester1": "SUCCESS"}


def test_inventory_groups_hosts_by_role(shared_fleet: Fleet) -> None:
    result = shared_fleet.controller_run(["ansible-inventory", "--list"], check=True)
    inventory = json.loads(result.stdout)

    assert inventory["plotters"]["hosts"] == ["plotter1"]
    assert inventory["harvesters"]["hosts"] == ["harvester1"]
    assert inventory["_meta"]["hostvars"]["plotter1"]["ansible_host"] == shared_fleet.address("plotter1")


def test_each_host_has_its_own_hostname(shared_fleet: Fleet) -> None:
    for name in ("plotter1", "harvester1"):
        assert shared_fleet.host_run(name, ["hostname"], check=True).stdout.strip() == name


def test_private_dirs_are_per_host(shared_fleet: Fleet) -> None:
    shared_fleet.host_run("plotter1", ["sh", "-c", "echo mine > /etc/plotfleet/marker"], check=True)

    assert shared_fleet.host_path("plotter1", "/etc/plotfleet/marker").read_text() == "mine\n"
    assert shared_fleet.host_run("harvester1", ["test", "-e", "/etc/plotfleet/marker"]).returncode == 1
    assert not Path("/etc/plotfleet/marker").exists(), "a host's private dir leaked to the machine"
    for inside in PRIVATE_DIRS.values():
        assert shared_fleet.host_run("harvester1", ["mountpoint", "-q", inside]).returncode == 0, inside


def test_tmpfs_fills_up(shared_fleet: Fleet) -> None:
    fill = ["dd", "if=/dev/zero", "of=/srv/plotfleet/archive1/fill", "bs=1M", "count=16"]
    result = shared_fleet.host_run("harvester1", fill)

    assert result.returncode != 0
    assert "No space left on device" in result.stderr
    written = shared_fleet.host_path("harvester1", "/srv/plotfleet/archive1/fill").stat().st_size
    assert 7 * 2**20 < written <= 8 * 2**20
    # The plotter has no such mount: its archive1 would be a plain dir on the backing disk.
    assert shared_fleet.host_run("plotter1", ["mountpoint", "-q", "/srv/plotfleet/archive1"]).returncode != 0


def host_sleepers(fleet: Fleet, name: str) -> list[psutil.Process]:
    procs = [psutil.Process(pid) for pid in fleet.host_pids(name)]
    return [proc for proc in procs if proc.name() == "sleep"]


def test_teardown_kills_host_processes_and_leaves_nothing(make_fleet) -> None:
    fleet = make_fleet(plotters=1, harvesters=1)
    # One job started by hand, one through Ansible over SSH; both detach from their session.
    fleet.host_run("plotter1", ["sh", "-c", "setsid sleep 1001 </dev/null >/dev/null 2>&1 &"], check=True)
    ansible = fleet.controller_run(["ansible", "harvester1", "-m", "shell", "-a",
                                    "setsid sleep 1002 </dev/null >/dev/null 2>&1 &"], timeout=120)
    assert ansible.returncode == 0, ansible.stdout + ansible.stderr
    sleepers = host_sleepers(fleet, "plotter1") + host_sleepers(fleet, "harvester1")
    assert len(sleepers) == 2
    outside = [proc for proc in psutil.process_iter() if proc.pid in fleet.host_pids("plotter1")]
    assert outside, "host processes are visible from the machine by their outer PID"

    fleet.down()

    assert not any(proc.is_running() for proc in sleepers)
    assert fleet.leftovers() == []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert f"pf-{fleet.id}-" not in netns
    assert mounts_under(fleet.workdir) == []
    assert not any(p.is_running() for node in fleet.nodes for p in (node.launcher, node.init))


def test_fleets_side_by_side_get_their_own_subnets(make_fleet) -> None:
    first, second = make_fleet(plotters=1, harvesters=0), make_fleet(plotters=1, harvesters=0)

    assert first.subnet_index != second.subnet_index
    assert ansible_ping(first) == {"plotter1": "SUCCESS"}
    assert ansible_ping(second) == {"plotter1": "SUCCESS"}


def test_failed_bring_up_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    fleet = Fleet(plan_hosts(1, 1, host_tmpfs={"harvester1": {"/srv/plotfleet/a": "lots"}}), tmp_path)

    with pytest.raises(FleetError, match="harvester1: sshd/init exited during start-up") as error:
        fleet.up()

    assert "mount" in str(error.value)
    assert fleet.leftovers() == []


def test_host_tmpfs_must_name_fleet_hosts() -> None:
    with pytest.raises(FleetError, match="not in the fleet: plotter9"):
        plan_hosts(1, 1, host_tmpfs={"plotter9": {"/srv/plotfleet/a": "8M"}})


def test_a_release_without_a_built_rootfs_is_named_with_the_fix(tmp_path: Path) -> None:
    fleet = Fleet([HostSpec("plotter1", ("plotters",), release="potato")], tmp_path)

    with pytest.raises(FleetError, match=r"no potato root filesystem .* `scripts/setup --rootfs`"):
        fleet.up()

    assert fleet.leftovers() == []


# --- faults: a daemon dies, a host crashes ------------------------------------------------------

RSYNCD_CONF = "[probe]\n    path = /srv/plotfleet\n    read only = yes\n"
# A native host (the machine's filesystem) and one running from a release's rootfs.
HOST_KINDS = [None, "bullseye"]


def fault_fleet(make_fleet, release: str | None) -> Fleet:
    return make_fleet(hosts=[HostSpec("plotter1", ("plotters",), {"/srv/plotfleet/ram": "8M"}, release)])


def start_daemons(fleet: Fleet) -> dict[str, psutil.Process]:
    """An rsync daemon and a detached sleep on plotter1, as psutil sees them from outside."""
    fleet.host_path("plotter1", "/etc/plotfleet/rsyncd.conf").write_text(RSYNCD_CONF)
    fleet.host_run("plotter1", ["rsync", "--daemon", "--config=/etc/plotfleet/rsyncd.conf"], check=True)
    fleet.host_run("plotter1", ["sh", "-c", "setsid sleep 1003 </dev/null >/dev/null 2>&1 &"], check=True)

    def find() -> dict[str, psutil.Process]:
        procs = {proc.name(): proc for proc in map(psutil.Process, fleet.host_pids("plotter1"))}
        return {"rsync": procs["rsync"], "sleep": procs["sleep"]} if {"rsync", "sleep"} <= set(procs) else {}

    found = wait_for(find, 10, "rsync --daemon and sleep on plotter1")
    wait_for(lambda: rsync_modules(fleet), 10, "the rsync daemon to answer")
    return found


def rsync_modules(fleet: Fleet) -> list[str]:
    """The modules plotter1's rsync daemon lists to the controller (none if it does not answer)."""
    result = fleet.controller_run(["rsync", f"rsync://{fleet.address('plotter1')}/"], timeout=30)
    return result.stdout.split() if result.returncode == 0 else []


@pytest.mark.parametrize("release", HOST_KINDS, ids=["native", "bullseye"])
def test_stopping_sshd_leaves_the_hosts_other_processes_running(make_fleet, release: str | None) -> None:
    fleet = fault_fleet(make_fleet, release)
    daemons = start_daemons(fleet)
    assert ansible_ping(fleet) == {"plotter1": "SUCCESS"}  # leaves a ControlPersist master open

    fleet.stop_sshd("plotter1")

    assert not fleet.sshd_listening("plotter1")
    assert ansible_ping(fleet) == {"plotter1": "UNREACHABLE!"}
    assert all(proc.is_running() for proc in daemons.values())
    assert rsync_modules(fleet) == ["probe"]

    fleet.start_sshd("plotter1")

    assert ansible_ping(fleet) == {"plotter1": "SUCCESS"}
    assert all(proc.is_running() for proc in daemons.values())


def test_stopping_sshd_can_keep_open_sessions_like_systemctl_stop_ssh(make_fleet) -> None:
    fleet = fault_fleet(make_fleet, None)
    assert ansible_ping(fleet) == {"plotter1": "SUCCESS"}

    fleet.stop_sshd("plotter1", keep_sessions=True)

    assert not fleet.sshd_listening("plotter1")
    # Ansible's ControlPersist master still has its session; a fresh connection is refused.
    assert ansible_ping(fleet) == {"plotter1": "SUCCESS"}
    fresh = fleet.controller_run(["ansible", "plotter1", "-m", "ping"], env={"ANSIBLE_SSH_ARGS": ""}, timeout=60)
    assert "Connection refused" in fresh.stdout


def test_an_sshd_that_cannot_start_is_reported_with_its_log(make_fleet) -> None:
    fleet = fault_fleet(make_fleet, None)
    fleet.stop_sshd("plotter1")
    config = fleet.host_dir("plotter1") / "sshd" / "sshd_config"
    config.write_text(config.read_text() + "NoSuchOption yes\n")

    with pytest.raises(FleetError, match=r"(?s)plotter1: sshd exited during start-up.*NoSuchOption"):
        fleet.start_sshd("plotter1")


@pytest.mark.parametrize("release", HOST_KINDS, ids=["native", "bullseye"])
def test_a_crashed_host_loses_its_processes_and_restarts_with_its_disks(make_fleet, release: str | None) -> None:
    fleet = fault_fleet(make_fleet, release)
    daemons = start_daemons(fleet)
    fleet.host_run("plotter1", ["sh", "-c", "echo kept > /srv/plotfleet/disk; echo lost > /srv/plotfleet/ram/x"],
                   check=True)
    address = fleet.address("plotter1")

    fleet.crash("plotter1")

    assert not any(proc.is_running() for proc in daemons.values())
    assert ansible_ping(fleet) == {"plotter1": "UNREACHABLE!"}
    assert rsync_modules(fleet) == []

    fleet.restart("plotter1")

    assert fleet.address("plotter1") == address
    assert ansible_ping(fleet) == {"plotter1": "SUCCESS"}
    assert fleet.host_run("plotter1", ["cat", "/srv/plotfleet/disk"], check=True).stdout == "kept\n"
    # The tmpfs is back, empty, as after a reboot; nothing of the old processes came back.
    assert fleet.host_run("plotter1", ["mountpoint", "-q", "/srv/plotfleet/ram"]).returncode == 0
    assert fleet.host_run("plotter1", ["ls", "-A", "/srv/plotfleet/ram"], check=True).stdout == ""
    names = {psutil.Process(pid).name() for pid in fleet.host_pids("plotter1")}
    assert not names & {"rsync", "sleep"}
