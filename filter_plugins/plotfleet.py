# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side filters: fleet status tables, archive planning, log statistics.

They run the same pure logic the modules ship to the hosts. Ansible only makes
``ansible.module_utils.plotfleet`` importable inside modules, so this file adds the project's
module_utils dir to that package's path for the controller, once.
"""

from __future__ import annotations

from pathlib import Path

import ansible.module_utils

_MODULE_UTILS = str(Path(__file__).resolve().parent.parent / "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils.plotfleet.report import fleet_report, render_status  # noqa: E402


class FilterModule:
    def filters(self) -> dict:
        return {
            "plotfleet_fleet_report": fleet_report,
            "plotfleet_render_status": render_status,
        }
