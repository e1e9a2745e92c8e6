"""Discovery and control edge cases with real (stand-in) processes: shared logs, deleted logs,
files a job holds outside its dirs, pid reuse, and kills that would destroy a finished plot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from conftest import wait_for

from ansible_collections.plotfleet.fleet.plugins.module_utils.control import job_processes, kill_refusal
from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import discover_jobs
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import Phase

PLOT_ID = "ab" * 32


@pytest.fixture
def fake_chia(tmp_path: Path) -> Path:
    """A program named chia that holds still: its command line is a real `chia plots create` one."""
    script = tmp_path / "bin" / "chia"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\nimport sys, time\nsys.stdout.flush()\ntime.sleep(120)\n")
    script.chmod(0o755)
    return script


@pytest.fixture
def started():
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def start(fake_chia: Path, tmp: Path, stdout, procs: list) -> subprocess.Popen:
    tmp.mkdir(exist_ok=True)
    proc = subprocess.Popen([str(fake_chia), "plots", "create", "-k", "32", "-t", str(tmp), "-d", str(tmp)],
                            stdout=stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    procs.append(proc)
    wait_for(lambda: "plots" in psutil.Process(proc.pid).cmdline(), 10, "the stand-in job")
    return proc


def mine(jobs, procs) -> dict[int, object]:
    pids = {p.pid for p in procs}
    return {j.pid: j for j in jobs if j.pid in pids}


def test_jobs_sharing_one_stdout_file_get_no_log(tmp_path, fake_chia, started):
    logs = tmp_path / "logs"
    logs.mkdir()
    shared = logs / "batch.log"
    shared.write_text(f"ID: {PLOT_ID}\nStarting phase 2/4: Backpropagation\n")
    with open(shared, "ab") as out:
        start(fake_chia, tmp_path / "t0", out, started)
        start(fake_chia, tmp_path / "t1", out, started)
    jobs = mine(discover_jobs(str(logs)), started)
    assert len(jobs) == 2
    assert all(j.log_file is None and j.plot_id is None and not j.phase.known for j in jobs.values())


def test_a_deleted_log_is_an_unknown_phase_not_a_crash(tmp_path, fake_chia, started):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "job.log"
    with open(log, "wb") as out:
        proc = start(fake_chia, tmp_path / "t0", out, started)
    log.unlink()
    (job,) = mine(discover_jobs(str(logs)), started).values()
    assert job.pid == proc.pid and job.log_file is None and not job.phase.known


def test_files_held_outside_the_job_dirs_are_not_temp_files(tmp_path, fake_chia, started):
    tmp = tmp_path / "t0"
    tmp.mkdir()
    keep = tmp / "notes"
    keep.mkdir()
    precious = keep / "precious.db"
    precious.write_text("x")
    temp = tmp / "fx_0.tmp"
    temp.write_text("x")
    holder = tmp_path / "hold.py"
    holder.write_text(f"import time\na = open({str(precious)!r})\nb = open({str(temp)!r})\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, str(holder), "chia", "plots", "create", "-t", str(tmp), "-d", str(tmp)])
    started.append(proc)
    # The holder itself is not a plot job; read its open files the way discovery does.
    from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import temp_files
    from ansible_collections.plotfleet.fleet.plugins.module_utils.proctable import open_paths

    wait_for(lambda: str(temp) in open_paths(proc.pid), 10, "the holder opening its files")
    assert temp_files([str(tmp)], None, open_paths(proc.pid)) == [str(temp)]


def test_a_reused_pid_is_never_signalled(tmp_path, fake_chia, started):
    with open(os.devnull, "wb") as out:
        proc = start(fake_chia, tmp_path / "t0", out, started)
    (job,) = mine(discover_jobs(None), started).values()
    assert [p.pid for p in job_processes(job)] == [proc.pid]
    job.create_times[proc.pid] -= 3600  # as if the job we saw ended and its pid went to this process
    assert job_processes(job) == []


def test_killing_a_job_whose_plot_is_complete_is_refused(tmp_path, fake_chia, started):
    with open(os.devnull, "wb") as out:
        start(fake_chia, tmp_path / "t0", out, started)
    (job,) = mine(discover_jobs(None), started).values()
    assert kill_refusal(job) is None
    job.log.phase = Phase(5, 1)
    refusal = kill_refusal(job)
    assert refusal and "phase 5:1" in refusal and "force=true" in refusal
