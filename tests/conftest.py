"""Shared test settings.

The project's Python lives in the plotfleet.fleet collection under ``ansible_collections/``. Tests
import it as Ansible does: Ansible's own collection loader is installed once, first, with the
project root as its collections path, so host code imports as
``ansible_collections.plotfleet.fleet.plugins.module_utils.*`` and controller code as
``...plugins.plugin_utils.*`` through one finder for the whole session (code that starts Ansible's
inventory or plugin loader in-process, like the dashboard, then finds it already in place).
"""

from __future__ import annotations

from pathlib import Path

from ansible.plugins.loader import init_plugin_loader

ROOT = Path(__file__).resolve().parent.parent

init_plugin_loader([str(ROOT)])


# scripts/test runs the suite on two pytest-xdist workers (--dist loadgroup). Two streams of about
# the same length, each run in order by one worker: the integration tests (their rsync daemons and
# chia farm take loopback ports, so they never run beside one another) with the fleet files listed
# here, and the other fleet files (each fleet lives in network namespaces of its own). Unit tests
# go to whichever worker is free.
STREAM_WITH_INTEGRATION = {"test_fleet_mixed.py", "test_fleet_releases.py", "test_fleet_old_rsync.py",
                           "test_fleet_mounts.py", "test_harness.py"}


def pytest_collection_modifyitems(config, items) -> None:
    import pytest

    for item in items:
        path = Path(str(item.fspath))
        if path.parent.name == "integration" or path.name in STREAM_WITH_INTEGRATION:
            item.add_marker(pytest.mark.xdist_group("integration"))
        elif path.parent.name == "fleet":
            item.add_marker(pytest.mark.xdist_group("fleet"))
