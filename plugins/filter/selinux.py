# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SELinux for the quadlet core and preflight (the logic is plugins/module_utils/selinux.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.module_utils import selinux


def selinux_volume_labels(units: Any) -> list[dict[str, Any]]:
    """Every unit of one quadlet core call, its bind mounts labelled z or Z."""
    if not isinstance(units, list) or not all(isinstance(unit, Mapping) for unit in units):
        raise AnsibleFilterError("selinux_volume_labels takes a list of units (name, sections)")
    try:
        return selinux.volume_labels(units)
    except selinux.LabelError as exc:
        raise AnsibleFilterError(str(exc)) from None


def selinux_problems(seen: Any) -> list[str]:
    """What an enforcing host lacks, from lgtm.stack.host_probe's selinux result."""
    if not isinstance(seen, Mapping):
        raise AnsibleFilterError("selinux_problems takes host_probe's selinux result (a mapping)")
    return selinux.host_problems(seen)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "selinux_volume_labels": selinux_volume_labels,
            "selinux_problems": selinux_problems,
        }
