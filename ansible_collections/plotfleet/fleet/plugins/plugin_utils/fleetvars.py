"""Reading what the playbooks gathered: registered results and inventory vars of every host.

Controller-side only (the filters in filter_plugins/plotfleet.py call these), so playbooks stay
free of Jinja loops: they register a result on each host and hand ``hostvars`` to one filter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.plugin_utils.archive import (
    DEFAULT_MARGIN_BYTES,
    DEFAULT_RSYNC_PORT,
    plan_archive,
)
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.results import host_vars, registered


def archive_settings(hostvars: Any, plotters: Sequence[str], harvesters: Sequence[str],
                     options: Mapping[str, Any] | None = None) -> dict:
    """The planner's settings from the inventory: harvester addresses and ports, plotter limits.

    A harvester's address is ``plotfleet_archive_address``, else ``ansible_host``, else its name;
    its port ``harvester_rsync_port``, else ``plotfleet_rsync_port``, else what it reports, else
    873. A plotter's parallel limit is its ``plotter_config.archiving.parallel_transfers``.
    """
    options = dict(options or {})
    space = registered(hostvars, harvesters, options.get("harvester_var", "plotfleet_space_info"))
    addresses, ports, parallel = {}, {}, {}
    for host in harvesters:
        hv = host_vars(hostvars, host)
        addresses[host] = str(hv.get("plotfleet_archive_address") or hv.get("ansible_host") or host)
        port = hv.get("harvester_rsync_port") or hv.get("plotfleet_rsync_port") or space[host].get("rsync_port")
        ports[host] = int(port or DEFAULT_RSYNC_PORT)
    for host in plotters:
        config = host_vars(hostvars, host).get("plotter_config") or {}
        limit = (config.get("archiving") or {}).get("parallel_transfers") if isinstance(config, Mapping) else None
        if limit:
            parallel[host] = int(limit)
    margin = options.get("margin_bytes")
    return {
        "harvester_addresses": addresses,
        "harvester_ports": ports,
        "plotter_parallel_transfers": parallel,
        "margin_bytes": DEFAULT_MARGIN_BYTES if margin in (None, "") else int(margin),
        "dst_busy_phase": options.get("dst_busy_phase", "3:7"),
    }


def fleet_archive_plan(hostvars: Any, plotters: Sequence[str], harvesters: Sequence[str],
                       options: Mapping[str, Any] | None = None) -> dict:
    """The archive plan from what the plotters and harvesters registered in this run."""
    options = dict(options or {})
    return plan_archive(
        registered(hostvars, plotters, options.get("plotter_var", "plotfleet_state")),
        registered(hostvars, harvesters, options.get("harvester_var", "plotfleet_space_info")),
        archive_settings(hostvars, plotters, harvesters, options),
    )


def archive_outcomes(hostvars: Any, plotters: Sequence[str], var: str = "archive_sent") -> dict:
    """One line per transfer the plotters tried, and the plotters where one failed."""
    lines, failed = [], []
    for host in plotters:
        sent = host_vars(hostvars, host).get(var)
        if not isinstance(sent, Mapping):
            continue
        if sent.get("unreachable"):
            failed.append(host)
            lines.append(f"{host}: UNREACHABLE {sent.get('msg', '')}".rstrip())
            continue
        for result in sent.get("results") or []:
            if result.get("failed"):
                failed.append(host)
                lines.append(f"{host}: FAILED {result.get('msg')}")
            else:
                lines.append(f"{host}: {result.get('msg') or 'skipped'}")
    return {"lines": lines or ["no transfer to start"], "failed": sorted(set(failed))}
