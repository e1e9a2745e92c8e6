"""scripts/watch's screen: a Textual app over one state object that a background worker refreshes.

Keys never wait on the network: a refresh, a suspend, a kill all run in worker threads and
report back into the state; the screen only ever draws the state. Destructive actions (kill)
confirm first, listing what they delete.
"""

from __future__ import annotations

import contextlib
import getpass
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ansible_collections.plotfleet.fleet.plugins.module_utils.units import human_bytes, human_seconds
from ansible_collections.plotfleet.fleet.plugins.plugin_utils import fleetview
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.census import render_census
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.watch import (
    LinkError,
    RequestFailed,
    Target,
    Watcher,
    load_targets,
    status_report,
)

HELP_WIDE = ("↑↓/jk select  s suspend  r resume  K kill  p pause plotting  a pause archiving  "
             "f host filter  R refresh  ? help  q quit")
HELP_NARROW = "jk select s susp r resume K kill p/a pause plot/arch f host ? help q quit"
HELP_TEXT = """plotfleet dashboard: keys

  ↑ ↓  j k     move the selection over the jobs
  s            suspend the selected job (at once)
  r            resume the selected job (at once)
  K            kill the selected job: asks first, listing its temp files
  p            pause / resume automatic plotting on the host
  a            pause / resume automatic archiving on the host
               (the host filtered to with f, else the selected job's)
  f            show one host (again: the next one; Esc: all hosts)
  R            refresh now
  ?            this help (any key closes it)
  q            quit

Pauses are files on the host (paused-plotting, paused-archiving beside
plotfleet.yml): plot.yml and archive.yml start nothing there, status.yml
shows them. Running jobs and transfers go on."""

JOB_COLUMNS = (  # key, label, width, shown from this terminal width on
    ("host", "HOST", 10, 0), ("plot", "PLOT", 8, 0), ("phase", "PHASE", 5, 0), ("progress", "PROGRESS", 15, 0),
    ("left", "LEFT", 5, 0), ("state", "STATE", 9, 0), ("wall", "WALL", 7, 100), ("tmp_used", "TMP USED", 9, 100),
    ("k", "K", 2, 100), ("pid", "PID", 7, 120), ("dirs", "TMP -> DST", 40, 160),
)
LOG_LINES = 4


@dataclass
class DashboardState:
    """Everything the screen shows; written only on the app's thread."""

    targets: list[Target] = field(default_factory=list)
    results: dict[str, dict] = field(default_factory=dict)
    refreshed_at: float | None = None
    refresh_seconds: float | None = None
    log: deque = field(default_factory=lambda: deque(maxlen=500))
    host_filter: str | None = None
    busy: str | None = None  # the action in flight, shown in the summary line
    report: dict | None = None  # status.yml's report of the last refresh (report.fleet_report)
    status: str = "reading the inventory…"

    def add_log(self, line: str, when: float | None = None) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S', time.localtime(when or time.time()))} {line}")

    @property
    def hosts(self) -> list[str]:
        return [t.name for t in self.targets]

    def visible(self) -> list[str]:
        return fleetview.visible_hosts(self.hosts, self.host_filter)

    def target(self, host: str) -> Target | None:
        return next((t for t in self.targets if t.name == host), None)


class ConfirmKill(ModalScreen[bool]):
    BINDINGS: ClassVar = [Binding("y", "answer(True)", "kill"), Binding("n", "answer(False)", "cancel"),
                Binding("escape", "answer(False)", "cancel")]
    DEFAULT_CSS = """
    ConfirmKill { align: center middle; }
    ConfirmKill > VerticalScroll { width: 90%; max-height: 90%; height: auto; border: heavy $error;
                                   background: $surface; padding: 0 1; }
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(self.text), id="confirm-text")  # plain text: paths may hold "[...]"

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-height: 90%; height: auto; border: round $accent;
                                  background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(HELP_TEXT)

    def on_key(self, event) -> None:
        event.stop()
        self.dismiss(None)


class Dashboard(App):
    TITLE = "plotfleet"
    CSS = """
    Screen { layout: vertical; }
    #summary { height: 1; background: $primary-background; }
    #jobs { height: auto; max-height: 45%; }
    #details { height: 1fr; }
    #log { height: 5; border-top: solid $primary; }
    #help { height: 1; background: $primary-background; }
    #summary, #details-text, #log, #help { text-wrap: nowrap; text-overflow: ellipsis; }
    """
    BINDINGS: ClassVar = [
        Binding("j", "down", "down", show=False), Binding("k", "up", "up", show=False),
        Binding("s", "control('suspended')", "suspend"), Binding("r", "control('running')", "resume"),
        Binding("K", "kill", "kill"), Binding("p", "pause('plotting')", "pause plotting"),
        Binding("a", "pause('archiving')", "pause archiving"), Binding("f", "filter", "host filter"),
        Binding("escape", "unfilter", "all hosts", show=False), Binding("R", "refresh_now", "refresh"),
        Binding("question_mark", "help", "help"), Binding("q", "quit", "quit"),
    ]

    def __init__(self, inventory: str, interval: float, host_filter: str | None = None,
                 watcher: Watcher | None = None) -> None:
        super().__init__()
        self.inventory = inventory
        self.interval = interval
        self.state = DashboardState(host_filter=host_filter)
        self.watcher = watcher
        self.rates = fleetview.RateMeter()
        self._wake = threading.Event()
        self._columns: tuple[str, ...] = ()
        self._row_keys: list[str] = []
        self._jobs_by_key: dict[str, tuple[str, dict]] = {}
        self.operator = f"{getpass.getuser()}@{socket.gethostname()}"

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        with Vertical():
            yield DataTable(id="jobs", cursor_type="row", zebra_stripes=False)
            yield VerticalScroll(Static(id="details-text"), id="details")
        yield Static(id="log")
        yield Static(id="help")

    def on_mount(self) -> None:
        self.state.add_log("dashboard opened")
        self._set_columns()
        self.redraw()
        self.refresh_loop()

    def on_resize(self, event) -> None:
        self._set_columns(event.size.width)
        self.redraw()

    def _set_columns(self, width: int | None = None) -> None:
        width = width or self.size.width or 80
        wanted = tuple(key for key, _, _, minimum in JOB_COLUMNS if width >= minimum)
        if wanted == self._columns:
            return
        table = self.query_one("#jobs", DataTable)
        table.clear(columns=True)
        for key, label, size, _ in JOB_COLUMNS:
            if key in wanted:
                table.add_column(label, width=size, key=key)
        self._columns = wanted
        self._row_keys = []

    # -- the background refresh -------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="refresh")
    def refresh_loop(self) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        if self.watcher is None:
            try:
                targets = load_targets(self.inventory)
            except Exception as err:  # a broken inventory: say so on the screen
                self.call_from_thread(self._set_status, f"cannot read the inventory {self.inventory}: {err}")
                return
            self.watcher = Watcher(targets)
        self.call_from_thread(self._set_targets, self.watcher.targets)
        while not worker.is_cancelled:
            started = time.monotonic()
            results = self.watcher.refresh()
            took = time.monotonic() - started
            if worker.is_cancelled:
                return
            self.call_from_thread(self._apply, results, took)
            self._wake.wait(max(0.0, self.interval - took))
            self._wake.clear()

    def _set_status(self, text: str) -> None:
        self.state.status = text
        self.redraw()

    def _set_targets(self, targets: list[Target]) -> None:
        self.state.targets = list(targets)
        self.state.status = f"connecting to {len(targets)} hosts…"
        self.redraw()

    def _apply(self, results: dict[str, dict], took: float) -> None:
        previous = self.state.results if self.state.refreshed_at is not None else None
        for line in fleetview.events_between(previous, results):
            self.state.add_log(line)
        self.state.results = results
        try:
            self.state.report = status_report(self.state.targets, results)
        except Exception as err:  # the plan must never take the screen down: show the rest without it
            self.state.report = status_report(self.state.targets, results, with_plan=False)
            self.state.add_log(f"archive plan not computed: {type(err).__name__}: {err}")
        self.state.refreshed_at = time.time()
        self.state.refresh_seconds = took
        self.redraw()

    def action_refresh_now(self) -> None:
        self._wake.set()

    # -- drawing --------------------------------------------------------------------------------

    def redraw(self) -> None:
        self._draw_summary()
        self._draw_jobs()
        self.query_one("#details-text", Static).update(self._details())
        lines = list(self.state.log)[-LOG_LINES:]
        self.query_one("#log", Static).update(Text("\n".join(lines), no_wrap=True, overflow="ellipsis"))
        width = self.size.width or 80
        help_line = HELP_WIDE if width >= len(HELP_WIDE) else HELP_NARROW
        self.query_one("#help", Static).update(Text(help_line, no_wrap=True, overflow="ellipsis"))

    def _draw_summary(self) -> None:
        state = self.state
        parts = ["plotfleet"]
        if state.host_filter:
            parts.append(f"[host {state.host_filter}]")
        if state.busy:
            parts.append(state.busy)
        if state.report is None:
            parts.append(state.status)
        else:
            s = state.report["summary"]
            stamp = time.strftime("%H:%M:%S", time.localtime(state.refreshed_at))
            parts += [f"{stamp} {state.refresh_seconds:.2f}s", f"{len(state.targets)} hosts", f"{s['jobs']} jobs",
                      f"{s['plots_waiting']} waiting", f"{s['transfers']} xfers",
                      f"{human_bytes(s['archive_free_bytes'])} free"]
            if s["hosts_down"]:
                parts.append(f"{len(set(s['hosts_down']))} DOWN")
        self.query_one("#summary", Static).update(Text(" ".join(parts), no_wrap=True, overflow="ellipsis"))

    def _job_rows(self) -> list[tuple[str, str, dict, dict]]:
        rows = []
        for host in self.state.visible():
            snap = self.state.results.get(host) or {}
            plotter = snap.get("plotter") or {}
            for job in plotter.get("jobs") or []:
                rows.append((fleetview.job_key(host, job), host, job, plotter.get("history") or {}))
        return rows

    def _cells(self, host: str, job: dict, history: dict) -> dict[str, Any]:
        progress = fleetview.job_progress(job, history)
        percent = "" if progress.fraction is None else f" {progress.fraction * 100:3.0f}%"
        state = job.get("state") or ""
        return {
            "host": host, "plot": fleetview.job_label(job), "phase": job.get("phase_text") or "?:?",
            "progress": fleetview.bar(progress.fraction) + percent,
            "left": fleetview.short_duration(progress.remaining_seconds),
            "state": Text(state.upper(), style="bold yellow") if state == "suspended" else state,
            "wall": human_seconds(job.get("wall_seconds")), "tmp_used": human_bytes(job.get("tmp_bytes")),
            "k": str(job.get("k") or ""), "pid": str(job.get("pid")),
            "dirs": f"{job.get('tmp_dir')} -> {job.get('dst_dir')}",
        }

    def _draw_jobs(self) -> None:
        table = self.query_one("#jobs", DataTable)
        rows = self._job_rows()
        self._jobs_by_key = {key: (host, job) for key, host, job, _ in rows}
        keys = [key for key, *_ in rows]
        selected = self.selected_key()
        if keys != self._row_keys:
            table.clear()
            for key, host, job, history in rows:
                cells = self._cells(host, job, history)
                table.add_row(*(cells[c] for c in self._columns), key=key)
            self._row_keys = keys
            if selected in keys:
                table.move_cursor(row=keys.index(selected), animate=False)
        else:
            for key, host, job, history in rows:
                cells = self._cells(host, job, history)
                for column in self._columns:
                    table.update_cell(key, column, cells[column])
        table.border_title = None

    def selected_key(self) -> str | None:
        table = self.query_one("#jobs", DataTable)
        if not table.row_count:
            return None
        with contextlib.suppress(Exception):
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        return None

    def selected_job(self) -> tuple[str, dict] | None:
        key = self.selected_key()
        return self._jobs_by_key.get(key) if key else None

    def _details(self) -> Text:
        state = self.state
        text = Text(no_wrap=True, overflow="ellipsis")
        if state.refreshed_at is None:
            if not self._jobs_by_key:
                text.append("(waiting for the first refresh)\n", style="dim")
            return text
        if not self._jobs_by_key:
            text.append("  (no plot jobs)\n", style="dim")
        visible = state.visible()
        now = time.time()
        received = fleetview.incoming_by_name(state.results)
        transfers, keys = [], set()
        for host in visible:
            for t in ((state.results.get(host) or {}).get("plotter") or {}).get("transfers") or []:
                key = (host, t.get("pid"), t.get("source"))
                keys.add(key)
                transfers.append((host, t, self.rates.progress(key, t, received, now)))
        self.rates.forget_except(keys)
        text.append("TRANSFERS\n", style="bold")
        if not transfers:
            text.append("  (none running)\n", style="dim")
        for host, t, p in transfers:
            name = str(t.get("source") or "").rsplit("/", 1)[-1]
            amount = f"{human_bytes(p.done_bytes)}/{human_bytes(p.total_bytes)}" if p.done_bytes is not None \
                else human_bytes(p.total_bytes)
            rate = f" {human_bytes(p.rate)}/s" if p.rate else ""
            text.append(f"  {host} {fleetview.bar(p.fraction, 8)} {_pct(p.fraction)} {amount}{rate} "
                        f"{name[:24]}… -> {t.get('host')}::{t.get('module')}\n")
        text.append("PLOTTER DIRS\n", style="bold")
        for host in visible:
            plotter = (state.results.get(host) or {}).get("plotter") or {}
            for kind in ("tmp", "dst"):
                for d in plotter.get(f"{kind}_dirs") or []:
                    if d.get("error"):
                        text.append(f"  {host} {kind} {d.get('path')}: {d.get('error')}\n", style="red")
                        continue
                    ready = f", {d.get('plot_count', 0)} ready" if kind == "dst" else ""
                    text.append(f"  {host} {kind} {fleetview.bar(fleetview.fill(d), 8)} {_pct(fleetview.fill(d))} "
                                f"{human_bytes(d.get('free_bytes'))} free, {len(d.get('jobs') or [])} jobs{ready} "
                                f"{d.get('path')}\n")
        text.append("HARVESTERS\n", style="bold")
        for host in visible:
            harvester = (state.results.get(host) or {}).get("harvester") or {}
            for d in harvester.get("archive_dirs") or []:
                if d.get("error"):
                    text.append(f"  {host} {d.get('path')}: {d.get('error')}\n", style="red")
                    continue
                incoming = len(d.get("incoming") or [])
                census = fleetview.census_text(d)
                text.append(f"  {host} {fleetview.bar(fleetview.fill(d), 8)} {_pct(fleetview.fill(d))} "
                            f"{human_bytes(d.get('free_bytes'))} free, {d.get('plots', 0)} plots"
                            f"{f', {incoming} in' if incoming else ''} {d.get('path')}"
                            f"{f' [{census}]' if census else ''}\n")
        paused = []
        for host in visible:
            for kind, flag in (((state.results.get(host) or {}).get("plotter") or {}).get("paused") or {}).items():
                if flag:
                    since = time.strftime("%m-%d %H:%M", time.localtime(flag["since"])) if flag.get("since") else "?"
                    paused.append(f"  {host}: {kind} PAUSED by {flag.get('by') or '?'} since {since}\n")
        if paused:
            text.append("PAUSED\n", style="bold yellow")
            for line in paused:
                text.append(line, style="yellow")
        report = state.report or {}
        plan = (report.get("archive") or {}).get("summary") or []
        if plan and state.host_filter is None:
            text.append("ARCHIVING (what archive.yml would do now)\n", style="bold")
            for line in plan:
                text.append(f"  {line}\n")
        if report.get("census") and state.host_filter is None:
            text.append("REPLOT\n", style="bold")
            text.append(render_census(report["census"], indent="  ") + "\n")
        down = [p for p in report.get("problems") or []
                if state.host_filter is None or f" {state.host_filter}:" in p]
        if down:
            text.append("HOSTS NOT REPORTING\n", style="bold red")
            for line in down:
                text.append(f"  {line.splitlines()[0]}\n", style="red")
        return text

    # -- keys -----------------------------------------------------------------------------------

    def action_down(self) -> None:
        self.query_one("#jobs", DataTable).action_cursor_down()

    def action_up(self) -> None:
        self.query_one("#jobs", DataTable).action_cursor_up()

    def action_filter(self) -> None:
        hosts = self.state.hosts
        if not hosts:
            return
        current = self.state.host_filter
        index = hosts.index(current) + 1 if current in hosts else 0
        self.state.host_filter = hosts[index] if index < len(hosts) else None
        self.redraw()

    def action_unfilter(self) -> None:
        self.state.host_filter = None
        self.redraw()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def _job_request(self, job: dict) -> dict:
        return {"plot_id": job.get("plot_id") or f"pid:{job.get('pid')}", "pid": job.get("pid")}

    def action_control(self, wanted: str) -> None:
        selected = self.selected_job()
        if selected is None:
            self.notify("no job selected", severity="warning")
            return
        host, job = selected
        self._control(host, job, wanted)

    @work(thread=True, group="actions")
    def _control(self, host: str, job: dict, wanted: str, force: bool = False) -> None:
        verb = {"suspended": "suspend", "running": "resume", "killed": "kill"}[wanted]
        done = {"suspended": "suspended", "running": "resumed", "killed": "killed"}[wanted]
        label = fleetview.job_label(job)
        self.call_from_thread(self._busy, f"{verb} {label}…")
        config = self.state.target(host).roles.get("plotter")
        try:
            record = self.watcher.request(host, "control", config=config, state=wanted, force=force,
                                          **self._job_request(job))
            line = f"{host}: you {done} job {label}"
            if wanted == "killed":
                line += f" ({len(record.get('removed_files') or [])} temp files removed)"
            elif not record.get("changed", True):
                line = f"{host}: job {label} was already {wanted}"
        except (LinkError, RequestFailed) as err:
            line = f"{host}: {verb} {label} FAILED: {err}"
        self.call_from_thread(self._done, line)

    def action_kill(self) -> None:
        selected = self.selected_job()
        if selected is None:
            self.notify("no job selected", severity="warning")
            return
        host, job = selected
        self._preview_kill(host, job)

    @work(thread=True, group="actions")
    def _preview_kill(self, host: str, job: dict) -> None:
        label = fleetview.job_label(job)
        self.call_from_thread(self._busy, f"listing the temp files of {label}…")
        config = self.state.target(host).roles.get("plotter")
        try:
            preview = self.watcher.request(host, "control", config=config, state="killed", check=True,
                                           **self._job_request(job))
        except (LinkError, RequestFailed) as err:
            self.call_from_thread(self._done, f"{host}: kill {label} refused: {err}")
            return
        files = preview.get("removed_files") or []
        text = (f"Kill job {label} on {host}? (pid {job.get('pid')}, phase {job.get('phase_text')}, "
                f"{job.get('state')})\n\nIt deletes these {len(files)} temp files:\n"
                + "".join(f"  {path}\n" for path in files)
                + "\n[y] kill   [n / Esc] keep it running")
        self.call_from_thread(self._confirm_kill, host, job, text)

    def _confirm_kill(self, host: str, job: dict, text: str) -> None:
        self.state.busy = None

        def decided(answer: bool | None) -> None:
            if answer:
                self._control(host, job, "killed")
            else:
                self.state.add_log(f"{host}: kill of {fleetview.job_label(job)} cancelled")
                self.redraw()

        self.push_screen(ConfirmKill(text), decided)

    def action_pause(self, kind: str) -> None:
        host = self.state.host_filter
        if host is None:
            selected = self.selected_job()
            host = selected[0] if selected else None
        target = self.state.target(host) if host else None
        if target is None or "plotter" not in target.roles:
            self.notify("pick a plotter first: f filters to a host (or select one of its jobs)", severity="warning")
            return
        plotter = (self.state.results.get(host) or {}).get("plotter") or {}
        flag = (plotter.get("paused") or {}).get(kind)
        self._pause(host, kind, not flag)

    @work(thread=True, group="actions")
    def _pause(self, host: str, kind: str, paused: bool) -> None:
        verb = "paused" if paused else "resumed"
        self.call_from_thread(self._busy, f"{kind} {verb[:-1]}ing on {host}…")
        config = self.state.target(host).roles.get("plotter")
        try:
            self.watcher.request(host, "pause", config=config, kind=kind, paused=paused, by=self.operator)
            line = f"{host}: you {verb} {kind}"
        except (LinkError, RequestFailed) as err:
            line = f"{host}: {kind} not {verb}: {err}"
        self.call_from_thread(self._done, line)

    def _busy(self, text: str) -> None:
        self.state.busy = text
        self._draw_summary()

    def _done(self, line: str) -> None:
        self.state.busy = None
        self.state.add_log(line)
        self.redraw()
        self._wake.set()  # show the outcome at once

    def on_unmount(self) -> None:
        self._wake.set()
        if self.watcher is not None:
            self.watcher.close()


def _pct(fraction: float | None) -> str:
    return "  ?%" if fraction is None else f"{fraction * 100:3.0f}%"


def run_dashboard(inventory: str, interval: float, host_filter: str | None = None) -> int:
    # Ansible is set up before the screen takes the terminal (its display module reads it at import).
    targets = load_targets(inventory)
    if not targets:
        print(f"watch: the inventory {inventory} has no hosts in the plotters or harvesters groups")
        return 2
    if host_filter is not None and host_filter not in [t.name for t in targets]:
        print(f"watch: --host {host_filter} is not a plotter or harvester of {inventory}")
        return 2
    Dashboard(inventory, interval, host_filter, Watcher(targets)).run()
    return 0


