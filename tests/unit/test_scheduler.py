"""The scheduling decision, rule by rule, on plain data."""

from __future__ import annotations

from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import expected_plot_bytes
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters.base import Phase
from ansible_collections.plotfleet.fleet.plugins.module_utils.scheduler import (
    Policy,
    RunningJob,
    TmpPolicy,
    decide,
    inbound_bytes,
    running_jobs,
)

GIB = 1024**3
TMPS = ("/t0", "/t1")


def policy(**overrides) -> Policy:
    values = {
        "global_stagger_seconds": 0,
        "global_max_jobs": 10,
        "tmp_dirs": TMPS,
        "tmp2_dir": None,
        "dst_dirs": ("/d0", "/d1"),
        "tmp_policies": {t: TmpPolicy(Phase(2, 1), 1, 3) for t in TMPS},
        "new_plot_bytes": 100 * GIB,
    }
    values.update(overrides)
    return Policy(**values)


def job(tmp="/t0", dst="/d0", phase=(1, 0), age=10_000.0, label="j", plot_bytes=100 * GIB) -> RunningJob:
    return RunningJob(label, tmp, dst, Phase(*phase) if phase else Phase(), age, plot_bytes)


PLENTY = {"/t0": 10**15, "/t1": 10**15, "/d0": 10**15, "/d1": 10**15}


def test_idle_plotter_starts_on_first_tmp_and_unused_dst():
    decision = decide([], PLENTY, policy())
    assert [(s.tmp_dir, s.dst_dir) for s in decision.starts] == [("/t0", "/d0")]
    assert decision.reason is None


def test_global_stagger_counts_from_youngest_job():
    decision = decide([job(age=612), job(tmp="/t1", age=5000)], PLENTY, policy(global_stagger_seconds=1800))
    assert decision.starts == []
    assert decision.reason == "stagger: 612 s of 1800 s since the youngest job"


def test_global_max_jobs():
    jobs = [job(tmp="/t0", phase=(3, 0)), job(tmp="/t1", phase=(3, 0))]
    decision = decide(jobs, PLENTY, policy(global_max_jobs=2))
    assert decision.starts == [] and decision.reason == "global max jobs: 2 running, max 2"


def test_tmp_stagger_phase_gates_each_dir():
    jobs = [job(tmp="/t0", phase=(1, 5)), job(tmp="/t1", phase=(2, 1))]
    decision = decide(jobs, PLENTY, policy())
    assert [s.tmp_dir for s in decision.starts] == ["/t1"]
    t0 = next(v for v in decision.tmp_dirs if v.path == "/t0")
    assert not t0.eligible and t0.reason == "tmp /t0: 1 jobs before 2:1, limit 1"


def test_tmpdir_max_jobs():
    jobs = [job(tmp="/t0", phase=(3, 0)) for _ in range(3)] + [job(tmp="/t1", phase=(1, 0))]
    decision = decide(jobs, PLENTY, policy())
    assert decision.starts == []
    assert "tmp /t0: 3 jobs, max 3" in decision.reason
    assert "tmp /t1: 1 jobs before 2:1, limit 1" in decision.reason


def test_tmp_overrides_apply_per_dir():
    tmp_policies = {"/t0": TmpPolicy(Phase(2, 1), 2, 3), "/t1": TmpPolicy(Phase(2, 1), 1, 3)}
    jobs = [job(tmp="/t0", phase=(1, 2)), job(tmp="/t1", phase=(1, 2))]
    decision = decide(jobs, PLENTY, policy(tmp_policies=tmp_policies))
    assert [s.tmp_dir for s in decision.starts] == ["/t0"]


def test_empty_tmp_first_then_least_advanced_furthest_along():
    jobs = [job(tmp="/t0", phase=(3, 2))]
    assert decide(jobs, PLENTY, policy()).starts[0].tmp_dir == "/t1"
    jobs = [job(tmp="/t0", phase=(3, 2)), job(tmp="/t1", phase=(2, 5)), job(tmp="/t1", phase=(4, 0))]
    assert decide(jobs, PLENTY, policy()).starts[0].tmp_dir == "/t0"


def test_unknown_phase_holds_the_dir_back():
    decision = decide([job(tmp="/t0", phase=None), job(tmp="/t1", phase=None)], PLENTY, policy())
    assert decision.starts == []
    assert "tmp /t0: 1 jobs before 2:1 (1 of unknown phase), limit 1" in decision.reason


def test_phase1_limit_is_machine_wide():
    jobs = [job(tmp="/t0", phase=(1, 3)), job(tmp="/t1", phase=None)]
    decision = decide(jobs, PLENTY, policy(phase1_max_jobs=2, tmp_policies={t: TmpPolicy(Phase(2, 1), 5, 5)
                                                                               for t in TMPS}))
    assert decision.starts == []
    assert decision.reason == "phase 1 limit: 2 jobs in phase 1 (or unknown), max 2"


def test_dst_guard_counts_inbound_plots():
    free = {**PLENTY, "/d0": 250 * GIB, "/d1": 150 * GIB}
    jobs = [job(tmp="/t1", dst="/d0", phase=(3, 0)), job(tmp="/t1", dst="/d1", phase=(4, 0))]
    decision = decide(jobs, free, policy(dst_reserve_bytes=0))
    assert decision.starts[0].dst_dir == "/d0"  # 250 >= 100 + 100 inbound; d1 has 150 < 200
    free["/d0"] = 199 * GIB
    decision = decide(jobs, free, policy())
    assert decision.starts == []
    assert decision.reason.startswith("dst: no dir has room: /d1: 150.0 GiB free, needs 200.0 GiB")


def test_dst_guard_off_ignores_space():
    free = {**PLENTY, "/d0": 0, "/d1": 0}
    assert decide([], free, policy(dst_guard=False)).starts[0].dst_dir == "/d0"


def test_tmp_is_also_dst_keeps_plot_in_place():
    decision = decide([], PLENTY, policy(dst_dirs=("/d0", "/t0")))
    assert (decision.starts[0].tmp_dir, decision.starts[0].dst_dir) == ("/t0", "/t0")


def test_no_dst_configured_means_tmp2_then_tmp():
    assert decide([], PLENTY, policy(dst_dirs=())).starts[0].dst_dir == "/t0"
    free = {**PLENTY, "/t2": 10**15}
    assert decide([], free, policy(dst_dirs=(), tmp2_dir="/t2")).starts[0].dst_dir == "/t2"


def test_dst_choice_prefers_unused_then_youngest_furthest_along():
    jobs = [job(tmp="/t1", dst="/d0", phase=(3, 0))]
    assert decide(jobs, PLENTY, policy(tmp_dirs=("/t0",))).starts[0].dst_dir == "/d1"
    jobs = [job(tmp="/t1", dst="/d0", phase=(3, 0)), job(tmp="/t1", dst="/d1", phase=(2, 2))]
    assert decide(jobs, PLENTY, policy(tmp_dirs=("/t0",))).starts[0].dst_dir == "/d0"


def test_tmp_free_space_guard():
    free = {**PLENTY, "/t0": 10 * GIB}
    decision = decide([], free, policy(tmp_min_free_bytes=50 * GIB))
    assert decision.starts[0].tmp_dir == "/t1"
    assert "tmp /t0: 10.0 GiB free, needs 50.0 GiB" in [v.reason for v in decision.tmp_dirs]


def test_max_starts_sees_its_own_starts():
    decision = decide([], PLENTY, policy(max_starts=3))
    assert [s.tmp_dir for s in decision.starts] == ["/t0", "/t1"]
    assert decision.reason.startswith("no eligible tmp dir")


def test_max_starts_still_honours_stagger():
    decision = decide([], PLENTY, policy(max_starts=3, global_stagger_seconds=60))
    assert len(decision.starts) == 1
    assert decision.reason == "stagger: 0 s of 60 s since the youngest job"


# Jobs without a tmp dir: no per-tmp limit can count them, so the machine-wide limits must.
def _discovered(argv: list[str], phase: tuple[int, int] | None):
    """A discovered job (the fields running_jobs reads), from a real command line."""
    from types import SimpleNamespace

    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import parse_command

    args = parse_command(argv, "/home/farmer")
    return SimpleNamespace(label=argv[0], tmp_dir=args.tmp_dir, dst_dir=args.dst_dir,
                           phase=Phase(*phase) if phase else Phase(), wall_seconds=10_000.0, k=args.k, args=args)


TMPLESS = (
    ["bladebit", "-n", "1", "-f", "a" * 96, "ramplot", "/d0"],
    ["bladebit_cuda", "-z", "7", "cudaplot", "/d0/"],
    ["/venv/bin/python", "/venv/bin/chia", "plotters", "bladebit", "cudaplot", "-d", "/d0", "--compress", "3"],
)


def test_tmpless_jobs_have_no_tmp_dir_but_a_dst():
    jobs = running_jobs([_discovered(argv, (3, 0)) for argv in TMPLESS])
    assert [(j.tmp_dir, j.dst_dir) for j in jobs] == [(None, "/d0")] * 3


def test_tmpless_jobs_count_against_global_max_jobs():
    jobs = running_jobs([_discovered(argv, (3, 0)) for argv in TMPLESS])
    decision = decide(jobs, PLENTY, policy(global_max_jobs=3))
    assert decision.starts == [] and decision.reason == "global max jobs: 3 running, max 3"


def test_tmpless_jobs_count_against_the_phase1_limit():
    jobs = running_jobs([_discovered(TMPLESS[0], (1, 4)), _discovered(TMPLESS[1], None)])
    decision = decide(jobs, PLENTY, policy(phase1_max_jobs=2))
    assert decision.starts == []
    assert decision.reason == "phase 1 limit: 2 jobs in phase 1 (or unknown), max 2"


def test_tmpless_jobs_count_as_inbound_for_the_dst_guard():
    jobs = running_jobs([_discovered(TMPLESS[0], (3, 0)), _discovered(TMPLESS[1], (2, 0))])
    # a k32 C0 plot (<= 101.4 GiB) and a C7 one (<= 78 GiB) are on their way to /d0
    assert inbound_bytes(jobs, "/d0") == expected_plot_bytes(32, 0) + expected_plot_bytes(32, 7)
    free = {**PLENTY, "/d0": 250 * GIB, "/d1": 50 * GIB}
    decision = decide(jobs, free, policy(new_plot_bytes=100 * GIB))
    assert decision.starts == []
    assert decision.reason.startswith("dst: no dir has room: /d1: 50.0 GiB free")
    assert "/d0: 250.0 GiB free, needs 279.4 GiB" in decision.reason
