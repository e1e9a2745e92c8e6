#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_events
short_description: Find a host's notification events and claim or record them, once each
description:
  - The host side of C(playbooks/notify.yml). With O(state=claimed) it finds the events of this
    host from its logs, files and process table, and claims for this pass (O(run_id)) those not
    yet sent and not claimed by another pass, in the host's state file O(state_file), under a lock.
    With O(state=delivered) it records the events the pass delivered and releases its claim on
    the others, so that the next pass sends them.
  - "Plotter events (with O(plotter_config)): C(plot_finished) (a plot log that completed),
    C(job_failed) (a log whose job is gone without a complete plot, and no plot of that id in a dst
    dir), C(transfer_failed) (a transfer log that ended in failure or was cut off)."
  - "Harvester events (with O(harvester_config)): C(plot_quarantined) (C(plotfleet_verify)'s
    quarantine), C(transfer_failed) (a stale partial plot), C(dir_nearly_full) (below
    O(dir_free_percent) or O(dir_free_bytes))."
  - "Controller events (on the controller's own host, its own O(state_file)): C(host_not_reporting)
    from O(reporting) after O(not_reporting_passes) passes in a row, and any O(events) given
    (C(replot_deadline_at_risk))."
  - Event ids are stable (C(plot_finished:<plot id>)), so a claim or a record holds across passes.
    A pass that dies leaves claims that expire after O(lease_seconds); a lost state file makes
    events found again be sent again. Either way events may repeat, never go missing.
  - Log-based events count only when the file changed within O(max_age_hours).
version_added: "0.1.0"
options:
  state:
    description:
      - C(claimed) finds and claims events; C(delivered) records O(delivered) as sent and releases
        this pass's claims on O(released).
    type: str
    choices: [claimed, delivered]
    default: claimed
  run_id:
    description: The pass's id, unique per run (C(notify.yml) makes one); claims are held in its name.
    type: str
    required: true
  state_file:
    description: The JSON file holding the sent ids and the claims; created with its dir.
    type: path
    default: /var/lib/plotfleet/notify/events.json
  plotter_config:
    description: The plotter config (C(/etc/plotfleet/plotfleet.yml)); finds the plotter events when given.
    type: path
  harvester_config:
    description: The harvester config (C(/etc/plotfleet/harvester.yml)); finds the harvester events when given.
    type: path
  reporting:
    description:
      - Per host, null when it reported in this pass, else why not; counts the passes each host
        missed, in O(state_file) (the controller's own).
    type: dict
  not_reporting_passes:
    description: A host that missed this many passes in a row is a C(host_not_reporting) event (once per outage).
    type: int
    default: 3
  events:
    description:
      - Events found elsewhere (the controller), each with C(id), C(kind), C(title), C(text), C(at)
        and optionally C(severity) and C(fields), to claim like this host's own.
    type: list
    elements: dict
    default: []
  scanned:
    description: Id prefixes that O(events) cover in full; a sent id under them that is no longer given is forgotten.
    type: list
    elements: str
    default: []
  kinds:
    description: The kinds of event to claim; the others are found but never sent.
    type: list
    elements: str
    choices: [plot_finished, job_failed, transfer_failed, plot_quarantined, dir_nearly_full,
              host_not_reporting, replot_deadline_at_risk]
  max_age_hours:
    description: Plot and transfer logs changed longer ago than this are not looked at.
    type: int
    default: 24
  job_grace_seconds:
    description: An unfinished log held by no process counts as a failed job only after it has been quiet this long.
    type: int
    default: 120
  dir_free_percent:
    description: An archive dir with less free space than this share of its size is nearly full (0 turns it off).
    type: float
    default: 5.0
  dir_free_bytes:
    description: An archive dir with fewer free bytes than this is nearly full too (0 turns it off).
    type: int
    default: 0
  max_events:
    description: At most this many events are claimed per pass; the rest wait for the next.
    type: int
    default: 20
  lease_seconds:
    description: How long a claim holds; a pass must deliver and record its events within it.
    type: int
    default: 900
  delivered:
    description: With O(state=delivered), the ids of the events delivered.
    type: list
    elements: str
    default: []
  released:
    description: With O(state=delivered), the ids of the events this pass could not deliver.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Finds and reports the events that would be claimed; writes nothing.
  diff_mode:
    support: none
    description: The state file is bookkeeping, not configuration.
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: Claim this plotter's new events
  plotfleet_events:
    run_id: "{{ notify_run }}"
    plotter_config: /etc/plotfleet/plotfleet.yml
  register: claimed

- name: Record what was delivered
  plotfleet_events:
    state: delivered
    run_id: "{{ notify_run }}"
    delivered: "{{ sent_ids }}"
    released: "{{ failed_ids }}"

# What would be sent now from a harvester, without claiming anything:
#   ansible harvesters -m plotfleet_events -a 'run_id=look harvester_config=/etc/plotfleet/harvester.yml' --check
"""

RETURN = r"""
events:
  description: The events claimed by this pass, oldest first (in check mode, those that would be).
  returned: state=claimed
  type: list
  elements: dict
  sample:
    - id: plot_finished:a2405ffcc508ba0fba753d2e2966422c28f5c9101f3256630453c474af5bfeb3
      kind: plot_finished
      severity: info
      title: "plot finished: a2405ffc (k32, 512.3 min)"
      text: plot-k32-2026-11-25-08-32-a2405f....plot finished in /mnt/dst0
      at: 1795595520.0
      fields: {plot_id: a2405ffcc508..., k: 32, log_file: /var/log/plotfleet/plots/2026-11-25T08_32_00.log}
waiting:
  description: Events found, not sent and not claimed, beyond O(max_events); the next pass takes them.
  returned: state=claimed
  type: int
  sample: 0
found:
  description: Events found on the host now, sent or not.
  returned: state=claimed
  type: int
  sample: 12
census_dirs:
  description: With O(harvester_config), each archive dir's path, error and census, for the replot deadline.
  returned: state=claimed
  type: list
  elements: dict
  sample: [{"path": "/mnt/hdd01", "error": null, "census": {"window_seconds": 86400, "kinds": []}}]
recorded:
  description: The ids recorded as sent.
  returned: state=delivered
  type: list
  elements: str
  sample: [plot_finished:a2405ffcc508ba0fba753d2e2966422c28f5c9101f3256630453c474af5bfeb3]
released_claims:
  description: The ids whose claim this pass released.
  returned: state=delivered
  type: list
  elements: str
  sample: []
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import bytecode_cache  # noqa: F401 - first: what follows is compiled once per host
from ansible_collections.plotfleet.fleet.plugins.module_utils.events import (
    KINDS,
    SEVERITY,
    Detection,
    EventStore,
    claim,
    count_silence,
    harvester_events,
    plotter_events,
    settle,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.hostio import LockTimeout
from ansible_collections.plotfleet.fleet.plugins.module_utils.module_support import load_config_or_fail, require_psutil


def given_events(module: AnsibleModule) -> Detection:
    found = Detection()
    for index, item in enumerate(module.params["events"]):
        missing = [key for key in ("id", "kind", "title", "text", "at") if item.get(key) in (None, "")]
        if missing or item.get("kind") not in KINDS:
            module.fail_json(msg=f"check events[{index}]: needs id, kind (one of {', '.join(KINDS)}), title, text "
                             f"and at; missing or bad: {', '.join(missing) or 'kind'}")
        found.add({"id": str(item["id"]), "kind": item["kind"], "severity": item.get("severity")
                   or SEVERITY[item["kind"]], "title": str(item["title"]), "text": str(item["text"]),
                   "at": float(item["at"]), "fields": item.get("fields") or {}})
    found.scanned |= set(module.params["scanned"])
    return found


def find(module: AnsibleModule, now: float) -> tuple[Detection, list]:
    params = module.params
    found, census_dirs = given_events(module), []
    if params["plotter_config"]:
        require_psutil(module)
        config = load_config_or_fail(module, params["plotter_config"])
        found.extend(plotter_events(config, now, params["max_age_hours"] * 3600.0, params["job_grace_seconds"]))
    if params["harvester_config"]:
        from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
            HarvesterConfigError,
            load_harvester_config,
        )

        try:
            harvester = load_harvester_config(params["harvester_config"])
        except HarvesterConfigError as err:
            module.fail_json(msg=f"load harvester config {params['harvester_config']}: {err}", problems=err.problems)
        more, census_dirs = harvester_events(harvester, now, params["dir_free_percent"], params["dir_free_bytes"])
        found.extend(more)
    return found, census_dirs


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["claimed", "delivered"], "default": "claimed"},
            "run_id": {"type": "str", "required": True},
            "state_file": {"type": "path", "default": "/var/lib/plotfleet/notify/events.json"},
            "plotter_config": {"type": "path"},
            "harvester_config": {"type": "path"},
            "reporting": {"type": "dict"},
            "not_reporting_passes": {"type": "int", "default": 3},
            "events": {"type": "list", "elements": "dict", "default": []},
            "scanned": {"type": "list", "elements": "str", "default": []},
            "kinds": {"type": "list", "elements": "str", "choices": list(KINDS)},
            "max_age_hours": {"type": "int", "default": 24},
            "job_grace_seconds": {"type": "int", "default": 120},
            "dir_free_percent": {"type": "float", "default": 5.0},
            "dir_free_bytes": {"type": "int", "default": 0},
            "max_events": {"type": "int", "default": 20},
            "lease_seconds": {"type": "int", "default": 900},
            "delivered": {"type": "list", "elements": "str", "default": []},
            "released": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    for name in ("not_reporting_passes", "max_age_hours", "lease_seconds"):
        if params[name] < 1:
            module.fail_json(msg=f"check {name}: must be at least 1, got {params[name]}")
    if params["max_events"] < 0 or params["job_grace_seconds"] < 0 or params["dir_free_bytes"] < 0:
        module.fail_json(msg="check max_events, job_grace_seconds and dir_free_bytes: must be >= 0")
    if not 0 <= params["dir_free_percent"] < 100:
        module.fail_json(msg=f"check dir_free_percent: must be from 0 to under 100, got {params['dir_free_percent']}")
    store = EventStore(params["state_file"])
    now = time.time()
    try:
        if params["state"] == "delivered":
            if module.check_mode or not (params["delivered"] or params["released"]):
                module.exit_json(changed=False, recorded=[], released_claims=[])
            with store.transaction() as state:
                recorded, released = settle(state, params["run_id"], params["delivered"], params["released"], now)
            module.exit_json(changed=bool(recorded or released), recorded=recorded, released_claims=released)
        found, census_dirs = find(module, now)
        with store.transaction(write=not module.check_mode) as state:
            if params["reporting"] is not None:
                found.extend(count_silence(state, params["reporting"], now, params["not_reporting_passes"]))
            claimed, waiting = claim(state, found, params["run_id"], now, params["lease_seconds"],
                                     params["max_events"], params["kinds"] or KINDS)
    except LockTimeout as err:
        module.fail_json(msg=f"lock the event state: {err}; another notify pass is stuck on this host")
    except OSError as err:
        module.fail_json(msg=f"write the event state {params['state_file']}: {err.strerror or err}")
    for warning in found.warnings + store.warnings:
        module.warn(warning)
    module.exit_json(changed=bool(claimed) and not module.check_mode, events=claimed, waiting=waiting,
                     found=len(found.events), census_dirs=census_dirs)


if __name__ == "__main__":
    main()
