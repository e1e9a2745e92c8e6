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
  - The transfer is a runner process (C(python3 .../plotfleet-transfer-<hash>.pyz --to <url> ... --
    <plots>)) that sends its plots one after another, then the next finished plots of O(pick_from)
    within O(budget_bytes); its command line and its rsync's show every plot on its way and where
    it goes, and killing it stops its rsync. Each plot leaves this host only when it is complete and
    flushed on the harvester (O(flush)).
  - Fleet-wide planning (which plot to which harvester) is done by C(playbooks/archive.yml) with
    the C(plotfleet_archive_plan) filter; this module acts on one decision.
  - While the operator has paused archiving on the plotter (the file C(paused-archiving) beside
    the config, set by C(scripts/watch)), nothing starts and RV(msg) says who paused it and when.
version_added: "0.1.0"
options:
  source:
    description:
      - Path of the finished plot on this host. One of O(source) and O(sources) is required.
    type: path
  sources:
    description:
      - The finished plots this transfer sends first, one after another (the plan's allotment for
        this transfer slot).
    type: list
    elements: path
  pick_from:
    description:
      - Dst dirs from which the transfer takes the next finished plots, oldest first, once its
        O(sources) are sent and while O(budget_bytes) lasts, so that one slot keeps moving plots
        between two runs of C(archive.yml). A plot that another transfer carries is never taken.
    type: list
    elements: path
    default: []
  budget_bytes:
    description:
      - Bytes this transfer may write into the harvester dir in all (the room the fleet-wide plan
        gave this slot). Without it, only O(sources) are sent.
    type: int
  batch_bytes:
    description:
      - Bytes of plots per rsync run, so that several small plots go through one connection and big ones one
        by one.
    type: int
    default: 4294967296
  flush:
    description:
      - How a plot is known to be flushed on the harvester before its source is removed.
      - C(fsync) uses rsync C(--fsync) (rsync >= 3.2.4 on both ends).
      - C(flush) sends without removing, then lists the plots through the dir's read-only flush
        module (C(<module>-flush), roles/harvester), whose pre-xfer exec runs C(sync -f) on the dir
        before the daemon answers; a source goes only when its name is listed at its full size.
        For rsync older than 3.2.4 at either end (Debian 11 ships 3.2.3).
      - C(auto) takes C(flush) when this plotter's rsync or O(harvester_rsync_version) is older than
        3.2.4, C(fsync) when both are known to be newer, and otherwise tries C(--fsync) and falls back
        to C(flush) when the harvester's rsync refuses it (before any data moves).
    type: str
    choices: [auto, fsync, flush]
    default: auto
  harvester_rsync_version:
    description:
      - The harvester's rsync version (as C(plotfleet_space_info) reports it, e.g. C(3.2.3)), for
        O(flush=auto).
    type: str
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
  claim:
    description:
      - An id of the archive run (archive.yml makes one per run). A plot another run claims (it is
        making room for it on a harvester) is never started here, nor picked up by a transfer slot;
        a start by this run drops this run's claims on its plots.
      - Claims live under C(archiving.transfer_log_dir)/.claims and expire after 15 minutes (a run that
        died between claiming and starting).
    type: str
  claim_state:
    description:
      - Act on run O(claim)'s claims only, and start nothing.
      - C(claimed) claims the plots when a transfer of them could start now (RV(claimed)); archive.yml
        does this before it deletes plots on a harvester to make room. In check mode it says whether
        it would, and writes nothing.
      - C(released) drops the run's claims on the plots (archive.yml, for a plot whose room was not
        made, so its transfer did not start).
    type: str
    choices: [claimed, released]
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
claimed:
  description: With O(claim_state=claimed), whether the plots are now this run's (or would be, in check mode).
  returned: with claim_state=claimed
  type: bool
  sample: true
paused:
  description: Set (true) when nothing was sent because the operator paused archiving on this plotter.
  returned: when paused
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
  description: The transfer runner's command (run, or to be run in check mode).
  returned: always
  type: list
  elements: str
  sample: ["/usr/bin/python3", "/var/log/plotfleet/transfers/.runner/plotfleet-transfer-0123456789ab.pyz", "--to",
           "rsync://plotfleet@10.0.0.5:873/plots-hdd01/", "--", "/mnt/dst/00/plot-k32-....plot"]
rsync_cmd:
  description: The first rsync command the runner runs.
  returned: always
  type: list
  elements: str
  sample: ["/usr/bin/rsync", "--times", "--whole-file", "--preallocate", "--fsync", "--remove-source-files"]
route:
  description: C(fsync), C(flush), or C(auto) (tries C(--fsync), falls back to the flush module).
  returned: always
  type: str
  sample: fsync
sources:
  description: The plots the transfer sends first.
  returned: always
  type: list
  elements: str
  sample: ["/mnt/dst/00/plot-k32-....plot"]
gone:
  description: Plots of O(sources) that were no longer there (sent by another transfer slot, or removed).
  returned: when O(sources) is given
  type: list
  elements: str
  sample: []
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
  returned: when the transfer ended, except when the harvester refused it as busy
  type: int
  sample: 0
rsync_rc:
  description: rsync's exit code when the harvester refused the connection as busy (not C(rc),
    which Ansible would count as a failed task).
  returned: when the harvester refused the connection as busy
  type: int
  sample: 5
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
import sys
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import bytecode_cache  # noqa: F401 - first: what follows is compiled once per host
from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import installed_rsync_version, rsync_version
from ansible_collections.plotfleet.fleet.plugins.module_utils.module_support import load_config_or_fail, require_psutil
from ansible_collections.plotfleet.fleet.plugins.module_utils.pause import pause_reason, read_pause
from ansible_collections.plotfleet.fleet.plugins.module_utils.transfer_runner import (
    DEFAULT_BATCH_BYTES,
    install_runner,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import (
    archive_lock,
    choose_route,
    daemon_url,
    daemon_was_busy,
    drop_claims,
    explain_failure,
    find_transfers,
    finish_rsync,
    foreign_claim,
    password_file_problem,
    rsync_command,
    runner_command,
    source_problem,
    start_refusal,
    start_rsync,
    transfer_log_path,
    unsafe_args,
    write_claims,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "source": {"type": "path"},
            "sources": {"type": "list", "elements": "path"},
            "pick_from": {"type": "list", "elements": "path", "default": []},
            "budget_bytes": {"type": "int"},
            "batch_bytes": {"type": "int", "default": DEFAULT_BATCH_BYTES},
            "flush": {"type": "str", "choices": ["auto", "fsync", "flush"], "default": "auto"},
            "harvester_rsync_version": {"type": "str"},
            "host": {"type": "str", "required": True},
            "port": {"type": "int", "default": 873},
            "module": {"type": "str", "required": True},
            "user": {"type": "str"},
            "password_file": {"type": "path", "no_log": False},
            "bwlimit": {"type": "int"},
            "temp_dir": {"type": "str"},
            "wait": {"type": "bool", "default": False},
            "claim": {"type": "str"},
            "claim_state": {"type": "str", "choices": ["claimed", "released"]},
            "timeout": {"type": "int", "default": 300},
            "config": {"type": "path", "default": "/etc/plotfleet/plotfleet.yml"},
        },
        mutually_exclusive=[("source", "sources")],
        required_one_of=[("source", "sources")],
        supports_check_mode=True,
    )
    params = module.params
    require_psutil(module)
    archiving = load_config_or_fail(module, params["config"]).archiving
    sources = [os.path.abspath(path) for path in (params["sources"] or [params["source"]])]
    source = sources[0]
    user = params["user"] or archiving.rsync_user
    password_file = params["password_file"] or archiving.rsync_password_file
    bwlimit = archiving.bwlimit if params["bwlimit"] is None else params["bwlimit"]
    destination = daemon_url(params["host"], params["port"], params["module"], user)
    names = os.path.basename(source) + (f" and {len(sources) - 1} more" if len(sources) > 1 else "")
    what = f"archive {names} to {params['host']}::{params['module']}"
    context = {"host": params["host"], "port": params["port"], "module": params["module"], "user": user,
               "password_file": password_file, "temp_dir": params["temp_dir"]}
    result = {"source": source, "sources": sources, "destination": destination, "started": False}
    paused = read_pause(params["config"], "archiving")
    if paused:  # the operator's pause (scripts/watch, or the file by hand) wins over the plan
        module.exit_json(changed=False, paused=True, msg=f"{what}: not sent, {pause_reason(paused, 'archiving')}",
                         **result)

    def fail(reason: str, **evidence) -> None:
        module.fail_json(msg=f"{what}: {reason}", **result, **evidence)

    rsync = module.get_bin_path("rsync")
    if not rsync:
        fail("rsync is not installed on this plotter (the plotter role installs it: plotter_install_rsync)")
    if params["sources"]:
        # A slot's plots may have gone with another slot started moments before (it takes the
        # plotter's next plots when its own are sent): not a failure, they are on their way.
        result["gone"] = [path for path in sources if not os.path.lexists(path)]
        sources = [path for path in sources if path not in result["gone"]]
        if not sources:
            module.exit_json(changed=False, msg=f"{what}: nothing left to send, already archived by another "
                             "transfer or removed", **result)
        source = sources[0]
        result.update(source=source, sources=sources)
    problem = next(filter(None, (source_problem(path) for path in sources)), None) or password_file_problem(
        password_file)
    if problem:
        fail(problem)
    if unsafe_args(archiving.rsync_extra_args):
        fail(f"archiving.rsync_extra_args has {' '.join(unsafe_args(archiving.rsync_extra_args))}, which would "
             "write into the final name; remove it")
    if params["timeout"] < 1:
        fail(f"timeout must be >= 1 second, got {params['timeout']}")
    if params["batch_bytes"] < 1 or (params["budget_bytes"] is not None and params["budget_bytes"] < 0):
        fail(f"batch_bytes must be >= 1 and budget_bytes >= 0, got {params['batch_bytes']} and "
             f"{params['budget_bytes']}")
    route = choose_route(params["flush"], installed_rsync_version(rsync), rsync_version(
        f"version {params['harvester_rsync_version']}" if params["harvester_rsync_version"] else ""))
    result.update(route=route, size_bytes=sum(os.path.getsize(path) for path in sources))
    log_file = transfer_log_path(archiving.transfer_log_dir, source, time.time())
    result["rsync_cmd"] = rsync_command(rsync, sources, destination, password_file=password_file, log_file=log_file,
                                        timeout=params["timeout"], bwlimit=bwlimit, temp_dir=params["temp_dir"],
                                        extra_args=archiving.rsync_extra_args,
                                        route="flush" if route == "flush" else "fsync")
    runner = os.path.join(archiving.transfer_log_dir, ".runner", "plotfleet-transfer-<hash>.pyz")

    def command(script: str) -> list:
        return runner_command(
            sys.executable, script, sources, destination, route=route, log_file=log_file,
            lock_file=archive_lock(archiving.transfer_log_dir).path, rsync=rsync, password_file=password_file,
            timeout=params["timeout"], bwlimit=bwlimit, temp_dir=params["temp_dir"],
            extra_args=archiving.rsync_extra_args, budget_bytes=params["budget_bytes"],
            batch_bytes=params["batch_bytes"], pick_from=params["pick_from"])

    result["cmd"] = command(runner)
    log_dir, run, claim_state = archiving.transfer_log_dir, params["claim"], params["claim_state"]
    if claim_state and not run:
        fail(f"claim_state={claim_state} needs claim, the id of this archive run")
    if claim_state == "released":
        if not module.check_mode:
            try:
                drop_claims(log_dir, sources, run)
            except OSError as err:
                fail(f"cannot release the claims: {err.strerror or err}")
        module.exit_json(changed=False, msg=f"released this run's claims on {names}", **result)

    def refusal_now(running: list) -> str | None:
        return start_refusal(sources, running, archiving.parallel_transfers) or foreign_claim(
            log_dir, sources, run, time.time())

    if module.check_mode:
        running = find_transfers()
        refusal = refusal_now(running)
        result["running"] = [t.as_dict() for t in running]
        if claim_state == "claimed":
            result["claimed"] = refusal is None
        module.exit_json(changed=refusal is None, started=refusal is None,
                         msg=refusal or f"would run: {' '.join(result['cmd'])}",
                         **{k: v for k, v in result.items() if k != "started"})
    if claim_state == "claimed":
        try:
            with archive_lock(log_dir):
                running = find_transfers()
                result["running"] = [t.as_dict() for t in running]
                refusal = refusal_now(running)
                if refusal is None:
                    write_claims(log_dir, sources, run, f"{params['host']}::{params['module']}", time.time())
        except OSError as err:
            fail(f"cannot claim the plots: {err.strerror or err} ({getattr(err, 'filename', None) or log_dir})")
        module.exit_json(changed=refusal is None, claimed=refusal is None,
                         msg=refusal or f"claimed {names} for this run: {params['host']}::{params['module']}",
                         **result)

    # Only the decision and the start are serialised: a concurrent run must see this transfer in
    # the process table before it decides, but need not wait for it to end.
    try:
        result["cmd"] = command(install_runner(archiving.transfer_log_dir))
        with archive_lock(log_dir):
            running = find_transfers()
            result["running"] = [t.as_dict() for t in running]
            refusal = refusal_now(running)
            if not refusal and not any(os.path.exists(path) for path in sources):
                refusal = f"{source} is gone: already archived by another run"
            # Decided: this run's claims end here. Claims are read under this lock only, and before
            # it is released the process table shows the transfer (or nothing is started).
            drop_claims(log_dir, sources, run)
            if refusal:
                module.exit_json(changed=False, msg=refusal, **result)
            started = time.monotonic()
            proc = start_rsync(result["cmd"], log_file, capture_stderr=False)
    except OSError as err:
        where = getattr(err, "filename", None) or "transfer log dir"
        fail(f"cannot start the transfer: {err.strerror or err} ({where})")
    outcome = finish_rsync(proc, log_file, started, wait=params["wait"], until_connected=True)

    left = [path for path in sources if os.path.exists(path)]
    result.update(started=True, pid=outcome.pid, log_file=log_file, completed=outcome.rc == 0 and not left)
    if outcome.rc is None:
        module.exit_json(changed=True, msg=f"started transfer pid {outcome.pid}: {names} -> {destination}", **result)
    result["seconds"] = round(outcome.seconds, 3)
    if outcome.rc != 0 and daemon_was_busy(outcome.stderr):
        # No rc in this result: Ansible marks any result with a non-zero rc as failed.
        result.update(started=False, busy=True, rsync_rc=outcome.rc, stderr=outcome.stderr)
        module.exit_json(changed=False, msg=f"{what}: not sent, {params['module']} is receiving another plot "
                         "(its max connections are in use); the plot stays for the next run", **result)
    result["rc"] = outcome.rc
    if outcome.rc != 0:
        result["stderr"] = outcome.stderr
        exists = "the source is still complete in place" if source in left else "the source is gone"
        fail(f"{explain_failure(outcome.rc, outcome.stderr, runner_pid=outcome.pid, **context)} "
             f"({exists}; log: {log_file})")
    if left:  # rsync skipped them: the harvester has files of those names already
        fail(f"{params['module']} on {params['host']} already has a file named "
             f"{', '.join(os.path.basename(p) for p in left)}; nothing was sent for it and the source is kept. "
             "Compare the two (sha256) and remove one copy by hand")
    result["bytes_per_second"] = round(result["size_bytes"] / max(outcome.seconds, 1e-6), 1)
    module.exit_json(changed=True, msg=f"sent {names} to {destination} in {outcome.seconds:.1f} s", **result)


if __name__ == "__main__":
    main()
