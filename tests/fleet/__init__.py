"""The multi-host test fleet: hosts and a controller in Linux namespaces on one machine.

``fleet.harness.Fleet`` builds and tears down a fleet; ``tests/fleet/conftest.py`` offers it as
pytest fixtures and ``scripts/fleet`` by hand. See "The test fleet" in DESIGN.md.
"""

from __future__ import annotations

from fleet.harness import Fleet, HostSpec, plan_hosts
from fleet.procs import FleetError

__all__ = ["Fleet", "FleetError", "HostSpec", "plan_hosts"]
