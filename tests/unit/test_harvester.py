"""Harvester archive dirs: config validation, files in flight, per-dir and fleet reports."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
    ArchiveDir,
    DirSnapshot,
    FileInfo,
    HarvesterConfigError,
    classify_incoming,
    load_harvester_config,
    parse_harvester_config,
    report_dir,
    snapshot_dir,
    summarize_host,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import expected_plot_bytes
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.space_report import fleet_space_report, render_space_table

ROOT = Path(__file__).resolve().parents[2]
PLOT_ID = "ce0294538446c461f31802a0b447b802c44be7e6348eac16cf64882134e9b7c4"
PLOT = f"plot-k32-2024-05-01-10-11-{PLOT_ID}.plot"
PLOT_K25 = f"plot-k25-2024-05-01-10-12-{'a' * 64}.plot"
GIB = 1024**3


# --- config ---------------------------------------------------------------------------------


def test_config_reads_dirs_modules_and_port():
    config = parse_harvester_config(
        {
            "archive_dirs": [{"path": "/mnt/hdd01/", "rsync_module": "plots-hdd01", "max_connections": 1}],
            "rsync": {"port": 18730, "address": "10.0.0.5"},
        }
    )
    assert config.archive_dirs == (ArchiveDir("/mnt/hdd01", "plots-hdd01", 1),)
    assert (config.rsync_port, config.rsync_address) == (18730, "10.0.0.5")


def test_config_names_the_daemons_rsync_and_it_must_be_absolute():
    config = parse_harvester_config({"archive_dirs": [{"path": "/mnt/a"}], "rsync": {"bin": "/usr/bin/rsync"}})
    assert config.rsync_bin == "/usr/bin/rsync"
    with pytest.raises(HarvesterConfigError) as err:
        parse_harvester_config({"archive_dirs": [{"path": "/mnt/a"}], "rsync": {"bin": "rsync"}})
    assert err.value.problems == ["rsync.bin: must be an absolute path, got 'rsync'"]


def test_config_problems_name_their_keys():
    with pytest.raises(HarvesterConfigError) as err:
        parse_harvester_config(
            {
                "archive_dirs": [
                    {"path": "mnt/hdd01"},
                    {"path": "/mnt/a", "rsync_module": "plots"},
                    {"path": "/mnt/b", "rsync_module": "plots"},
                    {"path": "/mnt/c", "max_connections": "one"},
                    "/mnt/d",
                ],
                "rsync": {"port": 70000},
            }
        )
    problems = err.value.problems
    # The same reader and wording as the plotter config (module_utils/checks.py).
    assert 'archive_dirs[0].path: must be an absolute path (starting with / or ~), got "mnt/hdd01"' in problems
    assert "archive_dirs: rsync module 'plots' serves both /mnt/a and /mnt/b" in problems
    assert 'archive_dirs[3].max_connections: must be an integer >= 1, got "one"' in problems
    assert "archive_dirs[4]: must be a mapping with a 'path', got \"/mnt/d\"" in problems
    assert "rsync.port: must be an integer from 1 to 65535, got 70000" in problems


def test_config_keys_unknown_to_the_reader_are_named_with_a_suggestion():
    with pytest.raises(HarvesterConfigError) as err:
        parse_harvester_config({"archive_dirs": [{"path": "/a", "rsync_modul": "x"}], "stale_incoming_second": 60})
    assert "archive_dirs[0].rsync_modul: unknown key; did you mean rsync_module?" in err.value.problems
    assert "stale_incoming_second: unknown key; did you mean stale_incoming_seconds?" in err.value.problems


def test_config_that_is_not_a_mapping_is_refused():
    with pytest.raises(HarvesterConfigError, match="top level must be a mapping, got a list"):
        parse_harvester_config([])


def test_config_file_written_by_the_role_reads_without_pyyaml(tmp_path, monkeypatch):
    path = tmp_path / "harvester.yml"
    path.write_text("#\n# Ansible managed\n#\n" + json.dumps({"archive_dirs": [{"path": "/mnt/a"}]}))
    monkeypatch.setitem(__import__("sys").modules, "yaml", None)  # as on a host without PyYAML
    assert load_harvester_config(str(path)).archive_dirs == (ArchiveDir("/mnt/a"),)


def test_missing_config_file_says_what_to_do(tmp_path):
    with pytest.raises(HarvesterConfigError, match=r"No such file or directory.*run roles/harvester"):
        load_harvester_config(str(tmp_path / "nope.yml"))


# --- files in flight ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "final_name", "kind"),
    [
        (FileInfo(f".{PLOT}.Xb3kQz", 10), PLOT, "rsync-temp"),
        (FileInfo(f".{PLOT}.Xb3kQz", 10, ".rsync-tmp"), PLOT, "rsync-temp"),
        (FileInfo(PLOT, 10, ".rsync-partial"), PLOT, "rsync-partial"),
        (FileInfo(f"{PLOT}.2.tmp", 10), PLOT, "plotter-temp"),
        (FileInfo(f"{PLOT}.tmp", 10), PLOT, "plotter-temp"),
    ],
)
def test_plots_in_flight_are_recognised_by_name(entry, final_name, kind):
    incoming = classify_incoming(entry)
    assert (incoming.final_name, incoming.kind, incoming.k) == (final_name, kind, 32)
    assert incoming.expected_bytes == expected_plot_bytes(32)


@pytest.mark.parametrize("name", [".bashrc", ".notes.txt.Ab12Cd", "README", "plot.log", ".plot.XYZ"])
def test_other_files_are_not_incoming_plots(name):
    assert classify_incoming(FileInfo(name, 1)) is None


# --- one dir --------------------------------------------------------------------------------


def test_report_counts_plots_and_keeps_room_for_arrivals():
    snapshot = DirSnapshot(
        "/mnt/a", free_bytes=300 * GIB, total_bytes=1000 * GIB, device=7, mount_point="/mnt/a",
        plots=((PLOT, 101 * GIB, 0.0), (PLOT_K25, GIB, 0.0), ("odd-name.plot", 5, 0.0)),
        files=(FileInfo(f".{PLOT}.Ab12Cd", 40 * GIB), FileInfo("notes.txt", 3)),
    )
    report = report_dir(ArchiveDir("/mnt/a", "plots-a", 1), snapshot).as_dict()
    assert report["plots"] == 3
    assert report["plot_bytes"] == 102 * GIB + 5
    assert report["plots_by_k"] == {"25": 1, "32": 1}
    assert [item["final_name"] for item in report["incoming"]] == [PLOT]
    assert report["used_bytes"] == 700 * GIB
    assert report["free_after_incoming_bytes"] == 300 * GIB - (expected_plot_bytes(32) - 40 * GIB)
    assert report["error"] is None


def test_unreadable_dir_is_reported_not_raised(tmp_path):
    missing = tmp_path / "gone"
    report = report_dir(ArchiveDir(str(missing), "plots-gone"), snapshot_dir(str(missing))).as_dict()
    assert report["error"] == f"{missing} does not exist"
    assert (report["free_bytes"], report["plots"], report["rsync_module"]) == (0, 0, "plots-gone")


def test_snapshot_reads_a_real_dir(tmp_path):
    (tmp_path / PLOT).write_bytes(b"p" * 100)
    (tmp_path / f".{PLOT_K25}.Qw12Er").write_bytes(b"i" * 30)
    (tmp_path / ".rsync-partial").mkdir()
    (tmp_path / ".rsync-partial" / PLOT_K25).write_bytes(b"x" * 7)
    snapshot = snapshot_dir(str(tmp_path))
    vfs = os.statvfs(tmp_path)
    assert [plot[:2] for plot in snapshot.plots] == [(PLOT, 100)]
    assert snapshot.total_bytes == vfs.f_blocks * vfs.f_frsize
    assert snapshot.device == os.stat(tmp_path).st_dev
    names = {item["name"] for item in report_dir(ArchiveDir(str(tmp_path)), snapshot).as_dict()["incoming"]}
    assert names == {f".{PLOT_K25}.Qw12Er", f".rsync-partial/{PLOT_K25}"}


# --- host and fleet -------------------------------------------------------------------------


def _report(path: str, device: int, free: int, plots: int = 0, error: str | None = None):
    snapshot = DirSnapshot(path, error=error, free_bytes=free, total_bytes=10 * free, device=device,
                           plots=tuple((f"{index}.plot", 1, 0.0) for index in range(plots)))
    return report_dir(ArchiveDir(path), snapshot)


def test_host_totals_count_a_shared_disk_once():
    totals = summarize_host([_report("/a", 1, 100, 2), _report("/a/b", 1, 100, 3), _report("/c", 2, 50),
                             _report("/d", 3, 0, error="/d does not exist")])
    assert (totals["free_bytes"], totals["total_bytes"]) == (150, 1500)
    assert (totals["plots"], totals["devices"], totals["dirs"], totals["dirs_with_errors"]) == (5, 2, 4, 1)


def test_fleet_report_lists_every_harvester_read_or_not():
    ok = {"archive_dirs": [_report("/a", 1, GIB, 2).as_dict()], "host": summarize_host([_report("/a", 1, GIB, 2)])}
    report = fleet_space_report({
        "h1": ok,
        "h2": {"unreachable": True, "msg": "ssh: connect to host h2 port 22: No route to host"},
        "h3": {"failed": True, "msg": "load harvester config /etc/plotfleet/harvester.yml: not valid YAML"},
        "h4": None,
    })
    assert [item["host"] for item in report["harvesters"]] == ["h1"]
    assert report["unreachable"] == [{"host": "h2", "msg": "ssh: connect to host h2 port 22: No route to host"}]
    assert [item["host"] for item in report["failed"]] == ["h3", "h4"]
    assert report["totals"]["plots"] == 2
    table = render_space_table(report)
    assert table.splitlines()[0].split() == ["HOST", "DIR", "MODULE", "FREE", "TOTAL", "PLOTS", "INCOMING",
                                             "REPLOTTED"]
    assert table.splitlines()[1].split() == ["h1", "/a", "-", "1.0", "GiB", "10.0", "GiB", "2", "0", "0.0%"]
    assert "CENSUS" in table and "no v2 plots arrived in the last 24 h" in table
    assert "h2: UNREACHABLE: ssh: connect to host h2" in table
    assert "1 harvester(s) read, 1 unreachable, 2 failed" in table


# --- the module, through its public seam ----------------------------------------------------


def _run_module(args: dict, capsys) -> dict:
    path = ROOT / "library" / "plotfleet_space_info.py"
    spec = importlib.util.spec_from_file_location("plotfleet_space_info", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    # Warnings: in the result on a host; once this test process has loaded Ansible's controller
    # code (other tests do), ansible-core shows them on the controller's display (stderr) instead.
    result["_warnings_seen"] = json.dumps(result.get("warnings", [])) + captured.err
    return result


def test_module_reports_each_dir_and_warns_about_a_missing_one(tmp_path, capsys):
    (tmp_path / PLOT).write_bytes(b"p")
    result = _run_module(
        {"archive_dirs": [{"path": str(tmp_path), "rsync_module": "plots-a"}, {"path": str(tmp_path / "gone")}]},
        capsys,
    )
    assert result["changed"] is False
    assert [(item["path"], item["plots"]) for item in result["archive_dirs"]] == [(str(tmp_path), 1),
                                                                                 (str(tmp_path / "gone"), 0)]
    # 2.19 returns warnings as structured events; the text is what the operator sees.
    assert f"archive dir {tmp_path / 'gone'}: {tmp_path / 'gone'} does not exist" in result["_warnings_seen"]
    assert result["host"]["dirs_with_errors"] == 1


def test_module_fails_on_a_bad_config_naming_the_key(tmp_path, capsys):
    config = tmp_path / "harvester.yml"
    config.write_text(json.dumps({"archive_dirs": [{"path": "relative/dir"}]}))
    result = _run_module({"config": str(config)}, capsys)
    assert result["failed"] is True
    assert result["msg"] == (
        f'load harvester config {config}: archive_dirs[0].path: must be an absolute path (starting with / or ~), '
        'got "relative/dir"'
    )


def test_a_temp_file_untouched_past_the_limit_is_stale():
    from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import FileInfo, classify_incoming

    name = f".plot-k32-2026-01-01-00-00-{'ab' * 32}.plot.Ab12Cd"
    live = classify_incoming(FileInfo(name, 10, "", idle_seconds=5), stale_after=900)
    dead = classify_incoming(FileInfo(name, 10, "", idle_seconds=901), stale_after=900)
    assert (live.stale, dead.stale) == (False, True)
    assert dead.as_dict()["idle_seconds"] == 901


def test_a_temp_file_no_process_holds_is_stale_after_a_moment():
    from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import FileInfo, classify_incoming

    name = f".plot-k32-2026-01-01-00-00-{'ab' * 32}.plot.Ab12Cd"
    writing = classify_incoming(FileInfo(name, 10, "", idle_seconds=3000, in_use=True))
    orphan = classify_incoming(FileInfo(name, 10, "", idle_seconds=11, in_use=False))
    just_made = classify_incoming(FileInfo(name, 10, "", idle_seconds=2, in_use=False))
    assert (writing.stale, orphan.stale, just_made.stale) == (False, True, False)


def test_snapshot_sees_who_holds_a_partial_file(tmp_path):
    from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import snapshot_dir

    partial = tmp_path / f".plot-k32-2026-01-01-00-00-{'ab' * 32}.plot.Ab12Cd"
    partial.write_bytes(b"\0" * 8192)
    held = snapshot_dir(str(tmp_path), (), held_open={str(partial)}).files[0]
    orphan = snapshot_dir(str(tmp_path), (), held_open=set()).files[0]
    unknown = snapshot_dir(str(tmp_path), ()).files[0]
    assert (held.in_use, orphan.in_use, unknown.in_use) == (True, False, None)
    assert held.allocated_bytes >= 8192 and held.idle_seconds < 60
