# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic shared by the quadlet_unit and quadlet_reconcile modules.

unit_text() is the one place a quadlet file's text and its lgtm.stack.config-hash label
are made: hosts converged by any version of the collection carry its output, so its
result must stay byte-identical (tests/unit/plugins/modules/test_quadlet_unit_golden.py).

Everything here is stdlib only and free of side effects apart from reading
files in hash_paths(), so it can be unit-tested without Podman or systemd.
"""

# Managed hosts may run Python 3.9 (ansible-core's minimum), where "str | None"
# annotations only work as postponed annotations.
from __future__ import annotations

import hashlib
import os
import re
import shlex
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Union

Version = tuple[int, int, int]

CONFIG_HASH_LABEL = "lgtm.stack.config-hash"

# First line of every quadlet file the collection writes (part of the text, not of the hash).
UNIT_HEADER = "Managed by Ansible (lgtm.stack). Local changes will be overwritten."

# Quadlet files this collection may write; image/build are still understood by
# the helpers because sibling files of those types may exist on a host.
UNIT_TYPES = ("container", "network", "volume", "pod", "kube")
KNOWN_UNIT_TYPES = UNIT_TYPES + ("image", "build")

BASE_PODMAN: Version = (4, 4, 0)

TYPE_MIN_PODMAN: dict[str, Version] = {
    "container": (4, 4, 0),
    "network": (4, 4, 0),
    "volume": (4, 4, 0),
    "kube": (4, 4, 0),
    "pod": (5, 0, 0),
    "build": (5, 0, 0),
    "image": (5, 0, 0),
}

_HEALTH_KEYS = (
    "HealthCmd",
    "HealthInterval",
    "HealthOnFailure",
    "HealthRetries",
    "HealthStartPeriod",
    "HealthStartupCmd",
    "HealthStartupInterval",
    "HealthStartupRetries",
    "HealthStartupSuccess",
    "HealthStartupTimeout",
    "HealthTimeout",
)

# Keyed by (section, key): the same key name can mean different things in
# different unit types, and only the sections listed here need more than 4.4.
KEY_MIN_PODMAN: dict[tuple[str, str], Version] = {
    **{("Container", key): (4, 5, 0) for key in _HEALTH_KEYS},
    ("Container", "Secret"): (4, 5, 0),
    ("Container", "UserNS"): (4, 5, 0),
    ("Container", "AutoUpdate"): (4, 6, 0),
    ("Container", "Pull"): (4, 6, 0),
    ("Network", "NetworkName"): (4, 7, 0),
    ("Volume", "VolumeName"): (4, 7, 0),
    ("Container", "NetworkAlias"): (5, 2, 0),
    ("Container", "ReloadCmd"): (5, 5, 0),
    ("Container", "ReloadSignal"): (5, 5, 0),
}

# Keys that exist in 4.4 but where a particular value arrived later.
VALUE_MIN_PODMAN: dict[tuple[str, str, str], Version] = {
    ("Container", "Notify", "healthy"): (5, 0, 0),
}

_SERVICE_SUFFIX = {
    "container": "",
    "kube": "",
    "network": "-network",
    "volume": "-volume",
    "pod": "-pod",
    "image": "-image",
    "build": "-build",
}


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_.@-]*$")


# ---------------------------------------------------------------------------
# Unit names
# ---------------------------------------------------------------------------


def split_unit_name(name: str) -> tuple[str, str]:
    """Return (stem, type) for a quadlet file name such as ``lgtm-loki.container``."""
    stem, dot, unit_type = name.rpartition(".")
    if not dot or not stem or unit_type not in KNOWN_UNIT_TYPES:
        raise ValueError(
            f"{name!r} is not a quadlet file name (expected <name>.<type>, type one of "
            f"{', '.join(KNOWN_UNIT_TYPES)})"
        )
    if "/" in name or not _NAME_RE.match(name):
        raise ValueError(
            f"{name!r} is not a valid quadlet file name"
            " (letters, digits and :_.@- only, no slashes)"
        )
    return stem, unit_type


def unit_type_of(name: str) -> str:
    return split_unit_name(name)[1]


def unit_stem(name: str) -> str:
    return split_unit_name(name)[0]


def service_name(name: str) -> str:
    """Name of the systemd service quadlet generates for a quadlet file."""
    stem, unit_type = split_unit_name(name)
    return f"{stem}{_SERVICE_SUFFIX[unit_type]}.service"


def default_container_name(name: str) -> str:
    # Quadlet names containers systemd-%N unless ContainerName= is set.
    return f"systemd-{unit_stem(name)}"


def type_section(unit_type: str) -> str:
    """The quadlet section that carries the type specific keys (Container, Network...)."""
    return unit_type.capitalize()


# ---------------------------------------------------------------------------
# Rendering and parsing unit files
# ---------------------------------------------------------------------------


def _render_scalar(where: str, value: Any) -> str:
    # bool before int: bool is a subclass of int and must become true/false.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        text = str(value)
    else:
        raise ValueError(f"{where}: unsupported value type {type(value).__name__}")
    if "\n" in text or "\r" in text:
        raise ValueError(f"{where}: value must not contain a newline")
    return text


def _check_identifier(kind: str, where: str, text: str) -> None:
    if not text or any(c in text for c in "=[]\n\r#;") or text != text.strip():
        raise ValueError(f"{where}: invalid {kind} name {text!r}")


def render_unit(
    sections: Mapping[str, Mapping[str, Any]], header_comment: str | None = None
) -> str:
    """Render quadlet INI text deterministically.

    Sections and keys keep the order given. A list value repeats the key once
    per element, booleans become true/false, None (also inside lists) is
    skipped. Empty sections are kept because e.g. a bare ``[Network]`` is a
    complete .network unit.
    """
    blocks: list[str] = []
    if header_comment:
        blocks.append("\n".join(f"# {line}".rstrip() for line in header_comment.splitlines()))
    for section, keys in sections.items():
        _check_identifier("section", section, section)
        if not isinstance(keys, Mapping):
            raise ValueError(f"{section}: section content must be a mapping of key to value")
        lines = [f"[{section}]"]
        for key, value in keys.items():
            where = f"{section}.{key}"
            _check_identifier("key", where, key)
            values = value if isinstance(value, (list, tuple)) else [value]
            for item in values:
                if item is None:
                    continue
                lines.append(f"{key}={_render_scalar(where, item)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Parse systemd/quadlet INI text into section -> key -> list of values.

    Repeated keys accumulate, comments are dropped and backslash continuation
    lines are joined the way systemd does (with a single space).
    """
    result: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line.startswith("[") and line.endswith("]"):
            current = result.setdefault(line[1:-1].strip(), {})
            continue
        if current is None or "=" not in line:
            continue
        key, _sep, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return result


def last_value(parsed: Mapping[str, Mapping[str, list[str]]], section: str, key: str) -> str | None:
    values = parsed.get(section, {}).get(key)
    return values[-1] if values else None


def labels_of(
    parsed: Mapping[str, Mapping[str, list[str]]], section: str = "Container"
) -> dict[str, str]:
    """Collect Label= entries; one line may carry several quoted key=value pairs."""
    labels: dict[str, str] = {}
    for value in parsed.get(section, {}).get("Label", []):
        try:
            words = shlex.split(value)
        except ValueError:
            words = [value]
        for word in words:
            key, _sep, label_value = word.partition("=")
            labels[key] = label_value
    return labels


def without_config_hash_label(text: str) -> str:
    """A rendered unit without our hash label's line.

    Two units that differ only there generate the same service apart from that label, so
    quadlet's verdict on one holds for the other.
    """
    prefix = "Label=" + CONFIG_HASH_LABEL + "="
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(prefix))


def with_config_hash_label(
    sections: Mapping[str, Mapping[str, Any]], config_hash: str
) -> dict[str, dict[str, Any]]:
    """Return a copy of sections with our hash label appended to [Container] Label=.

    A hash label already present in the input is dropped so ours is the only one.
    """
    result = {name: dict(keys) for name, keys in sections.items()}
    container = result.setdefault("Container", {})
    existing = container.get("Label")
    if existing is None:
        labels: list[Any] = []
    elif isinstance(existing, (list, tuple)):
        labels = list(existing)
    else:
        labels = [existing]
    prefix = CONFIG_HASH_LABEL + "="
    labels = [item for item in labels if not (isinstance(item, str) and item.startswith(prefix))]
    labels.append(prefix + config_hash)
    container["Label"] = labels
    return result


# ---------------------------------------------------------------------------
# Podman versions
# ---------------------------------------------------------------------------

_PODMAN_VERSION_RE = re.compile(r"^podman(?:\.exe)? version (\d+)\.(\d+)(?:\.(\d+))?", re.MULTILINE)
_VERSION_RE = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?\s*$")


def parse_podman_version(text: str) -> Version:
    """Parse ``podman --version`` output; suffixes like ``-dev`` or ``-rc1`` are ignored."""
    # search, not match: podman may print warnings (e.g. cgroup notices) first.
    match = _PODMAN_VERSION_RE.search(text or "")
    if not match:
        raise ValueError(f"cannot parse Podman version from {text.strip()[:200]!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def parse_version(text: str) -> Version:
    """Parse a plain ``X.Y`` or ``X.Y.Z`` version string."""
    match = _VERSION_RE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a version (expected X.Y or X.Y.Z)")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def format_version(version: Version, short: bool = False) -> str:
    """Render a version; short drops a zero patch level (5.2 rather than 5.2.0)."""
    if short and version[2] == 0:
        return f"{version[0]}.{version[1]}"
    return ".".join(str(part) for part in version)


def _values_of(value: Any) -> list[Any]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return [item for item in items if item is not None]


def required_podman(
    unit_type: str, sections: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, Version]]:
    """List what in a unit needs more than the Podman 4.4 baseline, with the version needed."""
    if unit_type not in TYPE_MIN_PODMAN:
        raise ValueError(f"unknown quadlet unit type {unit_type!r}")
    needs: list[tuple[str, Version]] = []
    if TYPE_MIN_PODMAN[unit_type] > BASE_PODMAN:
        needs.append((f".{unit_type} units", TYPE_MIN_PODMAN[unit_type]))
    for section, keys in sections.items():
        for key, value in keys.items():
            if not _values_of(value):
                continue
            minimum = KEY_MIN_PODMAN.get((section, key))
            if minimum is not None and minimum > BASE_PODMAN:
                needs.append((key, minimum))
            for item in _values_of(value):
                minimum = VALUE_MIN_PODMAN.get((section, key, str(item).strip().lower()))
                if minimum is not None:
                    needs.append((f"{key}={item}", minimum))
    return needs


def check_podman_support(
    unit_type: str,
    sections: Mapping[str, Mapping[str, Any]],
    podman_version: Version,
    unit_name: str | None = None,
) -> list[str]:
    """Human readable messages for everything the host's Podman cannot handle."""
    label = unit_name or f"this .{unit_type} unit"
    messages = []
    for what, minimum in required_podman(unit_type, sections):
        if podman_version < minimum:
            messages.append(
                f"{label} uses {what}, which needs Podman >= {format_version(minimum, short=True)}"
                f" (host has {format_version(podman_version)})"
            )
    return messages


# ---------------------------------------------------------------------------
# Hashing
# ---------------------------------------------------------------------------


class MissingPathError(ValueError):
    """A path that should be hashed does not exist."""


def _feed(digest: _Digest, *fields: str | bytes) -> None:
    # Length-prefix every field so no concatenation of different inputs collides.
    for part in fields:
        data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


# What a file or directory will be after a planned write, for hashing before it happens:
# a file's bytes and mode bits, a directory's mode bits, or None for a path to be removed.
Planned = Union["PlannedFile", "PlannedDirectory", None]


_NOT_PLANNED = object()


@dataclass(frozen=True)
class PlannedFile:
    content: bytes = field(repr=False)
    mode: int


@dataclass(frozen=True)
class PlannedDirectory:
    mode: int


def _hash_planned(digest: _Digest, rel: str, planned: PlannedFile) -> None:
    _feed(digest, "file", rel, f"{planned.mode:04o}",
          hashlib.sha256(planned.content).hexdigest())


def _hash_entry(
    digest: _Digest, path: str, rel: str, st: os.stat_result | None,
    overlay: Mapping[str, Planned],
) -> None:
    planned = overlay.get(os.path.normpath(path), st)
    if isinstance(planned, PlannedFile):
        _hash_planned(digest, rel, planned)
        return
    if st is None:
        # Only a planned directory that does not exist yet gets here.
        if not isinstance(planned, PlannedDirectory):
            raise MissingPathError(f"path {path!r} does not exist")
        _feed(digest, "dir", rel, f"{planned.mode:04o}")
    elif stat.S_ISLNK(st.st_mode):
        _feed(digest, "link", rel, os.readlink(path))
        return
    elif stat.S_ISDIR(st.st_mode):
        mode = planned.mode if isinstance(planned, PlannedDirectory) else stat.S_IMODE(st.st_mode)
        _feed(digest, "dir", rel, f"{mode:04o}")
    elif stat.S_ISREG(st.st_mode):
        _feed(digest, "file", rel, f"{stat.S_IMODE(st.st_mode):04o}", _file_digest(path))
        return
    else:
        # Sockets, fifos, devices: their "content" is not meaningful config.
        _feed(digest, "special", rel, f"{stat.S_IMODE(st.st_mode):04o}",
              str(stat.S_IFMT(st.st_mode)))
        return
    children: dict[str, os.stat_result | None] = {}
    if st is not None:
        with os.scandir(path) as entries:
            children = {entry.name: entry.stat(follow_symlinks=False) for entry in entries}
    # Planned paths directly beneath: new ones join, removed ones leave.
    directory = os.path.normpath(path)
    for planned_path, planned_entry in overlay.items():
        if os.path.dirname(planned_path) == directory:
            name = os.path.basename(planned_path)
            if planned_entry is None:
                children.pop(name, None)
            else:
                children.setdefault(name, None)
    for name in sorted(children):
        child_rel = f"{rel}/{name}" if rel != "." else name
        _hash_entry(digest, os.path.join(path, name), child_rel, children[name], overlay)


def hash_paths(paths: Iterable[str], overlay: Mapping[str, Planned] | None = None) -> str:
    """sha256 over files and directory trees (relative paths, contents, mode bits).

    A path given by the caller is followed if it is a symlink (the container
    mounts what it points to); symlinks found inside a directory are hashed by
    their target text and not followed, which also rules out loops.

    overlay: absolute paths as a planned write will leave them (PlannedFile,
    PlannedDirectory, or None for removed); the hash is the one the disk will give
    once those writes are done, so a unit's final text is known before them.
    """
    overlay = {os.path.normpath(path): planned for path, planned in (overlay or {}).items()}
    digest = hashlib.sha256()
    for root in paths:
        planned = overlay.get(os.path.normpath(root), _NOT_PLANNED)
        if planned is None:
            raise MissingPathError(f"path {root!r} will not exist")
        st = None
        if not isinstance(planned, PlannedFile):
            try:
                st = os.stat(root)
            except FileNotFoundError:
                if not isinstance(planned, PlannedDirectory):
                    raise MissingPathError(f"path {root!r} does not exist") from None
        _feed(digest, "root", root)
        _hash_entry(digest, root, ".", st, overlay)
    return digest.hexdigest()


def hash_strings(items: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for item in items:
        _feed(digest, "item", str(item))
    return digest.hexdigest()


def config_hash(
    unit_definition: str,
    paths: Sequence[str] = (),
    extra: Sequence[str] = (),
    overlay: Mapping[str, Planned] | None = None,
) -> str:
    """The value of the config-hash label for a container unit.

    It covers the unit's own definition too, so editing the unit file changes
    the label and reconcile restarts the container even after an interrupted run.
    """
    parts = ["unit:" + hashlib.sha256(unit_definition.encode("utf-8")).hexdigest()]
    if paths:
        parts.append("paths:" + hash_paths(paths, overlay))
    parts.extend("extra:" + item for item in extra)
    return hash_strings(parts)


def unit_text(
    name: str,
    sections: Mapping[str, Mapping[str, Any]],
    restart_on: Sequence[str] = (),
    restart_on_extra: Sequence[str] = (),
    overlay: Mapping[str, Planned] | None = None,
) -> tuple[str, str | None]:
    """The text of quadlet file name and, for a .container unit, its config hash.

    A .container unit gets the hash as a lgtm.stack.config-hash label, appended last to
    [Container] Label=. The hash covers the unit's definition (its text without the header
    and without that label, which cannot contain its own hash), the restart_on paths in
    the order given (read from the host: MissingPathError when one is missing) and the
    restart_on_extra strings. Other unit types take no restart_on and get no hash.
    """
    if unit_type_of(name) != "container":
        if restart_on or restart_on_extra:
            raise ValueError(
                "restart_on and restart_on_extra are only supported for .container units,"
                f" not {name}"
            )
        return render_unit(sections, UNIT_HEADER), None
    definition = render_unit(sections, None)
    digest = config_hash(definition, restart_on, restart_on_extra, overlay)
    return render_unit(with_config_hash_label(sections, digest), UNIT_HEADER), digest


def only_hash_label_differs(before: str | None, after: str) -> bool:
    """True when an existing unit text differs from a new one at most in our hash label.

    Quadlet's verdict on one holds for the other, so no new dry run is needed.
    """
    return before is not None and without_config_hash_label(before) == without_config_hash_label(
        after
    )


def is_oneshot(parsed: Mapping[str, Mapping[str, list[str]]]) -> bool:
    """True for a unit whose [Service] Type= is oneshot (a job, not a daemon)."""
    return (last_value(parsed, "Service", "Type") or "").strip() == "oneshot"


def remains_after_exit(parsed: Mapping[str, Mapping[str, list[str]]]) -> bool:
    value = (last_value(parsed, "Service", "RemainAfterExit") or "").strip().lower()
    return value in ("yes", "true", "1", "on")


def run_hash(config_hash: str | None, image_id: str | None) -> str:
    """What a oneshot unit's last successful run is recorded as: its unit and its image."""
    return hash_strings([f"config:{config_hash or ''}", f"image:{image_id or ''}"])


# ---------------------------------------------------------------------------
# Reconcile decision
# ---------------------------------------------------------------------------

ACTIONS = ("none", "start", "restart", "reload", "stop")


@dataclass(frozen=True)
class UnitState:
    desired: str  # started | stopped | absent
    is_active: bool
    has_container: bool = False
    expected_hash: str | None = None
    running_hash: str | None = None
    expected_image_id: str | None = None
    running_image_id: str | None = None
    reload_hash_current: str | None = None
    reload_hash_recorded: str | None = None
    unit_file_changed_this_run: bool = False  # informational; state decides, not events
    # A Type=oneshot unit (a migration job) leaves no container behind: whether it
    # must run again comes from a hash of its unit and image recorded after its last run.
    oneshot: bool = False
    run_hash_current: str | None = None
    run_hash_recorded: str | None = None


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str

    @property
    def satisfies_reload(self) -> bool:
        """True when the action leaves the service running its current config."""
        return self.action in ("start", "restart", "reload")


def decide(unit: UnitState) -> Decision:
    """Pick the single action that brings a unit to its desired state."""
    if unit.desired not in ("started", "stopped", "absent"):
        raise ValueError(f"unknown desired state {unit.desired!r}")
    if unit.desired != "started":
        if unit.is_active:
            return Decision("stop", f"desired state is {unit.desired}")
        return Decision(
            "none", f"already {unit.desired if unit.desired == 'stopped' else 'stopped'}"
        )
    if not unit.is_active:
        return Decision("start", "not running")
    if unit.oneshot:
        if unit.run_hash_current != unit.run_hash_recorded:
            return Decision("restart", "unit or image changed since its last run")
        return Decision("none", "ran with the current unit and image")
    if not unit.has_container:
        return Decision("none", "running")
    if unit.expected_hash != unit.running_hash:
        return Decision("restart", "config-hash label differs")
    if (
        unit.expected_image_id
        and unit.running_image_id
        and unit.expected_image_id != unit.running_image_id
    ):
        return Decision("restart", "image changed")
    if (
        unit.reload_hash_current is not None
        and unit.reload_hash_current != unit.reload_hash_recorded
    ):
        return Decision("reload", "reload files changed")
    return Decision("none", "up to date")
