# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hardening of every container the quadlet core writes.

harden() adds to each ``.container`` unit what the catalog's confinement of that
container (plugins/module_utils/catalog.py, CONFINEMENT) allows it: no new privileges,
every capability dropped but the ones it names, a read-only root filesystem with
Podman's tmpfs on /tmp, /var/tmp and /run, and the tmpfs mounts it names. A key a role
sets itself in [Container] is kept: a role states only what differs.

Stdlib only, so it runs on the controller (the filter) and in tests alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.lgtm.stack.plugins.module_utils.catalog import CONFINEMENT, Confinement

# What a container the catalog does not know gets (a unit of the quadlet scenario, a
# user's own unit through the core): the strictest set; its unit can say otherwise.
DEFAULT_CONFINEMENT = Confinement()


class HardeningError(ValueError):
    """A unit the hardening cannot read; the message names the unit."""


def confinement(container_name: str) -> Confinement:
    return CONFINEMENT.get(container_name, DEFAULT_CONFINEMENT)


def container_keys(confined: Confinement) -> dict[str, Any]:
    """The [Container] keys one confinement writes, in the order they appear in the unit."""
    keys: dict[str, Any] = {"NoNewPrivileges": True, "DropCapability": "all"}
    if confined.capabilities:
        keys["AddCapability"] = " ".join(sorted(confined.capabilities))
    if confined.read_only:
        keys["ReadOnly"] = True
        if confined.tmpfs:
            keys["Tmpfs"] = sorted(confined.tmpfs)
    return keys


def harden(units: Sequence[Mapping[str, Any]], enabled: bool = True) -> list[dict[str, Any]]:
    """The units, each container's [Container] section with its hardening keys added."""
    result = []
    for unit in units:
        name = str(unit.get("name", ""))
        sections = unit.get("sections")
        if not enabled or not name.endswith(".container"):
            result.append(dict(unit))
            continue
        if not isinstance(sections, Mapping) or not isinstance(sections.get("Container"), Mapping):
            raise HardeningError(f"{name}: a container unit needs a [Container] mapping")
        container = dict(sections["Container"])
        wanted = container_keys(confinement(str(container.get("ContainerName", ""))))
        # The role's own value wins; the hardening keys go after the role's keys.
        container.update({key: value for key, value in wanted.items() if key not in container})
        result.append({**unit, "sections": {**sections, "Container": container}})
    return result
