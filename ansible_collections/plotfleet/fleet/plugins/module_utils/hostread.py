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

from ansible_collections.plotfleet.fleet.plugins.module_utils.module_support import (
    NO_PSUTIL,
    config_and_notices,
    config_failure,
    psutil_missing,
)

DEFAULT_PLOTTER_CONFIG = "/etc/plotfleet/plotfleet.yml"
DEFAULT_HARVESTER_CONFIG = "/etc/plotfleet/harvester.yml"


class RoleUnreadable(Exception):
    """The role cannot be read at all on this host; ``problems`` lists what is wrong, if known."""

    def __init__(self, msg: str, problems: list[str] | None = None) -> None:
        super().__init__(msg)
        self.problems = problems or [msg]


def plotter_config(config_path: str):
    """(the validated plotter config, notices for the operator); RoleUnreadable without psutil or
    with a config that cannot be used, said as plotfleet_jobs_info says it."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.config import ConfigError

    if psutil_missing():
        raise RoleUnreadable(NO_PSUTIL)
    try:
        return config_and_notices(config_path)
    except ConfigError as err:
        raise RoleUnreadable(**config_failure(err)) from None


def read_plotter(config_path: str) -> tuple[dict[str, Any], list[str]]:
    """(plotfleet_jobs_info's result from the role's config file, notices)."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.state import plotter_info

    config, notices = plotter_config(config_path)
    return plotter_info(config, config_path), notices


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


def harvester_config(config_path: str):
    """The harvester config file's dirs; RoleUnreadable naming the file and its problems, as
    plotfleet_space_info says them."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
        HarvesterConfigError,
        load_harvester_config,
    )

    try:
        return load_harvester_config(config_path)
    except HarvesterConfigError as err:
        raise RoleUnreadable(f"load harvester config {config_path}: {err}", err.problems) from None


def read_harvester(config_path: str) -> tuple[dict[str, Any], list[str]]:
    """(plotfleet_space_info's result from the role's config file, warnings)."""
    return harvester_report(harvester_config(config_path), plot_names=False)


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
