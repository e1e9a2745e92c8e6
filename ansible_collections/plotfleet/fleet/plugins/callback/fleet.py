# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plotfleet's screen output: Ansible's default, minus the failures a playbook reports itself."""

from __future__ import annotations

DOCUMENTATION = """
    name: fleet
    type: stdout
    short_description: Ansible's default output, each down host said once, in the playbook's summary
    description:
      - Prints what the default callback prints, except the result of a task that sets the task
        var C(plotfleet_reported_below=true) and failed or could not reach its host. Those
        playbooks (status, harvester_space, jobs) read every host with ignore_errors and
        ignore_unreachable and end with one line per host that did not report; the default
        callback would print each such host's whole message once per task before that.
      - With C(-v) or more, those results are printed as the default callback prints them.
    extends_documentation_fragment:
      - default_callback
      - result_format_callback
    requirements:
      - set as stdout callback in ansible.cfg (C(stdout_callback = plotfleet.fleet.fleet))
"""

from ansible.plugins.callback.default import CallbackModule as DefaultCallback

REPORTED_BELOW = "plotfleet_reported_below"


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "plotfleet.fleet.fleet"

    def v2_playbook_on_start(self, playbook) -> None:
        # The controller code behind plotfleet's filters (its plotter regexes compiled at import),
        # imported here in ansible-playbook's own process: every task's worker is forked from it
        # and inherits it, instead of importing it anew for each task and host that templates.
        from ansible_collections.plotfleet.fleet.plugins.plugin_utils import analysis, fleetvars, report  # noqa: F401

        super().v2_playbook_on_start(playbook)

    def _reported_below(self, result) -> bool:
        if self._display.verbosity > 0:
            return False
        value = (getattr(result.task, "vars", None) or {}).get(REPORTED_BELOW)
        return value is True or str(value).lower() == "true"

    def v2_runner_on_failed(self, result, ignore_errors: bool = False) -> None:
        if ignore_errors and self._reported_below(result):
            return
        super().v2_runner_on_failed(result, ignore_errors=ignore_errors)

    def v2_runner_on_unreachable(self, result) -> None:
        if result.task.ignore_unreachable and self._reported_below(result):
            return
        super().v2_runner_on_unreachable(result)

    def v2_runner_item_on_failed(self, result) -> None:
        if result.task.ignore_errors and self._reported_below(result):
            return
        super().v2_runner_item_on_failed(result)
