#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin of the same name does the work on the controller.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: check_settings
short_description: Check every setting of the roles a host runs, on the controller, in one pass
version_added: "0.1.0"
description:
  - For each role of O(roles), every option of its argument spec that the host has a value for
    (inventory, extra vars, play vars) is templated alone. A value that cannot be templated, such
    as a lookup of a missing file or an undefined variable, is named in RV(problems) and
    RV(unresolved) and left out of the checks that follow.
  - The values are validated against the roles' argument specs as
    M(ansible.builtin.validate_argument_spec) would, without the defaults (a role applies its
    own), then the durations against the shapes their services take (a Loki or Mimir duration
    takes C(d), C(w) and C(y), a Tempo one does not), then, when C(lgtm_tls_enabled) is true and
    the host runs a service that serves TLS, the certificate, key and CA texts for PEM markers.
  - Reads only and reports; the preflight role fails the host with every problem at once.
    Values are never returned, so secrets stay out of the output.
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  roles:
    description: The roles whose settings are checked, such as V(common), V(network), V(loki).
    type: list
    elements: str
    required: true
attributes:
  action:
    description: Runs as an action plugin on the controller.
    support: full
  check_mode:
    description: Reads only, the same in check mode.
    support: full
  diff_mode:
    description: Nothing to show.
    support: none
  platform:
    description: Runs on the controller.
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Check every setting of the roles this host runs
  lgtm.stack.check_settings:
    roles: [common, network, loki, grafana]
  register: settings

- name: Report them all at once
  ansible.builtin.assert:
    that: settings.problems | length == 0
    fail_msg: "{{ settings.problems | join('; ') }}"
"""

RETURN = r"""
problems:
  description: One sentence per problem, naming the setting (and its role or service).
  returned: always
  type: list
  elements: str
  sample: ["loki: loki_retention_period=thirty days is invalid: a duration such as 720h, 30d or 4w"]
unresolved:
  description: The settings whose value could not be templated.
  returned: always
  type: list
  elements: str
  sample: [grafana_admin_password]
"""
