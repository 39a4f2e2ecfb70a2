# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role settings' shape checks (the logic is plugins/module_utils/setting_checks.py)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.module_utils import setting_checks


def setting_problems(checks: Any) -> list[str]:
    """Messages naming each setting of the wrong shape; empty when all pass."""
    if not isinstance(checks, list):
        raise AnsibleFilterError(
            "setting_problems takes a list of checks (variable, value, kind or valid)")
    try:
        return setting_checks.problems(checks)
    except setting_checks.CheckError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"setting_problems": setting_problems}
