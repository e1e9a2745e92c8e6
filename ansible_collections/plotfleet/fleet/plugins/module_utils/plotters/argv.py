"""Reading plotter command lines the way each tool's own option parser reads them.

The plotters use four different parsers, and their differences decide whether a process is a
plot job and where its files go:

- click (``chia plots create``): ``--name=value``, ``-kVALUE``, bundled flags (``-ex``); unknown
  options and stray words are errors.
- argparse (``chia plotters ...``): as click, and a long option may be shortened to any unique
  prefix (``--tmp`` for ``--tmp_dir``).
- cxxopts with ``allow_unrecognised_options`` (madMAx ``chia_plot``): as click, but unknown
  options and stray words are silently ignored.
- bladebit's own CliParser: whole words only (``-t1`` is one option, not ``-t 1``), no
  ``--name=value``; parsing stops at the first word that is not an option of the current stage.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

VALUE = "value"
FLAG = "flag"
OPTIONAL_NUMBER = "optional_number"  # bladebit -z/--compress [level]
MULTI = "multi"  # a value option that may be given again, each value kept (Gigahorse -d)

CLICK = "click"
ARGPARSE = "argparse"
CXXOPTS = "cxxopts"
BLADEBIT = "bladebit"


class ArgvError(ValueError):
    """The plotter itself would refuse this command line (or only print help)."""


@dataclass(frozen=True)
class Opt:
    names: tuple[str, ...]
    dest: str
    kind: str = VALUE


class PlotterArgv(tuple[str, ...]):
    """A plotter's own arguments, remembering which command line form carried them."""

    form: str

    def __new__(cls, args: Sequence[str], form: str) -> PlotterArgv:
        obj = super().__new__(cls, args)
        obj.form = form
        return obj


_PYTHON = re.compile(r"python(?:\d+(?:\.\d+)*)?[dmu]?(?:\.exe)?")
# Interpreter options that take a separate value (python -W ignore, -X dev, ...).
_PYTHON_VALUE_OPTIONS = frozenset({"-W", "-X", "--check-hash-based-pycs"})


def program_argv(argv: Sequence[str]) -> list[str] | None:
    """argv with any Python interpreter (and its options) removed, so argv[0] is the program.

    ``python3 /venv/bin/chia plots create`` (a shebang run) and ``python -m chia.cmds.chia ...``
    both come back as ``[<chia>, "plots", "create", ...]``. ``python -c ...`` is no plot job.
    """
    if not argv:
        return None
    if not _PYTHON.fullmatch(os.path.basename(argv[0])):
        return list(argv)
    i = 1
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        word = argv[i]
        if word == "-c":
            return None
        if word == "-m":
            if i + 1 >= len(argv):
                return None
            module = argv[i + 1]
            # `python -m chia.cmds.chia` is the chia CLI; other modules keep their own name.
            program = "chia" if module.split(".")[0] == "chia" else module
            return [program, *argv[i + 2 :]]
        if word in _PYTHON_VALUE_OPTIONS:
            i += 1
        i += 1
    return list(argv[i:]) if i < len(argv) else None


def program_name(path: str) -> str:
    name = os.path.basename(path)
    return name[:-4] if name.lower().endswith(".exe") else name


def resolve(cwd: str, path: str | None) -> str | None:
    """An absolute, normalised path (no trailing slash) so dirs compare across tools."""
    if path is None or path == "":
        return None
    return os.path.normpath(os.path.join(cwd, os.path.expanduser(path)))


def parse_options(
    args: Sequence[str], options: Sequence[Opt], syntax: str
) -> tuple[dict[str, Any], list[str]]:
    """(values by dest, remaining words). Raises ArgvError when the tool would refuse the line.

    Flags come back as True, values as strings. For ``BLADEBIT`` syntax the remaining words start
    at the first word that is not one of ``options``; other syntaxes collect stray words.
    """
    by_name = {name: opt for opt in options for name in opt.names}
    values: dict[str, Any] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if syntax == BLADEBIT:
            opt = by_name.get(word)
            if opt is None:
                return values, list(args[i:])
            i = _take(values, opt, args, i + 1, word, syntax)
            continue
        if word == "--":
            rest.extend(args[i + 1 :])
            break
        if word.startswith("--"):
            i = _long_option(values, rest, by_name, args, i, syntax)
        elif word.startswith("-") and len(word) > 1:
            i = _short_options(values, rest, by_name, args, i, syntax)
        else:
            rest.append(word)
            i += 1
    return values, rest


def _long_option(
    values: dict[str, Any],
    rest: list[str],
    by_name: Mapping[str, Opt],
    args: Sequence[str],
    i: int,
    syntax: str,
) -> int:
    name, has_value, value = args[i].partition("=")
    opt = by_name.get(name)
    if opt is None and syntax == ARGPARSE:
        opt = _abbreviation(by_name, name)
    if opt is None:
        if syntax == CXXOPTS:
            return i + 1
        raise ArgvError(f"no such option: {name}")
    if has_value:
        if opt.kind == FLAG:
            # cxxopts accepts --flag=true/false; click and argparse refuse a value for a flag.
            if syntax != CXXOPTS:
                raise ArgvError(f"option {name} takes no value")
            values[opt.dest] = value.lower() not in ("false", "0", "no", "off")
        else:
            _store(values, opt, value)
        return i + 1
    return _take(values, opt, args, i + 1, name, syntax)


def _abbreviation(by_name: Mapping[str, Opt], prefix: str) -> Opt | None:
    found = {id(opt): opt for name, opt in by_name.items() if name.startswith("--") and name.startswith(prefix)}
    if len(found) > 1:
        raise ArgvError(f"ambiguous option: {prefix}")
    return next(iter(found.values()), None)


def _short_options(
    values: dict[str, Any],
    rest: list[str],
    by_name: Mapping[str, Opt],
    args: Sequence[str],
    i: int,
    syntax: str,
) -> int:
    word = args[i]
    # Bundled short options: flags until one that takes a value, which gets the remainder.
    for pos in range(1, len(word)):
        name = "-" + word[pos]
        opt = by_name.get(name)
        if opt is None:
            if syntax == CXXOPTS:
                return i + 1
            raise ArgvError(f"no such option: {name}")
        if opt.kind == FLAG:
            values[opt.dest] = True
            continue
        attached = word[pos + 1 :]
        if attached:
            _store(values, opt, attached)
            return i + 1
        return _take(values, opt, args, i + 1, name, syntax)
    return i + 1


def _take(values: dict[str, Any], opt: Opt, args: Sequence[str], i: int, name: str, syntax: str) -> int:
    """Store the option whose value (if any) starts at args[i]; return the next index."""
    if opt.kind == FLAG:
        values[opt.dest] = True
        return i
    if opt.kind == OPTIONAL_NUMBER:
        if i < len(args) and args[i].isdigit():
            values[opt.dest] = args[i]
            return i + 1
        values[opt.dest] = True
        return i
    if i >= len(args):
        raise ArgvError(f"option {name} needs a value")
    _store(values, opt, args[i])
    return i + 1


def _store(values: dict[str, Any], opt: Opt, value: str) -> None:
    if opt.kind == MULTI:
        values.setdefault(opt.dest, []).append(value)
    else:
        values[opt.dest] = value


def has_help(args: Sequence[str], words: Sequence[str] = ("-h", "--help")) -> bool:
    return any(word in words for word in args)


def to_int(value: Any, name: str) -> int | None:
    """An option's integer value (None when absent); a malformed number is the tool's error too."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ArgvError(f"option {name}: not an integer: {value!r}") from None


def int_value(values: Mapping[str, Any], dest: str, default: int) -> int:
    """An integer option's value, or default when it was not given."""
    value = to_int(values.get(dest), dest)
    return default if value is None else value


def hex_id(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.lower()
    return text[2:] if text.startswith("0x") else text


def option(section: Any, name: str, default: Any = None) -> Any:
    """A config option from a mapping or from an options object (the config's dataclasses)."""
    value = section.get(name, default) if isinstance(section, Mapping) else getattr(section, name, default)
    return default if value is None else value


# chia's top-level options (before the subcommand); each takes a value.
_CHIA_GLOBAL_OPTIONS = frozenset({"--root-path", "--keys-root-path", "--passphrase-file"})


def chia_subcommand(argv: Sequence[str], group: str, command: str) -> list[str] | None:
    """The arguments after ``chia [global options] <group> <command>``, or None for other argv."""
    words = program_argv(argv)
    if not words or program_name(words[0]) != "chia":
        return None
    i = 1
    while i < len(words) and words[i].startswith("--"):
        name = words[i].partition("=")[0]
        if name not in _CHIA_GLOBAL_OPTIONS:
            return None
        i += 1 if "=" in words[i] else 2
    if words[i : i + 2] != [group, command]:
        return None
    return words[i + 2 :]


def native_or_chia_plotters(argv: Sequence[str], programs: frozenset[str], native_form: str,
                            command: str, plotters_form: str) -> PlotterArgv | None:
    """The plotter's arguments when argv runs one of its own programs or ``chia plotters <command>``."""
    words = program_argv(argv)
    if words and program_name(words[0]) in programs:
        return PlotterArgv(words[1:], native_form)
    args = chia_subcommand(argv, "plotters", command)
    return PlotterArgv(args, plotters_form) if args is not None else None
