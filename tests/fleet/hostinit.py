"""PID 1 of a fleet host's (or the controller's) PID namespace.

The harness starts this under ``unshare --pid --fork [--mount --uts]``. It gives the host its
name and filesystem, starts the host's main process (``sshd -D -e``) and then does what an
init must: reap every process that ends up as its child, so that jobs which daemonise (plot
jobs, rsync transfers, ssh ControlPersist masters) never linger as zombies that psutil would
report.

The host outlives its main process, as a machine outlives a crashed daemon: when the main
process exits this logs ``hostinit: main process ... exited`` and carries on. Signals from the
harness (sent to this process's outer PID, which the harness tracks):

    SIGUSR1   stop the main process (SIGTERM to it); everything else keeps running
    SIGUSR2   start the main process again, unless it is running

Killing this process (SIGKILL) crashes the host: the kernel kills everything in the namespace.

With ``--rootfs`` the host runs from another root filesystem (a debootstrapped Debian
release): an overlay of it with a writable upper dir, its own /proc, /sys, /dev, /tmp and
/run, then ``pivot_root`` into it, so the host's own sshd, python3 and rsync are the only ones
it has. This process keeps running on the interpreter that started it: everything it needs is
imported before the pivot, and the interpreter's files stay mapped after the machine's root is
detached. It sticks to the standard library and to Python 3.9 syntax all the same, so it could
run on any host interpreter the fleet has.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys

MNT_DETACH = 2
CONTROL = {signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hostinit")
    parser.add_argument("--hostname", help="UTS name to set (needs a UTS namespace)")
    parser.add_argument("--rootfs", help="run the host from an overlay of this root filesystem")
    parser.add_argument("--state", help="with --rootfs: dir for the overlay's upper, work and merged dirs")
    parser.add_argument("--bind", action="append", default=[], metavar="SRC=DST",
                        help="DST is as the host sees it (inside --rootfs if given)")
    parser.add_argument("--ro-bind", action="append", default=[], metavar="SRC=DST", help="a read-only --bind")
    parser.add_argument("--tmpfs", action="append", default=[], metavar="PATH=SIZE")
    parser.add_argument("command", nargs="*", help="main process; without one, reap until killed")
    args = parser.parse_args(argv)
    if bool(args.rootfs) != bool(args.state):
        parser.error("--rootfs and --state go together")
    return args


def log(message: str) -> None:
    print(f"hostinit: {message}", flush=True)


def mount(*args: str) -> None:
    # mount(8) has already said why on stderr (our log); name the mount and stop.
    if subprocess.run(["mount", *args]).returncode != 0:
        raise SystemExit(f"hostinit: mount {' '.join(args)} failed")


def inside(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def setup_rootfs(lower: str, state: str) -> str:
    """Mounts the host's root (overlay + kernel filesystems) at <state>/merged; returns that."""
    dirs = {name: os.path.join(state, name) for name in ("upper", "work", "merged")}
    for path in dirs.values():
        os.makedirs(path, exist_ok=True)
    # The upper dir's root becomes the host's "/": it must look like one, whatever made it.
    os.chmod(dirs["upper"], 0o755)
    root = dirs["merged"]
    mount("-t", "overlay", "overlay", "-o",
          f"lowerdir={lower},upperdir={dirs['upper']},workdir={dirs['work']}", root)
    # This is PID 1 of a fresh PID namespace: this proc shows the host's processes only, and
    # sysfs mounted from the host's network namespace shows its own interfaces.
    mount("-t", "proc", "proc", inside(root, "/proc"))
    mount("-t", "sysfs", "sysfs", inside(root, "/sys"))
    mount("--rbind", "/dev", inside(root, "/dev"))
    mount("-t", "tmpfs", "-o", "mode=1777", "tmpfs", inside(root, "/tmp"))
    mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", inside(root, "/run"))
    # sshd's privilege separation dir; the release's service manager would make it.
    os.makedirs(inside(root, "/run/sshd"), mode=0o755)
    return root


def pivot_into(root: str) -> None:
    """Makes ``root`` this mount namespace's "/" and detaches the machine's root from it."""
    os.chdir(root)
    # pivot_root(2) moves the root and cwd of every process in the namespace: this one too.
    if subprocess.run(["pivot_root", ".", ".oldroot"]).returncode != 0:
        raise SystemExit(f"hostinit: pivot_root into {root} failed")
    os.chdir("/")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(b"/.oldroot", MNT_DETACH) != 0:
        raise SystemExit(f"hostinit: umount /.oldroot: {os.strerror(ctypes.get_errno())}")


def setup_filesystem(args: argparse.Namespace) -> None:
    if not (args.bind or args.ro_bind or args.tmpfs or args.rootfs):
        return
    # unshare already makes the new mount namespace private; repeat it so that a change in
    # unshare's defaults can never let these mounts propagate to the machine's real root.
    mount("--make-rprivate", "/")
    root = setup_rootfs(args.rootfs, args.state) if args.rootfs else "/"
    for spec in args.bind + args.ro_bind:
        source, target = spec.split("=", 1)
        target = inside(root, target)
        os.makedirs(target, exist_ok=True)
        mount("--bind", source, target)
        if spec in args.ro_bind:
            mount("-o", "remount,bind,ro", target)
    for spec in args.tmpfs:
        target, size = spec.rsplit("=", 1)
        target = inside(root, target)
        os.makedirs(target, exist_ok=True)
        mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", target)
    if args.rootfs:
        pivot_into(root)


class MainProcess:
    """The host's main process (sshd): started, stopped and restarted on request."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.pid: int | None = None

    def start(self) -> None:
        if not self.command or self.pid is not None:
            return
        path = shutil.which(self.command[0])
        if path is None:
            log(f"main process exited: command not found: {self.command[0]}")
            return
        # CONTROL signals are blocked in this process (see main); the child must not inherit that.
        self.pid = os.posix_spawn(path, self.command, os.environ, setsigmask=())
        log(f"main process {self.pid} started")

    def stop(self) -> None:
        # Our own child, not yet reaped: the PID cannot name another process.
        if self.pid is not None:
            os.kill(self.pid, signal.SIGTERM)

    def reaped(self, pid: int, status: int) -> None:
        if pid == self.pid:
            log(f"main process {pid} exited with status {os.waitstatus_to_exitcode(status)}")
            self.pid = None


def reap(main: MainProcess) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        main.reaped(pid, status)


def serve(main: MainProcess) -> None:
    """Reaps children and obeys the harness's signals until killed."""
    while True:
        sig = signal.sigwait(CONTROL)
        if sig == signal.SIGCHLD:
            reap(main)
        elif sig == signal.SIGUSR1:
            main.stop()
        elif sig == signal.SIGUSR2:
            main.start()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # Blocked before the first child exists, so no SIGCHLD can be lost between spawning and
    # waiting, and blocked signals reach a namespace's init even without a handler: they stay
    # pending for sigwait.
    signal.pthread_sigmask(signal.SIG_BLOCK, CONTROL)
    if args.hostname:
        socket.sethostname(args.hostname)
    setup_filesystem(args)
    main_process = MainProcess(args.command)
    main_process.start()
    log(f"ready, main pid {main_process.pid}")
    serve(main_process)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
