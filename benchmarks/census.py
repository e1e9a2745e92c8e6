"""Benchmark: the harvester census with 100,000 plot files in one archive dir, side by side with
``find <dir> -name 'plot-*' | wc -l``.

It fills a dir (a tmpfs mounted for the run with ``--tmpfs``, else a temp dir under ``--parent``)
with ``--plots`` sparse files under real plot names of mixed kinds -- v1 k32, Bladebit C1-C9,
Gigahorse C8/C18/C30, v2 k28 .plot2, a few non-standard names -- each the size of its kind and an
mtime spread over the last 30 days, plus a few files in flight. Then it times, over ``--repeat``
interleaved rounds (the order rotating each round, one untimed warm-up each):

  find          ``find <dir> -name 'plot-*' | wc -l`` (names only, no stat): the baseline
  find-stat     ``find <dir> -name 'plot-*' -printf '%s %T@\\n' | wc -l`` (size and mtime, as the census)
  scandir       a bare Python ``os.scandir`` + ``stat`` of every entry: the floor in Python
  census        ``harvester.snapshot_dir`` + ``report_dir`` without names: what the module computes
  module        ``plotfleet_space_info``'s work in-process (``info.harvester_info``), names off
  module+names  the same with ``plot_names=true`` (what archive.yml asks for)
  ansible       ``ansible localhost -m plotfleet_space_info`` (names off): the whole round trip
  ansible+names the same with ``plot_names=true``

and prints median/min wall ms and median CPU ms (this process and its children: find, wc,
ansible), each with its ratio to ``find``, and the size of the module's JSON result with and
without names. On a busy machine the CPU figures are the ones to compare.
The dir (and the tmpfs) is removed at the end, also on Ctrl-C.

    scripts/python benchmarks/census.py [--plots 100000] [--repeat 5] [--tmpfs] [--no-ansible]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
    ArchiveDir,
    HarvesterConfig,
    harvester_info,
    report_dir,
    snapshot_dir,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import (
    BLADEBIT,
    GIGAHORSE,
    V1,
    V2,
    PlotKind,
    nominal_plot_bytes,
)

# (share of the files, kind, how the level is written in the name)
ROOT = Path(__file__).resolve().parent.parent

_MIX = (
    (0.35, PlotKind(V1, 32), ""),
    *((0.02, PlotKind(V1, 32, level, BLADEBIT), f"-c{level:02d}") for level in range(1, 10)),
    (0.05, PlotKind(V1, 32, 8, GIGAHORSE), "-c8"),
    (0.03, PlotKind(V1, 32, 18, GIGAHORSE), "-c18"),
    (0.01, PlotKind(V1, 32, 30, GIGAHORSE), "-c30"),
    (0.36, PlotKind(V2, 28), None),
)


def plot_name(rng: random.Random, level_text: str | None, mtime: float) -> str:
    plot_id = f"{rng.getrandbits(256):064x}"
    if level_text is None:
        return f"plot-k28-{plot_id}.plot2"
    date = time.strftime("%Y-%m-%d-%H-%M", time.gmtime(mtime))
    return f"plot-k32{level_text}-{date}-{plot_id}.plot"


def fill(directory: str, count: int) -> dict[str, int]:
    rng = random.Random(20261201)
    now = time.time()
    weights = [share for share, _kind, _text in _MIX]
    made: dict[str, int] = {}
    for index in range(count):
        _share, kind, level_text = rng.choices(_MIX, weights)[0]
        mtime = now - rng.uniform(0, 30 * 86400)
        name = plot_name(rng, level_text, mtime) if index % 1000 else f"odd-name-{index}.plot"
        path = os.path.join(directory, name)
        with open(path, "wb") as handle:
            handle.truncate(nominal_plot_bytes(kind))  # sparse: the size of its kind, no blocks
        os.utime(path, (mtime, mtime))
        made[kind.key] = made.get(kind.key, 0) + 1
    for index in range(3):  # plots in flight
        with open(os.path.join(directory, f".plot-k28-{index:064x}.plot2.Ab12C{index}"), "wb") as handle:
            handle.truncate(500_000_000)
    return made


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (find, wc, ansible and its workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """Wall and CPU milliseconds of one call: on a loaded machine the CPU time is the fair figure."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    value = fn()
    return (time.perf_counter() - start) * 1000, (_cpu_seconds() - cpu) * 1000, value


def shell(command: str) -> Callable[[], str]:
    return lambda: subprocess.run(command, shell=True, check=True, capture_output=True, text=True).stdout.strip()


def bare_scandir(directory: str) -> Callable[[], int]:
    def run() -> int:
        count = 0
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("plot-"):
                    entry.stat(follow_symlinks=False)
                    count += 1
        return count
    return run


def census(directory: str) -> Callable[[], int]:
    return lambda: report_dir(ArchiveDir(directory), snapshot_dir(directory), with_names=False).plots


def module_result(config: HarvesterConfig, names: bool) -> Callable[[], dict]:
    return lambda: harvester_info(config, None, names)


def ansible(config_path: str, names: bool) -> Callable[[], int]:
    args = f"config={config_path} plot_names={'true' if names else 'false'}"
    command = [str(ROOT / ".venv" / "bin" / "ansible"), "localhost", "-m", "plotfleet_space_info", "-a", args]

    def run() -> int:
        proc = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
        return len(proc.stdout)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plots", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--parent", default=None, help="where the temp dir goes (default: the system temp dir)")
    parser.add_argument("--tmpfs", action="store_true", help="mount a tmpfs for the dir (root)")
    parser.add_argument("--no-ansible", action="store_true", help="skip the runs through Ansible")
    options = parser.parse_args()

    work = tempfile.mkdtemp(prefix="plotfleet-census-", dir=options.parent)
    directory = os.path.join(work, "archive0")
    os.mkdir(directory)
    mounted = False

    def cleanup(*_args: object) -> None:
        if mounted:
            subprocess.run(["umount", directory], check=False)
        shutil.rmtree(work, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(143)))
    try:
        if options.tmpfs:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,nr_inodes=0", "tmpfs", directory], check=True)
            mounted = True
        fs = subprocess.run(["stat", "-f", "-c", "%T", directory], capture_output=True, text=True).stdout.strip()
        start = time.perf_counter()
        made = fill(directory, options.plots)
        print(f"{options.plots:,} plot files on {fs} in {time.perf_counter() - start:.1f} s: "
              + ", ".join(f"{key} {count:,}" for key, count in sorted(made.items())))
        config_path = os.path.join(work, "harvester.yml")
        Path(config_path).write_text(json.dumps({"archive_dirs": [{"path": directory, "rsync_module": "a"}]}))
        config = HarvesterConfig((ArchiveDir(directory, "a"),))

        methods: dict[str, Callable[[], object]] = {
            "find": shell(f"find {directory} -name 'plot-*' | wc -l"),
            "find-stat": shell(f"find {directory} -name 'plot-*' -printf '%s %T@\\n' | wc -l"),
            "scandir": bare_scandir(directory),
            "census": census(directory),
            "module": module_result(config, False),
            "module+names": module_result(config, True),
        }
        if not options.no_ansible:
            methods["ansible"] = ansible(config_path, False)
            methods["ansible+names"] = ansible(config_path, True)
        results: dict[str, list[float]] = {name: [] for name in methods}
        cpu: dict[str, list[float]] = {name: [] for name in methods}
        values: dict[str, object] = {}
        for name, method in methods.items():  # warm-up: page cache, imports
            values[name] = method()
        names = list(methods)
        for round_index in range(options.repeat):
            order = names[round_index % len(names):] + names[: round_index % len(names)]
            for name in order:
                elapsed, used, values[name] = timed(methods[name])
                results[name].append(elapsed)
                cpu[name].append(used)

        baseline = statistics.median(results["find"])
        cpu_baseline = statistics.median(cpu["find"])
        print(f"\n{'method':<14} {'median ms':>10} {'min ms':>9} {'x find':>7} {'cpu ms':>9} {'x find':>7}   result")
        for name in names:
            median = statistics.median(results[name])
            cpu_median = statistics.median(cpu[name])
            shown = values[name]
            if isinstance(shown, dict):
                entries = shown["archive_dirs"][0]
                shown = f"{entries['plots']:,} plots, {len(json.dumps(shown)):,} B of JSON"
            elif name.startswith("ansible"):
                shown = f"{shown:,} B of output"
            print(f"{name:<14} {median:>10.1f} {min(results[name]):>9.1f} {median / baseline:>7.2f} "
                  f"{cpu_median:>9.1f} {cpu_median / cpu_baseline:>7.2f}   {shown}")
        print(f"\nload average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, {options.repeat} rounds")
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
