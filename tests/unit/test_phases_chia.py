"""chiapos: the phase after every line of logs the real tools printed here."""

from __future__ import annotations

import pytest
from phase_milestones import CHUNK_SIZES, LOGS, check_in_chunks, check_line_by_line

# chiapos' own milestones (plotman's numbering): each table computed, back-propagated, compressed.
PLOTTING = [
    ("Starting phase 1/4", (1, 0)),
    *[(f"Computing table {t}", (1, t)) for t in range(1, 8)],
    ("Starting phase 2/4", (2, 0)),
    *[(f"Backpropagating on table {t}", (2, 8 - t)) for t in range(7, 1, -1)],
    ("table 1 new size", (2, 7)),
    ("Starting phase 3/4", (3, 0)),
    *[(f"Compressing tables {t} and {t + 1}", (3, t)) for t in range(1, 7)],
    ("Starting phase 4/4", (4, 0)),
    ("Starting to write C1 and C3 tables", (4, 1)),
    ("Writing C2 table", (4, 2)),
    ("Final table pointers:", (4, 3)),
    ("Approximate working space used", (5, 0)),
]
RENAMED = [("Renamed final file from", (5, 3))]
COPIED = [("Copied final file from", (5, 1)), ("Removed temp2 file", (5, 2)), *RENAMED]

LOGS_AND_MILESTONES = {
    "chia-2.7.5-k25.log": PLOTTING + RENAMED,  # chia plots create: the logger's lines around chiapos'
    "chiapos-2.0.12-k18.log": PLOTTING + RENAMED,  # tmp2 and dst on one filesystem
    "chiapos-2.0.12-k18-copy.log": PLOTTING + COPIED,  # dst elsewhere: copy, remove, rename
}


@pytest.mark.parametrize("name", sorted(LOGS_AND_MILESTONES))
def test_phase_after_every_line(name):
    info = check_line_by_line((LOGS / name).read_bytes(), LOGS_AND_MILESTONES[name])
    assert info.plotter == "chia" and info.completed


@pytest.mark.parametrize("size", CHUNK_SIZES)
@pytest.mark.parametrize("name", sorted(LOGS_AND_MILESTONES))
def test_phase_after_every_chunk(name, size):
    check_in_chunks((LOGS / name).read_bytes(), LOGS_AND_MILESTONES[name], size)
