#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_config_info
short_description: Validate a plotfleet plotter config
description:
  - Checks a plotter config (plotman's schema plus plotfleet's keys) and reports every problem at
    once, each naming its key path, the bad value and what is allowed.
  - Validates either the file on the plotter (I(path)) or a mapping given inline (I(data)), which
    is how the C(plotter) role checks the inventory before writing the file.
  - Returns the config with every default filled in, the log dirs it needs, and its plot dirs
    (tmp, tmp2, dst) each with why it cannot be written now, if it cannot - a dir that does not
    exist, or one marked C(mount) true that is not a mount point (a disk that is not mounted).
    Plot dirs are disks, so plotfleet never creates them.
  - With I(data) (how the C(plotter) role checks the inventory), each plot dir that cannot be
    written now is also a warning.
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
  check_executable:
    description:
      - Also check that the configured plotter program (C(plotting.<type>.executable)) exists on this
        host and is executable (a bare name is looked up on C(PATH), with C(plotting.env) applied),
        as the first plot job would. The C(plotter) role does this at the end of a rollout.
    type: bool
    default: false
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
  plotfleet_config_info:
    data: "{{ plotter_config }}"

# Check the file on every plotter:
#   ansible plotters -m plotfleet_config_info
"""

RETURN = r"""
config:
  description: The config with defaults filled in, sizes in bytes, paths normalised.
  returned: success
  type: dict
  sample: {"directories": {"tmp": ["/mnt/tmp/00"], "dst": ["/mnt/dst/00"], "tmp2": null}}
dirs:
  description: The log dirs the config names (plot logs, transfer logs), deduplicated; the role creates them.
  returned: success
  type: list
  elements: str
  sample: ["/var/log/plotfleet/plots", "/var/log/plotfleet/transfers"]
plot_dirs:
  description: The tmp, tmp2 and dst dirs, each with whether it must be a mount point and why it cannot be written now.
  returned: success
  type: list
  elements: dict
  sample: [{"path": "/mnt/nvme0", "kind": "tmp", "mount": true, "refused": "/mnt/nvme0 does not exist (not mounted?)"}]
problems:
  description: Every problem found, one sentence each, when the config is invalid.
  returned: failure
  type: list
  elements: str
  sample: ['scheduling.tmpdir_max_jobs: must be an integer >= 1, got "three"']
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import bytecode_cache  # noqa: F401 - first: what follows is compiled once per host
from ansible_collections.plotfleet.fleet.plugins.module_utils.config import ConfigError, parse_config
from ansible_collections.plotfleet.fleet.plugins.module_utils.module_support import load_config_or_fail
from ansible_collections.plotfleet.fleet.plugins.module_utils.spawn import SpawnError, resolve_executable


def config_dirs(config) -> list[str]:
    dirs = [config.logging.plots, config.logging.transfers, config.archiving.transfer_log_dir]
    return list(dict.fromkeys(d for d in dirs if d))


def executable_problem(config) -> str | None:
    """Why the configured plotter program cannot start on this host, naming its key; None if it can."""
    plotting = config.plotting
    executable = getattr(plotting.options, "executable", None)
    if not executable:
        return None
    env_path = {**os.environ, **(plotting.env or {})}.get("PATH")
    try:
        resolve_executable(executable, env_path)
    except SpawnError as err:
        return f"plotter_config: plotting.{plotting.type}.executable: {err}"
    return None


def plot_dirs(config) -> list[dict]:
    """tmp, tmp2 and dst dirs (dst only when given: otherwise they are the tmp dirs)."""
    directories = config.directories
    kinds = [("tmp", directories.tmp), ("tmp2", (directories.tmp2,) if directories.tmp2 else ()),
             ("dst", directories.dst if directories.dst_given else ())]
    return [{"path": path, "kind": kind, "mount": path in directories.mounts, "refused": directories.refusal(path)}
            for kind, paths in kinds for path in paths]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/etc/plotfleet/plotfleet.yml"},
            "data": {"type": "dict"},
            "check_executable": {"type": "bool", "default": False},
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
    if module.params["check_executable"]:
        problem = executable_problem(config)
        if problem:
            module.fail_json(msg=problem)
    dirs = plot_dirs(config)
    if module.params["data"] is not None and not module.params["check_executable"]:  # warned once per rollout
        for item in dirs:
            if item["refused"]:
                module.warn(f"{item['kind']} dir {item['refused']}: plotfleet never creates it; "
                            "no job will use it until it is there")
    module.exit_json(changed=False, config=config.as_dict(), dirs=config_dirs(config), plot_dirs=dirs)


if __name__ == "__main__":
    main()
