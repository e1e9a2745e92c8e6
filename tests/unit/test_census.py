"""Farm census and replot progress: shares, rate, time left and the deadline, from space results."""

from __future__ import annotations

import datetime as dt

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import GIB, V2_K28_BYTES, plot_census
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.census import (
    CensusSettingsError,
    fleet_census,
    render_census,
    replot_deadline,
    replot_target,
)
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.report import fleet_report, render_status
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.space_report import fleet_space_report, render_space_table

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()
DAY = 86400
V1 = 101 * GIB


def _name(kind: str, index: int) -> str:
    plot_id = f"{index:064x}"
    if kind == "v2":
        return f"plot-k28-{plot_id}.plot2"
    level = {"v1": "", "c7": "-c07", "c8": "-c8"}[kind]
    return f"plot-k32{level}-2025-01-01-00-00-{plot_id}.plot"


def _dir(path: str, plots: list[tuple[str, int, float]], error: str | None = None) -> dict:
    if error:
        return {"path": path, "error": error}
    return {"path": path, "error": None, "plots": len(plots),
            "census": plot_census(plots, NOW - DAY, DAY)}


def _fleet() -> list[dict]:
    # h1: 100 old v1 plots; h2: 20 C7 plots and 1,000 v2 plots, 200 of them from the last day
    old = NOW - 30 * DAY
    h1 = [(_name("v1", i), V1, old) for i in range(100)]
    h2_c7 = [(_name("c7", i), 78 * GIB, old) for i in range(20)]
    h2_v2 = [(_name("v2", i), V2_K28_BYTES, NOW - 3600 if i < 200 else old) for i in range(1000)]
    return [
        {"host": "h1", "archive_dirs": [_dir("/a", h1), _dir("/gone", [], error="/gone does not exist")]},
        {"host": "h2", "archive_dirs": [_dir("/b", h2_c7), _dir("/c", h2_v2)]},
    ]


def test_shares_rate_and_time_left_for_the_fleet():
    census = fleet_census(_fleet(), "v2", "2027-06-01", now=NOW)
    total = 100 * V1 + 20 * 78 * GIB + 1000 * V2_K28_BYTES
    assert (census["plots"], census["bytes"]) == (1120, total)
    assert (census["target_plots"], census["target_bytes"]) == (1000, 1000 * V2_K28_BYTES)
    assert census["target_share"] == round(1000 * V2_K28_BYTES / total, 4)
    assert census["target_share_plots"] == round(1000 / 1120, 4)
    assert (census["rate_plots_per_day"], census["rate_bytes_per_day"]) == (200, 200 * V2_K28_BYTES)
    remaining = 100 * V1 + 20 * 78 * GIB
    assert census["remaining_bytes"] == remaining
    assert census["remaining_plots"] == -(-remaining // V2_K28_BYTES)
    days = remaining / (200 * V2_K28_BYTES)
    assert census["days_left"] == round(days, 1)
    assert census["finish_date"] == (dt.date(2026, 12, 1) + dt.timedelta(days=days)).isoformat()
    assert census["on_track"] is True
    assert "before the deadline 2027-06-01" in census["verdict"]
    kinds = {kind["kind"]: kind for kind in census["kinds"]}
    assert set(kinds) == {"v1-k32", "v1-k32-c7-bladebit", "v2-k28"}
    assert kinds["v2-k28"]["recent_plots"] == 200


def test_per_dir_and_per_host_shares_skip_unreadable_dirs():
    census = fleet_census(_fleet(), now=NOW)
    assert [(d["host"], d["path"], d["target_share"]) for d in census["dirs"]] == [
        ("h1", "/a", 0.0), ("h2", "/b", 0.0), ("h2", "/c", 1.0)]
    hosts = {h["host"]: h for h in census["hosts"]}
    assert (hosts["h1"]["target_plots"], hosts["h2"]["target_plots"], hosts["h2"]["plots"]) == (0, 1000, 1020)


def test_a_deadline_too_close_is_said_plainly():
    census = fleet_census(_fleet(), "v2", dt.date(2026, 12, 10), now=NOW)
    assert census["on_track"] is False
    assert "AFTER the deadline 2026-12-10" in census["verdict"]


def test_no_arrivals_means_no_rate_and_a_deadline_missed():
    quiet = [{"host": "h1", "archive_dirs": [_dir("/a", [(_name("v1", 1), V1, NOW - 9 * DAY)])]}]
    census = fleet_census(quiet, "v2", "2027-06-01", now=NOW)
    assert (census["days_left"], census["finish_date"], census["on_track"]) == (None, None, False)
    assert census["verdict"] == ("no v2 plots arrived in the last 24 h: no rate to project; "
                                 "the deadline 2027-06-01 cannot be met at this rate")


def test_a_farm_all_in_the_target_format_is_done():
    done = [{"host": "h1", "archive_dirs": [_dir("/a", [(_name("v2", 1), V2_K28_BYTES, NOW - 9 * DAY)])]}]
    census = fleet_census(done, now=NOW)
    assert (census["days_left"], census["remaining_plots"], census["verdict"]) == (0.0, 0, "done: every plot is v2")


def test_target_v1_counts_v1_plots_of_every_level():
    census = fleet_census(_fleet(), "V1", now=NOW)
    assert (census["target"], census["target_plots"]) == ("v1", 120)


@pytest.mark.parametrize(
    ("target", "deadline", "message"),
    [
        ("v3", None, "plotfleet_replot_target: must be one of v1, v2, got 'v3'"),
        (2, None, "plotfleet_replot_target: must be one of v1, v2, got 2"),
        ("v2", "June", "plotfleet_replot_deadline: must be a date (YYYY-MM-DD, e.g. 2027-06-01), got 'June'"),
        ("v2", 2027, "plotfleet_replot_deadline: must be a date (YYYY-MM-DD, e.g. 2027-06-01), got 2027"),
    ],
)
def test_bad_settings_name_their_variable(target, deadline, message):
    with pytest.raises(CensusSettingsError) as err:
        fleet_census([], target, deadline)
    assert str(err.value) == message


def test_settings_from_yaml_dates_and_text():
    assert replot_target(None) == replot_target("") == "v2"
    assert replot_deadline(dt.date(2027, 6, 1)) == replot_deadline("2027-06-01") == dt.date(2027, 6, 1)
    assert replot_deadline(dt.datetime(2027, 6, 1, 12, 0)) == dt.date(2027, 6, 1)
    assert replot_deadline(None) is None


def test_the_census_as_text_and_in_the_space_table():
    census = fleet_census(_fleet(), "v2", "2027-06-01", now=NOW)
    text = render_census(census)
    assert "v1 k32 C7 bladebit" in text and "LAST 24 H" in text
    assert "v2: " in text and "200 plots/day" in text
    assert "to replot:" in text and "before the deadline 2027-06-01" in text
    results = {"h1": {"archive_dirs": _fleet()[0]["archive_dirs"], "host": {}}}
    space = fleet_space_report(results, "v2", "2027-06-01")
    table = render_space_table(space)
    assert "REPLOTTED" in table.splitlines()[0] and "CENSUS" in table
    assert space["census"]["deadline"] == "2027-06-01"


def test_status_has_a_replot_section_and_the_census_in_its_json():
    hostvars = {"h1": {"plotfleet_space_info": {"archive_dirs": _fleet()[1]["archive_dirs"], "host": {}}}}
    report = fleet_report(hostvars, [], ["h1"], replot_deadline="2027-06-01")
    assert report["census"]["target_plots"] == 1000 and report["census"]["deadline"] == "2027-06-01"
    text = render_status(report)
    assert "\nREPLOT\n" in text and text.count("KIND") == 1
