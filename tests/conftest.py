"""Shared test settings.

The project's Python lives in the plotfleet.fleet collection under ``ansible_collections/``. Tests
import it as Ansible does: Ansible's own collection loader is installed once, first, with the
project root as its collections path, so host code imports as
``ansible_collections.plotfleet.fleet.plugins.module_utils.*`` and controller code as
``...plugins.plugin_utils.*`` through one finder for the whole session (code that starts Ansible's
inventory or plugin loader in-process, like the dashboard, then finds it already in place).
"""

from __future__ import annotations

from pathlib import Path

from ansible.plugins.loader import init_plugin_loader

ROOT = Path(__file__).resolve().parent.parent

init_plugin_loader([str(ROOT)])
