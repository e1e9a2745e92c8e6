"""analyze.yml on localhost over the real plot logs: the table, both CSV files, filters, bad options."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import run_playbook

from ansible_collections.plotfleet.fleet.plugins.module_utils.logs import read_logs

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
# The debug task's message as a YAML block, so the table reads as it does for a user.
YAML_OUTPUT = {"ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml"}


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """The real logs of every plotter, a log cut off in phase 1 (a job that died) and a stray file."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for log in LOGS.glob("*.log"):
        shutil.copy(log, logs)
    k25 = (LOGS / "chia-2.7.5-k25.log").read_text().splitlines(keepends=True)
    (logs / "died-in-phase-1.log").write_text("".join(k25[:40]))
    (logs / "notes.txt").write_text("not a plot log\n")
    return logs


def analyze(extra: dict) -> str:
    proc = run_playbook("analyze.yml", extra, env=YAML_OUTPUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def table_row(stdout: str, *cells: str) -> list[str]:
    """The table row that starts with these cells, split on whitespace."""
    for line in stdout.splitlines():
        words = line.split()
        if words[:len(cells)] == list(cells):
            return words
    pytest.fail(f"no row starting with {cells} in:\n{stdout}")


def test_table_and_csv_files_of_the_real_logs(log_dir: Path, tmp_path: Path) -> None:
    plots_file, groups_file = tmp_path / "out" / "plots.csv", tmp_path / "groups.csv"
    plots_file.parent.mkdir()
    out = analyze({"plotfleet_log_dir": str(log_dir), "plotfleet_group_by": "plotter,k",
                   "plotfleet_csv": str(plots_file),
                   "plotfleet_csv_groups": str(groups_file)})

    # 9 v1 plots and the v2 plot of the chia_v2 launcher's log (tests/data/logs/README.md).
    assert "plotfleet analyze: 10 plots from 1 host(s) reporting, grouped by plotter, k" in out
    assert "left out: 1 incomplete" in out
    assert table_row(out, "PLOTTER", "K", "PLOTS", "STAT")[-2:] == ["TOTAL", "COPY"]
    assert table_row(out, "bladebit", "32")[2:4] == ["4", "mean"]
    assert table_row(out, "chia", "18")[2:4] == ["2", "mean"]
    assert table_row(out, "chia", "25")[-2:] == ["2m19s", "-"]  # chia 2.7.5 renames, no copy
    assert table_row(out, "madmax", "32")[2] == "2"

    expected, _ = read_logs(str(log_dir))
    with plots_file.open() as handle:
        rows = list(csv.DictReader(handle))
    complete = [r for r in expected if r["completed"]]
    assert sorted(r["plot_id"] for r in rows) == sorted(r["plot_id"] for r in complete)
    assert {r["host"] for r in rows} == {"localhost"}
    k25 = next(r for r in rows if r["k"] == "25")
    assert (k25["plotter"], k25["phase_1_seconds"], k25["total_seconds"]) == ("chia", "86.985", "139.584")
    assert (k25["tmp_dir"], k25["dst_dir"], k25["buffer"], k25["copy_seconds"]) == ("/tmp/pt", "/tmp/pd", "3389", "")
    assert k25["path"] == str(log_dir / "chia-2.7.5-k25.log")

    with groups_file.open() as handle:
        groups = {(g["plotter"], g["k"]): g for g in csv.DictReader(handle)}
    assert set(groups) == {("bladebit", "32"), ("chia", "18"), ("chia", "25"), ("chia_v2", "18"), ("madmax", "32")}
    # chiapos k18: 2.178 s and 2.316 s in total.
    assert groups[("chia", "18")]["plots"] == "2"
    assert groups[("chia", "18")]["total_seconds_median"] == "2.247"
    assert groups[("chia", "18")]["total_seconds_min"] == "2.178"


def test_since_incomplete_and_json_output(log_dir: Path) -> None:
    out = analyze({"plotfleet_log_dir": str(log_dir), "plotfleet_since": "2026-11-01",
                   "plotfleet_completed_only": "false", "plotfleet_group_by": "",
                   "plotfleet_output": "json"})
    analysis = json.loads(yaml.safe_load(out[out.index("msg:"):].split("\n\nPLAY RECAP")[0])["msg"])
    # The chia k25 run, the two chiapos k18 runs and the job that died, all on 2026-11-25, and the
    # chia_v2 launcher's k18 run of 2026-12.
    assert len(analysis["plots"]) == 5
    assert sum(1 for p in analysis["plots"] if not p["completed"]) == 1
    assert analysis["excluded"] == {"before since": 6}
    assert analysis["groups"][0]["count"] == 5
    assert analysis["groups"][0]["stats"]["total_seconds"]["count"] == 4


def test_log_dir_from_the_plotter_config(log_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "plotfleet.yml"
    config.write_text(yaml.safe_dump({"logging": {"plots": str(log_dir)},
                                      "directories": {"tmp": [str(tmp_path / "t")], "dst": [str(tmp_path / "d")]}}))
    out = analyze({"plotter_config_path": str(config), "plotfleet_group_by": "day"})
    assert "grouped by day" in out
    assert table_row(out, "2026-11-25")[1] == "3"


def test_unreachable_plotter_is_reported_and_the_others_counted(log_dir: Path, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"plotters": {"hosts": {
        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        # Nothing listens on port 1: the connection is refused at once.
        "gone": {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh"},
    }}}}}))
    proc = run_playbook("analyze.yml", {"plotfleet_log_dir": str(log_dir)}, inventory=str(inventory),
                        env=YAML_OUTPUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "10 plots from 1 host(s) reporting" in proc.stdout
    assert table_row(proc.stdout, "localhost")[1] == "10"
    assert "HOSTS NOT REPORTING" in proc.stdout
    assert "gone: unreachable:" in proc.stdout


def test_missing_log_dir_is_reported_by_host(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    for name in ("notes.txt", "core.1234"):
        (garbage / name).write_text("nothing a plotter wrote\n")
    out = analyze({"plotfleet_log_dir": str(garbage)})
    assert "skipped 2 file(s) that are not plot logs" in out and "(no plots match)" in out

    out = analyze({"plotfleet_log_dir": str(tmp_path / "nowhere")})
    assert "(no plots match)" in out
    assert f"localhost: failed: read plot logs: {tmp_path / 'nowhere'} does not exist" in out


@pytest.mark.parametrize(("extra", "message"), [
    ({"plotfleet_group_by": "host,colour"},
     "plotfleet_group_by: unknown field(s) colour; allowed: host, plotter, k, tmp_dir, tmp2_dir, dst_dir, threads, "
     "buckets, buffer, day"),
    ({"plotfleet_since": "2026-11-31"},
     "plotfleet_since: must be a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM[:SS], got '2026-11-31'"),
    ({"plotfleet_output": "xml"}, 'plotfleet_output: must be one of table, json, got "xml"'),
])
def test_bad_options_fail_naming_the_option(extra: dict, message: str, log_dir: Path) -> None:
    proc = run_playbook("analyze.yml", {"plotfleet_log_dir": str(log_dir), **extra})
    assert proc.returncode != 0
    flat = " ".join((proc.stdout + proc.stderr).split())
    assert message in flat
    assert "Read the plot logs" not in proc.stdout  # failed before contacting any plotter
