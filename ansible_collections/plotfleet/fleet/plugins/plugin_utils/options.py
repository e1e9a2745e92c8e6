"""The playbooks' own options (``-e plotfleet_...``), checked in one place before any host is touched.

Each playbook's first play runs ``playbooks/tasks/options.yml`` on the controller: it reads the
options of that playbook from localhost's variables (extra vars land there), checks every one with
the config's own checkers (sizes with units, paths, choices) and stops the run with one message
naming each bad option exactly as the operator typed it. The playbook then reads the checked,
typed values from ``hostvars['localhost'].plotfleet_options``.

Every option carries the ``plotfleet_`` prefix: a bare ``state``, ``output`` or ``wait`` would
collide with inventory variables of the same name. Values arrive as YAML/JSON (``-e '{"plotfleet_wait":
true}'``) or as strings (``-e plotfleet_wait=true``); both are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.checks import (
    Invalid,
    bad,
    check_choice,
    check_int,
    check_path,
    check_size,
    check_str,
)
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.analysis import option_problems

MIN_PLOT_ID_PREFIX = 8
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_PHASE = re.compile(r"([1-5]):(\d+)\Z")


def check_flag(value: Any, name: str) -> bool:
    """true/false, also as the strings ``-e name=true`` gives (yes/no, on/off, 1/0)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int)) and str(value).strip().lower() in _TRUE + _FALSE:
        return str(value).strip().lower() in _TRUE
    raise bad(name, "true or false", value)


def check_count(value: Any, name: str, minimum: int) -> int:
    """An integer, also from the string ``-e name=3`` gives."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return check_int(value, name, minimum)


def check_phase_or_empty(value: Any, name: str) -> str:
    """A phase ``major:minor`` (1-5, >= 0), or "" for none."""
    if value in ("", None):
        return ""
    if isinstance(value, str) and _PHASE.match(value.strip()):
        return value.strip()
    raise bad(name, 'a phase major:minor such as "3:7" (major 1-5), or "" for none', value)


def check_bwlimit(value: Any, name: str) -> int:
    """KiB/s as rsync's --bwlimit takes it: an integer, or a rate with a unit ("50M" = 51200 KiB/s)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return check_int(value, name, 1)
    try:
        kib = check_size(value, name) // 1024
    except Invalid:
        raise bad(name, 'KiB per second: an integer >= 1, or a rate with a unit such as "50M"', value) from None
    if kib < 1:
        raise bad(name, "at least 1 KiB per second", value)
    return kib


def check_module_subdir(value: Any, name: str) -> str:
    """A dir inside each rsync module: relative, no '..'."""
    text = check_str(value, name).strip().strip("/")
    if value.startswith("/") or ".." in text.split("/") or not text:
        raise bad(name, "a dir inside each rsync module (relative, without '..')", value)
    return text


def check_plot_id(value: Any, name: str) -> str:
    """A plot-id prefix of at least MIN_PLOT_ID_PREFIX hex digits, or pid:N for a job with no id yet."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if re.fullmatch(r"pid:\d+", text):
        return text
    if not re.fullmatch(r"[0-9a-fA-F]+", text):
        raise bad(name, "a plot id prefix (hex digits) or pid:<pid>", value)
    if len(text) < MIN_PLOT_ID_PREFIX:
        raise Invalid(f"{name}: give at least {MIN_PLOT_ID_PREFIX} characters of the plot id, got {text!r} "
                      "(a short prefix may match another job once this one ends)")
    return text.lower()


def _choice(*choices: str) -> Callable[[Any, str], str]:
    return lambda value, name: check_choice(value, name, choices)


def _count(minimum: int) -> Callable[[Any, str], int]:
    return lambda value, name: check_count(value, name, minimum)


def _any_text(value: Any, name: str) -> str:
    return "" if value is None else str(value)


# playbook -> option -> (checker, default, required). The default is returned as is, unchecked.
Option = tuple[Callable[[Any, str], Any], Any, bool]
OPTIONS: dict[str, dict[str, Option]] = {
    "archive": {
        "plotfleet_wait": (check_flag, False, False),
        "plotfleet_margin": (check_size, None, False),
        "plotfleet_busy_phase": (check_phase_or_empty, "3:7", False),
        "plotfleet_temp_dir": (check_module_subdir, None, False),
        "plotfleet_bwlimit": (check_bwlimit, None, False),
        "plotfleet_flush": (_choice("auto", "fsync", "flush"), "auto", False),
    },
    "status": {
        "plotfleet_output": (_choice("table", "json", "prometheus"), "table", False),
        "plotfleet_textfile": (check_path, "/var/lib/prometheus/node-exporter/plotfleet.prom", False),
    },
    "harvester_space": {
        "plotfleet_output": (_choice("table", "json"), "table", False),
    },
    "control": {
        "plotfleet_plot_id": (check_plot_id, None, True),
        "plotfleet_state": (_choice("suspended", "running", "killed"), None, True),
        "plotfleet_force": (check_flag, False, False),
    },
    "analyze": {
        "plotfleet_group_by": (_any_text, "host", False),
        "plotfleet_since": (_any_text, "", False),
        "plotfleet_until": (_any_text, "", False),
        "plotfleet_completed_only": (check_flag, True, False),
        "plotfleet_csv": (check_path, None, False),
        "plotfleet_csv_groups": (check_path, None, False),
        "plotfleet_log_dir": (check_path, None, False),
        "plotfleet_output": (_choice("table", "json"), "table", False),
    },
    "plot": {
        "plotfleet_max_starts": (_count(1), None, False),
    },
    "jobs": {
        "plotfleet_show": (_choice("details", "logs", "files", "dsched"), None, True),
        "plotfleet_plot_id": (check_plot_id, None, False),
        "plotfleet_lines": (_count(1), 40, False),
    },
}
# What each playbook needs besides its options, said when a required one is missing.
USAGE = {
    "control": "give -e plotfleet_plot_id=<8+ hex digits, or pid:N> -e plotfleet_state=suspended|running|killed",
    "jobs": "give -e plotfleet_show=details|logs|files|dsched (details and logs also -e plotfleet_plot_id=<8+ hex "
            "digits, or pid:N>)",
}


def check_options(given: Mapping[str, Any], playbook: str) -> dict[str, Any]:
    """``{'problems': [...], <option without its plotfleet_ prefix>: checked value, ...}``.

    ``given`` is localhost's variables (``hostvars['localhost']``); only this playbook's options are
    read. An option given as null or "" counts as not given.
    """
    if playbook not in OPTIONS:
        return {"problems": [f"plotfleet_options: no options known for playbook {playbook!r}"]}
    result: dict[str, Any] = {"problems": []}
    for name, (check, default, required) in OPTIONS[playbook].items():
        value = given.get(name) if hasattr(given, "get") else None
        key = name.removeprefix("plotfleet_")
        # "" is a value for some options (plotfleet_group_by= groups all plots together, no busy phase).
        if value is None or (isinstance(value, str) and not value.strip()
                             and check not in (check_phase_or_empty, _any_text)):
            if required:
                result["problems"].append(f"{name}: missing; {USAGE.get(playbook, 'see the playbook header')}")
            result[key] = default
            continue
        try:
            result[key] = check(value, name)
        except Invalid as error:
            result["problems"].extend(error.lines)
            result[key] = default
    if playbook == "analyze":
        _check_analysis(result)
    return result


def _check_analysis(result: dict[str, Any]) -> None:
    """group_by, since and until as the analysis reads them, named as the operator typed them."""
    for problem in option_problems(result["group_by"], result["since"] or None, result["until"] or None):
        option, _, rest = problem.partition(":")
        result["problems"].append(f"plotfleet_{option}:{rest}")
