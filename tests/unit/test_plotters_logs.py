"""Every log in tests/data/logs, fed the ways a growing file arrives: whole, by line, by byte."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import (
    LogParser,
    detect_log_plotter,
    parse_log_file,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import LogInfo, LogNoise, Phase

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"

# log file -> (plotter, final phase, number of phase timings)
EXPECTED = {
    "chia-2.7.5-k25.log": ("chia", Phase(5, 3), 4),
    "chiapos-2.0.12-k18.log": ("chia", Phase(5, 3), 4),
    "chiapos-2.0.12-k18-copy.log": ("chia", Phase(5, 3), 4),
    "chia_v2-2.7.5-k18-copy.log": ("chia_v2", Phase(5, 2), 1),
    "madmax-5b5bd68-k32-copy.log": ("madmax", Phase(5, 2), 4),
    "madmax-974d6e5-k32-2plots.log": ("madmax", Phase(5, 2), 4),
    "bladebit-1.2.0-ramplot.log": ("bladebit", Phase(5, 2), 4),
    "bladebit-2.0.1-ramplot.log": ("bladebit", Phase(5, 2), 4),
    "bladebit-3.1.0-diskplot.log": ("bladebit", Phase(5, 2), 3),
    "bladebit-3.1.0-cudaplot-c07.log": ("bladebit", Phase(5, 2), 3),
}


def test_every_log_file_is_covered() -> None:
    assert {p.name for p in LOGS.glob("*.log")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_whole_file(name: str) -> None:
    plotter, phase, timings = EXPECTED[name]
    info = parse_log_file(str(LOGS / name))
    assert (info.plotter, info.phase, len(info.phase_seconds)) == (plotter, phase, timings)
    assert info.completed and info.plot_file and info.plot_id and info.plot_id in info.plot_file
    assert info.total_seconds is not None and info.total_seconds >= sum(info.phase_seconds.values()) * 0.99
    assert info.started_at is not None and info.k is not None and info.dst_dir is not None


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detect_log_plotter(name: str) -> None:
    head = (LOGS / name).read_bytes()[:4096].decode("utf-8", "replace")
    assert detect_log_plotter(head) == EXPECTED[name][0]


def test_detect_log_plotter_unknown() -> None:
    assert detect_log_plotter("hello\nworld\n") is None
    assert detect_log_plotter("") is None


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_line_by_line_phase_never_goes_back(name: str) -> None:
    parser = LogParser()
    previous, plots = Phase(), 0
    for line in (LOGS / name).read_bytes().splitlines(keepends=True):
        parser.feed(line)
        info = parser.info
        if info.plots_started != plots:  # a new plot in the same log starts over
            plots, previous = info.plots_started, Phase()
        assert info.phase >= previous, line
        previous = info.phase
    assert parser.info == parse_log_file(str(LOGS / name))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_byte_by_byte_equals_whole(name: str) -> None:
    data = (LOGS / name).read_bytes()
    if len(data) > 20_000:
        data = data[:20_000]  # the long chiapos log: its first plot phases are enough here
    whole = LogParser()
    whole.feed(data)
    parser = LogParser()
    for i in range(len(data)):
        parser.feed(data[i : i + 1])
    assert parser.info == whole.info


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_known_plotter_given_up_front(name: str) -> None:
    parser = LogParser(EXPECTED[name][0])
    parser.feed((LOGS / name).read_bytes())
    parser.finish()
    assert parser.info == parse_log_file(str(LOGS / name))


def test_unfinished_line_waits_for_its_newline() -> None:
    parser = LogParser("chia")
    parser.feed(b"Process ID is: 26")
    assert parser.info.process_id is None
    parser.feed(b"99\n")
    assert parser.info.process_id == 2699


def test_truncated_last_line_counts_only_when_it_fully_matches(tmp_path: Path) -> None:
    text = (LOGS / "chia-2.7.5-k25.log").read_text()
    cut = text.index('Renamed final file from "') + 60  # mid-path: must not become plot_file
    log = tmp_path / "cut.log"
    log.write_text(text[:cut])
    info = parse_log_file(str(log))
    assert info.plot_file is None and not info.completed and info.phase == Phase(5, 0)
    # The same line whole but without its newline fully matches its rule, so it counts.
    end = text.index("\n", cut)
    log.write_text(text[:end])
    info = parse_log_file(str(log))
    assert info.completed and info.plot_file is not None and info.plot_file.endswith(".plot")


def test_non_utf8_bytes_and_unknown_lines_are_harmless() -> None:
    parser = LogParser()
    parser.feed(b"\xff\xfe garbage \x80\n")
    parser.feed(b"Starting plotting progress into temporary dirs: /t\xe9mp and /t2\n")
    parser.feed(b"something the parser has never seen\nComputing table 3\n")
    info = parser.info
    assert info.plotter == "chia" and info.tmp_dir == "/t\ufffdmp" and info.phase == Phase(1, 3)


def test_unknown_log_stays_unknown() -> None:
    parser = LogParser()
    parser.feed(b"nothing to see\n" * 1000)
    parser.finish()
    assert parser.info == LogInfo()


def test_unknown_plotter_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown plotter 'plotman'"):
        LogParser("plotman")


def test_crlf_line_ends() -> None:
    data = (LOGS / "madmax-5b5bd68-k32-copy.log").read_bytes().replace(b"\n", b"\r\n")
    parser = LogParser()
    parser.feed(data)
    assert dataclasses.asdict(parser.info) == dataclasses.asdict(
        parse_log_file(str(LOGS / "madmax-5b5bd68-k32-copy.log"))
    )


def test_rule_without_prefix_once_per_line_in_order() -> None:
    """Bladebit's rename rule has no prefix: its lines are found by their literal, merged in order
    with the prefixed lines, and a line that a prefix starts is not tried twice."""
    data = (LOGS / "bladebit-3.1.0-diskplot.log").read_bytes() + (
        b"Plot /a/plot-k32-2023-11-02-18-04-" + b"3" * 64 + b".plot.tmp -> /b/x.plot\n"
        b"/c/y.plot.tmp -> /d/y.plot .plot.tmp -> z\n"
    )
    whole = LogParser()
    whole.feed(data)
    by_line = LogParser()
    for line in data.splitlines(keepends=True):
        by_line.feed(line)
    assert dataclasses.asdict(whole.info) == dataclasses.asdict(by_line.info)


# A chiapos bucket line of the shortest form (78 characters).
_SHORTEST_BUCKET_LINE = b"\tBucket 0 uniform sort. Ram: 0.000GiB, u_sort min: 0.000GiB, qs min: 0.000GiB."


def _chia_scan(possessive: bool, noise: bool = True) -> re.Pattern[bytes]:
    """chiapos' candidate scan, with its declared noise (or none), in either form of the regex."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import PLOTTERS, _line_starts

    chia = PLOTTERS["chia"]
    prefixes = sorted({r.prefix for r in chia.log_rules if r.prefix}, key=len, reverse=True)
    return _line_starts(prefixes, chia.log_rules, chia.log_noise if noise else (), possessive)[0]


@pytest.mark.parametrize("possessive", [True, False], ids=["python3.11+", "python3.9"])
def test_chiapos_noise_runs_hide_no_line_a_rule_wants(possessive: bool) -> None:
    """The scan with chiapos' declared noise finds the same lines as without it, and passes over
    the bucket lines in a few runs; both forms of the regex (with possessive repeats and without)."""
    with_noise, plain = _chia_scan(possessive), _chia_scan(possessive, noise=False)

    def lines(scan: re.Pattern[bytes], data: bytes) -> list[bytes]:
        return [m.group() for m in scan.finditer(data) if m.lastindex is not None]

    for name in ("chia-2.7.5-k25.log", "chiapos-2.0.12-k18.log"):
        data = (LOGS / name).read_bytes()
        found = lines(with_noise, data)
        assert found == lines(plain, data) and len(found) > 20
        runs = [m for m in with_noise.finditer(data) if m.lastindex is None]
        bucket_bytes = sum(len(line) + 1 for line in data.split(b"\n") if line.startswith(b"\tBucket "))
        assert len(runs) < 40 and sum(m.end() - m.start() for m in runs) == bucket_bytes
        hidden = data.replace(b"\nComputing table 2\n", b"\n" + _SHORTEST_BUCKET_LINE + b" Computing table 2\n")
        assert len(lines(with_noise, hidden)) == len(found) - 1  # what a noise line hides


@pytest.mark.parametrize("possessive", [True, False], ids=["python3.11+", "python3.9"])
@pytest.mark.parametrize("text", [
    b"x\n{noise}\nComputing table 2\n{noise}\n{noise}\nComputing table 3\n",  # runs of one and two
    b"x\n{noise}\n{noise}\n\nComputing table 2\nProgress\n{noise}\nComputing table 3",  # no newline at the end
    b"x\n{noise}\n{noise}\nComputing table 2\n{noise}\nComputing table 3\n\tBucket 2 QS",  # the last one cut short
    b"x\n{noise}\r\n{noise}\r\nComputing table 2\r\nComputing table 3\r\n",
    # runs longer than a repeat of four lines, with some left over
    b"x\n" + b"{noise}\n" * 7 + b"Computing table 2\n" + b"{noise}\n" * 9 + b"Computing table 3\n",
    b"{noise}\n{noise}\nComputing table 2\n{noise}\nComputing table 3\n",  # noise first in the buffer
])
def test_lines_around_noise_runs_are_all_found(possessive: bool, text: bytes) -> None:
    """Right after a run, between runs and at the end of the data; a last noise line cut short (a
    log still being written) hides nothing; line breaks as a log may have them."""
    scan = _chia_scan(possessive)
    data = text.replace(b"{noise}", _SHORTEST_BUCKET_LINE).replace(b"\r", b"")
    assert [m.group().strip() for m in scan.finditer(data) if m.lastindex is not None] == [
        b"Computing table 2", b"Computing table 3"]
    parser = LogParser("chia")
    parser.feed(text.replace(b"{noise}", _SHORTEST_BUCKET_LINE))
    parser.finish()
    assert parser.info.phase == Phase(1, 3)


def test_noise_shorter_than_its_start_is_refused() -> None:
    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import PLOTTERS, _Dispatch

    with pytest.raises(ValueError, match="min_length 1 is shorter than its start"):
        _Dispatch(PLOTTERS["chia"].log_rules, (LogNoise("\tBu", 1),))


@pytest.mark.parametrize("noise", ["", "\t", "\tStarting", "Time for phase 1"])
def test_noise_that_would_hide_a_rules_lines_is_refused(noise: str) -> None:
    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import PLOTTERS, _Dispatch

    with pytest.raises(ValueError, match="would hide the lines of a rule"):
        _Dispatch(PLOTTERS["chia"].log_rules, (LogNoise(noise, 80),))


def test_every_plotters_dispatch_builds() -> None:
    """Built on first use now, so a bad declaration (noise hiding a rule) must show up here."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import PLOTTERS, _dispatch_for

    for name in PLOTTERS:
        assert _dispatch_for(name) is _dispatch_for(name)
        assert all(rule.pattern.pattern == rule.regex for rule in PLOTTERS[name].log_rules)


def test_importing_the_plotters_compiles_no_log_rule() -> None:
    """A module run that reads no log (a plotter with no job) pays for none of the rules' regexes."""
    code = (
        "import os\n"
        "from ansible.plugins.loader import init_plugin_loader\n"
        f"init_plugin_loader([{str(Path(__file__).resolve().parents[2])!r}])\n"
        "from ansible_collections.plotfleet.fleet.plugins.module_utils import plotters, jobs, state\n"
        "rules = [r for p in plotters.PLOTTERS.values() for r in p.log_rules]\n"
        "print(len(rules), len(plotters._DISPATCH), sum('pattern' in vars(r) for r in rules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) > 50 and out[1:] == ["0", "0"], out


def test_a_phase_line_found_by_the_scan_sets_the_phase_forward_only() -> None:
    """chiapos' table lines are phase lines: found in a buffer, each sets the phase from the rule
    table without its regex, and a line of an earlier table never sets it back."""
    parser = LogParser("chia")
    parser.feed(b"Starting phase 1/4: Forward Propagation into tmp files... Wed Nov 25 08:18:51 2026\n"
                b"Computing table 3\nComputing table 2\n" + _SHORTEST_BUCKET_LINE + b"\nComputing table 4 \n")
    assert parser.info.phase == Phase(1, 4)
    parser.feed(b"Backpropagating on table 7\nComputing table 7\n")
    assert parser.info.phase == Phase(2, 1)


def test_a_phase_line_is_applied_without_its_regex_only_when_it_is_the_first_rule_to_try() -> None:
    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import _Dispatch
    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import logtools as lt

    def done(info: LogInfo, match: object) -> None:
        info.completed = True

    dispatch = _Dispatch((lt.rule("Table 2 ", "done", done), lt.phase_line("Table 2", 1, 2),
                          lt.phase_line("Table 3", 1, 3), lt.rule("Copy", "", done)))
    found = {m.group().strip(): dispatch.group_phase[m.lastindex]
             for m in dispatch.candidates.finditer(b"\nTable 2 done\nTable 3 took 1 s\nTable 2\nCopy\n")}
    # "Table 2 " is tried first on its lines (a phase line cannot tell "done" from other text);
    # "Table 2" alone and "Table 3 ..." are phase lines' own; "Copy" is no phase line.
    assert found == {b"Table 2 done": None, b"Table 3 took 1 s": Phase(1, 3), b"Table 2": Phase(1, 2),
                     b"Copy": None}
