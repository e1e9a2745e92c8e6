"""Is a plot that landed on a harvester the plot its name says? The structural check.

Every plot file starts with a header that names its plot id and k; the name carries both too.
A copy that went wrong (a flipped byte, a truncated tail, a file that is not a plot at all, a plot
renamed by hand) shows up as a header that does not parse, an id or k that differs from the name,
table pointers past the end of the file, or a size outside the range for its kind. Reading the
header costs one small read per plot, so every landed plot gets it; proving space
(``chia plots check``) is the optional, slow second step (``plotverify``).

Header layouts, as the plotters write them:

- v1, chiapos/madMAx/Bladebit uncompressed (and Gigahorse): ``"Proof of Space Plot"`` (19 bytes),
  plot id (32), k (1), format description length (2, big-endian) and text (``v1.0``), memo
  length (2, big-endian) and memo, then 10 table pointers (8 bytes each, big-endian).
- v1, Bladebit compressed (its "v2.0" file format): ``"PLOT"``, version (4, little-endian, 2),
  plot id (32), k (1), memo length (2, big-endian) and memo, flags (4, little-endian; bit 0:
  compressed), the compression level (1, only when compressed), 10 table pointers (8 bytes each,
  little-endian) and 10 table sizes.
- v2 (proof of space 2, chia_rs ``create_v2_plot``): ``"pos2"``, format version (1, 1),
  plot id (32), k (1), strength (1), plot index (2, little-endian), meta group (1), memo
  length (1) and memo.

Pure functions over bytes and names; nothing here touches the filesystem but ``read_head``.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import (
    V1,
    V2,
    V2_K28_BYTES,
    V2_MAINNET_K,
    PlotKind,
    nominal_plot_bytes,
    parse_plot_name,
)

V1_MAGIC = b"Proof of Space Plot"
BLADEBIT_MAGIC = b"PLOT"
POS2_MAGIC = b"pos2"
# Enough for every header above (the largest: Bladebit's, ~300 bytes with a 128-byte memo).
HEAD_BYTES = 4096


class HeaderError(ValueError):
    """The bytes are not a plot header we can read; the message says what is wrong."""


@dataclass(frozen=True)
class PlotHeader:
    """What a plot's header says."""

    layout: str  # v1 | bladebit-v2 | pos2
    plot_id: str
    k: int
    memo_bytes: int
    compression: int | None = None  # bladebit-v2 only
    strength: int | None = None  # pos2 only
    table_pointers: tuple[int, ...] = ()


def parse_header(data: bytes) -> PlotHeader:
    """The header at the start of a plot file. Raises HeaderError naming what is wrong."""
    if data.startswith(V1_MAGIC):
        return _parse_v1(data)
    if data.startswith(POS2_MAGIC):
        return _parse_pos2(data)
    if data.startswith(BLADEBIT_MAGIC):
        return _parse_bladebit_v2(data)
    raise HeaderError(f"no plot header: the file starts with {data[:19]!r}, not {V1_MAGIC.decode()!r} or "
                      f"{POS2_MAGIC.decode()!r}")


class _Reader:
    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.offset = offset

    def take(self, count: int, what: str) -> bytes:
        end = self.offset + count
        if end > len(self.data):
            raise HeaderError(f"header cut short in its {what} (file ends at byte {len(self.data)})")
        chunk = self.data[self.offset:end]
        self.offset = end
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[int, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def _parse_v1(data: bytes) -> PlotHeader:
    reader = _Reader(data, len(V1_MAGIC))
    plot_id = reader.take(32, "plot id").hex()
    (k,) = reader.unpack(">B", "k")
    (format_len,) = reader.unpack(">H", "format description length")
    description = reader.take(format_len, "format description")
    if not description.startswith(b"v"):
        raise HeaderError(f"unknown v1 format description {description[:16]!r}")
    (memo_len,) = reader.unpack(">H", "memo length")
    reader.take(memo_len, "memo")
    pointers = reader.unpack(">10Q", "table pointers")
    return PlotHeader("v1", plot_id, k, memo_len, table_pointers=pointers)


def _parse_bladebit_v2(data: bytes) -> PlotHeader:
    reader = _Reader(data, len(BLADEBIT_MAGIC))
    (version,) = reader.unpack("<I", "version")
    if version != 2:
        raise HeaderError(f"unknown Bladebit plot file version {version}")
    plot_id = reader.take(32, "plot id").hex()
    (k,) = reader.unpack("<B", "k")
    (memo_len,) = reader.unpack(">H", "memo length")
    reader.take(memo_len, "memo")
    (flags,) = reader.unpack("<I", "flags")
    level = reader.unpack("<B", "compression level")[0] if flags & 1 else 0
    pointers = reader.unpack("<10Q", "table pointers")
    return PlotHeader("bladebit-v2", plot_id, k, memo_len, compression=level, table_pointers=pointers)


def _parse_pos2(data: bytes) -> PlotHeader:
    reader = _Reader(data, len(POS2_MAGIC))
    (version,) = reader.unpack("<B", "format version")
    if version != 1:
        raise HeaderError(f"unknown v2 plot format version {version} (chia 2.7.5 reads version 1)")
    plot_id = reader.take(32, "plot id").hex()
    k, strength = reader.unpack("<BB", "k and strength")
    reader.unpack("<HB", "plot index and meta group")
    (memo_len,) = reader.unpack("<B", "memo length")
    reader.take(memo_len, "memo")
    return PlotHeader("pos2", plot_id, k, memo_len, strength=strength)


def size_range(kind: PlotKind) -> tuple[int, int]:
    """The (smallest, largest) size in bytes a complete plot of this kind has.

    v1 follows chia's own size estimate, ``(2k + 1) * 2**(k - 1) * 0.762`` bytes, which real plots
    exceed by 2.4 % (k32) to 8.5 % (k18) on average, scaled for a compression level by plotfiles'
    size table. Small plots spread widely around that (40 chia k18 plots: -5 % to +17 % of the
    estimate), so the range widens by 1 % down and 2 % up for each k below 25.
    v2 plots measure about ``0.133 * k * 2**k`` bytes (k18 to k28, strength 2 to 5); k28 is the
    measured mainnet size.
    """
    k = kind.k
    if kind.format == V2:
        if k == V2_MAINNET_K:
            return int(V2_K28_BYTES * 0.97), int(V2_K28_BYTES * 1.05)
        return int(0.120 * k * 2**k), int(0.150 * k * 2**k)
    estimate = (2 * k + 1) * 2 ** (k - 1) * 0.762
    share = nominal_plot_bytes(kind) / nominal_plot_bytes(PlotKind(V1, k))
    small = max(0, 25 - k)
    return int(estimate * share * (0.97 - 0.01 * small)), int(estimate * share * (1.15 + 0.02 * small))


def structural_problems(name: str, size: int, head: bytes) -> list[str]:
    """Everything wrong with a plot file, from its name, size and first bytes; [] when it is sound."""
    expected = parse_plot_name(name)
    if expected is None:
        return [f"{name} is not a plot name plotfleet knows (plot-k<k>-[c<level>-]<date>-<id>.plot or "
                f"plot-k<k>-<id>.plot2)"]
    kind = expected.kind
    try:
        header = parse_header(head)
    except HeaderError as err:
        return [str(err)]
    problems = []
    layouts = ("pos2",) if kind.format == V2 else ("v1", "bladebit-v2")
    if header.layout not in layouts:
        problems.append(f"a {header.layout} header in a {kind.format} plot name")
    if header.plot_id != expected.plot_id:
        problems.append(f"plot id in the header is {header.plot_id}, the name says {expected.plot_id}")
    if header.k != kind.k:
        problems.append(f"k in the header is {header.k}, the name says {kind.k}")
    if header.layout == "bladebit-v2" and (header.compression or 0) != kind.compression:
        problems.append(f"compression level in the header is {header.compression}, the name says {kind.compression}")
    past_end = [pointer for pointer in header.table_pointers if pointer >= size]
    if past_end:
        problems.append(f"truncated: a table starts at byte {max(past_end)}, the file has {size} bytes")
    smallest, largest = size_range(kind)
    if not smallest <= size <= largest:
        problems.append(f"size {size} bytes is outside {smallest}-{largest} for a {kind.label} plot")
    return problems


def read_head(path: str, count: int = HEAD_BYTES) -> tuple[int, bytes, int]:
    """(size, first bytes, mtime in ns) of a regular file, never through a symlink. Raises OSError.

    Received files are named by whoever sent them: the file itself is opened with O_NOFOLLOW and
    must be a regular file, so a link planted in an archive dir makes root read nothing else."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path} is not a regular file")
        return info.st_size, os.read(fd, count), info.st_mtime_ns
    finally:
        os.close(fd)
