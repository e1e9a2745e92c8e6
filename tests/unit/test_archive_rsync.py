"""Recognising, building and explaining rsync archive transfers (no processes started)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.transfers import (
    Transfer,
    daemon_url,
    explain_failure,
    find_transfers,
    parse_rsync_command,
    password_file_problem,
    rsync_command,
    source_problem,
    start_refusal,
)

PLOT = "/mnt/dst/plot-k32-2024-01-01-00-00-" + "a" * 64 + ".plot"


def test_own_command_round_trips_through_the_parser() -> None:
    cmd = rsync_command("/usr/bin/rsync", PLOT, daemon_url("10.0.0.5", 8873, "plots-a", "plotfleet"),
                        password_file="/etc/plotfleet/rsync.secret", log_file="/var/log/t.log", timeout=300,
                        bwlimit=1000, extra_args=["--partial-dir=.rsync-partial"])
    assert "--remove-source-files" in cmd and "--whole-file" in cmd and "--preallocate" in cmd
    assert not {"--inplace", "--append", "--partial"} & set(cmd)
    source, destination, parts = parse_rsync_command(cmd)
    assert source == PLOT
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


def _transfer(pid: int, source: str) -> Transfer:
    return Transfer(pid, source, "rsync://h:873/m/", "h", 873, "m", None, 1, None, None)


def test_start_refusal() -> None:
    assert start_refusal(PLOT, [], 1) is None
    assert start_refusal(PLOT, [_transfer(5, PLOT)], 3) == (
        f"{PLOT} is already being transferred to rsync://h:873/m/ (rsync pid 5)")
    assert start_refusal(PLOT, [_transfer(5, "/x.plot")], 1) == (
        "1 transfer(s) already running (rsync pid 5); archiving.parallel_transfers is 1")
    assert start_refusal(PLOT, [_transfer(5, "/x.plot")], 2) is None


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
