"""The plotter config: files that must load, and the values they map to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.config import (
    ChiaOptions,
    Config,
    ConfigError,
    TmpScheduling,
    load_config,
    parse_config,
    parse_size,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "tests" / "data" / "configs"
EXAMPLE = ROOT / "docs" / "plotfleet.example.yml"

MINIMAL = {"directories": {"tmp": ["/srv/plot/nvme0"]}}


def test_plotman_default_config_loads_unchanged() -> None:
    config = load_config(str(CONFIGS / "plotman-default.yaml"))

    assert config.directories.tmp == ("/srv/plot/nvme0", "/srv/plot/nvme1", "/srv/plot/nvme2", "/srv/plot/nvme3")
    assert config.directories.dst == ("/srv/buffer/hdd0", "/srv/buffer/hdd1")
    assert config.directories.tmp2 is None
    scheduling = config.scheduling
    assert (scheduling.tmpdir_stagger_phase_major, scheduling.tmpdir_stagger_phase_minor) == (2, 2)
    assert scheduling.tmpdir_stagger_phase_limit == 1
    assert scheduling.tmpdir_max_jobs == 4
    assert scheduling.global_max_jobs == 10
    assert scheduling.global_stagger_m == 40
    assert scheduling.polling_time_s == 30
    assert set(scheduling.tmp_overrides) == {"/srv/plot/nvme0", "/srv/plot/nvme3"}
    assert config.plotting.type == "chia"
    assert config.plotting.chia == ChiaOptions(n_threads=4, job_buffer=4000)
    assert config.plotting.options is config.plotting.chia
    assert (config.plotting.madmax.n_threads, config.plotting.madmax.n_buckets3) == (8, 128)
    assert (config.plotting.bladebit.threads, config.plotting.bladebit.no_numa) == (16, True)
    assert config.archiving.plotman is not None
    assert config.archiving.plotman.target == "local_rsync"
    assert config.archiving.plotman.env == {"command": "rsync", "site_root": "/srv/farm"}
    assert config.commands.interactive.autostart_archiving is False
    assert config.user_interface.use_stty_size is True
    # logging is commented out in plotman's default file: plotfleet's defaults apply.
    assert config.logging.plots == "/var/log/plotfleet/plots"
    assert config.source == str(CONFIGS / "plotman-default.yaml")


def test_minimal_config_gets_every_default() -> None:
    config = load_config(str(CONFIGS / "minimal.yaml"))

    assert config == Config(directories=config.directories, source=config.source)
    assert config.directories.tmp == ("/srv/plot/nvme0",)
    # No dst and no tmp2: plots stay in the tmp dirs, as in plotman.
    assert config.directories.dst == ("/srv/plot/nvme0",)
    assert config.directories.dst_given is False
    assert config.scheduling.phase1_max_jobs is None
    assert config.scheduling.max_starts == 1
    assert config.scheduling.dst_free_space_guard is True
    assert config.plotting.type == "chia"
    assert config.plotting.nice is None
    assert config.archiving.rsync_user == "plotfleet"
    assert config.archiving.transfer_log_dir == config.logging.transfers
    assert config.archiving.plotman is None


def test_plotman_legacy_plotting_keys_feed_the_chia_section() -> None:
    config = load_config(str(CONFIGS / "plotman-legacy-plotting.yaml"))

    assert config.plotting.chia == ChiaOptions(e=True, n_threads=3, n_buckets=64, job_buffer=6000)
    # No dst but a tmp2: plots stay in tmp2, as in plotman.
    assert config.directories.dst == ("/srv/plot/tmp2",)


def test_annotated_example_loads() -> None:
    config = load_config(str(EXAMPLE))

    assert config.scheduling.for_tmp("/srv/plot/nvme0").tmpdir_max_jobs == 5
    assert config.archiving.parallel_transfers == 1


def test_as_dict_is_json_ready() -> None:
    config = load_config(str(CONFIGS / "plotman-default.yaml"))

    data = config.as_dict()

    assert json.loads(json.dumps(data)) == data
    assert data["directories"]["tmp"][0] == "/srv/plot/nvme0"
    assert data["scheduling"]["tmp_overrides"]["/srv/plot/nvme3"]["tmpdir_max_jobs"] == 2


def test_for_tmp_applies_each_override_key_on_its_own() -> None:
    config = load_config(str(CONFIGS / "plotman-default.yaml"))
    scheduling = config.scheduling

    assert scheduling.for_tmp("/srv/plot/nvme0") == TmpScheduling(1, 6, 1, 5)
    assert scheduling.for_tmp("/srv/plot/nvme3").stagger_phase == (3, 4)
    # Not overridden: the global values.
    assert scheduling.for_tmp("/srv/plot/nvme1") == TmpScheduling(2, 2, 1, 4)
    # A job's tmp dir as its command line spells it.
    assert scheduling.for_tmp("/srv/plot/nvme0/") == scheduling.for_tmp("/srv/plot/nvme0")


def test_for_tmp_keeps_globals_for_keys_an_override_leaves_out() -> None:
    config = parse_config(
        {
            "directories": {"tmp": ["/t/a", "/t/b"]},
            "scheduling": {
                "tmpdir_stagger_phase_limit": 2,
                "tmp_overrides": {"/t/b/": {"tmpdir_stagger_phase_limit": 3}},
            },
        }
    )

    assert config.scheduling.for_tmp("/t/b") == TmpScheduling(2, 1, 3, 3)
    assert config.scheduling.for_tmp("/t/a") == TmpScheduling(2, 1, 2, 3)


def test_plotfleet_additions_are_read() -> None:
    config = parse_config(
        {
            **MINIMAL,
            "scheduling": {
                "phase1_max_jobs": 2,
                "max_starts": 3,
                "dst_free_space_guard": False,
                "dst_reserve_bytes": "1.5 TiB",
                "tmp_min_free_bytes": "300G",
            },
            "plotting": {
                "type": "bladebit",
                "nice": 10,
                "env": {"CHIA_ROOT": "/srv/chia", "PORT": 8444},
                "bladebit": {"mode": "diskplot", "compression": 7, "diskplot_cache": "64G", "diskplot_buckets": 256},
            },
            "archiving": {"parallel_transfers": 2, "bwlimit": 80000, "rsync_extra_args": ["--partial-dir=.rsync"]},
        }
    )

    assert config.scheduling.phase1_max_jobs == 2
    assert config.scheduling.max_starts == 3
    assert config.scheduling.dst_free_space_guard is False
    assert config.scheduling.dst_reserve_bytes == 3 * 2**39
    assert config.scheduling.tmp_min_free_bytes == 300 * 2**30
    assert config.plotting.nice == 10
    assert config.plotting.env == {"CHIA_ROOT": "/srv/chia", "PORT": "8444"}
    assert config.plotting.options.compression == 7
    assert config.plotting.bladebit.diskplot_cache == 64 * 2**30
    assert config.archiving.rsync_extra_args == ("--partial-dir=.rsync",)


def test_paths_expand_home_and_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/farmer")

    config = parse_config({"directories": {"tmp": ["~/plot/", "/srv//plot/../tmp"]}})

    assert config.directories.tmp == ("/home/farmer/plot", "/srv/tmp")


def test_load_config_expands_home_in_its_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "plotfleet.yml").write_text("directories: {tmp: [/t]}\n")

    assert load_config("~/plotfleet.yml").directories.tmp == ("/t",)


def test_null_means_left_out() -> None:
    config = parse_config({"directories": {"tmp": ["/t"], "dst": None, "tmp2": None}, "logging": None})

    assert config.directories.dst == ("/t",)
    assert config.logging.plots == "/var/log/plotfleet/plots"


def test_k_below_32_with_override() -> None:
    config = parse_config({**MINIMAL, "plotting": {"chia": {"k": 25, "override_k": True}}})

    assert config.plotting.chia.k == 25


def test_madmax_with_its_keys() -> None:
    config = parse_config(
        {
            **MINIMAL,
            "plotting": {
                "type": "madmax",
                "farmer_pk": "0x" + "ab" * 48,
                "pool_contract_address": "xch1" + "q" * 58,
                "madmax": {"executable": "/opt/madmax/chia_plot", "n_threads": 16},
            },
        }
    )

    assert config.plotting.options.n_threads == 16


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (0, 0),
        (123, 123),
        ("123", 123),
        ("100G", 100 * 2**30),
        ("100 GiB", 100 * 2**30),
        ("100GB", 100 * 10**9),
        ("500MB", 500 * 10**6),
        ("1.5 TiB", 3 * 2**39),
        ("1.5t", 3 * 2**39),
        ("64k", 65536),
        ("2 B", 2),
        (" 7 Mi ", 7 * 2**20),
    ],
)
def test_parse_size(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "-1", "1.5 XB", "ten G", -5, True, 1.5, None, [1]])
def test_parse_size_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_config_error_lists_problems_one_per_line() -> None:
    error = ConfigError(["a: first", "b: second"], "/etc/plotfleet/plotfleet.yml")

    assert str(error).splitlines() == [
        "/etc/plotfleet/plotfleet.yml: a: first",
        "/etc/plotfleet/plotfleet.yml: b: second",
    ]
    assert error.problems == ["a: first", "b: second"]
    assert error.source == "/etc/plotfleet/plotfleet.yml"


def test_a_plotman_archiving_section_is_said_to_be_unused_with_its_equivalent() -> None:
    from ansible_collections.plotfleet.fleet.plugins.module_utils.config.model import plotman_archiving_notice

    notice = plotman_archiving_notice(load_config(str(CONFIGS / "plotman-default.yaml")).archiving)
    assert notice and "'local_rsync'" in notice and "read but not used" in notice and "archive.yml" in notice
    assert "harvester_archive_dirs: [{path: /srv/farm}]" in notice
    assert plotman_archiving_notice(parse_config({"directories": {"tmp": ["/t"]}}).archiving) is None
