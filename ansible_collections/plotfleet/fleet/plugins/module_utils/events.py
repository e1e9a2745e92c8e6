"""Notification events: found on a host from its logs, files and process table, sent once each.

An event is plain data (``id``, ``kind``, ``severity``, ``title``, ``text``, ``at`` and ``fields``).
Its id is stable: it names what happened (``plot_finished:<plot id>``,
``transfer_failed:log:<transfer log>``), so every pass that looks finds the same event again, and
the host's small state file (:class:`EventStore`) says which ones were already sent.

Once-only delivery without a daemon, with the controller doing the sending:

1. a pass *claims* on each host the events found there and not yet sent: under the host's lock it
   writes a claim (its pass id and a lease) for each and returns them; a pass running at the same
   time finds them claimed and leaves them alone;
2. the controller posts them to the webhook;
3. the pass records on the host the ones delivered (``sent``) and drops its claim on the others,
   which the next pass claims again.

A pass that dies between 1 and 3 leaves claims that expire with their lease, so those events are
sent later (possibly twice, if the post had gone out), never lost. A lost or corrupt state file
forgets what was sent: events still found are sent again, none is lost. The ids kept are those
still found, so the file stays small: a sent id whose event is no longer found is dropped (for a
log that is older than the window, or a dir that is no longer full), and only within the kinds
and places this pass could read, so a disk that could not be read forgets nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import HostLock
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import find_plot_name, list_plots
from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import RUNNER_FAILED
from ansible_collections.plotfleet.fleet.plugins.module_utils.units import human_bytes, human_seconds

PLOT_FINISHED = "plot_finished"
JOB_FAILED = "job_failed"
TRANSFER_FAILED = "transfer_failed"
PLOT_QUARANTINED = "plot_quarantined"
DIR_NEARLY_FULL = "dir_nearly_full"
HOST_NOT_REPORTING = "host_not_reporting"
REPLOT_DEADLINE_AT_RISK = "replot_deadline_at_risk"
KINDS = (PLOT_FINISHED, JOB_FAILED, TRANSFER_FAILED, PLOT_QUARANTINED, DIR_NEARLY_FULL, HOST_NOT_REPORTING,
         REPLOT_DEADLINE_AT_RISK)
SEVERITY = {PLOT_FINISHED: "info", JOB_FAILED: "error", TRANSFER_FAILED: "warning", PLOT_QUARANTINED: "warning",
            DIR_NEARLY_FULL: "warning", HOST_NOT_REPORTING: "error", REPLOT_DEADLINE_AT_RISK: "warning"}

DEFAULT_STATE_FILE = "/var/lib/plotfleet/notify/events.json"
DEFAULT_FLEET_STATE_FILE = "/var/lib/plotfleet/notify/fleet.json"
STATE_VERSION = 1
# Sent ids of kinds no pass scans any more (a host that stopped plotting) go after this long.
FORGET_AFTER_SECONDS = 30 * 86400


def event(event_id: str, kind: str, title: str, text: str, at: float, **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "kind": kind, "severity": SEVERITY[kind], "title": title, "text": text,
            "at": round(at, 3), "fields": fields}


class Detection:
    """What a pass found: the events, and the id prefixes it could read in full (pruning scope)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.scanned: set[str] = set()
        self.warnings: list[str] = []

    def add(self, item: dict[str, Any]) -> None:
        self.events.append(item)

    def extend(self, other: Detection) -> None:
        self.events += other.events
        self.scanned |= other.scanned
        self.warnings += other.warnings


# --- plotters: plot logs, the process table, transfer logs --------------------------------------


def _recent_files(directory: str, since: float, suffix: str = "") -> list[tuple[str, float]]:
    """(path, mtime) of the regular files directly in ``directory`` changed since ``since``."""
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.name.endswith(suffix) or entry.name.startswith("."):
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    mtime = entry.stat(follow_symlinks=False).st_mtime
                    if mtime >= since:
                        found.append((entry.path, mtime))
            except OSError:
                continue
    return sorted(found, key=lambda item: (item[1], item[0]))


def live_log_paths(jobs: Iterable[Any], proc_root: str = "/proc") -> set[str]:
    """Every file a running plot job writes or holds open: its log is not finished yet, even when
    two jobs share one log (then no job claims it as its own)."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.proctable import open_paths

    paths = set()
    for job in jobs:
        if job.log_file:
            paths.add(os.path.realpath(job.log_file))
        for pid in job.pids:
            paths.update(os.path.realpath(path) for path in open_paths(pid, proc_root))
    return paths


def plot_ids_in(dirs: Iterable[str]) -> set[str]:
    """Plot ids of the finished plots in these dirs (unreadable dirs are skipped)."""
    ids = set()
    for directory in dirs:
        try:
            ids.update(plot.plot_id for plot in list_plots(directory) if plot.plot_id)
        except OSError:
            continue
    return ids


def plot_log_events(log_dir: str, live: set[str], finished_ids: set[str], now: float, max_age: float,
                    grace: float) -> Detection:
    """Plots finished and jobs failed, from the plot logs changed within ``max_age``.

    A job failed when its log is held by no running process, did not complete its last plot,
    was last written over ``grace`` seconds ago, and no finished plot of that id is in a dst dir.
    The caller reads the process table *before* this reads the logs, so a job that ends between
    the two has written its last line by then and is not taken for a failure.
    """
    from ansible_collections.plotfleet.fleet.plugins.module_utils.logs import is_plot_log
    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import parse_log_file

    found = Detection()
    try:
        logs = _recent_files(log_dir, now - max_age)
    except OSError as err:
        found.warnings.append(f"plot logs {log_dir}: {err.strerror or err}; plot events not checked")
        return found
    found.scanned |= {f"{PLOT_FINISHED}:", f"{JOB_FAILED}:"}
    for path, mtime in logs:
        if not is_plot_log(path):
            continue
        try:
            info = parse_log_file(path)
        except OSError:
            continue
        plots = info.plots()
        for plot in plots:
            if plot.completed and plot.plot_id:
                found.add(_plot_finished(plot, info, path, mtime))
        last = plots[-1] if plots else None
        if last is not None and last.completed:
            continue
        if os.path.realpath(path) in live or now - mtime < grace:
            continue
        plot_id = last.plot_id if last is not None else None
        if plot_id and plot_id in finished_ids:
            continue  # the plot is there: its log was cut short, the job did its work
        found.add(_job_failed(plot_id, last, info, path, mtime))
    return found


def _plot_finished(plot: Any, info: Any, path: str, mtime: float) -> dict[str, Any]:
    took = f", {human_seconds(plot.total_seconds)}" if plot.total_seconds else ""
    name = plot.plot_name or plot.plot_id
    where = f" in {info.dst_dir}" if info.dst_dir else ""
    return event(f"{PLOT_FINISHED}:{plot.plot_id}", PLOT_FINISHED,
                 f"plot finished: {plot.plot_id[:8]} (k{plot.k or '?'}{took})",
                 f"{name} finished{where}", mtime, plot_id=plot.plot_id, plot_name=plot.plot_name,
                 plotter=info.plotter, k=plot.k, total_seconds=plot.total_seconds, dst_dir=info.dst_dir,
                 log_file=path)


def _job_failed(plot_id: str | None, plot: Any, info: Any, path: str, mtime: float) -> dict[str, Any]:
    phase = str(plot.phase) if plot is not None else "?"
    label = plot_id[:8] if plot_id else os.path.basename(path)
    key = plot_id or f"log:{os.path.basename(path)}"
    return event(f"{JOB_FAILED}:{key}", JOB_FAILED, f"plot job failed: {label} (phase {phase})",
                 f"the job writing {path} is gone without a complete plot (last phase {phase}, last written "
                 f"{_iso(mtime)}); its temp files may still be in {info.tmp_dir or 'its tmp dir'}",
                 mtime, plot_id=plot_id, plotter=info.plotter, k=plot.k if plot is not None else info.k,
                 phase=phase, tmp_dir=info.tmp_dir, dst_dir=info.dst_dir, log_file=path)


# A transfer runner's own lines (transfer_runner.Runner.say): "<date> <time> [<pid>] <text>".
_RUNNER_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\d+\] (?P<text>.*)$")


def transfer_log_outcome(text: str) -> tuple[str, str | None]:
    """How a transfer log ends: ``done``, ``failed`` (with the reason), ``busy`` (the harvester's
    module was receiving another plot: the next run sends it, not a failure), ``unfinished``
    (started sending, never said how it ended: killed) or ``empty``."""
    status, reason, since_send = "empty", None, []
    for line in text.splitlines():
        match = _RUNNER_LINE.match(line)
        said = match.group("text") if match else line  # rsync's --log-file lines carry the same stamp
        if said.startswith("sending "):
            status, reason, since_send = "unfinished", None, []
        elif said.startswith(RUNNER_FAILED) or (said.startswith("flush through ") and " failed" in said):
            status, reason = "failed", said
        elif said.startswith("no plot left to send"):
            status, reason = "done", None
        else:
            since_send.append(said)
    if status == "failed":
        from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import daemon_was_busy

        if daemon_was_busy("\n".join(since_send)):
            return "busy", reason
    if status == "unfinished":
        # The runner died without its last word; rsync's own last complaint says the most.
        complaints = [line.strip() for line in since_send if line.startswith("rsync: ")]
        complaints += [line.strip() for line in since_send if "rsync error" in line]
        if complaints:
            reason = f"the transfer ended without finishing: {complaints[0]}"
    return status, reason


def transfer_log_events(log_dir: str, live: set[str], now: float, max_age: float) -> Detection:
    """Transfers that ended in failure (or were killed mid-way), from the transfer logs changed
    within ``max_age`` whose runner is no longer running."""
    found = Detection()
    try:
        logs = _recent_files(log_dir, now - max_age, ".log")
    except FileNotFoundError:
        logs = []  # no transfer ever ran here
    except OSError as err:
        found.warnings.append(f"transfer logs {log_dir}: {err.strerror or err}; transfer failures not checked")
        return found
    found.scanned.add(f"{TRANSFER_FAILED}:log:")
    for path, mtime in logs:
        if os.path.realpath(path) in live:
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                status, reason = transfer_log_outcome(handle.read())
        except OSError:
            continue
        if status not in ("failed", "unfinished"):
            continue
        reason = reason or "the transfer ended without saying how (killed?)"
        named = find_plot_name(os.path.basename(path))
        plot = named[1] if named else os.path.basename(path)
        found.add(event(f"{TRANSFER_FAILED}:log:{os.path.basename(path)}", TRANSFER_FAILED,
                        f"transfer failed: {plot[:40]}", f"{reason} (log: {path})", mtime,
                        plot_name=plot, log_file=path, reason=reason))
    return found


def plotter_events(config: Any, now: float, max_age: float, grace: float, proc_root: str = "/proc") -> Detection:
    """Every plotter event on this host: from the process table first, then the files."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import COMMAND_HINTS, discover_jobs
    from ansible_collections.plotfleet.fleet.plugins.module_utils.proctable import command_lines
    from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import find_transfers

    cmdlines = command_lines(proc_root, (*COMMAND_HINTS, b"rsync"))
    jobs = discover_jobs(config.logging.plots, proc_root=proc_root, now=now, cmdlines=cmdlines)
    live = live_log_paths(jobs, proc_root)
    live |= {os.path.realpath(t.log_file) for t in find_transfers(proc_root, cmdlines=cmdlines) if t.log_file}
    dst_dirs = list(config.directories.dst or config.directories.tmp)
    found = plot_log_events(config.logging.plots, live, plot_ids_in(dst_dirs), now, max_age, grace)
    found.extend(transfer_log_events(config.archiving.transfer_log_dir, live, now, max_age))
    return found


# --- harvesters: archive dirs ---------------------------------------------------------------------


def harvester_events(config: Any, now: float, free_percent: float, free_bytes: int) -> tuple[Detection, list]:
    """Quarantined plots, stale partial transfers and nearly full archive dirs; also each dir's
    census (for the replot deadline, decided on the controller)."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import inspect_harvester
    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotverify import list_quarantined

    found = Detection()
    reports, _ = inspect_harvester(config, with_names=False)
    dirs = []
    for report in reports:
        dirs.append({"path": report.path, "error": report.error, "census": report.census})
        if report.error:
            found.warnings.append(f"archive dir {report.path}: {report.error}; its events not checked")
            continue
        found.scanned |= {f"{DIR_NEARLY_FULL}:{report.path}", f"{TRANSFER_FAILED}:partial:{report.path}/",
                          f"{PLOT_QUARANTINED}:{report.path}/"}
        limit = max(report.total_bytes * free_percent / 100.0, float(free_bytes))
        if report.total_bytes and report.free_bytes < limit:
            share = 100.0 * report.free_bytes / report.total_bytes
            free, size = human_bytes(report.free_bytes), human_bytes(report.total_bytes)
            found.add(event(f"{DIR_NEARLY_FULL}:{report.path}", DIR_NEARLY_FULL,
                            f"archive dir nearly full: {report.path} ({share:.1f}% free)",
                            f"{report.path}: {free} free of {size} ({share:.1f}%), {report.plots} plots", now,
                            dir=report.path,
                            free_bytes=report.free_bytes, total_bytes=report.total_bytes))
        for item in report.incoming:
            if item.stale:
                found.add(event(f"{TRANSFER_FAILED}:partial:{report.path}/{item.name}", TRANSFER_FAILED,
                                f"transfer failed: stale partial {item.final_name[:40]}",
                                f"{report.path}/{item.name}: {human_bytes(item.size_bytes)} of a plot, untouched for "
                                f"{item.idle_seconds / 60:.0f} min and held by no process; the next archive "
                                "run sends the plot again", now - item.idle_seconds, dir=report.path,
                                name=item.name, plot_name=item.final_name, size_bytes=item.size_bytes))
        for item in list_quarantined(report.path):
            found.add(event(f"{PLOT_QUARANTINED}:{report.path}/{item['name']}", PLOT_QUARANTINED,
                            f"plot quarantined: {item['name'][:40]}",
                            f"{item['path']}: {'; '.join(item['problems']) or 'failed verification'}",
                            _mtime(item["path"], now), dir=report.path, plot_name=item["name"], path=item["path"],
                            problems=item["problems"], quarantined_at=item.get("quarantined_at")))
    return found, dirs


def _mtime(path: str, default: float) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return default


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


# --- the controller's own: hosts not reporting ------------------------------------------------------


def count_silence(state: dict[str, Any], reporting: Mapping[str, str | None], now: float,
                  passes: int) -> Detection:
    """Count, per host, the passes in a row it did not report (``reporting``: host -> None when
    it reported, else why not); a host at ``passes`` or more is an event, one per outage."""
    found = Detection()
    silent = state.setdefault("silent", {})
    for host, reason in sorted(reporting.items()):
        found.scanned.add(f"{HOST_NOT_REPORTING}:{host}:")
        if reason is None:
            silent.pop(host, None)
            continue
        entry = silent.setdefault(host, {"since": now, "passes": 0})
        entry["passes"] = int(entry.get("passes", 0)) + 1
        entry["reason"] = reason
        entry["last"] = now
        if entry["passes"] >= passes:
            since = float(entry["since"])
            found.add(event(f"{HOST_NOT_REPORTING}:{host}:{int(since)}", HOST_NOT_REPORTING,
                            f"host not reporting: {host} ({entry['passes']} passes)",
                            f"{host} has not reported for {entry['passes']} passes, since {_iso(since)}: {reason}",
                            since, host=host, passes=entry["passes"], since=_iso(since), reason=reason))
    for host in [h for h, e in silent.items() if now - float(e.get("last", now)) > FORGET_AFTER_SECONDS]:
        del silent[host]  # left the inventory long ago
    return found


# --- the state file ---------------------------------------------------------------------------------


class EventStore:
    """The small JSON file on a host that says which events were sent and which are claimed.

    Read and written only under the host's lock (``<file>.lock``); written to a temp file in the
    same dir, flushed and renamed, so a crash leaves the old file or the new one, never half.
    """

    def __init__(self, path: str, lock_timeout: float = 60.0) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self.warnings: list[str] = []

    def load(self) -> dict[str, Any]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as err:
            # Forgetting what was sent repeats events; refusing to go on would lose them.
            self.warnings.append(f"{self.path} unreadable ({err}); starting afresh, some events may repeat")
            data = {}
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            data = {}
        for key in ("sent", "claims", "silent"):
            if not isinstance(data.get(key), dict):
                data[key] = {}
        data["version"] = STATE_VERSION
        return data

    def save(self, data: Mapping[str, Any]) -> None:
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, mode=0o755, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=".events-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, sort_keys=True, separators=(",", ":"))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[dict[str, Any]]:
        """The state under the lock; written back at the end when ``write`` and it changed."""
        with HostLock(self.path + ".lock", timeout=self.lock_timeout):
            data = self.load()
            before = json.dumps(data, sort_keys=True)
            yield data
            if write and json.dumps(data, sort_keys=True) != before:
                self.save(data)


def claim(state: dict[str, Any], found: Detection, run_id: str, now: float, lease_seconds: float,
          limit: int, kinds: Sequence[str] = KINDS) -> tuple[list[dict[str, Any]], int]:
    """Claim for ``run_id`` the events found and neither sent nor claimed by a live lease; return
    them (oldest first, at most ``limit``) and how many more wait for a later pass."""
    current = {item["id"] for item in found.events}
    scanned = tuple(found.scanned)

    def forgotten(event_id: str, since: float) -> bool:
        if event_id in current:
            return False
        return event_id.startswith(scanned) or now - since > FORGET_AFTER_SECONDS

    state["sent"] = {i: t for i, t in state["sent"].items() if not forgotten(i, float(t))}
    state["claims"] = {i: c for i, c in state["claims"].items()
                       if isinstance(c, dict) and float(c.get("until", 0)) > now and i in current}
    fresh = sorted((item for item in found.events if item["kind"] in kinds and item["id"] not in state["sent"]
                    and item["id"] not in state["claims"]), key=lambda item: (item["at"], item["id"]))
    taken = fresh[:max(limit, 0)]
    for item in taken:
        state["claims"][item["id"]] = {"pass": run_id, "until": now + lease_seconds}
    return taken, len(fresh) - len(taken)


def settle(state: dict[str, Any], run_id: str, delivered: Iterable[str], released: Iterable[str],
           now: float) -> tuple[list[str], list[str]]:
    """Record the events delivered (sent, whoever claimed them) and drop this pass's claims on the
    ones that were not, so the next pass sends them. Returns (recorded, released)."""
    recorded, dropped = [], []
    for event_id in delivered:
        state["sent"][event_id] = now
        state["claims"].pop(event_id, None)
        recorded.append(event_id)
    for event_id in released:
        held = state["claims"].get(event_id)
        if isinstance(held, dict) and held.get("pass") == run_id:
            del state["claims"][event_id]
            dropped.append(event_id)
    return recorded, dropped
