"""plotfleet on a fleet: real k25 plots from two plotters archived to two harvesters over rsync.

One fleet for the module (plotter1, plotter2, harvester1, harvester2; harvester2's archive dir is
a 1 GiB tmpfs, room for one k25 plot of ~0.63 GiB with plotfleet_margin 128 MiB from
tests/fleet/vars.yml). The playbooks run from the controller over SSH with tests/fleet/vars.yml.

Plotting happens once (``real_plots``): one real k25 job per plotter, started by plot.yml, and the
two plots are kept between runs (tests/fleet/k25plots.py, shared with the replot test). The
failure cases then put hard links to those plots back on the plotters under their real names
and break something while archive.yml runs. Every case ends with the invariant users rely on:
each plot exists exactly once, complete (its sha256 is the original's), and nothing partial is
visible under a plot's final name; and the failure is in what archive.yml printed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleet import Fleet, k25plots
from fleet.procs import wait_for

pytestmark = pytest.mark.fleet

PLOTTERS = ("plotter1", "plotter2")
HARVESTERS = ("harvester1", "harvester2")
DST = "/srv/plotfleet/dst0"
ARCHIVE = "/srv/plotfleet/archive0"
PASSWORD_FILE = "/etc/plotfleet/rsync.secret"
TRANSFER_LOCK = "/var/log/plotfleet/transfers/.plotfleet-archive.lock"
SMALL_ARCHIVE_SIZE = "1G"
# KiB/s per transfer when a case must catch one mid-way: a k25 plot then takes ~8 s.
SLOW_BWLIMIT = 80000
PLOT_TIMEOUT = 900
PLAYBOOK_TIMEOUT = 600
# The planner's reason when a harvester disk counts as receiving because of an rsync temp file.
STUCK_ON_LEFTOVER = re.compile(r"waiting: [^\n]*receiving \.plot-[^\n]*sender not among the plotters read")
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Plot:
    name: str
    sha256: str
    plotter: str  # where it was made, and where the cases put it back
    original: Path  # a copy outside the fleet


# --- running things ------------------------------------------------------------------------


def playbook(fleet: Fleet, name: str, *args: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    cmd = ["ansible-playbook", f"playbooks/{name}", "-e", "@tests/fleet/vars.yml", *args]
    # JSON results: each message on one line, as written, for the assertions to search.
    run_env = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json", **(env or {})}
    return fleet.controller_run(cmd, env=run_env, timeout=PLAYBOOK_TIMEOUT)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"


def recap(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, int]]:
    return {host: {"changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
            for host, changed, unreachable, failed in RECAP.findall(result.stdout)}


def archive(fleet: Fleet, *args: str, wait: bool = True) -> subprocess.CompletedProcess[str]:
    return playbook(fleet, "archive.yml", "-e", f"plotfleet_wait={str(wait).lower()}", *args)


class Background:
    """A playbook run in a thread, so the test can break things while it runs."""

    def __init__(self, run: Callable[[], subprocess.CompletedProcess[str]]) -> None:
        self.result: subprocess.CompletedProcess[str] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(run,), daemon=True)
        self.thread.start()

    def _run(self, run: Callable[[], subprocess.CompletedProcess[str]]) -> None:
        try:
            self.result = run()
        except BaseException as exc:  # handed to join(), in the test's thread
            self.error = exc

    def join(self) -> subprocess.CompletedProcess[str]:
        self.thread.join(PLAYBOOK_TIMEOUT + 30)
        if self.error is not None:
            raise self.error
        assert self.result is not None, "the background playbook did not finish"
        return self.result


def status(fleet: Fleet, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], dict]:
    """status.yml's JSON report, read from the "Fleet status" task's result."""
    result = playbook(fleet, "status.yml", "-e", "plotfleet_output=json", env=env)
    task = result.stdout.find("TASK [Fleet status]")
    start = result.stdout.find("=> {", task)
    assert task >= 0 and start >= 0, f"status.yml printed no fleet status:\n{output(result)}"
    shown, _ = json.JSONDecoder().raw_decode(result.stdout[start + 3:])
    return result, json.loads(shown["msg"])


def rsync_pids(fleet: Fleet, host: str, containing: str = "") -> list[int]:
    """PIDs, as the host sees them, of its rsync processes whose command line contains ``containing``."""
    found = fleet.host_run(host, ["pgrep", "-a", "-x", "rsync"]).stdout.splitlines()
    return [int(line.split()[0]) for line in found if containing in line]


def plot_jobs_running(fleet: Fleet, host: str) -> bool:
    return fleet.host_run(host, ["pgrep", "-f", "chia plots create"]).returncode == 0


def kill_in_host(fleet: Fleet, host: str, pids: list[int]) -> None:
    """SIGKILL inside the host's PID namespace, where these PIDs mean what pgrep said."""
    if pids:
        fleet.host_run(host, ["kill", "-KILL", *map(str, pids)])


# --- what is where -------------------------------------------------------------------------


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_under(fleet: Fleet, host: str, path: str) -> list[Path]:
    base = fleet.host_path(host, path)
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


def plot_places(fleet: Fleet) -> list[tuple[str, Path]]:
    """(host, file) for every file in the plotters' dst dirs and the harvesters' archive dirs."""
    places = [(host, f) for host in PLOTTERS for f in files_under(fleet, host, DST)]
    return places + [(host, f) for host in HARVESTERS for f in files_under(fleet, host, ARCHIVE)]


def where(fleet: Fleet, plot: Plot) -> list[str]:
    return [host for host, f in plot_places(fleet) if f.name == plot.name]


def incoming_files(fleet: Fleet, host: str) -> list[Path]:
    """rsync's temporary files (``.<plot name>.XXXXXX``) in a harvester's archive dir."""
    return [f for f in files_under(fleet, host, ARCHIVE) if f.name.startswith(".plot-")]


def leftover_is_stale(fleet: Fleet, host: str) -> bool:
    """plotfleet_space_info on the harvester says its partial file has no writer any more."""
    result = fleet.controller_run(["ansible", host, "-m", "plotfleet_space_info"],
                                  env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}, timeout=120)
    return '"stale": true' in result.stdout


def assert_every_plot_once(fleet: Fleet, expected: dict[str, str]) -> dict[str, str]:
    """Each plot (name -> sha256) is in exactly one place, complete; no other file has a plot's name.

    Returns name -> host. Hidden temporary files (rsync's ``.name.XXXXXX``) are not plots: a
    farmer never loads them and they never have a plot's final name.
    """
    found: dict[str, list[tuple[str, Path]]] = {}
    for host, path in plot_places(fleet):
        if path.name.endswith(".plot") and not path.name.startswith("."):
            found.setdefault(path.name, []).append((host, path))
    unexpected = sorted(set(found) - set(expected))
    assert not unexpected, f"files under a plot's final name that are not our plots: {unexpected}"
    placed = {}
    for name, digest in expected.items():
        copies = found.get(name, [])
        assert len(copies) == 1, f"{name}: expected exactly one copy, found {[(h, str(p)) for h, p in copies]}"
        host, path = copies[0]
        assert sha256(path) == digest, f"{name} on {host} ({path}) is not the complete plot: sha256 differs"
        placed[name] = host
    return placed


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(make_module_fleet) -> Fleet:
    return make_module_fleet(plotters=2, harvesters=2,
                             host_tmpfs={"harvester2": {ARCHIVE: SMALL_ARCHIVE_SIZE}})


@pytest.fixture(scope="module")
def rolled_out(fleet: Fleet) -> Fleet:
    result = playbook(fleet, "site.yml")
    assert result.returncode == 0, output(result)
    return fleet


@pytest.fixture(scope="module")
def real_plots(rolled_out: Fleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Plot]:
    """One real k25 plot per plotter, made by plot.yml (or kept from an earlier run: tests/fleet/k25plots.py);
    copies are kept outside the fleet, and each plot is in its plotter's dst dir."""
    fleet = rolled_out
    keep = tmp_path_factory.mktemp("plots")
    kept = k25plots.cached()
    made = dict(zip(PLOTTERS, kept, strict=True)) if kept else {}
    if not made:
        result = playbook(fleet, "plot.yml")
        assert result.returncode == 0, output(result)
        assert output(result).count("started 1:") == 2, output(result)

        def finished() -> dict[str, Path]:
            plots = {host: [f for f in files_under(fleet, host, DST) if f.name.endswith(".plot")] for host in PLOTTERS}
            # The job lingers a moment after renaming its plot; archive.yml holds a dst while it runs.
            if not all(plots.values()) or any(plot_jobs_running(fleet, host) for host in PLOTTERS):
                return {}
            return {host: found[0] for host, found in plots.items()}

        made = wait_for(finished, PLOT_TIMEOUT, "a finished k25 plot in each plotter's dst dir", interval=2)
    plots = {}
    for host, path in made.items():
        original = keep / path.name
        shutil.copyfile(path, original)
        plots[path.name] = Plot(path.name, sha256(original), host, original)
    if not k25plots.cached():
        k25plots.store([plot.original for plot in plots.values()])
    reset(fleet, plots)
    return plots


@pytest.fixture
def placed(rolled_out: Fleet, real_plots: dict[str, Plot]) -> Iterator[dict[str, Plot]]:
    """A clean fleet: no transfers, empty archive dirs, each plot back in its plotter's dst dir."""
    fleet = rolled_out
    reset(fleet, real_plots)
    yield real_plots
    for host in PLOTTERS:
        kill_in_host(fleet, host, rsync_pids(fleet, host, ".plot"))


def reset(fleet: Fleet, plots: dict[str, Plot]) -> None:
    for host in PLOTTERS:
        kill_in_host(fleet, host, rsync_pids(fleet, host, ".plot"))
    for _host, path in plot_places(fleet):
        path.unlink()
    for plot in plots.values():
        target = fleet.host_path(plot.plotter, f"{DST}/{plot.name}")
        # A hard link is the same real plot without copying 0.6 GiB; rsync only reads and
        # unlinks its source, so the kept copy stays intact.
        try:
            os.link(plot.original, target)
        except OSError:
            shutil.copyfile(plot.original, target)


def expected(plots: dict[str, Plot]) -> dict[str, str]:
    return {plot.name: plot.sha256 for plot in plots.values()}


def by_plotter(plots: dict[str, Plot], host: str) -> Plot:
    return next(plot for plot in plots.values() if plot.plotter == host)


# --- the tests -----------------------------------------------------------------------------


def test_second_site_run_changes_nothing(rolled_out: Fleet) -> None:
    result = playbook(rolled_out, "site.yml")

    assert result.returncode == 0, output(result)
    hosts = recap(result)
    assert set(hosts) == {*PLOTTERS, *HARVESTERS}, output(result)
    assert all(counts == {"changed": 0, "unreachable": 0, "failed": 0} for counts in hosts.values()), hosts


def test_plot_then_archive_moves_each_plot_to_one_harvester(rolled_out: Fleet, real_plots: dict[str, Plot]) -> None:
    fleet = rolled_out
    assert {plot.plotter for plot in real_plots.values()} == set(PLOTTERS)
    assert all(where(fleet, plot) == [plot.plotter] for plot in real_plots.values())

    result = archive(fleet)

    assert result.returncode == 0, output(result)
    placed_at = assert_every_plot_once(fleet, expected(real_plots))
    # The planner spreads: one plot per harvester (harvester2's 1 GiB takes exactly one).
    assert sorted(placed_at.values()) == sorted(HARVESTERS), placed_at
    assert all(not incoming_files(fleet, host) for host in HARVESTERS)
    _, report = status(fleet)
    assert report["summary"]["archive_plots"] == 2, report["summary"]
    assert report["summary"]["plots_waiting"] == 0
    assert report["summary"]["hosts_down"] == []


def start_slow_archive(fleet: Fleet) -> Background:
    return Background(lambda: archive(fleet, "-e", f"plotfleet_bwlimit={SLOW_BWLIMIT}"))


def wait_until_arriving(fleet: Fleet, plot: Plot, at_least: int = 64 << 20) -> str:
    """The harvester receiving ``plot``, once it holds at least ``at_least`` bytes of it."""

    def arriving() -> str | None:
        for host in HARVESTERS:
            for temp in incoming_files(fleet, host):
                with contextlib.suppress(FileNotFoundError):  # renamed: the transfer just ended
                    if plot.name in temp.name and temp.stat().st_size >= at_least:
                        return host
        return None

    return wait_for(arriving, 120, f"{plot.name} arriving on a harvester", interval=0.1)


def test_rsync_killed_mid_transfer_keeps_the_plot(rolled_out: Fleet, placed: dict[str, Plot]) -> None:
    fleet = rolled_out
    victim = by_plotter(placed, "plotter1")
    run = start_slow_archive(fleet)
    receiver = wait_until_arriving(fleet, victim)

    kill_in_host(fleet, "plotter1", rsync_pids(fleet, "plotter1", victim.name))
    result = run.join()

    assert result.returncode != 0, output(result)
    assert re.search(rf"plotter1: FAILED archive {victim.name}.*rsync was killed by signal 9", result.stdout), \
        output(result)
    assert "the source is still complete in place" in result.stdout
    placed_at = assert_every_plot_once(fleet, expected(placed))
    assert placed_at[victim.name] == "plotter1"
    # The daemon's receiver drops its temporary file when the sender goes away.
    wait_for(lambda: not incoming_files(fleet, receiver), 30, f"the partial file on {receiver} to go")

    again = archive(fleet)

    assert again.returncode == 0, output(again)
    assert set(assert_every_plot_once(fleet, expected(placed)).values()) <= set(HARVESTERS)


def test_harvester_daemon_down_mid_transfer(rolled_out: Fleet, placed: dict[str, Plot]) -> None:
    fleet = rolled_out
    run = start_slow_archive(fleet)
    receivers = {wait_until_arriving(fleet, plot): plot for plot in placed.values()}
    assert set(receivers) == set(HARVESTERS)
    victim = receivers["harvester1"]

    # The harvester's rsync daemon dies with the transfer it serves (a crash, an OOM kill).
    kill_in_host(fleet, "harvester1", rsync_pids(fleet, "harvester1"))
    try:
        result = run.join()

        assert result.returncode != 0, output(result)
        assert re.search(rf"{victim.plotter}: FAILED archive {victim.name}", result.stdout), output(result)
        assert_every_plot_once(fleet, expected(placed))
        assert where(fleet, victim) == [victim.plotter]
        # The dead receiver's partial file stays; once nothing has written to it for a moment it
        # is stale: it takes space but does not keep the disk "receiving".
        wait_for(lambda: leftover_is_stale(fleet, "harvester1"), 120, "the leftover reported stale", interval=2)

        while_down = archive(fleet)

        assert_every_plot_once(fleet, expected(placed))
        assert while_down.returncode != 0, output(while_down)
        assert "connection refused" in while_down.stdout, output(while_down)
    finally:
        restart = playbook(fleet, "site.yml", "--limit", "harvester1")
    assert restart.returncode == 0, output(restart)

    again = archive(fleet)

    assert_every_plot_once(fleet, expected(placed))
    # The killed receiver could not delete its temp file; no process holds it any more, so it
    # must be reported as stale and must not keep the disk "receiving" for good.
    assert not STUCK_ON_LEFTOVER.search(again.stdout), output(again)
    assert again.returncode == 0, output(again)
    assert assert_every_plot_once(fleet, expected(placed))[victim.name] == "harvester1"


def test_harvester_disk_filling_up_during_a_transfer(rolled_out: Fleet, placed: dict[str, Plot]) -> None:
    fleet = rolled_out
    run = start_slow_archive(fleet)
    receivers = {wait_until_arriving(fleet, plot): plot for plot in placed.values()}
    victim = receivers["harvester2"]

    # Something else fills the small disk while the plot arrives: rsync preallocated the whole
    # plot when it started, so the filler is what runs out of space.
    fill = fleet.host_run("harvester2", ["dd", "if=/dev/zero", f"of={ARCHIVE}/filler", "bs=1M"])
    result = run.join()

    assert "No space left on device" in fill.stderr
    assert result.returncode == 0, output(result)
    assert assert_every_plot_once(fleet, expected(placed))[victim.name] == "harvester2"


def blocked_lock_waiters(fleet: Fleet, host: str) -> int:
    """How many processes wait for the host's transfer lock (the flock plotfleet_archive takes)."""
    inode = fleet.host_path(host, TRANSFER_LOCK).stat().st_ino
    return sum(1 for line in Path("/proc/locks").read_text().splitlines()
               if "->" in line and line.split()[-3].endswith(f":{inode}"))


def test_harvester_disk_full_when_the_transfer_starts(rolled_out: Fleet, placed: dict[str, Plot]) -> None:
    fleet = rolled_out
    # Hold each plotter's transfer lock so that the plan is made while harvester2 has room and
    # the transfers start only after its disk has filled up.
    locks = []
    for host in PLOTTERS:
        path = fleet.host_path(host, TRANSFER_LOCK)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
        fcntl.flock(handle, fcntl.LOCK_EX)
        locks.append(handle)
    try:
        run = Background(lambda: archive(fleet))
        wait_for(lambda: all(blocked_lock_waiters(fleet, host) for host in PLOTTERS), 120,
                 "both plotters' archive modules to wait for their transfer lock", interval=0.2)
        fleet.host_run("harvester2", ["dd", "if=/dev/zero", f"of={ARCHIVE}/filler", "bs=1M"])
    finally:
        for handle in locks:
            handle.close()
    result = run.join()

    assert result.returncode != 0, output(result)
    assert re.search(r"FAILED archive plot-.*the harvester's archive dir is full", result.stdout), output(result)
    placed_at = assert_every_plot_once(fleet, expected(placed))
    assert [host for host in placed_at.values() if host in HARVESTERS] == ["harvester1"], placed_at
    assert not incoming_files(fleet, "harvester2")

    again = archive(fleet)

    assert again.returncode == 0, output(again)
    assert set(assert_every_plot_once(fleet, expected(placed)).values()) == {"harvester1"}


def test_two_archive_runs_at_the_same_moment(rolled_out: Fleet, placed: dict[str, Plot]) -> None:
    """Overlapping runs never send a plot twice nor report a false failure; whatever one run had
    to leave (the other took the disk it planned for) the next run sends."""
    fleet = rolled_out
    for wait in (False, True):  # as cron runs it (start and return), then both to the end
        reset(fleet, placed)
        runs = [Background(lambda w=wait: archive(fleet, "-e", f"plotfleet_bwlimit={SLOW_BWLIMIT}", wait=w))
                for _ in range(2)]
        results = [run.join() for run in runs]

        assert all(result.returncode == 0 for result in results), "\n".join(map(output, results))
        both = "".join(result.stdout for result in results)
        for plot in placed.values():
            assert len(re.findall(rf"(?:started rsync pid \d+: |sent )\S+/{plot.name}", both)) <= 1, both
        wait_for(lambda: not any(rsync_pids(fleet, host, ".plot") for host in PLOTTERS), 120,
                 "the transfers to end", interval=0.5)
        assert_every_plot_once(fleet, expected(placed))

        following = archive(fleet)

        assert following.returncode == 0, output(following)
        placed_at = assert_every_plot_once(fleet, expected(placed))
        assert set(placed_at.values()) <= set(HARVESTERS), placed_at
        assert all(not incoming_files(fleet, host) for host in HARVESTERS)


def test_wrong_password_is_reported_and_the_plot_stays(rolled_out: Fleet, placed: dict[str, Plot]) -> None:
    fleet = rolled_out
    password_file = fleet.host_path("plotter2", PASSWORD_FILE)
    good = password_file.read_text()
    password_file.write_text("not-the-password\n")
    try:
        result = archive(fleet)
    finally:
        password_file.write_text(good)

    assert result.returncode != 0, output(result)
    assert re.search(r"plotter2: FAILED archive plot-.*authentication failed", result.stdout), output(result)
    placed_at = assert_every_plot_once(fleet, expected(placed))
    assert placed_at[by_plotter(placed, "plotter2").name] == "plotter2"
    assert placed_at[by_plotter(placed, "plotter1").name] in HARVESTERS

    again = archive(fleet)

    assert again.returncode == 0, output(again)
    assert set(assert_every_plot_once(fleet, expected(placed)).values()) <= set(HARVESTERS)


def test_plotter_outside_hosts_allow_is_refused(rolled_out: Fleet, placed: dict[str, Plot]) -> None:
    fleet = rolled_out
    only_plotter1 = json.dumps({"harvester_rsync_hosts_allow": [fleet.address("plotter1")]})
    narrowed = playbook(fleet, "site.yml", "--limit", "harvesters", "--tags", "harvester_config", "-e", only_plotter1)
    assert narrowed.returncode == 0, output(narrowed)
    try:
        result = archive(fleet)
    finally:
        widened = playbook(fleet, "site.yml", "--limit", "harvesters", "--tags", "harvester_config")
    assert widened.returncode == 0, output(widened)

    assert result.returncode != 0, output(result)
    refusal = re.search(r"plotter2: FAILED archive plot-[^\n]*", result.stdout)
    assert refusal, output(result)
    placed_at = assert_every_plot_once(fleet, expected(placed))
    assert placed_at[by_plotter(placed, "plotter2").name] == "plotter2"
    assert placed_at[by_plotter(placed, "plotter1").name] in HARVESTERS

    again = archive(fleet)

    assert again.returncode == 0, output(again)
    assert set(assert_every_plot_once(fleet, expected(placed)).values()) <= set(HARVESTERS)
    # rsync answers a refused address like a missing module; the operator is pointed at both.
    assert "harvester_rsync_hosts_allow" in refusal.group(0), refusal.group(0)


def test_status_lists_a_host_that_is_down(rolled_out: Fleet, tmp_path: Path) -> None:
    fleet = rolled_out
    fleet.host_run("plotter2", ["ip", "link", "set", "eth0", "down"], check=True)
    try:
        # A fresh controller (no ControlPersist master still holding a connection to plotter2).
        result, report = status(fleet, env={"ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path / "cp")})
    finally:
        fleet.host_run("plotter2", ["ip", "link", "set", "eth0", "up"], check=True)

    assert result.returncode == 0, output(result)
    assert report["summary"]["hosts_down"] == ["plotter2"], report["summary"]
    assert report["plotters"]["plotter2"]["status"] == "unreachable"
    assert report["plotters"]["plotter1"]["status"] == "ok"
    assert any(problem.startswith("plotter plotter2: unreachable") for problem in report["problems"])
