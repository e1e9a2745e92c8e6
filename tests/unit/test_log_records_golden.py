"""Every field the log parser and ``read_logs`` give for every log in tests/data/logs, and for the
same logs with CRLF line ends, colour codes, a cut-off last line or among other files, compared
with the values recorded in tests/data/expected/log_records.json.

That file was written by the parser before the fast paths (one scan of a whole buffer, one read of
each file) went in; a change of any parsed value shows here. After an intended change of the
values, rewrite it with ``scripts/python tests/unit/test_log_records_golden.py --write`` and review
the diff.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.logs import read_logs
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import LogParser, parse_log_file

DATA = Path(__file__).resolve().parent.parent / "data"
LOGS = DATA / "logs"
GOLDEN = DATA / "expected" / "log_records.json"


def _coloured(data: bytes) -> bytes:
    """Every line green, and every number in bold: colour codes at line starts and inside lines."""
    out = []
    for line in data.split(b"\n"):
        line = line.replace(b"1", b"\x1b[1m1\x1b[22m")
        out.append(b"\x1b[32m" + line + b"\x1b[0m" if line else line)
    return b"\n".join(out)


# variant name -> bytes of a real log -> bytes of the variant
VARIANTS = {
    "as-is": lambda data: data,
    "crlf": lambda data: data.replace(b"\n", b"\r\n"),
    "coloured": _coloured,
    "cut": lambda data: data[: len(data) * 2 // 3],
    "no-last-newline": lambda data: data.rstrip(b"\n"),
    "prelude": lambda data: b"".join(b"starting job %d at /tmp/x\n" % i for i in range(300)) + data,
}


def _info(data: bytes) -> dict:
    parser = LogParser()
    parser.feed(data)
    parser.finish()
    return dataclasses.asdict(parser.info)


def _plain(value: object) -> object:
    return json.loads(json.dumps(value, default=str))


def current(tmp: Path) -> dict:
    """What the parser says now: per log and variant the LogInfo, and read_logs over a dir holding
    every variant of every log plus files that are no plot logs."""
    result: dict = {"info": {}, "read_logs": None}
    log_dir = tmp / "logs"
    log_dir.mkdir()
    for log in sorted(LOGS.glob("*.log")):
        data = log.read_bytes()
        for variant, make in VARIANTS.items():
            made = make(data)
            result["info"][f"{log.name}/{variant}"] = _info(made)
            (log_dir / f"{log.stem}.{variant}.log").write_bytes(made)
        assert dataclasses.asdict(parse_log_file(str(log))) == result["info"][f"{log.name}/as-is"]
    (log_dir / "notes.txt").write_text("not a plot log\n")
    (log_dir / "empty.log").write_bytes(b"")
    (log_dir / "binary.bin").write_bytes(bytes(range(256)) * 300)
    # Mentions of plotters that are no signature of theirs, and a plot log starting after 64 KiB.
    (log_dir / "chatter.log").write_text("Bladebit and create_plots and [P1] Table 1 took are words\n" * 2000)
    late = b"x" * 100 + b"\n"
    (log_dir / "late.log").write_bytes(late * 700 + (LOGS / "chia-2.7.5-k25.log").read_bytes())
    records, ignored = read_logs(str(log_dir))
    prefix = str(log_dir) + "/"
    for record in records + ignored:
        record["path"] = record["path"].removeprefix(prefix)
    result["read_logs"] = {"records": records, "ignored": ignored}
    return _plain(result)


@pytest.fixture(scope="module")
def now(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return current(tmp_path_factory.mktemp("golden"))


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads(GOLDEN.read_text())


def test_every_log_and_variant_is_recorded(now: dict, expected: dict) -> None:
    assert sorted(now["info"]) == sorted(expected["info"])


@pytest.mark.parametrize("key", sorted(f"{log.name}/{v}" for log in LOGS.glob("*.log") for v in VARIANTS))
def test_log_info(now: dict, expected: dict, key: str) -> None:
    assert now["info"][key] == expected["info"][key]


def test_read_logs_records(now: dict, expected: dict) -> None:
    assert now["read_logs"]["ignored"] == expected["read_logs"]["ignored"]
    assert [r["path"] for r in now["read_logs"]["records"]] == [r["path"] for r in expected["read_logs"]["records"]]
    for got, want in zip(now["read_logs"]["records"], expected["read_logs"]["records"], strict=True):
        assert got == want


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    import tempfile

    work = Path(tempfile.mkdtemp())
    try:
        GOLDEN.write_text(json.dumps(current(work), indent=1, sort_keys=True) + "\n")
    finally:
        shutil.rmtree(work)
    print(f"wrote {GOLDEN}")
