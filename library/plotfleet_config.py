#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_config
short_description: Validate a plotfleet plotter config
description:
  - Checks a plotter config (plotman's schema plus plotfleet's keys) and reports every problem at
    once, each naming its key path, the bad value and what is allowed.
  - Validates either the file on the plotter (I(path)) or a mapping given inline (I(data)), which
    is how the C(plotter) role checks the inventory before writing the file.
  - Returns the config with every default filled in, and the dirs it needs.
version_added: "0.1.0"
options:
  path:
    description:
      - The config file to check. Used when I(data) is not given.
    type: path
    default: /etc/plotfleet/plotfleet.yml
  data:
    description:
      - The config as a mapping, checked instead of a file.
    type: dict
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing changes.
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: Check the inventory's config before writing it
  plotfleet_config:
    data: "{{ plotter_config }}"

# Check the file on every plotter:
#   ansible plotters -m plotfleet_config
"""

RETURN = r"""
config:
  description: The config with defaults filled in, sizes in bytes, paths normalised.
  returned: success
  type: dict
  sample: {"directories": {"tmp": ["/mnt/tmp/00"], "dst": ["/mnt/dst/00"], "tmp2": null}}
dirs:
  description: Every dir the config names (tmp, tmp2, dst, plot logs, transfer logs), deduplicated.
  returned: success
  type: list
  elements: str
  sample: ["/mnt/tmp/00", "/mnt/dst/00", "/var/log/plotfleet/plots"]
problems:
  description: Every problem found, one sentence each, when the config is invalid.
  returned: failure
  type: list
  elements: str
  sample: ['scheduling.tmpdir_max_jobs: must be an integer >= 1, got "three"']
"""

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.plotfleet.config import ConfigError, parse_config
from ansible.module_utils.plotfleet.module_support import load_config_or_fail


def config_dirs(config) -> list[str]:
    dirs = [*config.directories.tmp, config.directories.tmp2, *config.directories.dst,
            config.logging.plots, config.logging.transfers, config.archiving.transfer_log_dir]
    return list(dict.fromkeys(d for d in dirs if d))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/etc/plotfleet/plotfleet.yml"},
            "data": {"type": "dict"},
        },
        supports_check_mode=True,
    )
    if module.params["data"] is not None:
        try:
            config = parse_config(module.params["data"], source="plotter_config")
        except ConfigError as err:
            module.fail_json(msg=f"invalid plotter config:\n{err}", problems=err.problems)
    else:
        config = load_config_or_fail(module, module.params["path"])
    module.exit_json(changed=False, config=config.as_dict(), dirs=config_dirs(config))


if __name__ == "__main__":
    main()
