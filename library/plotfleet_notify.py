#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_notify
short_description: Post plotfleet events to a webhook (generic JSON, Discord, Slack or ntfy)
description:
  - Posts each event of O(events) (as C(plotfleet_events) claims them, each with its C(host)) to
    O(url), one request per event, in the format of O(preset).
  - A failed post is retried up to O(retries) times with a doubling wait from O(backoff_seconds)
    (or the receiver's C(Retry-After)), all within O(deadline_seconds). When an event still fails
    for a reason worth retrying (no connection, a timeout, HTTP 429 or 5xx), the rest are not tried
    in this run; they are reported in RV(undelivered), and the next run sends them.
  - The URL often holds a secret (a Discord or Slack token, an ntfy topic). It is a no_log option,
    and no message of this module contains it. C(notify.yml) runs this on the controller.
version_added: "0.1.0"
options:
  url:
    description: The webhook URL (Discord and Slack webhook URLs, an ntfy topic URL C(https://ntfy.sh/<topic>)).
    type: str
    required: true
  preset:
    description:
      - C(generic) posts the event as JSON; C(discord), C(slack) and C(ntfy) post what those services expect.
    type: str
    choices: [generic, discord, slack, ntfy]
    default: generic
  events:
    description: The events, each with C(host), C(id), C(kind), C(severity), C(title), C(text), C(at) and C(fields).
    type: list
    elements: dict
    required: true
  headers:
    description: Extra request headers, e.g. C(Authorization) for a protected ntfy server; never logged.
    type: dict
    default: {}
  retries:
    description: Further attempts for an event whose post failed for a reason worth retrying.
    type: int
    default: 3
  backoff_seconds:
    description: The wait before the first retry; it doubles at each retry, at most 30 seconds.
    type: float
    default: 1.0
  timeout:
    description: Seconds to wait for the receiver's answer to one request.
    type: int
    default: 10
  deadline_seconds:
    description: All posts of this run, retries included, end within this many seconds.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description: Posts nothing; RV(undelivered) lists every event as not sent.
  diff_mode:
    support: none
    description: Nothing on the host changes.
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: Send the claimed events to Discord
  plotfleet_notify:
    url: "{{ plotfleet_notify_url }}"
    preset: discord
    events: "{{ notify_events }}"
  delegate_to: localhost
  no_log: true  # the task's arguments hold the URL
  register: notify_sent
"""

RETURN = r"""
delivered:
  description: The events the receiver accepted (a 2xx answer), by C(host) and C(id).
  returned: always
  type: list
  elements: dict
  sample: [{"host": "plotter01", "id": "plot_finished:a2405ffcc508..."}]
undelivered:
  description: The events not delivered, by C(host) and C(id), with the C(error) (never the URL).
  returned: always
  type: list
  elements: dict
  sample: [{"host": "plotter01", "id": "job_failed:3f2a...", "error": "HTTP 503 Service Unavailable (4 attempts, https://discord.com)"}]
requests:
  description: HTTP requests made, retries included.
  returned: always
  type: int
  sample: 3
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import bytecode_cache  # noqa: F401 - first: what follows is compiled once per host
from ansible_collections.plotfleet.fleet.plugins.module_utils.webhook import PRESETS, deliver


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True, "no_log": True},
            "preset": {"type": "str", "choices": list(PRESETS), "default": "generic"},
            "events": {"type": "list", "elements": "dict", "required": True},
            "headers": {"type": "dict", "default": {}, "no_log": True},
            "retries": {"type": "int", "default": 3},
            "backoff_seconds": {"type": "float", "default": 1.0},
            "timeout": {"type": "int", "default": 10},
            "deadline_seconds": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not params["url"].startswith(("http://", "https://")):
        module.fail_json(msg="check url: must be an http:// or https:// URL (plotfleet_notify_url)")
    if min(params["retries"], params["backoff_seconds"]) < 0 or min(params["timeout"], params["deadline_seconds"]) < 1:
        module.fail_json(msg="check retries, backoff_seconds (>= 0), timeout and deadline_seconds (>= 1)")
    events = params["events"]
    for index, item in enumerate(events):
        missing = [key for key in ("id", "kind", "title", "text", "at") if item.get(key) in (None, "")]
        if missing:
            module.fail_json(msg=f"check events[{index}]: missing {', '.join(missing)}")
    if module.check_mode:
        unsent = [{"host": item.get("host"), "id": item["id"], "error": "check mode: not sent"} for item in events]
        module.exit_json(changed=False, delivered=[], requests=0, undelivered=unsent)
    result = deliver(params["url"], params["preset"], events, retries=params["retries"],
                     backoff=params["backoff_seconds"], timeout=params["timeout"],
                     deadline=params["deadline_seconds"], headers=params["headers"])
    module.exit_json(changed=bool(result["delivered"]), **result)


if __name__ == "__main__":
    main()
