"""playbooks/notify.yml end to end: real plot logs, real jobs, real transfers, real Ansible, and a
webhook receiver on 127.0.0.1 (a tiny http.server in this process) that records every request.

Each event must arrive once: across passes, with two passes at once, and after the receiver
failed for a while; a lost state file may repeat events but never lose one.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VENV_BIN, ansible_env, run_module, run_playbook, wait_for

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import parse_log_file
from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import find_transfers

TOKEN = "s3cr3t-webhook-token"
# chiapos writes its progress from C++ to fd 1: the plot runs in a child whose stdout is the log.
_PLOT_K18 = """
import datetime, os, sys
from chiapos import DiskPlotter
tmp, final = sys.argv[1:3]
plot_id = os.urandom(32)
name = "plot-k18-" + datetime.datetime.now().strftime("%Y-%m-%d-%H-%M") + "-" + plot_id.hex() + ".plot"
DiskPlotter().create_plot_disk(tmp, tmp, final, name, 18, os.urandom(128), plot_id, 200, 16, 4096, 2, False)
"""


@dataclass
class Receiver:
    """Records each POST; answers 503 to the first ``fail_first`` of them, after ``delay`` seconds."""

    fail_first: int = 0
    delay: float = 0.0
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def accepted(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["status"] < 300]

    def ids(self) -> Counter:
        """How many times each event arrived (generic preset: the body names it)."""
        return Counter(f"{r['json']['host']}|{r['json']['id']}" for r in self.accepted())


def _handler(receiver: Receiver) -> type:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(receiver.delay)
            with receiver.lock:
                status = 503 if len(receiver.requests) < receiver.fail_first else 204
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "json": parsed, "status": status})
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Site:
    """A plotter and harvester on this machine, all under one tmp dir, and its inventory."""

    base: Path
    receiver: Receiver
    vars: dict = field(default_factory=dict)
    extra_hosts: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("logs", "tmp", "dst", "transfers", "archive", "state"):
            (self.base / name).mkdir()
        self.password_file = self.base / "rsync.secret"
        self.password_file.write_text("unused\n")
        self.password_file.chmod(0o600)
        (self.base / "plotfleet.yml").write_text(yaml.safe_dump({
            "logging": {"plots": str(self.base / "logs"), "transfers": str(self.base / "transfers")},
            "directories": {"tmp": [str(self.base / "tmp")], "dst": [str(self.base / "dst")]},
            "archiving": {"rsync_password_file": str(self.password_file), "parallel_transfers": 100},
        }))
        (self.base / "harvester.yml").write_text(yaml.safe_dump({
            "archive_dirs": [{"path": str(self.archive)}],
            "verify": {"enabled": True, "log_file": str(self.base / "verify.log")},
        }))
        self.vars = {
            "plotter_config_path": str(self.base / "plotfleet.yml"),
            "harvester_space_config": str(self.base / "harvester.yml"),
            "plotfleet_notify_url": f"http://127.0.0.1:{self.receiver.port}/hook/{TOKEN}",
            "plotfleet_notify_state_dir": str(self.state),
            "plotfleet_notify_job_grace_seconds": 0,
            "plotfleet_notify_backoff_seconds": 0.2,
            "plotfleet_notify_dir_free_percent": 0,
        }

    @property
    def archive(self) -> Path:
        return self.base / "archive"

    @property
    def state(self) -> Path:
        return self.base / "state"

    def inventory(self) -> Path:
        path = self.base / "inventory.yml"
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        plotters = {"localhost": None, **dict.fromkeys(self.extra_hosts)}
        path.write_text(yaml.safe_dump({"all": {
            "vars": self.vars,
            "hosts": {"localhost": local, **self.extra_hosts},
            "children": {"plotters": {"hosts": plotters}, "harvesters": {"hosts": {"localhost": None}}},
        }}))
        return path

    def plot_k18(self) -> str:
        """A real chiapos k18 plot into dst, its log in the log dir; returns its plot id."""
        log = self.base / "logs" / f"k18-{time.monotonic_ns()}.log"
        with log.open("wb") as out:
            subprocess.run([sys.executable, "-c", _PLOT_K18, str(self.base / "tmp"), str(self.base / "dst")],
                           stdout=out, stderr=subprocess.PIPE, check=True, timeout=120)
        info = parse_log_file(str(log))
        assert info.completed and info.plot_id
        return info.plot_id

    def notify(self, **extra: object) -> subprocess.CompletedProcess:
        return run_playbook("notify.yml", dict(extra) or None, inventory=str(self.inventory()))

    def notify_process(self) -> subprocess.Popen:
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory()), str(ROOT / "playbooks" / "notify.yml")]
        return subprocess.Popen(cmd, cwd=ROOT, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)


@pytest.fixture
def site(tmp_path: Path, receiver: Receiver) -> Site:
    return Site(tmp_path, receiver)


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert TOKEN not in result.stdout + result.stderr, "the webhook token leaked into the output"
    return result.stdout


def _kinds(receiver: Receiver) -> Counter:
    return Counter(r["json"]["kind"] for r in receiver.accepted())


def test_every_kind_of_event_arrives_once(site: Site, receiver: Receiver, jobs, real_k18_copy) -> None:
    # plot finished: a real chiapos k18 plot and its log.
    finished = site.plot_k18()
    # job failed: a real chia k25 job, killed once its log names its plot.
    log = site.base / "logs" / "k25.log"
    job = jobs.start(site.base / "tmp", site.base / "dst", log)
    failed_id = wait_for(lambda: log.exists() and parse_log_file(str(log)).plot_id, 60, "the k25 job's plot id")
    job.proc.kill()
    job.proc.wait(timeout=30)
    # transfer failed: a real transfer to a harvester whose rsync daemon is not there.
    plot = next((site.base / "dst").glob("*.plot"))
    sent = run_module("plotfleet_archive", {"source": str(plot), "host": "127.0.0.1", "port": closed_port(),
                                            "module": "plots", "config": str(site.base / "plotfleet.yml")})
    assert sent["failed"], sent
    wait_for(lambda: not [t for t in find_transfers() if t.source == str(plot)], 30, "the transfer to end")
    # plot quarantined: a truncated plot verified by plotfleet_verify; a good one stays for the census.
    shutil.copyfile(real_k18_copy, site.archive / real_k18_copy.name)
    bad = site.archive / f"plot-k18-2024-01-01-00-00-{os.urandom(32).hex()}.plot"
    shutil.copyfile(real_k18_copy, bad)
    with bad.open("r+b") as handle:
        handle.truncate(bad.stat().st_size // 2)
    verified = run_module("plotfleet_verify", {"config": str(site.base / "harvester.yml"), "confirm_farmed": False})
    assert [item["name"] for item in verified["quarantined"]] == [bad.name], verified
    # dir nearly full: a threshold above what any disk has free; the replot deadline: tomorrow,
    # with no v2 plot on the harvester at all; a host that never answers.
    site.vars.update(plotfleet_notify_dir_free_percent=99.99, plotfleet_notify_not_reporting_passes=2,
                     plotfleet_replot_deadline=time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400)))
    site.extra_hosts = {"ghost": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1",
                                  "ansible_port": closed_port(), "ansible_ssh_common_args": "-o ConnectTimeout=3"}}

    out = _ok(site.notify())
    assert _kinds(receiver) == {"plot_finished": 1, "job_failed": 1, "transfer_failed": 1, "plot_quarantined": 1,
                                "dir_nearly_full": 1, "replot_deadline_at_risk": 1}, out
    by_kind = {r["json"]["kind"]: r["json"] for r in receiver.accepted()}
    assert by_kind["plot_finished"]["id"] == f"plot_finished:{finished}"
    assert by_kind["plot_finished"]["host"] == "localhost" and by_kind["plot_finished"]["fields"]["k"] == 18
    assert by_kind["job_failed"]["id"] == f"job_failed:{failed_id}" and by_kind["job_failed"]["severity"] == "error"
    assert plot.name[:-len(".plot")] in by_kind["transfer_failed"]["fields"]["plot_name"]
    assert by_kind["plot_quarantined"]["fields"]["plot_name"] == bad.name
    assert by_kind["replot_deadline_at_risk"]["host"] is None
    assert all(r["path"] == f"/hook/{TOKEN}" for r in receiver.requests)
    assert "not reporting: ghost" in out

    # The second pass: the host missed its second pass; nothing else is new.
    _ok(site.notify())
    assert _kinds(receiver)["host_not_reporting"] == 1
    assert "ghost" in next(r["json"] for r in receiver.accepted() if r["json"]["kind"] == "host_not_reporting")["title"]
    # A third: nothing at all.
    before = len(receiver.requests)
    _ok(site.notify())
    assert len(receiver.requests) == before
    assert max(receiver.ids().values()) == 1


@pytest.fixture(scope="module")
def real_k18_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real chiapos k18 plot under a valid name, for the archive dir."""
    base = tmp_path_factory.mktemp("k18")
    subprocess.run([sys.executable, "-c", _PLOT_K18, str(base), str(base)], check=True, timeout=120,
                   capture_output=True)
    return next(base.glob("*.plot"))


def test_each_preset_posts_what_its_service_expects(site: Site, receiver: Receiver) -> None:
    """The events a pass claims, posted by plotfleet_notify in each preset's format."""
    plot_id = site.plot_k18()
    claimed = run_module("plotfleet_events", {"run_id": "presets", "plotter_config": str(site.base / "plotfleet.yml"),
                                              "state_file": str(site.state / "events.json")}, check=True)
    [item] = [{**e, "host": "plotter01"} for e in claimed["events"]]
    for preset in ("discord", "slack", "ntfy"):
        sent = run_module("plotfleet_notify", {"url": site.vars["plotfleet_notify_url"], "preset": preset,
                                               "events": [item]})
        assert sent["delivered"] == [{"host": "plotter01", "id": f"plot_finished:{plot_id}"}], sent
        assert TOKEN not in json.dumps(sent)
    discord, slack, ntfy = receiver.accepted()
    body = discord["json"]
    assert body["username"] == "plotfleet" and body["allowed_mentions"] == {"parse": []}
    [embed] = body["embeds"]
    assert embed["title"].startswith(f"plotter01: plot finished: {plot_id[:8]} (k18")
    assert plot_id in embed["description"] and embed["timestamp"].endswith("Z")
    body = slack["json"]
    assert body["text"].startswith(":white_check_mark: *plotter01: plot finished") and plot_id in body["text"]
    assert body["blocks"][0]["text"]["type"] == "mrkdwn"
    assert ntfy["json"] is None and plot_id in ntfy["body"].decode()
    assert ntfy["headers"]["Title"].startswith(f"plotter01: plot finished: {plot_id[:8]}")
    assert (ntfy["headers"]["Priority"], ntfy["headers"]["Tags"]) == ("2", "white_check_mark,plot_finished")


def test_two_passes_at_once_send_each_event_once(site: Site, receiver: Receiver) -> None:
    ids = {site.plot_k18() for _ in range(3)}
    receiver.delay = 0.5  # the first pass is still posting when the second claims
    passes = [site.notify_process(), site.notify_process()]
    outputs = [proc.communicate(timeout=300)[0] for proc in passes]
    assert [proc.returncode for proc in passes] == [0, 0], outputs
    assert receiver.ids() == Counter({f"localhost|plot_finished:{i}": 1 for i in ids})
    assert sum("sent 3 of 3" in out for out in outputs) + sum("sent 0 of 0" in out for out in outputs) == 2


def test_a_failing_receiver_gets_every_event_later(site: Site, receiver: Receiver) -> None:
    ids = {site.plot_k18() for _ in range(2)}
    receiver.fail_first = 3
    site.vars["plotfleet_notify_retries"] = 1
    first = site.notify()
    assert first.returncode != 0 and "not posted" in first.stdout
    assert "HTTP 503" in first.stdout and TOKEN not in first.stdout
    assert len(receiver.requests) == 2 and not receiver.accepted()  # the rest waited: the receiver was down
    # The next pass: one more 503, a retry after the backoff, then both events.
    _ok(site.notify())
    assert receiver.ids() == Counter({f"localhost|plot_finished:{i}": 1 for i in ids})
    assert [r["status"] for r in receiver.requests] == [503, 503, 503, 204, 204]


def test_a_lost_state_file_repeats_events_and_loses_none(site: Site, receiver: Receiver) -> None:
    ids = {site.plot_k18() for _ in range(2)}
    _ok(site.notify())
    (site.state / "events.json").unlink()
    _ok(site.notify())
    assert receiver.ids() == Counter({f"localhost|plot_finished:{i}": 2 for i in ids})
    _ok(site.notify())
    assert len(receiver.requests) == 4


def test_events_claimed_by_a_pass_that_died_are_sent_once_its_lease_ends(site: Site, receiver: Receiver) -> None:
    plot_id = site.plot_k18()
    claimed = run_module("plotfleet_events", {"run_id": "died", "plotter_config": str(site.base / "plotfleet.yml"),
                                              "state_file": str(site.state / "events.json"), "lease_seconds": 1,
                                              "job_grace_seconds": 0})
    assert [item["id"] for item in claimed["events"]] == [f"plot_finished:{plot_id}"]
    time.sleep(1.1)  # the dead pass's lease runs out (a lease, not a wait for a condition)
    _ok(site.notify())
    assert receiver.ids() == Counter({f"localhost|plot_finished:{plot_id}": 1})


def test_the_cron_entry_posts_as_cron_runs_it(site: Site, receiver: Receiver) -> None:
    """cron.yml's notify entry, run the way cron runs it (no login shell, a minimal PATH)."""
    plot_id = site.plot_k18()
    cron_file = site.base / "plotfleet_test"  # outside /etc/cron.d: the cron daemon never runs it
    installed = run_playbook("cron.yml", {
        "controller_cron_file": str(cron_file), "controller_cron_user": getpass.getuser(),
        "controller_cron_log_dir": str(site.base / "log"), "controller_cron_lock_dir": str(site.base / "lock"),
        "controller_cron_inventory": str(site.inventory()), "controller_cron_plot_enabled": False,
        "controller_cron_archive_enabled": False, "controller_cron_notify_enabled": True,
        "controller_cron_notify_every_minutes": 2})
    assert installed.returncode == 0, installed.stdout + installed.stderr
    lines = cron_file.read_text().splitlines()
    [line] = [lines[i + 1] for i, text in enumerate(lines) if text == "#Ansible: plotfleet notify"]
    assert line.startswith(f"*/2 * * * * {getpass.getuser()} cd {ROOT} && ")
    assert f"-n {site.base}/lock/plotfleet-notify.lock " in line and f"{ROOT}/playbooks/notify.yml;" in line
    assert TOKEN not in cron_file.read_text()
    cron_env = {"HOME": os.path.expanduser("~"), "LOGNAME": getpass.getuser(), "USER": getpass.getuser(),
                "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"}
    ran = subprocess.run(["/bin/sh", "-c", line.split(None, 6)[6]], env=cron_env, cwd="/", capture_output=True,
                         text=True, timeout=600, check=False)
    assert ran.returncode == 0, (site.base / "log" / "cron-notify.log").read_text()
    assert receiver.ids() == Counter({f"localhost|plot_finished:{plot_id}": 1})
    assert TOKEN not in (site.base / "log" / "cron-notify.log").read_text()
