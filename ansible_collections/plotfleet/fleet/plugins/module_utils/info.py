"""What a host reports about itself, one function per role, shared by the read-only modules
(``plotfleet_jobs_info``, ``plotfleet_space_info``) and the live dashboard's host agent
(snapshot.py), so that both always say the same thing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Each function imports its own role's code: a plotter's module run does not load the harvester's
# (nor the other way round), which is a good part of a status run's CPU on every host.
if TYPE_CHECKING:
    from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import HarvesterConfig
    from ansible_collections.plotfleet.fleet.plugins.module_utils.replace import ReplaceConfig


def plotter_info(config, config_path: str, with_files: bool = False) -> dict[str, Any]:
    """plotfleet_jobs_info's result: jobs, tmp/dst dirs, transfers, and the operator's pauses."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.pause import pauses
    from ansible_collections.plotfleet.fleet.plugins.module_utils.state import read_plotter_state

    info = read_plotter_state(config).as_dict(with_files=with_files)
    info["paused"] = pauses(config_path)
    return info


def harvester_info(config: HarvesterConfig, replace: ReplaceConfig | None = None, plot_names: bool = True,
                   window_seconds: float | None = None) -> dict[str, Any]:
    """plotfleet_space_info's result: every archive dir (with its census, reservation and, with
    rules, replaceable plots) and the host totals. ``window_seconds`` defaults to the harvester's
    arrival window."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
        DEFAULT_ARRIVAL_WINDOW_SECONDS,
        inspect_harvester,
    )

    window = DEFAULT_ARRIVAL_WINDOW_SECONDS if window_seconds is None else window_seconds
    reports, host = inspect_harvester(config, plot_names, window)
    return {
        "archive_dirs": [with_replace(report.as_dict(), replace) for report in reports],
        "host": host,
        "rsync_port": config.rsync_port,
        "rsync_version": daemon_rsync_version(config.rsync_bin),
        "replace": replace.as_dict() if replace else None,
    }


def with_replace(entry: dict, replace: ReplaceConfig | None) -> dict:
    """A dir's report with its reservation and replaceable plots (a readable dir only)."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.replace import dir_replace_report

    entry.update(reservation=None, replaceable=None)
    if not entry.get("error"):
        try:
            entry.update(dir_replace_report(entry["path"], replace))
        except OSError as err:
            entry["error"] = f"cannot read {entry['path']} for replaceable plots: {err.strerror or err}"
    return entry


def daemon_rsync_version(rsync_bin: str | None) -> str | None:
    """The version ("3.2.7") of the rsync the harvester's daemon runs (the config's rsync.bin, else
    the one on PATH); None when it cannot be run. Plotters pick their transfer route by it."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import installed_rsync_version

    version = installed_rsync_version(rsync_bin or "rsync")
    return ".".join(map(str, version)) if version else None
