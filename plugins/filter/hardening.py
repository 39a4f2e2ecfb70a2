# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container hardening for the quadlet core (the logic is plugins/module_utils/hardening.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.module_utils import hardening


def container_hardening(units: Any, enabled: Any = True) -> list[dict[str, Any]]:
    """Every unit of one quadlet core call, each container confined as the catalog says."""
    if not isinstance(units, list) or not all(isinstance(unit, Mapping) for unit in units):
        raise AnsibleFilterError("container_hardening takes a list of units (name, sections)")
    if not isinstance(enabled, bool):
        raise AnsibleFilterError(
            f"lgtm_container_hardening must be a boolean, got {type(enabled).__name__}")
    try:
        return hardening.harden(units, enabled)
    except hardening.HardeningError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"container_hardening": container_hardening}
