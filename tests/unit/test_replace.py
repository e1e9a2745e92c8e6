"""Replace on arrival: rules, order, just-enough selection, the harvester's reservation, the planner."""

from __future__ import annotations

import datetime
import os
import threading
from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils import replace
from ansible_collections.plotfleet.fleet.plugins.module_utils.replace import (
    RESERVATION_NAME,
    ReplaceConfigError,
    RoomRequest,
    clear_arrived,
    describe_plot,
    dir_replace_report,
    just_enough,
    make_room,
    parse_replace_config,
    read_reservation,
    replaceable_plots,
)
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.archive import plan_archive
from ansible_collections.plotfleet.fleet.plugins.plugin_utils.replace_plan import replace_outcomes

GIB = 1024**3
NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc).timestamp()  # noqa: UP017


def v1(n: int, k: int = 32, c: str = "", date: str = "2023-01-01-00-00") -> str:
    level = f"-c{c}" if c else ""
    return f"plot-k{k}{level}-{date}-{n:064x}.plot"


def v2(n: int) -> str:
    return f"plot-k28-{n:064x}.plot2"


def config(rules: list, **kwargs: object):
    return parse_replace_config(rules, **kwargs)


# --- names and rules -------------------------------------------------------------------------


def test_plot_kinds_and_dates_from_names() -> None:
    assert describe_plot(v1(1)).kind.label == "v1 k32"
    assert describe_plot(v1(1, c="05")).kind.compression == 5  # Bladebit, zero-padded
    assert describe_plot(v1(1, c="18")).kind.compression == 18  # Gigahorse
    assert describe_plot(v2(1)).kind.format == "v2" and describe_plot(v2(1)).created is None
    assert describe_plot(v1(1)).created == datetime.datetime(2023, 1, 1, tzinfo=datetime.timezone.utc).timestamp()  # noqa: UP017
    assert describe_plot("notes.txt") is None and describe_plot(".plot-k32-x.plot.Ab12Cd") is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rules": [{"format": "v2"}]}, "plotfleet_replace_rules[0].format: v2 is the replot target "
                                    "(plotfleet_replot_target); plots in the target format are never replaced"),
    ({"rules": [{"format": "v3"}]}, "plotfleet_replace_rules[0].format: must be one of v1, v2, got \"v3\""),
    ({"rules": [{"format": "v1"}], "max_per_run": -1},
     "plotfleet_replace_max_per_run: must be an integer >= 0, got -1"),
    ({"rules": [{"format": "v1"}], "target": "v7"}, "plotfleet_replot_target: must be one of v1, v2, got \"v7\""),
    ({"rules": [{"format": "v1", "compresion_below": 7}]},
     "plotfleet_replace_rules[0].compresion_below: unknown key; did you mean compression_below?"),
    ({"rules": [{"name": "everything"}]}, "plotfleet_replace_rules[0]: gives no condition"),
    ({"rules": [{"format": "v1", "older_than": "last year"}]},
     "plotfleet_replace_rules[0].older_than: must be a date (YYYY-MM-DD), got \"last year\""),
    ({"rules": {"format": "v1"}}, "plotfleet_replace_rules: must be a list of rules"),
    ({"rules": [{"format": "v1"}], "order": ["value"]}, "plotfleet_replace_order: unknown key(s) value"),
    ({"rules": [{"format": "v1", "k": "32"}]}, "plotfleet_replace_rules[0].k: must be an integer >= 0 or a list"),
])
def test_bad_config_names_the_key(kwargs: dict, message: str) -> None:
    with pytest.raises(ReplaceConfigError) as raised:
        parse_replace_config(**kwargs)
    assert any(problem.startswith(message) for problem in raised.value.problems), raised.value.problems


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ReplaceConfigError) as raised:
        parse_replace_config([{"format": "v2"}, {"format": "v9"}], max_per_run=-3)
    assert len(raised.value.problems) == 3


def test_module_parameter_names_in_errors() -> None:
    with pytest.raises(ReplaceConfigError, match=r"^rules\[0\]\.format: v2 is the replot target \(target\)"):
        parse_replace_config([{"format": "v2"}], names={"rules": "rules", "target": "target"})


def test_rules_match_format_k_compression_age_and_path() -> None:
    cfg = config([
        {"name": "v1 below C7", "format": "v1", "compression_below": 7},
        {"name": "old k33", "k": [33], "older_than": datetime.date(2024, 1, 1)},
        {"name": "hdd9 anything v1 Gigahorse C18", "compression": 18, "path": "/mnt/hdd9/*"},
        {"name": "a year by mtime", "format": "v1", "older_than_days": 365, "age_from": "mtime"},
    ])
    files = [
        (v1(1, c="05"), 80 * GIB, NOW),  # C5 < 7
        (v1(2, c="07"), 78 * GIB, NOW),  # C7: not below 7
        (v1(3, k=33, c="09", date="2023-06-01-00-00"), 150 * GIB, NOW),  # k33, named 2023
        (v1(4, k=33, c="09", date="2025-06-01-00-00"), 150 * GIB, NOW),  # k33, named 2025
        (v1(5, c="18"), 60 * GIB, NOW),  # C18 in /mnt/hdd0: no rule
        (v1(6, c="09"), 75 * GIB, NOW - 400 * 86400),  # mtime older than a year
        (v2(7), 1 * GIB, 0.0),  # target format: never
    ]
    found = {item.name: item.rule for item in replaceable_plots(cfg, "/mnt/hdd0", files, NOW)}
    assert found == {v1(1, c="05"): "v1 below C7", v1(3, k=33, c="09", date="2023-06-01-00-00"): "old k33",
                     v1(6, c="09"): "a year by mtime"}
    in_hdd9 = {item.name for item in replaceable_plots(cfg, "/mnt/hdd9", files, NOW)}
    assert v1(5, c="18") in in_hdd9 and v2(7) not in in_hdd9


def test_a_rule_without_format_never_matches_the_target_format() -> None:
    cfg = config([{"k": 28}], target="v2")
    assert replaceable_plots(cfg, "/d", [(v2(1), GIB, 0.0)], NOW) == []
    cfg = config([{"k": 32}], target="v1")  # replotting the other way round: v1 is kept
    assert replaceable_plots(cfg, "/d", [(v1(1), GIB, 0.0)], NOW) == []


def test_order_least_valuable_first_then_oldest() -> None:
    cfg = config([{"format": "v1"}])
    files = [(v1(1, c="07", date="2022-01-01-00-00"), 78, 0.0), (v1(2, date="2023-05-01-00-00"), 101, 0.0),
             (v1(3, date="2022-05-01-00-00"), 101, 0.0), (v1(4, k=33, date="2021-01-01-00-00"), 202, 0.0)]
    order = [item.name for item in replaceable_plots(cfg, "/d", files, NOW)]
    # uncompressed before C7; among uncompressed k32 before k33; then the oldest first
    assert order == [files[2][0], files[1][0], files[3][0], files[0][0]]
    by_age = config([{"format": "v1"}], order=["age"])
    assert next(item.name for item in replaceable_plots(by_age, "/d", files, NOW)) == files[3][0]


def test_just_enough_takes_in_order_and_drops_what_is_not_needed() -> None:
    items = [{"name": "a", "size_bytes": 10}, {"name": "b", "size_bytes": 100}, {"name": "c", "size_bytes": 100}]
    assert [i["name"] for i in just_enough(items, 50)] == ["b"]  # a alone is not enough and b covers it
    assert [i["name"] for i in just_enough(items, 105)] == ["a", "b"]
    assert [i["name"] for i in just_enough(items, 150)] == ["b", "c"]
    assert just_enough(items, 211) is None
    assert just_enough(items, 0) == []


# --- the harvester: making room ----------------------------------------------------------------


def fill(directory: Path, names: list[str], size: int = 1000) -> None:
    for name in names:
        (directory / name).write_bytes(os.urandom(size))


DISK = 10**6


@pytest.fixture(autouse=True)
def small_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test dir is a disk of DISK bytes: free space is what its files leave."""
    def free(directory: str) -> int:
        return DISK - sum(entry.stat().st_size for entry in os.scandir(directory) if entry.is_file())

    monkeypatch.setattr(replace, "free_bytes", free)


def request(directory: Path, plot: str, delete: list[str], need: int, **kwargs: object) -> RoomRequest:
    """A request whose plot needs ``need`` bytes more than the dir has free."""
    free = replace.free_bytes(str(directory))
    return RoomRequest(str(directory), plot, free + need, 0, tuple(delete), f"h:{directory}", **kwargs)


def test_make_room_deletes_just_enough_and_logs_each(tmp_path: Path) -> None:
    archive = tmp_path / "a"
    archive.mkdir()
    old = [v1(1), v1(2), v1(3, c="07")]
    fill(archive, old, 4096 * 8)
    log = tmp_path / "replace.log"
    cfg = config([{"name": "v1", "format": "v1"}])
    outcome = make_room(request(archive, v2(9), old, 4096 * 8 + 1), cfg, str(log))
    assert outcome.ready and outcome.changed
    assert [d["name"] for d in outcome.deleted] == [v1(1), v1(2)]  # two are needed, the third stays
    assert sorted(p.name for p in archive.iterdir() if not p.name.startswith(".")) == [v1(3, c="07")]
    assert outcome.msg == f"deleted {v1(1)}, {v1(2)} to place {v2(9)} on h:{archive}"
    lines = log.read_text().splitlines()
    assert len(lines) == 2
    assert f"deleted {archive / v1(1)} size=32768 kind=v1_k32 rule=\"v1\" for={v2(9)} on=h:{archive}" in lines[0]
    assert read_reservation(str(archive)).plot == v2(9)


def test_check_mode_says_what_it_would_delete_and_deletes_nothing(tmp_path: Path) -> None:
    fill(tmp_path, [v1(1), v1(2)])
    outcome = make_room(request(tmp_path, v2(9), [v1(1), v1(2)], 500), config([{"format": "v1"}]),
                        str(tmp_path / "log"), check_mode=True)
    assert outcome.msg == f"would delete {v1(1)} to place {v2(9)} on h:{tmp_path}"
    assert (tmp_path / v1(1)).exists() and not (tmp_path / RESERVATION_NAME).exists()
    assert not (tmp_path / "log").exists()


def test_never_a_plot_no_rule_matches_nor_the_target_format(tmp_path: Path) -> None:
    fill(tmp_path, [v1(1, c="09"), v2(2)])
    cfg = config([{"format": "v1", "compression_below": 7}])
    for name in (v1(1, c="09"), v2(2)):
        outcome = make_room(request(tmp_path, v2(9), [name], 10), cfg, str(tmp_path / "log"))
        assert not outcome.ready and "no rule lets" in outcome.msg
    assert (tmp_path / v1(1, c="09")).exists() and (tmp_path / v2(2)).exists()


def test_not_enough_deletes_nothing(tmp_path: Path) -> None:
    fill(tmp_path, [v1(1)], 100)
    outcome = make_room(request(tmp_path, v2(9), [v1(1)], 10**6), config([{"format": "v1"}]), str(tmp_path / "l"))
    assert not outcome.ready and "nothing deleted" in outcome.msg and (tmp_path / v1(1)).exists()


def test_a_reservation_holds_the_dir_for_its_plot(tmp_path: Path) -> None:
    fill(tmp_path, [v1(1), v1(2), v1(3)], 8192)
    cfg = config([{"format": "v1"}])
    log = str(tmp_path / "log")
    assert make_room(request(tmp_path, v2(9), [v1(1)], 100), cfg, log).deleted
    # The transfer failed: the same plot again deletes nothing more, another plot gets nothing.
    again = make_room(request(tmp_path, v2(9), [v1(2)], 100), cfg, log)
    assert again.ready and again.deleted == [] and "made by an earlier run" in again.msg
    other = make_room(request(tmp_path, v2(8), [v1(2)], 100), cfg, log)
    assert not other.ready and other.deleted == [] and f"holds room for {v2(9)}" in other.msg
    assert (tmp_path / v1(2)).exists()
    report = dir_replace_report(str(tmp_path), cfg, NOW)
    assert report["reservation"]["plot"] == v2(9) and report["reservation"]["arrived"] is False
    # The plot arrives: the reservation is cleared, and the dir takes the next one.
    fill(tmp_path, [v2(9)], 10)
    assert dir_replace_report(str(tmp_path), cfg, NOW)["reservation"]["arrived"] is True
    assert clear_arrived(str(tmp_path), v2(8)) is None
    assert clear_arrived(str(tmp_path), v2(9)) == v2(9)
    assert read_reservation(str(tmp_path)) is None
    assert make_room(request(tmp_path, v2(8), [v1(2)], 100), cfg, log).deleted[0]["name"] == v1(2)


def test_a_released_reservation_is_cleared_first(tmp_path: Path) -> None:
    fill(tmp_path, [v1(1), v1(2)], 8192)
    cfg = config([{"format": "v1"}])
    make_room(request(tmp_path, v2(9), [v1(1)], 100), cfg, str(tmp_path / "log"))
    outcome = make_room(request(tmp_path, v2(8), [v1(2)], 1000, release=v2(9)), cfg, str(tmp_path / "log"))
    assert outcome.ready and outcome.cleared == v2(9) and outcome.deleted[0]["name"] == v1(2)


def test_two_runs_at_once_delete_once_for_one_plot(tmp_path: Path) -> None:
    names = [v1(n) for n in range(1, 5)]
    fill(tmp_path, names, 8192)
    cfg = config([{"format": "v1"}])
    outcomes = []
    req = request(tmp_path, v2(9), names, 100)
    runs = [threading.Thread(target=lambda: outcomes.append(make_room(req, cfg, str(tmp_path / "log"))))
            for _ in range(4)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert sum(len(o.deleted) for o in outcomes) == 1 and all(o.ready for o in outcomes)
    assert len((tmp_path / "log").read_text().splitlines()) == 1


# --- the planner ----------------------------------------------------------------------------------


def dst_plot(n: int, size: int = 1 * GIB) -> dict:
    name = v2(n)
    return {"path": f"/dst0/{name}", "name": name, "size_bytes": size, "mtime": float(n), "k": 28}


def plotter(plots: list[dict]) -> dict:
    return {"jobs": [], "dst_dirs": [{"path": "/dst0", "free_bytes": 10 * GIB, "plots": plots}], "transfers": []}


def candidate(n: int, size: int, kind: str = "v1 k32", rule: str = "v1") -> dict:
    return {"name": v1(n), "size_bytes": size, "kind": kind, "rule": rule}


def hdir(path: str, free: int, device: int, candidates: list[dict] | None = None,
         reservation: dict | None = None) -> dict:
    return {"path": path, "rsync_module": path.strip("/"), "error": None, "device": device, "free_bytes": free,
            "total_bytes": 100 * GIB, "incoming": [], "plot_names": [],
            "replaceable": {"candidates": candidates or []} if candidates is not None else None,
            "reservation": reservation}


def harvester(dirs: list[dict], cap: int | None = None, rules: bool = True) -> dict:
    return {"archive_dirs": dirs, "replace": {"target": "v2", "max_per_run": cap} if rules else None}


SETTINGS = {"margin_bytes": 0}


def test_room_first_replacement_only_when_no_dir_has_room() -> None:
    plan = plan_archive({"p1": plotter([dst_plot(1)])},
                        {"h1": harvester([hdir("/a", 2 * GIB, 1, [candidate(1, 5 * GIB)])])}, SETTINGS)
    assert "replace" not in plan["transfers"][0]
    plan = plan_archive({"p1": plotter([dst_plot(1)])},
                        {"h1": harvester([hdir("/a", GIB // 2, 1, [candidate(1, 5 * GIB)])])}, SETTINGS)
    (transfer,) = plan["transfers"]
    assert transfer["dir"] == "/a" and transfer["replace"]["delete"] == [v1(1)]
    assert f"replace: delete {v1(1)} (v1 k32, 5.0 GiB, rule v1) to place {v2(1)} on h1:/a" in plan["summary"]


def test_just_enough_for_the_plot_plus_margin() -> None:
    cands = [candidate(n, GIB // 4) for n in range(1, 9)]
    plan = plan_archive({"p1": plotter([dst_plot(1)])}, {"h1": harvester([hdir("/a", 0, 1, cands)])},
                        {"margin_bytes": GIB // 2})
    assert plan["transfers"][0]["replace"]["delete"] == [v1(n) for n in range(1, 7)]  # 1.5 GiB for 1 + 0.5


def test_cap_per_harvester_per_run() -> None:
    plots = [dst_plot(1), dst_plot(2)]
    dirs = [hdir("/a", 0, 1, [candidate(1, GIB)]), hdir("/b", 0, 2, [candidate(2, GIB // 2), candidate(3, GIB // 2)])]
    plan = plan_archive({"p1": {**plotter(plots)}}, {"h1": harvester(dirs, cap=1)},
                        {**SETTINGS, "plotter_parallel_transfers": {"p1": 2}})
    assert [t["replace"]["delete"] for t in plan["transfers"]] == [[v1(1)]]
    assert "plotfleet_replace_max_per_run reached" in plan["waiting"][0]["reason"]
    plan = plan_archive({"p1": plotter(plots)}, {"h1": harvester(dirs, cap=0)}, SETTINGS)
    assert plan["transfers"] == []


def test_no_rules_no_replacement() -> None:
    plan = plan_archive({"p1": plotter([dst_plot(1)])},
                        {"h1": harvester([hdir("/a", 0, 1, None)], rules=False)}, SETTINGS)
    assert plan["transfers"] == [] and plan["waiting"][0]["reason"].startswith("no harvester has room")


def test_fewest_deletions_across_dirs() -> None:
    dirs = [hdir("/a", 0, 1, [candidate(1, GIB // 2), candidate(2, GIB // 2)]), hdir("/b", 0, 2, [candidate(3, GIB)])]
    plan = plan_archive({"p1": plotter([dst_plot(1)])}, {"h1": harvester(dirs)}, SETTINGS)
    assert plan["transfers"][0]["dir"] == "/b"


def test_a_reserved_dir_goes_to_its_plot_first_and_to_no_other() -> None:
    plots = [dst_plot(1), dst_plot(2)]  # plot 2 holds the reservation, plot 1 is older
    held = {"plot": v2(2), "plotter": "p1", "deleted": [{"name": v1(9)}], "arrived": False}
    dirs = [hdir("/a", 2 * GIB, 1, [candidate(1, GIB)], reservation=held), hdir("/b", 0, 2, [candidate(2, GIB)])]
    plan = plan_archive({"p1": plotter(plots)}, {"h1": harvester(dirs)},
                        {**SETTINGS, "plotter_parallel_transfers": {"p1": 2}})
    by_plot = {os.path.basename(t["source"]): t for t in plan["transfers"]}
    assert by_plot[v2(2)]["dir"] == "/a" and by_plot[v2(2)]["replace"] == {
        "delete": [], "deleted": [], "reserved": True, "release": None, "margin_bytes": 0}
    # plot 1 could fit in /a's room, but /a is reserved: it makes room in /b instead
    assert by_plot[v2(1)]["dir"] == "/b" and by_plot[v2(1)]["replace"]["delete"] == [v1(2)]
    assert f"replace: {v2(2)} fills h1:/a, reserved for it by an earlier run" in plan["summary"]


def test_a_reserved_dir_waits_for_its_plot_while_that_plotter_is_down() -> None:
    held = {"plot": v2(5), "plotter": "p2", "deleted": [], "arrived": False}
    plan = plan_archive({"p1": plotter([dst_plot(1)]), "p2": {"unreachable": True, "msg": "down"}},
                        {"h1": harvester([hdir("/a", 5 * GIB, 1, [candidate(1, GIB)], reservation=held)])}, SETTINGS)
    assert plan["transfers"] == []
    assert plan["reservations"][0]["status"].endswith("its plotter p2 did not answer")


def test_a_reservation_whose_plot_is_gone_is_released_to_the_next_plot() -> None:
    held = {"plot": v2(5), "plotter": "p1", "deleted": [], "arrived": False}
    plan = plan_archive({"p1": plotter([dst_plot(1)])},
                        {"h1": harvester([hdir("/a", 5 * GIB, 1, [], reservation=held)])}, SETTINGS)
    (transfer,) = plan["transfers"]
    assert transfer["replace"] == {"delete": [], "deleted": [], "reserved": False, "release": v2(5),
                                   "margin_bytes": 0}


def test_a_dir_receiving_now_is_not_emptied() -> None:
    busy = hdir("/a", 0, 1, [candidate(1, 5 * GIB)])
    busy["incoming"] = [{"name": ".x", "final_name": v2(7), "size_bytes": 1, "kind": "rsync-temp",
                         "expected_bytes": GIB}]
    plan = plan_archive({"p1": plotter([dst_plot(1)])}, {"h1": harvester([busy])}, SETTINGS)
    assert plan["transfers"] == []


def test_a_transfer_whose_start_check_fails_or_refuses_is_reported_never_silently_skipped() -> None:
    def item(n: int) -> dict:
        return {"harvester": "h1", "dir": "/d", "source": f"/dst/{v2(n)}"}

    checks = [{"item": item(1), "failed": True, "msg": "archive x: /etc/plotfleet/rsync.secret is readable by others"},
              {"item": item(2), "changed": False, "started": False, "msg": "archiving paused"},
              {"item": item(3), "changed": True, "claimed": True, "msg": "claimed it for this run"}]
    room = [{"item": item(3), "msg": f"deleted {v1(9)} to place {v2(3)} on h1:/d"}]
    hostvars = {"p1": {"archive_can_start": {"results": checks}, "archive_room": {"results": room}}}

    outcome = replace_outcomes(hostvars, ["p1"])

    assert outcome["failed"] == ["p1"]
    assert outcome["lines"] == [
        f"h1:/d: FAILED nothing deleted for {v2(1)}, its transfer cannot start: archive x: "
        "/etc/plotfleet/rsync.secret is readable by others",
        f"h1:/d: nothing deleted for {v2(2)}, its transfer cannot start now: archiving paused",
        f"h1:/d: deleted {v1(9)} to place {v2(3)} on h1:/d"]
