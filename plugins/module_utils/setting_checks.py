# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shape checks of role settings that argument_specs cannot express.

Each role lists its checks (variable, value, and a `kind` or its own `valid` and
`expected`); every failing one becomes a message naming its variable, so one run
reports all of them. Published ports of one role must also differ. One Python pass
per role replaces a looped assert per setting (tens of tasks on every run).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.lgtm.stack.plugins.module_utils.catalog import DURATION_KINDS

PORT_EXPECTED = "a port number from 1 to 65535"
KINDS: Mapping[str, Mapping[str, str]] = {
    **DURATION_KINDS,
    "size": {"pattern": "^([0-9]+[bkmg]?)?$",
             "expected": "empty (no limit) or a size such as 512m or 2g"},
}
TRUE_WORDS = frozenset({"true", "yes", "on", "1", "y", "t"})


class CheckError(ValueError):
    """A check entry itself is malformed (a bug in the role, not in the settings)."""


def truthy(value: Any) -> bool:
    """As Ansible's bool filter reads a templated `valid`."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


def port_number(value: Any) -> int | None:
    text = str(value)
    if re.fullmatch("[0-9]+", text) and 1 <= int(text) <= 65535:
        return int(text)
    return None


def check_one(check: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the setting passes, and what was expected of it."""
    kind = check.get("kind")
    if "valid" in check:
        if "expected" not in check:
            raise CheckError(f"the check of {check.get('variable')} gives valid without expected")
        return truthy(check["valid"]), str(check["expected"])
    if kind == "port":
        return port_number(check.get("value")) is not None, PORT_EXPECTED
    if kind in KINDS:
        shape = KINDS[kind]
        return re.search(shape["pattern"], str(check.get("value"))) is not None, shape["expected"]
    raise CheckError(
        f"the check of {check.get('variable')} has no valid and an unknown kind {kind!r}")


def problems(checks: Sequence[Mapping[str, Any]]) -> list[str]:
    """One message per failing setting, then one if the role's valid ports clash."""
    found: list[str] = []
    ports: list[tuple[str, int]] = []
    for check in checks:
        if not isinstance(check, Mapping) or "variable" not in check:
            raise CheckError(f"a check is a mapping with a variable, not {check!r}")
        passed, expected = check_one(check)
        if not passed:
            found.append(f"{check['variable']}={check.get('value')} is invalid: {expected}")
        elif check.get("kind") == "port":
            ports.append((str(check["variable"]), int(str(check["value"]))))
    numbers = [number for _name, number in ports]
    if len(set(numbers)) != len(numbers):
        found.append(f"{', '.join(name for name, _number in ports)} must all differ;"
                     f" got {', '.join(str(number) for number in numbers)}")
    return found
