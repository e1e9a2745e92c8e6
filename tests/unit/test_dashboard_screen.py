"""The dashboard's screen through Textual's own test pilot, over a fake fleet (no hosts, no network):
80x24 and wider, selection, the kill confirmation and what each key asks the hosts."""

from __future__ import annotations

import asyncio
import threading

from ansible_collections.plotfleet.fleet.plugins.plugin_utils.dashboard import Dashboard
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.watch import Target

ID_A, ID_B = "ab" * 32, "cd" * 32


def job(plot_id, pid, phase=(2, 3), state="running"):
    return {"plot_id": plot_id, "pid": pid, "plotter": "chia", "k": 32, "phase": {"major": phase[0], "minor": phase[1]},
            "phase_text": f"{phase[0]}:{phase[1]}", "wall_seconds": 3600.0, "state": state, "tmp_bytes": 2 ** 30,
            "tmp_dir": "/mnt/tmp0", "dst_dir": "/mnt/dst0"}


class FakeWatcher:
    """Answers like the hosts' agents would; records what was asked."""

    def __init__(self) -> None:
        self.targets = [Target("p1", {"plotter": "/etc/plotfleet/plotfleet.yml"}),
                        Target("p2", {"plotter": "/etc/plotfleet/plotfleet.yml"}),
                        Target("h1", {"harvester": "/etc/plotfleet/harvester.yml"})]
        self.asked: list[tuple] = []
        self.lock = threading.Lock()
        self.jobs = {"p1": [job(ID_A, 11)], "p2": [job(ID_B, 22, (1, 4))]}
        self.paused: dict[str, dict] = {"p1": {"plotting": None, "archiving": None},
                                        "p2": {"plotting": None, "archiving": None}}

    def refresh(self):
        with self.lock:
            plotters = {host: {"plotter": {"jobs": [dict(j) for j in jobs], "transfers": [],
                                           "tmp_dirs": [{"path": "/mnt/tmp0", "free_bytes": 10, "total_bytes": 40,
                                                         "jobs": []}], "dst_dirs": [],
                                           "paused": dict(self.paused[host]), "history": {}}}
                        for host, jobs in self.jobs.items()}
        return {**plotters, "h1": {"harvester": {"archive_dirs": [{"path": "/a0", "free_bytes": 1, "total_bytes": 4,
                                                                   "plots": 3, "incoming": []}], "host": {}}}}

    def request(self, host, op, timeout=90.0, **args):
        with self.lock:
            self.asked.append((host, op, args))
            if op == "pause":
                self.paused[host][args["kind"]] = {"since": 1.0, "by": args["by"]} if args["paused"] else None
                return {"changed": True}
            if args.get("check"):
                return {"removed_files": ["/mnt/tmp0/plot-k32-x.plot.table1.tmp", "/mnt/tmp0/plot-k32-x.plot.sort.tmp"]}
            for candidate in self.jobs[host]:
                if candidate["pid"] == args["pid"]:
                    if args["state"] == "killed":
                        self.jobs[host].remove(candidate)
                        return {"removed_files": ["a", "b"], "changed": True}
                    candidate["state"] = args["state"]
            return {"changed": True}

    def close(self):
        pass


async def settle(pilot, predicate, what: str, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_keys_ask_the_hosts_and_the_screen_follows():
    fake = FakeWatcher()

    async def scenario():
        app = Dashboard("inventory", 0.2, watcher=fake)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, lambda: app.state.refreshed_at is not None and app.query_one("#jobs").row_count == 2,
                         "the first refresh")
            assert app.selected_job()[0] == "p1"
            await pilot.press("j")
            assert app.selected_job()[0] == "p2"
            await pilot.press("s")
            await settle(pilot, lambda: any(op == "control" for _, op, _ in fake.asked), "the suspend request")
            assert fake.asked[-1] == ("p2", "control", {"config": "/etc/plotfleet/plotfleet.yml", "state": "suspended",
                                                        "force": False, "plot_id": ID_B, "pid": 22})
            await settle(pilot, lambda: any("you suspended job cdcdcdcd" in line for line in app.state.log),
                         "the action log line")
            await settle(pilot, lambda: app.selected_job() and app.selected_job()[1]["state"] == "suspended",
                         "the suspended state on screen")
            assert app.selected_job()[0] == "p2"  # the selection stays on its job across refreshes
            await pilot.press("K")
            await settle(pilot, lambda: app.screen.__class__.__name__ == "ConfirmKill", "the confirmation")
            text = str(app.screen.query_one("#confirm-text").render())
            assert "Kill job cdcdcdcd on p2?" in text and "plot-k32-x.plot.table1.tmp" in text
            assert "[y] kill   [n / Esc] keep it running" in text
            assert fake.jobs["p2"], "nothing is killed before the answer"
            await pilot.press("y")
            await settle(pilot, lambda: not fake.jobs["p2"], "the kill")
            await settle(pilot, lambda: any("you killed job cdcdcdcd (2 temp files removed)" in line
                                            for line in app.state.log), "the kill in the log")
            await pilot.press("f", "f")  # p1, then p2
            assert app.state.host_filter == "p2"
            await pilot.press("p")
            await settle(pilot, lambda: fake.paused["p2"]["plotting"], "the pause")
            await settle(pilot, lambda: any("p2: plotting paused" in line for line in app.state.log),
                         "the pause seen at the next refresh")
            await pilot.press("escape")
            assert app.state.host_filter is None
            await pilot.resize_terminal(170, 40)
            await pilot.pause(0.2)
            assert "dirs" in app._columns and "wall" in app._columns
            await pilot.resize_terminal(80, 24)
            await pilot.pause(0.2)
            assert "wall" not in app._columns
            await pilot.press("q")

    asyncio.run(scenario())
