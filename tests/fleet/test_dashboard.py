"""scripts/watch's dashboard, driven in tmux like an operator would, against a real chia job.

The fleet: plotter1, harvester1, and plotter2 on an inner network reachable only through
bastion1 (the inventory says ProxyJump). A real ``chia plots create -k 25`` runs on plotter2; the
dashboard, at 80x24 in tmux on the controller, selects it, suspends it (its CPU time stops, as
/proc on the host shows), resumes it (CPU time moves again) and kills it after a confirmation
that lists its temp files (they are gone after). Then it pauses and resumes plotting and archiving
on plotter1 (the flag files on the host, and plotfleet_plot saying why it starts nothing).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from fleet import Fleet, HostSpec
from fleet.procs import TrackedProcess, wait_for

pytestmark = pytest.mark.fleet

ROOT = Path(__file__).resolve().parents[2]
CHIA = ROOT / ".venv-chia" / "bin" / "chia"
FARMER_PK = "aefe1789d6476f60439e1168f588ea16652dc321279f05a805fbc63933e88ae9c175d6c6ab182e54af562e1a0dce41bb"
POOL_PK = "b6144137baa6440c17386d1a407fb3670d3b3627b4fa8bf4b56433f861eaba4e076cefac1d9365de56a0e5d976ad7354"
TMP, DST, LOGS = "/srv/plotfleet/tmp0", "/srv/plotfleet/dst0", "/var/log/plotfleet/plots"
ARCHIVE = "/srv/plotfleet/archive0"


def write_configs(fleet: Fleet) -> None:
    for name in ("plotter1", "plotter2"):
        for directory in (TMP, DST, LOGS):
            fleet.host_path(name, directory).mkdir(parents=True, exist_ok=True)
        config = {"directories": {"tmp": [TMP], "dst": [DST]}, "logging": {"plots": LOGS}}
        fleet.host_path(name, "/etc/plotfleet/plotfleet.yml").write_text(json.dumps(config))
    fleet.host_path("harvester1", ARCHIVE).mkdir(parents=True, exist_ok=True)
    fleet.host_path("harvester1", "/etc/plotfleet/harvester.yml").write_text(
        json.dumps({"archive_dirs": [{"path": ARCHIVE, "rsync_module": "plots-archive0"}]}))


class Tmux:
    """A tmux server of our own (its own socket), with one 80x24 session running a command."""

    def __init__(self, command: list[str], width: int = 80, height: int = 24) -> None:
        self.socket = f"plotfleet-test-{secrets.token_hex(4)}"
        self.run("new-session", "-d", "-s", "dash", "-x", str(width), "-y", str(height), shlex.join(command))
        self.server = TrackedProcess.of(int(self.run("display-message", "-p", "#{pid}").strip()))

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True,
                              timeout=30).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "dash", *keys)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "dash")

    def wait_for(self, pattern: str, timeout: float = 60, absent: bool = False) -> str:
        """The screen once ``pattern`` (a regex) is on it (or, with absent, gone); fails showing the screen."""
        found: dict[str, str] = {}

        def check() -> bool:
            found["screen"] = self.screen()
            return (re.search(pattern, found["screen"], re.MULTILINE) is None) == absent

        try:
            wait_for(check, timeout, f"{pattern!r} {'to go from' if absent else 'on'} the screen")
        except Exception as exc:
            raise AssertionError(f"{exc}\n--- screen ---\n{found.get('screen')}") from None
        return found["screen"]

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)
        self.server.kill()


@pytest.fixture
def chia_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CHIA.exists():
        pytest.fail(f"{CHIA} is missing: run scripts/setup --chia")
    root = tmp_path_factory.mktemp("chia-root")
    subprocess.run([str(CHIA), "init"], env={**os.environ, "CHIA_ROOT": str(root)}, check=True,
                   capture_output=True, timeout=300)
    return root


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen]]:
    """Processes this test starts; each is killed (its child first, by PID) at the end."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            for child in psutil.Process(proc.pid).children(recursive=True):
                TrackedProcess.of(child.pid).signal(9)
            proc.kill()
        proc.wait(timeout=30)


def start_chia_job(fleet: Fleet, host: str, chia_root: Path, started: list) -> tuple[subprocess.Popen, Path]:
    """A real k25 job on ``host``, its output in a log under logging.plots, as plot.yml would start it."""
    log = f"{LOGS}/{time.strftime('%Y-%m-%dT%H_%M_%S')}.log"
    argv = [str(CHIA), "plots", "create", "-k", "25", "--override-k", "-r", "1", "-b", "512", "-u", "128",
            "-f", FARMER_PK, "-p", POOL_PK, "-t", TMP, "-d", DST, "-x"]
    command = f"exec {shlex.join(argv)} >> {shlex.quote(log)} 2>&1 </dev/null"
    proc = subprocess.Popen(
        ["nsenter", f"--target={fleet.hosts[host].init.pid}", "--net", "--pid", "--mount", "--uts", "--",
         "env", f"CHIA_ROOT={chia_root}", "sh", "-c", command], start_new_session=True)
    started.append(proc)
    return proc, fleet.host_path(host, log)


def plot_process(nsenter: subprocess.Popen) -> psutil.Process:
    """The chia process (outside PID) that nsenter started in the host's namespace."""
    children = wait_for(lambda: psutil.Process(nsenter.pid).children(), 10, "the chia process")
    return children[0]


def cpu_ticks(proc: psutil.Process) -> int:
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:13])  # utime + stime


def cpu_moves(proc: psutil.Process, seconds: float = 1.5) -> bool:
    before = cpu_ticks(proc)
    time.sleep(seconds)
    return cpu_ticks(proc) != before


def test_dashboard_controls_a_real_job_through_a_bastion(make_fleet, chia_root, started):
    fleet = make_fleet(hosts=[HostSpec("plotter1", ("plotters",)), HostSpec("bastion1", ("bastions",)),
                              HostSpec("plotter2", ("plotters",), via="bastion1"),
                              HostSpec("harvester1", ("harvesters",))])
    write_configs(fleet)
    nsenter, log = start_chia_job(fleet, "plotter2", chia_root, started)
    chia = plot_process(nsenter)
    match = wait_for(lambda: log.exists() and re.search(r"ID: ([0-9a-f]{64})", log.read_text()), 120,
                     "the job's plot id in its log")
    plot_id = match.group(1)
    tmp_dir = fleet.host_path("plotter2", TMP)
    wait_for(lambda: any(plot_id in p.name for p in tmp_dir.iterdir()), 60, "the job's first temp file")

    env = fleet.controller_env()
    command = ["nsenter", f"--target={fleet.controller.init.pid}", "--net", "--pid", "--", "env",
               *(f"{k}={env[k]}" for k in ("PATH", "ANSIBLE_INVENTORY", "ANSIBLE_SSH_CONTROL_PATH_DIR",
                                           "ANSIBLE_HOST_KEY_CHECKING")), "TERM=xterm-256color",
               str(ROOT / "scripts" / "watch"), "--interval", "1"]
    tmux = Tmux(command)
    try:
        label = plot_id[:8]
        row = rf"^ plotter2\s+{label}\s+1:\d"
        screen = tmux.wait_for(rf"{row}.*running", timeout=90)
        assert "HOSTS NOT REPORTING" not in screen, screen  # plotter2 answers through the bastion
        assert re.search(r"plotter1 tmp .* /srv/plotfleet/tmp0", screen), screen
        assert "jk select" in screen  # the help line, at 80 columns

        tmux.keys("j")  # the one job stays selected
        tmux.keys("k")
        tmux.keys("s")
        tmux.wait_for(rf"{row}.*SUSPENDED")
        tmux.wait_for(rf"plotter2: you suspended job {label}")
        assert chia.status() == psutil.STATUS_STOPPED
        assert not cpu_moves(chia), "a suspended job's CPU time must stand still"

        tmux.keys("r")
        tmux.wait_for(rf"{row}.*running")
        tmux.wait_for(rf"plotter2: you resumed job {label}")
        assert cpu_moves(chia), "a resumed job's CPU time moves again"

        temp_files = sorted(p.name for p in tmp_dir.iterdir() if plot_id in p.name)
        tmux.keys("K")
        confirm = tmux.wait_for(rf"Kill job {label} on plotter2\?")
        assert re.search(r"It deletes these \d+ temp files", confirm), confirm
        assert f"{TMP}/{temp_files[0]}"[:60] in confirm, confirm
        assert chia.is_running() and chia.status() != psutil.STATUS_STOPPED  # nothing done before the answer
        tmux.keys("y")
        tmux.wait_for(rf"plotter2: you killed job {label} \(\d+ temp files removed\)", timeout=90)
        tmux.wait_for(row, absent=True)
        wait_for(lambda: not chia.is_running() or chia.status() == psutil.STATUS_ZOMBIE, 30, "the job to end")
        assert not [p.name for p in tmp_dir.iterdir() if plot_id in p.name]
        tmux.wait_for(rf"plotter2: job {label} ended")

        tmux.keys("f")  # filter to the first host, plotter1
        tmux.wait_for(r"\[host plotter1\]")
        tmux.keys("p")
        tmux.wait_for(r"plotter1: you paused plotting")
        tmux.wait_for(r"plotter1: plotting PAUSED by root@")
        flag = fleet.host_path("plotter1", "/etc/plotfleet/paused-plotting")
        assert json.loads(flag.read_text())["by"].startswith("root@")
        decision = fleet.controller_run(["ansible", "plotter1", "-m", "plotfleet_plot", "--check"], timeout=120,
                                        env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
        assert '"paused": true' in decision.stdout and "plotting paused by root@" in decision.stdout, \
            decision.stdout + decision.stderr
        tmux.keys("a")
        tmux.wait_for(r"plotter1: archiving PAUSED by root@")
        assert fleet.host_path("plotter1", "/etc/plotfleet/paused-archiving").exists()
        tmux.keys("p")
        tmux.keys("a")
        tmux.wait_for(r"plotter1: you resumed archiving")
        tmux.wait_for(r"PAUSED", absent=True)
        assert not flag.exists()
        tmux.keys("Escape")
        tmux.wait_for(r"\[host plotter1\]", absent=True)
        tmux.keys("q")
        wait_for(lambda: "dash" not in subprocess.run(["tmux", "-L", tmux.socket, "ls"], capture_output=True,
                                                      text=True).stdout, 30, "the dashboard to quit")
    finally:
        tmux.close()


def test_the_agent_runs_on_the_oldest_hosts(make_fleet):
    """Debian 11 hosts (their own sshd, Python 3.9, psutil and PyYAML): the dashboard's agent
    answers there as on any host (scripts/watch --once goes through the same agent)."""
    fleet = make_fleet(hosts=[HostSpec("plotter1", ("plotters",), release="bullseye"),
                              HostSpec("harvester1", ("harvesters",), release="bullseye")])
    for directory in (TMP, DST, LOGS):
        fleet.host_path("plotter1", directory).mkdir(parents=True, exist_ok=True)
    fleet.host_path("plotter1", "/etc/plotfleet/plotfleet.yml").write_text(
        json.dumps({"directories": {"tmp": [TMP], "dst": [DST]}, "logging": {"plots": LOGS}}))
    fleet.host_path("harvester1", ARCHIVE).mkdir(parents=True, exist_ok=True)
    fleet.host_path("harvester1", "/etc/plotfleet/harvester.yml").write_text(
        json.dumps({"archive_dirs": [{"path": ARCHIVE, "rsync_module": "plots-archive0"}]}))
    result = fleet.controller_run([str(ROOT / "scripts" / "watch"), "--once"], timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "plotter1  tmp   /srv/plotfleet/tmp0" in result.stdout, result.stdout
    assert "harvester1  /srv/plotfleet/archive0  plots-archive0" in result.stdout, result.stdout
    assert "HOSTS NOT REPORTING" not in result.stdout, result.stdout
