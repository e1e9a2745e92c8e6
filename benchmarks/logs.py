"""Benchmark: plot log analysis throughput, side by side with a bare read-and-regex loop and plotman.

Log sets, each a temp dir holding only the log files (so every method reads the same bytes):

  real      the 9 real and hand-written logs of tests/data/logs (chia 2.7.5 k25, chiapos k18,
            madMAx, Bladebit); small, so each timed sample runs over the set ``--real-loops`` times
  chia-xN   N (``--copies``, default 1,000) copies of chia-2.7.5-k25.log: a farm's log dir. A real
            k32 chiapos log has about as many lines (~2,600: lines are per bucket and table, not
            per k), so these stand for k32 logs too
  mixed-xN  N files cycling over the 9 real logs

Methods, interleaved over ``--repeat`` rounds (the order rotating each round) after one untimed
warm-up pass each (which also warms the page cache: this measures parsing, not the disk):

  floor           a bare Python loop: open each file, iterate its lines, one ``re.search`` per line.
                  What any line-based log reader pays at least
  parse_log_file  ``plotters.parse_log_file(path)`` for every file: plotfleet's parser
  read_logs       ``logs.read_logs(dir)``: what the plotfleet_log_info module runs (sniff each file's
                  head to tell plot logs from other files, parse, build the record dicts)
  plotman         plotman 0.5.3's own log parser, ``plotman.csv_exporter.parse_logs(files)`` (what
                  ``plotman export`` runs: identify the plotter from the lines, then
                  ``Plotter.update(bytes)``), in benchmarks/.venv-plotman, timed in-process by a
                  runner started once per run

Prints per set MB/s (10^6 bytes), logs/s and lines/s (medians and best rounds) with ratios to the
floor and to plotman, what each parser recognised, and the load average.

Run with the project venv (benchmarks/setup_baseline.sh makes the plotman venv; without it the
plotman column is left out):
    scripts/python benchmarks/logs.py [--copies 1000] [--repeat 3] [--sets real,chia,mixed]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from ansible_collections.plotfleet.fleet.plugins.module_utils.logs import read_logs
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import parse_log_file

LOG_DIR = ROOT / "tests" / "data" / "logs"
CHIA_LOG = "chia-2.7.5-k25.log"
PLOTMAN_PYTHON = ROOT / "benchmarks" / ".venv-plotman" / "bin" / "python"
MB = 1e6
# The floor's one regex per line: chiapos' phase time line, the most common "result" line.
FLOOR_PATTERN = re.compile(r"Time for phase (\d) = (\d+(?:\.\d+)?) seconds")

# Runs in the plotman venv: one JSON line when ready, then per request line {"files", "loops",
# "check"} one JSON line with the seconds parse_logs took (in-process, perf_counter).
PLOTMAN_RUNNER = r'''
import json, sys, time
import plotman.errors, plotman.plotters, plotman.csv_exporter
from plotman.csv_exporter import parse_logs
plotman.plotters.all_plotters()  # imports the plotter modules before the timing
print(json.dumps({"ready": True}), flush=True)
for request_line in sys.stdin:
    request = json.loads(request_line)
    files = request["files"]
    if request.get("check"):
        recognised, completed, phases = 0, 0, {}
        for name in files:
            with open(name) as handle:
                try:
                    kind = plotman.plotters.get_plotter_from_log(lines=handle)
                except plotman.errors.UnableToIdentifyPlotterFromLogError:
                    continue
            recognised += 1
            parser = kind()
            with open(name, "rb") as handle:
                parser.update(chunk=handle.read())
            info = parser.common_info()
            completed += bool(info.completed)
        print(json.dumps({"recognised": recognised, "completed": completed}), flush=True)
        continue
    clock = time.process_time if request.get("clock") == "cpu" else time.perf_counter
    started = clock()
    for _ in range(request["loops"]):
        parse_logs(files)
    print(json.dumps({"seconds": clock() - started}), flush=True)
'''


@dataclass
class LogSet:
    name: str
    directory: Path
    files: list[str]
    loops: int  # passes over the files per timed sample
    bytes: int = 0
    lines: int = 0
    samples: dict[str, list[float]] = field(default_factory=dict)
    recognised: dict[str, str] = field(default_factory=dict)

    def count(self) -> None:
        self.bytes = sum(os.path.getsize(name) for name in self.files)
        lines = 0
        for name in self.files:
            with open(name, "rb") as handle:
                lines += sum(1 for _ in handle)
        self.lines = lines


class Plotman:
    """plotman's log parser in its own venv, started once."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([str(PLOTMAN_PYTHON), "-c", PLOTMAN_RUNNER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self._read()

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the plotman runner exited (rc {self.proc.wait()})")
        return json.loads(line)

    def request(self, **request: object) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the methods, timed in this process --------------------------------------------------------


def floor(files: list[str]) -> int:
    found = 0
    search = FLOOR_PATTERN.search
    for name in files:
        with open(name, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if search(line) is not None:
                    found += 1
    return found


def parse_each(files: list[str]) -> int:
    return sum(1 for name in files if parse_log_file(name).plotter is not None)


def read_dir(directory: Path) -> int:
    records, _ignored = read_logs(str(directory))
    return len(records)


# --clock cpu times each method by its own process's CPU time (time.process_time, in both
# processes): on a machine shared with other work, wall-clock ratios mostly measure the sharing.
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock_name = "wall"


def timed(call: Callable[[], object], loops: int) -> float:
    clock = CLOCK[clock_name]
    started = clock()
    for _ in range(loops):
        call()
    return clock() - started


# -- log sets --------------------------------------------------------------------------------------


def make_set(name: str, workdir: Path, sources: list[Path], count: int, loops: int) -> LogSet:
    directory = workdir / name
    directory.mkdir()
    files = []
    for i in range(count):
        source = sources[i % len(sources)]
        target = directory / (f"{i:05d}-{source.name}" if count != len(sources) else source.name)
        shutil.copyfile(source, target)
        files.append(str(target))
    log_set = LogSet(name, directory, sorted(files), loops)
    log_set.count()
    return log_set


def build_sets(which: list[str], workdir: Path, copies: int, real_loops: int) -> list[LogSet]:
    real = sorted(LOG_DIR.glob("*.log"))
    sets = []
    for name in which:
        if name == "real":
            sets.append(make_set("real", workdir, real, len(real), real_loops))
        elif name == "chia":
            sets.append(make_set(f"chia-x{copies}", workdir, [LOG_DIR / CHIA_LOG], copies, 1))
        elif name == "mixed":
            sets.append(make_set(f"mixed-x{copies}", workdir, real, copies, 1))
        else:
            raise SystemExit(f"logs.py: unknown set {name!r} (real, chia, mixed)")
    return sets


def check(log_set: LogSet, plotman: Plotman | None) -> None:
    """What each parser makes of the set, once, untimed."""
    infos = [parse_log_file(name) for name in log_set.files]
    known = sum(info.plotter is not None for info in infos)
    done = sum(info.completed for info in infos)
    with_id = sum(info.plot_id is not None for info in infos)
    log_set.recognised["plotfleet"] = f"{known}/{len(infos)} recognised, {done} completed, {with_id} with plot id"
    records, ignored = read_logs(str(log_set.directory))
    log_set.recognised["read_logs"] = f"{len(records)} records, {len(ignored)} ignored"
    if plotman is not None:
        result = plotman.request(files=log_set.files, check=True)
        log_set.recognised["plotman"] = (f"{result['recognised']}/{len(infos)} recognised, "
                                         f"{result['completed']} completed")


def measure(log_set: LogSet, plotman: Plotman | None, repeat: int) -> None:
    files, loops = log_set.files, log_set.loops
    methods: dict[str, Callable[[], float]] = {
        "floor": lambda: timed(lambda: floor(files), loops),
        "parse_log_file": lambda: timed(lambda: parse_each(files), loops),
        "read_logs": lambda: timed(lambda: read_dir(log_set.directory), loops),
    }
    if plotman is not None:
        methods["plotman"] = lambda: float(plotman.request(files=files, loops=loops, clock=clock_name)["seconds"])
    for name, method in methods.items():  # warm-up: page cache, imports, regex caches
        if name != "plotman":
            method()
        else:
            plotman.request(files=files, loops=1)  # type: ignore[union-attr]
    names = list(methods)
    for round_no in range(repeat):
        order = names[round_no % len(names):] + names[:round_no % len(names)]
        for name in order:
            log_set.samples.setdefault(name, []).append(methods[name]())
    print(f"  {log_set.name}: " + ", ".join(f"{name} {statistics.median(s):.3f} s"
                                            for name, s in log_set.samples.items()), flush=True)


# -- report ----------------------------------------------------------------------------------------


def report(sets: list[LogSet], repeat: int, load_before: str) -> None:
    print(f"\n{repeat} interleaved rounds per set, warm page cache; median of rounds (best round in the "
          "last columns). MB = 10^6 bytes; x = ratio of throughput (higher is faster).")
    for log_set in sets:
        work = log_set.loops
        print(f"\n{log_set.name}: {len(log_set.files)} files, {log_set.bytes / MB:.2f} MB, {log_set.lines:,} lines"
              + (f", x{work} passes per sample" if work > 1 else ""))
        header = (f"  {'method':<15} {'s/pass':>8} {'MB/s':>7} {'logs/s':>8} {'lines/s':>10} {'x floor':>8} "
                  f"{'x plotman':>9} {'best MB/s':>9} {'best x plotman':>14}")
        print(header)
        print("  " + "-" * (len(header) - 2))
        median_s = {name: statistics.median(s) / work for name, s in log_set.samples.items()}
        best_s = {name: min(s) / work for name, s in log_set.samples.items()}
        for name, seconds in median_s.items():
            vs_plotman = (f"{median_s['plotman'] / seconds:>8.2f}x" if "plotman" in median_s else f"{'-':>9}")
            best_vs = (f"{best_s['plotman'] / best_s[name]:>13.2f}x" if "plotman" in best_s else f"{'-':>14}")
            print(f"  {name:<15} {seconds:>8.4f} {log_set.bytes / seconds / MB:>7.1f} "
                  f"{len(log_set.files) / seconds:>8.0f} {log_set.lines / seconds:>10,.0f} "
                  f"{median_s['floor'] / seconds:>7.2f}x {vs_plotman} "
                  f"{log_set.bytes / best_s[name] / MB:>9.1f} {best_vs}")
        for parser, text in log_set.recognised.items():
            print(f"  {parser}: {text}")
    print(f"\nload average before {load_before}, after {load_average()} ({os.cpu_count()} CPUs); "
          f"floor = line iteration + re.search({FLOOR_PATTERN.pattern!r}) per line")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=1000, help="files in the chia and mixed sets (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--real-loops", type=int, default=50, help="passes over the real set per sample (default 50)")
    parser.add_argument("--sets", default="real,chia,mixed", help="comma-separated: real, chia, mixed")
    parser.add_argument("--no-plotman", action="store_true", help="leave plotman out")
    parser.add_argument("--clock", choices=sorted(CLOCK), default="wall",
                        help="wall (default) or cpu: each process's own CPU time, for a busy machine")
    parser.add_argument("--workdir", type=Path, help="where the log sets are made (default a temp dir)")
    args = parser.parse_args(argv)
    global clock_name
    clock_name = args.clock
    signal.signal(signal.SIGTERM, interrupt)
    plotman = None
    if not args.no_plotman:
        if PLOTMAN_PYTHON.exists():
            plotman = Plotman()
        else:
            print(f"logs.py: {PLOTMAN_PYTHON} is missing (benchmarks/setup_baseline.sh); leaving plotman out",
                  file=sys.stderr)
    workdir = Path(tempfile.mkdtemp(prefix="bench-logs-", dir=args.workdir))
    load_before = load_average()
    try:
        sets = build_sets([name.strip() for name in args.sets.split(",") if name.strip()], workdir,
                          args.copies, args.real_loops)
        for log_set in sets:
            check(log_set, plotman)
            measure(log_set, plotman, args.repeat)
        report(sets, args.repeat, load_before)
    except KeyboardInterrupt:
        print("logs.py: interrupted", file=sys.stderr)
        return 130
    finally:
        if plotman is not None:
            plotman.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
