"""Tests of lgtm.stack.wait_ready against real HTTP(S) and TCP servers on 127.0.0.1."""

import base64
import json
import shlex
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.lgtm.stack.plugins.modules import wait_ready

Responder = Callable[[BaseHTTPRequestHandler], tuple[int, bytes]]
FAST = dict(interval=0.05, max_interval=0.2, request_timeout=2.0)


# --------------------------------------------------------------------------- servers


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def setup(self) -> None:
        if self.server.tls is not None:
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def _answer(self) -> None:
        status, body = self.server.responder(self)
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if body[:1] == b"{" else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, port: int, responder: Responder, tls: "ssl.SSLContext | None" = None
    ) -> None:
        self.responder = responder
        self.tls = tls
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # failed TLS handshakes are part of the tests


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Start HTTP(S) servers in threads; return their base URL."""
    servers: list[_Server] = []

    def start(responder: Responder, tls: "ssl.SSLContext | None" = None, port: int = 0) -> str:
        server = _Server(port, responder, tls)
        servers.append(server)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        scheme = "https" if tls else "http"
        return f"{scheme}://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def fixed(status: int, body: bytes) -> Responder:
    return lambda handler: (status, body)


class Flaky:
    """Answers `before` for the first `count` requests, then `after`."""

    def __init__(
        self, count: int, before: tuple[int, bytes], after: tuple[int, bytes] = (200, b"ok")
    ) -> None:
        self.count = count
        self.before = before
        self.after = after
        self.requests = 0
        self.lock = threading.Lock()

    def __call__(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        with self.lock:
            self.requests += 1
            return self.before if self.requests <= self.count else self.after


class ReadyAt:
    """Answers 503 until a monotonic instant per path, then 200."""

    def __init__(self, ready_at: dict[str, float]) -> None:
        self.ready_at = ready_at

    def __call__(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        if time.monotonic() < self.ready_at[handler.path]:
            return 503, b"starting"
        return 200, b"ready"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- helpers


def endpoint(**params: Any) -> wait_ready.Endpoint:
    return wait_ready.endpoint_from_params(0, params)


def wait(*endpoints: wait_ready.Endpoint, **kwargs: Any) -> list[wait_ready.Result]:
    options = {**FAST, "timeout": 5.0, **kwargs}
    return wait_ready.wait_for_endpoints(list(endpoints), **options)


def wait_one(**params: Any) -> wait_ready.Result:
    timeout = params.pop("call_timeout", 5.0)
    (result,) = wait(endpoint(**params), timeout=timeout)
    return result


def run_main(args: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    with patch_module_args(args), pytest.raises(SystemExit):
        wait_ready.main()
    return json.loads(capsys.readouterr().out)


# --------------------------------------------------------------------------- 1, 2: retries


def test_503_then_200_is_ready_after_retries(serve: Callable[..., str]) -> None:
    responder = Flaky(3, (503, b"starting"))
    url = serve(responder) + "/ready"
    result = wait_one(name="loki", url=url)
    assert result.ready
    assert result.attempts > 3
    assert result.status == 200
    assert result.error is None
    assert responder.requests == result.attempts


def test_never_ready_fails_after_timeout_with_status_and_body(
    serve: Callable[..., str],
) -> None:
    body = b"Ingester not ready:\n  waiting for 15s after being ready"
    url = serve(fixed(503, body)) + "/ready"
    began = time.monotonic()
    results = wait(endpoint(name="loki", url=url), timeout=1.5, request_timeout=1.0)
    took = time.monotonic() - began
    (result,) = results
    assert not result.ready
    assert result.status == 503
    assert result.attempts > 1
    assert 1.5 <= took < 1.5 + 1.0 + 1.0
    message = wait_ready.failure_message(results)
    assert "'loki'" in message
    assert "status 503 not in [200]" in message
    assert "Ingester not ready: waiting for 15s after being ready" in message  # one line


def test_failure_message_names_only_endpoints_not_ready(serve: Callable[..., str]) -> None:
    good = serve(fixed(200, b"fine"))
    bad = serve(fixed(500, b"boom"))
    results = wait(endpoint(name="good", url=good), endpoint(name="bad", url=bad), timeout=0.5)
    assert [r.ready for r in results] == [True, False]
    message = wait_ready.failure_message(results)
    assert message.startswith("1 of 2 endpoint(s) not ready")
    assert "'bad'" in message and "boom" in message
    assert "'good'" not in message


def test_long_body_excerpt_is_cut() -> None:
    text = wait_ready.excerpt(b"x" * 500 + b"\n\ny")
    assert text == "x" * 200 + "..."
    assert wait_ready.excerpt(b" a\r\n\tb ") == "a b"


# --------------------------------------------------------------------------- 3: body


def test_body_contains_missing_fails(serve: Callable[..., str]) -> None:
    url = serve(fixed(200, b"status: starting"))
    result = wait_one(url=url, body_contains="ready", call_timeout=0.5)
    assert not result.ready
    assert result.status == 200
    assert result.error == "body does not contain 'ready'"


def test_body_regex_match_succeeds_and_mismatch_fails(serve: Callable[..., str]) -> None:
    url = serve(fixed(200, b"status:   started (uptime 3s)"))
    assert wait_one(url=url, body_regex=r"status:\s+start\w+").ready
    result = wait_one(url=url, body_regex=r"^ready$", call_timeout=0.4)
    assert not result.ready
    assert result.error == "body does not match '^ready$'"


def test_body_becomes_right_later(serve: Callable[..., str]) -> None:
    responder = Flaky(2, (200, b"starting"), (200, b"all ready"))
    result = wait_one(url=serve(responder), body_contains="ready")
    assert result.ready
    assert result.attempts == 3


# --------------------------------------------------------------------------- 4: JSON


def test_json_value_mismatch_names_key_actual_and_expected(serve: Callable[..., str]) -> None:
    url = serve(fixed(200, b'{"database": "error", "version": "11.3.0"}')) + "/api/health"
    results = wait(
        endpoint(name="grafana", url=url, json_key="database", json_value="ok"), timeout=0.5
    )
    assert not results[0].ready
    message = wait_ready.failure_message(results)
    assert "json key 'database' is 'error', expected 'ok'" in message


def test_json_value_ok_is_ready(serve: Callable[..., str]) -> None:
    responder = Flaky(2, (200, b'{"database": "error"}'), (200, b'{"database": "ok"}'))
    url = serve(responder) + "/api/health"
    result = wait_one(url=url, json_key="database", json_value="ok")
    assert result.ready
    assert result.attempts == 3


def test_json_nested_dotted_key(serve: Callable[..., str]) -> None:
    doc = {"a": {"b": [{"c": 1}, {"c": "green"}]}, "up": True, "n": 200}
    url = serve(fixed(200, json.dumps(doc).encode()))
    assert wait_one(url=url, json_key="a.b.1.c", json_value="green").ready
    assert wait_one(url=url, json_key="a.b.0.c", json_value="1").ready  # text comparison
    assert wait_one(url=url, json_key="up", json_value="true").ready
    assert wait_one(url=url, json_key="n", json_value=200).ready
    assert wait_one(url=url, json_key="a.b").ready  # key only has to exist
    missing = wait_one(url=url, json_key="a.b.2.c", call_timeout=0.3)
    assert missing.error == "json key 'a.b.2.c' not found"
    wrong = wait_one(url=url, json_key="a.b.0.c", json_value=2, call_timeout=0.3)
    assert wrong.error == "json key 'a.b.0.c' is 1, expected 2"


def test_json_body_not_json(serve: Callable[..., str]) -> None:
    result = wait_one(url=serve(fixed(200, b"<html>")), json_key="x", call_timeout=0.3)
    assert not result.ready
    assert "not valid JSON" in result.error


def test_values_match_rules() -> None:
    assert wait_ready.values_match("ok", "ok")
    assert wait_ready.values_match(200, "200")
    assert wait_ready.values_match(True, "true")
    assert not wait_ready.values_match(True, 1)
    assert not wait_ready.values_match("error", "ok")


# --------------------------------------------------------------------------- 5: headers, auth


def test_header_is_sent(serve: Callable[..., str]) -> None:
    def responder(handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        if handler.headers.get("X-Scope-OrgID") != "tenant-1":
            return 401, b"no org id"
        return 200, b"ready"

    url = serve(responder) + "/ready"
    without = wait_one(url=url, call_timeout=0.3)
    assert not without.ready
    assert without.status == 401
    assert without.error == "status 401 not in [200]"
    assert wait_one(url=url, headers={"X-Scope-OrgID": "tenant-1"}).ready


def test_basic_auth(serve: Callable[..., str]) -> None:
    expected = "Basic " + base64.b64encode(b"admin:s3cret").decode()

    def responder(handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        if handler.headers.get("Authorization") != expected:
            return 401, b"unauthorized"
        return 200, b"welcome"

    url = serve(responder)
    assert not wait_one(url=url, call_timeout=0.3).ready
    assert wait_one(url=url, url_username="admin", url_password="s3cret").ready
    wrong = wait_one(url=url, url_username="admin", url_password="nope", call_timeout=0.3)
    assert wrong.status == 401


def test_redirect_is_not_followed_and_method_query_are_sent(serve: Callable[..., str]) -> None:
    seen: list[str] = []

    def responder(handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        seen.append(f"{handler.command} {handler.path}")
        return 302, b""

    url = serve(responder) + "/login?next=%2Fhome"
    moved = wait_one(url=url, call_timeout=0.3)
    assert moved.error == "status 302 not in [200]"
    assert wait_one(url=url, method="head", status_codes=[301, 302]).ready
    assert seen[0] == "GET /login?next=%2Fhome"
    assert seen[-1] == "HEAD /login?next=%2Fhome"


def test_proxy_environment_is_ignored(
    serve: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("no_proxy", "")
    assert wait_one(url=serve(fixed(200, b"ok"))).ready


# --------------------------------------------------------------------------- 6: TLS


def _openssl(command: str, cwd: Path) -> None:
    subprocess.run(["openssl", *shlex.split(command)], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throw-away CA and a server certificate for IP 127.0.0.1 signed by it."""
    work = tmp_path_factory.mktemp("tls")
    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    _openssl(
        f"req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj '/CN=wait_ready test CA'"
        " -addext basicConstraints=critical,CA:TRUE"
        " -addext keyUsage=critical,keyCertSign,cRLSign",
        work,
    )
    _openssl(f"req {key} -keyout server.key -out server.csr -subj /CN=127.0.0.1", work)
    (work / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    _openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -out server.pem -days 2 -extfile ext.cnf",
        work,
    )
    return {"ca": work / "ca.pem", "cert": work / "server.pem", "key": work / "server.key"}


@pytest.fixture
def tls_url(serve: Callable[..., str], tls_files: dict[str, Path]) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["cert"], tls_files["key"])
    return serve(fixed(200, b'{"database": "ok"}'), tls=context) + "/api/health"


def test_tls_with_ca_path_is_ready(tls_url: str, tls_files: dict[str, Path]) -> None:
    result = wait_one(
        url=tls_url, ca_path=str(tls_files["ca"]), json_key="database", json_value="ok"
    )
    assert result.ready
    assert result.status == 200


def test_tls_unknown_ca_fails_at_once_with_certificate_error(tls_url: str) -> None:
    began = time.monotonic()
    results = wait(endpoint(name="grafana", url=tls_url), timeout=5.0)
    assert time.monotonic() - began < 2.0  # not retried until the deadline
    (result,) = results
    assert not result.ready
    assert result.attempts == 1
    assert result.status is None
    message = wait_ready.failure_message(results)
    assert "TLS certificate verification failed" in message
    assert "certificate" in result.error.split(":", 1)[1]


def test_tls_without_validation_is_ready(tls_url: str) -> None:
    assert wait_one(url=tls_url, validate_certs=False).ready


def test_tls_unreadable_ca_bundle_fails_at_once(tls_url: str, tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    began = time.monotonic()
    result = wait_one(url=tls_url, ca_path=str(bogus))
    assert time.monotonic() - began < 2.0
    assert not result.ready
    assert result.error.startswith("cannot set up TLS")


def test_fail_fast_stops_others_on_certificate_error(
    serve: Callable[..., str], tls_url: str
) -> None:
    slow = serve(fixed(503, b"warming up"))
    began = time.monotonic()
    results = wait(
        endpoint(name="tls", url=tls_url),
        endpoint(name="slow", url=slow),
        timeout=10.0,
        fail_fast=True,
    )
    assert time.monotonic() - began < 3.0
    assert [r.ready for r in results] == [False, False]
    assert "fail_fast" in results[1].error and "'tls'" in results[1].error
    assert "certificate" in results[0].error


def test_fail_fast_on_endpoint_deadline_keeps_ready_ones(serve: Callable[..., str]) -> None:
    never = serve(fixed(503, b"nope"))
    fine = serve(fixed(200, b"ok"))
    began = time.monotonic()
    results = wait(
        endpoint(name="short", url=never, timeout=0.5),
        endpoint(name="fine", url=fine),
        endpoint(name="other", url=never),
        timeout=10.0,
        fail_fast=True,
    )
    took = time.monotonic() - began
    assert 0.5 <= took < 3.0
    assert [r.ready for r in results] == [False, True, False]
    assert "fail_fast" in results[2].error


def test_without_fail_fast_others_keep_their_own_deadline(
    serve: Callable[..., str], tls_url: str
) -> None:
    slow = serve(Flaky(8, (503, b"warming up")))
    results = wait(endpoint(name="tls", url=tls_url), endpoint(name="slow", url=slow))
    assert [r.ready for r in results] == [False, True]


# --------------------------------------------------------------------------- TLS server name

# What the named certificate holds; the server is still reached at 127.0.0.1.
@pytest.fixture(scope="module")
def plain_ca_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA as a bare "openssl req -x509" makes it (no keyUsage) and a certificate it signed.

    Python 3.13's default strict X.509 checks refuse such a CA; Go clients do not.
    """
    work = tmp_path_factory.mktemp("plain-ca")
    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    _openssl(f"req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj '/CN=plain CA'", work)
    _openssl(
        f"req -x509 {key} -CA ca.pem -CAkey ca.key -days 2 -subj /CN=127.0.0.1"
        " -addext subjectAltName=IP:127.0.0.1 -keyout server.key -out server.pem",
        work,
    )
    return {"ca": work / "ca.pem", "cert": work / "server.pem", "key": work / "server.key"}


def test_tls_with_a_ca_without_key_usage_is_ready(
    serve: Callable[..., str], plain_ca_files: dict[str, Path]
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(plain_ca_files["cert"], plain_ca_files["key"])
    url = serve(fixed(200, b"ready"), tls=context) + "/ready"
    result = wait_one(url=url, ca_path=str(plain_ca_files["ca"]), body_contains="ready")
    assert result.ready, result.error


CERT_NAME = "stack.example"
CERT_ADDRESS = "192.0.2.10"


@pytest.fixture(scope="module")
def named_cert(tls_files: dict[str, Path]) -> dict[str, Path]:
    """A certificate from the same CA for a name and an address other than 127.0.0.1."""
    work = tls_files["ca"].parent
    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    _openssl(f"req {key} -keyout named.key -out named.csr -subj /CN={CERT_NAME}", work)
    (work / "named.cnf").write_text(
        f"subjectAltName=DNS:{CERT_NAME},IP:{CERT_ADDRESS}\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509 -req -in named.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -out named.pem -days 2 -extfile named.cnf",
        work,
    )
    return {"ca": tls_files["ca"], "cert": work / "named.pem", "key": work / "named.key"}


class NamedServer:
    """An HTTPS server on 127.0.0.1 with the named certificate; records SNI and Host headers."""

    def __init__(self, serve: Callable[..., str], files: dict[str, Path]) -> None:
        self.sni: list[str | None] = []
        self.hosts: list[str] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(files["cert"], files["key"])
        context.sni_callback = self._record_sni
        self.url = serve(self._answer, tls=context) + "/ready"

    def _record_sni(self, sock: ssl.SSLObject, name: "str | None", context: ssl.SSLContext) -> None:
        self.sni.append(name)

    def _answer(self, handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        self.hosts.append(handler.headers.get("Host", ""))
        return 200, b"ready"


@pytest.fixture
def named_server(serve: Callable[..., str], named_cert: dict[str, Path]) -> NamedServer:
    return NamedServer(serve, named_cert)


def test_tls_certificate_for_another_name_fails_without_server_name(
    named_server: NamedServer, named_cert: dict[str, Path]
) -> None:
    began = time.monotonic()
    result = wait_one(name="loki", url=named_server.url, ca_path=str(named_cert["ca"]))
    assert time.monotonic() - began < 2.0  # a name mismatch is not retried either
    assert not result.ready
    assert result.attempts == 1
    assert result.error == (
        "TLS certificate verification failed: IP address mismatch, certificate is not valid"
        " for '127.0.0.1'. (set server_name to the name the certificate holds)"
    )
    assert named_server.hosts == []


def test_tls_server_name_is_verified_and_sent_as_sni(
    named_server: NamedServer, named_cert: dict[str, Path]
) -> None:
    result = wait_one(
        url=named_server.url,
        ca_path=str(named_cert["ca"]),
        server_name=CERT_NAME,
        body_contains="ready",
    )
    assert result.ready, result.error
    assert named_server.sni == [CERT_NAME]
    # The request itself still goes to the URL's host.
    assert named_server.hosts == [named_server.url.split("/")[2]]


def test_tls_server_name_may_be_an_address_of_the_certificate(
    named_server: NamedServer, named_cert: dict[str, Path]
) -> None:
    result = wait_one(url=named_server.url, ca_path=str(named_cert["ca"]), server_name=CERT_ADDRESS)
    assert result.ready, result.error
    assert named_server.sni == [None]  # no SNI for an IP address, as TLS requires


@pytest.mark.parametrize(
    ("server_name", "mismatch"),
    [("other.example", "Hostname"), ("192.0.2.99", "IP address")],
)
def test_tls_wrong_server_name_fails_at_once(
    named_server: NamedServer, named_cert: dict[str, Path], server_name: str, mismatch: str
) -> None:
    began = time.monotonic()
    result = wait_one(
        url=named_server.url, ca_path=str(named_cert["ca"]), server_name=server_name
    )
    assert time.monotonic() - began < 2.0
    assert not result.ready
    assert result.attempts == 1
    assert result.error == (
        f"TLS certificate verification failed: {mismatch} mismatch, certificate is not valid"
        f" for '{server_name}'."
    )
    assert named_server.hosts == []


def test_tls_server_name_still_needs_the_right_ca(named_server: NamedServer) -> None:
    result = wait_one(url=named_server.url, server_name=CERT_NAME)
    assert not result.ready
    assert result.error.startswith("TLS certificate verification failed: unable to get local")
    assert "server_name" not in result.error


def test_tls_server_name_without_validation_is_only_sni(named_server: NamedServer) -> None:
    result = wait_one(url=named_server.url, validate_certs=False, server_name="other.example")
    assert result.ready, result.error
    assert named_server.sni == ["other.example"]


def test_server_name_is_ignored_for_plain_http(serve: Callable[..., str]) -> None:
    assert wait_one(url=serve(fixed(200, b"ok")), server_name=CERT_NAME).ready


def test_main_with_server_name(
    named_server: NamedServer, named_cert: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint_args = {
        "name": "loki",
        "url": named_server.url,
        "ca_path": str(named_cert["ca"]),
        "server_name": CERT_NAME,
    }
    out = run_main({"endpoints": [endpoint_args], "timeout": 5}, capsys)
    assert "failed" not in out, out.get("msg")
    assert out["endpoints"][0]["ready"] is True

    out = run_main({"endpoints": [{**endpoint_args, "server_name": "x.example"}]}, capsys)
    assert out["failed"] is True
    assert "'loki': TLS certificate verification failed: Hostname mismatch" in out["msg"]


# --------------------------------------------------------------------------- 7, 8: TCP


def test_tcp_listening_socket_is_ready() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        result = wait_one(host="127.0.0.1", port=port)
    assert result.ready
    assert result.status is None
    assert result.name == f"127.0.0.1:{port}"


def test_tcp_closed_port_is_refused() -> None:
    port = free_port()
    results = wait(endpoint(host="127.0.0.1", port=port), timeout=0.5)
    assert not results[0].ready
    assert results[0].attempts > 1
    assert "connection refused" in wait_ready.failure_message(results)


def test_refused_then_open_http(serve: Callable[..., str]) -> None:
    port = free_port()
    timer = threading.Timer(0.5, serve, args=(fixed(200, b"ok"),), kwargs={"port": port})
    timer.start()
    try:
        result = wait_one(url=f"http://127.0.0.1:{port}/ready")
    finally:
        timer.join()
    assert result.ready
    assert result.attempts > 1
    assert result.elapsed >= 0.45


def test_refused_then_open_tcp() -> None:
    port = free_port()
    servers: list[socket.socket] = []
    timer = threading.Timer(0.5, lambda: servers.append(socket.create_server(("127.0.0.1", port))))
    timer.start()
    try:
        result = wait_one(host="127.0.0.1", port=port)
    finally:
        timer.join()
        for server in servers:
            server.close()
    assert result.ready
    assert result.attempts > 1


# --------------------------------------------------------------------------- 9: concurrency


def test_endpoints_are_polled_concurrently(serve: Callable[..., str]) -> None:
    """Each endpoint answers only once all of them have asked: a sequential poller would
    never get past the first. (Wall-clock figures: bench/wait_ready_latency.py, part C.)"""
    count = 5
    barrier = threading.Barrier(count, timeout=20)

    def together(handler: BaseHTTPRequestHandler) -> tuple[int, bytes]:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return 503, b"the others never asked"
        return 200, b"ready"

    url = serve(together)
    endpoints = [endpoint(name=f"svc{i}", url=f"{url}/svc/{i}") for i in range(count)]
    results = wait(*endpoints, timeout=30.0, request_timeout=25.0)
    assert not barrier.broken
    assert [(r.ready, r.attempts) for r in results] == [(True, 1)] * count


class FakeClock:
    """time.monotonic for the module under test; waiting advances it and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wait(self, delay: float) -> bool:  # the poller's stop event
        self.waits.append(delay)
        self.now += delay
        return False

    def is_set(self) -> bool:
        return False


class NeverReady:
    def __init__(self) -> None:
        self.calls = 0

    def attempt(self, timeout: float) -> wait_ready.Attempt:
        self.calls += 1
        return wait_ready.Attempt(ready=False, status=503, error="status 503 not in [200]")


def test_interval_backs_off_up_to_max(monkeypatch: pytest.MonkeyPatch) -> None:
    """The schedule itself, on a fake clock: 0.1 s, then doubling, capped at 0.2 s, the last
    wait cut at the deadline. (Attempt counts on a real clock: bench, part C.)"""
    clock = FakeClock()
    monkeypatch.setattr(wait_ready, "time", clock)
    poller = wait_ready._Poller(
        endpoint(url="http://127.0.0.1:9/"), clock.now, clock.now + 1.0,
        wait_ready.Pacing(request_timeout=2.0, interval=0.1, max_interval=0.2),
        clock, wait_ready.TLSContexts())  # type: ignore[arg-type]
    probe = NeverReady()
    poller._loop(probe)  # type: ignore[arg-type]
    assert clock.waits == pytest.approx([0.1, 0.2, 0.2, 0.2, 0.2, 0.1])
    assert probe.calls == poller.result.attempts == 6  # at 0, 0.1, 0.3, 0.5, 0.7, 0.9
    assert poller.failed_definitively and not poller.result.ready


# --------------------------------------------------------------------------- 10: main()


def test_status_codes_list_accepts_401(serve: Callable[..., str]) -> None:
    url = serve(fixed(401, b"login first"))
    result = wait_one(url=url, status_codes=[401, 403])
    assert result.ready
    assert result.status == 401


def test_main_success_result_shape(
    serve: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = serve(Flaky(1, (503, b"starting")))
    out = run_main(
        {
            "endpoints": [
                {"name": "loki", "url": url},
                {"host": "127.0.0.1", "port": int(url.rsplit(":", 1)[1])},
            ],
            "interval": 0.05,
            "timeout": 5,
        },
        capsys,
    )
    assert out["changed"] is False
    assert "failed" not in out
    assert isinstance(out["elapsed"], float)
    first, second = out["endpoints"]
    assert set(first) == {"name", "ready", "elapsed", "attempts", "status", "error", "body_excerpt"}
    assert first["name"] == "loki" and first["ready"] is True and first["status"] == 200
    assert first["attempts"] == 2
    assert second["name"].startswith("127.0.0.1:") and second["status"] is None


def test_main_failure_hides_password(
    serve: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = serve(fixed(401, b"who are you"))
    out = run_main(
        {
            "endpoints": [
                {
                    "name": "mimir",
                    "url": url,
                    "url_username": "u",
                    "url_password": "pw-very-secret",
                    "timeout": 0.4,
                }
            ],
            "interval": 0.05,
        },
        capsys,
    )
    assert out["failed"] is True
    assert out["changed"] is False
    assert "'mimir'" in out["msg"] and "status 401 not in [200]" in out["msg"]
    assert "who are you" in out["msg"]
    assert out["endpoints"][0]["ready"] is False
    assert "pw-very-secret" not in json.dumps(out)


def test_main_check_mode_still_polls(
    serve: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    responder = Flaky(0, (503, b""))
    out = run_main({"endpoints": [{"url": serve(responder)}], "_ansible_check_mode": True}, capsys)
    assert out["changed"] is False
    assert out["endpoints"][0]["ready"] is True
    assert responder.requests == 1


@pytest.mark.parametrize(
    ("endpoint_args", "expected"),
    [
        (
            {"url": "http://127.0.0.1:1/", "host": "127.0.0.1", "port": 1},
            "endpoints[0]: give either url or host+port, not both",
        ),
        ({"host": "127.0.0.1"}, "needs either url, or both host and port"),
        ({"url": "ftp://127.0.0.1/"}, "url scheme must be http or https"),
        ({"url": "http://127.0.0.1:1/", "body_regex": "(unclosed"}, "does not compile"),
        ({"url": "http://127.0.0.1:1/", "json_value": "ok"}, "json_value requires json_key"),
        (
            {"name": "pg", "host": "127.0.0.1", "port": 70000},
            "endpoints[0] (pg): port must be between 1 and 65535",
        ),
        (
            {"url": "https://127.0.0.1:1/", "ca_path": "/nonexistent/ca.pem"},
            "is not an existing file",
        ),
        (
            {"host": "127.0.0.1", "port": 5432, "body_contains": "x"},
            "body_contains only apply to url endpoints",
        ),
        ({"url": "http://127.0.0.1:1/", "bogus": 1}, "bogus"),
        (
            {"host": "127.0.0.1", "port": 5432, "server_name": "x.example"},
            "server_name only apply to url endpoints",
        ),
        ({"url": "https://127.0.0.1:1/", "server_name": " "}, "server_name must not be empty"),
        ({"url": "http://127.0.0.1:1/", "status_codes": []}, "status_codes must not be empty"),
        ({"url": "http://127.0.0.1:1/", "status_codes": ["abc"]}, "status_codes"),
    ],
)
def test_main_rejects_bad_arguments(
    endpoint_args: dict[str, Any], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    began = time.monotonic()
    out = run_main({"endpoints": [endpoint_args]}, capsys)
    assert out["failed"] is True
    assert expected in out["msg"]
    assert time.monotonic() - began < 1.0  # rejected before any polling


def test_main_rejects_bad_timing(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_main(
        {"endpoints": [{"url": "http://127.0.0.1:1/"}], "interval": 2, "max_interval": 1},
        capsys,
    )
    assert out["failed"] is True
    assert "must not be below interval" in out["msg"]
