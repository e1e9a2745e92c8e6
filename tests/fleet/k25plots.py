"""The two real v1 k25 plots the archive and replot fleet tests move around, kept between runs.

They are made by plot.yml on a fleet's two plotters (one real chia job each, tests/fleet/vars.yml's
keys and settings: ~5 min on 2 idle cores, far more on a loaded machine) the first time, and kept
in a dir outside the clone keyed by the chia release and the keys, so a new chia or new keys plot
again. ``PLOTFLEET_TEST_V1_CACHE`` names another dir; the cache root is ``PLOTFLEET_CACHE``
(default /var/cache/plotfleet), as for the other caches scripts/setup keeps.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
V1_NAME = re.compile(r"^plot-k25-\d{4}(-\d\d){4}-[0-9a-f]{64}\.plot$")


def cache_dir() -> Path:
    override = os.environ.get("PLOTFLEET_TEST_V1_CACHE")
    if override:
        return Path(override)
    keys = yaml.safe_load((ROOT / "tests" / "fleet" / "vars.yml").read_text())["plotter_config"]["plotting"]
    made_by = (ROOT / "requirements-chia.txt").read_text() + keys["farmer_pk"] + keys["pool_pk"]
    root = Path(os.environ.get("PLOTFLEET_CACHE", "/var/cache/plotfleet"))
    return root / f"plots-v1-k25-{hashlib.sha256(made_by.encode()).hexdigest()[:16]}"


def cached() -> list[Path]:
    """The two kept plots, sorted by name; [] when they are not (all) there."""
    where = cache_dir()
    if not where.is_dir():
        return []
    found = sorted(p for p in where.iterdir() if V1_NAME.match(p.name))
    return found if len(found) == 2 else []


def store(plots: Sequence[Path]) -> None:
    """Keep copies of ``plots`` (two finished k25 plots), whole or not at all: a run stopped while
    copying leaves no half plot in the cache."""
    assert len(plots) == 2 and all(V1_NAME.match(p.name) for p in plots), [p.name for p in plots]
    target = cache_dir()
    building = target.with_name(f"{target.name}.{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    for plot in plots:
        shutil.copyfile(plot, building / plot.name)
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
