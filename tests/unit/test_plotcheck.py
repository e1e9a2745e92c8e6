"""Structural plot checks (headers, sizes) and the verify/quarantine decision, on plain bytes and
files in a temp dir. Real plots from chiapos and chia_rs: tests/integration/test_plot_verify.py."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.chiarpc import confirm_loaded
from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
    HarvesterConfigError,
    parse_harvester_config,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotcheck import (
    HeaderError,
    parse_header,
    size_range,
    structural_problems,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotfiles import PlotKind
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotverify import (
    QUARANTINE_SUBDIR,
    RECORD_NAME,
    VerifySettings,
    list_quarantined,
    load_record,
    verify_dir,
)

PLOT_ID = "ab" * 32
OTHER_ID = "cd" * 32
V1_NAME = f"plot-k18-2026-01-02-03-04-{PLOT_ID}.plot"
V2_NAME = f"plot-k18-{PLOT_ID}.plot2"
V1_K18_SIZE = 4_009_530  # a real chiapos k18 plot
V2_K18_SIZE = 628_065  # a real chia_rs k18 plot, strength 2


def v1_header(plot_id: str = PLOT_ID, k: int = 18, pointers: tuple[int, ...] | None = None) -> bytes:
    pointers = pointers or tuple(268 + i * 300_000 for i in range(10))
    return (b"Proof of Space Plot" + bytes.fromhex(plot_id) + bytes([k]) + struct.pack(">H", 4) + b"v1.0"
            + struct.pack(">H", 128) + bytes(128) + struct.pack(">10Q", *pointers))


def bladebit_header(plot_id: str = PLOT_ID, k: int = 32, level: int = 7) -> bytes:
    return (b"PLOT" + struct.pack("<I", 2) + bytes.fromhex(plot_id) + bytes([k]) + struct.pack(">H", 128)
            + bytes(128) + struct.pack("<I", 1) + bytes([level]) + struct.pack("<10Q", *range(1000, 11000, 1000)))


def pos2_header(plot_id: str = PLOT_ID, k: int = 18, strength: int = 2) -> bytes:
    return (b"pos2" + bytes([1]) + bytes.fromhex(plot_id) + bytes([k, strength]) + struct.pack("<HB", 0, 0)
            + bytes([128]) + bytes(128))


# --- headers ---------------------------------------------------------------------------------


def test_v1_header_gives_id_k_and_table_pointers():
    header = parse_header(v1_header())
    assert (header.layout, header.plot_id, header.k, header.memo_bytes) == ("v1", PLOT_ID, 18, 128)
    assert header.table_pointers[0] == 268


def test_v2_header_gives_id_k_and_strength():
    header = parse_header(pos2_header(strength=5))
    assert (header.layout, header.plot_id, header.k, header.strength) == ("pos2", PLOT_ID, 18, 5)


def test_bladebit_compressed_header_gives_the_level():
    header = parse_header(bladebit_header(level=7))
    assert (header.layout, header.k, header.compression) == ("bladebit-v2", 32, 7)


@pytest.mark.parametrize(("data", "words"), [
    (b"\0" * 200, "no plot header"),
    (v1_header()[:40], "cut short in its plot id"),
    (pos2_header()[:38], "cut short in its k and strength"),
    (b"pos2" + bytes([2]) + bytes(200), "unknown v2 plot format version 2"),
])
def test_unreadable_headers_say_what_is_wrong(data, words):
    with pytest.raises(HeaderError, match=words):
        parse_header(data)


# --- structural problems ------------------------------------------------------------------------


def test_sound_plots_have_no_problems():
    assert structural_problems(V1_NAME, V1_K18_SIZE, v1_header()) == []
    assert structural_problems(V2_NAME, V2_K18_SIZE, pos2_header()) == []


def test_an_id_that_differs_from_the_name_is_a_problem():
    (problem,) = structural_problems(V1_NAME, V1_K18_SIZE, v1_header(OTHER_ID))
    assert problem == f"plot id in the header is {OTHER_ID}, the name says {PLOT_ID}"
    assert "plot id in the header" in structural_problems(V2_NAME, V2_K18_SIZE, pos2_header(OTHER_ID))[0]


def test_a_v2_header_in_a_v1_name_and_a_wrong_k_are_problems():
    problems = structural_problems(V1_NAME, V1_K18_SIZE, pos2_header(k=20))
    assert "a pos2 header in a v1 plot name" in problems
    assert "k in the header is 20, the name says 18" in problems


def test_a_truncated_plot_is_caught_by_its_table_pointers_and_its_size():
    pointers = tuple(268 + i * 400_000 for i in range(10))  # the last table starts at 3.6 MB
    problems = structural_problems(V1_NAME, 3_000_000, v1_header(pointers=pointers))
    assert problems[0] == "truncated: a table starts at byte 3600268, the file has 3000000 bytes"
    assert problems[1].startswith("size 3000000 bytes is outside")


def test_an_unknown_name_is_a_problem():
    assert "is not a plot name plotfleet knows" in structural_problems("plot-k32-foo.plot", 10, v1_header())[0]


def test_bladebit_level_must_match_the_name():
    name = f"plot-k32-c05-2026-01-02-03-04-{PLOT_ID}.plot"
    size = 78 * 1024**3
    assert "compression level in the header is 7, the name says 5" in structural_problems(
        name, size, bladebit_header(level=7))


# --- size ranges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "size"), [
    (PlotKind("v1", 32), int(101.4 * 1024**3)),
    (PlotKind("v1", 25), int(0.626 * 1024**3)),  # measured chia k25
    (PlotKind("v1", 18), V1_K18_SIZE),
    (PlotKind("v1", 18), 3_898_706),  # chia's own k18 with its default buffer
    (PlotKind("v1", 18), 3_499_406),  # the smallest and largest of 40 chia k18 plots
    (PlotKind("v1", 18), 4_331_971),
    (PlotKind("v1", 32, 7, "bladebit"), int(78.0 * 1024**3)),
    (PlotKind("v1", 32, 18, "gigahorse"), int(59.7 * 1024**3)),
    (PlotKind("v2", 28), 988_454_028),
    (PlotKind("v2", 18), V2_K18_SIZE),
    (PlotKind("v2", 18), 643_586),  # strength 5
    (PlotKind("v2", 22), 12_289_468),
])
def test_real_sizes_are_within_their_range(kind, size):
    low, high = size_range(kind)
    assert low <= size <= high


@pytest.mark.parametrize(("kind", "size"), [
    (PlotKind("v1", 32), 92 * 1024**3),  # a k32 missing 9 GiB
    (PlotKind("v1", 32), int(87.5 * 1024**3)),  # a C1 plot named as uncompressed
    (PlotKind("v2", 28), 900_000_000),
    (PlotKind("v2", 28), 2 * 988_454_028),
])
def test_wrong_sizes_are_outside_their_range(kind, size):
    low, high = size_range(kind)
    assert not low <= size <= high


# --- verify and quarantine --------------------------------------------------------------------------


def write_plot(directory: Path, name: str, header: bytes, size: int) -> Path:
    path = directory / name
    with open(path, "wb") as handle:
        handle.write(header)
        handle.truncate(size)
    return path


def test_a_failing_plot_is_quarantined_with_its_reasons_and_a_good_one_stays(tmp_path):
    good = write_plot(tmp_path, V1_NAME, v1_header(), V1_K18_SIZE)
    bad = write_plot(tmp_path, V2_NAME, pos2_header(OTHER_ID), V2_K18_SIZE)
    verdicts = verify_dir(str(tmp_path), VerifySettings(log_file=None), now=lambda: 1_767_000_000)
    by_name = {item.name: item for item in verdicts}
    assert by_name[V1_NAME].passed and by_name[V1_NAME].quarantined_to is None
    assert not by_name[V2_NAME].passed
    assert good.exists() and not bad.exists()
    moved = tmp_path / QUARANTINE_SUBDIR / f"{V2_NAME}.quarantined"
    assert by_name[V2_NAME].quarantined_to == str(moved)
    assert moved.stat().st_size == V2_K18_SIZE
    reason = json.loads((tmp_path / QUARANTINE_SUBDIR / f"{V2_NAME}.reason.json").read_text())
    assert "plot id in the header" in reason["problems"][0]
    (listed,) = list_quarantined(str(tmp_path))
    assert listed["name"] == V2_NAME and listed["problems"] == reason["problems"]
    assert set(load_record(str(tmp_path))) == {V1_NAME}


def test_a_plot_is_checked_once_and_again_when_it_changes_or_the_record_is_lost(tmp_path):
    path = write_plot(tmp_path, V1_NAME, v1_header(), V1_K18_SIZE)
    settings = VerifySettings(log_file=None)
    assert len(verify_dir(str(tmp_path), settings)) == 1
    assert verify_dir(str(tmp_path), settings) == []
    os.utime(path, ns=(1, 1))  # a different file under the same name
    assert [item.name for item in verify_dir(str(tmp_path), settings)] == [V1_NAME]
    (tmp_path / RECORD_NAME).unlink()
    assert [item.name for item in verify_dir(str(tmp_path), settings)] == [V1_NAME]


def test_check_mode_moves_and_records_nothing(tmp_path):
    bad = write_plot(tmp_path, V1_NAME, v1_header(OTHER_ID), V1_K18_SIZE)
    (verdict,) = verify_dir(str(tmp_path), VerifySettings(log_file=None), check_mode=True)
    assert not verdict.passed and verdict.quarantined_to is None
    assert bad.exists() and not (tmp_path / QUARANTINE_SUBDIR).exists() and not (tmp_path / RECORD_NAME).exists()


def test_a_symlink_named_as_a_plot_is_quarantined_without_following_it(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(v1_header())
    (tmp_path / "farm").mkdir()
    (tmp_path / "farm" / V1_NAME).symlink_to(secret)
    (verdict,) = verify_dir(str(tmp_path / "farm"), VerifySettings(log_file=None))
    assert verdict.problems and verdict.problems[0].startswith("cannot read it")
    assert (tmp_path / "farm" / QUARANTINE_SUBDIR / f"{V1_NAME}.quarantined").is_symlink()
    assert secret.read_bytes() == v1_header()


def test_chia_check_runs_only_on_plots_chia_can_prove(tmp_path):
    write_plot(tmp_path, V1_NAME, v1_header(), V1_K18_SIZE)
    write_plot(tmp_path, V2_NAME, pos2_header(), V2_K18_SIZE)
    checked = []

    def failing_check(path, settings):
        checked.append(os.path.basename(path))
        return ["chia plots check -n 5 failed (rc 0): Proofs 0 / 5"]

    settings = VerifySettings(chia_check_challenges=5, chia_bin="/x/chia", chia_root="/x/root", log_file=None)
    verdicts = {item.name: item for item in verify_dir(str(tmp_path), settings, chia_check=failing_check)}
    assert checked == [V1_NAME]  # a k18 v2 plot cannot pass chia's k28 proof check: not asked
    assert verdicts[V1_NAME].checks == ["header", "chia"] and verdicts[V1_NAME].quarantined_to
    assert verdicts[V2_NAME].checks == ["header"] and verdicts[V2_NAME].passed


# --- settings -------------------------------------------------------------------------------------------


def test_verify_settings_name_their_bad_keys():
    with pytest.raises(HarvesterConfigError) as err:
        parse_harvester_config({"archive_dirs": [], "verify": {
            "chia_check_challenges": -1, "chia_bin": "chia", "harvester_rpc": {"port": 0}}})
    assert err.value.problems == [
        "verify.chia_check_challenges: must be an integer >= 0 (0: off), got -1",
        "verify.chia_bin: must be an absolute path, got 'chia'",
        "verify.harvester_rpc.port: must be an integer 1-65535, got 0",
        "verify.harvester_rpc: needs the harvester's CHIA_ROOT in chia_root (its RPC certs live there)",
    ]


def test_no_verify_section_means_no_verification_and_a_section_means_the_structural_check():
    config = parse_harvester_config({"archive_dirs": [{"path": "/mnt/a"}]})
    assert config.verify == VerifySettings() and not config.verify.enabled
    config = parse_harvester_config({"archive_dirs": [], "verify": {"log_file": "/var/log/v.log"}})
    assert config.verify == VerifySettings(enabled=True, log_file="/var/log/v.log")


def test_files_with_names_plotfleet_does_not_send_are_left_alone(tmp_path):
    odd = write_plot(tmp_path, "my-old-plot.plot", b"junk", 10)
    assert verify_dir(str(tmp_path), VerifySettings(log_file=None)) == []
    assert odd.exists()


# --- confirming with the chia harvester ---------------------------------------------------------


def test_confirm_loaded_polls_until_each_plot_is_loaded_or_refused(monkeypatch):
    answers = iter([
        {"success": True},  # refresh_plots
        {"success": True, "plots": [], "failed_to_open_filenames": [], "not_found_filenames": []},
        {"success": True, "plots": [{"filename": "/a/good.plot"}], "failed_to_open_filenames": ["/a/bad.plot"],
         "not_found_filenames": []},
    ])
    calls = []

    def fake_call(root, port, endpoint, body=None, host="127.0.0.1", timeout=10.0, context=None):
        calls.append(endpoint)
        return next(answers)

    from ansible_collections.plotfleet.fleet.plugins.module_utils import chiarpc
    monkeypatch.setattr(chiarpc, "call", fake_call)
    monkeypatch.setattr(chiarpc, "harvester_ssl_context", lambda root: None)
    result = confirm_loaded("/root", 8560, ["/a/good.plot", "/a/bad.plot"], 5, sleep=lambda s: None)
    assert calls == ["refresh_plots", "get_plots", "get_plots"]
    assert result == {"/a/good.plot": (True, None), "/a/bad.plot": (False, "the chia harvester failed to open it")}


# --- reported with the harvester space ------------------------------------------------------------


def test_the_space_report_lists_quarantined_plots_and_counts_them(tmp_path):
    from ansible_collections.plotfleet.fleet.plugins.plugin_utils.space_report import (
        fleet_space_report,
        render_space_table,
    )

    write_plot(tmp_path, V2_NAME, pos2_header(OTHER_ID), V2_K18_SIZE)
    verify_dir(str(tmp_path), VerifySettings(log_file=None))
    quarantined = list_quarantined(str(tmp_path))
    entry = {"path": str(tmp_path), "rsync_module": "m", "free_bytes": 1, "total_bytes": 2, "plots": 0,
             "incoming": [], "quarantined": quarantined}
    report = fleet_space_report({"h1": {"archive_dirs": [entry], "host": {"plots": 0, "quarantined": 1}}})
    assert report["totals"]["quarantined"] == 1
    table = render_space_table(report, with_census=False)
    assert f"h1: QUARANTINED {quarantined[0]['path']}: plot id in the header is {OTHER_ID}" in table
    assert table.endswith("0 plots, 0 incoming, 1 quarantined")


def test_on_a_disk_too_full_for_the_quarantine_dir_the_plot_is_quarantined_in_place(tmp_path, monkeypatch):
    write_plot(tmp_path, V1_NAME, v1_header(OTHER_ID), V1_K18_SIZE)
    real_makedirs = os.makedirs

    def full_disk(path, *args, **kwargs):
        if path.endswith(QUARANTINE_SUBDIR):
            raise OSError(28, "No space left on device")
        return real_makedirs(path, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", full_disk)
    (verdict,) = verify_dir(str(tmp_path), VerifySettings(log_file=None))
    assert verdict.quarantined_to == str(tmp_path / f"{V1_NAME}.quarantined")
    assert not (tmp_path / V1_NAME).exists()
    (listed,) = list_quarantined(str(tmp_path))
    assert listed["path"] == verdict.quarantined_to and listed["name"] == V1_NAME


# --- the post-xfer hook ------------------------------------------------------------------------------


def _harvester_yml(tmp_path, archive: Path, verify: dict | None) -> str:
    data = {"archive_dirs": [{"path": str(archive), "rsync_module": "plots-a"}]}
    if verify is not None:
        data["verify"] = verify
    path = tmp_path / "harvester.yml"
    path.write_text(json.dumps(data))
    return str(path)


def test_the_hook_verifies_the_module_dir_it_is_told_about_and_logs_it(tmp_path):
    from ansible_collections.plotfleet.fleet.plugins.module_utils.verifyhook import run_hook

    archive = tmp_path / "a"
    archive.mkdir()
    write_plot(archive, V1_NAME, v1_header(OTHER_ID), V1_K18_SIZE)
    log = tmp_path / "verify.log"
    config = _harvester_yml(tmp_path, archive, {"log_file": str(log)})
    env = {"RSYNC_MODULE_PATH": str(archive) + "/", "RSYNC_MODULE_NAME": "plots-a", "RSYNC_HOST_ADDR": "10.0.0.2",
           "RSYNC_EXIT_STATUS": "0"}
    assert run_hook(env, config) == 0
    assert (archive / QUARANTINE_SUBDIR / f"{V1_NAME}.quarantined").exists()
    assert f"post-xfer[plots-a from 10.0.0.2, exit 0] {archive / V1_NAME} {V1_K18_SIZE} bytes [header]: " \
           f"QUARANTINED to" in log.read_text()


def test_the_hook_touches_no_dir_but_a_configured_archive_dir_and_nothing_when_verification_is_off(tmp_path):
    from ansible_collections.plotfleet.fleet.plugins.module_utils.verifyhook import run_hook

    archive = tmp_path / "a"
    archive.mkdir()
    plot = write_plot(archive, V1_NAME, v1_header(OTHER_ID), V1_K18_SIZE)
    config = _harvester_yml(tmp_path, archive, {"log_file": None})
    assert run_hook({"RSYNC_MODULE_PATH": str(tmp_path)}, config) == 1
    assert run_hook({}, config) == 1
    off = _harvester_yml(tmp_path, archive, {"enabled": False})
    assert run_hook({"RSYNC_MODULE_PATH": str(archive)}, off) == 0
    assert plot.exists()
