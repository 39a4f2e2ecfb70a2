# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stack's service catalog (plugins/module_utils/catalog.py) as plain data for roles."""

from __future__ import annotations

import copy
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.module_utils.catalog import table
from ansible_collections.lgtm.stack.plugins.module_utils.role_specs import ROLE_SPECS


def catalog(what: str) -> Any:
    """One view of the catalog, e.g. {{ 'ports' | lgtm.stack.catalog }}."""
    if what == "specs":
        return copy.deepcopy(ROLE_SPECS)
    try:
        return table(str(what))
    except KeyError as exc:
        raise AnsibleFilterError(f"{exc.args[0]}, specs") from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"catalog": catalog}
