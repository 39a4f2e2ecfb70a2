#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: grafana_users
short_description: Bring Grafana's admin password and its users in line, in one call
version_added: "0.1.0"
description:
  - Logs in to Grafana's HTTP API as the admin with the password in O(admin_password_file). When
    that login is refused, the stored admin password is reset with O(reset_command) (Grafana's
    CLI, which needs no old password), the new password on its stdin, and the login is tried again.
  - Then makes each user of O(users) exist or not, with its name, e-mail, organisation role and
    password. Each password is read from O(users_dir)/C(<login>) on the managed host; passwords are
    never module options, never returned and never logged.
  - Only what differs is written, so a run over a Grafana in line reports no change. The password
    of an existing user is checked by logging in as that user.
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  url:
    description: Base URL of Grafana as reachable from the managed host.
    type: str
    required: true
  admin_user:
    description: Login of Grafana's admin.
    type: str
    required: true
  admin_password_file:
    description: File on the managed host holding the admin's wanted password.
    type: path
    required: true
  reset_command:
    description:
      - Command (argv) that sets the admin password to the one on its stdin, run when the admin
        login with the wanted password is refused. Without it, such a refusal fails the module.
    type: list
    elements: str
    default: []
  users:
    description: Users that must exist (or not) in Grafana's main organisation.
    type: list
    elements: dict
    default: []
    suboptions:
      login:
        description: The user's login.
        type: str
        required: true
      name:
        description: Display name; the login when not given.
        type: str
      email:
        description: E-mail address; the login when not given.
        type: str
      role:
        description: Role in the organisation.
        type: str
        choices: [Viewer, Editor, Admin]
        default: Viewer
      state:
        description: Whether the user exists.
        type: str
        choices: [present, absent]
        default: present
  users_dir:
    description: Directory on the managed host with one password file per present user, by login.
    type: path
  default_role:
    description: The role Grafana gives a new user (its C(users.auto_assign_org_role)).
    type: str
    default: Viewer
  timeout:
    description: Seconds per HTTP request.
    type: int
    default: 30
attributes:
  check_mode:
    description: Only reads (logins, lookups); reports what it would change, and whether the admin
      password would be reset.
    support: full
  diff_mode:
    description: No diff; RV(changes) lists what changed, without any password.
    support: none
  platform:
    description: The host Grafana runs on (the reset command runs there).
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Admin password and users
  lgtm.stack.grafana_users:
    url: http://127.0.0.1:3000
    admin_user: admin
    admin_password_file: /etc/lgtm/grafana/secrets/admin_password
    reset_command: [podman, exec, --interactive, lgtm-grafana, grafana, cli, admin,
                    reset-admin-password, --password-from-stdin]
    users_dir: /etc/lgtm/grafana/users
    users:
      - {login: operator, name: Operator, email: operator@example.org, role: Editor}
      - {login: intern, state: absent}
"""

RETURN = r"""
changes:
  description:
    - What changed (or would, in check mode), as C(admin:password-reset), C(user:<login>:created),
      C(user:<login>:removed), C(user:<login>:profile), C(user:<login>:role) and
      C(user:<login>:password).
  returned: always
  type: list
  elements: str
  sample: ["user:operator:created", "user:operator:role"]
"""

import os
import urllib.parse
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lgtm.stack.plugins.module_utils.http_json import (
    JsonClient,
    RequestFailed,
    basic_auth,
)


class GrafanaError(Exception):
    pass


class Api:
    """Grafana's HTTP API with basic auth; answers as (status, decoded JSON or text)."""

    def __init__(self, url: str, timeout: int) -> None:
        self.client = JsonClient(url, timeout)

    def request(self, method: str, path: str, login: str, password: str,
                body: dict[str, Any] | None = None) -> tuple[int, Any]:
        try:
            reply = self.client.request(method, path, body,
                                        {"Authorization": basic_auth(login, password)})
        except RequestFailed as error:
            raise GrafanaError(str(error)) from None
        return reply.status, reply.payload


class Session:
    """Calls as one Grafana user, each with the statuses it accepts."""

    def __init__(self, api: Api, login: str, password: str) -> None:
        self.api = api
        self.login = login
        self.password = password

    def call(self, method: str, path: str, statuses: tuple[int, ...] = (200,),
             body: dict[str, Any] | None = None) -> tuple[int, Any]:
        status, payload = self.api.request(method, path, self.login, self.password, body)
        if status not in statuses:
            raise GrafanaError(f"{method} {path} as {self.login} answered HTTP {status}: "
                               f"{str(payload)[:500]}")
        return status, payload


def read_secret(module: AnsibleModule, path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read()
    except OSError as error:
        raise GrafanaError(f"cannot read {what} from {path}: {error.strerror}") from None
    if not value:
        raise GrafanaError(f"{path} ({what}) is empty")
    module.no_log_values.add(value)
    return value


def admin_session(module: AnsibleModule, api: Api, changes: list[str]) -> Session | None:
    """The admin's session, its password reset first when Grafana refuses it; None in check
    mode when it would be reset (nothing can be read as the admin before that)."""
    params = module.params
    password = read_secret(module, params["admin_password_file"], "the admin password")
    admin = Session(api, params["admin_user"], password)
    status, _payload = admin.call("GET", "/api/user", (200, 401))
    if status == 200:
        return admin
    if not params["reset_command"]:
        raise GrafanaError(f"Grafana refuses {params['admin_user']}'s password from "
                           f"{params['admin_password_file']}, and no reset_command is given")
    changes.append("admin:password-reset")
    if module.check_mode:
        return None
    rc, out, err = module.run_command(params["reset_command"], data=password)
    if rc != 0:
        raise GrafanaError(f"resetting the admin password failed (rc={rc}): {(err or out)[-500:]}")
    admin.call("GET", "/api/user")
    return admin


def keep_user(module: AnsibleModule, admin: Session, user: dict[str, Any],
              roles_now: dict[str, str], changes: list[str]) -> None:
    params = module.params
    check = module.check_mode
    login = user["login"]
    status, found = admin.call(
        "GET", "/api/users/lookup?loginOrEmail=" + urllib.parse.quote(login, safe=""), (200, 404))
    if user["state"] == "absent":
        if status == 200:
            changes.append(f"user:{login}:removed")
            if not check:
                admin.call("DELETE", f"/api/admin/users/{found['id']}")
        return
    if not params["users_dir"]:
        raise GrafanaError(f"users_dir is needed for the password of user {login}")
    password = read_secret(module, os.path.join(params["users_dir"], login),
                           f"the password of user {login}")
    name = user["name"] or login
    email = user["email"] or login
    if status == 404:
        changes.append(f"user:{login}:created")
        if check:
            user_id = None
        else:
            _status, created = admin.call("POST", "/api/admin/users", body={
                "login": login, "name": name, "email": email, "password": password})
            user_id = created["id"]
        role_now = params["default_role"]
    else:
        user_id = found["id"]
        if found.get("name") != name or found.get("email") != email:
            changes.append(f"user:{login}:profile")
            if not check:
                admin.call("PUT", f"/api/users/{user_id}",
                           body={"login": login, "name": name, "email": email})
        role_now = roles_now.get(login, params["default_role"])
    if role_now != user["role"]:
        changes.append(f"user:{login}:role")
        if not check:
            admin.call("PATCH", f"/api/org/users/{user_id}", body={"role": user["role"]})
    if status == 200:
        login_status, _payload = Session(admin.api, login, password).call(
            "GET", "/api/user", (200, 401))
        if login_status == 401:
            changes.append(f"user:{login}:password")
            if not check:
                admin.call("PUT", f"/api/admin/users/{user_id}/password",
                           body={"password": password})


def run(module: AnsibleModule, changes: list[str]) -> None:
    """Appends to `changes` as it goes, so a failure still says what was done before it."""
    params = module.params
    api = Api(params["url"], params["timeout"])
    admin = admin_session(module, api, changes)
    if admin is None or not params["users"]:
        return
    _status, org_users = admin.call("GET", "/api/org/users")
    roles_now = {entry.get("login"): entry.get("role") for entry in org_users or []}
    logins = [user["login"] for user in params["users"]]
    repeated = sorted({login for login in logins if logins.count(login) > 1})
    if repeated:
        raise GrafanaError(f"users lists {', '.join(repeated)} more than once")
    for user in params["users"]:
        keep_user(module, admin, user, roles_now, changes)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "admin_user": {"type": "str", "required": True},
            "admin_password_file": {"type": "path", "required": True},
            "reset_command": {"type": "list", "elements": "str", "default": []},
            "users": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "login": {"type": "str", "required": True},
                    "name": {"type": "str"},
                    "email": {"type": "str"},
                    "role": {"type": "str", "choices": ["Viewer", "Editor", "Admin"],
                             "default": "Viewer"},
                    "state": {"type": "str", "choices": ["present", "absent"],
                              "default": "present"},
                },
            },
            "users_dir": {"type": "path"},
            "default_role": {"type": "str", "default": "Viewer"},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    changes: list[str] = []
    try:
        run(module, changes)
    except GrafanaError as error:
        module.fail_json(msg=str(error), changes=changes)
    module.exit_json(changed=bool(changes), changes=changes)


if __name__ == "__main__":
    main()
