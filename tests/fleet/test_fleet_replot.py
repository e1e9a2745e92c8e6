"""Replotting for proof of space v2 on a fleet: real v2 plots replace real v1 plots on full harvesters.

One fleet for the module: plotter1, plotter2, harvester1, harvester2. Each harvester's archive dir
is a small disk holding two real v1 k25 plots and sized so that they leave less room than a plot
plus plotfleet_margin (128 MiB): no v2 plot lands without a deletion, and one deletion (~0.63 GiB)
makes room for every v2 plot of a case. harvester1's disk is a tmpfs; harvester2's is an ext4 image
mounted on its archive dir, so that its plots and the dir's reservation survive a crash of the
host, as a real disk does.

Plots are made once: the v1 k25 plots by plot.yml (one real chia job per plotter, running while the
first case needs none; kept between runs, tests/fleet/k25plots.py, shared with the archive test), the
v2 plots by chia's own v2 code through the plotter role's plotfleet-chia-plot2 launcher on plotter1:
k18 where only the file matters, and one k22 (12 MB) for the cases that must catch a transfer part-way.
Each case puts hard links of the v2 plots back into the plotters' dst dirs and copies back the v1
plots a case deleted.

The replace rules are the operator's inventory: group_vars/harvesters.yml beside the fleet's
inventory (every v1 plot may go); a case that needs one harvester to differ writes its host_vars.

Every case ends with what the replot promises: each v2 plot exactly once, complete (its sha256), and
on each harvester no v1 plot gone that its deletion log does not list, every logged deletion made for
a v2 plot that is now in that dir, and without the dir's last deletion its arrivals plus the margin
would not have fit (nothing deleted beyond what the arrivals needed).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import _FRESH_SECONDS
from fleet import Fleet, k25plots
from fleet.procs import wait_for
from fleet.test_fleet_archive import (
    PASSWORD_FILE,
    TRANSFER_LOCK,
    Background,
    blocked_lock_waiters,
    files_under,
    kill_in_host,
    output,
    plot_jobs_running,
    rsync_pids,
    sha256,
)

pytestmark = pytest.mark.fleet

PLOTTERS = ("plotter1", "plotter2")
HARVESTERS = ("harvester1", "harvester2")
DST = "/srv/plotfleet/dst0"
ARCHIVE = "/srv/plotfleet/archive0"
V2_WORK = "/srv/plotfleet/v2"  # where the launcher writes the v2 plots on plotter1
REPLACE_LOG = "/var/log/plotfleet/replace.log"
RESERVATION = ".plotfleet-reservation.json"
MIB = 1024**2
MARGIN = 128 * MIB
# Room left on a full disk: less than a plot plus the margin, so every arrival needs a deletion.
LEFT_FREE = MARGIN // 2
RULES = [{"name": "v1 uncompressed", "format": "v1", "compression": 0}]
LAUNCHER = "roles/plotter/files/plotfleet-chia-plot2"
CHIA_PYTHON = ".venv-chia/bin/python"
# Two k25 jobs take 2-4 min on 2 idle cores, but over 20 min when other fleets load the machine (load 15).
V1_PLOT_TIMEOUT = 2400
PLAYBOOK_TIMEOUT = 1800
# KiB/s: the k22 plot (12 MB) then takes ~12 s, long enough to crash its harvester part-way.
SLOW_BWLIMIT = 1000
LOG_LINE = re.compile(r"^\S+ deleted (?P<path>\S+) size=(?P<size>\d+) kind=(?P<kind>\S+) rule=(?P<rule>\"[^\"]*\") "
                      r"for=(?P<plot>\S+) on=(?P<on>\S+)$")


@dataclass(frozen=True)
class Plot:
    name: str
    sha256: str
    size: int
    original: Path  # a copy outside the fleet


@dataclass(frozen=True)
class Deletion:
    name: str
    size: int
    plot: str  # the v2 plot it made room for
    on: str


# --- running things ------------------------------------------------------------------------


def playbook(fleet: Fleet, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """As test_fleet_archive's, with room for a rollout on a loaded machine (site.yml: ~10 min at load 20)."""
    cmd = ["ansible-playbook", f"playbooks/{name}", "-e", "@tests/fleet/vars.yml", *args]
    return fleet.controller_run(cmd, env={"ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"},
                                timeout=PLAYBOOK_TIMEOUT)


def archive(fleet: Fleet, *args: str, wait: bool = True) -> subprocess.CompletedProcess[str]:
    return playbook(fleet, "archive.yml", "-e", f"plotfleet_wait={str(wait).lower()}",
                    "-e", f"plotfleet_margin={MARGIN}", *args)


def inventory_vars(fleet: Fleet, kind: str, name: str) -> Path:
    """group_vars/<name>.yml or host_vars/<name>.yml beside the fleet's inventory."""
    return fleet.inventory.parent / kind / f"{name}.yml"


def set_host_vars(fleet: Fleet, host: str, values: Mapping[str, object]) -> None:
    path = inventory_vars(fleet, "host_vars", host)
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(dict(values)))


def runner_pids(fleet: Fleet, host: str) -> list[int]:
    found = fleet.host_run(host, ["pgrep", "-f", "plotfleet-transfer"]).stdout.split()
    return [int(pid) for pid in found]


# --- what is where -------------------------------------------------------------------------


def seen(fleet: Fleet, host: str, path: str) -> Path:
    """``path`` as the host sees it, mounts included (harvester2's disk is mounted inside the host, so
    ``fleet.host_path``, which maps /srv/plotfleet to its backing dir, would miss it)."""
    return Path(f"/proc/{fleet.hosts[host].init.pid}/root{path}")


def plot_files(fleet: Fleet, host: str, path: str) -> dict[str, Path]:
    """Finished plots (final names) directly in ``path`` on ``host``."""
    base = seen(fleet, host, path)
    if not base.is_dir():
        return {}
    return {p.name: p for p in base.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name.endswith((".plot", ".plot2"))}


def v1_on(fleet: Fleet, host: str) -> set[str]:
    return {name for name in plot_files(fleet, host, ARCHIVE) if name.endswith(".plot")}


def free_bytes(fleet: Fleet, host: str) -> int:
    vfs = os.statvfs(seen(fleet, host, ARCHIVE))
    return vfs.f_bavail * vfs.f_frsize


def deletions(fleet: Fleet, host: str) -> list[Deletion]:
    """The harvester's deletion log, in order."""
    log = fleet.host_path(host, REPLACE_LOG)
    found = []
    for line in (log.read_text().splitlines() if log.exists() else []):
        match = LOG_LINE.match(line)
        assert match, f"{host}:{REPLACE_LOG}: a line not in the documented format: {line!r}"
        found.append(Deletion(os.path.basename(match["path"]), int(match["size"]), match["plot"], match["on"]))
    return found


def quarantined_files(fleet: Fleet, host: str, plot: Plot) -> list[Path]:
    """``plot`` in the quarantine of the host's archive dir (``.plotfleet-quarantine/<name>[.<t>].quarantined``,
    or renamed in place when the disk had no room for the quarantine dir)."""
    base = seen(fleet, host, ARCHIVE)
    return sorted(p for p in base.rglob(f"{plot.name}*.quarantined") if p.is_file())


def reservation(fleet: Fleet, host: str) -> str | None:
    path = seen(fleet, host, f"{ARCHIVE}/{RESERVATION}")
    return yaml.safe_load(path.read_text())["plot"] if path.exists() else None


def v2_places(fleet: Fleet, plots: Mapping[str, Plot]) -> dict[str, list[tuple[str, Path]]]:
    found: dict[str, list[tuple[str, Path]]] = {name: [] for name in plots}
    places = [(host, DST) for host in PLOTTERS] + [(host, ARCHIVE) for host in HARVESTERS]
    for host, path in places:
        for name, file in plot_files(fleet, host, path).items():
            if name.endswith(".plot2"):
                assert name in plots, f"{host}:{path}/{name} is not one of the test's v2 plots"
                found[name].append((host, file))
    return found


def assert_each_once(fleet: Fleet, plots: Mapping[str, Plot], sent: Sequence[Plot]) -> dict[str, str]:
    """Each plot of ``sent`` is in exactly one place under its final name, complete; the test's other v2
    plots are nowhere. Returns name -> host."""
    placed = {}
    names = {plot.name for plot in sent}
    for name, copies in v2_places(fleet, plots).items():
        if name not in names:
            assert not copies, f"{name} was not put on a plotter by this case, yet it is at {copies}"
            continue
        assert len(copies) == 1, f"{name}: expected exactly one copy, found {[(h, str(p)) for h, p in copies]}"
        host, path = copies[0]
        assert sha256(path) == plots[name].sha256, f"{name} on {host} ({path}) is not the complete plot"
        placed[name] = host
    return placed


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(make_module_fleet) -> Fleet:
    # harvester1's tmpfs is resized to its v1 plots once they exist (disks below).
    return make_module_fleet(plotters=2, harvesters=2, host_tmpfs={"harvester1": {ARCHIVE: "2G"}})


@pytest.fixture(scope="module")
def rolled_out(fleet: Fleet) -> Fleet:
    result = playbook(fleet, "site.yml")
    assert result.returncode == 0, output(result)
    group_vars = inventory_vars(fleet, "group_vars", "harvesters")
    group_vars.parent.mkdir(exist_ok=True)
    group_vars.write_text(yaml.safe_dump({"plotfleet_replace_rules": RULES, "plotfleet_replot_target": "v2"}))
    return fleet


@pytest.fixture(scope="module")
def plotting(rolled_out: Fleet) -> Fleet:
    """One real k25 job per plotter, started by plot.yml; they run while the first cases need none."""
    if k25plots.cached():
        return rolled_out
    result = playbook(rolled_out, "plot.yml")
    assert result.returncode == 0, output(result)
    assert output(result).count("started 1:") == 2, output(result)
    return rolled_out


def keep(paths: Sequence[Path], where: Path) -> dict[str, Plot]:
    plots = {}
    for path in paths:
        original = where / path.name
        shutil.copyfile(path, original)
        plots[path.name] = Plot(path.name, sha256(original), original.stat().st_size, original)
    return plots


@pytest.fixture(scope="module")
def v2_plots(plotting: Fleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Plot]:
    """Four k18 plots and one k22 plot from chia's v2 code (the launcher plot.yml would run)."""
    fleet = plotting
    keys = yaml.safe_load((Path(__file__).parent / "vars.yml").read_text())["plotter_config"]["plotting"]
    root = Path(__file__).resolve().parents[2]
    for k, count in ((18, 4), (22, 1)):
        made = fleet.host_run("plotter1", [
            "env", "CHIA_ROOT=/srv/plotfleet/chia-root", str(root / CHIA_PYTHON), str(root / LAUNCHER),
            "-k", str(k), "--override-k", "-n", str(count), "-t", f"{V2_WORK}/tmp", "-d", f"{V2_WORK}/k{k}", "-x",
            "-f", keys["farmer_pk"], "-p", keys["pool_pk"]], timeout=300)
        assert made.returncode == 0, f"{made.stdout}\n{made.stderr}"
    made_files = [path for k in (18, 22) for path in fleet.host_path("plotter1", f"{V2_WORK}/k{k}").iterdir()]
    plots = keep(sorted(made_files), tmp_path_factory.mktemp("v2"))
    assert sorted(p.name.split("-")[1] for p in plots.values()) == ["k18"] * 4 + ["k22"]
    return plots


@pytest.fixture(scope="module")
def v1_plots(plotting: Fleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Plot]:
    """The two real k25 plots, once finished; kept outside the fleet, gone from the plotters."""
    fleet = plotting
    kept = k25plots.cached()
    if kept:
        return keep(kept, tmp_path_factory.mktemp("v1"))

    def finished() -> list[Path]:
        plots = [f for host in PLOTTERS for f in files_under(fleet, host, DST) if f.name.endswith(".plot")]
        if len(plots) < 2 or any(plot_jobs_running(fleet, host) for host in PLOTTERS):
            return []
        return plots

    made = wait_for(finished, V1_PLOT_TIMEOUT, "a finished k25 plot in each plotter's dst dir", interval=2)
    plots = keep(made, tmp_path_factory.mktemp("v1"))
    for path in made:
        path.unlink()
    k25plots.store([plot.original for plot in plots.values()])
    return plots


@dataclass
class Disks:
    """harvester2's ext4 image: mounted on its archive dir by the test, as a host mounts a disk at boot."""

    fleet: Fleet
    image: Path

    def mount(self) -> None:
        self.fleet.host_run("harvester2", ["mount", "-o", "loop", str(self.image), ARCHIVE], check=True)
        lost = seen(self.fleet, "harvester2", f"{ARCHIVE}/lost+found")
        if lost.exists():
            lost.rmdir()

    def unmount(self) -> None:
        self.fleet.host_run("harvester2", ["umount", ARCHIVE], check=True)


def round_up(size: int, block: int = 4096) -> int:
    return -(-size // block) * block


@pytest.fixture(scope="module")
def disks(plotting: Fleet, v1_plots: dict[str, Plot], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Disks]:
    """Each harvester's disk, sized to hold the two v1 plots with LEFT_FREE to spare."""
    fleet = plotting
    want = sum(round_up(plot.size) for plot in v1_plots.values()) + LEFT_FREE
    fleet.host_run("harvester1", ["mount", "-o", f"remount,size={want}", ARCHIVE], check=True)
    # ext4's own metadata takes room too: measured on the empty filesystem, then made again.
    disks = Disks(fleet, tmp_path_factory.mktemp("disks") / "harvester2-archive0.ext4")
    size = want + 64 * MIB
    for _ in range(4):
        disks.image.unlink(missing_ok=True)
        with disks.image.open("wb") as image:
            image.truncate(size)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-N", "64", str(disks.image)], check=True)
        disks.mount()
        if abs(free_bytes(fleet, "harvester2") - want) < MIB:
            break
        size += want - free_bytes(fleet, "harvester2")
        disks.unmount()
    else:
        pytest.fail(f"could not size harvester2's ext4 image to {want} free bytes")
    try:
        yield disks
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # gone already if the host crashed
            disks.unmount()


@dataclass
class Farm:
    """The fleet as a case found it: the v1 plots and free bytes of each harvester's disk."""

    fleet: Fleet
    v1: dict[str, Plot]
    v2: dict[str, Plot]
    v1_before: dict[str, set[str]]
    free_before: dict[str, int]

    def put(self, placing: Mapping[str, Sequence[Plot]]) -> None:
        """Hard links of the v2 plots into the named plotters' dst dirs (rsync only reads and unlinks)."""
        for host, plots in placing.items():
            for plot in plots:
                os.link(plot.original, self.fleet.host_path(host, f"{DST}/{plot.name}"))

    def where(self, sent: Sequence[Plot]) -> dict[str, str]:
        return assert_each_once(self.fleet, self.v2, sent)

    def v2_sorted(self, k: int) -> list[Plot]:
        return [plot for name, plot in sorted(self.v2.items()) if name.startswith(f"plot-k{k}-")]

    def assert_replot(self, sent: Sequence[Plot], quarantined: Mapping[str, Plot] | None = None) -> dict[str, str]:
        """The case's end: every v2 plot once and intact; deletions logged, for arrivals, just enough.

        ``quarantined`` (host -> plot): a plot that arrived corrupted, now in that host's quarantine,
        once; its room was made for it all the same."""
        quarantined = dict(quarantined or {})
        placed = assert_each_once(self.fleet, self.v2, [p for p in sent if p not in quarantined.values()])
        for host, plot in quarantined.items():
            assert len(quarantined_files(self.fleet, host, plot)) == 1, (host, plot.name)
            placed[plot.name] = host
        for host in HARVESTERS:
            now = v1_on(self.fleet, host)
            log = deletions(self.fleet, host)
            assert now <= self.v1_before[host], f"{host}: v1 plots appeared: {now - self.v1_before[host]}"
            assert sorted(d.name for d in log) == sorted(self.v1_before[host] - now), \
                f"{host}: v1 plots gone {sorted(self.v1_before[host] - now)}, deletion log {log}"
            arrived = [plot for plot in sent if placed[plot.name] == host]
            for deletion in log:
                assert deletion.plot in {plot.name for plot in arrived}, \
                    f"{host}: {deletion.name} was deleted for {deletion.plot}, which is not in {ARCHIVE}"
                assert deletion.on == f"{host}:{ARCHIVE}", deletion
            if log:
                # Had the last deletion not been made, the arrivals and the margin would not have fit.
                kept_room = self.free_before[host] + sum(d.size for d in log[:-1])
                assert kept_room < sum(plot.size for plot in arrived) + MARGIN, (host, log, arrived)
        for host in PLOTTERS:  # every claim a run made was dropped at its start or released
            assert claims(self.fleet, host) == [], (host, claims(self.fleet, host))
        return placed


def claims(fleet: Fleet, host: str) -> list[str]:
    """The plots archive runs have claimed on a plotter (plotfleet_archive claim_state)."""
    directory = fleet.host_path(host, f"{Path(TRANSFER_LOCK).parent}/.claims")
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def reset(fleet: Fleet, v1: Mapping[str, Plot]) -> None:
    """No transfers, no plots on the plotters, the harvesters' disks as the operator left them: both
    v1 plots, nothing else; empty deletion logs and no host vars."""
    for host in PLOTTERS:
        kill_in_host(fleet, host, runner_pids(fleet, host))
        kill_in_host(fleet, host, rsync_pids(fleet, host, ".plot"))
        for path in files_under(fleet, host, DST):
            path.unlink()
        shutil.rmtree(fleet.host_path(host, f"{Path(TRANSFER_LOCK).parent}/.claims"), ignore_errors=True)
    for host in HARVESTERS:
        base = seen(fleet, host, ARCHIVE)
        for entry in base.iterdir():
            plot = v1.get(entry.name)
            if plot is not None and entry.stat().st_size == plot.size:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        for plot in v1.values():
            if not (base / plot.name).exists():
                shutil.copyfile(plot.original, base / plot.name)
        log = fleet.host_path(host, REPLACE_LOG)
        if log.exists():
            log.unlink()
        inventory_vars(fleet, "host_vars", host).unlink(missing_ok=True)


@pytest.fixture
def farm(disks: Disks, v1_plots: dict[str, Plot], v2_plots: dict[str, Plot]) -> Iterator[Farm]:
    fleet = disks.fleet
    reset(fleet, v1_plots)
    farm = Farm(fleet, v1_plots, v2_plots, {host: v1_on(fleet, host) for host in HARVESTERS},
                {host: free_bytes(fleet, host) for host in HARVESTERS})
    for host in HARVESTERS:
        assert farm.v1_before[host] == set(v1_plots), host
        assert farm.free_before[host] < MARGIN, f"{host}'s disk is not full: {farm.free_before[host]} bytes free"
    yield farm
    for host in HARVESTERS:
        inventory_vars(fleet, "host_vars", host).unlink(missing_ok=True)


# --- the tests -----------------------------------------------------------------------------

def test_bad_replace_settings_stop_the_run_naming_host_and_key(plotting: Fleet, v2_plots: dict[str, Plot]) -> None:
    """Runs while the k25 jobs plot: nothing of it needs the v1 plots."""
    fleet = plotting
    waiting = sorted(v2_plots)[:2]
    for name in waiting:
        os.link(v2_plots[name].original, fleet.host_path("plotter1", f"{DST}/{name}"))
    set_host_vars(fleet, "harvester1", {"plotfleet_replace_rules": [{"name": "everything", "format": "v2"}]})
    set_host_vars(fleet, "harvester2", {"plotfleet_replace_rules": [{"format": "v1"}, {"format": "v3"}],
                                        "plotfleet_replace_max_per_run": -1})
    try:
        result = archive(fleet)
    finally:
        for host in HARVESTERS:
            inventory_vars(fleet, "host_vars", host).unlink()

    assert result.returncode != 0, output(result)
    for problem in ("harvester1: plotfleet_replace_rules[0].format: v2 is the replot target",
                    'harvester2: plotfleet_replace_rules[1].format: must be one of v1, v2, got \\"v3\\"',
                    "harvester2: plotfleet_replace_max_per_run: must be an integer >= 0, got -1"):
        assert problem in result.stdout, output(result)
    assert "bad replace settings, nothing was deleted or sent" in result.stdout
    assert not rsync_pids(fleet, "plotter1", ".plot2")
    assert sorted(plot_files(fleet, "plotter1", DST)) == waiting
    assert all(not plot_files(fleet, host, ARCHIVE) and not deletions(fleet, host) for host in HARVESTERS)
    for name in waiting:
        fleet.host_path("plotter1", f"{DST}/{name}").unlink()


WOULD_DELETE = re.compile(rf"would delete (plot-k25-\S+\.plot) to place (plot-k18-\S+\.plot2) on "
                          rf"(harvester\d):{ARCHIVE}")


def test_check_mode_says_what_it_would_delete_and_deletes_nothing(farm: Farm) -> None:
    fleet = farm.fleet
    k18 = farm.v2_sorted(18)
    farm.put({"plotter1": k18[:2], "plotter2": k18[2:]})

    result = archive(fleet, "--check")

    assert result.returncode == 0, output(result)
    would = WOULD_DELETE.findall(result.stdout)
    assert would, output(result)
    for v1, v2, host in would:
        assert v1 in farm.v1_before[host] and v2 in farm.v2, (v1, v2, host)
        assert re.search(rf"replace: delete {v1} \(v1 k25, [\d.]+ MiB, rule v1 uncompressed\) to place {v2} "
                         rf"on {host}:{ARCHIVE}", result.stdout), output(result)
    # Nothing deleted, reserved, logged or sent.
    for host in HARVESTERS:
        assert v1_on(fleet, host) == farm.v1_before[host]
        assert reservation(fleet, host) is None and not deletions(fleet, host)
    assert all(not rsync_pids(fleet, host, ".plot") for host in PLOTTERS)
    assert set(farm.where(k18).values()) <= set(PLOTTERS)


def run_until_placed(farm: Farm, sent: Sequence[Plot], *args: str, runs: int = 4) -> list[str]:
    """archive.yml (waiting for its transfers) until every plot of ``sent`` is on a harvester."""
    outputs = []
    for _ in range(runs):
        result = archive(farm.fleet, *args)
        assert result.returncode == 0, output(result)
        outputs.append(result.stdout)
        placed = farm.where(sent)
        if all(placed[plot.name] in HARVESTERS for plot in sent):
            return outputs
    pytest.fail(f"not every plot placed after {runs} runs:\n" + "\n".join(outputs))


def test_replot_places_every_v2_plot_deleting_just_enough(farm: Farm) -> None:
    fleet = farm.fleet
    k18 = farm.v2_sorted(18)
    farm.put({"plotter1": k18[:2], "plotter2": k18[2:]})

    outputs = run_until_placed(farm, k18)

    placed = farm.assert_replot(k18)
    logged = [(host, d) for host in HARVESTERS for d in deletions(fleet, host)]
    assert logged, "every disk was full: the first plot needed a deletion"
    # One v1 plot frees room for all four: at most one deletion per disk that received plots.
    assert all(len(deletions(fleet, host)) <= 1 for host in HARVESTERS), logged
    both = "\n".join(outputs)
    for host, deletion in logged:
        assert f"{host}:{ARCHIVE}: deleted {deletion.name} to place {deletion.plot}" in both, both
    # The v2 plots landed are never replaced, whatever the rules say: a next run deletes nothing.
    again = archive(fleet)
    assert again.returncode == 0, output(again)
    assert farm.assert_replot(k18) == placed
    assert [(h, d) for h in HARVESTERS for d in deletions(fleet, h)] == logged
    assert all(reservation(fleet, host) is None for host in HARVESTERS)


def all_deletions(fleet: Fleet) -> list[tuple[str, Deletion]]:
    return [(host, deletion) for host in HARVESTERS for deletion in deletions(fleet, host)]


def test_two_archive_runs_at_once_never_delete_twice_for_a_plot(farm: Farm) -> None:
    fleet = farm.fleet
    k18 = farm.v2_sorted(18)
    farm.put({"plotter1": k18[:2], "plotter2": k18[2:]})

    runs = [Background(lambda: archive(fleet)) for _ in range(2)]
    results = [run.join() for run in runs]

    assert all(result.returncode == 0 for result in results), "\n".join(map(output, results))
    logged = all_deletions(fleet)
    per_plot = [deletion.plot for _, deletion in logged]
    assert len(per_plot) == len(set(per_plot)), logged
    # One deletion frees room for every plot of the case: never more than one per disk.
    assert all(len(deletions(fleet, host)) <= 1 for host in HARVESTERS), logged
    wait_for(lambda: not any(rsync_pids(fleet, host, ".plot") for host in PLOTTERS), 120,
             "the transfers to end", interval=0.5)
    farm.where(k18)

    run_until_placed(farm, k18)

    farm.assert_replot(k18)
    assert all_deletions(fleet) == logged


@contextlib.contextmanager
def transfer_lock_held(fleet: Fleet, host: str) -> Iterator[None]:
    """Holds the plotter's transfer lock: its archive module waits to start a transfer meanwhile."""
    path = fleet.host_path(host, TRANSFER_LOCK)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def test_disk_filled_after_the_deletion_the_plot_waits_and_nothing_more_goes(farm: Farm) -> None:
    fleet = farm.fleet
    plot = farm.v2_sorted(18)[0]
    farm.put({"plotter1": [plot]})
    set_host_vars(fleet, "harvester2", {"plotfleet_replace_max_per_run": 0})  # harvester1 makes the room
    filler = f"{ARCHIVE}/filler"

    run = Background(lambda: archive(fleet))
    # The run claims the plot on its plotter (under the transfer lock), then makes the room, then
    # starts the transfer (under the lock again): holding the lock from the claim on, the start waits.
    claim = fleet.host_path("plotter1", f"{Path(TRANSFER_LOCK).parent}/.claims/{plot.name}")
    wait_for(claim.exists, 120, f"the run's claim on {plot.name}", interval=0.02)
    with transfer_lock_held(fleet, "plotter1"):
        wait_for(lambda: blocked_lock_waiters(fleet, "plotter1") > 0, 120,
                 "plotter1's archive module to wait for its transfer lock", interval=0.2)
        (deleted,) = deletions(fleet, "harvester1")
        assert deleted.plot == plot.name and reservation(fleet, "harvester1") == plot.name
        # Something else takes the room before the plot arrives.
        fill = fleet.host_run("harvester1", ["dd", "if=/dev/zero", f"of={filler}", "bs=1M"])
        assert "No space left on device" in fill.stderr
    result = run.join()

    assert result.returncode != 0, output(result)
    assert re.search(rf"plotter1: FAILED archive {plot.name}.*the harvester's archive dir is full", result.stdout), \
        output(result)
    assert farm.where([plot]) == {plot.name: "plotter1"}
    assert reservation(fleet, "harvester1") == plot.name

    # Still full: the plot keeps its reserved dir and waits; nothing more is deleted anywhere.
    still_full = archive(fleet)
    assert all_deletions(fleet) == [("harvester1", deleted)], output(still_full)
    assert farm.where([plot]) == {plot.name: "plotter1"}

    seen(fleet, "harvester1", filler).unlink()
    outputs = run_until_placed(farm, [plot])

    assert f"replace: {plot.name} fills harvester1:{ARCHIVE}, reserved for it by an earlier run" in outputs[0], \
        outputs[0]
    assert farm.assert_replot([plot]) == {plot.name: "harvester1"}
    assert all_deletions(fleet) == [("harvester1", deleted)]


def arriving_bytes(fleet: Fleet, host: str, plot: Plot) -> int:
    """Bytes of ``plot`` in rsync's temporary file (``.<name>.XXXXXX``) in the host's archive dir."""
    for entry in seen(fleet, host, ARCHIVE).iterdir():
        if entry.name.startswith(f".{plot.name}."):
            with contextlib.suppress(FileNotFoundError):  # renamed: the transfer just ended
                return entry.stat().st_size
    return 0


def wait_past_fresh_window(fleet: Fleet, host: str, plot: Plot) -> None:
    """Until rsync's temporary file of ``plot`` on ``host`` has been untouched longer than the grace
    a harvester gives a file just written (it may be a transfer starting, and the planner rightly
    waits for it). A real harvester takes longer than that to boot; the test fleet may not."""
    (partial,) = [p for p in seen(fleet, host, ARCHIVE).iterdir() if p.name.startswith(f".{plot.name}.")]
    time.sleep(max(partial.stat().st_mtime + _FRESH_SECONDS + 1 - time.time(), 0))


def slow_replot_to_harvester2(farm: Farm, plot: Plot) -> Background:
    """An archive run sending ``plot`` from plotter1 slowly into room made on harvester2's disk (the
    only one allowed to delete), once 2 MiB of it have arrived there."""
    farm.put({"plotter1": [plot]})
    set_host_vars(farm.fleet, "harvester1", {"plotfleet_replace_max_per_run": 0})
    run = Background(lambda: archive(farm.fleet, "-e", f"plotfleet_bwlimit={SLOW_BWLIMIT}"))
    wait_for(lambda: arriving_bytes(farm.fleet, "harvester2", plot) >= 2 * MIB, 120,
             f"{plot.name} arriving on harvester2", interval=0.1)
    return run


def test_harvester_crash_mid_transfer_after_a_deletion_the_next_run_finishes_that_slot_first(
        farm: Farm, disks: Disks) -> None:
    fleet = farm.fleet
    (plot,) = farm.v2_sorted(22)
    other = farm.v2_sorted(18)[0]
    run = slow_replot_to_harvester2(farm, plot)
    (deleted,) = deletions(fleet, "harvester2")
    assert deleted.plot == plot.name
    fleet.crash("harvester2")
    result = run.join()

    assert result.returncode != 0, output(result)
    assert re.search(rf"plotter1: FAILED archive {plot.name}", result.stdout), output(result)
    assert farm.where([plot]) == {plot.name: "plotter1"}

    # The host boots, its disk is mounted, its rsync daemon started: the dir is still the plot's.
    fleet.restart("harvester2")
    disks.mount()
    assert reservation(fleet, "harvester2") == plot.name
    assert v1_on(fleet, "harvester2") == farm.v1_before["harvester2"] - {deleted.name}
    daemon = playbook(fleet, "site.yml", "--limit", "harvester2", "--tags", "harvester_service")
    assert daemon.returncode == 0, output(daemon)
    # Another plot is ready meanwhile: the only room is the one made for the first, so it waits.
    farm.put({"plotter2": [other]})
    wait_past_fresh_window(fleet, "harvester2", plot)

    outputs = run_until_placed(farm, [plot, other])

    assert f"replace: {plot.name} fills harvester2:{ARCHIVE}, reserved for it by an earlier run" in outputs[0], \
        outputs[0]
    assert farm.assert_replot([plot, other]) == {plot.name: "harvester2", other.name: "harvester2"}
    assert all_deletions(fleet) == [("harvester2", deleted)]


def test_a_plot_corrupted_in_flight_is_quarantined_never_deleted_and_reported(farm: Farm) -> None:
    fleet = farm.fleet
    (plot,) = farm.v2_sorted(22)
    later = farm.v2_sorted(18)[0]
    run = slow_replot_to_harvester2(farm, plot)
    # The disk (or anything between) spoils the plot's header on the harvester while the rest arrives.
    (incoming,) = [p for p in seen(fleet, "harvester2", ARCHIVE).iterdir() if p.name.startswith(f".{plot.name}.")]
    with incoming.open("r+b") as handle:
        handle.write(bytes(64 * 1024))
    result = run.join()

    assert result.returncode == 0, output(result)  # rsync delivered what it was sent; the hook judges it
    (deleted,) = deletions(fleet, "harvester2")
    assert deleted.plot == plot.name
    wait_for(lambda: quarantined_files(fleet, "harvester2", plot), 60, f"{plot.name} quarantined on harvester2")
    (kept,) = quarantined_files(fleet, "harvester2", plot)
    assert sha256(kept) != plot.sha256 and kept.stat().st_size == plot.size
    # The next run reports it and sends the next plot into the room made for it; nothing more goes.
    farm.put({"plotter2": [later]})

    outputs = run_until_placed(farm, [later])

    assert re.search(rf"harvester2: QUARANTINED \S*{re.escape(plot.name)}\S*: ", outputs[0]), outputs[0]
    assert farm.assert_replot([plot, later], quarantined={"harvester2": plot}) == {plot.name: "harvester2",
                                                                                  later.name: "harvester2"}
    assert all_deletions(fleet) == [("harvester2", deleted)]
    assert quarantined_files(fleet, "harvester2", plot) == [kept] and sha256(kept) != plot.sha256


def test_a_transfer_that_cannot_start_deletes_nothing_and_the_run_says_why(farm: Farm) -> None:
    """A plotter whose rsync password file rsync would refuse (mode 0644) during the replot."""
    fleet = farm.fleet
    plot = farm.v2_sorted(18)[0]
    farm.put({"plotter1": [plot]})
    secret = fleet.host_path("plotter1", PASSWORD_FILE)
    secret.chmod(0o644)
    try:
        result = archive(fleet)
    finally:
        secret.chmod(0o600)

    assert result.returncode != 0, output(result)
    assert re.search(rf"FAILED nothing deleted for {plot.name}, its transfer cannot start: .*password file "
                     rf"{PASSWORD_FILE} is mode 0644", result.stdout), output(result)
    assert not all_deletions(fleet) and all(reservation(fleet, host) is None for host in HARVESTERS)
    assert farm.where([plot]) == {plot.name: "plotter1"}

    run_until_placed(farm, [plot])

    farm.assert_replot([plot])
