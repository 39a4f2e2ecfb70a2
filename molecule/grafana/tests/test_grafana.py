"""Grafana (contract stand-in) wired to real Loki and Tempo and the Mimir stand-in.

What runs against the stand-in rather than real Grafana: the API, the provisioning
reader and the datasource health checks are tests/testhost/standins/grafana/grafana.py;
the health checks still query the real Loki and Tempo over the lgtm network.
"""

import base64
import json
import time
import urllib.error
import urllib.request

import pytest
from lgtm_molecule import (
    TEMPO_HEALTH_SOURCE,
    assert_noop_run,
    container_identity,
    run_playbook,
    tunnel,
)

CONTAINER = "lgtm-grafana"
SECRET = "/etc/lgtm/grafana/secrets/admin_password"
OPERATOR_SECRET = "/etc/lgtm/grafana/users/operator"
DATASOURCES = {"lgtm-loki", "lgtm-tempo", "lgtm-mimir"}


@pytest.fixture(scope="module")
def grafana_port():
    with tunnel("lgtm-grafana", 3000) as port:
        yield port


def call(port: int, path: str, auth: tuple[str, str] | None = None) -> tuple[int, object]:
    """GET with optional basic auth; any status is returned with the decoded JSON body."""
    headers = {}
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def secret(root, path: str = SECRET) -> str:
    return root.file(path).content_string


def admin(root) -> tuple[str, str]:
    return ("admin", secret(root))


def test_unit_active_and_started_at_boot(root):
    assert root.run("systemctl is-active lgtm-grafana.service").stdout.strip() == "active"
    assert root.file("/run/systemd/generator/multi-user.target.wants/lgtm-grafana.service").exists


def test_start_logs_no_error(root):
    """The journal of the unit's current run: what Grafana logged while it started."""
    invocation = root.run(
        "systemctl show -p InvocationID --value lgtm-grafana.service").stdout.strip()
    assert invocation
    journal = root.run(f"journalctl -u lgtm-grafana.service _SYSTEMD_INVOCATION_ID={invocation} "
                       "--no-pager -o cat").stdout
    assert "HTTP Server Listen" in journal, "the journal holds this run's start"
    errors = [line for line in journal.splitlines() if "level=error" in line]
    assert errors == []


def test_health_reports_database_ok(grafana_port):
    status, body = call(grafana_port, "/api/health")
    assert status == 200
    assert body["database"] == "ok"


def test_published_on_loopback_only(root):
    ports = json.loads(
        root.run("podman inspect --format '{{json .HostConfig.PortBindings}}' " + CONTAINER).stdout
    )
    assert ports == {"3000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "3000"}]}
    address = root.run("ip -4 -o addr show host0").stdout.split()[3].split("/")[0]
    outside = root.run(f"curl -s -m 3 -o /dev/null http://{address}:3000/api/health")
    assert outside.rc == 7, "Grafana must refuse connections on the host's other addresses"


def test_files_owners_and_modes(root):
    admin_secret = root.file(SECRET)
    assert (admin_secret.uid, admin_secret.mode) == (472, 0o600)
    assert len(admin_secret.content_string) == 32, "generated on the host"
    secrets_dir = root.file("/etc/lgtm/grafana/secrets")
    assert (secrets_dir.uid, secrets_dir.mode) == (472, 0o700)
    operator = root.file(OPERATOR_SECRET)
    assert (operator.user, operator.mode) == ("root", 0o600)
    assert (root.file("/etc/lgtm/grafana/users").mode) == 0o700
    data = root.file("/var/lib/lgtm/grafana")
    assert (data.uid, data.mode) == (472, 0o750)
    assert root.file("/var/lib/lgtm/grafana/grafana.db").exists
    ini = root.file("/etc/lgtm/grafana/config/grafana.ini")
    assert (ini.user, ini.mode) == ("root", 0o644)
    for line in ("allow_sign_up = false", "reporting_enabled = false", "check_for_updates = false",
                 "check_for_plugin_updates = false"):
        assert line in ini.content_string
    assert "[auth.anonymous]\nenabled = false" in ini.content_string


def test_password_reaches_the_container_as_a_file_only(root):
    unit = root.file("/etc/containers/systemd/lgtm-grafana.container").content_string
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE=/etc/grafana-secrets/admin_password" in unit
    assert secret(root) not in unit
    env = root.run("podman inspect --format '{{json .Config.Env}}' " + CONTAINER).stdout
    assert secret(root) not in env
    assert "/etc/lgtm/grafana/secrets:/etc/grafana-secrets:ro" in unit


def test_admin_logs_in_with_the_stored_secret_not_admin_admin(root, grafana_port):
    status, body = call(grafana_port, "/api/user", admin(root))
    assert status == 200
    assert body["isGrafanaAdmin"] is True
    assert call(grafana_port, "/api/user", ("admin", "admin"))[0] == 401


def test_every_provisioned_datasource_is_healthy(root, grafana_port):
    status, listed = call(grafana_port, "/api/datasources", admin(root))
    assert status == 200
    assert {ds["uid"] for ds in listed} == DATASOURCES
    assert [ds["uid"] for ds in listed if ds["isDefault"]] == ["lgtm-mimir"]
    for uid in sorted(DATASOURCES):
        status, health = call(grafana_port, f"/api/datasources/uid/{uid}/health", admin(root))
        assert (status, health["status"]) == (200, "OK"), (
            uid, health, TEMPO_HEALTH_SOURCE if uid == "lgtm-tempo" else "")


def test_datasources_are_cross_linked(root, grafana_port):
    def json_data(uid: str) -> dict:
        status, body = call(grafana_port, f"/api/datasources/uid/{uid}", admin(root))
        assert status == 200
        return body["jsonData"]

    mimir = json_data("lgtm-mimir")
    assert mimir["exemplarTraceIdDestinations"][0]["datasourceUid"] == "lgtm-tempo"
    loki = json_data("lgtm-loki")
    assert {field["datasourceUid"] for field in loki["derivedFields"]} == {"lgtm-tempo"}
    # `$$` in the provisioning file is a literal `$` once Grafana has read it.
    assert loki["derivedFields"][0]["url"] == "${__value.raw}"
    tempo = json_data("lgtm-tempo")
    assert tempo["tracesToLogsV2"]["datasourceUid"] == "lgtm-loki"
    assert tempo["tracesToMetrics"]["datasourceUid"] == "lgtm-mimir"
    assert "{$__tags}" in tempo["tracesToMetrics"]["queries"][0]["query"]
    assert tempo["serviceMap"]["datasourceUid"] == "lgtm-mimir"
    assert tempo["nodeGraph"]["enabled"] is True
    assert tempo["lokiSearch"]["datasourceUid"] == "lgtm-loki"


def test_backends_answer_through_the_datasource_proxy(root, grafana_port):
    status, body = call(grafana_port, "/api/datasources/proxy/uid/lgtm-loki/loki/api/v1/labels",
                        admin(root))
    assert (status, body["status"]) == (200, "success")
    status, body = call(grafana_port, "/api/datasources/proxy/uid/lgtm-mimir/api/v1/query?query=1",
                        admin(root))
    assert (status, body["status"]) == (200, "success")
    status, body = call(grafana_port, "/api/datasources/proxy/uid/lgtm-tempo/api/echo", admin(root))
    assert (status, body.strip()) == (200, b"echo")


def test_operator_user_exists_with_its_role_and_password(root, grafana_port):
    status, user = call(grafana_port, "/api/users/lookup?loginOrEmail=operator", admin(root))
    assert status == 200
    assert (user["name"], user["email"]) == ("Operator", "operator@example.org")
    status, org_users = call(grafana_port, "/api/org/users", admin(root))
    assert {u["login"]: u["role"] for u in org_users}["operator"] == "Editor"
    status, me = call(grafana_port, "/api/user", ("operator", secret(root, OPERATOR_SECRET)))
    assert (status, me["login"], me["isGrafanaAdmin"]) == (200, "operator", False)


def test_stack_health_dashboard_is_provisioned(root, grafana_port):
    status, found = call(grafana_port, "/api/search?query=stack", admin(root))
    assert status == 200
    assert [d["uid"] for d in found] == ["lgtm-stack-health"]
    status, body = call(grafana_port, "/api/dashboards/uid/lgtm-stack-health", admin(root))
    assert body["meta"]["provisioned"] is True
    datasources = {p["datasource"]["uid"] for p in body["dashboard"]["panels"]}
    assert datasources == {"lgtm-mimir", "lgtm-loki"}


def test_unchanged_run_changes_and_restarts_nothing(root):
    assert_noop_run(root, CONTAINER)


def test_changed_passwords_really_change_and_never_show(root, grafana_port):
    """Also adds a user dashboard in the same run: Grafana picks it up without a restart."""
    old_admin = secret(root)
    old_operator = secret(root, OPERATOR_SECRET)
    new_admin = "Rotated-admin-" + old_admin[:10]
    new_operator = "Rotated-operator-" + old_operator[:10]
    before = container_identity(root, CONTAINER)
    extra = {
        "grafana_admin_password": new_admin,
        "grafana_users": [{"login": "operator", "name": "Operator", "email": "operator@example.org",
                           "role": "Editor", "password": new_operator}],
        "grafana_dashboards": [{"name": "team-overview", "content": {
            "uid": "team-overview", "title": "Team overview", "panels": []}}],
    }
    # -vvv shows module arguments and results: where an unprotected secret would leak.
    changed = run_playbook("grafana.yml", extra, verbosity=3)
    changed.assert_ok()
    assert changed.changed > 0
    assert call(grafana_port, "/api/user", ("admin", new_admin))[0] == 200
    assert call(grafana_port, "/api/user", ("admin", old_admin))[0] == 401
    assert call(grafana_port, "/api/user", ("operator", new_operator))[0] == 200
    assert secret(root) == new_admin
    assert container_identity(root, CONTAINER) == before, "passwords and dashboards need no restart"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = call(grafana_port, "/api/search?query=team", ("admin", new_admin))[1]
        if found:
            break
        time.sleep(1)
    assert [d["uid"] for d in found] == ["team-overview"], "the provider rescans its directory"
    again = run_playbook("grafana.yml", extra, verbosity=3)
    again.assert_ok()
    assert again.changed == 0, again.output[-4000:]
    for output in (changed.output, again.output):
        for value in (old_admin, new_admin, old_operator, new_operator):
            assert value not in output


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"grafana_http_port": 0}, "grafana_http_port=0 is invalid"),
        ({"grafana_users": [{"login": "admin"}]}, "grafana_users=admin is invalid"),
        ({"grafana_default_datasource": "nope"}, "grafana_default_datasource=nope is invalid"),
    ],
)
def test_bad_input_fails_before_any_change_naming_the_variable(root, bad, named):
    ini = root.file("/etc/lgtm/grafana/config/grafana.ini").content_string
    before = container_identity(root, CONTAINER)
    result = run_playbook("grafana.yml", bad)
    assert result.rc != 0
    assert named in result.output
    assert root.file("/etc/lgtm/grafana/config/grafana.ini").content_string == ini
    assert container_identity(root, CONTAINER) == before


# --- backups (after the password change: the copies carry the current passwords) -------

BACKUPS = "/var/backups/lgtm/grafana"


def post(port: int, method: str, path: str, body: object,
         auth: tuple[str, str]) -> tuple[int, object]:
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method=method,
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def sqlite(root, path: str, sql: str) -> list[str]:
    """Query a database file with the host's python3 (no sqlite3 CLI there either)."""
    script = ("import sqlite3, sys; "
              "db = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True); "
              "[print(*row, sep='|') for row in db.execute(sys.argv[2])]")
    result = root.run("python3 -c %s %s %s", script, path, sql)
    assert result.rc == 0, result.stderr
    return result.stdout.splitlines()


def take_backup(root) -> str:
    result = root.run("systemctl start lgtm-grafana-backup.service")
    assert result.rc == 0, root.run("journalctl -u lgtm-grafana-backup --no-pager").stdout
    return f"{BACKUPS}/" + sorted(root.run(f"ls {BACKUPS}").stdout.split())[-1]


def test_backup_timer_copies_a_consistent_database_while_grafana_runs(root):
    assert root.run("systemctl is-enabled lgtm-grafana-backup.timer").stdout.strip() == "enabled"
    assert root.run("systemctl is-active lgtm-grafana-backup.timer").stdout.strip() == "active"
    # Eight older copies: after the next one only the newest 7 may stay.
    root.run(f"for d in 1 2 3 4 5 6 7 8; do touch {BACKUPS}/grafana-2000010${{d}}T000000Z.db; done")
    before = container_identity(root, CONTAINER)
    newest = take_backup(root)
    assert container_identity(root, CONTAINER) == before, "the copy is taken online"
    copies = sorted(root.run(f"ls -A {BACKUPS}").stdout.split())
    assert len(copies) == 7 and not copies[-1].startswith("grafana-2000"), copies
    copy = root.file(newest)
    assert (copy.user, copy.mode) == ("root", 0o600)
    assert (root.file(BACKUPS).user, root.file(BACKUPS).mode) == ("root", 0o700)
    assert sqlite(root, newest, "PRAGMA integrity_check") == ["ok"]
    assert sqlite(root, newest, "SELECT login FROM user WHERE login = 'operator'") == ["operator"]
    # Read as root, written by nobody else: Grafana's directory holds only its own files.
    assert root.run("find /var/lib/lgtm/grafana -user root").stdout.strip() == ""


def test_restore_brings_back_a_deleted_user_and_keeps_the_replaced_database(root, grafana_port):
    probe = ("restore-probe", "Probe-password-" + secret(root)[:8])
    status, created = post(grafana_port, "POST", "/api/admin/users",
                           {"login": probe[0], "password": probe[1]}, admin(root))
    assert status == 200, created
    take_backup(root)
    status, deleted = post(grafana_port, "DELETE", f"/api/admin/users/{created['id']}", {},
                           admin(root))
    assert status == 200, deleted
    assert call(grafana_port, "/api/user", probe)[0] == 401

    restored = run_playbook("restore.yml")
    restored.assert_ok()
    assert call(grafana_port, "/api/user", probe)[0] == 200
    db = root.file("/var/lib/lgtm/grafana/grafana.db")
    assert (db.uid, db.mode) == (472, 0o640)
    aside = root.run("ls /var/lib/lgtm/grafana").stdout.split()
    aside = [name for name in aside if name.startswith("grafana.db.before-restore-")]
    assert len(aside) == 1, aside
    # The set-aside database is the one without the user.
    assert sqlite(root, f"/var/lib/lgtm/grafana/{aside[0]}",
                  "SELECT count(*) FROM user WHERE login = 'restore-probe'") == ["0"]
    assert call(grafana_port, "/api/user", ("operator", secret(root, OPERATOR_SECRET)))[0] == 200


def test_restore_refuses_a_file_that_is_not_a_grafana_database(root):
    before = container_identity(root, CONTAINER)
    refused = run_playbook("restore.yml", {"grafana_restore_file": "/etc/hostname"})
    assert refused.rc != 0
    assert "not restoring: /etc/hostname is not a readable SQLite database" in refused.output
    missing = run_playbook("restore.yml", {"grafana_backup_dir": "/var/backups/none"})
    assert missing.rc != 0
    assert "no grafana backup in /var/backups/none" in missing.output
    assert container_identity(root, CONTAINER) == before
