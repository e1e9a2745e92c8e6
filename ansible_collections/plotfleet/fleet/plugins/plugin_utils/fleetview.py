"""What the dashboard shows, computed from the hosts' snapshots: plain data, no terminal.

Progress of a job by its phase, with an estimate of its end from the plotter's past runs; of a
transfer by the bytes already on the harvester, with its rate; of a harvester dir by its fill;
and the action log's events between two refreshes (jobs and transfers started or ended, hosts
lost or back, pauses set or cleared).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Share of a plot's time per major phase when the plotter has no completed run to learn from
# (chiapos k32 on a typical NVMe plotter); phase 5 is the copy to dst.
DEFAULT_PHASE_SHARES = {1: 0.45, 2: 0.20, 3: 0.30, 4: 0.05}
# Steps counted by the minor phase within each major (chiapos: tables 1-7 forward, 7-2 back,
# 1-6 compressed, one final step), the scale for progress within a phase.
MINOR_STEPS = {1: 7, 2: 6, 3: 6, 4: 1}
# Below this share done, the job's own pace says too little: its end comes from past runs alone.
MIN_PACE_FRACTION = 0.1


@dataclass
class Progress:
    fraction: float | None  # 0..1, None when the phase is unknown
    remaining_seconds: float | None  # None when no estimate is possible
    basis: str  # what the estimate rests on, for the operator


def phase_fraction(major: int, minor: int, shares: Mapping[int, float]) -> float | None:
    """How far a job at ``major:minor`` is through its plot, by the phases' shares of the time."""
    if major <= 0:
        return None
    if major >= 5:
        return 0.99
    total = sum(shares.values()) or 1.0
    done = sum(shares.get(m, 0.0) for m in range(1, major))
    steps = MINOR_STEPS.get(major, 1)
    within = min(max(minor - 1, 0), steps) / steps
    return min(0.99, (done + shares.get(major, 0.0) * within) / total)


def job_progress(job: Mapping[str, Any], history: Mapping[str, Any] | None) -> Progress:
    """Where a job is and when it should end: its phase weighted by this plotter's past runs
    (median per phase of its completed logs of the same plotter and k), then its own pace."""
    past = (history or {}).get(f"{job.get('plotter')}/k{job.get('k')}")
    shares = DEFAULT_PHASE_SHARES
    if past and past.get("phase_seconds") and sum(past["phase_seconds"].values()) > 0:
        shares = {int(major): float(seconds) for major, seconds in past["phase_seconds"].items()}
    phase = job.get("phase") or {}
    fraction = phase_fraction(int(phase.get("major") or 0), int(phase.get("minor") or 0), shares)
    elapsed = float(job.get("wall_seconds") or 0.0)
    if fraction is None:
        if past:
            return Progress(None, max(0.0, past["total_seconds"] - elapsed), f"median of {past['runs']} runs")
        return Progress(None, None, "phase unknown")
    if elapsed > 0 and (fraction >= MIN_PACE_FRACTION or (fraction > 0 and not past)):
        basis = f"its pace, phases as in {past['runs']} past runs" if past else "its pace"
        return Progress(fraction, elapsed * (1 - fraction) / fraction, basis)
    if past:
        return Progress(fraction, max(0.0, past["total_seconds"] - elapsed), f"median of {past['runs']} runs")
    return Progress(fraction, None, "not started, no past runs")


def bar(fraction: float | None, width: int = 10) -> str:
    """A text progress bar; blank-ish when unknown."""
    if fraction is None:
        return "·" * width
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def short_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 5400:
        return f"{round(seconds / 60)}m"
    if seconds < 86400 * 2:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}"
    return f"{seconds // 86400}d"


def _timestamp(text: Any) -> float | None:
    if isinstance(text, (int, float)):
        return float(text)
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except (TypeError, ValueError):
        return None


@dataclass
class TransferProgress:
    done_bytes: int | None
    total_bytes: int | None
    rate: float | None  # bytes per second

    @property
    def fraction(self) -> float | None:
        if self.done_bytes is None or not self.total_bytes:
            return None
        return min(1.0, self.done_bytes / self.total_bytes)


def incoming_by_name(results: Mapping[str, Mapping]) -> dict[str, int]:
    """Final plot name -> bytes already received, over every harvester's incoming files."""
    sizes: dict[str, int] = {}
    for snap in results.values():
        harvester = snap.get("harvester") if isinstance(snap, Mapping) else None
        for entry in (harvester or {}).get("archive_dirs") or []:
            for item in entry.get("incoming") or []:
                name = item.get("final_name")
                if name:
                    sizes[name] = max(sizes.get(name, 0), int(item.get("size_bytes") or 0))
    return sizes


@dataclass
class RateMeter:
    """Rates of transfers from the bytes seen at successive refreshes (key -> (time, bytes))."""

    seen: dict[tuple, tuple[float, int]] = field(default_factory=dict)

    def progress(self, key: tuple, transfer: Mapping[str, Any], received: Mapping[str, int], now: float
                 ) -> TransferProgress:
        name = os.path.basename(str(transfer.get("source") or ""))
        total = transfer.get("size_bytes")
        done = received.get(name)
        rate = None
        if done is not None:
            before = self.seen.get(key)
            if before and now > before[0] and done >= before[1]:
                rate = (done - before[1]) / (now - before[0])
            else:
                started = _timestamp(transfer.get("started_at"))
                if started and now > started:
                    rate = done / (now - started)
            self.seen[key] = (now, done)
        return TransferProgress(done, total, rate)

    def forget_except(self, keys: set[tuple]) -> None:
        for key in list(self.seen):
            if key not in keys:
                del self.seen[key]


def fill(entry: Mapping[str, Any]) -> float | None:
    """How full a dir is (0..1) from its free and total bytes."""
    total, free = entry.get("total_bytes"), entry.get("free_bytes")
    if not total or free is None:
        return None
    return max(0.0, min(1.0, 1 - free / total))


def census_text(entry: Mapping[str, Any], limit: int = 3) -> str:
    """A dir's census, biggest kinds first: ``v1-k32 98, v2-k28 3``."""
    kinds = ((entry.get("census") or {}).get("kinds")) or []
    ordered = sorted(kinds, key=lambda k: -int(k.get("plots") or 0))
    parts = [f"{k.get('kind')} {k.get('plots')}" for k in ordered[:limit] if k.get("plots")]
    if len(ordered) > limit:
        parts.append("…")
    return ", ".join(parts)


# --- the action log ----------------------------------------------------------------------------


def job_key(host: str, job: Mapping[str, Any]) -> str:
    return f"{host}:{job.get('pid')}"


def job_label(job: Mapping[str, Any]) -> str:
    return (job.get("plot_id") or "")[:8] or f"pid:{job.get('pid')}"


def _jobs(results: Mapping[str, Mapping]) -> dict[str, tuple[str, Mapping]]:
    found = {}
    for host, snap in results.items():
        for job in ((snap.get("plotter") or {}).get("jobs") or []) if isinstance(snap, Mapping) else []:
            found[job_key(host, job)] = (host, job)
    return found


def _transfers(results: Mapping[str, Mapping]) -> dict[str, tuple[str, Mapping]]:
    found = {}
    for host, snap in results.items():
        for t in ((snap.get("plotter") or {}).get("transfers") or []) if isinstance(snap, Mapping) else []:
            found[f"{host}:{t.get('pid')}:{t.get('source')}"] = (host, t)
    return found


def _down(snap: Any) -> str | None:
    if not isinstance(snap, Mapping):
        return "no answer"
    if snap.get("unreachable") or snap.get("failed"):
        return str(snap.get("msg") or "down")
    return None


def _pauses(snap: Any) -> dict[str, bool]:
    paused = ((snap.get("plotter") or {}).get("paused") or {}) if isinstance(snap, Mapping) else {}
    return {kind: bool(flag) for kind, flag in paused.items()}


def events_between(before: Mapping[str, Mapping] | None, after: Mapping[str, Mapping]) -> list[str]:
    """What changed between two refreshes, one line each, for the action log."""
    if before is None:
        return []
    lines = []
    for host in after:
        was, now = _down(before.get(host)) if host in before else None, _down(after[host])
        if now and not was:
            lines.append(f"{host}: not reporting: {now.splitlines()[0][:120]}")
        elif was and not now:
            lines.append(f"{host}: reporting again")
        old_pauses, new_pauses = _pauses(before.get(host)), _pauses(after[host])
        for kind, paused in new_pauses.items():
            if kind in old_pauses and paused != old_pauses[kind]:
                lines.append(f"{host}: {kind} {'paused' if paused else 'resumed'}")
    old_jobs, new_jobs = _jobs(before), _jobs(after)
    for key in new_jobs.keys() - old_jobs.keys():
        host, job = new_jobs[key]
        lines.append(f"{host}: job {job_label(job)} started ({job.get('plotter')} k{job.get('k')}, "
                     f"{job.get('tmp_dir')} -> {job.get('dst_dir')})")
    for key in old_jobs.keys() - new_jobs.keys():
        host, job = old_jobs[key]
        if _down(after.get(host)):
            continue  # not seen, not ended
        lines.append(f"{host}: job {job_label(job)} ended (last phase {job.get('phase_text')})")
    for key in new_jobs.keys() & old_jobs.keys():
        host, job = new_jobs[key]
        old_state = old_jobs[key][1].get("state")
        if old_state != job.get("state") and {old_state, job.get("state")} == {"running", "suspended"}:
            lines.append(f"{host}: job {job_label(job)} is {job.get('state')}")
    old_moves, new_moves = _transfers(before), _transfers(after)
    for key in new_moves.keys() - old_moves.keys():
        host, t = new_moves[key]
        lines.append(f"{host}: transfer started: {os.path.basename(str(t.get('source')))} -> "
                     f"{t.get('host')}::{t.get('module')}")
    for key in old_moves.keys() - new_moves.keys():
        host, t = old_moves[key]
        if _down(after.get(host)):
            continue
        lines.append(f"{host}: transfer ended: {os.path.basename(str(t.get('source')))}")
    return lines


def visible_hosts(hosts: Sequence[str], only: str | None) -> list[str]:
    return [h for h in hosts if only is None or h == only]
