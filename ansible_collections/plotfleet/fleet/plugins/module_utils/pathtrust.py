"""Whether code kept below a path could be changed by another user.

Root must not run code (plotfleet's host code copy, compiled bytecode) from a dir that another user
could replace: every existing dir from the path's parent up to ``/`` must belong to root or to the
user running, and must not be writable by group or others unless it has the sticky bit (then
others may add entries but not rename or remove ours).
"""

from __future__ import annotations

import os
import stat


def untrusted_ancestor(path: str) -> str | None:
    """The first existing parent of ``path`` that another user could change, or None if there is none."""
    current = os.path.dirname(os.path.abspath(path))
    while True:
        try:
            info = os.stat(current)
        except OSError:
            info = None
        if info is not None:
            foreign_owner = info.st_uid not in (0, os.geteuid())
            others_write = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX
            if foreign_owner or others_write:
                return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
