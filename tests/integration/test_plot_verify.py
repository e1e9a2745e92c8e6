"""Plots verified and farmed on landing: the harvester role, the real rsync daemon and its post-xfer
hook, and a real chia harvester confirming each landed plot through its RPC.

The farm is real and throwaway: ``chia init`` and ``chia keys generate`` in a temp CHIA_ROOT and
keyring, its ports moved to free ones, ``chia start farmer-only harvester`` (the chia harvester
loads plots only once a farmer has sent it the farm's keys; no full node is needed). The plots are
real: chiapos v1 k18 and chia_rs v2 k18 made for those keys. The chia processes are found by the
CHIA_ROOT in their environment, stopped with ``chia stop -d all`` and checked gone (killed by
their pid and start time if not).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import yaml
from conftest import CHIA, CHIA_VENV, ROOT, VENV_BIN, ansible_env, run_module, wait_for
from test_harvester_role import PASSWORD, free_port, recap, stop_daemon

from ansible_collections.plotfleet.fleet.plugins.module_utils import chiarpc

pytestmark = pytest.mark.chia

MAKE_PLOT = Path(__file__).with_name("make_farm_plot.py")
# The farm's keys: a throwaway key made for these tests (it never held anything), fixed so that a
# k28 v2 plot made once for it can be kept outside the clone and farmed by every later run.
FARM_MNEMONIC = ("silent derive miss diary orbit infant proud monitor window bone review diet steel loan half "
                 "mirror absorb chuckle blossom vivid someone skate guide blast")
CACHE = Path(os.environ.get("PLOTFLEET_CACHE", "/var/cache/plotfleet"))


@dataclass
class Farm:
    base: Path
    chia_root: Path
    env: dict
    farmer_pk: str
    pool_pk: str
    rpc_port: int
    rsync_port: int
    vars: dict
    procs: list[psutil.Process]

    @property
    def archive(self) -> Path:
        return self.base / "archive" / "hdd01"

    @property
    def conf(self) -> Path:  # for stop_daemon
        return Path(self.vars["harvester_rsyncd_conf"])

    @property
    def pid_file(self) -> Path:
        return Path(self.vars["harvester_rsync_pid_file"])

    def daemon_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        return pid if f"--config={self.conf}".encode() in argv else None

    def chia(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(CHIA), *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def make_plot(self, kind: str, out: Path, k: int = 18) -> Path:
        proc = subprocess.run([str(CHIA_VENV / "bin" / "python"), str(MAKE_PLOT), kind, str(out), str(k),
                               self.farmer_pk, self.pool_pk], env=self.env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        return Path(proc.stdout.strip().splitlines()[-1])

    def run_role(self, **overrides) -> subprocess.CompletedProcess:
        varfile = self.base / "vars.yml"
        varfile.write_text(yaml.safe_dump({**self.vars, **overrides}))
        cmd = [str(VENV_BIN / "ansible-playbook"), str(self.base / "site.yml"), "-e", f"@{varfile}"]
        proc = subprocess.run(cmd, cwd=ROOT, env={**ansible_env(), "ANSIBLE_STDOUT_CALLBACK": "default"},
                              capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == 0, f"role run failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def push(self, source: Path, name: str | None = None) -> float:
        """rsync a file into the archive dir's module as plotfleet_archive does; the time it returned."""
        password_file = self.base / "password"
        password_file.write_text(PASSWORD + "\n")
        password_file.chmod(0o600)
        target = f"rsync://plotfleet@127.0.0.1:{self.rsync_port}/plots-hdd01/{name or ''}"
        wait_for(lambda: not _children(self.daemon_pid()), 30, "the rsync daemon to be idle")
        proc = subprocess.run(["rsync", "-t", f"--password-file={password_file}", str(source), target],
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        return time.monotonic()

    def loaded(self) -> dict:
        return chiarpc.call(str(self.chia_root), self.rpc_port, "get_plots")

    def verify_log(self) -> str:
        path = Path(self.vars["harvester_verify_log_file"])
        return path.read_text() if path.exists() else ""


def _children(pid: int | None) -> list[int]:
    if pid is None:
        return []
    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.NoSuchProcess:
        return []


def _chia_processes(chia_root: Path) -> list[psutil.Process]:
    """The chia daemon and services running with this CHIA_ROOT (chia start daemonises them)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.environ().get("CHIA_ROOT") == str(chia_root):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _configure(farm_env: dict, ports: dict[str, int]) -> None:
    """Move every port this farm listens on or dials to a free one (chia's own config code)."""
    script = """
import json, sys
from pathlib import Path
from chia.util.config import load_config, save_config
ports = json.loads(sys.argv[1])
root = Path(sys.argv[2])
config = load_config(root, "config.yaml")
config["daemon_port"] = config["ui"]["daemon_port"] = ports["daemon"]
config["farmer"]["port"] = ports["farmer"]
config["farmer"]["rpc_port"] = ports["farmer_rpc"]
config["harvester"]["rpc_port"] = ports["harvester_rpc"]
config["harvester"]["farmer_peers"] = [{"host": "127.0.0.1", "port": ports["farmer"]}]
config["harvester"]["plot_directories"] = []
save_config(root, "config.yaml", config)
"""
    subprocess.run([str(CHIA_VENV / "bin" / "python"), "-c", script, json.dumps(ports), farm_env["CHIA_ROOT"]],
                   env=farm_env, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    if not CHIA.exists():
        pytest.fail(f"{CHIA} is missing: run scripts/setup --chia")
    base = tmp_path_factory.mktemp("farm")
    chia_root, keys = base / "chia-root", base / "keys"
    keys.mkdir()
    env = {**os.environ, "CHIA_ROOT": str(chia_root), "CHIA_KEYS_ROOT": str(keys),
           "PATH": f"{CHIA_VENV / 'bin'}:{os.environ.get('PATH', '')}"}
    subprocess.run([str(CHIA), "init"], env=env, check=True, capture_output=True, timeout=180)
    mnemonic = base / "mnemonic"
    mnemonic.write_text(FARM_MNEMONIC + "\n")
    mnemonic.chmod(0o600)
    subprocess.run([str(CHIA), "keys", "add", "-f", str(mnemonic), "-l", "plotfleet-test"], env=env, check=True,
                   capture_output=True, timeout=120)
    mnemonic.unlink()
    shown = subprocess.run([str(CHIA), "keys", "show"], env=env, check=True, capture_output=True, text=True,
                           timeout=120).stdout
    farmer_pk = re.search(r"Farmer public key \(m/12381/8444/0/0\): ([0-9a-f]{96})", shown).group(1)
    pool_pk = re.search(r"Pool public key \(m/12381/8444/1/0\): ([0-9a-f]{96})", shown).group(1)
    ports = {}
    for name in ("daemon", "farmer", "farmer_rpc", "harvester_rpc"):
        ports[name] = free_port(20000 + 100 * len(ports))
    _configure(env, ports)
    rsync_port = free_port(28730)  # away from the other rsync tests (18730 up), which may run at once
    etc = base / "etc"
    (base / "site.yml").write_text(yaml.safe_dump([{
        "name": "Harvester", "hosts": "harvesters", "gather_facts": False, "roles": [{"role": "harvester"}],
    }]))
    variables = {
        "harvester_config_dir": str(etc),
        "harvester_rsyncd_conf": str(etc / "rsyncd.conf"),
        "harvester_rsyncd_modules_conf": str(etc / "rsyncd.modules.conf"),
        "harvester_rsync_secrets_file": str(etc / "rsyncd.secrets"),
        "harvester_space_config": str(etc / "harvester.yml"),
        "harvester_run_dir": str(base / "run"),
        "harvester_rsync_pid_file": str(base / "run" / "rsyncd.pid"),
        "harvester_rsync_log_file": str(base / "log" / "rsyncd.log"),
        "harvester_rsync_port": rsync_port,
        "harvester_rsync_address": "127.0.0.1",
        "harvester_rsync_password": PASSWORD,
        "harvester_rsync_service_manager": "standalone",
        "harvester_archive_dirs": [{"path": str(base / "archive" / "hdd01"), "mount": False}],
        "harvester_create_archive_dirs": True,
        "harvester_verify_lib_dir": str(base / "lib"),
        "harvester_verify_hook": str(base / "libexec" / "plotfleet-verify-landed"),
        "harvester_verify_log_file": str(base / "log" / "verify.log"),
        "harvester_chia_enabled": True,
        "harvester_chia_bin": str(CHIA),
        "harvester_chia_root": str(chia_root),
        "harvester_chia_rpc_port": ports["harvester_rpc"],
    }
    box = Farm(base, chia_root, env, farmer_pk, pool_pk, ports["harvester_rpc"], rsync_port, variables, [])
    try:
        started = subprocess.run([str(CHIA), "start", "farmer-only", "harvester"], env=env, capture_output=True,
                                 text=True, timeout=180, check=False)
        box.procs = _chia_processes(chia_root)
        assert started.returncode == 0 and "chia_harvester: started" in started.stdout, started.stdout
        yield box
    finally:
        stop_daemon(box)
        subprocess.run([str(CHIA), "stop", "-d", "all"], env=env, capture_output=True, timeout=120, check=False)
        box.procs += [proc for proc in _chia_processes(chia_root) if proc not in box.procs]
        _, alive = psutil.wait_procs(box.procs, timeout=30)
        for proc in alive:  # psutil checks the pid still names the process it found
            proc.kill()
        assert not alive, f"chia processes left after chia stop -d all: {[p.pid for p in alive]}"


# The tests run in order on one farm: the first rolls out the role.


def test_the_role_installs_the_hook_and_adds_the_archive_dir_to_the_chia_harvester(farm):
    proc = farm.run_role()
    assert recap(proc)["changed"] > 0
    hook = Path(farm.vars["harvester_verify_hook"])
    assert hook.stat().st_uid == 0 and oct(hook.stat().st_mode & 0o777) == "0o755"
    modules = Path(farm.vars["harvester_rsyncd_modules_conf"]).read_text()
    assert f"post-xfer exec = {hook}" in modules
    shown = farm.chia("plots", "show").stdout
    assert str(farm.archive) in shown
    wait_for(lambda: farm.daemon_pid(), 15, "the rsync daemon")


def test_a_second_rollout_changes_nothing(farm):
    assert recap(farm.run_role())["changed"] == 0


def test_plots_pushed_through_rsyncd_are_verified_and_farmed_within_seconds(farm, tmp_path):
    sources = [farm.make_plot("v1", tmp_path), farm.make_plot("v2", tmp_path)]
    for source in sources:
        landed = farm.push(source)
        path = str(farm.archive / source.name)
        wait_for(lambda p=path: p in {plot["filename"] for plot in farm.loaded()["plots"]}, 30,
                 f"the chia harvester to farm {source.name}")
        latency = time.monotonic() - landed
        print(f"\n{source.name}: farmed {latency:.2f} s after rsync returned")
        assert latency < 10  # the harvester's own periodic scan is every 120 s
        assert wait_for(lambda p=path: f"{p} " in farm.verify_log() and "farmed" in farm.verify_log(), 15,
                        "the verify log line")
    log = farm.verify_log()
    assert all(re.search(rf"{re.escape(s.name)} \d+ bytes \[header\]: ok, farmed", log) for s in sources), log


def _corrupt_copy(source: Path, into: Path, how: str) -> Path:
    copy = into / source.name
    shutil.copyfile(source, copy)
    with open(copy, "r+b") as handle:
        if how == "flip":
            handle.seek(30)  # inside the plot id of either header
            byte = handle.read(1)
            handle.seek(30)
            handle.write(bytes([byte[0] ^ 0xFF]))
        else:
            handle.truncate(copy.stat().st_size // 2)
    return copy


@pytest.mark.parametrize(("kind", "how"), [("v1", "flip"), ("v2", "truncate")])
def test_a_plot_corrupted_in_flight_is_quarantined_and_never_farmed(farm, tmp_path, kind, how):
    made = tmp_path / "made"
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    source = farm.make_plot(kind, made)
    bad = _corrupt_copy(source, bad_dir, how)
    farm.push(bad)
    quarantined = farm.archive / ".plotfleet-quarantine" / f"{source.name}.quarantined"
    wait_for(quarantined.exists, 30, f"{source.name} in quarantine")
    assert not (farm.archive / source.name).exists()
    assert quarantined.read_bytes() == bad.read_bytes()  # moved as it was, never deleted
    reason = json.loads((farm.archive / ".plotfleet-quarantine" / f"{source.name}.reason.json").read_text())
    assert reason["problems"]
    assert f"QUARANTINED to {quarantined}" in farm.verify_log()
    names = {Path(plot["filename"]).name for plot in farm.loaded()["plots"]}
    assert source.name not in names and f"{source.name}.quarantined" not in names
    # The good plot of the same name arrives afterwards and is farmed.
    farm.push(source)
    wait_for(lambda: str(farm.archive / source.name) in {p["filename"] for p in farm.loaded()["plots"]}, 30,
             f"the good {source.name} to be farmed")


def test_plotfleet_verify_catches_what_no_hook_saw_and_reports_the_quarantine(farm, tmp_path):
    good = farm.make_plot("v1", tmp_path)
    bad = _corrupt_copy(farm.make_plot("v2", tmp_path / "v2"), tmp_path, "flip")
    shutil.copy2(good, farm.archive / good.name)  # written in place, not through rsync: no hook ran
    shutil.copy2(bad, farm.archive / bad.name)
    config = farm.vars["harvester_space_config"]

    checked = run_module("plotfleet_verify", {"config": config}, check=True)
    assert not checked["failed"] and checked["changed"]
    assert {item["name"]: item["passed"] for item in checked["verified"]} == {good.name: True, bad.name: False}, \
        checked["verified"]
    assert (farm.archive / bad.name).exists()  # check mode moves nothing

    result = run_module("plotfleet_verify", {"config": config})
    assert not result["failed"], result
    by_name = {item["name"]: item for item in result["verified"]}
    assert by_name[good.name]["farmed"] is True and by_name[good.name]["checks"] == ["header"]
    assert by_name[bad.name]["quarantined_to"].endswith(f".plotfleet-quarantine/{bad.name}.quarantined")
    assert [item["name"] for item in result["quarantined"]] == [bad.name]
    (entry,) = result["dirs"]
    assert bad.name in {item["name"] for item in entry["quarantined"]}

    again = run_module("plotfleet_verify", {"config": config})
    assert not again["changed"] and again["verified"] == []


def test_chia_plots_check_proves_a_v1_plot_when_asked(farm, tmp_path):
    good = farm.make_plot("v1", tmp_path)
    shutil.copy2(good, farm.archive / good.name)
    result = run_module("plotfleet_verify", {"config": farm.vars["harvester_space_config"],
                                             "chia_check_challenges": 5})
    (verdict,) = result["verified"]
    assert verdict["checks"] == ["header", "chia"] and verdict["passed"], verdict


@pytest.fixture(scope="module")
def k28_plot(farm: Farm) -> Path:
    """A mainnet-size v2 plot (k28, ~1 GiB) for the farm's fixed keys, made once with chia's own v2
    code (~2.5 min on 2 cores) and kept in the cache, keyed by chia's version and the keys."""
    version = subprocess.run([str(CHIA), "version"], capture_output=True, text=True, timeout=120,
                             check=True).stdout.strip()
    key = hashlib.sha256(f"{version} {farm.farmer_pk} {farm.pool_pk} 28".encode()).hexdigest()[:16]
    cached = CACHE / f"plot-v2-k28-{key}"
    if not cached.is_dir() or not list(cached.glob("*.plot2")):
        building = CACHE / f".plot-v2-k28-{key}.{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        farm.make_plot("v2", building, k=28)
        shutil.rmtree(cached, ignore_errors=True)
        building.rename(cached)
    (plot,) = cached.glob("*.plot2")
    return plot


def test_a_k28_v2_plot_passes_chia_plots_check_and_is_farmed(farm, k28_plot, tmp_path):
    """The mainnet v2 size: pushed through the daemon like any plot, it passes chia's own
    ``plots check`` (v2 proofs with the k28 parameters) and the chia harvester loads it."""
    farm.push(k28_plot)
    path = str(farm.archive / k28_plot.name)
    wait_for(lambda: path in {plot["filename"] for plot in farm.loaded()["plots"]}, 60,
             f"the chia harvester to farm {k28_plot.name}")
    # The landing hook verified it (header only): forget that, so the module verifies it again, with chia.
    record = farm.archive / ".plotfleet-verified"
    record.write_text("".join(line + "\n" for line in record.read_text().splitlines() if k28_plot.name not in line))
    result = run_module("plotfleet_verify", {"config": farm.vars["harvester_space_config"],
                                             "chia_check_challenges": 3})
    verdict = next(item for item in result["verified"] if item["name"] == k28_plot.name)
    assert verdict["checks"] == ["header", "chia"] and verdict["passed"] and verdict["farmed"], verdict
