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

import contextlib
import json
import os
import re
import stat
import subprocess
import time
from collections.abc import Mapping, Sequence
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

# A transfer runner's script name (see transfer_runner): how the process table shows it.
RUNNER_NAME = "plotfleet-transfer"
# A runner's log line for each plot that is complete and flushed on the harvester and gone here.
LANDED_PREFIX = "landed "
# rsync's --fsync (flush each received file before reporting it done) came with 3.2.4.
FSYNC_MIN_VERSION = (3, 2, 4)
# How a plot is known to be on the harvester's disk before its source goes: rsync --fsync, or a
# listing through the dir's read-only flush module, whose pre-xfer exec flushes the disk first.
ROUTES = ("auto", "fsync", "flush")

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
    # rsync's own words only: "--timeout=300" in a logged command line is no timeout.
    (re.compile(r"No route to host|Network is unreachable|timed out|io timeout|timeout in data|"
                r"timeout waiting", re.I),
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
    # The process that holds the harvester connection for this plot: a runner (see
    # transfer_runner) sending plots one after another, or a bare rsync. One lane = one transfer
    # slot, whatever number of plots it carries.
    lane: int | None = None
    # What the runner may still send to that dir beyond the plots it names (the plan's room budget
    # minus what landed); None for a bare rsync.
    budget_left_bytes: int | None = None

    def as_dict(self) -> dict:
        return {
            "lane": self.lane if self.lane is not None else self.pid,
            "budget_left_bytes": self.budget_left_bytes,
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


def parse_rsync_command(argv: Sequence[str]) -> tuple[list[str], str, dict] | None:
    """(source plots, destination, parsed destination) of an rsync pushing plots, else None.

    rsync sends several sources one after another; each is a plot on its way. The parsed
    destination has ``user``, ``host``, ``port`` (int or None), ``module`` and the options
    ``log_file`` and ``password_file``.
    """
    if not argv or os.path.basename(argv[0]) != "rsync":
        return None
    positional, options = _split_argv(argv)
    if "--daemon" in options or "--server" in options or "--list-only" in options:
        return None  # the harvester's side of a transfer, or a listing: not a push
    if len(positional) < 2 or not all(source.endswith(FINISHED_SUFFIXES) for source in positional[:-1]):
        return None
    parts = _parse_destination(positional[-1], options)
    return (positional[:-1], positional[-1], parts) if parts else None


def _parse_destination(destination: str, options: Mapping[str, str]) -> dict | None:
    match = _DAEMON_URL.match(destination) or _DAEMON_PAIR.match(destination)
    if not match:
        return None
    parts = match.groupdict()
    port = parts.get("port") or options.get("--port")
    parts["port"] = int(port) if port and port.isdigit() else None
    parts["host"] = parts["host"].strip("[]")
    parts["log_file"] = options.get("--log-file") or None
    parts["password_file"] = options.get("--password-file") or None
    return parts


def parse_runner_command(argv: Sequence[str]) -> tuple[list[str], str, dict] | None:
    """(plots it still has to send, destination, parsed destination) of a transfer runner.

    A runner is ``<python> <dir>/plotfleet-transfer-<hash>.pyz --to <url> ... -- <plots>``; its
    destination, log file and budget are in its command line, so it is recognised like an rsync.
    """
    script = next((arg for arg in argv[:2] if os.path.basename(arg).startswith(RUNNER_NAME)), None)
    if script is None or "--" not in argv:
        return None
    split = argv.index("--")
    options = _runner_options(argv[argv.index(script) + 1:split])
    parts = _parse_destination(options.get("--to", ""), {"--log-file": options.get("--log-file", "")})
    if parts is None:
        return None
    budget = options.get("--budget-bytes", "")
    parts["budget_bytes"] = int(budget) if budget.isdigit() else None
    return list(argv[split + 1:]), options["--to"], parts


def _runner_options(args: Sequence[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    items = iter(args)
    for arg in items:
        name, has_value, value = arg.partition("=")
        options[name] = value if has_value else next(items, "")
    return options


def find_transfers(proc_root: str = "/proc", cmdlines: Sequence[tuple[int, bytes]] | None = None) -> list[Transfer]:
    """Every running rsync that pushes a plot to a daemon module, one per source file.

    ``cmdlines`` is a scan already made with ``proctable.command_lines`` (with ``b"rsync"`` among
    its hints), so that one pass over the process table serves jobs and transfers.
    """
    found: dict[str, Transfer] = {}
    if cmdlines is None:
        cmdlines = command_lines(proc_root, (b"rsync",))
    runners = {}
    for pid, raw in cmdlines:
        if b"rsync" not in raw or not in_our_namespaces(pid, proc_root):
            continue
        argv = split_argv(raw)
        parsed = parse_runner_command(argv)
        if parsed is not None:
            runners[pid] = parsed
        elif b".plot" in raw:
            parsed = parse_rsync_command(argv)
        if parsed is None:
            continue
        sources, destination, parts = parsed
        cwd = f"{proc_root}/{pid}/cwd"
        log_file = _absolute(parts["log_file"], cwd) if parts["log_file"] else None
        budget = parts.get("budget_bytes")
        budget_left = None if budget is None else max(budget - landed_bytes(log_file), 0)
        lane = pid if pid in runners else _parent_runner(pid, proc_root, runners)
        for source in sources:
            source = _absolute(source, cwd)
            if pid in runners and not os.path.exists(source):
                continue  # a runner's plot that already landed (or went): no longer on its way
            if source in found and found[source].pid < pid:
                continue  # a forked helper, or a runner's rsync: the first (lowest pid) stands for the transfer
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
                log_file=log_file,
                lane=lane,
                budget_left_bytes=budget_left,
            )
    return sorted(found.values(), key=lambda t: (t.pid, t.source))


def _parent_runner(pid: int, proc_root: str, runners: Mapping[int, object]) -> int:
    """The runner that started this rsync, when there is one (its lane), else the rsync itself.
    A runner with a plot list starts before its rsync, so its pid is known by the time the rsync is
    seen, except across pid wrap-around; then the rsync stands for itself, as a bare one would."""
    try:
        with open(f"{proc_root}/{pid}/stat", encoding="ascii", errors="replace") as handle:
            ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return pid
    if ppid in runners:
        return ppid
    try:
        with open(f"{proc_root}/{ppid}/cmdline", "rb") as handle:
            return ppid if parse_runner_command(split_argv(handle.read())) else pid
    except OSError:
        return pid


def landed_bytes(log_file: str | None) -> int:
    """Bytes a runner has landed so far, from the ``landed <bytes> <path>`` lines of its log."""
    total = 0
    try:
        with open(log_file or "", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(LANDED_PREFIX):
                    size = line[len(LANDED_PREFIX):].split(" ", 1)[0]
                    total += int(size) if size.isdigit() else 0
    except OSError:
        return 0
    return total


def lanes(transfers: Sequence[Transfer]) -> dict[int, list[Transfer]]:
    """Transfers grouped by the process that holds their connection: one entry per transfer slot."""
    grouped: dict[int, list[Transfer]] = {}
    for transfer in transfers:
        grouped.setdefault(transfer.lane if transfer.lane is not None else transfer.pid, []).append(transfer)
    return grouped


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
    source: str | Sequence[str],
    destination: str,
    *,
    password_file: str | None,
    log_file: str | None,
    timeout: int,
    bwlimit: int | None = None,
    temp_dir: str | None = None,
    extra_args: Sequence[str] = (),
    route: str = "fsync",
) -> list[str]:
    """The command that moves one plot, or several one after another.

    rsync writes the plot under a temporary name and renames it only when complete; the source
    goes only after the receiver has the complete file (``--remove-source-files``), flushed to
    its disk (``--fsync``: a harvester crash right after must not leave a plot of zeros while the
    source is gone). A file of the same name already there is never replaced, and then the source
    stays (``--ignore-existing``): that name may be the source itself (a dst dir that is also an
    archive dir) or a copy that needs a look. Plots do not delta or compress, so the whole file
    goes as is, preallocated so a full disk fails at once. Both ends need rsync >= 3.2.4.

    On the ``flush`` route (an rsync older than 3.2.4 at either end) rsync neither flushes nor
    removes anything; it prints the name of every file it sent, and the runner removes each source
    only after the harvester's flush module has flushed the disk and listed the file at full size
    (see ``flush_listing_command``).
    """
    cmd = [rsync, "--times", "--whole-file", "--preallocate"]
    if route == "flush":
        cmd.append(f"--out-format={SENT_PREFIX}%n")
    else:
        cmd.append("--fsync")
    cmd += ["--ignore-existing"]
    if route != "flush":
        cmd.append("--remove-source-files")
    cmd += ["--no-compress", f"--timeout={timeout}", f"--contimeout={timeout}"]
    if password_file:
        cmd.append(f"--password-file={password_file}")
    if bwlimit:
        cmd.append(f"--bwlimit={bwlimit}")
    if temp_dir:
        cmd.append(f"--temp-dir={temp_dir}")
    if log_file:
        cmd.append(f"--log-file={log_file}")
    cmd.extend(extra_args)
    cmd.extend([source] if isinstance(source, str) else source)
    cmd.append(destination)
    return cmd


# rsync's --out-format line for each file it sent on the flush route.
SENT_PREFIX = "plotfleet-sent: "


def flush_module(module: str) -> str:
    """The read-only module of the same dir whose pre-xfer exec flushes the disk (roles/harvester)."""
    return f"{module}{FLUSH_MODULE_SUFFIX}"


FLUSH_MODULE_SUFFIX = "-flush"


def flush_listing_command(rsync: str, destination: str, names: Sequence[str], *, password_file: str | None,
                          timeout: int) -> list[str]:
    """Lists ``names`` in the flush module of ``destination``'s dir. The daemon runs the module's
    pre-xfer exec (``sync -f`` of the dir) and waits for it before it lists anything, and refuses
    the request when the flush fails: a listing that answers means the files are on the disk."""
    parts = _parse_destination(destination, {})
    if parts is None:
        raise ValueError(f"not an rsync daemon destination: {destination}")
    flush_url = daemon_url(parts["host"], parts["port"] or 873, flush_module(parts["module"]), parts["user"])
    cmd = [rsync, "--list-only", "--no-human-readable", f"--timeout={timeout}", f"--contimeout={timeout}"]
    if password_file:
        cmd.append(f"--password-file={password_file}")
    # Anchored include rules: the daemon lists only these names (plot names hold no wildcards).
    cmd += [f"--include=/{name}" for name in names] + ["--exclude=*", flush_url]
    return cmd


def parse_listing(text: str) -> dict[str, int]:
    """name -> size of the regular files in ``rsync --list-only`` output."""
    sizes = {}
    for line in text.splitlines():
        fields = line.split(None, 4)
        if len(fields) == 5 and fields[0].startswith("-"):
            size = fields[1].replace(",", "").replace(".", "")
            if size.isdigit():
                sizes[fields[4]] = int(size)
    return sizes


def sent_names(text: str) -> list[str]:
    """The files rsync says it sent (the flush route's ``--out-format``)."""
    return [line[len(SENT_PREFIX):].strip() for line in text.splitlines() if line.startswith(SENT_PREFIX)]


def choose_route(setting: str, local: tuple[int, ...] | None, remote: tuple[int, ...] | None) -> str:
    """``fsync`` or ``flush`` when known; ``auto`` when the harvester's rsync is unknown: the runner
    then tries --fsync and, when the daemon refuses the option (before any data moves), the flush."""
    if setting in ("fsync", "flush"):
        return setting
    if (local is not None and local < FSYNC_MIN_VERSION) or (remote is not None and remote < FSYNC_MIN_VERSION):
        return "flush"
    return "fsync" if local is not None and remote is not None else "auto"


def fsync_refused(output: str) -> bool:
    """rsync at one end does not know --fsync (older than 3.2.4): said before any file moves."""
    return bool(_FSYNC_UNKNOWN.search(output or ""))


_FSYNC_UNKNOWN = re.compile(r"--fsync: unknown option|unknown option.*fsync", re.I)


def runner_command(python: str, script: str, files: Sequence[str], destination: str, *, route: str,
                   log_file: str, lock_file: str, rsync: str, password_file: str | None, timeout: int,
                   bwlimit: int | None = None, temp_dir: str | None = None, extra_args: Sequence[str] = (),
                   budget_bytes: int | None = None, batch_bytes: int | None = None,
                   pick_from: Sequence[str] = ()) -> list[str]:
    """The runner's command line: the slot's destination, how it proves a plot flushed, its room
    budget and the plots it sends first, all readable from the process table."""
    cmd = [python, script, "--to", destination, "--route", route, "--log-file", log_file, "--lock", lock_file,
           "--rsync", rsync, "--timeout", str(timeout)]
    if password_file:
        cmd += ["--password-file", password_file]
    if bwlimit:
        cmd += ["--bwlimit", str(bwlimit)]
    if temp_dir:
        cmd += ["--temp-dir", temp_dir]
    cmd += [f"--rsync-arg={arg}" for arg in extra_args]
    if budget_bytes is not None:
        cmd += ["--budget-bytes", str(budget_bytes)]
    if batch_bytes:
        cmd += ["--batch-bytes", str(batch_bytes)]
    for directory in pick_from:
        cmd += ["--pick-from", directory]
    return [*cmd, "--", *files]


def unsafe_args(args: Sequence[str]) -> list[str]:
    return [arg for arg in args if arg.split("=", 1)[0] in UNSAFE_RSYNC_ARGS]


def source_problem(path: str) -> str | None:
    """Why ``path`` is not a finished plot that may be archived, else None."""
    name = os.path.basename(path)
    if not name.endswith(FINISHED_SUFFIXES) or name.startswith("."):
        return f"{path} is not a finished plot (*.plot or *.plot2; temp files are never archived)"
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


def start_refusal(source: str | Sequence[str], running: Sequence[Transfer], limit: int) -> str | None:
    """Why a transfer of ``source`` (or of these plots) must not start now, else None. The limit
    counts transfer slots (lanes), not the plots each one carries."""
    sources = [source] if isinstance(source, str) else list(source)
    for transfer in running:
        if transfer.source in sources:
            return (f"{transfer.source} is already being transferred to {transfer.destination} "
                    f"(rsync pid {transfer.pid})")
    busy = lanes(running)
    if len(busy) >= limit:
        pids = ", ".join(str(pid) for pid in sorted(busy))
        return (f"{len(busy)} transfer(s) already running (rsync pid {pids}); "
                f"archiving.parallel_transfers is {limit}")
    return None


# How the transfer runner states a failure in its log: RUNNER_FAILED + explanation + RUNNER_KEEPS.
RUNNER_FAILED = "rsync failed: "
RUNNER_KEEPS = "; what was not sent stays here"


def explain_failure(rc: int | None, stderr: str, runner_pid: int | None = None, **context: object) -> str:
    """rsync's failure in one sentence: what happened and what to do.

    With ``runner_pid`` the text is a transfer runner's log: the runner's own lines (its commands,
    its decisions) are not rsync's words; its last stated failure, made from rsync's output alone,
    is the answer when there is one."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if runner_pid is not None:
        own = f"[{runner_pid}] "
        said = [line.split(own, 1)[1] for line in lines if own in line]
        stated = [text[len(RUNNER_FAILED):] for text in said if text.startswith(RUNNER_FAILED)]
        if stated:
            text = stated[-1]
            return text[:-len(RUNNER_KEEPS)] if text.endswith(RUNNER_KEEPS) else text
        lines = [line for line in lines if own not in line]
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
    return os.path.join(log_dir, f"{stamp}_{os.path.splitext(os.path.basename(source))[0]}.log")


# --- acting --------------------------------------------------------------------------------


def archive_lock(log_dir: str) -> HostLock:
    """Serialise starting transfers on this host: check the process table and start under one lock."""
    return HostLock(os.path.join(log_dir, ".plotfleet-archive.lock"))


# --- claims: a plot promised to one archive run while its harvester makes room ------------------
#
# Replace on arrival deletes plots on a harvester for a plot before its transfer starts. Two
# archive runs at once may plan the same plot for two harvesters; the process table only shows a
# transfer once it starts, too late to stop the second deletion. So the run claims the plot on
# the plotter (under the archive lock) before asking for room, and every start and every slot
# runner leaves a plot another run claims alone. A claim ends when its run starts the transfer,
# or after CLAIM_SECONDS (the run died between the two).

CLAIM_SECONDS = 900
_CLAIM_DIR = ".claims"


def _claim_path(log_dir: str, source: str) -> str:
    return os.path.join(log_dir, _CLAIM_DIR, os.path.basename(source))


def read_claim(log_dir: str, source: str, now: float) -> dict | None:
    """The live claim on ``source`` ({run, at, to}); None when there is none or it has expired."""
    try:
        with open(_claim_path(log_dir, source), encoding="utf-8") as handle:
            claim = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(claim, dict) or not isinstance(claim.get("at"), (int, float)):
        return None
    return claim if 0 <= now - claim["at"] < CLAIM_SECONDS else None


def foreign_claim(log_dir: str, sources: Sequence[str], run: str | None, now: float) -> str | None:
    """Why these plots are not this run's to start: another run's live claim; None when free."""
    for source in sources:
        claim = read_claim(log_dir, source, now)
        if claim and claim.get("run") != run:
            return (f"{os.path.basename(source)} is claimed by another archive run, which is making room for it "
                    f"on {claim.get('to')} ({int(now - claim['at'])} s ago); it is that run's to send")
    return None


def write_claims(log_dir: str, sources: Sequence[str], run: str, to: str, now: float) -> None:
    """Claim the plots for run ``run`` (call under archive_lock, after foreign_claim)."""
    directory = os.path.join(log_dir, _CLAIM_DIR)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    for source in sources:
        path = _claim_path(log_dir, source)
        temp = f"{path}.{os.getpid()}.tmp"
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump({"run": run, "at": now, "to": to}, handle)
        os.replace(temp, path)


def drop_claims(log_dir: str, sources: Sequence[str], run: str | None) -> None:
    """Remove this run's claims on the plots (and expired ones): their transfer has started or
    will not start in this run."""
    for source in sources:
        path = _claim_path(log_dir, source)
        claim = read_claim(log_dir, source, time.time())
        if claim is None or claim.get("run") == run:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


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


def connected(log_file: str) -> bool:
    """Whether the transfer got past connecting and authenticating: its rsync started sending (rsync
    logs "building file list" only once the daemon accepted it)."""
    try:
        with open(log_file, encoding="utf-8", errors="replace") as log:
            return "building file list" in log.read()
    except OSError:
        return False


def finish_rsync(proc: subprocess.Popen, log_file: str, started: float, wait: bool,
                 settle_seconds: float = 2.0, until_connected: bool = False) -> Outcome:
    """Either wait for the transfer, or watch it for ``settle_seconds`` so that an immediate
    failure (auth, connection) is still reported; rc None means still running. With
    ``until_connected`` (a runner, slower to start than a bare rsync on a busy host) it watches
    until the transfer connected, however long that takes within its own timeout."""
    if until_connected and not wait:
        while proc.poll() is None and not connected(log_file):
            time.sleep(0.05)
    if wait:
        _, err = proc.communicate()
        if err is None:  # its output went to the log
            with open(log_file, encoding="utf-8", errors="replace") as log:
                return Outcome(proc.pid, proc.returncode, log.read()[-4000:], time.monotonic() - started)
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
