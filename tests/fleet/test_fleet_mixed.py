"""A mixed fleet runs the whole flow: Debian 11, 12 and 13 plotters and harvesters together.

One fleet for the module (issue 10, sections 1 and 2)::

    plotter11    Debian 11 (bullseye rootfs): Python 3.9, psutil 5.8, rsync 3.2.3; dst a 1 GiB tmpfs
    plotter13    Debian 13 (trixie rootfs): Python 3.13, psutil 7.0, rsync 3.5
    plotter12    Debian 12, bare (bookworm-bare rootfs): only python3 3.11, rsync 3.2.7 and sshd;
                 site.yml installs the rest (psutil, PyYAML, python3-venv, chia 2.7.5)
    harvester11  Debian 11 (bullseye rootfs): rsync 3.2.3 daemon; archive dir a 1 GiB tmpfs
    harvester12  Debian 12 (the machine's own system): rsync 3.5 daemon (bookworm's security update)

The flow: site.yml (twice, the second changing nothing), plot.yml, status.yml, control.yml
(suspend, resume, kill), archive.yml both ways across releases, analyze.yml, all from the
controller over SSH, each release host running the modules on its own /usr/bin/python3.

The bare host tests the install path: its only apt source is the fleet's local repository
(scripts/rootfs), and pip, which may not reach PyPI from a test, installs chia from the wheelhouse
``scripts/setup --chia`` fills (.wheels-chia, bound read-only at WHEELS) through the role's
``plotter_chia_pip_args``, as a farm without PyPI access would. plot.yml then starts a real chia
job with that chia, which control.yml kills.

Why the plotters on 11 and 13 run a stand-in job: chia-blockchain 2.7.5 cannot be installed on
their Pythons. It requires Python >= 3.10 (Debian 11 has 3.9), and on Python 3.13 its dependency
zstd (>= 1.5.7.2) has no wheel, only a C source that needs a compiler and Python headers these
hosts do not have (the machine's .venv-chia is Python 3.11, not inside their root filesystems).
So plot.yml starts there what ``plotting.chia.executable`` names, ``/srv/plotfleet/bin/chia``
(STAND_IN): a process with chia's command line that writes the start of a real chia 2.7.5 log
under a plot id of its own and keeps a temp file open, as a real job in phase 1 does. Every module
still runs there for real: config, plot (the scheduler starts it), jobs, job (suspend, resume,
kill with its temp file), log, archive, space, verify. The plots that cross releases are real
plots made by chia's own code (chiapos k18, ``tests/integration/make_farm_plot.py``), put in the
plotters' dst dirs; analyze.yml reads real chia 2.7.5 logs. test_fleet_archive.py runs the real
plot -> archive flow on Debian 12 hosts.

Routes: plotter11's plot goes to harvester12 and plotter13's to harvester11, by the planner's own
rules (the plotter with the least dst room is served first and gets the roomiest harvester dir;
the next gets the harvester given fewer plots). Both cross an rsync 3.2.3 end, so both take the
"flush" route instead of --fsync; a watcher checks that the source is removed only once the plot
is complete on the harvester.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from fleet import Fleet, HostSpec
from fleet.harness import ROOT
from fleet.procs import wait_for
from fleet.test_fleet_archive import output, recap, sha256

pytestmark = pytest.mark.fleet

DST = "/srv/plotfleet/dst0"
TMP = "/srv/plotfleet/tmp0"
ARCHIVE = "/srv/plotfleet/archive0"
PLOT_LOGS = "/var/log/plotfleet/plots"
STAND_IN = "/srv/plotfleet/bin/chia"
STAND_IN_PLOTTERS = ("plotter11", "plotter13")
BARE = "plotter12"
PLOTTERS = {"plotter11": "bullseye", "plotter13": "trixie", BARE: "bookworm"}
HARVESTERS = {"harvester11": "bullseye", "harvester12": "bookworm"}
ALL_HOSTS = (*PLOTTERS, *HARVESTERS)
# The Python and rsync versions each release host must show (Debian 11: rsync older than 3.2.4,
# without --fsync). harvester12 runs the machine's system and the project's .venv Python.
EXPECTED_VERSIONS = {"plotter11": ("3.9.", "3.2.3"), "harvester11": ("3.9.", "3.2.3"), "plotter13": ("3.13.", "3."),
                     BARE: ("3.11.", "3.2.7")}
BARE_CHIA_VENV = "/opt/plotfleet/chia"
# Where the bare host sees the wheelhouse scripts/setup --chia fills (.wheels-chia, read-only).
WHEELS = "/var/cache/plotfleet/wheels-chia"
BARE_PACKAGES = ("python3-psutil", "python3-yaml", "python3-venv", "python3-packaging")
FLEET_VARS = ROOT / "tests" / "fleet" / "vars.yml"
REAL_LOG = ROOT / "tests" / "data" / "logs" / "chia-2.7.5-k25.log"
REAL_LOG_ID = "ce0294538446c461f31802a0b447b802c44be7e6348eac16cf64882134e9b7c4"
MAKE_PLOT = ROOT / "tests" / "integration" / "make_farm_plot.py"
CHIA_PYTHON = ROOT / ".venv-chia" / "bin" / "python"
# A rollout of four hosts takes ~1 min on an idle machine, and over 5 on one shared with other test runs.
PLAYBOOK_TIMEOUT = 1200
# KiB/s: a k18 plot (~5 MB) then takes a few seconds, long enough for the watcher to sample.
WATCH_BWLIMIT = 1500

# The stand-in job on hosts whose Python cannot install chia 2.7.5 (see the module docstring).
# Python 3.9 syntax: it runs on the host's own /usr/bin/python3.
STAND_IN_CODE = f'''#!/usr/bin/python3
"""Stand-in for `chia plots create` (tests/fleet/test_fleet_mixed.py): a real chia log's start, a temp file."""
import os, secrets, sys, time

def arg(*names):
    args = sys.argv[1:]
    for i, word in enumerate(args):
        for name in names:
            if word == name:
                return args[i + 1]
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    raise SystemExit("stand-in chia: missing " + names[0])

tmp, dst = arg("-t", "--tmp_dir"), arg("-d", "--final_dir")
plot_id = secrets.token_hex(32)
with open({str(REAL_LOG)!r}) as log:
    start = "".join(log.readlines()[:40])
sys.stdout.write(start.replace({REAL_LOG_ID!r}, plot_id).replace("/tmp/pt", tmp).replace("/tmp/pd", dst))
sys.stdout.flush()
name = "plot-k25-" + time.strftime("%Y-%m-%d-%H-%M") + "-" + plot_id + ".plot.table1.tmp"
with open(os.path.join(tmp, name), "wb") as temp:
    temp.write(b"\\0" * (1 << 20))
    temp.flush()
    while True:
        time.sleep(3600)
'''


@dataclass(frozen=True)
class Plot:
    name: str
    sha256: str
    original: Path


# --- running things ------------------------------------------------------------------------


def playbook(fleet: Fleet, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """ansible-playbook from the controller; the fleet's vars are inventory vars (write_vars)."""
    env = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    return fleet.controller_run(["ansible-playbook", f"playbooks/{name}", *args], env=env, timeout=PLAYBOOK_TIMEOUT)


def shown(result: subprocess.CompletedProcess[str], task: str) -> dict:
    """The JSON a playbook printed as the msg of ``task`` (status.yml, analyze.yml with plotfleet_output=json)."""
    at = result.stdout.find(f"TASK [{task}]")
    start = result.stdout.find("=> {", at)
    assert at >= 0 and start >= 0, f"no {task!r} in:\n{output(result)}"
    printed, _ = json.JSONDecoder().raw_decode(result.stdout[start + 3:])
    return json.loads(printed["msg"])


def ad_hoc(fleet: Fleet, pattern: str, module: str, args: str = "") -> dict[str, dict]:
    """Host -> result of ``ansible PATTERN -m MODULE -a ARGS``; fails on any failure."""
    tree = fleet.workdir / "results" / secrets.token_hex(4)
    result = fleet.controller_run(["ansible", pattern, "-m", module, *(["-a", args] if args else []),
                                   "--tree", str(tree)], timeout=300)
    results = {path.name: json.loads(path.read_text()) for path in tree.glob("*")}
    assert result.returncode == 0 and results, output(result)
    return results


def job_pids(fleet: Fleet, host: str) -> list[int]:
    """PIDs, as the host sees them, of its plot jobs."""
    found = fleet.host_run(host, ["pgrep", "-f", "chia plots create"]).stdout.split()
    return [int(pid) for pid in found]


def process_state(fleet: Fleet, host: str, pid: int) -> str:
    return fleet.host_run(host, ["ps", "-o", "stat=", "-p", str(pid)]).stdout.strip()


# --- the fleet -----------------------------------------------------------------------------


def write_vars(fleet: Fleet, hosts: list[str], executable: str, **host_vars: object) -> None:
    """tests/fleet/vars.yml as the inventory's group vars, and host vars for ``hosts``: their chia
    executable and ``host_vars``.

    Inventory vars, not ``-e @vars.yml``: extra vars would beat the host vars that give these
    plotters a chia other than the project's .venv-chia, which their Python cannot run.
    """
    fleet_vars = yaml.safe_load(FLEET_VARS.read_text())
    (fleet.workdir / "group_vars").mkdir(exist_ok=True)
    shutil.copyfile(FLEET_VARS, fleet.workdir / "group_vars" / "all.yml")
    (fleet.workdir / "host_vars").mkdir(exist_ok=True)
    for host in hosts:
        config = json.loads(json.dumps(fleet_vars["plotter_config"]))
        config["plotting"]["chia"]["executable"] = executable
        own = {**host_vars, "plotter_config": config}
        (fleet.workdir / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(own, sort_keys=False))


@pytest.fixture(scope="module")
def fleet(make_module_fleet) -> Fleet:
    wheelhouse = (ROOT / ".wheels-chia").resolve()
    if not (wheelhouse / ".complete").exists():
        pytest.fail(f"no wheelhouse at {ROOT / '.wheels-chia'}: run scripts/setup --chia", pytrace=False)
    hosts = [
        HostSpec("plotter11", ("plotters",), {DST: "1G"}, release="bullseye"),
        HostSpec("plotter13", ("plotters",), release="trixie"),
        HostSpec(BARE, ("plotters",), release="bookworm-bare", ro_binds={str(wheelhouse): WHEELS}),
        HostSpec("harvester11", ("harvesters",), {ARCHIVE: "1G"}, release="bullseye"),
        HostSpec("harvester12", ("harvesters",)),
    ]
    fleet = make_module_fleet(hosts=hosts, timeout=60)
    write_vars(fleet, list(STAND_IN_PLOTTERS), STAND_IN, plotter_chia_install=False)
    write_vars(fleet, [BARE], f"{BARE_CHIA_VENV}/bin/chia", plotter_chia_venv=BARE_CHIA_VENV,
               plotter_chia_pip_args=f"--no-index --find-links {WHEELS}")
    real_log = REAL_LOG.read_text().replace("/tmp/pt", TMP).replace("/tmp/pd", DST)
    for host in STAND_IN_PLOTTERS:
        stand_in = fleet.host_path(host, STAND_IN)
        stand_in.parent.mkdir(parents=True)
        stand_in.write_text(STAND_IN_CODE)
        stand_in.chmod(0o755)
        # A finished real chia run in the host's log dir (another plot id), for analyze.yml.
        logs = fleet.host_path(host, PLOT_LOGS)
        logs.mkdir(parents=True)
        (logs / "finished-k25.log").write_text(real_log.replace(REAL_LOG_ID, secrets.token_hex(32)))
    return fleet


def installed(fleet: Fleet, host: str) -> dict[str, bool]:
    """What the roles install, as the bare host has it now."""
    python = fleet.host_run(host, ["/usr/bin/python3", "-c", "import psutil, yaml, ensurepip, packaging"])
    packages = fleet.host_run(host, ["dpkg-query", "-W", "-f", "${Package} ${Status}\\n", *BARE_PACKAGES]).stdout
    chia = fleet.host_run(host, [f"{BARE_CHIA_VENV}/bin/chia", "version"]) if fleet.host_path(
        host, f"{BARE_CHIA_VENV}/bin/chia").exists() else None
    return {"python libraries": python.returncode == 0,
            **{package: f"{package} install ok installed" in packages for package in BARE_PACKAGES},
            "chia 2.7.5": chia is not None and chia.stdout.strip() == "2.7.5",
            "chia root": fleet.host_path(host, "/srv/plotfleet/chia-root/config/config.yaml").exists()}


@pytest.fixture(scope="module")
def bare_before(fleet: Fleet) -> dict[str, bool]:
    return installed(fleet, BARE)


@pytest.fixture(scope="module")
def rolled_out(fleet: Fleet, bare_before: dict[str, bool]) -> subprocess.CompletedProcess[str]:
    result = playbook(fleet, "site.yml")
    assert result.returncode == 0, output(result)
    return result


@pytest.fixture(scope="module")
def jobs_started(fleet: Fleet, rolled_out: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """plot.yml: a job on every plotter (the stand-ins; the real chia the roles installed on the bare host)."""
    result = playbook(fleet, "plot.yml")
    assert result.returncode == 0, output(result)
    return result


@pytest.fixture(scope="module")
def k18_plots(tmp_path_factory: pytest.TempPathFactory) -> list[Plot]:
    """Two real plots made by chia's own code (chiapos k18, about a second each), kept outside the fleet."""
    keys = yaml.safe_load(FLEET_VARS.read_text())["plotter_config"]["plotting"]
    keep = tmp_path_factory.mktemp("k18")
    plots = []
    for _ in range(2):
        made = subprocess.run([str(CHIA_PYTHON), str(MAKE_PLOT), "v1", str(keep), "18", keys["farmer_pk"],
                               keys["pool_pk"]], capture_output=True, text=True, timeout=300)
        assert made.returncode == 0, made.stderr
        path = Path(made.stdout.split()[-1])
        plots.append(Plot(path.name, sha256(path), path))
    return plots


# --- the flow ------------------------------------------------------------------------------


def test_each_host_runs_its_releases_python_and_rsync(fleet: Fleet) -> None:
    facts = ad_hoc(fleet, "all", "setup", "filter=ansible_python_version,ansible_distribution_release")
    rsync = ad_hoc(fleet, "all", "command", "rsync --version")

    seen = {host: (facts[host]["ansible_facts"]["ansible_python_version"], rsync[host]["stdout"].split()[2])
            for host in ALL_HOSTS}
    print("versions:", seen)
    for host, (python, rsync_version) in EXPECTED_VERSIONS.items():
        assert seen[host][0].startswith(python) and seen[host][1].startswith(rsync_version), (host, seen[host])
    releases = {host: facts[host]["ansible_facts"]["ansible_distribution_release"] for host in ALL_HOSTS}
    assert releases == {**PLOTTERS, **HARVESTERS}, releases


def test_the_bare_host_gets_everything_from_the_roles(fleet: Fleet, bare_before: dict[str, bool],
                                                       rolled_out: subprocess.CompletedProcess[str]) -> None:
    assert not any(bare_before.values()), bare_before
    assert recap(rolled_out)[BARE]["changed"] > 0, output(rolled_out)

    after = installed(fleet, BARE)

    assert all(after.values()), after


def test_second_rollout_changes_nothing(fleet: Fleet, rolled_out: subprocess.CompletedProcess[str]) -> None:
    assert set(recap(rolled_out)) == set(ALL_HOSTS), output(rolled_out)

    again = playbook(fleet, "site.yml")

    assert again.returncode == 0, output(again)
    hosts = recap(again)
    assert set(hosts) == set(ALL_HOSTS), output(again)
    assert all(counts == {"changed": 0, "unreachable": 0, "failed": 0} for counts in hosts.values()), hosts


def test_plot_starts_a_job_on_every_plotter(fleet: Fleet, jobs_started: subprocess.CompletedProcess[str]) -> None:
    for host in PLOTTERS:
        assert re.search(rf'\[{host}\] => {{\s*"msg": "started 1:', jobs_started.stdout), output(jobs_started)
        assert len(job_pids(fleet, host)) == 1, host
    # The bare host's job is a real chia from the virtualenv the role made.
    [pid] = job_pids(fleet, BARE)
    command = fleet.host_run(BARE, ["ps", "-o", "args=", "-p", str(pid)]).stdout
    assert f"{BARE_CHIA_VENV}/bin/chia plots create" in command, command
    # The scheduler's rules hold on every release: one job per tmp dir, no second start.
    again = playbook(fleet, "plot.yml")
    assert again.returncode == 0, output(again)
    assert "started 1:" not in again.stdout, output(again)


def test_status_reports_every_host(fleet: Fleet, jobs_started: subprocess.CompletedProcess[str]) -> None:
    result = playbook(fleet, "status.yml", "-e", "plotfleet_output=json")
    report = shown(result, "Fleet status")

    assert result.returncode == 0, output(result)
    assert report["summary"]["hosts_down"] == [], report["summary"]
    assert {host: entry["status"] for host, entry in report["plotters"].items()} == dict.fromkeys(PLOTTERS, "ok")
    space = {item["host"]: item for item in report["space"]["harvesters"]}
    assert set(space) == set(HARVESTERS), report["space"]
    assert all(item["archive_dirs"][0]["path"] == ARCHIVE for item in space.values()), space
    for host in PLOTTERS:
        [job] = report["plotters"][host]["jobs"]
        assert (job["plotter"], job["k"], job["tmp_dir"], job["dst_dir"]) == ("chia", 25, TMP, DST), (host, job)
    for host in STAND_IN_PLOTTERS:
        assert report["plotters"][host]["jobs"][0]["phase"]["major"] == 1, report["plotters"][host]
    for host in (*PLOTTERS, "harvester11"):  # each has its own root filesystem and Python
        assert bytecode_cache(fleet, host), host


def bytecode_cache(fleet: Fleet, host: str) -> list[str]:
    """The compiled host code the modules keep on ``host`` (module_utils/bytecode_cache.py), each file
    checked: root's, 0600, in root's 0700 dir, for the host's own Python."""
    probe = fleet.host_run(host, ["python3", "-c", """
import json, os, stat, sys
top = "/var/cache/plotfleet/bytecode"
info = os.lstat(top)
assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o700), info
names = sorted(os.listdir(top))
for name in names:
    info = os.lstat(os.path.join(top, name))
    assert stat.S_ISREG(info.st_mode) and (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o600), (name, info)
tag = sys.implementation.cache_tag
assert any(name.endswith(f".state.{tag}.pyc") or name.endswith(f".harvester.{tag}.pyc") for name in names), names
print(json.dumps(names))
"""], timeout=60)
    assert probe.returncode == 0, probe.stderr
    return json.loads(probe.stdout)


def plot_ids_of_jobs(fleet: Fleet) -> dict[str, str] | None:
    """Plotter -> the plot id of its one job, once every job has one (a real chia prints it after starting)."""
    jobs = {host: result["jobs"] for host, result in ad_hoc(fleet, "plotters", "plotfleet_jobs_info").items()}
    if not all(jobs.get(host) and jobs[host][0]["plot_id"] for host in PLOTTERS):
        return None
    return {host: jobs[host][0]["plot_id"] for host in PLOTTERS}


def control(fleet: Fleet, plot_id: str, state: str) -> subprocess.CompletedProcess[str]:
    result = playbook(fleet, "control.yml", "-e", f"plotfleet_plot_id={plot_id[:12]}", "-e", f"plotfleet_state={state}")
    assert result.returncode == 0, output(result)
    return result


def test_control_suspends_resumes_and_kills_jobs_on_11_12_and_13(
        fleet: Fleet, jobs_started: subprocess.CompletedProcess[str]) -> None:
    plot_ids = wait_for(lambda: plot_ids_of_jobs(fleet), 120, "a plot id for every job", interval=2)
    [pid11] = job_pids(fleet, "plotter11")

    control(fleet, plot_ids["plotter11"], "suspended")
    assert process_state(fleet, "plotter11", pid11).startswith("T")
    control(fleet, plot_ids["plotter11"], "running")
    assert not process_state(fleet, "plotter11", pid11).startswith("T")

    for host, plot_id in plot_ids.items():
        temp_files = [p for p in fleet.host_path(host, TMP).iterdir() if plot_id in p.name]
        assert temp_files, host
        killed = control(fleet, plot_id, "killed")
        assert plot_id in killed.stdout, output(killed)
        wait_for(lambda h=host: not job_pids(fleet, h), 30, f"the job on {host} to end")
        assert not any(p.exists() for p in temp_files), host


class Watcher:
    """Samples, every few ms, that each plot is complete somewhere: in its source while that
    exists, else under its final name on a harvester. The source is checked first: a plot that
    leaves its source only after arriving is then always seen in one place or the other."""

    def __init__(self, fleet: Fleet, plots: dict[str, tuple[str, Plot]]) -> None:
        self.sources = {name: fleet.host_path(host, f"{DST}/{name}") for name, (host, _) in plots.items()}
        self.targets = {name: [fleet.host_path(h, f"{ARCHIVE}/{name}") for h in HARVESTERS] for name in plots}
        self.sizes = {name: plot.original.stat().st_size for name, (_, plot) in plots.items()}
        self.missing: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _complete(self, path: Path, size: int) -> bool:
        try:
            return path.stat().st_size == size
        except FileNotFoundError:
            return False

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, source in self.sources.items():
                if source.exists():
                    continue
                if not any(self._complete(target, self.sizes[name]) for target in self.targets[name]):
                    self.missing.append(f"{time.time():.3f} {name}: gone from its plotter, not complete on a harvester")
            self.samples += 1
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def test_archive_both_ways_across_releases(fleet: Fleet, jobs_started: subprocess.CompletedProcess[str],
                                           k18_plots: list[Plot]) -> None:
    """plotter11 (Debian 11) -> harvester12 (Debian 12) and plotter13 (Debian 13) -> harvester11 (Debian 11)."""
    placed = dict(zip(STAND_IN_PLOTTERS, k18_plots, strict=True))
    for host, plot in placed.items():
        shutil.copyfile(plot.original, fleet.host_path(host, f"{DST}/{plot.name}"))
    watcher = Watcher(fleet, {plot.name: (host, plot) for host, plot in placed.items()})
    try:
        result = playbook(fleet, "archive.yml", "-e", "plotfleet_wait=true", "-e", f"plotfleet_bwlimit={WATCH_BWLIMIT}")
    finally:
        watcher.stop()

    assert result.returncode == 0, output(result)
    routes = {"plotter11": "harvester12", "plotter13": "harvester11"}
    for host, plot in placed.items():
        arrived = fleet.host_path(routes[host], f"{ARCHIVE}/{plot.name}")
        assert arrived.exists(), f"{plot.name} from {host} not on {routes[host]}:\n{output(result)}"
        assert sha256(arrived) == plot.sha256, f"{plot.name} on {routes[host]} differs from the plot made"
        assert not fleet.host_path(host, f"{DST}/{plot.name}").exists(), f"{plot.name} still on {host}"
    assert watcher.samples > 100 and not watcher.missing, (watcher.samples, watcher.missing[:5])
    report = shown(playbook(fleet, "status.yml", "-e", "plotfleet_output=json"), "Fleet status")
    assert report["summary"]["archive_plots"] == 2 and report["summary"]["plots_waiting"] == 0, report["summary"]


def test_analyze_reads_every_plotters_logs(fleet: Fleet, jobs_started: subprocess.CompletedProcess[str]) -> None:
    result = playbook(fleet, "analyze.yml", "-e", "plotfleet_output=json")
    analysis = shown(result, "Timing statistics")

    assert result.returncode == 0, output(result)
    completed = {}
    for plot in analysis["plots"]:
        completed.setdefault(plot["host"], []).append(plot)
    assert set(analysis["hosts"]) == set(PLOTTERS), analysis["hosts"]
    # The bare host's only job was killed: it has no completed plot.
    assert set(completed) == set(STAND_IN_PLOTTERS), completed.keys()
    for plots in completed.values():
        # The finished real chia run counts; the killed stand-in job is not a completed plot.
        assert [os.path.basename(plot["path"]) for plot in plots] == ["finished-k25.log"], plots
        assert plots[0]["completed"] and plots[0]["total_seconds"] > 0, plots

