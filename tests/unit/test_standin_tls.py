"""Server and client TLS in the contract stand-ins (tests/testhost/standins), on 127.0.0.1.

A throwaway CA (and a second, unrelated one) made with openssl signs a server certificate
for DNS:backend.test and IP:127.0.0.1. The Mimir stand-in serves HTTPS with it
(server.http_tls_config, dskit's keys); the Grafana stand-in's datasource health checks and
proxy, and the Alloy stand-in's loki.write, prometheus.remote_write and
otelcol.exporter.otlphttp, verify it with the CA and server name they are given, as
upstream's Go clients do. The stand-ins' own tests (tests/unit/standins) keep their
fixtures inside their modules, so the few helpers they need are repeated here.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
STANDINS = REPO / "tests/testhost/standins"


def load_standin(name: str) -> ModuleType:
    """The stand-in program as a module, shared with tests/unit/standins if loaded there."""
    module_name = f"{name}_standin"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, STANDINS / name / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


mimir = load_standin("mimir")
grafana = load_standin("grafana")
alloy = load_standin("alloy")
MIMIR_SCHEMA = mimir.load_schema()
ALLOY_SCHEMA = alloy.load_schema()


# --- a throwaway PKI ------------------------------------------------------------------

@dataclass
class Pki:
    ca: Path
    other_ca: Path
    cert: Path
    key: Path

    @property
    def ca_pem(self) -> str:
        return self.ca.read_text()


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
            "-subj", f"/CN=lgtm {name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    make_ca(directory, "ca")
    make_ca(directory, "other-ca")
    (directory / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:backend.test,IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=backend.test",
            cwd=directory)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.crt",
            cwd=directory)
    return Pki(directory / "ca.crt", directory / "other-ca.crt", directory / "server.crt",
               directory / "server.key")


def client_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


# --- Mimir: server TLS ------------------------------------------------------------------

def mimir_config(pki: Pki, port: int = 0, key_file: str = "") -> str:
    return (
        "multitenancy_enabled: false\n"
        "ingester: {ring: {replication_factor: 1, min_ready_duration: 0s}}\n"
        "usage_stats: {enabled: false}\n"
        "memberlist: {bind_port: 0, bind_addr: [127.0.0.1]}\n"
        f"server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {port}\n"
        "  grpc_listen_address: 127.0.0.1\n  grpc_listen_port: 0\n"
        "  http_tls_config:\n"
        f"    cert_file: {pki.cert}\n    key_file: {key_file or pki.key}\n")


@pytest.fixture
def https_mimir(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The Mimir stand-in serving HTTPS; yields its base URL (https://127.0.0.1:port)."""
    monkeypatch.chdir(tmp_path)  # the relative default data paths land here
    config, explicit = mimir.decode_config(mimir_config(pki), MIMIR_SCHEMA)
    mimir.inherit_common(config, explicit, MIMIR_SCHEMA)
    mimir.validate_config(config)
    app = mimir.Mimir(config, explicit, MIMIR_SCHEMA, "hash")
    app.start()
    try:
        yield f"https://127.0.0.1:{app.http_port}"
    finally:
        app.stop()


def test_mimir_schema_takes_dskits_server_tls_keys(pki: Pki) -> None:
    config, _explicit = mimir.decode_config(mimir_config(pki), MIMIR_SCHEMA)
    assert config["server"]["http_tls_config"]["cert_file"] == str(pki.cert)
    assert config["server"]["http_tls_config"]["key_file"] == str(pki.key)
    with pytest.raises(mimir.ConfigError, match="field ca_file not found"):
        mimir.decode_config("server:\n  http_tls_config:\n    ca_file: /x\n", MIMIR_SCHEMA)


def test_mimir_serves_https_only(https_mimir: str, pki: Pki) -> None:
    with urllib.request.urlopen(https_mimir + "/ready", timeout=10,
                                context=client_context(pki.ca)) as response:
        assert (response.status, response.read()) == (200, b"ready\n")
    # By name, with the name checked against the certificate.
    context = client_context(pki.ca)
    port = int(https_mimir.rsplit(":", 1)[1])
    with context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                             server_hostname="backend.test") as conn:
        assert conn.version() in ("TLSv1.2", "TLSv1.3")
    # Plain HTTP on the TLS port: Go's net/http answer.
    plain = "http://" + https_mimir.removeprefix("https://") + "/ready"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(plain, timeout=10)
    assert refused.value.code == 400
    assert refused.value.read() == b"Client sent an HTTP request to an HTTPS server.\n"
    # A client trusting another CA does not get through.
    with pytest.raises(urllib.error.URLError) as untrusted:
        urllib.request.urlopen(https_mimir + "/ready", timeout=10,
                               context=client_context(pki.other_ca))
    assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)


def test_mimir_tls_with_curl(https_mimir: str, pki: Pki) -> None:
    port = https_mimir.rsplit(":", 1)[1]
    ok = subprocess.run(["curl", "-sS", "--cacert", str(pki.ca), "--resolve",
                         f"backend.test:{port}:127.0.0.1", f"https://backend.test:{port}/ready"],
                        capture_output=True, text=True, check=False, timeout=30)
    assert (ok.returncode, ok.stdout) == (0, "ready\n")
    wrong_name = subprocess.run(["curl", "-sS", "--cacert", str(pki.ca), "--resolve",
                                 f"other.test:{port}:127.0.0.1", f"https://other.test:{port}/ready"],
                                capture_output=True, text=True, check=False, timeout=30)
    assert wrong_name.returncode == 60, wrong_name.stderr


@pytest.mark.parametrize("missing", ["key_file", "cert_file"])
def test_mimir_unreadable_tls_file_fails_startup_naming_the_key(
        pki: Pki, tmp_path: Path, missing: str) -> None:
    config = mimir_config(pki)
    if missing == "key_file":
        config = config.replace(str(pki.key), str(tmp_path / "absent.key"))
    else:
        config = config.replace(str(pki.cert), str(tmp_path / "absent.crt"))
    (tmp_path / "mimir.yaml").write_text(config)
    result = subprocess.run([sys.executable, str(STANDINS / "mimir/mimir.py"),
                             "-config.file=mimir.yaml"], cwd=tmp_path, capture_output=True,
                            text=True, check=False, timeout=30,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert f"config=server.http_tls_config.{missing}" in result.stderr
    assert f"error generating http tls config: failed to read {missing} (" in result.stderr
    assert "no such file or directory" in result.stderr


def test_mimir_client_auth_follows_exporter_toolkit(pki: Pki) -> None:
    base = {"cert_file": str(pki.cert), "key_file": str(pki.key), "cert": "", "key": "",
            "client_ca": "", "client_ca_file": "", "client_auth_type": ""}
    assert mimir.server_tls_context({**base, "cert_file": ""}) is None, "plain HTTP"
    assert mimir.server_tls_context(base).verify_mode == ssl.CERT_NONE
    inline = {**base, "cert_file": "", "key_file": "", "cert": pki.cert.read_text(),
              "key": pki.key.read_text()}
    assert mimir.server_tls_context(inline) is not None
    required = mimir.server_tls_context({**base, "client_ca_file": str(pki.ca),
                                         "client_auth_type": "RequireAndVerifyClientCert"})
    assert required.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(mimir.ConfigError, match="invalid ClientAuth: Sometimes"):
        mimir.server_tls_context({**base, "client_auth_type": "Sometimes"})
    with pytest.raises(mimir.ConfigError, match="without a Client Auth Policy"):
        mimir.server_tls_context({**base, "client_ca_file": str(pki.ca)})
    with pytest.raises(mimir.ConfigError, match="private key does not match public key"):
        mimir.server_tls_context({**base, "cert_file": str(pki.ca)})


# --- Grafana: datasource TLS --------------------------------------------------------------

def provision(tmp_path: Path, datasources: list[dict[str, Any]]) -> Any:
    store = grafana.Store(tmp_path / "grafana.db")
    store.migrate()
    directory = tmp_path / "datasources"
    directory.mkdir(exist_ok=True)
    (directory / "lgtm.yaml").write_text(json.dumps({"apiVersion": 1,
                                                     "datasources": datasources}))
    grafana.provision_datasources(store, directory)
    return store


def mimir_datasource(url: str, json_data: dict[str, Any],
                     secure: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": "Mimir", "type": "prometheus", "uid": "lgtm-mimir",
            "url": url + "/prometheus", "jsonData": json_data, "secureJsonData": secure or {}}


def health(store: Any) -> tuple[bool, str]:
    row = store.one("SELECT * FROM data_source WHERE uid = 'lgtm-mimir'")
    return grafana.check_health(store, row)


@pytest.mark.parametrize(("json_data", "with_ca"), [
    ({"tlsAuthWithCACert": True, "serverName": "backend.test"}, True),
    ({"tlsAuthWithCACert": True, "serverName": "127.0.0.1"}, True),
    ({"tlsAuthWithCACert": True}, True),  # the URL's host, an IP SAN
    ({"tlsSkipVerify": True}, False),
], ids=["name", "ip-name", "url-host", "skip-verify"])
def test_grafana_health_over_https_with_the_right_ca_and_name(
        https_mimir: str, pki: Pki, tmp_path: Path, json_data: dict[str, Any],
        with_ca: bool) -> None:
    secure = {"tlsCACert": pki.ca_pem} if with_ca else {}
    store = provision(tmp_path, [mimir_datasource(https_mimir, json_data, secure)])
    assert health(store) == (True, "Successfully queried the Prometheus API.")


@pytest.mark.parametrize(("json_data", "ca", "message"), [
    ({"tlsAuthWithCACert": True, "serverName": "other.test"}, "ca",
     "tls: failed to verify certificate: x509: certificate is not valid for other.test"),
    ({"serverName": "backend.test"}, "ca",  # the CA is only used with tlsAuthWithCACert
     "tls: failed to verify certificate: x509: certificate signed by unknown authority"),
    ({}, "", "tls: failed to verify certificate: x509: certificate signed by unknown authority"),
    ({"tlsAuthWithCACert": True, "serverName": "backend.test"}, "other",
     "tls: failed to verify certificate: x509: certificate signed by unknown authority"),
    ({"tlsAuthWithCACert": True}, "garbage", "failed to parse TLS CA PEM certificate"),
], ids=["wrong-name", "ca-without-flag", "system-store", "other-ca", "bad-pem"])
def test_grafana_health_fails_like_grafana_on_a_bad_ca_or_name(
        https_mimir: str, pki: Pki, tmp_path: Path, json_data: dict[str, Any], ca: str,
        message: str) -> None:
    pem = {"ca": pki.ca_pem, "other": pki.other_ca.read_text(), "garbage": "not a PEM",
           "": None}[ca]
    secure = {"tlsCACert": pem} if pem is not None else {}
    store = provision(tmp_path, [mimir_datasource(https_mimir, json_data, secure)])
    ok, text = health(store)
    assert not ok
    assert message in text, text
    if "x509" in message:
        assert text.startswith(f'Post "{https_mimir}/prometheus/api/v1/query": ')


def test_grafana_proxy_uses_the_datasource_tls(https_mimir: str, pki: Pki, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "conf").mkdir(parents=True)
    (home / "conf/defaults.json").write_text((STANDINS / "grafana/defaults.json").read_text())
    provisioning = tmp_path / "provisioning"
    (provisioning / "datasources").mkdir(parents=True)
    datasources = [
        {**mimir_datasource(https_mimir, {"tlsAuthWithCACert": True,
                                          "serverName": "backend.test"},
                            {"tlsCACert": pki.ca_pem}), "uid": "good", "name": "good"},
        {**mimir_datasource(https_mimir, {"tlsAuthWithCACert": True,
                                          "serverName": "other.test"},
                            {"tlsCACert": pki.ca_pem}), "uid": "bad", "name": "bad"},
    ]
    (provisioning / "datasources/lgtm.yaml").write_text(
        json.dumps({"apiVersion": 1, "datasources": datasources}))
    port = free_port()
    (tmp_path / "grafana.ini").write_text(f"[server]\nhttp_addr = 127.0.0.1\n"
                                          f"http_port = {port}\n")
    monkeypatch.delenv("GF_SECURITY_ADMIN_PASSWORD", raising=False)
    stop = threading.Event()
    server = threading.Thread(target=grafana.serve, daemon=True, args=([
        f"--homepath={home}", f"--config={tmp_path / 'grafana.ini'}",
        f"cfg:default.paths.data={tmp_path / 'data'}",
        f"cfg:default.paths.provisioning={provisioning}"], stop))
    server.start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_status(base + "/api/health") == 200)
        query = "/api/v1/query?" + urllib.parse.urlencode({"query": "1+1"})
        status, body = http_get(f"{base}/api/datasources/proxy/uid/good{query}",
                                auth=("admin", "admin"))
        assert status == 200 and json.loads(body)["status"] == "success"
        status, body = http_get(f"{base}/api/datasources/proxy/uid/bad{query}",
                                auth=("admin", "admin"))
        assert status == 502, body
    finally:
        stop.set()
        server.join(timeout=10)


@pytest.mark.parametrize(("json_data", "secure", "message"), [
    ({"tlsSkipVerify": "true"}, {}, "jsonData.tlsSkipVerify must be a bool"),
    ({"tlsAuthWithCACert": 1}, {}, "jsonData.tlsAuthWithCACert must be a bool"),
    ({"serverName": 10}, {}, "jsonData.serverName must be a str"),
    ({"tlsAuthWithCACert": True}, {"tlsCACert": ["x"]}, "secureJsonData.tlsCACert must be a str"),
])
def test_grafana_provisioning_refuses_mistyped_tls_keys(
        tmp_path: Path, json_data: dict[str, Any], secure: dict[str, Any], message: str) -> None:
    with pytest.raises(grafana.StartupError, match=message):
        provision(tmp_path, [mimir_datasource("https://x", json_data, secure)])


def test_grafana_provisioning_takes_the_tls_keys(tmp_path: Path, pki: Pki) -> None:
    json_data = {"tlsAuthWithCACert": True, "tlsSkipVerify": False, "serverName": "10.8.0.2",
                 "tlsAuth": False}
    store = provision(tmp_path, [mimir_datasource("https://x", json_data,
                                                  {"tlsCACert": pki.ca_pem})])
    row = store.one("SELECT * FROM data_source WHERE uid = 'lgtm-mimir'")
    assert json.loads(row["json_data"]) == json_data
    assert json.loads(row["secure_json_data"]) == {"tlsCACert": pki.ca_pem}


# --- Alloy: client TLS ----------------------------------------------------------------------

class TLSRecorder:
    """An HTTPS endpoint with the server certificate that records what it is sent."""

    def __init__(self, pki: Pki) -> None:
        self.seen: list[tuple[str, bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib hook name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.seen.append((self.path, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return None  # refused handshakes are the point of some tests

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.cert, pki.key)
        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder(pki: Pki) -> Iterator[TLSRecorder]:
    made = TLSRecorder(pki)
    yield made
    made.close()


def alloy_string(text: str) -> str:
    return json.dumps(text)  # Alloy's string literals take JSON's escapes


def loki_write(url: str, tls: str) -> str:
    return f"""
loki.write "default" {{
  endpoint {{
    url                 = "{url}/loki/api/v1/push"
    max_backoff_retries = 1
    min_backoff_period  = "10ms"
    {tls}
  }}
}}
"""


def deliver_one(config: str, tmp_path: Path) -> dict[str, float]:
    runtime = alloy.Runtime(alloy.parse(config), ALLOY_SCHEMA, tmp_path, "127.0.0.1:0")
    component = runtime.components["loki.write.default"]
    body = alloy.loki_push_body({(("job", "tls"),): [(time.time_ns(), "over tls")]})
    component.deliver(component.block_args("endpoint")[0], body,
                      {"Content-Type": "application/x-protobuf"}, 1)
    return {metric: value for (metric, _component), value in runtime.counters.items()}


@pytest.mark.parametrize("tls", [
    'tls_config {{ ca_pem = {ca_pem} \n server_name = "backend.test" }}',
    'tls_config {{ ca_file = "{ca_file}" \n server_name = "127.0.0.1" }}',
    'tls_config {{ ca_pem = {ca_pem} }}',  # the URL's host, an IP SAN
    'tls_config {{ insecure_skip_verify = true }}',
], ids=["ca_pem+name", "ca_file+ip", "ca_pem+url-host", "skip-verify"])
def test_alloy_loki_write_over_https_verifies_and_sends(
        recorder: TLSRecorder, pki: Pki, tmp_path: Path, tls: str) -> None:
    config = loki_write(recorder.url, tls.format(ca_pem=alloy_string(pki.ca_pem),
                                                 ca_file=pki.ca))
    assert alloy.validate(alloy.parse(config), ALLOY_SCHEMA, "generally-available",
                          False) == []
    assert deliver_one(config, tmp_path) == {"loki_write_sent_entries_total": 1}
    assert [path for path, _body in recorder.seen] == ["/loki/api/v1/push"]


@pytest.mark.parametrize(("tls", "message"), [
    ('tls_config {{ ca_pem = {ca_pem} \n server_name = "wrong.test" }}',
     "x509: certificate is not valid for wrong.test"),
    ('tls_config {{ ca_pem = {other_pem} \n server_name = "backend.test" }}',
     "x509: certificate signed by unknown authority"),
    ("", "x509: certificate signed by unknown authority"),  # the system store
    ('tls_config {{ ca_file = "/nonexistent/ca.crt" }}',
     "unable to load specified CA cert /nonexistent/ca.crt"),
], ids=["wrong-name", "other-ca", "system-store", "missing-ca-file"])
def test_alloy_loki_write_refuses_a_server_it_cannot_verify(
        recorder: TLSRecorder, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        tls: str, message: str) -> None:
    config = loki_write(recorder.url, tls.format(ca_pem=alloy_string(pki.ca_pem),
                                                 other_pem=alloy_string(
                                                     pki.other_ca.read_text())))
    assert deliver_one(config, tmp_path) == {"loki_write_dropped_entries_total": 1}
    assert recorder.seen == []
    logged = capsys.readouterr().err
    assert 'level=error msg="final error sending batch"' in logged
    assert message in logged


def test_alloy_remote_write_over_https_into_the_mimir_standin(
        https_mimir: str, pki: Pki) -> None:
    now_ms = int(time.time() * 1000)
    body = alloy.remote_write_body([({"__name__": "tls_probe", "job": "t"}, 7.0, now_ms)])
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
               "X-Prometheus-Remote-Write-Version": "0.1.0"}
    url = https_mimir + "/api/v1/push"
    tls = {"ca_pem": pki.ca_pem, "server_name": "backend.test"}
    assert alloy.http_post(url, body, headers, 10, tls) == 200
    with pytest.raises(alloy.TLSError, match="certificate is not valid for wrong.test"):
        alloy.http_post(url, body, headers, 10, {**tls, "server_name": "wrong.test"})
    query = https_mimir + "/prometheus/api/v1/query?" + urllib.parse.urlencode(
        {"query": "tls_probe", "time": str(now_ms / 1000)})
    with urllib.request.urlopen(query, timeout=10, context=client_context(pki.ca)) as answer:
        result = json.loads(answer.read())["data"]["result"]
    assert [sample["value"][1] for sample in result] == ["7"]


def otlphttp(url: str, tls: str) -> str:
    return f"""
otelcol.exporter.otlphttp "tempo" {{
  client {{
    endpoint    = "{url}"
    compression = "none"
    tls {{
      {tls}
    }}
  }}
  retry_on_failure {{ enabled = false }}
}}
"""


@pytest.mark.parametrize(("tls", "metric"), [
    ('ca_pem = {ca_pem} \n server_name = "backend.test"', "otelcol_exporter_sent_spans_total"),
    ('ca_pem = {ca_pem} \n server_name = "wrong.test"',
     "otelcol_exporter_send_failed_spans_total"),
    # configtls: `insecure` without a CA means no TLS settings at all, so server_name and
    # insecure_skip_verify are not used and the system store refuses the test CA.
    ('insecure = true \n insecure_skip_verify = true', "otelcol_exporter_send_failed_spans_total"),
    ("insecure_skip_verify = true", "otelcol_exporter_sent_spans_total"),
], ids=["ca+name", "wrong-name", "insecure-means-defaults", "skip-verify"])
def test_alloy_otlphttp_over_https(recorder: TLSRecorder, pki: Pki, tmp_path: Path, tls: str,
                                   metric: str) -> None:
    config = otlphttp(recorder.url, tls.format(ca_pem=alloy_string(pki.ca_pem)))
    assert alloy.validate(alloy.parse(config), ALLOY_SCHEMA, "generally-available",
                          False) == []
    runtime = alloy.Runtime(alloy.parse(config), ALLOY_SCHEMA, tmp_path, "127.0.0.1:0")
    component = runtime.components["otelcol.exporter.otlphttp.tempo"]
    component.start()
    try:
        component.receive(alloy.OtelPayload("traces", b"\x0a\x00", "application/x-protobuf"))
        wait_until(lambda: runtime.counters)
    finally:
        runtime.stopping.set()
    assert runtime.counters == {(metric, "otelcol.exporter.otlphttp.tempo"): 1}
    assert len(recorder.seen) == (1 if "sent" in metric else 0)


@pytest.mark.parametrize(("block", "message"), [
    ('tls_config { ca_pem = "x" \n ca_file = "/x" }',
     "at most one of ca_pem and ca_file must be configured"),
    ('tls_config { cert_file = "/c" }', "exactly one of key_pem or key_file must be configured"),
    ('tls_config { key_file = "/k" }', "exactly one of cert_pem or cert_file must be configured"),
])
def test_alloy_validation_applies_the_tls_blocks_own_rules(block: str, message: str) -> None:
    config = loki_write("https://x", block)
    errors = [error.message for error in alloy.validate(
        alloy.parse(config), ALLOY_SCHEMA, "generally-available", False)]
    assert any(message in error for error in errors), errors
    # An empty literal counts as unset, as upstream's len() > 0 checks.
    assert alloy.validate(alloy.parse(loki_write("https://x", 'tls_config { ca_pem = "" \n '
                                                 'ca_file = "/x" }')),
                          ALLOY_SCHEMA, "generally-available", False) == []


def test_alloy_validate_and_fmt_accept_the_tls_blocks(tmp_path: Path, pki: Pki) -> None:
    pem = alloy_string(pki.ca_pem)
    config = (loki_write("https://lgtm-loki:3100", f'tls_config {{ ca_pem = {pem} \n '
                                                   'server_name = "10.8.0.2" \n '
                                                   "insecure_skip_verify = false }")
              + otlphttp("https://lgtm-tempo:4318", f'ca_pem = {pem} \n ca_file = "" \n '
                         'server_name = "10.8.0.2" \n insecure_skip_verify = false \n '
                         "insecure = false")
              + f"""
prometheus.remote_write "default" {{
  endpoint {{
    url = "https://lgtm-mimir:9009/api/v1/push"
    tls_config {{
      ca_file     = "{pki.ca}"
      server_name = "lgtm-mimir"
    }}
  }}
}}
""")
    path = tmp_path / "config.alloy"
    path.write_text(config)
    for command in ("validate", "fmt"):
        result = subprocess.run([sys.executable, str(STANDINS / "alloy/alloy.py"), command,
                                 str(path)], capture_output=True, text=True, check=False,
                                timeout=60)
        assert result.returncode == 0, (command, result.stderr)


# --- helpers ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_status(url: str) -> int:
    try:
        return http_get(url)[0]
    except OSError:
        return 0


def wait_until(condition: Callable[[], Any], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
