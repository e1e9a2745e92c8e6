"""The live dashboard's agent on a host: answers requests, one JSON document per line.

``scripts/watch`` (plugin_utils/watch.py) starts it once per host over the operator's own SSH
(or locally), sends it this package as a zip on stdin (the bootstrap there imports it from a
private ``mkdtemp`` dir) and then writes requests, one JSON object per line::

    {"id": 1, "op": "snapshot", "plotter": "/etc/plotfleet/plotfleet.yml", "harvester": null}
    {"id": 2, "op": "control", "config": "...", "plot_id": "ce02...", "pid": 2699, "state": "suspended"}
    {"id": 3, "op": "pause", "config": "...", "kind": "plotting", "paused": true, "by": "alice@ops1"}

Each answer is ``{"id": N, "ok": true, "result": {...}}`` or ``{"id": N, "ok": false, "msg": "..."}``,
never a traceback. Requests run in threads, so a kill waiting for its job to end never holds up
the next refresh. The agent ends when its stdin closes (the dashboard quit or the link broke).

What a snapshot holds is what status.yml's ``plotfleet_host_info`` returns -- a plotter's and a
harvester's read, from the same code (hostread.py) -- plus the plotter's past runs from its logs
(progress.py) for the estimates of the jobs' ends.
Job control is ``plotfleet_job``'s own logic (control.act).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.hostread import (
    plotter_config,
    read_harvester,
    read_role,
)

PROTOCOL = 1


class Agent:
    def __init__(self, out=None) -> None:
        self.out = out or sys.stdout
        self._write_lock = threading.Lock()
        self._history = None
        self._history_lock = threading.Lock()

    # -- requests -------------------------------------------------------------------------

    def snapshot(self, request: dict) -> dict:
        started = time.monotonic()
        result: dict[str, Any] = {}
        if request.get("plotter"):
            result["plotter"], _warnings = read_role(self._plotter, request["plotter"])
        if request.get("harvester"):
            result["harvester"], _warnings = read_role(read_harvester, request["harvester"])
        result["seconds"] = round(time.monotonic() - started, 4)
        return result

    def _plotter(self, config_path: str) -> tuple[dict, list[str]]:
        """What plotfleet_jobs_info says, plus the past runs in the plotter's logs."""
        from ansible_collections.plotfleet.fleet.plugins.module_utils.state import plotter_info

        config, notices = plotter_config(config_path)
        info = plotter_info(config, config_path)
        running_logs = {job.get("log_file") for job in info["jobs"]}
        with self._history_lock:
            if self._history is None:
                from ansible_collections.plotfleet.fleet.plugins.module_utils.progress import LogHistory

                self._history = LogHistory()
            info["history"] = self._history.summary(config.logging.plots, skip=running_logs)
        return info, notices

    def control(self, request: dict) -> dict:
        """Suspend, resume or kill one job, exactly as plotfleet_job does; ``check`` previews
        (for a kill: the temp files it would delete)."""
        from ansible_collections.plotfleet.fleet.plugins.module_utils.control import (
            ControlError,
            act,
            kill_refusal,
            resolve_prefix,
        )
        from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import discover_jobs

        config, _notices = plotter_config(request["config"])
        wanted = request["state"]
        if wanted not in ("suspended", "running", "killed"):
            raise ControlError(f"state must be suspended, running or killed, got {wanted!r}")
        job = resolve_prefix(discover_jobs(config.logging.plots), request["plot_id"])
        if request.get("pid") is not None and job.pid != request["pid"]:
            raise ControlError(f"{job.label} is now pid {job.pid}, not {request['pid']}: refresh and try again")
        if wanted == "killed" and not request.get("force"):
            refusal = kill_refusal(job)
            if refusal:
                raise ControlError(refusal)
        record = act(job, wanted, bool(request.get("check")), float(request.get("kill_timeout", 30)))
        record["label"] = job.label
        return record

    @staticmethod
    def pause(request: dict) -> dict:
        from ansible_collections.plotfleet.fleet.plugins.module_utils.pause import pauses, set_pause

        changed = set_pause(request["config"], request["kind"], bool(request["paused"]), request.get("by"))
        return {"changed": changed, "paused": pauses(request["config"])}

    # -- the loop ---------------------------------------------------------------------------

    def handle(self, line: bytes) -> None:
        try:
            request = json.loads(line)
        except ValueError:
            self.send({"id": None, "ok": False, "msg": "not a JSON request"})
            return
        ident = request.get("id")
        operations = {"snapshot": self.snapshot, "control": self.control, "pause": self.pause}
        operation = operations.get(request.get("op"))
        if operation is None:
            self.send({"id": ident, "ok": False, "msg": f"unknown op {request.get('op')!r}"})
            return
        try:
            self.send({"id": ident, "ok": True, "result": operation(request)})
        except Exception as err:  # an answer, never a traceback on the wire
            self.send({"id": ident, "ok": False, "msg": str(err) or type(err).__name__})

    def send(self, message: dict) -> None:
        data = json.dumps(message, separators=(",", ":"), default=str)
        with self._write_lock:
            self.out.write(data + "\n")
            self.out.flush()

    def serve(self, stream) -> None:
        self.send({"id": 0, "ok": True, "result": {"ready": True, "protocol": PROTOCOL,
                                                   "python": sys.version.split()[0]}})
        for line in iter(stream.readline, b""):
            if line.strip():
                threading.Thread(target=self.handle, args=(line,), daemon=True).start()
        # stdin closed: let requests in flight (a kill cleaning up) finish before the exit.
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and thread.daemon:
                thread.join(timeout=60)


def main() -> None:
    Agent().serve(sys.stdin.buffer)
