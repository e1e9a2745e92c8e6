"""Times the live dashboard's refreshes (scripts/watch) against the inventory in ANSIBLE_INVENTORY.

Prints one JSON object: ``connect`` (the first refresh: starting one ssh + agent per host,
sending the code), ``refreshes`` (each later refresh, seconds: every host's snapshot over the
open sessions) and ``down`` (hosts that did not report). Run from where the hosts are reachable
(benchmarks/status.py runs it in the test fleet's controller namespace):

    scripts/python benchmarks/dashboard_refresh.py [--refreshes 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from ansible_collections.plotfleet.fleet.plugins.plugin_utils.watch import Watcher, load_targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refreshes", type=int, default=5)
    parser.add_argument("-i", "--inventory", default=os.environ.get("ANSIBLE_INVENTORY"))
    args = parser.parse_args()
    watcher = Watcher(load_targets(args.inventory))
    try:
        started = time.monotonic()
        results = watcher.refresh()
        connect = time.monotonic() - started
        refreshes = []
        for _ in range(args.refreshes):
            started = time.monotonic()
            results = watcher.refresh()
            refreshes.append(time.monotonic() - started)
    finally:
        watcher.close()
    down = sorted(name for name, snap in results.items()
                  if snap.get("unreachable") or any(isinstance(v, dict) and v.get("failed") for v in snap.values()))
    json.dump({"hosts": len(watcher.targets), "connect": connect, "refreshes": refreshes, "down": down}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
