#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: config_files
short_description: A service's directories and config files in one step, validated first
version_added: "0.1.0"
description:
  - Ensures O(directories) exist with their owner, group and mode, then that every file of O(files)
    holds its content with its owner, group and mode, and that every path of O(remove) is gone.
  - A file whose content would change and that has a C(validate) command is first written as a
    candidate to O(candidate_dir) and checked there. Only when every such candidate passed is any
    live file written, so one bad file leaves every live file alone, not only itself.
  - Files are replaced atomically; a new file gets its owner and mode before it appears under its
    name, so a private key is never readable by others, not even briefly.
  - One call does what a loop of M(ansible.builtin.file) and M(ansible.builtin.copy) tasks would,
    in one round trip to the host; an unchanged run reads each file once and writes nothing.
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  directories:
    description:
      - Directories to create (with missing parents) and keep at their owner, group and mode.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory.
        type: path
        required: true
      owner:
        description: User name or numeric UID.
        type: str
        default: root
      group:
        description: Group name or numeric GID.
        type: str
        default: root
      mode:
        description: Octal mode, for example C(0755).
        type: str
        default: "0755"
      recurse:
        description:
          - When the directory exists with another owner or group than O(directories[].owner)
            and O(directories[].group), first give everything beneath it that owner and group,
            then the directory itself. For a service that used to run as another user, whose
            data it can no longer write otherwise (Mimir wrote its data as root before it ran
            as UID 10001).
          - Symbolic links are re-owned themselves, never followed; a file system mounted
            beneath is left alone. Only owner and group change beneath, never the mode.
          - The directory itself is re-owned last, so a run interrupted half-way is finished
            by the next one. When the directory already has its owner and group, nothing
            beneath it is read, however large.
        type: bool
        default: false
  files:
    description:
      - Files and their wanted content.
      - Their directories must exist (list them in O(directories)).
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: The live file.
        type: path
        required: true
      content:
        description: The content. Shown in diffs.
        type: str
      secret_content:
        description:
          - The content of a secret file, instead of O(files[].content).
          - Never returned, logged or shown in a diff.
        type: str
      owner:
        description: User name or numeric UID.
        type: str
        default: root
      group:
        description: Group name or numeric GID.
        type: str
        default: root
      mode:
        description: Octal mode, for example C(0644).
        type: str
        default: "0644"
      validate:
        description:
          - Command run (without a shell) on the candidate before the live file changes.
          - C(%s) is replaced by the candidate's path.
          - A non-zero exit fails the task and no live file is written.
        type: str
  remove:
    description: Files or directories (with their content) that must not exist.
    type: list
    elements: path
    default: []
  candidate_dir:
    description:
      - Where candidates are validated (created root-owned, C(0700)).
      - Required when a file has C(validate).
      - Each call checks its candidates in a private directory inside it, removed once checked,
        so plays running at once do not meet.
    type: path
attributes:
  check_mode:
    description: Reports what would change without writing; validation commands do not run.
    support: full
  diff_mode:
    description: Content changes of files that are not secret.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Loki's directories and config, validated before it goes live
  lgtm.stack.config_files:
    directories:
      - {path: /etc/lgtm/loki}
      - {path: /var/lib/lgtm/loki, owner: "10001", mode: "0750"}
    files:
      - dest: /etc/lgtm/loki/config.yaml
        content: "{{ loki_config | to_nice_yaml }}"
        validate: /usr/local/bin/loki -config.file=%s -verify-config
      - dest: /etc/lgtm/loki/tls/server.key
        secret_content: "{{ lgtm_tls_private_key }}"
        owner: "10001"
        mode: "0400"
    candidate_dir: /var/lib/lgtm/.quadlet/candidates/loki
"""

RETURN = r"""
directories:
  description: Directories created or whose owner, group or mode changed.
  returned: always
  type: list
  elements: str
reowned:
  description:
    - Directories with O(directories[].recurse) whose content was given their owner and group
      (or would be, in check mode).
  returned: always
  type: list
  elements: str
files:
  description: Files whose content, owner, group or mode changed (or would, in check mode).
  returned: always
  type: list
  elements: str
removed:
  description: Paths of O(remove) that were removed (or would be, in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lgtm.stack.plugins.module_utils import files


def main() -> None:
    ownership = {
        "owner": {"type": "str", "default": "root"},
        "group": {"type": "str", "default": "root"},
    }
    module = AnsibleModule(
        argument_spec={
            "directories": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": {"type": "path", "required": True},
                    "mode": {"type": "str", "default": "0755"},
                    "recurse": {"type": "bool", "default": False},
                    **ownership,
                },
            },
            "files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "dest": {"type": "path", "required": True},
                    "content": {"type": "str"},
                    "secret_content": {"type": "str", "no_log": True},
                    "mode": {"type": "str", "default": "0644"},
                    "validate": {"type": "str"},
                    **ownership,
                },
            },
            "remove": {"type": "list", "elements": "path", "default": []},
            "candidate_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    try:
        plan = files.apply(
            module,
            module.params["directories"],
            module.params["files"],
            module.params["remove"],
            module.params["candidate_dir"],
        )
    except (files.ConfigError, OSError) as exc:
        module.fail_json(msg=str(exc))
    summary = plan.summary()
    result = {
        "changed": plan.changed,
        "directories": summary["directories"],
        "reowned": summary["reowned"],
        "files": summary["files"],
        "removed": summary["removed"],
    }
    diffs = plan.diffs() if module._diff else []
    if diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
