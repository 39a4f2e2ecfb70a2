"""The GlitchTip contract stand-in (tests/testhost/standins/glitchtip/glitchtip.py): the parts
that need no PostgreSQL or Valkey. Its start-script dispatch and each line's port variable,
Django's password and CSRF formats, and ingestion of exactly what the real sentry-sdk sends
(captured from the SDK's own HTTP transport). The database, broker and API flow run for real
in molecule/glitchtip."""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk

REPO = Path(__file__).resolve().parents[3]
STANDIN = REPO / "tests/testhost/standins/glitchtip/glitchtip.py"

spec = importlib.util.spec_from_file_location("glitchtip_standin", STANDIN)
assert spec is not None and spec.loader is not None
glitchtip = importlib.util.module_from_spec(spec)
sys.modules["glitchtip_standin"] = glitchtip
spec.loader.exec_module(glitchtip)


def run_standin(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items()
             if key not in ("SERVER_ROLE", "SECRET_KEY", "GLITCHTIP_EMBED_WORKER")}
    return subprocess.run([sys.executable, str(STANDIN), *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=30, check=False)


# --- the start script and the port each line reads -------------------------------------

@pytest.mark.parametrize(("line", "env", "expected"), [
    ("6", {"GRANIAN_PORT": "8000"}, ("0.0.0.0", 8000)),
    # 6.x never reads PORT: its script overwrites it from GRANIAN_PORT (default 8000).
    ("6", {"PORT": "9000"}, ("0.0.0.0", 8000)),
    ("6", {"GRANIAN_PORT": "8123", "GRANIAN_HOST": "127.0.0.1"}, ("127.0.0.1", 8123)),
    ("5", {"PORT": "8000"}, ("0.0.0.0", 8000)),
    ("5", {}, ("0.0.0.0", 8080)),
    ("5", {"GRANIAN_PORT": "8000"}, ("0.0.0.0", 8080)),
])
def test_each_line_reads_its_own_port_variable(monkeypatch, line, env, expected):
    monkeypatch.setattr(glitchtip, "LINE", line)
    for name in ("PORT", "GRANIAN_PORT", "GRANIAN_HOST"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert glitchtip.web_port() == expected


@pytest.mark.parametrize(("line", "role", "embed", "expected"), [
    ("6", None, "", "web"),
    ("6", "web", "true", "all_in_one"),
    ("6", "worker", "", "worker"),
    ("6", "worker_with_beat", "", "worker"),
    ("6", "beat", "", None),
    ("5", "beat", "", "beat"),
    ("6", "bogus", "", None),
])
def test_server_roles_as_the_start_script_dispatches_them(
        monkeypatch, line, role, embed, expected):
    monkeypatch.setattr(glitchtip, "LINE", line)
    monkeypatch.setenv("GLITCHTIP_EMBED_WORKER", embed)
    assert glitchtip.server_script(role) == expected


def test_an_unknown_server_role_exits_1_naming_the_roles():
    result = run_standin("start", SERVER_ROLE="beat", GLITCHTIP_VERSION="v6.2.2",
                         SECRET_KEY="x")
    assert result.returncode == 1
    assert "Unknown server role provided: beat. Should be web|worker|all_in_one." in \
        result.stdout


def test_without_secret_key_nothing_starts():
    result = run_standin("manage", "migrate", GLITCHTIP_VERSION="v6.2.2")
    assert result.returncode == 1
    assert "Set the SECRET_KEY environment variable" in result.stderr


def test_an_unknown_management_command_fails():
    result = run_standin("manage", "frobnicate", SECRET_KEY="x")
    assert result.returncode == 1 and "Unknown command: 'frobnicate'" in result.stderr


# --- Django's formats ------------------------------------------------------------------

def test_passwords_are_hashed_in_djangos_pbkdf2_format():
    encoded = glitchtip.make_password("s3cret", salt="abcdefgh", iterations=1000)
    digest = base64.b64encode(hashlib.pbkdf2_hmac("sha256", b"s3cret", b"abcdefgh", 1000))
    assert encoded == f"pbkdf2_sha256$1000$abcdefgh${digest.decode()}"
    stored = glitchtip.make_password("s3cret", iterations=1000)
    assert "s3cret" not in stored
    assert glitchtip.check_password("s3cret", stored)
    assert not glitchtip.check_password("S3cret", stored)
    assert not glitchtip.check_password("s3cret", "!unusable")


def test_csrf_takes_the_cookie_secret_or_its_masked_form_only():
    secret = "a" * 16 + "Z9" * 8
    assert glitchtip.csrf_ok(secret, secret)
    masked = glitchtip.mask_csrf(secret)
    assert len(masked) == 64 and masked != secret
    assert glitchtip.unmask_csrf(masked) == secret
    assert glitchtip.csrf_ok(secret, masked)
    assert not glitchtip.csrf_ok(secret, "b" * 32)
    assert not glitchtip.csrf_ok(None, secret)
    assert not glitchtip.csrf_ok(secret, None)
    assert not glitchtip.csrf_ok("short", "short")


@pytest.mark.parametrize(("name", "slug"), [("lgtm", "lgtm"), ("My Org!", "my-org"),
                                            ("be_platform  x", "be_platform-x")])
def test_slugs_come_from_names_as_django_makes_them(name, slug):
    assert glitchtip.slugify(name) == slug


def test_dsn_host_comes_from_glitchtip_domain():
    assert glitchtip.dsn_for("http://127.0.0.1:8200", "abc", 3) == "http://abc@127.0.0.1:8200/3"
    assert glitchtip.dsn_for("https://errors.example.com/", "k", 12) == \
        "https://k@errors.example.com/12"


# --- what the real sentry-sdk sends ------------------------------------------------------

class Recorder(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Recorder.received.append((self.path, dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def sdk_request() -> Iterator[tuple[str, dict[str, str], bytes]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Recorder.received = []
    key = "0123456789abcdef0123456789abcdef"
    sentry_sdk.init(dsn=f"http://{key}@127.0.0.1:{server.server_address[1]}/7",
                    default_integrations=False)
    try:
        raise RuntimeError("standin-marker")
    except RuntimeError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)
    sentry_sdk.get_client().close()
    server.shutdown()
    assert Recorder.received, "the SDK sent nothing"
    yield Recorder.received[0]


def test_the_sdks_envelope_is_read_key_project_and_title(sdk_request):
    path, headers, body = sdk_request
    assert path.startswith("/api/7/envelope/")
    plain = glitchtip.decode_body(body, headers.get("Content-Encoding", ""))
    key = glitchtip.sentry_key(headers, {})
    assert key == "0123456789abcdef0123456789abcdef"
    header, items = glitchtip.parse_envelope(plain)
    assert header.get("event_id")
    events = [json.loads(payload) for item, payload in items if item.get("type") == "event"]
    assert len(events) == 1
    title, _culprit, kind = glitchtip.event_title(events[0])
    assert (title, kind) == ("RuntimeError: standin-marker", "error")


def test_sentry_key_from_the_query_and_a_wrong_encoding_is_refused():
    assert glitchtip.sentry_key({}, {"sentry_key": ["k1"]}) == "k1"
    assert glitchtip.sentry_key({"X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=k2"},
                                {}) == "k2"
    assert glitchtip.sentry_key({}, {}) is None
    assert glitchtip.decode_body(gzip.compress(b"x"), "gzip") == b"x"
    with pytest.raises(ValueError, match="Content-Encoding"):
        glitchtip.decode_body(b"x", "zstd")


def test_a_store_style_message_event_is_titled_by_its_message():
    title, _culprit, kind = glitchtip.event_title({"message": "disk full\nmore"})
    assert (title, kind) == ("disk full", "default")
    title, _culprit, _kind = glitchtip.event_title({"logentry": {"formatted": "hello"}})
    assert title == "hello"
