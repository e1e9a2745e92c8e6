"""Benchmark: plot-job discovery on a crowded host, side by side with plotman 0.5.3's.

Builds the host state first: ``--processes`` unrelated processes (``sleep`` under command lines
shaped like what a farming host runs, a few of which mention plots without being plot jobs) and
``--jobs`` real ``chia plots create`` jobs, each stopped with SIGSTOP once its log shows the plot
id so that it holds still and leaves the CPUs to the measurement. Then it times, interleaved so
that drift hits every method alike:

  proc-scan        read /proc/*/cmdline and nothing else: the floor any discovery pays
  discover_jobs    plotfleet's job discovery (the headline figure)
  plotter_state    plotfleet's read_plotter_state: jobs, tmp/dst dirs and transfers
  plotman          plotman 0.5.3's Job.get_running_jobs(logroot), timed in its own venv

Every method is timed in-process (plotman's by benchmarks/plotman_runner.py, started once), so no
interpreter start-up is measured. Figures are ratios to plotman measured in the same run.
Everything started here is killed by the PID we got, and its files removed, even on Ctrl-C.

Run with the project venv after ``benchmarks/setup_baseline.sh``:
    scripts/python benchmarks/discovery.py [--processes 2000] [--jobs 4] [--repeat 15] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from ansible_collections.plotfleet.fleet.plugins.module_utils.config import Config, parse_config
from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import discover_jobs
from ansible_collections.plotfleet.fleet.plugins.module_utils.state import read_plotter_state

HERE = Path(__file__).resolve().parent
PLOTMAN_PYTHON = HERE / ".venv-plotman" / "bin" / "python"
PLOTMAN_RUNNER = HERE / "plotman_runner.py"
CHIA_VENV = ROOT / ".venv-chia"
CHIA = CHIA_VENV / "bin" / "chia"
# Throwaway keys: plots made with them are real but farm for nobody.
FARMER_PK = "aefe1789d6476f60439e1168f588ea16652dc321279f05a805fbc63933e88ae9c175d6c6ab182e54af562e1a0dce41bb"
POOL_PK = "b6144137baa6440c17386d1a407fb3670d3b3627b4fa8bf4b56433f861eaba4e076cefac1d9365de56a0e5d976ad7354"
TARGET_RATIO = 0.3
PLOT_ID_LINE = re.compile(rb"^ID: [0-9a-f]{64}", re.M)
SLEEP = shutil.which("sleep") or "/bin/sleep"

# What the unrelated processes call themselves (argv[0], as daemons that rewrite their command
# line show it); {i} varies them.
NOISE_NAMES = (
    "/usr/sbin/nginx: worker process {i}",
    "postgres: 15/main: app app_db 10.0.3.{i}(5{i}) idle",
    "/usr/bin/python3 -m gunicorn service.wsgi:application --workers 8 --bind unix:/run/svc{i}.sock",
    "/usr/lib/jvm/java-17-openjdk-amd64/bin/java -Xms512m -Xmx2g -Dlog.dir=/var/log/svc -jar /opt/svc/worker-{i}.jar",
    "/bin/bash /opt/scripts/collect-metrics.sh --interval 10 --host node{i}",
    "sshd: operator@pts/{i}",
    "/usr/bin/containerd-shim-runc-v2 -namespace moby -id {i:064x} -address /run/containerd/containerd.sock",
    "/root/chia-blockchain/venv/bin/python -m chia.server.start_harvester --worker {i}",
)
# One process in PLOT_MENTION_EVERY mentions plots without being a plot job, as on a real plotting
# host: it passes any cheap byte filter and must be rejected by the command-line parser.
PLOT_MENTION_EVERY = 50
PLOT_MENTIONS = (
    "tail -F /var/log/plotfleet/plots/2024-01-{i}.log",
    "du -sh /mnt/farm{i}/plots",
)


@dataclass
class HostState:
    base: Path
    logs: Path
    tmp_dirs: list[Path]
    dst_dirs: list[Path]
    noise: list[subprocess.Popen] = field(default_factory=list)
    jobs: list[subprocess.Popen] = field(default_factory=list)


def kill_all(procs: Sequence[subprocess.Popen], what: str) -> None:
    """SIGKILL every process we started, by its pid, and reap it (a stopped one dies too)."""
    for proc in procs:
        proc.kill()  # by the pid Popen holds; an unreaped child's pid cannot have been reused
    for proc in procs:
        proc.wait()
    if procs:
        print(f"cleanup: killed {len(procs)} {what}", file=sys.stderr)


def start_noise(count: int, into: list[subprocess.Popen]) -> None:
    """``count`` sleeping processes in one process group of their own, appended to ``into`` as started."""
    rng = random.Random(1)
    group = 0  # the first one leads a new group; the others join it
    for i in range(count):
        names = PLOT_MENTIONS if i % PLOT_MENTION_EVERY == PLOT_MENTION_EVERY - 1 else NOISE_NAMES
        name = rng.choice(names).format(i=rng.randrange(1, 99999))
        proc = subprocess.Popen([name, "1d"], executable=SLEEP, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, process_group=group)
        into.append(proc)
        group = group or proc.pid


def chia_init(chia_root: Path) -> None:
    subprocess.run([str(CHIA), "init"], env={**os.environ, "CHIA_ROOT": str(chia_root)}, check=True,
                   capture_output=True, timeout=180)


def start_plot_jobs(state: HostState, count: int, chia_root: Path) -> None:
    """Real chia plot jobs, each logging to its own file in the log dir, appended to state.jobs."""
    env = {**os.environ, "CHIA_ROOT": str(chia_root)}
    for i in range(count):
        tmp = state.tmp_dirs[i % len(state.tmp_dirs)]
        dst = state.dst_dirs[i % len(state.dst_dirs)]
        # "python <script>": plotman 0.5.3 only recognises the chia script run by an interpreter
        # named exactly "python" (the venv's shebang says python3, which plotman would not see).
        argv = [str(CHIA_VENV / "bin" / "python"), str(CHIA), "plots", "create", "-k", "25", "--override-k",
                "-r", "1", "-b", "512", "-f", FARMER_PK, "-p", POOL_PK, "-t", str(tmp), "-d", str(dst), "-x"]
        with open(state.logs / f"plot-{i}.log", "ab") as log:
            state.jobs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                               env=env, start_new_session=True))


def stop_when_started(state: HostState, timeout: float = 180) -> None:
    """SIGSTOP each job as soon as its log shows the plot id; fail if one does not get there."""
    waiting = dict(enumerate(state.jobs))
    deadline = time.monotonic() + timeout
    while waiting:
        for i, proc in list(waiting.items()):
            if proc.poll() is not None:
                raise RuntimeError(f"plot job {i} (pid {proc.pid}) exited with {proc.returncode}; "
                                   f"see {state.logs / f'plot-{i}.log'}")
            if PLOT_ID_LINE.search((state.logs / f"plot-{i}.log").read_bytes()):
                os.kill(proc.pid, signal.SIGSTOP)
                del waiting[i]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for the plot id of jobs {sorted(waiting)}")
        time.sleep(0.2)


@contextmanager
def host_state(processes: int, jobs: int) -> Iterator[HostState]:
    with ExitStack() as cleanup:
        base = Path(tempfile.mkdtemp(prefix="plotfleet-bench-"))
        cleanup.callback(shutil.rmtree, base, ignore_errors=True)
        state = HostState(base, base / "logs", [base / "tmp0", base / "tmp1"], [base / "dst0"])
        for path in [state.logs, *state.tmp_dirs, *state.dst_dirs, base / "transfers", base / "chia-root"]:
            path.mkdir()
        cleanup.callback(kill_all, state.jobs, "plot jobs")  # runs before the rmtree above
        cleanup.callback(kill_all, state.noise, "unrelated processes")

        started = time.monotonic()
        if jobs:
            chia_init(base / "chia-root")
            start_plot_jobs(state, jobs, base / "chia-root")
        start_noise(processes, state.noise)
        stop_when_started(state)
        print(f"host state: {processes} unrelated processes ({processes // PLOT_MENTION_EVERY} mentioning plots), "
              f"{jobs} plot jobs (stopped), "
              f"{count_processes()} processes in /proc; built in {time.monotonic() - started:.1f} s")
        yield state


def count_processes() -> int:
    return sum(name.isdigit() for name in os.listdir("/proc"))


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def scan_cmdlines() -> int:
    """The floor: read every /proc/<pid>/cmdline once, as any discovery must."""
    read = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    handle.read()
                read += 1
            except OSError:
                continue
    return read


def plotter_config(state: HostState) -> Config:
    return parse_config({
        "logging": {"plots": str(state.logs), "transfers": str(state.base / "transfers")},
        "directories": {"tmp": [str(p) for p in state.tmp_dirs], "dst": [str(p) for p in state.dst_dirs]},
    }, "<benchmark>")


class PlotmanRunner:
    """plotman_runner.py in the plotman venv, started once; each ``measure()`` is one timed call."""

    def __init__(self, logroot: Path) -> None:
        # Its own process group: Ctrl-C interrupts us, and close() then ends it.
        self.proc = subprocess.Popen([str(PLOTMAN_PYTHON), str(PLOTMAN_RUNNER), str(logroot)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, process_group=0)
        if not json.loads(self._line()).get("ready"):
            raise RuntimeError("plotman runner did not start")
        self.last: dict = {}

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"plotman runner exited with {self.proc.wait()}")
        return line

    def measure(self) -> tuple[float, list[int]]:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        self.last = json.loads(self._line())
        return self.last["seconds"], self.last["pids"]

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


Measure = Callable[[], tuple[float, list[int]]]


def in_process(call: Callable[[], list[int]]) -> Measure:
    def measure() -> tuple[float, list[int]]:
        start = time.perf_counter()
        found = call()
        return time.perf_counter() - start, found

    return measure


def run_interleaved(methods: dict[str, Measure], repeat: int) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    """One untimed warm-up each, then ``repeat`` rounds A B C D, the order rotating every round."""
    names = list(methods)
    found = {name: methods[name]()[1] for name in names}
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for rnd in range(repeat):
        shift = rnd % len(names)
        for name in names[shift:] + names[:shift]:
            took, found[name] = methods[name]()
            seconds[name].append(took)
    return seconds, found


def print_table(seconds: dict[str, list[float]], found: dict[str, str], baseline: str) -> None:
    base = statistics.median(seconds[baseline])
    print(f"\n{'method':<16} {'found':>8} {'median ms':>10} {'min ms':>8} {'x plotman':>10}")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"{name:<16} {found[name]:>8} {median * 1000:>10.1f} {min(values) * 1000:>8.1f} {median / base:>9.2f}x")


def profile(call: Callable[[], object], rounds: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        call()
    profiler.disable()
    print(f"\ncProfile of discover_jobs, {rounds} calls (times are totals over them):")
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
    stats.sort_stats("tottime").print_stats(15)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2000, help="unrelated processes to start (default 2000)")
    parser.add_argument("--jobs", type=int, default=4, help="real chia plot jobs to start (default 4)")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls of each method (default 15)")
    parser.add_argument("--profile", action="store_true", help="also cProfile discover_jobs and print the top")
    args = parser.parse_args(argv)
    if not PLOTMAN_PYTHON.exists():
        parser.error(f"{PLOTMAN_PYTHON} is missing: run benchmarks/setup_baseline.sh")
    if args.jobs and not CHIA.exists():
        parser.error(f"{CHIA} is missing: run scripts/setup --chia")

    # Ctrl-C raises KeyboardInterrupt; make SIGTERM unwind the same way so cleanup runs.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with host_state(args.processes, args.jobs) as state, ExitStack() as stack:
        config = plotter_config(state)
        plotman = PlotmanRunner(state.logs)
        stack.callback(plotman.close)
        methods: dict[str, Measure] = {
            "proc-scan": in_process(lambda: [0] * scan_cmdlines()),
            "discover_jobs": in_process(lambda: sorted(job.pid for job in discover_jobs(str(state.logs)))),
            "plotter_state": in_process(lambda: sorted(job.pid for job in read_plotter_state(config).jobs)),
            "plotman": plotman.measure,
        }
        load_before = load_average()
        seconds, found = run_interleaved(methods, args.repeat)

        started = sorted(proc.pid for proc in state.jobs)
        shown = {name: str(len(pids)) for name, pids in found.items()}
        shown["proc-scan"] = f"{len(found['proc-scan'])}p"  # processes read, not jobs
        print_table(seconds, shown, "plotman")
        ratio = statistics.median(seconds["discover_jobs"]) / statistics.median(seconds["plotman"])
        verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
        print(f"\ndiscover_jobs / plotman = {ratio:.2f}x (target <= {TARGET_RATIO}x): {verdict} (informational)")
        print(f"median of {args.repeat} interleaved calls each; found = jobs found (proc-scan: processes read)")
        print(f"load average before/after: {load_before} / {load_average()} on {os.cpu_count()} CPUs")
        for name in ("discover_jobs", "plotter_state", "plotman"):
            missed, others = set(started) - set(found[name]), sorted(set(found[name]) - set(started))
            if missed:
                print(f"WARNING: {name} missed the started jobs {sorted(missed)}")
            if others:
                print(f"note: {name} also found plot jobs this benchmark did not start (pids {others}); "
                      "its figures include them")
        if plotman.last.get("logs") and any(not log for log in plotman.last["logs"]):
            print(f"WARNING: plotman found no log for some jobs: {plotman.last['logs']}")
        if args.profile:
            profile(lambda: discover_jobs(str(state.logs)), args.repeat)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # cleanup has run by now
        sys.exit(130)
