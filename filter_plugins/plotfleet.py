# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side filters: fleet status, harvester space, archive planning, log statistics.

The logic is the collection's controller code (plugins/plugin_utils), which reuses the host code
(plugins/module_utils) where both need the same rule; Ansible's collection loader imports both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.plotfleet.fleet.plugins.plugin_utils.analysis import (
    analyze,
    fleet_plots,
    groups_csv,
    option_problems,
    plots_csv,
    render_analysis,
)
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.archive import plan_archive
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.census import CensusSettingsError
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.fleetvars import archive_outcomes, fleet_archive_plan
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.jobview import job_view
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.metrics import render_metrics
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.options import check_options
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.replace_plan import replace_outcomes, replace_problems
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.report import (
    PrefixError,
    fleet_report,
    pass_summary,
    render_status,
    resolve_fleet_prefix,
)
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.results import registered
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.space_report import fleet_space_report, render_space_table


def plotfleet_space_report(hosts: Sequence[str], hostvars: Mapping[str, Any], var: str = "harvester_space",
                           replot_target: Any = None, replot_deadline: Any = None) -> dict:
    """The harvesters' space document from the result each host registered as ``var``, with the
    census and replot progress (``plotfleet_replot_target``, ``plotfleet_replot_deadline``)."""
    try:
        return fleet_space_report(registered(hostvars, hosts, var), replot_target, replot_deadline)
    except CensusSettingsError as err:
        raise AnsibleFilterError(str(err)) from err


def plotfleet_fleet_report(hostvars: Any, *args: Any, **kwargs: Any) -> dict:
    """report.fleet_report, with a bad census setting said as a filter error naming its variable."""
    try:
        return fleet_report(hostvars, *args, **kwargs)
    except CensusSettingsError as err:
        raise AnsibleFilterError(str(err)) from err


def plotfleet_resolve_prefix(hostvars: Any, hosts: Sequence[str], prefix: str, var: str = "plotfleet_state") -> dict:
    """The one job the prefix names, or ``{'error': why not}`` for the playbook to fail with: an
    exception here would bury the message under Ansible's templating traceback."""
    try:
        return resolve_fleet_prefix(hostvars, hosts, prefix, var)
    except PrefixError as err:
        return {"error": str(err)}


class FilterModule:
    def filters(self) -> dict:
        return {
            "plotfleet_fleet_report": plotfleet_fleet_report,
            "plotfleet_render_status": render_status,
            "plotfleet_metrics": render_metrics,
            "plotfleet_job_view": job_view,
            "plotfleet_pass_summary": pass_summary,
            "plotfleet_resolve_prefix": plotfleet_resolve_prefix,
            "plotfleet_options": check_options,
            "plotfleet_space_report": plotfleet_space_report,
            "plotfleet_space_table": render_space_table,
            "plotfleet_archive_plan": plan_archive,
            "plotfleet_fleet_archive_plan": fleet_archive_plan,
            "plotfleet_archive_outcomes": archive_outcomes,
            "plotfleet_replace_problems": replace_problems,
            "plotfleet_replace_outcomes": replace_outcomes,
            "plotfleet_analysis_problems": option_problems,
            "plotfleet_analysis_plots": fleet_plots,
            "plotfleet_analyze": analyze,
            "plotfleet_render_analysis": render_analysis,
            "plotfleet_plots_csv": plots_csv,
            "plotfleet_groups_csv": groups_csv,
        }
