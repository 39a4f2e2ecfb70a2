#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: glitchtip_bootstrap
short_description: Ensure GlitchTip's organization, teams and projects; return their DSNs
version_added: "0.1.0"
description:
  - Logs in to GlitchTip's HTTP API as an existing user (a session of the headless allauth
    C(browser) client, with its CSRF token), then makes sure an organization, the given teams and
    the given projects exist, and returns each project's public DSN.
  - GlitchTip's create calls are not idempotent (a repeated POST makes C(name-2) duplicates), so
    everything is listed first and only what is missing is created. A run that creates nothing
    reports no change.
  - Uses the session rather than an API token, so a run leaves no new token behind.
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  url:
    description: Base URL of GlitchTip's web service as reachable from the managed host.
    type: str
    required: true
  email:
    description: E-mail address of the user to log in as (an organization owner or a superuser).
    type: str
    required: true
  password:
    description: That user's password. Give this or O(password_file).
    type: str
  password_file:
    description:
      - A file on the host that holds the password, read there (its whole content), so that a
        password generated on the host never travels to the controller.
    type: path
  organization:
    description: Name of the organization (its slug is derived from the name by GlitchTip).
    type: str
    required: true
  teams:
    description: Team slugs that must exist in the organization.
    type: list
    elements: str
    default: []
  projects:
    description: Projects that must exist, each created in its team when missing.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Project name; its slug is derived from it.
        type: str
        required: true
      team:
        description: Slug of the team a missing project is created in.
        type: str
        required: true
      platform:
        description: Platform shown in GlitchTip's UI, for example C(python).
        type: str
  admin:
    description:
      - First make sure O(email) is an active superuser with O(password), by running
        O(admin.script) with C(manage.py shell -c) in the web container (C(podman exec)), since
        the API cannot create the first user while registration is closed. The e-mail and password
        reach the script in its environment, never on a command line.
      - The script's last line is C(lgtm-admin) followed by a colon and V(created), V(updated)
        or V(unchanged); it gets C(LGTM_CHECK=true) in check mode and then only reports.
      - The shell runs only when the API refuses O(email) and O(password) (HTTP 400). A login
        that passes proves the user is there, active, with this password, and starting Django's
        shell is the slowest step of a run. A user that logs in but was demoted by hand is left
        as it is.
    type: dict
    suboptions:
      container:
        description: The web container.
        type: str
        required: true
      script:
        description: The Python the Django shell runs.
        type: str
        required: true
  timeout:
    description: Seconds per HTTP request.
    type: int
    default: 30
attributes:
  check_mode:
    description: Only reads (logs in and lists); reports what it would create. DSNs of projects that
      do not exist yet are not returned.
    support: full
  diff_mode:
    description: No diff; RV(created) lists what was created.
    support: none
  platform:
    description: Any host that reaches GlitchTip's web service.
    support: full
    platforms: posix
notes:
  - Superusers are made with C(manage.py createsuperuser); the API cannot create the first user
    when open registration is off.
"""

EXAMPLES = r"""
- name: Organization, teams, projects and their DSNs
  lgtm.stack.glitchtip_bootstrap:
    url: http://127.0.0.1:8200
    email: admin@example.com
    password: "{{ glitchtip_admin_password_value }}"
    organization: lgtm
    teams: [backend]
    projects:
      - {name: be-platform, team: backend, platform: python}
  register: glitchtip
  no_log: true
"""

RETURN = r"""
dsns:
  description: Public DSN of each existing project, by project name.
  returned: always
  type: dict
  sample: {be-platform: "http://0123abcd@127.0.0.1:8200/1"}
organization:
  description: Slug of the organization.
  returned: always
  type: str
  sample: lgtm
admin:
  description: What O(admin) did to the user, V(created), V(updated) or V(unchanged).
  returned: when O(admin) is given
  type: str
created:
  description:
    - What was created (or would be, in check mode), as C(admin:<email>) (also when only
      updated), C(organization:<name>), C(team:<slug>), C(project:<name>).
  returned: always
  type: list
  elements: str
"""

import http.cookiejar
import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lgtm.stack.plugins.module_utils.http_json import (
    JsonClient,
    RequestFailed,
)
from ansible_collections.lgtm.stack.plugins.module_utils.text_file import read_text

_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next";\s*results="true"')


class BootstrapError(Exception):
    pass


class Client:
    """A logged-in browser-like session: cookies plus the CSRF token Django wants."""

    def __init__(self, url: str, timeout: int) -> None:
        self.cookies = http.cookiejar.CookieJar()
        self.client = JsonClient(url, timeout, self.cookies)

    def csrf_token(self) -> str:
        for cookie in self.cookies:
            if cookie.name == "csrftoken" and cookie.value:
                return cookie.value
        raise BootstrapError("GlitchTip set no csrftoken cookie")

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        # Django wants the session's CSRF token echoed on every call that changes something.
        headers = {"X-CSRFToken": self.csrf_token()} if method != "GET" else {}
        try:
            return self.client.request(method, path, body, headers)
        except RequestFailed as error:
            raise BootstrapError(str(error)) from None

    def expect(
        self, method: str, path: str, statuses: tuple[int, ...], body: dict[str, Any] | None = None
    ) -> Any:
        status, payload, _headers = self.request(method, path, body)
        if status not in statuses:
            raise BootstrapError(f"{method} {path} answered HTTP {status}: {str(payload)[:500]}")
        return payload

    def list_all(self, path: str) -> list[dict[str, Any]]:
        """Every page of a cursor-paginated list (GlitchTip's Link header, as Sentry's)."""
        items: list[dict[str, Any]] = []
        next_url: str | None = path + ("&" if "?" in path else "?") + "limit=100"
        while next_url:
            status, payload, headers = self.request("GET", next_url)
            if status != 200 or not isinstance(payload, list):
                raise BootstrapError(f"GET {next_url} answered HTTP {status}: {str(payload)[:500]}")
            items.extend(payload)
            link = next((v for k, v in headers.items() if k.lower() == "link"), "")
            match = _NEXT_LINK.search(link)
            next_url = match.group(1) if match else None
        return items

    def login(self, email: str, password: str, refused_ok: bool = False) -> bool:
        """Log in; False only when refused_ok and the credentials were refused (HTTP 400)."""
        # The config call hands out the csrftoken cookie the login POST must echo.
        self.expect("GET", "/_allauth/browser/v1/config", (200,))
        status, payload, _headers = self.request(
            "POST", "/_allauth/browser/v1/auth/login", {"email": email, "password": password}
        )
        authenticated = isinstance(payload, dict) and (payload.get("meta") or {}).get(
            "is_authenticated"
        )
        if status == 200 and authenticated:
            return True
        if refused_ok and status == 400:
            return False
        # The answer names the problem (wrong password, unverified e-mail...) and never
        # echoes the password.
        raise BootstrapError(
            f"logging in to GlitchTip as {email} failed (HTTP {status}): {str(payload)[:500]}"
        )


ADMIN_MARK = re.compile(r"^lgtm-admin: (created|updated|unchanged)$", re.M)


def ensure_admin(module: AnsibleModule) -> str:
    """The admin user through Django's shell; what the script says it did."""
    params = module.params
    admin = params["admin"]
    podman = module.get_bin_path("podman", required=True)
    rc, out, err = module.run_command(
        [podman, "exec", "--env=LGTM_ADMIN_EMAIL", "--env=LGTM_ADMIN_PASSWORD",
         "--env=LGTM_CHECK", admin["container"], "./manage.py", "shell", "-c", admin["script"]],
        environ_update={"LGTM_ADMIN_EMAIL": params["email"],
                        "LGTM_ADMIN_PASSWORD": params["password"],
                        "LGTM_CHECK": "true" if module.check_mode else "false"},
    )
    said = ADMIN_MARK.findall(out or "")
    if rc != 0 or not said:
        lines = (err or out or "").strip().splitlines()
        raise BootstrapError(f"creating the GlitchTip admin {params['email']} failed"
                             f" (rc={rc}): {lines[-1] if lines else 'no output'}")
    return str(said[-1])


def bootstrap(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    check = module.check_mode
    created: list[str] = []
    dsns: dict[str, str] = {}
    client = Client(params["url"], params["timeout"])
    admin = None
    if not params.get("admin"):
        client.login(params["email"], params["password"])
    elif client.login(params["email"], params["password"], refused_ok=True):
        # A login proves the user is there, active, with this password: Django's shell,
        # the slowest step of a run, is needed only when the login is refused.
        admin = "unchanged"
    else:
        admin = ensure_admin(module)
        if admin != "unchanged":
            created.append(f"admin:{params['email']}")
            if check:
                # The user to log in as is not there yet (or not with this password).
                return {"changed": True, "created": created, "dsns": {}, "organization": "",
                        "admin": admin}
        client.login(params["email"], params["password"])

    orgs = client.list_all("/api/0/organizations/")
    org = next((o for o in orgs if o.get("name") == params["organization"]), None)
    if org is None:
        created.append(f"organization:{params['organization']}")
        if check:
            return {"changed": True, "created": created, "dsns": {}, "organization": ""}
        org = client.expect(
            "POST", "/api/0/organizations/", (201,), {"name": params["organization"]}
        )
    slug = org["slug"]

    wanted_teams = list(dict.fromkeys(params["teams"] + [p["team"] for p in params["projects"]]))
    teams = {t.get("slug") for t in client.list_all(f"/api/0/organizations/{slug}/teams/")}
    for team in wanted_teams:
        if team not in teams:
            created.append(f"team:{team}")
            if not check:
                client.expect("POST", f"/api/0/organizations/{slug}/teams/", (201,), {"slug": team})

    projects = {p.get("name"): p for p in client.list_all(f"/api/0/organizations/{slug}/projects/")}
    for wanted in params["projects"]:
        project = projects.get(wanted["name"])
        if project is None:
            created.append(f"project:{wanted['name']}")
            if check:
                continue
            body = {"name": wanted["name"]}
            if wanted.get("platform"):
                body["platform"] = wanted["platform"]
            project = client.expect(
                "POST", f"/api/0/teams/{slug}/{wanted['team']}/projects/", (201,), body
            )
        keys = client.list_all(f"/api/0/projects/{slug}/{project['slug']}/keys/")
        public = next(
            (k["dsn"]["public"] for k in keys if (k.get("dsn") or {}).get("public")), None
        )
        if public is None:
            raise BootstrapError(f"project {wanted['name']} has no DSN key")
        dsns[wanted["name"]] = public
    result = {"changed": bool(created), "created": created, "dsns": dsns, "organization": slug}
    if admin is not None:
        result["admin"] = admin
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "email": {"type": "str", "required": True},
            "password": {"type": "str", "no_log": True},
            "password_file": {"type": "path", "no_log": False},
            "organization": {"type": "str", "required": True},
            "teams": {"type": "list", "elements": "str", "default": []},
            "projects": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    "team": {"type": "str", "required": True},
                    "platform": {"type": "str"},
                },
            },
            "admin": {
                "type": "dict",
                "options": {
                    "container": {"type": "str", "required": True},
                    "script": {"type": "str", "required": True},
                },
            },
            "timeout": {"type": "int", "default": 30},
        },
        mutually_exclusive=[("password", "password_file")],
        required_one_of=[("password", "password_file")],
        supports_check_mode=True,
    )
    path = module.params["password_file"]
    if path:
        try:
            password = read_text(path)
        except OSError as error:
            module.fail_json(msg=f"cannot read {path}: {error.strerror}")
        if password is None:
            if module.check_mode:
                # A new host in check mode: the call that writes the secret did not run.
                module.exit_json(changed=True, created=[f"admin:{module.params['email']}"],
                                 dsns={}, organization="", msg=f"no {path} yet")
            module.fail_json(msg=f"cannot read {path}: no such file")
        module.no_log_values.add(password)
        module.params["password"] = password
    try:
        result = bootstrap(module)
    except BootstrapError as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
