"""The playbooks' -e options, checked in one place with the option's own name (issue 11 §5)."""

from __future__ import annotations

import pytest

from ansible_collections.plotfleet.fleet.plugins.plugin_utils.options import OPTIONS, check_options


def test_archive_options_take_units_and_strings_as_typed():
    options = check_options({"plotfleet_wait": "true", "plotfleet_margin": "512M", "plotfleet_bwlimit": "50M",
                             "plotfleet_busy_phase": "", "plotfleet_temp_dir": ".incoming/"}, "archive")
    assert options == {"problems": [], "wait": True, "margin": 512 * 1024**2, "bwlimit": 51200, "busy_phase": "",
                       "temp_dir": ".incoming", "flush": "auto"}


def test_archive_defaults():
    assert check_options({}, "archive") == {"problems": [], "wait": False, "margin": None, "busy_phase": "3:7",
                                            "temp_dir": None, "bwlimit": None, "flush": "auto"}


@pytest.mark.parametrize(("given", "problem"), [
    ({"plotfleet_flush": "sometimes"}, "plotfleet_flush: must be one of"),
    ({"plotfleet_margin": "512 apples"}, 'plotfleet_margin: must be a size'),
    ({"plotfleet_margin": -1}, "plotfleet_margin: must be a size"),
    ({"plotfleet_bwlimit": "fast"}, 'plotfleet_bwlimit: must be KiB per second'),
    ({"plotfleet_bwlimit": 0}, "plotfleet_bwlimit: must be an integer >= 1, got 0"),
    ({"plotfleet_busy_phase": "9:9"}, 'plotfleet_busy_phase: must be a phase major:minor'),
    ({"plotfleet_wait": "maybe"}, 'plotfleet_wait: must be true or false, got "maybe"'),
    ({"plotfleet_temp_dir": "../x"}, "plotfleet_temp_dir: must be a dir inside each rsync module"),
])
def test_bad_archive_options_are_named_as_typed(given, problem):
    problems = check_options(given, "archive")["problems"]
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_control_needs_a_long_enough_prefix_and_a_state():
    assert check_options({}, "control")["problems"] == [
        "plotfleet_plot_id: missing; give -e plotfleet_plot_id=<8+ hex digits, or pid:N> "
        "-e plotfleet_state=suspended|running|killed",
        "plotfleet_state: missing; give -e plotfleet_plot_id=<8+ hex digits, or pid:N> "
        "-e plotfleet_state=suspended|running|killed",
    ]
    short = check_options({"plotfleet_plot_id": "3e1c", "plotfleet_state": "killed"}, "control")
    assert short["problems"][0].startswith("plotfleet_plot_id: give at least 8 characters of the plot id, got '3e1c'")
    ok = check_options({"plotfleet_plot_id": "3E1C0A7B99", "plotfleet_state": "killed", "plotfleet_force": "yes"},
                       "control")
    assert ok == {"problems": [], "plot_id": "3e1c0a7b99", "state": "killed", "force": True}
    assert check_options({"plotfleet_plot_id": "pid:4242", "plotfleet_state": "running"}, "control")["plot_id"] == \
        "pid:4242"


def test_analysis_problems_carry_the_prefixed_name():
    given = {"plotfleet_group_by": "host,colour", "plotfleet_since": "yesterday"}
    problems = check_options(given, "analyze")["problems"]
    assert any(p.startswith("plotfleet_group_by: unknown field(s) colour") for p in problems), problems
    assert any(p.startswith("plotfleet_since:") for p in problems), problems


def test_output_choices():
    assert check_options({"plotfleet_output": "json"}, "status")["output"] == "json"
    assert check_options({"plotfleet_output": "xml"}, "harvester_space")["problems"] == [
        'plotfleet_output: must be one of table, json, got "xml"']


def test_every_option_is_prefixed():
    assert all(name.startswith("plotfleet_") for options in OPTIONS.values() for name in options)
