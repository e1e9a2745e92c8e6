"""The whole state of one plotter, rebuilt from the host at every call.

``read_plotter_state`` is what ``plotfleet_jobs_info`` returns and what scheduling and archiving
decide from: the jobs, the tmp and dst dirs with their space and contents, running transfers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import same_path
from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import COMMAND_HINTS, Job, discover_jobs
from ansible_collections.plotfleet.fleet.plugins.module_utils.pause import pauses
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import PlotFile, disk_space, list_plots
from ansible_collections.plotfleet.fleet.plugins.module_utils.proctable import command_lines
from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import Transfer, find_transfers


@dataclass
class DirState:
    path: str
    free_bytes: int | None = None
    total_bytes: int | None = None
    device: int | None = None
    error: str | None = None  # why the dir could not be read; the others are still reported
    refused: str | None = None  # why no pass writes to it now: missing, or marked mount and not mounted
    jobs: list[str] = field(default_factory=list)  # plot ids (or pid:N) of jobs using it
    plots: list[PlotFile] = field(default_factory=list)  # dst only: finished plots
    inbound: list[str] = field(default_factory=list)  # dst only: jobs that will write here

    def as_dict(self) -> dict:
        data = {
            "path": self.path,
            "free_bytes": self.free_bytes,
            "total_bytes": self.total_bytes,
            "error": self.error,
            "refused": self.refused,
            "jobs": self.jobs,
        }
        return data


@dataclass
class PlotterState:
    jobs: list[Job]
    tmp_dirs: list[DirState]
    dst_dirs: list[DirState]
    transfers: list[Transfer]
    scanned_at: float

    def as_dict(self, with_files: bool = False) -> dict:
        return {
            "jobs": [job.as_dict(with_files) for job in self.jobs],
            "tmp_dirs": [d.as_dict() for d in self.tmp_dirs],
            "dst_dirs": [
                {
                    **d.as_dict(),
                    "plots": [p.as_dict() for p in d.plots],
                    "plot_count": len(d.plots),
                    "plot_bytes": sum(p.size_bytes for p in d.plots),
                    "inbound": d.inbound,
                }
                for d in self.dst_dirs
            ],
            "transfers": [t.as_dict() for t in self.transfers],
        }


def _dir_state(path: str, refusal: Callable[[str], str | None] | None = None) -> DirState:
    state = DirState(path)
    state.refused = refusal(path) if refusal else None
    if state.refused:
        # Not mounted: what statvfs would say is the space of the disk beneath, not of this one.
        state.error = state.refused
        return state
    try:
        space = disk_space(path)
    except OSError as err:
        state.error = f"{err.strerror or err}"
        return state
    state.free_bytes, state.total_bytes, state.device = space.free_bytes, space.total_bytes, space.device
    return state


def build_dir_states(
    tmp_dirs: Sequence[str], dst_dirs: Sequence[str], jobs: Sequence[Job],
    refusal: Callable[[str], str | None] | None = None,
) -> tuple[list[DirState], list[DirState]]:
    """The tmp and dst dirs' space and contents; ``refusal`` says why a dir must not be used."""
    tmp_states = []
    for path in tmp_dirs:
        state = _dir_state(path, refusal)
        state.jobs = [j.label for j in jobs if same_path(j.tmp_dir, path)]
        tmp_states.append(state)
    dst_states = []
    for path in dst_dirs or tmp_dirs:  # plotman: with no dst dirs, each tmp dir is its own dst
        state = _dir_state(path, refusal)
        if state.error is None:
            try:
                state.plots = list_plots(path)
            except OSError as err:
                state.error = f"{err.strerror or err}"
        state.inbound = [j.label for j in jobs if same_path(j.dst_dir, path)]
        state.jobs = state.inbound
        dst_states.append(state)
    return tmp_states, dst_states


def read_plotter_state(config, proc_root: str = "/proc") -> PlotterState:
    now = time.time()
    cmdlines = command_lines(proc_root, (*COMMAND_HINTS, b"rsync"))
    jobs = discover_jobs(config.logging.plots, proc_root=proc_root, now=now, cmdlines=cmdlines)
    tmp_states, dst_states = build_dir_states(config.directories.tmp, config.directories.dst, jobs,
                                              config.directories.refusal)
    return PlotterState(jobs, tmp_states, dst_states, find_transfers(proc_root, cmdlines=cmdlines), now)


def plotter_info(config, config_path: str, with_files: bool = False) -> dict[str, Any]:
    """plotfleet_jobs_info's result (and the dashboard agent's, so both say the same): jobs, tmp/dst
    dirs, transfers, and the operator's pauses."""
    info = read_plotter_state(config).as_dict(with_files=with_files)
    info["paused"] = pauses(config_path)
    return info
