"""Plot files: every kind of name, its kind and size, and everything that depends on them."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.control import remove_temp_files
from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
    ArchiveDir,
    FileInfo,
    classify_incoming,
    report_dir,
    snapshot_dir,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import temp_files
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import (
    BLADEBIT,
    GIB,
    GIGAHORSE,
    PLOT_STEM_RE,
    V1,
    V2,
    V2_K28_BYTES,
    PlotKind,
    _kind_of_name,
    expected_plot_bytes,
    find_plot_name,
    is_finished_plot_name,
    kind_for_plotter,
    list_plots,
    merge_census,
    nominal_plot_bytes,
    parse_plot_name,
    plot_census,
    plot_kind,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import logtools
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import JobArgs, LogInfo
from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import parse_rsync_command

ID = "ce0294538446c461f31802a0b447b802c44be7e6348eac16cf64882134e9b7c4"
DATE = "2026-01-02-03-04"
V1_PLOT = f"plot-k32-{DATE}-{ID}.plot"
BLADEBIT_C5 = f"plot-k32-c05-{DATE}-{ID}.plot"
BLADEBIT_C7 = f"plot-k32-c07-{DATE}-{ID}.plot"
GIGAHORSE_C8 = f"plot-k32-c8-{DATE}-{ID}.plot"
GIGAHORSE_C18 = f"plot-k32-c18-{DATE}-{ID}.plot"
V2_PLOT = f"plot-k28-{ID}.plot2"


# --- names and kinds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "date"),
    [
        (V1_PLOT, PlotKind(V1, 32), DATE),
        (f"plot-k25-{DATE}-{ID}.plot", PlotKind(V1, 25), DATE),
        (BLADEBIT_C5, PlotKind(V1, 32, 5, BLADEBIT), DATE),
        (f"plot-k32-c00-{DATE}-{ID}.plot", PlotKind(V1, 32), DATE),
        (GIGAHORSE_C8, PlotKind(V1, 32, 8, GIGAHORSE), DATE),
        (GIGAHORSE_C18, PlotKind(V1, 32, 18, GIGAHORSE), DATE),
        (V2_PLOT, PlotKind(V2, 28), None),
        (f"plot-k18-{ID}.plot2", PlotKind(V2, 18), None),
    ],
)
def test_every_kind_of_name_parses(name, kind, date):
    parsed = parse_plot_name(name)
    assert (parsed.kind, parsed.plot_id, parsed.date) == (kind, ID, date)
    assert plot_kind(name) == kind
    assert is_finished_plot_name(name)


@pytest.mark.parametrize(
    "name",
    [
        f"plot-k28-{ID}.plot",  # a v2 name with the v1 extension
        f"plot-k32-{DATE}-{ID}.plot2",  # a v1 name with the v2 extension
        f"plot-k28-c05-{ID}.plot2",  # v2 has no compression level
        f"plot-mmx-k30-{DATE}-{ID}.plot",  # MMX, not Chia
        f"plot-k32-{DATE}-{ID}.plot.tmp",
        f"plot-k32-{DATE}-{ID[:-1]}.plot",
        "odd-name.plot",
    ],
)
def test_names_that_are_not_standard_plots(name):
    assert parse_plot_name(name) is None
    assert plot_kind(name) is None


def test_finished_names_are_plot_and_plot2_never_temp_or_hidden():
    assert is_finished_plot_name("odd-name.plot")  # counted, kind unknown
    for name in (f".{V1_PLOT}.Ab12Cd", f"{V1_PLOT}.2.tmp", f"{V2_PLOT}.tmp", f".{V2_PLOT}.Qw12Er"):
        assert not is_finished_plot_name(name)


def test_kind_labels_and_keys():
    assert PlotKind(V1, 32).label == "v1 k32" and PlotKind(V1, 32).key == "v1-k32"
    assert PlotKind(V1, 32, 7, BLADEBIT).key == "v1-k32-c7-bladebit"
    assert PlotKind(V2, 28).as_dict() == {"kind": "v2-k28", "format": "v2", "k": 28, "compression": 0, "family": None}
    assert parse_plot_name(BLADEBIT_C5).started_at == "2026-01-02T03:04:00"
    assert parse_plot_name(V2_PLOT).started_at is None


def test_a_name_is_found_in_a_path_or_log_line():
    parsed, stem = find_plot_name(f'Renamed final file from "/t/{V2_PLOT}.tmp" to "/d/{V2_PLOT}"')
    assert (parsed.kind, stem) == (PlotKind(V2, 28), V2_PLOT[: -len(".plot2")])
    assert find_plot_name("no plot here") is None


def test_logs_use_the_same_definition():
    assert logtools.PLOT_NAME is PLOT_STEM_RE
    info = LogInfo(plotter="chia_v2")
    logtools.from_plot_name(info, f"/d/{V2_PLOT}")
    assert (info.plot_id, info.k, info.compression, info.started_at) == (ID, 28, 0, None)
    info = LogInfo(plotter="gigahorse")
    logtools.from_plot_name(info, f"/d/{GIGAHORSE_C8}")
    assert (info.plot_id, info.k, info.compression, info.started_at) == (ID, 32, 8, "2026-01-02T03:04:00")


# --- sizes --------------------------------------------------------------------------------------


def test_sizes_by_format_k_family_and_level():
    assert expected_plot_bytes(PlotKind(V1, 32)) >= 101.4 * GIB
    assert expected_plot_bytes(PlotKind(V1, 32, 7, BLADEBIT)) >= 78.0 * GIB
    assert expected_plot_bytes(PlotKind(V1, 32, 7, BLADEBIT)) < 79 * GIB
    assert expected_plot_bytes(PlotKind(V1, 32, 9, GIGAHORSE)) >= 68.1 * GIB
    assert expected_plot_bytes(PlotKind(V1, 32, 18, GIGAHORSE)) >= 59.7 * GIB
    assert expected_plot_bytes(PlotKind(V1, 32, 30, GIGAHORSE)) >= 43.3 * GIB
    assert expected_plot_bytes(PlotKind(V1, 32, 30, GIGAHORSE)) < 44 * GIB
    # a level between published ones is sized as the next smaller level listed (a bigger plot)
    assert expected_plot_bytes(PlotKind(V1, 32, 20, GIGAHORSE)) == expected_plot_bytes(PlotKind(V1, 32, 18, GIGAHORSE))
    assert nominal_plot_bytes(PlotKind(V2, 28)) == V2_K28_BYTES
    assert V2_K28_BYTES <= expected_plot_bytes(PlotKind(V2, 28)) < 1.02 * V2_K28_BYTES
    # measured test-size v2 plots stay below their bound
    assert expected_plot_bytes(PlotKind(V2, 24)) > 53_000_000
    assert expected_plot_bytes(PlotKind(V2, 18)) > 650_000
    # bounds are rounded up to a MiB
    assert all(expected_plot_bytes(kind) % 2**20 == 0 for kind in (PlotKind(V2, 28), PlotKind(V1, 25)))


def test_levels_shrink_plots_and_gigahorse_is_smaller_than_bladebit():
    for family in (BLADEBIT, GIGAHORSE):
        sizes = [expected_plot_bytes(PlotKind(V1, 32, level, family)) for level in range(1, 10)]
        assert sizes == sorted(sizes, reverse=True)
        assert sizes[0] < expected_plot_bytes(PlotKind(V1, 32))
    for level in range(1, 10):
        assert expected_plot_bytes(PlotKind(V1, 32, level, GIGAHORSE)) <= expected_plot_bytes(
            PlotKind(V1, 32, level, BLADEBIT))


def test_the_old_call_by_k_and_level_keeps_working():
    assert expected_plot_bytes(32) == expected_plot_bytes(None) == expected_plot_bytes(PlotKind(V1, 32))
    assert expected_plot_bytes(32, 7) == expected_plot_bytes(PlotKind(V1, 32, 7, BLADEBIT))
    assert expected_plot_bytes(32, 8, GIGAHORSE) == expected_plot_bytes(PlotKind(V1, 32, 8, GIGAHORSE))
    assert 0.6 * GIB < expected_plot_bytes(25) < 0.9 * GIB  # k25 measured 0.626 GiB
    assert expected_plot_bytes(33) > 208.8 * GIB


@pytest.mark.parametrize(
    ("plotter", "k", "level", "kind"),
    [
        ("chia", 32, None, PlotKind(V1, 32)),
        ("bladebit", 32, 7, PlotKind(V1, 32, 7, BLADEBIT)),
        ("bladebit", 32, 0, PlotKind(V1, 32)),
        ("madmax", 32, 8, PlotKind(V1, 32, 8, GIGAHORSE)),
        ("gigahorse", 32, 18, PlotKind(V1, 32, 18, GIGAHORSE)),
        ("chia_v2", 28, None, PlotKind(V2, 28)),
        ("chia_v2", None, None, PlotKind(V2, 28)),
        (None, None, None, PlotKind(V1, 32)),
    ],
)
def test_the_kind_a_job_makes(plotter, k, level, kind):
    assert kind_for_plotter(plotter, k, level) == kind


# --- finished plots in dst dirs, kill clean-up, transfers ----------------------------------------


def test_dst_dirs_list_plot_and_plot2(tmp_path):
    for name in (V1_PLOT, V2_PLOT, f"{V2_PLOT}.tmp", f".{V1_PLOT}.Ab12Cd", "odd-name.plot"):
        (tmp_path / name).write_bytes(b"x" * 3)
    plots = {plot.name: plot for plot in list_plots(str(tmp_path))}
    assert set(plots) == {V1_PLOT, V2_PLOT, "odd-name.plot"}
    assert plots[V2_PLOT].as_dict()["kind"] == "v2-k28"
    assert (plots["odd-name.plot"].kind, plots["odd-name.plot"].as_dict()["format"]) == (None, None)


def test_kill_clean_up_removes_plot2_temp_files_and_never_a_finished_plot(tmp_path):
    tmp, dst = tmp_path / "tmp", tmp_path / "dst"
    tmp.mkdir()
    dst.mkdir()
    temps = [tmp / f"{V2_PLOT}.tmp", dst / f"{V2_PLOT}.tmp"]
    finished = [dst / V2_PLOT, dst / f"plot-k32-c07-{DATE}-{ID}.plot", tmp / f"plot-k32-c8-{DATE}-{ID}.plot"]
    for path in [*temps, *finished]:
        path.write_bytes(b"x")
    found = temp_files([str(tmp), str(dst)], ID, open_paths=[str(p) for p in finished])
    assert found == sorted(str(p) for p in temps)

    # even if a stale list of the job's files named the finished plots
    job = SimpleNamespace(plot_id=ID, tmp_files=[str(p) for p in [*temps, *finished]],
                          args=JobArgs("chia_v2", 28, tmp_dir=str(tmp), dst_dir=str(dst)))
    assert remove_temp_files(job) == sorted(str(p) for p in temps)
    assert all(path.exists() for path in finished)
    assert not any(path.exists() for path in temps)


def test_a_running_rsync_sending_a_plot2_is_a_transfer():
    parsed = parse_rsync_command(["rsync", "--fsync", f"/mnt/dst/{V2_PLOT}", "rsync://u@h:873/mod/"])
    assert parsed is not None and parsed[2]["module"] == "mod"
    assert parse_rsync_command(["rsync", f"/mnt/dst/{V2_PLOT}.tmp", "h::mod/"]) is None


# --- harvester: incoming files by their own kind, census --------------------------------------


@pytest.mark.parametrize(
    ("name", "subdir", "final", "kind"),
    [
        (f".{BLADEBIT_C7}.Ab12Cd", "", BLADEBIT_C7, "v1-k32-c7-bladebit"),
        (f".{V2_PLOT}.Ab12Cd", "", V2_PLOT, "v2-k28"),
        (V2_PLOT, ".rsync-partial", V2_PLOT, "v2-k28"),
        (f"{V2_PLOT}.tmp", "", V2_PLOT, "v2-k28"),
        (f"{GIGAHORSE_C18}.tmp", "", GIGAHORSE_C18, "v1-k32-c18-gigahorse"),
    ],
)
def test_incoming_files_are_sized_by_their_own_kind(name, subdir, final, kind):
    incoming = classify_incoming(FileInfo(name, 1, subdir))
    assert (incoming.final_name, incoming.plot_kind) == (final, kind)
    assert incoming.expected_bytes == expected_plot_bytes(plot_kind(final))


def test_a_c7_plot_in_flight_leaves_room_for_a_c7_plot_only():
    incoming = classify_incoming(FileInfo(f".{BLADEBIT_C7}.Ab12Cd", 10 * GIB))
    assert incoming.expected_bytes < expected_plot_bytes(32) - 20 * GIB


def test_census_by_kind_and_recent_arrivals():
    plots = [(V1_PLOT, 100, 1000.0), (f"plot-k32-{DATE}-{'b' * 64}.plot", 101, 5000.0),
             (BLADEBIT_C5, 80, 2000.0), (V2_PLOT, 9, 9000.0), (f"plot-k28-{'d' * 64}.plot2", 10, 9500.0),
             ("odd-name.plot", 5, 9999.0)]
    census = plot_census(plots, since=4000.0, window_seconds=6000)
    rows = {entry["kind"]: entry for entry in census["kinds"]}
    assert [entry["kind"] for entry in census["kinds"]] == ["v1-k32", "v1-k32-c5-bladebit", "v2-k28", "unknown"]
    assert (rows["v1-k32"]["plots"], rows["v1-k32"]["bytes"], rows["v1-k32"]["recent_plots"]) == (2, 201, 1)
    assert (rows["v2-k28"]["recent_plots"], rows["v2-k28"]["recent_bytes"], rows["v2-k28"]["newest_mtime"]) == (
        2, 19, 9500.0)
    assert rows["unknown"]["format"] is None
    merged = merge_census([census, census])
    assert {entry["kind"]: entry["plots"] for entry in merged["kinds"]} == {
        "v1-k32": 4, "v1-k32-c5-bladebit": 2, "v2-k28": 4, "unknown": 2}
    assert merged["window_seconds"] == 6000


def test_a_dir_is_read_in_one_pass_with_its_census(tmp_path):
    for name in (V1_PLOT, BLADEBIT_C5, V2_PLOT, f"plot-k28-{'e' * 64}.plot2"):
        (tmp_path / name).write_bytes(b"p" * 10)
    (tmp_path / f".{V2_PLOT}.Ab12Cd").write_bytes(b"i")  # arriving: not counted as a plot
    old = tmp_path / V1_PLOT
    os.utime(old, (1_000_000, 1_000_000))
    snapshot = snapshot_dir(str(tmp_path))
    report = report_dir(ArchiveDir(str(tmp_path)), snapshot, with_names=False).as_dict()
    assert report["plots"] == 4 and report["plot_bytes"] == 40
    assert report["plot_names"] is None
    kinds = {entry["kind"]: (entry["plots"], entry["recent_plots"]) for entry in report["census"]["kinds"]}
    assert kinds == {"v1-k32": (1, 0), "v1-k32-c5-bladebit": (1, 1), "v2-k28": (2, 2)}
    assert [item["plot_kind"] for item in report["incoming"]] == ["v2-k28"]
    with_names = report_dir(ArchiveDir(str(tmp_path)), snapshot).as_dict()
    assert with_names["plot_names"][0] == V1_PLOT  # oldest first
    assert report["plots_by_k"] == {"28": 2, "32": 2}


def test_the_census_fast_path_answers_as_the_definition():
    known: dict = {}
    names = [V1_PLOT, BLADEBIT_C5, GIGAHORSE_C8, GIGAHORSE_C18, V2_PLOT, f"plot-k32-{DATE}-{'b' * 64}.plot",
             f"plot-k32-{DATE}-{'A' * 64}.plot", f"plot-k28-{'a' * 63}.plot2", f"plot-k28-{ID}.plot",
             f"plot-k32-{DATE}-{ID}.plot2", "odd.plot", "x" * 90 + ".plot", f"plot-k32-2026-0102-03-04-{ID}.plot",
             f"plot-mmx-k32-{DATE}-{ID}.plot", f"plot-k32-c05-{DATE}-{'c' * 64}.plot"]
    for name in names + names:  # the second time from what the first taught it
        assert _kind_of_name(name, known) == plot_kind(name), name
