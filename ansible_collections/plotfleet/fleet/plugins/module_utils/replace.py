"""Replace on arrival: which plots on a harvester may make room for a new one, and in what order.

The operator declares it in inventory vars (fleet-wide in group_vars, per harvester in host
vars, per archive dir with a rule's ``path`` glob)::

    plotfleet_replot_target: v2             # plots in this format are never replaced
    plotfleet_replace_max_per_run: 4        # plots deleted per harvester per archive run
    plotfleet_replace_order: [format, compression, k, age]
    plotfleet_replace_rules:
      - name: v1 below C7
        format: v1
        compression_below: 7
      - name: old k32 uncompressed
        k: 32
        compression: 0
        older_than: 2024-01-01              # or older_than_days: 365; age_from: name | mtime
        path: /mnt/hdd0*/*

A plot is replaceable when one rule matches it (every condition a rule gives holds) and it is not
in the target format. The least valuable go first: the order keys compare format (v1 before v2),
compression level (uncompressed first: a compressed plot farms more per byte), k, then age
(oldest first); the file name breaks ties so every run sees the same order.

Pure logic (parsing, matching, ordering, choosing just enough) first; the harvester's own I/O
(scanning a dir, the reservation of a dir for its incoming plot, the deletion log) last.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.checks import (
    Invalid,
    Section,
    bad,
    check_int,
    key_path,
    show,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import (
    FORMATS,
    PlotKind,
    is_finished_plot_name,
    parse_plot_name,
)

ORDER_KEYS = ("format", "compression", "k", "age", "size")
DEFAULT_ORDER = ("format", "compression", "k", "age")
AGE_SOURCES = ("name", "mtime")
DEFAULT_TARGET = "v2"
# How much of a dir's replaceable plots the harvester reports: enough for the largest plot any
# plotter makes (k32 uncompressed, 101.4 GiB) twice over, so the report stays short on a disk
# of 18,000 plots while the planner can always cover one arrival.
REPORT_BYTES = 2 * 109 * 1024**3
REPORT_MAX_PLOTS = 200

_DAY = 86400.0
_UTC = datetime.timezone.utc  # noqa: UP017 - datetime.UTC needs Python 3.11; hosts may run 3.9


class ReplaceConfigError(ValueError):
    """The replace config cannot be used; ``problems`` names every bad key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class NamedPlot:
    """What a plot file's name says: its kind (plotfiles' PlotKind) and, for v1, when it was begun."""

    kind: PlotKind
    created: float | None  # seconds since the epoch (UTC) from the name's date; None for v2


def describe_plot(name: str) -> NamedPlot | None:
    """The kind and date of a plot from its file name; None when it is not a standard plot name."""
    parsed = parse_plot_name(name)
    if parsed is None:
        return None
    created = None
    if parsed.date:
        try:
            created = datetime.datetime.strptime(parsed.date, "%Y-%m-%d-%H-%M").replace(tzinfo=_UTC).timestamp()
        except ValueError:  # a name with an impossible date: its age comes from the mtime
            created = None
    return NamedPlot(parsed.kind, created)


# --- the config --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    name: str
    format: str | None = None
    k: tuple[int, ...] = ()
    compression: tuple[int, ...] = ()
    compression_below: int | None = None
    older_than: float | None = None  # a moment, seconds since the epoch
    older_than_days: float | None = None
    age_from: str = "name"
    path: str | None = None

    def matches(self, plot: NamedPlot, path: str, mtime: float, now: float) -> bool:
        kind = plot.kind
        if self.format is not None and kind.format != self.format:
            return False
        if self.k and kind.k not in self.k:
            return False
        if self.compression and kind.compression not in self.compression:
            return False
        if self.compression_below is not None and kind.compression >= self.compression_below:
            return False
        if self.path is not None and not fnmatch.fnmatchcase(path, self.path):
            return False
        if self.older_than is not None or self.older_than_days is not None:
            made = plot_time(plot, mtime, self.age_from)
            if self.older_than is not None and made >= self.older_than:
                return False
            if self.older_than_days is not None and now - made < self.older_than_days * _DAY:
                return False
        return True


@dataclass(frozen=True)
class ReplaceConfig:
    rules: tuple[Rule, ...] = ()
    target: str = DEFAULT_TARGET
    order: tuple[str, ...] = DEFAULT_ORDER
    max_per_run: int | None = None  # plots deleted per harvester per archive run; None: no cap

    @property
    def enabled(self) -> bool:
        return bool(self.rules) and self.max_per_run != 0

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "order": list(self.order), "max_per_run": self.max_per_run,
                "rules": [rule.name for rule in self.rules]}


def plot_time(plot: NamedPlot, mtime: float, age_from: str = "name") -> float:
    """When the plot was made: the date in its name, or its mtime (asked for, or no date in the name)."""
    if age_from == "name" and plot.created is not None:
        return plot.created
    return mtime


def parse_replace_config(rules: Any, target: Any = None, order: Any = None, max_per_run: Any = None,
                         names: Mapping[str, str] | None = None) -> ReplaceConfig:
    """Validate the operator's replace settings; every problem names its key.

    ``names`` maps ``rules``, ``target``, ``order``, ``max_per_run`` to the key names the operator
    wrote (the inventory vars by default, a module's parameters when called ad hoc).
    """
    keys = {"rules": "plotfleet_replace_rules", "target": "plotfleet_replot_target",
            "order": "plotfleet_replace_order", "max_per_run": "plotfleet_replace_max_per_run", **(names or {})}
    problems: list[str] = []
    target_value = DEFAULT_TARGET if target in (None, "") else target
    if target_value not in FORMATS:
        problems.append(f"{keys['target']}: must be one of {', '.join(FORMATS)}, got {show(target_value)}")
    cap = None
    if max_per_run not in (None, ""):
        try:
            cap = check_int(_intlike(max_per_run), keys["max_per_run"], minimum=0)
        except Invalid as error:
            problems.extend(error.lines)
    parsed_order = _parse_order(order, keys["order"], problems)
    parsed_rules: list[Rule] = []
    if rules not in (None, ""):
        if not isinstance(rules, list):
            problems.append(f"{keys['rules']}: must be a list of rules (mappings), got {show(rules)}")
        else:
            for index, item in enumerate(rules):
                rule = _parse_rule(item, key_path(keys["rules"], index), index, target_value, keys["target"], problems)
                if rule is not None:
                    parsed_rules.append(rule)
    if problems:
        raise ReplaceConfigError(problems)
    return ReplaceConfig(tuple(parsed_rules), target_value, parsed_order, cap)


def _intlike(value: Any) -> Any:
    # Ansible's -e and templated module arguments turn integers into strings.
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return value


def _parse_order(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if value in (None, ""):
        return DEFAULT_ORDER
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(item, str) for item in items):
        problems.append(f"{where}: must be a list of keys from {', '.join(ORDER_KEYS)}, got {show(value)}")
        return DEFAULT_ORDER
    unknown = [item for item in items if item not in ORDER_KEYS]
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)}; expected keys from {', '.join(ORDER_KEYS)}")
        return DEFAULT_ORDER
    return tuple(items)


def _parse_rule(item: Any, where: str, index: int, target: Any, target_key: str, problems: list[str]) -> Rule | None:
    if not isinstance(item, Mapping):
        problems.append(f"{where}: must be a mapping of conditions (format, k, compression, ...), got {show(item)}")
        return None
    before = len(problems)
    section = Section(item, where, problems)
    name = section.string("name", f"rule {index + 1}")
    fmt = section.choice("format", None, FORMATS)
    k = section.get("k", (), _check_ints, "an integer or a list of integers")
    compression = section.get("compression", (), _check_ints, "an integer or a list of integers")
    below = section.integer("compression_below", None, minimum=1)
    older = section.get("older_than", None, _check_moment, "a date (YYYY-MM-DD)")
    days = section.get("older_than_days", None, _check_days, "a number of days >= 0")
    age_from = section.choice("age_from", "name", AGE_SOURCES)
    path = section.string("path", None)
    section.finish()
    if fmt is not None and fmt == target:
        problems.append(f"{section.path_of('format')}: {fmt} is the replot target ({target_key}); plots in the "
                        "target format are never replaced, so a rule must not name it")
    if len(problems) > before:
        return None
    if not any(v not in (None, ()) for v in (fmt, k, compression, below, older, days, path)):
        problems.append(f"{where}: gives no condition, so it would make every plot replaceable; name at least one "
                        "of format, k, compression, compression_below, older_than, older_than_days, path")
        return None
    return Rule(name, fmt, k, compression, below, older, days, age_from, path)


def _check_ints(value: Any, path: str) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    if items and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in items):
        return tuple(items)
    raise bad(path, "an integer >= 0 or a list of them", value)


def _check_moment(value: Any, path: str) -> float:
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=_UTC)
        return moment.timestamp()
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=_UTC).timestamp()
    if isinstance(value, str):
        try:
            day = datetime.datetime.strptime(value.strip(), "%Y-%m-%d")
        except ValueError:
            raise bad(path, "a date (YYYY-MM-DD)", value) from None
        return day.replace(tzinfo=_UTC).timestamp()
    raise bad(path, "a date (YYYY-MM-DD)", value)


def _check_days(value: Any, path: str) -> float:
    value = _intlike(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise bad(path, "a number of days >= 0", value)


# --- matching and ordering (pure) -------------------------------------------------------------


@dataclass(frozen=True)
class Replaceable:
    """A plot that a rule lets go, with what the log and the plan need to know about it."""

    name: str
    size_bytes: int
    mtime: float
    plot: NamedPlot
    rule: str

    @property
    def kind(self) -> PlotKind:
        return self.plot.kind

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size_bytes": self.size_bytes, "kind": self.kind.label, "rule": self.rule,
                "format": self.kind.format, "k": self.kind.k, "compression": self.kind.compression,
                "mtime": round(self.mtime)}


def matching_rule(config: ReplaceConfig, name: str, path: str, mtime: float, now: float) -> str | None:
    """The name of the first rule that lets this plot go, or None (never for the target format)."""
    plot = describe_plot(name)
    if plot is None or plot.kind.format == config.target:
        return None
    return next((rule.name for rule in config.rules if rule.matches(plot, path, mtime, now)), None)


def order_key(config: ReplaceConfig, item: Replaceable) -> tuple:
    """Least valuable first; ties by name so the order is the same in every run."""
    values = {
        "format": FORMATS.index(item.kind.format),
        "compression": item.kind.compression,
        "k": item.kind.k,
        "age": plot_time(item.plot, item.mtime),
        "size": -item.size_bytes,  # the biggest first: fewest deletions for one arrival
    }
    return (*(values[key] for key in config.order), item.name)


def replaceable_plots(config: ReplaceConfig, directory: str, files: Iterable[tuple[str, int, float]],
                      now: float) -> list[Replaceable]:
    """The plots in ``directory`` (name, size, mtime) that a rule lets go, least valuable first."""
    found = []
    for name, size, mtime in files:
        rule = matching_rule(config, name, os.path.join(directory, name), mtime, now)
        plot = describe_plot(name)
        if rule is not None and plot is not None:
            found.append(Replaceable(name, size, mtime, plot, rule))
    return sorted(found, key=lambda item: order_key(config, item))


def just_enough(candidates: Sequence[Any], need_bytes: int, size: Any = None) -> list[Any] | None:
    """The fewest of ``candidates`` (least valuable first) whose sizes cover ``need_bytes``.

    Takes them in order until the need is covered, then drops every one the others already cover,
    the most valuable first, so that no plot is deleted that the arrival does not need. None when
    all of them together are not enough. ``size`` reads an item's bytes (default: ``size_bytes``).
    """
    def size_of(item: Any) -> int:
        if size is not None:
            return int(size(item))
        return int(item["size_bytes"] if isinstance(item, Mapping) else item.size_bytes)

    if need_bytes <= 0:
        return []
    chosen, total = [], 0
    for item in candidates:
        if total >= need_bytes:
            break
        chosen.append(item)
        total += size_of(item)
    if total < need_bytes:
        return None
    for item in reversed(list(chosen)):
        if total - size_of(item) >= need_bytes:
            chosen.remove(item)
            total -= size_of(item)
    return chosen


def report_replaceable(config: ReplaceConfig, plots: Sequence[Replaceable]) -> dict[str, Any]:
    """The compact per-dir report: totals, and the first candidates in order (enough for one arrival)."""
    limit = REPORT_MAX_PLOTS if config.max_per_run is None else min(REPORT_MAX_PLOTS, config.max_per_run)
    shown, covered = [], 0
    for item in plots:
        if len(shown) >= limit or covered >= REPORT_BYTES:
            break
        shown.append(item.as_dict())
        covered += item.size_bytes
    return {"plots": len(plots), "bytes": sum(item.size_bytes for item in plots), "candidates": shown,
            "truncated": len(shown) < len(plots)}


# --- on the harvester: scanning, the reservation, the deletion log (I/O) ------------------

RESERVATION_NAME = ".plotfleet-reservation.json"
LOCK_NAME = ".plotfleet-replace.lock"
DEFAULT_LOG_FILE = "/var/log/plotfleet/replace.log"


def scan_plots(directory: str) -> list[tuple[str, int, float]]:
    """(name, size, mtime) of every complete plot file (``*.plot``, ``*.plot2``) directly in a dir.

    Raises OSError."""
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not is_finished_plot_name(entry.name):
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    found.append((entry.name, info.st_size, info.st_mtime))
            except OSError:  # removed while we looked
                continue
    return found


@dataclass
class Reservation:
    """A dir's room held for one incoming plot: written before any deletion, cleared once it arrived."""

    plot: str
    size_bytes: int = 0
    plotter: str | None = None
    source: str | None = None
    created: float = 0.0
    deleted: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"plot": self.plot, "size_bytes": self.size_bytes, "plotter": self.plotter, "source": self.source,
                "created": self.created, "deleted": self.deleted}


def reservation_path(directory: str) -> str:
    return os.path.join(directory, RESERVATION_NAME)


def lock_path(directory: str) -> str:
    return os.path.join(directory, LOCK_NAME)


def read_reservation(directory: str) -> Reservation | None:
    """The dir's reservation; None when it has none. An unreadable one is kept as held (a plot
    named ``?``) rather than ignored, so that nothing is deleted twice for it."""
    try:
        with open(reservation_path(directory), encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return Reservation("?")
    if not isinstance(data, Mapping) or not isinstance(data.get("plot"), str):
        return Reservation("?")
    return Reservation(data["plot"], int(data.get("size_bytes") or 0), data.get("plotter"), data.get("source"),
                       float(data.get("created") or 0), list(data.get("deleted") or []))


def write_reservation(directory: str, reservation: Reservation) -> None:
    """Write to a temp name, flush to disk, rename: the reservation is complete or absent."""
    final = reservation_path(directory)
    temp = f"{final}.{os.getpid()}.tmp"
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(reservation.as_dict(), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, final)
    _fsync_dir(directory)


def clear_reservation(directory: str) -> None:
    try:
        os.unlink(reservation_path(directory))
    except FileNotFoundError:
        return
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def log_line(when: float, path: str, size: int, kind: str, rule: str, plot: str, where: str) -> str:
    stamp = datetime.datetime.fromtimestamp(when, _UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f"{stamp} deleted {path} size={size} kind={kind.replace(' ', '_')} rule={json.dumps(rule)} "
            f"for={plot} on={where}\n")


def append_log(log_file: str, line: str) -> None:
    """Append one line and flush it to disk before the next deletion."""
    directory = os.path.dirname(log_file)
    if directory:
        os.makedirs(directory, exist_ok=True)
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class RoomRequest:
    """Room for one incoming plot in one archive dir, by deleting (some of) the named plots."""

    directory: str
    plot: str
    size_bytes: int
    margin_bytes: int
    delete: tuple[str, ...] = ()
    where: str = ""  # "harvester:/dir", for messages and the log
    plotter: str | None = None
    source: str | None = None
    release: str | None = None  # a reservation the planner found fulfilled elsewhere or orphaned


@dataclass
class RoomOutcome:
    ready: bool  # the transfer may start now
    msg: str
    deleted: list[dict[str, Any]] = field(default_factory=list)  # done, or that would be done in check mode
    reservation: dict[str, Any] | None = None
    cleared: str | None = None  # the plot of a reservation cleared on the way
    changed: bool = False


def make_room(request: RoomRequest, config: ReplaceConfig, log_file: str = DEFAULT_LOG_FILE,
              check_mode: bool = False, lock_timeout: float = 60.0) -> RoomOutcome:
    """Under the dir's lock: check the dir's reservation and slot, then delete just enough.

    The reservation is written (and flushed) before the first deletion, so a run or a harvester
    that dies halfway leaves the dir held for this plot, and the next run neither deletes again for
    it nor gives the room to another plot. Check mode takes no lock and writes nothing.
    """
    if check_mode:
        return _make_room(request, config, log_file, True, time.time())
    from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import HostLock

    with HostLock(lock_path(request.directory), timeout=lock_timeout):
        return _make_room(request, config, log_file, False, time.time())


def _make_room(request: RoomRequest, config: ReplaceConfig, log_file: str, check_mode: bool,
               moment: float) -> RoomOutcome:
    where = request.where or request.directory
    plots = {name: (size, mtime) for name, size, mtime in scan_plots(request.directory)}
    held = read_reservation(request.directory)
    cleared = None
    if held is not None and (held.plot in plots or held.plot == request.release):
        cleared = held.plot  # arrived (or the planner saw it land elsewhere / orphaned)
        if not check_mode:
            clear_reservation(request.directory)
        held = None
    if held is not None and held.plot == request.plot:
        return RoomOutcome(True, f"room for {request.plot} on {where} was made by an earlier run "
                           f"(deleted {_names(held.deleted)}); nothing more to delete", [],
                           held.as_dict(), cleared, cleared is not None and not check_mode)
    if held is not None:
        return RoomOutcome(False, f"{where} holds room for {held.plot} (deleted {_names(held.deleted)}); that "
                           f"plot goes there first, so nothing is deleted for {request.plot}", [], held.as_dict(),
                           cleared, cleared is not None and not check_mode)
    busy = _receiving(request.directory)
    if busy:
        return RoomOutcome(False, f"{where} is receiving {busy} now; nothing deleted for {request.plot}",
                           cleared=cleared, changed=cleared is not None and not check_mode)
    need = request.size_bytes + request.margin_bytes - free_bytes(request.directory)
    if need <= 0:
        return RoomOutcome(True, f"{where} has room for {request.plot}; nothing to delete", cleared=cleared,
                           changed=cleared is not None and not check_mode)
    named = []
    for name in request.delete:
        if name not in plots:
            return RoomOutcome(False, f"{name} is no longer in {where}; nothing deleted, the next run plans again",
                               cleared=cleared, changed=cleared is not None and not check_mode)
        size, mtime = plots[name]
        rule = matching_rule(config, name, os.path.join(request.directory, name), mtime, moment)
        plot = describe_plot(name)
        if rule is None or plot is None:
            return RoomOutcome(False, f"no rule lets {name} go (or it is in the target format "
                               f"{config.target}); nothing deleted on {where}", cleared=cleared,
                               changed=cleared is not None and not check_mode)
        named.append(Replaceable(name, size, mtime, plot, rule))
    chosen = just_enough(named, need)
    if chosen is None:
        return RoomOutcome(False, f"{request.plot} needs {need} more bytes on {where} than are free, and the "
                           f"plots named for it free only {sum(item.size_bytes for item in named)}; nothing deleted",
                           cleared=cleared, changed=cleared is not None and not check_mode)
    deleted = [item.as_dict() for item in chosen]
    verb = "would delete" if check_mode else "deleted"
    msg = f"{verb} {_names(deleted)} to place {request.plot} on {where}"
    reservation = Reservation(request.plot, request.size_bytes, request.plotter, request.source, moment, deleted)
    if check_mode:
        return RoomOutcome(True, msg, deleted, reservation.as_dict(), cleared, True)
    write_reservation(request.directory, reservation)
    for item in chosen:
        path = os.path.join(request.directory, item.name)
        os.unlink(path)
        append_log(log_file, log_line(time.time(), path, item.size_bytes, item.kind.label, item.rule,
                                      request.plot, where))
    _fsync_dir(request.directory)
    return RoomOutcome(True, msg, deleted, reservation.as_dict(), cleared, True)


def free_bytes(directory: str) -> int:
    """Bytes an unprivileged writer (the rsync daemon) can still write there."""
    vfs = os.statvfs(directory)
    return vfs.f_bavail * vfs.f_frsize


def _names(items: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(str(item.get("name")) for item in items) or "nothing"


def _receiving(directory: str) -> str | None:
    """A plot being written into the dir right now (a live rsync or plotter temp file), if any."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
        DEFAULT_INCOMING_SUBDIRS,
        classify_incoming,
        snapshot_dir,
    )
    from ansible_collections.plotfleet.fleet.plugins.module_utils.proctable import all_open_paths

    snapshot = snapshot_dir(directory, DEFAULT_INCOMING_SUBDIRS, all_open_paths())
    for item in snapshot.files:
        incoming = classify_incoming(item)
        if incoming is not None and not incoming.stale:
            return incoming.final_name
    return None


def clear_arrived(directory: str, plot: str, check_mode: bool = False, lock_timeout: float = 60.0) -> str | None:
    """Clear the dir's reservation when it is for ``plot`` and the plot is complete in the dir."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import HostLock

    held = read_reservation(directory)
    if held is None or held.plot != plot or not os.path.isfile(os.path.join(directory, plot)):
        return None
    if check_mode:
        return plot
    with HostLock(lock_path(directory), timeout=lock_timeout):
        held = read_reservation(directory)
        if held is None or held.plot != plot:
            return None
        clear_reservation(directory)
    return plot


def dir_replace_report(directory: str, config: ReplaceConfig | None, moment: float | None = None) -> dict[str, Any]:
    """What ``plotfleet_space_info`` adds to one readable archive dir: its reservation, and (with rules)
    its replaceable plots in order, compactly."""
    held = read_reservation(directory)
    report: dict[str, Any] = {"reservation": None, "replaceable": None}
    if held is not None:
        report["reservation"] = {**held.as_dict(),
                                 "arrived": os.path.isfile(os.path.join(directory, held.plot))}
    if config is not None and config.rules:
        plots = replaceable_plots(config, directory, scan_plots(directory), time.time() if moment is None else moment)
        report["replaceable"] = report_replaceable(config, plots)
    return report
