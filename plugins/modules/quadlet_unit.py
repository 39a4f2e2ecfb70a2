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

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.lgtm.stack.plugins.module_utils import quadlet, quadlet_units

# Module-level so tests can point them at a temporary directory.
SYSTEMD_RUN_DIR = quadlet_units.SYSTEMD_RUN_DIR
QUADLET_BINARY_CANDIDATES = quadlet_units.QUADLET_BINARY_CANDIDATES


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
    # The module-level paths are read here, so tests can point them elsewhere.
    settings = quadlet_units.Settings(
        unit_dir=params["dir"],
        validate=params["validate"],
        quadlet_binary=params["quadlet_binary"],
        min_podman=params["min_podman"],
        systemd_run_dir=SYSTEMD_RUN_DIR,
        quadlet_candidates=tuple(QUADLET_BINARY_CANDIDATES),
    )
    try:
        results, version = quadlet_units.apply_units(module, settings, units)
    except (quadlet_units.PreflightError, ValueError) as exc:
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
