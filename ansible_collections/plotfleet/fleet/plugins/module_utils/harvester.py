"""Harvester archive dirs: their config, what is in them, and how much room is left.

``roles/harvester`` writes ``/etc/plotfleet/harvester.yml`` (the archive dirs, the rsync module
serving each, the daemon's port); ``plotfleet_space_info`` reads it and reports every dir. Reading a
dir is kept apart from judging it: ``snapshot_dir`` is the only function here that touches the
filesystem, everything else works on the plain data it returns.

Files on their way in are recognised by name, because that is all rsync leaves behind:

- rsync writes each received file as ``.<final name>.XXXXXX`` in the destination dir and renames
  it when complete (or under ``--temp-dir``, or keeps it in ``--partial-dir`` when interrupted);
- a plotter writing straight to the dir uses ``<name>.plot.tmp`` / ``<name>.plot.2.tmp``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.checks import (
    REQUIRED,
    Section,
    bad,
    check_list,
    key_path,
    show,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import dir_refusal, installed_rsync_version
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import (
    FINISHED_SUFFIXES,
    disk_space,
    expected_plot_bytes,
    is_finished_plot_name,
    merge_census,
    parse_plot_name,
    plot_census,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotverify import VerifySettings, parse_verify_settings
from ansible_collections.plotfleet.fleet.plugins.module_utils.proctable import all_open_paths

if TYPE_CHECKING:  # imported by with_replace when it runs: the verify hook and events import this module without it
    from ansible_collections.plotfleet.fleet.plugins.module_utils.replace import ReplaceConfig

# Subdirs of an archive dir where rsync may keep files in flight: the conventional
# --partial-dir name and the names plotfleet's own transfers may pass as --temp-dir/--partial-dir.
DEFAULT_INCOMING_SUBDIRS = (".rsync-partial", ".rsync-tmp", ".plotfleet-incoming")

_RSYNC_TEMP = re.compile(r"^\.(?P<final>.+)\.[A-Za-z0-9]{6}$")
_PLOTTER_TEMP = re.compile(r"^(?P<final>[^.].*\.plot2?)(?:\.2)?\.tmp$")
_MODULE_NAME = re.compile(r"^[^\[\]/\s][^\[\]/]*$")


DEFAULT_STALE_AFTER_SECONDS = 900
# Finished plots whose mtime falls in this window count as recent arrivals (the replot rate).
DEFAULT_ARRIVAL_WINDOW_SECONDS = 24 * 3600


class HarvesterConfigError(Exception):
    """The harvester config cannot be used; ``problems`` names every bad key."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ArchiveDir:
    path: str
    rsync_module: str | None = None
    max_connections: int | None = None
    mount: bool = False  # must be a mount point (its own disk); roles/harvester writes it, default true


@dataclass(frozen=True)
class HarvesterConfig:
    archive_dirs: tuple[ArchiveDir, ...]
    rsync_port: int | None = None
    rsync_address: str | None = None
    incoming_subdirs: tuple[str, ...] = DEFAULT_INCOMING_SUBDIRS
    # A partial file nobody wrote to for this long belongs to a transfer that died (the daemon
    # drops a transfer silent for its timeout): it takes space but no longer makes its disk busy.
    stale_after_seconds: int = DEFAULT_STALE_AFTER_SECONDS
    # How landed plots are verified (plotverify): chia plots check, the chia harvester to tell.
    verify: VerifySettings = field(default_factory=VerifySettings)
    # The rsync the daemon runs (roles/harvester: harvester_rsync_bin); its version picks the
    # plotters' transfer route (--fsync needs 3.2.4 at both ends).
    rsync_bin: str | None = None


@dataclass(frozen=True)
class FileInfo:
    """One directory entry as seen by ``snapshot_dir``; ``subdir`` is '' for the dir itself."""

    name: str
    size_bytes: int
    subdir: str = ""
    idle_seconds: float = 0.0  # since it was last written
    allocated_bytes: int | None = None  # on disk; a preallocated file holds its whole size at once
    in_use: bool | None = None  # held open by a process (None: not known, processes not readable)


@dataclass(frozen=True)
class DirSnapshot:
    """What one archive dir looked like: space, finished plots, other files, or why unreadable."""

    path: str
    error: str | None = None
    free_bytes: int = 0
    total_bytes: int = 0
    device: int | None = None
    mount_point: str | None = None
    plots: tuple[tuple[str, int, float], ...] = ()  # (name, size, mtime) of each complete plot
    files: tuple[FileInfo, ...] = ()  # everything else that might be a file in flight


@dataclass
class Incoming:
    name: str
    final_name: str
    size_bytes: int
    kind: str  # rsync-temp | rsync-partial | plotter-temp
    k: int | None
    expected_bytes: int  # by the plot's own kind (format, k, compression): a C7 plot counts as C7
    idle_seconds: float = 0.0
    stale: bool = False  # its writer is gone: no process holds it, or untouched past the limit
    allocated_bytes: int | None = None  # disk space it already holds (rsync --preallocate: all of it)
    plot_kind: str | None = None  # plotfiles.PlotKind.key: v1-k32, v1-k32-c7-bladebit, v2-k28
    plot_format: str | None = None  # v1 | v2

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "final_name": self.final_name,
            "size_bytes": self.size_bytes,
            "kind": self.kind,
            "k": self.k,
            "plot_kind": self.plot_kind,
            "plot_format": self.plot_format,
            "expected_bytes": self.expected_bytes,
            "idle_seconds": round(self.idle_seconds),
            "stale": self.stale,
            "allocated_bytes": self.allocated_bytes,
        }


@dataclass
class DirReport:
    path: str
    rsync_module: str | None
    max_connections: int | None
    error: str | None = None
    device: int | None = None
    mount_point: str | None = None
    free_bytes: int = 0
    total_bytes: int = 0
    plots: int = 0
    plot_bytes: int = 0
    plots_by_k: dict[int, int] = field(default_factory=dict)
    plot_names: list[str] | None = field(default_factory=list)  # None: not asked for (large dirs)
    incoming: list[Incoming] = field(default_factory=list)
    census: dict[str, Any] = field(default_factory=dict)  # plotfiles.plot_census of its plots

    @property
    def used_bytes(self) -> int:
        return max(self.total_bytes - self.free_bytes, 0)

    @property
    def incoming_bytes(self) -> int:
        return sum(item.size_bytes for item in self.incoming)

    @property
    def free_after_incoming_bytes(self) -> int:
        """Room left once the files now arriving are complete: what a planner may still promise."""
        still_to_come = sum(max(item.expected_bytes - _held(item), 0) for item in self.incoming if not item.stale)
        return max(self.free_bytes - still_to_come, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "rsync_module": self.rsync_module,
            "max_connections": self.max_connections,
            "error": self.error,
            "device": self.device,
            "mount_point": self.mount_point,
            "free_bytes": self.free_bytes,
            "total_bytes": self.total_bytes,
            "used_bytes": self.used_bytes,
            "plots": self.plots,
            "plot_bytes": self.plot_bytes,
            "plots_by_k": {str(k): count for k, count in sorted(self.plots_by_k.items())},
            "plot_names": self.plot_names,
            "census": self.census,
            "incoming": [item.as_dict() for item in self.incoming],
            "incoming_bytes": self.incoming_bytes,
            "free_after_incoming_bytes": self.free_after_incoming_bytes,
        }


def _held(item: Incoming) -> int:
    """Bytes a file in flight already takes on disk (preallocated: its whole size from the start)."""
    return max(item.size_bytes, item.allocated_bytes or 0)


# --- config -------------------------------------------------------------------------------


def parse_harvester_config(data: Any) -> HarvesterConfig:
    """Validate the harvester config (as loaded from YAML/JSON) with the plotter config's own
    reader (module_utils/checks.py): every problem names its key path, unknown keys included."""
    if not isinstance(data, Mapping):
        raise HarvesterConfigError([f"the top level must be a mapping, got {show(data)}"])
    problems: list[str] = []
    top = Section(data, "", problems)
    dirs = parse_archive_dirs(data.get("archive_dirs"), problems)
    top.read_elsewhere("archive_dirs", "verify")
    rsync = top.section("rsync")
    port = rsync.integer("port", None, 1, 65535)
    address = rsync.string("address", None)
    rsync_bin = rsync.string("bin", None)
    if rsync_bin is not None and not rsync_bin.startswith("/"):
        problems.append(f"rsync.bin: must be an absolute path, got {rsync_bin!r}")
    rsync.read_elsewhere("user")  # the user plotters authenticate as: the role's, for rsyncd.conf
    rsync.finish()
    subdirs = top.get("incoming_subdirs", DEFAULT_INCOMING_SUBDIRS,
                      lambda value, path: check_list(value, path, check_dir_name, _DIR_NAMES), _DIR_NAMES)
    stale = top.integer("stale_incoming_seconds", DEFAULT_STALE_AFTER_SECONDS, 60)
    verify = parse_verify_settings(data.get("verify"), problems)
    top.finish()
    if problems:
        raise HarvesterConfigError(problems)
    return HarvesterConfig(tuple(dirs), port, address, tuple(subdirs), stale, verify, rsync_bin)


_DIR_NAMES = "a list of directory names (no '/')"


def check_dir_name(value: Any, path: str) -> str:
    if isinstance(value, str) and value not in ("", ".", "..") and "/" not in value:
        return value
    raise bad(path, "a directory name (no '/')", value)


def check_rsync_module(value: Any, path: str) -> str:
    """The one definition of an rsync module name plotfleet accepts (rsyncd.conf section names)."""
    if isinstance(value, str) and _MODULE_NAME.match(value):
        return value
    raise bad(path, "an rsync module name (no '[', ']', '/')", value)


def parse_archive_dirs(items: Any, problems: list[str], key: str = "archive_dirs") -> list[ArchiveDir]:
    """Archive dirs from a list of mappings (path, rsync_module, max_connections, mount), appending
    problems named by key path."""
    if not isinstance(items, list):
        problems.extend(bad(key, "a list of archive dirs", items).lines)
        return []
    dirs: list[ArchiveDir] = []
    for index, item in enumerate(items):
        where = key_path(key, index)
        if not isinstance(item, Mapping):
            problems.extend(bad(where, "a mapping with a 'path'", item).lines)
            continue
        entry = Section(item, where, problems)
        path = entry.path("path", REQUIRED)
        module = entry.get("rsync_module", None, check_rsync_module, "an rsync module name")
        limit = entry.integer("max_connections", None, 1)
        mount = entry.boolean("mount", False)
        entry.finish()
        if path is not None:
            dirs.append(ArchiveDir(path, module, limit, mount))
    problems.extend(_duplicates(dirs, key))
    return dirs


def _duplicates(dirs: list[ArchiveDir], key: str) -> list[str]:
    problems = []
    seen_paths: set[str] = set()
    seen_modules: dict[str, str] = {}
    for item in dirs:
        if item.path in seen_paths:
            problems.append(f"{key}: {item.path} is listed twice")
        seen_paths.add(item.path)
        if not item.rsync_module:
            continue
        other = seen_modules.setdefault(item.rsync_module, item.path)
        if other != item.path:
            problems.append(f"{key}: rsync module {item.rsync_module!r} serves both {other} and {item.path}")
    return problems


def load_harvester_config(path: str) -> HarvesterConfig:
    """Read and validate the harvester config file. Raises HarvesterConfigError."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        hint = "run roles/harvester on this host, or pass archive_dirs"
        raise HarvesterConfigError([f"cannot read it: {err.strerror} ({hint})"]) from err
    return parse_harvester_config(_parse_yaml_or_json(text))


def _parse_yaml_or_json(text: str) -> Any:
    # The role writes JSON (a subset of YAML) under a '#' header so hosts without PyYAML can
    # read it; PyYAML, when present, also reads a hand-written YAML file.
    try:
        import yaml
    except ImportError:
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        try:
            return json.loads(body)
        except ValueError as err:
            raise HarvesterConfigError([f"not valid JSON and PyYAML is not installed to read YAML: {err}"]) from err
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise HarvesterConfigError([f"not valid YAML: {err}"]) from err


# --- reading a dir (the only I/O) -----------------------------------------------------------


def snapshot_dir(path: str, incoming_subdirs: Iterable[str] = DEFAULT_INCOMING_SUBDIRS,
                 held_open: set[str] | None = None) -> DirSnapshot:
    """Space and contents of one archive dir; an unreadable dir comes back with ``error`` set."""
    if not os.path.isdir(path):
        reason = "does not exist" if not os.path.lexists(path) else "is not a directory"
        return DirSnapshot(path, error=f"{path} {reason}")
    try:
        space = disk_space(path)
        plots: list[tuple[str, int, float]] = []
        files = list(_regular_files(path, "", held_open, plots))
        for subdir in incoming_subdirs:
            if os.path.isdir(os.path.join(path, subdir)):
                files.extend(_regular_files(os.path.join(path, subdir), subdir, held_open))
        plots, files = tuple(plots), tuple(files)  # in directory order: only a name list is sorted
    except OSError as err:
        return DirSnapshot(path, error=f"cannot read {path}: {err.strerror}")
    return DirSnapshot(path, None, space.free_bytes, space.total_bytes, space.device, _mount_point(path), plots, files)


def _regular_files(directory: str, subdir: str, held_open: set[str] | None,
                   plots: list[tuple[str, int, float]] | None = None) -> Iterable[FileInfo]:
    """Files in one pass over the dir: finished plots go to ``plots`` (name, size, mtime) when
    given, every other regular file is yielded. One stat per entry (scandir's own, cached)."""
    now = time.time()
    with os.scandir(directory) as entries:
        for entry in entries:
            try:
                if plots is not None and is_finished_plot_name(entry.name):
                    if entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        plots.append((entry.name, info.st_size, info.st_mtime))
                    continue
                if entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    in_use = None if held_open is None else entry.path in held_open
                    yield FileInfo(entry.name, info.st_size, subdir, idle_seconds=max(0.0, now - info.st_mtime),
                                   allocated_bytes=info.st_blocks * 512, in_use=in_use)
            except OSError:  # renamed into place while we looked: no longer in flight
                continue


def _snapshot_unless_refused(item: ArchiveDir, incoming_subdirs: Iterable[str],
                             held_open: set[str] | None) -> DirSnapshot:
    """A dir that is missing, or marked mount and not mounted, is reported as such and never read:
    its free space would be the disk beneath's, and planning must not send plots there."""
    refusal = dir_refusal(item.path, item.mount)
    if refusal:
        return DirSnapshot(item.path, error=refusal)
    return snapshot_dir(item.path, incoming_subdirs, held_open)


def _mount_point(path: str) -> str:
    """The mount point holding ``path``: lets an operator tell which disk a dir is on."""
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


# --- judging a dir (pure) ------------------------------------------------------------------


def classify_incoming(item: FileInfo, stale_after: float = DEFAULT_STALE_AFTER_SECONDS) -> Incoming | None:
    """The plot in flight this entry is, or None when it is something else."""
    final_name, kind = _final_name(item)
    if final_name is None or not final_name.endswith(FINISHED_SUFFIXES):
        return None  # only plots are archived; anything else is not ours to count
    parsed = parse_plot_name(final_name)
    plot_kind = parsed.kind if parsed else None
    name = f"{item.subdir}/{item.name}" if item.subdir else item.name
    return Incoming(name, final_name, item.size_bytes, kind, plot_kind.k if plot_kind else None,
                    expected_plot_bytes(plot_kind), item.idle_seconds, _is_stale(item, stale_after),
                    item.allocated_bytes, plot_kind.key if plot_kind else None,
                    plot_kind.format if plot_kind else None)


# A file just created may not be open yet, or just closed before its rename: give it a moment.
_FRESH_SECONDS = 10


def _is_stale(item: FileInfo, stale_after: float) -> bool:
    """No writer any more: no process holds it (when we can see every process's files), or, when
    we cannot, nothing wrote to it for longer than a live transfer may stay silent."""
    if item.in_use is None:
        return item.idle_seconds > stale_after
    return not item.in_use and item.idle_seconds > _FRESH_SECONDS


def _final_name(item: FileInfo) -> tuple[str | None, str]:
    rsync_temp = _RSYNC_TEMP.match(item.name)
    if rsync_temp:  # in the dir itself, or in a --temp-dir subdir
        return rsync_temp.group("final"), "rsync-temp"
    if item.subdir:  # --partial-dir keeps an interrupted file under its final name
        return item.name, "rsync-partial"
    plotter_temp = _PLOTTER_TEMP.match(item.name)
    return (plotter_temp.group("final") if plotter_temp else None), "plotter-temp"


def report_dir(archive_dir: ArchiveDir, snapshot: DirSnapshot,
               stale_after: float = DEFAULT_STALE_AFTER_SECONDS, with_names: bool = True,
               now: float | None = None, window_seconds: float = DEFAULT_ARRIVAL_WINDOW_SECONDS) -> DirReport:
    """The space report of one archive dir from what ``snapshot_dir`` saw, with its census
    (plots and bytes by kind, arrivals in the last ``window_seconds``); ``with_names`` adds every
    plot's name (what a planner needs to see duplicates; large on a full disk)."""
    report = DirReport(archive_dir.path, archive_dir.rsync_module, archive_dir.max_connections)
    if snapshot.error:
        report.error = snapshot.error
        return report
    report.device = snapshot.device
    report.mount_point = snapshot.mount_point
    report.free_bytes = snapshot.free_bytes
    report.total_bytes = snapshot.total_bytes
    now = time.time() if now is None else now
    report.census = plot_census(snapshot.plots, now - window_seconds, window_seconds)
    for entry in report.census["kinds"]:
        report.plots += entry["plots"]
        report.plot_bytes += entry["bytes"]
        if entry["k"] is not None:
            report.plots_by_k[entry["k"]] = report.plots_by_k.get(entry["k"], 0) + entry["plots"]
    report.plot_names = ([name for name, _size, _mtime in sorted(snapshot.plots, key=lambda plot: (plot[2], plot[0]))]
                         if with_names else None)  # oldest first
    incoming = (classify_incoming(item, stale_after) for item in snapshot.files)
    report.incoming = sorted((item for item in incoming if item), key=lambda item: item.name)
    return report


def summarize_host(reports: list[DirReport]) -> dict[str, Any]:
    """Host totals. Space counts each device once: two dirs on one disk share its free bytes."""
    readable = [report for report in reports if not report.error]
    by_device = {report.device: report for report in readable}
    return {
        "dirs": len(reports),
        "dirs_with_errors": len(reports) - len(readable),
        "devices": len(by_device),
        "free_bytes": sum(report.free_bytes for report in by_device.values()),
        "total_bytes": sum(report.total_bytes for report in by_device.values()),
        "used_bytes": sum(report.used_bytes for report in by_device.values()),
        "plots": sum(report.plots for report in readable),
        "plot_bytes": sum(report.plot_bytes for report in readable),
        "incoming": sum(len(report.incoming) for report in readable),
        "incoming_bytes": sum(report.incoming_bytes for report in readable),
        "census": merge_census(report.census for report in readable),
    }


def inspect_harvester(config: HarvesterConfig, with_names: bool = True,
                      window_seconds: float = DEFAULT_ARRIVAL_WINDOW_SECONDS) -> tuple[list[DirReport], dict[str, Any]]:
    """Every archive dir's report and the host totals."""
    held_open = all_open_paths()
    now = time.time()
    reports = [report_dir(item, _snapshot_unless_refused(item, config.incoming_subdirs, held_open),
                          config.stale_after_seconds, with_names, now, window_seconds)
               for item in config.archive_dirs]
    return reports, summarize_host(reports)


def _is_plain_name(name: Any) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def harvester_info(config: HarvesterConfig, replace: ReplaceConfig | None = None, plot_names: bool = True,
                   window_seconds: float = DEFAULT_ARRIVAL_WINDOW_SECONDS) -> dict[str, Any]:
    """plotfleet_space_info's result (and the dashboard agent's, so both say the same): every archive
    dir (with its census, reservation and, with rules, replaceable plots) and the host totals."""
    reports, host = inspect_harvester(config, plot_names, window_seconds)
    return {
        "archive_dirs": [with_replace(report.as_dict(), replace) for report in reports],
        "host": host,
        "rsync_port": config.rsync_port,
        "rsync_version": daemon_rsync_version(config.rsync_bin),
        "replace": replace.as_dict() if replace else None,
    }


def with_replace(entry: dict, replace: ReplaceConfig | None) -> dict:
    """A dir's report with its reservation and replaceable plots (a readable dir only)."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.replace import dir_replace_report

    entry.update(reservation=None, replaceable=None)
    if not entry.get("error"):
        try:
            entry.update(dir_replace_report(entry["path"], replace))
        except OSError as err:
            entry["error"] = f"cannot read {entry['path']} for replaceable plots: {err.strerror or err}"
    return entry


def daemon_rsync_version(rsync_bin: str | None) -> str | None:
    """The version ("3.2.7") of the rsync the harvester's daemon runs (the config's rsync.bin, else
    the one on PATH); None when it cannot be run. Plotters pick their transfer route by it."""
    version = installed_rsync_version(rsync_bin or "rsync")
    return ".".join(map(str, version)) if version else None
