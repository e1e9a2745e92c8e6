"""The rsync daemon's ``post-xfer exec`` hook: verify what just landed in a module's dir.

rsyncd runs the hook as the user that started the daemon (root), outside any chroot, once per
transfer session, with the module's path in ``RSYNC_MODULE_PATH`` and the transfer's exit status in
``RSYNC_EXIT_STATUS`` (rsyncd.conf(5)). roles/harvester installs ``plotfleet-verify-landed``, a
root-owned script that imports this module from a root-owned copy of plotfleet's host code.

Whatever the transfer's status, the plots now complete in that dir are verified: a failed session
may still have renamed a complete plot into place, and a plot that is not there is not looked at.
The hook never fails the transfer (rsync ignores a post-xfer exit status), returns at once and
verifies in the background (``main``), and logs what it did.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping

from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
    HarvesterConfigError,
    load_harvester_config,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import normalise_path
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotverify import (
    confirm_farmed,
    log_verdicts,
    verify_dir,
)


def run_hook(environ: Mapping[str, str], config_path: str) -> int:
    """Verify the plots in the dir of the module that just received files; 0 unless it could not."""
    module_path = environ.get("RSYNC_MODULE_PATH", "")
    try:
        config = load_harvester_config(config_path)
    except HarvesterConfigError as err:
        print(f"plotfleet-verify-landed: load harvester config {config_path}: {err}", file=sys.stderr)
        return 1
    # Only a configured archive dir is touched, whatever the environment says.
    archive = next((item for item in config.archive_dirs if item.path == normalise_path(module_path or "/")), None)
    if archive is None:
        print(f"plotfleet-verify-landed: {module_path!r} is not an archive dir in {config_path}", file=sys.stderr)
        return 1
    settings = config.verify
    if not settings.enabled:
        return 0  # the role installs the hook only where verification is on; an old config line is no reason
    source = f"post-xfer[{environ.get('RSYNC_MODULE_NAME', '?')} from {environ.get('RSYNC_HOST_ADDR', '?')}, " \
             f"exit {environ.get('RSYNC_EXIT_STATUS', '?')}]"
    try:
        verdicts = verify_dir(archive.path, settings)
    except OSError as err:
        print(f"plotfleet-verify-landed: cannot verify {archive.path}: {err}", file=sys.stderr)
        return 1
    confirm_farmed(verdicts, settings)
    log_verdicts(verdicts, settings.log_file, time.time(), source)
    return 0


def main(config_path: str) -> None:
    """Detach, then verify: rsyncd holds the module's connection slot (its "max connections" lock)
    until the hook returns, and the next plot for that disk must not wait for a `chia plots check`.
    The dir's verify lock orders overlapping runs."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os._exit(run_hook(os.environ, config_path))
