"""From the parsed YAML document to ``Config``: one reader per section.

plotman 0.5.x's keys keep plotman's meaning, so an existing plotman.yaml (``version: [2]``) loads
as it is; plotfleet's own keys are optional. Required: ``directories.tmp``. Everything else has a
default (see docs/plotfleet.example.yml).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.checks import (
    REQUIRED,
    Invalid,
    Section,
    bad,
    check_list,
    check_path,
    check_str,
    is_int,
    key_path,
    show,
    suggest,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.config.model import (
    PLOTTER_TYPES,
    ArchivingConfig,
    ArchivingTarget,
    BladebitOptions,
    ChiaOptions,
    ChiaV2Options,
    Commands,
    Config,
    Directories,
    InteractiveCommands,
    LoggingConfig,
    MadmaxOptions,
    PlotmanArchiving,
    PlottingConfig,
    SchedulingConfig,
    TmpOverrides,
    UserInterface,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import UNSAFE_RSYNC_ARGS

SECTIONS = ("version", "logging", "user_interface", "commands", "directories", "scheduling", "archiving", "plotting")
# plotman ships these archiving targets; a config may name them without defining them.
PLOTMAN_PRESET_TARGETS = ("local_rsync", "rsyncd")
# plotman <= 0.4 put chia's options directly under plotting.
LEGACY_CHIA_KEYS = ("k", "e", "n_threads", "n_buckets", "job_buffer")

_PUBLIC_KEY = re.compile(r"(0x)?[0-9a-fA-F]{96}\Z")
_CONTRACT_ADDRESS = re.compile(r"t?xch1[02-9ac-hj-np-z]{58}\Z")  # bech32m, 32 bytes


def read_config(document: Any, source: str, problems: list[str]) -> Config:
    """Read every section of ``document``, appending each problem found to ``problems``."""
    if document is None:
        problems.append("the config is empty; it needs at least directories.tmp")
        return Config(directories=Directories(tmp=(), dst=()), source=source)
    if not isinstance(document, Mapping):
        problems.append(f"the config must be a mapping of sections ({', '.join(SECTIONS)}), got {show(document)}")
        return Config(directories=Directories(tmp=(), dst=()), source=source)
    top = Section(document, "", problems)
    _read_version(top)
    logging = _read_logging(top.section("logging"))
    user_interface = UserInterface(top.section("user_interface").boolean("use_stty_size", True))
    commands = _read_commands(top.section("commands"))
    directories = _read_directories(top)
    scheduling = _read_scheduling(top.section("scheduling"), directories.tmp)
    archiving = _read_archiving(top.section("archiving"), logging)
    plotting = _read_plotting(top.section("plotting"))
    top.finish()
    return Config(
        directories=directories,
        logging=logging,
        scheduling=scheduling,
        plotting=plotting,
        archiving=archiving,
        user_interface=user_interface,
        commands=commands,
        source=source,
    )


def _read_version(top: Section) -> None:
    # plotman refuses anything but major version 2; a plotfleet file may leave it out.
    def check(value: Any, path: str) -> list[int]:
        if isinstance(value, list) and value and value[0] == 2 and not isinstance(value[0], bool):
            return value
        raise bad(path, "[2] (plotman's config format 2) or left out", value)

    top.get("version", None, check, "[2]")


def _read_logging(section: Section) -> LoggingConfig:
    defaults = LoggingConfig()
    logging = LoggingConfig(
        plots=section.path("plots", defaults.plots),
        transfers=section.path("transfers", defaults.transfers),
        application=section.path("application", defaults.application),
        disk_spaces=section.path("disk_spaces", defaults.disk_spaces),
    )
    section.finish()
    return logging


def _read_commands(section: Section) -> Commands:
    interactive = section.section("interactive")
    commands = Commands(
        InteractiveCommands(
            autostart_plotting=interactive.boolean("autostart_plotting", True),
            autostart_archiving=interactive.boolean("autostart_archiving", True),
        )
    )
    interactive.finish()
    section.finish()
    return commands


def _read_directories(top: Section) -> Directories:
    section = top.section("directories")
    if not top.given("directories"):
        top.report("directories", "missing required key; expected a mapping with at least tmp (a list of paths)")
    # Only a directories mapping that is there can miss tmp; otherwise that is already reported.
    tmp_default = REQUIRED if isinstance(top.data.get("directories"), Mapping) else ()
    expected = "a non-empty list of absolute paths"  # each may be a mapping {path: ..., mount: true}
    tmp_dirs = section.get("tmp", tmp_default, lambda v, p: _dir_list(v, p, expected), expected) or ()
    tmp2_dir = section.get("tmp2", None, _check_dir, "an absolute path, or a mapping {path: ..., mount: true}")
    dst_dirs = section.get("dst", None, lambda v, p: _dir_list(v, p, expected), expected) or ()
    section.finish()
    tmp = _unique(section, "tmp", tuple(path for path, _ in tmp_dirs))
    dst = _unique(section, "dst", tuple(path for path, _ in dst_dirs))
    tmp2 = tmp2_dir[0] if tmp2_dir else None
    mounts = tuple(dict.fromkeys(path for path, mount in (*tmp_dirs, *dst_dirs, tmp2_dir or ("", False)) if mount))
    if dst:
        return Directories(tmp=tmp, dst=dst, tmp2=tmp2, dst_given=True, mounts=mounts)
    # plotman's rule when no dst is given: finished plots stay in tmp2, or else in the tmp dir.
    return Directories(tmp=tmp, dst=(tmp2,) if tmp2 else tmp, tmp2=tmp2, dst_given=False, mounts=mounts)


def _check_dir(value: Any, path: str) -> tuple[str, bool]:
    """A plot dir: a path (plotman's form), or ``{path: ..., mount: true}`` for a disk of its own."""
    if not isinstance(value, Mapping):
        return check_path(value, path), False
    entry = Section(value, path, [])
    dir_path = entry.get("path", REQUIRED, check_path, "an absolute path")
    mount = entry.boolean("mount", False)
    entry.finish()
    if entry.problems:
        raise Invalid(*entry.problems)
    return dir_path, mount


def _dir_list(value: Any, path: str, expected: str) -> tuple[tuple[str, bool], ...]:
    items = check_list(value, path, _check_dir, expected)
    if not items:
        raise bad(path, expected, value)
    return items


def _unique(section: Section, key: str, paths: tuple[str, ...]) -> tuple[str, ...]:
    """Report a path listed twice (it would get twice the jobs); keep the first."""
    path = section.path_of(key)
    seen: dict[str, int] = {}
    for index, item in enumerate(paths):
        if item in seen:
            section.problems.append(
                f"{key_path(path, index)}: {show(item)} is listed twice (also {key_path(path, seen[item])})"
            )
        seen.setdefault(item, index)
    return tuple(seen)


def _read_stagger_keys(section: Section) -> dict[str, int | None]:
    """The four per-tmp-dir keys (None when not given), shared by scheduling and tmp_overrides."""
    return {
        "tmpdir_stagger_phase_major": section.integer("tmpdir_stagger_phase_major", None, 1, 5),
        "tmpdir_stagger_phase_minor": section.integer("tmpdir_stagger_phase_minor", None, 0),
        "tmpdir_stagger_phase_limit": section.integer("tmpdir_stagger_phase_limit", None, 1),
        "tmpdir_max_jobs": section.integer("tmpdir_max_jobs", None, 1),
    }


def _read_scheduling(section: Section, tmp_dirs: tuple[str, ...]) -> SchedulingConfig:
    defaults = SchedulingConfig()
    stagger = {
        key: getattr(defaults, key) if value is None else value for key, value in _read_stagger_keys(section).items()
    }
    scheduling = SchedulingConfig(
        **stagger,
        global_max_jobs=section.integer("global_max_jobs", defaults.global_max_jobs, 1),
        global_stagger_m=section.integer("global_stagger_m", defaults.global_stagger_m, 0),
        polling_time_s=section.integer("polling_time_s", defaults.polling_time_s, 1),
        tmp_overrides=_read_tmp_overrides(section, tmp_dirs),
        phase1_max_jobs=section.integer("phase1_max_jobs", None, 1),
        max_starts=section.integer("max_starts", defaults.max_starts, 1),
        dst_free_space_guard=section.boolean("dst_free_space_guard", defaults.dst_free_space_guard),
        dst_reserve_bytes=section.size("dst_reserve_bytes", defaults.dst_reserve_bytes),
        tmp_min_free_bytes=section.size("tmp_min_free_bytes", None),
    )
    section.finish()
    return scheduling


def _read_tmp_overrides(section: Section, tmp_dirs: tuple[str, ...]) -> dict[str, TmpOverrides]:
    raw = section.mapping("tmp_overrides") or {}
    path = section.path_of("tmp_overrides")
    overrides: dict[str, TmpOverrides] = {}
    for tmp_dir, values in raw.items():
        entry = Section(values, key_path(path, tmp_dir), section.problems)
        if not isinstance(values, Mapping):
            section.problems.extend(bad(entry.where, "a mapping of tmpdir_* keys", values).lines)
        tmp_dir = _override_dir(tmp_dir, entry.where, tmp_dirs, section.problems)
        keys = _read_stagger_keys(entry)
        entry.finish()
        if tmp_dir in overrides:
            section.problems.append(f"{entry.where}: {show(tmp_dir)} has an entry already")
        elif tmp_dir is not None:
            overrides[tmp_dir] = TmpOverrides(**keys)
    return overrides


def _override_dir(tmp_dir: Any, path: str, tmp_dirs: tuple[str, ...], problems: list[str]) -> str | None:
    """The normalised tmp dir an override is for; one not in directories.tmp is most likely a typo."""
    try:
        normal = check_path(tmp_dir, path)
    except Invalid as error:
        problems.extend(error.lines)
        return None
    if tmp_dirs and normal not in tmp_dirs:
        problems.append(f"{path}: not one of directories.tmp{suggest(normal, list(tmp_dirs))}")
        return None
    return normal


def _read_plotting(section: Section) -> PlottingConfig:
    plotter_type = section.choice("type", "chia", PLOTTER_TYPES)
    plotting = PlottingConfig(
        type=plotter_type,
        farmer_pk=section.get("farmer_pk", None, _check_public_key, "a public key"),
        pool_pk=section.get("pool_pk", None, _check_public_key, "a public key"),
        pool_contract_address=section.get(
            "pool_contract_address", None, _check_contract_address, "a pool contract address"
        ),
        nice=section.integer("nice", None, -20, 19),
        env=section.env("env"),
        chia=_read_chia(section),
        madmax=_read_madmax(section.section("madmax")),
        bladebit=_read_bladebit(section.section("bladebit")),
        chia_v2=_read_chia_v2(section.section("chia_v2")),
    )
    _check_keys_for_plotter(section, plotting)
    section.finish()
    return plotting


def _check_public_key(value: Any, path: str) -> str:
    if isinstance(value, str) and _PUBLIC_KEY.match(value):
        return value
    raise bad(path, "a public key: 96 hex digits (chia keys show)", value)


def _check_contract_address(value: Any, path: str) -> str:
    if isinstance(value, str) and _CONTRACT_ADDRESS.match(value):
        return value
    raise bad(path, "a pool contract address: xch1 and 58 more characters (chia plotnft show)", value)


def _check_keys_for_plotter(section: Section, plotting: PlottingConfig) -> None:
    """Which keys each plotter needs, as plotman checks them."""
    if plotting.pool_pk and plotting.pool_contract_address:
        section.report("pool_contract_address", "give either pool_pk or pool_contract_address, not both")
    if plotting.type != "madmax":
        return  # chia (and `chia plotters bladebit`) take missing keys from the local keychain
    if not section.given("farmer_pk"):
        section.report("farmer_pk", "missing required key; madMAx needs the farmer public key")
    if not section.given("pool_pk") and not section.given("pool_contract_address"):
        section.report("pool_contract_address", "missing required key; madMAx needs it or plotting.pool_pk")


def _read_chia(plotting: Section) -> ChiaOptions:
    section = plotting.section("chia")
    # plotman's old place for these keys (directly under plotting) still counts, checked at its
    # own key path; a key set in both places is ambiguous.
    legacy_keys = [key for key in LEGACY_CHIA_KEYS if plotting.given(key)]
    legacy = _read_chia_options(Section(plotting.data, plotting.where, plotting.problems), legacy_keys)
    plotting.read_elsewhere(*LEGACY_CHIA_KEYS)
    chia = _read_chia_options(section, [option.name for option in dataclasses.fields(ChiaOptions)])
    section.finish()
    for key in legacy_keys:
        if section.given(key):
            plotting.report(key, f"also set as {section.path_of(key)}; keep one")
    chia = dataclasses.replace(chia, **{key: getattr(legacy, key) for key in legacy_keys if not section.given(key)})
    if chia.k < 32 and not chia.override_k:
        k_section = section if section.given("k") or not plotting.given("k") else plotting
        k_section.report("k", f"k below 32 also needs {section.path_of('override_k')}: true, got {chia.k}")
    return chia


def _read_chia_options(section: Section, keys: list[str]) -> ChiaOptions:
    """The chia options among ``keys`` found in ``section``; the others keep their defaults."""
    defaults = ChiaOptions()
    readers = {
        "executable": lambda: section.executable("executable", defaults.executable),
        "k": lambda: section.integer("k", defaults.k, 18, 50),
        "e": lambda: section.boolean("e", defaults.e),
        "x": lambda: section.boolean("x", defaults.x),
        "n_threads": lambda: section.integer("n_threads", defaults.n_threads, 1),
        "n_buckets": lambda: section.integer("n_buckets", defaults.n_buckets, 16, 128),
        "job_buffer": lambda: section.integer("job_buffer", defaults.job_buffer, 1),
        "override_k": lambda: section.boolean("override_k", defaults.override_k),
    }
    return ChiaOptions(**{key: readers[key]() for key in keys})


def _read_madmax(section: Section) -> MadmaxOptions:
    defaults = MadmaxOptions()
    madmax = MadmaxOptions(
        executable=section.executable("executable", defaults.executable),
        n_threads=section.integer("n_threads", defaults.n_threads, 1),
        n_buckets=_power_of_two(section, "n_buckets", defaults.n_buckets, 16, 4096),
        n_buckets3=_power_of_two(section, "n_buckets3", defaults.n_buckets3, 16, 4096),
        n_rmulti2=section.integer("n_rmulti2", defaults.n_rmulti2, 1),
    )
    section.finish()
    return madmax


def _read_bladebit(section: Section) -> BladebitOptions:
    defaults = BladebitOptions()
    mode = section.choice("mode", defaults.mode, ("ramplot", "diskplot", "cudaplot"))
    bladebit = BladebitOptions(
        executable=section.executable("executable", defaults.executable),
        threads=section.integer("threads", None, 1),
        no_numa=section.boolean("no_numa", defaults.no_numa),
        mode=mode,
        # bladebit's CPU plotters compress up to level 7; the CUDA plotter up to 9.
        compression=section.integer("compression", None, 0, 9 if mode == "cudaplot" else 7),
        diskplot_cache=section.size("diskplot_cache", None),
        diskplot_buckets=_power_of_two(section, "diskplot_buckets", None, 64, 1024),
    )
    for key in ("diskplot_cache", "diskplot_buckets"):
        if section.given(key) and mode != "diskplot":
            section.report(key, f"only used with mode: diskplot, but mode is {mode}")
    section.finish()
    return bladebit



def _read_chia_v2(section: Section) -> ChiaV2Options:
    defaults = ChiaV2Options()
    chia_v2 = ChiaV2Options(
        executable=section.executable("executable", defaults.executable),
        python=section.executable("python", defaults.python),
        # chia_rs makes even k from 18 up; chia's consensus takes strength 2 to 17.
        k=section.get("k", defaults.k, _even_k, "an even integer from 18 to 32"),
        strength=section.integer("strength", defaults.strength, 2, 17),
        override_k=section.boolean("override_k", defaults.override_k),
        x=section.boolean("x", defaults.x),
    )
    section.finish()
    if os.path.basename(chia_v2.executable) != os.path.basename(defaults.executable):
        # Jobs are recognised in the process table by the launcher's name.
        section.report("executable", f"must be the plotfleet-chia-plot2 launcher (any dir), got {chia_v2.executable}")
    if chia_v2.k != defaults.k and not chia_v2.override_k:
        section.report("k", f"k other than 28 also needs {section.path_of('override_k')}: true, got {chia_v2.k}")
    return chia_v2


def _even_k(value: Any, path: str) -> int:
    if is_int(value) and 18 <= value <= 32 and value % 2 == 0:
        return value
    raise bad(path, "an even integer from 18 to 32", value)

def _power_of_two(section: Section, key: str, default: int | None, minimum: int, maximum: int) -> Any:
    def check(value: Any, path: str) -> int:
        if is_int(value) and minimum <= value <= maximum and value & (value - 1) == 0:
            return value
        raise bad(path, f"a power of two from {minimum} to {maximum}", value)

    return section.get(key, default, check, f"a power of two from {minimum} to {maximum}")


def _read_archiving(section: Section, logging: LoggingConfig) -> ArchivingConfig:
    defaults = ArchivingConfig()
    archiving = ArchivingConfig(
        rsync_password_file=section.path("rsync_password_file", defaults.rsync_password_file),
        rsync_user=section.get("rsync_user", defaults.rsync_user, _check_rsync_user, "a user name"),
        parallel_transfers=section.integer("parallel_transfers", defaults.parallel_transfers, 1),
        bwlimit=section.integer("bwlimit", None, 1),
        rsync_extra_args=_read_rsync_args(section),
        transfer_log_dir=section.path("transfer_log_dir", logging.transfers),
        plotman=_read_plotman_archiving(section),
    )
    section.finish()
    return archiving


def _check_rsync_user(value: Any, path: str) -> str:
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9._-]+", value):
        return value
    raise bad(path, "a user name (letters, digits, '.', '_', '-')", value)


def _read_rsync_args(section: Section) -> tuple[str, ...]:
    args: tuple[str, ...] = section.string_list("rsync_extra_args", ())
    for index, arg in enumerate(args):
        if arg.split("=")[0] in UNSAFE_RSYNC_ARGS:
            section.problems.append(
                f"{key_path(section.path_of('rsync_extra_args'), index)}: {show(arg)} is not allowed: "
                "rsync would write into the final file name, so a partial plot could be farmed"
            )
    return args


def _read_plotman_archiving(section: Section) -> PlotmanArchiving | None:
    target = section.string("target", None)
    env = section.env("env")
    index = section.integer("index", 0, 0)
    definitions = _read_target_definitions(section)
    plotman_keys = [key for key in ("env", "index", "target_definitions") if section.given(key)]
    if target is None:
        if plotman_keys and not section.given("target"):
            section.report(
                "target",
                f"missing required key; plotman's archiving form ({', '.join(plotman_keys)}) "
                "needs the name of a target",
            )
        return None
    known = list(PLOTMAN_PRESET_TARGETS) + list(definitions)
    if target not in known:
        section.report("target", f"no target definition named {show(target)}{suggest(target, known)}")
    return PlotmanArchiving(target=target, env=env, index=index, target_definitions=definitions)


def _read_target_definitions(section: Section) -> dict[str, ArchivingTarget]:
    raw = section.mapping("target_definitions") or {}
    path = section.path_of("target_definitions")
    definitions: dict[str, ArchivingTarget] = {}
    for name, values in raw.items():
        entry = Section(values, key_path(path, name), section.problems)
        if not isinstance(values, Mapping):
            section.problems.extend(bad(entry.where, "a mapping describing the target", values).lines)
        definitions[str(name)] = ArchivingTarget(
            transfer_process_name=entry.get("transfer_process_name", REQUIRED, check_str, "a process name"),
            transfer_process_argument_prefix=entry.get(
                "transfer_process_argument_prefix", REQUIRED, check_str, "an argument prefix"
            ),
            env=entry.env("env", allow_null=True),
            disk_space_path=entry.path("disk_space_path", None),
            disk_space_script=entry.string("disk_space_script", None),
            transfer_path=entry.path("transfer_path", None),
            transfer_script=entry.string("transfer_script", None),
        )
        entry.finish()
    return definitions
