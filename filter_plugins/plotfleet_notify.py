# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side filters of playbooks/notify.yml (plugin_utils/notify.py)."""

from __future__ import annotations

from ansible_collections.plotfleet.fleet.plugins.plugin_utils.notify import (
    deadline_events,
    gather,
    notify_settings,
    outcome_for,
    summary,
)


class FilterModule:
    def filters(self) -> dict:
        return {
            "plotfleet_notify_settings": notify_settings,
            "plotfleet_notify_gather": gather,
            "plotfleet_notify_deadline": deadline_events,
            "plotfleet_notify_outcome": outcome_for,
            "plotfleet_notify_summary": summary,
        }
