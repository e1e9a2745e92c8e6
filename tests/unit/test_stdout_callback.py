"""The project's stdout callback (plugins/callback/fleet.py) and what it does for the whole run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# In a fresh Python, as ansible-playbook loads it: the callback from the collection, Ansible's CLI
# arguments set, then the two calls that begin and end a playbook run.
RUN = textwrap.dedent("""
    import gc, json, sys, types
    from ansible import context
    from ansible.plugins.loader import callback_loader, filter_loader, init_plugin_loader
    init_plugin_loader()
    context.CLIARGS = context.CLIArgs({"check": False, "args": []})
    callback = callback_loader.get("plotfleet.fleet.fleet")
    callback.set_options()
    seen = {"before": gc.get_freeze_count()}
    callback.v2_playbook_on_start(types.SimpleNamespace(_file_name="status.yml"))
    seen["started"] = gc.get_freeze_count()
    seen["tracked"] = len(gc.get_objects())
    seen["filters"] = "ansible_collections.plotfleet.fleet.plugins.plugin_utils.report" in sys.modules
    seen["plotfleet_filters_loaded"] = any(name.startswith("ansible.plugins.filter.") and "plotfleet" in name
                                           for name in sys.modules)
    late = [[index] for index in range(50000)]  # made during the run: collected as usual
    seen["late_tracked"] = len(gc.get_objects())
    stats = types.SimpleNamespace(processed={}, custom={}, summarize=lambda host: {})
    callback.v2_playbook_on_stats(stats)
    seen["ended"] = gc.get_freeze_count()
    print(json.dumps(seen))
""")


def run_callback() -> dict:
    result = subprocess.run([sys.executable, "-c", RUN], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": "/usr/bin:/bin",
                                 "HOME": str(Path.home())})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_what_a_run_loaded_is_frozen_before_the_first_worker_forks_and_again_at_the_end() -> None:
    seen = run_callback()

    assert seen["before"] == 0
    assert seen["started"] > 10000  # Ansible, the plugins, the playbook: out of the collector's way
    assert seen["tracked"] < seen["started"] / 10  # the collector's generations hold little after that
    assert seen["late_tracked"] >= 50000  # what the run makes later is still collected as usual
    assert seen["ended"] >= seen["started"] + 50000  # the end freezes it too: nothing is traversed at exit


def test_the_filter_files_are_loaded_once_in_the_playbook_process_without_the_controller_code() -> None:
    seen = run_callback()

    assert seen["plotfleet_filters_loaded"], seen
    assert not seen["filters"], "loading the filter file imported the report code"
