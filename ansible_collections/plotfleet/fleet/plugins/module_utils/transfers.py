"""Archive transfers: rsync pushing one finished plot to a harvester's rsync daemon module.

A running transfer is recognised from the process table alone: an ``rsync`` process whose
command line sends one ``.plot`` file to a daemon module (``rsync://[user@]host[:port]/module/``
or ``[user@]host::module/``). Nothing about transfers is stored anywhere else, so a controller
that died mid-run loses nothing, and transfers started by hand are seen too.

This file also builds the one rsync command plotfleet uses, explains rsync's failures in words
an operator can act on, and starts a transfer under a host-wide lock so that two runs at the
same moment never send one plot twice or exceed the parallel limit.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import HostLock, normalise_path, start_detached
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import FINISHED_SUFFIXES
from ansible_collections.plotfleet.fleet.plugins.module_utils.proctable import (
    command_lines,
    in_our_namespaces,
    split_argv,
)

try:
    import psutil
except ImportError:
    psutil = None

_DAEMON_URL = re.compile(
    r"^rsync://(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?/(?P<module>[^/]+)"
)
_DAEMON_PAIR = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+)::(?P<module>[^/]+)")

# rsync options that take their value as the next argument when not written ``--opt=value``.
_LONG_WITH_VALUE = frozenset((
    "--rsh", "--rsync-path", "--bwlimit", "--log-file", "--log-file-format", "--password-file", "--port",
    "--timeout", "--contimeout", "--temp-dir", "--partial-dir", "--exclude", "--include", "--exclude-from",
    "--include-from", "--filter", "--files-from", "--chmod", "--compare-dest", "--copy-dest", "--link-dest",
    "--block-size", "--max-size", "--min-size", "--max-delete", "--out-format", "--suffix", "--backup-dir",
    "--modify-window", "--sockopts", "--outbuf", "--iconv", "--checksum-choice", "--cc", "--compress-choice",
    "--zc", "--compress-level", "--zl", "--skip-compress", "--usermap", "--groupmap", "--chown", "--address",
    "--protocol", "--info", "--debug", "--stop-after", "--stop-at", "--max-alloc", "--remote-option",
    "--early-input", "--checksum-seed", "--copy-as",
))
_SHORT_WITH_VALUE = frozenset("eTfBM")

# Unsafe for plots: they write into the final file name, so a half-copied plot could be farmed.
UNSAFE_RSYNC_ARGS = ("--inplace", "--append", "--append-verify")

# rsync(1) EXIT VALUES, worded for an operator.
RSYNC_EXIT_CODES = {
    1: "syntax or usage error",
    2: "protocol incompatibility",
    3: "errors selecting input/output files or dirs",
    4: "requested action not supported",
    5: "error starting the client-server protocol",
    6: "daemon unable to append to its log file",
    10: "error in socket I/O",
    11: "error in file I/O",
    12: "error in the rsync protocol data stream",
    13: "errors with program diagnostics",
    14: "error in IPC code",
    20: "received SIGUSR1 or SIGINT",
    21: "some error returned by waitpid()",
    22: "error allocating core memory buffers",
    23: "partial transfer due to error",
    24: "partial transfer due to vanished source files",
    25: "the --max-delete limit stopped deletions",
    30: "timeout in data send/receive",
    35: "timeout waiting for daemon connection",
}

# (pattern in rsync's stderr, what it means and what to do), first match wins.
_KNOWN_FAILURES = (
    (re.compile(r"auth failed on module", re.I),
     "authentication failed: the password in {password_file} does not match the harvester's "
     "secrets file for user {user} (harvester_rsync_password / plotter_rsync_password)"),
    (re.compile(r"Unknown module", re.I),
     "the harvester's rsync daemon offers no module {module} to this plotter: either the module does not "
     "exist (harvester_archive_dirs, site.yml) or this plotter's address is not in its hosts allow "
     "(harvester_rsync_hosts_allow; the daemon's log says 'denied')"),
    (re.compile(r"max connections \(\d+\) reached", re.I),
     "module {module} is busy: its max connections are in use by another transfer; try again later"),
    (re.compile(r"No space left on device|Disk quota exceeded", re.I),
     "the harvester's archive dir is full (No space left on device); nothing was kept there"),
    (re.compile(r"access denied to \S+ from", re.I),
     "the harvester's rsync daemon refuses this plotter's address (harvester_rsync_hosts_allow)"),
    (re.compile(r"password file must not be other-accessible|password file must be owned by", re.I),
     "rsync refuses the password file {password_file}: it must be mode 0600 and owned by the user running rsync"),
    (re.compile(r"Connection refused", re.I),
     "cannot connect to the rsync daemon at {host}:{port}: connection refused (is the daemon running "
     "on that port? run site.yml for the harvester)"),
    (re.compile(r"Name or service not known|Temporary failure in name resolution|No address associated", re.I),
     "cannot resolve the harvester's address {host}"),
    (re.compile(r"No route to host|Network is unreachable|timed out|timeout", re.I),
     "cannot reach the rsync daemon at {host}:{port}: {line}"),
    (re.compile(r"--fsync: unknown option|unknown option.*fsync", re.I),
     "the rsync at one end is older than 3.2.4 (no --fsync); plotfleet needs rsync >= 3.2.4 on plotters and "
     "harvesters so a plot is on disk before its source goes"),
    (re.compile(r"The temp-dir does not exist", re.I),
     "the harvester's archive dir has no {temp_dir} subdir for rsync's temporary file; create it there or "
     "drop temp_dir"),
)


@dataclass(frozen=True)
class Transfer:
    pid: int
    source: str
    destination: str
    host: str
    port: int | None
    module: str
    user: str | None
    size_bytes: int | None
    started_at: str | None
    log_file: str | None

    def as_dict(self) -> dict:
        return {
            "pid": self.pid,
            "source": self.source,
            "destination": self.destination,
            "host": self.host,
            "port": self.port,
            "module": self.module,
            "user": self.user,
            "size_bytes": self.size_bytes,
            "started_at": self.started_at,
            "log_file": self.log_file,
        }


# --- recognising transfers ------------------------------------------------------------------


def _split_argv(argv: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """(positional args, long options with their values) of an rsync command line."""
    positional: list[str] = []
    options: dict[str, str] = {}
    args = iter(argv[1:])
    for arg in args:
        if arg == "--":
            positional.extend(args)
            break
        if arg.startswith("--"):
            name, has_value, value = arg.partition("=")
            if not has_value and name in _LONG_WITH_VALUE:
                value = next(args, "")
            options[name] = value
        elif arg.startswith("-") and len(arg) > 1:
            # A cluster of short flags; the last one may take the next argument (``-avT dir``).
            if arg[-1] in _SHORT_WITH_VALUE:
                next(args, None)
        else:
            positional.append(arg)
    return positional, options


def parse_rsync_command(argv: Sequence[str]) -> tuple[str, str, dict] | None:
    """(source plot, destination, parsed destination) of an rsync pushing one plot, else None.

    The parsed destination has ``user``, ``host``, ``port`` (int or None), ``module`` and the
    options ``log_file`` and ``password_file``.
    """
    if not argv or os.path.basename(argv[0]) != "rsync":
        return None
    positional, options = _split_argv(argv)
    if "--daemon" in options or "--server" in options:
        return None  # the harvester's side of a transfer, not a push
    if len(positional) != 2 or not positional[0].endswith(FINISHED_SUFFIXES):
        return None
    source, destination = positional
    match = _DAEMON_URL.match(destination) or _DAEMON_PAIR.match(destination)
    if not match:
        return None
    parts = match.groupdict()
    port = parts.get("port") or options.get("--port")
    parts["port"] = int(port) if port and port.isdigit() else None
    parts["host"] = parts["host"].strip("[]")
    parts["log_file"] = options.get("--log-file") or None
    parts["password_file"] = options.get("--password-file") or None
    return source, destination, parts


def find_transfers(proc_root: str = "/proc", cmdlines: Sequence[tuple[int, bytes]] | None = None) -> list[Transfer]:
    """Every running rsync that pushes a plot to a daemon module, one per source file.

    ``cmdlines`` is a scan already made with ``proctable.command_lines`` (with ``b"rsync"`` among
    its hints), so that one pass over the process table serves jobs and transfers.
    """
    found: dict[str, Transfer] = {}
    if cmdlines is None:
        cmdlines = command_lines(proc_root, (b"rsync",))
    for pid, raw in cmdlines:
        if b"rsync" not in raw or b".plot" not in raw or not in_our_namespaces(pid, proc_root):
            continue
        parsed = parse_rsync_command(split_argv(raw))
        if parsed is None:
            continue
        source, destination, parts = parsed
        source = _absolute(source, f"{proc_root}/{pid}/cwd")
        if source in found and found[source].pid < pid:
            continue  # a forked helper; the first (lowest pid) process stands for the transfer
        found[source] = Transfer(
            pid=pid,
            source=source,
            destination=destination,
            host=parts["host"],
            port=parts["port"],
            module=parts["module"],
            user=parts["user"],
            size_bytes=_size(source),
            started_at=_started_at(pid),
            log_file=_absolute(parts["log_file"], f"{proc_root}/{pid}/cwd") if parts["log_file"] else None,
        )
    return sorted(found.values(), key=lambda t: t.pid)


def _absolute(path: str, cwd_link: str) -> str:
    """A path from another process's command line, made absolute with that process's cwd."""
    if os.path.isabs(path):
        return normalise_path(path)
    try:
        return normalise_path(path, os.readlink(cwd_link))
    except OSError:  # gone, or not ours to read: keep what the command line says
        return path


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _started_at(pid: int) -> str | None:
    try:
        created = psutil.Process(pid).create_time()
    except (psutil.Error, AttributeError):  # gone, or psutil missing
        return None
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="seconds")


# --- deciding and building one transfer (pure) ----------------------------------------------


def daemon_url(host: str, port: int, module: str, user: str | None) -> str:
    """The rsync daemon destination of a module's top dir."""
    bracketed = f"[{host}]" if ":" in host else host
    who = f"{user}@" if user else ""
    return f"rsync://{who}{bracketed}:{port}/{module}/"


def rsync_command(
    rsync: str,
    source: str,
    destination: str,
    *,
    password_file: str | None,
    log_file: str | None,
    timeout: int,
    bwlimit: int | None = None,
    temp_dir: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The command that moves one plot.

    rsync writes the plot under a temporary name and renames it only when complete; the source
    goes only after the receiver has the complete file (``--remove-source-files``), flushed to
    its disk (``--fsync``: a harvester crash right after must not leave a plot of zeros while the
    source is gone). A file of the same name already there is never replaced, and then the source
    stays (``--ignore-existing``): that name may be the source itself (a dst dir that is also an
    archive dir) or a copy that needs a look. Plots do not delta or compress, so the whole file
    goes as is, preallocated so a full disk fails at once. Both ends need rsync >= 3.2.4.
    """
    cmd = [rsync, "--times", "--whole-file", "--preallocate", "--fsync", "--ignore-existing",
           "--remove-source-files", "--no-compress", f"--timeout={timeout}", f"--contimeout={timeout}"]
    if password_file:
        cmd.append(f"--password-file={password_file}")
    if bwlimit:
        cmd.append(f"--bwlimit={bwlimit}")
    if temp_dir:
        cmd.append(f"--temp-dir={temp_dir}")
    if log_file:
        cmd.append(f"--log-file={log_file}")
    cmd.extend(extra_args)
    cmd.extend([source, destination])
    return cmd


def unsafe_args(args: Sequence[str]) -> list[str]:
    return [arg for arg in args if arg.split("=", 1)[0] in UNSAFE_RSYNC_ARGS]


def source_problem(path: str) -> str | None:
    """Why ``path`` is not a finished plot that may be archived, else None."""
    name = os.path.basename(path)
    if not name.endswith(".plot") or name.startswith("."):
        return f"{path} is not a finished plot (a finished plot is named *.plot; temp files are never archived)"
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return f"{path} does not exist (already archived, or removed)"
    except OSError as err:
        return f"cannot read {path}: {err.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file"
    if info.st_size == 0:
        return f"{path} is empty"
    return None


def password_file_problem(path: str, uid: int | None = None) -> str | None:
    """Why rsync would refuse the password file, else None (rsync's own rules, checked first)."""
    uid = os.geteuid() if uid is None else uid
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return (f"password file {path} does not exist; write the rsync password there (mode 0600), "
                "e.g. with the plotter role's plotter_rsync_password")
    except OSError as err:
        return f"cannot read password file {path}: {err.strerror}"
    if info.st_mode & 0o077:
        return f"password file {path} is mode {stat.S_IMODE(info.st_mode):04o}; rsync needs 0600 (chmod 600 {path})"
    if uid == 0 and info.st_uid != 0:
        return f"password file {path} must be owned by root when rsync runs as root (chown root {path})"
    if not os.access(path, os.R_OK):
        return f"password file {path} is not readable by this user"
    return None


def start_refusal(source: str, running: Sequence[Transfer], limit: int) -> str | None:
    """Why a transfer of ``source`` must not start now, else None."""
    for transfer in running:
        if transfer.source == source:
            return f"{source} is already being transferred to {transfer.destination} (rsync pid {transfer.pid})"
    if len(running) >= limit:
        pids = ", ".join(str(t.pid) for t in running)
        return (f"{len(running)} transfer(s) already running (rsync pid {pids}); "
                f"archiving.parallel_transfers is {limit}")
    return None


def explain_failure(rc: int | None, stderr: str, **context: object) -> str:
    """rsync's failure in one sentence: what happened and what to do."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for pattern, text in _KNOWN_FAILURES:
        for line in lines:
            if pattern.search(line):
                return text.format(line=line, **{k: ("" if v is None else v) for k, v in context.items()})
    if rc is not None and rc < 0:
        return f"rsync was killed by signal {-rc}"
    meaning = RSYNC_EXIT_CODES.get(rc or 0, "unknown error")
    last = next((line for line in reversed(lines) if "rsync error" not in line), lines[-1] if lines else "")
    return f"rsync exited {rc} ({meaning})" + (f": {last}" if last else "")


_BUSY = re.compile(r"max connections \(\d+\) reached", re.I)


def daemon_was_busy(stderr: str) -> bool:
    """The harvester's module refused a connection because it already receives a plot: a state
    that the next run resolves, not a failure (two overlapping runs planned the same disk)."""
    return bool(_BUSY.search(stderr or ""))


def transfer_log_path(log_dir: str, source: str, now: float) -> str:
    """One log file per transfer, named after the plot and when the transfer started."""
    stamp = datetime.fromtimestamp(now).strftime("%Y-%m-%dT%H_%M_%S")
    return os.path.join(log_dir, f"{stamp}_{os.path.basename(source)[:-len('.plot')]}.log")


# --- acting --------------------------------------------------------------------------------


def archive_lock(log_dir: str) -> HostLock:
    """Serialise starting transfers on this host: check the process table and start under one lock."""
    return HostLock(os.path.join(log_dir, ".plotfleet-archive.lock"))


@dataclass
class Outcome:
    """What became of a transfer: still running (rc None), or finished with rc and stderr."""

    pid: int
    rc: int | None
    stderr: str
    seconds: float


def start_rsync(cmd: Sequence[str], log_file: str, capture_stderr: bool) -> subprocess.Popen:
    """Start rsync in its own session, so it outlives the caller. Once this returns the process
    table shows it (Popen returns after exec), so a concurrent run sees the transfer."""
    with open(log_file, "ab") as log:
        return start_detached(cmd, stdout=log, stderr=subprocess.PIPE if capture_stderr else log)


def finish_rsync(proc: subprocess.Popen, log_file: str, started: float, wait: bool,
                 settle_seconds: float = 2.0) -> Outcome:
    """Either wait for the transfer, or watch it for ``settle_seconds`` so that an immediate
    failure (auth, connection) is still reported; rc None means still running."""
    if wait:
        _, err = proc.communicate()
        stderr = err.decode("utf-8", "replace")
        with open(log_file, "a", encoding="utf-8") as log:
            log.write(stderr)
        return Outcome(proc.pid, proc.returncode, stderr, time.monotonic() - started)
    deadline = started + settle_seconds
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.returncode is None:
        proc.returncode = 0  # not ours to reap: it runs on alone (silences Popen's warning)
        return Outcome(proc.pid, None, "", time.monotonic() - started)
    with open(log_file, encoding="utf-8", errors="replace") as log:
        return Outcome(proc.pid, proc.returncode, log.read()[-4000:], time.monotonic() - started)
