"""Makes the project's module_utils importable as Ansible sees them.

Modules import shared logic as ``ansible.module_utils.plotfleet.*``; Ansible ships it to the host
from ``module_utils/``. Tests import the same names, so the path is added to that package here.
"""

from __future__ import annotations

from pathlib import Path

import ansible.module_utils

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(ROOT / "module_utils"))
