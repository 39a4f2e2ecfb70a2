#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin of the same name does the work on the controller.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: controller_file
short_description: Write a file on the controller, without running a module
version_added: "0.1.0"
description:
  - Writes O(content) to O(dest) on the controller that runs the play, whatever host the task
    runs for, from the task's own process. M(ansible.builtin.copy) delegated to localhost
    builds and starts a module for each call; this compares the bytes and the mode in place.
  - The file is replaced at once (a temporary file in the same directory, then a rename), so a
    reader sees the old content or the new. A missing directory is created with
    O(directory_mode); an existing one is left as it is.
  - Used by the summary role for the file that says what runs where.
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  dest:
    description: The file's path on the controller; C(~) is expanded.
    type: path
    required: true
  content:
    description: What the file holds.
    type: str
    required: true
  mode:
    description: The file's permissions, octal.
    type: str
    default: "0600"
  directory_mode:
    description: The permissions of a directory the call creates, octal.
    type: str
    default: "0700"
attributes:
  action:
    description: Runs as an action plugin on the controller.
    support: full
  check_mode:
    description: Reports whether the file would change, without writing.
    support: full
  diff_mode:
    description: Shows the content before and after.
    support: full
  platform:
    description: The controller's file system.
    support: full
    platforms: posix
notes:
  - Runs on the controller only; the task's host and connection are not used.
"""

EXAMPLES = r"""
- name: Write the summary on the controller
  lgtm.stack.controller_file:
    dest: ~/.lgtm-stack/summary.yml
    content: "{{ summary | to_nice_yaml }}"
    mode: "0600"
  run_once: true
"""

RETURN = r"""
dest:
  description: The path written, with C(~) expanded.
  returned: always
  type: str
  sample: /root/.lgtm-stack/demo-summary.yml
"""
