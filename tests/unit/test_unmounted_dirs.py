"""A disk that is not mounted is never written: missing dirs and marked dirs that are not mount points."""

from __future__ import annotations

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.config import parse_config
from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
    ArchiveDir,
    HarvesterConfig,
    HarvesterConfigError,
    inspect_harvester,
    parse_harvester_config,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import dir_refusal, is_mount_point
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import Phase
from ansible_collections.plotfleet.fleet.plugins.module_utils.scheduler import Policy, TmpPolicy, decide
from ansible_collections.plotfleet.fleet.plugins.module_utils.state import build_dir_states
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.report import pass_summary

GIB = 1024**3


def test_a_missing_dir_is_refused_whatever_its_marking(tmp_path):
    gone = str(tmp_path / "gone")
    assert dir_refusal(gone) == f"{gone} does not exist (not mounted?)"
    assert dir_refusal(gone, mount=True) == f"{gone} does not exist (not mounted?)"


def test_a_marked_dir_on_its_parents_filesystem_is_refused(tmp_path):
    assert dir_refusal(str(tmp_path)) is None
    refusal = dir_refusal(str(tmp_path), mount=True)
    assert refusal.startswith(f"{tmp_path} is not mounted? it is marked mount: true")
    assert "/" in refusal.rsplit("mounted at ", 1)[1]


def test_a_mount_point_passes():
    assert is_mount_point("/proc")
    assert dir_refusal("/proc", mount=True) is None


def test_config_marks_dirs_per_entry():
    config = parse_config({"directories": {"tmp": ["/t0", {"path": "/t1/", "mount": True}],
                                           "tmp2": {"path": "/r", "mount": True},
                                           "dst": [{"path": "/d0"}]}})
    assert config.directories.tmp == ("/t0", "/t1")
    assert config.directories.dst == ("/d0",)
    assert config.directories.tmp2 == "/r"
    assert config.directories.mounts == ("/t1", "/r")


def test_dir_states_carry_the_refusal(tmp_path):
    (tmp_path / "dst").mkdir()
    config = parse_config({"directories": {"tmp": [str(tmp_path), str(tmp_path / "gone")],
                                           "dst": [{"path": str(tmp_path / "dst"), "mount": True}]}})
    tmp_states, dst_states = build_dir_states(config.directories.tmp, config.directories.dst, [],
                                              config.directories.refusal)
    assert [state.refused for state in tmp_states] == [None, f"{tmp_path / 'gone'} does not exist (not mounted?)"]
    assert "not mounted?" in dst_states[0].refused
    assert dst_states[0].free_bytes is None  # the disk beneath's space is not this dir's
    assert dst_states[0].as_dict()["refused"] == dst_states[0].refused


def _policy() -> Policy:
    return Policy(global_stagger_seconds=0, global_max_jobs=10, tmp_dirs=("/t0", "/t1"), tmp2_dir=None,
                  dst_dirs=("/d0", "/d1"), tmp_policies={t: TmpPolicy(Phase(2, 1), 1, 3) for t in ("/t0", "/t1")},
                  new_plot_bytes=GIB)


PLENTY = {"/t0": 10**15, "/t1": 10**15, "/d0": 10**15, "/d1": 10**15}


def test_the_schedule_skips_refused_tmp_and_dst_dirs():
    refused = {"/t0": "/t0 does not exist (not mounted?)", "/d0": "/d0 is not mounted? ..."}
    decision = decide([], PLENTY, _policy(), refused)
    assert [(s.tmp_dir, s.dst_dir) for s in decision.starts] == [("/t1", "/d1")]


def test_nothing_starts_when_every_dir_is_refused_and_the_reason_says_so():
    refused = {"/t0": "/t0 does not exist (not mounted?)", "/t1": "/t1 does not exist (not mounted?)"}
    decision = decide([], PLENTY, _policy(), refused)
    assert decision.starts == []
    assert "tmp /t0 does not exist (not mounted?)" in decision.reason
    refused = {"/d0": "/d0 does not exist (not mounted?)", "/d1": "/d1 does not exist (not mounted?)"}
    decision = decide([], PLENTY, _policy(), refused)
    assert decision.reason.startswith("dst: no dir can be written: /d0 does not exist (not mounted?)")


def test_harvester_dirs_marked_mount_are_refused_when_not_mounted(tmp_path):
    config = parse_harvester_config({"archive_dirs": [{"path": str(tmp_path), "mount": True},
                                                      {"path": str(tmp_path / "gone")},
                                                      {"path": "/proc", "mount": True}]})
    assert config.archive_dirs[0] == ArchiveDir(str(tmp_path), None, None, True)
    reports, host = inspect_harvester(HarvesterConfig(config.archive_dirs[:2]))
    assert "not mounted?" in reports[0].error
    assert reports[1].error == f"{tmp_path / 'gone'} does not exist (not mounted?)"
    assert host["dirs_with_errors"] == 2


def test_harvester_mount_must_be_a_boolean():
    with pytest.raises(HarvesterConfigError) as err:
        parse_harvester_config({"archive_dirs": [{"path": "/a", "mount": "yes"}]})
    assert err.value.problems == ['archive_dirs[0].mount: must be true or false, got "yes"']


def test_pass_summary_under_check_mode_says_would_start():
    result = {"changed": True, "started": [{"tmp_dir": "/t0", "dst_dir": "/d0", "pid": None}], "reason": None}
    assert pass_summary(result, True) == "would start 1: /t0 -> /d0"
    assert pass_summary(result) == "started 1: /t0 -> /d0"


def test_pass_summary_counts_suspended_jobs_apart():
    result = {"started": [], "reason": "global max jobs: 1 running, max 1", "jobs_running": 1, "jobs_suspended": 1}
    assert pass_summary(result) == "waiting (0 running, 1 suspended): global max jobs: 1 running, max 1"



def test_status_shows_a_refused_dir_on_a_line_of_its_own():
    from ansible_collections.plotfleet.fleet.plugins.plugin_utils.report import _dirs_table

    refusal = "/srv/tmp0 does not exist (not mounted?)"
    report = {"plotters": {"p1": {"tmp_dirs": [{"path": "/srv/tmp0", "error": refusal, "refused": refusal,
                                                "jobs": []}],
                                  "dst_dirs": []}}}
    lines = _dirs_table(report).splitlines()
    assert "NOT USED" in lines[1]
    assert lines[-1] == f"  p1: tmp {refusal}"


def test_space_table_keeps_errors_out_of_the_free_column():
    from ansible_collections.plotfleet.fleet.plugins.plugin_utils.space_report import (
        fleet_space_report,
        render_space_table,
    )

    error = "/srv/archive9 does not exist (not mounted?)"
    report = fleet_space_report({"h1": {"changed": False, "archive_dirs": [{"path": "/srv/archive9", "error": error}],
                                        "host": {}}})
    lines = render_space_table(report).splitlines()
    header_width = len(lines[0])
    assert len(lines[1]) <= header_width + len("/srv/archive9")
    assert f"h1: /srv/archive9: {error}" in lines


def test_a_plotter_that_exits_at_once_and_prints_nothing_is_said_so(tmp_path):
    from ansible_collections.plotfleet.fleet.plugins.module_utils.spawn import SpawnError, spawn_job

    with pytest.raises(SpawnError) as err:
        spawn_job(["/bin/true", "plots", "create"], str(tmp_path), "chia")
    assert "exited at once with code 0 and printed nothing (/bin/true plots create)" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # the empty log is not left to look like a plot log
    with pytest.raises(SpawnError) as err:
        spawn_job(["/bin/sh", "-c", "echo no such plotter option; exit 2"], str(tmp_path), "chia")
    assert "ends with:\nno such plotter option" in str(err.value)
    assert len(list(tmp_path.iterdir())) == 1
