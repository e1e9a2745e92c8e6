"""Code shipped to hosts keeps to the oldest Python that ansible-core 2.19 supports on targets (3.9).

scripts/test runs vermin over the same files; this test catches what vermin does not (unions in
isinstance are valid 3.9 syntax that fails only when it runs) and keeps the check in the unit run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST_CODE = sorted(
    [*(ROOT / "ansible_collections/plotfleet/fleet/plugins/module_utils").rglob("*.py"),
     *(ROOT / "library").glob("*.py")]
)
OLDEST = (3, 9)
# Keyword arguments added after 3.9 to calls that host code may make.
NEWER_KEYWORDS = {"zip": {"strict"}, "dataclass": {"slots", "kw_only", "match_args"}}


def problems_in(source: str) -> list[str]:
    tree = ast.parse(source, feature_version=OLDEST)  # syntax: match, except*, parenthesised with ...
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name in ("isinstance", "issubclass") and len(node.args) == 2 and isinstance(node.args[1], ast.BinOp):
            found.append(f"line {node.lineno}: {name}() with an X | Y union needs Python 3.10; use a tuple")
        for keyword in node.keywords:
            if keyword.arg in NEWER_KEYWORDS.get(name, ()):
                found.append(f"line {node.lineno}: {name}({keyword.arg}=...) needs Python 3.10")
    return found


@pytest.mark.parametrize("path", HOST_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_host_code_runs_on_the_oldest_target_python(path: Path) -> None:
    assert problems_in(path.read_text()) == []


def test_the_check_finds_what_breaks_python_3_9() -> None:
    source = "x = isinstance(1, int | float)\nzip([], [], strict=True)\n@dataclass(slots=True)\nclass A: pass\n"
    assert len(problems_in(source)) == 3
    with pytest.raises(SyntaxError):
        problems_in("match x:\n    case 1:\n        pass\n")


@pytest.mark.parametrize("path", HOST_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_host_code_never_imports_controller_code(path: Path) -> None:
    """What is shipped to hosts must be complete without the controller-only plugin_utils."""
    imports = [node for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = [getattr(node, "module", None) or "" for node in imports]
    names += [alias.name for node in imports for alias in node.names]
    assert not [name for name in names if "plugin_utils" in name]
