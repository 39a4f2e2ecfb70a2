"""Tempo on a real host: bound where asked, configured as asked, storing traces and
remote-writing the metrics it generates from them to a real Prometheus."""

import json
import re
import time
import uuid

import pytest
import yaml
from lgtm_molecule import assert_noop_run, container_identity, get, run_playbook, tunnel

CONTAINER = "lgtm-tempo"
CONFIG = "/etc/lgtm/tempo/tempo.yaml"
RUN_ID = uuid.uuid4().hex[:12]
CLIENT_SERVICE = f"lgtm-test-frontend-{RUN_ID}"
SERVER_SERVICE = f"lgtm-test-backend-{RUN_ID}"


# The tunnels take testinfra's host so every test is parametrized alike and
# pytest keeps the file's order (the later tests change the running Tempo).
@pytest.fixture(scope="module")
def tempo_port(host):
    with tunnel("lgtm-tempo", 3200) as port:
        yield port


@pytest.fixture(scope="module")
def otlp_port(host):
    with tunnel("lgtm-tempo", 4318) as port:
        yield port


@pytest.fixture(scope="module")
def sink_port(host):
    """The real Prometheus prepare.yml started as the generator's remote-write target."""
    with tunnel("lgtm-tempo", 19090) as port:
        yield port


def send_trace(otlp_port: int, name: str) -> str:
    """A client span in one service calling a server span in another, sent with the
    real OpenTelemetry SDK's OTLP/HTTP exporter. Returns the trace id (hex)."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    providers = []
    for service in (CLIENT_SERVICE, SERVER_SERVICE):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(
            SimpleSpanProcessor(
                OTLPSpanExporter(endpoint=f"http://127.0.0.1:{otlp_port}/v1/traces")
            )
        )
        providers.append(provider)
    client = providers[0].get_tracer("lgtm.test")
    server = providers[1].get_tracer("lgtm.test")
    with client.start_as_current_span(f"{name} call", kind=trace.SpanKind.CLIENT) as span:
        trace_id = span.get_span_context().trace_id
        with server.start_as_current_span(f"{name} handle", kind=trace.SpanKind.SERVER):
            time.sleep(0.01)
    for provider in providers:
        provider.shutdown()
    return format(trace_id, "032x")


def find_trace(port: int, trace_id: str) -> set[str]:
    """Span names of a trace by its id; /api/v2/traces answers 200 with an empty
    trace when it knows none, so the spans are what counts."""
    status, body = get(port, f"/api/v2/traces/{trace_id}")
    assert status == 200, body[:500]
    return {
        span["name"]
        for batch in json.loads(body)["trace"].get("resourceSpans", [])
        for scope in batch["scopeSpans"]
        for span in scope["spans"]
    }


def poll_trace(port: int, trace_id: str, timeout: float = 60) -> set[str]:
    """Tempo 3's live-store makes a trace queryable within seconds; poll with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        names = find_trace(port, trace_id)
        if names or time.monotonic() > deadline:
            return names
        time.sleep(0.5)


def test_unit_active_and_started_at_boot(root):
    assert root.run("systemctl is-active lgtm-tempo.service").stdout.strip() == "active"
    assert root.file("/run/systemd/generator/multi-user.target.wants/lgtm-tempo.service").exists


def test_unchanged_run_changes_and_restarts_nothing(root):
    assert_noop_run(root, CONTAINER)


def test_ready_and_published_on_loopback_only(root, tempo_port):
    assert get(tempo_port, "/ready") == (200, b"ready\n")
    ports = json.loads(
        root.run("podman inspect --format '{{json .HostConfig.PortBindings}}' " + CONTAINER).stdout
    )
    assert ports == {
        f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        for port in (3200, 4317, 4318)
    }
    host_address = root.run("ip -4 -o addr show host0").stdout.split()[3].split("/")[0]
    for port in (3200, 4317, 4318):
        reached = root.run(f"curl -s -m 3 -o /dev/null http://{host_address}:{port}/")
        assert reached.rc == 7, f"port {port} must not answer on the host's other addresses"
    assert root.run("curl -s -m 3 -o /dev/null http://127.0.0.1:4317/").rc != 7, "OTLP gRPC answers"


def test_stop_timeout_fits_a_graceful_shutdown(root):
    stop = root.run("podman inspect --format '{{.Config.StopTimeout}}' " + CONTAINER).stdout.strip()
    assert int(stop) >= 30
    unit = root.run("systemctl show -p TimeoutStopUSec lgtm-tempo.service").stdout.strip()
    assert unit == "TimeoutStopUSec=1min 15s"


def test_files_owners_and_modes(root):
    config = root.file(CONFIG)
    assert (config.user, config.group, config.mode) == ("root", "root", 0o644)
    assert root.file("/etc/lgtm/tempo").mode == 0o755
    data = root.file("/var/lib/lgtm/tempo")
    assert (data.uid, data.mode) == (10001, 0o750)
    for written in ("wal", "live-store", "generator"):
        path = root.file(f"/var/lib/lgtm/tempo/{written}")
        assert path.is_directory and path.uid == 10001, f"Tempo writes {written} as uid 10001"


def test_rendered_config_carries_retention_endpoints_and_paths(root):
    config = yaml.safe_load(root.file(CONFIG).content_string)
    assert config["target"] == "all"
    assert config["backend_worker"]["compaction"]["block_retention"] == "48h"
    protocols = config["distributor"]["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert config["server"]["http_listen_port"] == 3200
    assert config["usage_report"]["reporting_enabled"] is False
    assert "ingester" not in config and "compactor" not in config, "no Tempo 2 blocks"
    paths = [
        config["storage"]["trace"]["wal"]["path"],
        config["storage"]["trace"]["local"]["path"],
        config["live_store"]["wal"]["path"],
        config["live_store"]["shutdown_marker_dir"],
        config["backend_scheduler"]["local_work_path"],
        config["metrics_generator"]["storage"]["path"],
    ]
    assert all(path.startswith("/var/tempo/") for path in paths), paths
    assert config["metrics_generator"]["storage"]["remote_write"] == [
        {"url": "http://metrics-sink:9090/api/v1/write", "send_exemplars": True}
    ]
    processors = config["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert processors == ["service-graphs", "span-metrics"]


def test_the_running_tempo_uses_the_rendered_config(tempo_port):
    """Tempo's own view of its config, not just the file on disk."""
    status, body = get(tempo_port, "/status/config")
    assert status == 200
    # The answer starts with a "GET /status/config" line before the YAML document.
    running = list(yaml.safe_load_all(body))[-1]
    assert running["backend_worker"]["compaction"]["block_retention"] == "48h0m0s"
    assert running["usage_report"]["reporting_enabled"] is False


def test_otlp_trace_from_the_opentelemetry_sdk_is_found_by_id(tempo_port, otlp_port):
    trace_id = send_trace(otlp_port, "first")
    assert poll_trace(tempo_port, trace_id) == {"first call", "first handle"}
    unknown = "0" * 31 + "1"
    assert find_trace(tempo_port, unknown) == set(), "an unknown id has no spans"
    assert get(tempo_port, f"/api/traces/{unknown}")[0] == 404


def query_sink(sink_port: int, promql: str) -> list[dict]:
    status, body = get(sink_port, "/api/v1/query", {"query": promql})
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def poll_sink(sink_port: int, promql: str, timeout: float = 120) -> list[dict]:
    """The generator collects every 15 s and remote-writes in batches."""
    deadline = time.monotonic() + timeout
    while True:
        result = query_sink(sink_port, promql)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(2)


def test_generated_metrics_are_remote_written_with_exemplars(tempo_port, otlp_port, sink_port):
    trace_id = send_trace(otlp_port, "metered")
    assert poll_trace(tempo_port, trace_id)
    calls = poll_sink(sink_port, f'traces_spanmetrics_calls_total{{service="{SERVER_SERVICE}"}}')
    assert calls, "span metrics reached Prometheus through remote write"
    assert {series["metric"]["span_name"] for series in calls} >= {"metered handle"}
    edges = poll_sink(
        sink_port,
        f'traces_service_graph_request_total{{client="{CLIENT_SERVICE}",server="{SERVER_SERVICE}"}}',
    )
    assert edges, "the service graph edge client -> server reached Prometheus"
    now = time.time()
    status, body = get(
        sink_port,
        "/api/v1/query_exemplars",
        {
            "query": f'traces_spanmetrics_latency_bucket{{service="{SERVER_SERVICE}"}}',
            "start": str(now - 3600),
            "end": str(now + 60),
        },
    )
    assert status == 200, body
    # Tempo writes the exemplar's trace id without its leading zeros (seen in CI:
    # sent 0473...ff, exemplar 473...ff): compare the ids as numbers.
    exemplar_ids = {
        int(value, 16)
        for series in json.loads(body)["data"]
        for exemplar in series["exemplars"]
        for value in exemplar["labels"].values()
        if re.fullmatch(r"[0-9a-fA-F]+", value)
    }
    assert int(trace_id, 16) in exemplar_ids, "exemplars carry the trace id (send_exemplars)"


def test_changed_variable_restarts_tempo_only_and_keeps_traces(root, tempo_port, otlp_port):
    kept = send_trace(otlp_port, "before restart")
    assert poll_trace(tempo_port, kept)
    network_before = root.run(
        "systemctl show -p ActiveEnterTimestampMonotonic lgtm-network.service"
    ).stdout
    before = container_identity(root, CONTAINER)
    result = run_playbook("converge.yml", {"tempo_retention_period": "72h"})
    result.assert_ok()
    assert container_identity(root, CONTAINER) != before
    assert (
        root.run("systemctl show -p ActiveEnterTimestampMonotonic lgtm-network.service").stdout
        == network_before
    )
    config = yaml.safe_load(root.file(CONFIG).content_string)
    assert config["backend_worker"]["compaction"]["block_retention"] == "72h"
    assert get(tempo_port, "/ready")[0] == 200
    assert poll_trace(tempo_port, kept) == {"before restart call", "before restart handle"}, (
        "stored traces survive the restart"
    )
    again = run_playbook("converge.yml", {"tempo_retention_period": "72h"})
    again.assert_ok()
    assert again.changed == 0


def test_invalid_config_extra_fails_and_leaves_tempo_and_its_traces(root, tempo_port, otlp_port):
    kept = send_trace(otlp_port, "before bad config")
    assert poll_trace(tempo_port, kept)
    good = root.file(CONFIG).content_string
    before = container_identity(root, CONTAINER)
    result = run_playbook(
        "converge.yml",
        {"tempo_retention_period": "72h", "tempo_config_extra": {"ingester": {"x": 1}}},
    )
    assert result.rc != 0
    assert "field ingester not found" in result.output, "Tempo's own message is shown"
    assert root.file(CONFIG).content_string == good
    assert container_identity(root, CONTAINER) == before
    assert get(tempo_port, "/ready")[0] == 200
    assert find_trace(tempo_port, kept) == {"before bad config call", "before bad config handle"}


def test_config_warning_fails_validation(root):
    """verify exits 1 on any warning: retention below blocklist_poll never goes live."""
    good = root.file(CONFIG).content_string
    before = container_identity(root, CONTAINER)
    result = run_playbook("converge.yml", {"tempo_retention_period": "1m"})
    assert result.rc != 0
    assert "< storage.trace.blocklist_poll" in result.output, "Tempo's warning is shown"
    assert root.file(CONFIG).content_string == good
    assert container_identity(root, CONTAINER) == before


def test_bad_input_fails_before_any_change_naming_the_variable(root):
    before = container_identity(root, CONTAINER)
    good = root.file(CONFIG).content_string
    for bad in ("two days", "2d"):
        result = run_playbook("converge.yml", {"tempo_retention_period": bad})
        assert result.rc != 0
        assert "tempo_retention_period" in result.output
        # The quadlet core's one call never ran: the checks failed first.
        assert "TASK [lgtm.stack.quadlet : Deploy tempo]" not in result.output
    assert root.file(CONFIG).content_string == good
    assert container_identity(root, CONTAINER) == before


def test_otlp_unpublished_when_alloy_owns_the_ports(root, tempo_port):
    """tempo_publish_otlp=false (site.yml on an Alloy host): only HTTP is published."""
    result = run_playbook(
        "converge.yml", {"tempo_retention_period": "72h", "tempo_publish_otlp": False}
    )
    result.assert_ok()
    ports = json.loads(
        root.run("podman inspect --format '{{json .HostConfig.PortBindings}}' " + CONTAINER).stdout
    )
    assert ports == {"3200/tcp": [{"HostIp": "127.0.0.1", "HostPort": "3200"}]}
    assert root.run("curl -s -m 3 -o /dev/null http://127.0.0.1:4318/").rc == 7
    assert get(tempo_port, "/ready")[0] == 200


# --- the image's contract (moved here from the images scenario, which no longer builds
# the Tempo image: a scenario runs only where its images exist) -------------------------


def test_tempo_image_keeps_upstreams_entrypoint_and_verify_flag_trap(root):
    image = "localhost/lgtm-test/tempo:3.0.3"
    if root.run(f"podman image exists {image}").rc != 0:
        pytest.skip(f"{image} is not on this host (upstream images were pulled instead)")
    config = json.loads(root.run(f"podman image inspect {image}").stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/tempo"]
    # Upstream's trap: the bare flag exits 2 ("flag needs an argument").
    assert root.run(f"podman run --rm {image} -config.verify").rc == 2
    version = root.run(f"podman run --rm {image} -version")
    assert version.rc == 0 and "tempo, version v3.0.3" in version.stdout
