"""Benchmark: fleet status wall time as hosts grow, side by side with an Ansible ping of the same fleet.

For each fleet size in ``--sizes`` (default 1,4,8,16; half plotters, half harvesters, the odd
host a harvester) it brings up a namespace test fleet (tests/fleet), rolls out
playbooks/site.yml once with ``-e @tests/fleet/vars.yml`` and then, from the controller's
namespace, times over ``--repeat`` interleaved rounds (the order alternating each round):

  status   ``ansible-playbook playbooks/status.yml``: plotfleet_host_info on every host (a
           plotter's jobs, a harvester's space), the report rendered on the controller
  ping     ``ansible all -m ansible.builtin.ping``: reaching every host with Ansible over SSH and
           running the smallest module there, the baseline
  dash     the live dashboard's refresh (scripts/watch, benchmarks/dashboard_refresh.py): every
           host's snapshot over the ssh sessions its agents keep open; the median of 5 refreshes
           per round, and apart the first refresh ("dash connect": one ssh + agent per host started)

Before the rounds one ping and one status run are timed as "first contact" (the SSH
ControlPersist masters are set up then, as on a controller that has not talked to the fleet in
the last 5 minutes); the rounds then run with the masters up, as on a controller that runs status
regularly. The report has, per size, the medians, status / ping and the controller's CPU seconds
per run, then the per-host marginal cost (least-squares slope over the sizes) of both. Forks come
from ansible.cfg unless ``--forks`` is given. ``--profile`` adds one extra status run per size
with a small timing callback (written to the fleet's work dir) that shows which task the time
goes to.

The plotter role's Chia CLI tasks (pip check of .venv-chia and ``chia init`` per plotter) are
skipped in the roll-out unless ``--with-chia``: status does not use them, and on 2 CPUs they
make up most of a 16-host roll-out.

Every fleet is torn down (its processes killed by PID, its namespaces deleted) before the next
size starts, and on errors, Ctrl-C or SIGTERM.

Run as root with the project venv:
    scripts/python benchmarks/status.py [--sizes 1,4,8,16] [--repeat 3] [--forks N] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fleet import Fleet, FleetError, plan_hosts

VARS_FILE = ROOT / "tests" / "fleet" / "vars.yml"
PLAYBOOK_TIMEOUT = 900
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
                   r"\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", re.M)

# A stdout-less callback that records when each task starts and when each host's result arrives.
TIMING_CALLBACK = '''
import json, os, time
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "plotfleet_bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.t0 = time.monotonic()
        self.events = []

    def _event(self, kind, name, host=None):
        self.events.append({"t": time.monotonic() - self.t0, "kind": kind, "name": name, "host": host})

    def v2_playbook_on_play_start(self, play):
        self._event("play", play.get_name())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._event("task", task.get_name())

    def v2_runner_on_ok(self, result):
        self._event("result", result._task.get_name(), result._host.get_name())

    v2_runner_on_failed = v2_runner_on_unreachable = v2_runner_on_skipped = v2_runner_on_ok

    def v2_playbook_on_stats(self, stats):
        self._event("end", "")
        with open(os.environ["PLOTFLEET_BENCH_TIMING"], "w") as handle:
            json.dump(self.events, handle)
'''


@dataclass
class Run:
    wall: float
    cpu: float  # user + system CPU s on the controller: ansible, its ssh clients and ControlPersist masters
    hosts_cpu: float  # user + system CPU s inside the hosts' PID namespaces: sshd, shells, modules


@dataclass
class SizeResult:
    hosts: int
    plotters: int
    harvesters: int
    rollout: float
    first_ping: Run
    first_status: Run
    runs: dict[str, list[Run]] = field(default_factory=lambda: {"status": [], "ping": [], "dash": []})
    dash_connect: list[float] = field(default_factory=list)
    profile: list[dict] = field(default_factory=list)

    def median(self, name: str, attr: str = "wall") -> float:
        return statistics.median(getattr(run, attr) for run in self.runs[name])


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def namespace_cpu(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of everything in each PID namespace (name -> inode).

    Per live process its own user + system time plus that of its waited-for children (cutime,
    cstime), which holds the CPU of every process that has exited and been reaped inside: a
    host's sshd sessions, shells and module runs, reaped by sshd or the host's init.
    """
    by_inode = {inode: name for name, inode in groups.items()}
    totals = dict.fromkeys(groups, 0.0)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            inode = os.stat(f"/proc/{entry.name}/ns/pid").st_ino
            if inode not in by_inode:
                continue
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        totals[by_inode[inode]] += sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    return totals


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def default_forks() -> str:
    for line in (ROOT / "ansible.cfg").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "forks":
            return value.strip()
    return "5 (Ansible's default)"


def check_recap(what: str, stdout: str, hosts: Sequence[str], *, expect_ok: int = 1) -> None:
    """Every host in the PLAY RECAP, reached, nothing failed or ignored: the run measured real work."""
    recap = {m.group(1): [int(x) for x in m.groups()[1:]] for m in RECAP.finditer(stdout)}
    bad = []
    for host in hosts:
        if host not in recap:
            bad.append(f"{host} missing from the recap")
            continue
        ok, _changed, unreachable, failed, _skipped, _rescued, ignored = recap[host]
        if ok < expect_ok or unreachable or failed or ignored:
            bad.append(f"{host}: ok={ok} unreachable={unreachable} failed={failed} ignored={ignored}")
    if bad:
        raise FleetError(f"{what}: " + "; ".join(bad) + f"\n{stdout[-3000:]}")


class Bench:
    def __init__(self, fleet: Fleet, forks: int | None) -> None:
        self.fleet = fleet
        self.env = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
        if forks is not None:
            self.env["ANSIBLE_FORKS"] = str(forks)

    @property
    def host_names(self) -> list[str]:
        return list(self.fleet.hosts)

    def _namespaces(self) -> dict[str, float]:
        groups = {"ctl": self.fleet.controller.namespaces["pid"]} if self.fleet.controller else {}
        groups.update({name: node.namespaces["pid"] for name, node in self.fleet.hosts.items()})
        return namespace_cpu(groups)

    def timed(self, cmd: list[str], what: str, env: dict[str, str] | None = None) -> tuple[Run, str]:
        ns_before = self._namespaces()
        cpu_before = children_cpu()
        started = time.monotonic()
        proc = self.fleet.controller_run(cmd, env={**self.env, **(env or {})}, timeout=PLAYBOOK_TIMEOUT)
        wall = time.monotonic() - started
        cpu = children_cpu() - cpu_before
        ns_after = self._namespaces()
        if proc.returncode != 0:
            raise FleetError(f"{what} failed (rc {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
        delta = {name: ns_after[name] - ns_before.get(name, 0.0) for name in ns_after}
        hosts_cpu = sum(value for name, value in delta.items() if name != "ctl")
        return Run(wall, cpu + delta.get("ctl", 0.0), hosts_cpu), proc.stdout

    def status(self, env: dict[str, str] | None = None) -> Run:
        run, stdout = self.timed(["ansible-playbook", "playbooks/status.yml"], "status.yml", env)
        check_recap("status.yml", stdout, self.host_names)
        if "NOT REPORTING" in stdout:
            raise FleetError(f"status.yml: hosts not reporting:\n{stdout[-3000:]}")
        return run

    def ping(self) -> Run:
        run, stdout = self.timed(["ansible", "all", "-m", "ansible.builtin.ping"], "ping")
        replies = stdout.count('"ping": "pong"')
        if replies != len(self.host_names):
            raise FleetError(f"ping: {replies} of {len(self.host_names)} hosts answered\n{stdout[-3000:]}")
        return run

    def dashboard(self, connects: list[float]) -> Run:
        """The dashboard's refresh: the median of 5 over open sessions (the first, connecting, apart)."""
        run, stdout = self.timed(["scripts/python", "benchmarks/dashboard_refresh.py", "--refreshes", "5"],
                                 "dashboard refresh")
        data = json.loads(stdout)
        if data["down"]:
            raise FleetError(f"dashboard: hosts not reporting: {', '.join(data['down'])}")
        connects.append(data["connect"])
        return Run(statistics.median(data["refreshes"]), run.cpu, run.hosts_cpu)

    def roll_out(self, with_chia: bool) -> float:
        cmd = ["ansible-playbook", "playbooks/site.yml", "-e", f"@{VARS_FILE.relative_to(ROOT)}"]
        if not with_chia:
            cmd += ["--skip-tags", "plotter_chia"]
        run, stdout = self.timed(cmd, "site.yml")
        check_recap("site.yml", stdout, self.host_names)
        return run.wall

    def profile(self) -> list[dict]:
        plugin_dir = self.fleet.workdir / "callback_plugins"
        plugin_dir.mkdir(exist_ok=True)
        (plugin_dir / "plotfleet_bench_timing.py").write_text(TIMING_CALLBACK)
        out = self.fleet.workdir / "timing.json"
        self.status({"ANSIBLE_CALLBACK_PLUGINS": str(plugin_dir),
                     "ANSIBLE_CALLBACKS_ENABLED": "plotfleet_bench_timing",
                     "PLOTFLEET_BENCH_TIMING": str(out)})
        return json.loads(out.read_text())


def split_hosts(size: int) -> tuple[int, int]:
    plotters = size // 2
    return plotters, size - plotters


def measure_size(size: int, args: argparse.Namespace, workroot: Path) -> SizeResult:
    plotters, harvesters = split_hosts(size)
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-status-{size}-", dir=workroot))
    fleet = Fleet(plan_hosts(plotters, harvesters), workdir)
    try:
        started = time.monotonic()
        with fleet:
            print(f"\n== {size} hosts ({plotters} plotters, {harvesters} harvesters): fleet {fleet.id} up in "
                  f"{time.monotonic() - started:.1f} s", flush=True)
            bench = Bench(fleet, args.forks)
            rollout = bench.roll_out(args.with_chia)
            print(f"  site.yml rolled out in {rollout:.1f} s", flush=True)
            first_ping = bench.ping()
            first_status = bench.status()
            print(f"  first contact: ping {first_ping.wall:.2f} s, then status {first_status.wall:.2f} s", flush=True)
            result = SizeResult(size, plotters, harvesters, rollout, first_ping, first_status)
            methods = {"status": bench.status, "ping": bench.ping,
                       "dash": lambda: bench.dashboard(result.dash_connect)}
            names = list(methods)
            for round_no in range(args.repeat):
                order = names if round_no % 2 == 0 else names[::-1]
                for name in order:
                    run = methods[name]()
                    result.runs[name].append(run)
                    what = "s refresh (median of 5)" if name == "dash" else "s wall"
                    print(f"  round {round_no + 1} {name:<6} {run.wall:6.2f} {what}, CPU s: controller {run.cpu:5.2f}, "
                          f"hosts {run.hosts_cpu:5.2f}; load {load_average()}", flush=True)
            if args.profile:
                result.profile = bench.profile()
        return result
    finally:
        if fleet.leftovers():
            print(f"status.py: fleet teardown left things behind; keeping {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def slope(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of ys over xs."""
    if len(xs) < 2:
        return float("nan"), float("nan")
    fit = statistics.linear_regression(xs, ys)
    return fit.slope, fit.intercept


def print_profile(result: SizeResult) -> None:
    """Per task: from its start to its last host's result (the task's wall time), and hosts' spread."""
    events = result.profile
    if not events:
        return
    print(f"\n  {result.hosts} hosts, one profiled status run ({events[-1]['t']:.2f} s from the callback's load "
          "to the recap): task wall = start to last host's result")
    task_start: dict[int, float] = {}
    rows = []
    current = -1
    for i, event in enumerate(events):
        if event["kind"] == "task":
            current = i
            task_start[i] = event["t"]
            rows.append([event["name"], event["t"], []])
        elif event["kind"] == "result" and current >= 0:
            rows[-1][2].append(event["t"])
    end = events[-1]["t"]
    for name, start, results in rows:
        if results:
            first, last = min(results) - start, max(results) - start
            print(f"    {name:<32} {last:6.2f} s  ({len(results)} hosts, first result after {first:.2f} s)")
        else:
            print(f"    {name:<32} (no results)")
    if rows:
        print(f"    {'before the first task':<32} {rows[0][1]:6.2f} s   (inventory, vars, play set-up)")
        last_result = max((max(r) for _, _, r in rows if r), default=end)
        print(f"    {'after the last result':<32} {end - last_result:6.2f} s")


def cpu_pair(result: SizeResult, name: str) -> str:
    return f"{result.median(name, 'cpu'):.2f} / {result.median(name, 'hosts_cpu'):.2f}"


def report(results: list[SizeResult], args: argparse.Namespace, load_before: str) -> None:
    forks = args.forks if args.forks is not None else f"{default_forks()} (ansible.cfg)"
    print(f"\nforks {forks}, {args.repeat} rounds per size, SSH ControlPersist masters up (after the first "
          "contact); medians.\nCPU s per run, user+sys: ctl = the controller (ansible, ssh clients and masters), "
          "hosts = all hosts' namespaces (sshd, shells, modules).")
    header = (f"{'hosts':>5} {'P+H':>5} {'status s':>8} {'ping s':>7} {'status/ping':>11} {'dash s':>7} "
              f"{'dash/ping':>9} {'dash connect s':>14} {'status-ping s':>13} "
              f"{'CPU ctl/hosts status':>20} {'CPU ctl/hosts ping':>18} {'1st ping s':>10} {'1st status s':>12} "
              f"{'site.yml s':>10}")
    print(header)
    print("-" * len(header))
    for r in results:
        status, ping = r.median("status"), r.median("ping")
        dash = r.median("dash")
        print(f"{r.hosts:>5} {f'{r.plotters}+{r.harvesters}':>5} {status:>8.2f} {ping:>7.2f} {status / ping:>10.2f}x "
              f"{dash:>7.3f} {dash / ping:>8.3f}x {statistics.median(r.dash_connect):>14.2f} {status - ping:>13.2f} "
              f"{cpu_pair(r, 'status'):>20} {cpu_pair(r, 'ping'):>18} "
              f"{r.first_ping.wall:>10.2f} {r.first_status.wall:>12.2f} {r.rollout:>10.1f}")
    if len(results) >= 2:
        xs = [float(r.hosts) for r in results]
        print("\nper-host marginal cost (least-squares slope over the sizes), fixed part (intercept at 0 hosts):")
        labels = {"wall": "wall", "cpu": "controller CPU", "hosts_cpu": "hosts' CPU"}
        for name, attr in (("status", "wall"), ("ping", "wall"), ("status", "cpu"), ("ping", "cpu"),
                           ("status", "hosts_cpu"), ("ping", "hosts_cpu")):
            s, b = slope(xs, [r.median(name, attr) for r in results])
            label = f"{name} {labels[attr]}"
            print(f"  {label:<22} {s * 1000:7.0f} ms/host   fixed {b:5.2f} s")
        s_status, _ = slope(xs, [r.median("status") for r in results])
        s_ping, _ = slope(xs, [r.median("ping") for r in results])
        print(f"  status / ping, per host: {s_status / s_ping:.2f}x" if s_ping > 0 else "")
        big = results[-1]
        print(f"  at {big.hosts} hosts: status {big.median('status') / big.hosts * 1000:.0f} ms/host, ping "
              f"{big.median('ping') / big.hosts * 1000:.0f} ms/host (wall / hosts)")
    print(f"\nload average before {load_before}, after {load_average()} ({os.cpu_count()} CPUs; controller, "
          "hosts' sshd and modules all share them)")
    for r in results:
        print_profile(r)


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def parse_sizes(text: str) -> list[int]:
    sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes are at least 1 (a fleet of 1 is one harvester)")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=[1, 4, 8, 16], help="fleet sizes (default 1,4,8,16)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds per size (default 3)")
    parser.add_argument("--forks", type=int, help="ANSIBLE_FORKS (default: ansible.cfg's)")
    parser.add_argument("--profile", action="store_true", help="one extra status run per size with per-task timing")
    parser.add_argument("--with-chia", action="store_true", help="do not skip the plotter_chia tasks in site.yml")
    parser.add_argument("--workdir", type=Path, help="where fleets' work dirs go (default <project>/.work)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("status.py: run as root (the test fleet needs namespaces)", file=sys.stderr)
        return 2
    if not VARS_FILE.exists():
        print(f"status.py: {VARS_FILE} is missing", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, interrupt)
    workroot = args.workdir or ROOT / ".work"
    workroot.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    results = []
    try:
        for size in args.sizes:
            results.append(measure_size(size, args, workroot))
    except FleetError as err:
        print(f"status.py: {err}", file=sys.stderr)
        if results:
            report(results, args, load_before)
        return 1
    except KeyboardInterrupt:
        print("status.py: interrupted; the fleet was torn down", file=sys.stderr)
        return 130
    report(results, args, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
