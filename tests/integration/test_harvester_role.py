"""roles/harvester and plotfleet_space_info against a real rsync daemon and real rsync clients.

The role runs on localhost with every path in a temp dir and the daemon on 127.0.0.1 at a free
port above 18730; one archive dir is a 4 MiB tmpfs so that "disk full" is real. The daemon is
stopped at the end by the PID its pid file names (it runs in our PID namespace, and is checked
to be the rsync started with our config before it is signalled).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VENV_BIN, ansible_env, wait_for

PASSWORD = "correct horse battery"
PLOT = f"plot-k25-2024-05-01-10-11-{'ab' * 32}.plot"


@dataclass
class Harvester:
    base: Path
    port: int
    vars: dict
    tmpfs: bool

    @property
    def big(self) -> Path:
        return self.base / "archive" / "hdd01"

    @property
    def small(self) -> Path:
        return self.base / "archive" / "tiny"

    @property
    def pid_file(self) -> Path:
        return Path(self.vars["harvester_rsync_pid_file"])

    @property
    def conf(self) -> Path:
        return Path(self.vars["harvester_rsyncd_conf"])

    def url(self, module: str, user: str = "plotfleet") -> str:
        return f"rsync://{user}@127.0.0.1:{self.port}/{module}/"

    def daemon_pid(self) -> int | None:
        """The pid of the daemon the role started, if the pid file names our live rsync."""
        try:
            pid = int(self.pid_file.read_text().strip())
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        return pid if f"--config={self.conf}".encode() in argv else None

    def wait_idle(self) -> None:
        """Wait until the daemon serves no connection: a finished client's daemon child lingers a
        moment and still holds the module's one "max connections" slot."""
        pid = self.daemon_pid()
        if pid is not None:
            wait_for(lambda: not _children(pid), 30, f"rsync daemon {pid} to finish its connections")

    def run_role(self, *args: str, **overrides) -> subprocess.CompletedProcess:
        varfile = self.base / "vars.yml"
        varfile.write_text(yaml.safe_dump({**self.vars, **overrides}))
        cmd = [str(VENV_BIN / "ansible-playbook"), str(self.base / "site.yml"), "-e", f"@{varfile}", *args]
        env = {**ansible_env(), "ANSIBLE_STDOUT_CALLBACK": "default"}
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, f"role run failed:\n{proc.stdout}\n{proc.stderr}"
        return proc


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited while we looked
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def recap(proc: subprocess.CompletedProcess) -> dict[str, int]:
    line = re.search(r"^localhost\s+:\s+(.*)$", proc.stdout, re.MULTILINE).group(1)
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}


def free_port(start: int = 18730) -> int:
    for port in range(start, start + 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18730-18929")


def push(harvester: Harvester, source: Path, module: str, password: str = PASSWORD,
         *extra: str) -> subprocess.CompletedProcess:
    password_file = harvester.base / f"password-{hashlib.sha1(password.encode()).hexdigest()[:8]}"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    cmd = ["rsync", "-t", f"--password-file={password_file}", *extra, str(source), harvester.url(module)]
    harvester.wait_idle()
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def space(harvester: Harvester) -> dict:
    """plotfleet_space_info's result on localhost, through a real ansible-playbook run."""
    out = harvester.base / "space.json"
    play = harvester.base / "space.yml"
    play.write_text(yaml.safe_dump([{
        "name": "Read the archive space", "hosts": "localhost", "gather_facts": False,
        "tasks": [
            {"name": "Read", "plotfleet_space_info": {"config": harvester.vars["harvester_space_config"]},
             "register": "space"},
            {"name": "Save", "ansible.builtin.copy": {"content": "{{ space | to_json }}", "dest": str(out)}},
        ],
    }]))
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), str(play)], cwd=ROOT, env=ansible_env() | {
        "ANSIBLE_STDOUT_CALLBACK": "default"}, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def by_path(result: dict, path: Path) -> dict:
    return next(item for item in result["archive_dirs"] if item["path"] == str(path))


@pytest.fixture(scope="module")
def harvester(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harvester]:
    base = tmp_path_factory.mktemp("harvester")
    etc = base / "etc"
    (base / "archive").mkdir()
    small = base / "archive" / "tiny"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4M", "tmpfs", str(small)],
                             capture_output=True, check=False).returncode == 0
    port = free_port()
    (base / "site.yml").write_text(yaml.safe_dump([{
        "name": "Harvester", "hosts": "harvesters", "gather_facts": False, "roles": [{"role": "harvester"}],
    }]))
    variables = {
        "harvester_config_dir": str(etc),
        "harvester_rsyncd_conf": str(etc / "rsyncd.conf"),
        "harvester_rsyncd_modules_conf": str(etc / "rsyncd.modules.conf"),
        "harvester_rsync_secrets_file": str(etc / "rsyncd.secrets"),
        "harvester_space_config": str(etc / "harvester.yml"),
        "harvester_run_dir": str(base / "run"),
        "harvester_rsync_pid_file": str(base / "run" / "rsyncd.pid"),
        "harvester_rsync_log_file": str(base / "log" / "rsyncd.log"),
        "harvester_rsync_port": port,
        "harvester_rsync_address": "127.0.0.1",
        "harvester_rsync_password": PASSWORD,
        "harvester_rsync_service_manager": "standalone",
        "harvester_archive_dirs": [{"path": str(base / "archive" / "hdd01")}, {"path": str(small), "module": "tiny"}],
        # Test dirs, not disks: the role may create them, and they need not be mount points.
        "harvester_create_archive_dirs": True,
        "harvester_archive_dirs_mount": False,
        # These tests push random bytes under plot names; verification on landing (which would
        # quarantine them) has its own tests with real plots: test_plot_verify.py.
        "harvester_verify_enabled": False,
    }
    box = Harvester(base, port, variables, mounted)
    try:
        yield box
    finally:
        stop_daemon(box)
        if mounted:
            subprocess.run(["umount", str(small)], check=False)


def stop_daemon(harvester: Harvester) -> None:
    pid = harvester.daemon_pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), 30, f"rsync daemon {pid} to exit")


# The tests below run in order on one harvester: the first run starts the daemon.


def test_first_run_starts_the_daemon_and_keeps_the_password_out_of_the_output(harvester):
    proc = harvester.run_role("--diff", "-v")
    assert recap(proc)["changed"] > 0
    assert PASSWORD not in proc.stdout + proc.stderr
    assert wait_for(harvester.daemon_pid, 15, "the rsync daemon's pid file")
    secrets = Path(harvester.vars["harvester_rsync_secrets_file"])
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"
    assert secrets.read_text() == f"plotfleet:{PASSWORD}\n"
    assert harvester.big.is_dir()


def test_second_run_changes_nothing(harvester):
    pid = harvester.daemon_pid()
    assert recap(harvester.run_role())["changed"] == 0
    assert harvester.daemon_pid() == pid


def test_push_with_the_password_arrives_complete(harvester, tmp_path):
    source = tmp_path / PLOT
    source.write_bytes(os.urandom(300_000))
    proc = push(harvester, source, "plots-hdd01")
    assert proc.returncode == 0, proc.stderr
    assert sha256(harvester.big / PLOT) == sha256(source)


def test_wrong_password_is_rejected(harvester, tmp_path):
    source = tmp_path / "other.plot"
    source.write_bytes(b"x" * 1000)
    proc = push(harvester, source, "plots-hdd01", "wrong password")
    assert proc.returncode == 5
    assert "auth failed on module plots-hdd01" in proc.stderr
    assert not (harvester.big / "other.plot").exists()


def test_nobody_lists_modules_or_downloads_plots(harvester, tmp_path):
    listing = subprocess.run(["rsync", f"rsync://127.0.0.1:{harvester.port}/"], capture_output=True, text=True,
                             timeout=60, check=False)
    assert "plots-hdd01" not in listing.stdout and "tiny" not in listing.stdout
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD)
    password_file.chmod(0o600)
    harvester.wait_idle()
    download = subprocess.run(["rsync", f"--password-file={password_file}", harvester.url("plots-hdd01") + PLOT,
                               str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)
    assert download.returncode != 0
    assert "module is write only" in download.stderr
    assert not (tmp_path / PLOT).exists()


def test_space_sees_the_plot_and_a_transfer_in_flight(harvester, tmp_path):
    source = tmp_path / PLOT.replace("k25", "k26")
    source.write_bytes(os.urandom(2 * 1024 * 1024))
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD)
    password_file.chmod(0o600)
    # 16 KiB/s makes the 2 MiB transfer last two minutes: long enough to look at it.
    harvester.wait_idle()
    client = subprocess.Popen(["rsync", "--bwlimit=16", f"--password-file={password_file}", str(source),
                               harvester.url("plots-hdd01")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        temp = wait_for(lambda: next(harvester.big.glob(f".{source.name}.*"), None), 30, "rsync's temp file")
        wait_for(lambda: temp.exists() and temp.stat().st_size > 0, 30, "the first received bytes")
        entry = by_path(space(harvester), harvester.big)
        assert (entry["rsync_module"], entry["plots"], entry["plots_by_k"]) == ("plots-hdd01", 1, {"25": 1})
        assert [(item["name"], item["final_name"], item["kind"], item["k"]) for item in entry["incoming"]] == [
            (temp.name, source.name, "rsync-temp", 26)]
        assert entry["incoming"][0]["size_bytes"] > 0
    finally:
        client.terminate()
        client.wait(timeout=30)
    # An interrupted transfer leaves nothing under the final name, and rsync removes its temp file.
    wait_for(lambda: not temp.exists(), 30, "the daemon to remove the interrupted temp file")
    assert not (harvester.big / source.name).exists()


def test_a_full_disk_refuses_the_plot_without_a_partial_file_under_its_name(harvester, tmp_path):
    if not harvester.tmpfs:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    entry = by_path(space(harvester), harvester.small)
    vfs = os.statvfs(harvester.small)
    assert entry["total_bytes"] == vfs.f_blocks * vfs.f_frsize == 4 * 1024 * 1024
    assert entry["free_bytes"] == vfs.f_bavail * vfs.f_frsize
    assert entry["device"] == os.stat(harvester.small).st_dev != os.stat(harvester.big).st_dev
    source = tmp_path / PLOT
    source.write_bytes(os.urandom(6 * 1024 * 1024))
    proc = push(harvester, source, "tiny")
    assert proc.returncode != 0
    assert "No space left on device" in proc.stderr
    assert not (harvester.small / PLOT).exists()
    wait_for(lambda: not list(harvester.small.iterdir()), 30, "the failed transfer's temp file to go")


def test_module_changes_keep_the_daemon_and_global_changes_restart_it(harvester):
    pid = harvester.daemon_pid()
    dirs = [{**item, "max_connections": 2} for item in harvester.vars["harvester_archive_dirs"]]
    assert recap(harvester.run_role(harvester_archive_dirs=dirs))["changed"] > 0
    assert harvester.daemon_pid() == pid
    assert "max connections = 2" in Path(harvester.vars["harvester_rsyncd_modules_conf"]).read_text()

    new_port = free_port(harvester.port + 1)
    harvester.vars["harvester_archive_dirs"] = dirs
    harvester.vars["harvester_rsync_port"] = new_port
    assert recap(harvester.run_role())["changed"] > 0
    new_pid = wait_for(harvester.daemon_pid, 15, "the restarted daemon's pid file")
    assert new_pid != pid
    assert not Path(f"/proc/{pid}").exists()
    harvester.port = new_port
    with socket.create_connection(("127.0.0.1", new_port), timeout=5):
        pass
    assert recap(harvester.run_role())["changed"] == 0


def test_space_playbook_reports_unreachable_harvesters_and_exits_0(harvester, tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"harvesters": {"hosts": {
        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                      "harvester_space_config": harvester.vars["harvester_space_config"]},
        # Port 1 on loopback: nothing listens there, ssh is refused at once.
        "ghost": {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_ssh_common_args": "-o ConnectTimeout=5"},
    }}, "plotters": {"hosts": {
        "ghostplotter": {"ansible_host": "127.0.0.1", "ansible_port": 1},
    }}}}}))
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / "harvester_space.yml")]
    env = ansible_env()  # the project's stdout callback (plugins/callback/fleet.py)
    table = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert table.returncode == 0, table.stdout + table.stderr
    row = next(line for line in table.stdout.splitlines() if str(harvester.big) in line).split()
    assert (row[2], row[7]) == ("plots-hdd01", "1")  # host dir module free(2) total(2) plots incoming
    # The down host is said once, in the report, without Ansible's "Task failed:" in front.
    assert "ghost: UNREACHABLE: Failed to connect to the host via ssh" in table.stdout, table.stdout
    assert table.stdout.count("port 1: Connection refused") == 1, table.stdout
    # ansible.cfg's YAML result format prints the JSON text as it is (the tests' JSON format escapes it).
    as_json = subprocess.run([*cmd, "-e", "plotfleet_output=json"], cwd=ROOT, capture_output=True, text=True,
                             env={**env, "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml"}, timeout=300, check=False)
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    assert '"rsync_module": "plots-hdd01"' in as_json.stdout, as_json.stdout

    status = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory),
                             str(ROOT / "playbooks" / "status.yml")], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    # Each down host: one line, under HOSTS NOT REPORTING; not per task, not per section.
    down = status.stdout.split("HOSTS NOT REPORTING", 1)[1]
    assert status.stdout.count("port 1: Connection refused") == 2, status.stdout
    assert "plotter ghostplotter: unreachable: Failed to connect" in down, status.stdout
    assert "harvester ghost: unreachable: Failed to connect" in down, status.stdout
    verbose = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-v", "-i", str(inventory),
                              str(ROOT / "playbooks" / "status.yml")], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=300, check=False)
    assert "UNREACHABLE!" in verbose.stdout, verbose.stdout  # -v shows Ansible's own messages again
