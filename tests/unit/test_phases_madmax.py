"""madMAx: the phase after every line (hand-written logs in madMAx's format, see tests/data/logs)."""

from __future__ import annotations

import pytest
from phase_milestones import CHUNK_SIZES, LOGS, check_in_chunks, check_line_by_line


def plotting(number: int) -> list:
    """One plot's milestones up to its final file in the stage (tmp) dir: plotman's madMAx table."""
    return [
        (f"Crafting plot {number} out of", (0, 0)),  # a new plot starts from nothing
        ("Plot Name: ", (1, 1)),
        *[(f"[P1] Table {t} took", (1, t + 1)) for t in range(1, 7)],  # table 7 ends with phase 1
        ("Phase 1 took", (2, 0)),
        ("[P2] max_table_size", (2, 1)),
        *[(f"[P2] Table {t} rewrite took", (2, 9 - t)) for t in range(7, 1, -1)],
        ("Phase 2 took", (3, 0)),
        ("Wrote plot header", (3, 1)),
        *[(f"[P3-2] Table {t} took", (3, t)) for t in range(2, 8)],
        ("Phase 3 took", (4, 0)),
        ("[P4] Starting to write C1 and C3 tables", (4, 1)),
        ("[P4] Writing C2 table", (4, 2)),
        ("Phase 4 took", (5, 0)),
        ("Started copy to", (5, 1)),
    ]


LOGS_AND_MILESTONES = {
    "madmax-5b5bd68-k32-copy.log": [*plotting(1), ("Copy to", (5, 2))],
    # -n 2: plot 1's copy finishes in plot 2's phase 1 and leaves plot 2's phase alone.
    "madmax-974d6e5-k32-2plots.log": [*plotting(1), *plotting(2), ("finished, took 598", (5, 2))],
}


@pytest.mark.parametrize("name", sorted(LOGS_AND_MILESTONES))
def test_phase_after_every_line(name):
    info = check_line_by_line((LOGS / name).read_bytes(), LOGS_AND_MILESTONES[name])
    assert info.plotter == "madmax" and info.completed


@pytest.mark.parametrize("size", CHUNK_SIZES)
@pytest.mark.parametrize("name", sorted(LOGS_AND_MILESTONES))
def test_phase_after_every_chunk(name, size):
    check_in_chunks((LOGS / name).read_bytes(), LOGS_AND_MILESTONES[name], size)


def test_the_earlier_plot_keeps_its_copy():
    info = check_line_by_line((LOGS / "madmax-974d6e5-k32-2plots.log").read_bytes(),
                              LOGS_AND_MILESTONES["madmax-974d6e5-k32-2plots.log"])
    (first,) = info.earlier_plots
    assert first.plot_id.startswith("a767c76f") and first.completed and first.phase.major == 5
    assert first.phase_seconds == {1: 501.397, 2: 254.354, 3: 476.301, 4: 39.5166}
    assert [p.plot_id[:8] for p in info.plots()] == ["a767c76f", "27283e0a"]
