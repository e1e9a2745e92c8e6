# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side filters for playbooks/harvester_space.yml.

``plotfleet_space_report`` gathers the harvesters' ``plotfleet_space`` results (unreachable and
failed ones included) into one document; ``plotfleet_space_table`` renders it for an operator.
The logic is in ``module_utils/plotfleet/harvester.py``; this file only reaches into hostvars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ansible.module_utils

# Ansible makes ansible.module_utils.plotfleet importable only inside modules; add the
# project's module_utils for the controller (the same guard as in filter_plugins/plotfleet.py).
_MODULE_UTILS = str(Path(__file__).resolve().parent.parent / "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils.plotfleet.harvester import fleet_space_report, render_space_table


def plotfleet_space_report(hosts: Sequence[str], hostvars: Mapping[str, Any], var: str = "harvester_space") -> dict:
    """The fleet document from the result each host registered as ``var`` (missing: None)."""
    return fleet_space_report({host: _registered(hostvars, host, var) for host in hosts})


def _registered(hostvars: Mapping[str, Any], host: str, var: str) -> Mapping[str, Any] | None:
    try:
        result = hostvars[host].get(var)
    except (KeyError, AttributeError):
        return None
    return result if isinstance(result, Mapping) else None


class FilterModule:
    def filters(self) -> dict:
        return {
            "plotfleet_space_report": plotfleet_space_report,
            "plotfleet_space_table": render_space_table,
        }
