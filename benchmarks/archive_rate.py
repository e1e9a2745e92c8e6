"""Benchmark: archiving at the rate plots are made (issue 8 §6), cron-driven archive.yml against a
bare rsync sending the same files as one batch.

On this machine, with a real rsync daemon (127.0.0.1, a free port, module ``m0`` and its flush module
``m0-flush`` as roles/harvester renders them) and a local inventory (plotter1 and harvester1 both on
localhost, as tests/integration does):

  bare rsync   every plot already in the dst dir, then one ``rsync`` with plotfleet's own flags
               (``transfers.rsync_command``: --fsync --remove-source-files ...) sending all of them: the
               floor, the disk and daemon at full speed.
  archive.yml  plots arrive in the dst dir at a steady rate (``--arrival`` x the bare rsync's plots per
               second, so there is always a plot ready), and ``ansible-playbook playbooks/archive.yml``
               runs every ``--interval`` seconds as cron runs it (a pass starts only when the previous one
               has ended, like ``flock -n``), until every plot has landed.

A plot is a hard link to one file of random data made once (``--size``), named as a v1 plot with its own
id, so every method reads the same blocks and arrivals cost no disk writes; rsync writes each one to
the harvester dir and flushes it. Landing times come from polling the harvester dir for final names.

Figures: sustained throughput = bytes landed between the first and the last landing / that time
(the steady state, without the first pass's start-up), and end to end = all bytes / (last landing -
first arrival). Target: archive.yml sustained >= 0.9x the bare rsync, and not bounded by the interval
(a per-run limit would give at most one plot per slot per interval). A sha256 of every landed file is
checked against the source (``--no-verify`` skips it).

Run as root with the project venv (the daemon writes as root):
    .venv/bin/python benchmarks/archive_rate.py [--count 200] [--size 64M] [--interval 30] [--flush auto]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import (
    daemon_url,
    find_transfers,
    rsync_command,
)

USER, PASSWORD = "plotfleet", "plotfleet-bench-rate"
TARGET = 0.9
MIB = 1024**2


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": MIB, "G": 1024**3}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def plot_name(n: int) -> str:
    return f"plot-k32-2026-01-01-00-00-{os.urandom(28).hex()}{n:08x}.plot"


class Bench:
    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work, self.args = work, args
        self.dst, self.archive = work / "dst0", work / "archive0"
        self.logs, self.source = work / "transfers", work / "source.bin"
        for path in (self.dst, self.archive, self.logs, work / "tmp0"):
            path.mkdir(parents=True)
        self.password_file = work / "rsync.secret"
        self.password_file.write_text(PASSWORD + "\n")
        self.password_file.chmod(0o600)
        self.port = free_port()
        self.daemon: subprocess.Popen | None = None
        self.digest = ""

    # --- setup ----------------------------------------------------------------------------------

    def start_daemon(self) -> None:
        secrets = self.work / "rsyncd.secrets"
        secrets.write_text(f"{USER}:{PASSWORD}\n")
        secrets.chmod(0o600)
        common = [f"auth users = {USER}", f"secrets file = {secrets}", "strict modes = yes", "uid = root",
                  "gid = root", "use chroot = yes", "list = no", f"path = {self.archive}"]
        conf = self.work / "rsyncd.conf"
        conf.write_text("\n".join([
            f"pid file = {self.work / 'rsyncd.pid'}",
            "[m0]", *common, "read only = no", "write only = yes", "max connections = 1",
            f"lock file = {self.work / 'm0.lock'}", "dont compress = *",
            "[m0-flush]", *common, "read only = yes", f"lock file = {self.work / 'm0-flush.lock'}",
            'pre-xfer exec = sync -f "$RSYNC_MODULE_PATH"',
        ]) + "\n")
        self.daemon = subprocess.Popen(["rsync", "--daemon", "--no-detach", f"--config={conf}", f"--port={self.port}",
                                        "--address=127.0.0.1", f"--log-file={self.work / 'rsyncd.log'}"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("the rsync daemon did not start")

    def write_configs(self) -> Path:
        config = self.work / "plotfleet.yml"
        config.write_text(json.dumps({
            "logging": {"plots": str(self.work / "logs"), "transfers": str(self.logs)},
            "directories": {"tmp": [str(self.work / "tmp0")], "dst": [str(self.dst)]},
            # Transfers of other runs on this host count against a plotter's limit: room for them, so
            # that only the harvester dir's one connection limits this benchmark.
            "archiving": {"rsync_password_file": str(self.password_file), "rsync_user": USER,
                          "parallel_transfers": 8},
        }))
        harvester = self.work / "harvester.yml"
        harvester.write_text(json.dumps({"archive_dirs": [{"path": str(self.archive), "rsync_module": "m0",
                                                           "max_connections": 1}], "rsync": {"port": self.port}}))
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        inventory = self.work / "inventory.json"
        inventory.write_text(json.dumps({"all": {
            "hosts": {"plotter1": {**local, "plotter_config_path": str(config),
                                   "plotter_config": {"archiving": {"parallel_transfers": 8}}},
                      "harvester1": {**local, "harvester_space_config": str(harvester),
                                     "plotfleet_archive_address": "127.0.0.1", "harvester_rsync_port": self.port}},
            "children": {"plotters": {"hosts": {"plotter1": None}}, "harvesters": {"hosts": {"harvester1": None}}},
        }}))
        return inventory

    def make_source(self) -> None:
        digest = hashlib.sha256()
        with self.source.open("wb") as handle:
            left = self.args.size
            while left:
                block = os.urandom(min(left, 8 * MIB))
                handle.write(block)
                digest.update(block)
                left -= len(block)
        self.digest = digest.hexdigest()

    # --- measuring ------------------------------------------------------------------------------

    def landed(self) -> list[Path]:
        return [p for p in self.archive.iterdir() if p.name.endswith(".plot") and not p.name.startswith(".")]

    def clear_archive(self) -> None:
        for path in self.archive.iterdir():
            path.unlink()

    def watch_landings(self, count: int, stop: threading.Event) -> list[float]:
        """Time at which each of ``count`` plots was first seen under its final name."""
        seen: dict[str, float] = {}
        while len(seen) < count and not stop.is_set():
            now = time.monotonic()
            for path in self.landed():
                seen.setdefault(path.name, now)
            time.sleep(0.05)
        return sorted(seen.values())

    def bare(self) -> dict:
        names = [plot_name(n) for n in range(self.args.count)]
        for name in names:
            os.link(self.source, self.dst / name)
        cmd = rsync_command(shutil.which("rsync") or "rsync", [str(self.dst / n) for n in names],
                            daemon_url("127.0.0.1", self.port, "m0", USER), password_file=str(self.password_file),
                            log_file=None, timeout=300)
        subprocess.run(["sync"], check=True)
        started = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        seconds = time.monotonic() - started
        assert len(self.landed()) == self.args.count and not any(self.dst.iterdir())
        return {"seconds": seconds, "bytes": self.args.count * self.args.size}

    def cron(self, inventory: Path, rate: float) -> dict:
        """Plots arrive at ``rate`` per second; archive.yml runs every interval until all landed."""
        count, stop = self.args.count, threading.Event()
        arrivals: list[float] = []

        def feed() -> None:
            start = time.monotonic()
            for n in range(count):
                time.sleep(max(start + n / rate - time.monotonic(), 0))
                if stop.is_set():
                    return
                temp = self.dst / f".{n}.tmp"
                os.link(self.source, temp)
                os.rename(temp, self.dst / plot_name(n))  # appears complete, as a plotter's rename does
                arrivals.append(time.monotonic())

        landings: list[float] = []
        watcher = threading.Thread(target=lambda: landings.extend(self.watch_landings(count, stop)))
        feeder = threading.Thread(target=feed)
        subprocess.run(["sync"], check=True)
        watcher.start()
        feeder.start()
        passes, pass_seconds = 0, []
        env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(ROOT / "playbooks" / "archive.yml"),
               "-i", str(inventory), "-e", json.dumps({"plotfleet_margin": 0, "plotfleet_flush": self.args.flush})]
        deadline = time.monotonic() + self.args.timeout
        cpu_before = _children_cpu()
        try:
            while watcher.is_alive() and time.monotonic() < deadline:
                tick = time.monotonic()
                run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
                passes += 1
                pass_seconds.append(time.monotonic() - tick)
                if run.returncode != 0:
                    raise RuntimeError(f"archive.yml failed:\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}")
                # The next cron tick; a pass longer than the interval makes the next one start at once.
                while watcher.is_alive() and time.monotonic() < tick + self.args.interval:
                    time.sleep(0.1)
        finally:
            if watcher.is_alive():  # failed or timed out: stop feeding and watching
                stop.set()
            feeder.join()
            watcher.join()
        if len(landings) < count:
            raise RuntimeError(f"only {len(landings)} of {count} plots landed in {self.args.timeout} s")
        return {"arrivals": arrivals, "landings": landings, "passes": passes, "pass_seconds": pass_seconds,
                "controller_cpu": _children_cpu() - cpu_before}

    def verify(self) -> None:
        for path in self.landed():
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda h=handle: h.read(8 * MIB), b""):
                    digest.update(block)
            if digest.hexdigest() != self.digest:
                raise RuntimeError(f"{path} differs from the source")

    def stop(self) -> None:
        for transfer in find_transfers():
            if transfer.source.startswith(str(self.work)):
                os.kill(transfer.pid, signal.SIGKILL)
        if self.daemon is not None:
            self.daemon.terminate()
            self.daemon.wait(timeout=30)


def _children_cpu() -> float:
    """CPU seconds of the ansible-playbook runs (and the modules they ran) that ended so far: the
    controller's share of this machine, which a real fleet's controller does not take from a plotter."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report(args: argparse.Namespace, bare: dict, cron: dict, rate: float) -> bool:
    size, count = args.size, args.count
    bare_mbs = bare["bytes"] / bare["seconds"] / 1e6
    first, last = cron["landings"][0], cron["landings"][-1]
    sustained = (count - 1) * size / max(last - first, 1e-6) / 1e6
    end_to_end = count * size / max(last - cron["arrivals"][0], 1e-6) / 1e6
    per_interval = args.interval and size / args.interval / 1e6  # one plot per slot per run: the old ceiling
    passes = cron["pass_seconds"]
    print(f"\n{count} plots x {size // MIB} MiB, plots arriving at {rate:.2f}/s ({args.arrival:.2f}x the bare "
          f"rsync's rate), archive.yml every {args.interval:.0f} s, flush={args.flush}, load {os.getloadavg()[0]:.1f}")
    print("| method | seconds | MB/s | x bare rsync |\n|---|---:|---:|---:|")
    print(f"| bare rsync, one batch (floor) | {bare['seconds']:.1f} | {bare_mbs:.0f} | 1.00x |")
    print(f"| archive.yml, sustained (first to last landing) | {last - first:.1f} | {sustained:.0f} | "
          f"{sustained / bare_mbs:.2f}x |")
    print(f"| archive.yml, end to end (first arrival to last landing) | {last - cron['arrivals'][0]:.1f} | "
          f"{end_to_end:.0f} | {end_to_end / bare_mbs:.2f}x |")
    print(f"| one plot per run (the old ceiling at this interval) | - | {per_interval:.1f} | "
          f"{per_interval / bare_mbs:.3f}x |")
    print(f"archive.yml passes: {cron['passes']}, each {min(passes):.1f}-{max(passes):.1f} s, "
          f"{cron['controller_cpu']:.0f} CPU s on this {os.cpu_count()}-CPU machine over the "
          f"{last - cron['arrivals'][0]:.0f} s run")
    ok = sustained / bare_mbs >= TARGET
    print(f"verdict: sustained {sustained / bare_mbs:.2f}x the bare rsync ({'meets' if ok else 'misses'} "
          f"{TARGET}x)")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", type=parse_size, default=64 * MIB)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between archive.yml passes")
    parser.add_argument("--arrival", type=float, default=1.25, help="arrival rate as a multiple of the bare rate")
    parser.add_argument("--flush", choices=("auto", "fsync", "flush"), default="auto")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".work")
    parser.add_argument("--no-verify", action="store_true")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-archive-rate-", dir=args.workdir))
    bench = Bench(work, args)
    try:
        bench.start_daemon()
        inventory = bench.write_configs()
        bench.make_source()
        bare = bench.bare()
        if not args.no_verify:
            bench.verify()
        bench.clear_archive()
        rate = args.arrival * args.count / bare["seconds"]
        cron = bench.cron(inventory, rate)
        if not args.no_verify:
            bench.verify()
        report(args, bare, cron, rate)
    finally:
        bench.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
