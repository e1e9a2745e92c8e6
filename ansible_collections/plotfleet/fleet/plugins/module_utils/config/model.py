"""The plotter configuration as typed, frozen, plain data.

Every field has the value the scheduler, the archiver and the modules use: defaults are filled in,
sizes are bytes, paths are absolute and normalised. Field names follow plotman's keys so that a
reader who knows ``plotman.yaml`` recognises them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import dir_refusal, normalise_path

DEFAULT_CONFIG_PATH = "/etc/plotfleet/plotfleet.yml"
DEFAULT_LOG_DIR = "/var/log/plotfleet"
PLOTTER_TYPES = ("chia", "madmax", "bladebit", "chia_v2")


class ConfigError(Exception):
    """The config cannot be used. ``problems`` lists every problem found, one sentence each."""

    def __init__(self, problems: Sequence[str], source: str = "<config>") -> None:
        self.problems = list(problems)
        self.source = source
        # One line per problem, each naming the file, so that the message reads like compiler output.
        super().__init__("\n".join(f"{source}: {problem}" for problem in self.problems))


@dataclass(frozen=True)
class LoggingConfig:
    plots: str = f"{DEFAULT_LOG_DIR}/plots"  # one log file per plot job
    transfers: str = f"{DEFAULT_LOG_DIR}/transfers"
    application: str = f"{DEFAULT_LOG_DIR}/plotfleet.log"
    disk_spaces: str = f"{DEFAULT_LOG_DIR}/disk_spaces.log"


@dataclass(frozen=True)
class UserInterface:
    """Accepted for plotman compatibility; plotfleet has no curses interface."""

    use_stty_size: bool = True


@dataclass(frozen=True)
class InteractiveCommands:
    autostart_plotting: bool = True
    autostart_archiving: bool = True


@dataclass(frozen=True)
class Commands:
    """Accepted for plotman compatibility; plotfleet does not use it."""

    interactive: InteractiveCommands = field(default_factory=InteractiveCommands)


@dataclass(frozen=True)
class Directories:
    tmp: tuple[str, ...]
    # Where finished plots go. When the file names no dst, plotman's rule applies: tmp2 if it is
    # set, else the tmp dirs themselves; ``dst_given`` tells the two cases apart.
    dst: tuple[str, ...]
    tmp2: str | None = None
    dst_given: bool = True
    # The dirs marked ``mount: true``: each must be a mount point (a disk of its own), or every
    # pass refuses it, so that an unmounted disk never lets plots fill the filesystem beneath.
    mounts: tuple[str, ...] = ()

    def refusal(self, path: str) -> str | None:
        """Why ``path`` must not be written now (missing, or marked and not mounted), or None."""
        return dir_refusal(path, path in self.mounts)


@dataclass(frozen=True)
class TmpScheduling:
    """The stagger limits that apply to one tmp dir, overrides already applied."""

    tmpdir_stagger_phase_major: int
    tmpdir_stagger_phase_minor: int
    tmpdir_stagger_phase_limit: int
    tmpdir_max_jobs: int

    @property
    def stagger_phase(self) -> tuple[int, int]:
        return (self.tmpdir_stagger_phase_major, self.tmpdir_stagger_phase_minor)


@dataclass(frozen=True)
class TmpOverrides:
    """Per-tmp-dir replacements; None keeps the global value (each key on its own, like plotman)."""

    tmpdir_stagger_phase_major: int | None = None
    tmpdir_stagger_phase_minor: int | None = None
    tmpdir_stagger_phase_limit: int | None = None
    tmpdir_max_jobs: int | None = None


@dataclass(frozen=True)
class SchedulingConfig:
    # plotman's keys; the defaults are plotman's example values.
    tmpdir_stagger_phase_major: int = 2
    tmpdir_stagger_phase_minor: int = 1
    tmpdir_stagger_phase_limit: int = 1
    tmpdir_max_jobs: int = 3
    global_max_jobs: int = 12
    global_stagger_m: int = 30
    polling_time_s: int = 20
    tmp_overrides: dict[str, TmpOverrides] = field(default_factory=dict)
    # plotfleet's additions.
    phase1_max_jobs: int | None = None  # None: no machine-wide phase-1 limit
    max_starts: int = 1  # jobs started per scheduling pass
    dst_free_space_guard: bool = True
    dst_reserve_bytes: int = 0
    tmp_min_free_bytes: int | None = None

    def for_tmp(self, tmp_dir: str) -> TmpScheduling:
        """The limits for ``tmp_dir``: the global ones with its tmp_overrides entry applied."""
        overrides = self.tmp_overrides.get(normalise_path(tmp_dir), TmpOverrides())
        return TmpScheduling(
            tmpdir_stagger_phase_major=_first(overrides.tmpdir_stagger_phase_major, self.tmpdir_stagger_phase_major),
            tmpdir_stagger_phase_minor=_first(overrides.tmpdir_stagger_phase_minor, self.tmpdir_stagger_phase_minor),
            tmpdir_stagger_phase_limit=_first(overrides.tmpdir_stagger_phase_limit, self.tmpdir_stagger_phase_limit),
            tmpdir_max_jobs=_first(overrides.tmpdir_max_jobs, self.tmpdir_max_jobs),
        )


def _first(override: int | None, default: int) -> int:
    return default if override is None else override


@dataclass(frozen=True)
class ChiaOptions:
    """chiapos through ``chia plots create``; defaults are plotman's."""

    executable: str = "chia"
    k: int = 32
    e: bool = False  # -e: disable bitfield
    x: bool = False  # -x: exclude the final dir from the farmer's plot dirs
    n_threads: int = 2
    n_buckets: int = 128
    job_buffer: int = 3389  # MiB
    override_k: bool = False  # chia refuses k < 32 without --override-k


@dataclass(frozen=True)
class MadmaxOptions:
    executable: str = "chia_plot"
    n_threads: int = 4
    n_buckets: int = 256
    n_buckets3: int = 256
    n_rmulti2: int = 1


@dataclass(frozen=True)
class BladebitOptions:
    executable: str = "bladebit"
    threads: int | None = None  # None: bladebit uses every core
    no_numa: bool = False
    # plotfleet's additions.
    mode: str = "ramplot"  # ramplot | diskplot | cudaplot
    compression: int | None = None  # None: no --compress flag (bladebit's default, level 0)
    diskplot_cache: int | None = None  # bytes, diskplot only
    diskplot_buckets: int | None = None  # diskplot only


@dataclass(frozen=True)
class ChiaV2Options:
    """v2 plots (``.plot2``) through plotfleet's launcher of chia's own v2 plotting code."""

    executable: str = "/usr/local/lib/plotfleet/plotfleet-chia-plot2"  # installed by roles/plotter
    python: str = "/opt/plotfleet/chia/bin/python"  # the Python of chia-blockchain's virtualenv
    k: int = 28  # mainnet farms k28 only
    strength: int = 2
    override_k: bool = False  # the launcher refuses k other than 28 without --override-k
    x: bool = False  # -x: do not add the final dir to the chia harvester's plot directories


@dataclass(frozen=True)
class PlottingConfig:
    type: str = "chia"
    farmer_pk: str | None = None
    pool_pk: str | None = None
    pool_contract_address: str | None = None
    nice: int | None = None  # None: jobs keep the niceness of the process that starts them
    env: dict[str, str] = field(default_factory=dict)  # added to the job's environment
    chia: ChiaOptions = field(default_factory=ChiaOptions)
    madmax: MadmaxOptions = field(default_factory=MadmaxOptions)
    bladebit: BladebitOptions = field(default_factory=BladebitOptions)
    chia_v2: ChiaV2Options = field(default_factory=ChiaV2Options)

    @property
    def options(self) -> ChiaOptions | MadmaxOptions | BladebitOptions | ChiaV2Options:
        """The section of the plotter that ``type`` selects."""
        return getattr(self, self.type)


@dataclass(frozen=True)
class ArchivingTarget:
    """A plotman archiving target definition, kept as data (plotfleet transfers with rsync itself)."""

    transfer_process_name: str
    transfer_process_argument_prefix: str
    env: dict[str, str | None] = field(default_factory=dict)  # None marks a value the user must set
    disk_space_path: str | None = None
    disk_space_script: str | None = None
    transfer_path: str | None = None
    transfer_script: str | None = None


@dataclass(frozen=True)
class PlotmanArchiving:
    """plotman's ``archiving`` form (target/env/index), accepted so that plotman.yaml loads."""

    target: str
    env: dict[str, str] = field(default_factory=dict)
    index: int = 0
    target_definitions: dict[str, ArchivingTarget] = field(default_factory=dict)


@dataclass(frozen=True)
class ArchivingConfig:
    rsync_password_file: str = "/etc/plotfleet/rsync.secret"
    rsync_user: str = "plotfleet"
    parallel_transfers: int = 1
    bwlimit: int | None = None  # KiB/s, rsync's --bwlimit unit
    rsync_extra_args: tuple[str, ...] = ()
    transfer_log_dir: str = f"{DEFAULT_LOG_DIR}/transfers"  # parsing defaults it to logging.transfers
    plotman: PlotmanArchiving | None = None


@dataclass(frozen=True)
class Config:
    directories: Directories
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    scheduling: SchedulingConfig = field(default_factory=SchedulingConfig)
    plotting: PlottingConfig = field(default_factory=PlottingConfig)
    archiving: ArchivingConfig = field(default_factory=ArchivingConfig)
    user_interface: UserInterface = field(default_factory=UserInterface)
    commands: Commands = field(default_factory=Commands)
    source: str = "<config>"  # the file it was read from

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready nested dicts and lists, e.g. for a module's return value."""
        return _jsonable(dataclasses.asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def plotman_archiving_notice(archiving: ArchivingConfig) -> str | None:
    """What plotfleet does with a plotman ``archiving:`` section (target/env), in words: it is read
    so that plotman.yaml loads, but plotfleet never runs plotman's transfer scripts; archive.yml
    moves plots to the harvesters' rsync daemons. Names the equivalent settings, or None."""
    plotman = archiving.plotman
    if plotman is None:
        return None
    env = plotman.env
    host, site_root = env.get("host"), env.get("site_root")
    equivalent = [f"list {host} in the inventory's harvesters group" if host else
                  "list each archive host in the inventory's harvesters group"]
    if site_root:
        module = f", rsync_module: {env['site']}" if env.get("site") else ""
        equivalent.append(f"give it harvester_archive_dirs: [{{path: {site_root}{module}}}]")
    if env.get("rsync_port"):
        equivalent.append(f"harvester_rsync_port: {env['rsync_port']}")
    if env.get("user"):
        equivalent.append(f"archiving.rsync_user: {env['user']}")
    return (f"archiving.target {plotman.target!r} (plotman's form) is read but not used: plotfleet moves "
            "finished plots with playbooks/archive.yml to the harvesters' rsync daemons, planned for the "
            f"whole fleet. The equivalent: {'; '.join(equivalent)}; then run playbooks/site.yml and archive.yml")
