"""The shipped inventories load in Ansible and their plotter configs are valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.plotfleet.fleet.plugins.module_utils.config import parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_plotter_config_is_valid():
    data = yaml.safe_load((ROOT / "inventory/example/group_vars/plotters.yml").read_text())
    config = parse_config(data["plotter_config"], source="inventory/example")
    assert config.plotting.type == "madmax"
    assert config.scheduling.dst_reserve_bytes == 10 * 1024**3


@pytest.mark.parametrize("inventory", ["inventory/local.yml", "inventory/example/hosts.yml"])
def test_inventory_has_plotters_and_harvesters(inventory):
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", inventory, "--list"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60).stdout
    groups = json.loads(out)
    assert groups["plotters"]["hosts"] and groups["harvesters"]["hosts"]
