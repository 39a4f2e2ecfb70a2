#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_probe
short_description: Run read-only probes on a host in one round trip
version_added: "0.1.0"
description:
  - Runs each command of O(commands) (without a shell) and looks at each path of O(paths), and
    returns what it saw. A task per probe costs a round trip to the host each; pre-flight checks
    that ask the host several things use this module once instead.
  - A command that fails, or whose executable is missing, is reported in its result, not as a
    failure of the task; the caller judges the results.
  - Never changes anything, so it also runs in check mode and never reports C(changed).
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  commands:
    description:
      - Commands to run, each as an argument vector (the executable first).
      - Give read-only commands only; this module reports them unchanged whatever they do.
    type: list
    elements: list
    default: []
  paths:
    description: Paths to look at (without following a final symlink's target for C(islink)).
    type: list
    elements: path
    default: []
  selinux:
    description:
      - Also report SELinux, in RV(selinux) - its mode read from the kernel, whether the Python
        that runs Ansible's modules here loads libselinux (as Ansible's own SELinux support
        does), and whether the container policy module (C(container-selinux)) is installed in
        the policy store.
    type: bool
    default: false
attributes:
  check_mode:
    description: Runs the same way in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Ask the host for systemd, Podman and its listening sockets at once
  lgtm.stack.host_probe:
    paths: [/run/systemd/system]
    commands:
      - [podman, --version]
      - [ss, -Hltnp]
  register: probe

- name: Fail without systemd
  ansible.builtin.assert:
    that: probe.paths['/run/systemd/system'].isdir
"""

RETURN = r"""
commands:
  description: One result per command of O(commands), in their order.
  returned: always
  type: list
  elements: dict
  contains:
    argv:
      description: The command as run.
      type: list
      elements: str
    rc:
      description: Exit code; 127 when the executable was not found.
      type: int
    stdout:
      description: Standard output.
      type: str
    stdout_lines:
      description: Standard output split into lines.
      type: list
      elements: str
    stderr:
      description: Standard error, or why the command could not run.
      type: str
  sample:
    - argv: [podman, --version]
      rc: 0
      stdout: "podman version 5.4.2\n"
      stdout_lines: [podman version 5.4.2]
      stderr: ""
paths:
  description: For each path of O(paths), whether it exists and what it is.
  returned: always
  type: dict
  sample:
    /run/systemd/system: {exists: true, isdir: true, isfile: false, islink: false}
selinux:
  description: SELinux on the host, when O(selinux) is set.
  returned: when O(selinux) is true
  type: dict
  contains:
    mode:
      description: V(enforcing), V(permissive) or V(disabled) (also without SELinux at all).
      type: str
    library:
      description: Whether the module's Python loads libselinux (Ansible sets contexts with it).
      type: bool
    container_policy:
      description: Whether the host policy's store holds an enabled C(container) module.
      type: bool
  sample:
    mode: enforcing
    library: true
    container_policy: true
"""

import glob
import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

COMMAND_NOT_FOUND = 127


def run_probe(module: AnsibleModule, argv: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {"argv": argv, "rc": COMMAND_NOT_FOUND, "stdout": "",
                              "stdout_lines": [], "stderr": ""}
    executable = module.get_bin_path(argv[0]) if argv else None
    if executable is None:
        result["stderr"] = f"{argv[0] if argv else '(empty command)'}: command not found"
        return result
    rc, out, err = module.run_command([executable, *argv[1:]])
    stdout = to_text(out)
    result.update(rc=rc, stdout=stdout, stdout_lines=stdout.splitlines(), stderr=to_text(err))
    return result


def look_at(path: str) -> dict[str, bool]:
    return {
        "exists": os.path.exists(path),
        "isdir": os.path.isdir(path),
        "isfile": os.path.isfile(path),
        "islink": os.path.islink(path),
    }


SELINUX_ENFORCE = "/sys/fs/selinux/enforce"
SELINUX_CONFIG = "/etc/selinux/config"
SELINUX_STORE = "/var/lib/selinux"


def selinux_mode(enforce: str = SELINUX_ENFORCE) -> str:
    # The kernel's own switch: readable whether or not libselinux loads, which is what
    # tells an enforcing host without the library from a host without SELinux.
    try:
        with open(enforce, encoding="ascii") as handle:
            return "enforcing" if handle.read().strip() == "1" else "permissive"
    except OSError:
        return "disabled"


def selinux_library() -> bool:
    # The shim Ansible's modules use for file contexts (ctypes over libselinux.so.1).
    try:
        from ansible.module_utils.compat import selinux  # noqa: F401 pylint: disable=unused-import
    except ImportError:
        return False
    return True


def policy_type(config: str = SELINUX_CONFIG) -> str | None:
    try:
        with open(config, encoding="utf-8") as handle:
            for line in handle:
                key, _sep, value = line.strip().partition("=")
                if key.strip() == "SELINUXTYPE" and value.strip():
                    return value.strip()
    except OSError:
        return None
    return None


def container_policy(store: str = SELINUX_STORE, config: str = SELINUX_CONFIG) -> bool:
    """True when the host's policy store holds the container module (at any priority), enabled.

    container-selinux installs it there (the types container volumes are labelled with);
    a module that semodule disabled leaves a marker under modules/disabled/.
    """
    kind = policy_type(config) or "*"
    for modules in glob.glob(os.path.join(store, kind, "active", "modules")):
        installed = any(os.path.isdir(path)
                        for path in glob.glob(os.path.join(modules, "[0-9]*", "container")))
        if installed and not os.path.exists(os.path.join(modules, "disabled", "container")):
            return True
    return False


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "commands": {"type": "list", "elements": "list", "default": []},
            "paths": {"type": "list", "elements": "path", "default": []},
            "selinux": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    commands = [[to_text(part) for part in argv] for argv in module.params["commands"]]
    result: dict[str, Any] = {
        "changed": False,
        "commands": [run_probe(module, argv) for argv in commands],
        "paths": {path: look_at(path) for path in module.params["paths"]},
    }
    if module.params["selinux"]:
        result["selinux"] = {"mode": selinux_mode(), "library": selinux_library(),
                             "container_policy": container_policy()}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
