"""Real Chia plot jobs and real Ansible runs on localhost, for the integration tests.

Jobs are started with the real ``chia`` CLI from the test virtualenv (.venv-chia, built by
``scripts/setup --chia``) and tracked by the PID we got from Popen; every one still alive is
killed at the end of its test, and its files live in the test's tmp dir.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
CHIA_VENV = ROOT / ".venv-chia"
CHIA = CHIA_VENV / "bin" / "chia"
# Throwaway keys: plots made with them are real but farm for nobody.
FARMER_PK = "aefe1789d6476f60439e1168f588ea16652dc321279f05a805fbc63933e88ae9c175d6c6ab182e54af562e1a0dce41bb"
POOL_PK = "b6144137baa6440c17386d1a407fb3670d3b3627b4fa8bf4b56433f861eaba4e076cefac1d9365de56a0e5d976ad7354"


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    """Poll until condition() is truthy; fail naming what we waited for."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def chia_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CHIA.exists():
        pytest.fail(f"{CHIA} is missing: run scripts/setup --chia")
    root = tmp_path_factory.mktemp("chia-root")
    subprocess.run([str(CHIA), "init"], env={**os.environ, "CHIA_ROOT": str(root)}, check=True,
                   capture_output=True, timeout=120)
    return root


@dataclass
class PlotDirs:
    base: Path
    tmp: list[Path]
    dst: list[Path]
    logs: Path
    config: Path
    chia_root: Path
    config_data: dict = field(default_factory=dict)

    def write_config(self, **sections: dict) -> Path:
        """Write the plotfleet config, deep-merging the given sections over the defaults."""
        data = default_config(self)
        for name, values in sections.items():
            if isinstance(values, dict) and isinstance(data.get(name), dict):
                data[name] = {**data[name], **values}
            else:
                data[name] = values
        self.config_data = data
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.config


def default_config(dirs: PlotDirs) -> dict:
    return {
        "logging": {"plots": str(dirs.logs), "transfers": str(dirs.base / "transfers")},
        "directories": {"tmp": [str(t) for t in dirs.tmp], "dst": [str(d) for d in dirs.dst]},
        "scheduling": {
            "tmpdir_stagger_phase_major": 2, "tmpdir_stagger_phase_minor": 1, "tmpdir_stagger_phase_limit": 1,
            "tmpdir_max_jobs": 3, "global_max_jobs": 12, "global_stagger_m": 0,
        },
        "plotting": {
            "type": "chia", "farmer_pk": FARMER_PK, "pool_pk": POOL_PK,
            "env": {"CHIA_ROOT": str(dirs.chia_root)},
            "chia": {"executable": str(CHIA), "k": 25, "override_k": True, "n_threads": 1, "n_buckets": 128,
                     "job_buffer": 512},
        },
    }


@pytest.fixture
def plot_dirs(tmp_path: Path, chia_root: Path) -> PlotDirs:
    tmp = [tmp_path / "tmp0", tmp_path / "tmp1"]
    dst = [tmp_path / "dst0"]
    logs = tmp_path / "logs"
    for path in [*tmp, *dst, logs, tmp_path / "transfers"]:
        path.mkdir()
    dirs = PlotDirs(tmp_path, tmp, dst, logs, tmp_path / "plotfleet.yml", chia_root)
    dirs.write_config()
    return dirs


@dataclass
class StartedJob:
    proc: subprocess.Popen
    log: Path | None
    tmp: Path
    dst: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


class JobStarter:
    """Starts real chia plot jobs and kills every one of them at teardown, by the PID we got."""

    def __init__(self, chia_root: Path) -> None:
        self.chia_root = chia_root
        self.started: list[StartedJob] = []

    def start(self, tmp: Path, dst: Path, log: Path | None, *, prefix: Sequence[str] = (),
              cwd: Path | None = None, tmp_arg: str | None = None, dst_arg: str | None = None,
              extra: Sequence[str] = ()) -> StartedJob:
        argv = [*prefix, str(CHIA), "plots", "create", "-k", "25", "--override-k", "-r", "1", "-b", "512",
                "-f", FARMER_PK, "-p", POOL_PK, "-t", tmp_arg or str(tmp), "-d", dst_arg or str(dst), "-x", *extra]
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=cwd, env={**os.environ, "CHIA_ROOT": str(self.chia_root)},
                                    start_new_session=True)
        finally:
            if log:
                out.close()
        job = StartedJob(proc, log, tmp, dst)
        self.started.append(job)
        return job

    def stop_all(self) -> None:
        for job in self.started:
            if job.proc.poll() is None:
                os.kill(job.proc.pid, signal.SIGCONT)
                job.proc.kill()
            job.proc.wait(timeout=30)


@pytest.fixture
def jobs(chia_root: Path) -> Iterator[JobStarter]:
    starter = JobStarter(chia_root)
    yield starter
    starter.stop_all()


def ansible_env() -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
    }


def run_module(module: str, args: dict | None = None, check: bool = False, diff: bool = False) -> dict:
    """Run a plotfleet module on localhost through the real `ansible` CLI; return its result."""
    cmd = [str(VENV_BIN / "ansible"), "localhost", "-m", module, "-a", json.dumps(args or {})]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=180,
                          check=False)
    # The ad-hoc callback prints "localhost | STATUS => {json}".
    marker = proc.stdout.find(" => {")
    try:
        result = json.loads(proc.stdout[marker + 4:]) if marker >= 0 else {}
        header = proc.stdout[:marker].rsplit("\n", 1)[-1]
        result.setdefault("failed", "FAILED" in header or "UNREACHABLE" in header)
        return result
    except json.JSONDecodeError:
        pytest.fail(f"ansible printed no JSON result (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def run_playbook(playbook: str, extra_vars: dict | None = None, *, check: bool = False,
                 inventory: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [str(VENV_BIN / "ansible-playbook"), str(ROOT / "playbooks" / playbook)]
    if inventory:
        cmd += ["-i", inventory]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    run_env = {**ansible_env(), **(env or {})}
    return subprocess.run(cmd, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=600, check=False)


def log_phase(path: Path) -> tuple[int, int]:
    """The phase a log shows now, through the same parser the modules use."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import parse_log_file

    phase = parse_log_file(str(path)).phase
    return (phase.major, phase.minor)
