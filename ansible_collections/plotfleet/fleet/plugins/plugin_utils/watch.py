"""A live fleet status that keeps one SSH session per host instead of starting Ansible each refresh.

    scripts/watch [-i INVENTORY] [--interval 5] [--once]

Hosts and their connection settings come from the Ansible inventory (through Ansible's own
inventory API, so group_vars, ansible_host, ansible_user, ansible_port, the private key and
ansible_python_interpreter all apply). Each host gets one paramiko session (or runs locally for
``ansible_connection: local``); each refresh runs one command over the open session, which
receives the inspection code -- the same module_utils the modules use, as a zip -- on its
standard input and imports it from a private directory it creates itself (``mkdtemp``: 0700,
unpredictable, removed at exit). Nothing is ever run from a path another user could have written.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[5]
COLLECTION = Path(__file__).resolve().parents[2]
DEFAULT_PLOTTER_CONFIG = "/etc/plotfleet/plotfleet.yml"
DEFAULT_HARVESTER_CONFIG = "/etc/plotfleet/harvester.yml"


_PACKAGE = "ansible_collections/plotfleet/fleet/plugins/module_utils"

# Runs on the host: the zip arrives on stdin and is imported from a directory only this user can
# read or write, which is gone when the snapshot is printed.
_BOOTSTRAP = (
    "import os, shutil, sys, tempfile\n"
    "d = tempfile.mkdtemp(prefix='plotfleet-watch-')\n"
    "try:\n"
    "    p = os.path.join(d, 'code.zip')\n"
    "    with open(p, 'wb') as f: f.write(sys.stdin.buffer.read())\n"
    "    sys.path.insert(0, p)\n"
    "    from ansible_collections.plotfleet.fleet.plugins.module_utils.snapshot import main\n"
    "    main()\n"
    "finally:\n"
    "    shutil.rmtree(d, ignore_errors=True)\n"
)


def build_payload() -> bytes:
    """A zip importable on any host: the collection's module_utils, as Ansible would ship them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        parts = _PACKAGE.split("/")
        for depth in range(1, len(parts) + 1):  # regular packages: zipimport needs no namespace support
            archive.writestr("/".join(parts[:depth]) + "/__init__.py", "")
        source = COLLECTION / "plugins" / "module_utils"
        for path in sorted(source.rglob("*.py")):
            if path.name == "__init__.py" and path.parent == source:
                continue
            archive.write(path, f"{_PACKAGE}/{path.relative_to(source)}")
    return buffer.getvalue()


@dataclass
class Target:
    name: str
    role: str  # plotter | harvester
    config: str
    connection: str
    address: str
    port: int
    user: str | None
    key_file: str | None
    python: str


def load_targets(inventory: str) -> list[Target]:
    """Plotters and harvesters of the inventory with their connection settings, templated."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[inventory])
    variables = VariableManager(loader=loader, inventory=manager)
    targets = []
    for role, group, config_var, default_config in (
        ("plotter", "plotters", "plotter_config_path", DEFAULT_PLOTTER_CONFIG),
        ("harvester", "harvesters", "harvester_space_config", DEFAULT_HARVESTER_CONFIG),
    ):
        for host in manager.get_hosts(pattern=group):
            hv = dict(variables.get_vars(host=host))
            hv.setdefault("ansible_playbook_python", sys.executable)
            templar = Templar(loader=loader, variables=hv)

            def value(name: str, default=None, templar=templar, hv=hv):
                return templar.template(hv[name]) if name in hv else default

            targets.append(Target(
                name=host.name,
                role=role,
                config=str(value(config_var, default_config)),
                connection=str(value("ansible_connection", "ssh")),
                address=str(value("ansible_host", host.name)),
                port=int(value("ansible_port", 22)),
                user=value("ansible_user"),
                key_file=value("ansible_ssh_private_key_file"),
                python=str(value("ansible_python_interpreter", "/usr/bin/python3")),
            ))
    return targets


class Session:
    """One host: a persistent connection, the payload uploaded once, a snapshot per call."""

    def __init__(self, target: Target, payload: bytes, connect_timeout: float = 10.0) -> None:
        self.target = target
        self.payload = payload
        self.connect_timeout = connect_timeout
        self._client = None
        self._lock = threading.Lock()

    def _command(self) -> str:
        argv = (self.target.python, "-c", _BOOTSTRAP, self.target.role, self.target.config)
        return " ".join(shlex.quote(p) for p in argv)

    def _ensure_connected(self) -> None:
        if self.target.connection == "local":
            return
        if self._client is not None and self._client.get_transport() and self._client.get_transport().is_active():
            return
        import paramiko

        client = paramiko.SSHClient()
        client.load_system_host_keys()
        from ansible import constants

        policy = paramiko.RejectPolicy() if constants.HOST_KEY_CHECKING else paramiko.AutoAddPolicy()
        client.set_missing_host_key_policy(policy)
        client.connect(self.target.address, port=self.target.port, username=self.target.user,
                       key_filename=self.target.key_file, timeout=self.connect_timeout,
                       banner_timeout=self.connect_timeout, auth_timeout=self.connect_timeout)
        self._client = client

    def snapshot(self) -> dict:
        with self._lock:
            try:
                self._ensure_connected()
                if self.target.connection == "local":
                    argv = [self.target.python, "-c", _BOOTSTRAP, self.target.role, self.target.config]
                    proc = subprocess.run(argv, input=self.payload, capture_output=True, timeout=60, check=False)
                    out, err, rc = proc.stdout.decode(), proc.stderr.decode(), proc.returncode
                else:
                    stdin, stdout, stderr = self._client.exec_command(self._command(), timeout=60)
                    stdin.write(self.payload)
                    stdin.channel.shutdown_write()
                    out, err = stdout.read().decode(), stderr.read().decode()
                    rc = stdout.channel.recv_exit_status()
            except Exception as exc:  # any connection problem is this host's status, not a crash
                self.close()
                return {"unreachable": True, "msg": f"{self.target.address}: {type(exc).__name__}: {exc}"}
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            return {"failed": True, "msg": f"snapshot exited {rc}: {(err or out).strip()[-500:]}"}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def collect(sessions: Sequence[Session]) -> dict[str, dict]:
    """Hostvars-shaped results of one refresh, taken from every host in parallel."""
    results: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=min(32, max(1, len(sessions)))) as pool:
        for session, snap in zip(sessions, pool.map(lambda s: s.snapshot(), sessions), strict=True):
            var = "plotfleet_state" if session.target.role == "plotter" else "plotfleet_space_info"
            results.setdefault(session.target.name, {})[var] = snap
    return results


def render(sessions: Sequence[Session], results: dict[str, dict]) -> str:
    from ansible_collections.plotfleet.fleet.plugins.plugin_utils.report import fleet_report, render_status

    plotters = [s.target.name for s in sessions if s.target.role == "plotter"]
    harvesters = [s.target.name for s in sessions if s.target.role == "harvester"]
    return render_status(fleet_report(results, plotters, harvesters))


def run(inventory: str, interval: float, once: bool, out: Callable[[str], None] = print) -> int:
    targets = load_targets(inventory)
    if not targets:
        out(f"watch: the inventory {inventory} has no hosts in the plotters or harvesters groups")
        return 2
    payload = build_payload()
    sessions = [Session(t, payload) for t in targets]
    try:
        while True:
            started = time.monotonic()
            text = render(sessions, collect(sessions))
            if once:
                out(text)
                return 0
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            out(f"\x1b[H\x1b[2J{stamp}  (refresh {time.monotonic() - started:.1f} s, every {interval:g} s; "
                f"Ctrl-C quits)\n\n{text}")
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        return 0
    finally:
        for session in sessions:
            session.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/watch", description=__doc__.splitlines()[0])
    default_inventory = os.environ.get("ANSIBLE_INVENTORY", str(ROOT / "inventory/local.yml"))
    parser.add_argument("-i", "--inventory", default=default_inventory)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between refreshes (default 5)")
    parser.add_argument("--once", action="store_true", help="print one status and exit")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error(f"--interval must be > 0, got {args.interval:g}")
    return run(args.inventory, args.interval, args.once)


if __name__ == "__main__":
    sys.exit(main())
