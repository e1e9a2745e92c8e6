#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_replace
short_description: Make room in a harvester's archive dir for one incoming plot by deleting replaceable plots
description:
  - Runs on a harvester, right before a planned transfer into O(dir) starts. Deletes, from the plots
    the archive plan named in O(delete), just enough to hold O(plot) (O(size_bytes) plus
    O(margin_bytes)) and never more; the most valuable of them are kept when fewer suffice.
  - Every named plot is checked again here against O(rules) (the operator's
    C(plotfleet_replace_rules)); a plot no rule matches, or in the O(target) format, is never
    deleted, and then nothing is.
  - Before the first deletion it writes, under a lock and flushed to disk, a reservation of the dir
    for O(plot) (C(.plotfleet-reservation.json) in the dir). While it holds, the module deletes
    nothing for any other plot in that dir, and a second run for the same plot deletes nothing
    more; so two archive runs at once never delete twice for one plot, and a transfer that fails
    after the deletion is finished by the next run. The reservation is cleared once the plot is in
    the dir (by this module, and with O(state=absent)).
  - Nothing is deleted while the dir is receiving another plot.
  - Each deletion is appended to O(log_file) (time, file, size, kind, rule, the plot it made room for)
    and returned in RV(deleted).
version_added: "0.2.0"
options:
  dir:
    description:
      - The archive dir the plot goes to.
    type: path
    required: true
  plot:
    description:
      - File name of the incoming plot.
    type: str
    required: true
  size_bytes:
    description:
      - Size of the incoming plot.
      - Required with O(state=present).
    type: int
  margin_bytes:
    description:
      - Room to keep free beyond the plot.
    type: int
    default: 1073741824
  delete:
    description:
      - File names in O(dir), least valuable first, that may be deleted for this plot (the archive plan's choice).
    type: list
    elements: str
    default: []
  rules:
    description:
      - The operator's replace rules, C(plotfleet_replace_rules). Each is a mapping of conditions,
        all of which must hold; C(name), C(format) (v1 or v2), C(k), C(compression),
        C(compression_below), C(older_than) (a date), C(older_than_days), C(age_from) (name or
        mtime), C(path) (a glob of the file's path).
    type: list
    elements: dict
    default: []
  target:
    description:
      - The replot target format; its plots are never deleted.
    type: str
    choices: [v1, v2]
    default: v2
  state:
    description:
      - V(present) makes room and reserves the dir for O(plot); V(absent) only clears the dir's
        reservation when it is for O(plot) and the plot has arrived.
    type: str
    choices: [present, absent]
    default: present
  release:
    description:
      - The plot of a reservation the archive plan found fulfilled elsewhere or orphaned; that
        reservation is cleared before this one is made.
    type: str
  plotter:
    description:
      - The plotter sending the plot, for the reservation and the log.
    type: str
  source:
    description:
      - The plot's path on the plotter, for the reservation.
    type: str
  where:
    description:
      - How messages and the log name the dir, e.g. C(harvester01:/mnt/hdd01); default O(dir).
    type: str
  log_file:
    description:
      - The deletion log on this host.
    type: path
    default: /var/log/plotfleet/replace.log
attributes:
  check_mode:
    support: full
    description: Says "would delete A, B to place C on h:/dir"; deletes and writes nothing.
  diff_mode:
    support: none
    description: The deletions are listed in RV(deleted).
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: Make room for a plot (archive.yml does this, delegated to the harvester)
  plotfleet_replace:
    dir: /mnt/hdd01
    plot: plot-k28-3f2a...e9.plot2
    size_bytes: 988454028
    delete: [plot-k32-2022-03-01-10-11-ce02...b7.plot]
    rules: "{{ plotfleet_replace_rules }}"
    target: v2
    where: harvester01:/mnt/hdd01

- name: Clear the reservation of a plot that has arrived
  plotfleet_replace:
    dir: /mnt/hdd01
    plot: plot-k28-3f2a...e9.plot2
    state: absent
"""

RETURN = r"""
ready:
  description: Whether the plot's transfer may start now (room made, or already held for it).
  returned: always
  type: bool
  sample: true
deleted:
  description: The plots deleted (in check mode, that would be deleted).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: File name.
      type: str
      sample: plot-k32-2022-03-01-10-11-ce02...b7.plot
    size_bytes:
      description: Its size.
      type: int
      sample: 108837532834
    kind:
      description: Format, k and compression level.
      type: str
      sample: v1 k32
    rule:
      description: The rule that let it go.
      type: str
      sample: v1 below C7
  sample: [{"name": "plot-k32-2022-03-01-10-11-ce02...b7.plot", "size_bytes": 108837532834, "kind": "v1 k32",
            "rule": "v1 below C7"}]
reservation:
  description: The dir's reservation after the call (the plot it is held for, what was deleted for it); null when none.
  returned: always
  type: dict
  sample: {"plot": "plot-k28-3f2a...e9.plot2", "size_bytes": 988454028, "deleted": []}
cleared:
  description: The plot of a reservation cleared because it had arrived (or was released); null when none.
  returned: always
  type: str
  sample: null
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import bytecode_cache  # noqa: F401 - first: what follows is compiled once per host
from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import LockTimeout
from ansible_collections.plotfleet.fleet.plugins.module_utils.replace import (
    DEFAULT_LOG_FILE,
    ReplaceConfigError,
    RoomRequest,
    clear_arrived,
    make_room,
    parse_replace_config,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "dir": {"type": "path", "required": True},
            "plot": {"type": "str", "required": True},
            "size_bytes": {"type": "int"},
            "margin_bytes": {"type": "int", "default": 1024**3},
            "delete": {"type": "list", "elements": "str", "default": []},
            "rules": {"type": "list", "elements": "dict", "default": []},
            "target": {"type": "str", "choices": ["v1", "v2"], "default": "v2"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "release": {"type": "str"},
            "plotter": {"type": "str"},
            "source": {"type": "str"},
            "where": {"type": "str"},
            "log_file": {"type": "path", "default": DEFAULT_LOG_FILE},
        },
        required_if=[("state", "present", ["size_bytes"])],
        supports_check_mode=True,
    )
    params = module.params
    directory = os.path.normpath(params["dir"])
    where = params["where"] or directory
    what = f"make room for {params['plot']} on {where}"
    if not os.path.isdir(directory):
        module.fail_json(msg=f"{what}: {directory} is not a directory on this host", deleted=[], ready=False)
    if params["state"] == "absent":
        try:
            cleared = clear_arrived(directory, params["plot"], module.check_mode)
        except (OSError, LockTimeout) as err:
            module.fail_json(msg=f"clear the reservation of {where}: {err}", deleted=[], ready=False)
        module.exit_json(changed=cleared is not None, cleared=cleared, deleted=[], ready=True, reservation=None,
                         msg=f"cleared the reservation for {cleared} on {where}" if cleared else "nothing to clear")
    try:
        config = parse_replace_config(params["rules"], params["target"],
                                      names={"rules": "rules", "target": "target"})
    except ReplaceConfigError as err:
        module.fail_json(msg=f"{what}: {err}", problems=err.problems, deleted=[], ready=False)
    request = RoomRequest(directory, params["plot"], params["size_bytes"], params["margin_bytes"],
                          tuple(params["delete"]), where, params["plotter"], params["source"], params["release"])
    try:
        outcome = make_room(request, config, params["log_file"], module.check_mode)
    except LockTimeout as err:
        module.fail_json(msg=f"{what}: {err}; nothing deleted", deleted=[], ready=False)
    except OSError as err:
        module.fail_json(msg=f"{what}: {err.strerror or err} ({err.filename or directory}); what was deleted "
                         "is in the log, and the dir stays reserved for this plot if anything was",
                         deleted=[], ready=False)
    module.exit_json(changed=outcome.changed, ready=outcome.ready, msg=outcome.msg, deleted=outcome.deleted,
                     reservation=outcome.reservation, cleared=outcome.cleared)


if __name__ == "__main__":
    main()
