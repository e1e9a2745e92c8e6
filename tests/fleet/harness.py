"""A multi-host test fleet on one machine, built from Linux namespaces.

Layout of a fleet with id ``<id>`` and subnet ``10.77.<n>.0/24``::

    netns pf-<id>-sw     bridge br0; one veth end per host (v1, v2...) and vctl
    netns pf-<id>-ctl    the controller, 10.77.<n>.1, eth0 (runs ansible via controller_run)
    netns pf-<id>-<host> a host, 10.77.<n>.(10+i), eth0; inside it a PID + mount + UTS
                         namespace whose init (hostinit.py) runs ``sshd -D -e``

Each host sees its own /etc/plotfleet, /var/log/plotfleet, /srv/plotfleet and /run/plotfleet,
bind-mounted from ``<workdir>/hosts/<name>/{etc,log,srv,run}``. The rest of the filesystem is
the machine's, or, for a host with a ``release`` (``HostSpec(..., release="bullseye")``), an
overlay of that Debian release's root filesystem (built by ``scripts/rootfs``, cached in
/var/cache/plotfleet, never written: the overlay's upper dir is ``<workdir>/hosts/<name>/root``)
with the project dir at its own path; such a host runs that release's sshd, and Ansible uses
its /usr/bin/python3. Its only apt source is the local repository scripts/rootfs builds
(read-only at /srv/apt), so roles can install packages without the internet; a
``<codename>-bare`` host (``release="trixie-bare"``) lacks psutil and PyYAML, for a test that
lets roles/plotter install them.

A host survives its sshd: ``stop_sshd``/``start_sshd`` stop and start only the daemon,
``crash`` kills everything on the host and ``restart`` brings it back with the same name,
address and private dirs. Every process the harness starts is recorded as (pid, start time);
teardown kills those, which takes their PID namespaces and everything in them along, deletes
the network namespaces and checks that nothing is left.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
import yaml

from fleet.procs import FleetError, T, TrackedProcess, children_of, in_netns, kill_all, ns_inode, processes_in, wait_for

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
ROOTFS_SCRIPT = ROOT / "scripts" / "rootfs"
# The interpreter of a host running from a release's rootfs: the release's own.
RELEASE_PYTHON = "/usr/bin/python3"
# Where a release host sees its sshd config, host key and authorized keys (<host dir>/sshd).
RELEASE_SSHD_DIR = "/etc/ssh/fleet"
# A release host's only apt source: the local repository, read-only (scripts/rootfs).
APT_DIR = "/srv/apt"
APT_SOURCES = ("# The test fleet's local repository (scripts/rootfs); no other source.\n"
                    f"deb [trusted=yes] file:{APT_DIR} ./\n")
HOSTINIT = Path(__file__).resolve().parent / "hostinit.py"
LOCK_FILE = Path("/run/lock/plotfleet-fleet.lock")
PREFIX = "pf-"
SUBNET = "10.77.{index}"
# The inner network of hosts behind a bastion: only the bastions have an address on it.
INNER_SUBNET = "10.78.{index}"
# Where each host's private directories appear inside it, keyed by their backing dir name.
PRIVATE_DIRS = {"etc": "/etc/plotfleet", "log": "/var/log/plotfleet", "srv": "/srv/plotfleet",
                "run": "/run/plotfleet"}
REQUIRED_TOOLS = ("ip", "unshare", "nsenter", "mount", "ssh", "ssh-keygen")
SSHD = "/usr/sbin/sshd"
# Names of sshd's processes: the listener, and per connection sshd (OpenSSH < 9.8) or
# sshd-session/sshd-auth (OpenSSH >= 9.8, Debian 13).
SSHD_NAMES = ("sshd", "sshd-session", "sshd-auth")
# What hostinit logs when the host's main process (sshd) ends or cannot start.
MAIN_EXITED = re.compile(r"^hostinit: main process (\d+ )?exited", re.MULTILINE)
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class HostSpec:
    """What to build: a host's name, its inventory groups, its tmpfs mounts (path -> size),
    the Debian release it runs (``"bullseye"``, ``"trixie"``; None: the machine's own system),
    the bastion it hides behind (``via="bastion1"``: the host is on an inner network that only
    that host reaches; the inventory says ``ProxyJump`` through it, as a farm behind a gateway) and
    dirs of the machine it sees read-only (``ro_binds={machine dir: path in the host}``, e.g. a
    wheelhouse for a release host, which sees nothing of the machine but the project dir)."""

    name: str
    groups: tuple[str, ...]
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    release: str | None = None
    via: str | None = None
    ro_binds: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Node:
    """A running namespace node (a host or the controller) and the processes that make it."""

    name: str
    netns: str
    address: str
    launcher: TrackedProcess  # the unshare process: the PID Popen gave us
    init: TrackedProcess  # its child, PID 1 inside the node's PID namespace
    namespaces: dict[str, int]  # kind -> inode, to find processes still inside after teardown
    groups: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict) -> Node:
        return cls(data["name"], data["netns"], data["address"], TrackedProcess(**data["launcher"]),
                   TrackedProcess(**data["init"]), data["namespaces"], tuple(data["groups"]))


def plan_hosts(plotters: int = 1, harvesters: int = 1, tmpfs: Mapping[str, str] | None = None,
               host_tmpfs: Mapping[str, Mapping[str, str]] | None = None) -> list[HostSpec]:
    """Host specs for ``plotter1..N`` and ``harvester1..M``.

    ``tmpfs`` is mounted on every host, ``host_tmpfs`` adds mounts to the named hosts.
    """
    names = [(f"plotter{i}", "plotters") for i in range(1, plotters + 1)]
    names += [(f"harvester{i}", "harvesters") for i in range(1, harvesters + 1)]
    host_tmpfs = host_tmpfs or {}
    unknown = set(host_tmpfs) - {name for name, _ in names}
    if unknown:
        raise FleetError(f"host_tmpfs names hosts not in the fleet: {', '.join(sorted(unknown))}")
    return [HostSpec(name, (group,), {**(tmpfs or {}), **host_tmpfs.get(name, {})}) for name, group in names]


def check_environment() -> None:
    if os.geteuid() != 0:
        raise FleetError("the test fleet creates namespaces and mounts: run it as root")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if not os.access(SSHD, os.X_OK):
        missing.append(SSHD)
    if missing:
        raise FleetError(f"the test fleet needs {', '.join(missing)}: run scripts/setup (openssh-server, "
                         "openssh-client, iproute2, util-linux)")
    if not PYTHON.exists():
        raise FleetError(f"{PYTHON} is missing: run scripts/setup")


def rootfs_for(release: str) -> Path:
    """The cached root filesystem of ``release``; a FleetError says how to build it if missing."""
    return _built(release, "path", "root filesystem")


def apt_repo_for(release: str) -> Path:
    """The local apt repository for a release's hosts."""
    return _built(release, "apt-path", "local apt repository")


def _built(release: str, query: str, what: str) -> Path:
    path = Path(run([str(ROOTFS_SCRIPT), query, release]).strip())
    if not path.is_dir():
        raise FleetError(f"no {release} {what} at {path}: build it with "
                         f"`scripts/setup --rootfs` (or `scripts/rootfs build {release}`)")
    return path


def run(cmd: Sequence[str], *, input: str | None = None) -> str:
    """Runs a setup command; a failure becomes a FleetError that shows the command and stderr."""
    proc = subprocess.run(list(cmd), input=input, capture_output=True, text=True)
    if proc.returncode != 0:
        raise FleetError(f"{' '.join(cmd)} failed (rc={proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


@contextlib.contextmanager
def fleet_lock() -> Iterator[None]:
    """Serialises choosing a subnet and creating namespaces across concurrent fleets."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def netns_names() -> list[str]:
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def used_subnet_indexes() -> set[int]:
    """Subnet indexes held by live fleets, read from their controllers' addresses."""
    used = set()
    for name in netns_names():
        if not (name.startswith(PREFIX) and name.endswith("-ctl")):
            continue
        with contextlib.suppress(FleetError):
            for link in json.loads(run(["ip", "-n", name, "-j", "-4", "addr", "show", "dev", "eth0"])):
                for addr in link.get("addr_info", []):
                    used.add(int(addr["local"].split(".")[2]))
    return used


def free_subnet_index() -> int:
    used = used_subnet_indexes()
    for index in range(1, 255):
        if index not in used:
            return index
    raise FleetError("no free 10.77.<n>.0/24 subnet: remove leftover fleets with scripts/fleet clean")


def die_with_parent() -> None:
    """preexec_fn: the kernel SIGKILLs the child if the harness process dies without teardown."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Fleet:
    """A set of hosts and a controller in namespaces; see the module docstring.

    Use as a context manager, through the pytest fixtures in conftest.py, or by hand via
    scripts/fleet. ``down()`` is idempotent and also registered with atexit while up.
    """

    def __init__(self, hosts: Sequence[HostSpec], workdir: Path, *, fleet_id: str | None = None,
                 tie_to_process: bool = True) -> None:
        if len({host.name for host in hosts}) != len(hosts):
            raise FleetError("host names must be unique")
        names = {host.name: host for host in hosts}
        for host in hosts:
            if host.via and (host.via not in names or names[host.via].via):
                raise FleetError(f"{host.name}: via={host.via!r} must name a host of the fleet that is not itself "
                                 "behind a bastion")
        self.specs = list(hosts)
        self.workdir = Path(workdir).resolve()
        self.id = fleet_id or secrets.token_hex(3)
        self.subnet_index = 0
        self.controller: Node | None = None
        self.hosts: dict[str, Node] = {}
        self.tie_to_process = tie_to_process
        self._popens: list[subprocess.Popen] = []
        self._rootfs: dict[str, Path] = {}
        # Host -> size of its init.log when its sshd was last (re)started: a start-up failure
        # is what hostinit logged after that.
        self._log_marks: dict[str, int] = {}
        self._is_down = False

    # -- names and paths --------------------------------------------------------------------

    def netns(self, role: str) -> str:
        return f"{PREFIX}{self.id}-{role}"

    @property
    def all_netns(self) -> list[str]:
        return [self.netns("sw"), self.netns("ctl"), *(self.netns(spec.name) for spec in self.specs)]

    @property
    def inventory(self) -> Path:
        return self.workdir / "inventory.yml"

    @property
    def ssh_key(self) -> Path:
        return self.workdir / "ssh" / "id_ed25519"

    def host_dir(self, name: str) -> Path:
        return self.workdir / "hosts" / name

    def address(self, name: str) -> str:
        return self.hosts[name].address

    def host_path(self, name: str, path: str) -> Path:
        """Where the test can read/write ``path`` as host ``name`` sees it.

        Private dirs map to their backing dir; anything else (e.g. a tmpfs) is reached through
        the host init's /proc/<pid>/root, which is the host's own view of the filesystem.
        """
        on_tmpfs = any(is_within(path, mount) for mount in self._spec(name).tmpfs)
        for backing, inside in PRIVATE_DIRS.items():
            if is_within(path, inside) and not on_tmpfs:
                return self.host_dir(name) / backing / os.path.relpath(path, inside)
        return Path(f"/proc/{self._node(name).init.pid}/root{path}")

    def _spec(self, name: str) -> HostSpec:
        return next(spec for spec in self.specs if spec.name == name)

    # -- bring-up ---------------------------------------------------------------------------

    def up(self, timeout: float = 30) -> Fleet:
        check_environment()
        rootfs = {spec.release: rootfs_for(spec.release) for spec in self.specs if spec.release}
        for release in rootfs:
            apt_repo_for(release)  # missing? Say so before building anything.
        atexit.register(self.down)
        try:
            self._prepare_files()
            self._rootfs = rootfs
            with fleet_lock():
                self.subnet_index = free_subnet_index()
                self._create_network()
                self.controller = self._start_node("ctl", f"{self._subnet}.1", ())
                for i, spec in enumerate(self.specs, start=1):
                    subnet = INNER_SUBNET.format(index=self.subnet_index) if spec.via else self._subnet
                    address = f"{subnet}.{10 + i}"
                    self.hosts[spec.name] = self._start_node(spec.name, address, spec.groups)
            self._write_inventory()
            self._wait_for_sshd(self.hosts, timeout)
            for spec in self.specs:
                if spec.release:
                    # An installed machine has its package lists: read them from the local repo.
                    update = self.host_run(spec.name, ["apt-get", "update", "-qq"], timeout=120)
                    if update.returncode != 0:
                        raise FleetError(f"{spec.name}: apt-get update from {APT_DIR} failed: "
                                         f"{update.stderr.strip()}")
        except BaseException:
            self.down(check=False)
            raise
        return self

    @property
    def _subnet(self) -> str:
        return SUBNET.format(index=self.subnet_index)

    def _prepare_files(self) -> None:
        (self.workdir / "ssh").mkdir(parents=True, exist_ok=True)
        if not self.ssh_key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"plotfleet-{self.id}",
                 "-f", str(self.ssh_key)])
        authorized = self.workdir / "ssh" / "authorized_keys"
        authorized.write_text(self.ssh_key.with_suffix(".pub").read_text())
        # sshd's compiled-in privilege separation dir; a service manager would create it.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for spec in self.specs:
            base = self.host_dir(spec.name)
            for backing in PRIVATE_DIRS:
                (base / backing).mkdir(parents=True, exist_ok=True)
            (base / "sshd").mkdir(exist_ok=True)
            key = base / "sshd" / "ssh_host_ed25519_key"
            if not key.exists():
                run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
            # Each host's own copy: a release host sees only its own sshd dir.
            shutil.copyfile(authorized, base / "sshd" / "authorized_keys")

    def _create_network(self) -> None:
        sw, ctl = self.netns("sw"), self.netns("ctl")
        taken = set(self.all_netns) & set(netns_names())
        if taken:
            raise FleetError(f"network namespaces already exist: {', '.join(sorted(taken))}")
        peers = {"vctl": ctl, **{f"v{i}": self.netns(s.name) for i, s in enumerate(self.specs, start=1)}}
        inner = {f"v{i}" for i, s in enumerate(self.specs, start=1) if s.via}
        bastions = {f"b{i}": self.netns(s.name) for i, s in enumerate(self.specs, start=1) if s.name in self._bastions}
        batch = [f"netns add {name}" for name in self.all_netns]
        batch += [f"link add {port} netns {sw} type veth peer name eth0 netns {ns}"
                  for port, ns in peers.items()]
        batch += [f"link add {port} netns {sw} type veth peer name eth1 netns {ns}" for port, ns in bastions.items()]
        run(["ip", "-batch", "-"], input="\n".join(batch) + "\n")
        switch = ["link add br0 type bridge", "link set br0 up", "link add br1 type bridge", "link set br1 up"]
        switch += [f"link set {port} master {'br1' if port in inner or port in bastions else 'br0'} up"
                   for port in [*peers, *bastions]]
        run(["ip", "-n", sw, "-batch", "-"], input="\n".join(switch) + "\n")

    @property
    def _bastions(self) -> set[str]:
        return {spec.via for spec in self.specs if spec.via}

    def _configure_interface(self, netns: str, address: str) -> None:
        batch = ["link set lo up", f"addr add {address}/24 dev eth0", "link set eth0 up"]
        name = next((s.name for s in self.specs if self.netns(s.name) == netns), None)
        if name in self._bastions:
            inner = INNER_SUBNET.format(index=self.subnet_index)
            batch += [f"addr add {inner}.1/24 dev eth1", "link set eth1 up"]
        run(["ip", "-n", netns, "-batch", "-"], input="\n".join(batch) + "\n")

    def _start_node(self, name: str, address: str, groups: tuple[str, ...], configure: bool = True) -> Node:
        netns = self.netns(name)
        if configure:
            self._configure_interface(netns, address)
        is_host = name != "ctl"
        unshare = ["unshare", "--pid", "--fork", "--kill-child"]
        init = [str(PYTHON), str(HOSTINIT)]
        if is_host:
            unshare += ["--mount-proc", "--mount", "--uts", "--propagation", "private"]
            init += self._host_init_args(self._spec(name), address)
        log_path = self.workdir / f"{name}.log" if not is_host else self.host_dir(name) / "init.log"
        with open(log_path, "ab") as log:
            self._log_marks[name] = log.tell()
            popen = subprocess.Popen(
                ["ip", "netns", "exec", netns, *unshare, "--", *init],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent if self.tie_to_process else None)
        self._popens.append(popen)
        launcher = TrackedProcess.of(popen.pid)
        init_pid = wait_for(lambda: children_of(popen.pid) or popen.poll() is not None, 10,
                            f"the init process of {name}")
        if popen.poll() is not None:
            raise FleetError(f"{name}: namespace init exited at once:\n{log_path.read_text()[-2000:]}")
        pid = init_pid[0]
        namespaces = {kind: ns_inode(pid, kind) for kind in ("pid", "net", "mnt")}
        return Node(name, netns, address, launcher, TrackedProcess.of(pid), namespaces, groups)

    def _host_init_args(self, spec: HostSpec, address: str) -> list[str]:
        base = self.host_dir(spec.name)
        args = ["--hostname", spec.name]
        args += [f"--bind={base / backing}={inside}" for backing, inside in PRIVATE_DIRS.items()]
        # sshd reads its files where the host sees them: in a release's rootfs only what is
        # bound into it exists.
        sshd_dir = str(base / "sshd")
        if spec.release:
            args += ["--rootfs", str(self._rootfs[spec.release]), "--state", str(base / "root"),
                     f"--bind={ROOT}={ROOT}", f"--bind={sshd_dir}={RELEASE_SSHD_DIR}"]
            sshd_dir = RELEASE_SSHD_DIR
            args.append(f"--ro-bind={apt_repo_for(spec.release)}={APT_DIR}")
            # In the overlay's upper dir: it hides the rootfs's own sources.list (the internet).
            sources = base / "root" / "upper" / "etc" / "apt" / "sources.list"
            sources.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            sources.write_text(APT_SOURCES)
        args += [f"--ro-bind={source}={target}" for source, target in spec.ro_binds.items()]
        args += [f"--tmpfs={path}={size}" for path, size in spec.tmpfs.items()]
        self._write_sshd_config(spec.name, address, sshd_dir)
        return [*args, "--", SSHD, "-D", "-e", "-f", f"{sshd_dir}/sshd_config"]

    def _write_sshd_config(self, name: str, address: str, sshd_dir: str) -> None:
        """Writes <host dir>/sshd/sshd_config, naming its files as the host sees that dir: ``sshd_dir``."""
        (self.host_dir(name) / "sshd" / "sshd_config").write_text("\n".join([
            f"ListenAddress {address}:22",
            f"HostKey {sshd_dir}/ssh_host_ed25519_key",
            f"AuthorizedKeysFile {sshd_dir}/authorized_keys",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # The work dir may sit under /tmp (world-writable), which StrictModes rejects.
            "StrictModes no",
            "UseDNS no",
            "PidFile none",
            "PrintMotd no",
            # Ansible opens many sessions at once through ControlPersist masters.
            "MaxStartups 200",
            "MaxSessions 200",
            "Subsystem sftp internal-sftp",
            "",
        ]))

    def _ssh_config(self) -> Path:
        """An ssh_config for jumps through bastions: the fleet's key, no host key records."""
        path = self.workdir / "ssh" / "config"
        path.write_text(f"Host *\n  IdentityFile {self.ssh_key}\n  IdentitiesOnly yes\n  User root\n"
                        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
        return path

    def _write_inventory(self) -> None:
        common_args = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        groups: dict[str, dict] = {}
        for node in self.hosts.values():
            hostvars = {"ansible_host": node.address}
            if self._spec(node.name).release:
                hostvars["ansible_python_interpreter"] = RELEASE_PYTHON
            via = self._spec(node.name).via
            if via:
                # The jump's own ssh reads only the config file (-F), not -i: the key goes there.
                hostvars["ansible_ssh_common_args"] = (f"{common_args} -F {self._ssh_config()} "
                                                       f"-o ProxyJump=root@{self.hosts[via].address}")
            for group in node.groups:
                groups.setdefault(group, {"hosts": {}})["hosts"][node.name] = hostvars
        inventory = {"all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(self.ssh_key),
                "ansible_ssh_common_args": common_args,
                "ansible_python_interpreter": str(PYTHON),
            },
            "children": groups,
        }}
        self.inventory.write_text(yaml.safe_dump(inventory, sort_keys=False))

    def _wait_for_sshd(self, names: Iterable[str], timeout: float) -> None:
        """Polls until the hosts' sshd sends its banner to a connection from the controller.

        Fails at once, with the host's init log, when the init or the sshd it started exits.
        """
        pending = {name: self.hosts[name] for name in names}

        def probe() -> bool:
            for name, node in list(pending.items()):
                log = self.host_dir(name) / "init.log"
                if not node.init.is_running():
                    raise FleetError(f"{name}: sshd/init exited during start-up:\n{log.read_text()[-2000:]}")
                with open(log, "rb") as file:
                    file.seek(self._log_marks.get(name, 0))
                    since_start = file.read().decode(errors="replace")
                if MAIN_EXITED.search(since_start):
                    raise FleetError(f"{name}: sshd exited during start-up:\n{since_start[-2000:]}")
                if self._reachable(name):
                    del pending[name]
            return not pending

        self._in_controller_netns(lambda: wait_for(probe, timeout, f"sshd on {', '.join(pending)}"))

    def _in_controller_netns(self, work: Callable[[], T]) -> T:
        return in_netns(f"/run/netns/{self.netns('ctl')}", work)

    # -- faults: a daemon dies, a host crashes ------------------------------------------------

    def _reachable(self, name: str) -> bool:
        """Whether host ``name``'s sshd answers; a host behind a bastion is probed from the bastion."""
        via = self._spec(name).via
        if via:
            return in_netns(f"/run/netns/{self.netns(via)}", lambda: ssh_banner(self.address(name)))
        return ssh_banner(self.address(name))

    def sshd_listening(self, name: str) -> bool:
        """Whether host ``name`` accepts SSH connections now (probed from the controller's network)."""
        return self._in_controller_netns(lambda: self._reachable(name))

    def stop_sshd(self, name: str, *, keep_sessions: bool = False, timeout: float = 10) -> None:
        """Stops host ``name``'s sshd; its other processes (rsync daemon, jobs) keep running.

        New connections are refused until :meth:`start_sshd`. Open sessions (Ansible's
        ControlPersist masters among them) end too, unless ``keep_sessions``, which is what
        ``systemctl stop ssh`` does on Debian; then a ControlPersist master still gets through.
        """
        node = self._node(name)
        if not node.init.signal(signal.SIGUSR1):
            raise FleetError(f"{name} is not running (crashed?): restart it first")
        self._in_controller_netns(lambda: wait_for(lambda: not ssh_banner(node.address), timeout,
                                                   f"sshd on {name} to stop"))
        if not keep_sessions:
            sessions = [TrackedProcess.of(proc.pid) for proc in self._host_processes(name)
                        if proc.name() in SSHD_NAMES]
            kill_all(sessions)
            wait_for(lambda: not any(proc.is_running() for proc in sessions), timeout,
                     f"the ssh sessions on {name} to end")

    def start_sshd(self, name: str, timeout: float = 10) -> None:
        """Starts host ``name``'s sshd again (after :meth:`stop_sshd`) and waits until it answers."""
        node = self._node(name)
        self._log_marks[name] = (self.host_dir(name) / "init.log").stat().st_size
        if not node.init.signal(signal.SIGUSR2):
            raise FleetError(f"{name} is not running (crashed?): use restart()")
        self._wait_for_sshd([name], timeout)

    def crash(self, name: str, timeout: float = 10) -> None:
        """Crashes host ``name``: every process on it dies at once, its mounts and tmpfs go.

        What is on disk stays: the private dirs and, for a release host, its root overlay.
        """
        node = self._node(name)
        node.init.kill()
        node.launcher.kill()
        for popen in self._popens:
            if popen.pid == node.launcher.pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(timeout=timeout)
        gone = {kind: {inode} for kind, inode in node.namespaces.items() if inode is not None and kind != "net"}
        wait_for(lambda: not processes_in(gone), timeout, f"the processes of {name} to die")

    def restart(self, name: str, timeout: float = 30) -> None:
        """Boots a crashed host again: same name, address and private dirs, a fresh sshd."""
        node = self._node(name)
        if node.init.is_running():
            raise FleetError(f"{name} is running: crash() it first")
        self.hosts[name] = self._start_node(name, node.address, node.groups, configure=False)
        self._wait_for_sshd([name], timeout)

    def _host_processes(self, name: str) -> list[psutil.Process]:
        found = []
        for pid in self.host_pids(name):
            with contextlib.suppress(psutil.NoSuchProcess):
                found.append(psutil.Process(pid))
        return found

    # -- use --------------------------------------------------------------------------------

    def controller_env(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment controller commands get: ours, the fleet's Ansible defaults, ``env``."""
        return {
            **os.environ,
            # The controller's tools (ansible, ansible-playbook) are the project venv's.
            "PATH": f"{PYTHON.parent}:{os.environ.get('PATH', os.defpath)}",
            "ANSIBLE_INVENTORY": str(self.inventory),
            # Per-fleet ControlPath: a later fleet reusing these addresses must never talk to
            # a ControlPersist master of this one.
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.workdir / "cp"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            **(env or {}),
        }

    def controller_run(self, cmd: Sequence[str], *, env: Mapping[str, str] | None = None,
                       cwd: Path | str = ROOT, check: bool = False, timeout: float | None = None,
                       input: str | None = None, capture: bool = True) -> subprocess.CompletedProcess[str]:
        """Runs ``cmd`` on the controller (its network and PID namespace), from the project root.

        Joining the controller's PID namespace means anything it leaves behind (ssh
        ControlPersist masters) dies with the controller at teardown.
        """
        return subprocess.run(
            ["nsenter", f"--target={self._node('ctl').init.pid}", "--net", "--pid", "--", *cmd],
            env=self.controller_env(env), cwd=cwd, check=check, timeout=timeout, input=input,
            capture_output=capture, text=True)

    def host_run(self, name: str, cmd: Sequence[str], *, check: bool = False, timeout: float | None = None,
                 input: str | None = None, capture: bool = True) -> subprocess.CompletedProcess[str]:
        """Runs ``cmd`` on host ``name``: in its network, PID, mount and UTS namespaces (cwd /)."""
        return subprocess.run(
            ["nsenter", f"--target={self._node(name).init.pid}", "--net", "--pid", "--mount", "--uts",
             "--", *cmd],
            check=check, timeout=timeout, input=input, capture_output=capture, text=True)

    def host_pids(self, name: str) -> list[int]:
        """PIDs (as seen from outside) of every process running on host ``name``."""
        return processes_in({"pid": {self._node(name).namespaces["pid"]}})

    def _node(self, name: str) -> Node:
        node = self.controller if name == "ctl" else self.hosts.get(name)
        if node is None:
            raise FleetError(f"fleet {self.id} has no running node {name!r}")
        return node

    # -- teardown ---------------------------------------------------------------------------

    @property
    def nodes(self) -> list[Node]:
        return [node for node in (self.controller, *self.hosts.values()) if node is not None]

    def down(self, check: bool = True) -> None:
        """Kills every process the fleet started, deletes its namespaces, verifies nothing is left.

        Killing a node's init ends its PID namespace: the kernel kills every process in it,
        and the mount namespace with its bind and tmpfs mounts goes away with the last one.
        """
        if self._is_down:
            return
        started = time.time()
        for node in self.nodes:
            node.init.kill()
            node.launcher.kill()
        for popen in self._popens:
            # Our own child: its PID cannot be reused before we reap it, so kill() is safe.
            if popen.poll() is None:
                popen.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=10)
        namespaces = self._namespace_inodes()
        with contextlib.suppress(FleetError):
            wait_for(lambda: not processes_in(namespaces, started), 10, "fleet processes to exit")
        self._delete_netns()
        atexit.unregister(self.down)
        self._is_down = True
        leftovers = self.leftovers(started)
        if leftovers and check:
            raise FleetError(f"fleet {self.id} teardown left: " + "; ".join(leftovers))

    def _namespace_inodes(self) -> dict[str, set[int]]:
        inodes: dict[str, set[int]] = {"pid": set(), "net": set(), "mnt": set()}
        for node in self.nodes:
            for kind, inode in node.namespaces.items():
                if inode is not None and kind in inodes:
                    inodes[kind].add(inode)
        # The switch has no process; the controller's netns inode is covered above.
        return inodes

    def _delete_netns(self) -> None:
        mine = [name for name in self.all_netns if name in netns_names()]
        if mine:
            batch = "".join(f"netns del {name}\n" for name in mine)
            subprocess.run(["ip", "-force", "-batch", "-"], input=batch, capture_output=True, text=True)

    def leftovers(self, started_before: float | None = None) -> list[str]:
        """What of this fleet still exists: namespaces, processes, mounts under the work dir."""
        found = [f"netns {name}" for name in netns_names() if name.startswith(f"{PREFIX}{self.id}-")]
        found += [f"process {pid} ({proc_cmdline(pid)})"
                  for pid in processes_in(self._namespace_inodes(), started_before)]
        found += [f"process {p.pid} (started by the harness)"
                  for node in self.nodes for p in (node.launcher, node.init) if p.is_running()]
        found += [f"mount {mount}" for mount in mounts_under(self.workdir)]
        return found

    # -- state for scripts/fleet --------------------------------------------------------------

    def state(self) -> dict:
        return {"id": self.id, "workdir": str(self.workdir), "subnet_index": self.subnet_index,
                "specs": [asdict(spec) for spec in self.specs],
                "controller": asdict(self.controller) if self.controller else None,
                "hosts": {name: asdict(node) for name, node in self.hosts.items()}}

    @classmethod
    def from_state(cls, state: dict) -> Fleet:
        specs = [HostSpec(s["name"], tuple(s["groups"]), s["tmpfs"], s.get("release"), s.get("via"),
                          s.get("ro_binds", {})) for s in state["specs"]]
        fleet = cls(specs, Path(state["workdir"]), fleet_id=state["id"], tie_to_process=False)
        fleet._rootfs = {spec.release: rootfs_for(spec.release) for spec in specs if spec.release}
        fleet.subnet_index = state["subnet_index"]
        fleet.controller = Node.from_dict(state["controller"]) if state["controller"] else None
        fleet.hosts = {name: Node.from_dict(node) for name, node in state["hosts"].items()}
        return fleet

    def detach(self) -> None:
        """Leaves the fleet running after this process exits (scripts/fleet up)."""
        atexit.unregister(self.down)

    def __enter__(self) -> Fleet:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()


def is_within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def ssh_banner(address: str, port: int = 22) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5) as conn:
            return conn.recv(8).startswith(b"SSH-")
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, None):
            raise
        return False


def proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in our mount namespace."""
    prefix = str(path)
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4]
        if is_within(mount_point, prefix):
            found.append(mount_point)
    return found


def stale_fleets() -> dict[str, list[str]]:
    """Leftover ``pf-<id>-*`` namespaces with no process in any of them, by fleet id.

    Taken under the fleet lock, so a fleet being built (namespaces made, processes not yet
    started) is never mistaken for a stale one.
    """
    by_id: dict[str, list[str]] = {}
    for name in netns_names():
        if name.startswith(PREFIX) and name.count("-") >= 2:
            by_id.setdefault(name.split("-")[1], []).append(name)
    stale = {}
    for fleet_id, names in by_id.items():
        inodes = {os.stat(f"/run/netns/{name}").st_ino for name in names}
        if not processes_in({"net": inodes}):
            stale[fleet_id] = names
    return stale


def remove_stale_fleets() -> dict[str, list[str]]:
    with fleet_lock():
        stale = stale_fleets()
        for names in stale.values():
            batch = "".join(f"netns del {name}\n" for name in names)
            subprocess.run(["ip", "-force", "-batch", "-"], input=batch, capture_output=True, text=True)
    return stale
