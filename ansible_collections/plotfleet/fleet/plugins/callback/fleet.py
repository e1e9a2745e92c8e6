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

import gc

from ansible.plugins.callback.default import CallbackModule as DefaultCallback

REPORTED_BELOW = "plotfleet_reported_below"


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "plotfleet.fleet.fleet"

    def v2_playbook_on_start(self, playbook) -> None:
        # Ansible loads every legacy filter plugin file (its own and filter_plugins/plotfleet.py) in
        # the first task worker that templates any filter, `default` included: in each task worker,
        # for each host, since workers fork from ansible-playbook's process, which never templates.
        # Loaded here once, every worker inherits them.
        from ansible.plugins.loader import filter_loader

        for _plugin in filter_loader.all():
            pass
        # What is loaded by now (Ansible, the inventory, the playbook, the plugins) lives until the
        # end. Moved out of the collector's reach (gc.freeze, meant for processes that fork), it is
        # not traversed by the collections in ansible-playbook's process nor in any forked worker,
        # whose collections would otherwise also copy every page they touch.
        gc.freeze()
        super().v2_playbook_on_start(playbook)

    def v2_playbook_on_stats(self, stats) -> None:
        super().v2_playbook_on_stats(stats)
        # The run is over: without this, Python's collections at exit traverse and free the whole
        # heap, 0.2-0.3 s of a status run on a 2-CPU controller.
        gc.freeze()

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
