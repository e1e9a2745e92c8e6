"""The fleet status report, fleet-wide prefix resolution and archive settings from inventory vars."""

from __future__ import annotations

import pytest

from ansible_collections.plotfleet.fleet.plugins.plugin_utils.fleetvars import archive_outcomes, archive_settings
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.report import (
    PrefixError,
    fleet_report,
    pass_summary,
    render_status,
    resolve_fleet_prefix,
)

ID_A = "ab" * 32
ID_B = "ac" * 32


def job(plot_id, pid, phase="2:1"):
    return {"plot_id": plot_id, "pid": pid, "phase_text": phase, "plotter": "chia", "k": 32, "tmp_dir": "/t",
            "dst_dir": "/d", "wall_seconds": 100, "state": "running", "tmp_bytes": 10}


HOSTVARS = {
    "p1": {"plotfleet_state": {"jobs": [job(ID_A, 11)], "tmp_dirs": [], "dst_dirs": [], "transfers": []}},
    "p2": {"plotfleet_state": {"jobs": [job(ID_B, 22), job(None, 33, "?:?")], "tmp_dirs": [], "dst_dirs": [],
                               "transfers": []}},
    "p3": {"plotfleet_state": {"unreachable": True, "msg": "ssh: connect to host p3 port 22: No route to host"}},
    "h1": {"plotfleet_space_info": {"archive_dirs": [{"path": "/a", "rsync_module": "plots-a", "free_bytes": 10,
                                                 "total_bytes": 20, "plots": 1}], "host": {"free_bytes": 10}},
           "harvester_rsync_port": 8873, "ansible_host": "10.0.0.5"},
    "h2": {"plotfleet_space_info": {"failed": True, "msg": "archive dir config missing"}},
}


def test_unreachable_and_failed_hosts_are_reported_not_dropped():
    report = fleet_report(HOSTVARS, ["p1", "p2", "p3"], ["h1", "h2"])
    assert report["plotters"]["p3"]["status"] == "unreachable"
    assert report["summary"]["jobs"] == 3
    assert sorted(report["summary"]["hosts_down"]) == ["h2", "p3"]
    text = render_status(report)
    assert "HOSTS NOT REPORTING" in text and "No route to host" in text and "archive dir config missing" in text
    assert "pid:33" in text and ID_A[:8] in text


def test_prefix_resolves_fleet_wide():
    assert resolve_fleet_prefix(HOSTVARS, ["p1", "p2", "p3"], ID_A[:3])["host"] == "p1"
    assert resolve_fleet_prefix(HOSTVARS, ["p1", "p2"], "pid:33") == {"host": "p2", "plot_id": None, "pid": 33,
                                                                    "phase_text": "?:?"}
    with pytest.raises(PrefixError, match=f"'a' matches 2 jobs, give a longer prefix: p1: {ID_A}.*p2: {ID_B}"):
        resolve_fleet_prefix(HOSTVARS, ["p1", "p2"], "a")
    with pytest.raises(PrefixError, match="no plot job in the fleet matches 'ff'"):
        resolve_fleet_prefix(HOSTVARS, ["p1", "p2"], "ff")
    with pytest.raises(PrefixError, match="must not be empty"):
        resolve_fleet_prefix(HOSTVARS, ["p1"], " ")


def test_pass_summary_lines():
    assert pass_summary({"started": [], "reason": "stagger: 5 s of 60 s", "jobs_running": 2}) == \
        "waiting (2 running): stagger: 5 s of 60 s"
    started = {"started": [{"tmp_dir": "/t0", "dst_dir": "/d0", "pid": 7}], "reason": "global max jobs: 3"}
    assert pass_summary(started) == "started 1: /t0 -> /d0 (pid 7); then waiting: global max jobs: 3"


def test_archive_settings_from_inventory_vars():
    hostvars = {**HOSTVARS, "p1": {**HOSTVARS["p1"], "plotter_config": {"archiving": {"parallel_transfers": 2}}}}
    settings = archive_settings(hostvars, ["p1", "p2"], ["h1", "h2"], {"margin_bytes": "5"})
    assert settings["harvester_addresses"] == {"h1": "10.0.0.5", "h2": "h2"}
    assert settings["harvester_ports"] == {"h1": 8873, "h2": 873}
    assert settings["plotter_parallel_transfers"] == {"p1": 2}
    assert settings["margin_bytes"] == 5


def test_archive_outcomes():
    hostvars = {"p1": {"archive_sent": {"results": [{"msg": "sent x"}, {"failed": True, "msg": "auth failed"}]}},
                "p2": {"archive_sent": {"unreachable": True, "msg": "gone"}}, "p3": {}}
    outcome = archive_outcomes(hostvars, ["p1", "p2", "p3"])
    assert outcome["lines"] == ["p1: sent x", "p1: FAILED auth failed", "p2: UNREACHABLE gone"]
    assert outcome["failed"] == ["p1", "p2"]
