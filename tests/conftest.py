"""Shared test settings.

The project's Python lives in the plotfleet.fleet collection under ``ansible_collections/``;
pytest puts the project root on ``sys.path`` (``pythonpath`` in pyproject.toml), so tests import
host code as ``ansible_collections.plotfleet.fleet.plugins.module_utils.*`` and controller code as
``...plugins.plugin_utils.*``, exactly as Ansible does.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
