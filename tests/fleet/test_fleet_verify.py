"""Plots verified and farmed, on the test fleet: a harvester host running a real chia harvester.

One plotter, one harvester. On the harvester, in its own namespaces: ``chia init``, throwaway keys
(``chia keys generate``) and ``chia start farmer-only harvester`` (the chia harvester loads plots
once a farmer has sent it the farm's keys). site.yml rolls out with ``harvester_chia_enabled``; the
plots are real v1 and v2 k18 plots made for the farm's keys and put in the plotter's dst dir, with
a copy corrupted in the header. archive.yml sends them over real SSH and the real rsync daemon; the
post-xfer hook verifies each on landing: the good ones are farmed, the bad one is quarantined and
reported by archive.yml and status.yml. The chia services are stopped with ``chia stop -d all`` and
checked gone before the fleet is torn down.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest

from fleet import Fleet
from fleet.procs import wait_for
from fleet.test_fleet_archive import ARCHIVE, DST, output, status

pytestmark = pytest.mark.fleet

ROOT = Path(__file__).resolve().parents[2]
CHIA_VENV = ROOT / ".venv-chia"
CHIA = CHIA_VENV / "bin" / "chia"
MAKE_PLOT = ROOT / "tests" / "integration" / "make_farm_plot.py"
CHIA_ROOT = "/srv/plotfleet/chia-farm"
KEYS_ROOT = "/srv/plotfleet/chia-keys"
CHIA_VARS = json.dumps({"harvester_chia_enabled": True, "harvester_chia_bin": str(CHIA),
                        "harvester_chia_root": CHIA_ROOT, "plotter_chia_install": False})


def playbook(fleet: Fleet, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """As test_fleet_archive's, with room for a rollout on a loaded machine (~10 min at load 20)."""
    cmd = ["ansible-playbook", f"playbooks/{name}", "-e", "@tests/fleet/vars.yml", *args]
    return fleet.controller_run(cmd, env={"ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"},
                                timeout=2400)


def chia(fleet: Fleet, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The chia CLI on the harvester, with the farm's CHIA_ROOT and keyring."""
    env = ["env", f"CHIA_ROOT={CHIA_ROOT}", f"CHIA_KEYS_ROOT={KEYS_ROOT}", f"PATH={CHIA_VENV / 'bin'}:/usr/bin:/bin"]
    return fleet.host_run("harvester1", [*env, str(CHIA), *args], timeout=timeout)


def chia_processes(fleet: Fleet) -> list[psutil.Process]:
    found = []
    for pid in fleet.host_pids("harvester1"):
        try:
            proc = psutil.Process(pid)
            if proc.environ().get("CHIA_ROOT") == CHIA_ROOT:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.fixture(scope="module")
def farm(make_module_fleet):
    fleet = make_module_fleet(plotters=1, harvesters=1)
    try:
        assert chia(fleet, "init").returncode == 0
        fleet.host_run("harvester1", ["mkdir", "-p", KEYS_ROOT], check=True)
        assert chia(fleet, "keys", "generate", "-l", "fleet-test").returncode == 0
        shown = chia(fleet, "keys", "show").stdout
        keys = (re.search(r"Farmer public key \(m/12381/8444/0/0\): ([0-9a-f]{96})", shown).group(1),
                re.search(r"Pool public key \(m/12381/8444/1/0\): ([0-9a-f]{96})", shown).group(1))
        started = chia(fleet, "start", "farmer-only", "harvester")
        assert "chia_harvester: started" in started.stdout, started.stdout + started.stderr
        yield fleet, keys
    finally:
        chia(fleet, "stop", "-d", "all", timeout=120)
        left = chia_processes(fleet)
        _, alive = psutil.wait_procs(left, timeout=30)
        for proc in alive:  # psutil checks that the pid still names the process it found
            proc.kill()
        assert not alive, f"chia processes left after chia stop -d all: {[p.pid for p in alive]}"


def rpc(fleet: Fleet, endpoint: str) -> dict:
    """The chia harvester's RPC, called on the harvester host with plotfleet's own client."""
    code = ("import json, sys; sys.path.insert(0, '/usr/local/lib/plotfleet'); "
            "from ansible_collections.plotfleet.fleet.plugins.module_utils.chiarpc import call; "
            f"print(json.dumps(call({CHIA_ROOT!r}, 8560, {endpoint!r})))")
    proc = fleet.host_run("harvester1", ["/usr/bin/python3", "-c", code], timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_landed_plots_are_farmed_and_a_corrupted_one_is_quarantined_and_reported(farm, tmp_path):
    fleet, (farmer_pk, pool_pk) = farm
    rollout = playbook(fleet, "site.yml", "-e", CHIA_VARS)
    assert rollout.returncode == 0, output(rollout)
    assert ARCHIVE in chia(fleet, "plots", "show").stdout

    # v1 plots only: plotfleet_archive does not send .plot2 files yet (transfers.source_problem).
    made = {}
    for kind in ("v1", "bad"):
        proc = subprocess.run([str(CHIA_VENV / "bin" / "python"), str(MAKE_PLOT), "v1", str(tmp_path / kind), "18",
                               farmer_pk, pool_pk], capture_output=True, text=True, timeout=600, check=True)
        made[kind] = Path(proc.stdout.strip().splitlines()[-1])
    bad_source = made.pop("bad")
    with open(bad_source, "r+b") as handle:  # corrupted "in flight": a byte of the plot id flipped
        handle.seek(30)
        byte = handle.read(1)
        handle.seek(30)
        handle.write(bytes([byte[0] ^ 0xFF]))
    dst = fleet.host_path("plotter1", DST)
    for source in (*made.values(), bad_source):
        shutil.copyfile(source, dst / source.name)

    sent = playbook(fleet, "archive.yml", "-e", "plotfleet_wait=true")
    assert sent.returncode == 0, output(sent)

    archive = fleet.host_path("harvester1", ARCHIVE)
    for source in made.values():
        path = f"{ARCHIVE}/{source.name}"
        wait_for(lambda p=path: p in {plot["filename"] for plot in rpc(fleet, "get_plots")["plots"]}, 60,
                 f"the chia harvester to farm {source.name}")
    quarantined = archive / ".plotfleet-quarantine" / f"{bad_source.name}.quarantined"
    wait_for(quarantined.exists, 60, f"{bad_source.name} in quarantine")
    assert not (archive / bad_source.name).exists()
    assert bad_source.name not in {Path(p["filename"]).name for p in rpc(fleet, "get_plots")["plots"]}
    log = fleet.host_path("harvester1", "/var/log/plotfleet/verify.log").read_text()
    assert all(f"{source.name} " in log for source in made.values()) and ", farmed" in log, log
    assert f"QUARANTINED to {ARCHIVE}/.plotfleet-quarantine/{bad_source.name}.quarantined" in log

    again = playbook(fleet, "archive.yml")
    assert f"harvester1: QUARANTINED {ARCHIVE}/.plotfleet-quarantine/{bad_source.name}.quarantined" in again.stdout
    _, report = status(fleet)
    (entry,) = report["space"]["harvesters"][0]["archive_dirs"]
    assert [item["name"] for item in entry["quarantined"]] == [bad_source.name]
    assert report["space"]["totals"]["plots"] == 1
