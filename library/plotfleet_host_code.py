#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_host_code
short_description: Install the plotfleet host code the harvester's rsync hook runs, in one step
description:
  - Writes the host code module the harvester's rsync post-xfer hook starts
    (C(plotfleet_host_code) names it C(verifyhook)) and every host code module it imports, directly
    or not, below O(dest) as C(ansible_collections/plotfleet/fleet/plugins/module_utils/...). The
    hook puts O(dest) first on its C(sys.path).
  - The code written is the code this module run carries. Ansible packs the host code a module
    imports into the module's payload, so the copy always matches the controller's plotfleet.
  - Every file and directory it writes is owned by the user the module runs as (root with
    C(become)) and writable by that user only (files 0644, directories 0755); a file is rewritten
    only when its bytes, mode or owner differ, through a temp file renamed into place, and C(.py)
    files that are no longer part of the code are removed. O(dest) is refused when one of its
    parents belongs to another user or is writable by other users without the sticky bit, as code
    root runs must not live where someone else could swap it.
  - One module run instead of one C(copy) per file (about 20 remote steps per harvester).
version_added: "0.3.0"
options:
  dest:
    description:
      - The directory that holds the copy (the C(harvester) role's C(harvester_verify_lib_dir)).
        Created if missing; its parent must exist.
    type: path
    required: true
attributes:
  check_mode:
    support: full
    description: Reports what would be written or removed and changes nothing.
  diff_mode:
    support: none
    description: Source files are not diffed.
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: Install the hook's code
  plotfleet_host_code:
    dest: /usr/local/lib/plotfleet
  become: true
"""

RETURN = r"""
files:
  description: Every file of the copy, relative to the package directory below O(dest).
  returned: success
  type: list
  elements: str
  sample: ["__init__.py", "checks.py", "verifyhook.py"]
written:
  description: The files and directories (ending in C(/)) written or fixed, or that would be in check mode.
  returned: success
  type: list
  elements: str
  sample: ["/usr/local/lib/plotfleet/ansible_collections/plotfleet/fleet/plugins/module_utils/plotcheck.py"]
removed:
  description: C(.py) files removed because they are no longer part of the code.
  returned: success
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import (
    bytecode_cache,  # noqa: F401 - first: what follows is compiled once per host
    verifyhook,  # noqa: F401 - packed with its imports
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.hostcode import HostCodeError, install, sources

ENTRY = "verifyhook"


def main() -> None:
    module = AnsibleModule(argument_spec={"dest": {"type": "path", "required": True}}, supports_check_mode=True)
    dest = module.params["dest"]
    try:
        files = sources(ENTRY)
        written, removed = install(dest, files, check=module.check_mode)
    except (HostCodeError, OSError) as err:
        module.fail_json(msg=f"install the hook's code in {dest}: {err}")
    module.exit_json(changed=bool(written or removed), files=sorted(files), written=written, removed=removed)


if __name__ == "__main__":
    main()
