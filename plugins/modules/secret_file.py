#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: secret_file
short_description: Keep a secret in a file on the host, generated there once when none is given
version_added: "0.1.0"
description:
  - Ensures O(path) holds a secret. With O(value), the file holds exactly that value (rewritten
    when it differs, so changing the variable really changes the secret). Without it, an existing
    non-empty file is kept as it is, and a missing or empty one gets O(length) random letters and
    digits generated on the host, so the secret never travels from the controller.
  - The file is written atomically, without a trailing newline, with O(mode) (default C(0600)).
  - The secret is never returned, logged or shown in a diff; read it with M(ansible.builtin.slurp)
    under C(no_log) when a later task needs it.
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  path:
    description: The file. Its directory must exist.
    type: path
    required: true
  value:
    description:
      - The secret. Empty or omitted keeps the file's current secret or generates one.
    type: str
  length:
    description: Length of a generated secret (letters and digits, safe in URLs and env files).
    type: int
    default: 32
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    description: Reports whether the secret would be generated or written, without writing.
    support: full
  diff_mode:
    description: No diff is shown.
    support: none
    details: The content is a secret; only ownership and mode changes are reported.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Grafana admin password, generated on the host unless given
  lgtm.stack.secret_file:
    path: /etc/lgtm/grafana/secrets/admin_password
    value: "{{ grafana_admin_password }}"
    owner: "472"
    mode: "0400"
  no_log: true
"""

RETURN = r"""
generated:
  description: Whether a new secret was generated (or would be, in check mode).
  returned: always
  type: bool
written:
  description: Whether the content was written (or would be, in check mode).
  returned: always
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lgtm.stack.plugins.module_utils import files


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "value": {"type": "str", "no_log": True},
            "length": {"type": "int", "default": 32, "no_log": False},
        },
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path: str = module.params["path"]
    if module.params["mode"] is None:
        module.params["mode"] = "0600"
    try:
        # Owner and mode come from the file attributes below (symbolic modes included), so
        # the plan leaves them alone and the secret is written 0600, the caller's own.
        plan = files.plan_secret(path, module.params["value"], module.params["length"])
    except files.ConfigError as exc:
        module.fail_json(msg=str(exc))
    if plan.written and not module.check_mode:
        files.write_secret(module, plan)

    changed = plan.written
    if os.path.exists(path):
        file_args = module.load_file_common_arguments(module.params)
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, generated=plan.generated, written=plan.written, path=path)


if __name__ == "__main__":
    main()
