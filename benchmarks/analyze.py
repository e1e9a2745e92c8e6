"""Benchmark: ``analyze.yml`` end to end against ``plotman analyze``, whole processes, per-log work.

Each command runs as a whole process (interpreter, imports, Ansible start-up, the module on the
host, the controller's statistics, the output) over a dir of N logs and over a dir of one log; the
per-log work is (N-log run - 1-log run) / (N - 1), so the fixed start-up cancels out:

  analyze.yml      ``ansible-playbook playbooks/analyze.yml -e plotfleet_log_dir=DIR`` on the
                   embedded localhost inventory (the module parses on the host, the controller
                   aggregates), output to /dev/null
  plotman analyze  ``plotman analyze DIR/*`` in benchmarks/.venv-plotman (plotman 0.5.3), with a
                   default plotman.yaml in a temp XDG_CONFIG_HOME

Logs: N copies of tests/data/logs/chia-2.7.5-k25.log (``--set chia``, the default) or N files
cycling over every real log (``--set mixed``, analyze.yml only: plotman 0.5.3's analyze reads
chiapos logs only and stops with a KeyError on a madMAx or Bladebit log).
Runs alternate between the commands over ``--repeat`` rounds (the order rotating). Times are the
processes' CPU time (user + sys of the process tree, from ``wait4``), so a machine shared with
other work does not skew the ratio, and wall time for reference.

    scripts/python benchmarks/analyze.py [--copies 1000] [--repeat 3] [--set chia|mixed]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "tests" / "data" / "logs"
CHIA_LOG = "chia-2.7.5-k25.log"
PLOTMAN = ROOT / "benchmarks" / ".venv-plotman" / "bin" / "plotman"
PLAYBOOK = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(ROOT / "playbooks" / "analyze.yml")]


def make_dir(parent: Path, name: str, sources: list[Path], count: int) -> Path:
    directory = parent / name
    directory.mkdir()
    for i in range(count):
        source = sources[i % len(sources)]
        shutil.copyfile(source, directory / f"{i:05d}-{source.name}")
    return directory


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds of the process tree, wall seconds) of one run; fails loudly on an error."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"analyze.py: {cmd[0]} exited {proc.returncode}:\n{err[-2000:]}")
    return usage.ru_utime + usage.ru_stime, wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=1000, help="logs in the big dir (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--set", choices=("chia", "mixed"), default="chia")
    parser.add_argument("--no-plotman", action="store_true", help="leave plotman out")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    try:
        sources = [LOG_DIR / CHIA_LOG] if args.set == "chia" else sorted(LOG_DIR.glob("*.log"))
        dirs = {1: make_dir(work, "one", sources[:1], 1), args.copies: make_dir(work, "many", sources, args.copies)}
        config_home = work / "xdg"
        base_env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
        commands = {"analyze.yml": lambda d: ([*PLAYBOOK, "-e", f"plotfleet_log_dir={d}"], base_env)}
        if args.set == "mixed":
            print("analyze.py: plotman analyze is left out of the mixed set (it fails on non-chiapos logs)",
                  file=sys.stderr)
        elif not args.no_plotman and PLOTMAN.exists():
            plotman_env = {**os.environ, "XDG_CONFIG_HOME": str(config_home)}
            subprocess.run([str(PLOTMAN), "config", "generate"], env=plotman_env, check=True,
                           stdout=subprocess.DEVNULL)
            commands["plotman analyze"] = lambda d: ([str(PLOTMAN), "analyze", *sorted(map(str, d.iterdir()))],
                                                     plotman_env)
        elif not args.no_plotman:
            print(f"analyze.py: {PLOTMAN} is missing (benchmarks/setup_baseline.sh); leaving plotman out",
                  file=sys.stderr)
        samples: dict[tuple[str, int], list[tuple[float, float]]] = {}
        runs = [(name, n) for name in commands for n in dirs]
        for name, n in runs:  # warm-up: page cache, .pyc files
            run(*commands[name](dirs[n]))
        for round_no in range(args.repeat):
            order = runs[round_no % len(runs):] + runs[:round_no % len(runs)]
            for name, n in order:
                samples.setdefault((name, n), []).append(run(*commands[name](dirs[n])))
        print(f"{args.set}: {args.copies} logs vs 1 log, {args.repeat} rounds, medians; per-log work = "
              f"(run on {args.copies} - run on 1) / {args.copies - 1}")
        print(f"  {'command':<16} {'1 log cpu s':>11} {'N logs cpu s':>12} {'per-log cpu ms':>14} "
              f"{'per-log wall ms':>15} {'x plotman (cpu)':>15}")
        per_log: dict[str, tuple[float, float]] = {}
        for name in commands:
            one = [s for s in samples[(name, 1)]]
            many = [s for s in samples[(name, args.copies)]]
            cpu1, cpun = statistics.median(c for c, _ in one), statistics.median(c for c, _ in many)
            wall1, walln = statistics.median(w for _, w in one), statistics.median(w for _, w in many)
            per_log[name] = ((cpun - cpu1) / (args.copies - 1), (walln - wall1) / (args.copies - 1))
            per_log[name + "/abs"] = (cpu1, cpun)
        for name in commands:
            cpu, wall = per_log[name]
            cpu1, cpun = per_log[name + "/abs"]
            ratio = (f"{per_log['plotman analyze'][0] / cpu:>14.2f}x" if "plotman analyze" in per_log
                     else f"{'-':>15}")
            print(f"  {name:<16} {cpu1:>11.2f} {cpun:>12.2f} {cpu * 1e3:>14.3f} {wall * 1e3:>15.3f} {ratio}")
        print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} CPUs)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
