"""filter_plugins/plotfleet.py: every filter name leads to real controller code, and loading the file
imports none of it (Ansible loads it in every task worker that templates any filter)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILTER_FILE = ROOT / "filter_plugins" / "plotfleet.py"


def load_filter_file():
    spec = importlib.util.spec_from_file_location("plotfleet_filters_under_test", FILTER_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILTERS = load_filter_file()


@pytest.mark.parametrize("name", sorted(FILTERS.FILTERS))
def test_every_filter_names_a_function_that_exists(name):
    module, function = FILTERS.FILTERS[name]
    target = FILTERS.controller_code(module, function)
    assert callable(target), (name, module, function)
    assert FILTERS.FilterModule().filters()[name].__name__ == function


def test_every_filter_a_playbook_uses_is_defined():
    """A name used in a playbook or role but missing here would only fail when that task runs."""
    defined = set(FILTERS.FilterModule().filters())
    used = set()
    for path in [*ROOT.glob("playbooks/**/*.yml"), *ROOT.glob("roles/**/*.yml"), *ROOT.glob("roles/**/*.j2")]:
        used.update(re.findall(r"\|\s*(plotfleet_\w+)", path.read_text()))
    assert used, "no plotfleet filter found in the playbooks: the scan is broken"
    assert used <= defined, sorted(used - defined)


def test_a_filter_passes_its_arguments_and_answer_through():
    filters = FILTERS.FilterModule().filters()
    problems = filters["plotfleet_options"]({"plotfleet_output": "bogus"}, "status")["problems"]
    assert any("plotfleet_output" in problem for problem in problems), problems


def test_the_wrapped_filters_keep_their_errors():
    filters = FILTERS.FilterModule().filters()
    assert "error" in filters["plotfleet_resolve_prefix"]({}, [], "zz")
    assert inspect.signature(filters["plotfleet_space_report"]).parameters["var"].default == "harvester_space"


def test_loading_the_file_imports_no_controller_code():
    code = (
        "import importlib.util, json, sys\n"
        "from ansible.plugins.loader import init_plugin_loader\n"
        f"init_plugin_loader([{str(ROOT)!r}])\n"
        f"spec = importlib.util.spec_from_file_location('f', {str(FILTER_FILE)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "module.FilterModule().filters()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('ansible_collections.plotfleet'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}).stdout
    loaded = json.loads(out.splitlines()[-1])
    assert not [name for name in loaded if ".plugin_utils." in name or ".module_utils." in name], loaded
