"""Log statistics: options, selection, grouping, medians, CSV rows, hosts that did not report."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.logs import read_logs
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.analysis import (
    AnalysisOptions,
    analyze,
    fleet_plots,
    groups_csv,
    option_problems,
    parse_options,
    plots_csv,
    render_analysis,
    select_plots,
    summarize,
)

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"


def plot(n: int, *, host: str = "p1", tmp: str = "/mnt/t0", phases: tuple[float, ...] = (100, 40, 80, 10),
         copy: float | None = 5.0, completed: bool = True, started_at: str | None = "2026-11-02T10:00:00",
         k: int = 32) -> dict:
    return {
        "host": host, "path": f"/var/log/plotfleet/plots/{n}.log", "plot_id": f"{n:064x}", "plotter": "chia",
        "k": k, "phase_text": "5:3" if completed else "2:1", "tmp_dir": tmp, "tmp2_dir": None, "dst_dir": "/mnt/d0",
        "phase_seconds": {str(i + 1): s for i, s in enumerate(phases)},
        "total_seconds": sum(phases) if completed else None, "copy_seconds": copy, "completed": completed,
        "started_at": started_at, "threads": 2, "buckets": 128, "buffer": 3389, "plot_file": None,
    }


def fleet(*plots: dict, problems: tuple[str, ...] = ()) -> dict:
    return {"plots": list(plots), "hosts": sorted({p["host"] for p in plots}), "problems": list(problems)}


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_summary_has_count_mean_median_min_max_and_skips_unknown_values() -> None:
    assert summarize([4, None, 1, 10, 3]) == {"count": 4, "mean": 4.5, "median": 3.5, "min": 1.0, "max": 10.0}
    assert summarize([None]) == {"count": 0, "mean": None, "median": None, "min": None, "max": None}


def test_groups_by_two_fields_with_medians_per_phase_total_and_copy() -> None:
    plots = [plot(1, tmp="/mnt/t0", phases=(100, 40, 80, 10)), plot(2, tmp="/mnt/t0", phases=(300, 60, 90, 20)),
             plot(3, tmp="/mnt/t0", phases=(200, 50, 85, 15), copy=None), plot(4, host="p2", tmp="/mnt/t0"),
             plot(5, tmp="/mnt/t1")]
    analysis = analyze(fleet(*plots), group_by="host,tmp_dir")

    keys = [(g["key"]["host"], g["key"]["tmp_dir"], g["count"]) for g in analysis["groups"]]
    assert keys == [("p1", "/mnt/t0", 3), ("p1", "/mnt/t1", 1), ("p2", "/mnt/t0", 1)]
    first = analysis["groups"][0]["stats"]
    assert first["phase:1"] == {"count": 3, "mean": 200.0, "median": 200.0, "min": 100.0, "max": 300.0}
    assert first["total_seconds"]["median"] == 350.0
    assert first["copy_seconds"] == {"count": 2, "mean": 5.0, "median": 5.0, "min": 5.0, "max": 5.0}


def test_median_of_an_even_count_is_the_middle_pair_mean() -> None:
    analysis = analyze(fleet(*(plot(n, phases=(s, 1, 1, 1)) for n, s in enumerate([10, 40, 20, 30]))), group_by="")
    assert analysis["group_by"] == []
    assert analysis["groups"][0]["stats"]["phase:1"]["median"] == 25.0


def test_incomplete_plots_are_left_out_unless_asked_for() -> None:
    plots = fleet(plot(1), plot(2, completed=False, phases=(100,)))
    analysis = analyze(plots)
    assert [p["plot_id"] for p in analysis["plots"]] == [f"{1:064x}"]
    assert analysis["excluded"] == {"incomplete": 1}
    everything = analyze(plots, completed_only="false")
    assert everything["groups"][0]["count"] == 2
    assert everything["groups"][0]["stats"]["total_seconds"]["count"] == 1


def test_since_and_until_select_by_start_time_with_until_day_included() -> None:
    plots = fleet(plot(1, started_at="2026-10-31T23:59:59"), plot(2, started_at="2026-11-01T00:00:00"),
                  plot(3, started_at="2026-11-30T23:00:00"), plot(4, started_at="2026-12-01T00:00:00"),
                  plot(5, started_at=None))
    analysis = analyze(plots, since="2026-11-01", until="2026-11-30")
    assert [p["path"].rsplit("/", 1)[1] for p in analysis["plots"]] == ["2.log", "3.log"]
    assert analysis["excluded"] == {"before since": 1, "after until": 1, "no start time": 1}
    later = analyze(plots, since="2026-11-30T22:30")
    assert [p["path"].rsplit("/", 1)[1] for p in later["plots"]] == ["3.log", "4.log"]


def test_day_groups_by_start_date() -> None:
    plots = fleet(plot(1, started_at="2026-11-02T01:00:00"), plot(2, started_at="2026-11-02T23:00:00"),
                  plot(3, started_at="2026-11-03T00:30:00"))
    analysis = analyze(plots, group_by=["day"])
    assert [(g["key"]["day"], g["count"]) for g in analysis["groups"]] == [("2026-11-02", 2), ("2026-11-03", 1)]


def test_groups_with_unknown_values_sort_last() -> None:
    analysis = analyze(fleet(plot(1, tmp=None), plot(2, tmp="/mnt/t9")), group_by="tmp_dir")
    assert [g["key"]["tmp_dir"] for g in analysis["groups"]] == ["/mnt/t9", None]


@pytest.mark.parametrize(("options", "expected"), [
    ({"group_by": "host,colour"}, "group_by: unknown field(s) colour; allowed: host, plotter, k, tmp_dir"),
    ({"since": "2026-13-01"}, "since: must be a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM[:SS], got '2026-13-01'"),
    ({"until": "yesterday"}, "until: must be a date YYYY-MM-DD"),
    ({"since": "2026-11-05", "until": "2026-11-01"}, "until: must be after since (2026-11-05), got 2026-11-01"),
])
def test_bad_options_are_named_with_what_is_allowed(options: dict, expected: str) -> None:
    problems = option_problems(**options)
    assert len(problems) == 1
    assert problems[0].startswith(expected)
    with pytest.raises(ValueError, match=re.escape(expected)):
        parse_options(**options)


def test_every_problem_is_reported_at_once() -> None:
    assert len(option_problems("nope", "bad", "worse")) == 3


def test_plots_csv_has_one_row_per_plot_with_every_field() -> None:
    analysis = analyze(fleet(plot(1, phases=(10.5, 2, 3, 4)), plot(2, host="p2", copy=None)))
    table = rows(plots_csv(analysis))
    assert [r["host"] for r in table] == ["p1", "p2"]
    first = table[0]
    assert first["plot_id"] == f"{1:064x}"
    assert first["phase_1_seconds"] == "10.5"
    assert first["total_seconds"] == "19.5"
    assert first["completed"] == "true"
    assert first["day"] == "2026-11-02"
    assert first["tmp2_dir"] == ""
    assert table[1]["copy_seconds"] == ""
    assert {"path", "plotter", "k", "phase", "started_at", "tmp_dir", "dst_dir", "threads", "buckets", "buffer",
            "phase_4_seconds", "plot_file"} <= set(first)


def test_groups_csv_has_one_row_per_group_with_every_statistic() -> None:
    analysis = analyze(fleet(plot(1), plot(2, phases=(300, 60, 90, 20)), plot(3, host="p2")), group_by="host")
    table = rows(groups_csv(analysis))
    assert [(r["host"], r["plots"]) for r in table] == [("p1", "2"), ("p2", "1")]
    assert table[0]["phase_1_seconds_median"] == "200.0"
    assert table[0]["total_seconds_max"] == "470.0"
    assert "copy_seconds_mean" in table[0]


def test_unreachable_and_failed_hosts_are_reported_not_dropped() -> None:
    hostvars = {
        "p1": {"analyze_config": {"skipped": True}, "analyze_logs": {"plots": [plot(1)], "ignored": []}},
        "p2": {"analyze_config": {"unreachable": True, "msg": "ssh: connect to host p2: No route to host"}},
        "p3": {"analyze_logs": {"failed": True, "msg": "read plot logs: /var/log/x does not exist"}},
    }
    collected = fleet_plots(hostvars, ["p1", "p2", "p3"])
    assert [p["host"] for p in collected["plots"]] == ["p1"]
    assert collected["hosts"] == ["p1"]
    assert collected["problems"] == ["p2: unreachable: ssh: connect to host p2: No route to host",
                                     "p3: failed: read plot logs: /var/log/x does not exist"]
    text = render_analysis(analyze(collected))
    assert "HOSTS NOT REPORTING\n  p2: unreachable" in text


def test_table_shows_each_group_with_its_statistics() -> None:
    text = render_analysis(analyze(fleet(plot(1), plot(2, completed=False)), group_by="host,k"))
    lines = text.splitlines()
    assert lines[0] == "plotfleet analyze: 1 plots from 1 host(s) reporting, grouped by host, k"
    assert lines[1] == "left out: 1 incomplete"
    header = lines[3].split()
    assert header == ["HOST", "K", "PLOTS", "STAT", "PHASE", "1", "PHASE", "2", "PHASE", "3", "PHASE", "4",
                      "TOTAL", "COPY"]
    assert lines[4].split() == ["p1", "32", "1", "mean", "100", "s", "40", "s", "80", "s", "10", "s", "3m50s", "5.0",
                                "s"]
    assert [line.split()[0] for line in lines[5:8]] == ["median", "min", "max"]


def test_no_matching_plots_says_so() -> None:
    assert "(no plots match)" in render_analysis(analyze(fleet(plot(1)), since="2030-01-01"))


def test_real_logs_of_every_plotter() -> None:
    records, _ = read_logs(str(LOGS))
    analysis = analyze({"plots": [{"host": "h", **r} for r in records], "hosts": ["h"]}, group_by="plotter")
    counts = {g["key"]["plotter"]: g["count"] for g in analysis["groups"]}
    assert counts == {"bladebit": 4, "chia": 3, "chia_v2": 1, "madmax": 2}
    chia = next(g for g in analysis["groups"] if g["key"]["plotter"] == "chia")["stats"]
    # k18 runs of 2.178 and 2.316 s, the k25 run of 139.584 s.
    assert chia["total_seconds"]["median"] == 2.316
    assert chia["copy_seconds"]["count"] == 1


def test_options_default_to_per_host_completed_plots() -> None:
    assert parse_options() == AnalysisOptions(("host",), None, None, True)
    selected, excluded = select_plots([plot(1)], parse_options(group_by=None))
    assert len(selected) == 1
    assert excluded == {}
