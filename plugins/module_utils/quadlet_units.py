# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing quadlet units on the host: checks, quadlet's dry run, atomic writes.

Moved from the quadlet_unit module (issue 19 item 3) so that module and the one-call
service module share it. Three steps the caller may run apart: plan_units (host checks,
each unit's text and hash label from quadlet.unit_text, nothing written),
dry_run_units (one quadlet -dryrun over the planned texts) and write_units; apply_units
runs the three in a row, as quadlet_unit does.
"""

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lgtm.stack.plugins.module_utils import files, quadlet
from ansible_collections.lgtm.stack.plugins.module_utils.text_file import read_text

# Defaults of Settings; quadlet_unit's tests point its own copies at a temporary directory.
SYSTEMD_RUN_DIR = "/run/systemd/system"
QUADLET_BINARY_CANDIDATES = ("/usr/libexec/podman/quadlet", "/usr/lib/podman/quadlet")
# In the state directory: the Podman version with the identity of the binary it came from.
VERSION_CACHE = "podman-version"

FILE_MODE = 0o644
# Siblings copied into the validation directory so references between units resolve.
SIBLING_SUFFIXES = (".container", ".network", ".volume", ".pod", ".kube", ".image", ".build")

MSG_NO_SYSTEMD = (
    "systemd is not running on this host (no {run_dir}); quadlet units need systemd as init"
)
MSG_NO_PODMAN = "Podman is not installed: install podman >= 4.4"


class PreflightError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    """Where units go and how they are checked: quadlet_unit's options, and the host's paths."""

    unit_dir: str
    validate: bool = True
    quadlet_binary: str | None = None
    min_podman: str | None = None
    systemd_run_dir: str = SYSTEMD_RUN_DIR
    quadlet_candidates: tuple[str, ...] = QUADLET_BINARY_CANDIDATES
    # Where the Podman version is remembered with the binary's identity (None: ask each time).
    version_cache_dir: str | None = None


@dataclass
class UnitPlan:
    """What plan_units found: each unit's result, the texts to write, whether quadlet must
    dry-run them, and the host's Podman version and quadlet generator (None when not asked
    or, in check mode, not installed)."""

    results: list[dict[str, Any]]
    new_texts: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    version: quadlet.Version | None = None
    binary: str | None = None
    version_record: str | None = None


def check_systemd(run_dir: str) -> None:
    if not os.path.isdir(run_dir):
        raise PreflightError(MSG_NO_SYSTEMD.format(run_dir=run_dir))


def binary_identity(path: str) -> str:
    """Changes whenever the binary is replaced (an upgrade writes a new file)."""
    real = os.path.realpath(path)
    info = os.stat(real)
    return f"{real} {info.st_ino} {info.st_size} {info.st_mtime_ns}"


def podman_version(
    module: AnsibleModule, cache_dir: str | None = None
) -> tuple[quadlet.Version, str | None]:
    """The host's Podman version, and what remember_version() keeps of it (None: nothing new).

    With cache_dir, a version remembered there with the binary's identity is used:
    starting Podman costs every service's deploy a call, its version changes only with
    the binary.
    """
    podman = module.get_bin_path("podman")
    if not podman:
        raise PreflightError(MSG_NO_PODMAN)
    identity = binary_identity(podman) if cache_dir else ""
    remembered = read_text(os.path.join(cache_dir, VERSION_CACHE)) if cache_dir else None
    if remembered is not None:
        cached_identity, _newline, cached_version = remembered.partition("\n")
        if cached_identity == identity:
            try:
                return quadlet.parse_podman_version(cached_version), None
            except ValueError:
                pass
    rc, out, err = module.run_command([podman, "--version"])
    if rc != 0:
        raise PreflightError(f"'podman --version' failed (rc={rc}): {(err or out).strip()}")
    try:
        version = quadlet.parse_podman_version(out)
    except ValueError as exc:
        raise PreflightError(str(exc)) from None
    return version, (f"{identity}\n{str(out).strip()}\n" if cache_dir else None)


def remember_version(module: AnsibleModule, settings: Settings, plan: UnitPlan) -> None:
    """After a call that succeeded: a record written by a failing call would be a change."""
    directory = settings.version_cache_dir
    if not (directory and plan.version_record) or module.check_mode:
        return
    if os.path.isdir(directory):
        # Only a cache: if it cannot be written, the next call asks Podman again.
        with contextlib.suppress(OSError):
            files.write_file(os.path.join(directory, VERSION_CACHE),
                             plan.version_record.encode(), None)


def find_quadlet_binary(configured: str | None, defaults: Sequence[str]) -> str:
    candidates = [configured] if configured else list(defaults)
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise PreflightError(
        "the quadlet generator was not found (looked for "
        + ", ".join(candidates)
        + "); install podman >= 4.4 or set quadlet_binary"
    )


def check_versions(
    name: str,
    unit_type: str,
    sections: dict[str, Any],
    version: quadlet.Version,
    min_podman: str | None,
) -> None:
    problems = quadlet.check_podman_support(unit_type, sections, version, unit_name=name)
    if min_podman:
        try:
            wanted = quadlet.parse_version(min_podman)
        except ValueError as exc:
            raise PreflightError(f"min_podman: {exc}") from None
        if version < wanted:
            problems.insert(
                0,
                f"{name} requires Podman >= {min_podman}"
                f" (host has {quadlet.format_version(version)})",
            )
    if problems:
        raise PreflightError("; ".join(problems))


def validate_with_quadlet(
    module: AnsibleModule, binary: str, unit_dir: str, candidates: dict[str, str | None]
) -> None:
    """Dry-run quadlet once over the unit directory with the candidates in place.

    candidates maps a unit name to its new text, or to None for a unit being removed.
    Raises when quadlet fails or does not generate the service of every new text.
    """
    written = {name: text for name, text in candidates.items() if text is not None}
    with tempfile.TemporaryDirectory(prefix="lgtm-quadlet-") as tmp:
        if os.path.isdir(unit_dir):
            for entry in sorted(os.listdir(unit_dir)):
                source = os.path.join(unit_dir, entry)
                if (entry not in candidates and entry.endswith(SIBLING_SUFFIXES)
                        and os.path.isfile(source)):
                    shutil.copyfile(source, os.path.join(tmp, entry))
        for name, text in written.items():
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as handle:
                handle.write(text)
        rc, out, err = module.run_command(
            [binary, "-dryrun"], environ_update={"QUADLET_UNIT_DIRS": tmp}
        )
    output = "\n".join(part.strip() for part in (err, out) if part and part.strip())
    if rc != 0:
        raise PreflightError(f"quadlet rejected {', '.join(written)} (rc={rc}): {output}")
    for name in written:
        service = quadlet.service_name(name)
        header = re.compile(r"^---(?:.*/)?" + re.escape(service) + r"---$", re.MULTILINE)
        if not header.search(out or ""):
            raise PreflightError(
                f"quadlet did not generate {service} from {name}: {output or 'no output'}"
            )


def write_atomically(module: AnsibleModule, path: str, content: str) -> None:
    # The temp file lives next to the target so the final rename is atomic.
    fd, tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(tmp_path, FILE_MODE)
        module.atomic_move(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)


def ensure_dir(module: AnsibleModule, unit_dir: str) -> bool:
    if os.path.isdir(unit_dir):
        return False
    if not module.check_mode:
        os.makedirs(unit_dir, mode=0o755)
    return True


def fix_attributes(module: AnsibleModule, path: str, changed: bool) -> bool:
    changed = module.set_owner_if_different(path, "root", changed)
    changed = module.set_group_if_different(path, "root", changed)
    return module.set_mode_if_different(path, FILE_MODE, changed)


def remove(module: AnsibleModule, path: str, result: dict[str, Any]) -> None:
    before = read_text(path)
    if before is None:
        return
    result["changed"] = True
    if module._diff:
        result["diff"] = {
            "before": before,
            "after": "",
            "before_header": path,
            "after_header": path,
        }
    if not module.check_mode:
        os.unlink(path)


def host_podman(
    module: AnsibleModule, settings: Settings
) -> tuple[quadlet.Version | None, str | None, str | None]:
    """The host's Podman version, its record to remember and the quadlet generator,
    checked once for all units."""
    check_systemd(settings.systemd_run_dir)
    try:
        version, record = podman_version(module, settings.version_cache_dir)
        return version, record, find_quadlet_binary(
            settings.quadlet_binary, settings.quadlet_candidates
        )
    except PreflightError as exc:
        # In check mode Podman may simply not be installed yet (the install task did not run).
        if not module.check_mode:
            raise
        module.warn(f"{exc}; skipping Podman checks in check mode")
        return None, None, None


def plan_present(
    module: AnsibleModule, settings: Settings, unit: dict[str, Any],
    version: quadlet.Version | None, result: dict[str, Any],
    overlay: Mapping[str, quadlet.Planned] | None = None,
) -> tuple[str | None, bool]:
    """Fill the unit's result; return its new text when the file must be (re)written, and
    whether quadlet has to see that text in a dry run before it is written.
    """
    name = unit["name"]
    unit_type = quadlet.unit_type_of(name)
    if version is not None:
        check_versions(name, unit_type, unit["sections"], version, settings.min_podman)
    try:
        # The text and hash label every converged host carries: made in module_utils only.
        content, config_hash = quadlet.unit_text(
            name, unit["sections"], unit.get("restart_on") or [],
            unit.get("restart_on_extra") or [], overlay,
        )
    except quadlet.MissingPathError as exc:
        # A restart_on file may be templated by a task that check mode did not run.
        if not module.check_mode:
            raise
        module.warn(f"{exc}; assuming the unit would change")
        result["changed"] = True
        return None, False
    result["content"] = content
    if config_hash is not None:
        result["config_hash"] = config_hash
    before = read_text(result["path"])
    if before == content:
        return None, False
    # A unit quadlet accepted before, changed only in its config-hash label (new config
    # files, or the pre-flight dry run that knows no config hash yet), needs no new dry
    # run: that would cost a quadlet run on every unchanged play.
    relabelled_only = quadlet.only_hash_label_differs(before, content)
    result["changed"] = True
    if module._diff:
        result["diff"] = {
            "before": before or "",
            "after": content,
            "before_header": result["path"],
            "after_header": result["path"],
        }
    return content, settings.validate and not relabelled_only


def plan_units(
    module: AnsibleModule, settings: Settings, units: list[dict[str, Any]],
    overlay: Mapping[str, quadlet.Planned] | None = None,
) -> UnitPlan:
    """Check the host once and every unit; read what is on disk; write nothing.

    overlay: restart_on paths as a write still to come leaves them (quadlet.hash_paths).
    """
    results = [
        {"changed": False, "path": os.path.join(settings.unit_dir, unit["name"]),
         "service": quadlet.service_name(unit["name"])}
        for unit in units
    ]
    present = [unit for unit in units if unit["state"] == "present"]
    version, record, binary = host_podman(module, settings) if present else (None, None, None)
    plan = UnitPlan(results, version=version, binary=binary, version_record=record)
    # Indexed, not zip(strict=...): targets may run Python 3.9.
    for index, unit in enumerate(units):
        if unit["state"] == "present":
            text, needs_dry_run = plan_present(
                module, settings, unit, version, results[index], overlay
            )
            if text is not None:
                plan.new_texts[unit["name"]] = text
            plan.dry_run = plan.dry_run or needs_dry_run
    return plan


def dry_run_units(
    module: AnsibleModule, settings: Settings, units: list[dict[str, Any]], plan: UnitPlan
) -> None:
    """One quadlet dry run over the planned texts, when a change needs one; raises on rejection."""
    if plan.dry_run and plan.binary is not None:
        removed: dict[str, str | None] = {
            unit["name"]: None for unit in units if unit["state"] == "absent"
        }
        validate_with_quadlet(
            module, plan.binary, settings.unit_dir, {**removed, **plan.new_texts}
        )


def write_units(
    module: AnsibleModule, settings: Settings, units: list[dict[str, Any]], plan: UnitPlan
) -> list[dict[str, Any]]:
    """Write and remove as planned (nothing in check mode); each unit's result."""
    present = [unit for unit in units if unit["state"] == "present"]
    dir_created = ensure_dir(module, settings.unit_dir) if present else False
    for index, unit in enumerate(units):
        result = plan.results[index]
        if unit["state"] == "absent":
            remove(module, result["path"], result)
            continue
        if unit["name"] in plan.new_texts and not module.check_mode:
            write_atomically(module, result["path"], plan.new_texts[unit["name"]])
        if os.path.exists(result["path"]):
            result["changed"] = fix_attributes(module, result["path"], result["changed"])
        result["changed"] = result["changed"] or dir_created
    return plan.results


def apply_units(
    module: AnsibleModule, settings: Settings, units: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], str | None]:
    """Plan every unit, dry-run the changed ones together, then write and remove.

    Nothing is written until every unit passed its checks, so one bad unit leaves the
    directory as it was. Returns each unit's result and the host's Podman version, if
    a present unit made the module ask for it.
    """
    plan = plan_units(module, settings, units)
    dry_run_units(module, settings, units, plan)
    results = write_units(module, settings, units, plan)
    version = plan.version
    return results, quadlet.format_version(version) if version is not None else None
