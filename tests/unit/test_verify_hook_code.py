"""The rsync post-xfer hook runs from a copy of only the host code it imports (plotfleet_host_code,
module_utils/hostcode.py): the copy must be complete, root's alone, and rewritten only where it differs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostcode import (
    PACKAGE,
    HostCodeError,
    install,
    sources,
)

ROOT = Path(__file__).resolve().parents[2]
HOST_CODE = ROOT / "ansible_collections/plotfleet/fleet/plugins/module_utils"


def package_dir(dest: Path) -> Path:
    return dest.joinpath(*PACKAGE.split("."))


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    tmp_path.chmod(0o755)
    return tmp_path / "lib"


def test_the_copy_holds_the_hook_and_what_it_imports_as_the_collection_has_them():
    files = sources("verifyhook")
    assert {"__init__.py", "verifyhook.py", "plotcheck.py", "plotfiles.py"} <= set(files)
    assert "jobs.py" not in files and "scheduler.py" not in files  # plotters' code the hook never imports
    assert all(data == (HOST_CODE / rel).read_bytes() for rel, data in files.items())


def test_the_hook_imports_from_that_copy_alone(dest):
    install(str(dest), sources("verifyhook"))
    proc = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(dest)!r}); "
                           f"import {PACKAGE}.verifyhook as hook; print(hook.__file__)"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(dest))


def test_a_second_install_changes_nothing_and_a_changed_file_is_rewritten(dest):
    files = sources("verifyhook")
    written, removed = install(str(dest), files)
    assert len([p for p in written if p.endswith(".py")]) == len(files) and removed == []
    assert install(str(dest), files) == ([], [])
    hook = package_dir(dest) / "verifyhook.py"
    hook.write_text("raise SystemExit('planted')\n")
    hook.chmod(0o666)
    assert install(str(dest), files) == ([str(hook)], [])
    assert hook.read_bytes() == files["verifyhook.py"]
    assert hook.stat().st_mode & 0o777 == 0o644


def test_files_no_longer_in_the_code_go_and_loose_dirs_are_tightened(dest):
    files = sources("verifyhook")
    install(str(dest), files)
    stale = package_dir(dest) / "old_module.py"
    stale.write_text("x = 1\n")
    notes = package_dir(dest) / "README.txt"  # not code: left alone
    notes.write_text("kept\n")
    package_dir(dest).chmod(0o777)
    written, removed = install(str(dest), files)
    assert written == [f"{package_dir(dest)}/"] and removed == [str(stale)]
    assert not stale.exists() and notes.exists()
    assert package_dir(dest).stat().st_mode & 0o777 == 0o755


def test_check_mode_says_what_it_would_do_and_does_nothing(dest):
    files = sources("verifyhook")
    written, removed = install(str(dest), files, check=True)
    assert f"{dest}/" in written and str(package_dir(dest) / "verifyhook.py") in written and removed == []
    assert not dest.exists()


def test_a_dest_below_a_dir_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # no sticky bit: anyone could rename our dir away and put theirs there
    with pytest.raises(HostCodeError, match=f"{shared} .*writable by other users"):
        install(str(shared / "lib"), sources("verifyhook"))
    assert not (shared / "lib").exists()


def test_a_relative_dest_is_refused():
    with pytest.raises(HostCodeError, match="absolute path"):
        install("lib", {"__init__.py": b""})

