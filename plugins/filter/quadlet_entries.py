# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The quadlet core's options as lgtm.stack.quadlet_service takes them.

Python rather than the Jinja loops they replace: Ansible compiles every template anew
in each task's worker, and the four loops cost about 60 ms of compiling per service
on every run, more than building the entries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.lgtm.stack.plugins.filter.address import wait_for_listen_address


def _text(entry: Mapping[str, Any], key: str, default: str) -> str:
    # As `entry.key | default(default) | string`: only a missing key takes the default.
    return str(entry[key]) if key in entry else default


def _copied(entry: Mapping[str, Any], result: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in entry:
            result[key] = entry[key]


def _integer(value: Any, default: int) -> int:
    # As Ansible's int filter: what is not a number becomes the default.
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _directory(directory: Mapping[str, Any]) -> dict[str, Any]:
    owner = _text(directory, "owner", "root")
    entry = {
        "path": directory["path"],
        "owner": owner,
        "group": _text(directory, "group", owner),
        "mode": _text(directory, "mode", "0755"),
        # recurse: a new owner also takes what is inside (Mimir's data, written as root before).
        "recurse": boolean(directory.get("recurse", False), strict=False),
    }
    if directory.get("prune"):
        entry["prune"] = directory["prune"]
    return entry


def _secret(secret: Mapping[str, Any]) -> dict[str, Any]:
    owner = _text(secret, "owner", "root")
    entry = {
        "path": secret["path"],
        "length": _integer(secret.get("length", 32), 0),
        "owner": owner,
        "group": _text(secret, "group", owner),
        "mode": _text(secret, "mode", "0600"),
    }
    # An empty value means "keep the stored one, or generate one".
    if secret.get("value"):
        entry["value"] = secret["value"]
    _copied(secret, entry, ("unit", "postgres"))
    return entry


def _file(file: Mapping[str, Any]) -> dict[str, Any]:
    entry = {
        "dest": file["dest"],
        "owner": _text(file, "owner", "root"),
        "group": _text(file, "group", "root"),
        "mode": _text(file, "mode", "0644"),
        "action": file.get("action", "restart"),
    }
    # The module never shows secret_content, nor a file filled on the host from secrets.
    entry["secret_content" if file.get("secret", False) else "content"] = file["content"]
    _copied(file, entry, ("validate", "unit", "fill"))
    return entry


def _unit(unit: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": unit["name"],
        # A unit publishing on a private or VPN address waits at boot until the host has it.
        "sections": wait_for_listen_address(unit["sections"]),
        "restart_on": list(unit.get("restart_on", [])),
        "state": unit.get("state", "started"),
    }


BUILDERS: Mapping[str, tuple[Callable[[Mapping[str, Any]], dict[str, Any]], str]] = {
    "directories": (_directory, "path"),
    "secrets": (_secret, "path"),
    "files": (_file, "dest"),
    "units": (_unit, "name"),
}


def quadlet_entries(items: Any, kind: str) -> list[dict[str, Any]]:
    """Each item of quadlet_<kind> with the core's defaults, as the module's <kind> option."""
    if kind not in BUILDERS:
        raise AnsibleFilterError(
            f"quadlet_entries: kind must be one of {', '.join(BUILDERS)}, not {kind!r}")
    build, key = BUILDERS[kind]
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise AnsibleFilterError(f"quadlet_{kind} must be a list of mappings")
    entries = []
    for index, item in enumerate(items):
        try:
            entries.append(build(item))
        except KeyError as missing:
            name = item.get(key, "unnamed")
            raise AnsibleFilterError(
                f"quadlet_{kind}[{index}] ({name}) has no {missing.args[0]}") from None
    return entries


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"quadlet_entries": quadlet_entries}
