"""The ``plotting.chia_v2`` section: v2 plots through plotfleet's launcher of chia's own code."""

from __future__ import annotations

import pytest

from ansible_collections.plotfleet.fleet.plugins.module_utils.config import ChiaV2Options, ConfigError, parse_config
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotters import build_command, parse_command

MINIMAL = {"directories": {"tmp": ["/srv/plot/nvme0"], "dst": ["/srv/plot/dst0"]}}
FARMER = "aefe1789d6476f60439e1168f588ea16652dc321279f05a805fbc63933e88ae9c175d6c6ab182e54af562e1a0dce41bb"
POOL = "b6144137baa6440c17386d1a407fb3670d3b3627b4fa8bf4b56433f861eaba4e076cefac1d9365de56a0e5d976ad7354"


def v2(**section: object) -> dict:
    return {**MINIMAL, "plotting": {"type": "chia_v2", "farmer_pk": FARMER, "pool_pk": POOL, "chia_v2": section}}


def test_defaults_are_mainnet_k28_strength_2() -> None:
    config = parse_config({**MINIMAL, "plotting": {"type": "chia_v2"}})

    assert config.plotting.options == ChiaV2Options()
    assert (config.plotting.options.k, config.plotting.options.strength) == (28, 2)
    assert config.plotting.options.executable == "/usr/local/lib/plotfleet/plotfleet-chia-plot2"


def test_every_key_is_read_and_starts_the_job_it_describes() -> None:
    config = parse_config(v2(executable="/opt/pf/plotfleet-chia-plot2", python="/opt/chia/bin/python", k=20,
                             override_k=True, strength=5, x=True))
    options = config.plotting.options
    assert options == ChiaV2Options("/opt/pf/plotfleet-chia-plot2", "/opt/chia/bin/python", 20, 5, True, True)

    argv = build_command("chia_v2", options, config.plotting, "/srv/plot/nvme0", None, "/srv/plot/dst0")
    assert argv[:2] == ["/opt/chia/bin/python", "/opt/pf/plotfleet-chia-plot2"]
    args = parse_command(argv, "/")
    assert args is not None and (args.plotter, args.k, args.farmer_pk, args.pool_pk) == ("chia_v2", 20, FARMER, POOL)


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"k": 18}, "plotting.chia_v2.k: k other than 28 also needs plotting.chia_v2.override_k: true, got 18"),
        ({"k": 19, "override_k": True}, "plotting.chia_v2.k: must be an even integer from 18 to 32, got 19"),
        ({"k": 16, "override_k": True}, "plotting.chia_v2.k: must be an even integer from 18 to 32, got 16"),
        ({"strength": 1}, "plotting.chia_v2.strength: must be an integer from 2 to 17, got 1"),
        ({"strength": "high"}, 'plotting.chia_v2.strength: must be an integer from 2 to 17, got "high"'),
        ({"executable": "/usr/bin/chia"},
         "plotting.chia_v2.executable: must be the plotfleet-chia-plot2 launcher (any dir), got /usr/bin/chia"),
        ({"threads": 4}, "plotting.chia_v2.threads: unknown key"),
    ],
)  # fmt: skip
def test_bad_values_name_their_key(section: dict, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(v2(**section))
    assert any(p.startswith(problem) for p in error.value.problems), error.value.problems
