"""Backup -> reset -> restore: dashboards, users and GlitchTip events come back.

Destructive (it deletes Grafana's and GlitchTip's data and secrets), so this file runs
after test_stack.py (pytest takes files in name order). The reset, the redeploy and the
last no-change run are limited to the grafana and glitchtip tags: those are the services
whose data the backups hold, and the other services are not touched by any of it.
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import sentry_sdk
import yaml
from lgtm_molecule import poll, run_playbook, tunnel
from sentry_sdk.envelope import Envelope

INSTANCE = "lgtm-stack"
RUN_ID = uuid.uuid4().hex[:12]
GRAFANA_SECRET = "/etc/lgtm/grafana/secrets/admin_password"
GLITCHTIP_SECRET = "/etc/lgtm/glitchtip/secrets/admin_password"
GLITCHTIP_ADMIN = "admin@lgtm.test"
SERVICES = ["--tags", "grafana,glitchtip"]
PLAYBOOKS = "../../playbooks"


def grafana(port: int, method: str, path: str, auth: tuple[str, str],
            body: object = None) -> tuple[int, object]:
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, headers,
                                     method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read()[:500]


def glitchtip_issue_titles(port: int, password: str, project: str) -> list[str]:
    """Log in as GlitchTip's own web UI does (session + CSRF) and list a project's issues."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"

    def call(method: str, path: str, body: object = None) -> tuple[int, object]:
        headers = {"Accept": "application/json"}
        csrf = next((cookie.value for cookie in jar if cookie.name == "csrftoken"), None)
        if csrf:
            headers["X-CSRFToken"] = csrf
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(base + path, data, headers, method=method)
        try:
            with opener.open(request, timeout=15) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read()[:500]

    call("GET", "/_allauth/browser/v1/config")
    status, body = call("POST", "/_allauth/browser/v1/auth/login",
                        {"email": GLITCHTIP_ADMIN, "password": password})
    assert status == 200, body
    status, issues = call("GET", f"/api/0/projects/lgtm/{project}/issues/")
    assert status == 200, issues
    return [issue.get("title", "") for issue in issues]


def send_event(port: int, dsn: str, message: str) -> None:
    """An envelope as sentry-sdk builds it, sent to the project the DSN names."""
    parsed = urllib.parse.urlsplit(dsn)
    envelope = Envelope(headers={"event_id": uuid.uuid4().hex})
    envelope.add_event({"message": message, "level": "error", "platform": "python",
                        "sdk": {"name": "sentry.python", "version": sentry_sdk.VERSION}})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/{parsed.path.strip('/')}/envelope/",
        data=envelope.serialize(),
        headers={"Content-Type": "application/x-sentry-envelope",
                 "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={parsed.username}, "
                                  f"sentry_client=sentry.python/{sentry_sdk.VERSION}"})
    with urllib.request.urlopen(request, timeout=15) as response:
        assert response.status == 200


def summary_dsn(project: str) -> str:
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "summary.yml"
    return yaml.safe_load(path.read_text())[INSTANCE]["glitchtip_dsns"][project]


def backups(root) -> set[str]:
    return set(root.run(
        "ls /var/backups/lgtm/grafana /var/backups/lgtm/glitchtip").stdout.split())


def test_backup_reset_restore_brings_everything_back(root, tmp_path):
    dashboard_uid = f"roundtrip-{RUN_ID}"
    user = (f"roundtrip-{RUN_ID}", f"Roundtrip-{RUN_ID}")
    marker = f"roundtrip event {RUN_ID}"
    admin = ("admin", root.file(GRAFANA_SECRET).content_string)

    # What an operator and the applications made since the deployment.
    with tunnel(INSTANCE, 3000) as gport, tunnel(INSTANCE, 8200) as eport:
        status, saved = grafana(gport, "POST", "/api/dashboards/db", admin, {
            "dashboard": {"uid": dashboard_uid, "title": f"Roundtrip {RUN_ID}", "panels": []},
            "overwrite": False})
        assert status == 200, saved
        status, created = grafana(gport, "POST", "/api/admin/users", admin,
                                  {"login": user[0], "password": user[1]})
        assert status == 200, created
        dsn = summary_dsn("be-platform")
        send_event(eport, dsn, marker)
        glitchtip_password = root.file(GLITCHTIP_SECRET).content_string
        # Stored (the worker ingests asynchronously) before the dump is taken.
        assert poll(lambda: marker in glitchtip_issue_titles(
            eport, glitchtip_password, "be-platform"))

    # Check mode names what would run and runs nothing.
    before = backups(root)
    checked = run_playbook(f"{PLAYBOOKS}/backup.yml", check=True)
    checked.assert_ok()
    assert "would run lgtm-grafana-backup.service" in checked.output
    assert "would run lgtm-glitchtip-backup.service" in checked.output
    assert backups(root) == before

    fetched = tmp_path / "fetched"
    backed_up = run_playbook(f"{PLAYBOOKS}/backup.yml", {"lgtm_backup_fetch_dir": str(fetched)})
    backed_up.assert_ok()
    new = backups(root) - before
    assert {name.split("-")[0] for name in new} == {"grafana", "glitchtip"}, new
    for name in new:
        assert f"/{name} (" in backed_up.output, name
        copy = fetched / INSTANCE / name
        assert copy.stat().st_mode & 0o777 == 0o600 and copy.stat().st_size > 0
    assert (fetched / INSTANCE).stat().st_mode & 0o777 == 0o700

    reset = run_playbook(f"{PLAYBOOKS}/reset.yml", {"lgtm_reset_confirm": "delete-all-data"},
                         extra_args=SERVICES)
    reset.assert_ok()
    for gone in ("/var/lib/lgtm/grafana", "/var/lib/lgtm/glitchtip", GRAFANA_SECRET,
                 GLITCHTIP_SECRET):
        assert not root.file(gone).exists, gone
    assert backups(root) >= new, "backups outlive a reset"

    redeployed = run_playbook("converge.yml", extra_args=SERVICES)
    redeployed.assert_ok()
    admin = ("admin", root.file(GRAFANA_SECRET).content_string)
    glitchtip_password = root.file(GLITCHTIP_SECRET).content_string
    with tunnel(INSTANCE, 3000) as gport, tunnel(INSTANCE, 8200) as eport:
        assert grafana(gport, "GET", f"/api/dashboards/uid/{dashboard_uid}", admin)[0] == 404
        assert grafana(gport, "GET", "/api/user", user)[0] == 401
        assert marker not in glitchtip_issue_titles(eport, glitchtip_password, "be-platform")

    # A redeployed GlitchTip is migrated and bootstrapped, so not empty: replace it.
    restored = run_playbook(f"{PLAYBOOKS}/restore.yml", {"glitchtip_restore_replace": True})
    restored.assert_ok()
    with tunnel(INSTANCE, 3000) as gport, tunnel(INSTANCE, 8200) as eport:
        status, found = grafana(gport, "GET", f"/api/dashboards/uid/{dashboard_uid}", admin)
        assert status == 200 and found["dashboard"]["title"] == f"Roundtrip {RUN_ID}", found
        status, me = grafana(gport, "GET", "/api/user", user)
        assert status == 200 and me["login"] == user[0], me
        # The admin passwords are this host's again, the ones the summary points to.
        assert grafana(gport, "GET", "/api/user", admin)[0] == 200
        assert marker in glitchtip_issue_titles(eport, glitchtip_password, "be-platform")
        # The project's key is the one applications were given before: no new DSN, and
        # the summary says so.
        assert summary_dsn("be-platform") == dsn
        send_event(eport, dsn, f"after restore {RUN_ID}")

    again = run_playbook("converge.yml", extra_args=SERVICES)
    again.assert_ok()
    assert again.changed == 0, again.output[-4000:]
