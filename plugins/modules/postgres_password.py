#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgres_password
short_description: Carry a changed password into a running PostgreSQL container's role
version_added: "0.1.0"
description:
  - PostgreSQL's image applies C(POSTGRES_PASSWORD) only when it initialises an empty data
    directory. When the password changes later, it must be set in the running database before
    the clients restart with it. This module does that in one round trip.
  - It finds the container's address on its network (C(podman container inspect)), tries to
    log in there as O(user) with O(password) (C(podman exec psql), the password passed in the
    environment, never on a command line); only when PostgreSQL answers
    C(password authentication failed) does it set the password with C(ALTER ROLE), sent on
    standard input.
  - The login uses the container's network address, not its socket or 127.0.0.1, because the
    image trusts those without a password, so a login there would pass whatever the password.
  - A container that is not running has nothing to carry (a new database takes the password
    from its environment); any other login failure is reported in RV(login) and changes nothing.
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  container:
    description: The PostgreSQL container's name.
    type: str
    required: true
  user:
    description: The role whose password is carried.
    type: str
    required: true
  password:
    description: The password the role must have.
    type: str
  password_file:
    description:
      - A file on the host that holds the password, read there (its whole content, as written),
        so that a password generated on the host never travels to the controller. Give this or
        O(password).
      - When the file does not exist yet, there is no password to carry and nothing is tried.
    type: path
  database:
    description: The database the login and the statement connect to.
    type: str
    default: postgres
attributes:
  check_mode:
    description: Inspects and logs in; reports that the password would be set, without setting it.
    support: full
  diff_mode:
    description: Nothing to show (a password).
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Carry a changed database password into PostgreSQL
  lgtm.stack.postgres_password:
    container: lgtm-glitchtip-postgres
    user: glitchtip
    password: "{{ glitchtip_postgres_password }}"

- name: The same, with a password generated and kept on the host
  lgtm.stack.postgres_password:
    container: lgtm-glitchtip-postgres
    user: glitchtip
    password_file: /etc/lgtm/glitchtip/secrets/postgres_password
"""

RETURN = r"""
running:
  description: Whether the container was running with an address (otherwise nothing was tried).
  returned: always
  type: bool
login:
  description: V(ok), V(password authentication failed), or another failure's last line.
  returned: when the container was running
  type: str
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lgtm.stack.plugins.module_utils import postgres
from ansible_collections.lgtm.stack.plugins.module_utils.text_file import read_text


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "container": {"type": "str", "required": True},
            "user": {"type": "str", "required": True},
            "password": {"type": "str", "no_log": True},
            "password_file": {"type": "path", "no_log": False},
            "database": {"type": "str", "default": "postgres"},
        },
        mutually_exclusive=[("password", "password_file")],
        required_one_of=[("password", "password_file")],
        supports_check_mode=True,
    )
    params = module.params
    result: dict[str, Any] = {"changed": False, "running": False}
    password = params["password"]
    if params["password_file"]:
        try:
            password = read_text(params["password_file"])
        except OSError as error:
            module.fail_json(msg=f"cannot read {params['password_file']}: {error.strerror}",
                             **result)
        if password is None:
            module.exit_json(msg=f"no {params['password_file']} yet: nothing to carry", **result)
        module.no_log_values.add(password)
    try:
        result = postgres.carry(module, params["container"], params["user"], password,
                                params["database"])
    except postgres.PostgresError as error:
        module.fail_json(msg=str(error), running=True, login=postgres.AUTH_FAILED,
                         changed=True)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
