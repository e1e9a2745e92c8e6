"""plotfleet_job: suspend, resume and kill real chia jobs by plot-id prefix."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

import psutil
import pytest
from conftest import run_module, run_playbook, wait_for

pytestmark = pytest.mark.chia

ID_LINE = re.compile(rb"^ID: ([0-9a-f]{64})", re.M)


def started_with_id(jobs, tmp: Path, dst: Path, log: Path, plot_id: str | None = None):
    """A real job; with ``plot_id``, chia's own debug option (-i) makes the plot carry that id."""
    job = jobs.start(tmp, dst, log, extra=("-i", plot_id) if plot_id else ())
    plot_id = wait_for(lambda: (m := ID_LINE.search(log.read_bytes())) and m.group(1).decode(), 60, f"id in {log}")
    wait_for(lambda: any(plot_id in p.name and p.stat().st_size for p in tmp.iterdir()), 60, "temp data on disk")
    return job, plot_id


def files_of(directory: Path, plot_id: str) -> set[Path]:
    return {p for p in directory.iterdir() if plot_id in p.name}


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def control(plot_dirs, **args) -> dict:
    return run_module("plotfleet_job", {"config": str(plot_dirs.config), **args}, diff=True)


def test_suspend_stops_cpu_and_resume_restarts_it(plot_dirs, jobs):
    job, plot_id = started_with_id(jobs, plot_dirs.tmp[0], plot_dirs.dst[0], plot_dirs.logs / "a.log")

    suspended = control(plot_dirs, plot_id=plot_id[:10], state="suspended")
    assert suspended["changed"] and suspended["jobs"][0]["before"] == "running"
    assert psutil.Process(job.pid).status() == psutil.STATUS_STOPPED
    before = cpu_seconds(job.pid)
    time.sleep(1.5)  # measuring that nothing happens needs an interval; no condition to poll
    assert cpu_seconds(job.pid) - before < 0.05
    seen = run_module("plotfleet_jobs_info", {"config": str(plot_dirs.config)})
    assert next(j for j in seen["jobs"] if j["pid"] == job.pid)["state"] == "suspended"

    again = control(plot_dirs, plot_id=plot_id[:10], state="suspended")
    assert not again["changed"]

    resumed = control(plot_dirs, plot_id=plot_id[:10], state="running")
    assert resumed["changed"]
    start = cpu_seconds(job.pid)
    wait_for(lambda: cpu_seconds(job.pid) > start + 0.2, 30, "the resumed job using CPU again")


def test_kill_removes_only_that_jobs_temp_files(plot_dirs, jobs):
    tmp, dst = plot_dirs.tmp[0], plot_dirs.dst[0]
    victim, victim_id = started_with_id(jobs, tmp, dst, plot_dirs.logs / "victim.log")
    neighbour, neighbour_id = started_with_id(jobs, tmp, dst, plot_dirs.logs / "neighbour.log")
    finished = dst / f"plot-k25-2026-01-01-00-00-{victim_id}.plot"
    finished.write_bytes(b"a finished plot with the same id must never be removed")
    control(plot_dirs, plot_id=victim_id[:12], state="suspended")

    preview = run_module("plotfleet_job", {"config": str(plot_dirs.config), "plot_id": victim_id[:12],
                                           "state": "killed"}, check=True)
    assert preview["changed"] and psutil.pid_exists(victim.pid)
    assert preview["removed_files"] and all(victim_id in f for f in preview["removed_files"])

    killed = control(plot_dirs, plot_id=victim_id[:12], state="killed")

    assert killed["changed"] and killed["jobs"][0]["after"] == "killed", killed
    assert victim.proc.wait(timeout=30) is not None
    removed = {Path(f) for f in killed["removed_files"]}
    assert removed and all(victim_id in f.name for f in removed)
    assert files_of(tmp, victim_id) == set()
    assert files_of(dst, victim_id) == {finished}
    assert files_of(tmp, neighbour_id), "the neighbour's temp files are untouched"
    assert psutil.Process(neighbour.pid).is_running()


def test_prefix_must_match_exactly_one_job(plot_dirs, jobs):
    # Two ids that share their first 8 characters, so the ambiguous case is met on every run.
    shared = "5eed" + secrets.token_hex(2)
    first_id, second_id = shared + secrets.token_hex(28), shared + secrets.token_hex(28)
    _, seen_first = started_with_id(jobs, plot_dirs.tmp[0], plot_dirs.dst[0], plot_dirs.logs / "1.log", first_id)
    _, seen_second = started_with_id(jobs, plot_dirs.tmp[1], plot_dirs.dst[0], plot_dirs.logs / "2.log", second_id)
    assert (seen_first, seen_second) == (first_id, second_id)

    none = control(plot_dirs, plot_id="zz", state="suspended")
    assert none["failed"] and "no plot job matches 'zz'" in none["msg"] and first_id[:8] in none["msg"]

    both = control(plot_dirs, plot_id=shared, state="suspended")
    assert both["failed"] and "matches 2 jobs" in both["msg"]
    assert first_id[:8] in both["msg"] and second_id[:8] in both["msg"]
    one = control(plot_dirs, plot_id=first_id[:12], state="suspended")
    assert one["changed"] and [j["plot_id"] for j in one["jobs"]] == [first_id]
    everything = control(plot_dirs, plot_id="", state="suspended")
    assert everything["failed"] and "must not be empty" in everything["msg"]

    neither = run_module("plotfleet_job", {"config": str(plot_dirs.config), "state": "suspended"})
    assert neither["failed"] and "plot_id" in neither["msg"] and "all_jobs" in neither["msg"]
    bad_state = control(plot_dirs, plot_id=first_id[:8], state="paused")
    assert bad_state["failed"] and "state" in bad_state["msg"]


def test_control_playbook_resolves_the_prefix_fleet_wide(plot_dirs, jobs):
    job, plot_id = started_with_id(jobs, plot_dirs.tmp[0], plot_dirs.dst[0], plot_dirs.logs / "pb.log")
    config = {"plotter_config_path": str(plot_dirs.config)}

    missing = run_playbook("control.yml", {**config, "plotfleet_plot_id": "ffffffffffff0000",
                                           "plotfleet_state": "suspended"})
    assert missing.returncode != 0 and "no plot job in the fleet matches 'ffffffffffff0000'" in missing.stdout
    # The message stands out: no templating traceback around it (issue 11 §4).
    assert "Finalization of task args" not in missing.stdout + missing.stderr

    done = run_playbook("control.yml", {**config, "plotfleet_plot_id": plot_id[:16], "plotfleet_state": "suspended"})
    assert done.returncode == 0, done.stdout + done.stderr
    # The full plot id and its host; suspending removes no files, so it says nothing about them.
    assert f"localhost: {plot_id}: running -> suspended" in done.stdout
    assert "temp files" not in done.stdout
    assert psutil.Process(job.pid).status() == psutil.STATUS_STOPPED

    would = run_playbook("control.yml", {**config, "plotfleet_plot_id": plot_id[:8], "plotfleet_state": "running"},
                         check=True)
    assert would.returncode == 0, would.stdout + would.stderr
    assert f"localhost: {plot_id}: would go suspended -> running" in would.stdout
    assert psutil.Process(job.pid).status() == psutil.STATUS_STOPPED

    bad = run_playbook("control.yml", {**config, "plotfleet_plot_id": plot_id[:16], "plotfleet_state": "paused"})
    assert bad.returncode != 0
    assert 'plotfleet_state: must be one of suspended, running, killed, got "paused"' in bad.stdout
    short = run_playbook("control.yml", {**config, "plotfleet_plot_id": plot_id[:4], "plotfleet_state": "running"})
    assert short.returncode != 0 and "plotfleet_plot_id: give at least 8 characters" in short.stdout
