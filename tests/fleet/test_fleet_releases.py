"""Hosts of other Debian releases: real old and new interpreters and tools under Ansible.

One fleet for the module: ``bullseye`` (Debian 11: Python 3.9, rsync 3.2.3) and ``trixie``
(Debian 13: Python 3.13) run from the root filesystems ``scripts/setup --rootfs`` builds;
``bookworm`` runs on the machine's own system, as every other fleet host does. Ansible runs
from the controller over SSH, with each release host's own /usr/bin/python3.
"""

from __future__ import annotations

import json
import secrets
import subprocess

import pytest

from fleet import Fleet, HostSpec
from fleet.harness import rootfs_for

pytestmark = pytest.mark.fleet

RELEASES = {"bullseye": "bullseye", "trixie": "trixie", "bookworm": None}


@pytest.fixture(scope="module")
def fleet(make_module_fleet) -> Fleet:
    return make_module_fleet(hosts=[HostSpec(name, ("plotters", "harvesters"), release=release)
                                    for name, release in RELEASES.items()])


def ansible(fleet: Fleet, module: str, args: str = "") -> dict[str, dict]:
    """Host -> result of ``ansible all -m MODULE -a ARGS`` from the controller; fails on any failure."""
    # --tree: every host's full result as JSON, in a file named after the host.
    tree = fleet.workdir / "results" / secrets.token_hex(4)
    cmd = ["ansible", "all", "-m", module, *(["-a", args] if args else []), "--tree", str(tree)]
    result = fleet.controller_run(cmd, timeout=180)
    results = {path.name: json.loads(path.read_text()) for path in tree.glob("*")}
    assert set(results) == set(RELEASES), output(result)
    failed = {host: res for host, res in results.items() if res.get("failed") or res.get("unreachable")}
    assert not failed, output(result)
    return results


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"


def test_each_host_runs_its_own_release(fleet: Fleet) -> None:
    for host in RELEASES:
        os_release = fleet.host_run(host, ["cat", "/etc/os-release"], check=True).stdout
        assert f"VERSION_CODENAME={host}" in os_release, host


def test_ansible_runs_modules_on_each_releases_python(fleet: Fleet) -> None:
    facts = ansible(fleet, "setup", "filter=ansible_python_version,ansible_distribution_release")

    versions = {host: res["ansible_facts"]["ansible_python_version"] for host, res in facts.items()}
    assert versions["bullseye"].startswith("3.9."), versions
    assert versions["trixie"].startswith("3.13."), versions
    releases = {host: res["ansible_facts"]["ansible_distribution_release"] for host, res in facts.items()}
    assert releases == {host: host for host in RELEASES}


def test_hosts_have_their_releases_rsync_psutil_and_pyyaml(fleet: Fleet) -> None:
    rsync = ansible(fleet, "command", "rsync --version")
    libs = ansible(fleet, "command", "/usr/bin/python3 -c 'import psutil, yaml; print(psutil.__version__)'")

    rsync_versions = {host: res["stdout"].split()[2] for host, res in rsync.items()}
    assert rsync_versions["bullseye"] == "3.2.3", rsync_versions
    psutil_versions = {host: res["stdout"] for host, res in libs.items()}
    assert psutil_versions["bullseye"].startswith("5.8."), psutil_versions


def test_a_hosts_writes_never_reach_the_cached_rootfs(fleet: Fleet) -> None:
    fleet.host_run("bullseye", ["sh", "-c", "echo here > /usr/local/bin/marker"], check=True)

    assert fleet.host_path("bullseye", "/usr/local/bin/marker").read_text() == "here\n"
    assert not (rootfs_for("bullseye") / "usr/local/bin/marker").exists()
    assert (fleet.host_dir("bullseye") / "root" / "upper" / "usr/local/bin/marker").exists()
    assert fleet.host_run("trixie", ["test", "-e", "/usr/local/bin/marker"]).returncode == 1
