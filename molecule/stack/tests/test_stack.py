"""The whole stack from site.yml on one host: wired from the inventory, end to end.

Traffic comes from real clients (the OpenTelemetry SDK, sentry-sdk) and is read
back the way an operator would: through Grafana's datasource proxy.
"""

import base64
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from lgtm_molecule import TEMPO_HEALTH_SOURCE, container_identity, poll, run_playbook, tunnel

INSTANCE = "lgtm-stack"
RUN_ID = uuid.uuid4().hex[:12]
CONTAINERS = [
    "lgtm-loki", "lgtm-tempo", "lgtm-mimir", "lgtm-prometheus", "lgtm-alloy", "lgtm-grafana",
    "lgtm-glitchtip-postgres", "lgtm-glitchtip-valkey", "lgtm-glitchtip-web",
    "lgtm-glitchtip-worker",
]
SECRET_FILES = [
    "/etc/lgtm/grafana/secrets/admin_password",
    "/etc/lgtm/glitchtip/secrets/admin_password",
    "/etc/lgtm/glitchtip/secrets/postgres_password",
    "/etc/lgtm/glitchtip/secrets/secret_key",
]


@pytest.fixture(scope="module")
def secrets(host):
    with host.sudo():
        return {path: host.file(path).content_string for path in SECRET_FILES}


@pytest.fixture(scope="module")
def grafana(secrets):
    password = secrets["/etc/lgtm/grafana/secrets/admin_password"]
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    with tunnel(INSTANCE, 3000) as port:

        def call(path: str, params: dict[str, str] | None = None) -> tuple[int, object]:
            url = f"http://127.0.0.1:{port}{path}"
            if params:
                url += "?" + urllib.parse.urlencode(params)
            request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
            try:
                with urllib.request.urlopen(request, timeout=15) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                return error.code, error.read()[:500]

        yield call


def summary() -> dict:
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "summary.yml"
    return yaml.safe_load(path.read_text())


def test_every_service_runs_and_starts_at_boot(root):
    for container in CONTAINERS:
        unit = f"{container}.service"
        assert root.run(f"systemctl is-active {unit}").stdout.strip() == "active", unit
        assert root.file(f"/run/systemd/generator/multi-user.target.wants/{unit}").exists, unit


def test_an_unchanged_run_changes_and_restarts_nothing(root):
    before = {name: container_identity(root, name) for name in CONTAINERS}
    result = run_playbook("converge.yml")
    result.assert_ok()
    assert result.changed == 0, result.output[-4000:]
    assert {name: container_identity(root, name) for name in CONTAINERS} == before


def test_check_mode_reports_nothing_and_prints_no_secret(secrets):
    result = run_playbook("converge.yml", check=True, verbosity=2)
    result.assert_ok()
    assert result.changed == 0, result.output[-4000:]
    leaked = [path for path, value in secrets.items() if value and value in result.output]
    assert leaked == []


def test_every_port_is_published_on_loopback_only(root):
    # Podman's DNS server (aardvark-dns) answers containers on the network's gateway.
    network = json.loads(root.run("podman network inspect lgtm").stdout)[0]
    gateways = {subnet["gateway"] for subnet in network["subnets"]}
    listening = root.run("ss -Hltn | awk '{print $4}'").stdout.split()
    public = [item for item in listening
              if not item.startswith(("127.", "[::1]")) and not item.endswith(":22")
              and item not in {f"{gateway}:53" for gateway in gateways}]
    assert public == []


def test_summary_names_urls_dsns_and_secret_files_but_no_secret(secrets):
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "summary.yml"
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert not [value for value in secrets.values() if value and value in text]
    host = summary()[INSTANCE]
    assert host["urls"]["grafana"] == "http://127.0.0.1:3000/"
    assert host["application_endpoints"]["otlp_http"] == "http://127.0.0.1:4318"
    assert set(host["glitchtip_dsns"]) == {"be-platform", "be-pwa"}
    assert host["secrets"]["grafana admin password (user admin)"] == SECRET_FILES[0]


def test_grafana_sees_every_backend_and_defaults_to_mimir(grafana):
    status, datasources = grafana("/api/datasources")
    assert status == 200, datasources
    by_uid = {ds["uid"]: ds for ds in datasources}
    assert set(by_uid) >= {"lgtm-loki", "lgtm-tempo", "lgtm-mimir", "lgtm-prometheus"}
    assert [uid for uid, ds in by_uid.items() if ds["isDefault"]] == ["lgtm-mimir"]
    for uid in ("lgtm-loki", "lgtm-tempo", "lgtm-mimir", "lgtm-prometheus"):
        status, health = grafana(f"/api/datasources/uid/{uid}/health")
        assert status == 200 and health["status"] == "OK", (
            uid, health, TEMPO_HEALTH_SOURCE if uid == "lgtm-tempo" else "")


def test_otlp_trace_and_log_sent_to_alloy_are_found_through_grafana(grafana):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    service = f"stack-e2e-{RUN_ID}"
    resource = Resource.create({"service.name": service})
    with tunnel(INSTANCE, 4318) as otlp_port:
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=f"http://127.0.0.1:{otlp_port}/v1/traces")))
        tracer = tracer_provider.get_tracer("lgtm.stack.test")
        with tracer.start_as_current_span("checkout") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
        tracer_provider.shutdown()
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(
            OTLPLogExporter(endpoint=f"http://127.0.0.1:{otlp_port}/v1/logs")))
        logger = logging.getLogger(service)
        handler = LoggingHandler(logger_provider=logger_provider)
        logger.addHandler(handler)
        logger.warning("stack e2e line %s", RUN_ID)
        logger.removeHandler(handler)
        logger_provider.shutdown()

    def trace_spans():
        status, body = grafana(f"/api/datasources/proxy/uid/lgtm-tempo/api/v2/traces/{trace_id}")
        if status != 200:
            return set()
        return {s["name"] for batch in body["trace"].get("resourceSpans", [])
                for scope in batch["scopeSpans"] for s in scope["spans"]}

    assert poll(trace_spans) == {"checkout"}

    def log_lines():
        now = time.time_ns()
        status, body = grafana("/api/datasources/proxy/uid/lgtm-loki/loki/api/v1/query_range", {
            "query": f'{{service_name="{service}"}}', "start": str(now - 3_600_000_000_000),
            "end": str(now + 60_000_000_000)})
        if status != 200:
            return []
        return [line for stream in body["data"]["result"] for _ts, line in stream["values"]]

    assert poll(log_lines) == [f"stack e2e line {RUN_ID}"]


def test_metrics_remote_written_to_mimir_are_queryable_from_grafana(grafana):
    """Prometheus scrapes the stack from the inventory and remote-writes to Mimir."""

    expected = {"prometheus", "loki", "tempo", "mimir", "grafana", "alloy"}

    def jobs_up():
        status, body = grafana("/api/datasources/proxy/uid/lgtm-mimir/api/v1/query",
                               {"query": "up"})
        if status != 200:
            return set()
        found = {item["metric"]["job"] for item in body["data"]["result"]
                 if item["value"][1] == "1"}
        return found if found >= expected else set()

    assert poll(jobs_up, timeout=120) >= expected


def test_a_glitchtip_event_is_accepted_with_a_dsn_from_the_summary():
    import sentry_sdk
    from sentry_sdk.envelope import Envelope

    dsn = urllib.parse.urlsplit(summary()[INSTANCE]["glitchtip_dsns"]["be-platform"])
    project_id = dsn.path.strip("/")
    envelope = Envelope(headers={"event_id": uuid.uuid4().hex})
    envelope.add_event({"message": f"stack e2e event {RUN_ID}", "level": "error",
                        "platform": "python", "sdk": {"name": "sentry.python",
                                                      "version": sentry_sdk.VERSION}})
    with tunnel(INSTANCE, 8200) as port:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/{project_id}/envelope/", data=envelope.serialize(),
            headers={"Content-Type": "application/x-sentry-envelope",
                     "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={dsn.username}, "
                                      f"sentry_client=sentry.python/{sentry_sdk.VERSION}"})
        with urllib.request.urlopen(request, timeout=15) as response:
            assert response.status == 200
            assert json.loads(response.read())["id"]
