#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_log_info
short_description: Parse Chia plot logs into timing records
description:
  - Reads plot logs of chiapos, madMAx and Bladebit (the plotter is told from the content) and
    returns one record per log with the plot id, size, dirs, the phase reached, the seconds
    spent in each phase, the total and the copy time.
  - Works on finished and running jobs' logs alike; unknown lines, colour codes and truncated
    last lines are tolerated.
version_added: "0.1.0"
options:
  path:
    description:
      - A log file, or a dir whose plot logs are all read (files that are not plot logs are
        listed in C(ignored)).
    type: path
    required: true
  recurse:
    description:
      - With a dir, also read the dirs below it.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing changes.
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: Every plot log of a plotter
  plotfleet_log_info:
    path: /var/log/plotfleet/plots
  register: plot_logs

- name: One log
  plotfleet_log_info:
    path: /var/log/plotfleet/plots/2026-11-25T08_18_51.log
"""

RETURN = r"""
plots:
  description: One record per plot log, in file name order.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The log file.
      type: str
      sample: /var/log/plotfleet/plots/2026-11-25T08_18_51.log
    plot_id:
      description: Plot id, null until the log names it.
      type: str
      sample: ce0294538446c461f31802a0b447b802c44be7e6348eac16cf64882134e9b7c4
    plotter:
      description: C(chia), C(madmax) or C(bladebit).
      type: str
      sample: chia
    k:
      description: Plot size.
      type: int
      sample: 32
    phase:
      description: Last phase reached, plotman's numbering.
      type: dict
      sample: {"major": 5, "minor": 0}
    phase_text:
      description: The phase as C(major:minor).
      type: str
      sample: "5:0"
    tmp_dir:
      description: Temporary dir.
      type: str
      sample: /mnt/tmp/00
    tmp2_dir:
      description: Second temporary dir.
      type: str
      sample: /mnt/tmp/00
    dst_dir:
      description: Final dir.
      type: str
      sample: /mnt/dst/00
    phase_seconds:
      description: Seconds per finished major phase, keyed by phase number.
      type: dict
      sample: {"1": 8000.1, "2": 3500.0, "3": 7000.0, "4": 600.0}
    total_seconds:
      description: Seconds from start to the plot written, once known.
      type: float
      sample: 19100.1
    copy_seconds:
      description: Seconds spent copying the plot to its final dir, once known.
      type: float
      sample: 300.2
    completed:
      description: Whether the plot was finished and in its final place.
      type: bool
      sample: true
    started_at:
      description: When the plot started, as the log tells (ISO 8601).
      type: str
      sample: "2026-11-25T08:18:51"
    threads:
      description: Threads used.
      type: int
      sample: 2
    buckets:
      description: Buckets used.
      type: int
      sample: 128
    buffer:
      description: Buffer size in MiB.
      type: int
      sample: 3389
    plot_file:
      description: The final plot path, once the log names it.
      type: str
      sample: /mnt/dst/00/plot-k32-2026-11-25-08-18-ce02....plot
ignored:
  description: Files in the dir that were not plot logs.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/var/log/plotfleet/plots/notes.txt", "reason": "not a plot log"}]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import bytecode_cache  # noqa: F401 - first: what follows is compiled once per host
from ansible_collections.plotfleet.fleet.plugins.module_utils.logs import read_logs


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "recurse": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        os.stat(path)
    except FileNotFoundError:
        module.fail_json(msg=f"read plot logs: {path} does not exist")
    except OSError as err:
        module.fail_json(msg=f"read plot logs: cannot access {path}: {err.strerror}")
    try:
        plots, ignored = read_logs(path, module.params["recurse"])
    except OSError as err:
        module.fail_json(msg=f"read plot logs: cannot read {err.filename or path}: {err.strerror or err}")
    module.exit_json(changed=False, plots=plots, ignored=ignored)


if __name__ == "__main__":
    main()
