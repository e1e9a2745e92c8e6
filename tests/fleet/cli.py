"""scripts/fleet: bring a test fleet up by hand, use it, take it down.

    scripts/fleet up --plotters 2 --harvesters 2 [--tmpfs /srv/plotfleet/archive1=64M]
                     [--release plotter2=bullseye]   # that host runs Debian 11 (scripts/rootfs)
    scripts/fleet inventory
    scripts/fleet run-controller -- ansible all -m ping
    scripts/fleet run-host plotter1 -- ps -ef
    scripts/fleet status
    scripts/fleet stop-sshd plotter1 | start-sshd plotter1 | crash plotter1 | restart plotter1
    scripts/fleet down
    scripts/fleet clean        # delete leftover pf-* namespaces that no process uses

The fleet lives in --dir (default <project>/.work/fleet), with its state in state.json: the
PIDs and start times of the processes `up` started, which is all `down` will ever kill.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

from fleet.harness import ROOT, Fleet, HostSpec, plan_hosts, remove_stale_fleets
from fleet.procs import FleetError

DEFAULT_DIR = ROOT / ".work" / "fleet"


def state_file(args: argparse.Namespace) -> Path:
    return args.dir / "state.json"


def load(args: argparse.Namespace) -> Fleet:
    path = state_file(args)
    if not path.exists():
        raise FleetError(f"no fleet state at {path}: start one with `scripts/fleet up`")
    return Fleet.from_state(json.loads(path.read_text()))


def is_running(fleet: Fleet) -> bool:
    return bool(fleet.nodes) and all(node.init.is_running() for node in fleet.nodes)


def parse_tmpfs(specs: list[str]) -> dict[str, str]:
    tmpfs = {}
    for spec in specs:
        path, sep, size = spec.rpartition("=")
        if not sep or not path.startswith("/"):
            raise FleetError(f"--tmpfs {spec!r}: expected /absolute/path=SIZE, "
                             "e.g. /srv/plotfleet/archive1=64M")
        tmpfs[path] = size
    return tmpfs


def with_releases(hosts: list[HostSpec], specs: list[str]) -> list[HostSpec]:
    releases = {}
    for spec in specs:
        name, sep, release = spec.partition("=")
        if not sep or not release:
            raise FleetError(f"--release {spec!r}: expected HOST=RELEASE, e.g. plotter2=bullseye")
        releases[name] = release
    unknown = set(releases) - {host.name for host in hosts}
    if unknown:
        raise FleetError(f"--release names hosts not in the fleet: {', '.join(sorted(unknown))}")
    return [dataclasses.replace(host, release=releases.get(host.name)) for host in hosts]


def cmd_up(args: argparse.Namespace) -> int:
    if state_file(args).exists():
        if is_running(load(args)):
            raise FleetError(f"a fleet is already running from {args.dir}: `scripts/fleet down` first")
        load(args).down(check=False)
    started = time.monotonic()
    hosts = with_releases(plan_hosts(args.plotters, args.harvesters, parse_tmpfs(args.tmpfs)), args.release)
    fleet = Fleet(hosts, args.dir, tie_to_process=False).up(timeout=args.timeout)
    fleet.detach()
    state_file(args).write_text(json.dumps(fleet.state(), indent=2) + "\n")
    print(f"fleet {fleet.id} up in {time.monotonic() - started:.2f}s", file=sys.stderr)
    for node in fleet.nodes:
        print(f"  {node.name:<12} {node.address:<14} {node.netns}", file=sys.stderr)
    print(fleet.inventory)
    return 0


def cmd_inventory(args: argparse.Namespace) -> int:
    print(load(args).inventory)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    fleet = load(args)
    for node in fleet.nodes:
        state = "running" if node.init.is_running() else "GONE"
        print(f"{node.name:<12} {node.address:<14} {node.netns:<24} init pid {node.init.pid:<8} {state}")
    return 0 if is_running(fleet) else 1


def cmd_run_controller(args: argparse.Namespace) -> int:
    return load(args).controller_run(command(args), capture=False).returncode


def cmd_run_host(args: argparse.Namespace) -> int:
    return load(args).host_run(args.host, command(args), capture=False).returncode


def command(args: argparse.Namespace) -> list[str]:
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        raise FleetError("no command given: e.g. scripts/fleet run-controller -- ansible all -m ping")
    return cmd


def cmd_fault(args: argparse.Namespace) -> int:
    fleet = load(args)
    started = time.monotonic()
    getattr(fleet, args.action.replace("-", "_"))(args.host)
    # restart() starts new processes: the state must name them for `down`.
    state_file(args).write_text(json.dumps(fleet.state(), indent=2) + "\n")
    print(f"{args.action} {args.host}: done in {time.monotonic() - started:.2f}s", file=sys.stderr)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    started = time.monotonic()
    fleet = load(args)
    fleet.down()
    # Only once nothing is mounted from it: removing it earlier would delete a live host's files.
    shutil.rmtree(args.dir)
    print(f"fleet {fleet.id} down in {time.monotonic() - started:.2f}s, nothing left", file=sys.stderr)
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    for fleet_id, names in remove_stale_fleets().items():
        print(f"removed fleet {fleet_id}: {' '.join(names)}")
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="scripts/fleet", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    main.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="fleet work dir (default: %(default)s)")
    sub = main.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="start a fleet and leave it running")
    up.add_argument("--plotters", type=int, default=2)
    up.add_argument("--harvesters", type=int, default=2)
    up.add_argument("--tmpfs", action="append", default=[], metavar="PATH=SIZE",
                    help="tmpfs mount on every host, e.g. /srv/plotfleet/archive1=64M (repeatable)")
    up.add_argument("--release", action="append", default=[], metavar="HOST=RELEASE",
                    help="run HOST from a Debian release's rootfs, e.g. plotter2=bullseye (repeatable)")
    up.add_argument("--timeout", type=float, default=30, help="seconds to wait for sshd")
    up.set_defaults(run=cmd_up)
    sub.add_parser("inventory", help="print the inventory path").set_defaults(run=cmd_inventory)
    sub.add_parser("status", help="show the fleet's nodes").set_defaults(run=cmd_status)
    ctl = sub.add_parser("run-controller", help="run a command in the controller namespace")
    ctl.add_argument("command", nargs=argparse.REMAINDER)
    ctl.set_defaults(run=cmd_run_controller)
    host = sub.add_parser("run-host", help="run a command on a host")
    host.add_argument("host")
    host.add_argument("command", nargs=argparse.REMAINDER)
    host.set_defaults(run=cmd_run_host)
    for action, text in (("stop-sshd", "stop a host's sshd (its other processes keep running)"),
                         ("start-sshd", "start a host's sshd again"),
                         ("crash", "kill everything on a host at once"),
                         ("restart", "boot a crashed host again")):
        fault = sub.add_parser(action, help=text)
        fault.add_argument("host")
        fault.set_defaults(run=cmd_fault)
    sub.add_parser("down", help="tear the fleet down and check nothing is left").set_defaults(run=cmd_down)
    sub.add_parser("clean", help="remove leftover namespaces of dead fleets").set_defaults(run=cmd_clean)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.dir = args.dir.resolve()
    try:
        return args.run(args)
    except FleetError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
