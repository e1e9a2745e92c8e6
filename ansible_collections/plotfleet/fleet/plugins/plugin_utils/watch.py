"""The live dashboard: scripts/watch. One long-lived agent per host over the operator's own SSH.

    scripts/watch [-i INVENTORY] [--interval 2] [--host NAME] [--once]

Hosts, and how to reach them, come from the Ansible inventory through Ansible itself: the
connection plugin the host uses (``ssh`` or ``local``) is configured from the host's variables
exactly as a playbook would (``ansible_host``, ``ansible_user``, ``ansible_port``, keys,
``ansible_ssh_common_args``/``ansible_ssh_extra_args`` -- ProxyJump bastions among them -- ssh_args
and ControlPath from ansible.cfg, so the dashboard shares Ansible's ControlPersist masters), and
``become`` is wrapped around the command by Ansible's own become plugin. The ``ssh`` process that
results is started once per host and kept: it runs the agent (module_utils/snapshot.py), which
answers requests on stdin with JSON lines, so a refresh costs one round trip per host.

Safety: the agent's code -- the collection's module_utils as a zip -- travels on that process's
stdin and is imported from a directory the agent creates for itself (``mkdtemp``: 0700,
unpredictable, removed when it ends); Python runs isolated (``-I``: no current dir, no PYTHON*
variables on its path). Nothing the dashboard runs comes from a path another user can write.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import select
import shlex
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Imported before load_targets: Ansible's collection finder, installed then, cannot load this
# project's collection from two paths later on.
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.fleetvars import fleet_archive_plan
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.report import fleet_report, render_status

ROOT = Path(__file__).resolve().parents[5]
COLLECTION = Path(__file__).resolve().parents[2]
DEFAULT_PLOTTER_CONFIG = "/etc/plotfleet/plotfleet.yml"
DEFAULT_HARVESTER_CONFIG = "/etc/plotfleet/harvester.yml"
DEFAULT_PYTHON = "/usr/bin/python3"

_PACKAGE = "ansible_collections/plotfleet/fleet/plugins/module_utils"

# Runs on the host: the zip's length on a line, then the zip, arrive on stdin; it is imported
# from a directory only this user can read or write, removed when the agent ends.
_BOOTSTRAP = (
    "import os, shutil, sys, tempfile\n"
    "d = tempfile.mkdtemp(prefix='plotfleet-watch-')\n"
    "try:\n"
    "    n = int(sys.stdin.buffer.readline())\n"
    "    p = os.path.join(d, 'code.zip')\n"
    "    with open(p, 'wb') as f: f.write(sys.stdin.buffer.read(n))\n"
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


class LinkError(Exception):
    """A host could not be reached, or its agent went away."""


@dataclass
class Target:
    """One host: its roles (role -> config path) and how to start its agent."""

    name: str
    roles: dict[str, str]
    argv: list[str] = field(default_factory=list)
    address: str = ""
    become_password: str | None = None
    become_prompt: str | None = None
    become_success: str | None = None
    # For ssh with a password (sshpass): builds a fresh command and sshpass pipe for each start.
    rebuild: Callable[[], tuple[list[str], tuple[int, int] | None]] | None = None
    ssh_password: str | None = None
    timeout: float = 30.0
    # Fleet-wide settings status.yml reads from the inventory: plotfleet_replot_target/_deadline.
    replot: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # why no command could be built for the host (reported as its status)


def load_targets(inventory: str | Sequence[str]) -> list[Target]:
    """Plotters and harvesters of the inventory, each with the command that reaches it as Ansible would."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.vars.manager import VariableManager

    init_plugin_loader()
    loader = DataLoader()
    sources = [inventory] if isinstance(inventory, str) else list(inventory)
    manager = InventoryManager(loader=loader, sources=sources)
    variables = VariableManager(loader=loader, inventory=manager)
    targets: dict[str, Target] = {}
    for role, group, config_var, default_config in (
        ("plotter", "plotters", "plotter_config_path", DEFAULT_PLOTTER_CONFIG),
        ("harvester", "harvesters", "harvester_space_config", DEFAULT_HARVESTER_CONFIG),
    ):
        for host in manager.get_hosts(pattern=group):
            hv = dict(variables.get_vars(host=host))
            hv.setdefault("ansible_playbook_python", sys.executable)
            target = targets.get(host.name)
            if target is None:
                target = targets[host.name] = Target(host.name, {})
                try:
                    _connect_command(target, hv, loader)
                except Exception as err:  # a bad connection var is this host's status, not a crash
                    target.problem = f"cannot build the connection from the inventory: {err}"
            target.roles[role] = str(_templated(hv, loader, config_var, default_config))
            target.replot = {key: _templated(hv, loader, f"plotfleet_replot_{key}") for key in ("target", "deadline")}
    return list(targets.values())


def _templated(hv: dict, loader, name: str, default: Any = None) -> Any:
    from ansible.template import Templar

    return Templar(loader=loader, variables=hv).template(hv[name]) if name in hv else default


def _connect_command(target: Target, hv: dict, loader) -> None:
    """Fills target.argv: the agent's command wrapped by the host's become and connection plugins."""
    from ansible import constants
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import become_loader, connection_loader
    from ansible.template import Templar

    templar = Templar(loader=loader, variables=hv)
    kind = str(templar.template(hv.get("ansible_connection", "ssh")))
    if kind in ("smart", "ansible.builtin.ssh"):
        kind = "ssh"
    if kind in ("ansible.builtin.local",):
        kind = "local"
    if kind not in ("ssh", "local"):
        raise LinkError(f"ansible_connection {kind} is not supported by the dashboard (ssh or local)")
    connection = connection_loader.get(kind, PlayContext(), None)
    connection.set_options(task_keys={}, var_options=connection._resolve_option_variables(hv, templar))
    python = str(templar.template(hv.get("ansible_python_interpreter", DEFAULT_PYTHON)))
    if python.startswith("auto"):  # interpreter discovery: the platform's python3, as Ansible finds it
        python = DEFAULT_PYTHON
    command = " ".join(shlex.quote(part) for part in (python, "-I", "-c", _BOOTSTRAP))
    become = None
    if "ansible_become" in hv and bool(templar.template(hv["ansible_become"])):
        method = str(templar.template(hv.get("ansible_become_method", constants.DEFAULT_BECOME_METHOD)))
        become = become_loader.get(method)
        if become is None:
            raise LinkError(f"unknown become method {method}")
        become.set_options(var_options={name: templar.template(hv[name])
                                        for name in constants.config.get_plugin_vars("become", become._load_name)
                                        if name in hv})
        connection.set_become_plugin(become)
        command = become.build_become_command(command, connection._shell)
        target.become_password = become.get_option("become_pass") if "become_pass" in become._options else None
        target.become_prompt = become.prompt if isinstance(become.prompt, str) and become.prompt else None
        target.become_success = become.success
    if kind == "local":
        target.argv = ["/bin/sh", "-c", command] if become else [python, "-I", "-c", _BOOTSTRAP]
        target.address = "local"
        return
    host = str(connection.get_option("host") or target.name)
    # What exec_command sets before building: the ControlPath is hashed from it, so without it
    # every host would share one master (and one remote end).
    connection.host = host

    def build() -> tuple[list[str], tuple[int, int] | None]:
        connection.sshpass_pipe = None
        argv = connection._build_command(connection.get_option("ssh_executable"), "ssh", host, command)
        return [os.fsdecode(part) for part in argv], getattr(connection, "sshpass_pipe", None)

    target.argv, sshpass = build()
    target.address = host
    target.timeout = float(connection.get_option("timeout") or 10) + 15
    if sshpass:  # the password goes through sshpass: a new pipe for every start
        for fd in sshpass:
            os.close(fd)
        target.rebuild = build
        target.ssh_password = connection.get_option("password")


class HostLink:
    """One host's agent: started on first use, restarted after it broke, asked by JSON lines."""

    def __init__(self, target: Target, payload: bytes) -> None:
        self.target = target
        self.payload = payload
        self._proc: subprocess.Popen | None = None
        self._pending: dict[int, Future] = {}
        self._queued: list[tuple[str, dict, Future]] = []  # asked while the connection is being made
        self._connecting = False
        self._closed = False
        self._lock = threading.Lock()
        self._next_id = 1
        self._stderr = b""
        self.python: str | None = None

    # -- start ----------------------------------------------------------------------------

    def _start(self) -> subprocess.Popen:
        """Starts the host's agent and waits for its hello; the process, its readers running."""
        target = self.target
        if target.problem:
            raise LinkError(target.problem)
        argv, sshpass = target.rebuild() if target.rebuild else (target.argv, None)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd="/", pass_fds=sshpass[:1] if sshpass else (), start_new_session=True)
        self._stderr = b""
        try:
            if sshpass:
                os.close(sshpass[0])
                os.write(sshpass[1], (target.ssh_password or "").encode() + b"\n")
                os.close(sshpass[1])
            deadline = time.monotonic() + target.timeout
            if target.become_success:
                self._await(proc, lambda line: target.become_success in line, deadline)
            proc.stdin.write(b"%d\n" % len(self.payload) + self.payload)
            proc.stdin.flush()
            hello = self._await(proc, lambda line: line.startswith("{"), deadline)
            self.python = json.loads(hello).get("result", {}).get("python")
        except (OSError, LinkError, ValueError) as err:
            _stop(proc)
            raise LinkError(self._failure(err)) from None
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()
        threading.Thread(target=self._drain, args=(proc,), daemon=True).start()
        return proc

    def _await(self, proc: subprocess.Popen, wanted: Callable[[str], bool], deadline: float) -> str:
        """Reads stdout lines until one is ``wanted``, answering a become password prompt on the way."""
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        buffer = b""
        prompted = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkError(f"no answer within {self.target.timeout:.0f} s")
            ready, _, _ = select.select([out_fd, err_fd], [], [], remaining)
            for fd in ready:
                chunk = os.read(fd, 65536)
                if fd == err_fd:
                    if not chunk:
                        continue
                    self._stderr += chunk
                    prompt = self.target.become_prompt
                    if prompt and not prompted and prompt.encode() in self._stderr:
                        if self.target.become_password is None:
                            raise LinkError("become asks for a password and none is set (ansible_become_password)")
                        proc.stdin.write(self.target.become_password.encode() + b"\n")
                        proc.stdin.flush()
                        prompted = True
                    continue
                if not chunk:
                    proc.wait(timeout=5)
                    raise LinkError(f"exited {proc.returncode}")
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if wanted(line.decode(errors="replace")):
                        if buffer:  # nothing follows the hello before the first request
                            raise LinkError(f"unexpected output: {buffer[:200]!r}")
                        return line.decode()

    def _failure(self, err: Exception) -> str:
        stderr = self._stderr.decode(errors="replace").strip()
        where = self.target.address or self.target.name
        return f"{where}: {err}" + (f": {stderr[-500:]}" if stderr else "")

    # -- use ------------------------------------------------------------------------------

    def request(self, op: str, timeout: float = 60.0, **args: Any) -> dict:
        """Sends one request and waits for its answer; LinkError when the host cannot answer."""
        future = self.submit(op, **args)
        try:
            return future.result(timeout=timeout)
        except TimeoutError:
            raise LinkError(f"{self.target.name}: no answer to {op} within {timeout:.0f} s") from None

    def submit(self, op: str, **args: Any) -> Future:
        """Sends one request without waiting, connecting first (in the background) when needed;
        the future holds the result dict, or raises LinkError (or RequestFailed: the agent said no)."""
        future: Future = Future()
        with self._lock:
            self._queued.append((op, args, future))
            if self._proc is not None and self._proc.poll() is None:
                self._flush_locked()
            elif not self._connecting:
                self._connecting = True
                threading.Thread(target=self._connect, daemon=True).start()
        return future

    def _connect(self) -> None:
        proc, error = None, None
        try:
            proc = self._start()
        except Exception as err:  # ssh missing, a bad command: this host's status, never a hung request
            error = err if isinstance(err, LinkError) else LinkError(f"{self.target.name}: {err}")
        with self._lock:
            self._connecting = False
            if proc is not None and self._closed:
                _stop(proc)
                error = LinkError(f"{self.target.name}: the dashboard is closing")
            if error is not None:
                queued, self._queued = self._queued, []
                for _, _, future in queued:
                    future.set_exception(error)
                return
            self._proc = proc
            self._flush_locked()

    def _flush_locked(self) -> None:
        while self._queued:
            op, args, future = self._queued.pop(0)
            ident = self._next_id
            self._next_id += 1
            self._pending[ident] = future
            try:
                self._proc.stdin.write(json.dumps({"id": ident, "op": op, **args}).encode() + b"\n")
                self._proc.stdin.flush()
            except OSError as err:
                error = LinkError(self._failure(err))
                for _, _, waiting in self._queued:
                    waiting.set_exception(error)
                self._queued = []
                self._close_locked()  # its reader fails what is pending
                return

    def _read(self, proc: subprocess.Popen) -> None:
        for raw in iter(proc.stdout.readline, b""):
            try:
                answer = json.loads(raw)
            except ValueError:
                continue
            with self._lock:
                future = self._pending.pop(answer.get("id"), None)
            if future is None:
                continue
            if answer.get("ok"):
                future.set_result(answer.get("result") or {})
            else:
                future.set_exception(RequestFailed(answer.get("msg") or "failed"))
        proc.wait()
        with self._lock:
            pending, self._pending = self._pending, {}
            if self._proc is proc:
                self._proc = None
        for future in pending.values():
            future.set_exception(LinkError(self._failure(LinkError(f"the connection ended (exit {proc.returncode})"))))

    def _drain(self, proc: subprocess.Popen) -> None:
        for chunk in iter(lambda: proc.stderr.read1(65536), b""):
            self._stderr = (self._stderr + chunk)[-4096:]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._close_locked()

    def _close_locked(self) -> None:
        if self._proc is not None:
            _stop(self._proc)
            self._proc = None


class RequestFailed(Exception):
    """The agent answered, and the answer is a refusal or an error (its message says which)."""


def _stop(proc: subprocess.Popen) -> None:
    """Ends an agent: closing its stdin lets it clean up; then the ssh process we started, by its pid."""
    with contextlib.suppress(OSError):
        proc.stdin.close()
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Watcher:
    """The links to every host and the latest snapshot of each: what the dashboard shows."""

    def __init__(self, targets: Sequence[Target]) -> None:
        payload = build_payload()
        self.targets = list(targets)
        self.links = {t.name: HostLink(t, payload) for t in targets}
        self._inflight: dict[str, Future] = {}

    def refresh(self, timeout: float = 20.0) -> dict[str, dict]:
        """host -> {"plotter": ..., "harvester": ...} or {"unreachable": True, "msg": ...}, all hosts at once.

        A host that has not answered within ``timeout`` (connecting to it still, or hung) is
        reported as such; its request stays in flight and the next refresh waits for that one
        instead of piling up another."""
        futures = {}
        for target in self.targets:
            future = self._inflight.get(target.name)
            if future is None or future.done():
                future = self._inflight[target.name] = self.links[target.name].submit("snapshot", **target.roles)
            futures[target.name] = future
        deadline = time.monotonic() + timeout
        results = {}
        for name, future in futures.items():
            try:
                results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                results[name] = {"unreachable": True, "msg": f"no answer within {timeout:.0f} s (still trying)"}
            except LinkError as err:
                results[name] = {"unreachable": True, "msg": str(err) or "no answer"}
            except RequestFailed as err:
                results[name] = {"failed": True, "msg": str(err)}
        return results

    def request(self, host: str, op: str, timeout: float = 90.0, **args: Any) -> dict:
        return self.links[host].request(op, timeout=timeout, **args)

    def close(self) -> None:
        threads = [threading.Thread(target=link.close) for link in self.links.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def hostvars_of(targets: Sequence[Target], results: dict[str, dict]) -> dict[str, dict]:
    """The snapshot in the shape status.yml registers (plotfleet_state, plotfleet_space_info)."""
    hostvars: dict[str, dict] = {}
    for target in targets:
        snap = results.get(target.name) or {"unreachable": True, "msg": "not read yet"}
        for role, var in (("plotter", "plotfleet_state"), ("harvester", "plotfleet_space_info")):
            if role in target.roles:
                hostvars.setdefault(target.name, {})[var] = snap if "unreachable" in snap or "failed" in snap \
                    else snap.get(role) or {"failed": True, "msg": "no answer for this role"}
    return hostvars


def status_report(targets: Sequence[Target], results: dict[str, dict], with_plan: bool = True) -> dict:
    """status.yml's report (report.fleet_report, with what archive.yml would do now and the replot
    census) from one refresh."""
    hostvars = hostvars_of(targets, results)
    plotters = [t.name for t in targets if "plotter" in t.roles]
    harvesters = [t.name for t in targets if "harvester" in t.roles]
    plan = fleet_archive_plan(hostvars, plotters, harvesters) if with_plan else None
    replot = targets[0].replot if targets else {}
    return fleet_report(hostvars, plotters, harvesters, archive_plan=plan, replot_target=replot.get("target"),
                        replot_deadline=replot.get("deadline"))


def run_once(inventory: str, out: Callable[[str], None] = print) -> int:
    targets = load_targets(inventory)
    if not targets:
        out(f"watch: the inventory {inventory} has no hosts in the plotters or harvesters groups")
        return 2
    watcher = Watcher(targets)
    try:
        out(render_status(status_report(targets, watcher.refresh())))
    finally:
        watcher.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/watch", description=__doc__.splitlines()[0])
    default_inventory = os.environ.get("ANSIBLE_INVENTORY", str(ROOT / "inventory/local.yml"))
    parser.add_argument("-i", "--inventory", default=default_inventory)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default 2)")
    parser.add_argument("--host", help="show only this host (the f key changes it)")
    parser.add_argument("--once", action="store_true", help="print the status once, as a plain table, and exit")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error(f"--interval must be > 0, got {args.interval:g}")
    if args.once:
        return run_once(args.inventory)
    from ansible_collections.plotfleet.fleet.plugins.plugin_utils.dashboard import run_dashboard

    return run_dashboard(args.inventory, args.interval, args.host)


if __name__ == "__main__":
    sys.exit(main())
