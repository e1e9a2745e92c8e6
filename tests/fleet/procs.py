"""Processes and namespaces, identified so that a recycled PID is never mistaken for ours.

A PID alone is not an identity: after a process exits its number can be reused by anything.
The harness records (pid, start time) when it starts a process and acts on a PID only while
both still match. Namespaces are identified by their nsfs inode number.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")
CLONE_NEWNET = 0x40000000


class FleetError(RuntimeError):
    """A fleet could not be built, used or torn down; the message says what and why."""


@dataclass(frozen=True)
class TrackedProcess:
    """A process the harness started: its PID plus the start time that proves it is still it."""

    pid: int
    started: float

    @classmethod
    def of(cls, pid: int) -> TrackedProcess:
        return cls(pid, psutil.Process(pid).create_time())

    def is_running(self) -> bool:
        try:
            proc = psutil.Process(self.pid)
            return proc.create_time() == self.started and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def kill(self) -> None:
        """SIGKILL, but only if the PID still names the process that was started."""
        self.signal(signal.SIGKILL)

    def signal(self, sig: int) -> bool:
        """Sends ``sig`` if the PID still names the process that was started; says if it did."""
        if self.is_running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
                return True
        return False


def ns_inode(pid: int | str, kind: str) -> int | None:
    """The inode of a process's namespace of ``kind`` (net, pid, mnt...), None if it is gone."""
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def processes_in(namespaces: dict[str, set[int]], started_before: float | None = None) -> list[int]:
    """PIDs (in our PID namespace) of processes inside any of the given namespaces.

    ``namespaces`` maps a kind (``pid``, ``net``, ``mnt``) to inode numbers. Inode numbers are
    reused once a namespace is freed, so ``started_before`` excludes processes younger than
    the teardown: they cannot have been in the namespace we destroyed.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        if any(ns_inode(entry.name, kind) in inodes for kind, inodes in namespaces.items()):
            try:
                proc = psutil.Process(int(entry.name))
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                if started_before is None or proc.create_time() <= started_before:
                    found.append(proc.pid)
            except psutil.NoSuchProcess:
                continue
    return found


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(child) for child in text.split()]


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Polls ``condition`` until it returns something truthy, or raises after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise FleetError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def in_netns(netns_path: str, work: Callable[[], T]) -> T:
    """Runs ``work`` in a thread that has joined the network namespace at ``netns_path``.

    A network namespace is a per-thread attribute, and a socket stays in the namespace it was
    created in, so this lets the harness probe hosts without starting a process per probe.
    Python 3.11 has no os.setns, hence libc.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            with open(netns_path) as ns:
                if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise FleetError(f"setns {netns_path}: {os.strerror(err)}")
            outcome["value"] = work()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=f"netns:{netns_path}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def kill_all(processes: Iterable[TrackedProcess]) -> None:
    for proc in processes:
        proc.kill()
