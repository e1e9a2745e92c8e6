"""The host code's bytecode cache (module_utils/bytecode_cache.py), run as Ansible runs a module.

Each test builds a zip laid out as an AnsiballZ payload (plotfleet's real bytecode_cache.py and
pathtrust.py, plus a small module of its own) and imports from it in a fresh Python, with the
cache dir given by PLOTFLEET_BYTECODE_CACHE.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "ansible_collections.plotfleet.fleet.plugins.module_utils"
SOURCE_DIR = ROOT / Path(*PACKAGE.split("."))
SAMPLE = "def answer():\n    return 'from source'\n"
TAG = sys.implementation.cache_tag
HEADER_SIZE = len(importlib.util.MAGIC_NUMBER) + 32  # the magic number, then the source's SHA-256
IMPORT = f"from {PACKAGE} import bytecode_cache; from {PACKAGE}.sample import answer; print(answer())"


def build_zip(path: Path, sample: str = SAMPLE) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        parts = PACKAGE.split(".")
        for depth in range(1, len(parts) + 1):
            archive.writestr("/".join(parts[:depth]) + "/__init__.py", "")
        for name in ("bytecode_cache.py", "pathtrust.py"):
            archive.writestr(f"{'/'.join(parts)}/{name}", (SOURCE_DIR / name).read_text())
        archive.writestr(f"{'/'.join(parts)}/sample.py", sample)
    return path


def run_from(location: Path, cache: Path | str, code: str = IMPORT) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PLOTFLEET_BYTECODE_CACHE"] = str(cache)
    return subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(location)!r}); {code}"],
                          capture_output=True, text=True, env=env, timeout=60)


def cached_file(cache: Path, module: str = "sample") -> Path:
    return cache / f"{PACKAGE}.{module}.{TAG}.pyc"


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    return build_zip(tmp_path / "payload.zip")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "private" / "bytecode"


def test_a_run_from_a_zip_keeps_the_compiled_code_only_its_user_can_change(payload: Path, cache: Path) -> None:
    result = run_from(payload, cache)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "from source"
    stored = cached_file(cache)
    assert stored.is_file(), sorted(os.listdir(cache))
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert not cached_file(cache, "bytecode_cache").exists()  # imported before the finder was in place
    assert [name for name in os.listdir(cache) if name.startswith(".tmp-")] == []


def swap_code(stored: Path, source: str) -> None:
    """Keep the stored file's header (magic number, SHA-256 of the source) and put other code after it."""
    header = stored.read_bytes()[:HEADER_SIZE]
    stored.write_bytes(header + marshal.dumps(compile(source, "sample.py", "exec", dont_inherit=True)))


def test_the_next_run_uses_the_stored_code(payload: Path, cache: Path) -> None:
    assert run_from(payload, cache).returncode == 0
    swap_code(cached_file(cache), "def answer():\n    return 'from the cache'\n")

    result = run_from(payload, cache)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "from the cache"


def test_changed_source_is_compiled_again(tmp_path: Path, cache: Path) -> None:
    assert run_from(build_zip(tmp_path / "old.zip"), cache).returncode == 0
    changed = build_zip(tmp_path / "new.zip", sample="def answer():\n    return 'new source'\n")

    result = run_from(changed, cache)

    assert result.stdout.strip() == "new source", result.stderr
    assert run_from(changed, cache).stdout.strip() == "new source"


def test_a_traceback_names_this_runs_file(tmp_path: Path, cache: Path) -> None:
    failing = "def answer():\n    raise RuntimeError('boom')\n"
    first = build_zip(tmp_path / "first.zip", sample=failing)
    assert "first.zip" in run_from(first, cache).stderr
    second = build_zip(tmp_path / "second.zip", sample=failing)

    result = run_from(second, cache)

    assert "RuntimeError: boom" in result.stderr
    assert "second.zip" in result.stderr and "first.zip" not in result.stderr, result.stderr


@pytest.mark.parametrize("setting", ["off", ""])
def test_the_cache_can_be_turned_off(payload: Path, tmp_path: Path, setting: str) -> None:
    result = run_from(payload, setting)

    assert result.stdout.strip() == "from source", result.stderr
    assert not (tmp_path / "off").exists()


def test_a_dir_others_can_write_is_not_used(payload: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # no sticky bit: anyone could swap the cache dir for theirs
    cache = shared / "bytecode"

    result = run_from(payload, cache)

    assert result.stdout.strip() == "from source", result.stderr
    assert not cache.exists()


def test_a_cache_dir_group_can_write_is_not_used(payload: Path, cache: Path) -> None:
    cache.mkdir(parents=True)
    cache.chmod(0o770)

    result = run_from(payload, cache)

    assert result.stdout.strip() == "from source", result.stderr
    assert os.listdir(cache) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_file_of_another_user_is_not_loaded(payload: Path, cache: Path) -> None:
    assert run_from(payload, cache).returncode == 0
    stored = cached_file(cache)
    swap_code(stored, "def answer():\n    return 'planted'\n")
    os.chown(stored, 65534, 65534)

    result = run_from(payload, cache)

    assert result.stdout.strip() == "from source", result.stderr


def test_a_file_others_can_write_is_not_loaded(payload: Path, cache: Path) -> None:
    assert run_from(payload, cache).returncode == 0
    stored = cached_file(cache)
    swap_code(stored, "def answer():\n    return 'planted'\n")
    stored.chmod(0o622)

    result = run_from(payload, cache)

    assert result.stdout.strip() == "from source", result.stderr


def test_a_damaged_file_is_compiled_again(payload: Path, cache: Path) -> None:
    assert run_from(payload, cache).returncode == 0
    stored = cached_file(cache)
    stored.write_bytes(stored.read_bytes()[:40])

    result = run_from(payload, cache)

    assert result.stdout.strip() == "from source", result.stderr
    assert len(stored.read_bytes()) > 40  # written again whole


def test_a_cache_that_cannot_be_written_changes_nothing(payload: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")

    result = run_from(payload, blocker / "bytecode")

    assert result.returncode == 0 and result.stdout.strip() == "from source", result.stderr


def test_code_not_imported_from_a_zip_is_left_alone(tmp_path: Path, cache: Path) -> None:
    tree = tmp_path / "tree"
    with zipfile.ZipFile(build_zip(tmp_path / "payload.zip")) as archive:
        archive.extractall(tree)
    code = f"from {PACKAGE} import bytecode_cache; print(bytecode_cache.install()); " + IMPORT.split("; ", 1)[1]

    result = run_from(tree, cache, code)

    assert result.stdout.split() == ["False", "from", "source"], result.stderr
    assert not cache.exists()


def test_every_module_imports_the_cache_before_any_other_host_code() -> None:
    for path in sorted((ROOT / "library").glob("plotfleet_*.py")):
        imports = [line for line in path.read_text().splitlines() if line.startswith(f"from {PACKAGE}")]
        assert imports, path.name
        assert imports[0].startswith(f"from {PACKAGE} import") and "bytecode_cache" in imports[0] + \
            path.read_text().split(imports[0], 1)[1].split(")", 1)[0], f"{path.name}: {imports[0]}"


def test_a_module_is_compiled_once_then_never_again(payload: Path, cache: Path) -> None:
    # Python's audit hook sees every compile(); zipimport alone compiles a module twice per run.
    count = ("compiles = []; sys.addaudithook(lambda event, args: compiles.append(1) if event == 'compile' "
             "and str(args[1]).endswith('sample.py') else None); " + IMPORT + "; print(len(compiles))")

    first, second = run_from(payload, cache, count), run_from(payload, cache, count)
    off = run_from(payload, "off", count)

    assert first.stdout.split() == ["from", "source", "1"], first.stderr
    assert second.stdout.split() == ["from", "source", "0"], second.stderr
    assert off.stdout.split()[-1] == "2", off.stdout  # what the cache saves, per module and run


def test_a_write_removes_the_temp_files_a_killed_run_left_and_keeps_a_fresh_one(tmp_path: Path, cache: Path) -> None:
    assert run_from(build_zip(tmp_path / "old.zip"), cache).returncode == 0
    stale, fresh = cache / ".tmp-killedrun", cache / ".tmp-writingnow"
    stale.write_bytes(b"half a file")
    fresh.write_bytes(b"another run's, still writing")
    os.utime(stale, (0, os.stat(stale).st_mtime - 2 * 3600))

    changed = build_zip(tmp_path / "new.zip", sample="def answer():\n    return 'new source'\n")
    assert run_from(changed, cache).stdout.strip() == "new source"  # compiled and written

    assert not stale.exists() and fresh.exists()
