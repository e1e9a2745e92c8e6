"""A transfer runner: one transfer slot that keeps moving plots to one harvester dir.

``plotfleet_archive`` starts it detached, as ``<python> <transfer log dir>/.runner/plotfleet-transfer-
<hash>.pyz --to <rsync://…/module/> … -- <plots>``: a zip of this file and the host code it needs,
written by the module (Ansible's own copy of the module code is gone once the module returns).

The runner sends its plots, then, while its room budget lasts, the plotter's next finished plots
from the dst dirs it was given (oldest first, never one that another transfer carries), a batch
per rsync, until none is ready. So a slot keeps moving plots one after another between two
archive runs, and each run only starts slots. It holds the host's archive lock while it picks a
batch and starts its rsync, as the module does, so two slots never take one plot.

Each plot leaves this host only when it is complete and flushed on the harvester:

- ``fsync`` route (rsync >= 3.2.4 at both ends): ``rsync --fsync --remove-source-files``; rsync
  removes each source once the receiver has flushed the complete file.
- ``flush`` route (an older rsync at either end): rsync sends without removing anything and names
  each file it sent; then ``rsync --list-only`` of those names through the dir's flush module,
  whose pre-xfer exec runs ``sync -f <dir>`` before the daemon answers; each source whose name is
  listed at its full size is removed. A failed flush keeps every source.
- ``auto``: the fsync route, switching to the flush route when the harvester's rsync refuses
  ``--fsync`` (it does so before any data moves).

Killing the runner at any point kills its rsync too (parent-death signal); what was not yet
removed stays complete on the plotter, so the worst case is a plot on both hosts, which the planner
reports. Each landed plot is logged as ``landed <bytes> <path>``: the planner reads what is left of
the budget from the runner's log.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
from hashlib import sha256

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import HostLock
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import list_plots
from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import (
    LANDED_PREFIX,
    RUNNER_FAILED,
    RUNNER_KEEPS,
    RUNNER_NAME,
    daemon_was_busy,
    explain_failure,
    find_transfers,
    flush_listing_command,
    fsync_refused,
    parse_listing,
    parse_rsync_command,
    read_claim,
    rsync_command,
    sent_names,
)

_PACKAGE = "ansible_collections.plotfleet.fleet.plugins.module_utils"
# What the runner imports, shipped in its zip (with the package __init__ files).
_PAYLOAD_MODULES = ("hostio", "plotfiles", "proctable", "transfers", "transfer_runner")
_MAIN = f"import sys\nfrom {_PACKAGE}.transfer_runner import main\nsys.exit(main(sys.argv[1:]))\n"
BUSY_RETRY_SECONDS = 20
DEFAULT_BATCH_BYTES = 4 * 1024**3  # per rsync: fewer connections for small plots, fair turns for big ones


# --- the runner's script on the host ------------------------------------------------------------


def payload() -> bytes:
    """The runner as a zip Python runs directly (``__main__.py``), from the code loaded now."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        parts = _PACKAGE.split(".")
        for depth in range(1, len(parts) + 1):
            _add(archive, "/".join(parts[:depth]) + "/__init__.py", "")
        for name in _PAYLOAD_MODULES:
            module = sys.modules.get(f"{_PACKAGE}.{name}")
            if module is None:
                __import__(f"{_PACKAGE}.{name}")
                module = sys.modules[f"{_PACKAGE}.{name}"]
            _add(archive, f"{_PACKAGE.replace('.', '/')}/{name}.py", module.__loader__.get_source(module.__name__))
        _add(archive, "__main__.py", _MAIN)
    return buffer.getvalue()


def _add(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # same code, same bytes, same name
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def install_runner(log_dir: str) -> str:
    """The runner's path under ``log_dir``, written (atomically) when this code is not there yet.
    Named by its content, so a runner that is running keeps its own file."""
    data = payload()
    directory = os.path.join(log_dir, ".runner")
    path = os.path.join(directory, f"{RUNNER_NAME}-{sha256(data).hexdigest()[:12]}.pyz")
    if not os.path.exists(path):
        os.makedirs(directory, mode=0o755, exist_ok=True)
        temp = f"{path}.{os.getpid()}.tmp"
        with open(temp, "wb") as handle:
            handle.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    return path


# --- the runner ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=RUNNER_NAME)
    parser.add_argument("--to", required=True)
    parser.add_argument("--route", choices=("auto", "fsync", "flush"), default="auto")
    parser.add_argument("--log-file", required=True)
    parser.add_argument("--lock", required=True)
    parser.add_argument("--rsync", default="rsync")
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--password-file")
    parser.add_argument("--bwlimit", type=int)
    parser.add_argument("--temp-dir")
    parser.add_argument("--rsync-arg", action="append", default=[])
    parser.add_argument("--budget-bytes", type=int)
    parser.add_argument("--batch-bytes", type=int, default=DEFAULT_BATCH_BYTES)
    parser.add_argument("--pick-from", action="append", default=[])
    parser.add_argument("plots", nargs="*")
    return parser.parse_args(list(argv))


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.route = args.route
        self.pending = list(args.plots)
        self.kept: set[str] = set()  # already on the harvester under that name: never offered again
        self.budget_left = args.budget_bytes
        self.busy_retry_until = 0.0  # after switching routes: the refused connection may still hold the slot
        parts = parse_rsync_command(["rsync", "x.plot", args.to]) or ([], "", {})
        self.context = {**parts[2], "password_file": args.password_file, "temp_dir": args.temp_dir}
        self.log = open(args.log_file, "a", encoding="utf-8")  # noqa: SIM115 - the runner's whole life

    def say(self, text: str) -> None:
        self.log.write(f"{time.strftime('%Y/%m/%d %H:%M:%S')} [{os.getpid()}] {text}\n")
        self.log.flush()

    def run(self) -> int:
        while True:
            with HostLock(self.args.lock):
                batch = self.next_batch()
                if not batch:
                    self.say("no plot left to send: done")
                    return 0
                proc = self.start(batch)
            rc = self.finish(proc, batch)
            if rc != 0:
                return rc

    def next_batch(self) -> list[tuple[str, int]]:
        """(path, size) of the plots for the next rsync: first the ones it was given, then the
        oldest finished plots of its dst dirs that no other transfer carries, within the budget."""
        mine = os.getpid()
        taken = {t.source for t in find_transfers() if t.lane != mine and t.pid != mine}
        offered = [p for p in self.pending if p not in taken]
        # The plots the plan gave this slot go first and alone: the plan's other slots, started
        # moments later, must find theirs. Only then does the slot take what else is ready.
        # A plot another archive run has claimed (it is making room for it elsewhere) is its to send.
        log_dir, now = os.path.dirname(self.args.lock), time.time()
        for directory in self.args.pick_from if not offered else ():
            try:
                offered += [plot.path for plot in list_plots(directory)
                            if read_claim(log_dir, plot.path, now) is None]
            except OSError:
                continue
        batch, total = [], 0
        for path in dict.fromkeys(offered):
            if path in taken or path in self.kept:
                continue
            try:
                size = os.stat(path).st_size
            except OSError:
                continue  # gone: sent by someone else, or removed
            if self.budget_left is not None and total + size > self.budget_left:
                continue
            batch.append((path, size))
            total += size
            if total >= self.args.batch_bytes:
                break
        self.pending = [p for p in self.pending if p not in {path for path, _ in batch}]
        return batch

    def rsync_cmd(self, batch: Sequence[tuple[str, int]], route: str) -> list[str]:
        args = self.args
        return rsync_command(args.rsync, [path for path, _ in batch], args.to, password_file=args.password_file,
                             log_file=args.log_file, timeout=args.timeout, bwlimit=args.bwlimit,
                             temp_dir=args.temp_dir, extra_args=args.rsync_arg,
                             route="flush" if route == "flush" else "fsync")

    def start(self, batch: Sequence[tuple[str, int]]) -> subprocess.Popen:
        cmd = self.rsync_cmd(batch, self.route)
        self.say(f"sending {len(batch)} plot(s) ({self.route} route): {' '.join(cmd)}")
        # Started under the archive lock: once Popen returns, the process table shows these plots.
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)

    def finish(self, proc: subprocess.Popen, batch: Sequence[tuple[str, int]]) -> int:
        output = proc.communicate()[0].decode("utf-8", "replace")
        self.log.write(output)
        if proc.returncode != 0 and self.route == "auto" and fsync_refused(output):
            self.say("the harvester's rsync has no --fsync (older than 3.2.4): using its flush module")
            self.route = "flush"
            self.busy_retry_until = time.monotonic() + BUSY_RETRY_SECONDS
            self.pending = [path for path, _ in batch] + self.pending
            return 0
        if proc.returncode != 0 and daemon_was_busy(output) and time.monotonic() < self.busy_retry_until:
            # The daemon's process for the refused --fsync attempt has not ended yet and still counts
            # against the module's max connections; nothing was sent, so try again in a moment.
            time.sleep(1)
            self.pending = [path for path, _ in batch] + self.pending
            return 0
        if self.route == "flush":
            return self.flush_and_remove(proc.returncode, output, batch)
        for path, size in batch:
            if os.path.exists(path):
                if proc.returncode == 0:  # --ignore-existing skipped it
                    self.kept.add(path)
                    self.say(f"kept {path}: the harvester already has a file of that name")
            else:
                self.landed(path, size)
        return self.failed(proc.returncode, output)

    def flush_and_remove(self, rc: int, output: str, batch: Sequence[tuple[str, int]]) -> int:
        sent = set(sent_names(output))
        done = [(path, size) for path, size in batch if os.path.basename(path) in sent]
        for path, _ in batch:
            if rc == 0 and os.path.basename(path) not in sent:
                self.kept.add(path)
                self.say(f"kept {path}: the harvester already has a file of that name")
        if done:
            args = self.args
            cmd = flush_listing_command(args.rsync, args.to, [os.path.basename(p) for p, _ in done],
                                        password_file=args.password_file, timeout=args.timeout)
            listing = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False,
                                     preexec_fn=_die_with_parent)
            text = listing.stdout.decode("utf-8", "replace")
            if listing.returncode != 0:
                error = listing.stderr.decode("utf-8", "replace")
                self.say(f"flush through {cmd[-1]} failed, every source is kept (rc {listing.returncode}): "
                         f"{error.strip()}")
                return listing.returncode
            listed = parse_listing(text)
            for path, size in done:
                if listed.get(os.path.basename(path)) == size:
                    os.unlink(path)  # complete and flushed on the harvester: now it may go
                    self.landed(path, size)
                else:
                    self.say(f"kept {path}: the flush module lists it at {listed.get(os.path.basename(path))} "
                             f"bytes, not {size}")
                    rc = rc or 23
        return self.failed(rc, output)

    def landed(self, path: str, size: int) -> None:
        if self.budget_left is not None:
            self.budget_left -= size
        # Read back by transfers.landed_bytes: the line starts with the prefix, no timestamp first.
        self.log.write(f"{LANDED_PREFIX}{size} {path}\n")
        self.log.flush()

    def failed(self, rc: int, output: str) -> int:
        if rc != 0:
            self.say(f"{RUNNER_FAILED}{explain_failure(rc, output, **self.context)}{RUNNER_KEEPS}")
        return rc


def _die_with_parent() -> None:
    """The runner's rsync ends with the runner (Linux prctl PR_SET_PDEATHSIG): killing the runner
    stops its transfer, like killing a bare rsync."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


def main(argv: Sequence[str]) -> int:
    return Runner(parse_args(argv)).run()
