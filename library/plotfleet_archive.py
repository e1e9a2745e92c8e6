#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_archive
short_description: Send one finished Chia plot from a plotter to a harvester's rsync module
description:
  - Starts one C(rsync) transfer of a finished plot (a C(*.plot) file) to an rsync daemon module
    on a harvester, or with O(wait=true) runs it to the end and reports its throughput.
  - The plot is written on the harvester under a temporary name and renamed only when complete;
    the source is removed only after the harvester has the complete file
    (C(--remove-source-files)). C(--inplace) and C(--append) are never used. A failed or killed
    transfer leaves the source complete where it was.
  - A started transfer runs in its own session and outlives the Ansible connection. It is
    recognised later from the process table alone, so the module refuses to send a plot that
    is already being sent, and starts nothing while C(archiving.parallel_transfers) transfers
    run. Module runs on one host are serialised with a lock, so two runs at the same moment
    never exceed the limit or send one plot twice.
  - Each transfer has its own log file under C(archiving.transfer_log_dir).
  - Fleet-wide planning (which plot to which harvester) is done by C(playbooks/archive.yml) with
    the C(plotfleet_archive_plan) filter; this module acts on one decision.
version_added: "0.1.0"
options:
  source:
    description:
      - Path of the finished plot on this host.
    type: path
    required: true
  host:
    description:
      - Address of the harvester's rsync daemon, as this plotter reaches it.
    type: str
    required: true
  port:
    description:
      - TCP port of the harvester's rsync daemon.
    type: int
    default: 873
  module:
    description:
      - The rsync daemon module to write into (one per harvester archive dir).
    type: str
    required: true
  user:
    description:
      - User name to authenticate as; default C(archiving.rsync_user) of the config.
    type: str
  password_file:
    description:
      - File holding the rsync password (mode 0600); default C(archiving.rsync_password_file).
    type: path
  bwlimit:
    description:
      - Bandwidth limit in KiB/s (rsync C(--bwlimit)); default C(archiving.bwlimit), 0 for none.
    type: int
  temp_dir:
    description:
      - Dir, relative to the module's path on the harvester, where rsync writes the plot until it
        is complete (rsync C(--temp-dir)). It must exist on the harvester; use one of the
        harvester's C(harvester_incoming_subdirs) so C(plotfleet_space_info) counts the file as
        incoming.
      - By default rsync writes a hidden C(.<name>.plot.XXXXXX) file in the module's dir, which
        C(plotfleet_space_info) also counts as incoming.
    type: str
  wait:
    description:
      - Run the transfer to the end and report its result, instead of starting it and returning.
    type: bool
    default: false
  timeout:
    description:
      - Seconds without I/O (or to connect to the daemon) after which rsync gives up.
    type: int
    default: 300
  config:
    description:
      - Path of the plotter configuration written by the C(plotter) role.
    type: path
    default: /etc/plotfleet/plotfleet.yml
attributes:
  check_mode:
    support: full
    description: Checks everything and returns the command it would run, without starting it.
  diff_mode:
    support: none
    description: The transfer is reported in the result, not as a diff.
requirements:
  - rsync on the plotter
  - psutil on the plotter
notes:
  - C(changed) is true only when a transfer was started (or, with O(wait=true), ran).
  - A transfer that is not started because the plot is already on its way, or the parallel limit
    is reached, is not a failure; RV(started) is false and RV(msg) says why.
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: Start sending a plot to a harvester's first archive disk
  plotfleet_archive:
    source: /mnt/dst/00/plot-k32-2026-11-25-08-18-ce0294538446c461f31802a0b447b802c44be7e6348eac16cf64882134e9b7c4.plot
    host: 10.0.0.5
    module: plots-hdd01

- name: Send a plot to the demo harvester and wait until it is there
  plotfleet_archive:
    source: "{{ plot_path }}"
    host: 127.0.0.1
    port: 8873
    module: plots-archive0
    bwlimit: 100000
    wait: true
  register: sent

# Fleet-wide: ansible-playbook playbooks/archive.yml [-e wait=true]
"""

RETURN = r"""
started:
  description: Whether a transfer was started (or would be, in check mode).
  returned: always
  type: bool
  sample: true
msg:
  description: What happened, or why nothing was started.
  returned: always
  type: str
  sample: "started rsync pid 4242: plot-k32-....plot -> rsync://plotfleet@10.0.0.5:873/plots-hdd01/"
source:
  description: The plot sent.
  returned: always
  type: str
  sample: /mnt/dst/00/plot-k32-2026-11-25-08-18-ce02....plot
destination:
  description: The rsync daemon URL written to.
  returned: always
  type: str
  sample: rsync://plotfleet@10.0.0.5:873/plots-hdd01/
size_bytes:
  description: Size of the plot.
  returned: always
  type: int
  sample: 108836000000
cmd:
  description: The rsync command (run, or to be run in check mode).
  returned: always
  type: list
  elements: str
  sample: ["/usr/bin/rsync", "--times", "--whole-file", "--preallocate", "--remove-source-files"]
log_file:
  description: The transfer's log file (rsync's log and its output).
  returned: when a transfer was started
  type: str
  sample: /var/log/plotfleet/transfers/2026-11-25T09_00_00_plot-k32-2026-11-25-08-18-ce02....log
pid:
  description: The rsync process.
  returned: when a transfer was started
  type: int
  sample: 4242
running:
  description: The transfers that were running on the host before this one (pid, source, destination, ...).
  returned: always
  type: list
  elements: dict
  sample: [{"pid": 4100, "source": "/mnt/dst/01/plot-k32-....plot", "module": "plots-hdd02"}]
busy:
  description: The harvester's module was receiving another plot (its max connections), so nothing
    was sent; not a failure, the plot stays for the next run.
  returned: when the harvester refused the connection as busy
  type: bool
  sample: true
completed:
  description: Whether the transfer finished (the plot is on the harvester and gone from here).
  returned: when a transfer was started
  type: bool
  sample: true
rc:
  description: rsync's exit code.
  returned: when the transfer ended
  type: int
  sample: 0
seconds:
  description: Wall time of the transfer (with O(wait=true)).
  returned: when the transfer ended
  type: float
  sample: 512.3
bytes_per_second:
  description: Average throughput (with O(wait=true)).
  returned: when the transfer ended
  type: float
  sample: 212447312.0
stderr:
  description: rsync's error output, when it failed.
  returned: on failure
  type: str
  sample: "@ERROR: auth failed on module plots-hdd01"
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils.module_support import load_config_or_fail, require_psutil
from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import (
    archive_lock,
    daemon_url,
    daemon_was_busy,
    explain_failure,
    find_transfers,
    finish_rsync,
    password_file_problem,
    rsync_command,
    source_problem,
    start_refusal,
    start_rsync,
    transfer_log_path,
    unsafe_args,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "source": {"type": "path", "required": True},
            "host": {"type": "str", "required": True},
            "port": {"type": "int", "default": 873},
            "module": {"type": "str", "required": True},
            "user": {"type": "str"},
            "password_file": {"type": "path", "no_log": False},
            "bwlimit": {"type": "int"},
            "temp_dir": {"type": "str"},
            "wait": {"type": "bool", "default": False},
            "timeout": {"type": "int", "default": 300},
            "config": {"type": "path", "default": "/etc/plotfleet/plotfleet.yml"},
        },
        supports_check_mode=True,
    )
    params = module.params
    require_psutil(module)
    archiving = load_config_or_fail(module, params["config"]).archiving
    source = os.path.abspath(params["source"])
    user = params["user"] or archiving.rsync_user
    password_file = params["password_file"] or archiving.rsync_password_file
    bwlimit = archiving.bwlimit if params["bwlimit"] is None else params["bwlimit"]
    destination = daemon_url(params["host"], params["port"], params["module"], user)
    what = f"archive {os.path.basename(source)} to {params['host']}::{params['module']}"
    context = {"host": params["host"], "port": params["port"], "module": params["module"], "user": user,
               "password_file": password_file, "temp_dir": params["temp_dir"]}
    result = {"source": source, "destination": destination, "started": False}

    def fail(reason: str, **evidence) -> None:
        module.fail_json(msg=f"{what}: {reason}", **result, **evidence)

    rsync = module.get_bin_path("rsync")
    if not rsync:
        fail("rsync is not installed on this plotter (the plotter role installs it: plotter_install_rsync)")
    problem = source_problem(source) or password_file_problem(password_file)
    if problem:
        fail(problem)
    if unsafe_args(archiving.rsync_extra_args):
        fail(f"archiving.rsync_extra_args has {' '.join(unsafe_args(archiving.rsync_extra_args))}, which would "
             "write into the final name; remove it")
    if params["timeout"] < 1:
        fail(f"timeout must be >= 1 second, got {params['timeout']}")
    result["size_bytes"] = os.path.getsize(source)
    log_file = transfer_log_path(archiving.transfer_log_dir, source, time.time())
    result["cmd"] = rsync_command(rsync, source, destination, password_file=password_file, log_file=log_file,
                                  timeout=params["timeout"], bwlimit=bwlimit, temp_dir=params["temp_dir"],
                                  extra_args=archiving.rsync_extra_args)

    if module.check_mode:
        running = find_transfers()
        refusal = start_refusal(source, running, archiving.parallel_transfers)
        result["running"] = [t.as_dict() for t in running]
        module.exit_json(changed=refusal is None, started=refusal is None,
                         msg=refusal or f"would run: {' '.join(result['cmd'])}",
                         **{k: v for k, v in result.items() if k != "started"})

    # Only the decision and the start are serialised: a concurrent run must see this transfer in
    # the process table before it decides, but need not wait for it to end.
    try:
        with archive_lock(archiving.transfer_log_dir):
            running = find_transfers()
            result["running"] = [t.as_dict() for t in running]
            refusal = start_refusal(source, running, archiving.parallel_transfers)
            if refusal:
                module.exit_json(changed=False, msg=refusal, **result)
            if not os.path.exists(source):  # another run sent it while we waited for the lock
                module.exit_json(changed=False, msg=f"{source} is gone: already archived by another run", **result)
            started = time.monotonic()
            proc = start_rsync(result["cmd"], log_file, capture_stderr=params["wait"])
    except OSError as err:
        fail(f"cannot start rsync: {err.strerror or err} ({getattr(err, 'filename', None) or 'transfer log dir'})")
    outcome = finish_rsync(proc, log_file, started, wait=params["wait"])

    result.update(started=True, pid=outcome.pid, log_file=log_file, completed=outcome.rc == 0)
    if outcome.rc is None:
        module.exit_json(changed=True, msg=f"started rsync pid {outcome.pid}: {source} -> {destination}", **result)
    result.update(rc=outcome.rc, seconds=round(outcome.seconds, 3))
    if outcome.rc != 0 and daemon_was_busy(outcome.stderr):
        result.update(started=False, busy=True, stderr=outcome.stderr)
        module.exit_json(changed=False, msg=f"{what}: not sent, {params['module']} is receiving another plot "
                         "(its max connections are in use); the plot stays for the next run", **result)
    if outcome.rc != 0:
        result["stderr"] = outcome.stderr
        exists = "the source is still complete in place" if os.path.exists(source) else "the source is gone"
        fail(f"{explain_failure(outcome.rc, outcome.stderr, **context)} ({exists}; log: {log_file})")
    if os.path.exists(source):  # rsync skipped it: the harvester has a file of that name already
        fail(f"{params['module']} on {params['host']} already has a file named {os.path.basename(source)}; "
             "nothing was sent and the source is kept. Compare the two (sha256) and remove one copy by hand")
    result["bytes_per_second"] = round(result["size_bytes"] / max(outcome.seconds, 1e-6), 1)
    module.exit_json(changed=True, msg=f"sent {source} to {destination} in {outcome.seconds:.1f} s", **result)


if __name__ == "__main__":
    main()
