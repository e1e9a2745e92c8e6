"""The fleet-wide archive planner: placement, limits, in-flight counting, priority, reasons."""

from __future__ import annotations

import pytest

from ansible_collections.plotfleet.fleet.plugins.plugin_utils.archive import SettingsError, parse_settings, plan_archive

GIB = 1024**3
K32 = 101 * GIB


def plot(dst: str, n: int, size: int = K32, mtime: float = 0.0) -> dict:
    name = f"plot-k32-2024-01-01-00-{n:02d}-{n:064x}.plot"
    return {"path": f"{dst}/{name}", "name": name, "size_bytes": size, "mtime": mtime or float(n), "k": 32}


def dst_dir(path: str, plots: list[dict], free: int = 1000 * GIB) -> dict:
    return {"path": path, "free_bytes": free, "total_bytes": 4000 * GIB, "error": None, "plots": plots,
            "plot_count": len(plots), "inbound": []}


def plotter(dsts: list[dict], jobs: list[dict] | None = None, transfers: list[dict] | None = None) -> dict:
    return {"changed": False, "jobs": jobs or [], "tmp_dirs": [], "dst_dirs": dsts, "transfers": transfers or []}


def job(dst: str, major: int, minor: int, plot_id: str = "ab" * 32) -> dict:
    return {"plot_id": plot_id, "pid": 100, "dst_dir": dst, "phase": {"major": major, "minor": minor}}


def archive_dir(path: str, module: str, free: int, device: int, incoming: list[dict] | None = None) -> dict:
    return {"path": path, "rsync_module": module, "error": None, "device": device, "free_bytes": free,
            "total_bytes": 16000 * GIB, "plots": 0, "incoming": incoming or []}


def harvester(dirs: list[dict], port: int | None = None) -> dict:
    return {"changed": False, "archive_dirs": dirs, "rsync_port": port}


def test_one_plot_goes_to_the_dir_with_most_room_with_address_and_port() -> None:
    p = plot("/dst0", 1)
    plan = plan_archive(
        {"plotter1": plotter([dst_dir("/dst0", [p])])},
        {"harv1": harvester([archive_dir("/a", "plots-a", 500 * GIB, 1), archive_dir("/b", "plots-b", 900 * GIB, 2)])},
        {"harvester_addresses": {"harv1": "10.0.0.5"}, "harvester_ports": {"harv1": 8873}},
    )
    assert plan["transfers"] == [{
        "plotter": "plotter1", "source": p["path"], "size_bytes": K32, "harvester": "harv1",
        "harvester_address": "10.0.0.5", "rsync_module": "plots-b", "port": 8873, "dir": "/b",
        "room_bytes": 900 * GIB, "sources": [p["path"]],
        # The slot may go on with plots that finish before the next run, within the dir's room.
        "budget_bytes": 899 * GIB, "pick_from": ["/dst0"], "harvester_rsync_version": None,
    }]
    assert plan["waiting"] == []
    assert plan["summary"][-1] == "1 transfer(s) to start, 0 running, 0 plot(s) waiting on their dst dirs"


def test_default_parallel_limit_is_one_slot_per_plotter_carrying_its_plots_one_after_another() -> None:
    plots = [plot("/dst0", n) for n in range(3)]
    plan = plan_archive(
        {"p1": plotter([dst_dir("/dst0", plots)])},
        {"h1": harvester([archive_dir(f"/a{i}", f"m{i}", 900 * GIB, i) for i in range(3)])},
    )
    (transfer,) = plan["transfers"]
    assert transfer["sources"] == [p["path"] for p in plots]  # oldest first
    assert transfer["source"] == plots[0]["path"] and transfer["size_bytes"] == 3 * K32
    assert plan["waiting"] == []
    assert plan["summary"][0].startswith(f"start: p1 {plots[0]['name']} and 2 more, one after another")


def test_plots_that_do_not_fit_the_slots_dir_wait_with_the_reason() -> None:
    plots = [plot("/dst0", n) for n in range(3)]
    dirs = [archive_dir("/a", "m", 250 * GIB, 1), archive_dir("/b", "mb", 240 * GIB, 2)]
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", plots)])}, {"h1": harvester(dirs)})
    (transfer,) = plan["transfers"]
    assert transfer["sources"] == [plots[0]["path"], plots[1]["path"]]  # 2 x 101 GiB + 1 GiB margin fit in 250
    assert transfer["budget_bytes"] == 2 * K32 + (250 * GIB - 2 * K32 - GIB)
    assert [w["source"] for w in plan["waiting"]] == [plots[2]["path"]]
    assert plan["waiting"][0]["reason"].startswith("plotter at its 1 parallel transfer(s)")


def test_per_plotter_limit_and_one_transfer_per_disk() -> None:
    plots = [plot("/dst0", n) for n in range(4)]
    # Two dirs on device 7 are one disk; a third dir is its own disk.
    dirs = [archive_dir("/a", "ma", 900 * GIB, 7), archive_dir("/b", "mb", 800 * GIB, 7),
            archive_dir("/c", "mc", 700 * GIB, 8)]
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", plots)])}, {"h1": harvester(dirs)},
                        {"plotter_parallel_transfers": {"p1": 4}})
    assert [t["dir"] for t in plan["transfers"]] == ["/a", "/c"]
    # The other two ride in those two slots, one each (round robin).
    assert [len(t["sources"]) for t in plan["transfers"]] == [2, 2] and plan["waiting"] == []
    # Another plotter's plot cannot ride in p1's running slot: it waits for the disk.
    running = {"pid": 40, "source": plots[0]["path"], "host": "h1", "port": None, "module": "ma", "size_bytes": K32}
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", plots[:1])], transfers=[running]),
                         "p2": plotter([dst_dir("/d", [plot("/d", 9)])])},
                        {"h1": harvester(dirs[:1])}, {"plotter_parallel_transfers": {"p1": 4}})
    (reason,) = [w["reason"] for w in plan["waiting"]]
    assert reason.startswith("every harvester disk with room is receiving as many plots as its max_connections allows")
    assert "(1 of max_connections 1)" in reason


def test_max_connections_of_a_module_is_how_many_plots_its_disk_takes_at_once() -> None:
    plots = [plot("/dst0", n) for n in range(4)]
    dirs = [{**archive_dir("/a", "ma", 900 * GIB, 7), "max_connections": 2}]
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", plots)])}, {"h1": harvester(dirs)},
                        {"plotter_parallel_transfers": {"p1": 4}})
    assert [(t["dir"], len(t["sources"])) for t in plan["transfers"]] == [("/a", 2), ("/a", 2)]
    assert plan["waiting"] == [] and plan["harvester_dirs"][0]["max_connections"] == 2
    # The two slots share the dir's room left after their plots.
    spare = 900 * GIB - 4 * K32 - GIB
    assert [t["budget_bytes"] for t in plan["transfers"]] == [2 * K32 + spare // 2] * 2


def test_a_running_transfer_takes_one_of_the_connections() -> None:
    sent, ready, third = plot("/dst0", 1), plot("/dst0", 2), plot("/dst0", 3)
    running = {"pid": 7, "source": sent["path"], "host": "h1", "port": None, "module": "ma", "size_bytes": K32}
    dirs = [{**archive_dir("/a", "ma", 900 * GIB, 7), "max_connections": "2"}]  # as an inventory string
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", [sent, ready, third])], transfers=[running])},
                        {"h1": harvester(dirs)}, {"plotter_parallel_transfers": {"p1": 4}})
    assert [t["source"] for t in plan["transfers"]] == [ready["path"]]


def test_two_dirs_on_one_disk_share_its_transfers_each_within_its_own_limit() -> None:
    plots = [plot("/dst0", n) for n in range(4)]
    # /a allows 1, /b allows 2, both on device 7: the disk takes two plots at most, /a only while idle.
    dirs = [archive_dir("/a", "ma", 900 * GIB, 7), {**archive_dir("/b", "mb", 800 * GIB, 7), "max_connections": 2}]
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", plots)])}, {"h1": harvester(dirs)},
                        {"plotter_parallel_transfers": {"p1": 4}})
    assert [t["dir"] for t in plan["transfers"]] == ["/a", "/b"]


def test_max_connections_zero_or_missing_counts_as_one() -> None:
    plots = [plot("/dst0", n) for n in range(2)]
    for limit in (0, None):
        dirs = [{**archive_dir("/a", "ma", 900 * GIB, 7), "max_connections": limit}]
        plan = plan_archive({"p1": plotter([dst_dir("/dst0", plots)])}, {"h1": harvester(dirs)},
                            {"plotter_parallel_transfers": {"p1": 4}})
        assert len(plan["transfers"]) == 1


def test_round_robin_across_harvesters_before_a_second_disk_of_the_same_harvester() -> None:
    plots = [plot("/dst0", n) for n in range(3)]
    harvesters = {
        "h1": harvester([archive_dir("/a", "ma", 900 * GIB, 1), archive_dir("/b", "mb", 890 * GIB, 2)]),
        "h2": harvester([archive_dir("/x", "mx", 300 * GIB, 1)]),
    }
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", plots)])}, harvesters, {"parallel_transfers": 3})
    assert [(t["harvester"], t["dir"]) for t in plan["transfers"]] == [("h1", "/a"), ("h2", "/x"), ("h1", "/b")]


def test_round_robin_across_plotters() -> None:
    plotters = {
        "p1": plotter([dst_dir("/dst0", [plot("/dst0", 1), plot("/dst0", 2)], free=100 * GIB)]),
        "p2": plotter([dst_dir("/dst0", [plot("/dst0", 3)], free=900 * GIB)]),
    }
    harvesters = {"h1": harvester([archive_dir(f"/a{i}", f"m{i}", 900 * GIB, i) for i in range(2)])}
    plan = plan_archive(plotters, harvesters, {"parallel_transfers": 2})
    # p1's dst is fuller so it picks first, but p2 gets the second disk before p1's second plot.
    assert [t["plotter"] for t in plan["transfers"]] == ["p1", "p2"]
    assert len(plan["transfers"][0]["sources"]) == 2 and plan["waiting"] == []  # p1's second rides its slot


def test_margin_decides_whether_a_dir_has_room() -> None:
    p = plot("/dst0", 1, size=100 * GIB)
    plotters = {"p1": plotter([dst_dir("/dst0", [p])])}
    harvesters = {"h1": harvester([archive_dir("/a", "ma", 105 * GIB, 1)])}
    assert plan_archive(plotters, harvesters, {"margin_bytes": 5 * GIB})["transfers"]
    plan = plan_archive(plotters, harvesters, {"margin_bytes": 6 * GIB})
    assert plan["transfers"] == []
    reason = plan["waiting"][0]["reason"]
    assert reason.startswith("no harvester has room: needs 106.0 GiB (plot 100.0 GiB + margin 6.0 GiB)")
    assert "the most is 105.0 GiB on h1:/a" in reason
    assert reason.endswith("the plot stays on /dst0")


def test_running_transfer_counts_against_the_dir_and_its_disk_and_the_plotter() -> None:
    sent, ready = plot("/dst0", 1), plot("/dst0", 2)
    running = {"pid": 4242, "source": sent["path"], "host": "10.0.0.5", "port": 873, "module": "ma",
               "size_bytes": K32}
    # The harvester already shows 40 GiB of the running plot as a temp file.
    incoming = [{"name": "." + sent["name"] + ".Xb3kQz", "final_name": sent["name"], "size_bytes": 40 * GIB,
                 "kind": "rsync-temp", "k": 32, "expected_bytes": 110 * GIB}]
    harvesters = {"h1": harvester([archive_dir("/a", "ma", 300 * GIB, 1, incoming),
                                   archive_dir("/b", "mb", 150 * GIB, 2)])}
    plotters = {"p1": plotter([dst_dir("/dst0", [sent, ready])], transfers=[running])}
    settings = {"harvester_addresses": {"h1": "10.0.0.5"}, "parallel_transfers": 2, "margin_bytes": 0}
    plan = plan_archive(plotters, harvesters, settings)
    # The plot being sent is never planned again; the other goes to the idle disk.
    assert [t["source"] for t in plan["transfers"]] == [ready["path"]]
    assert plan["transfers"][0]["dir"] == "/b"
    assert plan["in_flight"] == [{"plotter": "p1", "source": sent["path"], "size_bytes": K32, "pid": 4242,
                                  "harvester": "h1", "host": "10.0.0.5", "module": "ma", "lane": 4242,
                                  "budget_left_bytes": None}]
    room = {d["dir"]: d["room_bytes"] for d in plan["harvester_dirs"]}
    assert room["/a"] == 300 * GIB - (K32 - 40 * GIB)  # only what is still to come
    assert plan["harvester_dirs"][0]["receiving"] == [f"{sent['name']} from p1"]

    # With parallel 1 the plotter is full: the waiting reason names the plot on its way.
    plan = plan_archive(plotters, harvesters, {**settings, "parallel_transfers": 1})
    assert plan["waiting"][0]["reason"] == f"plotter at its 1 parallel transfer(s): sending {sent['name']}"


def test_transfer_just_started_without_a_file_on_the_harvester_takes_its_whole_size() -> None:
    sent = plot("/dst0", 1)
    running = {"pid": 1, "source": sent["path"], "host": "h1", "port": None, "module": "ma", "size_bytes": K32}
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", [sent])], transfers=[running])},
                        {"h1": harvester([archive_dir("/a", "ma", 300 * GIB, 1)])})
    assert plan["harvester_dirs"][0]["room_bytes"] == 300 * GIB - K32


def test_partial_file_from_an_unknown_sender_blocks_the_disk_and_its_space() -> None:
    incoming = [{"name": ".plot-k32-x.plot.AbCdEf", "final_name": "plot-k32-x.plot", "size_bytes": 10 * GIB,
                 "kind": "rsync-temp", "k": 32, "expected_bytes": 110 * GIB}]
    leftover = [{"name": ".rsync-partial/plot-k32-y.plot", "final_name": "plot-k32-y.plot",
                 "size_bytes": 10 * GIB, "kind": "rsync-partial", "k": 32, "expected_bytes": 110 * GIB}]
    p = plot("/dst0", 1)
    harvesters = {"h1": harvester([archive_dir("/a", "ma", 900 * GIB, 1, incoming),
                                   archive_dir("/b", "mb", 900 * GIB, 2, leftover)])}
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", [p])])}, harvesters)
    # /a is receiving; /b holds a leftover partial: it takes space but does not make the disk busy.
    assert plan["transfers"][0]["dir"] == "/b"
    assert plan["transfers"][0]["room_bytes"] == 800 * GIB


def test_dst_with_a_job_about_to_write_is_left_alone() -> None:
    busy, calm = plot("/dst0", 1), plot("/dst1", 2)
    plotters = {"p1": plotter([dst_dir("/dst0", [busy], free=10 * GIB), dst_dir("/dst1", [calm])],
                              jobs=[job("/dst0", 4, 0)])}
    harvesters = {"h1": harvester([archive_dir(f"/a{i}", f"m{i}", 900 * GIB, i) for i in range(2)])}
    plan = plan_archive(plotters, harvesters, {"parallel_transfers": 2})
    assert [t["source"] for t in plan["transfers"]] == [calm["path"]]
    assert plan["waiting"] == [{
        "plotter": "p1", "source": busy["path"], "size_bytes": K32,
        "reason": "dst busy: job abababab is in phase 4:0 and about to write its plot to /dst0; "
                  "its plots move once that write is done",
    }]
    # Hold disabled: the drive is only ranked last (plotman's penalty), not left alone.
    plan = plan_archive(plotters, harvesters, {"parallel_transfers": 2, "dst_busy_phase": None})
    assert [t["source"] for t in plan["transfers"]] == [calm["path"], busy["path"]]


def test_priority_phase_penalty_then_fuller_drive_then_more_plots() -> None:
    a, b, c = plot("/dst0", 1), plot("/dst1", 2), plot("/dst2", 3)
    harvesters = {"h1": harvester([archive_dir("/a", "ma", 900 * GIB, 1)])}
    # /dst0 is fullest but a job there is in phase 3:5 (penalised); /dst1 fuller than /dst2.
    dsts = [dst_dir("/dst0", [a], free=10 * GIB), dst_dir("/dst1", [b], free=200 * GIB),
            dst_dir("/dst2", [c], free=300 * GIB)]
    plan = plan_archive({"p1": plotter(dsts, jobs=[job("/dst0", 3, 5)])}, harvesters)
    assert plan["transfers"][0]["source"] == b["path"]
    # Same free space: the drive with more plots first.
    dsts = [dst_dir("/dst1", [b], free=200 * GIB), dst_dir("/dst2", [c, plot("/dst2", 4)], free=200 * GIB)]
    plan = plan_archive({"p1": plotter(dsts)}, harvesters)
    assert plan["transfers"][0]["source"] == c["path"]


def test_hosts_down_are_reported_and_nothing_is_lost() -> None:
    p = plot("/dst0", 1)
    plotters = {"p1": plotter([dst_dir("/dst0", [p])]),
                "p2": {"unreachable": True, "msg": "Failed to connect to the host via ssh"}}
    harvesters = {"h1": {"failed": True, "msg": "load harvester config: missing"}}
    plan = plan_archive(plotters, harvesters)
    assert plan["harvesters_down"] == [{"harvester": "h1", "status": "failed", "msg": "load harvester config: missing"}]
    assert plan["plotters_down"] == [{"plotter": "p2", "status": "unreachable",
                                      "msg": "Failed to connect to the host via ssh"}]
    assert plan["transfers"] == []
    assert plan["waiting"][0]["reason"].startswith("no harvester archive dir is available")
    assert "harvester h1 failed: load harvester config: missing" in plan["summary"]


def test_unreadable_and_moduleless_dirs_are_skipped_with_a_reason() -> None:
    bad = {"path": "/gone", "rsync_module": "mg", "error": "/gone does not exist"}
    anon = archive_dir("/anon", None, 900 * GIB, 3)
    plan = plan_archive({}, {"h1": harvester([bad, anon])})
    assert plan["harvester_dirs_skipped"] == [
        {"harvester": "h1", "dir": "/gone", "reason": "unreadable: /gone does not exist"},
        {"harvester": "h1", "dir": "/anon", "reason": "no rsync module serves it"},
    ]


def test_transfer_on_another_port_of_the_same_host_is_not_counted_for_the_dir() -> None:
    sent = plot("/dst0", 1)
    running = {"pid": 1, "source": sent["path"], "host": "h1", "port": 9999, "module": "ma", "size_bytes": K32}
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", [sent])], transfers=[running])},
                        {"h1": harvester([archive_dir("/a", "ma", 300 * GIB, 1)])}, {"harvester_ports": {"h1": 873}})
    assert plan["harvester_dirs"][0]["room_bytes"] == 300 * GIB
    assert plan["in_flight"][0]["harvester"] is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"margin_bytes": -1}, 'margin_bytes: must be a size: bytes as an integer >= 0, or a string like "100G"'),
        ({"parallel_transfers": "two"}, 'parallel_transfers: must be an integer >= 1, got "two"'),
        ({"plotter_parallel_transfers": {"p1": 0}}, "plotter_parallel_transfers.p1: must be an integer >= 1, got 0"),
        ({"harvester_ports": {"h1": 70000}}, "harvester_ports.h1: must be an integer from 1 to 65535, got 70000"),
        ({"dst_busy_phase": "late"}, 'dst_busy_phase: must be a phase major:minor such as "3:7"'),
        ({"margn_bytes": 1}, "margn_bytes: unknown setting; did you mean margin_bytes?"),
    ],
)
def test_bad_settings_name_the_key(settings: dict, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        parse_settings(settings)
    assert str(error.value).startswith("archive plan settings: ") and message in str(error.value)


def test_settings_accept_strings_from_inventory() -> None:
    settings = parse_settings({"parallel_transfers": "2", "dst_busy_phase": "4:0", "harvester_ports": {"h": "8873"}})
    assert settings.parallel_transfers == 2
    assert settings.dst_busy_phase == (4, 0)
    assert settings.harvester_ports == {"h": 8873}


def test_stale_temp_file_of_a_dead_transfer_no_longer_blocks_its_disk() -> None:
    dead = [{"name": ".plot-k32-x.plot.AbCdEf", "final_name": "plot-k32-x.plot", "size_bytes": 10 * GIB,
             "kind": "rsync-temp", "k": 32, "expected_bytes": 110 * GIB, "idle_seconds": 1500, "stale": True}]
    harvesters = {"h1": harvester([archive_dir("/a", "ma", 900 * GIB, 1, dead)])}
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", [plot("/dst0", 1)])])}, harvesters)
    assert [t["dir"] for t in plan["transfers"]] == ["/a"]
    assert plan["transfers"][0]["room_bytes"] == 900 * GIB  # its bytes are already out of the free space
    assert any(line.startswith("stale partial file on h1:/a: .plot-k32-x.plot.AbCdEf (10.0 GiB, untouched for 25 min)")
               for line in plan["summary"])


def test_a_plot_already_on_a_harvester_is_never_sent_again() -> None:
    p = plot("/dst0", 1)
    there = {**archive_dir("/a", "ma", 900 * GIB, 1), "plot_names": [p["name"]]}
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", [p])])}, {"h1": harvester([there])})
    assert plan["transfers"] == []
    assert plan["waiting"][0]["reason"].startswith("already on h1:/a under the same name")


def test_preallocated_incoming_file_is_not_counted_twice() -> None:
    arriving = [{"name": ".plot-k32-x.plot.AbCdEf", "final_name": "plot-k32-x.plot", "size_bytes": 10 * GIB,
                 "allocated_bytes": 110 * GIB, "kind": "rsync-temp", "k": 32, "expected_bytes": 110 * GIB}]
    harvesters = {"h1": harvester([archive_dir("/a", "ma", 900 * GIB, 1, arriving),
                                   archive_dir("/b", "mb", 500 * GIB, 2)])}
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", [plot("/dst0", 1)])])}, harvesters)
    a = next(d for d in plan["harvester_dirs"] if d["dir"] == "/a")
    assert a["room_bytes"] == 900 * GIB  # the preallocated file already took its 110 GiB out of free


def test_a_running_slot_is_one_transfer_and_its_budget_is_promised_room() -> None:
    first, second, ready = plot("/dst0", 1), plot("/dst0", 2), plot("/dst0", 3)
    # One runner (pid 40) carrying two plots, its rsync (pid 41) on the first; 300 GiB budget left.
    running = [{"pid": 40, "lane": 40, "source": first["path"], "host": "h1", "port": None, "module": "ma",
                "size_bytes": K32, "budget_left_bytes": 300 * GIB},
               {"pid": 40, "lane": 40, "source": second["path"], "host": "h1", "port": None, "module": "ma",
                "size_bytes": K32, "budget_left_bytes": 300 * GIB}]
    dirs = [{**archive_dir("/a", "ma", 900 * GIB, 7), "max_connections": 2}]
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", [first, second, ready])], transfers=running)},
                        {"h1": harvester(dirs)}, {"parallel_transfers": 2, "margin_bytes": 0})
    # One connection of two is in use, so one more slot starts; the dir's room counts the budget.
    (transfer,) = plan["transfers"]
    assert transfer["sources"] == [ready["path"]]
    assert transfer["room_bytes"] == 600 * GIB
    assert plan["harvester_dirs"][0]["receiving"] == [f"{first['name']} from p1", f"{ready['name']} (planned now)"]
    # With parallel 1 the plotter's one slot is the runner.
    plan = plan_archive({"p1": plotter([dst_dir("/dst0", [first, second, ready])], transfers=running)},
                        {"h1": harvester(dirs)}, {"margin_bytes": 0})
    assert plan["transfers"] == [] and plan["waiting"][0]["reason"].startswith("plotter at its 1 parallel")


def test_slot_budget_and_pick_from_leave_out_dst_dirs_a_job_is_about_to_write() -> None:
    calm, busy = plot("/dst0", 1), plot("/dst1", 2)
    plotters = {"p1": plotter([dst_dir("/dst0", [calm]), dst_dir("/dst1", [busy])], jobs=[job("/dst1", 3, 7)])}
    plan = plan_archive(plotters, {"h1": harvester([archive_dir("/a", "ma", 900 * GIB, 1)])})
    (transfer,) = plan["transfers"]
    assert transfer["sources"] == [calm["path"]] and transfer["pick_from"] == ["/dst0"]
