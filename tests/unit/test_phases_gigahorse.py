"""Gigahorse (cuda_plot_kNN): the phase after every line of the published excerpts.

The reference logs are read at test time from the shared dir beside the clone (never copied
here; see its EXPECTED.md). Two of them start mid-run, so the log is recognised only at its first
Gigahorse-only line; until then the phase is unknown (0:0), which the milestones say.
"""

from __future__ import annotations

import pytest
from phase_milestones import CHUNK_SIZES, REFERENCE_GPU_LOGS, check_in_chunks, check_line_by_line

REFERENCE = {
    # Banner first; the file ends at "[P1] Setup took", still at the plot name's 1:1.
    "gigahorse-15133ec-c1-win-header-partial.plot.log": [("Crafting plot 1 out of 1", (0, 0)), ("Plot Name: ", (1, 1))],
    # Recognised at "Working Directory 3:" (disk mode), before the plot name. Plot 1's flush and
    # copy lines fall in plot 2's phase 1 and leave it alone.
    "gigahorse-c8-disk-plot2of2-copy-partial.plot.log": [
        ("Plot Name: ", (1, 1)),
        ("[P1] Table 1 took", (1, 2)),
        ("[P1] Table 2 took", (1, 3)),
    ],
    # Recognised at "[P1] Setup took", after the plot name: 1:1 from there.
    "gigahorse-c18-win-plot18-copy-partial.plot.log": [
        ("[P1] Setup took", (1, 1)),
        *[(f"[P1] Table {t} took", (1, t + 1)) for t in range(1, 6)],
    ],
}

pytestmark = pytest.mark.skipif(
    not REFERENCE_GPU_LOGS.is_dir(), reason=f"reference logs not found beside the clone: {REFERENCE_GPU_LOGS}"
)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_phase_after_every_line(name):
    info = check_line_by_line((REFERENCE_GPU_LOGS / name).read_bytes(), REFERENCE[name])
    assert info.plotter == "gigahorse"


@pytest.mark.parametrize("size", CHUNK_SIZES)
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_phase_after_every_chunk(name, size):
    check_in_chunks((REFERENCE_GPU_LOGS / name).read_bytes(), REFERENCE[name], size)
