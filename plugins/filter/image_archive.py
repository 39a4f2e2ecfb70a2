# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Images from archives on the controller (lgtm_image_archives), for hosts without a registry.

An archive is keyed by the reference a unit's `Image=` names. Only tag references can be
keys: `podman load` restores the tags an archive carries (`podman save` records them),
but not the digest a registry gave the image (the loaded manifest is not the registry's),
so a reference pinned by digest could never be found after a load.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

VARIABLE = "lgtm_image_archives"
SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def image_archive_problems(archives: Any) -> list[str]:
    """What is wrong with lgtm_image_archives, each naming the key; [] when it is usable."""
    if not isinstance(archives, Mapping):
        kind = type(archives).__name__
        return [f"{VARIABLE} must be a dict (image reference -> {{path, sha256}}), got {kind}"]
    problems: list[str] = []
    for reference, entry in archives.items():
        where = f"{VARIABLE}[{reference!r}]"
        if not isinstance(reference, str) or not reference or reference != reference.strip():
            problems.append(f"{where}: the key must be an image reference without spaces")
            continue
        if "@" in reference:
            problems.append(
                f"{where}: a reference pinned by digest cannot come from an archive "
                "(podman load restores tags, not the registry's digest); pin this image by tag"
            )
        elif ":" not in reference.rsplit("/", 1)[-1]:
            problems.append(f"{where}: the reference needs a tag, as the archive carries it")
        if not isinstance(entry, Mapping):
            kind = type(entry).__name__
            problems.append(f"{where} must be a dict with path and sha256, got {kind}")
            continue
        unknown = sorted(set(map(str, entry)) - {"path", "sha256"})
        if unknown:
            problems.append(f"{where}: unknown keys {', '.join(unknown)} (only path and sha256)")
        path = entry.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            problems.append(
                f"{where}.path must be the absolute path of a file on the controller, got {path!r}"
            )
        sha256 = entry.get("sha256")
        if sha256 is None:
            problems.append(f"{where}.sha256 is missing: the archive's SHA-256, 64 hex digits")
        elif not isinstance(sha256, str) or not SHA256.match(sha256):
            problems.append(f"{where}.sha256 must be 64 hex digits, got {sha256!r}")
    return problems


def unit_images(units: Any) -> list[str]:
    """The image references quadlet units run (each section's Image key), in order, once each."""
    images: list[str] = []
    for unit in units or []:
        sections = unit.get("sections", {}) if isinstance(unit, Mapping) else {}
        for section in sections.values():
            image = section.get("Image") if isinstance(section, Mapping) else None
            if isinstance(image, str) and image.strip() and image.strip() not in images:
                images.append(image.strip())
    return images


def image_source_problems(images: Any, probes: Any, archives: Any, pull: Any) -> list[str]:
    """Images a host lacks that nothing can provide, each named with its variable.

    `images` are {variable, image}; `probes` the host's `podman image exists` result for
    each, in the same order (rc 1: absent; other failures are not this check's to judge).
    An image the host lacks is provided by its archive when the archive file is on the
    controller, else by a registry when `pull` is true. A registry is not asked: no Podman
    command answers "could this pull" for every kind of manifest, and a failed pull names
    the image when its unit starts.
    """
    archives = archives if isinstance(archives, Mapping) else {}
    problems: list[str] = []
    for entry, probe in zip(images or [], probes or [], strict=False):
        if not isinstance(probe, Mapping) or probe.get("rc") != 1:
            continue
        image, variable = entry["image"], entry["variable"]
        archive = archives.get(image)
        if isinstance(archive, Mapping):
            path = archive.get("path")
            if isinstance(path, str) and not os.path.isfile(path):
                problems.append(f"{image} ({variable}) is not on this host and its archive {path} "
                                f"(lgtm_image_archives) is not a file on the controller")
        elif not pull:
            problems.append(f"{image} ({variable}) is not on this host, has no archive in "
                            "lgtm_image_archives, and lgtm_image_pull is false, so no registry "
                            "provides it")
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"image_archive_problems": image_archive_problems, "unit_images": unit_images,
                "image_source_problems": image_source_problems}
