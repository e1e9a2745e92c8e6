#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_job
short_description: Suspend, resume or kill a plot job on a plotter
description:
  - Finds the plot job whose plot id starts with I(plot_id) (it must match exactly one job on
    the host; otherwise the module fails and lists the candidates) and puts it in I(state).
  - C(suspended) stops every process of the job (SIGSTOP), C(running) continues them (SIGCONT).
  - C(killed) resumes the job if needed, terminates it (SIGTERM, then SIGKILL after
    I(kill_timeout)), waits until it is gone, then removes exactly that plot's temp files in
    its tmp, tmp2 and dst dirs. A finished C(.plot) is never removed, nor another job's files.
version_added: "0.1.0"
options:
  config:
    description:
      - Path of the plotter configuration written by the C(plotter) role.
    type: path
    default: /etc/plotfleet/plotfleet.yml
  plot_id:
    description:
      - A prefix of the job's plot id (as M(plotfleet_jobs_info) shows it), or C(pid:N) for a job
        whose plot id is not known yet.
    type: str
  all_jobs:
    description:
      - Act on every plot job of the host instead of one. Must be given explicitly.
    type: bool
    default: false
  state:
    description:
      - The state the job should be in.
    type: str
    required: true
    choices: [suspended, running, killed]
  kill_timeout:
    description:
      - Seconds to wait after SIGTERM before sending SIGKILL.
    type: int
    default: 30
  force:
    description:
      - Kill even a job in phase 5, whose plot is already complete and being copied or renamed
        into its dst dir (its complete copy under a temporary name is deleted with the temp files).
        Without it such a kill is refused.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports which processes would be signalled and which files removed.
  diff_mode:
    support: full
    description: Shows each job's state before and after.
requirements:
  - psutil on the plotter
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: Pause a job to free its disks for a while
  plotfleet_job:
    plot_id: ce0294
    state: suspended

- name: Kill it and remove its temp files
  plotfleet_job:
    plot_id: ce0294
    state: killed

- name: Resume everything on a plotter
  plotfleet_job:
    all_jobs: true
    state: running

# Across the fleet, resolving the prefix on every plotter: playbooks/control.yml
"""

RETURN = r"""
jobs:
  description: The jobs acted on.
  returned: always
  type: list
  elements: dict
  contains:
    plot_id:
      description: The job's plot id (null if not known yet).
      type: str
      sample: ce0294538446c461f31802a0b447b802c44be7e6348eac16cf64882134e9b7c4
    pid:
      description: The job's outermost process.
      type: int
      sample: 2699
    before:
      description: State before (running or suspended).
      type: str
      sample: running
    after:
      description: State after (running, suspended or killed).
      type: str
      sample: killed
    signalled:
      description: Processes signalled (or that would be, in check mode).
      type: list
      elements: int
      sample: [2699]
    sigkilled:
      description: Processes that needed SIGKILL.
      type: list
      elements: int
      sample: []
    removed_files:
      description: Temp files removed (in check mode, that would be removed).
      type: list
      elements: str
      sample: ["/mnt/tmp/00/plot-k32-2026-11-25-08-18-ce02....plot.table1.tmp"]
removed_files:
  description: All temp files removed, over every job acted on.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import bytecode_cache  # noqa: F401 - first: what follows is compiled once per host
from ansible_collections.plotfleet.fleet.plugins.module_utils.control import (
    ControlError,
    act,
    kill_refusal,
    resolve_prefix,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import discover_jobs
from ansible_collections.plotfleet.fleet.plugins.module_utils.module_support import load_config_or_fail, require_psutil


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "path", "default": "/etc/plotfleet/plotfleet.yml"},
            "plot_id": {"type": "str"},
            "all_jobs": {"type": "bool", "default": False},
            "state": {"type": "str", "required": True, "choices": ["suspended", "running", "killed"]},
            "kill_timeout": {"type": "int", "default": 30},
            "force": {"type": "bool", "default": False},
        },
        mutually_exclusive=[("plot_id", "all_jobs")],
        required_one_of=[("plot_id", "all_jobs")],
        supports_check_mode=True,
    )
    require_psutil(module)
    params = module.params
    if params["kill_timeout"] < 0:
        module.fail_json(msg=f"control plot job: kill_timeout must be >= 0, got {params['kill_timeout']}")
    config = load_config_or_fail(module, params["config"])
    jobs = discover_jobs(config.logging.plots)
    try:
        targets = jobs if params["all_jobs"] else [resolve_prefix(jobs, params["plot_id"])]
        refusals = [reason for job in targets if (reason := kill_refusal(job))]
        if params["state"] == "killed" and refusals and not params["force"]:
            raise ControlError("; ".join(refusals))  # before touching any job
        records = [act(job, params["state"], module.check_mode, params["kill_timeout"]) for job in targets]
    except ControlError as err:
        module.fail_json(msg=f"control plot job: {err}")
    changed = any([r.pop("changed") for r in records])
    result = {
        "changed": changed,
        "jobs": records,
        "removed_files": [f for r in records for f in r["removed_files"]],
    }
    if module._diff:
        result["diff"] = {
            "before": "".join(f"{r['plot_id'] or r['pid']}: {r['before']}\n" for r in records),
            "after": "".join(f"{r['plot_id'] or r['pid']}: {r['after']}\n" for r in records),
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
