"""plotfleet_jobs_info and plotfleet_log_info against real chia plot jobs, through the real ansible CLI."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import CHIA_VENV, ROOT, VENV_BIN, ansible_env, log_phase, run_module, wait_for

pytestmark = pytest.mark.chia

ID_LINE = re.compile(rb"^ID: ([0-9a-f]{64})", re.M)


def plot_id_in(log: Path) -> str | None:
    match = ID_LINE.search(log.read_bytes()) if log.exists() else None
    return match.group(1).decode() if match else None


def temp_files_of(directory: Path, plot_id: str) -> list[Path]:
    return [p for p in directory.iterdir() if plot_id in p.name and not p.name.endswith(".plot")]


def by_pid(result: dict) -> dict[int, dict]:
    return {job["pid"]: job for job in result["jobs"]}


def test_jobs_seen_whatever_the_interpreter(plot_dirs, jobs):
    """Three real jobs: the chia script itself, python3.11 + script, relative paths from a cwd."""
    logs = plot_dirs.logs
    tmp0, tmp1 = plot_dirs.tmp
    dst = plot_dirs.dst[0]
    via_script = jobs.start(tmp0, dst, logs / "script.log")
    via_python = jobs.start(tmp1, dst, logs / "python.log", prefix=[str(CHIA_VENV / "bin" / "python3.11")])
    relative = jobs.start(tmp0, dst, logs / "relative.log", cwd=plot_dirs.base, tmp_arg="tmp0", dst_arg="dst0")
    started = [via_script, via_python, relative]
    ids = {job.pid: wait_for(lambda j=job: plot_id_in(j.log), 60, f"plot id in {job.log}") for job in started}
    wait_for(lambda: all(log_phase(j.log) >= (1, 1) for j in started), 90, "every job in phase 1:1")
    wait_for(lambda: all(sum(p.stat().st_blocks for p in temp_files_of(j.tmp, ids[j.pid])) for j in started),
             90, "every job writing temp data")
    os.kill(via_python.pid, signal.SIGSTOP)

    result = run_module("plotfleet_jobs_info", {"config": str(plot_dirs.config)})

    assert result.get("failed") is not True, result
    seen = by_pid(result)
    assert set(seen) == {j.pid for j in started}, f"jobs seen: {sorted(seen)}"
    for job in started:
        record = seen[job.pid]
        assert record["plot_id"] == ids[job.pid]
        assert record["plotter"] == "chia"
        assert record["k"] == 25
        assert record["tmp_dir"] == str(job.tmp)
        assert record["dst_dir"] == str(dst)
        assert record["log_file"] == str(job.log)
        assert record["phase"]["major"] == 1 and record["phase"]["minor"] >= 1
        on_disk = sum(p.stat().st_blocks * 512 for p in temp_files_of(job.tmp, ids[job.pid]))
        assert record["tmp_bytes"] > 0 and record["tmp_file_count"] > 0, record
        # The job keeps writing between our look and the module's; same order of magnitude.
        assert record["tmp_bytes"] >= on_disk // 4
    assert seen[via_python.pid]["state"] == "suspended"
    assert seen[via_script.pid]["state"] in ("running", "disk-sleep")
    tmp_dirs = {d["path"]: d for d in result["tmp_dirs"]}
    assert sorted(tmp_dirs[str(tmp0)]["jobs"]) == sorted([ids[via_script.pid], ids[relative.pid]])
    assert tmp_dirs[str(tmp1)]["jobs"] == [ids[via_python.pid]]
    assert sorted(result["dst_dirs"][0]["inbound"]) == sorted(ids.values())


def test_job_without_log_and_job_logging_elsewhere(plot_dirs, jobs, tmp_path):
    tmp0, tmp1 = plot_dirs.tmp
    dst = plot_dirs.dst[0]
    outside_log = tmp_path / "elsewhere.log"
    no_log = jobs.start(tmp0, dst, None)
    elsewhere = jobs.start(tmp1, dst, outside_log)
    elsewhere_id = wait_for(lambda: plot_id_in(outside_log), 60, "plot id in the outside log")
    # With no log the plot id can only come from the temp files it creates.
    wait_for(lambda: any(p.name.endswith(".tmp") for p in tmp0.iterdir()), 60, "temp files of the job without log")

    result = run_module("plotfleet_jobs_info", {"config": str(plot_dirs.config), "temp_files": True})

    seen = by_pid(result)
    silent = seen[no_log.pid]
    assert silent["log_file"] is None
    assert silent["phase_text"] == "?:?"
    names_id = {re.search(r"-([0-9a-f]{64})\.plot", Path(f).name).group(1) for f in silent["tmp_files"]}
    assert names_id == {silent["plot_id"]}
    assert silent["plot_id"] is not None
    loud = seen[elsewhere.pid]
    assert loud["log_file"] == str(outside_log)
    assert loud["plot_id"] == elsewhere_id
    assert all(elsewhere_id in f for f in loud["tmp_files"])
    assert not set(loud["tmp_files"]) & set(silent["tmp_files"])


def test_log_module_reads_a_dir_of_real_logs(plot_dirs, tmp_path):
    real = Path(__file__).resolve().parents[1] / "data" / "logs" / "chia-2.7.5-k25.log"
    logs = tmp_path / "logdir"
    logs.mkdir()
    (logs / "a.plot.log").write_bytes(real.read_bytes())
    half = real.read_bytes()[: len(real.read_bytes()) // 2]
    (logs / "b.plot.log").write_bytes(half)
    (logs / "notes.txt").write_text("not a plot log\n")

    result = run_module("plotfleet_log_info", {"path": str(logs)})

    assert "plots" in result, result
    plots = {Path(p["path"]).name: p for p in result["plots"]}
    assert set(plots) == {"a.plot.log", "b.plot.log"}
    done = plots["a.plot.log"]
    assert done["completed"] is True
    assert done["plot_id"] == "ce0294538446c461f31802a0b447b802c44be7e6348eac16cf64882134e9b7c4"
    assert done["k"] == 25
    assert done["total_seconds"] == pytest.approx(139.584)
    assert set(done["phase_seconds"]) == {"1", "2", "3", "4"}
    partial = plots["b.plot.log"]
    assert partial["completed"] is False and partial["phase"]["major"] in (1, 2, 3)
    assert result["ignored"] == [{"path": str(logs / "notes.txt"), "reason": "not a plot log"}]


def test_bad_input_gives_clear_errors(plot_dirs, tmp_path):
    missing = run_module("plotfleet_jobs_info", {"config": str(tmp_path / "nope.yml")})
    assert missing["failed"] and str(tmp_path / "nope.yml") in missing["msg"]

    bad = tmp_path / "bad.yml"
    bad.write_text("directories:\n  tmp: /not/a/list/but/ok\nscheduling:\n  tmpdir_max_jobs: three\n")
    invalid = run_module("plotfleet_jobs_info", {"config": str(bad)})
    assert invalid["failed"]
    assert "scheduling.tmpdir_max_jobs" in invalid["msg"] and "three" in invalid["msg"]

    wrong_type = run_module("plotfleet_jobs_info", {"config": str(plot_dirs.config), "temp_files": "maybe"})
    assert wrong_type["failed"] and "temp_files" in wrong_type["msg"]

    no_dir = run_module("plotfleet_log_info", {"path": str(tmp_path / "no-such-dir")})
    assert no_dir["failed"] and "does not exist" in no_dir["msg"]



def test_unreadable_log_dir_is_named(tmp_path):
    """As an unprivileged user (root reads everything): the module names the dir it cannot read."""
    base = Path(tempfile.mkdtemp(prefix="plotfleet-unreadable-", dir="/tmp"))
    try:
        base.chmod(0o755)
        locked = base / "logs"
        locked.mkdir(mode=0o000)
        home = base / "home"
        home.mkdir()
        shutil.chown(home, "nobody")
        env = {**ansible_env(), "HOME": str(home), "ANSIBLE_HOME": str(home / ".ansible"),
               "ANSIBLE_LOCAL_TEMP": str(home / "tmp"), "ANSIBLE_REMOTE_TEMP": str(home / "tmp")}
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", str(VENV_BIN / "ansible"),
               "localhost", "-m", "plotfleet_log_info", "-a", f"path={locked}",
               "-e", "ansible_python_interpreter=/usr/bin/python3"]  # the venv may live under /root
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode != 0
        assert f"read plot logs: cannot read {locked}: Permission denied" in proc.stdout, proc.stdout[-3000:]
    finally:
        (base / "logs").chmod(0o755)
        shutil.rmtree(base)
