"""PID 1 of a fleet host's (or the controller's) PID namespace.

The harness starts this under ``unshare --pid --fork [--mount --uts]``. It gives the host its
name and private directories, starts the host's main process (``sshd -D -e``) and then does
what an init must: reap every process that ends up as its child, so that jobs which
daemonise (plot jobs, rsync transfers, ssh ControlPersist masters) never linger as zombies
that psutil would report. When the main process exits, this exits, and the kernel kills
everything left in the namespace.

Runs with only the standard library: it must not import the harness (or anything slow).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hostinit")
    parser.add_argument("--hostname", help="UTS name to set (needs a UTS namespace)")
    parser.add_argument("--bind", action="append", default=[], metavar="SRC=DST")
    parser.add_argument("--tmpfs", action="append", default=[], metavar="PATH=SIZE")
    parser.add_argument("command", nargs="*", help="main process; without one, reap until killed")
    return parser.parse_args(argv)


def mount(*args: str) -> None:
    # mount(8) has already said why on stderr (our log); name the mount and stop.
    if subprocess.run(["mount", *args]).returncode != 0:
        raise SystemExit(f"hostinit: mount {' '.join(args)} failed")


def setup_filesystem(binds: list[str], tmpfs: list[str]) -> None:
    if not binds and not tmpfs:
        return
    # unshare already makes the new mount namespace private; repeat it so that a change in
    # unshare's defaults can never let these mounts propagate to the machine's real root.
    mount("--make-rprivate", "/")
    for spec in binds:
        source, target = spec.split("=", 1)
        os.makedirs(target, exist_ok=True)
        mount("--bind", source, target)
    for spec in tmpfs:
        target, size = spec.rsplit("=", 1)
        os.makedirs(target, exist_ok=True)
        mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", target)


def spawn(command: list[str]) -> int:
    path = shutil.which(command[0])
    if path is None:
        raise SystemExit(f"hostinit: command not found: {command[0]}")
    # SIGCHLD is blocked in this process (see main); the child must not inherit that mask.
    return os.posix_spawn(path, command, os.environ, setsigmask=())


def reap_forever(main_pid: int | None) -> int:
    """Reaps every child; returns the main process's exit code when it ends."""
    while True:
        signal.sigwait({signal.SIGCHLD})
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == main_pid:
                return os.waitstatus_to_exitcode(status)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # Blocked before the first child exists, so no SIGCHLD can be lost between spawning and
    # waiting: the pending signal stays queued for sigwait.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    if args.hostname:
        socket.sethostname(args.hostname)
    setup_filesystem(args.bind, args.tmpfs)
    main_pid = spawn(args.command) if args.command else None
    print(f"hostinit: ready, main pid {main_pid}", flush=True)
    return reap_forever(main_pid)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
