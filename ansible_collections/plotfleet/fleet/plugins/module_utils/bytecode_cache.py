"""Compiled plotfleet host code, kept on the host between module runs.

Ansible runs a module from a zip it sends each time (AnsiballZ), and Python keeps no bytecode for
code imported from a zip: every run of a plotfleet module compiled each host code module it
imports, twice even (zipimport compiles a module once to learn its file name, then again to run
it). For plotfleet_jobs_info that was ~85 of the ~115 ms its host code took to import, on every
host and every status, cron or dashboard pass.

Imported first by every plotfleet module, this module puts a finder in front of the import
system for the rest of plotfleet's host code. A module still comes from the zip Ansible sent (read
with zipfile, not zipimport); only its compiled form is kept, in one file per module, and used
again only if it was compiled from exactly the same source (the file starts with Python's magic
number and the SHA-256 of the source) by the same Python (the interpreter's cache tag is in the
file name). Code that is not plotfleet's, and any run not from a zip (tests, the rsync hook's
installed copy), is untouched.

The cache dir is ``/var/cache/plotfleet/bytecode`` when run as root, else
``$XDG_CACHE_HOME/plotfleet/bytecode`` (``~/.cache`` by default); ``PLOTFLEET_BYTECODE_CACHE``
names another dir, or ``off`` (or empty) turns the cache off. Because the code it holds runs as
that user, the dir is used only if it is that user's own, writable by nobody else, below parents
no other user can change; each file only if it is a regular file of that user's, writable by
nobody else. Otherwise, or if anything about the cache fails (a full or read-only disk), the module
compiles from source as before: the cache can make a run faster, never make it fail.
"""

from __future__ import annotations

import _imp  # CPython's import internals: only _fix_co_filename, where there is one
import contextlib
import hashlib
import importlib.machinery
import importlib.util
import marshal
import os
import stat
import sys
import tempfile
import time
import zipfile
import zipimport

from ansible_collections.plotfleet.fleet.plugins.module_utils.pathtrust import untrusted_ancestor

ENVIRONMENT = "PLOTFLEET_BYTECODE_CACHE"
ROOT_DIR = "/var/cache/plotfleet/bytecode"
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def cache_dir(environ=os.environ) -> str | None:
    """Where this process keeps compiled code, or None if the cache is off."""
    if sys.implementation.cache_tag is None:  # a Python that keeps no bytecode at all
        return None
    configured = environ.get(ENVIRONMENT)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off") else configured
    if os.geteuid() == 0:
        return ROOT_DIR
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "plotfleet", "bytecode")


def usable_dir(path: str) -> bool:
    """Create ``path`` (mode 0700) if missing; True if only this user can change it or what it holds."""
    if not os.path.isabs(path) or untrusted_ancestor(path) is not None:
        return False
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & _OTHERS_WRITE


def _header(source: bytes) -> bytes:
    return importlib.util.MAGIC_NUMBER + hashlib.sha256(source).digest()


def _read(path: str, header: bytes):
    """The code stored at ``path`` if it is ours, trusted, and was compiled from the source ``header`` hashes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & _OTHERS_WRITE:
            return None
        data = handle.read()
    if not data.startswith(header):
        return None
    try:
        return marshal.loads(data[len(header):])
    except (EOFError, ValueError, TypeError):
        return None


_TEMP_PREFIX = ".tmp-"
# A temp file older than this is a write that never finished (its process was killed in between).
_STALE_TEMP_SECONDS = 3600


def _write(path: str, data: bytes) -> None:
    """Replace ``path`` by ``data`` at once (a temp file, then a rename); a failure leaves no trace.
    Temp files that a killed run left behind are removed after a write."""
    directory = os.path.dirname(path)
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=_TEMP_PREFIX)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        return
    _remove_stale_temps(directory)


def _remove_stale_temps(directory: str) -> None:
    """Remove this user's temp files in the cache dir older than an hour (another run's that is
    still writing is seconds old). Writes happen only when code changed, so this listing is rare."""
    try:
        with os.scandir(directory) as entries:
            stale = [entry.path for entry in entries if entry.name.startswith(_TEMP_PREFIX)
                     and _is_stale(entry)]
    except OSError:
        return
    for temp in stale:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _is_stale(entry: os.DirEntry) -> bool:
    try:
        status = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    return status.st_uid == os.geteuid() and time.time() - status.st_mtime > _STALE_TEMP_SECONDS


def compiled(directory: str, fullname: str, source: bytes, filename: str):
    """The code object of module ``fullname``: from the cache when it holds this source's, else
    compiled and stored."""
    path = os.path.join(directory, f"{fullname}.{sys.implementation.cache_tag}.pyc")
    header = _header(source)
    code = _read(path, header)
    if code is not None:
        fix_filename = getattr(_imp, "_fix_co_filename", None)
        if fix_filename is not None:
            fix_filename(code, filename)  # tracebacks name this run's file, as importlib does for a .pyc
        return code
    code = compile(source, filename, "exec", dont_inherit=True)
    if not sys.dont_write_bytecode:
        _write(path, header + marshal.dumps(code))
    return code


class _Payload:
    """The zip a module runs from: its file names, read once, and its files' bytes."""

    def __init__(self, archive: str) -> None:
        self.archive = archive
        self._zip = zipfile.ZipFile(archive)
        self.members = frozenset(self._zip.namelist())

    def read(self, path: str) -> bytes:
        """The bytes of ``path``, a path inside the zip (``<archive>/<member>``)."""
        if not path.startswith(self.archive + "/"):
            raise OSError(f"{path} is not in {self.archive}")
        try:
            return self._zip.read(path[len(self.archive) + 1:])
        except KeyError:
            raise FileNotFoundError(path) from None


class _CachingLoader:
    """Loads one module of the payload, its code through the cache.

    zipimport itself is not used for plotfleet's code: it compiles a module twice before running it
    (``find_spec`` compiles it to learn its file name), which is what the cache is there to avoid.
    """

    def __init__(self, payload: _Payload, origin: str, directory: str) -> None:
        self._payload = payload
        self._origin = origin
        self._directory = directory

    def create_module(self, spec):
        return None

    def get_filename(self, fullname: str) -> str:
        return self._origin

    def get_data(self, path: str) -> bytes:
        return self._payload.read(path)

    def get_source(self, fullname: str) -> str:
        return self._payload.read(self._origin).decode("utf-8")

    def is_package(self, fullname: str) -> bool:
        return self._origin.endswith("/__init__.py")

    def get_code(self, fullname: str):
        return compiled(self._directory, fullname, self._payload.read(self._origin), self._origin)

    def exec_module(self, module) -> None:
        exec(self.get_code(module.__name__), module.__dict__)  # what importlib does with a module's code


class _Finder:
    """Finds plotfleet's host code in the payload, each module with its own ``_CachingLoader``."""

    def __init__(self, package: str, archive: str) -> None:
        self._prefix = package + "."
        self._archive = archive
        self._payload: _Payload | None = None
        self._directory: str | None = None
        self._checked = False

    def _ready(self) -> bool:
        """Whether the cache is usable and the payload readable (found out once)."""
        if not self._checked:
            self._checked = True
            directory = cache_dir()
            if directory is not None and usable_dir(directory):
                try:
                    self._payload = _Payload(self._archive)
                    self._directory = directory
                except (OSError, zipfile.BadZipFile):
                    pass
        return self._directory is not None

    def find_spec(self, fullname: str, path=None, target=None):
        if not fullname.startswith(self._prefix) or not path or not self._ready():
            return None  # the import system's own finders take it, as without the cache
        name = fullname.rpartition(".")[2]
        for entry in path:
            if not isinstance(entry, str) or not entry.startswith(self._archive + "/"):
                continue
            inner = entry[len(self._archive) + 1:]
            for member, package in ((f"{inner}/{name}/__init__.py", True), (f"{inner}/{name}.py", False)):
                if member in self._payload.members:
                    origin = f"{self._archive}/{member}"
                    loader = _CachingLoader(self._payload, origin, self._directory)
                    spec = importlib.machinery.ModuleSpec(fullname, loader, origin=origin, is_package=package)
                    if package:
                        spec.submodule_search_locations = [origin.rpartition("/")[0]]
                    spec.has_location = True
                    return spec
        return None

    def invalidate_caches(self) -> None:
        pass


def install() -> bool:
    """Put the finder in front of the import system if this module runs from a zip; True if it did."""
    if not isinstance(__loader__, zipimport.zipimporter):
        return False
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        # The package from the name: Python 3.9's zipimport runs a module before setting __package__.
        sys.meta_path.insert(0, _Finder(__name__.rpartition(".")[0], __loader__.archive))
    return True


install()
