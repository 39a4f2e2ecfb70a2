"""GlitchTip on a real host: the real backend, its database and broker, in order, bootstrapped,
receiving a real Sentry SDK's events, and backed up into dumps that really restore."""

from __future__ import annotations

import http.cookiejar
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import sentry_sdk
from lgtm_molecule import assert_noop_run, container_identity, image_kind, run_playbook, tunnel

INSTANCE = "lgtm-glitchtip"
ADMIN = "admin@lgtm.test"
ORG = "lgtm"
# The scenario runs the role's default pin line, 6.x: one worker with its scheduler, no
# Celery beat (5.x's separate unit).
UNITS = ["postgres", "valkey", "migrate", "web", "worker"]
SECRETS = "/etc/lgtm/glitchtip/secrets"
BACKUPS = "/var/backups/lgtm/glitchtip"
DIGEST = "0" * 64


@pytest.fixture(scope="module")
def web_port():
    with tunnel(INSTANCE, 8200) as port:
        yield port


@pytest.fixture(scope="module")
def secret_values(host):
    with host.sudo():
        return {
            name: host.file(f"{SECRETS}/{name}").content_string
            for name in ("secret_key", "postgres_password", "admin_password")
        }


def dsns() -> dict[str, str]:
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "glitchtip_dsns.json"
    return json.loads(path.read_text())


class Session:
    """GlitchTip's API as its own web UI uses it: a login session plus the CSRF token."""

    def __init__(self, port: int, email: str, password: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.call("GET", "/_allauth/browser/v1/config")
        status, body = self.call(
            "POST", "/_allauth/browser/v1/auth/login", {"email": email, "password": password}
        )
        assert status == 200, body

    def call(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        headers = {"Accept": "application/json"}
        csrf = next((c.value for c in self.jar if c.name == "csrftoken"), None)
        if csrf:
            headers["X-CSRFToken"] = csrf
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def psql(root, sql: str, db: str = "glitchtip") -> str:
    result = root.run(
        "podman exec lgtm-glitchtip-postgres psql -U glitchtip -d %s -tAq -v ON_ERROR_STOP=1 -c %s",
        db,
        sql,
    )
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


# --- units and boot order -------------------------------------------------------------


def test_all_units_active_and_started_in_dependency_order(root):
    started = {}
    for unit in UNITS:
        service = f"lgtm-glitchtip-{unit}.service"
        assert root.run(f"systemctl is-active {service}").stdout.strip() == "active", service
        value = root.run(
            f"systemctl show -P ActiveEnterTimestampMonotonic {service}"
        ).stdout.strip()
        started[unit] = int(value)
    assert started["postgres"] < started["migrate"] and started["valkey"] < started["migrate"]
    for unit in ("web", "worker"):
        assert started["migrate"] < started[unit], f"{unit} started before migrations finished"


def test_no_celery_beat_on_the_6x_line(root):
    # 6.x has no beat role (its start script refuses it): the role must not make the unit.
    assert not root.file("/etc/containers/systemd/lgtm-glitchtip-beat.container").exists
    assert root.run("systemctl cat lgtm-glitchtip-beat.service").rc != 0


def test_units_depend_on_each_other_and_start_at_boot(root):
    requires = root.run("systemctl show -P Requires lgtm-glitchtip-web.service").stdout
    assert "lgtm-glitchtip-migrate.service" in requires
    requires = root.run("systemctl show -P Requires lgtm-glitchtip-migrate.service").stdout
    assert {"lgtm-glitchtip-postgres.service", "lgtm-glitchtip-valkey.service"} <= set(
        requires.split()
    )
    assert root.run("systemctl show -P Type lgtm-glitchtip-migrate.service").stdout.strip() == (
        "oneshot"
    )
    for unit in UNITS:
        wants = f"/run/systemd/generator/multi-user.target.wants/lgtm-glitchtip-{unit}.service"
        assert root.file(wants).exists, unit


def test_web_and_worker_share_uploads_with_a_shared_selinux_label(root):
    """Labels the core chose over all GlitchTip units, as quadlet hands them to Podman."""
    for unit, volume in (("web", "/var/lib/lgtm/glitchtip/uploads:/code/uploads:z"),
                         ("worker", "/var/lib/lgtm/glitchtip/uploads:/code/uploads:z"),
                         ("postgres", "/var/lib/lgtm/glitchtip/postgres:/var/lib/postgresql:Z")):
        service = root.file(f"/run/systemd/generator/lgtm-glitchtip-{unit}.service").content_string
        assert f"-v {volume} " in service or service.rstrip().endswith(f"-v {volume}"), service


def test_migrations_ran_once(root):
    log = root.run("journalctl -u lgtm-glitchtip-migrate.service --no-pager -o cat").stdout
    # systemd's own line, once per successful run of the job.
    assert log.count("Finished lgtm-glitchtip-migrate.service") == 1, log[-3000:]
    assert "Run Django migrations" in log and "Create and delete Postgres partitions" in log
    applied = int(psql(root, "SELECT count(*) FROM django_migrations"))
    # Every migration the image ships is recorded as applied in the database.
    shown = root.run("podman exec lgtm-glitchtip-web ./manage.py showmigrations")
    assert shown.rc == 0, shown.stderr
    marks = [line.strip()[:3] for line in shown.stdout.splitlines()
             if line.strip().startswith("[")]
    assert marks and "[ ]" not in marks, shown.stdout
    assert applied >= len(marks) > 0
    image = root.run("podman inspect --format '{{.ImageName}}' lgtm-glitchtip-web").stdout.strip()
    if image_kind(root, image) == "upstream":
        assert applied > 50, "the real backend's migrations are in the database"


def test_unchanged_run_changes_restarts_and_migrates_nothing(root):
    before = root.run("systemctl show -P InvocationID lgtm-glitchtip-migrate.service").stdout
    assert_noop_run(root, "lgtm-glitchtip-web")
    after = root.run("systemctl show -P InvocationID lgtm-glitchtip-migrate.service").stdout
    assert before == after, "the migration job ran again"


def test_check_mode_on_the_converged_host_changes_nothing():
    result = run_playbook("converge.yml", check=True)
    result.assert_ok()
    assert result.changed == 0, result.output[-4000:]


# --- network exposure -------------------------------------------------------------------


def test_health_on_8200_and_port_8000_in_the_container(root, web_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/_health/", timeout=10) as response:
        assert response.status == 200
        assert response.read().strip() == b"ok"
    bindings = json.loads(
        root.run(
            "podman inspect --format '{{json .HostConfig.PortBindings}}' lgtm-glitchtip-web"
        ).stdout
    )
    assert bindings == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8200"}]}
    # 6.x's Granian reads GRANIAN_PORT (never PORT, which its start script overwrites).
    env = root.run("podman exec lgtm-glitchtip-web printenv GRANIAN_PORT").stdout.strip()
    assert env == "8000", "the role sets the port the 6.x line reads"
    assert root.run("podman exec lgtm-glitchtip-web printenv PORT").rc != 0, "PORT is 5.x's"


@pytest.mark.parametrize(("port", "answers"), [(8000, True), (8080, False)])
def test_web_answers_on_the_port_the_role_publishes_only(root, port, answers):
    # Inside the container: 8000, which the role publishes, answers; 8080, the 5.x
    # image's default, does not.
    probe = (
        "import socket, sys\n"
        f"try:\n    socket.create_connection(('127.0.0.1', {port}), 5).close()\n"
        "except OSError:\n    sys.exit(3)\n"
    )
    result = root.run("podman exec lgtm-glitchtip-web python -c %s", probe)
    assert result.rc == (0 if answers else 3), (port, result.stdout, result.stderr)
    if answers:
        health = root.run(
            "podman exec lgtm-glitchtip-web python -c %s",
            f"import urllib.request; print(urllib.request.urlopen("
            f"'http://127.0.0.1:{port}/_health/', timeout=10).read().decode())",
        )
        assert health.stdout.strip() == "ok", health.stderr


def test_postgres_and_valkey_are_not_published(root):
    for container in ("lgtm-glitchtip-postgres", "lgtm-glitchtip-valkey"):
        bindings = root.run(
            f"podman inspect --format '{{{{json .HostConfig.PortBindings}}}}' {container}"
        ).stdout.strip()
        assert bindings in ("{}", "null"), f"{container} is published: {bindings}"
    listening = root.run("ss -Htln").stdout
    assert ":5432 " not in listening and ":5433 " not in listening, listening


# --- secrets -------------------------------------------------------------------------


def test_secrets_are_0600_and_never_in_units(root, secret_values):
    for name, value in secret_values.items():
        secret = root.file(f"{SECRETS}/{name}")
        assert (secret.user, secret.mode) == ("root", 0o600), name
        assert len(value) >= 24, name
    assert len(secret_values["secret_key"]) == 64
    for env_file in ("postgres.env", "glitchtip-secrets.env"):
        found = root.file(f"/etc/lgtm/glitchtip/{env_file}")
        assert (found.user, found.mode) == ("root", 0o600), env_file
    settings = root.file("/etc/lgtm/glitchtip/glitchtip.env").content_string
    units = root.run("cat /etc/containers/systemd/lgtm-glitchtip-*.container").stdout
    for value in secret_values.values():
        assert value not in units and value not in settings


def test_secrets_never_appear_in_a_run_that_changes_something(root, secret_values):
    # A new project makes a run with real changes; its output and an unchanged
    # run's must not carry any secret.
    extra = {"lgtm_test_extra_projects": [{"name": "be-extra", "team": "mobile"}]}
    changed = run_playbook("converge.yml", extra)
    changed.assert_ok()
    assert changed.changed > 0, "a new project reports changed"
    assert "be-extra DSN http://" in changed.output
    again = run_playbook("converge.yml", extra)
    again.assert_ok()
    assert again.changed == 0, again.output[-4000:]
    for output in (changed.output, again.output):
        for name, value in secret_values.items():
            assert value not in output, f"{name} leaked into the run's output"


def test_a_new_database_password_reaches_postgres_and_glitchtip(root, web_port):
    new = "RotatedPassw0rd" + uuid.uuid4().hex
    changed = run_playbook("converge.yml", {"glitchtip_postgres_password": new})
    changed.assert_ok()
    assert changed.changed > 0
    assert new not in changed.output, "the new password leaked into the run's output"
    assert root.file(f"{SECRETS}/postgres_password").content_string == new
    login = root.run(
        "podman exec -e PGPASSWORD=%s lgtm-glitchtip-postgres psql -h 127.0.0.1 -U glitchtip "
        "-d glitchtip -tAc 'SELECT 1'",
        new,
    )
    assert login.stdout.strip() == "1", login.stderr
    # Web and the migration job came back with it (the run waited for /_health/).
    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/_health/", timeout=10) as response:
        assert response.read().strip() == b"ok"
    # Kept from now on: the next run without the variable changes nothing.
    assert_noop_run(root, "lgtm-glitchtip-web")


# --- bootstrap and real events ------------------------------------------------------------


def test_dsns_returned_for_both_projects():
    found = dsns()
    assert set(found) >= {"be-platform", "be-pwa"}
    for dsn in found.values():
        parsed = urllib.parse.urlsplit(dsn)
        assert (parsed.scheme, parsed.hostname, parsed.port) == ("http", "127.0.0.1", 8200)
        assert parsed.username and parsed.path.strip("/").isdigit()


def test_bootstrap_made_one_organization_team_and_no_duplicates(web_port, secret_values):
    api = Session(web_port, ADMIN, secret_values["admin_password"])
    status, orgs = api.call("GET", "/api/0/organizations/")
    assert status == 200
    assert [org["slug"] for org in orgs] == [ORG]
    status, projects = api.call("GET", f"/api/0/organizations/{ORG}/projects/")
    names = sorted(project["name"] for project in projects)
    assert names.count("be-platform") == 1 and names.count("be-pwa") == 1, names
    status, teams = api.call("GET", f"/api/0/organizations/{ORG}/teams/")
    assert "backend" in [team["slug"] for team in teams]


def test_event_from_the_real_sentry_sdk_becomes_an_issue(web_port, secret_values):
    dsn = urllib.parse.urlsplit(dsns()["be-platform"])
    # Same key and project, sent through the tunnel to the host's 127.0.0.1:8200.
    local_dsn = dsn._replace(netloc=f"{dsn.username}@127.0.0.1:{web_port}").geturl()
    marker = f"lgtm-glitchtip-test-{uuid.uuid4().hex[:12]}"
    sentry_sdk.init(dsn=local_dsn, default_integrations=False)
    try:
        raise RuntimeError(marker)
    except RuntimeError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)
    sentry_sdk.get_client().close()

    api = Session(web_port, ADMIN, secret_values["admin_password"])
    deadline = time.monotonic() + 60
    titles: list[str] = []
    while time.monotonic() < deadline:
        status, issues = api.call("GET", f"/api/0/projects/{ORG}/be-platform/issues/")
        assert status == 200, issues
        titles = [issue.get("title", "") for issue in issues]
        if any(marker in title for title in titles):
            break
        time.sleep(0.5)
    assert any(marker in title for title in titles), titles


# --- backups --------------------------------------------------------------------------------


def test_backup_timer_dumps_keeps_the_newest_and_restores_the_same_rows(root):
    assert root.run("systemctl is-active lgtm-glitchtip-backup.timer").stdout.strip() == "active"
    assert root.run("systemctl is-enabled lgtm-glitchtip-backup.timer").stdout.strip() == "enabled"
    # Fifteen older dumps: after the next one only the newest 14 may stay.
    root.run(
        f"for d in $(seq -w 1 15); do touch {BACKUPS}/glitchtip-200001${{d}}T000000Z.dump; done"
    )
    tables = psql(
        root, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    ).split()
    assert "projects_project" in tables and "issue_events_issue" in tables
    count_sql = " UNION ALL ".join(
        f"SELECT '{table}', count(*) FROM public.\"{table}\"" for table in tables
    )
    # Counted just before the dump: the worker keeps writing afterwards.
    original = sorted(psql(root, count_sql).splitlines())
    result = root.run("systemctl start lgtm-glitchtip-backup.service")
    assert result.rc == 0, root.run("journalctl -u lgtm-glitchtip-backup --no-pager").stdout
    dumps = sorted(root.run(f"ls {BACKUPS}").stdout.split())
    assert len(dumps) == 14, dumps
    newest = f"{BACKUPS}/{dumps[-1]}"
    assert not dumps[-1].startswith("glitchtip-2000")
    dump = root.file(newest)
    assert (dump.user, dump.mode) == ("root", 0o600) and dump.size > 10000
    assert root.file(BACKUPS).mode == 0o700

    psql(root, "DROP DATABASE IF EXISTS glitchtip_restored", db="postgres")
    restored = run_playbook(
        "restore.yml",
        {"glitchtip_restore_file": newest, "glitchtip_restore_database": "glitchtip_restored"},
    )
    restored.assert_ok()
    assert restored.changed > 0

    assert sorted(psql(root, count_sql, db="glitchtip_restored").splitlines()) == original
    assert int(psql(root, "SELECT count(*) FROM projects_project", db="glitchtip_restored")) >= 2

    # A second restore into the now non-empty database is refused.
    again = run_playbook(
        "restore.yml",
        {"glitchtip_restore_file": newest, "glitchtip_restore_database": "glitchtip_restored"},
    )
    assert again.rc != 0
    assert "glitchtip_restore_database=glitchtip_restored already has" in again.output


def test_web_kept_running_through_the_backup(root):
    # The dump is taken from the running database: nothing restarts for it.
    identity = container_identity(root, "lgtm-glitchtip-web")
    assert root.run("systemctl start lgtm-glitchtip-backup.service").rc == 0
    assert container_identity(root, "lgtm-glitchtip-web") == identity


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"glitchtip_image": "docker.io/glitchtip/glitchtip@sha256:" + DIGEST}, "glitchtip_image"),
        ({"glitchtip_http_port": 70000}, "glitchtip_http_port"),
        ({"glitchtip_domain": "errors.example.com"}, "glitchtip_domain"),
        ({"glitchtip_projects": [{"name": "x", "team": "Not A Slug"}]}, "glitchtip_projects"),
        ({"glitchtip_postgres_publish": "maybe"}, "glitchtip_postgres_publish"),
    ],
)
def test_bad_input_fails_before_any_change_naming_the_variable(root, extra, named):
    web = container_identity(root, "lgtm-glitchtip-web")
    result = run_playbook("converge.yml", extra)
    assert result.rc != 0
    assert named in result.output, result.output[-3000:]
    assert result.changed == 0, result.output[-3000:]
    assert container_identity(root, "lgtm-glitchtip-web") == web


# --- the image's contract ---------------------------------------------------------------


def test_test_image_keeps_upstreams_layout(root):
    image = root.run("podman inspect --format '{{.ImageName}}' lgtm-glitchtip-web").stdout.strip()
    if image_kind(root, image) == "upstream":
        pytest.skip("upstream's own image: its layout is upstream's by definition")
    config = json.loads(root.run(f"podman image inspect {image}").stdout)[0]["Config"]
    assert config["User"] == "app:app"
    assert config["WorkingDir"] == "/code"
    assert config["Cmd"] == ["./bin/start.sh"]
    assert not config.get("Entrypoint")
    # 6.x: Granian on 8000, no PORT in the image (5.x's image set PORT=8080).
    assert not [env for env in config["Env"] if env.startswith("PORT=")], config["Env"]
    assert list(config.get("ExposedPorts") or {}) == ["8000/tcp"]
    assert "docker.io/glitchtip/glitchtip:v6." in config["Labels"]["lgtm.stack.test-image"]
    assert config["Labels"]["lgtm.stack.test-image.kind"] == "stand-in"
    owners = root.run(
        f"podman run --rm --entrypoint stat {image} -c '%u:%g %n' /code /code/uploads /code/bin"
    ).stdout.split("\n")
    assert owners[:3] == ["5000:5000 /code", "5000:5000 /code/uploads", "0:0 /code/bin"]


# --- PostgreSQL published only when asked (runs last: it restarts the database) ----------


def test_postgres_published_on_5433_only_when_asked_then_withdrawn(root):
    published = run_playbook("converge.yml", {"glitchtip_postgres_publish": True})
    published.assert_ok()
    assert published.changed > 0
    bindings = json.loads(
        root.run(
            "podman inspect --format '{{json .HostConfig.PortBindings}}' lgtm-glitchtip-postgres"
        ).stdout
    )
    assert bindings == {"5432/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5433"}]}
    probe = "import socket; socket.create_connection(('127.0.0.1', 5433), 5).close()"
    assert root.run(f'python3 -c "{probe}"').rc == 0
    # Web and worker came back after the database restart.
    assert root.run("curl -sf http://127.0.0.1:8200/_health/").stdout.strip() == "ok"

    withdrawn = run_playbook("converge.yml")
    withdrawn.assert_ok()
    assert root.run(f'python3 -c "{probe}"').rc != 0
    assert_noop_run(root, "lgtm-glitchtip-web")
