"""Replace on arrival, the planner's side: which dir makes room for a plot, and which files go.

``plan_archive`` (archive.py) calls ``ReplacePlanner.place`` for every plot it places. The harvesters
report, per archive dir, the plots the operator's rules let go (least valuable first, as many as
one arrival can need) and the dir's reservation, if an earlier run deleted plots for a plot that has
not arrived yet. The rules:

- A dir reserved for a plot is that plot's, and no other's, until it arrives: that plot comes first
  in its plotter's queue and goes there, and nothing is deleted there for another plot.
- Only when no dir has room for a plot (not merely no idle one) may a dir with replaceable plots
  take it: the dir that needs the fewest deletions, with the fewest plots given so far; the files are
  the fewest of its candidates, in order, that cover the plot plus the margin.
- No more deletions on a harvester in one run than its ``plotfleet_replace_max_per_run``.
- A reservation whose plot landed elsewhere, or whose plotter answered without it (gone, or
  removed by hand), no longer holds the dir: the next plot placed there clears it.

The deletions themselves happen on the harvester (``plotfleet_replace``), right before the transfer,
which checks everything again under the dir's lock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.replace import (
    ReplaceConfigError,
    just_enough,
    parse_replace_config,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.units import human_bytes
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.results import host_outcome, host_vars

Key = tuple  # (harvester, dir)


class ReplacePlanner:
    def __init__(self, plotters: Mapping[str, Any], harvesters: Mapping[str, Any], in_flight: Sequence[Mapping],
                 archived: Mapping[str, str]) -> None:
        self.held: dict[Key, dict] = {}  # dir -> the reservation that holds it
        self.released: dict[Key, str] = {}  # dir -> the plot of a reservation that no longer holds
        self.reservations: list[dict] = []  # for the plan's output
        self.replaceable: dict[Key, list[dict]] = {}
        self.caps: dict[str, int | None] = {}
        self.enabled: set[str] = set()
        on_plotters = _plots_on_plotters(plotters)
        sending = {os.path.basename(f.get("source") or "") for f in in_flight}
        for host in sorted(harvesters):
            result = harvesters[host]
            if host_outcome(result)[0] != "ok":
                continue
            settings = result.get("replace") or {}
            if settings:
                self.enabled.add(host)
                cap = settings.get("max_per_run")
                self.caps[host] = None if cap is None else int(cap)
            for entry in result.get("archive_dirs") or []:
                key = (host, entry.get("path"))
                replaceable = entry.get("replaceable") or {}
                self.replaceable[key] = list(replaceable.get("candidates") or [])
                held = entry.get("reservation")
                if held and not held.get("arrived"):
                    self._judge(key, held, archived, on_plotters, sending, plotters)

    def _judge(self, key: Key, held: Mapping, archived: Mapping[str, str], on_plotters: Mapping[str, str],
               sending: set[str], plotters: Mapping[str, Any]) -> None:
        plot = str(held.get("plot"))
        where = f"{key[0]}:{key[1]}"
        deleted = ", ".join(str(d.get("name")) for d in held.get("deleted") or []) or "nothing"
        plotter = held.get("plotter")
        if plot in archived:
            status = f"{plot} landed on {archived[plot]}; the reservation is cleared when {where} next takes a plot"
            self.released[key] = plot
        elif plot in on_plotters or plot in sending:
            status = f"held for {plot} (deleted {deleted} for it); it goes there first"
            self.held[key] = dict(held)
        elif plotter and host_outcome(plotters.get(plotter))[0] == "ok":
            status = (f"{plot} is no longer on {plotter} and arrived nowhere (removed by hand?); "
                      f"the room made for it (deleted {deleted}) goes to the next plot")
            self.released[key] = plot
        else:
            status = f"held for {plot} (deleted {deleted} for it); its plotter {plotter or '?'} did not answer"
            self.held[key] = dict(held)
        self.reservations.append({"harvester": key[0], "dir": key[1], "plot": plot, "status": status})

    # --- hooks for plan_archive -------------------------------------------------------------

    def reserved_first(self, queue: list) -> list:
        """A plotter's queue with the plots that hold a reservation first (stable otherwise)."""
        mine = {str(held.get("plot")) for held in self.held.values()}
        return sorted(queue, key=lambda c: os.path.basename(c.source) not in mine)

    def place(self, candidate: Any, slots: Sequence[Any], given: Mapping[str, int], settings: Any,
              choose_slot: Callable) -> tuple[Any, str, dict | None]:
        """(slot, reason, replace step) for one plot: its reserved dir, else a dir with room, else room made."""
        name = os.path.basename(candidate.source)
        for slot in slots:
            key = (slot.harvester, slot.path)
            if self.held.get(key, {}).get("plot") != name:
                continue
            if slot.receiving:
                return None, (f"waits for {slot.harvester}:{slot.path}, reserved for it, which is receiving "
                              f"{slot.receiving[0]} now"), None
            self.held[key]["placed"] = True
            return slot, "", {"delete": [], "deleted": [], "reserved": True, "release": None,
                              "margin_bytes": settings.margin_bytes}
        usable = [s for s in slots if (s.harvester, s.path) not in self.held]
        slot, reason = choose_slot(candidate, usable, given, settings)
        if slot is not None:
            release = self.released.pop((slot.harvester, slot.path), None)
            return slot, reason, ({"delete": [], "deleted": [], "reserved": False, "release": release,
                                   "margin_bytes": settings.margin_bytes} if release else None)
        needed = candidate.size_bytes + settings.margin_bytes
        if not usable or any(s.room_bytes >= needed for s in usable):
            return None, reason, None  # room exists (busy now), or no dir at all: nothing to replace
        return self._make_room(candidate, name, usable, given, needed, reason, settings.margin_bytes)

    def _make_room(self, candidate: Any, name: str, usable: Sequence[Any], given: Mapping[str, int], needed: int,
                   reason: str, margin_bytes: int) -> tuple[Any, str, dict | None]:
        options, why_not = [], []
        for slot in usable:
            key = (slot.harvester, slot.path)
            if slot.harvester not in self.enabled or slot.receiving:
                continue
            candidates = self.replaceable.get(key) or []
            need = needed - max(slot.room_bytes, 0)
            chosen = just_enough(candidates, need)
            if chosen is None:
                if candidates:
                    why_not.append(f"{slot.harvester}:{slot.path} has {len(candidates)} replaceable plot(s) listed, "
                                   f"not enough for {human_bytes(need)}")
                continue
            cap = self.caps.get(slot.harvester)
            if cap is not None and len(chosen) > cap:
                why_not.append(f"{slot.harvester}: plotfleet_replace_max_per_run reached "
                               f"({len(chosen)} deletion(s) needed, {cap} left this run)")
                continue
            options.append((len(chosen), given.get(slot.harvester, 0), -slot.room_bytes, slot.harvester, slot.path,
                            slot, chosen))
        if not options:
            if not any(h in self.enabled for h in {s.harvester for s in usable}):
                return None, reason, None
            return None, reason + "; no replaceable plots can make room" + (
                f" ({'; '.join(why_not)})" if why_not else ""), None
        *_, slot, chosen = min(options, key=lambda option: option[:5])
        key = (slot.harvester, slot.path)
        names = [str(item["name"]) for item in chosen]
        self.replaceable[key] = [item for item in self.replaceable[key] if item["name"] not in names]
        cap = self.caps.get(slot.harvester)
        if cap is not None:
            self.caps[slot.harvester] = cap - len(chosen)
        self.held[key] = {"plot": name, "placed": True}  # no other plot goes there in this run
        freed = sum(int(item["size_bytes"]) for item in chosen)
        slot.free_bytes += freed
        return slot, "", {"delete": names, "deleted": list(chosen), "reserved": False,
                          "release": self.released.pop(key, None), "freed_bytes": freed, "margin_bytes": margin_bytes}


def _plots_on_plotters(plotters: Mapping[str, Any]) -> dict[str, str]:
    """Plot file name -> plotter, for every finished plot in the dst dirs of the plotters that answered."""
    found = {}
    for host, result in sorted(plotters.items()):
        if host_outcome(result)[0] != "ok":
            continue
        for dst in result.get("dst_dirs") or []:
            for plot in dst.get("plots") or []:
                found.setdefault(os.path.basename(plot.get("path") or ""), host)
    return found


def replace_lines(plan: Mapping[str, Any]) -> list[str]:
    """The plan's replacement decisions and reservations, for the summary."""
    lines = []
    for transfer in plan.get("transfers") or []:
        step = transfer.get("replace")
        if not step:
            continue
        name = os.path.basename(transfer["source"])
        where = f"{transfer['harvester']}:{transfer['dir']}"
        if step.get("delete"):
            listed = ", ".join(f"{d['name']} ({d.get('kind')}, {human_bytes(int(d['size_bytes']))}, rule "
                               f"{d.get('rule')})" for d in step["deleted"])
            lines.append(f"replace: delete {listed} to place {name} on {where}")
        elif step.get("reserved"):
            lines.append(f"replace: {name} fills {where}, reserved for it by an earlier run")
    lines += [f"reservation on {r['harvester']}:{r['dir']}: {r['status']}" for r in plan.get("reservations") or []]
    return lines


# --- for archive.yml (filters) ----------------------------------------------------------------------


def replace_problems(hostvars: Any, harvesters: Sequence[str]) -> list[str]:
    """Every bad replace setting in the harvesters' inventory vars, as ``host: key: problem``."""
    problems = []
    for host in harvesters:
        hv = host_vars(hostvars, host)
        try:
            parse_replace_config(hv.get("plotfleet_replace_rules"), hv.get("plotfleet_replot_target"),
                                 hv.get("plotfleet_replace_order"), hv.get("plotfleet_replace_max_per_run"))
        except ReplaceConfigError as err:
            problems += [f"{host}: {problem}" for problem in err.problems]
    return problems


def replace_outcomes(hostvars: Any, plotters: Sequence[str]) -> dict:
    """One line per plot that needed room: why nothing was deleted for it (its transfer could not
    start: a failed check is a failure of the run, a refusal is not) or what its harvester did, and
    the hosts where a step failed."""
    lines, failed = [], []
    for host in plotters:
        hv = host_vars(hostvars, host)
        for result in _results(hv.get("archive_can_start")):
            if result.get("skipped") or result.get("claimed"):
                continue
            item = result.get("item") or {}
            where = f"{item.get('harvester')}:{item.get('dir')}"
            plot = os.path.basename(item.get("source") or "")
            if result.get("failed") or result.get("unreachable"):
                failed.append(host)
                lines.append(f"{where}: FAILED nothing deleted for {plot}, its transfer cannot start: "
                             f"{result.get('msg')}")
            else:
                lines.append(f"{where}: nothing deleted for {plot}, its transfer cannot start now: "
                             f"{result.get('msg')}")
        for result in _results(hv.get("archive_room")):
            if result.get("skipped"):
                continue
            item = result.get("item") or {}
            where = f"{item.get('harvester')}:{item.get('dir')}"
            if result.get("failed") or result.get("unreachable"):
                failed.append(str(item.get("harvester")))
                lines.append(f"{where}: FAILED {result.get('msg')}")
            else:
                lines.append(f"{where}: {result.get('msg')}")
    return {"lines": lines, "failed": sorted(set(failed))}


def _results(registered: Any) -> list:
    """The per-item results of a registered loop; [] when the task did not run."""
    if not isinstance(registered, Mapping):
        return []
    return [result for result in registered.get("results") or [] if isinstance(result, Mapping)]
