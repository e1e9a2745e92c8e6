"""The dashboard's logic without a terminal or a network: progress and end estimates, transfer
rates, the action log's events, the operator's pause flags, and the host agent's protocol."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.pause import flag_path, pauses, read_pause, set_pause
from ansible_collections.plotfleet.fleet.plugins.module_utils.progress import LogHistory
from ansible_collections.plotfleet.fleet.plugins.module_utils.snapshot import Agent
from ansible_collections.plotfleet.fleet.plugins.plugin_utils import fleetview
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.report import fleet_report, render_status

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
K25_HISTORY = {"chia/k25": {"runs": 4, "total_seconds": 140.0,
                            "phase_seconds": {"1": 87.0, "2": 10.0, "3": 39.0, "4": 4.0}}}


def job(phase=(1, 1), wall=10.0, **extra):
    return {"plot_id": "ab" * 32, "pid": 42, "plotter": "chia", "k": 25,
            "phase": {"major": phase[0], "minor": phase[1]}, "phase_text": f"{phase[0]}:{phase[1]}",
            "wall_seconds": wall, "state": "running", **extra}


def test_progress_follows_the_phases_weighted_by_past_runs():
    early = fleetview.job_progress(job((1, 1), wall=5), K25_HISTORY)
    assert early.fraction == 0.0
    assert early.remaining_seconds == 135.0  # too early for its own pace: the median of past runs
    assert "median of 4 runs" in early.basis
    phase3 = fleetview.job_progress(job((3, 1), wall=100), K25_HISTORY)
    assert phase3.fraction == pytest.approx(97 / 140)
    assert phase3.remaining_seconds == pytest.approx(100 * (1 - 97 / 140) / (97 / 140))


def test_progress_without_history_or_phase():
    unknown = fleetview.job_progress(job((0, 0)), None)
    assert unknown.fraction is None and unknown.remaining_seconds is None
    assert fleetview.job_progress(job((2, 4), wall=600), None).remaining_seconds > 0
    assert fleetview.job_progress(job((5, 1), wall=600), K25_HISTORY).fraction == 0.99


def test_bar_and_durations():
    assert fleetview.bar(0.5, 10) == "█████░░░░░"
    assert fleetview.bar(None, 4) == "····"
    assert [fleetview.short_duration(s) for s in (42, 600, 7200, 3 * 86400, None)] == ["42s", "10m", "2h00", "3d", "?"]


def test_transfer_rate_from_bytes_seen_on_the_harvester():
    meter = fleetview.RateMeter()
    transfer = {"source": "/d/plot-k25-x.plot", "size_bytes": 1000, "started_at": "2026-01-01T00:00:00+00:00"}
    results = {"h1": {"harvester": {"archive_dirs": [{"incoming": [{"final_name": "plot-k25-x.plot",
                                                                    "size_bytes": 200}]}]}}}
    start = fleetview._timestamp(transfer["started_at"])
    first = meter.progress(("p", 1), transfer, fleetview.incoming_by_name(results), start + 10)
    assert (first.done_bytes, first.fraction, first.rate) == (200, 0.2, 20.0)
    results["h1"]["harvester"]["archive_dirs"][0]["incoming"][0]["size_bytes"] = 600
    second = meter.progress(("p", 1), transfer, fleetview.incoming_by_name(results), start + 12)
    assert second.rate == 200.0


def test_fill_and_census():
    entry = {"free_bytes": 25, "total_bytes": 100,
             "census": {"kinds": [{"kind": "v2-k28", "plots": 3}, {"kind": "v1-k32", "plots": 98}]}}
    assert fleetview.fill(entry) == 0.75
    assert fleetview.census_text(entry) == "v1-k32 98, v2-k28 3"


def snapshot(jobs=(), transfers=(), paused=None, down=None):
    if down:
        return {"unreachable": True, "msg": down}
    return {"plotter": {"jobs": list(jobs), "transfers": list(transfers),
                        "paused": paused or {"plotting": None, "archiving": None}}}


def test_events_between_refreshes():
    a, b = job(), {**job(), "pid": 43, "plot_id": "cd" * 32}
    move = {"pid": 7, "source": "/d/plot-k25-x.plot", "host": "10.0.0.5", "module": "a0"}
    before = {"p1": snapshot([a]), "p2": snapshot([b])}
    after = {"p1": snapshot([{**a, "state": "suspended"}], [move], {"plotting": {"since": 1}, "archiving": None}),
             "p2": snapshot(down="ssh: connect to host 10.0.0.2 port 22: No route to host")}
    lines = fleetview.events_between(before, after)
    assert "p1: job abababab is suspended" in lines
    assert "p1: plotting paused" in lines
    assert "p1: transfer started: plot-k25-x.plot -> 10.0.0.5::a0" in lines
    assert any(line.startswith("p2: not reporting: ssh: connect") for line in lines)
    assert not any("cdcdcdcd ended" in line for line in lines)  # a host down has not ended its jobs
    ended = fleetview.events_between(after, {"p1": snapshot(), "p2": snapshot()})
    assert "p1: job abababab ended (last phase 1:1)" in ended and "p2: reporting again" in ended
    assert "p1: transfer ended: plot-k25-x.plot" in ended
    assert fleetview.events_between(None, after) == []


def test_pause_flags_are_atomic_files_beside_the_config(tmp_path):
    config = tmp_path / "plotfleet.yml"
    config.write_text("{}")
    assert pauses(str(config)) == {"plotting": None, "archiving": None}
    assert set_pause(str(config), "plotting", True, by="alice@ops1")
    assert not set_pause(str(config), "plotting", True, by="bob")  # already paused: left as it was
    flag = read_pause(str(config), "plotting")
    assert flag["by"] == "alice@ops1" and flag["path"] == str(tmp_path / "paused-plotting")
    assert stat.S_IMODE(os.stat(flag["path"]).st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["paused-plotting", "plotfleet.yml"]  # no temp file left
    Path(flag_path(str(config), "archiving")).touch()  # by hand: paused all the same
    by_hand = read_pause(str(config), "archiving")
    assert by_hand == {"since": None, "by": None, "path": str(tmp_path / "paused-archiving")}
    assert set_pause(str(config), "plotting", False) and read_pause(str(config), "plotting") is None
    with pytest.raises(ValueError):
        flag_path(str(config), "farming")


def test_status_shows_the_pauses():
    hostvars = {"p1": {"plotfleet_state": {"jobs": [], "tmp_dirs": [], "dst_dirs": [], "transfers": [],
                                           "paused": {"plotting": {"since": None, "by": "alice@ops1",
                                                                   "path": "/etc/plotfleet/paused-plotting"},
                                                      "archiving": None}}}}
    text = render_status(fleet_report(hostvars, ["p1"], []))
    assert "PAUSED (plot.yml / archive.yml start nothing there)" in text
    assert "p1: plotting paused by alice@ops1 (/etc/plotfleet/paused-plotting" in text


def test_log_history_medians_per_plotter_and_k(tmp_path):
    for name in ("chia-2.7.5-k25.log", "chiapos-2.0.12-k18.log", "chiapos-2.0.12-k18-copy.log"):
        (tmp_path / name).write_bytes((LOGS / name).read_bytes())
    history = LogHistory()
    summary = history.summary(str(tmp_path), skip={str(tmp_path / "chiapos-2.0.12-k18-copy.log")})
    assert summary["chia/k25"]["runs"] == 1 and summary["chia/k25"]["total_seconds"] > 100
    assert summary["chia/k18"]["runs"] == 1
    assert set(summary["chia/k25"]["phase_seconds"]) == {"1", "2", "3", "4"}


def test_agent_answers_json_lines_and_never_a_traceback(tmp_path):
    config = tmp_path / "plotfleet.yml"
    config.write_text(json.dumps({"directories": {"tmp": [str(tmp_path)], "dst": [str(tmp_path)]},
                                  "logging": {"plots": str(tmp_path)}}))
    out = io.StringIO()
    agent = Agent(out)
    pause = [{"id": 1, "op": "pause", "config": str(config), "kind": "archiving", "paused": True, "by": "me"}]
    requests = [
        {"id": 2, "op": "snapshot", "plotter": str(config), "harvester": str(tmp_path / "missing.yml")},
        {"id": 3, "op": "control", "config": str(config), "plot_id": "ffff", "state": "suspended"},
        {"id": 4, "op": "format-disk"},
    ]
    # The agent answers requests concurrently: the snapshot that must see the pause comes after it.
    for batch in (pause, requests):
        agent.serve(io.BytesIO(b"".join(json.dumps(r).encode() + b"\n" for r in batch)))
    answers = {a["id"]: a for a in map(json.loads, out.getvalue().splitlines())}
    assert answers[0]["result"]["ready"]
    assert answers[1]["result"]["paused"]["archiving"]["by"] == "me"
    snap = answers[2]["result"]
    assert snap["plotter"]["jobs"] == [] or all("pid" in j for j in snap["plotter"]["jobs"])
    assert snap["plotter"]["paused"]["archiving"]["by"] == "me"
    assert snap["harvester"]["failed"] and "load harvester config" in snap["harvester"]["msg"]
    assert answers[3] == {"id": 3, "ok": False, "msg": answers[3]["msg"]} and "no plot job matches 'ffff'" in \
        answers[3]["msg"]
    assert answers[4]["ok"] is False and "unknown op" in answers[4]["msg"]


def test_each_host_is_reached_as_ansible_would(tmp_path):
    from ansible_collections.plotfleet.fleet.plugins.plugin_utils.watch import load_targets

    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {
        "vars": {"ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3",
                 "ansible_ssh_common_args": "-o ProxyJump=root@10.9.9.1"},
        "children": {
            "plotters": {"hosts": {"p1": {"ansible_host": "10.9.8.11", "plotter_config_path": "/etc/pf/p.yml"},
                                   "p2": {"ansible_host": "10.9.8.12", "ansible_become": True}}},
            "harvesters": {"hosts": {"p1": {}, "h1": {"ansible_connection": "local"}}}}}}))
    targets = {t.name: t for t in load_targets(str(inventory))}
    assert targets["p1"].roles == {"plotter": "/etc/pf/p.yml", "harvester": "/etc/plotfleet/harvester.yml"}
    p1, p2 = targets["p1"].argv, targets["p2"].argv
    assert p1[0] == "ssh" and "ProxyJump=root@10.9.9.1" in p1 and "10.9.8.11" in p1
    control_paths = {next(a for a in argv if a.startswith("ControlPath=")) for argv in (p1, p2)}
    assert len(control_paths) == 2  # one master per host, as Ansible's own
    assert "python3 -I -c" in p1[-1] and "sudo" not in p1[-1]
    assert p2[-1].startswith("sudo ") and "BECOME-SUCCESS-" in p2[-1] and targets["p2"].become_success
    assert targets["h1"].argv[:3] == ["/usr/bin/python3", "-I", "-c"]


def test_the_agent_runs_under_become_and_answers(tmp_path):
    """A local host with become (su, root to root: no prompt): the agent starts behind Ansible's
    BECOME-SUCCESS marker, gets its code on stdin, and answers refreshes and actions."""
    from ansible_collections.plotfleet.fleet.plugins.plugin_utils.watch import Watcher, load_targets

    config = tmp_path / "plotfleet.yml"
    config.write_text(json.dumps({"directories": {"tmp": [str(tmp_path)], "dst": [str(tmp_path)]},
                                  "logging": {"plots": str(tmp_path)}}))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"children": {"plotters": {"hosts": {"here": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": True,
        "ansible_become_method": "su", "ansible_become_user": "root", "plotter_config_path": str(config)}}}}}}))
    targets = load_targets(str(inventory))
    assert "su" in targets[0].argv[-1] and targets[0].become_success
    watcher = Watcher(targets)
    try:
        first = watcher.refresh()["here"]
        assert first["plotter"]["paused"] == {"plotting": None, "archiving": None}, first
        watcher.request("here", "pause", config=str(config), kind="plotting", paused=True, by="test")
        assert watcher.refresh()["here"]["plotter"]["paused"]["plotting"]["by"] == "test"
        # A directory only the agent could see: its code is in a private mkdtemp dir, gone at the end.
        agents = [p for p in os.listdir(tempfile.gettempdir()) if p.startswith("plotfleet-watch-")]
        assert all(stat.S_IMODE(os.stat(os.path.join(tempfile.gettempdir(), p)).st_mode) == 0o700 for p in agents)
    finally:
        watcher.close()
