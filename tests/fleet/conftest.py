"""Fixtures that build test fleets and always tear them down.

``make_fleet(plotters=2, harvesters=1, tmpfs={...}, host_tmpfs={...})`` (or
``make_fleet(hosts=[HostSpec(...), ...])``, e.g. for hosts of other Debian releases) returns a
running :class:`fleet.Fleet`; every fleet it made is torn down when the test (``make_fleet``) or the
module (``make_module_fleet``) ends, even if the test failed, and the teardown fails the test
if anything (namespace, process, mount) was left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from fleet import Fleet, FleetError, HostSpec, plan_hosts

FleetFactory = Callable[..., Fleet]


def _fleet_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetFactory]:
    fleets: list[Fleet] = []

    def make(plotters: int = 1, harvesters: int = 1, timeout: float = 30, hosts: Sequence[HostSpec] | None = None,
             **tmpfs: Any) -> Fleet:
        specs = list(hosts) if hosts is not None else plan_hosts(plotters, harvesters, **tmpfs)
        fleet = Fleet(specs, tmp_path_factory.mktemp("fleet"))
        # Recorded before up(): a fleet that fails half-way is still torn down below.
        fleets.append(fleet)
        return fleet.up(timeout=timeout)

    yield make
    errors = []
    for fleet in reversed(fleets):
        try:
            fleet.down()
        except FleetError as exc:
            errors.append(str(exc))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def make_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetFactory]:
    """Factory for fleets that live for one test."""
    yield from _fleet_factory(tmp_path_factory)


@pytest.fixture(scope="module")
def make_module_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetFactory]:
    """Factory for fleets shared by the tests of a module (bring-up once, tests must not clash)."""
    yield from _fleet_factory(tmp_path_factory)
