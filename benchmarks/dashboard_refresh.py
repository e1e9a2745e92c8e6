"""Times the live dashboard's refreshes (scripts/watch), alone or on namespace test fleets.

One inventory (``ANSIBLE_INVENTORY`` or ``-i``, run from where its hosts are reachable;
benchmarks/status.py runs it so in the test fleet's controller namespace)::

    scripts/python benchmarks/dashboard_refresh.py [--refreshes 5]

prints one JSON object: ``connect`` (the first refresh: one ssh + agent per host started, the code
sent), ``refreshes`` (each later refresh, seconds: every host's snapshot over the open sessions)
and ``down`` (hosts that did not report).

Fleets of several sizes, as root (``--sizes 1,4,8,16``): for each, a namespace test fleet (half
plotters, half harvesters, the odd host a harvester) whose hosts get their plotfleet configs
written directly (no site.yml: the dashboard needs the config files and dirs, nothing else), then
from the controller, over ``--repeat`` rounds, ``ansible all -m ping`` (ControlPersist masters up,
after a first contact) and the dashboard's refreshes; medians side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ansible_collections.plotfleet.fleet.plugins.plugin_utils.watch import Watcher, load_targets

ROOT = Path(__file__).resolve().parent.parent


def measure(inventory: str | None, refreshes: int) -> dict:
    watcher = Watcher(load_targets(inventory))
    try:
        started = time.monotonic()
        results = watcher.refresh()
        connect = time.monotonic() - started
        times = []
        for _ in range(refreshes):
            started = time.monotonic()
            results = watcher.refresh()
            times.append(time.monotonic() - started)
    finally:
        watcher.close()
    down = sorted(name for name, snap in results.items()
                  if snap.get("unreachable") or any(isinstance(v, dict) and v.get("failed") for v in snap.values()))
    return {"hosts": len(watcher.targets), "connect": connect, "refreshes": times, "down": down}


def write_configs(fleet) -> None:
    for name in fleet.hosts:
        if name.startswith("plotter"):
            for directory in ("/srv/plotfleet/tmp0", "/srv/plotfleet/dst0", "/var/log/plotfleet/plots"):
                fleet.host_path(name, directory).mkdir(parents=True, exist_ok=True)
            fleet.host_path(name, "/etc/plotfleet/plotfleet.yml").write_text(json.dumps({
                "directories": {"tmp": ["/srv/plotfleet/tmp0"], "dst": ["/srv/plotfleet/dst0"]},
                "logging": {"plots": "/var/log/plotfleet/plots"}}))
        else:
            fleet.host_path(name, "/srv/plotfleet/archive0").mkdir(parents=True, exist_ok=True)
            fleet.host_path(name, "/etc/plotfleet/harvester.yml").write_text(json.dumps(
                {"archive_dirs": [{"path": "/srv/plotfleet/archive0", "rsync_module": "plots-archive0"}]}))


def fleets(sizes: list[int], repeat: int, refreshes: int) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    from fleet import Fleet, plan_hosts

    rows = []
    for size in sizes:
        plotters = size // 2
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-dash-{size}-", dir=ROOT / ".work"))
        fleet = Fleet(plan_hosts(plotters, size - plotters), workdir)
        try:
            fleet.up()
            write_configs(fleet)

            def ping(fleet=fleet, size=size) -> float:
                started = time.monotonic()
                proc = fleet.controller_run(["ansible", "all", "-m", "ansible.builtin.ping"], timeout=600,
                                            env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json", "ANSIBLE_NOCOLOR": "1"})
                if proc.stdout.count('"ping": "pong"') != size:
                    raise SystemExit(f"ping: not every host answered:\n{proc.stdout[-2000:]}")
                return time.monotonic() - started

            first_ping = ping()
            pings, dashes, connects = [], [], []
            for _ in range(repeat):
                pings.append(ping())
                proc = fleet.controller_run([str(ROOT / "scripts" / "python"), __file__, "--refreshes", str(refreshes)],
                                            timeout=600)
                data = json.loads(proc.stdout)
                if data["down"]:
                    raise SystemExit(f"dashboard: hosts not reporting: {data['down']}")
                dashes.append(statistics.median(data["refreshes"]))
                connects.append(data["connect"])
            row = (size, first_ping, statistics.median(pings), statistics.median(dashes), statistics.median(connects))
            rows.append(row)
            print(f"{size:>3} hosts: ping {row[2]:.2f} s (first {row[1]:.2f}), dashboard refresh {row[3]:.3f} s "
                  f"(connect {row[4]:.2f} s); load {' '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
        finally:
            fleet.down()  # every process by its PID, the namespaces; then the work dir
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{'hosts':>5} {'ping s':>7} {'dash refresh s':>14} {'dash/ping':>9} {'dash connect s':>14}")
    for size, _, ping_s, dash_s, connect_s in rows:
        print(f"{size:>5} {ping_s:>7.2f} {dash_s:>14.3f} {dash_s / ping_s:>8.3f}x {connect_s:>14.2f}")
    print(f"medians of {repeat} rounds ({refreshes} refreshes each); {os.cpu_count()} CPUs shared by every host")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refreshes", type=int, default=5)
    parser.add_argument("-i", "--inventory", default=os.environ.get("ANSIBLE_INVENTORY"))
    parser.add_argument("--sizes", help="fleet sizes to build and measure, e.g. 1,4,8,16 (as root)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.sizes:
        (ROOT / ".work").mkdir(exist_ok=True)
        return fleets(sorted({int(s) for s in args.sizes.split(",")}), args.repeat, args.refreshes)
    json.dump(measure(args.inventory, args.refreshes), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
