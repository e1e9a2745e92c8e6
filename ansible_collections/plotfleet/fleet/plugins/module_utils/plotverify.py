"""Verify plots that landed in a harvester's archive dirs; quarantine the bad; confirm the farmed.

Run right after each landing (the rsync daemon's ``post-xfer exec`` hook, ``plotfleet-verify-landed``)
and again by ``plotfleet_verify`` from ``archive.yml``, so nothing depends on the hook alone:

- Each plot not yet verified gets the structural check (``plotcheck``) and, when configured,
  ``chia plots check -n N`` (v1 plots and k28 v2 plots: chia checks v2 proofs with k28 parameters
  only).
- A failing plot moves to ``<archive dir>/.plotfleet-quarantine/<name>.quarantined`` (same disk: a
  rename, never a copy, never a delete) with a ``<name>.reason.json`` beside it. The suffix keeps
  it out of every glob that finds plots: the chia harvester's (even with ``recursive_plot_scan``),
  the space census's, the archive planner's.
- A passing plot's name, size and mtime go to ``<archive dir>/.plotfleet-verified``, one line each.
  Losing that file repeats checks, never skips one: a plot is skipped only when a line matches its
  name, size and mtime exactly.
- Where a chia harvester runs, it is asked to refresh (RPC ``refresh_plots``) and each new plot is
  looked up in ``get_plots`` until it is loaded, failed to open, or the wait ends.

Every verdict is one line in the verify log on the harvester.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import HostLock
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotcheck import read_head, structural_problems
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import (
    V1,
    V2_MAINNET_K,
    is_finished_plot_name,
    parse_plot_name,
)

QUARANTINE_SUBDIR = ".plotfleet-quarantine"
QUARANTINE_SUFFIX = ".quarantined"
RECORD_NAME = ".plotfleet-verified"
LOCK_NAME = ".plotfleet-verify.lock"
DEFAULT_LOG_FILE = "/var/log/plotfleet/verify.log"
DEFAULT_RPC_PORT = 8560
DEFAULT_CONFIRM_SECONDS = 30


@dataclass(frozen=True)
class ChiaHarvester:
    """The local chia harvester to tell about new plots (its RPC uses the certs in its CHIA_ROOT)."""

    root: str
    rpc_port: int = DEFAULT_RPC_PORT
    host: str = "127.0.0.1"
    confirm_seconds: float = DEFAULT_CONFIRM_SECONDS


@dataclass(frozen=True)
class VerifySettings:
    # Off unless harvester.yml has a verify section (roles/harvester writes one, on by default):
    # a farm's plots are checked only where its operator rolled verification out.
    enabled: bool = False
    chia_check_challenges: int = 0  # 0: no `chia plots check`
    chia_bin: str | None = None  # the chia executable, for `chia plots check`
    chia_root: str | None = None  # CHIA_ROOT for `chia plots check`
    harvester: ChiaHarvester | None = None
    log_file: str | None = DEFAULT_LOG_FILE


@dataclass
class Verdict:
    """What became of one landed plot."""

    dir: str
    name: str
    size_bytes: int
    checks: list[str] = field(default_factory=list)  # header, chia
    problems: list[str] = field(default_factory=list)
    quarantined_to: str | None = None
    farmed: bool | None = None  # None: no chia harvester to ask
    harvester_error: str | None = None

    @property
    def passed(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "dir": self.dir,
            "name": self.name,
            "path": os.path.join(self.dir, self.name),
            "size_bytes": self.size_bytes,
            "passed": self.passed,
            "checks": list(self.checks),
            "problems": list(self.problems),
            "quarantined_to": self.quarantined_to,
            "farmed": self.farmed,
            "harvester_error": self.harvester_error,
        }


# --- settings ------------------------------------------------------------------------------------


def parse_verify_settings(data: Any, problems: list[str], key: str = "verify") -> VerifySettings:
    """The ``verify`` section of harvester.yml; appends a problem per bad key."""
    if data is None:
        return VerifySettings()
    if not isinstance(data, Mapping):
        problems.append(f"{key}: must be a mapping, got {type(data).__name__}")
        return VerifySettings()
    challenges = data.get("chia_check_challenges", 0)
    if not (isinstance(challenges, int) and not isinstance(challenges, bool) and challenges >= 0):
        problems.append(f"{key}.chia_check_challenges: must be an integer >= 0 (0: off), got {challenges!r}")
        challenges = 0
    chia_bin = _optional_abs_path(data, "chia_bin", key, problems)
    chia_root = _optional_abs_path(data, "chia_root", key, problems)
    log_file = _optional_abs_path(data, "log_file", key, problems) if "log_file" in data else DEFAULT_LOG_FILE
    if challenges and not (chia_bin and chia_root):
        problems.append(f"{key}.chia_check_challenges: needs {key}.chia_bin and {key}.chia_root")
    harvester = None
    rpc = data.get("harvester_rpc")
    if rpc is not None:
        harvester = _parse_rpc(rpc, chia_root, problems, f"{key}.harvester_rpc")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"{key}.enabled: must be true or false, got {enabled!r}")
        enabled = False
    return VerifySettings(enabled, challenges, chia_bin, chia_root, harvester, log_file)


def _parse_rpc(rpc: Any, chia_root: str | None, problems: list[str], key: str) -> ChiaHarvester | None:
    if not isinstance(rpc, Mapping):
        problems.append(f"{key}: must be a mapping, got {type(rpc).__name__}")
        return None
    port = rpc.get("port", DEFAULT_RPC_PORT)
    if not (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536):
        problems.append(f"{key}.port: must be an integer 1-65535, got {port!r}")
        port = DEFAULT_RPC_PORT
    wait = rpc.get("confirm_seconds", DEFAULT_CONFIRM_SECONDS)
    if not (isinstance(wait, (int, float)) and not isinstance(wait, bool) and wait >= 0):
        problems.append(f"{key}.confirm_seconds: must be a number >= 0, got {wait!r}")
        wait = DEFAULT_CONFIRM_SECONDS
    if not chia_root:
        problems.append(f"{key}: needs the harvester's CHIA_ROOT in chia_root (its RPC certs live there)")
        return None
    return ChiaHarvester(chia_root, port, str(rpc.get("host") or "127.0.0.1"), float(wait))


def _optional_abs_path(data: Mapping, name: str, key: str, problems: list[str]) -> str | None:
    value = data.get(name)
    if value in (None, ""):
        return None
    if not (isinstance(value, str) and os.path.isabs(value)):
        problems.append(f"{key}.{name}: must be an absolute path, got {value!r}")
        return None
    return value


# --- what is there -------------------------------------------------------------------------------


def load_record(directory: str) -> dict[str, tuple[int, int]]:
    """name -> (size, mtime_ns) of the plots verified in a dir; a missing or damaged file is empty."""
    record: dict[str, tuple[int, int]] = {}
    try:
        with open(os.path.join(directory, RECORD_NAME), encoding="utf-8", errors="replace") as handle:
            for line in handle:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                    record[parts[0]] = (int(parts[1]), int(parts[2]))
    except OSError:
        pass
    return record


def pending_plots(directory: str, record: Mapping[str, tuple[int, int]]) -> list[tuple[str, int, int]]:
    """(name, size, mtime_ns) of each finished plot directly in the dir that the record does not
    vouch for, oldest first. Raises OSError when the dir cannot be read."""
    pending = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not is_finished_plot_name(entry.name):
                continue
            try:
                if not entry.is_file(follow_symlinks=False) and not entry.is_symlink():
                    continue
                info = entry.stat(follow_symlinks=False)
            except OSError:  # renamed or removed while we looked
                continue
            if record.get(entry.name) != (info.st_size, info.st_mtime_ns):
                pending.append((entry.name, info.st_size, info.st_mtime_ns))
    return sorted(pending, key=lambda item: (item[2], item[0]))


def list_quarantined(directory: str) -> list[dict[str, Any]]:
    """The plots quarantined in an archive dir (its quarantine dir, and the dir itself for plots
    quarantined in place on a full disk), with the reasons recorded when they were moved."""
    found = []
    for where in (os.path.join(directory, QUARANTINE_SUBDIR), directory):
        try:
            names = sorted(name for name in os.listdir(where) if name.endswith(QUARANTINE_SUFFIX))
        except OSError:
            continue
        for name in names:
            path = os.path.join(where, name)
            reason: dict[str, Any] = {}
            try:
                with open(path[: -len(QUARANTINE_SUFFIX)] + ".reason.json", encoding="utf-8") as handle:
                    reason = json.load(handle)
            except (OSError, ValueError):
                pass
            try:
                size = os.lstat(path).st_size
            except OSError:
                continue
            found.append({"name": reason.get("name") or name[: -len(QUARANTINE_SUFFIX)], "path": path,
                          "size_bytes": size, "problems": reason.get("problems", []),
                          "quarantined_at": reason.get("quarantined_at")})
    return found


# --- acting --------------------------------------------------------------------------------------


def quarantine(directory: str, name: str, problems: list[str], now: float) -> str:
    """Move a plot into the dir's quarantine (a rename on the same disk) and write its reasons beside
    it; returns the new path. Raises OSError when the plot cannot be moved.

    The move comes first and needs no free space; on a disk too full for the quarantine dir the
    plot is renamed in place to ``<name>.quarantined``, which no plot glob matches either. The
    reasons are best effort (the verify log has them too)."""
    target_dir = os.path.join(directory, QUARANTINE_SUBDIR)
    try:
        os.makedirs(target_dir, mode=0o755, exist_ok=True)
    except OSError:
        target_dir = directory
    target = os.path.join(target_dir, name + QUARANTINE_SUFFIX)
    if os.path.lexists(target):  # the same name failed before: keep both
        target = os.path.join(target_dir, f"{name}.{int(now)}{QUARANTINE_SUFFIX}")
    os.rename(os.path.join(directory, name), target)
    reason = {"name": name, "problems": problems, "quarantined_at": _iso(now), "from": directory}
    try:
        with open(target[: -len(QUARANTINE_SUFFIX)] + ".reason.json", "w", encoding="utf-8") as handle:
            json.dump(reason, handle, indent=2)
    except OSError:
        pass
    return target


def _append_record(directory: str, name: str, size: int, mtime_ns: int) -> None:
    line = f"{name}\t{size}\t{mtime_ns}\n".encode()
    fd = os.open(os.path.join(directory, RECORD_NAME), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW,
                 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def compact_record(directory: str) -> None:
    """Rewrite the record with only the plots still in the dir (temp name, then rename)."""
    record = load_record(directory)
    try:
        present = {name for name in os.listdir(directory) if is_finished_plot_name(name)}
    except OSError:
        return
    kept = {name: value for name, value in record.items() if name in present}
    if len(kept) == len(record):
        return
    temp = os.path.join(directory, RECORD_NAME + ".tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.writelines(f"{name}\t{size}\t{mtime}\n" for name, (size, mtime) in sorted(kept.items()))
    os.rename(temp, os.path.join(directory, RECORD_NAME))


ChiaCheck = Callable[[str, VerifySettings], list[str]]


def chia_check_applies(name: str) -> bool:
    """chia 2.7.5 proves v1 plots of any k and v2 plots with the k28 parameters only."""
    parsed = parse_plot_name(name)
    return parsed is not None and (parsed.kind.format == V1 or parsed.kind.k == V2_MAINNET_K)


_FOUND_VALID = re.compile(r"Found (\d+) valid plots")
_INVALID = re.compile(r"(\d+) invalid plots found")


def run_chia_check(path: str, settings: VerifySettings) -> list[str]:
    """``chia plots check -g <path> -n N``; [] when it proved the plot, else what went wrong.

    chia checks the plots in its config's plot directories whose path contains the -g string, so
    the plot's dir must be one of them (the harvester role adds every archive dir)."""
    argv = [str(settings.chia_bin), "plots", "check", "-g", path, "-n", str(settings.chia_check_challenges)]
    env = dict(os.environ, CHIA_ROOT=str(settings.chia_root))
    try:
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return [f"chia plots check did not run: {err}"]
    output = proc.stdout + proc.stderr
    valid = _FOUND_VALID.search(output)
    invalid = _INVALID.search(output)
    if proc.returncode == 0 and valid and int(valid.group(1)) >= 1 and not invalid:
        return []
    proofs = re.findall(r"Proofs \d+ / \d+", output)
    detail = proofs[-1] if proofs else (output.strip().splitlines() or ["no output"])[-1]
    return [f"chia plots check -n {settings.chia_check_challenges} failed (rc {proc.returncode}): {detail}"]


def verify_dir(directory: str, settings: VerifySettings, check_mode: bool = False,
               chia_check: ChiaCheck = run_chia_check, now: Callable[[], float] = time.time) -> list[Verdict]:
    """Verify every plot in the dir not yet verified; quarantine the failing ones (not in check mode).

    One run per dir at a time (a lock file in the dir): the hook and the module may meet."""
    if check_mode:
        return _verify_pending(directory, settings, True, chia_check, now)
    with HostLock(os.path.join(directory, LOCK_NAME)):
        return _verify_pending(directory, settings, False, chia_check, now)


def _verify_pending(directory: str, settings: VerifySettings, check_mode: bool, chia_check: ChiaCheck,
                    now: Callable[[], float]) -> list[Verdict]:
    verdicts = []
    for name, size, _mtime in pending_plots(directory, load_record(directory)):
        if parse_plot_name(name) is None:
            continue  # not a name plotfleet sends: an operator's file, never ours to judge or move
        path = os.path.join(directory, name)
        verdict = Verdict(directory, name, size, ["header"])
        try:
            size, head, mtime_ns = read_head(path)
        except OSError as err:
            if not os.path.lexists(path):
                continue  # gone since we listed it (replaced, removed by hand)
            verdict.problems.append(f"cannot read it: {err.strerror or err}")
            head, mtime_ns = b"", 0
        verdict.size_bytes = size
        if not verdict.problems:
            verdict.problems.extend(structural_problems(name, size, head))
        if not verdict.problems and settings.chia_check_challenges and chia_check_applies(name):
            verdict.checks.append("chia")
            verdict.problems.extend(chia_check(path, settings))
        if not check_mode:
            if verdict.problems:
                verdict.quarantined_to = quarantine(directory, name, verdict.problems, now())
            else:
                _append_record(directory, name, size, mtime_ns)
        verdicts.append(verdict)
    return verdicts


def log_verdicts(verdicts: list[Verdict], log_file: str | None, now: float, source: str) -> None:
    """One line per verdict in the harvester's verify log (best effort: a full /var/log never stops
    a verification)."""
    if not log_file or not verdicts:
        return
    stamp = _iso(now)
    lines = []
    for item in verdicts:
        if item.passed:
            status = "ok"
            if item.farmed is not None:
                status += ", farmed" if item.farmed else f", NOT farmed: {item.harvester_error}"
        else:
            status = f"QUARANTINED to {item.quarantined_to}: {'; '.join(item.problems)}"
        lines.append(f"{stamp} {source} {os.path.join(item.dir, item.name)} {item.size_bytes} bytes "
                     f"[{','.join(item.checks)}]: {status}\n")
    try:
        os.makedirs(os.path.dirname(log_file), exist_ok=True)
        with open(log_file, "a", encoding="utf-8") as handle:
            handle.writelines(lines)
    except OSError:
        pass


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(timestamp))


def confirm_farmed(verdicts: list[Verdict], settings: VerifySettings) -> None:
    """Ask the local chia harvester (when there is one) to load the plots that passed; record on each
    verdict whether it did and, when not, why."""
    harvester = settings.harvester
    passed = [item for item in verdicts if item.passed]
    if harvester is None or not passed:
        return
    # The chia harvester names plots by their resolved paths.
    paths = {os.path.realpath(os.path.join(item.dir, item.name)): item for item in passed}
    # Imported here: its HTTP and TLS modules are a good part of every space_info run's start otherwise.
    from ansible_collections.plotfleet.fleet.plugins.module_utils.chiarpc import RpcError, confirm_loaded

    try:
        answers = confirm_loaded(harvester.root, harvester.rpc_port, paths, harvester.confirm_seconds,
                                 host=harvester.host)
    except RpcError as err:
        for item in passed:
            item.farmed, item.harvester_error = False, str(err)
        return
    for path, (farmed, why) in answers.items():
        paths[path].farmed, paths[path].harvester_error = farmed, why
