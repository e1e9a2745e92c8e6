#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_plot
short_description: Run one scheduling pass on a plotter, starting plot jobs when the schedule allows
description:
  - Looks at the jobs running on the plotter (see M(plotfleet_jobs_info)) and decides, with plotman's
    rules and plotfleet's additions, whether a new job may start now, on which tmp dir and
    towards which dst dir.
  - The rules come from the plotter config - C(global_stagger_m) since the youngest job,
    C(global_max_jobs), a machine-wide C(phase1_max_jobs), per tmp dir
    C(tmpdir_stagger_phase_major/minor/limit) and C(tmpdir_max_jobs) with C(tmp_overrides), a
    dst free-space guard (room for this plot and every plot inbound from running jobs) and an
    optional tmp free-space guard. Jobs of unknown phase count as the least advanced.
  - A started job runs in its own session with its output in a new log file under
    C(logging.plots); it survives the end of the Ansible run. It is visible to
    M(plotfleet_jobs_info) as soon as this module returns.
  - Passes on one plotter are serialised with a lock, so overlapping cron runs and ad-hoc calls
    never start more jobs than the schedule allows.
  - When nothing starts, C(reason) says why, and C(tmp_dirs) explains every tmp dir.
  - A tmp or dst dir that does not exist is never written (plotfleet never creates it, as on a farm it
    is a disk that is not mounted), nor is one marked C(mount) true in the config that is not a
    mount point; the reason names the dir and says C(not mounted?).
  - While the operator has paused plotting on the host (the file C(paused-plotting) beside the
    config, set by C(scripts/watch)), nothing starts and C(reason) says who paused it and when.
version_added: "0.1.0"
options:
  config:
    description:
      - Path of the plotter configuration written by the C(plotter) role.
    type: path
    default: /etc/plotfleet/plotfleet.yml
  max_starts:
    description:
      - At most this many jobs start in this pass (each later start sees the earlier ones);
        overrides C(scheduling.max_starts).
    type: int
attributes:
  check_mode:
    support: full
    description: Returns the decision (what would start and where) without starting anything.
  diff_mode:
    support: none
    description: Starting a job is not a file change.
requirements:
  - psutil on the plotter
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: One scheduling pass (meant for cron, see playbooks/plot.yml)
  plotfleet_plot:
  register: pass_result

- name: What would start now, without starting it
  plotfleet_plot:
  check_mode: true

- name: Fill an idle plotter faster (stagger still applies)
  plotfleet_plot:
    max_starts: 4
"""

RETURN = r"""
started:
  description: The jobs started in this pass (in check mode, those that would start, without pid).
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: Process id of the new job.
      type: int
      sample: 31337
    plot_id:
      description: Not known until the plotter writes it to its log; use M(plotfleet_jobs_info).
      type: str
      sample: null
    tmp_dir:
      description: Its tmp dir.
      type: str
      sample: /mnt/tmp/00
    tmp2_dir:
      description: Its tmp2 dir, if any.
      type: str
      sample: null
    dst_dir:
      description: Its dst dir.
      type: str
      sample: /mnt/dst/00
    log_file:
      description: Its new log file.
      type: str
      sample: /var/log/plotfleet/plots/2026-11-25T08_18_51.123456+0000.chia.plot.log
    cmdline:
      description: The command it runs.
      type: list
      elements: str
      sample: ["/usr/local/bin/chia", "plots", "create", "-k", "32", "-t", "/mnt/tmp/00", "-d", "/mnt/dst/00"]
reason:
  description: Why no (further) job starts now; null when every allowed start happened.
  returned: always
  type: str
  sample: "stagger: 612 s of 1800 s since the youngest job"
tmp_dirs:
  description: Every tmp dir with whether it could take a job and why.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/mnt/tmp/00", "eligible": false, "jobs": 3, "least_advanced": "1:4",
            "reason": "tmp /mnt/tmp/00: 1 jobs before 2:1, limit 1"}]
jobs_running:
  description: How many plot jobs there were before this pass, suspended ones included.
  returned: always
  type: int
  sample: 5
jobs_suspended:
  description: How many of RV(jobs_running) are suspended (they still count against the limits).
  returned: always
  type: int
  sample: 1
paused:
  description: Whether plotting is paused on this host by the operator (nothing started).
  returned: always
  type: bool
  sample: false
"""

import dataclasses
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import bytecode_cache  # noqa: F401 - first: what follows is compiled once per host
from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import STATE_SUSPENDED
from ansible_collections.plotfleet.fleet.plugins.module_utils.module_support import load_config_or_fail, require_psutil
from ansible_collections.plotfleet.fleet.plugins.module_utils.pause import pause_reason, read_pause
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import build_command
from ansible_collections.plotfleet.fleet.plugins.module_utils.scheduler import (
    decide,
    free_space,
    policy_from_config,
    refused_dirs,
    running_jobs,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.spawn import ScheduleLock, SpawnError, spawn_job
from ansible_collections.plotfleet.fleet.plugins.module_utils.state import read_plotter_state


def start_record(start, spawned=None) -> dict:
    return {
        "pid": spawned.pid if spawned else None,
        "plot_id": None,
        "tmp_dir": start.tmp_dir,
        "tmp2_dir": start.tmp2_dir,
        "dst_dir": start.dst_dir,
        "log_file": spawned.log_file if spawned else None,
        "cmdline": spawned.cmdline if spawned else None,
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "path", "default": "/etc/plotfleet/plotfleet.yml"},
            "max_starts": {"type": "int"},
        },
        supports_check_mode=True,
    )
    require_psutil(module)
    config = load_config_or_fail(module, module.params["config"])
    policy = policy_from_config(config)
    if module.params["max_starts"] is not None:
        if module.params["max_starts"] < 1:
            module.fail_json(msg=f"schedule plot jobs: max_starts must be >= 1, got {module.params['max_starts']}")
        policy = dataclasses.replace(policy, max_starts=module.params["max_starts"])
    log_dir = config.logging.plots
    if not os.path.isdir(log_dir):
        module.fail_json(msg=f"schedule plot jobs: the plot log dir {log_dir} (logging.plots) does not exist; "
                             "run the plotter role or create it")
    plotting = config.plotting
    section = dataclasses.asdict(plotting.options)
    started = []
    try:
        with ScheduleLock(log_dir):
            state = read_plotter_state(config)
            dirs = state.tmp_dirs + state.dst_dirs
            decision = decide(running_jobs(state.jobs), free_space(dirs), policy, refused_dirs(dirs))
            # The operator's pause (scripts/watch, or the file by hand) wins over the schedule.
            paused = read_pause(module.params["config"], "plotting")
            reason = pause_reason(paused, "plotting") if paused else decision.reason
            for start in [] if paused else decision.starts:
                argv = build_command(plotting.type, section, plotting, start.tmp_dir, start.tmp2_dir, start.dst_dir)
                if module.check_mode:
                    record = start_record(start)
                    record["cmdline"] = argv
                    started.append(record)
                    continue
                spawned = spawn_job(argv, log_dir, plotting.type, env=plotting.env, nice=plotting.nice)
                started.append(start_record(start, spawned))
    except SpawnError as err:
        module.fail_json(msg=f"start plot job: {err}", started=started)
    except OSError as err:
        module.fail_json(msg=f"schedule plot jobs: {err.filename or log_dir}: {err.strerror or err}", started=started)
    module.exit_json(
        changed=bool(started),
        started=started,
        reason=reason,
        paused=paused is not None,
        tmp_dirs=[v.as_dict() for v in decision.tmp_dirs],
        jobs_running=len(state.jobs),
        jobs_suspended=sum(1 for job in state.jobs if job.state == STATE_SUSPENDED),
    )


if __name__ == "__main__":
    main()
