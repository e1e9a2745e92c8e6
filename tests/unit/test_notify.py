"""Notifications, the pure parts: claiming and recording events, transfer log endings, hosts not
reporting, the replot deadline, payload presets and delivery with retries (a fake opener)."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.events import (
    Detection,
    EventStore,
    claim,
    count_silence,
    event,
    settle,
    transfer_log_outcome,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.webhook import deliver, payload
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.notify import (
    deadline_events,
    gather,
    notify_settings,
    outcome_for,
)

PLOT_ID = "a2405ffcc508ba0fba753d2e2966422c28f5c9101f3256630453c474af5bfeb3"


def found(*ids: str, scanned: tuple[str, ...] = ("plot_finished:",)) -> Detection:
    detection = Detection()
    for number, event_id in enumerate(ids):
        detection.add(event(event_id, "plot_finished", f"plot finished {number}", "text", 1000.0 + number))
    detection.scanned |= set(scanned)
    return detection


def empty_state() -> dict:
    return {"version": 1, "sent": {}, "claims": {}, "silent": {}}


# --- claims and records -------------------------------------------------------------------------


def test_a_claimed_event_goes_to_one_pass_and_once_recorded_to_none() -> None:
    state = empty_state()
    first, _ = claim(state, found("plot_finished:a", "plot_finished:b"), "p1", 2000, 900, 20)
    second, _ = claim(state, found("plot_finished:a", "plot_finished:b"), "p2", 2001, 900, 20)
    assert [e["id"] for e in first] == ["plot_finished:a", "plot_finished:b"] and second == []
    settle(state, "p1", ["plot_finished:a"], ["plot_finished:b"], 2002)
    third, _ = claim(state, found("plot_finished:a", "plot_finished:b"), "p3", 2003, 900, 20)
    assert [e["id"] for e in third] == ["plot_finished:b"]  # released: the next pass sends it


def test_a_dead_pass_claim_expires_with_its_lease() -> None:
    state = empty_state()
    claim(state, found("plot_finished:a"), "dead", 2000, 900, 20)
    assert claim(state, found("plot_finished:a"), "p2", 2899, 900, 20)[0] == []
    assert [e["id"] for e in claim(state, found("plot_finished:a"), "p3", 2901, 900, 20)[0]] == ["plot_finished:a"]


def test_another_pass_cannot_release_a_claim_it_does_not_hold() -> None:
    state = empty_state()
    claim(state, found("plot_finished:a"), "p1", 2000, 900, 20)
    assert settle(state, "p2", [], ["plot_finished:a"], 2001) == ([], [])
    assert "plot_finished:a" in state["claims"]


def test_at_most_max_events_per_pass_oldest_first_the_rest_wait() -> None:
    state = empty_state()
    taken, waiting = claim(state, found("plot_finished:c", "plot_finished:a", "plot_finished:b"), "p1", 2000, 900, 2)
    assert [e["id"] for e in taken] == ["plot_finished:c", "plot_finished:a"] and waiting == 1


def test_sent_ids_are_forgotten_only_when_their_place_was_read_and_they_are_gone() -> None:
    state = empty_state()
    state["sent"] = {"plot_finished:old": 1000, "dir_nearly_full:/mnt/a": 1000}
    claim(state, found(scanned=("plot_finished:",)), "p1", 2000, 900, 20)
    assert state["sent"] == {"dir_nearly_full:/mnt/a": 1000}  # /mnt/a was not read: kept


def test_kinds_not_wanted_are_never_claimed() -> None:
    state = empty_state()
    assert claim(state, found("plot_finished:a"), "p1", 2000, 900, 20, kinds=("job_failed",))[0] == []


def test_the_state_file_is_written_whole_and_a_corrupt_one_starts_afresh(tmp_path: Path) -> None:
    store = EventStore(str(tmp_path / "notify" / "events.json"))
    with store.transaction() as state:
        claim(state, found("plot_finished:a"), "p1", 2000, 900, 20)
    data = json.loads((tmp_path / "notify" / "events.json").read_text())
    assert list(data["claims"]) == ["plot_finished:a"]
    assert (tmp_path / "notify" / "events.json").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "notify").iterdir() if p.name.endswith(".tmp")] == []
    (tmp_path / "notify" / "events.json").write_text("{half")
    with store.transaction() as state:
        assert state["claims"] == {}
    assert "some events may repeat" in store.warnings[0]


def test_claims_under_the_lock_from_two_threads_give_each_event_to_one(tmp_path: Path) -> None:
    store = EventStore(str(tmp_path / "events.json"))
    ids = [f"plot_finished:{n}" for n in range(50)]
    results: dict[str, list] = {}

    def run(name: str) -> None:
        with store.transaction() as state:
            results[name] = claim(state, found(*ids), name, 2000, 900, 100)[0]

    threads = [threading.Thread(target=run, args=(f"p{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(e["id"] for taken in results.values() for e in taken) == sorted(ids)


# --- how a transfer log ends --------------------------------------------------------------------

STAMP = "2026/12/02 13:31:14 [3365] "


def test_transfer_log_endings() -> None:
    assert transfer_log_outcome("") == ("empty", None)
    assert transfer_log_outcome(f"{STAMP}sending 1 plot(s)\n{STAMP}no plot left to send: done\n")[0] == "done"
    failed = f"{STAMP}sending 1 plot(s)\n{STAMP}rsync failed: the harvester refused the password\n"
    assert transfer_log_outcome(failed) == ("failed", "rsync failed: the harvester refused the password")
    busy = (f"{STAMP}sending 1 plot(s)\n@ERROR: max connections (1) reached -- try again later\n"
            f"{STAMP}rsync failed: rsync exited 5\n")
    assert transfer_log_outcome(busy)[0] == "busy"
    killed = (f"{STAMP}sending 1 plot(s)\n{STAMP}rsync: [sender] failed to connect to 127.0.0.1: Connection refused\n"
              f"{STAMP}rsync error: error in socket IO (code 10)\nTraceback (most recent call last):\n")
    assert transfer_log_outcome(killed) == (
        "unfinished", "the transfer ended without finishing: rsync: [sender] failed to connect to 127.0.0.1: "
                      "Connection refused")
    # A later batch that went well: the log ends well.
    assert transfer_log_outcome(failed + f"{STAMP}sending 1 plot(s)\n{STAMP}no plot left to send: done\n")[0] == "done"


# --- hosts not reporting ------------------------------------------------------------------------


def test_a_host_not_reporting_is_one_event_per_outage_after_n_passes() -> None:
    state = empty_state()
    assert count_silence(state, {"p1": "unreachable: no route", "p2": None}, 1000, 3).events == []
    assert count_silence(state, {"p1": "unreachable: no route"}, 1060, 3).events == []
    third = count_silence(state, {"p1": "unreachable: no route"}, 1120, 3).events
    assert [e["id"] for e in third] == ["host_not_reporting:p1:1000"]
    assert [e["id"] for e in count_silence(state, {"p1": "failed: x"}, 1180, 3).events] == [third[0]["id"]]
    count_silence(state, {"p1": None}, 1240, 3)
    assert state["silent"] == {}
    for when in (1300, 1360, 1420):
        later = count_silence(state, {"p1": "unreachable"}, when, 3).events
    assert [e["id"] for e in later] == ["host_not_reporting:p1:1300"]


# --- the replot deadline ------------------------------------------------------------------------


def _harvester(v1_plots: int, recent_v2: int) -> dict:
    kinds = [{"kind": "v1-k32", "format": "v1", "k": 32, "compression": 0, "family": None, "plots": v1_plots,
              "bytes": v1_plots * 108_000_000_000, "recent_plots": 0, "recent_bytes": 0}]
    if recent_v2:
        kinds.append({"kind": "v2-k28", "format": "v2", "k": 28, "compression": 0, "family": None,
                      "plots": recent_v2, "bytes": recent_v2 * 988_454_028, "recent_plots": recent_v2,
                      "recent_bytes": recent_v2 * 988_454_028})
    census = {"window_seconds": 86400, "since": 0, "kinds": kinds}
    return {"notify_claimed": {"census_dirs": [{"path": "/mnt/a", "error": None, "census": census}], "events": []}}


def test_the_deadline_is_at_risk_when_the_rate_ends_after_it() -> None:
    slow = {"h1": _harvester(1000, 1)}
    now = 1_800_000_000.0  # 2027-01-15
    risk = deadline_events(slow, ["h1"], "v2", "2027-02-01", 0, now=now)
    assert [e["id"] for e in risk["events"]] == ["replot_deadline_at_risk:2027-02-01"]
    assert risk["scanned"] == ["replot_deadline_at_risk:"]
    fast = {"h1": _harvester(10, 1000)}
    assert deadline_events(fast, ["h1"], "v2", "2027-02-01", 0, now=now)["events"] == []
    # One harvester that did not answer: no verdict either way.
    assert deadline_events({**slow, "h2": {"notify_claimed": {"unreachable": True, "msg": "x"}}}, ["h1", "h2"],
                           "v2", "2027-02-01", now=now) == {"events": [], "scanned": []}


# --- settings and what the hosts returned --------------------------------------------------------


def test_settings_name_the_variable_and_never_show_the_url() -> None:
    url = "https://discord.com/api/webhooks/1/TOKEN"
    good = notify_settings({"plotfleet_notify_url": url, "plotfleet_notify_preset": "discord"})
    assert good["enabled"] and good["problems"] == [] and good["preset"] == "discord" and url not in str(good)
    assert not notify_settings({})["enabled"]
    bad = notify_settings({"plotfleet_notify_url": "ftp://TOKEN", "plotfleet_notify_preset": "teams",
                           "plotfleet_notify_events": ["plot_finished", "coffee"], "plotfleet_notify_retries": -1})
    assert "TOKEN" not in str(bad)
    assert [p.split(":")[0] for p in bad["problems"]] == [
        "plotfleet_notify_url", "plotfleet_notify_preset", "plotfleet_notify_events", "plotfleet_notify_retries"]
    short = notify_settings({"plotfleet_notify_url": url, "plotfleet_notify_lease_seconds": "100"})
    assert short["problems"] == ["plotfleet_notify_lease_seconds: must be at least plotfleet_notify_deadline_seconds"
                                 " + 60 (180), got 100"]
    assert notify_settings({"plotfleet_notify_url": url, "plotfleet_notify_retries": "0"})["retries"] == 0


def test_gather_and_outcome_route_each_event_to_its_host() -> None:
    item = event("plot_finished:a", "plot_finished", "t", "x", 1.0)
    hostvars = {"p1": {"notify_claimed": {"events": [item]}}, "p2": {"notify_claimed": {"unreachable": True,
                                                                                           "msg": "timeout"}},
                "p3": {}}
    gathered = gather(hostvars, ["p1", "p2", "p3"])
    assert gathered["reporting"] == {"p1": None, "p2": "unreachable: timeout"}
    assert [(e["host"], e["id"]) for e in gathered["events"]] == [("p1", "plot_finished:a")]
    result = {"delivered": [{"host": "p1", "id": "plot_finished:a"}], "undelivered": []}
    assert outcome_for(result, "p1", [item]) == {"delivered": ["plot_finished:a"], "released": []}
    assert outcome_for({"failed": True, "msg": "boom"}, "p1", [item]) == {"delivered": [],
                                                                          "released": ["plot_finished:a"]}


# --- payloads and delivery ----------------------------------------------------------------------

ITEM = {**event(f"plot_finished:{PLOT_ID}", "plot_finished", "plot finished: a2405ffc (k32, 8h31m)",
                "plot-k32-....plot finished in /mnt/dst0", 1796217819.0, plot_id=PLOT_ID), "host": "plotter01"}


def test_presets() -> None:
    body, headers = payload("generic", ITEM)
    data = json.loads(body)
    assert (data["host"], data["id"], data["kind"], data["at"]) == ("plotter01", ITEM["id"], "plot_finished",
                                                                   "2026-12-02T13:23:39Z")
    assert headers["Content-Type"] == "application/json"
    discord = json.loads(payload("discord", ITEM)[0])
    assert discord["embeds"][0]["title"] == "plotter01: plot finished: a2405ffc (k32, 8h31m)"
    assert discord["allowed_mentions"] == {"parse": []} and "content" not in discord
    slack = json.loads(payload("slack", {**ITEM, "text": "a <b> & c"})[0])
    assert "a &lt;b&gt; &amp; c" in slack["text"]
    body, headers = payload("ntfy", {**ITEM, "title": "plot finished: café"})
    assert body == ITEM["text"].encode() and headers["Title"] == "plotter01: plot finished: café"
    assert headers["Priority"] == "2" and headers["Tags"] == "white_check_mark,plot_finished"
    assert payload("ntfy", {**ITEM, "title": "δ"})[1]["Title"] == "plotter01: ?"


class FakeWeb:
    """An opener answering from a list of statuses (an int, or an exception to raise)."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.requests: list = []

    def __call__(self, request, timeout):
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else 204
        if isinstance(answer, Exception):
            raise answer
        if answer >= 300:
            raise urllib.error.HTTPError(request.full_url, answer, "Service Unavailable",
                                         {"Retry-After": "7"} if answer == 429 else {}, io.BytesIO())
        response = io.BytesIO(b"")
        response.status = answer
        return response


URL = "https://hooks.example/services/T000/B000/SECRETTOKEN"


def test_a_failed_post_is_retried_with_a_doubling_wait() -> None:
    web, waits = FakeWeb(503, 503, 204), []
    result = deliver(URL, "slack", [ITEM], opener=web, sleep=waits.append, backoff=1.0)
    assert result["delivered"] == [{"host": "plotter01", "id": ITEM["id"]}] and waits == [1.0, 2.0]
    assert result["requests"] == 3 and web.requests[0].get_method() == "POST"


def test_retry_after_is_honoured_and_the_wait_is_bounded() -> None:
    waits = []
    deliver(URL, "generic", [ITEM], opener=FakeWeb(429, 204), sleep=waits.append)
    assert waits == [7.0]
    waits = []
    deliver(URL, "generic", [ITEM], opener=FakeWeb(503, 503, 503, 503), sleep=waits.append, backoff=20, retries=3)
    assert waits == [20, 30, 30]


def test_a_receiver_that_stays_down_fails_the_rest_untried_and_never_shows_the_url() -> None:
    second = {**ITEM, "id": "job_failed:x"}
    web = FakeWeb(urllib.error.URLError(f"refused by {URL}"), urllib.error.URLError("refused"))
    result = deliver(URL, "generic", [ITEM, second], opener=web, sleep=lambda s: None, retries=1)
    assert result["delivered"] == [] and len(web.requests) == 2
    assert [f["id"] for f in result["undelivered"]] == [ITEM["id"], "job_failed:x"]
    assert "not tried in this pass" in result["undelivered"][1]["error"]
    assert "SECRETTOKEN" not in json.dumps(result) and "https://hooks.example" in result["undelivered"][0]["error"]


def test_a_rejected_payload_is_not_retried_and_the_others_still_go() -> None:
    web = FakeWeb(400, 204)
    result = deliver(URL, "generic", [ITEM, {**ITEM, "id": "job_failed:x"}], opener=web, sleep=lambda s: None)
    assert [f["id"] for f in result["undelivered"]] == [ITEM["id"]] and "HTTP 400" in result["undelivered"][0]["error"]
    assert result["delivered"] == [{"host": "plotter01", "id": "job_failed:x"}]


def test_the_deadline_bounds_the_whole_pass() -> None:
    clock = iter(range(0, 1000, 10))
    result = deliver(URL, "generic", [ITEM], opener=FakeWeb(503, 503, 503), sleep=lambda s: None,
                     clock=lambda: next(clock), deadline=25)
    assert result["delivered"] == [] and result["requests"] < 3


@pytest.mark.parametrize("preset", ["generic", "discord", "slack", "ntfy"])
def test_every_preset_posts_one_request_per_event(preset: str) -> None:
    web = FakeWeb()
    deliver(URL, preset, [ITEM, {**ITEM, "id": "x"}], opener=web)
    assert len(web.requests) == 2 and all(r.full_url == URL for r in web.requests)
