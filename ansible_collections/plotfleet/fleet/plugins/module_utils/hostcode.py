"""A copy of plotfleet's host code for a program that runs outside Ansible (the harvester's rsync
post-xfer hook), installed in one module run.

``sources(entry)`` is the module ``entry`` of the host code and every host code module it imports,
directly or not, read through the import system: inside a module run that is the AnsiballZ payload
Ansible built from the controller's collection, so the copy is exactly the code this rollout
carries. ``install`` writes them under ``<dest>/ansible_collections/plotfleet/...``: owned by the
user that runs it, writable by that user only, a file written (to a temp file, then renamed) only
where its bytes or mode differ, and ``.py`` files no longer part of the code removed.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import os
import stat
import tempfile

from ansible_collections.plotfleet.fleet.plugins.module_utils.pathtrust import untrusted_ancestor

PACKAGE = "ansible_collections.plotfleet.fleet.plugins.module_utils"
FILE_MODE = 0o644
DIR_MODE = 0o755


class HostCodeError(Exception):
    pass


def _spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _in_package(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _is_package(name: str) -> bool:
    spec = _spec(name)
    return spec is not None and spec.submodule_search_locations is not None


def _relative_path(name: str, spec) -> str:
    parts = name[len(PACKAGE):].lstrip(".").split(".") if name != PACKAGE else []
    if spec.submodule_search_locations is not None:  # a package: its __init__.py
        return "/".join([*parts, "__init__.py"])
    return "/".join([*parts[:-1], parts[-1] + ".py"])


def sources(entry: str) -> dict[str, bytes]:
    """Relative path under the package dir -> source bytes, for ``PACKAGE.entry`` and its imports."""
    found: dict[str, bytes] = {}
    todo = [f"{PACKAGE}.{entry}"]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        spec = _spec(name)
        if spec is None or spec.origin is None or spec.loader is None:
            raise HostCodeError(f"host code module {name} cannot be found")
        data = spec.loader.get_data(spec.origin)
        found[_relative_path(name, spec)] = data
        # Every package between PACKAGE and this module runs its __init__ on import.
        parent = name.rpartition(".")[0]
        while _in_package(parent):
            todo.append(parent)
            parent = parent.rpartition(".")[0]
        for node in ast.walk(ast.parse(data)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and _in_package(node.module or ""):
                todo.append(node.module)
                # ``from PACKAGE import plotcheck`` imports a submodule of a package by name.
                if _is_package(node.module):
                    todo.extend(f"{node.module}.{alias.name}" for alias in node.names
                                if _spec(f"{node.module}.{alias.name}") is not None)
            elif isinstance(node, ast.Import):
                todo.extend(alias.name for alias in node.names if _in_package(alias.name))
    return found


def _check_ancestors(path: str) -> None:
    """Refuse a dest whose existing parents another user could change (replace our dir by theirs)."""
    parent = untrusted_ancestor(path)
    if parent is not None:
        raise HostCodeError(
            f"{parent} (a parent of {path}) is owned by another user or writable by other users: "
            "code run as root must not live below it; choose another dest"
        )


def _ensure_dir(path: str, check: bool, changed: list[str]) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        changed.append(path + "/")
        if not check:
            os.mkdir(path, DIR_MODE)
            os.chmod(path, DIR_MODE)  # whatever the umask
        return
    if not stat.S_ISDIR(info.st_mode):
        raise HostCodeError(f"{path} exists and is not a directory")
    wrong_owner = (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid())
    if wrong_owner or stat.S_IMODE(info.st_mode) != DIR_MODE:
        changed.append(path + "/")
        if not check:
            if wrong_owner:
                os.chown(path, os.geteuid(), os.getegid())
            os.chmod(path, DIR_MODE)


def _same_file(path: str, data: bytes) -> bool:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode) or stat.S_IMODE(info.st_mode) != FILE_MODE:
        return False
    if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()) or info.st_size != len(data):
        return False
    with open(path, "rb") as handle:
        return handle.read() == data


def _write(path: str, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".plotfleet-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), FILE_MODE)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def install(dest: str, files: dict[str, bytes], check: bool = False) -> tuple[list[str], list[str]]:
    """Install ``files`` (from ``sources``) below ``dest``; returns (paths written or fixed, paths removed).
    With ``check`` nothing is changed and the lists say what would be."""
    if not os.path.isabs(dest):
        raise HostCodeError(f"dest must be an absolute path, got {dest!r}")
    _check_ancestors(dest)
    changed: list[str] = []
    base = os.path.join(dest, *PACKAGE.split("."))
    dirs = {dest}
    for rel in files:
        parts = rel.split("/")[:-1]
        dirs.update(os.path.join(base, *parts[:i]) for i in range(len(parts) + 1))
    for i in range(1, len(PACKAGE.split(".")) + 1):
        dirs.add(os.path.join(dest, *PACKAGE.split(".")[:i]))
    for path in sorted(dirs):  # parents sort before their children
        _ensure_dir(path, check, changed)
    for rel, data in sorted(files.items()):
        path = os.path.join(base, rel)
        if not _same_file(path, data):
            changed.append(path)
            if not check:
                _write(path, data)
    removed = []
    wanted = {os.path.join(base, rel) for rel in files}
    for directory in sorted(d for d in dirs if d == base or d.startswith(base + os.sep)):
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:  # check mode: not made yet
            continue
        for entry in entries:
            if entry.name.endswith(".py") and entry.is_file(follow_symlinks=False) and entry.path not in wanted:
                removed.append(entry.path)
                if not check:
                    os.unlink(entry.path)
    return changed, sorted(removed)
