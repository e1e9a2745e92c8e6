"""Phase after every line of a log, checked against milestones derived from the log's format.

A milestone is (a substring of the line that moves the phase, the phase from that line on). The
expected phase is constant between milestones; milestones are met in order, each on the first
line after the previous one that contains its substring, and every one must be met. The parser
is fed the log one line at a time, and again in chunks of odd sizes that cut lines anywhere; the
phase must match the expectation after every complete line, whatever the feeding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import LogParser
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import LogInfo, Phase

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "tests" / "data" / "logs"
# The CI has the shared dir (read-only) beside the clone; it holds real GPU plotter excerpts.
REFERENCE_GPU_LOGS = ROOT.parent / "shared" / "reference-logs" / "gpu"

Milestone = tuple[str, tuple[int, int]]
_LINE = re.compile(rb"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+$")


def split_lines(data: bytes) -> list[bytes]:
    """Lines with their ends, split where the parser splits them (\\n, \\r, \\r\\n)."""
    return _LINE.findall(data)


def expected_phases(lines: Sequence[bytes], milestones: Sequence[Milestone]) -> list[Phase]:
    """The phase after each line; fails when a milestone is never met."""
    pending = list(milestones)
    phase = Phase()
    phases = []
    for raw in lines:
        if pending and pending[0][0] in raw.decode("utf-8", "replace"):
            phase = Phase(*pending.pop(0)[1])
        phases.append(phase)
    assert not pending, f"milestones never met: {pending}"
    return phases


def check_line_by_line(data: bytes, milestones: Sequence[Milestone], plotter: str | None = None) -> LogInfo:
    lines = split_lines(data)
    expected = expected_phases(lines, milestones)
    parser = LogParser(plotter)
    for number, (raw, phase) in enumerate(zip(lines, expected), start=1):  # noqa: B905 - same length
        parser.feed(raw)
        if not raw.endswith((b"\n", b"\r")):
            parser.finish()
        assert parser.info.phase == phase, f"line {number} {raw[:100]!r}: {parser.info.phase} != {phase}"
    return parser.info


def check_in_chunks(data: bytes, milestones: Sequence[Milestone], size: int, plotter: str | None = None) -> LogInfo:
    lines = split_lines(data)
    expected = [Phase(), *expected_phases(lines, milestones)]  # by the number of complete lines
    ends = []
    offset = 0
    for raw in lines:
        offset += len(raw)
        ends.append(offset)
    parser = LogParser(plotter)
    complete = 0
    for start in range(0, len(data), size):
        parser.feed(data[start : start + size])
        done = start + len(data[start : start + size])
        while complete < len(ends) and ends[complete] <= done and data[ends[complete] - 1 : ends[complete]] in (
            b"\n", b"\r"
        ):
            complete += 1
        # A "\r" just fed may be the first half of "\r\n": the parser has ended that line anyway.
        want = expected[complete]
        assert parser.info.phase == want, f"after byte {done}: {parser.info.phase} != {want}"
    parser.finish()
    assert parser.info.phase == expected[-1]
    return parser.info


CHUNK_SIZES = (1, 7, 61, 4096)
