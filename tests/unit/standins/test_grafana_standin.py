"""The Grafana contract stand-in (tests/testhost/standins/grafana/grafana.py) on 127.0.0.1.

Each test runs the real program as a subprocess (`grafana server` with upstream's
command line shape, as run.sh starts it) against a temporary home, config and data
directory, and talks to it over HTTP; fake backends are small local HTTP servers that
record what the health checks ask them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
STANDIN_DIR = REPO / "tests/testhost/standins/grafana"
PROGRAM = STANDIN_DIR / "grafana.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Backend:
    """A local HTTP server answering like Loki, Tempo or Prometheus; it records requests."""

    def __init__(self, kind: str, healthy: bool = True) -> None:
        self.kind = kind
        self.healthy = healthy
        self.loki_value = "2"
        self.requests: list[tuple[str, str, bytes]] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                backend.requests.append((method, self.path, body))
                path = urllib.parse.urlsplit(self.path).path
                if not backend.healthy:
                    payload, status = b"not ready", 503
                elif backend.kind == "tempo" and path == "/api/echo":
                    payload, status = b"echo", 200
                elif path == "/loki/api/v1/query":
                    payload = json.dumps({"status": "success", "data": {
                        "resultType": "vector",
                        "result": [{"metric": {}, "value": [4, backend.loki_value]}]}}).encode()
                    status = 200
                elif path.endswith("/api/v1/query"):
                    payload = json.dumps({"status": "success", "data": {
                        "resultType": "scalar", "result": [4, "2"]}}).encode()
                    status = 200
                else:
                    payload, status = b"404 page not found", 404
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802 - stdlib hook names
                self._answer("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Grafana:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        (self.home / "conf").mkdir(parents=True)
        (self.home / "conf/defaults.json").write_text((STANDIN_DIR / "defaults.json").read_text())
        self.provisioning = tmp / "provisioning"
        for sub in ("datasources", "dashboards"):
            (self.provisioning / sub).mkdir(parents=True)
        self.data = tmp / "data"
        self.logs = tmp / "logs"
        self.config = tmp / "grafana.ini"
        self.port = free_port()
        self.config.write_text(f"[server]\nhttp_addr = 127.0.0.1\nhttp_port = {self.port}\n")
        self.process: subprocess.Popen[str] | None = None
        self.output = ""

    def start(self, env: dict[str, str] | None = None, wait: bool = True,
              prefix: list[str] | None = None, health: int = 200,
              args: list[str] | None = None) -> int | None:
        """Start the server; None once /api/health answers `health`, else its exit code.

        `prefix` runs it under another command (setpriv, to be another user); `args` are
        more command-line arguments (cfg:default.* overrides, as run.sh passes).
        """
        command = [*(prefix or []), sys.executable, str(PROGRAM), "server",
                   f"--homepath={self.home}",
                   f"--config={self.config}", "--packaging=docker",
                   f"cfg:default.paths.data={self.data}",
                   f"cfg:default.paths.logs={self.logs}",
                   f"cfg:default.paths.provisioning={self.provisioning}", *(args or [])]
        self.process = subprocess.Popen(command, env={"PATH": "/usr/bin:/bin", **(env or {})},
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, cwd=self.tmp)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.output = self.process.stdout.read() if self.process.stdout else ""
                return self.process.returncode
            with contextlib.suppress(OSError):
                if self.get("/api/health")[0] == health:
                    return None
            time.sleep(0.05)
        raise AssertionError("the stand-in neither listened nor exited")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.output = self.process.stdout.read() if self.process.stdout else ""

    def request(self, method: str, path: str, auth: tuple[str, str] | None = None,
                body: Any = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                         method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def get(self, path: str, auth: tuple[str, str] | None = None) -> tuple[int, Any]:
        return self.request("GET", path, auth)

    def cli(self, *args: str, stdin: str = "", env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(PROGRAM), "cli", *args], input=stdin,
                              capture_output=True, text=True, cwd=self.home, check=False,
                              env={"PATH": "/usr/bin:/bin", **(env or {})})


@pytest.fixture
def grafana(tmp_path: Path) -> Iterator[Grafana]:
    instance = Grafana(tmp_path)
    yield instance
    instance.stop()


@pytest.fixture
def backends() -> Iterator[dict[str, Backend]]:
    made = {kind: Backend(kind) for kind in ("loki", "tempo", "prometheus")}
    yield made
    for backend in made.values():
        backend.close()


def write_datasources(grafana: Grafana, backends: dict[str, Backend], **extra: Any) -> None:
    datasources = [
        {"name": "Mimir", "type": "prometheus", "uid": "lgtm-mimir",
         "url": backends["prometheus"].url,
         "isDefault": True, "jsonData": {"httpMethod": "POST", "exemplarTraceIdDestinations": [
             {"name": "traceID", "datasourceUid": "lgtm-tempo"}]}},
        {"name": "Loki", "type": "loki", "uid": "lgtm-loki", "url": backends["loki"].url,
         "jsonData": {"derivedFields": [{"name": "TraceID", "matcherRegex": "trace_id=(\\w+)",
                                         "datasourceUid": "lgtm-tempo",
                                         "url": "$${__value.raw}"}]}},
        {"name": "Tempo", "type": "tempo", "uid": "lgtm-tempo", "url": backends["tempo"].url,
         "jsonData": {"tracesToLogsV2": {"datasourceUid": "lgtm-loki"},
                      "serviceMap": {"datasourceUid": "lgtm-mimir"}}},
    ]
    content = {"apiVersion": 1, "prune": True, "datasources": datasources, **extra}
    (grafana.provisioning / "datasources/lgtm.yaml").write_text(json.dumps(content))


ADMIN = ("admin", "first-password")


def test_health_answers_without_auth_with_database_ok(grafana: Grafana) -> None:
    assert grafana.start() is None
    status, body = grafana.get("/api/health")
    assert status == 200
    assert body["database"] == "ok"
    assert body["version"] == "13.2.2"


def test_health_fails_when_the_database_is_broken_under_it(grafana: Grafana) -> None:
    assert grafana.start() is None
    assert grafana.get("/api/health")[1]["database"] == "ok"
    with (grafana.data / "grafana.db").open("r+b") as database:
        database.write(b"not a database any more" * 8)
    status, body = grafana.get("/api/health")
    # Upstream's shape (pkg/api/http_server.go apiHealthHandler): 503, "failing".
    assert (status, body["database"], body["version"]) == (503, "failing", "13.2.2")


def test_health_fails_when_its_database_is_read_only(grafana: Grafana) -> None:
    """A read-only grafana.db (a read-only mount, or a file Grafana's user cannot write)
    opens read-only: the start succeeds, health must not say ok."""
    assert grafana.start() is None  # creates and migrates grafana.db
    grafana.stop()
    database = grafana.data / "grafana.db"
    if os.geteuid() == 0:
        # Root writes whatever the mode says: bind-mount the file read-only over itself
        # in a mount namespace of the stand-in's own.
        prefix = ["unshare", "-m", "--", "sh", "-c",
                  'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"',
                  str(database)]
    else:
        prefix = []
        database.chmod(0o444)
    assert grafana.start(prefix=prefix, health=503) is None, grafana.output
    status, body = grafana.get("/api/health")
    assert (status, body["database"]) == (503, "failing")
    assert grafana.get("/api/user", ("admin", "admin"))[0] == 200, "it did start and serve"


def test_metrics_are_served_without_auth_unless_basic_auth_is_set(grafana: Grafana) -> None:
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    status, body = grafana.get("/metrics")
    assert status == 200
    text = body.decode() if isinstance(body, bytes) else str(body)
    assert 'grafana_build_info{edition="oss",version="13.2.2"} 1' in text
    assert "grafana_stat_total_users 1" in text
    grafana.stop()
    with grafana.config.open("a") as config:
        config.write("[metrics]\nbasic_auth_username = scraper\nbasic_auth_password = s3cret\n")
    grafana.start()
    assert grafana.get("/metrics")[0] == 401
    assert grafana.get("/metrics", ("scraper", "s3cret"))[0] == 200


def test_missing_defaults_fail_like_upstream(grafana: Grafana) -> None:
    (grafana.home / "conf/defaults.json").unlink()
    assert grafana.start() == 1
    assert "Could not find config defaults" in grafana.output


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if " level=error " in line]


def test_unreadable_plugin_and_alerting_provisioning_log_upstreams_errors(
        grafana: Grafana) -> None:
    assert grafana.start() is None, "upstream starts anyway"
    grafana.stop()
    errors = error_lines(grafana.output)
    assert len(errors) == 2, grafana.output
    plugins, alerting = errors
    assert plugins.startswith("logger=provisioning.plugins ")
    assert 'msg="Failed to read plugin provisioning files from directory"' in plugins
    assert f'error="open {grafana.provisioning}/plugins: no such file or directory"' in plugins
    assert alerting.startswith("logger=provisioning.alerting ")
    assert 'msg="can\'t read alerting provisioning files from directory"' in alerting
    assert f'path="{grafana.provisioning}/alerting"' in alerting


def test_empty_plugin_and_alerting_provisioning_start_without_errors(grafana: Grafana) -> None:
    for sub in ("plugins", "alerting"):
        (grafana.provisioning / sub).mkdir()
    assert grafana.start() is None
    grafana.stop()
    assert "HTTP Server Listen" in grafana.output
    assert error_lines(grafana.output) == []


def log_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("logger=")]


def test_default_log_mode_appends_every_line_to_grafana_log(grafana: Grafana) -> None:
    """defaults.ini's `[log] mode = console file`: <paths.logs>/grafana.log gets each line."""
    assert grafana.start() is None
    assert grafana.get("/api/health")[0] == 200
    grafana.stop()
    log_file = grafana.logs / "grafana.log"
    first = log_file.read_text().splitlines()
    assert any('msg="HTTP Server Listen"' in line for line in first), first
    assert first == log_lines(grafana.output)
    grafana.start()
    grafana.stop()
    assert log_file.read_text().splitlines() == first + log_lines(grafana.output), "appended"


@pytest.mark.parametrize(("ini", "env", "args"), [
    ("", {"GF_LOG_MODE": "console"}, []),
    ("[log]\nmode = console\n", {}, []),
    # run.sh's default: the image logs to the console only unless configured otherwise.
    ("", {}, ["cfg:default.log.mode=console"]),
], ids=["env", "ini", "run.sh-default"])
def test_console_mode_writes_nothing_under_paths_logs(
        grafana: Grafana, ini: str, env: dict[str, str], args: list[str]) -> None:
    with grafana.config.open("a") as config:
        config.write(ini)
    assert grafana.start(env, args=args) is None
    grafana.stop()
    assert 'msg="HTTP Server Listen"' in grafana.output
    assert not grafana.logs.exists()


@pytest.mark.parametrize("mode", ["console file", "console,file", "file"])
def test_grafana_ini_adds_the_file_log_over_run_sh_default(grafana: Grafana, mode: str) -> None:
    with grafana.config.open("a") as config:
        config.write(f"[log]\nmode = {mode}\n")
    assert grafana.start(args=["cfg:default.log.mode=console"]) is None
    grafana.stop()
    assert 'msg="HTTP Server Listen"' in (grafana.logs / "grafana.log").read_text()


@pytest.mark.parametrize("blocked", ["parent-is-a-file", "log-is-a-directory"])
def test_a_log_file_it_cannot_open_is_skipped_silently(grafana: Grafana, blocked: str) -> None:
    """Upstream since 8.4 (grafana/grafana#42952) skips the file logger and starts; its
    error goes to the not yet configured root logger, which discards it."""
    for sub in ("plugins", "alerting"):
        (grafana.provisioning / sub).mkdir()
    if blocked == "parent-is-a-file":
        grafana.logs = grafana.tmp / "not-a-directory" / "logs"
        grafana.logs.parent.write_text("a regular file\n")
    else:
        (grafana.logs / "grafana.log").mkdir(parents=True)
    assert grafana.start() is None, grafana.output
    assert grafana.get("/api/health")[0] == 200
    grafana.stop()
    assert 'msg="HTTP Server Listen"' in grafana.output
    assert error_lines(grafana.output) == []
    if blocked == "parent-is-a-file":
        assert grafana.logs.parent.read_text() == "a regular file\n"
    else:
        assert list((grafana.logs / "grafana.log").iterdir()) == []


def test_admin_password_from_env_applies_only_to_an_empty_database(grafana: Grafana) -> None:
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    assert grafana.get("/api/user", ADMIN)[0] == 200
    assert grafana.get("/api/user", ("admin", "admin"))[0] == 401
    assert grafana.get("/api/user")[0] == 401
    grafana.stop()
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "second-password"})
    assert grafana.get("/api/user", ("admin", "second-password"))[0] == 401
    assert grafana.get("/api/user", ADMIN)[0] == 200
    database = sqlite3.connect(grafana.data / "grafana.db")
    stored = database.execute("SELECT password FROM user WHERE login = 'admin'").fetchone()[0]
    assert "first-password" not in stored and len(stored) == 100, "PBKDF2, 50 bytes, hex"


def test_env_overrides_the_ini_file(grafana: Grafana) -> None:
    with grafana.config.open("a") as ini:
        ini.write("[security]\nadmin_user = root-of-all\n")
    grafana.start({"GF_SECURITY_ADMIN_USER": "chief", "GF_SECURITY_ADMIN_PASSWORD": "pw-chief"})
    assert grafana.get("/api/user", ("chief", "pw-chief"))[0] == 200


def test_five_failed_logins_lock_the_login(grafana: Grafana) -> None:
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    for _attempt in range(5):
        assert grafana.get("/api/user", ("admin", "wrong"))[0] == 401
    assert grafana.get("/api/user", ADMIN)[0] == 401


def test_cli_resets_the_admin_password_from_stdin(grafana: Grafana) -> None:
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    result = grafana.cli("--homepath", str(grafana.home), "--config", str(grafana.config),
                         "admin", "reset-admin-password", "--password-from-stdin",
                         stdin="rotated-password\n", env={"GF_PATHS_DATA": str(grafana.data)})
    assert result.returncode == 0, result.stderr
    assert "Admin password changed successfully" in result.stdout
    assert grafana.get("/api/user", ("admin", "rotated-password"))[0] == 200
    assert grafana.get("/api/user", ADMIN)[0] == 401


def test_cli_without_config_uses_the_data_path_from_env(grafana: Grafana) -> None:
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    # Without --config the CLI reads only <homepath>/conf: the database is found through
    # GF_PATHS_DATA, as in upstream's image; without it, it looks under the homepath.
    lost = grafana.cli("admin", "reset-admin-password", "x-password")
    assert lost.returncode == 1
    found = grafana.cli("admin", "reset-admin-password", "x-password",
                        env={"GF_PATHS_DATA": str(grafana.data)})
    assert found.returncode == 0, found.stderr


def test_users_api_round_trip(grafana: Grafana) -> None:
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    assert grafana.get("/api/users/lookup?loginOrEmail=operator", ADMIN) == (
        404, {"message": "user not found"})
    status, created = grafana.request("POST", "/api/admin/users", ADMIN, {
        "login": "operator", "name": "Operator", "email": "op@example.org",
        "password": "operator-pw"})
    assert (status, created["message"]) == (200, "User created")
    assert grafana.request("POST", "/api/admin/users", ADMIN, {
        "login": "operator", "password": "operator-pw"})[0] == 412
    user_id = created["id"]
    patched = grafana.request("PATCH", f"/api/org/users/{user_id}", ADMIN, {"role": "Editor"})
    assert patched[0] == 200
    roles = {u["login"]: u["role"] for u in grafana.get("/api/org/users", ADMIN)[1]}
    assert roles == {"admin": "Admin", "operator": "Editor"}
    assert grafana.request("PUT", f"/api/users/{user_id}", ADMIN, {"name": "Ops"})[0] == 200
    assert grafana.get("/api/users/lookup?loginOrEmail=op@example.org", ADMIN)[1]["name"] == "Ops"
    assert grafana.request("PUT", f"/api/admin/users/{user_id}/password", ADMIN,
                           {"password": "new-operator-pw"}) == (
        200, {"message": "User password updated"})
    status, me = grafana.get("/api/user", ("operator", "new-operator-pw"))
    assert (status, me["isGrafanaAdmin"]) == (200, False)
    # An ordinary user is not a server admin.
    assert grafana.get("/api/users", ("operator", "new-operator-pw"))[0] == 403


def test_provisioned_datasources_health_calls_the_backends(
        grafana: Grafana, backends: dict[str, Backend]) -> None:
    write_datasources(grafana, backends)
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    listed = grafana.get("/api/datasources", ADMIN)[1]
    assert {ds["uid"] for ds in listed} == {"lgtm-mimir", "lgtm-loki", "lgtm-tempo"}
    loki = grafana.get("/api/datasources/uid/lgtm-loki", ADMIN)[1]
    assert loki["jsonData"]["derivedFields"][0]["url"] == "${__value.raw}"
    assert loki["readOnly"] is True
    for uid in ("lgtm-mimir", "lgtm-loki", "lgtm-tempo"):
        status, body = grafana.get(f"/api/datasources/uid/{uid}/health", ADMIN)
        assert (status, body["status"]) == (200, "OK"), body
    method, path, body = backends["prometheus"].requests[-1]
    assert (method, urllib.parse.urlsplit(path).path) == ("POST", "/api/v1/query")
    assert urllib.parse.parse_qs(body.decode())["query"] == ["1+1"]
    loki_query = urllib.parse.urlsplit(backends["loki"].requests[-1][1])
    assert loki_query.path == "/loki/api/v1/query"
    assert urllib.parse.parse_qs(loki_query.query)["query"] == ["vector(1)+vector(1)"]
    assert urllib.parse.parse_qs(body.decode())["time"] == ["4"], "the end of the range 1s..4s"
    assert backends["tempo"].requests[-1][1] == "/api/echo"


def test_unhealthy_backend_reports_error(grafana: Grafana, backends: dict[str, Backend]) -> None:
    write_datasources(grafana, backends)
    backends["loki"].healthy = False
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    status, body = grafana.get("/api/datasources/uid/lgtm-loki/health", ADMIN)
    assert (status, body["status"]) == (400, "ERROR")
    assert "503" in body["message"]


def test_tempo_health_is_the_echo_status_alone(
        grafana: Grafana, backends: dict[str, Backend]) -> None:
    """Upstream's backend check (pkg/tsdb/tempo/tempo.go CheckHealth): the status decides."""
    write_datasources(grafana, backends)
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    status, body = grafana.get("/api/datasources/uid/lgtm-tempo/health", ADMIN)
    assert (status, body["status"], body["message"]) == (200, "OK", "Data source is working")
    backends["tempo"].healthy = False
    status, body = grafana.get("/api/datasources/uid/lgtm-tempo/health", ADMIN)
    assert (status, body["status"]) == (400, "ERROR")
    assert body["message"] == "Tempo echo endpoint returned status 503"


def test_tempo_streaming_health_is_not_pretended(
        grafana: Grafana, backends: dict[str, Backend]) -> None:
    write_datasources(grafana, backends)
    path = grafana.provisioning / "datasources/lgtm.yaml"
    content = json.loads(path.read_text())
    for entry in content["datasources"]:
        if entry["uid"] == "lgtm-tempo":
            entry["jsonData"]["streamingEnabled"] = {"search": True}
    path.write_text(json.dumps(content))
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    status, body = grafana.get("/api/datasources/uid/lgtm-tempo/health", ADMIN)
    assert (status, body["status"]) == (400, "ERROR")
    assert "streamingEnabled.search" in body["message"]


def test_a_wrong_answer_is_unhealthy(grafana: Grafana, backends: dict[str, Backend]) -> None:
    write_datasources(grafana, backends)
    backends["loki"].loki_value = "3"
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    status, body = grafana.get("/api/datasources/uid/lgtm-loki/health", ADMIN)
    assert (status, body["status"]) == (400, "ERROR")
    assert body["message"].endswith("invalid response")


def test_a_link_to_a_missing_datasource_is_unhealthy(
        grafana: Grafana, backends: dict[str, Backend]) -> None:
    write_datasources(grafana, backends)
    path = grafana.provisioning / "datasources/lgtm.yaml"
    content = json.loads(path.read_text())
    content["datasources"] = [ds for ds in content["datasources"] if ds["uid"] != "lgtm-tempo"]
    path.write_text(json.dumps(content))
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    status, body = grafana.get("/api/datasources/uid/lgtm-loki/health", ADMIN)
    assert status == 400
    assert "lgtm-tempo" in body["message"]


@pytest.mark.parametrize(("change", "message"), [
    ({"extra": {"nope": 1}}, "unknown field(s) nope"),
    ({"field": {"uid": "lgtm-loki", "key": "urll", "value": "x"}}, "unknown field(s) urll"),
    ({"field": {"uid": "lgtm-loki", "key": "jsonData", "value": {"maxLine": 1}}},
     "jsonData.maxLine is not a loki datasource setting"),
    ({"field": {"uid": "lgtm-tempo", "key": "jsonData",
                "value": {"tracesToLogsV2": {"datasourceUID": "lgtm-loki"}}}},
     "unknown field(s) datasourceUID"),
    ({"field": {"uid": "lgtm-loki", "key": "isDefault", "value": True}},
     "Only one datasource per organization can be marked as default"),
    ({"field": {"uid": "lgtm-loki", "key": "url", "value": 5}}, "url must be a str"),
])
def test_bad_provisioning_fails_the_start(grafana: Grafana, backends: dict[str, Backend],
                                          change: dict[str, Any], message: str) -> None:
    write_datasources(grafana, backends, **change.get("extra", {}))
    if "field" in change:
        path = grafana.provisioning / "datasources/lgtm.yaml"
        content = json.loads(path.read_text())
        target = next(ds for ds in content["datasources"] if ds["uid"] == change["field"]["uid"])
        target[change["field"]["key"]] = change["field"]["value"]
        path.write_text(json.dumps(content))
    assert grafana.start() == 1
    assert message in grafana.output


def test_prune_removes_datasources_no_longer_in_files(
        grafana: Grafana, backends: dict[str, Backend]) -> None:
    write_datasources(grafana, backends)
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    grafana.stop()
    (grafana.provisioning / "datasources/lgtm.yaml").write_text(json.dumps({
        "apiVersion": 1, "prune": True, "datasources": [
            {"name": "Tempo", "type": "tempo", "uid": "lgtm-tempo",
             "url": backends["tempo"].url}]}))
    grafana.start()
    assert [ds["uid"] for ds in grafana.get("/api/datasources", ADMIN)[1]] == ["lgtm-tempo"]


def test_proxy_forwards_to_the_backend(grafana: Grafana, backends: dict[str, Backend]) -> None:
    write_datasources(grafana, backends)
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    status, body = grafana.get("/api/datasources/proxy/uid/lgtm-mimir/api/v1/query?query=up", ADMIN)
    assert (status, body["status"]) == (200, "success")
    assert backends["prometheus"].requests[-1][1] == "/api/v1/query?query=up"
    assert grafana.get("/api/datasources/proxy/uid/lgtm-mimir/api/v1/query")[0] == 401


def test_dashboards_from_a_file_provider(grafana: Grafana) -> None:
    folder = grafana.tmp / "dashboards"
    folder.mkdir()
    (folder / "health.json").write_text(json.dumps(
        {"uid": "lgtm-stack-health", "title": "LGTM stack health", "tags": ["lgtm"]}))
    (grafana.provisioning / "dashboards/lgtm.yaml").write_text(json.dumps({
        "apiVersion": 1, "providers": [{"name": "lgtm", "folder": "LGTM", "type": "file",
                                        "updateIntervalSeconds": 1,
                                        "options": {"path": str(folder)}}]}))
    grafana.start({"GF_SECURITY_ADMIN_PASSWORD": "first-password"})
    found = grafana.get("/api/search?query=stack", ADMIN)[1]
    assert [(d["uid"], d["type"], d["folderTitle"]) for d in found] == [
        ("lgtm-stack-health", "dash-db", "LGTM")]
    status, body = grafana.get("/api/dashboards/uid/lgtm-stack-health", ADMIN)
    assert (status, body["meta"]["provisioned"]) == (200, True)
    # The provider rescans its directory: a removed file removes the dashboard.
    (folder / "health.json").unlink()
    deadline = time.monotonic() + 10
    while grafana.get("/api/search", ADMIN)[1] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert grafana.get("/api/search", ADMIN)[1] == []


def test_run_sh_turns_file_variables_into_values(tmp_path: Path) -> None:
    secret = tmp_path / "admin_password"
    secret.write_text("from-a-file")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    # A `grafana` that prints what run.sh handed it.
    (fake_bin / "grafana").write_text('#!/bin/sh\necho "pw=$GF_SECURITY_ADMIN_PASSWORD"\n'
                                      'echo "file=${GF_SECURITY_ADMIN_PASSWORD__FILE:-unset}"\n'
                                      'echo "args=$*"\n')
    (fake_bin / "grafana").chmod(0o755)
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", "GF_PATHS_HOME": str(tmp_path),
           "GF_PATHS_PLUGINS": str(tmp_path / "plugins"),
           "GF_PATHS_CONFIG": "/etc/grafana/grafana.ini",
           "GF_SECURITY_ADMIN_PASSWORD__FILE": str(secret)}
    result = subprocess.run(["sh", str(STANDIN_DIR / "run.sh")], env=env, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "pw=from-a-file" in result.stdout
    assert "file=unset" in result.stdout
    assert "server --homepath=" in result.stdout
    both = subprocess.run(["sh", str(STANDIN_DIR / "run.sh")],
                          env={**env, "GF_SECURITY_ADMIN_PASSWORD": "direct"},
                          capture_output=True, text=True, check=False)
    assert both.returncode == 1
    assert "are exclusive" in both.stderr
