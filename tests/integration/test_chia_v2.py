"""v2 plots (``.plot2``) from chia's own code through plotfleet's launcher, started by plotfleet_plot.

Real jobs: ``plotfleet-chia-plot2`` run by the Python of .venv-chia. k18 takes about half a
second at strength 2; strength 8 makes it ~10 s of CPU without more memory, long enough to watch.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest
from conftest import CHIA_VENV, ROOT, log_phase, run_module, wait_for

pytestmark = pytest.mark.chia

LAUNCHER = ROOT / "roles" / "plotter" / "files" / "plotfleet-chia-plot2"
PYTHON = CHIA_VENV / "bin" / "python"
WRITING = re.compile(r'^Writing plot to tmp: "(.+)"$', re.M)
STARTING = re.compile(r"^Starting v2 plot \d+/\d+: ID ([0-9a-f]{64}),", re.M)


class Spawned:
    """PIDs plotfleet_plot reported starting; each one still running is killed at teardown."""

    def __init__(self) -> None:
        self.procs: list[psutil.Process] = []

    def add(self, result: dict) -> list[dict]:
        for started in result.get("started", []):
            try:
                self.procs.append(psutil.Process(started["pid"]))  # remembers its create time
            except psutil.NoSuchProcess:
                continue  # a k18 job may be done already
        return result.get("started", [])

    def kill_all(self) -> None:
        for proc in self.procs:
            try:
                if proc.is_running():  # False when the pid now belongs to another process
                    proc.resume()
                    proc.kill()
                    proc.wait(timeout=30)
            except psutil.NoSuchProcess:
                continue


@pytest.fixture
def spawned():
    tracker = Spawned()
    yield tracker
    tracker.kill_all()


def v2_config(plot_dirs, **chia_v2) -> None:
    plotting = plot_dirs.config_data["plotting"]
    section = {"executable": str(LAUNCHER), "python": str(PYTHON), "k": 18, "override_k": True, "x": True, **chia_v2}
    plot_dirs.write_config(plotting={**plotting, "type": "chia_v2", "chia_v2": section})


def start_one(plot_dirs, spawned: Spawned) -> dict:
    result = run_module("plotfleet_plot", {"config": str(plot_dirs.config), "max_starts": 1})
    assert result["changed"] and not result.get("failed"), result
    (started,) = spawned.add(result)
    assert started["tmp_dir"] == str(plot_dirs.tmp[0]) and started["dst_dir"] == str(plot_dirs.dst[0])
    assert started["cmdline"][:2] == [str(PYTHON), str(LAUNCHER)]
    return started


def plot_id_of(log: Path) -> str:
    return wait_for(lambda: (m := STARTING.search(log.read_text())) and m.group(1), 60, f"plot id in {log}")


def own_job(plot_dirs, pid: int) -> dict | None:
    result = run_module("plotfleet_jobs_info", {"config": str(plot_dirs.config)})
    return next((j for j in result["jobs"] if j["pid"] == pid), None)


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def plot2_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.plot2"))


def test_a_v2_plot_lands_complete_in_dst(plot_dirs, spawned):
    v2_config(plot_dirs)
    started = start_one(plot_dirs, spawned)
    log = Path(started["log_file"])
    plot_id = plot_id_of(log)
    tmp, dst = plot_dirs.tmp[0], plot_dirs.dst[0]
    wait_for(lambda: log_phase(log) == (5, 2) and "Total time = " in log.read_text(), 60, "the plot done")

    (plot,) = plot2_files(dst)
    assert plot.name == f"plot-k18-{plot_id}.plot2"
    assert 500_000 < plot.stat().st_size < 800_000  # k18 at strength 2: about 0.6 MB
    assert list(tmp.iterdir()) == [] and [p.name for p in dst.iterdir()] == [plot.name]
    seen = run_module("plotfleet_jobs_info", {"config": str(plot_dirs.config)})
    dst_state = next(d for d in seen["dst_dirs"] if d["path"] == str(dst))
    assert [p["name"] for p in dst_state["plots"]] == [plot.name] and dst_state["plot_count"] == 1
    analysed = run_module("plotfleet_log_info", {"path": str(log)})["plots"][0]
    assert (analysed["plotter"], analysed["plot_id"], analysed["k"], analysed["completed"]) == (
        "chia_v2", plot_id, 18, True)
    assert analysed["total_seconds"] > 0


def test_discovered_suspended_resumed(plot_dirs, spawned):
    v2_config(plot_dirs, strength=8)
    started = start_one(plot_dirs, spawned)
    pid, log = started["pid"], Path(started["log_file"])
    plot_id = plot_id_of(log)

    job = wait_for(lambda: own_job(plot_dirs, pid), 30, "the job in plotfleet_jobs_info")
    assert (job["plotter"], job["plot_id"], job["k"]) == ("chia_v2", plot_id, 18)
    assert job["phase"] == {"major": 1, "minor": 1}
    assert (job["tmp_dir"], job["dst_dir"], job["log_file"]) == (str(plot_dirs.tmp[0]), str(plot_dirs.dst[0]), str(log))

    suspended = run_module("plotfleet_job", {"config": str(plot_dirs.config), "plot_id": plot_id[:10],
                                             "state": "suspended"})
    assert suspended["changed"], suspended
    assert psutil.Process(pid).status() == psutil.STATUS_STOPPED
    before = cpu_seconds(pid)
    time.sleep(1.5)  # measuring that nothing happens needs an interval; no condition to poll
    assert cpu_seconds(pid) - before < 0.05
    assert own_job(plot_dirs, pid)["state"] == "suspended"

    resumed = run_module("plotfleet_job", {"config": str(plot_dirs.config), "plot_id": plot_id[:10],
                                           "state": "running"})
    assert resumed["changed"], resumed
    wait_for(lambda: cpu_seconds(pid) > before + 0.2, 30, "the resumed job using CPU again")
    wait_for(lambda: plot2_files(plot_dirs.dst[0]), 120, "the resumed plot in dst")
    assert log_phase(log) == (5, 2)


def stop_while_writing(pid: int, log: Path) -> Path:
    """SIGSTOP the job while chia_rs writes its plot file into tmp (after the tables, ~0.2 s at
    k22), so a half-written temp file exists; the job is then killed the way a user would."""
    path = Path(wait_for(lambda: (m := WRITING.search(log.read_text())) and m.group(1), 60, "the writing line"))
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline or not psutil.pid_exists(pid):
            pytest.fail(f"{path} never appeared")
        time.sleep(0.0005)
    os.kill(pid, signal.SIGSTOP)
    return path


def test_kill_removes_only_that_jobs_temp_files(plot_dirs, spawned):
    v2_config(plot_dirs, k=22)
    tmp, dst = plot_dirs.tmp[0], plot_dirs.dst[0]
    victim = start_one(plot_dirs, spawned)
    victim_id = plot_id_of(Path(victim["log_file"]))
    # What must survive: a finished plot with the victim's id, and another plot's temp file.
    finished = dst / f"plot-k22-{victim_id}.plot2"
    finished.write_bytes(b"a finished plot with the same id is never removed")
    other_temp = tmp / f"plot-k22-{'ab' * 32}.plot2.tmp"
    other_temp.write_bytes(b"another job's plot")
    partial = stop_while_writing(victim["pid"], Path(victim["log_file"]))
    wait_for(lambda: psutil.Process(victim["pid"]).status() == psutil.STATUS_STOPPED, 10, "the job stopped")
    assert partial.exists(), "the job finished writing before SIGSTOP reached it"

    job = own_job(plot_dirs, victim["pid"])
    assert job["phase"] == {"major": 1, "minor": 1} and job["state"] == "suspended"
    killed = run_module("plotfleet_job", {"config": str(plot_dirs.config), "plot_id": victim_id[:12],
                                          "state": "killed"})

    assert killed["changed"] and killed["jobs"][0]["after"] == "killed", killed
    assert not psutil.pid_exists(victim["pid"]) or psutil.Process(victim["pid"]).status() == psutil.STATUS_ZOMBIE
    assert killed["removed_files"] == [str(partial)]
    assert not partial.exists()
    assert sorted(tmp.iterdir()) == [other_temp] and sorted(dst.iterdir()) == [finished]
