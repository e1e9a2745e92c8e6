"""The rsync post-xfer hook runs from a copy of only the host code it imports (roles/harvester's
__harvester_hook_code): that list must hold every module verifyhook imports, directly or not."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HOST_CODE = ROOT / "ansible_collections/plotfleet/fleet/plugins/module_utils"
PACKAGE = "ansible_collections.plotfleet.fleet.plugins.module_utils."


def imported_closure(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((HOST_CODE / name).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
                todo.append(node.module[len(PACKAGE):].replace(".", "/") + ".py")
    return seen


def test_the_role_copies_every_module_the_hook_imports():
    listed = set(yaml.safe_load((ROOT / "roles/harvester/vars/main.yml").read_text())["__harvester_hook_code"])
    assert imported_closure("verifyhook.py") | {"__init__.py"} <= listed


def test_the_hook_imports_from_that_copy_alone(tmp_path):
    listed = yaml.safe_load((ROOT / "roles/harvester/vars/main.yml").read_text())["__harvester_hook_code"]
    target = tmp_path / PACKAGE.rstrip(".").replace(".", "/")
    target.mkdir(parents=True)
    for name in listed:
        (target / name).write_bytes((HOST_CODE / name).read_bytes())
    proc = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
                           f"import {PACKAGE}verifyhook"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
