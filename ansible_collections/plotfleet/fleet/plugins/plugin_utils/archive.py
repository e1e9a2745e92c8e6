"""Fleet-wide archive planning: which finished plot goes to which harvester dir, now.

``plan_archive(plotters, harvesters, settings)`` is a pure function over what the hosts reported
(``plotfleet_jobs_info`` per plotter, ``plotfleet_space_info`` per harvester, as registered by Ansible, so
unreachable and failed hosts come in too). It returns the transfers to start and, for every
finished plot that stays where it is, the reason in words an operator can act on.

The rules:

- Only complete ``.plot`` files in dst dirs are candidates, never a plot already being sent.
- A harvester dir takes a plot when its free space, minus what is still to arrive there (running
  transfers to its rsync module, partial files on its disk), covers the plot plus a margin.
- A harvester disk takes as many transfers at once as the ``max connections`` of the rsync
  module being written (the harvester role's ``max_connections`` per archive dir, default 1):
  dirs on one device are one disk, and parallel writes to one spindle are slower than serial
  ones, so the default is one; raise it for disks that keep up (SSD, RAID).
- Each plotter sends at most ``parallel_transfers`` plots at once (its network and dst disks).
- Spread: each plot goes to the harvester that has been given the fewest plots so far (round
  robin), to its dir with the most room.
- Among one plotter's plots, plotman's priority: stay off a dst drive a job is about to write
  to (plotman lowers the priority of a dst whose furthest job is in phase 3:4, 3:5, 3:6 and most
  at 3:7 and beyond; here a job at ``dst_busy_phase`` or later holds the drive, earlier
  phases only lower its rank), then the fuller drive first, then the drive with more plots,
  oldest plot first.

When no harvester has room nothing is lost: plots stay on the dst dirs, plotting goes on as
long as they have room, and ``waiting`` says why each plot stays.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.checks import (
    Invalid,
    check_int,
    check_size,
    is_int,
    suggest,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import expected_plot_bytes
from ansible_collections.plotfleet.fleet.plugins.module_utils.units import human_bytes
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.options import check_count, check_phase_or_empty
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.replace_plan import ReplacePlanner, replace_lines
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.results import host_outcome

DEFAULT_MARGIN_BYTES = 1024**3
DEFAULT_RSYNC_PORT = 873
DEFAULT_DST_BUSY_PHASE = (3, 7)
# plotman's graded penalty for a dst drive whose furthest job is in these phases.
_PHASE_PENALTY = (((3, 7), 32), ((3, 6), 16), ((3, 5), 8), ((3, 4), 4))
# Incoming files that mean a receiver is writing to the disk right now (a leftover partial from an
# interrupted transfer, kind rsync-partial, takes space but no bandwidth).
_ACTIVE_INCOMING = ("rsync-temp", "plotter-temp")


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    margin_bytes: int = DEFAULT_MARGIN_BYTES
    parallel_transfers: int = 1
    plotter_parallel_transfers: Mapping[str, int] = field(default_factory=dict)
    harvester_addresses: Mapping[str, str] = field(default_factory=dict)
    harvester_ports: Mapping[str, int] = field(default_factory=dict)
    dst_busy_phase: tuple[int, int] | None = DEFAULT_DST_BUSY_PHASE

    def limit(self, plotter: str) -> int:
        return int(self.plotter_parallel_transfers.get(plotter) or self.parallel_transfers)


def parse_settings(data: Mapping[str, Any] | None) -> Settings:
    """Settings from plain data (the filter's argument), read with the project's one set of
    checkers (module_utils/checks.py, plugin_utils/options.py): sizes take units, numbers may come
    as the strings inventory templating makes, and every bad key is named."""
    data = dict(data or {})
    problems: list[str] = []
    known = sorted(f.name for f in Settings.__dataclass_fields__.values())
    problems += [f"{key}: unknown setting{suggest(str(key), known)}" for key in sorted(set(data) - set(known))]

    def read(name: str, value: Any, check: Any, default: Any) -> Any:
        if value is None or value == "":
            return default
        try:
            return check(value, name)
        except Invalid as error:
            problems.extend(error.lines)
            return default

    margin = read("margin_bytes", data.get("margin_bytes"), check_size, DEFAULT_MARGIN_BYTES)
    parallel = read("parallel_transfers", data.get("parallel_transfers"), _at_least_one, 1)
    per_plotter = {host: read(f"plotter_parallel_transfers.{host}", value, _at_least_one, None)
                   for host, value in dict(data.get("plotter_parallel_transfers") or {}).items()}
    ports = {host: read(f"harvester_ports.{host}", value, _tcp_port, None)
             for host, value in dict(data.get("harvester_ports") or {}).items()}
    busy = read("dst_busy_phase", data.get("dst_busy_phase", "3:7") or "", check_phase_or_empty, "")
    if problems:
        raise SettingsError("archive plan settings: " + "; ".join(problems))
    addresses = {host: str(addr) for host, addr in dict(data.get("harvester_addresses") or {}).items() if addr}
    return Settings(margin, parallel, {h: v for h, v in per_plotter.items() if v is not None}, addresses,
                    {h: v for h, v in ports.items() if v is not None}, _phase_tuple(busy))


def _at_least_one(value: Any, name: str) -> int:
    return check_count(value, name, 1)


def _tcp_port(value: Any, name: str) -> int:
    return check_int(check_count(value, name, 1), name, 1, 65535)


def _phase_tuple(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    major, _, minor = text.partition(":")
    return int(major), int(minor)


# --- the harvester side ------------------------------------------------------------------


@dataclass
class Slot:
    """One harvester archive dir as a destination, with what is promised to it in this plan."""

    harvester: str
    path: str
    module: str
    disk: tuple[str, Any]
    free_bytes: int
    to_arrive_bytes: int = 0  # still to be written by transfers in flight and planned
    receiving: list[str] = field(default_factory=list)  # what is being written to its disk now
    stale: list[str] = field(default_factory=list)  # partial files of transfers that died
    max_connections: int = 1  # the rsync module's "max connections": transfers its disk may take at once

    @property
    def room_bytes(self) -> int:
        return self.free_bytes - self.to_arrive_bytes

    @property
    def has_free_connection(self) -> bool:
        """Whether the disk receives fewer plots than this dir's module allows at once."""
        return len(self.receiving) < self.max_connections


def _harvester_slots(
    harvesters: Mapping[str, Any], in_flight: Sequence[dict], settings: Settings
) -> tuple[list[Slot], list[dict], list[dict]]:
    """(usable dirs, harvesters down, dirs skipped) from the plotfleet_space_info results."""
    slots, down, skipped = [], [], []
    for host in sorted(harvesters):
        status, msg = host_outcome(harvesters[host])
        if status != "ok":
            down.append({"harvester": host, "status": status, "msg": msg})
            continue
        for entry in harvesters[host].get("archive_dirs") or []:
            path = entry.get("path")
            if entry.get("error"):
                skipped.append({"harvester": host, "dir": path, "reason": f"unreadable: {entry['error']}"})
                continue
            if not entry.get("rsync_module"):
                skipped.append({"harvester": host, "dir": path, "reason": "no rsync module serves it"})
                continue
            device = entry.get("device")
            slot = Slot(host, path, entry["rsync_module"], (host, device if device is not None else path),
                        int(entry.get("free_bytes") or 0), max_connections=_max_connections(entry))
            _count_arriving(slot, entry.get("incoming") or [], in_flight)
            slots.append(slot)
    # A disk shared by several dirs is receiving when any of them is.
    for slot in slots:
        slot.receiving = sorted({item for other in slots if other.disk == slot.disk for item in other.receiving})
    return slots, down, skipped


def _max_connections(entry: Mapping) -> int:
    """The module's limit of simultaneous transfers as the harvester reports it; 1 when not set.
    rsync's own 0 means "no limit": the planner still sends one at a time there."""
    value = entry.get("max_connections")
    value = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    return value if is_int(value) and value >= 1 else 1


def _count_arriving(slot: Slot, incoming: Sequence[Mapping], in_flight: Sequence[dict]) -> None:
    """What is still to arrive in the dir: running transfers to its module and partial files."""
    mine = [t for t in in_flight if t["harvester"] == slot.harvester and t["module"] == slot.module]
    _reserve_lane_budgets(slot, mine)
    mine = _one_receiving_per_lane(mine)
    sent_names = {os.path.basename(t["source"]): t for t in mine}
    for item in incoming:
        final = item.get("final_name") or ""
        # What it already takes on disk: rsync --preallocate reserves the whole plot at once, and
        # the free space the harvester reports has already lost it.
        size = max(int(item.get("size_bytes") or 0), int(item.get("allocated_bytes") or 0))
        transfer = sent_names.pop(final, None)
        if transfer is not None:
            total = transfer.get("size_bytes") or item.get("expected_bytes") or 0
            slot.to_arrive_bytes += max(int(total) - size, 0)
            if not transfer.get("queued"):
                slot.receiving.append(f"{final} from {transfer['plotter']}")
            continue
        if item.get("stale"):  # nobody writes to it any more: its bytes are taken, nothing more comes
            minutes = int(item.get("idle_seconds") or 0) // 60
            slot.stale.append(f"{item.get('name') or final} ({human_bytes(size)}, untouched for {minutes} min)")
            continue
        expected = int(item.get("expected_bytes") or expected_plot_bytes(item.get("k")))
        slot.to_arrive_bytes += max(expected - size, 0)
        if item.get("kind") in _ACTIVE_INCOMING:
            slot.receiving.append(f"{item.get('name') or final} (sender not among the plotters read)")
    for name, transfer in sent_names.items():  # started, no file on the harvester yet
        slot.to_arrive_bytes += int(transfer.get("size_bytes") or 0)
        if not transfer.get("queued"):
            slot.receiving.append(f"{name} from {transfer['plotter']}")


def _reserve_lane_budgets(slot: Slot, mine: Sequence[dict]) -> None:
    """A runner may still take plots beyond those it names, up to its budget: that room is promised."""
    pending: dict[Any, int] = {}
    budgets: dict[Any, int] = {}
    for flight in mine:
        lane = flight.get("lane") or flight.get("pid")
        pending[lane] = pending.get(lane, 0) + int(flight.get("size_bytes") or 0)
        if flight.get("budget_left_bytes") is not None:
            budgets[lane] = int(flight["budget_left_bytes"])
    for lane, left in budgets.items():
        slot.to_arrive_bytes += max(left - pending[lane], 0)


def _one_receiving_per_lane(mine: Sequence[dict]) -> list[dict]:
    """Every plot a lane carries still counts its bytes, but the disk receives one plot per lane at a
    time: the others are folded into the lane's first entry so that connections are counted right."""
    seen: set = set()
    firsts, rest = [], []
    for flight in mine:
        lane = flight.get("lane") or flight.get("pid")
        (rest if lane in seen else firsts).append(flight)
        seen.add(lane)
    return firsts + [{**flight, "queued": True} for flight in rest]


# --- the plotter side --------------------------------------------------------------------


@dataclass
class Candidate:
    plotter: str
    source: str
    size_bytes: int
    dst_dir: str
    rank: tuple
    busy_reason: str | None


def _phase(job: Mapping) -> tuple[int, int]:
    phase = job.get("phase") or {}
    if isinstance(phase, Mapping):
        return int(phase.get("major") or 0), int(phase.get("minor") or 0)
    return 0, 0


def _job_label(job: Mapping) -> str:
    return (job.get("plot_id") or "")[:8] or f"pid:{job.get('pid')}"


def _furthest_job(jobs: Sequence[Mapping], dst_dir: str) -> Mapping | None:
    """The job writing to ``dst_dir`` that is furthest along (plotman's dstdirs_to_furthest_phase)."""
    mine = [job for job in jobs if (job.get("dst_dir") or "").rstrip("/") == dst_dir.rstrip("/")]
    return max(mine, key=_phase, default=None)


def _penalty(phase: tuple[int, int]) -> int:
    return next((points for start, points in _PHASE_PENALTY if phase >= start), 0)


def _candidates(plotter: str, result: Mapping, sending: set[str], settings: Settings) -> list[Candidate]:
    """The plotter's finished plots not being sent, best first."""
    jobs = result.get("jobs") or []
    found: list[Candidate] = []
    seen: set[str] = set()
    for dst in result.get("dst_dirs") or []:
        path = dst.get("path") or ""
        if dst.get("error") or path in seen:
            continue
        seen.add(path)
        job = _furthest_job(jobs, path)
        phase = _phase(job) if job else (0, 0)
        busy = None
        if job and settings.dst_busy_phase and phase >= settings.dst_busy_phase:
            busy = (f"dst busy: job {_job_label(job)} is in phase {phase[0]}:{phase[1]} and about to write "
                    f"its plot to {path}; its plots move once that write is done")
        plots = [p for p in dst.get("plots") or [] if p.get("path") not in sending]
        # Fuller drive first, then the drive with more plots (plotman), after the phase penalty.
        rank_of_dir = (_penalty(phase), int(dst.get("free_bytes") or 0), -len(dst.get("plots") or []), path)
        for index, plot in enumerate(plots):  # plots come oldest first
            found.append(Candidate(plotter, plot["path"], int(plot.get("size_bytes") or 0), path,
                                   (*rank_of_dir, index), busy))
    return sorted(found, key=lambda c: c.rank)


def _in_flight(plotters: Mapping[str, Any], harvesters: Mapping[str, Any], settings: Settings) -> list[dict]:
    """Every running transfer, attributed to the harvester it writes to when it can be."""
    names_of: dict[str, str] = {}
    for host in harvesters:
        names_of[host] = host
        if host in settings.harvester_addresses:
            names_of[settings.harvester_addresses[host]] = host
    flights = []
    for plotter in sorted(plotters):
        result = plotters[plotter]
        if host_outcome(result)[0] != "ok":
            continue
        for transfer in result.get("transfers") or []:
            harvester = names_of.get(transfer.get("host") or "")
            port = settings.harvester_ports.get(harvester) if harvester else None
            if harvester and transfer.get("port") and port and transfer["port"] != port:
                harvester = None  # another daemon on that host
            flights.append({
                "plotter": plotter,
                "source": transfer.get("source") or "",
                "size_bytes": transfer.get("size_bytes"),
                "pid": transfer.get("pid"),
                "harvester": harvester,
                "host": transfer.get("host"),
                "module": transfer.get("module"),
                # The process holding the connection (a runner carrying several plots is one transfer),
                # and what its room budget still allows beyond the plots it names.
                "lane": transfer.get("lane") or transfer.get("pid"),
                "budget_left_bytes": transfer.get("budget_left_bytes"),
            })
    return flights


# --- the plan ----------------------------------------------------------------------------


def plan_archive(plotters: Mapping[str, Any], harvesters: Mapping[str, Any], settings: Any = None) -> dict:
    """The transfers to start now across the fleet, and why every other finished plot waits."""
    settings = settings if isinstance(settings, Settings) else parse_settings(settings)
    plotters = dict(plotters or {})
    harvesters = dict(harvesters or {})
    in_flight = _in_flight(plotters, harvesters, settings)
    slots, harvesters_down, dirs_skipped = _harvester_slots(harvesters, in_flight, settings)
    given: dict[str, int] = {h: 0 for h in {s.harvester for s in slots}}
    for flight in in_flight:
        if flight["harvester"] in given:
            given[flight["harvester"]] += 1

    plotters_down, queues, free_slots = [], {}, {}
    for plotter in sorted(plotters):
        status, msg = host_outcome(plotters[plotter])
        if status != "ok":
            plotters_down.append({"plotter": plotter, "status": status, "msg": msg})
            continue
        sending = {f["source"] for f in in_flight if f["plotter"] == plotter}
        queues[plotter] = _candidates(plotter, plotters[plotter], sending, settings)
        free_slots[plotter] = settings.limit(plotter) - _lanes_of(in_flight, plotter)

    archived = _archived_names(harvesters)
    # Replace on arrival (replace_plan.py): reserved plots first, room made only when none is left.
    replacing = ReplacePlanner(plotters, harvesters, in_flight, archived)
    queues = {plotter: replacing.reserved_first(queue) for plotter, queue in queues.items()}
    transfers: list[dict] = []
    waiting: list[dict] = []
    # Round robin over plotters, the one with the least dst room first, so no plotter takes
    # every free harvester disk while another one's dst fills up.
    order = sorted(queues, key=lambda p: (_dst_free(plotters[p]), p))
    while any(queues.values()):
        for plotter in order:
            if not queues[plotter]:
                continue
            candidate = queues[plotter].pop(0)
            reason = _already_there(candidate, archived) or _hold_reason(candidate, free_slots[plotter], settings,
                                                                          in_flight)
            if reason is None:
                slot, reason, replace_step = replacing.place(candidate, slots, given, settings, _choose_slot)
                if slot is not None:
                    transfers.append(_transfer(candidate, slot, settings))
                    if replace_step:
                        transfers[-1]["replace"] = replace_step
                    free_slots[plotter] -= 1
                    slot.to_arrive_bytes += candidate.size_bytes
                    for other in slots:
                        if other.disk == slot.disk:
                            other.receiving.append(f"{os.path.basename(candidate.source)} (planned now)")
                    given[slot.harvester] += 1
                    continue
            waiting.append({"plotter": plotter, "source": candidate.source, "size_bytes": candidate.size_bytes,
                            "reason": reason})
    waiting = _fill_lanes(transfers, waiting, slots, plotters, harvesters, settings)
    plan = {
        "transfers": transfers,
        "waiting": waiting,
        "in_flight": in_flight,
        "harvesters_down": harvesters_down,
        "plotters_down": plotters_down,
        "harvester_dirs_skipped": dirs_skipped,
        "harvester_dirs": [
            {"harvester": s.harvester, "dir": s.path, "rsync_module": s.module, "free_bytes": s.free_bytes,
             "room_bytes": s.room_bytes, "receiving": s.receiving, "stale": s.stale,
             "max_connections": s.max_connections}
            for s in slots
        ],
    }
    plan["reservations"] = replacing.reservations
    plan["summary"] = summary_lines(plan)
    plan["summary"][-1:-1] = replace_lines(plan)
    return plan


# --- transfer slots that keep moving plots ---------------------------------------------------


# Waiting reasons that only mean "no free transfer slot": such a plot can ride in a slot planned now.
_SLOT_REASONS = ("plotter at its ", "every harvester disk with room is receiving")


def _lanes_of(in_flight: Sequence[dict], plotter: str) -> int:
    """The plotter's running transfers: one per lane, however many plots each carries."""
    return len({f.get("lane") or f.get("pid") for f in in_flight if f["plotter"] == plotter})


def _fill_lanes(transfers: list[dict], waiting: list[dict], slots: Sequence[Slot], plotters: Mapping[str, Any],
                harvesters: Mapping[str, Any], settings: Settings) -> list[dict]:
    """Each planned transfer is a slot that sends plots one after another: it takes the plotter's
    other plots that wait only for a free slot (round robin over the plotter's new slots, within
    each dir's room), and gets a room budget for the plots that will finish before the next run,
    which it takes from the plotter's dst dirs that no job is about to write to. A slot that makes
    room by replacing plots carries only the plot it made room for. Returns what still waits."""
    slot_of = {(s.harvester, s.path): s for s in slots}
    lanes: dict[str, list[dict]] = {}
    for transfer in transfers:
        transfer.setdefault("sources", [transfer["source"]])
        if "replace" not in transfer:
            lanes.setdefault(transfer["plotter"], []).append(transfer)
    still: list[dict] = []
    turn: dict[str, int] = {}
    pickable = {plotter: _pickable_dirs(plotters[plotter], settings) for plotter in lanes}
    for plot in waiting:
        mine = lanes.get(plot["plotter"]) or []
        if (not mine or not plot["reason"].startswith(_SLOT_REASONS)
                or os.path.dirname(plot["source"]) not in pickable[plot["plotter"]]):
            still.append(plot)
            continue
        for step in range(len(mine)):
            lane = mine[(turn.get(plot["plotter"], 0) + step) % len(mine)]
            slot = slot_of[(lane["harvester"], lane["dir"])]
            if slot.room_bytes - settings.margin_bytes >= plot["size_bytes"]:
                lane["sources"].append(plot["source"])
                lane["size_bytes"] += plot["size_bytes"]
                slot.to_arrive_bytes += plot["size_bytes"]
                turn[plot["plotter"]] = turn.get(plot["plotter"], 0) + step + 1
                break
        else:
            still.append(plot)
    _give_budgets(transfers, slot_of, plotters, harvesters, settings)
    return still


def _give_budgets(transfers: Sequence[dict], slot_of: Mapping[tuple, Slot], plotters: Mapping[str, Any],
                  harvesters: Mapping[str, Any], settings: Settings) -> None:
    """Each new slot's budget: its plots plus an equal share of the dir's room left after them, the
    shares counting the disk's connections still free so that a later slot there gets room too."""
    new_on: dict[tuple, list[dict]] = {}
    for transfer in transfers:
        new_on.setdefault((transfer["harvester"], transfer["dir"]), []).append(transfer)
    for key, planned in new_on.items():
        slot = slot_of[key]
        free_connections = max(slot.max_connections - len(slot.receiving), 0)
        spare = max(slot.room_bytes - settings.margin_bytes, 0)
        share = spare // (len([t for t in planned if "replace" not in t]) + free_connections or 1)
        for transfer in planned:
            extra = 0 if "replace" in transfer else share
            transfer["budget_bytes"] = transfer["size_bytes"] + extra
            transfer["pick_from"] = [] if "replace" in transfer else _pickable_dirs(
                plotters[transfer["plotter"]], settings)
            transfer["harvester_rsync_version"] = (harvesters.get(transfer["harvester"]) or {}).get("rsync_version")
            slot.to_arrive_bytes += extra


def _pickable_dirs(result: Mapping, settings: Settings) -> list[str]:
    """The plotter's dst dirs a slot may take finished plots from: readable, no job about to write there."""
    jobs = result.get("jobs") or []
    dirs = []
    for dst in result.get("dst_dirs") or []:
        path = dst.get("path") or ""
        job = _furthest_job(jobs, path)
        if dst.get("error") or path in dirs:
            continue
        if job and settings.dst_busy_phase and _phase(job) >= settings.dst_busy_phase:
            continue
        dirs.append(path)
    return dirs


def _archived_names(harvesters: Mapping[str, Any]) -> dict[str, str]:
    """Plot file name -> "harvester:dir" of every complete plot on the harvesters that answered."""
    names = {}
    for host, result in sorted(harvesters.items()):
        if host_outcome(result)[0] != "ok":
            continue
        for entry in result.get("archive_dirs") or []:
            for name in entry.get("plot_names") or []:
                names.setdefault(name, f"{host}:{entry.get('path')}")
    return names


def _already_there(candidate: Candidate, archived: Mapping[str, str]) -> str | None:
    where = archived.get(os.path.basename(candidate.source))
    if where is None:
        return None
    return (f"already on {where} under the same name; the plot stays here: compare the two copies (sha256) "
            "and remove one by hand (or the dst dir is itself an archive dir)")


def _dst_free(result: Mapping) -> int:
    frees = [int(d.get("free_bytes") or 0) for d in result.get("dst_dirs") or [] if d.get("plots")]
    return min(frees, default=2**63)


def _hold_reason(candidate: Candidate, free_slots: int, settings: Settings, in_flight: Sequence[dict]) -> str | None:
    """Why the plotter keeps this plot for now, before any harvester is considered."""
    if free_slots <= 0:
        running = [os.path.basename(f["source"]) for f in in_flight if f["plotter"] == candidate.plotter]
        limit = settings.limit(candidate.plotter)
        now = f"sending {', '.join(running)}" if running else "its slots are taken by plots planned in this run"
        return f"plotter at its {limit} parallel transfer(s): {now}"
    return candidate.busy_reason


def _choose_slot(
    candidate: Candidate, slots: Sequence[Slot], given: Mapping[str, int], settings: Settings
) -> tuple[Slot | None, str]:
    """The dir for this plot, or None with the reason no dir can take it."""
    if not slots:
        return None, "no harvester archive dir is available (no harvester up, or none has a readable dir)"
    needed = candidate.size_bytes + settings.margin_bytes
    roomy = [s for s in slots if s.room_bytes >= needed]
    if not roomy:
        best = max(slots, key=lambda s: s.room_bytes)
        return None, (
            f"no harvester has room: needs {human_bytes(needed)} (plot {human_bytes(candidate.size_bytes)} + "
            f"margin {human_bytes(settings.margin_bytes)}), the most is {human_bytes(max(best.room_bytes, 0))} "
            f"on {best.harvester}:{best.path}; the plot stays on {candidate.dst_dir}"
        )
    idle = [s for s in roomy if s.has_free_connection]
    if not idle:
        return None, _all_connections_busy(roomy)
    best = min(idle, key=lambda s: (given.get(s.harvester, 0), -s.room_bytes, s.harvester, s.path))
    return best, ""


def _all_connections_busy(roomy: Sequence[Slot]) -> str:
    busy = "; ".join(sorted({
        f"{s.harvester}:{s.path} receiving {', '.join(s.receiving)} ({len(s.receiving)} of max_connections "
        f"{s.max_connections})" for s in roomy
    }))
    return f"every harvester disk with room is receiving as many plots as its max_connections allows: {busy}"


def _transfer(candidate: Candidate, slot: Slot, settings: Settings) -> dict:
    return {
        "plotter": candidate.plotter,
        "source": candidate.source,
        "size_bytes": candidate.size_bytes,
        "harvester": slot.harvester,
        "harvester_address": settings.harvester_addresses.get(slot.harvester, slot.harvester),
        "rsync_module": slot.module,
        "port": settings.harvester_ports.get(slot.harvester, DEFAULT_RSYNC_PORT),
        "dir": slot.path,
        "room_bytes": slot.room_bytes,
    }


def _more(transfer: Mapping) -> str:
    more = len(transfer.get("sources") or []) - 1
    return f" and {more} more, one after another" if more > 0 else ""


def summary_lines(plan: Mapping[str, Any], with_down: bool = True) -> list[str]:
    """The plan for a cron log: one line per decision, hosts down last (unless ``with_down`` is
    false: status lists them in one place of its own)."""
    lines = [
        f"start: {t['plotter']} {os.path.basename(t['source'])}{_more(t)} ({human_bytes(t['size_bytes'])}) -> "
        f"{t['harvester']}:{t['dir']} (rsync module {t['rsync_module']})"
        for t in plan["transfers"]
    ]
    lines += [
        f"running: {f['plotter']} {os.path.basename(f['source'])} -> {f['harvester'] or f['host']}::{f['module']} "
        f"(rsync pid {f['pid']})"
        for f in plan["in_flight"]
    ]
    lines += [f"waiting: {w['plotter']} {os.path.basename(w['source'])}: {w['reason']}" for w in plan["waiting"]]
    lines += [f"skipped dir: {d['harvester']}:{d['dir']}: {d['reason']}" for d in plan["harvester_dirs_skipped"]]
    lines += [f"stale partial file on {d['harvester']}:{d['dir']}: {name}: left by a transfer that died; "
              "remove it to free the space" for d in plan["harvester_dirs"] for name in d.get("stale", [])]
    if with_down:
        lines += [f"harvester {h['harvester']} {h['status']}: {h['msg']}" for h in plan["harvesters_down"]]
        lines += [f"plotter {p['plotter']} {p['status']}: {p['msg']}" for p in plan["plotters_down"]]
    lines.append(
        f"{len(plan['transfers'])} transfer(s) to start, {len(plan['in_flight'])} running, "
        f"{len(plan['waiting'])} plot(s) waiting on their dst dirs"
    )
    return lines
