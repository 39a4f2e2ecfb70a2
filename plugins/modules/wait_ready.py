#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: wait_ready
short_description: Wait until HTTP(S) endpoints or TCP ports really answer
version_added: "0.1.0"
author: lgtm.stack contributors (@lgtm-stack)
description:
  - Polls one or more endpoints from the managed host until each one is ready, or until a
    deadline passes.
  - An HTTP(S) endpoint is ready when it answers with one of O(endpoints[].status_codes) and,
    when asked for, its body contains a text, matches a regular expression, or holds a given
    value at a JSON key.
  - A TCP endpoint (O(endpoints[].host) and O(endpoints[].port)) is ready as soon as a
    connection can be opened.
  - All endpoints are polled at the same time, one thread each, so a call lasts about as long
    as the slowest endpoint, not the sum of all of them.
  - Answers that are normal while a service starts (a 5xx or any status not listed, connection
    refused or reset, a request timing out, a body or JSON value that does not match yet) are
    retried until the deadline. Polling starts at O(interval) and backs off exponentially up
    to O(max_interval).
  - A TLS certificate verification failure is not retried, since waiting does not fix it; that
    endpoint fails at once, the others go on unless O(fail_fast=true). Other TLS errors (for
    example a handshake cut short while the service starts) are retried.
  - When some endpoint is not ready, the task fails with one message that names every such
    endpoint with its last status, the start of its last body and its last error.
options:
  endpoints:
    description:
      - The endpoints to wait for.
      - Each one needs exactly one of O(endpoints[].url) or O(endpoints[].host) together with
        O(endpoints[].port).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name used in the result and in error messages.
          - Defaults to the URL, or to V(host:port) for a TCP endpoint.
        type: str
      url:
        description:
          - HTTP or HTTPS URL to request. Redirects are not followed, the redirect status itself
            is compared with O(endpoints[].status_codes).
          - Mutually exclusive with O(endpoints[].host) and O(endpoints[].port).
        type: str
      host:
        description:
          - Host name or address for a plain TCP connect check. Requires O(endpoints[].port).
        type: str
      port:
        description:
          - TCP port (1-65535) for a plain TCP connect check. Requires O(endpoints[].host).
        type: int
      status_codes:
        description:
          - HTTP status codes that count as ready. Ignored for TCP endpoints.
        type: list
        elements: int
        default: [200]
      method:
        description:
          - HTTP method of the request. No request body is sent.
        type: str
        default: GET
      body_contains:
        description:
          - Text that the response body must contain.
        type: str
      body_regex:
        description:
          - Regular expression that must match somewhere in the response body (Python
            C(re.search)).
        type: str
      json_key:
        description:
          - Dotted path of a value in the JSON response body, for example V(database) or
            V(a.b.0.c); a number selects an item of a list.
          - Without O(endpoints[].json_value) the key only has to exist.
        type: str
      json_value:
        description:
          - Value expected at O(endpoints[].json_key). Values are compared for equality; when that
            fails they are also compared as text, so V(ok), V("200") and V(true) match the JSON
            values V("ok"), V(200) and V(true).
          - Requires O(endpoints[].json_key).
        type: raw
      headers:
        description:
          - Extra request headers, for example C(X-Scope-OrgID) for a multi-tenant Loki or Mimir.
        type: dict
      url_username:
        description:
          - User name for HTTP basic authentication. The credentials are sent with the first
            request, without waiting for a challenge.
        type: str
      url_password:
        description:
          - Password for HTTP basic authentication. Requires O(endpoints[].url_username).
        type: str
      validate_certs:
        description:
          - Whether to verify the TLS certificate of an HTTPS endpoint and the name it holds (the
            host of the URL, or O(endpoints[].server_name)).
        type: bool
        default: true
      ca_path:
        description:
          - PEM file with the CA certificates used to verify the HTTPS endpoint, instead of the
            system trust store. The file must exist on the managed host.
        type: path
      server_name:
        description:
          - Name the TLS certificate of an HTTPS endpoint is verified against, instead of the
            host in O(endpoints[].url). It is also sent as the TLS server name (SNI).
          - For a service whose certificate names another host than the one connected to, for
            example the host's address while the check connects to V(127.0.0.1).
          - A DNS name must be among the certificate's DNS subject alternative names; an IP
            address among its IP ones (no SNI is sent for an address).
          - With O(endpoints[].validate_certs=false) it is only sent as SNI. Not used for plain
            HTTP URLs. The C(Host) header still names the host of the URL.
        type: str
      timeout:
        description:
          - Seconds to wait for this endpoint, counted from the start of the task. Overrides
            O(timeout) for this endpoint only, and may be shorter or longer than it.
        type: float
  timeout:
    description:
      - Seconds to wait, counted from the start of the task, for every endpoint that does not set
        its own O(endpoints[].timeout).
    type: float
    default: 120
  request_timeout:
    description:
      - Seconds one request or connection attempt may take. A request never runs past the
        deadline of its endpoint.
    type: float
    default: 5
  interval:
    description:
      - Seconds between the first two attempts at an endpoint. The delay doubles after each
        failed attempt, up to O(max_interval). It is counted from the start of an attempt, so a
        slow answer does not add to it.
    type: float
    default: 0.1
  max_interval:
    description:
      - Longest delay in seconds between two attempts at an endpoint. This bounds how late a
        ready service is noticed; the default keeps that below a second.
    type: float
    default: 0.5
  fail_fast:
    description:
      - Whether to stop as soon as one endpoint has failed definitively.
      - An endpoint fails definitively when its deadline passes without it being ready (this only
        happens before the others' deadlines when it has a shorter O(endpoints[].timeout)), or
        when it got an error that waiting does not fix, which is a TLS certificate verification
        failure (a wrong CA, or a name the certificate does not hold), or a
        O(endpoints[].ca_path) that cannot be loaded as PEM CA certificates.
      - With V(true), the task then stops polling the other endpoints and fails at once; those
        that were already ready are reported ready, the others not ready with their last error.
      - With V(false), every endpoint is polled until it is ready or until its own deadline.
    type: bool
    default: false
notes:
  - Proxy environment variables are ignored; the endpoints are contacted directly.
  - Response bodies are read up to 1 MiB.
  - The module never reports a change.
attributes:
  check_mode:
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - In check mode the endpoints are polled just as in a normal run, since the module only
        sends read requests (or opens TCP connections) and changes nothing.
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode),
        when in diff mode.
    support: none
    details:
      - Nothing is changed, so there is no diff.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
seealso:
  - module: ansible.builtin.uri
  - module: ansible.builtin.wait_for
"""

EXAMPLES = r"""
- name: Wait until Grafana answers and its database is ok
  lgtm.stack.wait_ready:
    endpoints:
      - name: grafana
        url: http://127.0.0.1:3000/api/health
        json_key: database
        json_value: ok

- name: Wait for Loki, which answers 503 until its ring is ready
  lgtm.stack.wait_ready:
    timeout: 300
    endpoints:
      - name: loki
        url: http://127.0.0.1:3100/ready
        body_contains: ready

- name: Wait for Mimir through its TLS front-end, with a tenant header and a private CA
  lgtm.stack.wait_ready:
    endpoints:
      - name: mimir
        url: https://mimir.example.internal:9009/prometheus/api/v1/status/buildinfo
        headers:
          X-Scope-OrgID: anonymous
        ca_path: /etc/lgtm/tls/ca.pem
        url_username: ops
        url_password: "{{ mimir_password }}"

- name: Wait for Loki over TLS on this host, its certificate naming the host's address
  lgtm.stack.wait_ready:
    endpoints:
      - name: loki
        url: https://127.0.0.1:3100/ready
        ca_path: /etc/lgtm/loki/tls/ca.crt
        server_name: 192.0.2.10
        body_contains: ready

- name: Wait until PostgreSQL accepts TCP connections
  lgtm.stack.wait_ready:
    timeout: 60
    endpoints:
      - host: 127.0.0.1
        port: 5432

- name: Wait for the whole stack in one call, failing at once on a certificate problem
  lgtm.stack.wait_ready:
    fail_fast: true
    endpoints:
      - name: postgres
        host: 127.0.0.1
        port: 5432
        timeout: 60
      - name: tempo
        url: http://127.0.0.1:3200/ready
      - name: prometheus
        url: http://127.0.0.1:9090/-/ready
      - name: grafana
        url: https://grafana.example.internal/api/health
        body_regex: '"database":\s*"ok"'
      - name: alloy
        url: http://127.0.0.1:12345/-/ready
        method: HEAD
  register: stack_ready

- name: Show how long each service took
  ansible.builtin.debug:
    msg: "{{ stack_ready.endpoints | items2dict(key_name='name', value_name='elapsed') }}"
"""

RETURN = r"""
elapsed:
  description: Seconds from the start of the task until it ended.
  returned: always
  type: float
  sample: 3.412
endpoints:
  description: One item per endpoint, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the endpoint.
      returned: always
      type: str
      sample: loki
    ready:
      description: Whether the endpoint became ready.
      returned: always
      type: bool
      sample: true
    elapsed:
      description:
        - Seconds from the start of the task until the endpoint was seen ready.
        - For an endpoint that is not ready, until polling it stopped.
      returned: always
      type: float
      sample: 2.81
    attempts:
      description: Number of requests or connection attempts made.
      returned: always
      type: int
      sample: 6
    status:
      description: HTTP status of the last answer, null for a TCP endpoint or when nothing answered.
      returned: always
      type: int
      sample: 200
    error:
      description: Why the last attempt did not count as ready; null when ready.
      returned: always
      type: str
      sample: status 503 not in [200]
    body_excerpt:
      description: First 200 characters of the last response body on one line; null if none.
      returned: always
      type: str
      sample: "Ingester not ready: waiting for 15s after being ready"
"""

import base64
import http.client
import json
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lgtm.stack.plugins.module_utils import tls_client

MAX_BODY_BYTES = 1024 * 1024
EXCERPT_CHARS = 200
USER_AGENT = "lgtm.stack-wait_ready/0.1"
# socket.timeout is only an alias of TimeoutError from Python 3.10 on.
_TIMEOUT_ERRORS = (TimeoutError, socket.timeout)
_METHOD_RE = re.compile(r"^[A-Za-z]+$")

ENDPOINT_OPTIONS: dict[str, dict[str, Any]] = dict(
    name=dict(type="str"),
    url=dict(type="str"),
    host=dict(type="str"),
    port=dict(type="int"),
    status_codes=dict(type="list", elements="int", default=[200]),
    method=dict(type="str", default="GET"),
    body_contains=dict(type="str"),
    body_regex=dict(type="str"),
    json_key=dict(type="str", no_log=False),
    json_value=dict(type="raw"),
    headers=dict(type="dict"),
    url_username=dict(type="str"),
    url_password=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    server_name=dict(type="str"),
    timeout=dict(type="float"),
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = dict(
    endpoints=dict(type="list", elements="dict", required=True, options=ENDPOINT_OPTIONS),
    timeout=dict(type="float", default=120),
    request_timeout=dict(type="float", default=5),
    interval=dict(type="float", default=0.1),
    max_interval=dict(type="float", default=0.5),
    fail_fast=dict(type="bool", default=False),
)

_HTTP_ONLY_KEYS = (
    "body_contains",
    "body_regex",
    "json_key",
    "json_value",
    "headers",
    "url_username",
    "url_password",
    "ca_path",
    "server_name",
)


class EndpointError(ValueError):
    """An endpoint definition that cannot be used."""


@dataclass
class Endpoint:
    """A validated endpoint to poll."""

    name: str
    url: "str | None" = None
    host: "str | None" = None
    port: "int | None" = None
    status_codes: list[int] = field(default_factory=lambda: [200])
    method: str = "GET"
    body_contains: "str | None" = None
    body_regex: "re.Pattern[str] | None" = None
    json_key: "str | None" = None
    json_value: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    validate_certs: bool = True
    ca_path: "str | None" = None
    server_name: "str | None" = None
    timeout: "float | None" = None

    @property
    def is_tcp(self) -> bool:
        return self.url is None


@dataclass
class Attempt:
    """Outcome of one request or connection attempt."""

    ready: bool
    status: "int | None" = None
    error: "str | None" = None
    body_excerpt: "str | None" = None
    definitive: bool = False


@dataclass
class Result:
    """What is known about one endpoint."""

    name: str
    ready: bool = False
    elapsed: float = 0.0
    attempts: int = 0
    status: "int | None" = None
    error: "str | None" = "no answer yet"
    body_excerpt: "str | None" = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ready": self.ready,
            "elapsed": round(self.elapsed, 3),
            "attempts": self.attempts,
            "status": self.status,
            "error": self.error,
            "body_excerpt": self.body_excerpt,
        }


# --------------------------------------------------------------------------- validation


def _label(index: int, params: dict[str, Any]) -> str:
    name = params.get("name")
    return f"endpoints[{index}] ({name})" if name else f"endpoints[{index}]"


def _check_url(label: str, url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise EndpointError(f"{label}: url scheme must be http or https, got {url!r}")
    if not parts.hostname:
        raise EndpointError(f"{label}: url {url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise EndpointError(f"{label}: put credentials in url_username/url_password, not in url")
    try:
        port = parts.port
    except ValueError as exc:
        raise EndpointError(f"{label}: url {url!r} has a bad port: {exc}") from exc
    if port == 0:
        raise EndpointError(f"{label}: url {url!r} has port 0")


def _check_target(label: str, params: dict[str, Any]) -> None:
    url, host, port = params.get("url"), params.get("host"), params.get("port")
    if url is not None and (host is not None or port is not None):
        raise EndpointError(f"{label}: give either url or host+port, not both")
    if url is None and (host is None or port is None):
        raise EndpointError(f"{label}: needs either url, or both host and port")
    if url is not None:
        _check_url(label, url)
        return
    if not 1 <= port <= 65535:
        raise EndpointError(f"{label}: port must be between 1 and 65535, got {port}")
    extra = [key for key in _HTTP_ONLY_KEYS if params.get(key) is not None]
    if extra:
        raise EndpointError(f"{label}: {', '.join(extra)} only apply to url endpoints")


def _compile_regex(label: str, pattern: "str | None") -> "re.Pattern[str] | None":
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise EndpointError(f"{label}: body_regex {pattern!r} does not compile: {exc}") from exc


def _build_headers(label: str, params: dict[str, Any]) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    headers.update({str(k): str(v) for k, v in (params.get("headers") or {}).items()})
    username, password = params.get("url_username"), params.get("url_password")
    if password is not None and username is None:
        raise EndpointError(f"{label}: url_password requires url_username")
    if username is not None:
        token = base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    return headers


def _default_name(params: dict[str, Any]) -> str:
    if params.get("url") is not None:
        return str(params["url"])
    return f"{params['host']}:{params['port']}"


def endpoint_from_params(index: int, params: dict[str, Any]) -> Endpoint:
    """Validate one endpoint's options (as AnsibleModule gives them) and build an Endpoint."""
    label = _label(index, params)
    _check_target(label, params)
    if params.get("json_value") is not None and params.get("json_key") is None:
        raise EndpointError(f"{label}: json_value requires json_key")
    method = params.get("method") or "GET"
    if not _METHOD_RE.match(method):
        raise EndpointError(f"{label}: method {method!r} is not an HTTP method name")
    ca_path = params.get("ca_path")
    if ca_path is not None and not os.path.isfile(ca_path):
        raise EndpointError(f"{label}: ca_path {ca_path!r} is not an existing file")
    server_name = params.get("server_name")
    if server_name is not None and not server_name.strip():
        raise EndpointError(f"{label}: server_name must not be empty")
    timeout = params.get("timeout")
    if timeout is not None and timeout <= 0:
        raise EndpointError(f"{label}: timeout must be greater than 0")
    status_codes = params.get("status_codes")
    if status_codes is not None and not status_codes:
        raise EndpointError(f"{label}: status_codes must not be empty")
    return Endpoint(
        name=params.get("name") or _default_name(params),
        url=params.get("url"),
        host=params.get("host"),
        port=params.get("port"),
        status_codes=list(status_codes) if status_codes is not None else [200],
        method=method.upper(),
        body_contains=params.get("body_contains"),
        body_regex=_compile_regex(label, params.get("body_regex")),
        json_key=params.get("json_key"),
        json_value=params.get("json_value"),
        headers=_build_headers(label, params),
        validate_certs=params.get("validate_certs", True) is not False,
        ca_path=ca_path,
        server_name=server_name.strip() if server_name is not None else None,
        timeout=timeout,
    )


def endpoints_from_params(items: list[dict[str, Any]]) -> list[Endpoint]:
    if not items:
        raise EndpointError("endpoints must list at least one endpoint")
    return [endpoint_from_params(i, params) for i, params in enumerate(items)]


def check_timing(
    timeout: float, request_timeout: float, interval: float, max_interval: float
) -> None:
    for name, value in (
        ("timeout", timeout),
        ("request_timeout", request_timeout),
        ("interval", interval),
        ("max_interval", max_interval),
    ):
        if value <= 0:
            raise EndpointError(f"{name} must be greater than 0, got {value}")
    if max_interval < interval:
        raise EndpointError(
            f"max_interval ({max_interval}) must not be below interval ({interval})"
        )


# --------------------------------------------------------------------------- checks


def excerpt(body: bytes) -> str:
    """First EXCERPT_CHARS characters of a body, on one line."""
    text = " ".join(body[: EXCERPT_CHARS * 4].decode("utf-8", "replace").split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."


def _show(value: Any) -> str:
    text = f"'{value}'" if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def values_match(actual: Any, expected: Any) -> bool:
    """Equality, falling back to text forms ("200" matches 200, "true" matches true)."""
    if isinstance(actual, bool) == isinstance(expected, bool) and actual == expected:
        return True
    return _as_text(actual) == _as_text(expected)


_MISSING = object()


def lookup_json(document: Any, dotted: str) -> Any:
    """Follow a dotted path (numbers index lists); return _MISSING when it leads nowhere."""
    current = document
    for part in dotted.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and re.fullmatch(r"-?\d+", part):
            index = int(part)
            if not -len(current) <= index < len(current):
                return _MISSING
            current = current[index]
        else:
            return _MISSING
    return current


def check_json(endpoint: Endpoint, body: bytes) -> "str | None":
    key = endpoint.json_key
    try:
        document = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return f"body is not valid JSON (wanted key '{key}')"
    actual = lookup_json(document, key)
    if actual is _MISSING:
        return f"json key '{key}' not found"
    if endpoint.json_value is not None and not values_match(actual, endpoint.json_value):
        return f"json key '{key}' is {_show(actual)}, expected {_show(endpoint.json_value)}"
    return None


def check_response(endpoint: Endpoint, status: int, body: bytes) -> "str | None":
    """Return why an answer does not count as ready, or None when it does."""
    if status not in endpoint.status_codes:
        return f"status {status} not in {endpoint.status_codes}"
    text = body.decode("utf-8", "replace")
    if endpoint.body_contains is not None and endpoint.body_contains not in text:
        return f"body does not contain {endpoint.body_contains!r}"
    if endpoint.body_regex is not None and not endpoint.body_regex.search(text):
        return f"body does not match {endpoint.body_regex.pattern!r}"
    if endpoint.json_key is not None:
        return check_json(endpoint, body)
    return None


def describe_error(exc: BaseException, server_name: "str | None" = None) -> tuple[str, bool]:
    """Turn a connection-level exception into (message, definitive)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return tls_client.verification_failure(exc, server_name), True
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused", False
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer", False
    if isinstance(exc, _TIMEOUT_ERRORS):
        return "timed out", False
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed without an answer", False
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}", False
    if isinstance(exc, socket.gaierror):
        return f"name resolution failed: {exc.strerror or exc}", False
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower(), False
    return f"{type(exc).__name__}: {exc}", False


# --------------------------------------------------------------------------- probes


class TLSContexts:
    """Builds each distinct TLS client context once per call (loading a trust store is slow)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[bool, str], ssl.SSLContext] = {}

    def get(self, validate_certs: bool, ca_path: "str | None") -> ssl.SSLContext:
        key = (validate_certs, ca_path or "")
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._build(validate_certs, ca_path)
            return self._cache[key]

    @staticmethod
    def _build(validate_certs: bool, ca_path: "str | None") -> ssl.SSLContext:
        return tls_client.client_context(validate_certs, ca_path)


def _address(endpoint: Endpoint) -> "tuple[str, int | None, str]":
    """(host, port, request target) of an endpoint."""
    if endpoint.is_tcp:
        return endpoint.host or "", endpoint.port, ""
    parts = urllib.parse.urlsplit(endpoint.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname or "", parts.port, target


def _tls_context(endpoint: Endpoint, contexts: TLSContexts) -> "ssl.SSLContext | None":
    if endpoint.is_tcp or urllib.parse.urlsplit(endpoint.url).scheme != "https":
        return None
    return contexts.get(endpoint.validate_certs, endpoint.ca_path)


class Probe:
    """One endpoint's request or connection attempt, set up once and repeated.

    HTTP goes through http.client directly: no proxy from the environment, redirects are not
    followed, and every status comes back as a status rather than as an exception. HTTPS
    verifies the certificate against the endpoint's server_name when it has one.
    """

    def __init__(self, endpoint: Endpoint, contexts: "TLSContexts | None" = None) -> None:
        self.endpoint = endpoint
        self._host, self._port, self._target = _address(endpoint)
        self._tls = _tls_context(endpoint, contexts or TLSContexts())

    def attempt(self, timeout: float) -> Attempt:
        try:
            if self.endpoint.is_tcp:
                return self._tcp(timeout)
            return self._http(timeout)
        except (OSError, http.client.HTTPException) as exc:
            message, definitive = describe_error(exc, self.endpoint.server_name)
            return Attempt(ready=False, error=message, definitive=definitive)

    def _tcp(self, timeout: float) -> Attempt:
        with socket.create_connection((self._host, self._port), timeout=timeout):
            return Attempt(ready=True)

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._tls is not None:
            return tls_client.ServerNameHTTPSConnection(
                self._host,
                self._port,
                timeout=timeout,
                context=self._tls,
                server_name=self.endpoint.server_name,
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _http(self, timeout: float) -> Attempt:
        endpoint = self.endpoint
        connection = self._connection(timeout)
        try:
            connection.request(endpoint.method, self._target, headers=endpoint.headers)
            response = connection.getresponse()
            status, body = response.status, response.read(MAX_BODY_BYTES)
        finally:
            connection.close()
        problem = check_response(endpoint, status, body)
        return Attempt(
            ready=problem is None, status=status, error=problem, body_excerpt=excerpt(body)
        )


# --------------------------------------------------------------------------- polling


@dataclass
class Pacing:
    """How often and how long to try."""

    request_timeout: float = 5.0
    interval: float = 0.1
    max_interval: float = 0.5


class _Poller:
    """Polls one endpoint in its own thread until ready, definitive failure, deadline or stop."""

    def __init__(
        self,
        endpoint: Endpoint,
        start: float,
        deadline: float,
        pacing: Pacing,
        stop: threading.Event,
        contexts: TLSContexts,
    ) -> None:
        self.endpoint = endpoint
        self.start = start
        self.deadline = deadline
        self.pacing = pacing
        self.stop = stop
        self.contexts = contexts
        self.lock = threading.Lock()
        self.result = Result(name=endpoint.name)
        self.finished = False
        self.failed_definitively = False

    def snapshot(self) -> Result:
        with self.lock:
            return Result(**vars(self.result))

    def _record(self, attempt: Attempt, now: float, counts: bool = True) -> None:
        with self.lock:
            result = self.result
            result.attempts += 1 if counts else 0
            result.status = attempt.status
            result.error = attempt.error
            result.body_excerpt = attempt.body_excerpt
            result.ready = attempt.ready
            result.elapsed = now - self.start

    def run(self) -> None:
        try:
            probe = Probe(self.endpoint, self.contexts)
        except OSError as exc:  # ssl.SSLError included: an unreadable CA bundle
            problem = Attempt(ready=False, error=f"cannot set up TLS: {exc}")
            self._record(problem, time.monotonic(), counts=False)
            self.failed_definitively = True
            return
        try:
            self._loop(probe)
        except Exception as exc:  # a bug must not hang the whole call
            with self.lock:
                self.result.error = f"internal error: {type(exc).__name__}: {exc}"
            self.failed_definitively = True

    def _loop(self, probe: Probe) -> None:
        interval = self.pacing.interval
        while not self.stop.is_set():
            began = time.monotonic()
            timeout = max(min(self.pacing.request_timeout, self.deadline - began), 0.001)
            attempt = probe.attempt(timeout)
            now = time.monotonic()
            self._record(attempt, now)
            if attempt.ready:
                return
            if attempt.definitive or now >= self.deadline:
                self.failed_definitively = True
                return
            delay = min(max(began + interval - now, 0.0), self.deadline - now)
            if self.stop.wait(delay):
                break
            if time.monotonic() >= self.deadline:
                self.failed_definitively = True
                break
            interval = min(interval * 2, self.pacing.max_interval)
        with self.lock:
            self.result.elapsed = time.monotonic() - self.start


def _stopped_result(poller: _Poller, culprit: str, now: float) -> Result:
    result = poller.snapshot()
    if not result.ready:
        last = result.error or "no answer yet"
        result.error = f"{last} (polling stopped by fail_fast after '{culprit}' failed)"
        result.elapsed = now - poller.start
    return result


def wait_for_endpoints(
    endpoints: list[Endpoint],
    timeout: float = 120.0,
    request_timeout: float = 5.0,
    interval: float = 0.1,
    max_interval: float = 0.5,
    fail_fast: bool = False,
) -> list[Result]:
    """Poll all endpoints concurrently; return one Result per endpoint, in order."""
    start = time.monotonic()
    stop = threading.Event()
    changed = threading.Condition()
    pacing = Pacing(request_timeout, interval, max_interval)
    contexts = TLSContexts()
    pollers = [
        _Poller(
            endpoint,
            start,
            start + (endpoint.timeout if endpoint.timeout is not None else timeout),
            pacing,
            stop,
            contexts,
        )
        for endpoint in endpoints
    ]
    culprit: list[str] = []

    def work(poller: _Poller) -> None:
        poller.run()
        with changed:
            poller.finished = True
            if poller.failed_definitively and fail_fast and not culprit:
                culprit.append(poller.endpoint.name)
                stop.set()
            changed.notify_all()

    for poller in pollers:
        threading.Thread(
            target=work, args=(poller,), name=f"wait_ready:{poller.endpoint.name}", daemon=True
        ).start()
    with changed:
        changed.wait_for(lambda: bool(culprit) or all(p.finished for p in pollers))
    if culprit:
        now = time.monotonic()
        return [_stopped_result(p, culprit[0], now) for p in pollers]
    return [p.snapshot() for p in pollers]


def failure_message(results: list[Result]) -> str:
    """One message naming every endpoint that is not ready, with its last answer and error."""
    parts = []
    for result in results:
        if result.ready:
            continue
        status = result.status if result.status is not None else "none"
        text = (
            f"'{result.name}': {result.error}; last status {status}; "
            f"{result.attempts} attempt(s) in {result.elapsed:.1f}s"
        )
        if result.body_excerpt:
            text += f'; last body: "{result.body_excerpt}"'
        parts.append(text)
    return f"{len(parts)} of {len(results)} endpoint(s) not ready: " + " | ".join(parts)


# --------------------------------------------------------------------------- module


def run_module(module: AnsibleModule) -> None:
    params = module.params
    try:
        check_timing(
            params["timeout"], params["request_timeout"], params["interval"], params["max_interval"]
        )
        endpoints = endpoints_from_params(params["endpoints"])
    except EndpointError as exc:
        module.fail_json(msg=str(exc), changed=False)
    start = time.monotonic()
    results = wait_for_endpoints(
        endpoints,
        timeout=params["timeout"],
        request_timeout=params["request_timeout"],
        interval=params["interval"],
        max_interval=params["max_interval"],
        fail_fast=params["fail_fast"],
    )
    output = dict(
        changed=False,
        elapsed=round(time.monotonic() - start, 3),
        endpoints=[r.as_dict() for r in results],
    )
    if all(r.ready for r in results):
        module.exit_json(**output)
    module.fail_json(msg=failure_message(results), **output)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module)


if __name__ == "__main__":
    main()
