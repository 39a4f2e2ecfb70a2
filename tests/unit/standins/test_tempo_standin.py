"""The Tempo contract stand-in (tests/testhost/standins/tempo/tempo.py), in process and as a
process on 127.0.0.1.

The verify flag's trap and CheckConfig's warnings with upstream's exit codes, readiness,
OTLP over HTTP (protobuf and JSON) and gRPC from the real opentelemetry-sdk exporters,
trace by id and search, data directories and traces kept across kill -9, retention, the
metrics generator's remote write (captured by a real HTTP server and decoded), TLS, and
the stop upstream has (clean without queries, stuck after them). The end-to-end check with
the image on a real test host is the tempo Molecule scenario.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
STANDINS = REPO / "tests/testhost/standins"
STANDIN = STANDINS / "tempo/tempo.py"

sys.path.insert(0, str(STANDINS))  # lgtm_standin, as the image installs it
spec = importlib.util.spec_from_file_location("tempo_standin", STANDIN)
assert spec is not None and spec.loader is not None
tempo = importlib.util.module_from_spec(spec)
sys.modules["tempo_standin"] = tempo
spec.loader.exec_module(tempo)

import lgtm_standin as standin_lib  # noqa: E402 - found through the path set above

SCHEMA = tempo.load_schema()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def role_config(data: Path, ports: dict[str, int], extra: dict[str, Any] | None = None,
                remote_write: str = "http://127.0.0.1:1/api/v1/write") -> str:
    """What roles/tempo renders (vars/main.yml tempo_config_base), on test ports and paths."""
    config: dict[str, Any] = {
        "target": "all", "stream_over_http_enabled": True,
        "server": {"http_listen_address": "127.0.0.1", "http_listen_port": ports["http"],
                   "grpc_listen_address": "127.0.0.1", "grpc_listen_port": ports["grpc"],
                   "log_level": "info"},
        "distributor": {"receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": f"127.0.0.1:{ports['otlp_grpc']}"},
            "http": {"endpoint": f"127.0.0.1:{ports['otlp_http']}"}}}}},
        "storage": {"trace": {"backend": "local", "wal": {"path": f"{data}/wal"},
                              "local": {"path": f"{data}/blocks"}}},
        "live_store": {"wal": {"path": f"{data}/live-store/traces"},
                       "shutdown_marker_dir": f"{data}/live-store/shutdown-marker"},
        "backend_scheduler": {"local_work_path": f"{data}/backend-scheduler"},
        "backend_worker": {"backend_scheduler_addr": f"127.0.0.1:{ports['grpc']}",
                           "compaction": {"block_retention": "48h"}},
        "querier": {"frontend_worker": {"frontend_address": f"127.0.0.1:{ports['grpc']}"}},
        "metrics_generator": {"registry": {"collection_interval": "1s"},
                              "storage": {"path": f"{data}/generator/wal", "remote_write": [
                                  {"url": remote_write, "send_exemplars": True}]}},
        "overrides": {"defaults": {"metrics_generator": {
            "processors": ["service-graphs", "span-metrics"]}}},
        "usage_report": {"reporting_enabled": False},
        "memory": {"automemlimit_enabled": False},
    }

    def merge(left: Any, right: Any) -> Any:
        if isinstance(left, dict) and isinstance(right, dict):
            return {**left, **{key: merge(left.get(key), value) for key, value in right.items()}}
        return right
    return yaml.safe_dump(merge(config, extra or {}), sort_keys=False)


def ports_for_test() -> dict[str, int]:
    return {name: free_port() for name in ("http", "grpc", "otlp_grpc", "otlp_http")}


def run_cli(tmp_path: Path, *args: str, text: str | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, str(STANDIN)]
    if text is not None:
        path = tmp_path / "tempo.yaml"
        path.write_text(text)
        argv.append(f"-config.file={path}")
    return subprocess.run([*argv, *args], capture_output=True, text=True, check=False)


# --- the command line -----------------------------------------------------------------

def test_schema_names_its_upstream_source() -> None:
    assert SCHEMA["source"]["ref"] == "v3.0.3"
    assert SCHEMA["root"]["type"] == "app.Config"


def test_verify_valid_config_exits_0_printing_nothing(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "-config.verify=true", text=role_config(tmp_path, ports_for_test()))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_bare_verify_flag_needs_an_argument(tmp_path: Path) -> None:
    """Upstream's trap: the second flag parse knows config.verify as an ignored *string*."""
    alone = run_cli(tmp_path, "-config.verify")
    assert alone.returncode == 2 and "flag needs an argument: -config.verify" in alone.stderr
    result = run_cli(tmp_path, "-config.verify", text=role_config(tmp_path, ports_for_test()))
    assert result.returncode == 2


def test_retention_below_blocklist_poll_is_a_warning_that_fails_verify(tmp_path: Path) -> None:
    text = role_config(tmp_path, ports_for_test(),
                       {"backend_worker": {"compaction": {"block_retention": "1m"}}})
    result = run_cli(tmp_path, "-config.verify=true", text=text)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert 'msg="-- CONFIGURATION WARNINGS --"' in lines[0] and "level=warn" in lines[0]
    assert "backend_worker.compaction.compacted_block_timeout < storage.trace.blocklist_poll" \
        in lines[1]


def test_tempo_2_ingester_block_is_unknown(tmp_path: Path) -> None:
    text = role_config(tmp_path, ports_for_test()) + "ingester:\n  x: 1\n"
    line = text.splitlines().index("ingester:") + 1
    result = run_cli(tmp_path, "-config.verify=true", text=text)
    assert result.returncode == 1
    assert result.stderr.startswith("failed parsing config: failed to parse configFile ")
    assert f"line {line}: field ingester not found in type app.Config" in result.stderr


def test_day_durations_are_a_type_error(tmp_path: Path) -> None:
    text = role_config(tmp_path, ports_for_test(),
                       {"backend_worker": {"compaction": {"block_retention": "2d"}}})
    result = run_cli(tmp_path, "-config.verify=true", text=text)
    assert result.returncode == 1
    assert "cannot unmarshal !!str `2d` into time.Duration" in result.stderr


def test_version(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "-version")
    assert result.returncode == 0 and result.stdout.startswith("tempo, version v3.0.3 ")


def test_unknown_flag_exits_2(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "-no.such.flag=1")
    assert result.returncode == 2 and "flag provided but not defined: -no.such.flag" in \
        result.stderr


def test_receivers_without_an_endpoint_listen_on_localhost(monkeypatch: Any) -> None:
    """The collector's default: a protocol named without an endpoint binds localhost."""
    config, _explicit = standin_lib.decode_config(
        "distributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n"
        "        http:\n", SCHEMA, yaml_v2=True)
    app = tempo.Tempo(config, SCHEMA)
    bound = []

    def fake_listen(address: str, port: int) -> socket.socket:
        bound.append((address, port))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        app.sockets.append(sock)
        return sock
    monkeypatch.setattr(app, "listen", fake_listen)
    app.start_receivers()
    app.stopping.set()
    app.close_listeners()
    assert bound == [("localhost", 4318), ("localhost", 4317)]
    # No receivers at all: upstream's fallback (OTLP gRPC, Jaeger gRPC and thrift_http).
    config, _explicit = standin_lib.decode_config("", SCHEMA, yaml_v2=True)
    app = tempo.Tempo(config, SCHEMA)
    bound.clear()
    monkeypatch.setattr(app, "listen", fake_listen)
    app.start_receivers()
    app.stopping.set()
    app.close_listeners()
    assert sorted(bound) == [("localhost", 4317), ("localhost", 14250), ("localhost", 14268)]


# --- as a process ------------------------------------------------------------------------

class Process:
    def __init__(self, tmp_path: Path, extra: dict[str, Any] | None = None,
                 remote_write: str = "http://127.0.0.1:1/api/v1/write") -> None:
        self.tmp_path = tmp_path
        self.ports = ports_for_test()
        self.data = tmp_path / "data"
        self.config = tmp_path / "tempo.yaml"
        self.config.write_text(role_config(self.data, self.ports, extra, remote_write))
        self.proc: subprocess.Popen[str] | None = None
        self.scheme = "http"
        self.context: ssl.SSLContext | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(STANDIN),
                                      f"-config.file={self.config}"],
                                     stderr=subprocess.PIPE, text=True)

    def request(self, path: str, data: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        url = f"{self.scheme}://127.0.0.1:{self.ports['http']}{path}"
        request = urllib.request.Request(url, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10, context=self.context) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def wait_ready(self) -> list[tuple[int, str]]:
        seen: list[tuple[int, str]] = []
        for _attempt in range(3000):
            try:
                status, body = self.request("/ready")
            except urllib.error.URLError:
                time.sleep(0.01)
                continue
            seen.append((status, body))
            if status == 200:
                return seen
            time.sleep(0.01)
        raise AssertionError(f"never ready: {seen[-3:]}")

    def span_names(self, trace_id: str) -> set[str]:
        status, body = self.request(f"/api/v2/traces/{trace_id}")
        assert status == 200, body
        return {span["name"] for batch in json.loads(body)["trace"].get("resourceSpans", [])
                for scope in batch["scopeSpans"] for span in scope["spans"]}

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@pytest.fixture
def process(tmp_path: Path):  # noqa: ANN201 - fixture factory
    started: list[Process] = []

    def factory(**kwargs: Any) -> Process:
        proc = Process(tmp_path, **kwargs)
        started.append(proc)
        return proc
    yield factory
    for proc in started:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.kill()


def send_trace(proc: Process, name: str, grpc: bool = False) -> str:
    """A client span in one service calling a server span in another, from the real SDK."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    if grpc:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        exporter: Any = OTLPSpanExporter(endpoint=f"127.0.0.1:{proc.ports['otlp_grpc']}",
                                         insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HTTPExporter,
        )
        exporter = HTTPExporter(endpoint=f"http://127.0.0.1:{proc.ports['otlp_http']}/v1/traces")
    providers = []
    for service in (f"{name}-client", f"{name}-server"):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        providers.append(provider)
    client = providers[0].get_tracer("lgtm.test")
    server = providers[1].get_tracer("lgtm.test")
    with client.start_as_current_span(f"{name} call", kind=trace.SpanKind.CLIENT,
                                      attributes={"http.method": "GET"}) as span:
        trace_id = span.get_span_context().trace_id
        with server.start_as_current_span(f"{name} handle", kind=trace.SpanKind.SERVER):
            pass
    for provider in providers:
        provider.force_flush()
    exporter.shutdown()
    return format(trace_id, "032x")


def test_ready_status_config_echo_metrics(process: Any) -> None:
    proc = process()
    proc.start()
    proc.wait_ready()
    assert proc.request("/ready") == (200, "ready\n")
    status, body = proc.request("/status/config")
    assert status == 200 and body.startswith("GET /status/config\n---\n")
    running = list(yaml.safe_load_all(body.split("\n", 1)[1]))[-1]
    assert running["backend_worker"]["compaction"]["block_retention"] == "48h0m0s"
    assert running["usage_report"]["reporting_enabled"] is False
    assert proc.request("/api/echo") == (200, "echo")
    status, body = proc.request("/metrics")
    assert status == 200 and 'tempo_build_info{' in body and 'version="v3.0.3"' in body
    status, body = proc.request("/api/status/buildinfo")
    assert json.loads(body)["version"] == "v3.0.3"
    proc.kill()


def test_not_ready_until_its_modules_run() -> None:
    """/ready follows the modules the target runs, not a timer."""
    config, _explicit = standin_lib.decode_config("", SCHEMA, yaml_v2=True)
    app = tempo.Tempo(config, SCHEMA)
    assert app.modules == tempo.ALL_MODULES
    assert app.ready_problem().startswith("Some services are not Running:")
    app.running.update(app.modules[:-1])
    assert "Starting: 1" in app.ready_problem()
    app.running.add(app.modules[-1])
    assert app.ready_problem() == ""
    app.shutdown_requested.set()
    assert app.ready_problem() == "Application is stopping"


def test_otlp_http_and_grpc_from_the_sdk_found_by_id_and_search(process: Any) -> None:
    proc = process()
    proc.start()
    proc.wait_ready()
    over_http = send_trace(proc, "web")
    over_grpc = send_trace(proc, "rpc", grpc=True)
    assert proc.span_names(over_http) == {"web call", "web handle"}
    assert proc.span_names(over_grpc) == {"rpc call", "rpc handle"}
    unknown = "0" * 31 + "1"
    assert proc.request(f"/api/v2/traces/{unknown}") == (200, '{"trace": {}, "metrics": {}}')
    assert proc.request(f"/api/traces/{unknown}")[0] == 404
    status, body = proc.request(f"/api/traces/{over_http}")
    assert status == 200 and json.loads(body)["batches"]
    query = urllib.parse.quote('{ resource.service.name = "rpc-server" }')
    found = json.loads(proc.request(f"/api/search?q={query}")[1])["traces"]
    assert [int(item["traceID"], 16) for item in found] == [int(over_grpc, 16)]
    tags = urllib.parse.quote("service.name=web-client")
    found = json.loads(proc.request(f"/api/search?tags={tags}")[1])["traces"]
    assert [item["rootServiceName"] for item in found] == ["web-client"]
    attr = urllib.parse.quote('{ .http.method = "GET" }')
    assert len(json.loads(proc.request(f"/api/search?q={attr}")[1])["traces"]) == 2
    everything = json.loads(proc.request("/api/search?q=%7B%7D")[1])["traces"]
    assert len(everything) == 2
    values = json.loads(proc.request("/api/search/tag/service.name/values")[1])
    assert values["tagValues"] == ["rpc-client", "rpc-server", "web-client", "web-server"]
    assert "service.name" in json.loads(proc.request("/api/search/tags")[1])["tagNames"]
    scopes = json.loads(proc.request("/api/v2/search/tags")[1])["scopes"]
    assert "http.method" in next(s["tags"] for s in scopes if s["name"] == "span")
    status, body = proc.request("/metrics")
    assert 'tempo_distributor_spans_received_total{tenant="single-tenant"} 4' in body
    proc.kill()


def test_otlp_json_body_and_bad_bodies(process: Any) -> None:
    proc = process()
    proc.start()
    proc.wait_ready()
    trace_id = "00" * 15 + "7f"
    body = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeSpans": [{"scope": {"name": "x"}, "spans": [{
            "traceId": trace_id, "spanId": "0102030405060708", "name": "json span",
            "kind": 2, "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]}
    url = f"http://127.0.0.1:{proc.ports['otlp_http']}/v1/traces"
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert (answer.status, answer.read()) == (200, b"{}")
    assert proc.span_names(trace_id) == {"json span"}
    assert proc.span_names("7f") == {"json span"}, "ids are left-padded to 128 bits"
    request = urllib.request.Request(url, b"x", {"Content-Type": "text/plain"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 415
    proc.kill()


def test_data_dirs_and_traces_survive_kill_9(process: Any) -> None:
    proc = process()
    proc.start()
    proc.wait_ready()
    trace_id = send_trace(proc, "kept")
    for written in ("wal", "blocks", "live-store/traces", "live-store/shutdown-marker",
                    "generator/wal", "backend-scheduler"):
        assert (proc.data / written).is_dir(), written
    proc.kill()
    proc.start()
    proc.wait_ready()
    assert proc.span_names(trace_id) == {"kept call", "kept handle"}
    proc.kill()


def test_sigterm_without_queries_stops_cleanly(process: Any) -> None:
    proc = process()
    proc.start()
    proc.wait_ready()
    send_trace(proc, "unqueried")
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait() == 0
    assert proc.proc.stderr is not None
    assert "Tempo stopped" in proc.proc.stderr.read()
    proc.proc.stderr.close()


def test_sigterm_after_queries_waits_as_upstream_does(process: Any) -> None:
    """grafana/tempo#7967: after queries, SIGTERM leaves the process waiting; the stop
    timeout's kill ends it. The test sees the wait begin, then kills as Podman would."""
    proc = process()
    proc.start()
    proc.wait_ready()
    proc.span_names("0" * 31 + "2")
    assert proc.proc is not None and proc.proc.stderr is not None
    proc.proc.send_signal(signal.SIGTERM)
    for line in proc.proc.stderr:
        if "waiting for the backend scheduler" in line:
            break
    assert proc.proc.poll() is None, "still running after SIGTERM"
    assert proc.request("/ready") == (503, "Application is stopping\n")
    proc.kill()


def test_multitenancy_wants_an_org_id(process: Any) -> None:
    proc = process(extra={"multitenancy_enabled": True})
    proc.start()
    proc.wait_ready()
    assert proc.request("/api/v2/traces/" + "1" * 32)[0] == 401
    status, body = proc.request("/api/v2/traces/" + "1" * 32, headers={"X-Scope-OrgID": "a"})
    assert (status, json.loads(body)) == (200, {"trace": {}, "metrics": {}})
    proc.kill()


def test_tls_for_http_and_otlp(process: Any, tmp_path: Path) -> None:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key", "-out",
                    "server.crt", "-days", "2", "-subj", "/CN=tempo.test", "-addext",
                    "subjectAltName=IP:127.0.0.1"], cwd=tmp_path, check=True,
                   capture_output=True)
    tls = {"cert_file": str(tmp_path / "server.crt"), "key_file": str(tmp_path / "server.key")}
    proc = process(extra={"server": {"http_tls_config": tls}, "distributor": {"receivers": {
        "otlp": {"protocols": {"http": {"tls": tls}}}}}})
    proc.scheme = "https"
    proc.context = ssl.create_default_context(cafile=str(tmp_path / "server.crt"))
    proc.start()
    proc.wait_ready()
    trace_id = "5e" * 16
    body = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [
        {"traceId": trace_id, "spanId": "01" * 8, "name": "secure", "kind": 1,
         "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]}
    request = urllib.request.Request(
        f"https://127.0.0.1:{proc.ports['otlp_http']}/v1/traces", json.dumps(body).encode(),
        {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10, context=proc.context) as answer:
        assert answer.status == 200
    assert proc.span_names(trace_id) == {"secure"}
    proc.kill()


# --- retention and the metrics generator -------------------------------------------------

def test_retention_drops_old_traces_and_rewrites_the_wal(tmp_path: Path) -> None:
    store = tempo.Store(str(tmp_path))
    store.load()
    store.write("single-tenant", {"a" * 32: [{"resource": {"attributes": []},
                                              "scopeSpans": []}]})
    store.tenants["single-tenant"]["a" * 32].received -= 3 * 3600 * 10**9
    store.write("single-tenant", {"b" * 32: [{"resource": {"attributes": []},
                                              "scopeSpans": []}]})
    assert store.drop_older_than({}, 3600 * 10**9) == 1
    store.close()
    again = tempo.Store(str(tmp_path))
    again.load()
    assert list(again.tenants["single-tenant"]) == ["b" * 32]
    again.close()


def decode_write_request(body: bytes) -> list[dict[str, Any]]:
    data = standin_lib.snappy_decompress(body, 1 << 30)
    buf = memoryview(data)
    series = []
    for _number, _wire, span in standin_lib.proto_fields(buf, 0, len(buf)):
        item: dict[str, Any] = {"labels": {}, "samples": [], "exemplars": []}
        for field, _fwire, value in standin_lib.proto_fields(buf, span[0], span[1]):
            if field == 1:
                pair = [standin_lib.proto_string(buf, v) for _f, _w, v in
                        standin_lib.proto_fields(buf, value[0], value[1])]
                item["labels"][pair[0]] = pair[1]
            elif field == 2:
                parts = dict((f, v) for f, _w, v in
                             standin_lib.proto_fields(buf, value[0], value[1]))
                item["samples"].append(standin_lib.proto_double(parts[1]))
            elif field == 3:
                labels = {}
                amount = 0.0
                for efield, _ewire, evalue in standin_lib.proto_fields(buf, value[0], value[1]):
                    if efield == 1:
                        pair = [standin_lib.proto_string(buf, v) for _f, _w, v in
                                standin_lib.proto_fields(buf, evalue[0], evalue[1])]
                        labels[pair[0]] = pair[1]
                    elif efield == 2:
                        amount = standin_lib.proto_double(evalue)
                item["exemplars"].append((labels, amount))
        series.append(item)
    return series


class Sink(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    arrived = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Sink.received.append((dict(self.headers), body))
        Sink.arrived.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - upstream signature
        pass


def test_generator_remote_writes_span_metrics_service_graph_and_exemplars(
        process: Any) -> None:
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{sink.server_address[1]}/api/v1/write"
    proc = process(remote_write=url, extra={"metrics_generator": {"storage": {"remote_write": [
        {"url": url, "send_exemplars": True, "headers": {"X-Test": "yes"}}]}}})
    proc.start()
    proc.wait_ready()
    trace_id = send_trace(proc, "metered")
    series: list[dict[str, Any]] = []
    while True:
        Sink.arrived.wait()
        Sink.arrived.clear()
        headers, body = Sink.received[-1]
        series = decode_write_request(body)
        names = {item["labels"]["__name__"] for item in series}
        if {"traces_service_graph_request_total", "traces_spanmetrics_calls_total"} <= names:
            break
    assert headers["Content-Encoding"] == "snappy" and headers["X-Test"] == "yes"
    assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    calls = [item for item in series if item["labels"]["__name__"] ==
             "traces_spanmetrics_calls_total" and item["labels"]["service"] == "metered-server"]
    assert calls[0]["labels"] == {"__name__": "traces_spanmetrics_calls_total",
                                  "service": "metered-server", "span_name": "metered handle",
                                  "span_kind": "SPAN_KIND_SERVER",
                                  "status_code": "STATUS_CODE_UNSET"}
    edge = [item for item in series
            if item["labels"]["__name__"] == "traces_service_graph_request_total"]
    assert edge[0]["labels"]["client"] == "metered-client"
    assert edge[0]["labels"]["server"] == "metered-server" and edge[0]["samples"] == [1.0]
    exemplar_ids = {labels["trace_id"] for item in series for labels, _v in item["exemplars"]
                    if item["labels"]["__name__"] == "traces_spanmetrics_latency_bucket"}
    assert trace_id.lstrip("0") in exemplar_ids
    proc.kill()
    sink.shutdown()


def test_exemplar_trace_ids_lose_their_leading_zeros() -> None:
    config, _explicit = standin_lib.decode_config(
        "overrides:\n  defaults:\n    metrics_generator:\n      processors: [span-metrics]\n",
        SCHEMA, yaml_v2=True)
    app = tempo.Tempo(config, SCHEMA)
    trace_id = "0004" + "ab" * 14
    span = {"traceId": trace_id, "spanId": "01" * 8, "parentSpanId": "", "name": "s",
            "kind": 2, "startTimeUnixNano": 0, "endTimeUnixNano": 5 * 10**6,
            "attributes": [], "status": {}}
    app.generator.push("single-tenant", {trace_id: [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"scope": {}, "spans": [span]}]}]})
    series = decode_write_request(standin_lib.snappy_compress(
        app.generator.write_request(send_exemplars=True)))
    buckets = [item for item in series
               if item["labels"]["__name__"] == "traces_spanmetrics_latency_bucket"]
    with_exemplar = [item for item in buckets if item["exemplars"]]
    assert [item["labels"]["le"] for item in with_exemplar] == ["0.008"]
    assert with_exemplar[0]["exemplars"] == [({"trace_id": "4" + "ab" * 14}, 0.005)]
    plain = decode_write_request(standin_lib.snappy_compress(
        app.generator.write_request(send_exemplars=False)))
    assert not any(item["exemplars"] for item in plain)


def test_health_flag_asks_the_ready_endpoint(process: Any, tmp_path: Path) -> None:
    proc = process()
    url = f"-health.url=http://127.0.0.1:{proc.ports['http']}/ready"
    assert run_cli(tmp_path, "-health", url).returncode == 1, "nothing listens yet"
    proc.start()
    proc.wait_ready()
    assert run_cli(tmp_path, "-health", url).returncode == 0
    proc.kill()


def test_expand_env_only_when_asked(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("LGTM_TEST_RETENTION", "1m")
    text = role_config(tmp_path, ports_for_test(), {"backend_worker": {"compaction": {
        "block_retention": "${LGTM_TEST_RETENTION}"}}})
    plain = run_cli(tmp_path, "-config.verify=true", text=text)
    assert plain.returncode == 1 and "into time.Duration" in plain.stderr
    expanded = run_cli(tmp_path, "-config.verify=true", "-config.expand-env=true", text=text)
    assert expanded.returncode == 1 and "< storage.trace.blocklist_poll" in expanded.stderr


def test_target_flag_selects_the_modules(tmp_path: Path) -> None:
    config, _explicit = standin_lib.decode_config("target: querier\n", SCHEMA, yaml_v2=True)
    assert tempo.Tempo(config, SCHEMA).modules == ["server", "overrides", "querier"]
    result = run_cli(tmp_path, "-target=nonsense", text=role_config(tmp_path, ports_for_test()))
    assert result.returncode == 1 and "unrecognised module name: nonsense" in result.stderr
