"""Runs on each host for the live dashboard (plugin_utils/watch.py sends it with the rest of
module_utils as a zip on stdin): prints one JSON snapshot of ROLE with CONFIG.

ROLE is ``plotter`` (what plotfleet_jobs_info returns) or ``harvester`` (what plotfleet_space_info
returns). Errors become ``{"failed": true, "msg": ...}``, never a traceback.
"""

from __future__ import annotations

import json
import sys


def plotter(config_path: str) -> dict:
    from ansible_collections.plotfleet.fleet.plugins.module_utils.config import ConfigError, load_config
    from ansible_collections.plotfleet.fleet.plugins.module_utils.state import read_plotter_state

    try:
        return read_plotter_state(load_config(config_path)).as_dict()
    except ConfigError as err:
        return {"failed": True, "msg": f"load config: {err}"}


def harvester(config_path: str) -> dict:
    from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
        HarvesterConfigError,
        inspect_harvester,
        load_harvester_config,
    )

    try:
        reports, host = inspect_harvester(load_harvester_config(config_path))
    except HarvesterConfigError as err:
        return {"failed": True, "msg": f"load harvester config: {err}"}
    return {"archive_dirs": [r.as_dict() for r in reports], "host": host}


def main() -> None:
    role, config_path = sys.argv[1], sys.argv[2]
    try:
        result = plotter(config_path) if role == "plotter" else harvester(config_path)
    except Exception as err:  # a snapshot must always be JSON: the dashboard shows the failure
        result = {"failed": True, "msg": f"{type(err).__name__}: {err}"}
    json.dump(result, sys.stdout)
