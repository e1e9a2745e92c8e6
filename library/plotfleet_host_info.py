#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_host_info
short_description: Read a plotter, a harvester or both in one run, as status.yml shows them
description:
  - The read C(status.yml) runs on every host. For a plotter it returns what M(plotfleet_jobs_info)
    returns (jobs, tmp and dst dirs, transfers, pauses), for a harvester what M(plotfleet_space_info)
    returns from the role's config (archive dirs with their census and quarantined plots), and for a
    host with both roles both, in one module run.
  - A role that cannot be read (no config file, a bad config, psutil missing) is that role's
    C(failed) result with its message; the other role is still read and the module does not fail.
  - Stateless and read-only; safe to run as often as wanted.
version_added: "0.1.0"
options:
  plotter:
    description:
      - Read the host as a plotter.
    type: bool
    default: false
  harvester:
    description:
      - Read the host as a harvester.
    type: bool
    default: false
  plotter_config:
    description:
      - Path of the plotter configuration written by the C(plotter) role.
    type: path
    default: /etc/plotfleet/plotfleet.yml
  harvester_config:
    description:
      - Path of the archive dir list written by the C(harvester) role.
    type: path
    default: /etc/plotfleet/harvester.yml
attributes:
  check_mode:
    support: full
    description: The module never changes anything.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
requirements:
  - psutil on a plotter
notes:
  - One module for both roles so that C(status.yml) runs one task on every host (Ansible's own
    cost per task and host is paid once) and Ansible packs one module per run, not two.
seealso:
  - module: plotfleet_jobs_info
  - module: plotfleet_space_info
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: Read every host in the roles its inventory groups give it
  plotfleet_host_info:
    plotter: "{{ inventory_hostname in groups.get('plotters', []) }}"
    harvester: "{{ inventory_hostname in groups.get('harvesters', []) }}"
  register: plotfleet_host

# Ad hoc:
#   ansible plotter01 -m plotfleet_host_info -a plotter=true
"""

RETURN = r"""
plotter:
  description:
    - What M(plotfleet_jobs_info) returns (C(jobs), C(tmp_dirs), C(dst_dirs), C(transfers),
      C(paused)), or C(failed) and C(msg) (and C(problems) for a bad config) if the host could not
      be read as a plotter.
  returned: when I(plotter=true)
  type: dict
  sample: {"jobs": [], "tmp_dirs": [], "dst_dirs": [], "transfers": [], "paused": {}}
harvester:
  description:
    - What M(plotfleet_space_info) returns for the role's config (C(archive_dirs), C(host),
      C(rsync_version)), or C(failed) and C(msg) if the host could not be read as a harvester.
  returned: when I(harvester=true)
  type: dict
  sample: {"archive_dirs": [], "host": {"free_bytes": 0}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import bytecode_cache  # noqa: F401 - first: what follows is compiled once per host
from ansible_collections.plotfleet.fleet.plugins.module_utils.hostread import (
    DEFAULT_HARVESTER_CONFIG,
    DEFAULT_PLOTTER_CONFIG,
    read_host,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "plotter": {"type": "bool", "default": False},
            "harvester": {"type": "bool", "default": False},
            "plotter_config": {"type": "path", "default": DEFAULT_PLOTTER_CONFIG},
            "harvester_config": {"type": "path", "default": DEFAULT_HARVESTER_CONFIG},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not (params["plotter"] or params["harvester"]):
        module.fail_json(msg="nothing to read: give plotter=true, harvester=true or both")
    result, warnings = read_host(params["plotter_config"] if params["plotter"] else None,
                                 params["harvester_config"] if params["harvester"] else None)
    for line in warnings:
        module.warn(line)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
