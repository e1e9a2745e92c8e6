#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_jobs_info
short_description: Inspect the Chia plot jobs, dirs and transfers of a plotter
description:
  - Finds every plot job on the host from the process table (chiapos C(chia plots create),
    madMAx C(chia_plot), Bladebit, and the C(chia plotters) launchers), whoever started it.
  - Reads each job's log for its plot id and phase, and measures its temp files, CPU, memory
    and I/O. Reports the configured tmp and dst dirs with their free space, finished plots and
    inbound jobs, and the archive transfers (rsync) running now.
  - Stateless and read-only; safe to run as often as wanted.
version_added: "0.1.0"
options:
  config:
    description:
      - Path of the plotter configuration written by the C(plotter) role.
    type: path
    default: /etc/plotfleet/plotfleet.yml
  temp_files:
    description:
      - Also return the list of each job's temp files (C(tmp_files)); by default only their
        count and size.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The module never changes anything.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
requirements:
  - psutil on the plotter
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: What is plotting on every plotter
  plotfleet_jobs_info:
  register: plotter_state

- name: Jobs of a plotter with an alternate config, with their temp files
  plotfleet_jobs_info:
    config: /etc/plotfleet/test.yml
    temp_files: true

# Ad hoc, across the fleet:
#   ansible plotters -m plotfleet_jobs_info
"""

RETURN = r"""
jobs:
  description: The plot jobs running on the host, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    plot_id:
      description: The plot id (64 hex digits) once known from the log or the temp files.
      type: str
      sample: ce0294538446c461f31802a0b447b802c44be7e6348eac16cf64882134e9b7c4
    pid:
      description: The outermost process of the job (signal this one).
      type: int
      sample: 2699
    pids:
      description: Every process of the job, launcher first.
      type: list
      elements: int
      sample: [2699]
    plotter:
      description: Which plotter runs the job.
      type: str
      sample: chia
    k:
      description: Plot size.
      type: int
      sample: 32
    tmp_dir:
      description: Temporary dir.
      type: str
      sample: /mnt/tmp/00
    tmp2_dir:
      description: Second temporary dir, if any.
      type: str
      sample: null
    dst_dir:
      description: Final dir.
      type: str
      sample: /mnt/dst/00
    log_file:
      description: The job's log, or null when it has none.
      type: str
      sample: /var/log/plotfleet/plots/2026-11-25T08_18_51.log
    phase:
      description: Progress in plotman's numbering (major 1-4 plot phases, 5 copy; 0 unknown).
      type: dict
      sample: {"major": 2, "minor": 3}
    phase_text:
      description: The phase as C(major:minor), C(?:?) when unknown.
      type: str
      sample: "2:3"
    started_at:
      description: When the job's process started (ISO 8601).
      type: str
      sample: "2026-11-25T08:18:51+00:00"
    wall_seconds:
      description: Seconds since the job started.
      type: float
      sample: 1234.5
    cpu_user_seconds:
      description: User CPU seconds of all the job's processes.
      type: float
      sample: 2100.2
    cpu_system_seconds:
      description: System CPU seconds.
      type: float
      sample: 120.0
    iowait_seconds:
      description: Seconds spent waiting for block I/O.
      type: float
      sample: 3.2
    mem_rss_bytes:
      description: Resident memory.
      type: int
      sample: 3500000000
    io_read_bytes:
      description: Bytes read from storage (null when not readable).
      type: int
      sample: 1000000
    io_write_bytes:
      description: Bytes written to storage.
      type: int
      sample: 1000000
    state:
      description: C(running), C(suspended), C(disk-sleep) or C(zombie).
      type: str
      sample: running
    tmp_bytes:
      description: Disk space allocated to the job's temp files.
      type: int
      sample: 1900000000
    tmp_file_count:
      description: How many temp files the job has.
      type: int
      sample: 262
    tmp_files:
      description: The temp files (only with I(temp_files=true)).
      type: list
      elements: str
      returned: when temp_files is true
      sample: ["/mnt/tmp/00/plot-k32-2026-11-25-08-18-ce02....plot.table1.tmp"]
    cmdline:
      description: The job's command line.
      type: list
      elements: str
      sample: ["/opt/chia/bin/python", "/opt/chia/bin/chia", "plots", "create", "-k", "32"]
tmp_dirs:
  description: The configured tmp dirs.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The dir.
      type: str
      sample: /mnt/tmp/00
    free_bytes:
      description: Bytes free for writers (null when the dir cannot be read).
      type: int
      sample: 500000000000
    total_bytes:
      description: Size of its filesystem.
      type: int
      sample: 1000000000000
    error:
      description: Why the dir could not be read, else null.
      type: str
      sample: null
    jobs:
      description: Plot ids (or C(pid:N)) of the jobs using it.
      type: list
      elements: str
      sample: ["ce0294538446c461f31802a0b447b802c44be7e6348eac16cf64882134e9b7c4"]
dst_dirs:
  description: The configured dst dirs (the tmp dirs when none are configured).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The dir.
      type: str
      sample: /mnt/dst/00
    free_bytes:
      description: Bytes free for writers.
      type: int
      sample: 500000000000
    total_bytes:
      description: Size of its filesystem.
      type: int
      sample: 1000000000000
    error:
      description: Why the dir could not be read, else null.
      type: str
      sample: null
    jobs:
      description: Same as I(inbound).
      type: list
      elements: str
      sample: []
    plots:
      description: Finished plots in the dir (path, name, size_bytes, mtime, plot_id, k).
      type: list
      elements: dict
      sample: [{"path": "/mnt/dst/00/plot-k32-....plot", "size_bytes": 108836000000, "k": 32}]
    plot_count:
      description: How many finished plots.
      type: int
      sample: 3
    plot_bytes:
      description: Their total size.
      type: int
      sample: 326508000000
    inbound:
      description: Plot ids of running jobs that will write their plot here.
      type: list
      elements: str
      sample: []
transfers:
  description: Archive transfers (rsync to a harvester) running now.
  returned: always
  type: list
  elements: dict
  sample: [{"pid": 4242, "source": "/mnt/dst/00/plot-k32-....plot", "host": "10.0.0.5",
            "port": 873, "module": "plots-disk01", "size_bytes": 108836000000}]
paused:
  description:
    - The operator's pauses of this plotter's automatic work (scripts/watch sets them), per kind
      (C(plotting), C(archiving)); null when not paused. A pause is the file C(paused-<kind>)
      beside the config file; M(plotfleet_plot) and M(plotfleet_archive) start nothing while it exists.
  returned: always
  type: dict
  sample: {"plotting": {"since": 1767225600.0, "by": "alice@ops1", "path": "/etc/plotfleet/paused-plotting"},
           "archiving": null}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import bytecode_cache  # noqa: F401 - first: what follows is compiled once per host
from ansible_collections.plotfleet.fleet.plugins.module_utils.module_support import load_config_or_fail, require_psutil
from ansible_collections.plotfleet.fleet.plugins.module_utils.state import plotter_info


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "path", "default": "/etc/plotfleet/plotfleet.yml"},
            "temp_files": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    require_psutil(module)
    config = load_config_or_fail(module, module.params["config"])
    module.exit_json(changed=False, **plotter_info(config, module.params["config"], module.params["temp_files"]))


if __name__ == "__main__":
    main()
