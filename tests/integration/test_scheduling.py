"""plotfleet_plot: scheduling passes that start real chia jobs, through the real ansible CLI."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest
from conftest import ROOT, VENV_BIN, ansible_env, log_phase, run_module, wait_for

pytestmark = pytest.mark.chia


class Spawned:
    """PIDs the module reported starting; each still-running one is killed at teardown."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    def add(self, result: dict) -> list[int]:
        pids = [s["pid"] for s in result.get("started", []) if s.get("pid")]
        self.pids.extend(pids)
        return pids

    def kill_all(self) -> None:
        for pid in self.pids:
            try:
                proc = psutil.Process(pid)
                if "plots" not in proc.cmdline():  # the pid was reused: not ours any more
                    continue
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


def own_jobs(plot_dirs) -> list[dict]:
    """This test's jobs (the host may run others: a developer's machine is shared)."""
    result = run_module("plotfleet_jobs_info", {"config": str(plot_dirs.config)})
    return [j for j in result["jobs"] if (j["tmp_dir"] or "").startswith(str(plot_dirs.base))]


def plot_pass(plot_dirs, spawned: Spawned, check: bool = False, **args) -> dict:
    result = run_module("plotfleet_plot", {"config": str(plot_dirs.config), **args}, check=check)
    assert not result.get("failed"), result
    spawned.add(result)
    return result


def test_stagger_between_consecutive_passes(plot_dirs, spawned):
    plot_dirs.write_config(scheduling={"global_stagger_m": 1})
    first = plot_pass(plot_dirs, spawned)
    assert first["changed"] and len(first["started"]) == 1
    job = first["started"][0]
    assert job["tmp_dir"] == str(plot_dirs.tmp[0]) and job["dst_dir"] == str(plot_dirs.dst[0])
    assert Path(job["log_file"]).parent == plot_dirs.logs
    second = plot_pass(plot_dirs, spawned)
    assert not second["changed"] and second["started"] == []
    assert second["reason"].startswith("stagger: ") and second["reason"].endswith(" s of 60 s since the youngest job")


def test_started_job_outlives_ansible_and_is_seen_at_once(plot_dirs, spawned):
    plotting = plot_dirs.config_data["plotting"]
    plot_dirs.write_config(plotting={**plotting, "nice": 7, "env": {**plotting["env"], "PLOTFLEET_TEST": "yes"}})
    result = plot_pass(plot_dirs, spawned)
    pid = result["started"][0]["pid"]
    proc = psutil.Process(pid)
    assert proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    assert proc.nice() == 7
    assert proc.environ()["PLOTFLEET_TEST"] == "yes" and proc.environ()["CHIA_ROOT"] == str(plot_dirs.chia_root)
    assert os.getsid(pid) == pid, "the job leads its own session"
    assert "plots" in proc.cmdline() and "create" in proc.cmdline()
    assert pid in [j["pid"] for j in own_jobs(plot_dirs)]
    log = Path(result["started"][0]["log_file"])
    wait_for(lambda: b"ID: " in log.read_bytes(), 60, "the plotter writing to its new log")


def test_check_mode_decides_without_starting(plot_dirs, spawned):
    result = plot_pass(plot_dirs, spawned, check=True)
    assert result["changed"] and result["started"][0]["pid"] is None
    assert result["started"][0]["cmdline"][1:3] == ["plots", "create"]
    assert own_jobs(plot_dirs) == []
    assert not any(p.suffix == ".log" for p in plot_dirs.logs.iterdir())


def test_global_and_per_tmp_limits(plot_dirs, spawned):
    plot_dirs.write_config(scheduling={"tmpdir_max_jobs": 1, "tmpdir_stagger_phase_limit": 5, "global_max_jobs": 3})
    first = plot_pass(plot_dirs, spawned)
    second = plot_pass(plot_dirs, spawned)
    assert [first["started"][0]["tmp_dir"], second["started"][0]["tmp_dir"]] == [str(t) for t in plot_dirs.tmp]
    third = plot_pass(plot_dirs, spawned)
    assert third["started"] == []
    assert third["reason"] == (f"no eligible tmp dir: tmp {plot_dirs.tmp[0]}: 1 jobs, max 1; "
                               f"tmp {plot_dirs.tmp[1]}: 1 jobs, max 1")
    plot_dirs.write_config(scheduling={"tmpdir_max_jobs": 3, "tmpdir_stagger_phase_limit": 5, "global_max_jobs": 2})
    fourth = plot_pass(plot_dirs, spawned)
    assert fourth["reason"] == "global max jobs: 2 running, max 2"


def test_phase_gating_with_held_jobs(plot_dirs, spawned):
    """A job held (suspended) before the milestone blocks its tmp dir; past it, it does not."""
    plot_dirs.write_config(directories={"tmp": [str(plot_dirs.tmp[0])], "dst": [str(plot_dirs.dst[0])]},
                           scheduling={"tmpdir_stagger_phase_major": 1, "tmpdir_stagger_phase_minor": 2,
                                       "tmpdir_stagger_phase_limit": 1})
    first = plot_pass(plot_dirs, spawned)
    pid = first["started"][0]["pid"]
    log = Path(first["started"][0]["log_file"])
    run_module("plotfleet_job", {"config": str(plot_dirs.config), "plot_id": f"pid:{pid}", "state": "suspended"})
    held = plot_pass(plot_dirs, spawned)
    assert held["started"] == []
    assert f"tmp {plot_dirs.tmp[0]}: 1 jobs before 1:2" in held["reason"]

    os.kill(pid, signal.SIGCONT)
    wait_for(lambda: log_phase(log) >= (1, 2), 120, "the job reaching phase 1:2")
    os.kill(pid, signal.SIGSTOP)
    past = plot_pass(plot_dirs, spawned)
    assert len(past["started"]) == 1 and past["started"][0]["tmp_dir"] == str(plot_dirs.tmp[0])


def test_tmp_overrides_and_phase1_limit(plot_dirs, spawned):
    tmp0, tmp1 = (str(t) for t in plot_dirs.tmp)
    plot_dirs.write_config(scheduling={"tmpdir_stagger_phase_limit": 1,
                                       "tmp_overrides": {tmp1: {"tmpdir_stagger_phase_limit": 2}}})
    starts = [plot_pass(plot_dirs, spawned)["started"] for _ in range(4)]
    assert [s[0]["tmp_dir"] if s else None for s in starts] == [tmp0, tmp1, tmp1, None]

    plot_dirs.write_config(scheduling={"tmpdir_stagger_phase_limit": 5, "phase1_max_jobs": 3})
    limited = plot_pass(plot_dirs, spawned)
    assert limited["started"] == []
    assert limited["reason"] == "phase 1 limit: 3 jobs in phase 1 (or unknown), max 3"


def test_dst_guard_on_a_small_filesystem(plot_dirs, spawned, tmp_path):
    small = tmp_path / "small-dst"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64M", "tmpfs", str(small)], check=True)
    try:
        plot_dirs.write_config(directories={"tmp": [str(t) for t in plot_dirs.tmp], "dst": [str(small)]})
        result = plot_pass(plot_dirs, spawned)
        assert result["started"] == []
        assert result["reason"].startswith(f"dst: no dir has room: {small}: ")
        assert "needs" in result["reason"]
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_overlapping_passes_start_no_more_than_allowed(plot_dirs, spawned):
    plot_dirs.write_config(scheduling={"global_max_jobs": 1})
    cmd = [str(VENV_BIN / "ansible"), "localhost", "-m", "plotfleet_plot", "-a", f"config={plot_dirs.config}"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    jobs = wait_for(lambda: own_jobs(plot_dirs), 30, f"the job; passes said: {outputs}")
    spawned.pids.extend(j["pid"] for j in jobs)
    assert len(jobs) == 1, [j["pid"] for j in jobs]
    assert sum("CHANGED" in out for out in outputs) == 1


def test_bad_config_and_missing_binary(plot_dirs, spawned, tmp_path):
    plot_dirs.write_config(scheduling={"global_max_jobs": "lots"})
    bad = run_module("plotfleet_plot", {"config": str(plot_dirs.config)})
    assert bad["failed"] and "scheduling.global_max_jobs" in bad["msg"] and "lots" in bad["msg"]

    plot_dirs.write_config()
    config = plot_dirs.config_data
    config["plotting"]["chia"]["executable"] = str(tmp_path / "no-chia-here")
    plot_dirs.write_config(plotting=config["plotting"])
    missing = run_module("plotfleet_plot", {"config": str(plot_dirs.config)})
    assert missing["failed"]
    assert str(tmp_path / "no-chia-here") in missing["msg"]
    assert not any(p.suffix == ".log" for p in plot_dirs.logs.iterdir()), "no log for a job that never ran"

    not_exec = tmp_path / "chia-not-executable"
    not_exec.write_text("#!/bin/sh\n")
    config["plotting"]["chia"]["executable"] = str(not_exec)
    plot_dirs.write_config(plotting=config["plotting"])
    refused = run_module("plotfleet_plot", {"config": str(plot_dirs.config)})
    assert refused["failed"] and "not an executable" in refused["msg"]

    wrong_type = run_module("plotfleet_plot", {"config": str(plot_dirs.config), "max_starts": "many"})
    assert wrong_type["failed"] and "max_starts" in wrong_type["msg"]
