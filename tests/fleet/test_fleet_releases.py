"""Hosts of other Debian releases: real old and new interpreters and tools under Ansible.

One fleet for the module: ``bullseye`` (Debian 11: Python 3.9, rsync 3.2.3) and ``trixie``
(Debian 13: Python 3.13) run from the root filesystems ``scripts/setup --rootfs`` builds;
``bookworm`` runs on the machine's own system, as every other fleet host does. Ansible runs
from the controller over SSH, with each release host's own /usr/bin/python3.

The plotfleet modules then run on each release's Python, psutil and PyYAML against the same
host state: a plotter config, the log of a finished real k25 chia plot, and a plot job
(``plotter_job``): a process with chia's command line whose log is the start of that real log,
as the modules see a job in phase 1. The real chia CLI cannot run there: it lives in a
virtualenv of the machine's Python.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest
import yaml

from fleet import Fleet, HostSpec
from fleet.harness import ROOT, rootfs_for

pytestmark = pytest.mark.fleet

RELEASES = {"bullseye": "bullseye", "trixie": "trixie", "bookworm": None}
REAL_LOG = ROOT / "tests" / "data" / "logs" / "chia-2.7.5-k25.log"
PLOT_ID = "ce0294538446c461f31802a0b447b802c44be7e6348eac16cf64882134e9b7c4"  # REAL_LOG's plot
FARMER_PK = "aefe1789d6476f60439e1168f588ea16652dc321279f05a805fbc63933e88ae9c175d6c6ab182e54af562e1a0dce41bb"
POOL_PK = "b6144137baa6440c17386d1a407fb3670d3b3627b4fa8bf4b56433f861eaba4e076cefac1d9365de56a0e5d976ad7354"
CONFIG = {
    "logging": {"plots": "/var/log/plotfleet/plots", "transfers": "/var/log/plotfleet/transfers"},
    "directories": {"tmp": ["/srv/plotfleet/tmp0"], "dst": ["/srv/plotfleet/dst0"]},
    "plotting": {"type": "chia", "farmer_pk": FARMER_PK, "pool_pk": POOL_PK,
                 "chia": {"executable": "/srv/plotfleet/bin/chia", "k": 25, "override_k": True}},
}
HARVESTER = {"archive_dirs": [{"path": "/srv/plotfleet/archive0", "rsync_module": "archive0"}]}


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


# --- the plotfleet modules on each release ----------------------------------------------------


@pytest.fixture(scope="module")
def plotter_job(fleet: Fleet) -> None:
    """Config, dirs, a finished plot's log and a running phase-1 job on every host."""
    real_log = REAL_LOG.read_text().replace("/tmp/pt", "/srv/plotfleet/tmp0").replace("/tmp/pd", "/srv/plotfleet/dst0")
    phase1_log = "".join(real_log.splitlines(keepends=True)[:40])
    for host in RELEASES:
        for path in ("/srv/plotfleet/tmp0", "/srv/plotfleet/dst0", "/srv/plotfleet/archive0", "/srv/plotfleet/bin",
                     "/var/log/plotfleet/plots", "/var/log/plotfleet/transfers"):
            fleet.host_path(host, path).mkdir(parents=True)
        fleet.host_path(host, "/etc/plotfleet/plotfleet.yml").write_text(yaml.safe_dump(CONFIG))
        fleet.host_path(host, "/etc/plotfleet/harvester.yml").write_text(json.dumps(HARVESTER))
        fleet.host_path(host, "/var/log/plotfleet/plots/finished.log").write_text(real_log)
        fleet.host_path(host, "/var/log/plotfleet/plots/running.log").write_text(phase1_log)
        fleet.host_path(host, "/srv/plotfleet/bin/chia").write_text("import time\ntime.sleep(3600)\n")
        job = (f"python3 /srv/plotfleet/bin/chia plots create -k 25 --override-k -t /srv/plotfleet/tmp0 "
               f"-d /srv/plotfleet/dst0 -f {FARMER_PK} -p {POOL_PK}")
        fleet.host_run(host, ["sh", "-c", f"setsid {job} >>/var/log/plotfleet/plots/running.log 2>&1 </dev/null &"],
                       check=True)


def test_plotfleet_config_info_on_each_release(fleet: Fleet, plotter_job: None) -> None:
    results = ansible(fleet, "plotfleet_config_info")

    for host, result in results.items():
        assert result["config"]["directories"]["dst"] == ["/srv/plotfleet/dst0"], host


def test_plotfleet_log_info_on_each_release(fleet: Fleet, plotter_job: None) -> None:
    results = ansible(fleet, "plotfleet_log_info", "path=/var/log/plotfleet/plots")

    for host, result in results.items():
        plots = {Path(plot["path"]).name: plot for plot in result["plots"]}
        assert plots["finished.log"]["plot_id"] == PLOT_ID, host
        assert plots["finished.log"]["completed"] is True, host
        assert plots["running.log"]["completed"] is False, host


def test_plotfleet_jobs_info_on_each_release(fleet: Fleet, plotter_job: None) -> None:
    results = ansible(fleet, "plotfleet_jobs_info")

    for host, result in results.items():
        jobs = result["jobs"]
        assert [job["plot_id"] for job in jobs] == [PLOT_ID], host
        assert jobs[0]["phase"]["major"] == 1, host
        assert jobs[0]["log_file"] == "/var/log/plotfleet/plots/running.log", host
        assert jobs[0]["tmp_dir"] == "/srv/plotfleet/tmp0", host


def test_plotfleet_space_info_on_each_release(fleet: Fleet, plotter_job: None) -> None:
    results = ansible(fleet, "plotfleet_space_info")
    rsync = {host: res["stdout"].split()[2] for host, res in ansible(fleet, "command", "rsync --version").items()}
    # The daemon's rsync version, which archive.yml hands the plotters to pick their route by.
    assert {host: result["rsync_version"] for host, result in results.items()} == rsync
    assert results["bullseye"]["rsync_version"] == "3.2.3"

    for host, result in results.items():
        [archive] = result["archive_dirs"]
        assert (archive["path"], archive["rsync_module"], archive["error"]) == ("/srv/plotfleet/archive0",
                                                                              "archive0", None), host
        assert archive["plots"] == 0 and archive["free_bytes"] > 0, host


# --- a bare host and the local apt repository ---------------------------------------------------


def test_a_bare_host_installs_psutil_and_pyyaml_from_the_local_repository(make_fleet) -> None:
    """How a test lets roles/plotter install the host's dependencies: a ``<codename>-bare`` host
    lacks python3-psutil/python3-yaml, and its only apt source is the fleet's local repository."""
    fleet = make_fleet(hosts=[HostSpec("bare", ("plotters",), release="trixie-bare")])
    assert fleet.host_run("bare", ["python3", "-c", "import psutil"]).returncode != 0
    sources = fleet.host_run("bare", ["apt-get", "indextargets", "--format", "$(URI)"], check=True).stdout
    assert {line.split("/srv/apt")[0] for line in sources.split()} == {"file:"}, sources

    install = fleet.controller_run(["ansible", "bare", "-m", "ansible.builtin.package", "-a",
                                    "name=python3-psutil,python3-yaml state=present"], timeout=300)

    assert install.returncode == 0, output(install)
    assert "bare | CHANGED" in install.stdout, output(install)
    assert fleet.host_run("bare", ["python3", "-c", "import psutil, yaml"]).returncode == 0
