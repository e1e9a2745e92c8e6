"""Operator pauses of a plotter's automatic work: a flag file per kind beside the plotter config.

``<config dir>/paused-plotting`` stops plotfleet_plot from starting jobs; ``paused-archiving``
stops plotfleet_archive from starting transfers. Jobs and transfers already running go on. The
flag is a small JSON document (when, by whom) written to a temp name in the same dir and renamed,
so a pass never reads half a flag; it lives beside ``/etc/plotfleet/plotfleet.yml`` so that it
survives a reboot, as an operator's decision should. Removing the file resumes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time

KINDS = ("plotting", "archiving")


def flag_path(config_path: str, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"pause kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), f"paused-{kind}")


def read_pause(config_path: str, kind: str) -> dict | None:
    """The flag's content ({since, by, path}) when ``kind`` is paused, else None."""
    path = flag_path(config_path, kind)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError as err:  # unreadable: paused all the same, the file is there
        return {"since": None, "by": None, "path": path, "error": err.strerror or str(err)}
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        data = {}  # a flag written by hand (touch, echo): its existence is what counts
    if not isinstance(data, dict):
        data = {}
    return {"since": data.get("since"), "by": data.get("by"), "path": path}


def pauses(config_path: str) -> dict:
    """kind -> the flag or None, for every kind."""
    return {kind: read_pause(config_path, kind) for kind in KINDS}


def set_pause(config_path: str, kind: str, paused: bool, by: str | None = None) -> bool:
    """Pauses or resumes ``kind``; returns whether anything changed."""
    path = flag_path(config_path, kind)
    if not paused:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True
    if os.path.exists(path):
        return False
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(prefix=f".paused-{kind}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"since": time.time(), "by": by}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.rename(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return True


def pause_reason(flag: dict, kind: str) -> str:
    """The line a pass gives for doing nothing: ``plotting paused by alice at 2026-...``."""
    who = f" by {flag['by']}" if flag.get("by") else ""
    when = ""
    if flag.get("since"):
        when = " since " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(flag["since"]))
    return f"{kind} paused{who}{when} ({flag['path']}; resume with scripts/watch or rm)"
