"""When and where to start the next plot job: one pure decision over plain data.

plotman's rules with the same meaning for the same keys -- the global stagger since the youngest
job, the global job limit, per-tmp-dir phase gating (``tmpdir_stagger_phase_*``) and job limit,
tmp dir choice (an empty dir first, then the dir whose least advanced job is furthest along) and
dst choice (tmp is also a dst; else an unused dst, else the one whose youngest job is furthest
along) -- plus what plotman's users asked for: a machine-wide phase-1 limit, a dst free-space
guard counting every plot inbound from running jobs, an optional tmp free-space guard and
several starts per pass.

Jobs whose phase is unknown (no log yet, or a log we cannot read) count as the least advanced
possible job (phase 0:0, before every milestone and in phase 1): an unknown job can only hold
the schedule back, never let it overload a drive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import expected_plot_bytes, kind_for_plotter
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import Phase
from ansible_collections.plotfleet.fleet.plugins.module_utils.units import human_bytes


@dataclass(frozen=True)
class TmpPolicy:
    stagger_phase: Phase
    stagger_limit: int
    max_jobs: int


@dataclass(frozen=True)
class Policy:
    global_stagger_seconds: float
    global_max_jobs: int
    tmp_dirs: tuple[str, ...]
    tmp2_dir: str | None
    dst_dirs: tuple[str, ...]  # empty: tmp2 (if set) or each tmp dir is its own dst, as plotman
    tmp_policies: Mapping[str, TmpPolicy]
    new_plot_bytes: int  # upper bound of the size of a plot this pass would start
    phase1_max_jobs: int | None = None
    max_starts: int = 1
    dst_guard: bool = True
    dst_reserve_bytes: int = 0
    tmp_min_free_bytes: int | None = None


@dataclass(frozen=True)
class RunningJob:
    label: str  # plot id or pid:N, for reasons
    tmp_dir: str | None
    dst_dir: str | None
    phase: Phase  # Phase() when unknown
    age_seconds: float
    plot_bytes: int  # upper bound of its finished plot, for the dst guard
    writes_dst: bool = True  # False once its plot is in dst (nothing more inbound)


@dataclass(frozen=True)
class Start:
    tmp_dir: str
    tmp2_dir: str | None
    dst_dir: str


@dataclass
class TmpVerdict:
    path: str
    eligible: bool
    reason: str
    jobs: int
    least_advanced: str | None = None

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "eligible": self.eligible,
            "reason": self.reason,
            "jobs": self.jobs,
            "least_advanced": self.least_advanced,
        }


@dataclass
class Decision:
    starts: list[Start] = field(default_factory=list)
    reason: str | None = None  # why no (further) job starts now
    tmp_dirs: list[TmpVerdict] = field(default_factory=list)


def _norm(path: str | None) -> str | None:
    return path.rstrip("/") or "/" if path else path


def _jobs_in(jobs: Sequence[RunningJob], attr: str, path: str) -> list[RunningJob]:
    return [j for j in jobs if _norm(getattr(j, attr)) == _norm(path)]


def judge_tmp(path: str, jobs: Sequence[RunningJob], tmp_policy: TmpPolicy, free_bytes: int | None,
              policy: Policy, refused: str | None = None) -> TmpVerdict:
    """May a new job start on this tmp dir, and why (not). ``refused``: why it must not be written."""
    here = _jobs_in(jobs, "tmp_dir", path)
    phases = sorted(j.phase for j in here)
    least = str(phases[0]) if phases else None
    if refused:
        return TmpVerdict(path, False, f"tmp {refused}", len(here), least)
    if policy.tmp_min_free_bytes is not None:
        if free_bytes is None:
            return TmpVerdict(path, False, f"tmp {path}: cannot read its free space", len(here), least)
        if free_bytes < policy.tmp_min_free_bytes:
            return TmpVerdict(path, False, f"tmp {path}: {human_bytes(free_bytes)} free, needs "
                              f"{human_bytes(policy.tmp_min_free_bytes)}", len(here), least)
    milestone = tmp_policy.stagger_phase
    early = [p for p in phases if p < milestone]
    if len(early) >= tmp_policy.stagger_limit:
        unknown = sum(1 for p in early if not p.known)
        note = f" ({unknown} of unknown phase)" if unknown else ""
        return TmpVerdict(path, False, f"tmp {path}: {len(early)} jobs before {milestone}{note}, "
                          f"limit {tmp_policy.stagger_limit}", len(here), least)
    if len(here) >= tmp_policy.max_jobs:
        return TmpVerdict(path, False, f"tmp {path}: {len(here)} jobs, max {tmp_policy.max_jobs}", len(here), least)
    return TmpVerdict(path, True, f"tmp {path}: ok ({len(here)} jobs)", len(here), least)


def _rank_tmp(verdict: TmpVerdict, jobs: Sequence[RunningJob]) -> tuple:
    """Sort key, best first: an empty dir, then the one whose least advanced job is furthest on."""
    phases = sorted(j.phase for j in _jobs_in(jobs, "tmp_dir", verdict.path))
    if not phases:
        return (0, 0, 0)
    return (1, -phases[0].major, -phases[0].minor)


def inbound_bytes(jobs: Sequence[RunningJob], dst: str) -> int:
    return sum(j.plot_bytes for j in _jobs_in(jobs, "dst_dir", dst) if j.writes_dst)


def dst_candidates(tmp: str, jobs: Sequence[RunningJob], policy: Policy) -> list[str]:
    """dst dirs for a job on this tmp dir, in plotman's order of preference."""
    if not policy.dst_dirs:
        return [policy.tmp2_dir] if policy.tmp2_dir else [tmp]
    norm_dsts = [_norm(d) for d in policy.dst_dirs]
    if _norm(tmp) in norm_dsts:  # tmp is also a dst: the plot stays where it is written
        return [tmp, *[d for d in policy.dst_dirs if _norm(d) != _norm(tmp)]]
    youngest: dict[str, Phase] = {}
    for job in jobs:
        dst = _norm(job.dst_dir)
        if dst in norm_dsts:
            youngest[dst] = min(youngest.get(dst, job.phase), job.phase)
    unused = [d for d in policy.dst_dirs if _norm(d) not in youngest]
    used = sorted((d for d in policy.dst_dirs if _norm(d) in youngest),
                  key=lambda d: youngest[_norm(d)], reverse=True)
    return unused + used


def choose_dst(tmp: str, jobs: Sequence[RunningJob], free: Mapping[str, int | None],
               policy: Policy, refused: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """The dst dir for a new job on tmp, or None with the reason none has room."""
    refused = refused or {}
    refusals = [refused[dst] for dst in dst_candidates(tmp, jobs, policy) if dst in refused]
    candidates = [dst for dst in dst_candidates(tmp, jobs, policy) if dst not in refused]
    if not candidates:
        return None, "dst: no dir can be written: " + "; ".join(refusals)
    if not policy.dst_guard:
        return candidates[0], ""
    for dst in candidates:
        free_bytes = free.get(dst)
        if free_bytes is None:
            refusals.append(f"{dst}: cannot read its free space")
            continue
        needed = policy.new_plot_bytes + inbound_bytes(jobs, dst) + policy.dst_reserve_bytes
        if free_bytes >= needed:
            return dst, ""
        refusals.append(f"{dst}: {human_bytes(free_bytes)} free, needs {human_bytes(needed)} "
                        f"(this plot {human_bytes(policy.new_plot_bytes)} + inbound "
                        f"{human_bytes(inbound_bytes(jobs, dst))} + reserve {human_bytes(policy.dst_reserve_bytes)})")
    return None, "dst: no dir has room: " + "; ".join(refusals)


def _global_block(jobs: Sequence[RunningJob], policy: Policy) -> str | None:
    if jobs:
        youngest = min(j.age_seconds for j in jobs)
        if youngest < policy.global_stagger_seconds:
            return f"stagger: {youngest:.0f} s of {policy.global_stagger_seconds:.0f} s since the youngest job"
    if len(jobs) >= policy.global_max_jobs:
        return f"global max jobs: {len(jobs)} running, max {policy.global_max_jobs}"
    if policy.phase1_max_jobs is not None:
        in_phase1 = sum(1 for j in jobs if j.phase.major <= 1)
        if in_phase1 >= policy.phase1_max_jobs:
            return f"phase 1 limit: {in_phase1} jobs in phase 1 (or unknown), max {policy.phase1_max_jobs}"
    return None


def decide_one(jobs: Sequence[RunningJob], free: Mapping[str, int | None], policy: Policy,
               refused: Mapping[str, str] | None = None) -> Decision:
    """One start, or the reason there is none. ``refused``: dir -> why it must not be written now."""
    refused = refused or {}
    blocked = _global_block(jobs, policy)
    verdicts = [
        judge_tmp(tmp, jobs, policy.tmp_policies[tmp], free.get(tmp), policy, refused.get(tmp))
        for tmp in policy.tmp_dirs
    ]
    if blocked:
        return Decision(reason=blocked, tmp_dirs=verdicts)
    eligible = sorted((v for v in verdicts if v.eligible), key=lambda v: _rank_tmp(v, jobs))
    if not eligible:
        return Decision(reason="no eligible tmp dir: " + "; ".join(v.reason for v in verdicts), tmp_dirs=verdicts)
    refusals = []
    for verdict in eligible:
        dst, why = choose_dst(verdict.path, jobs, free, policy, refused)
        if dst is not None:
            return Decision(starts=[Start(verdict.path, policy.tmp2_dir, dst)], tmp_dirs=verdicts)
        refusals.append(why)
    return Decision(reason=refusals[0], tmp_dirs=verdicts)


def decide(jobs: Sequence[RunningJob], free: Mapping[str, int | None], policy: Policy,
           refused: Mapping[str, str] | None = None) -> Decision:
    """Up to ``max_starts`` starts; each later one sees the earlier ones as running jobs.
    ``refused`` maps a dir that must not be written now (missing, not mounted) to the reason."""
    jobs = list(jobs)
    free = dict(free)
    decision = Decision()
    for _ in range(max(policy.max_starts, 1)):
        step = decide_one(jobs, free, policy, refused)
        decision.tmp_dirs = step.tmp_dirs
        if not step.starts:
            decision.reason = step.reason
            break
        start = step.starts[0]
        decision.starts.append(start)
        jobs.append(RunningJob("new", start.tmp_dir, start.dst_dir, Phase(), 0.0, policy.new_plot_bytes))
    return decision


def new_plot_bytes(plotting) -> int:
    """Upper bound of the size of the plot the configured plotter would make now."""
    options = plotting.options
    return expected_plot_bytes(kind_for_plotter(plotting.type, getattr(options, "k", 32),
                                                getattr(options, "compression", None)))


def policy_from_config(config) -> Policy:
    """The scheduling policy a plotter config describes (plotman's keys, plotfleet's additions)."""
    sched = config.scheduling
    tmp_policies = {}
    for tmp in config.directories.tmp:
        limits = sched.for_tmp(tmp)
        tmp_policies[tmp] = TmpPolicy(Phase(*limits.stagger_phase), limits.tmpdir_stagger_phase_limit,
                                      limits.tmpdir_max_jobs)
    return Policy(
        global_stagger_seconds=sched.global_stagger_m * 60,
        global_max_jobs=sched.global_max_jobs,
        tmp_dirs=tuple(config.directories.tmp),
        tmp2_dir=config.directories.tmp2,
        dst_dirs=tuple(config.directories.dst) if config.directories.dst_given else (),
        tmp_policies=tmp_policies,
        new_plot_bytes=new_plot_bytes(config.plotting),
        phase1_max_jobs=sched.phase1_max_jobs,
        max_starts=sched.max_starts,
        dst_guard=sched.dst_free_space_guard,
        dst_reserve_bytes=sched.dst_reserve_bytes,
        tmp_min_free_bytes=sched.tmp_min_free_bytes,
    )


def running_jobs(jobs: Sequence) -> list[RunningJob]:
    """What the decision needs to know of each discovered job (jobs.Job)."""
    return [
        RunningJob(
            label=job.label,
            tmp_dir=job.tmp_dir,
            dst_dir=job.dst_dir,
            phase=job.phase,
            age_seconds=job.wall_seconds,
            plot_bytes=expected_plot_bytes(kind_for_plotter(job.args.plotter, job.k, job.args.compression)),
        )
        for job in jobs
    ]


def free_space(dir_states: Sequence) -> dict[str, int | None]:
    """path -> free bytes (None when unreadable) from state.DirState lists."""
    return {d.path: d.free_bytes for d in dir_states}


def refused_dirs(dir_states: Sequence) -> dict[str, str]:
    """path -> why it must not be written (missing, not mounted) from state.DirState lists."""
    return {d.path: d.refused for d in dir_states if d.refused}
