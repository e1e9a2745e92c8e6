#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_verify
short_description: Verify the plots that landed in a harvester's archive dirs; quarantine the bad ones
description:
  - For every plot in the archive dirs that is not yet verified, checks its header (the plot id
    and k in the header against the name, table pointers within the file) and its size against
    the range for its kind; optionally runs C(chia plots check -n N) on v1 plots and k28 v2 plots.
  - A plot that fails is moved to C(<archive dir>/.plotfleet-quarantine/<name>.quarantined) on the
    same disk, with the reasons in C(<name>.reason.json) beside it. It is never deleted, and no
    chia harvester, census or archive plan counts it as a plot any more.
  - Plots that pass are recorded in C(<archive dir>/.plotfleet-verified) (name, size, mtime), so
    each plot is checked once; a lost record means checks are repeated, never skipped.
  - Where the harvester config names a local chia harvester (C(verify.harvester_rpc)), the
    harvester is asked to refresh and each plot that passed is confirmed loaded through its RPC
    (C(get_plots)); plots it failed to open are reported.
  - The rsync daemon's C(post-xfer exec) hook installed by the C(harvester) role does the same
    right after each landing; this module catches whatever the hook did not see.
  - Files whose names are not plot names plotfleet knows are left alone.
  - Does nothing (and says so) where the harvester config does not enable verification.
  - Every verdict is logged on the harvester (C(verify.log_file), default
    C(/var/log/plotfleet/verify.log)).
version_added: "0.1.0"
options:
  config:
    description:
      - Path of the harvester configuration written by the C(harvester) role (archive dirs and
        the C(verify) settings).
    type: path
    default: /etc/plotfleet/harvester.yml
  paths:
    description:
      - Verify only these archive dirs (each must be one in O(config)). Default all of them.
    type: list
    elements: path
  chia_check_challenges:
    description:
      - Challenges for C(chia plots check); C(0) turns it off. Default the config's
        C(verify.chia_check_challenges).
    type: int
  confirm_farmed:
    description:
      - Ask the local chia harvester, when the config names one, to load the plots that passed.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Checks and reports; moves, records and asks the chia harvester nothing.
  diff_mode:
    support: none
    description: Quarantined plots are listed in the result.
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: Verify what landed on the harvesters
  plotfleet_verify:
  register: verified

- name: Prove every new plot with 5 challenges as well
  plotfleet_verify:
    chia_check_challenges: 5

# Ad hoc:
#   ansible harvesters -m plotfleet_verify --check
"""

RETURN = r"""
verified:
  description: One entry per plot verified in this run (plots verified before are not repeated).
  returned: always
  type: list
  elements: dict
  contains:
    dir:
      description: The archive dir.
      type: str
      sample: /mnt/hdd01
    name:
      description: The plot's file name.
      type: str
      sample: plot-k28-ce02945384...e9b7c4.plot2
    path:
      description: Where it was found.
      type: str
      sample: /mnt/hdd01/plot-k28-ce02945384...e9b7c4.plot2
    size_bytes:
      description: Its size.
      type: int
      sample: 988454028
    passed:
      description: Whether every check passed.
      type: bool
      sample: true
    checks:
      description: The checks run, C(header) (always) and C(chia) (C(chia plots check)).
      type: list
      elements: str
      sample: [header]
    problems:
      description: What failed; empty when it passed.
      type: list
      elements: str
      sample: []
    quarantined_to:
      description: Where the failing plot was moved; null when it passed (or in check mode).
      type: str
      sample: null
    farmed:
      description: Whether the local chia harvester loaded it; null when there is none to ask.
      type: bool
      sample: true
    harvester_error:
      description: Why the chia harvester does not farm it; null when it does or was not asked.
      type: str
      sample: null
quarantined:
  description: The plots of RV(verified) that failed (moved to quarantine unless in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/mnt/hdd01/plot-k32-2026-01-02-03-04-ab...cd.plot", "problems": ["plot id in the header is ..."]}]
not_farmed:
  description: The plots of RV(verified) that passed but the chia harvester did not load.
  returned: always
  type: list
  elements: dict
  sample: []
enabled:
  description:
    - Whether verification is enabled in the harvester config (its C(verify) section, written by
      the C(harvester) role with C(harvester_verify_enabled)). When not, nothing is checked and
      RV(msg) says so.
  returned: always
  type: bool
  sample: true
dirs:
  description: Per archive dir, the plots now in its quarantine (from any run).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The archive dir.
      type: str
      sample: /mnt/hdd01
    error:
      description: Why the dir could not be verified; null when it was.
      type: str
      sample: null
    quarantined:
      description: Quarantined plots (name, path, size_bytes, problems, quarantined_at).
      type: list
      elements: dict
      sample: []
"""

import dataclasses
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import bytecode_cache  # noqa: F401 - first: what follows is compiled once per host
from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
    HarvesterConfigError,
    load_harvester_config,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import normalise_path
from ansible_collections.plotfleet.fleet.plugins.module_utils.plotverify import (
    compact_record,
    confirm_farmed,
    list_quarantined,
    log_verdicts,
    verify_dir,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "path", "default": "/etc/plotfleet/harvester.yml"},
            "paths": {"type": "list", "elements": "path"},
            "chia_check_challenges": {"type": "int"},
            "confirm_farmed": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        config = load_harvester_config(params["config"])
    except HarvesterConfigError as err:
        module.fail_json(msg=f"load harvester config {params['config']}: {err}", problems=err.problems)
    settings = config.verify
    if not settings.enabled:
        module.exit_json(changed=False, enabled=False, verified=[], quarantined=[], not_farmed=[], dirs=[],
                         msg=f"plot verification is not enabled in {params['config']} (no verify section, or "
                             f"enabled: false; roles/harvester writes it: harvester_verify_enabled)")
    if params["chia_check_challenges"] is not None:
        if params["chia_check_challenges"] < 0:
            module.fail_json(msg=f"verify plots: chia_check_challenges must be >= 0, got "
                                 f"{params['chia_check_challenges']}")
        if params["chia_check_challenges"] and not (settings.chia_bin and settings.chia_root):
            module.fail_json(msg="verify plots: chia_check_challenges needs verify.chia_bin and verify.chia_root "
                                 f"in {params['config']} (set harvester_chia_enabled in the harvester role)")
        settings = dataclasses.replace(settings, chia_check_challenges=params["chia_check_challenges"])
    known = [item.path for item in config.archive_dirs]
    wanted = known if params["paths"] is None else [normalise_path(path) for path in params["paths"]]
    unknown = [path for path in wanted if path not in known]
    if unknown:
        module.fail_json(msg=f"verify plots: {', '.join(unknown)} not an archive dir in {params['config']} "
                             f"(archive dirs: {', '.join(known) or 'none'})")

    verdicts, dirs = [], []
    for path in wanted:
        entry = {"path": path, "error": None}
        try:
            found = verify_dir(path, settings, check_mode=module.check_mode)
            if not module.check_mode:
                compact_record(path)
        except OSError as err:
            entry["error"] = f"cannot verify {path}: {err.strerror or err}"
            module.warn(f"archive dir {path}: {entry['error']}")
            found = []
        verdicts.extend(found)
        entry["quarantined"] = list_quarantined(path)
        dirs.append(entry)
    if params["confirm_farmed"] and not module.check_mode:
        confirm_farmed(verdicts, settings)
    if not module.check_mode:
        log_verdicts(verdicts, settings.log_file, time.time(), "plotfleet_verify")
    for item in verdicts:
        if item.problems:
            state = "would be quarantined" if module.check_mode else f"quarantined to {item.quarantined_to}"
            module.warn(f"plot {os.path.join(item.dir, item.name)} {state}: {'; '.join(item.problems)}")
        elif item.farmed is False:
            module.warn(f"plot {os.path.join(item.dir, item.name)} is not farmed: {item.harvester_error}")
    results = [item.as_dict() for item in verdicts]
    module.exit_json(
        changed=bool(verdicts),  # each was recorded or quarantined (or would be, in check mode)
        verified=results,
        quarantined=[item for item in results if not item["passed"]],
        not_farmed=[item for item in results if item["passed"] and item["farmed"] is False],
        dirs=dirs,
        enabled=True,
    )


if __name__ == "__main__":
    main()
