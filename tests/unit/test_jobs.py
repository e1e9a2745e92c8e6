"""Job discovery logic on a fake /proc tree: recognising, merging, vanishing, temp files."""

from __future__ import annotations

import os
from pathlib import Path

from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import find_candidates, group_candidates, temp_files
from ansible_collections.plotfleet.fleet.plugins.module_utils.proctable import command_lines, open_paths

PLOT_ID = "ce0294538446c461f31802a0b447b802c44be7e6348eac16cf64882134e9b7c4"
OTHER_ID = "ab" * 32


def fake_process(root: Path, pid: int, argv: list[str], cwd: str | None = "/", ppid: int = 1,
                 fds: dict[int, str] | None = None) -> None:
    proc = root / str(pid)
    proc.mkdir()
    (proc / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (proc / "stat").write_text(f"{pid} (some (odd) name) S {ppid} {pid} {pid} 0 -1\n")
    if cwd is not None:
        (proc / "cwd").symlink_to(cwd)
    (proc / "fd").mkdir()
    for fd, target in (fds or {}).items():
        (proc / "fd" / str(fd)).symlink_to(target)


def chia(tmp: str, dst: str) -> list[str]:
    return ["/venv/bin/python3", "/venv/bin/chia", "plots", "create", "-k", "32", "-t", tmp, "-d", dst]


def test_candidates_skip_vanished_and_unrelated_processes(tmp_path):
    fake_process(tmp_path, 100, chia("/t0", "/d0"))
    fake_process(tmp_path, 101, chia("/t1", "/d0"), cwd=None)  # gone between cmdline and cwd
    fake_process(tmp_path, 102, ["sleep", "600"])
    fake_process(tmp_path, 103, ["vim", "notes-about-plots-create.txt"])
    fake_process(tmp_path, 104, ["/venv/bin/chia", "plots", "create", "--help"])
    (tmp_path / "self").mkdir()
    found = find_candidates(proc_root=str(tmp_path))
    assert [c.pid for c in found] == [100]
    assert (found[0].args.tmp_dir, found[0].args.dst_dir) == ("/t0", "/d0")


def test_relative_dirs_resolve_against_the_process_cwd(tmp_path):
    fake_process(tmp_path, 200, ["chia", "plots", "create", "-t", "tmp", "-d", "../dst"], cwd="/srv/plot/work")
    (found,) = find_candidates(proc_root=str(tmp_path))
    assert (found.args.tmp_dir, found.args.dst_dir) == ("/srv/plot/work/tmp", "/srv/plot/dst")


def test_launcher_and_plotter_child_are_one_job(tmp_path):
    madmax = ["-t", "/t0/", "-d", "/d0/", "-f", "a" * 96, "-c", "xch1" + "q" * 58]
    fake_process(tmp_path, 300, ["/venv/bin/python", "/venv/bin/chia", "plotters", "madmax", *madmax])
    fake_process(tmp_path, 301, ["/venv/lib/chia_plot", *madmax], ppid=300)
    fake_process(tmp_path, 302, chia("/t1", "/d0"), ppid=300)  # a different plot under the same parent
    groups = group_candidates(find_candidates(proc_root=str(tmp_path)))
    assert sorted([c.pid for c in g] for g in groups) == [[300, 301], [302]]


def test_temp_files_are_that_plots_only(tmp_path):
    tmp, dst = tmp_path / "tmp", tmp_path / "dst"
    tmp.mkdir()
    dst.mkdir()
    mine = [tmp / f"plot-k32-2026-01-01-00-00-{PLOT_ID}.plot.p1.t1.sort_bucket_000.tmp",
            dst / f"plot-k32-2026-01-01-00-00-{PLOT_ID}.plot.2.tmp"]
    theirs = tmp / f"plot-k32-2026-01-01-00-00-{OTHER_ID}.plot.table1.tmp"
    finished = dst / f"plot-k32-2026-01-01-00-00-{PLOT_ID}.plot"
    held_open = tmp / "fx_0.tmp"  # bladebit diskplot names carry no plot id
    for path in [*mine, theirs, finished, held_open]:
        path.write_bytes(b"x")
    found = temp_files([str(tmp), str(dst)], PLOT_ID, open_paths=[str(held_open), str(finished), "/var/log/x.log"])
    assert found == sorted(str(p) for p in [*mine, held_open])


def test_scan_reads_only_hinted_command_lines(tmp_path):
    fake_process(tmp_path, 400, chia("/t0", "/d0"), fds={1: "/var/log/p.log", 2: "pipe:[123]", 3: "/dev/null"})
    fake_process(tmp_path, 401, ["rsync", "-a", "x.plot", "rsync://h/m/"])
    fake_process(tmp_path, 402, ["bash"])
    lines = dict(command_lines(str(tmp_path), (b"plots\0create", b"rsync")))
    assert sorted(lines) == [400, 401]
    assert open_paths(400, str(tmp_path)) == ["/var/log/p.log"]
    assert os.path.basename(lines[401].split(b"\0")[0].decode()) == "rsync"


def test_jobs_in_other_namespaces_are_not_ours(tmp_path):
    """A container's plot job (own PID and mount namespaces) is that container's to manage."""
    (tmp_path / "self" / "ns").mkdir(parents=True)
    (tmp_path / "self" / "ns" / "pid").symlink_to("pid:[4026531836]")
    (tmp_path / "self" / "ns" / "mnt").symlink_to("mnt:[4026531841]")
    fake_process(tmp_path, 500, chia("/t0", "/d0"))
    fake_process(tmp_path, 501, chia("/plotting", "/plots"))
    for pid, (pid_ns, mnt_ns) in {500: ("4026531836", "4026531841"), 501: ("4026532999", "4026533000")}.items():
        (tmp_path / str(pid) / "ns").mkdir()
        (tmp_path / str(pid) / "ns" / "pid").symlink_to(f"pid:[{pid_ns}]")
        (tmp_path / str(pid) / "ns" / "mnt").symlink_to(f"mnt:[{mnt_ns}]")
    assert [c.pid for c in find_candidates(proc_root=str(tmp_path))] == [500]


def test_stdout_log_is_read_from_the_given_proc_root(tmp_path):
    """The log behind fd 1 comes from proc_root, not from the real /proc (here: pytest's own fd 1)."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import observe_group

    proc = tmp_path / "proc"
    proc.mkdir()
    log = tmp_path / "plot.log"
    log.write_text("Multi-threaded pipelined Chia k32 plotter - 5b5bd68\n")
    pid = os.getpid()  # a live process, so psutil can measure it; its fds here are fake
    fake_process(proc, pid, ["chia_plot", "-t", "/t0/", "-d", "/d0/"], fds={1: str(log)})
    group = group_candidates(find_candidates(proc_root=str(proc)))
    assert [[c.pid for c in g] for g in group] == [[pid]]
    seen = observe_group(group[0], log_dir=None, proc_root=str(proc))
    assert seen is not None and seen.log_file == str(log)


def test_madmax_stage_dir_and_gigahorse_tmp3_are_job_dirs(tmp_path):
    from ansible_collections.plotfleet.fleet.plugins.module_utils.jobs import job_dirs
    from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import parse_command

    tmp, stage, dst = (tmp_path / name for name in ("tmp", "stage", "dst"))
    for path in (tmp, stage, dst):
        path.mkdir()
    args = parse_command(["chia_plot", "-t", f"{tmp}/", "-s", f"{stage}/", "-d", f"{dst}/"], "/")
    assert job_dirs(args) == [str(tmp), str(stage), str(dst)]
    staged = stage / f"plot-k32-2026-01-01-00-00-{PLOT_ID}.plot.tmp"
    staged.write_bytes(b"x")
    assert temp_files(job_dirs(args), PLOT_ID) == [str(staged)]
    gigahorse = parse_command(["cuda_plot_k32", "-t", "/t1/", "-2", "/t2/", "-3", "/t3/", "-d", "/d0/"], "/")
    assert job_dirs(gigahorse) == ["/t1", "/t2", "/t3", "/d0"]


def test_gigahorse_and_bladebit_cuda_jobs_are_found(tmp_path):
    fake_process(tmp_path, 600, ["/opt/gigahorse/cuda_plot_k32", "-n", "-1", "-C", "7", "-t", "/ssd/", "-d", "/hdd/"])
    fake_process(tmp_path, 601, ["./bladebit_cuda", "-z", "7", "-n", "90", "cudaplot", "--disk-128", "-t1", "/t/",
                                 "/farm/"])
    fake_process(tmp_path, 602, ["chia_plot_sink", "--", "/mnt/a/"])  # receives copies: no plot job
    found = find_candidates(proc_root=str(tmp_path))
    assert [(c.pid, c.args.plotter, c.args.compression) for c in found] == [(600, "gigahorse", 7),
                                                                           (601, "bladebit", 7)]
