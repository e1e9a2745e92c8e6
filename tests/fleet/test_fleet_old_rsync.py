"""A Debian 11 harvester (rsync 3.2.3, no --fsync) takes plots through its flush modules.

One fleet for the module: ``plotter1`` on the machine's own system (rsync >= 3.2.4) and
``harvester1`` from the bullseye root filesystem (``scripts/setup --rootfs``), with its own
rsync 3.2.3 daemon rolled out by site.yml. plotfleet_space_info reports that version, so archive.yml's
default route (auto) takes the flush module from the start: the plot is sent without removing the
source, listed through ``<module>-flush`` (whose pre-xfer exec flushes the dir's filesystem), and only
then removed on the plotter. (When the version is unknown, the runner tries --fsync, which that
daemon refuses before any data moves, and falls back the same way: test_archive_transfers.)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from fleet import Fleet, HostSpec

pytestmark = pytest.mark.fleet

DST = "/srv/plotfleet/dst0"
ARCHIVE = "/srv/plotfleet/archive0"
TRANSFER_LOGS = "/var/log/plotfleet/transfers"


@pytest.fixture(scope="module")
def fleet(make_module_fleet) -> Fleet:
    return make_module_fleet(hosts=[HostSpec("plotter1", ("plotters",)),
                                    HostSpec("harvester1", ("harvesters",), release="bullseye")])


def playbook(fleet: Fleet, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["ansible-playbook", f"playbooks/{name}", "-e", "@tests/fleet/vars.yml", *args]
    return fleet.controller_run(cmd, env={"ANSIBLE_NOCOLOR": "1"}, timeout=900)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"rc={result.returncode}\n{result.stdout[-12000:]}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def rolled_out(fleet: Fleet) -> None:
    # The plots here are random bytes under plot names: the harvester's landing check would
    # quarantine them (it reads the plot header), which is not what this module tests.
    result = playbook(fleet, "site.yml", "-e", '{"harvester_verify_enabled": false}')
    assert result.returncode == 0, output(result)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_plot(fleet: Fleet, size: int = 24 << 20) -> Path:
    path = fleet.host_path("plotter1", DST) / f"plot-k32-2026-01-01-00-00-{os.urandom(32).hex()}.plot"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def on_harvester(fleet: Fleet, name: str) -> tuple[str, int] | None:
    """(sha256, size) of a file in the harvester's archive dir, read inside the host (its own root)."""
    run = fleet.host_run("harvester1", ["sh", "-c", 'sha256sum "$0" && stat -c %s "$0"', f"{ARCHIVE}/{name}"])
    if run.returncode != 0:
        return None
    digest, size = run.stdout.split()[0], run.stdout.split()[-1]
    return digest, int(size)


def test_the_harvester_runs_rsync_3_2_3(fleet: Fleet) -> None:
    version = fleet.host_run("harvester1", ["rsync", "--version"], check=True).stdout
    assert "version 3.2.3 " in version


def test_a_plot_reaches_a_debian_11_harvester_flushed_before_its_source_goes(fleet: Fleet, rolled_out: None) -> None:
    plot = new_plot(fleet)
    digest, size = sha256(plot), plot.stat().st_size
    result = playbook(fleet, "archive.yml", "-e", "plotfleet_wait=true", "-e", "plotfleet_margin=0")
    assert result.returncode == 0, output(result)
    assert on_harvester(fleet, plot.name) == (digest, size), output(result)
    assert not plot.exists()
    log = "\n".join(p.read_text() for p in fleet.host_path("plotter1", TRANSFER_LOGS).glob("*.log"))
    # plotfleet_space_info told the plan the harvester's rsync version: the flush route from the start.
    assert "sending 1 plot(s) (flush route)" in log and "no --fsync" not in log, log
    assert f"landed {size} {DST}/{plot.name}" in log


def test_a_harvester_of_unknown_rsync_version_is_tried_with_fsync_then_through_its_flush_module(
        fleet: Fleet, rolled_out: None) -> None:
    """plotfleet_archive without the harvester's version (an older controller, a hand-made call):
    the daemon refuses --fsync before any data moves and the runner falls back to the flush route."""
    plot = new_plot(fleet)
    digest, size = sha256(plot), plot.stat().st_size
    args = f"source={DST}/{plot.name} host={fleet.address('harvester1')} module=plots-archive0 flush=auto wait=true"
    result = fleet.controller_run(["ansible", "plotter1", "-m", "plotfleet_archive", "-a", args],
                                  env={"ANSIBLE_NOCOLOR": "1"}, timeout=600)
    assert result.returncode == 0, output(result)
    assert on_harvester(fleet, plot.name) == (digest, size), output(result)
    assert not plot.exists()
    log = "\n".join(p.read_text() for p in fleet.host_path("plotter1", TRANSFER_LOGS).glob("*.log"))
    assert "the harvester's rsync has no --fsync (older than 3.2.4): using its flush module" in log, log
    assert f"landed {size} {DST}/{plot.name}" in log


def test_forcing_fsync_against_rsync_3_2_3_fails_clearly_and_keeps_the_plot(fleet: Fleet, rolled_out: None) -> None:
    plot = new_plot(fleet)
    digest = sha256(plot)
    result = playbook(fleet, "archive.yml", "-e", "plotfleet_wait=true", "-e", "plotfleet_margin=0",
                      "-e", "plotfleet_flush=fsync")
    assert result.returncode != 0, output(result)
    assert "the rsync at one end is older than 3.2.4 (no --fsync)" in result.stdout, output(result)
    assert sha256(plot) == digest
    assert on_harvester(fleet, plot.name) is None
    plot.unlink()
