#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: quadlet_unit
short_description: Write Podman quadlet unit files, validated by quadlet
version_added: "0.1.0"
description:
  - Renders a Podman quadlet file (C(.container), C(.network), C(.volume), C(.pod) or C(.kube))
    from structured data and writes it atomically with mode C(0644), owned by root.
  - Several units are handled in one call with O(units). The host is checked once, every changed
    unit is dry-run by one quadlet run with all the new texts in place, and nothing is written
    or removed until all of them passed, so one bad unit leaves every file as it was.
  - Before writing, checks that systemd is the init system, that Podman is installed, that the
    host's Podman supports every quadlet key used, and, when I(validate=true), runs the quadlet
    generator in dry-run mode over a copy of the unit directory that includes the candidate file.
    A file quadlet rejects is never written, so a working unit is never replaced by a broken one.
  - For C(.container) units a label C(lgtm.stack.config-hash=<sha256>) is added to the
    C([Container]) section. The hash covers the unit definition itself, the files and
    directories in O(restart_on) and the strings in O(restart_on_extra).
    M(lgtm.stack.quadlet_reconcile) compares it with the label of the running container and
    restarts the unit when they differ, so a restart that was interrupted is still done on the
    next run.
  - The module does not run C(systemctl daemon-reload) nor start anything; use
    M(lgtm.stack.quadlet_reconcile) for that.
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  name:
    description:
      - File name of the quadlet unit including its type suffix, for example C(lgtm-loki.container).
      - The suffix must be one of C(container), C(network), C(volume), C(pod) or C(kube).
        Slashes are not allowed.
      - Exactly one of O(name) and O(units) is required.
    type: str
  units:
    description:
      - Several units in one call, each given like the single-unit options. Names must differ.
      - The result then lists each unit's result under RV(units).
    type: list
    elements: dict
    suboptions:
      name:
        description: File name of the unit, as O(name).
        type: str
        required: true
      sections:
        description: The unit content, as O(sections). Required when O(units[].state=present).
        type: dict
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
        default: present
      restart_on:
        description: As O(restart_on).
        type: list
        elements: path
      restart_on_extra:
        description: As O(restart_on_extra).
        type: list
        elements: str
  sections:
    description:
      - The unit content as a mapping of section name (C(Unit), C(Container), C(Service),
        C(Install) and so on) to a mapping of key to value. See the examples.
      - Sections and keys are written in the order given. A list value writes the key once per
        element, booleans are written as C(true)/C(false) and null values are left out.
      - Values must not contain newlines. Unit files are shown in diffs, so never put secrets
        here; use Podman secrets or environment files.
      - Required when O(state=present).
    type: dict
  state:
    description:
      - V(present) writes the file, V(absent) removes it.
      - Removing a file does not stop the service; stop it with M(lgtm.stack.quadlet_reconcile)
        first.
    type: str
    choices: [present, absent]
    default: present
  dir:
    description:
      - Directory holding the quadlet files. It is created with mode C(0755) if missing.
    type: path
    default: /etc/containers/systemd
  restart_on:
    description:
      - Files and directories whose content, relative paths and mode bits go into the config hash.
        Directories are walked recursively.
      - Only allowed for C(.container) units.
      - Every path must exist.
    type: list
    elements: path
  restart_on_extra:
    description:
      - Extra strings mixed into the config hash, for example a hash of a secret's value
        computed by the role. Only allowed for C(.container) units.
      - Give hashes, not secret values; the strings are not logged but the hash is returned.
    type: list
    elements: str
  validate:
    description:
      - Run C(quadlet -dryrun) over a copy of O(dir) containing the candidate file before
        writing, and refuse to write a file quadlet rejects.
    type: bool
    default: true
  quadlet_binary:
    description:
      - Path of the quadlet generator.
      - Defaults to the first existing of C(/usr/libexec/podman/quadlet) and
        C(/usr/lib/podman/quadlet).
      - It must exist even with O(validate=false), because without the generator systemd gets no
        services from quadlet files.
    type: path
  min_podman:
    description:
      - Minimum Podman version (C(X.Y) or C(X.Y.Z)) the caller requires, checked in addition to
        the versions the used quadlet keys need.
    type: str
attributes:
  check_mode:
    description: Reports whether the file would change without writing it; validation still runs
      when Podman and quadlet are installed.
    support: full
  diff_mode:
    description: Returns the unit text before and after.
    support: full
  platform:
    description: Targets running systemd and Podman.
    support: full
    platforms: posix
notes:
  - Units are validated together with their sibling files in O(dir), so write C(.network) and
    C(.volume) units before the C(.container) units that refer to them.
  - Drop-in directories (C(*.container.d)) are not copied into the validation directory.
requirements:
  - systemd as init system
  - podman >= 4.4 (some keys need more; the table is C(KEY_MIN_PODMAN) in the collection's
    C(quadlet) module_utils)
seealso:
  - module: lgtm.stack.quadlet_reconcile
"""

EXAMPLES = r"""
- name: Network shared by the stack
  lgtm.stack.quadlet_unit:
    name: lgtm.network
    sections:
      Unit:
        Description: LGTM stack network
      Network:
        NetworkName: lgtm
  register: lgtm_network

- name: Loki container
  lgtm.stack.quadlet_unit:
    name: lgtm-loki.container
    sections:
      Unit:
        Description: Grafana Loki
        After: lgtm-network.service
      Container:
        Image: docker.io/grafana/loki:3.5.0
        ContainerName: lgtm-loki
        Network: lgtm.network
        PublishPort:
          - 127.0.0.1:3100:3100
        Volume:
          - /etc/lgtm/loki:/etc/loki:ro,Z
          - lgtm-loki-data.volume:/loki
        Label:
          - org.example.stack=lgtm
      Service:
        Restart: always
      Install:
        WantedBy: multi-user.target
    restart_on:
      - /etc/lgtm/loki
  register: loki_unit

- name: A database and its application, checked and dry-run together
  lgtm.stack.quadlet_unit:
    units:
      - name: app-db.container
        sections:
          Container:
            Image: docker.io/library/postgres:18
      - name: app-web.container
        sections:
          Unit:
            Requires: app-db.service
          Container:
            Image: registry.example.org/app:1.2
        restart_on:
          - /etc/app
"""

RETURN = r"""
units:
  description:
    - One result per unit of O(units), in their order, each with C(name)'s C(path), C(service),
      C(changed) and, for a present unit, C(content) and C(config_hash) as described below.
  returned: when O(units) is given
  type: list
  elements: dict
path:
  description: Full path of the quadlet file.
  returned: when O(name) is given
  type: str
  sample: /etc/containers/systemd/lgtm-loki.container
service:
  description: Name of the systemd service quadlet generates from the file.
  returned: when O(name) is given
  type: str
  sample: lgtm-loki.service
config_hash:
  description: Value of the C(lgtm.stack.config-hash) label written into the unit.
  returned: when the unit is a C(.container) unit and O(state=present)
  type: str
  sample: 3f2a0c9d1e6b4a7f8c5d2e1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f
podman_version:
  description: Podman version found on the host.
  returned: when O(state=present) and Podman is installed
  type: str
  sample: 5.4.2
content:
  description: Rendered unit text.
  returned: when O(state=present)
  type: str
"""

import os
import re
import shutil
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.lgtm.stack.plugins.module_utils import quadlet

# Module-level so tests can point them at a temporary directory.
SYSTEMD_RUN_DIR = "/run/systemd/system"
QUADLET_BINARY_CANDIDATES = ("/usr/libexec/podman/quadlet", "/usr/lib/podman/quadlet")

FILE_MODE = 0o644
# Siblings copied into the validation directory so references between units resolve.
SIBLING_SUFFIXES = (".container", ".network", ".volume", ".pod", ".kube", ".image", ".build")

MSG_NO_SYSTEMD = (
    "systemd is not running on this host (no {run_dir}); quadlet units need systemd as init"
)
MSG_NO_PODMAN = "Podman is not installed: install podman >= 4.4"


class PreflightError(Exception):
    pass


def check_systemd() -> None:
    if not os.path.isdir(SYSTEMD_RUN_DIR):
        raise PreflightError(MSG_NO_SYSTEMD.format(run_dir=SYSTEMD_RUN_DIR))


def podman_version(module: AnsibleModule) -> quadlet.Version:
    podman = module.get_bin_path("podman")
    if not podman:
        raise PreflightError(MSG_NO_PODMAN)
    rc, out, err = module.run_command([podman, "--version"])
    if rc != 0:
        raise PreflightError(f"'podman --version' failed (rc={rc}): {(err or out).strip()}")
    try:
        return quadlet.parse_podman_version(out)
    except ValueError as exc:
        raise PreflightError(str(exc)) from None


def find_quadlet_binary(configured: str | None) -> str:
    candidates = [configured] if configured else list(QUADLET_BINARY_CANDIDATES)
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


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


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


def host_podman(module: AnsibleModule) -> tuple[quadlet.Version | None, str | None]:
    """The host's Podman version and quadlet generator, checked once for all units."""
    check_systemd()
    try:
        return podman_version(module), find_quadlet_binary(module.params["quadlet_binary"])
    except PreflightError as exc:
        # In check mode Podman may simply not be installed yet (the install task did not run).
        if not module.check_mode:
            raise
        module.warn(f"{exc}; skipping Podman checks in check mode")
        return None, None


def plan_present(
    module: AnsibleModule, unit: dict[str, Any], version: quadlet.Version | None,
    result: dict[str, Any],
) -> tuple[str | None, bool]:
    """Fill the unit's result; return its new text when the file must be (re)written, and
    whether quadlet has to see that text in a dry run before it is written.
    """
    name = unit["name"]
    unit_type = quadlet.unit_type_of(name)
    if version is not None:
        check_versions(name, unit_type, unit["sections"], version, module.params["min_podman"])
    try:
        # The text and hash label every converged host carries: made in module_utils only.
        content, config_hash = quadlet.unit_text(
            name, unit["sections"], unit.get("restart_on") or [],
            unit.get("restart_on_extra") or [],
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
    return content, module.params["validate"] and not relabelled_only


def apply_units(
    module: AnsibleModule, units: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], str | None]:
    """Plan every unit, dry-run the changed ones together, then write and remove.

    Nothing is written until every unit passed its checks, so one bad unit leaves the
    directory as it was. Returns each unit's result and the host's Podman version, if
    a present unit made the module ask for it.
    """
    unit_dir = module.params["dir"]
    results = [
        {"changed": False, "path": os.path.join(unit_dir, unit["name"]),
         "service": quadlet.service_name(unit["name"])}
        for unit in units
    ]
    present = [unit for unit in units if unit["state"] == "present"]
    version, binary = host_podman(module) if present else (None, None)
    new_texts: dict[str, str] = {}
    dry_run = False
    # Indexed, not zip(strict=...): targets may run Python 3.9.
    for index, unit in enumerate(units):
        if unit["state"] == "present":
            text, needs_dry_run = plan_present(module, unit, version, results[index])
            if text is not None:
                new_texts[unit["name"]] = text
            dry_run = dry_run or needs_dry_run
    if dry_run and binary is not None:
        removed: dict[str, str | None] = {
            unit["name"]: None for unit in units if unit["state"] == "absent"
        }
        validate_with_quadlet(module, binary, unit_dir, {**removed, **new_texts})

    dir_created = ensure_dir(module, unit_dir) if present else False
    for index, unit in enumerate(units):
        result = results[index]
        if unit["state"] == "absent":
            remove(module, result["path"], result)
            continue
        if unit["name"] in new_texts and not module.check_mode:
            write_atomically(module, result["path"], new_texts[unit["name"]])
        if os.path.exists(result["path"]):
            result["changed"] = fix_attributes(module, result["path"], result["changed"])
        result["changed"] = result["changed"] or dir_created
    return results, quadlet.format_version(version) if version is not None else None


UNIT_OPTIONS: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "sections": {"type": "dict"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "restart_on": {"type": "list", "elements": "path"},
    "restart_on_extra": {"type": "list", "elements": "str", "no_log": False},
}


def check_unit(unit: dict[str, Any]) -> None:
    name = unit["name"]
    unit_type = quadlet.unit_type_of(name)
    if unit_type not in quadlet.UNIT_TYPES:
        raise ValueError(f"{name}: unit type .{unit_type} is not supported by this module")
    if unit["state"] == "present" and unit["sections"] is None:
        raise ValueError(f"{name}: sections is required when state is present")


def main() -> None:
    single = {key: dict(option) for key, option in UNIT_OPTIONS.items()}
    single["name"]["required"] = False
    module = AnsibleModule(
        argument_spec={
            **single,
            "units": {"type": "list", "elements": "dict", "options": UNIT_OPTIONS},
            "dir": {"type": "path", "default": "/etc/containers/systemd"},
            "validate": {"type": "bool", "default": True},
            "quadlet_binary": {"type": "path"},
            "min_podman": {"type": "str"},
        },
        mutually_exclusive=[("name", "units")],
        required_one_of=[("name", "units")],
        supports_check_mode=True,
    )
    params = module.params
    batch = params["units"] is not None
    units = params["units"] if batch else [{key: params[key] for key in UNIT_OPTIONS}]
    try:
        names = [unit["name"] for unit in units]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"units: {', '.join(duplicates)} given more than once")
        for unit in units:
            check_unit(unit)
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    results: list[dict[str, Any]] = []
    version: str | None = None
    try:
        results, version = apply_units(module, units)
    except (PreflightError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=to_text(exc))
    versions = {"podman_version": version} if version is not None else {}
    if not batch:
        module.exit_json(**results[0], **versions)
    summary: dict[str, Any] = {
        "changed": any(result["changed"] for result in results),
        "units": results,
    }
    diffs = [result.pop("diff") for result in results if "diff" in result]
    if diffs:
        summary["diff"] = diffs
    module.exit_json(**summary, **versions)


if __name__ == "__main__":
    main()
