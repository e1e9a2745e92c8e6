"""The plotter config: every kind of mistake is reported with its key path, all at once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import ansible_collections.plotfleet.fleet.plugins.module_utils.config as config_module
from ansible_collections.plotfleet.fleet.plugins.module_utils.config import ConfigError, load_config, parse_config

TMP = {"tmp": ["/srv/plot/nvme0", "/srv/plot/nvme1"]}


def problems_of(document: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(document)
    return caught.value.problems


def problems_with(section: str, values: dict[str, Any]) -> list[str]:
    """Problems of a config with valid directories plus one section."""
    document: dict[str, Any] = {"directories": dict(TMP)}
    document[section] = {**document.get(section, {}), **values}
    return problems_of(document)


def load_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(f"{path}: ")
    return caught.value.problems


# The document as a whole.


def test_empty_document() -> None:
    assert problems_of(None) == ["the config is empty; it needs at least directories.tmp"]


@pytest.mark.parametrize(("document", "shown"), [(["a"], 'a list ["a"]'), ("tmp", '"tmp"'), (3, "3")])
def test_document_that_is_not_a_mapping(document: Any, shown: str) -> None:
    [problem] = problems_of(document)

    assert problem.startswith("the config must be a mapping of sections (")
    assert problem.endswith(f"got {shown}")


def test_missing_directories() -> None:
    assert problems_of({"scheduling": {}}) == [
        "directories: missing required key; expected a mapping with at least tmp (a list of paths)"
    ]


def test_missing_tmp() -> None:
    assert problems_of({"directories": {"dst": ["/d"]}}) == [
        "directories.tmp: missing required key; expected a non-empty list of absolute paths"
    ]


def test_unknown_section_suggests_the_right_one() -> None:
    assert problems_of({"directories": TMP, "schedulng": {}}) == ["schedulng: unknown key; did you mean scheduling?"]


def test_unknown_key_without_a_near_miss_lists_the_allowed_ones() -> None:
    [problem] = problems_with("logging", {"zzz": "/x"})

    assert problem == "logging.zzz: unknown key; expected one of: plots, transfers, application, disk_spaces"


@pytest.mark.parametrize(
    ("section", "values", "expected"),
    [
        (
            "scheduling",
            {"global_stager_m": 5},
            "scheduling.global_stager_m: unknown key; did you mean global_stagger_m?",
        ),
        ("plotting", {"chia": {"n_bucket": 64}}, "plotting.chia.n_bucket: unknown key; did you mean n_buckets?"),
        ("plotting", {"typ": "chia"}, "plotting.typ: unknown key; did you mean type?"),
        (
            "archiving",
            {"parallel_transfer": 2},
            "archiving.parallel_transfer: unknown key; did you mean parallel_transfers?",
        ),
        (
            "commands",
            {"interactive": {"autostart_plot": True}},
            "commands.interactive.autostart_plot: unknown key; did you mean autostart_plotting?",
        ),
    ],
)
def test_did_you_mean(section: str, values: dict[str, Any], expected: str) -> None:
    assert problems_with(section, values) == [expected]


# Wrong values and types.


@pytest.mark.parametrize(
    ("section", "values", "expected"),
    [
        (
            "scheduling",
            {"tmpdir_max_jobs": "three"},
            'scheduling.tmpdir_max_jobs: must be an integer >= 1, got "three"',
        ),
        ("scheduling", {"tmpdir_max_jobs": "3"}, 'scheduling.tmpdir_max_jobs: must be an integer >= 1, got "3"'),
        ("scheduling", {"tmpdir_max_jobs": 0}, "scheduling.tmpdir_max_jobs: must be an integer >= 1, got 0"),
        ("scheduling", {"global_max_jobs": True}, "scheduling.global_max_jobs: must be an integer >= 1, got true"),
        ("scheduling", {"global_stagger_m": 2.5}, "scheduling.global_stagger_m: must be an integer >= 0, got 2.5"),
        (
            "scheduling",
            {"tmpdir_stagger_phase_major": 6},
            "scheduling.tmpdir_stagger_phase_major: must be an integer from 1 to 5, got 6",
        ),
        (
            "scheduling",
            {"dst_free_space_guard": "yes"},
            'scheduling.dst_free_space_guard: must be true or false, got "yes"',
        ),
        ("scheduling", {"phase1_max_jobs": 0}, "scheduling.phase1_max_jobs: must be an integer >= 1, got 0"),
        (
            "scheduling",
            {"dst_reserve_bytes": "lots"},
            'scheduling.dst_reserve_bytes: must be a size: bytes as an integer >= 0, or a string like "100G", '
            '"1.5 TiB", got "lots"',
        ),
        (
            "scheduling",
            {"tmp_overrides": ["/srv/plot/nvme0"]},
            'scheduling.tmp_overrides: must be a mapping, got a list ["/srv/plot/nvme0"]',
        ),
        ("logging", {"plots": ["/a"]}, 'logging.plots: must be an absolute path, got a list ["/a"]'),
        (
            "plotting",
            {"type": "madmx"},
            'plotting.type: must be one of chia, madmax, bladebit, chia_v2, got "madmx"; did you mean madmax?',
        ),
        ("plotting", {"nice": 20}, "plotting.nice: must be an integer from -20 to 19, got 20"),
        (
            "plotting",
            {"env": ["CHIA_ROOT=/x"]},
            'plotting.env: must be a mapping of environment variable names to strings, got a list ["CHIA_ROOT=/x"]',
        ),
        ("plotting", {"env": {"CHIA_ROOT": True}}, "plotting.env.CHIA_ROOT: must be a string, got true"),
        (
            "plotting",
            {"env": {"CHIA ROOT": "/x"}},
            'plotting.env["CHIA ROOT"]: not a valid environment variable name (letters, digits, _)',
        ),
        (
            "plotting",
            {"farmer_pk": "abc"},
            'plotting.farmer_pk: must be a public key: 96 hex digits (chia keys show), got "abc"',
        ),
        ("plotting", {"chia": {"e": "False"}}, 'plotting.chia.e: must be true or false, got "False"'),
        (
            "plotting",
            {"chia": {"n_buckets": 256}},
            "plotting.chia.n_buckets: must be an integer from 16 to 128, got 256",
        ),
        (
            "plotting",
            {"chia": {"k": 25}},
            "plotting.chia.k: k below 32 also needs plotting.chia.override_k: true, got 25",
        ),
        (
            "plotting",
            {"chia": {"executable": "bin/chia"}},
            'plotting.chia.executable: must be an absolute path or a program name found on PATH, got "bin/chia"',
        ),
        (
            "plotting",
            {"madmax": {"n_buckets": 100}},
            "plotting.madmax.n_buckets: must be a power of two from 16 to 4096, got 100",
        ),
        ("plotting", {"madmax": "fast"}, 'plotting.madmax: must be a mapping, got "fast"'),
        (
            "plotting",
            {"bladebit": {"compression": 9}},
            "plotting.bladebit.compression: must be an integer from 0 to 7, got 9",
        ),
        (
            "plotting",
            {"bladebit": {"diskplot_cache": "64G"}},
            "plotting.bladebit.diskplot_cache: only used with mode: diskplot, but mode is ramplot",
        ),
        ("archiving", {"parallel_transfers": 0}, "archiving.parallel_transfers: must be an integer >= 1, got 0"),
        ("archiving", {"bwlimit": "80M"}, 'archiving.bwlimit: must be an integer >= 1, got "80M"'),
        (
            "archiving",
            {"rsync_extra_args": "--compress"},
            'archiving.rsync_extra_args: must be a list of strings, got "--compress"',
        ),
        (
            "archiving",
            {"rsync_user": "farmer@host"},
            "archiving.rsync_user: must be a user name (letters, digits, '.', '_', '-'), got \"farmer@host\"",
        ),
        ("user_interface", {"use_stty_size": 1}, "user_interface.use_stty_size: must be true or false, got 1"),
    ],
)
def test_bad_value(section: str, values: dict[str, Any], expected: str) -> None:
    assert problems_with(section, values) == [expected]


@pytest.mark.parametrize(
    ("directories", "expected"),
    [
        (
            {"tmp": "/srv/plot/nvme0"},
            'directories.tmp: must be a non-empty list of absolute paths, got "/srv/plot/nvme0"',
        ),
        ({"tmp": []}, "directories.tmp: must be a non-empty list of absolute paths, got a list []"),
        ({"tmp": None}, "directories.tmp: missing required key; expected a non-empty list of absolute paths, got null"),
        (
            {"tmp": {"a": "/x"}},
            'directories.tmp: must be a non-empty list of absolute paths, got a mapping {"a": "/x"}',
        ),
        (
            {"tmp": ["/a", "plot/b"]},
            'directories.tmp[1]: must be an absolute path (starting with / or ~), got "plot/b"',
        ),
        (
            {"tmp": ["/a"], "tmp2": "tmp2"},
            'directories.tmp2: must be an absolute path (starting with / or ~), got "tmp2"',
        ),
        ({"tmp": ["/a"], "dst": "/d"}, 'directories.dst: must be a non-empty list of absolute paths, got "/d"'),
        ({"tmp": ["/a", "/b/", "/b"]}, 'directories.tmp[2]: "/b" is listed twice (also directories.tmp[1])'),
    ],
)
def test_bad_directories(directories: dict[str, Any], expected: str) -> None:
    assert problems_of({"directories": directories}) == [expected]


def test_directories_that_is_a_list() -> None:
    assert problems_of({"directories": ["/a"]}) == ['directories: must be a mapping, got a list ["/a"]']


def test_every_bad_list_item_is_reported() -> None:
    assert problems_of({"directories": {"tmp": ["a", "/b", 3]}}) == [
        'directories.tmp[0]: must be an absolute path (starting with / or ~), got "a"',
        "directories.tmp[2]: must be an absolute path, got 3",
    ]


# Relations between keys.


def test_tmp_override_for_a_dir_not_in_tmp_suggests_the_near_one() -> None:
    problems = problems_with("scheduling", {"tmp_overrides": {"/srv/plot/nvme3": {"tmpdir_max_jobs": 2}}})

    assert problems == [
        'scheduling.tmp_overrides["/srv/plot/nvme3"]: not one of directories.tmp; did you mean /srv/plot/nvme1?'
    ]


def test_tmp_override_problems_name_the_dir() -> None:
    problems = problems_with(
        "scheduling",
        {"tmp_overrides": {"/srv/plot/nvme0": {"tmpdir_max_jobs": "x", "tmpdir_max_job": 1}, "relative": {}}},
    )

    assert problems == [
        'scheduling.tmp_overrides["/srv/plot/nvme0"].tmpdir_max_jobs: must be an integer >= 1, got "x"',
        'scheduling.tmp_overrides["/srv/plot/nvme0"].tmpdir_max_job: unknown key; did you mean tmpdir_max_jobs?',
        'scheduling.tmp_overrides.relative: must be an absolute path (starting with / or ~), got "relative"',
    ]


def test_madmax_needs_its_keys() -> None:
    assert problems_with("plotting", {"type": "madmax"}) == [
        "plotting.farmer_pk: missing required key; madMAx needs the farmer public key",
        "plotting.pool_contract_address: missing required key; madMAx needs it or plotting.pool_pk",
    ]


def test_pool_pk_and_contract_address_exclude_each_other() -> None:
    problems = problems_with("plotting", {"pool_pk": "a" * 96, "pool_contract_address": "xch1" + "q" * 58})

    assert problems == ["plotting.pool_contract_address: give either pool_pk or pool_contract_address, not both"]


def test_legacy_key_given_twice() -> None:
    assert problems_with("plotting", {"k": 32, "chia": {"k": 33}}) == [
        "plotting.k: also set as plotting.chia.k; keep one"
    ]


def test_unsafe_rsync_args_are_refused() -> None:
    [problem] = problems_with("archiving", {"rsync_extra_args": ["-v", "--inplace"]})

    assert problem.startswith('archiving.rsync_extra_args[1]: "--inplace" is not allowed: ')


def test_plotman_archiving_needs_a_known_target() -> None:
    assert problems_with("archiving", {"env": {"site_root": "/farm"}}) == [
        "archiving.target: missing required key; plotman's archiving form (env) needs the name of a target"
    ]
    assert problems_with("archiving", {"target": "rsyncs"}) == [
        'archiving.target: no target definition named "rsyncs"; did you mean rsyncd?'
    ]


def test_plotman_target_definitions_are_checked() -> None:
    problems = problems_with(
        "archiving",
        {"target": "mine", "target_definitions": {"mine": {"transfer_process_name": "rsync", "disk_space_path": "x"}}},
    )

    assert problems == [
        "archiving.target_definitions.mine.transfer_process_argument_prefix: missing required key; "
        "expected an argument prefix",
        'archiving.target_definitions.mine.disk_space_path: must be an absolute path (starting with / or ~), got "x"',
    ]


def test_version_other_than_2() -> None:
    assert problems_of({"version": [1], "directories": TMP}) == [
        "version: must be [2] (plotman's config format 2) or left out, got a list [1]"
    ]


def test_all_problems_are_reported_together() -> None:
    problems = problems_of(
        {
            "directories": {"tmp": ["relative/tmp"]},
            "scheduling": {"tmpdir_max_jobs": "three", "global_stager_m": 30},
            "plotting": {"type": "chia", "chia": {"n_threads": 0}},
            "archiving": {"bwlimit": -1},
            "extra": True,
        }
    )

    assert problems == [
        'directories.tmp[0]: must be an absolute path (starting with / or ~), got "relative/tmp"',
        'scheduling.tmpdir_max_jobs: must be an integer >= 1, got "three"',
        "scheduling.global_stager_m: unknown key; did you mean global_stagger_m?",
        "archiving.bwlimit: must be an integer >= 1, got -1",
        "plotting.chia.n_threads: must be an integer >= 1, got 0",
        "extra: unknown key; expected one of: version, logging, user_interface, commands, directories, scheduling, "
        "archiving, plotting",
    ]


# Files.


def test_missing_file(tmp_path: Path) -> None:
    [problem] = load_problems(tmp_path / "nope.yml")

    assert problem.startswith("cannot read the config file: no such file; ")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert load_problems(tmp_path) == [
        "cannot read the config file: it is a directory; config must name the YAML file itself"
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "plotfleet.yml"
    path.write_text("directories: {tmp: [/t]}\n")
    path.chmod(0)

    [problem] = load_problems(path)

    assert problem.startswith("cannot read the config file: permission denied")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "plotfleet.yml"
    path.write_bytes(b"directories:\n  tmp: [/t\xff]\n")

    assert load_problems(path) == ["cannot read the config file: not UTF-8 text (byte 23)"]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "plotfleet.yml"
    path.write_text("# nothing yet\n")

    assert load_problems(path) == ["the config is empty; it needs at least directories.tmp"]


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "plotfleet.yml"
    path.write_text("directories:\n  tmp: [/a, /b\nscheduling:\n  global_max_jobs: 3\n")

    [problem] = load_problems(path)

    assert problem.startswith("invalid YAML at line 3, column 11: ")


def test_yaml_tab_indentation(tmp_path: Path) -> None:
    path = tmp_path / "plotfleet.yml"
    path.write_text("directories:\n\ttmp: [/a]\n")

    [problem] = load_problems(path)

    assert problem.startswith("invalid YAML at line 2, column 1: found character '\\t'")


def test_key_given_twice_is_reported_with_the_other_problems(tmp_path: Path) -> None:
    path = tmp_path / "plotfleet.yml"
    path.write_text("directories:\n  tmp: [/a]\n  tmp: [/b]\nscheduling:\n  tmpdir_max_jobs: 0\n")

    assert load_problems(path) == [
        'line 3: key "tmp" is given twice in one mapping (first on line 2); YAML would keep only the last',
        "scheduling.tmpdir_max_jobs: must be an integer >= 1, got 0",
    ]


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "plotfleet.yml"
    path.write_text(
        "x-limits: &limits {tmpdir_max_jobs: 2}\n"
        "directories: {tmp: [/a]}\n"
        "scheduling: {<<: *limits, global_max_jobs: 4}\n"
    )

    [problem] = load_problems(path)  # only the anchor's holder, an unknown section

    assert problem.startswith("x-limits: unknown key")


def test_pyyaml_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "yaml", None)

    [problem] = load_problems(tmp_path / "plotfleet.yml")

    assert "PyYAML is not installed" in problem


def test_tmp_override_given_twice_in_two_spellings() -> None:
    problems = problems_with("scheduling", {"tmp_overrides": {"/srv/plot/nvme0": {}, "/srv/plot/nvme0/": {}}})

    assert problems == ['scheduling.tmp_overrides["/srv/plot/nvme0/"]: "/srv/plot/nvme0" has an entry already']


def test_bad_legacy_key_is_reported_where_it_is() -> None:
    assert problems_with("plotting", {"n_threads": "two", "chia": {"n_buckets": 8}}) == [
        'plotting.n_threads: must be an integer >= 1, got "two"',
        "plotting.chia.n_buckets: must be an integer from 16 to 128, got 8",
    ]


def test_legacy_k_below_32_needs_override_k() -> None:
    assert problems_with("plotting", {"k": 25}) == [
        "plotting.k: k below 32 also needs plotting.chia.override_k: true, got 25"
    ]
    config = parse_config({"directories": TMP, "plotting": {"k": 25, "chia": {"override_k": True}}})
    assert config.plotting.chia.k == 25
