"""Times plotman 0.5.3's job discovery in-process, one measurement per request.

Started once by ``benchmarks/discovery.py`` with ``benchmarks/.venv-plotman/bin/python`` so that
interpreter start-up and imports are not measured. Argument: the log root. Protocol: it writes
one JSON line when ready; then for every line read on stdin it runs
``Job.get_running_jobs(logroot)`` and writes one JSON line with the seconds it took, the pids and
the log files it found. It exits at the end of stdin.
"""

from __future__ import annotations

import json
import sys
import time

import plotman.plotters  # noqa: F401 - get_running_jobs imports it lazily; keep that out of the timing
from plotman.job import Job


def main() -> None:
    logroot = sys.argv[1]
    print(json.dumps({"ready": True}), flush=True)
    for _request in sys.stdin:
        start = time.perf_counter()
        jobs = Job.get_running_jobs(logroot)
        seconds = time.perf_counter() - start
        found = sorted((job.proc.pid, job.logfile) for job in jobs)
        print(json.dumps({"seconds": seconds, "pids": [p for p, _ in found], "logs": [f for _, f in found]}),
              flush=True)


if __name__ == "__main__":
    main()
