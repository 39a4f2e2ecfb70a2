"""glitchtip_bootstrap against a local HTTP server that keeps GlitchTip's API contract:
headless allauth login with a rotating CSRF token, session-only API, cursor pagination in
the Link header, and create calls that are not idempotent (a repeated POST duplicates)."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.lgtm.stack.plugins.modules import glitchtip_bootstrap

EMAIL = "admin@lgtm.test"
PASSWORD = "s3cretPassw0rdValue"


class FakeGlitchTip:
    def __init__(self, page_size: int = 100) -> None:
        self.page_size = page_size
        self.orgs: list[dict[str, Any]] = []
        self.teams: dict[str, list[str]] = {}
        self.projects: dict[str, list[dict[str, Any]]] = {}
        self.posts: list[str] = []
        self.csrf = "csrf-before-login"
        self.session = ""
        self.next_id = 1
        # Whether the user exists with PASSWORD (the admin tests make it so only after
        # Django's shell ran); every login attempt is counted.
        self.user_ready: Callable[[], bool] = lambda: True
        self.logins = 0

    def add_org(self, name: str) -> dict[str, Any]:
        org = {"name": name, "slug": re.sub(r"[^a-z0-9]+", "-", name.lower())}
        # Not idempotent, as upstream: the same name again gets a suffixed slug.
        if any(o["slug"] == org["slug"] for o in self.orgs):
            org["slug"] += "-2"
        self.orgs.append(org)
        self.teams[org["slug"]] = []
        self.projects[org["slug"]] = []
        return org

    def add_project(self, org: str, team: str, name: str) -> dict[str, Any]:
        project = {"id": str(self.next_id), "name": name, "slug": name, "teams": [team]}
        if any(p["slug"] == name for p in self.projects[org]):
            project["slug"] = f"{name}-2"
        project["dsn"] = f"http://key{self.next_id}@glitchtip.test:8200/{self.next_id}"
        self.next_id += 1
        self.projects[org].append(project)
        return project


def make_handler(api: FakeGlitchTip):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def cookies(self) -> dict[str, str]:
            jar = SimpleCookie(self.headers.get("Cookie", ""))
            return {key: morsel.value for key, morsel in jar.items()}

        def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def page(self, items: list[Any]) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            offset = int(query.get("cursor", ["0"])[0])
            chunk = items[offset : offset + api.page_size]
            headers = {}
            if offset + api.page_size < len(items):
                nxt = f"http://{self.headers['Host']}{url.path}?cursor={offset + api.page_size}"
                headers["Link"] = f'<{nxt}>; rel="next"; results="true"'
            self.reply(200, chunk, headers)

        def authenticated(self) -> bool:
            if not api.session or self.cookies().get("sessionid") != api.session:
                self.reply(401, {"detail": "Unauthorized"})
                return False
            return True

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/_allauth/browser/v1/config":
                self.reply(200, {"data": {}}, {"Set-Cookie": f"csrftoken={api.csrf}; Path=/"})
                return
            if not self.authenticated():
                return
            parts = path.strip("/").split("/")
            if path == "/api/0/organizations/":
                self.page(api.orgs)
            elif parts[2] == "organizations" and parts[4:] == ["teams"]:
                self.page([{"slug": slug} for slug in api.teams[parts[3]]])
            elif parts[2] == "organizations" and parts[4:] == ["projects"]:
                self.page(api.projects[parts[3]])
            elif parts[2] == "projects" and parts[5:] == ["keys"]:
                project = next(p for p in api.projects[parts[3]] if p["slug"] == parts[4])
                self.page([{"dsn": {"public": project["dsn"]}}])
            else:
                self.reply(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            token = self.headers.get("X-CSRFToken")
            if token != api.csrf or self.cookies().get("csrftoken") != api.csrf:
                self.reply(403, {"detail": "CSRF Failed"})
                return
            if path == "/_allauth/browser/v1/auth/login":
                api.logins += 1
                if body != {"email": EMAIL, "password": PASSWORD} or not api.user_ready():
                    message = "The e-mail address and/or password you specified are not correct."
                    self.reply(400, {"errors": [{"message": message}]})
                    return
                # Django rotates the CSRF token at login.
                api.session, api.csrf = "session-1", "csrf-after-login"
                self.send_response(200)
                self.send_header("Set-Cookie", f"sessionid={api.session}; Path=/")
                self.send_header("Set-Cookie", f"csrftoken={api.csrf}; Path=/")
                data = json.dumps({"meta": {"is_authenticated": True}}).encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if not self.authenticated():
                return
            api.posts.append(path)
            parts = path.strip("/").split("/")
            if path == "/api/0/organizations/":
                self.reply(201, api.add_org(body["name"]))
            elif parts[2] == "organizations" and parts[4:] == ["teams"]:
                if body["slug"] in api.teams[parts[3]]:
                    self.reply(500, "IntegrityError")  # upstream answers a duplicate with a 500
                    return
                api.teams[parts[3]].append(body["slug"])
                self.reply(201, {"slug": body["slug"]})
            elif parts[2] == "teams" and parts[5:] == ["projects"]:
                self.reply(201, api.add_project(parts[3], parts[4], body["name"]))
            else:
                self.reply(404, {"detail": "Not Found"})

    return Handler


@pytest.fixture
def glitchtip(serve):
    api = FakeGlitchTip()
    api.url = serve(make_handler(api))
    return api


PROJECTS = [
    {"name": "be-platform", "team": "backend", "platform": "python"},
    {"name": "be-pwa", "team": "backend", "platform": "javascript"},
]


@pytest.fixture
def run(glitchtip, capsys):
    def _run(check: bool = False, **params: Any) -> dict[str, Any]:
        args = {
            "url": glitchtip.url,
            "email": EMAIL,
            "password": PASSWORD,
            "organization": "lgtm",
            "projects": PROJECTS,
            **params,
        }
        args = {key: value for key, value in args.items() if value is not None}
        if check:
            args["_ansible_check_mode"] = True
        glitchtip.session = ""  # every run logs in again
        with patch_module_args(args), pytest.raises(SystemExit):
            glitchtip_bootstrap.main()
        return json.loads(capsys.readouterr().out)

    return _run


def test_empty_instance_gets_organization_team_projects_and_dsns(glitchtip, run):
    result = run()
    assert result["changed"] is True
    assert result["created"] == [
        "organization:lgtm",
        "team:backend",
        "project:be-platform",
        "project:be-pwa",
    ]
    assert result["organization"] == "lgtm"
    assert result["dsns"] == {
        "be-platform": "http://key1@glitchtip.test:8200/1",
        "be-pwa": "http://key2@glitchtip.test:8200/2",
    }
    assert glitchtip.teams == {"lgtm": ["backend"]}


def test_second_run_creates_nothing_and_reports_no_change(glitchtip, run):
    first = run()
    glitchtip.posts.clear()
    second = run()
    assert second["changed"] is False
    assert second["created"] == []
    assert glitchtip.posts == [], "a repeated create would duplicate"
    assert second["dsns"] == first["dsns"]
    assert [p["slug"] for p in glitchtip.projects["lgtm"]] == ["be-platform", "be-pwa"]


def test_a_new_project_is_the_only_change(glitchtip, run):
    run()
    glitchtip.posts.clear()
    result = run(projects=[*PROJECTS, {"name": "be-extra", "team": "mobile"}])
    assert result["changed"] is True
    assert result["created"] == ["team:mobile", "project:be-extra"]
    assert glitchtip.posts == [
        "/api/0/organizations/lgtm/teams/",
        "/api/0/teams/lgtm/mobile/projects/",
    ]
    assert set(result["dsns"]) == {"be-platform", "be-pwa", "be-extra"}


def test_check_mode_only_reads(glitchtip, run):
    run(projects=PROJECTS[:1])
    glitchtip.posts.clear()
    result = run(check=True)
    assert result["changed"] is True
    assert result["created"] == ["project:be-pwa"]
    assert glitchtip.posts == []
    assert result["dsns"] == {"be-platform": "http://key1@glitchtip.test:8200/1"}


def test_check_mode_on_an_empty_instance_reports_the_organization(glitchtip, run):
    result = run(check=True)
    assert result["changed"] is True
    assert result["created"] == ["organization:lgtm"]
    assert glitchtip.orgs == [] and glitchtip.posts == []


def test_every_page_is_read_before_deciding(glitchtip, run):
    glitchtip.page_size = 1
    projects = [*PROJECTS, {"name": "be-third", "team": "backend"}]
    run(projects=projects)
    glitchtip.posts.clear()
    result = run(projects=projects)
    assert result["changed"] is False and glitchtip.posts == []
    assert len(result["dsns"]) == 3


def test_wrong_password_fails_naming_the_user_not_the_password(glitchtip, run):
    result = run(password="wrong-password-value")
    assert result["failed"] is True
    assert EMAIL in result["msg"] and "HTTP 400" in result["msg"]
    assert "wrong-password-value" not in json.dumps(result)
    assert glitchtip.posts == []


def test_unreachable_glitchtip_fails_clearly(run):
    result = run(url="http://127.0.0.1:9")
    assert result["failed"] is True
    assert "/_allauth/browser/v1/config" in result["msg"]


# --- admin: Django's shell in the web container, only when the API refuses the login -

FAKE_PODMAN = r'''#!{python}
import json, os, sys
with open({log!r}, "a") as handle:
    handle.write(json.dumps({{"args": sys.argv[1:], "email": os.environ.get("LGTM_ADMIN_EMAIL"),
                             "password": os.environ.get("LGTM_ADMIN_PASSWORD"),
                             "check": os.environ.get("LGTM_CHECK")}}) + "\n")
said = os.environ.get("FAKE_ADMIN", "unchanged")
if said == "broken":
    sys.stderr.write("Traceback ...\ndjango.db.utils.OperationalError: no such table\n")
    sys.exit(1)
print("some Django noise")
print("lgtm-admin: " + said)
'''
ADMIN = {"container": "lgtm-glitchtip-web", "script": "print('lgtm-admin: unchanged')"}


@pytest.fixture
def podman(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "podman.jsonl"
    (bin_dir / "podman").write_text(FAKE_PODMAN.format(python=sys.executable, log=str(log)))
    (bin_dir / "podman").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("FAKE_ADMIN", raising=False)

    def calls() -> list[dict[str, Any]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return calls


@pytest.fixture
def no_admin_yet(glitchtip, podman, monkeypatch):
    """The user logs in only once the shell made (or mended) it, as on a new instance."""
    monkeypatch.setenv("FAKE_ADMIN", "created")
    glitchtip.user_ready = lambda: any(call["check"] == "false" for call in podman())
    return podman


def test_an_admin_that_logs_in_skips_the_shell(glitchtip, run, podman):
    run()
    result = run(admin=ADMIN)
    assert result["changed"] is False and result["admin"] == "unchanged"
    assert podman() == [], "Django's shell is not started when the login passes"


def test_a_refused_login_runs_the_shell_then_the_api(glitchtip, run, no_admin_yet):
    result = run(admin=ADMIN)
    call = no_admin_yet()[-1]
    assert call["args"][:4] == ["exec", "--env=LGTM_ADMIN_EMAIL", "--env=LGTM_ADMIN_PASSWORD",
                                "--env=LGTM_CHECK"]
    assert call["args"][4:8] == ["lgtm-glitchtip-web", "./manage.py", "shell", "-c"]
    # In the environment only, never an argument.
    assert (call["email"], call["password"], call["check"]) == (EMAIL, PASSWORD, "false")
    assert not any(PASSWORD in arg for arg in call["args"])
    assert result["created"][:2] == [f"admin:{EMAIL}", "organization:lgtm"]
    assert result["admin"] == "created"
    assert result["dsns"]
    assert glitchtip.logins == 2, "refused, then logged in after the shell"


def test_check_mode_with_no_admin_yet_stops_before_the_api(glitchtip, run, no_admin_yet):
    result = run(check=True, admin=ADMIN)
    assert result["changed"] is True and result["created"] == [f"admin:{EMAIL}"]
    assert no_admin_yet()[-1]["check"] == "true"
    assert glitchtip.orgs == [] and glitchtip.posts == []


def test_a_failing_admin_script_names_the_user_and_the_error(
        glitchtip, run, no_admin_yet, monkeypatch):
    monkeypatch.setenv("FAKE_ADMIN", "broken")
    result = run(admin=ADMIN)
    assert result["failed"] is True
    assert EMAIL in result["msg"] and "no such table" in result["msg"]
    assert PASSWORD not in json.dumps(result)


def test_a_shell_that_finds_the_admin_in_place_still_reports_the_refusal(glitchtip, run, podman):
    # Refused for a reason the shell cannot mend (say, an unverified e-mail): the login error.
    glitchtip.user_ready = lambda: False
    result = run(admin=ADMIN)
    assert result["failed"] is True
    assert "HTTP 400" in result["msg"] and EMAIL in result["msg"]
    assert podman()[-1]["check"] == "false"
    assert PASSWORD not in json.dumps(result)


def test_a_password_file_is_read_on_the_host(glitchtip, run, tmp_path):
    secret = tmp_path / "admin_password"
    secret.write_text(PASSWORD)
    result = run(password=None, password_file=str(secret))
    assert result["changed"] is True and result["dsns"]
    assert PASSWORD not in json.dumps(result)


def test_a_missing_password_file_fails_naming_it(glitchtip, run, tmp_path):
    result = run(password=None, password_file=str(tmp_path / "none"))
    assert result["failed"] is True and str(tmp_path / "none") in result["msg"]
    assert glitchtip.logins == 0


def test_a_missing_password_file_in_check_mode_predicts_the_admin(glitchtip, run, tmp_path):
    result = run(check=True, password=None, password_file=str(tmp_path / "none"))
    assert result["changed"] is True and result["created"] == [f"admin:{EMAIL}"]
    assert glitchtip.logins == 0
