# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How far an image pin moves: what upgrade.yml's major-version guard decides from.

Only the tag counts, not the registry or repository (a mirror or a locally built copy
of the same release is the same version). The version is the tag's leading dotted
numbers, after an optional `v`: `v1.18.1`, `3.5`, `18.1`, `18`, `13.2.2-ubuntu`. A tag
without one (`latest`, `main`) or a reference pinned by digest alone carries no version
the guard can compare: such a change is `unknown`, and upgrade.yml treats it like a
major one (it may be).
"""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?![\w])")


def image_tag(reference: Any) -> str:
    """The tag of an image reference; empty when it has none (digest only, or implicit latest)."""
    if not isinstance(reference, str) or not reference.strip():
        message = f"an image reference must be a non-empty string, got {reference!r}"
        raise AnsibleFilterError(message)
    name = reference.strip().split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def image_version(reference: Any) -> list[int] | None:
    """[major, minor, patch] from the reference's tag (missing parts 0); None without a version."""
    match = VERSION.match(image_tag(reference))
    if not match:
        return None
    return [int(part) if part is not None else 0 for part in match.groups()]


def image_change(previous: Any, new: Any) -> str:
    """none, patch, minor, major (either direction) or unknown (a side has no version)."""
    image_tag(previous), image_tag(new)  # both must be references
    if str(previous).strip() == str(new).strip():
        return "none"
    old_version, new_version = image_version(previous), image_version(new)
    if old_version is None or new_version is None:
        return "unknown"
    if old_version[0] != new_version[0]:
        return "major"
    if old_version[1] != new_version[1]:
        return "minor"
    return "patch"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"image_tag": image_tag, "image_version": image_version,
                "image_change": image_change}
