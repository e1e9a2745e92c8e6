"""One read of a host in each of its roles: what status.yml and the live dashboard show of it.

A plotter's read is what ``plotfleet_jobs_info`` returns (state.plotter_info), a harvester's what
``plotfleet_space_info`` returns (harvester.harvester_info, with each archive dir's quarantined
plots). ``read_host`` does both in one run for a host that has both roles, and a role that cannot
be read (no config, no psutil) is that role's ``{"failed": True, "msg": ...}``, never the other
role's: a harvester whose plotter config is broken still reports its disks. Each role's code is
imported only when that role is read.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.module_support import NO_PSUTIL

DEFAULT_PLOTTER_CONFIG = "/etc/plotfleet/plotfleet.yml"
DEFAULT_HARVESTER_CONFIG = "/etc/plotfleet/harvester.yml"


class RoleUnreadable(Exception):
    """The role cannot be read at all on this host; ``problems`` lists what is wrong, if known."""

    def __init__(self, msg: str, problems: list[str] | None = None) -> None:
        super().__init__(msg)
        self.problems = problems or [msg]


def plotter_config(config_path: str):
    """The validated plotter config; RoleUnreadable without psutil or with a bad config."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.config import ConfigError, load_config

    try:
        import psutil  # noqa: F401
    except ImportError:
        raise RoleUnreadable(NO_PSUTIL) from None
    try:
        return load_config(config_path)
    except ConfigError as err:
        raise RoleUnreadable(f"load config: {err}", getattr(err, "problems", None)) from None


def plotter_report(config, config_path: str, temp_files: bool = False) -> tuple[dict[str, Any], list[str]]:
    """(plotfleet_jobs_info's result for ``config``, warnings for the operator)."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.config.model import plotman_archiving_notice
    from ansible_collections.plotfleet.fleet.plugins.module_utils.state import plotter_info

    notice = plotman_archiving_notice(config.archiving)
    return plotter_info(config, config_path, temp_files), [f"{config_path}: {notice}"] if notice else []


def read_plotter(config_path: str) -> tuple[dict[str, Any], list[str]]:
    """(plotfleet_jobs_info's result from the role's config file, warnings)."""
    return plotter_report(plotter_config(config_path), config_path)


def harvester_report(config, replace=None, plot_names: bool = True, window_seconds: float | None = None
                     ) -> tuple[dict[str, Any], list[str]]:
    """(plotfleet_space_info's result for ``config``, warnings: the dirs that could not be read)."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
        DEFAULT_ARRIVAL_WINDOW_SECONDS,
        harvester_info,
    )
    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotverify import list_quarantined

    window = DEFAULT_ARRIVAL_WINDOW_SECONDS if window_seconds is None else window_seconds
    info = harvester_info(config, replace, plot_names, window)
    for entry in info["archive_dirs"]:  # never counted as plots: reported apart
        entry["quarantined"] = list_quarantined(entry["path"])
    info["host"]["quarantined"] = sum(len(entry["quarantined"]) for entry in info["archive_dirs"])
    return info, [f"archive dir {entry['path']}: {entry['error']}" for entry in info["archive_dirs"]
                  if entry.get("error")]


def read_harvester(config_path: str, plot_names: bool = False) -> tuple[dict[str, Any], list[str]]:
    """(plotfleet_space_info's result from the role's config file, warnings)."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
        HarvesterConfigError,
        load_harvester_config,
    )

    try:
        config = load_harvester_config(config_path)
    except HarvesterConfigError as err:
        raise RoleUnreadable(f"load harvester config {config_path}: {err}", err.problems) from None
    return harvester_report(config, plot_names=plot_names)


def read_role(read, config_path: str) -> tuple[dict[str, Any], list[str]]:
    """One role's read, its failure (an unreadable role, or any error) as that role's failed result."""
    try:
        return read(config_path)
    except RoleUnreadable as err:
        return {"failed": True, "msg": str(err), "problems": err.problems}, []
    except Exception as err:  # one role's failure is that role's status, not the whole host's
        return {"failed": True, "msg": f"{type(err).__name__}: {err}"}, []


def read_host(plotter_config_path: str | None, harvester_config_path: str | None
              ) -> tuple[dict[str, Any], list[str]]:
    """({"plotter": ..., "harvester": ...} for the roles given a config path, warnings)."""
    result: dict[str, Any] = {}
    warnings: list[str] = []
    for role, read, path in (("plotter", read_plotter, plotter_config_path),
                             ("harvester", read_harvester, harvester_config_path)):
        if path:
            result[role], said = read_role(read, path)
            warnings += [f"{role}: {line}" for line in said]
    return result, warnings
