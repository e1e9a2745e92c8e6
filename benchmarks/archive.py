"""Benchmark: archive throughput over the fleet network, side by side with a copy and a bare rsync.

Brings up a test fleet (plotter1, harvester1 and a controller in namespaces, tests/fleet), rolls
out playbooks/site.yml (the harvester's rsync daemon with one module for /srv/plotfleet/archive0,
the plotter's config and rsync password file), writes one ``--size`` file of random data on the
plotter and then moves it, interleaved over ``--repeat`` rounds (the order rotating each round):

  copy              ``cp`` of the file to the harvester's archive dir on the same disk: the ceiling
  rsync             a bare ``rsync`` from the plotter to the harvester's daemon module, with the
                    flags ``transfers.rsync_command`` gives plotfleet_archive: the floor
  plotfleet_archive ``ansible plotter1 -m plotfleet_archive -a '... wait=true'`` from the
                    controller: the rsync time the module measured, and the wall time of the
                    whole ``ansible`` command (Ansible's start-up, SSH, module run)

Every measurement starts with a cold page cache (sync, then ``echo 3 > /proc/sys/vm/drop_caches``)
so the source is read from the disk, and ends with a timed ``syncfs`` of the destination so that
the figure is "from the disk to the disk", not "into the page cache"; both times are shown.
``--warm-cache`` skips the drop (the source is then read from memory). ``--flag-study`` adds bare
rsync variants that each drop one of plotfleet's flags, to find a flag that costs throughput.

All hosts' /srv/plotfleet are directories under the fleet's work dir (``--workdir``, default
``<project>/.work/bench-archive-*``), on the disk holding the project: the data lands there, and
the work dir is removed at the end. The fleet is torn down (all its processes killed by PID, its
namespaces deleted) even on an error or Ctrl-C.

Run as root with the project venv:
    scripts/python benchmarks/archive.py [--size 2G] [--repeat 3] [--flag-study] [--warm-cache]
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import (
    daemon_url,
    rsync_command,
    transfer_log_path,
)
from fleet import Fleet, FleetError, plan_hosts

PLOTTER, HARVESTER = "plotter1", "harvester1"
PASSWORD = "plotfleet-bench-archive"
USER = "plotfleet"  # the roles' default rsync user (harvester_rsync_user, archiving.rsync_user)
PORT = 873  # every host has its own network namespace
SRV = "/srv/plotfleet"
ARCHIVE_DIR = f"{SRV}/archive0"
RSYNC_MODULE = "plots-archive0"  # what the harvester role derives from the dir's basename
DST_DIR = f"{SRV}/dst0"
SOURCE_FILE = f"{SRV}/bench/source.bin"  # made once; every transfer sends a hard link to it
PASSWORD_FILE = "/etc/plotfleet/rsync.secret"
TRANSFER_LOG_DIR = "/var/log/plotfleet/transfers"
RSYNC = shutil.which("rsync") or "/usr/bin/rsync"  # the one the module finds with get_bin_path
TIMEOUT = 300  # plotfleet_archive's default timeout, passed to rsync_command as the module does
TARGET = 0.9  # plotfleet_archive >= 0.9x the bare rsync
CHUNK = 8 << 20
MB = 1e6

SITE_VARS = {
    # Plain dirs on this machine, not disks: the roles create them and need no mount point there.
    "harvester_archive_dirs": [{"path": ARCHIVE_DIR, "mount": False}],
    "harvester_create_archive_dirs": True,
    "plotter_create_plot_dirs": True,
    "harvester_rsync_password": PASSWORD,
    "harvester_rsync_port": PORT,
    "harvester_rsync_service_manager": "standalone",
    "plotter_rsync_password": PASSWORD,
    "plotter_rsync_password_file": PASSWORD_FILE,
    "plotter_config": {
        "logging": {"plots": "/var/log/plotfleet/plots", "transfers": TRANSFER_LOG_DIR},
        "directories": {"tmp": [f"{SRV}/tmp0"], "dst": [DST_DIR]},
        "archiving": {"rsync_password_file": PASSWORD_FILE, "rsync_user": USER, "parallel_transfers": 1},
    },
}

# Flags dropped one at a time by --flag-study (prefix match on the argument).
STUDY_FLAGS = ("--preallocate", "--whole-file", "--log-file", "--times")


def parse_size(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = value[-1] if value and value[-1] in units else ""
    number = float(value[: len(value) - len(unit)])
    size = int(number * units[unit])
    if size < CHUNK:
        raise argparse.ArgumentTypeError(f"--size {text}: at least {CHUNK >> 20} MiB")
    return size


def human(size: int) -> str:
    return f"{size / (1 << 30):.2f} GiB" if size >= 1 << 30 else f"{size / (1 << 20):.0f} MiB"


# -- timing helpers ----------------------------------------------------------------------------


_libc = ctypes.CDLL(None, use_errno=True)


def syncfs(path: Path) -> float:
    """Flushes the filesystem holding ``path``; returns the seconds it took."""
    started = time.monotonic()
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), f"syncfs {path}")
    finally:
        os.close(fd)
    return time.monotonic() - started


def children_cpu() -> float:
    """User + system CPU seconds of our waited-for children (and theirs): the controller's ansible."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def drop_caches() -> None:
    """Clean page cache, dentries and inodes dropped (dirty pages first written back)."""
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


# -- the measured state ------------------------------------------------------------------------


@dataclass
class Sample:
    transfer: float  # seconds of the transfer itself
    flush: float  # seconds of the syncfs after it
    wall: float | None = None  # plotfleet_archive: the whole ansible command
    controller_cpu: float | None = None  # plotfleet_archive: CPU seconds of ansible and ssh on the controller


@dataclass
class Bench:
    fleet: Fleet
    size: int
    cold: bool
    plot_name: str = field(default_factory=lambda: f"plot-k32-2026-01-01-00-00-{os.urandom(32).hex()}.plot")
    digest: str = ""
    verified: set[str] = field(default_factory=set)
    module_cmd: list[str] = field(default_factory=list)

    # paths as the benchmark sees them (backing dirs of the hosts' /srv/plotfleet)
    @property
    def source(self) -> Path:
        return self.fleet.host_path(PLOTTER, SOURCE_FILE)

    @property
    def plot(self) -> Path:
        return self.fleet.host_path(PLOTTER, f"{DST_DIR}/{self.plot_name}")

    @property
    def archive_dir(self) -> Path:
        return self.fleet.host_path(HARVESTER, ARCHIVE_DIR)

    @property
    def arrived(self) -> Path:
        return self.archive_dir / self.plot_name

    @property
    def destination(self) -> str:
        return daemon_url(self.fleet.address(HARVESTER), PORT, RSYNC_MODULE, USER)

    def make_source(self) -> None:
        self.source.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        digest = hashlib.sha256()
        with self.source.open("wb") as handle:
            left = self.size
            while left:
                block = os.urandom(min(CHUNK, left))
                digest.update(block)
                handle.write(block)
                left -= len(block)
            handle.flush()
            os.fsync(handle.fileno())
        self.digest = digest.hexdigest()
        print(f"source: {human(self.size)} of random data at {PLOTTER}:{SOURCE_FILE} "
              f"({self.source}), written in {time.monotonic() - started:.1f} s")

    def rsync_cmd(self, drop: str | None = None) -> list[str]:
        """The command plotfleet_archive runs for this plot (from transfers.rsync_command), as a
        bare rsync; ``drop`` leaves out the flag starting with it (--flag-study)."""
        log_file = transfer_log_path(TRANSFER_LOG_DIR, f"{DST_DIR}/{self.plot_name}", time.time())
        cmd = rsync_command(RSYNC, f"{DST_DIR}/{self.plot_name}", self.destination, password_file=PASSWORD_FILE,
                            log_file=log_file.removesuffix(".log") + ".bare-rsync.log", timeout=TIMEOUT)
        if drop == "minimal":
            return [cmd[0], f"--password-file={PASSWORD_FILE}", *cmd[-2:]]
        if drop:
            cmd = [arg for arg in cmd if not arg.startswith(drop)]
        return cmd

    # -- before and after each transfer --

    def prepare(self, *, link: bool) -> None:
        for leftover in self.archive_dir.iterdir():
            raise FleetError(f"{leftover} left in the archive dir by the previous transfer")
        if link:
            self.plot.unlink(missing_ok=True)
            os.link(self.source, self.plot)
        if self.cold:
            drop_caches()

    def finish(self, method: str, *, moved: bool) -> float:
        """Flushes (timed), checks the file arrived complete, removes it; returns the flush time."""
        flush = syncfs(self.archive_dir)
        if not self.arrived.exists():
            found = sorted(path.name for path in self.archive_dir.iterdir())
            raise FleetError(f"{method}: {self.plot_name} is not in {ARCHIVE_DIR} (found {found})")
        size = self.arrived.stat().st_size
        if size != self.size:
            raise FleetError(f"{method}: {self.arrived} has {size} bytes, expected {self.size}")
        if method not in self.verified:
            if sha256(self.arrived) != self.digest:
                raise FleetError(f"{method}: {self.arrived} differs from the source (sha256)")
            self.verified.add(method)
        if moved and self.plot.exists():
            raise FleetError(f"{method}: {self.plot} is still there after --remove-source-files")
        self.arrived.unlink()
        others = list(self.archive_dir.iterdir())
        if others:
            raise FleetError(f"{method}: left {', '.join(p.name for p in others)} in {ARCHIVE_DIR}")
        return flush

    # -- the methods --

    def copy(self) -> Sample:
        self.prepare(link=False)
        started = time.monotonic()
        subprocess.run(["cp", "--", str(self.source), str(self.arrived)], check=True)
        transfer = time.monotonic() - started
        return Sample(transfer, self.finish("copy", moved=False))

    def bare_rsync(self, drop: str | None = None) -> Sample:
        cmd = self.rsync_cmd(drop)
        self.prepare(link=True)
        started = time.monotonic()
        proc = self.fleet.host_run(PLOTTER, cmd, timeout=TIMEOUT * 4)
        transfer = time.monotonic() - started
        if proc.returncode != 0:
            raise FleetError(f"bare rsync failed (rc {proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
        name = "rsync" if drop is None else f"rsync {drop}"
        moved = "--remove-source-files" in cmd
        sample = Sample(transfer, self.finish(name, moved=moved))
        self.plot.unlink(missing_ok=True)
        return sample

    def archive(self) -> Sample:
        args = {"source": f"{DST_DIR}/{self.plot_name}", "host": self.fleet.address(HARVESTER), "port": PORT,
                "module": RSYNC_MODULE, "wait": True}
        self.prepare(link=True)
        cpu_before = children_cpu()
        started = time.monotonic()
        result = self.run_module(args)
        wall = time.monotonic() - started
        cpu = children_cpu() - cpu_before
        if result.get("failed") or not result.get("completed"):
            raise FleetError(f"plotfleet_archive failed: {result.get('msg')}\n{json.dumps(result, indent=2)}")
        self.module_cmd = result["cmd"]
        return Sample(float(result["seconds"]), self.finish("plotfleet_archive", moved=True), wall, cpu)

    def run_module(self, args: dict) -> dict:
        env = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
        proc = self.fleet.controller_run(["ansible", PLOTTER, "-m", "plotfleet_archive", "-a", json.dumps(args)],
                                         env=env, timeout=TIMEOUT * 4)
        # The ad-hoc callback prints "plotter1 | STATUS => {json}".
        marker = proc.stdout.find(" => {")
        try:
            result = json.loads(proc.stdout[marker + 4:]) if marker >= 0 else None
        except json.JSONDecodeError:
            result = None
        if not isinstance(result, dict):
            raise FleetError(f"no result from ansible (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        result.setdefault("failed", proc.returncode != 0)
        return result


# -- bring-up ------------------------------------------------------------------------------------


def roll_out(fleet: Fleet) -> None:
    varfile = fleet.workdir / "bench-vars.json"
    varfile.write_text(json.dumps(SITE_VARS, indent=2))
    started = time.monotonic()
    proc = fleet.controller_run(["ansible-playbook", "playbooks/site.yml", "-e", f"@{varfile}"], timeout=600)
    if proc.returncode != 0:
        raise FleetError(f"site.yml failed (rc {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    print(f"site.yml rolled out in {time.monotonic() - started:.1f} s "
          f"(harvester1 rsync daemon :{PORT}, module {RSYNC_MODULE} -> {ARCHIVE_DIR})")


# -- report --------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def report(bench: Bench, samples: dict[str, list[Sample]], load_before: str) -> None:
    size = bench.size
    rows: list[tuple[str, list[float], list[float]]] = []  # name, transfer s, transfer + flush s
    for name, runs in samples.items():
        rows.append((name, [s.transfer for s in runs], [s.transfer + s.flush for s in runs]))
        if name == "plotfleet_archive":
            rows.append(("  ansible wall", [s.wall or 0.0 for s in runs],
                         [(s.wall or 0.0) + s.flush for s in runs]))
    speed = {name: size / median(flushed) / MB for name, _, flushed in rows}
    best = {name: size / min(flushed) / MB for name, _, flushed in rows}
    no_flush = {name: size / median(transfer) / MB for name, transfer, _ in rows}
    print(f"\n{human(size)}, {len(samples['copy'])} rounds, page cache {'dropped' if bench.cold else 'warm'} "
          "before each transfer. Medians, and the best round; MB/s = 10^6 bytes per second of\n"
          "transfer + flush (the syncfs of the destination right after it); x = ratio of MB/s.")
    header = (f"{'method':<22} {'transfer s':>10} {'flush s':>7} {'MB/s':>6} {'x rsync':>8} {'x copy':>7} "
              f"{'best s':>7} {'best MB/s':>9} {'x rsync':>8} {'no-flush MB/s':>13}")
    print(header)
    print("-" * len(header))
    for name, transfer, flushed in rows:
        print(f"{name:<22} {median(transfer):>10.2f} {median(flushed) - median(transfer):>7.2f} {speed[name]:>6.0f} "
              f"{speed[name] / speed['rsync']:>7.2f}x {speed[name] / speed['copy']:>6.2f}x "
              f"{min(flushed):>7.2f} {best[name]:>9.0f} {best[name] / best['rsync']:>7.2f}x {no_flush[name]:>13.0f}")
    ratio = speed["plotfleet_archive"] / speed["rsync"]
    verdict = "meets" if ratio >= TARGET else "misses"
    print(f"\nplotfleet_archive / bare rsync = {ratio:.2f}x on medians (the module's rsync time; "
          f"{best['plotfleet_archive'] / best['rsync']:.2f}x on best rounds; "
          f"{speed['  ansible wall'] / speed['rsync']:.2f}x with Ansible's wall time): {verdict} the {TARGET}x "
          "target (informational)")
    cpu = median([s.controller_cpu or 0.0 for s in samples["plotfleet_archive"]])
    print(f"the controller's ansible (and ssh) used {cpu:.2f} CPU s per plotfleet_archive run (median), on the "
          "same CPUs as the transfer here; a real controller is another machine")
    print(f"bare rsync / copy = {speed['rsync'] / speed['copy']:.2f}x; "
          f"load average before {load_before}, after {load_average()}")
    print(f"rsync command (plotfleet_archive's): {' '.join(bench.module_cmd)}")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def same_flags(module_cmd: Sequence[str], bare_cmd: Sequence[str]) -> bool:
    """The module's rsync command and the bare one, log file and rsync path aside."""
    def flags(cmd: Sequence[str]) -> list[str]:
        return [arg for arg in cmd[1:] if not arg.startswith("--log-file=")]
    return flags(module_cmd) == flags(bare_cmd)


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# -- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=2 << 30, help="file size, e.g. 2G, 512M (default 2G)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--warm-cache", action="store_true", help="do not drop the page cache before transfers")
    parser.add_argument("--flag-study", action="store_true",
                        help=f"also time bare rsync without each of {', '.join(STUDY_FLAGS)}, and with none")
    parser.add_argument("--workdir", type=Path, help="fleet work dir (default <project>/.work/bench-archive-*)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("archive.py: run as root (the test fleet needs namespaces; dropping caches needs root)",
              file=sys.stderr)
        return 2
    # SIGTERM ends the run like Ctrl-C, so the fleet's context manager tears it down.
    signal.signal(signal.SIGTERM, interrupt)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="bench-archive-", dir=args.workdir))
    else:
        (ROOT / ".work").mkdir(exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="bench-archive-", dir=ROOT / ".work"))
    free = shutil.disk_usage(workdir).free
    if free < 3 * args.size:
        print(f"archive.py: {workdir} has {human(free)} free, needs about {human(3 * args.size)}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
        return 2
    fleet = Fleet(plan_hosts(1, 1), workdir)
    try:
        started = time.monotonic()
        with fleet:
            print(f"fleet {fleet.id} up in {time.monotonic() - started:.1f} s, work dir {workdir}")
            roll_out(fleet)
            bench = Bench(fleet, args.size, cold=not args.warm_cache)
            bench.make_source()
            # One untimed module run first: Ansible's SSH ControlPersist master is then up, as on a
            # controller that runs archive.yml every few minutes.
            bench.fleet.controller_run(["ansible", PLOTTER, "-m", "ping"], timeout=120, check=True)
            methods: dict[str, Callable[[], Sample]] = {
                "copy": bench.copy, "rsync": bench.bare_rsync, "plotfleet_archive": bench.archive}
            if args.flag_study:
                for flag in (*STUDY_FLAGS, "minimal"):
                    methods[f"rsync -{flag.lstrip('-')}" if flag != "minimal" else "rsync minimal"] = (
                        lambda flag=flag: bench.bare_rsync(flag))
            samples: dict[str, list[Sample]] = {name: [] for name in methods}
            load_before = load_average()
            names = list(methods)
            for round_no in range(args.repeat):
                order = names[round_no % len(names):] + names[:round_no % len(names)]
                for name in order:
                    sample = methods[name]()
                    samples[name].append(sample)
                    wall = (f", ansible wall {sample.wall:.2f} s, controller CPU {sample.controller_cpu:.2f} s"
                            if sample.wall is not None else "")
                    print(f"  round {round_no + 1} {name:<22} {sample.transfer:6.2f} s + flush {sample.flush:.2f} s"
                          f"{wall}", flush=True)
            if not same_flags(bench.module_cmd, bench.rsync_cmd()):
                raise FleetError(f"the bare rsync's flags differ from the module's:\n  module: {bench.module_cmd}\n"
                                 f"  bare:   {bench.rsync_cmd()}")
            print(f"every transfer arrived with {bench.size} bytes; sha256 checked once per method "
                  f"({', '.join(sorted(bench.verified))})")
            report(bench, samples, load_before)
    except FleetError as err:
        print(f"archive.py: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("archive.py: interrupted; the fleet was torn down", file=sys.stderr)
        return 130
    finally:
        # Only once the fleet is gone: a host still running would lose its files.
        if fleet.leftovers():
            print(f"archive.py: fleet teardown left things behind; keeping {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
