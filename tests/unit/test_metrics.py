"""The fleet status as Prometheus metrics: names, labels, values, and promtool's own verdict."""

from __future__ import annotations

import shutil
import subprocess

from ansible_collections.plotfleet.fleet.plugins.plugin_utils.metrics import render_metrics
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.report import fleet_report

PLOT_ID = "ab" * 32


def job(pid: int, phase: int, state: str = "running") -> dict:
    return {"plot_id": PLOT_ID, "pid": pid, "phase": {"major": phase, "minor": 1}, "phase_text": f"{phase}:1",
            "plotter": "chia", "k": 32, "tmp_dir": "/t", "dst_dir": "/d", "wall_seconds": 100, "state": state,
            "tmp_bytes": 1000}


HOSTVARS = {
    "p1": {"plotfleet_state": {
        "jobs": [job(11, 1), job(12, 1, "suspended"), job(13, 3)],
        "tmp_dirs": [{"path": "/t", "free_bytes": 100, "total_bytes": 400}],
        "dst_dirs": [{"path": '/d "quoted"', "free_bytes": 50, "total_bytes": 400, "plots": [{"path": "/d/x"}]}],
        "transfers": [{"source": "/d/plot-k32-a.plot", "host": "10.0.0.5", "module": "disk0", "size_bytes": 7}],
    }},
    "p2": {"plotfleet_state": {"unreachable": True, "msg": "no route"}},
    "h1": {"plotfleet_space_info": {"archive_dirs": [
        {"path": "/a", "rsync_module": "disk0", "free_bytes": 10, "total_bytes": 30, "plots": 2, "plot_bytes": 20,
         "census": {"kinds": [{"format": "v1", "k": 32, "compression": 7, "plots": 1, "bytes": 15},
                              {"format": "v2", "k": 28, "compression": None, "plots": 1, "bytes": 5}]}},
        {"path": "/b", "error": "/b does not exist"},
    ], "host": {}}},
}


def metrics() -> str:
    return render_metrics(fleet_report(HOSTVARS, ["p1", "p2"], ["h1"]), now=1_800_000_000.5)


def samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_jobs_dirs_transfers_and_the_census_become_labelled_gauges() -> None:
    got = samples(metrics())
    assert got['plotfleet_jobs{host="p1",phase="1",plotter="chia"}'] == 2
    assert got['plotfleet_jobs{host="p1",phase="3",plotter="chia"}'] == 1
    assert got['plotfleet_jobs_suspended{host="p1"}'] == 1
    assert got['plotfleet_dir_used_bytes{dir="/t",host="p1",kind="tmp"}'] == 300
    assert got['plotfleet_plots_waiting{dir="/d \\"quoted\\"",host="p1"}'] == 1
    assert got['plotfleet_transfers{host="p1"}'] == 1
    assert got['plotfleet_census_plots{compression="7",dir="/a",format="v1",host="h1",k="32"}'] == 1
    assert got['plotfleet_census_bytes{dir="/a",format="v2",host="h1",k="28"}'] == 5
    assert got['plotfleet_up{host="p2",role="plotter"}'] == 0
    assert got["plotfleet_hosts_not_reporting"] == 1
    assert got["plotfleet_status_timestamp_seconds"] == 1_800_000_000.5
    assert not [key for key in got if 'dir="/b"' in key], "an unreadable dir has no made-up values"


def test_promtool_accepts_the_output(tmp_path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/setup installs Debian's prometheus package"
    checked = subprocess.run([promtool, "check", "metrics"], input=metrics(), capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = subprocess.run([promtool, "check", "metrics"], input="plotfleet_x{a=b} 1\n", capture_output=True,
                            text=True, check=False)
    assert broken.returncode != 0, "promtool must be able to fail"
