"""Which plot job a process is, and how far it has come, for chiapos, madMAx, Gigahorse and Bladebit.

``parse_command`` reads a process's argv, ``LogParser``/``parse_log_file`` read its log; both
dispatch to the ``Plotter`` values in ``PLOTTERS``.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import bladebit, chia, chia_v2, gigahorse, madmax
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.argv import ArgvError
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import (
    JobArgs,
    LogAction,
    LogInfo,
    LogNoise,
    LogRule,
    Phase,
    Plotter,
)

__all__ = [
    "PLOTTERS",
    "LogParser",
    "build_command",
    "detect_log_plotter",
    "parse_command",
    "parse_log_file",
    "read_into",
]

# Gigahorse before madMAx: its log is madMAx's plus lines of its own, so it must be recognised first.
PLOTTERS: dict[str, Plotter] = {
    p.name: p for p in (chia.PLOTTER, gigahorse.PLOTTER, madmax.PLOTTER, bladebit.PLOTTER, chia_v2.PLOTTER)
}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Lines kept while a log's plotter is still unknown, to be replayed once it is recognised
# (bladebit 1.x names itself only on its fourth line); a log that never says is not kept whole.
_UNDETECTED_LINES_KEPT = 200
_READ_SIZE = 1 << 20
_NOISE_LINES_PER_REPEAT = 4


def parse_command(argv: Sequence[str], cwd: str) -> JobArgs | None:
    """The plot job this argv runs (paths resolved against ``cwd``), or None.

    None for other programs, for help/version requests and for command lines the plotter itself
    would refuse; never an exception for bad input.
    """
    for plotter in PLOTTERS.values():
        args = plotter.match_command(argv)
        if args is None:
            continue
        try:
            return plotter.parse_args(args, cwd)
        except ArgvError:
            return None
    return None


def detect_log_plotter(text: str) -> str | None:
    """The plotter whose log this is (from its first lines), or None."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    for name, plotter, markers in _DETECT:
        if markers is not None and markers.search(text) is None:
            continue
        if plotter.log_signature.search(text):
            return name
    return None


# Per plotter its markers as one regex: a single search says whether any is in the text.
_DETECT = tuple(
    (name, p, re.compile("|".join(map(re.escape, p.log_markers))) if p.log_markers else None)
    for name, p in PLOTTERS.items()
)


def build_command(
    plotter_name: str,
    section: Mapping[str, Any] | Any,
    plotting: Mapping[str, Any] | Any,
    tmp: str,
    tmp2: str | None,
    dst: str,
) -> list[str]:
    """argv that starts one plot with ``plotter_name``.

    ``section`` is that plotter's options (``plotting.<type>``), ``plotting`` holds the keys;
    both may be mappings or the config's option objects.
    """
    plotter = PLOTTERS.get(plotter_name)
    if plotter is None:
        raise ValueError(f"unknown plotter {plotter_name!r}: expected one of {', '.join(PLOTTERS)}")
    return plotter.build_command(section, plotting, tmp, tmp2, dst)


# The rules to try on a line, in table order, each as (its pattern's match method, its action).
_Steps = tuple[tuple[Callable[..., "re.Match[str] | None"], LogAction], ...]


class _Dispatch:
    """A plotter's rules by the first character of their prefix, kept in table order.

    Most lines of a long log (chiapos' per-bucket lines) are then ruled out by one dict lookup
    and a few ``startswith`` tests, without running a regex. When every rule has a prefix or a
    literal it ``contains``, ``candidates`` finds the lines starting with a prefix in a whole
    buffer with a single regex scan (in C), and a substring search finds those holding a
    ``contains`` literal, so the lines no rule can match never become Python strings at all.
    Each prefix found says which rules to try (``group_rules``): those whose prefix starts the
    line, so no ``startswith`` test is left. A run of the plotter's declared noise lines is one
    match of the scan, with no group: it is passed over, mostly without being read (``_line_starts``).
    """

    def __init__(self, rules: Sequence[LogRule], noise: Sequence[LogNoise] = ()) -> None:
        for lines in noise:
            hidden = [r.prefix for r in rules if r.prefix and _may_start_alike(lines.start, r.prefix)]
            if not lines.start or hidden:
                raise ValueError(f"log noise {lines.start!r} would hide the lines of a rule ({hidden[:1]})")
            if lines.min_length < len(lines.start):
                raise ValueError(f"log noise {lines.start!r}: min_length {lines.min_length} is shorter than its start")
        self.anywhere = tuple(r for r in rules if not r.prefix)
        firsts = {r.prefix[0] for r in rules if r.prefix}
        self.by_first = {c: tuple(r for r in rules if not r.prefix or r.prefix[0] == c) for c in firsts}
        prefixes = sorted({r.prefix for r in rules if r.prefix}, key=len, reverse=True)
        self.prefixes = tuple(prefix.encode() for prefix in prefixes)
        self.contains = tuple(r.contains.encode() for r in self.anywhere)
        self.candidates: re.Pattern[bytes] | None = None
        self.first_line: re.Pattern[bytes] | None = None
        self.group_rules: list[_Steps | None] = []
        # By group: the phase a line found by that prefix comes to, when the first rule to try is a
        # phase line (it matches every such line, so no other rule is tried): no decode, no regex.
        self.group_phase: list[Phase | None] = []
        self.anywhere_steps: _Steps = tuple((r.pattern.match, r.action) for r in self.anywhere)
        if prefixes and all(r.contains for r in self.anywhere):
            self.candidates, self.first_line, self.group_rules, self.group_phase = _line_starts(
                prefixes, rules, noise)

    def rules_for(self, line: str) -> tuple[LogRule, ...]:
        return self.by_first.get(line[:1], self.anywhere)


def _line_at(data: bytes, start: int) -> str:
    """The line starting at ``start``, decoded, without ANSI colour codes."""
    end = data.find(b"\n", start)
    line = data[start:end if end >= 0 else len(data)].decode("utf-8", "replace")
    return _ANSI.sub("", line) if "\x1b" in line else line


def _line_starts(
    prefixes: Sequence[str],
    rules: Sequence[LogRule],
    noise: Sequence[LogNoise] = (),
    possessive: bool = sys.version_info >= (3, 11),
) -> tuple[re.Pattern[bytes], re.Pattern[bytes], list[_Steps | None], list[Phase | None]]:
    """A regex finding ``\\n`` followed by one of the prefixes, alternatives grouped by their first
    character: a literal first character lets the regex engine skip to each newline at C speed,
    where ``^`` with MULTILINE would try every position (about 15x slower on a chiapos log).

    Returns that regex, the same without the ``\\n`` (for a buffer's first line), and by group
    number the rules to try on a line found and, when the first of them is a phase line, its phase.
    A match is the whole line (with the ``\\n`` before it), and every prefix's alternative ends in
    an empty group, so its ``lastindex`` names the longest prefix that starts the line (longer
    prefixes come first); the rules to try are those whose prefix is a prefix of it, and those
    without a prefix, in table order.

    With ``noise``, a run of noise lines is one match of its own, with no group (``lastindex`` is
    None), that ends before the line break after the run: each noise line is entered once, its
    start tested, its first ``min_length`` characters jumped over in one step (a repeat of "any
    character" with DOTALL is a pointer move in the regex engine) and only the rest walked to its
    end. On a chiapos log that is 2,500 of 2,650 lines, 96% of the bytes. Where the engine has
    possessive repeats (Python 3.11), the run is one; before, a greedy repeat that cannot fail once
    a noise line is in, so it never backtracks either. The first-line regex needs nothing of the
    kind: no prefix starts a noise line, so the body fails on one at once.
    """
    by_first: dict[str, list[str]] = {}
    for prefix in prefixes:
        by_first.setdefault(prefix[0], []).append(prefix)
    group_rules: list[_Steps | None] = [None]  # group 0 is the whole match
    group_phase: list[Phase | None] = [None]
    branches = []
    for first, group in by_first.items():
        rests = []
        for prefix in group:
            rests.append(re.escape(prefix[1:]) + "[^\n]*()")
            tried = [r for r in rules if not r.prefix or prefix.startswith(r.prefix)]
            group_rules.append(tuple((r.pattern.match, r.action) for r in tried))
            group_phase.append(tried[0].phase if tried[0].prefix else None)  # tried holds the prefix's own rule
        branches.append(re.escape(first) + "(?:" + "|".join(rests) + ")")
    # A line that starts with a colour code may hide a prefix: it is a candidate too (its codes are
    # removed when it is decoded, and every rule then sees the plain line).
    branches.append("\x1b[^\n]*()")
    group_rules.append(None)
    group_phase.append(None)
    body = "(?:" + "|".join(branches) + ")"
    after_newline = body
    if noise:
        once = "+" if possessive else ""
        noise_line = "(?:" + "|".join(
            re.escape(lines.start) + f"(?s:.{{{lines.min_length - len(lines.start)}}})" for lines in noise
        ) + ")[^\n]*" + once
        # Four lines to a repeat, then one by one: the engine's cost per repeat is about a noise line's own.
        run = (noise_line + "(?:" + ("\n" + noise_line) * _NOISE_LINES_PER_REPEAT + ")*" + once
               + "(?:\n" + noise_line + ")*" + once)
        after_newline = "(?:" + run + "|" + body + ")"
    return re.compile(("\n" + after_newline).encode()), re.compile(body.encode()), group_rules, group_phase


def _may_start_alike(one: str, other: str) -> bool:
    """Whether a line can start with both literals (one is a start of the other)."""
    return one.startswith(other) or other.startswith(one)


_DISPATCH: dict[str, _Dispatch] = {}


def _dispatch_for(name: str) -> _Dispatch:
    """The plotter's dispatch, built (its regexes compiled) when a log of it is first read."""
    dispatch = _DISPATCH.get(name)
    if dispatch is None:  # two threads may both build it: the same value, one kept
        plotter = PLOTTERS[name]
        dispatch = _DISPATCH.setdefault(name, _Dispatch(plotter.log_rules, plotter.log_noise))
    return dispatch

# Every plotter's markers, as bytes: a line that holds none of them cannot name its plotter, so the
# search for the line that does skips to the first marker (None when a plotter has no markers).
_MARKERS = (
    tuple(sorted({m.encode() for p in PLOTTERS.values() for m in p.log_markers}))
    if all(p.log_markers for p in PLOTTERS.values())
    else None
)
# Lines tried one by one before skipping to a marker: most logs name their plotter in the first few.
_LINES_BEFORE_SKIP = 8
_MARKER_WINDOW = 64 * 1024


class LogParser:
    """Reads a plot log incrementally: feed it bytes as the file grows, read ``info`` any time.

    Lines end at ``\\n`` or ``\\r``; an unfinished last line waits for the next ``feed`` (see
    ``finish``). ANSI colour codes are removed, undecodable bytes replaced, unknown lines
    ignored. Without a plotter name the plotter is recognised from the log's own lines.
    """

    def __init__(self, plotter: str | None = None) -> None:
        if plotter is not None and plotter not in PLOTTERS:
            raise ValueError(f"unknown plotter {plotter!r}: expected one of {', '.join(PLOTTERS)}")
        self._info = LogInfo(plotter=plotter)
        self._dispatch = _dispatch_for(plotter) if plotter else None
        self._pending = b""
        self._undetected: list[str] = []
        self._fed = 0  # bytes fed so far
        self._offset = 0  # where in the input the lines being read start
        # Where in the input the line that named the plotter ends (past its newline); None until a
        # complete line has named it.
        self.named_at: int | None = None

    @property
    def info(self) -> LogInfo:
        return self._info

    def feed(self, data: bytes) -> None:
        self._offset = self._fed - len(self._pending)
        self._fed += len(data)
        data = self._pending + data
        last_cr = data.rfind(b"\r")
        end = max(data.rfind(b"\n"), last_cr) + 1
        self._pending = data[end:]
        if end:
            complete = data[:end]
            if last_cr >= 0 and b"\r" in complete:
                complete = complete.replace(b"\r", b"\n")
            self._complete_lines(complete)

    def _complete_lines(self, data: bytes) -> None:
        """Apply the rules to every line of ``data`` (complete lines, ``\\n``-separated). Only the
        lines a rule may match are decoded: a line break never falls inside a UTF-8 sequence."""
        pos = 0
        tried = 0
        while self._dispatch is None and pos < len(data):  # line by line until the plotter is known
            if tried >= _LINES_BEFORE_SKIP:
                skip_to = self._next_marked_line(data, pos)
                if skip_to > pos:
                    self._keep_undetected(data, pos, skip_to)
                    pos = skip_to
                    continue
            end = data.find(b"\n", pos)
            end = len(data) if end < 0 else end
            line, pos = _line_at(data, pos), end + 1
            tried += 1
            if line and self._detect(line):
                self.named_at = self._offset + pos
                self._apply(line, complete=True)
        if self._dispatch is None or pos >= len(data):
            return
        dispatch = self._dispatch
        scan = dispatch.candidates
        if scan is None or (dispatch.anywhere and data.find(b"\x1b", pos) >= 0):
            # Every line is tried: a colour code may split the literal a rule without prefix needs.
            text = data[pos:].decode("utf-8", "replace")
            for line in (_ANSI.sub("", text) if "\x1b" in text else text).split("\n"):
                if line:
                    self._apply(line, complete=True)
            return
        group_rules = dispatch.group_rules
        group_phase = dispatch.group_phase
        info = self._info
        # Lines holding the literal a rule without prefix needs (rare: a rename line), in order.
        extra: list[int] = []
        for literal in dispatch.contains:
            at = data.find(literal, pos)
            while at >= 0:
                extra.append(data.rfind(b"\n", pos, at) + 1 or pos)
                at = data.find(literal, at + 1)
        extra.sort(reverse=True)  # popped from the end: the next one first
        size = len(data)
        next_extra = extra.pop() if extra else size
        first = dispatch.first_line.match(data, pos)  # type: ignore[union-attr]
        if first is not None:
            if next_extra == pos:  # the prefix's rules include those without a prefix
                next_extra = self._next_extra(extra, pos, size)
            self._try("\n" + first.group().decode("utf-8", "replace"), group_rules[first.lastindex])  # type: ignore[index]
        # The loop of _try, inline: this is the hot path of a long log.
        for found in scan.finditer(data, pos):
            group = found.lastindex  # None for a run of noise lines
            # An extra line comes first, or is this one (none left: next_extra is the end of data).
            if next_extra < size and found.start() >= next_extra - 1:
                start = found.start() + 1
                while next_extra < start:
                    self._try_extra(data, next_extra)
                    next_extra = self._next_extra(extra, next_extra, size)
                if next_extra == start and group is not None:  # its rules include those without a prefix
                    next_extra = self._next_extra(extra, start, size)
            if group is None:
                continue
            phase = group_phase[group]
            if phase is not None:  # what the phase line's action does
                current = info.phase
                if phase.major > current.major or (phase.major == current.major and phase.minor > current.minor):
                    info.phase = phase
                continue
            line = found.group().decode("utf-8", "replace")
            rules = group_rules[group]  # type: ignore[index]
            if rules is None or "\x1b" in line:
                self._apply(_ANSI.sub("", line[1:]), complete=True)
                continue
            for match_line, action in rules:
                match = match_line(line, 1)
                if match is not None:
                    action(info, match)
                    break
        while next_extra < size:
            self._try_extra(data, next_extra)
            next_extra = self._next_extra(extra, next_extra, size)

    @staticmethod
    def _next_extra(extra: list[int], done: int, end: int) -> int:
        """The next line start in ``extra`` after ``done`` (``end`` when none is left)."""
        while extra:
            start = extra.pop()
            if start > done:
                return start
        return end

    def _try_extra(self, data: bytes, start: int) -> None:
        """A line no prefix starts that holds a literal a rule without prefix needs."""
        end = data.find(b"\n", start)
        line = "\n" + data[start:end if end >= 0 else len(data)].decode("utf-8", "replace")
        self._try(line, self._dispatch.anywhere_steps)  # type: ignore[union-attr]

    def _try(self, line: str, rules: _Steps | None) -> None:
        """Apply the first of ``rules`` that matches ``line`` (a complete line after a ``\\n``)."""
        if rules is None or "\x1b" in line:
            self._apply(_ANSI.sub("", line[1:]), complete=True)
            return
        for match_line, action in rules:
            match = match_line(line, 1)
            if match is not None:
                action(self._info, match)
                return

    def _next_marked_line(self, data: bytes, pos: int) -> int:
        """Where the first line at or after ``pos`` that holds a plotter's marker starts (``len(data)``
        when none does); ``pos`` itself when markers cannot tell (colour codes, no markers)."""
        if _MARKERS is None or data.find(b"\x1b", pos) >= 0:
            return pos
        window = pos
        while window < len(data):
            stop = window + _MARKER_WINDOW
            hits = [at for at in (data.find(m, window, stop + len(m)) for m in _MARKERS) if at >= 0]
            if hits:
                return max(pos, data.rfind(b"\n", pos, min(hits)) + 1)
            window = stop
        return len(data)

    def _keep_undetected(self, data: bytes, pos: int, end: int) -> None:
        """Keep the lines in ``data[pos:end]`` (which cannot name the plotter) for a later replay."""
        kept = self._undetected
        while len(kept) < _UNDETECTED_LINES_KEPT and pos < end:
            stop = data.find(b"\n", pos, end)
            stop = end if stop < 0 else stop
            if stop > pos:
                line = data[pos:stop].decode("utf-8", "replace")
                line = _ANSI.sub("", line) if "\x1b" in line else line
                if line:
                    kept.append(line)
            pos = stop + 1

    def finish(self) -> None:
        """End of input: the unfinished last line counts only if a rule matches all of it.

        A line cut short mid-write must not leave a wrong value behind (half a path or plot id),
        so only a line that fully matches a rule's pattern is used; the patterns end at a
        literal where the tools print one. A cut inside a trailing number can still pass.
        """
        if self._pending:
            line = self._pending.decode("utf-8", "replace")
            self._pending = b""
            self._line(line, complete=False)

    def _line(self, line: str, complete: bool) -> None:
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        if self._dispatch is None and not self._detect(line):
            return
        self._apply(line, complete)

    def _apply(self, line: str, complete: bool) -> None:
        if self._dispatch is None:
            return
        for rule in self._dispatch.rules_for(line):
            if not line.startswith(rule.prefix):
                continue
            match = rule.pattern.match(line) if complete else rule.pattern.fullmatch(line)
            if match is not None:
                rule.action(self._info, match)
                return

    def _detect(self, line: str) -> bool:
        """Recognise the plotter from this line; replay the lines kept before it. False: not yet."""
        name = detect_log_plotter(line)
        if name is None:
            if len(self._undetected) < _UNDETECTED_LINES_KEPT:
                self._undetected.append(line)
            return False
        self._info.plotter = name
        self._dispatch = _dispatch_for(name)
        earlier, self._undetected = self._undetected, []
        for old in earlier:
            self._apply(old, complete=True)
        return True


def parse_log_file(path: str) -> LogInfo:
    """Everything a log file says so far. An unfinished last line is used only if it fully
    matches a rule (see ``LogParser.finish``). OSError propagates for an unreadable file."""
    parser = LogParser()
    fd = os.open(path, os.O_RDONLY)
    try:
        read_into(parser, fd)
    finally:
        os.close(fd)
    parser.finish()
    return parser.info


def read_into(parser: LogParser, fd: int) -> None:
    """Feed ``parser`` the rest of the open file ``fd``: one read when a regular file fits in one and
    does not grow meanwhile (a short read is the end of a regular file, not of a pipe)."""
    status = os.fstat(fd)
    regular = stat.S_ISREG(status.st_mode)
    want = min(max(status.st_size - os.lseek(fd, 0, os.SEEK_CUR), 0) + 1, _READ_SIZE) if regular else _READ_SIZE
    while True:
        chunk = os.read(fd, want)
        if chunk:
            parser.feed(chunk)
        if not chunk or (regular and len(chunk) < want):
            return
        want = _READ_SIZE
