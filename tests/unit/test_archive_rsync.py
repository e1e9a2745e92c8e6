"""Recognising, building and explaining rsync archive transfers (no processes started)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import rsync_version
from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import (
    SENT_PREFIX,
    Transfer,
    choose_route,
    daemon_url,
    explain_failure,
    find_transfers,
    flush_listing_command,
    fsync_refused,
    parse_listing,
    parse_rsync_command,
    password_file_problem,
    rsync_command,
    runner_command,
    sent_names,
    source_problem,
    start_refusal,
)

PLOT = "/mnt/dst/plot-k32-2024-01-01-00-00-" + "a" * 64 + ".plot"
PLOT2 = "/mnt/dst/plot-k32-2024-01-01-00-01-" + "b" * 64 + ".plot"


def test_own_command_round_trips_through_the_parser() -> None:
    cmd = rsync_command("/usr/bin/rsync", PLOT, daemon_url("10.0.0.5", 8873, "plots-a", "plotfleet"),
                        password_file="/etc/plotfleet/rsync.secret", log_file="/var/log/t.log", timeout=300,
                        bwlimit=1000, extra_args=["--partial-dir=.rsync-partial"])
    assert "--remove-source-files" in cmd and "--whole-file" in cmd and "--preallocate" in cmd
    assert not {"--inplace", "--append", "--partial"} & set(cmd)
    sources, destination, parts = parse_rsync_command(cmd)
    assert sources == [PLOT]
    assert destination == "rsync://plotfleet@10.0.0.5:8873/plots-a/"
    assert (parts["user"], parts["host"], parts["port"], parts["module"]) == ("plotfleet", "10.0.0.5", 8873, "plots-a")
    assert parts["log_file"] == "/var/log/t.log"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # Options with separate values must not be taken for the source or destination.
        (["rsync", "--bwlimit", "100", "--log-file", "/l", PLOT, "h::mod/"], ("h", None, "mod")),
        (["rsync", "-avT", "/tmp", "--port", "8873", PLOT, "u@h::mod"], ("h", 8873, "mod")),
        (["rsync", "--", PLOT, "rsync://[fd00::5]:873/mod/"], ("fd00::5", 873, "mod")),
        # Not pushes of one plot to a daemon.
        (["rsync", PLOT, "/mnt/other/"], None),
        (["rsync", PLOT, "host:/mnt/other/"], None),
        (["rsync", "/mnt/dst/a.plot.tmp", "h::mod/"], None),
        (["rsync", "--daemon", "--config=/etc/rsyncd.conf"], None),
        (["rsync", "--server", "-logDtpre.iLsfxCIvu", ".", "mod/"], None),
        (["/usr/bin/python3", PLOT, "h::mod/"], None),
        # Several plots in one rsync: sent one after another.
        (["rsync", PLOT, PLOT2, "h::mod/"], ("h", None, "mod")),
        (["rsync", PLOT, "/mnt/dst/notes.txt", "h::mod/"], None),
        (["rsync", "--list-only", "--include=/x.plot", "rsync://h:873/mod-flush/"], None),
    ],
)
def test_parse_rsync_command(argv: list[str], expected: tuple | None) -> None:
    parsed = parse_rsync_command(argv)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert (parsed[2]["host"], parsed[2]["port"], parsed[2]["module"]) == expected


def test_find_transfers_reads_a_fake_proc_and_resolves_relative_sources(tmp_path: Path) -> None:
    (tmp_path / "dst").mkdir()
    plot = tmp_path / "dst" / os.path.basename(PLOT)
    plot.write_bytes(b"x" * 10)
    for pid, argv in {"77": ["rsync", "--log-file=t.log", os.path.basename(PLOT), "h::m/"],
                      "78": ["rsync", "--daemon"], "79": ["sleep", "1"]}.items():
        (tmp_path / "proc" / pid).mkdir(parents=True)
        (tmp_path / "proc" / pid / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        (tmp_path / "proc" / pid / "cwd").symlink_to(tmp_path / "dst")
    (transfer,) = find_transfers(str(tmp_path / "proc"))
    assert (transfer.pid, transfer.source, transfer.size_bytes) == (77, str(plot), 10)
    assert transfer.log_file == str(tmp_path / "dst" / "t.log")


def _transfer(pid: int, source: str, lane: int | None = None) -> Transfer:
    return Transfer(pid, source, "rsync://h:873/m/", "h", 873, "m", None, 1, None, None, lane=lane)


def test_start_refusal() -> None:
    assert start_refusal(PLOT, [], 1) is None
    assert start_refusal(PLOT, [_transfer(5, PLOT)], 3) == (
        f"{PLOT} is already being transferred to rsync://h:873/m/ (rsync pid 5)")
    assert start_refusal(PLOT, [_transfer(5, "/x.plot")], 1) == (
        "1 transfer(s) already running (rsync pid 5); archiving.parallel_transfers is 1")
    assert start_refusal(PLOT, [_transfer(5, "/x.plot")], 2) is None
    # A runner carrying three plots is one transfer slot.
    runner = [_transfer(5, "/x.plot", 5), _transfer(5, "/y.plot", 5), _transfer(9, "/z.plot", 5)]
    assert start_refusal(PLOT, runner, 2) is None
    assert start_refusal([PLOT2, "/y.plot"], runner, 2).startswith("/y.plot is already being transferred")


def test_source_problems(tmp_path: Path) -> None:
    assert "is not a finished plot" in source_problem(str(tmp_path / "a.plot.2.tmp"))
    assert "is not a finished plot" in source_problem(str(tmp_path / ".a.plot"))
    assert source_problem(str(tmp_path / "a.plot")).endswith("does not exist (already archived, or removed)")
    (tmp_path / "d.plot").mkdir()
    assert source_problem(str(tmp_path / "d.plot")).endswith("is not a regular file")
    (tmp_path / "ok.plot").write_bytes(b"x")
    assert source_problem(str(tmp_path / "ok.plot")) is None


def test_password_file_problems(tmp_path: Path) -> None:
    secret = tmp_path / "rsync.secret"
    assert "does not exist" in password_file_problem(str(secret))
    secret.write_text("pw\n")
    secret.chmod(0o644)
    assert password_file_problem(str(secret)) == (
        f"password file {secret} is mode 0644; rsync needs 0600 (chmod 600 {secret})")
    secret.chmod(0o600)
    assert password_file_problem(str(secret), uid=os.stat(secret).st_uid) is None


@pytest.mark.parametrize(
    ("rc", "stderr", "expected"),
    [
        (5, "@ERROR: auth failed on module plots-a\nrsync error: error starting client-server protocol (code 5)",
         "authentication failed: the password in /s does not match the harvester's secrets file for user u"),
        (5, "@ERROR: Unknown module 'nope'", "the harvester's rsync daemon offers no module plots-a to this plotter"),
        (10, "rsync: failed to connect to 127.0.0.1 (127.0.0.1): Connection refused (111)",
         "cannot connect to the rsync daemon at 127.0.0.1:8873: connection refused"),
        (11, 'rsync: [receiver] write failed on "/x": No space left on device (28)',
         "the harvester's archive dir is full (No space left on device)"),
        (5, "@ERROR: max connections (1) reached -- try again later", "module plots-a is busy"),
        (-9, "", "rsync was killed by signal 9"),
        (12, "rsync: connection unexpectedly closed", "rsync exited 12 (error in the rsync protocol data stream): "
                                                      "rsync: connection unexpectedly closed"),
    ],
)
def test_explain_failure(rc: int, stderr: str, expected: str) -> None:
    context = {"host": "127.0.0.1", "port": 8873, "module": "plots-a", "user": "u", "password_file": "/s",
               "temp_dir": None}
    assert explain_failure(rc, stderr, **context).startswith(expected)


def test_a_runner_log_is_explained_by_rsync_words_not_by_the_command_it_logged() -> None:
    context = {"host": "10.0.0.2", "port": 873, "module": "plots-a", "user": "u", "password_file": "/s",
               "temp_dir": None}
    sending = ("2026/12/02 15:47:59 [5722] sending 1 plot(s) (auto route): /usr/bin/rsync --timeout=300 "
               "--contimeout=300 /dst/p.plot rsync://u@10.0.0.2:873/plots-a/\n")
    killed = sending + ("2026/12/02 15:48:09 [5722] rsync failed: rsync was killed by signal 9; "
                        "what was not sent stays here\n")
    assert explain_failure(247, killed, runner_pid=5722, **context) == "rsync was killed by signal 9"
    refused = sending + "rsync: [sender] failed to connect to 10.0.0.2 (10.0.0.2): Connection refused (111)\n"
    assert explain_failure(10, refused, runner_pid=5722, **context).startswith(
        "cannot connect to the rsync daemon at 10.0.0.2:873: connection refused")
    # Without the runner's pid its command line would read as a timeout; with it, it does not.
    assert "cannot reach" not in explain_failure(1, sending, runner_pid=5722, **context)
    io_timeout = sending + "rsync: [sender] io timeout after 300 seconds -- exiting\n"
    assert explain_failure(30, io_timeout, runner_pid=5722, **context).startswith(
        "cannot reach the rsync daemon at 10.0.0.2:873: rsync: [sender] io timeout after 300 seconds")


def test_runner_and_its_rsync_are_one_transfer_slot_and_its_budget_comes_from_its_log(tmp_path: Path) -> None:
    (tmp_path / "dst").mkdir()
    plots = [tmp_path / "dst" / os.path.basename(p) for p in (PLOT, PLOT2)]
    for plot in plots:
        plot.write_bytes(b"x" * 10)
    gone = tmp_path / "gone.plot"
    log = tmp_path / "runner.log"
    log.write_text(f"2026/01/01 00:00:00 [40] sending\nlanded 1000 {gone}\n")
    runner = runner_command("/usr/bin/python3", "/var/log/t/.runner/plotfleet-transfer-0123.pyz",
                            [str(plots[0]), str(gone)], "rsync://u@h:873/m/", route="flush", log_file=str(log),
                            lock_file="/l", rsync="/usr/bin/rsync", password_file=None, timeout=300,
                            budget_bytes=5000, pick_from=[str(tmp_path / "dst")])
    rsync = rsync_command("/usr/bin/rsync", [str(plots[1])], "rsync://u@h:873/m/", password_file=None,
                          log_file=str(log), timeout=300, route="flush")
    for pid, ppid, argv in ((40, 1, runner), (41, 40, rsync)):
        (tmp_path / "proc" / str(pid)).mkdir(parents=True)
        (tmp_path / "proc" / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        (tmp_path / "proc" / str(pid) / "stat").write_text(f"{pid} (x) S {ppid} 0 0")
    transfers = find_transfers(str(tmp_path / "proc"))
    # The plot that landed is no longer on its way; the one its rsync picked up belongs to the runner.
    assert [(t.pid, t.source, t.lane, t.module) for t in transfers] == [
        (40, str(plots[0]), 40, "m"), (41, str(plots[1]), 40, "m")]
    assert transfers[0].budget_left_bytes == 4000
    assert start_refusal("/other.plot", transfers, 2) is None  # one slot


def test_flush_route_commands_and_listing() -> None:
    cmd = rsync_command("/usr/bin/rsync", [PLOT, PLOT2], "rsync://u@h:873/m/", password_file="/p", log_file=None,
                        timeout=60, route="flush")
    assert "--fsync" not in cmd and "--remove-source-files" not in cmd and f"--out-format={SENT_PREFIX}%n" in cmd
    assert cmd[-3:] == [PLOT, PLOT2, "rsync://u@h:873/m/"]
    listing = flush_listing_command("/usr/bin/rsync", "rsync://u@h:873/m/", ["a.plot", "b.plot"], password_file="/p",
                                    timeout=60)
    assert listing[-4:] == ["--include=/a.plot", "--include=/b.plot", "--exclude=*", "rsync://u@h:873/m-flush/"]
    assert "--list-only" in listing and "--password-file=/p" in listing
    out = ("drwxr-xr-x          4,096 2026/12/02 12:43:14 .\n"
           "-rw-r--r--  108,836,000,000 2026/12/02 12:42:16 a.plot\n-rw-r--r--  3 2026/12/02 12:43:14 b.plot\n")
    assert parse_listing(out) == {"a.plot": 108836000000, "b.plot": 3}
    assert sent_names(f"{SENT_PREFIX}a.plot\nother\n{SENT_PREFIX}b.plot\n") == ["a.plot", "b.plot"]


@pytest.mark.parametrize(
    ("setting", "local", "remote", "route"),
    [
        ("auto", (3, 2, 7), (3, 2, 7), "fsync"),
        ("auto", (3, 2, 7), (3, 2, 3), "flush"),
        ("auto", (3, 2, 3), None, "flush"),
        ("auto", (3, 2, 7), None, "auto"),
        ("fsync", (3, 2, 3), (3, 2, 3), "fsync"),
        ("flush", (3, 4, 0), (3, 4, 0), "flush"),
    ],
)
def test_choose_route(setting: str, local: tuple | None, remote: tuple | None, route: str) -> None:
    assert choose_route(setting, local, remote) == route


def test_rsync_version_and_fsync_refusal() -> None:
    assert rsync_version("rsync  version 3.2.3  protocol version 31\nCopyright") == (3, 2, 3)
    assert rsync_version("rsync  version v3.2.7  protocol version 31") == (3, 2, 7)
    assert rsync_version("version 3.2") == (3, 2, 0)
    assert rsync_version("") is None
    assert fsync_refused("rsync: on remote machine: --fsync: unknown option\nrsync error: syntax or usage error")
    assert not fsync_refused("@ERROR: max connections (1) reached -- try again later")


def test_runner_explains_rsync_failures_with_its_destination(tmp_path: Path) -> None:
    from ansible_collections.plotfleet.fleet.plugins.module_utils.transfer_runner import Runner, parse_args

    log = tmp_path / "t.log"
    runner = Runner(parse_args(["--to", "rsync://u@h:873/m/", "--log-file", str(log), "--lock", str(tmp_path / "k"),
                                "--password-file", "/p", "--", PLOT]))
    assert runner.failed(5, "@ERROR: max connections (1) reached -- try again later") == 5
    assert "module m is busy: its max connections are in use" in log.read_text()
    runner.failed(5, "@ERROR: auth failed on module m")
    assert "the password in /p does not match" in log.read_text()


def test_a_claim_keeps_a_plot_for_its_run_until_it_starts_or_expires(tmp_path: Path) -> None:
    from ansible_collections.plotfleet.fleet.plugins.module_utils import transfers

    plot = str(tmp_path / "dst" / f"plot-k32-2026-01-01-00-00-{'ab' * 32}.plot")
    now = time.time()
    assert transfers.foreign_claim(str(tmp_path), [plot], "run-a", now) is None
    transfers.write_claims(str(tmp_path), [plot], "run-a", "10.0.0.2::plots-a", now)

    assert transfers.foreign_claim(str(tmp_path), [plot], "run-a", now + 1) is None  # its own
    refusal = transfers.foreign_claim(str(tmp_path), [plot], "run-b", now + 5)
    assert refusal.startswith(f"{Path(plot).name} is claimed by another archive run, which is making room for it "
                              "on 10.0.0.2::plots-a (5 s ago)")
    assert transfers.foreign_claim(str(tmp_path), [plot], None, now + 5)  # a start without a run id too
    # A run that died between claiming and starting holds it no longer than CLAIM_SECONDS.
    assert transfers.foreign_claim(str(tmp_path), [plot], "run-b", now + transfers.CLAIM_SECONDS) is None

    claim_file = tmp_path / ".claims" / Path(plot).name
    transfers.drop_claims(str(tmp_path), [plot], "run-b")  # not its claim, and live: kept
    assert claim_file.exists()
    transfers.drop_claims(str(tmp_path), [plot], "run-a")
    assert not claim_file.exists()
