# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side filters: fleet status, harvester space, archive planning, log statistics,
notifications.

The logic is the collection's controller code (plugins/plugin_utils), which reuses the host code
(plugins/module_utils) where both need the same rule. This file only names the filters: a filter's
code is imported the first time a template calls it. Ansible loads every legacy filter file in each
task worker that templates a filter (even ``default``), so an import here would be paid by every
host's task; and Ansible's collection loader compiles that code from source on each import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from typing import Any

from ansible.errors import AnsibleFilterError

PLUGIN_UTILS = "ansible_collections.plotfleet.fleet.plugins.plugin_utils."

# filter name -> (plugin_utils module, function)
FILTERS = {
    "plotfleet_render_status": ("report", "render_status"),
    "plotfleet_pass_summary": ("report", "pass_summary"),
    "plotfleet_metrics": ("metrics", "render_metrics"),
    "plotfleet_job_view": ("jobview", "job_view"),
    "plotfleet_options": ("options", "check_options"),
    "plotfleet_space_table": ("space_report", "render_space_table"),
    "plotfleet_archive_plan": ("archive", "plan_archive"),
    "plotfleet_fleet_archive_plan": ("fleetvars", "fleet_archive_plan"),
    "plotfleet_archive_outcomes": ("fleetvars", "archive_outcomes"),
    "plotfleet_replace_problems": ("replace_plan", "replace_problems"),
    "plotfleet_replace_outcomes": ("replace_plan", "replace_outcomes"),
    "plotfleet_analysis_problems": ("analysis", "option_problems"),
    "plotfleet_analysis_plots": ("analysis", "fleet_plots"),
    "plotfleet_analyze": ("analysis", "analyze"),
    "plotfleet_render_analysis": ("analysis", "render_analysis"),
    "plotfleet_plots_csv": ("analysis", "plots_csv"),
    "plotfleet_groups_csv": ("analysis", "groups_csv"),
    "plotfleet_notify_settings": ("notify", "notify_settings"),
    "plotfleet_notify_gather": ("notify", "gather"),
    "plotfleet_notify_deadline": ("notify", "deadline_events"),
    "plotfleet_notify_outcome": ("notify", "outcome_for"),
    "plotfleet_notify_summary": ("notify", "summary"),
}


def controller_code(module: str, name: str) -> Callable[..., Any]:
    """plugin_utils/<module>.py's ``name``, imported on first use."""
    return getattr(import_module(PLUGIN_UTILS + module), name)


def on_first_call(module: str, name: str) -> Callable[..., Any]:
    """A filter that imports plugin_utils/<module>.py when a template first calls it."""
    def call(*args: Any, **kwargs: Any) -> Any:
        return controller_code(module, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"plugin_utils/{module}.py: {name}"
    return call


def plotfleet_space_report(hosts: Sequence[str], hostvars: Mapping[str, Any], var: str = "harvester_space",
                           replot_target: Any = None, replot_deadline: Any = None) -> dict:
    """The harvesters' space document from the result each host registered as ``var``, with the
    census and replot progress (``plotfleet_replot_target``, ``plotfleet_replot_deadline``)."""
    registered = controller_code("results", "registered")
    settings_error = controller_code("census", "CensusSettingsError")
    try:
        return controller_code("space_report", "fleet_space_report")(registered(hostvars, hosts, var), replot_target,
                                                                     replot_deadline)
    except settings_error as err:
        raise AnsibleFilterError(str(err)) from err


def plotfleet_fleet_report(hostvars: Any, *args: Any, **kwargs: Any) -> dict:
    """report.fleet_report, with a bad census setting said as a filter error naming its variable."""
    settings_error = controller_code("census", "CensusSettingsError")
    try:
        return controller_code("report", "fleet_report")(hostvars, *args, **kwargs)
    except settings_error as err:
        raise AnsibleFilterError(str(err)) from err


def plotfleet_resolve_prefix(hostvars: Any, hosts: Sequence[str], prefix: str, var: str = "plotfleet_state") -> dict:
    """The one job the prefix names, or ``{'error': why not}`` for the playbook to fail with: an
    exception here would bury the message under Ansible's templating traceback."""
    prefix_error = controller_code("report", "PrefixError")
    try:
        return controller_code("report", "resolve_fleet_prefix")(hostvars, hosts, prefix, var)
    except prefix_error as err:
        return {"error": str(err)}


class FilterModule:
    def filters(self) -> dict:
        filters = {name: on_first_call(module, function) for name, (module, function) in FILTERS.items()}
        filters.update(plotfleet_fleet_report=plotfleet_fleet_report, plotfleet_space_report=plotfleet_space_report,
                       plotfleet_resolve_prefix=plotfleet_resolve_prefix)
        return filters
