# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SELinux: the labels of container volumes, what a host needs, and contexts of written files.

volume_labels() decides, from all units of one call of the quadlet core, which host
directory gets a private label (``Z``: one container uses it) and which a shared one
(``z``: several do). Podman ignores both where SELinux is off, so they are written on
every host and every scenario runs them through real Podman.

host_problems() judges what lgtm.stack.host_probe saw of SELinux. copy_directory_context()
gives a file a module writes the context of its directory.

Stdlib only, apart from the module object passed in, so that all of it runs on the
controller (the filters) and in modules on the host alike.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

# Host paths no container label may be put on: a private or shared container label on
# them takes them away from the host's own services. Refused themselves, as well as
# every directory above them ("/", "/var", "/etc").
SYSTEM_EXACT = (
    "/etc",
    "/home",
    "/media",
    "/mnt",
    "/opt",
    "/root",
    "/srv",
    "/tmp",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/tmp",
)
# Refused with everything beneath them.
SYSTEM_TREES = (
    "/bin",
    "/boot",
    "/dev",
    "/etc/containers",
    "/etc/group",
    "/etc/hosts",
    "/etc/localtime",
    "/etc/machine-id",
    "/etc/passwd",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/selinux",
    "/etc/shadow",
    "/etc/ssl",
    "/etc/systemd",
    "/lib",
    "/lib64",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/lib/containers",
    "/var/lib/selinux",
    "/var/log",
)

_TRUE = ("1", "true", "yes", "on")


def _inside(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def is_system_path(path: str) -> bool:
    """True for a host path that must never be relabelled for a container."""
    path = posixpath.normpath(path)
    if path in SYSTEM_EXACT or any(_inside(top, path) for top in SYSTEM_EXACT):
        return True
    # A user's home directory itself (/home/alice), not a directory inside it.
    if posixpath.dirname(path) == "/home":
        return True
    return any(_inside(path, tree) or _inside(tree, path) for tree in SYSTEM_TREES)


def _overlap(first: str, second: str) -> bool:
    return _inside(first, second) or _inside(second, first)


def label_disabled(container: Mapping[str, Any]) -> bool:
    """True for a container that runs without SELinux label separation."""
    flag = container.get("SecurityLabelDisable")
    if flag is not None and str(flag).strip().lower() in _TRUE:
        return True
    args = container.get("PodmanArgs")
    words = " ".join(
        str(item) for item in (args if isinstance(args, (list, tuple)) else [args]) if item
    )
    return "label=disable" in words.replace(" ", "=").replace(":", "=")


def _values(value: Any) -> list[Any]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return [item for item in items if item is not None]


def split_volume(value: str) -> tuple[str, str, list[str]] | None:
    """(host path, container path, options) of a bind mount; None for anything else.

    Named volumes, anonymous volumes and quadlet specifiers (%h) are Podman's to label.
    """
    parts = str(value).split(":")
    if len(parts) not in (2, 3) or not parts[0].startswith("/"):
        return None
    options = [item for item in parts[2].split(",") if item] if len(parts) == 3 else []
    return posixpath.normpath(parts[0]), parts[1], options


class LabelError(ValueError):
    """A volume the core will not label."""


def _container(unit: Mapping[str, Any]) -> Mapping[str, Any] | None:
    name = str(unit.get("name", ""))
    sections = unit.get("sections")
    if not name.endswith(".container") or not isinstance(sections, Mapping):
        return None
    container = sections.get("Container")
    return container if isinstance(container, Mapping) else None


def volume_labels(units: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The units with an SELinux label on every host directory their containers mount.

    ``Z`` when one container of these units mounts the directory, ``z`` when several
    mount it or a directory inside or above it. Options given are kept (``ro`` becomes
    ``ro,Z``); a ``z`` or ``Z`` given is kept, unless it is a private ``Z`` on a shared
    directory. A container with label separation off (SecurityLabelDisable) gets none.
    Raises LabelError naming the unit and the path for a host system path that would
    be relabelled.
    """
    users: dict[str, set[str]] = {}
    for unit in units:
        container = _container(unit)
        if container is None or label_disabled(container):
            continue
        for value in _values(container.get("Volume")):
            parsed = split_volume(value)
            if parsed is not None:
                users.setdefault(parsed[0], set()).add(str(unit["name"]))

    def sharers(name: str, source: str) -> list[str]:
        return sorted(
            other
            for path, names in users.items()
            if _overlap(path, source)
            for other in names
            if other != name
        )

    result = []
    for unit in units:
        container = _container(unit)
        if container is None or "Volume" not in container:
            result.append(dict(unit))
            continue
        name = str(unit["name"])
        disabled = label_disabled(container)
        volumes = []
        for value in _values(container["Volume"]):
            parsed = split_volume(value)
            if parsed is None:
                volumes.append(value)
                continue
            source, target, options = parsed
            given = [item for item in options if item in ("z", "Z")]
            # An overlay mount (O) is labelled by Podman itself.
            relabel = bool(given) or not (disabled or "O" in options)
            if relabel and is_system_path(source):
                raise LabelError(
                    f"{name}: Volume={value} would relabel the host path {source} for SELinux;"
                    " mount a directory of the service's own, or turn label separation off"
                    " for that container (SecurityLabelDisable=true)"
                )
            shared = sharers(name, source)
            if "Z" in given and shared:
                raise LabelError(
                    f"{name}: Volume={value} asks for a private SELinux label (Z) on {source},"
                    f" which {', '.join(shared)} also mount{'s' if len(shared) == 1 else ''}"
                )
            if not given and relabel:
                options = options + ["z" if shared else "Z"]
            volumes.append(f"{source}:{target}" + (":" + ",".join(options) if options else ""))
        sections = {key: dict(section) for key, section in unit["sections"].items()}
        original = container["Volume"]
        sections["Container"]["Volume"] = (
            volumes if isinstance(original, (list, tuple)) else volumes[0]
        )
        result.append({**unit, "sections": sections})
    return result


# ---------------------------------------------------------------------------
# What an SELinux host needs
# ---------------------------------------------------------------------------


def host_problems(seen: Mapping[str, Any]) -> list[str]:
    """Problems of a host whose SELinux lgtm.stack.host_probe reported (its selinux result).

    Only an enforcing host is judged: permissive or disabled SELinux denies nothing.
    """
    if seen.get("mode") != "enforcing":
        return []
    problems = []
    if not seen.get("library"):
        problems.append(
            "SELinux is enforcing but Ansible's Python on this host cannot load libselinux"
            " (install python3-libselinux): without it Ansible cannot give the files it"
            " writes their SELinux context"
        )
    if not seen.get("container_policy"):
        problems.append(
            "SELinux is enforcing but the container policy module is not installed"
            " (install container-selinux): containers could not use their volumes"
        )
    return problems


# ---------------------------------------------------------------------------
# Contexts of written files (modules on the host)
# ---------------------------------------------------------------------------


class SELinuxModule(Protocol):
    """The part of AnsibleModule used here."""

    def selinux_enabled(self) -> bool: ...

    def selinux_context(self, path: str) -> list[Any]: ...

    def set_context_if_different(
        self, path: str, context: list[Any], changed: bool, diff: dict[str, Any] | None = None
    ) -> bool: ...


def copy_directory_context(module: SELinuxModule, path: str) -> None:
    """Give a file the SELinux context of the directory it is (about to be renamed) in.

    A volume's directory carries the label Podman gave it (a private one has the
    container's categories); a file written into it later would otherwise get the
    policy's default for its path, which the running container cannot read, and Podman
    does not relabel a directory again whose top already has the label.
    """
    if not module.selinux_enabled():
        return
    context = module.selinux_context(os.path.dirname(path) or ".")
    module.set_context_if_different(path, context, False)
