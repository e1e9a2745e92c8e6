"""plotfleet_archive and playbooks/archive.yml against a real rsync daemon, with real plots.

The daemon runs in the foreground (``--no-detach``) on 127.0.0.1 at a free port with its config,
secrets and modules under the test's tmp dir, so the PID we got from Popen is the daemon's; it
is stopped by that PID at the end. One module is a small tmpfs so that "disk full" is real.
Plots are real: one chiapos k=18 plot per session, copied under fresh valid plot names.
Transfers started by the module are found in the process table by their source (under the
test's tmp dir) and killed at the end of the test if still running.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_module, run_playbook, wait_for

from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import find_transfers

PASSWORD = "archive-test-secret"
USER = "plotfleet"

_PLOT_K18 = """
import os, sys
from chiapos import DiskPlotter
tmp, final, name = sys.argv[1:4]
DiskPlotter().create_plot_disk(tmp, tmp, final, name, 18, os.urandom(128), os.urandom(32), 200, 16, 4096, 2, False)
"""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture(scope="session")
def real_plot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real k=18 plot made by chiapos (a few MiB), to copy under fresh names."""
    base = tmp_path_factory.mktemp("k18")
    name = f"plot-k18-2024-01-01-00-00-{os.urandom(32).hex()}.plot"
    subprocess.run([sys.executable, "-c", _PLOT_K18, str(base), str(base), name], check=True, timeout=120,
                   capture_output=True)
    return base / name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Fleet:
    """A plotter config and a harvester rsync daemon, all under one tmp dir."""

    base: Path
    real_plot: Path
    port: int = 0
    dst: Path = field(init=False)
    modules: dict[str, Path] = field(default_factory=dict)
    daemon: subprocess.Popen | None = None
    mounts: list[Path] = field(default_factory=list)
    counter: int = 0

    def __post_init__(self) -> None:
        self.dst = self.base / "dst0"
        self.dst.mkdir()
        (self.base / "tmp0").mkdir()
        self.password_file = self.base / "rsync.secret"
        self.password_file.write_text(PASSWORD + "\n")
        self.password_file.chmod(0o600)
        self.write_config()

    @property
    def flush_gate(self) -> Path:
        return self.base / "hold-flush"

    @property
    def config(self) -> Path:
        return self.base / "plotfleet.yml"

    @property
    def log_dir(self) -> Path:
        return self.base / "transfers"

    def write_config(self, **archiving: object) -> None:
        data = {
            "logging": {"plots": str(self.base / "logs"), "transfers": str(self.log_dir)},
            "directories": {"tmp": [str(self.base / "tmp0")], "dst": [str(self.dst)]},
            "archiving": {"rsync_password_file": str(self.password_file), "rsync_user": USER, **archiving},
        }
        self.config.write_text(yaml.safe_dump(data))

    def new_plot(self) -> Path:
        """A copy of the real plot under a new valid name (its own plot id) in the dst dir."""
        self.counter += 1
        path = self.dst / f"plot-k18-2024-01-01-00-{self.counter:02d}-{os.urandom(32).hex()}.plot"
        shutil.copyfile(self.real_plot, path)
        return path

    def start_daemon(self, modules: dict[str, Path]) -> None:
        self.modules = modules
        secrets = self.base / "rsyncd.secrets"
        secrets.write_text(f"{USER}:{PASSWORD}\n")
        secrets.chmod(0o600)
        lines = [f"pid file = {self.base / 'rsyncd.pid'}", "use chroot = yes", "uid = root", "gid = root"]
        for name, path in modules.items():
            lines += [f"[{name}]", f"path = {path}", "read only = no", "write only = yes", "list = no",
                      f"auth users = {USER}", f"secrets file = {secrets}", "strict modes = yes",
                      "max connections = 2", f"lock file = {self.base / ('rsyncd-' + name + '.lock')}",
                      "dont compress = *"]
            # The read-only flush module of the dir, as roles/harvester renders it; its pre-xfer exec
            # waits while the test holds the gate file, so a test can see what happens before the flush.
            lines += [f"[{name}-flush]", f"path = {path}", "read only = yes", "list = no",
                      f"auth users = {USER}", f"secrets file = {secrets}", "strict modes = yes",
                      f"pre-xfer exec = while [ -e {self.flush_gate} ]; do sleep 0.1; done; "
                      f'sync -f "$RSYNC_MODULE_PATH" && echo "$RSYNC_REQUEST" >> {self.base / "flushed"}']
        conf = self.base / "rsyncd.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.port = free_port()
        self.daemon = subprocess.Popen(
            ["rsync", "--daemon", "--no-detach", f"--config={conf}", f"--port={self.port}", "--address=127.0.0.1",
             f"--log-file={self.base / 'rsyncd.log'}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self._listening, 10, f"rsync daemon on 127.0.0.1:{self.port}")

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def mount_tmpfs(self, path: Path, size: str) -> Path:
        path.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "plotfleet-test", str(path)], check=True)
        self.mounts.append(path)
        return path

    def archive(self, source: Path | None, module: str = "m0", check: bool = False, **args: object) -> dict:
        params = {"host": "127.0.0.1", "port": self.port, "module": module, "config": str(self.config), **args}
        if source is not None:
            params["source"] = str(source)
        return run_module("plotfleet_archive", params, check=check)

    def transfers(self) -> list:
        return [t for t in find_transfers() if t.source.startswith(str(self.base))]

    def teardown(self) -> None:
        for transfer in self.transfers():  # runners and rsync clients our module runs started
            with contextlib.suppress(ProcessLookupError):
                os.kill(transfer.pid, signal.SIGKILL)
        wait_for(lambda: not self.transfers(), 30, "the test's transfers to end")
        if self.daemon is not None:
            self.daemon.terminate()
            self.daemon.wait(timeout=30)
        for path in reversed(self.mounts):
            # The daemon's per-connection processes (chrooted into the dir) end just after their client.
            wait_for(lambda p=path: subprocess.run(["umount", str(p)], check=False, capture_output=True).returncode
                     == 0 or not os.path.ismount(p), 30, f"umount {path}")


@pytest.fixture
def fleet(tmp_path: Path, real_plot: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path, real_plot)
    archive0 = tmp_path / "harvester" / "archive0"
    archive0.mkdir(parents=True)
    try:
        # archive1 is a disk of its own (another device), so the planner may use both at once.
        archive1 = fleet.mount_tmpfs(tmp_path / "harvester" / "archive1", "64m")
        small = fleet.mount_tmpfs(tmp_path / "harvester" / "small", "1m")
        fleet.start_daemon({"m0": archive0, "m1": archive1, "small": small})
        yield fleet
    finally:
        fleet.teardown()


def files_in(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_plot_arrives_complete_and_the_source_is_gone(fleet: Fleet) -> None:
    plot = fleet.new_plot()
    digest = sha256(plot)
    result = fleet.archive(plot, wait=True)
    assert result.get("failed") is not True, result
    assert result["changed"] is True and result["completed"] is True and result["rc"] == 0
    arrived = fleet.modules["m0"] / plot.name
    assert sha256(arrived) == digest
    assert not plot.exists()
    assert files_in(fleet.modules["m0"]) == [plot.name]  # no temp file left beside it
    assert result["bytes_per_second"] > 0 and result["seconds"] > 0
    assert result["size_bytes"] == arrived.stat().st_size
    assert Path(result["log_file"]).parent == fleet.log_dir and Path(result["log_file"]).exists()


def test_check_mode_says_what_would_run_and_starts_nothing(fleet: Fleet) -> None:
    plot = fleet.new_plot()
    result = fleet.archive(plot, check=True, bwlimit=100)
    assert result["changed"] is True and result["msg"].startswith("would run: ")
    assert "--remove-source-files" in result["rsync_cmd"] and "--bwlimit=100" in result["rsync_cmd"]
    assert result["cmd"][result["cmd"].index("--to") + 1] == result["destination"] and result["cmd"][-1] == str(plot)
    assert fleet.transfers() == [] and plot.exists() and files_in(fleet.modules["m0"]) == []


def test_killed_transfer_leaves_the_source_intact_and_nothing_under_the_final_name(fleet: Fleet) -> None:
    plot = fleet.new_plot()
    digest = sha256(plot)
    result = fleet.archive(plot, bwlimit=200)  # detached: returns while rsync runs
    assert result["changed"] is True and result["started"] is True and "completed" in result, result
    (transfer,) = wait_for(fleet.transfers, 10, "the transfer in the process table")
    assert (transfer.pid, transfer.source, transfer.module) == (result["pid"], str(plot), "m0")
    archive = fleet.modules["m0"]
    wait_for(lambda: [p for p in archive.iterdir() if p.name.startswith(".") and p.stat().st_size > 0], 20,
             "part of the plot on the harvester")
    os.kill(transfer.pid, signal.SIGKILL)
    wait_for(lambda: not fleet.transfers(), 10, "the killed rsync to leave the process table")
    assert sha256(plot) == digest
    assert not (archive / plot.name).exists()
    wait_for(lambda: files_in(archive) == [], 30, "the harvester to drop the partial file")


def test_full_harvester_disk_fails_cleanly_with_the_source_intact(fleet: Fleet) -> None:
    plot = fleet.new_plot()
    assert plot.stat().st_size > 1024 * 1024  # bigger than the 1 MiB tmpfs
    digest = sha256(plot)
    result = fleet.archive(plot, module="small", wait=True)
    assert result["failed"] is True
    assert result["msg"].startswith(f"archive {plot.name} to 127.0.0.1::small: the harvester's archive dir is full")
    assert "the source is still complete in place" in result["msg"]
    assert "No space left on device" in result["stderr"] and result["rc"] != 0
    assert sha256(plot) == digest
    assert not (fleet.modules["small"] / plot.name).exists()


def test_wrong_password_is_reported(fleet: Fleet) -> None:
    plot = fleet.new_plot()
    fleet.password_file.write_text("not-the-password\n")
    result = fleet.archive(plot)  # detached: the failure comes within the settle window
    assert result["failed"] is True
    assert "authentication failed: the password in" in result["msg"]
    assert "auth failed on module m0" in result["stderr"]
    assert plot.exists() and fleet.transfers() == []


def test_clear_errors_before_anything_runs(fleet: Fleet) -> None:
    plot = fleet.new_plot()
    temp = fleet.dst / (plot.name + ".2.tmp")
    temp.write_bytes(b"x")
    result = fleet.archive(temp)
    assert result["failed"] is True and "is not a finished plot" in result["msg"]
    result = fleet.archive(fleet.dst / "plot-k18-gone.plot")
    assert result["failed"] is True and result["msg"].endswith("does not exist (already archived, or removed)")
    fleet.password_file.chmod(0o644)
    result = fleet.archive(plot)
    assert result["failed"] is True and "rsync needs 0600" in result["msg"]
    fleet.password_file.chmod(0o600)
    result = fleet.archive(plot, port=free_port(), wait=True)
    assert result["failed"] is True and "connection refused" in result["msg"] and plot.exists()
    result = fleet.archive(plot, module="nope", wait=True)
    assert result["failed"] is True and "offers no module nope" in result["msg"] and plot.exists()


def test_two_runs_at_the_same_moment_send_the_plot_once(fleet: Fleet) -> None:
    fleet.write_config(parallel_transfers=4)
    plot = fleet.new_plot()
    results: list[dict] = []
    # Different modules, so only plotfleet's own lock and process-table check can stop the second.
    runs = [threading.Thread(target=lambda m=m: results.append(fleet.archive(plot, module=m, bwlimit=300)))
            for m in ("m0", "m1")]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert sorted(r["changed"] for r in results) == [False, True], results
    refused = next(r for r in results if not r["changed"])
    assert "is already being transferred" in refused["msg"] and refused["started"] is False
    assert [t.source for t in fleet.transfers()] == [str(plot)]


def test_a_plot_claimed_by_one_run_is_started_by_that_run_only(fleet: Fleet) -> None:
    """Replace on arrival: run A claims the plot before a harvester deletes anything for it; run B
    (planned at the same moment, for another harvester) neither claims it, nor starts it, nor lets a
    slot of its own pick it up; A's start drops the claim."""
    plot, other = fleet.new_plot(), fleet.new_plot()
    would = fleet.archive(plot, check=True, claim="run-a", claim_state="claimed")
    assert would["claimed"] is True and not (fleet.log_dir / ".claims").exists()  # check mode writes nothing

    claimed = fleet.archive(plot, claim="run-a", claim_state="claimed")
    assert claimed["claimed"] is True and claimed["changed"] is True and fleet.transfers() == []

    again = fleet.archive(plot, claim="run-b", claim_state="claimed")
    assert again["claimed"] is False and "is claimed by another archive run" in again["msg"], again
    refused = fleet.archive(plot, claim="run-b", wait=True)
    assert refused["started"] is False and "is claimed by another archive run" in refused["msg"], refused
    # A slot of run B sending another plot leaves the claimed one alone when it picks what is ready.
    slot = fleet.archive(other, claim="run-b", wait=True, pick_from=[str(fleet.dst)])
    assert slot["completed"] is True and not other.exists(), slot
    assert plot.exists() and not (fleet.modules["m0"] / plot.name).exists()

    # A claim its run releases (no room was made) frees the plot for any run.
    fleet.archive(plot, claim="run-a", claim_state="released")
    assert list((fleet.log_dir / ".claims").iterdir()) == []
    assert fleet.archive(plot, claim="run-b", claim_state="claimed")["claimed"] is True
    sent = fleet.archive(plot, claim="run-b", wait=True)
    assert sent["completed"] is True and not plot.exists(), sent
    assert list((fleet.log_dir / ".claims").iterdir()) == []


def test_parallel_limit_is_respected(fleet: Fleet) -> None:
    first, second = fleet.new_plot(), fleet.new_plot()
    assert fleet.archive(first, bwlimit=50)["started"] is True  # still running after three module runs
    result = fleet.archive(second, module="m1", bwlimit=50)
    assert result["changed"] is False and result["started"] is False
    assert result["msg"].startswith("1 transfer(s) already running (rsync pid ")
    assert result["msg"].endswith("archiving.parallel_transfers is 1")
    fleet.write_config(parallel_transfers=2)
    assert fleet.archive(second, module="m1", bwlimit=50)["started"] is True
    assert sorted(t.source for t in fleet.transfers()) == sorted([str(first), str(second)])


def write_inventory(fleet: Fleet, extra_harvester: bool = True, parallel: int = 1, max_connections: int = 1,
                    modules: tuple[str, ...] = ("m0", "m1")) -> Path:
    harvester_conf = fleet.base / "harvester.yml"
    harvester_conf.write_text(json.dumps({
        "archive_dirs": [{"path": str(fleet.modules[name]), "rsync_module": name, "max_connections": max_connections}
                         for name in modules],
        "rsync": {"port": fleet.port},
    }))
    local = {"ansible_connection": "local", "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python")}
    hosts: dict = {
        # The planner takes each plotter's limit from the inventory's plotter_config, as the role renders it.
        "plotter1": {**local, "plotter_config_path": str(fleet.config),
                     "plotter_config": {"archiving": {"parallel_transfers": parallel}}},
        "harvester1": {**local, "harvester_space_config": str(harvester_conf), "plotfleet_archive_address": "127.0.0.1",
                       "harvester_rsync_port": fleet.port},
    }
    harvesters = {"harvester1": None}
    if extra_harvester:  # nobody listens there: reported as unreachable, the rest goes on
        hosts["harvester2"] = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": free_port()}
        harvesters["harvester2"] = None
    inventory = {"all": {"hosts": hosts, "children": {"plotters": {"hosts": {"plotter1": None}},
                                                     "harvesters": {"hosts": harvesters}}}}
    path = fleet.base / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def test_archive_playbook_plans_and_sends_every_plot(fleet: Fleet) -> None:
    fleet.write_config(parallel_transfers=2)
    plots = [fleet.new_plot(), fleet.new_plot(), fleet.new_plot()]
    digests = {p.name: sha256(p) for p in plots}
    inventory = str(write_inventory(fleet, parallel=2))
    options = {"plotfleet_wait": True, "plotfleet_margin": 0}
    run = run_playbook("archive.yml", options, inventory=inventory)
    assert run.returncode == 0, run.stdout + run.stderr
    # Two archive disks, one transfer slot each; the third plot rides in one of them: one pass moves all.
    arrived = [fleet.modules[m] / name for m in ("m0", "m1") for name in files_in(fleet.modules[m])]
    assert len(arrived) == 3, run.stdout
    assert all(sha256(path) == digests[path.name] for path in arrived)
    assert {path.parent for path in arrived} == {fleet.modules["m0"], fleet.modules["m1"]}
    assert "and 1 more, one after another" in run.stdout
    assert "harvester harvester2 unreachable" in run.stdout
    assert "2 transfer(s) to start, 0 running, 0 plot(s) waiting on their dst dirs" in run.stdout
    assert [p for p in plots if p.exists()] == []
    run = run_playbook("archive.yml", options, inventory=inventory)
    assert "no transfer to start" in run.stdout


def test_archive_playbook_in_check_mode_starts_nothing(fleet: Fleet) -> None:
    plot = fleet.new_plot()
    run = run_playbook("archive.yml", {"plotfleet_margin": 0}, check=True,
                       inventory=str(write_inventory(fleet, extra_harvester=False)))
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"start: plotter1 {plot.name}" in run.stdout and "would run: " in run.stdout
    assert plot.exists() and fleet.transfers() == []


# --- rsync older than 3.2.4: the flush module route ------------------------------------------------


def test_old_rsync_route_keeps_the_source_until_the_flush_module_answered(fleet: Fleet) -> None:
    plot = fleet.new_plot()
    digest = sha256(plot)
    fleet.flush_gate.touch()  # the harvester's flush waits until the test lets it go
    result = fleet.archive(plot, flush="flush")
    assert result["started"] is True and result["route"] == "flush", result
    assert "--fsync" not in result["rsync_cmd"] and "--remove-source-files" not in result["rsync_cmd"]
    arrived = fleet.modules["m0"] / plot.name
    wait_for(lambda: arrived.exists() and sha256(arrived) == digest, 30, "the complete plot under its final name")
    # Complete on the harvester, but not yet known to be flushed: the source stays, and the process
    # table still shows the transfer with its plot and destination.
    (transfer,) = wait_for(fleet.transfers, 10, "the transfer in the process table")
    assert transfer.source == str(plot) and transfer.module == "m0" and transfer.pid == result["pid"]
    assert plot.exists() and not (fleet.base / "flushed").exists()
    fleet.flush_gate.unlink()
    wait_for(lambda: not plot.exists(), 30, "the source to go once the flush module answered")
    assert (fleet.base / "flushed").read_text().startswith("m0-flush")
    assert sha256(arrived) == digest
    wait_for(lambda: not fleet.transfers(), 10, "the runner to end")
    log = Path(result["log_file"]).read_text()
    assert f"landed {arrived.stat().st_size} {plot}" in log


def test_old_rsync_route_runner_killed_before_the_flush_leaves_a_duplicate_not_a_loss(fleet: Fleet) -> None:
    plot = fleet.new_plot()
    digest = sha256(plot)
    fleet.flush_gate.touch()
    result = fleet.archive(plot, flush="flush")
    arrived = fleet.modules["m0"] / plot.name
    wait_for(lambda: arrived.exists() and sha256(arrived) == digest, 30, "the complete plot under its final name")
    os.kill(result["pid"], signal.SIGKILL)  # the runner, waiting for the flush module's answer
    wait_for(lambda: not fleet.transfers(), 10, "the killed runner (and its rsync) to leave the process table")
    fleet.flush_gate.unlink()
    assert sha256(plot) == digest and sha256(arrived) == digest  # both copies whole: a duplicate the plan reports


def test_old_rsync_route_with_wait_sends_several_plots_intact(fleet: Fleet) -> None:
    plots = [fleet.new_plot() for _ in range(3)]
    digests = {p.name: sha256(p) for p in plots}
    result = fleet.archive(None, sources=[str(p) for p in plots], flush="flush", wait=True)
    assert result.get("failed") is not True and result["completed"] is True, result
    assert [p for p in plots if p.exists()] == []
    assert {name: sha256(fleet.modules["m0"] / name) for name in digests} == digests


# --- transfer slots: max_connections, plots one after another ---------------------------------------


def lanes_to(fleet: Fleet, module: str) -> set[int]:
    return {t.lane for t in fleet.transfers() if t.module == module}


def test_max_connections_2_lets_the_plan_send_two_transfers_to_one_disk(fleet: Fleet) -> None:
    fleet.write_config(parallel_transfers=2, bwlimit=300)  # slow enough to see both at once
    plots = [fleet.new_plot() for _ in range(4)]
    digests = {p.name: sha256(p) for p in plots}
    inventory = str(write_inventory(fleet, extra_harvester=False, parallel=2, max_connections=2, modules=("m0",)))
    run = run_playbook("archive.yml", {"plotfleet_margin": 0}, inventory=inventory)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 transfer(s) to start" in run.stdout
    wait_for(lambda: len(lanes_to(fleet, "m0")) == 2, 20, "two transfers into m0 at once")
    wait_for(lambda: not any(p.exists() for p in plots), 180, "every plot to arrive")
    assert {name: sha256(fleet.modules["m0"] / name) for name in digests} == digests


def test_a_module_at_its_max_connections_is_busy_not_a_failure(fleet: Fleet) -> None:
    """Another client (two overlapping runs' transfers, or anything else) holds all of the module's
    connections: the transfer is not sent, the plot stays, and the task is not failed."""
    hold = fleet.base / "hold.bin"
    shutil.copyfile(fleet.real_plot, hold)
    env = {**os.environ, "RSYNC_PASSWORD": PASSWORD}
    holders = [subprocess.Popen(["rsync", "--bwlimit=20", str(hold), f"rsync://{USER}@127.0.0.1:{fleet.port}/m0/h{n}"],
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for n in range(2)]  # the daemon's max connections = 2
    try:
        wait_for(lambda: len(list(fleet.modules["m0"].glob(".h*"))) == 2, 20, "two clients sending into m0")
        plot = fleet.new_plot()
        result = fleet.archive(plot, wait=True)
        assert result.get("failed") is not True and "rc" not in result, result
        assert result["busy"] is True and result["started"] is False and result["rsync_rc"] != 0, result
        assert "is receiving another plot" in result["msg"] and plot.exists()
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(timeout=30)


def test_a_slot_takes_plots_that_finish_while_it_runs_without_another_run(fleet: Fleet) -> None:
    fleet.write_config(bwlimit=250)  # ~16 s a plot: the slot still runs when the others finish
    first = fleet.new_plot()
    inventory = str(write_inventory(fleet, extra_harvester=False, modules=("m0",)))
    run = run_playbook("archive.yml", {"plotfleet_margin": 0}, inventory=inventory)
    assert run.returncode == 0, run.stdout + run.stderr
    (lane,) = wait_for(lambda: lanes_to(fleet, "m0"), 20, "the transfer slot in the process table")
    # Two plots finish while the slot sends the first one.
    later = [fleet.new_plot(), fleet.new_plot()]
    digests = {p.name: sha256(p) for p in [first, *later]}
    carried = set()

    def all_sent() -> bool:
        carried.update(t.source for t in fleet.transfers() if t.lane == lane)
        return not any(p.exists() for p in [first, *later])

    wait_for(all_sent, 240, "the slot to send the plots that finished after it started")
    assert {str(p) for p in later} <= carried  # the same slot, no second archive run
    assert {name: sha256(fleet.modules["m0"] / name) for name in digests} == digests
    # rsync removes the sources before it exits; the slot logs what landed once it has.
    log = next(fleet.log_dir.glob("*.log"))
    wait_for(lambda: log.read_text().count("landed ") >= 3, 30, "the slot to log the plots that landed")
    assert log.read_text().count("landed ") == 3


def test_several_plots_in_one_run_with_wait_arrive_intact_one_after_another(fleet: Fleet) -> None:
    plots = [fleet.new_plot() for _ in range(5)]
    digests = {p.name: sha256(p) for p in plots}
    result = fleet.archive(None, sources=[str(p) for p in plots], wait=True, batch_bytes=1)  # one per rsync
    assert result.get("failed") is not True and result["completed"] is True, result
    assert {name: sha256(fleet.modules["m0"] / name) for name in digests} == digests
    assert Path(result["log_file"]).read_text().count("sending 1 plot(s)") == 5
