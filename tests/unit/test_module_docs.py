"""Every module's DOCUMENTATION matches its argument_spec, and ansible-doc renders it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(ROOT.glob("library/plotfleet_*.py"))


class _SpecCaptured(Exception):
    def __init__(self, kwargs):
        self.kwargs = kwargs


class _CapturingModule:
    def __init__(self, **kwargs):
        raise _SpecCaptured(kwargs)


def module_spec(path: Path) -> dict:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.AnsibleModule = _CapturingModule
    with pytest.raises(_SpecCaptured) as captured:
        module.main()
    return {"module": module, **captured.value.kwargs}


def normalise_doc(options: dict) -> dict:
    out = {}
    for name, doc in (options or {}).items():
        out[name] = {
            "type": doc.get("type", "str"),
            "required": doc.get("required", False),
            "default": doc.get("default"),
            "choices": doc.get("choices"),
            "elements": doc.get("elements"),
            "aliases": sorted(doc.get("aliases", [])),
            "suboptions": normalise_doc(doc["suboptions"]) if "suboptions" in doc else None,
        }
    return out


def normalise_spec(spec: dict) -> dict:
    out = {}
    for name, arg in (spec or {}).items():
        out[name] = {
            "type": arg.get("type", "str"),
            "required": arg.get("required", False),
            "default": arg.get("default"),
            "choices": arg.get("choices"),
            "elements": arg.get("elements"),
            "aliases": sorted(arg.get("aliases", [])),
            "suboptions": normalise_spec(arg["options"]) if "options" in arg else None,
        }
    return out


def test_there_are_modules():
    assert len(MODULES) >= 2


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_documentation_matches_argument_spec(path):
    captured = module_spec(path)
    doc = yaml.safe_load(captured["module"].DOCUMENTATION)
    assert doc["module"] == path.stem
    assert normalise_doc(doc.get("options")) == normalise_spec(captured["argument_spec"])
    assert captured.get("supports_check_mode") is True, "every plotfleet module supports check mode"
    assert set(doc["attributes"]) >= {"check_mode", "diff_mode"}
    yaml.safe_load(captured["module"].EXAMPLES)
    returns = yaml.safe_load(captured["module"].RETURN)
    for key, value in returns.items():
        assert "type" in value and "description" in value, f"RETURN.{key} needs type and description"


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_ansible_doc_renders(path):
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    ansible_doc = Path(sys.executable).parent / "ansible-doc"
    result = subprocess.run(
        [str(ansible_doc), "-M", str(ROOT / "library"), path.stem],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert path.stem in result.stdout and "OPTIONS" in result.stdout
