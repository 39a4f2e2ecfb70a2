"""Alloy on a real host beside real Loki and Tempo and the Mimir stand-in: bound where
asked, its config validated, and data really flowing through it from real clients."""

import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from lgtm_molecule import assert_noop_run, container_identity, get, run_playbook, tunnel

CONTAINER = "lgtm-alloy"
CONFIG = "/etc/lgtm/alloy/config.alloy"
RUN_ID = uuid.uuid4().hex[:12]
FARO_CLIENT = Path(__file__).resolve().parents[3] / "tests" / "faro"


@pytest.fixture(scope="module")
def loki_port(host):
    with tunnel("lgtm-alloy", 3100) as port:
        yield port


@pytest.fixture(scope="module")
def tempo_port(host):
    with tunnel("lgtm-alloy", 3200) as port:
        yield port


@pytest.fixture(scope="module")
def mimir_port(host):
    with tunnel("lgtm-alloy", 9009) as port:
        yield port


@pytest.fixture(scope="module")
def alloy_port(host):
    with tunnel("lgtm-alloy", 12345) as port:
        yield port


@pytest.fixture(scope="module")
def otlp_port(host):
    with tunnel("lgtm-alloy", 4318) as port:
        yield port


@pytest.fixture(scope="module")
def otlp_grpc_port(host):
    with tunnel("lgtm-alloy", 4317) as port:
        yield port


@pytest.fixture(scope="module")
def faro_port(host):
    with tunnel("lgtm-alloy", 12347) as port:
        yield port


def loki_lines(port: int, logql: str) -> list[tuple[dict[str, str], str]]:
    status, body = get(port, "/loki/api/v1/query_range", {
        "query": logql, "start": str(int((time.time() - 3600) * 1e9)), "limit": "100"})
    assert status == 200, body[:500]
    return [(stream["stream"], line)
            for stream in json.loads(body)["data"]["result"] for _ts, line in stream["values"]]


def poll_loki(port: int, logql: str, timeout: float = 60) -> list[tuple[dict[str, str], str]]:
    deadline = time.monotonic() + timeout
    while True:
        found = loki_lines(port, logql)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(1)


def test_unit_active_and_started_at_boot(root):
    assert root.run("systemctl is-active lgtm-alloy.service").stdout.strip() == "active"
    assert root.file("/run/systemd/generator/multi-user.target.wants/lgtm-alloy.service").exists


def test_unchanged_run_changes_and_restarts_nothing(root):
    assert_noop_run(root, CONTAINER)


def test_ready_and_published_on_loopback_only(root, alloy_port):
    assert get(alloy_port, "/-/ready")[0] == 200
    ports = json.loads(
        root.run("podman inspect --format '{{json .HostConfig.PortBindings}}' " + CONTAINER).stdout)
    assert ports == {f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
                     for port in (12345, 4317, 4318, 12347)}
    tempo = json.loads(
        root.run("podman inspect --format '{{json .HostConfig.PortBindings}}' lgtm-tempo").stdout)
    assert set(tempo) == {"3200/tcp"}, "Tempo leaves the host's OTLP ports to Alloy"
    address = root.run("ip -4 -o addr show host0").stdout.split()[3].split("/")[0]
    for port in (12345, 4317, 4318, 12347):
        reached = root.run(f"curl -s -m 3 -o /dev/null http://{address}:{port}/")
        assert reached.rc == 7, f"port {port} must not answer on the host's other addresses"


def test_flags_mounts_and_files(root):
    command = json.loads(
        root.run("podman inspect --format '{{json .Config.Cmd}}' " + CONTAINER).stdout)
    assert command[:2] == ["run", "/etc/alloy/config.alloy"]
    assert "--disable-reporting" in command
    assert "--server.http.listen-addr=0.0.0.0:12345" in command
    mounts = {m["Destination"]: m for m in json.loads(
        root.run("podman inspect --format '{{json .Mounts}}' " + CONTAINER).stdout)}
    for path in ("/etc/alloy", "/etc/machine-id", "/run/log/journal"):
        assert path in mounts and not mounts[path]["RW"], f"{path} mounted read-only"
    config = root.file(CONFIG)
    assert (config.user, config.mode) == ("root", 0o644)
    text = config.content_string
    assert 'url = "http://lgtm-loki:3100/loki/api/v1/push"' in text
    assert 'endpoint = "http://lgtm-tempo:4318"' in text
    assert 'url = "http://lgtm-mimir:9009/api/v1/push"' in text


def test_alloy_reads_the_journal_without_label_separation_the_backends_keep_theirs(root):
    """The labels reach Podman as written: quadlet's generated services carry them, and the
    containers run (Podman ignores z/Z on this host, which has no SELinux)."""
    alloy = root.file("/run/systemd/generator/lgtm-alloy.service").content_string
    assert "-v /run/log/journal:/run/log/journal:ro" in alloy and "label=disable" in alloy
    assert not re.search(r"-v \S+[:,][zZ]\b", alloy), "no volume of Alloy's relabelled"
    loki = root.file("/run/systemd/generator/lgtm-loki.service").content_string
    assert re.search(r"-v /etc/lgtm/loki:/etc/loki:ro,Z\s", loki), loki
    assert re.search(r"-v /var/lib/lgtm/loki:/loki:Z\s", loki), loki
    assert "label=disable" not in loki
    assert root.run("systemctl is-active lgtm-loki.service lgtm-alloy.service").rc == 0


def test_preflight_reports_this_host_s_selinux_mode(root):
    result = run_playbook("preflight.yml")
    result.assert_ok()
    # The Debian test hosts have no SELinux: nothing is asked of them.
    assert "can be deployed (SELinux disabled)" in result.output, result.output[-3000:]
    assert result.changed == 0


def test_memory_limit_and_the_limiter_sized_from_it(root):
    """Podman holds the default 1g limit (a test host cannot enforce it: its crun wrapper,
    tests/testhost/files/crun-test-host.py); the limiter has explicit sizes from it."""
    memory = root.run("podman inspect --format '{{.HostConfig.Memory}}' " + CONTAINER)
    assert memory.stdout.strip() == str(1024 ** 3)
    text = root.file(CONFIG).content_string
    assert 'limit          = "819MiB"' in text, "80% of 1 GiB"
    assert 'spike_limit    = "204MiB"' in text
    assert "limit_percentage" not in text


def test_journal_of_a_listed_unit_reaches_loki_and_others_do_not(root, loki_port):
    allowed, denied = f"allowed-{RUN_ID}", f"denied-{RUN_ID}"
    for unit, message in (("lgtm-journal-denied", denied), ("lgtm-journal-allowed", allowed)):
        ran = root.run(f"systemd-run --unit={unit} --collect --wait -- echo {message}")
        assert ran.rc == 0, ran.stderr
    found = poll_loki(loki_port, f'{{service_unit="lgtm-journal-allowed.service"}} |= "{allowed}"')
    assert found, "the listed unit's line never reached Loki"
    labels, line = found[0]
    assert line == allowed
    hostname = root.run("hostname").stdout.strip()
    assert labels["app"] == "lgtm-journal-allowed"
    assert labels["host"] == hostname
    assert loki_lines(loki_port, f'{{job=~".+"}} |= "{denied}"') == [], "unlisted unit shipped"


def test_otlp_log_and_trace_from_the_sdk_reach_loki_and_tempo(otlp_port, loki_port, tempo_port):
    import logging

    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    service = f"lgtm-test-otlp-{RUN_ID}"
    resource = Resource.create({"service.name": service})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=f"http://127.0.0.1:{otlp_port}/v1/traces")))
    with tracer_provider.get_tracer("lgtm.test").start_as_current_span("through alloy") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    tracer_provider.shutdown()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(
        OTLPLogExporter(endpoint=f"http://127.0.0.1:{otlp_port}/v1/logs")))
    logger = logging.getLogger(service)
    handler = LoggingHandler(logger_provider=logger_provider)
    logger.addHandler(handler)
    logger.warning("otlp line %s", RUN_ID)
    logger.removeHandler(handler)
    logger_provider.shutdown()

    found = poll_loki(loki_port, f'{{service_name="{service}"}}')
    assert [line for _labels, line in found] == [f"otlp line {RUN_ID}"]
    assert poll_tempo(tempo_port, trace_id) == {"through alloy"}


def poll_tempo(port: int, trace_id: str, timeout: float = 60) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        status, body = get(port, f"/api/v2/traces/{trace_id}")
        assert status == 200, body[:300]
        names = {s["name"] for batch in json.loads(body)["trace"].get("resourceSpans", [])
                 for scope in batch["scopeSpans"] for s in scope["spans"]}
        if names or time.monotonic() > deadline:
            return names
        time.sleep(0.5)


def test_otlp_grpc_trace_from_the_sdk_reaches_tempo(otlp_grpc_port, tempo_port):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"grpc-{RUN_ID}"}))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=f"127.0.0.1:{otlp_grpc_port}", insecure=True)))
    with provider.get_tracer("lgtm.test").start_as_current_span("through alloy grpc") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    assert poll_tempo(tempo_port, trace_id) == {"through alloy grpc"}


def test_host_metrics_reach_mimir(mimir_port):
    deadline = time.monotonic() + 90
    while True:
        status, body = get(mimir_port, "/prometheus/api/v1/query",
                           {"query": 'node_load1{job="integrations/unix"}'})
        assert status == 200, body[:300]
        result = json.loads(body)["data"]["result"]
        if result or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert result, "host metrics never reached Mimir"


def test_faro_payload_from_faro_core_lands_with_source_label(faro_port, loki_port):
    if not (FARO_CLIENT / "node_modules").is_dir():
        installed = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=FARO_CLIENT,
                                   capture_output=True, text=True, check=False)
        assert installed.returncode == 0, installed.stderr
    app = f"lgtm-test-pwa-{RUN_ID}"
    sent = subprocess.run(
        ["node", "send.mjs", f"http://127.0.0.1:{faro_port}/collect", app, f"faro {RUN_ID}"],
        cwd=FARO_CLIENT, capture_output=True, text=True, check=False)
    assert sent.returncode == 0, sent.stderr
    found = poll_loki(loki_port, f'{{source="pwa-faro", app_name="{app}"}}')
    assert found, "the Faro log never reached Loki"
    labels, line = found[0]
    assert labels["kind"] == "log"
    assert f'message="faro {RUN_ID}"' in line and "kind=log" in line


def test_changed_variable_restarts_alloy_only(root, alloy_port):
    backends = ("lgtm-loki", "lgtm-tempo", "lgtm-mimir")
    others = {name: container_identity(root, name) for name in backends}
    before = container_identity(root, CONTAINER)
    result = run_playbook("alloy.yml", {"alloy_scrape_interval": "30s"})
    result.assert_ok()
    assert container_identity(root, CONTAINER) != before
    assert {name: container_identity(root, name) for name in others} == others
    assert 'scrape_interval = "30s"' in root.file(CONFIG).content_string
    assert get(alloy_port, "/-/ready")[0] == 200
    again = run_playbook("alloy.yml", {"alloy_scrape_interval": "30s"})
    again.assert_ok()
    assert again.changed == 0


def test_invalid_config_extra_fails_and_leaves_alloy(root, alloy_port):
    good = root.file(CONFIG).content_string
    before = container_identity(root, CONTAINER)
    result = run_playbook("alloy.yml", {"alloy_config_extra": 'no.such.component "x" { }'})
    assert result.rc != 0
    assert "no.such.component" in result.output, "Alloy's own message is shown"
    assert root.file(CONFIG).content_string == good
    assert container_identity(root, CONTAINER) == before
    assert get(alloy_port, "/-/ready")[0] == 200


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"alloy_faro_port": 0}, "alloy_faro_port=0 is invalid"),
        ({"alloy_otlp_http_port": 12345}, "must all differ"),
        ({"alloy_journal_units": ["bad unit"]}, "alloy_journal_units="),
        ({"alloy_loki_url": "lgtm-loki:3100"}, "alloy_loki_url=lgtm-loki:3100 is invalid"),
        ({"alloy_memory_limit": ""}, "alloy_memory_limit= is invalid"),
        ({"alloy_memory_limit": "32m"}, "alloy_memory_limit=32m is invalid"),
        ({"alloy_otlp_memory_limit_percentage": 5},
         "alloy_otlp_memory_limit_percentage=5 is invalid"),
    ],
)
def test_bad_input_fails_before_any_change_naming_the_variable(root, bad, named):
    before = container_identity(root, CONTAINER)
    result = run_playbook("alloy.yml", bad)
    assert result.rc != 0
    assert named in result.output
    assert container_identity(root, CONTAINER) == before
