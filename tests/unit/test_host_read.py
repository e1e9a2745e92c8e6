"""status.yml's one read per host (plotfleet_host_info, module_utils/hostread.py) and how the report
takes each role's part of it (plugin_utils/results.registered_result)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostread import read_host
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.report import fleet_report
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.results import registered, registered_result

ROOT = Path(__file__).resolve().parents[2]
PLOT = f"plot-k32-2026-01-01-00-00-{'ab' * 32}.plot"


def run_module(args: dict, capsys) -> dict:
    spec = importlib.util.spec_from_file_location("plotfleet_host_info", ROOT / "library" / "plotfleet_host_info.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def harvester_config(tmp_path: Path) -> Path:
    archive = tmp_path / "archive0"
    archive.mkdir()
    (archive / PLOT).write_bytes(b"p")
    config = tmp_path / "harvester.yml"
    config.write_text(json.dumps({"archive_dirs": [{"path": str(archive), "rsync_module": "plots-archive0"}]}))
    return config


def test_a_broken_plotter_role_does_not_hide_the_harvester(tmp_path: Path, harvester_config: Path) -> None:
    result, warnings = read_host(str(tmp_path / "missing.yml"), str(harvester_config))

    assert result["plotter"]["failed"] is True
    assert result["plotter"]["msg"].startswith(f"load config: {tmp_path / 'missing.yml'}"), result["plotter"]
    assert [entry["plots"] for entry in result["harvester"]["archive_dirs"]] == [1]
    assert result["harvester"]["archive_dirs"][0]["quarantined"] == []  # as plotfleet_space_info says it
    assert warnings == []


def test_only_the_roles_asked_for_are_read(harvester_config: Path) -> None:
    result, _warnings = read_host(None, str(harvester_config))

    assert set(result) == {"harvester"}


def test_a_harvester_dir_that_cannot_be_read_is_a_warning(tmp_path: Path) -> None:
    config = tmp_path / "harvester.yml"
    config.write_text(json.dumps({"archive_dirs": [{"path": str(tmp_path / "gone")}]}))

    result, warnings = read_host(None, str(config))

    assert result["harvester"]["host"]["dirs_with_errors"] == 1
    gone = tmp_path / "gone"
    assert warnings == [f"harvester: archive dir {gone}: {gone} does not exist (not mounted?)"]


def test_the_module_reads_the_roles_it_is_given(tmp_path: Path, harvester_config: Path, capsys) -> None:
    result = run_module({"plotter": True, "harvester": True, "plotter_config": str(tmp_path / "missing.yml"),
                         "harvester_config": str(harvester_config)}, capsys)

    assert "failed" not in result
    assert result["plotter"]["failed"] is True and "missing.yml" in result["plotter"]["msg"]
    assert result["harvester"]["archive_dirs"][0]["rsync_module"] == "plots-archive0"


def test_the_module_refuses_to_read_nothing(capsys) -> None:
    result = run_module({}, capsys)

    assert result["failed"] is True
    assert result["msg"] == "nothing to read: give plotter=true, harvester=true or both"


def test_the_module_names_a_wrong_type(capsys) -> None:
    result = run_module({"plotter": "sometimes"}, capsys)

    assert result["failed"] is True
    assert "plotter" in result["msg"] and "bool" in result["msg"], result["msg"]


# --- the report's side: one registered result, a part per role ------------------------------------

HOSTVARS = {
    "both": {"plotfleet_host": {"plotter": {"jobs": [], "tmp_dirs": [], "dst_dirs": [], "transfers": []},
                                "harvester": {"archive_dirs": [], "host": {}}}},
    "down": {"plotfleet_host": {"unreachable": True, "msg": "ssh: connect to host down port 22: No route"}},
    "crashed": {"plotfleet_host": {"failed": True, "msg": "Task failed: Module failed: boom"}},
    "harvester_only": {"plotfleet_host": {"harvester": {"archive_dirs": [], "host": {}}}},
}


def test_a_part_of_a_result_is_that_roles_result() -> None:
    assert registered_result(HOSTVARS, "both", "plotfleet_host.plotter")["jobs"] == []
    assert registered_result(HOSTVARS, "both", "plotfleet_host") is HOSTVARS["both"]["plotfleet_host"]


def test_a_host_that_did_not_answer_is_said_for_each_of_its_roles() -> None:
    for part in ("plotter", "harvester"):
        assert registered_result(HOSTVARS, "down", f"plotfleet_host.{part}")["unreachable"] is True
        assert registered_result(HOSTVARS, "crashed", f"plotfleet_host.{part}")["failed"] is True


def test_a_missing_part_or_host_is_no_result() -> None:
    assert registered_result(HOSTVARS, "harvester_only", "plotfleet_host.plotter") is None
    assert registered(HOSTVARS, ["harvester_only", "nobody"], "plotfleet_host.plotter") == {
        "harvester_only": {}, "nobody": {}}


def test_the_status_report_reads_the_parts() -> None:
    report = fleet_report(HOSTVARS, ["both", "down", "crashed"], ["both", "down"],
                         plotter_var="plotfleet_host.plotter", harvester_var="plotfleet_host.harvester")

    assert {host: entry["status"] for host, entry in report["plotters"].items()} == {
        "both": "ok", "down": "unreachable", "crashed": "failed"}
    assert report["plotters"]["crashed"]["msg"] == "Module failed: boom"
    assert [item["host"] for item in report["space"]["unreachable"]] == ["down"]
