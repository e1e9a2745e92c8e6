"""The one way plotfleet checks input: the plotter config, the harvester config and the playbooks'
options all read their values through these checkers, so every problem names its key path (or the
option as the operator typed it) in the same words.

Reading one mapping while collecting every problem, each with its key path:

A ``Section`` hands out checked values (``section.integer("tmpdir_max_jobs", 3, minimum=1)``),
remembers which keys were asked for, and at ``finish()`` reports the keys nobody asked for as
unknown, with a did-you-mean. A bad value is reported and replaced by its default, so reading
goes on and one pass finds all problems.

Type rules, the same everywhere: integers and booleans must be YAML integers and booleans (no
"3" or "yes" strings; unquoted yes/no/true/false are booleans in YAML already); a null value
means the key is not given; paths must be absolute after ``~`` expansion.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import normalise_path

T = TypeVar("T")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


# The default of a key that must be given.
REQUIRED: Any = _Required()

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*\Z")
# coreutils' convention: K, KiB = 1024; KB = 1000 (and so on up).
_SIZE_UNITS = {"": 1, "b": 1}
for _power, _letter in enumerate("kmgtpe", start=1):
    _SIZE_UNITS[_letter] = _SIZE_UNITS[_letter + "i"] = _SIZE_UNITS[_letter + "ib"] = 1024**_power
    _SIZE_UNITS[_letter + "b"] = 1000**_power


class Invalid(Exception):
    """Raised by a value check; carries the finished problem lines."""

    def __init__(self, *lines: str) -> None:
        super().__init__(*lines)
        self.lines = list(lines)


def show(value: Any) -> str:
    """A value as a problem message quotes it: YAML-ish, short, with its kind for containers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, Mapping):
        return f"a mapping {text}"
    if isinstance(value, (list, tuple)):
        return f"a list {text}"
    return text


def bad(path: str, expected: str, value: Any) -> Invalid:
    return Invalid(f"{path}: must be {expected}, got {show(value)}")


def key_path(parent: str, key: Any) -> str:
    """``scheduling.global_max_jobs``; keys that are not identifiers (paths) in brackets."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{parent}[{key}]"
    if not parent:
        return str(key)
    if isinstance(key, str) and _IDENTIFIER.match(key):
        return f"{parent}.{key}"
    return f"{parent}[{json.dumps(str(key))}]"


def suggest(word: str, choices: list[str]) -> str:
    """'; did you mean X?' for a near miss, else the list of what is allowed."""
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f"; did you mean {close[0]}?"
    return f"; expected one of: {', '.join(choices)}" if choices else ""


def parse_size(value: Any) -> int:
    """Bytes from an int or a string like "100G", "1.5 TiB", "500MB" (K = KiB = 1024, KB = 1000)."""
    if is_int(value) and value >= 0:
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    unit = _SIZE_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(f"not a size: {value!r}")
    try:
        return int(Decimal(match.group(1)) * unit)
    except InvalidOperation as error:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"not a size: {value!r}") from error


# Value checks: (value, key path) -> the checked value, or raise Invalid.


def check_int(value: Any, path: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if is_int(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
        return value
    raise bad(path, _int_expected(minimum, maximum), value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # YAML true is not 1


def _int_expected(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer from {minimum} to {maximum}"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def check_bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    raise bad(path, "true or false", value)


def check_str(value: Any, path: str) -> str:
    if isinstance(value, str) and value.strip():
        return value
    raise bad(path, "a non-empty string", value)


def check_choice(value: Any, path: str, choices: tuple[str, ...]) -> str:
    if isinstance(value, str) and value in choices:
        return value
    expected = "one of " + ", ".join(choices)
    if isinstance(value, str):
        raise Invalid(f"{path}: must be {expected}, got {show(value)}{_near(value, choices)}")
    raise bad(path, expected, value)


def _near(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def check_path(value: Any, path: str) -> str:
    """An absolute path, ``~`` expanded and normalised (no trailing slash, no ``..``)."""
    if not isinstance(value, str) or not value.strip():
        raise bad(path, "an absolute path", value)
    expanded = os.path.expanduser(value)
    if not os.path.isabs(expanded):
        raise Invalid(f"{path}: must be an absolute path (starting with / or ~), got {show(value)}")
    return normalise_path(expanded)


def check_executable(value: Any, path: str) -> str:
    """A program: an absolute path, or a bare name looked up on PATH when the job starts."""
    if isinstance(value, str) and value.strip() and "/" not in os.path.expanduser(value):
        return value
    try:
        return check_path(value, path)
    except Invalid:
        raise bad(path, "an absolute path or a program name found on PATH", value) from None


def check_size(value: Any, path: str) -> int:
    try:
        return parse_size(value)
    except ValueError:
        raise bad(path, 'a size: bytes as an integer >= 0, or a string like "100G", "1.5 TiB"', value) from None


def check_list(value: Any, path: str, item: Callable[[Any, str], T], expected: str) -> tuple[T, ...]:
    """A list whose items all pass ``item``; every bad item is reported."""
    if not isinstance(value, list):
        raise bad(path, expected, value)
    items: list[T] = []
    lines: list[str] = []
    for index, element in enumerate(value):
        try:
            items.append(item(element, key_path(path, index)))
        except Invalid as error:
            lines.extend(error.lines)
    if lines:
        raise Invalid(*lines)
    return tuple(items)


def check_env_value(value: Any, path: str) -> str:
    """An environment value; numbers are written out as YAML shows them (plotman does the same)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise bad(path, "a string", value)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_env(value: Any, path: str, allow_null: bool = False) -> dict[str, Any]:
    """A mapping of environment variable names to values."""
    if not isinstance(value, Mapping):
        raise bad(path, "a mapping of environment variable names to strings", value)
    env: dict[str, Any] = {}
    lines: list[str] = []
    for name, item in value.items():
        item_path = key_path(path, name)
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            lines.append(f"{item_path}: not a valid environment variable name (letters, digits, _)")
        elif item is None and allow_null:
            env[name] = None
        else:
            try:
                env[name] = check_env_value(item, item_path)
            except Invalid as error:
                lines.extend(error.lines)
    if lines:
        raise Invalid(*lines)
    return env


class Section:
    """One mapping of the config, read key by key; see the module docstring."""

    def __init__(self, data: Any, where: str, problems: list[str]) -> None:
        self.where = where
        self.problems = problems
        self.data: Mapping[Any, Any] = data if isinstance(data, Mapping) else {}
        self._asked: list[str] = []

    def path_of(self, key: str) -> str:
        return key_path(self.where, key)

    def given(self, key: str) -> bool:
        return self.data.get(key) is not None

    def get(self, key: str, default: Any, check: Callable[[Any, str], Any], expected: str) -> Any:
        """The checked value of ``key``; on a problem, report it and return the default."""
        self._asked.append(key)
        value = self.data.get(key)
        path = self.path_of(key)
        if value is None:
            if default is REQUIRED:
                got = ", got null" if key in self.data else ""
                self.problems.append(f"{path}: missing required key; expected {expected}{got}")
                return None
            return default
        try:
            return check(value, path)
        except Invalid as error:
            self.problems.extend(error.lines)
            return None if default is REQUIRED else default

    def integer(self, key: str, default: Any, minimum: int | None = None, maximum: int | None = None) -> Any:
        return self.get(key, default, lambda v, p: check_int(v, p, minimum, maximum), _int_expected(minimum, maximum))

    def boolean(self, key: str, default: Any) -> Any:
        return self.get(key, default, check_bool, "true or false")

    def string(self, key: str, default: Any) -> Any:
        return self.get(key, default, check_str, "a non-empty string")

    def choice(self, key: str, default: Any, choices: tuple[str, ...]) -> Any:
        return self.get(key, default, lambda v, p: check_choice(v, p, choices), "one of " + ", ".join(choices))

    def path(self, key: str, default: Any) -> Any:
        return self.get(key, default, check_path, "an absolute path")

    def executable(self, key: str, default: Any) -> Any:
        return self.get(key, default, check_executable, "an absolute path or a program name")

    def size(self, key: str, default: Any) -> Any:
        return self.get(key, default, check_size, 'a size such as 500000000000 or "500G"')

    def path_list(self, key: str, default: Any) -> Any:
        expected = "a non-empty list of absolute paths"
        return self.get(key, default, lambda v, p: _non_empty(check_list(v, p, check_path, expected), p, v), expected)

    def string_list(self, key: str, default: Any) -> Any:
        expected = "a list of strings"
        return self.get(key, default, lambda v, p: check_list(v, p, check_str, expected), expected)

    def env(self, key: str, allow_null: bool = False) -> dict[str, Any]:
        expected = "a mapping of environment variable names to strings"
        return self.get(key, {}, lambda v, p: check_env(v, p, allow_null), expected)

    def mapping(self, key: str) -> Mapping[Any, Any] | None:
        """The raw mapping under ``key`` (None when absent or not a mapping, which is reported)."""
        return self.get(key, None, _check_mapping, "a mapping")

    def section(self, key: str) -> Section:
        """The sub-mapping under ``key`` as a Section (empty when absent or not a mapping)."""
        return Section(self.mapping(key), self.path_of(key), self.problems)

    def read_elsewhere(self, *keys: str) -> None:
        """Mark keys that another reader handles, so that finish() does not call them unknown."""
        self._asked.extend(keys)

    def report(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path_of(key)}: {message}")

    def finish(self) -> None:
        """Report every key that no reader asked for."""
        for key in self.data:
            if key not in self._asked:
                self.report(str(key), "unknown key" + suggest(str(key), self._asked))


def _check_mapping(value: Any, path: str) -> Mapping[Any, Any]:
    if isinstance(value, Mapping):
        return value
    raise bad(path, "a mapping", value)


def _non_empty(items: tuple[T, ...], path: str, value: Any) -> tuple[T, ...]:
    if not items:
        raise bad(path, "a non-empty list of absolute paths", value)
    return items
