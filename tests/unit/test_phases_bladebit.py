"""Bladebit: the phase after every line.

Real output where it exists: the published excerpts in the shared reference dir (read at test
time, never copied here; see its EXPECTED.md); hand-written logs in this repo for ramplot.
"""

from __future__ import annotations

import pytest
from phase_milestones import CHUNK_SIZES, LOGS, REFERENCE_GPU_LOGS, check_in_chunks, check_line_by_line

# cudaplot (3.x): F1, then "Table N completed" (N done, N+1 under way), Phase 2 marks tables 6..3
# (zero-based ids of tables 7..4), Phase 3 compresses table pairs.
CUDA_PHASES_1_2 = [
    ("Generating F1", (1, 0)),
    ("Finished F1 in", (1, 2)),
    *[(f"Table {t} completed in", (1, min(t + 1, 7))) for t in range(2, 7)],
    ("Completed Phase 1 in", (2, 0)),
    *[(f"Marked Table {t} in", (2, 7 - t)) for t in range(6, 2, -1)],
    ("Completed Phase 2 in", (3, 0)),
    ("Compressing Table 2 and 3", (3, 2)),
]

REFERENCE = {
    # diskplot 2.0: the whole run; detected at its "[Bladebit Disk Plotter]" header (line 2).
    "bladebit-diskplot-2.0dev-c0-complete.plot.log": [
        ("Generating plot 1 / 1", (0, 2)),
        ("Running Phase 1", (1, 0)),
        ("Finished f1 generation", (1, 1)),
        *[(f"Table {t}\n", (1, t)) for t in range(2, 8)],
        ("Finished Phase 1 in", (2, 0)),
        *[(f"Finished marking table {t} ", (2, 7 - t)) for t in range(6, 1, -1)],
        ("Finished Phase 2 in", (3, 0)),
        *[(f"Compressing tables {t} and {t + 1}.", (3, t)) for t in range(1, 7)],
        ("Writing P7 parks.", (3, 7)),
        ("Finished Phase 3 in", (4, 0)),
        ("Waiting for plot file to complete pending writes", (5, 1)),
        ("Finished plotting in", (5, 2)),  # 2.0 logs no rename: its last line ends the plot
    ],
    # A window from plot 48: recognised at its first line ("Generating plot N / M: <id>").
    "bladebit_cuda-3.0.0a4.3-c1-plot48-partial.plot.log": [("Generating plot 48", (0, 2)), *CUDA_PHASES_1_2],
    "bladebit_cuda-3.1.0-c7-disk128-plot14of90-partial.plot.log": [
        ("Generating plot 14", (0, 2)), *CUDA_PHASES_1_2, ("Compressing tables 3 and 4", (3, 3)),
    ],
    "bladebit_cuda-3.1.0-c3-disk128-header-partial.plot.log": [("Allocating buffers", (0, 1))],
    # The tail of a finished plot: recognised at "Serializing P7 entries".
    "bladebit_cuda-3.0.0a3-c0-tail.plot.log": [
        ("Serializing P7 entries", (3, 7)),
        ("Completed Phase 3 in", (4, 0)),
        ("Completed Plot 1 in", (5, 1)),
        (".plot.tmp -> ", (5, 2)),
    ],
}

HAND_WRITTEN = {
    "bladebit-2.0.1-ramplot.log": [
        ("Allocating buffers", (0, 1)),
        ("Generating plot 1 / 1", (0, 2)),
        ("Running Phase 1", (1, 0)),
        ("Finished F1 generation", (1, 1)),
        *[(f"Forward propagating to table {t}", (1, t)) for t in range(2, 8)],
        ("Finished Phase 1 in", (2, 0)),
        *[(f"Prunning table {t}", (2, 7 - t)) for t in range(6, 1, -1)],
        ("Finished Phase 2 in", (3, 0)),
        *[(f"Compressing tables {t} and {t + 1}", (3, t)) for t in range(1, 7)],
        ("Finished Phase 3 in", (4, 0)),
        ("  Writing P7.", (4, 1)),
        ("  Writing C1 table", (4, 2)),
        ("  Writing C2 table", (4, 3)),
        ("  Writing C3 table", (4, 4)),
        ("Finished Phase 4 in", (5, 0)),
        ("Writing final plot tables to disk", (5, 1)),
        (".plot.tmp -> ", (5, 2)),
    ],
    "bladebit-3.1.0-cudaplot-c07.log": [
        ("Allocating buffers", (0, 1)),
        ("Generating plot 1 / 1", (0, 2)),
        *CUDA_PHASES_1_2,
        *[(f"Compressing tables {t} and {t + 1}", (3, t)) for t in range(3, 7)],
        ("Serializing P7 entries", (3, 7)),
        ("Completed Phase 3 in", (4, 0)),
        ("Completed Plot 1 in", (5, 1)),
        (".plot.tmp -> ", (5, 2)),
    ],
}

needs_reference = pytest.mark.skipif(
    not REFERENCE_GPU_LOGS.is_dir(), reason=f"reference logs not found beside the clone: {REFERENCE_GPU_LOGS}"
)


@needs_reference
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_log_phase_after_every_line(name):
    info = check_line_by_line((REFERENCE_GPU_LOGS / name).read_bytes(), REFERENCE[name])
    assert info.plotter == "bladebit"


@needs_reference
@pytest.mark.parametrize("size", CHUNK_SIZES)
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_log_phase_after_every_chunk(name, size):
    check_in_chunks((REFERENCE_GPU_LOGS / name).read_bytes(), REFERENCE[name], size)


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_hand_written_log_phase_after_every_line(name):
    info = check_line_by_line((LOGS / name).read_bytes(), HAND_WRITTEN[name])
    assert info.plotter == "bladebit" and info.completed


@pytest.mark.parametrize("size", CHUNK_SIZES)
@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_hand_written_log_phase_after_every_chunk(name, size):
    check_in_chunks((LOGS / name).read_bytes(), HAND_WRITTEN[name], size)
