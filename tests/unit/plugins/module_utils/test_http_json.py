"""The JSON client shared by grafana_users and glitchtip_bootstrap, against a local server."""

from __future__ import annotations

import http.cookiejar
import json
import socket
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils import http_json


class Server:
    """Answers each path with a canned (status, body bytes, headers); records what it got."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.seen: list[dict[str, Any]] = []
        self.url = ""


def handler_for(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            server.seen.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": self.rfile.read(length) if length else b"",
                }
            )
            status, body, headers = server.answers.get(self.path, (404, b"", {}))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = answer

    return Handler


@pytest.fixture
def server(serve) -> Server:
    state = Server()
    state.url = serve(handler_for(state)) + "/"
    return state


def test_json_answer_is_decoded_and_body_sent_as_json(server: Server) -> None:
    server.answers["/api/things"] = (201, b'{"id": 7}', {"X-Extra": "yes"})
    reply = http_json.JsonClient(server.url, 5).request(
        "POST", "/api/things", {"name": "a"}, {"Authorization": "Bearer t"}
    )
    assert (reply.status, reply.payload) == (201, {"id": 7})
    assert reply.headers["X-Extra"] == "yes"
    seen = server.seen[0]
    assert (seen["method"], seen["path"]) == ("POST", "/api/things")
    assert json.loads(seen["body"]) == {"name": "a"}
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["Accept"] == "application/json"
    assert seen["headers"]["Authorization"] == "Bearer t"


def test_an_error_status_is_an_answer_not_an_exception(server: Server) -> None:
    server.answers["/missing"] = (404, b'{"message": "user not found"}', {})
    status, payload, _headers = http_json.JsonClient(server.url, 5).request("GET", "/missing")
    assert (status, payload) == (404, {"message": "user not found"})
    assert "Content-Type" not in server.seen[0]["headers"]


def test_text_answer_is_kept_as_text_cut_short_and_empty_is_none(server: Server) -> None:
    server.answers["/text"] = (500, b"IntegrityError " + b"x" * 600, {})
    server.answers["/empty"] = (204, b"", {})
    client = http_json.JsonClient(server.url, 5)
    status, payload, _headers = client.request("GET", "/text")
    assert status == 500
    assert payload == ("IntegrityError " + "x" * 600)[: http_json.TEXT_LIMIT]
    assert client.request("DELETE", "/empty")[:2] == (204, None)


def test_absolute_url_is_used_as_it_is(server: Server) -> None:
    server.answers["/page?cursor=2"] = (200, b"[]", {})
    client = http_json.JsonClient("http://127.0.0.1:9/base", 5)
    assert client.request("GET", server.url + "page?cursor=2").payload == []
    assert server.seen[0]["path"] == "/page?cursor=2"


def test_cookies_set_by_the_server_are_sent_back(server: Server) -> None:
    server.answers["/login"] = (200, b"{}", {"Set-Cookie": "sessionid=s1; Path=/"})
    server.answers["/me"] = (200, b"{}", {})
    jar = http.cookiejar.CookieJar()
    client = http_json.JsonClient(server.url, 5, jar)
    client.request("POST", "/login", {})
    client.request("GET", "/me")
    assert [cookie.value for cookie in jar] == ["s1"]
    assert server.seen[1]["headers"].get("Cookie") == "sessionid=s1"


def test_proxy_from_the_environment_is_not_used(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "")
    server.answers["/ok"] = (200, b"true", {})
    assert http_json.JsonClient(server.url, 5).request("GET", "/ok").payload is True


def test_no_answer_raises_naming_method_and_url_never_the_secrets() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = http_json.JsonClient(f"http://127.0.0.1:{port}/", 5)
    token = http_json.basic_auth("admin", "hunter2-secret")
    with pytest.raises(http_json.RequestFailed) as caught:
        client.request(
            "PUT",
            "/api/users/1",
            {"password": "hunter2-secret"},
            {"Authorization": token},
        )
    message = str(caught.value)
    assert message.startswith(f"PUT http://127.0.0.1:{port}/api/users/1 failed: ")
    assert "refused" in message.lower()
    assert "hunter2" not in message and token.split()[1] not in message


def test_basic_auth() -> None:
    assert http_json.basic_auth("admin", "pa:ss") == "Basic YWRtaW46cGE6c3M="
