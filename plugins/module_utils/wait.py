# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting until HTTP(S) endpoints or TCP ports really answer: endpoints, polling, message.

Moved from the wait_ready module (issue 19 item 3) so that module and the one-call service
module share it. Nothing here needs the module object: options_from_params checks
wait_ready's options (as AnsibleModule gives them, or a plain mapping with defaults left
out), wait_until_ready polls every endpoint at once and returns an Outcome, and
failure_message names every endpoint that is not ready.
"""

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ansible_collections.lgtm.stack.plugins.module_utils import tls_client

MAX_BODY_BYTES = 1024 * 1024
EXCERPT_CHARS = 200
USER_AGENT = "lgtm.stack-wait_ready/0.1"
# socket.timeout is only an alias of TimeoutError from Python 3.10 on.
_TIMEOUT_ERRORS = (TimeoutError, socket.timeout)
_METHOD_RE = re.compile(r"^[A-Za-z]+$")

# One endpoint's options in an argument spec: wait_ready's, and every module that waits.
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

# Defaults of wait_ready's top-level options, for callers that leave them out.
DEFAULT_TIMEOUT = 120.0
DEFAULT_REQUEST_TIMEOUT = 5.0
DEFAULT_INTERVAL = 0.1
DEFAULT_MAX_INTERVAL = 0.5

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
    url: str | None = None
    host: str | None = None
    port: int | None = None
    status_codes: list[int] = field(default_factory=lambda: [200])
    method: str = "GET"
    body_contains: str | None = None
    body_regex: re.Pattern[str] | None = None
    json_key: str | None = None
    json_value: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    validate_certs: bool = True
    ca_path: str | None = None
    server_name: str | None = None
    timeout: float | None = None

    @property
    def is_tcp(self) -> bool:
        return self.url is None


@dataclass
class Attempt:
    """Outcome of one request or connection attempt."""

    ready: bool
    status: int | None = None
    error: str | None = None
    body_excerpt: str | None = None
    definitive: bool = False


@dataclass
class Result:
    """What is known about one endpoint."""

    name: str
    ready: bool = False
    elapsed: float = 0.0
    attempts: int = 0
    status: int | None = None
    error: str | None = "no answer yet"
    body_excerpt: str | None = None

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


def _compile_regex(label: str, pattern: str | None) -> re.Pattern[str] | None:
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


def check_json(endpoint: Endpoint, body: bytes) -> str | None:
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


def check_response(endpoint: Endpoint, status: int, body: bytes) -> str | None:
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


def describe_error(exc: BaseException, server_name: str | None = None) -> tuple[str, bool]:
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

    def get(self, validate_certs: bool, ca_path: str | None) -> ssl.SSLContext:
        key = (validate_certs, ca_path or "")
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._build(validate_certs, ca_path)
            return self._cache[key]

    @staticmethod
    def _build(validate_certs: bool, ca_path: str | None) -> ssl.SSLContext:
        return tls_client.client_context(validate_certs, ca_path)


def _address(endpoint: Endpoint) -> tuple[str, int | None, str]:
    """(host, port, request target) of an endpoint."""
    if endpoint.is_tcp:
        return endpoint.host or "", endpoint.port, ""
    parts = urllib.parse.urlsplit(endpoint.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname or "", parts.port, target


def _tls_context(endpoint: Endpoint, contexts: TLSContexts) -> ssl.SSLContext | None:
    if endpoint.is_tcp or urllib.parse.urlsplit(endpoint.url).scheme != "https":
        return None
    return contexts.get(endpoint.validate_certs, endpoint.ca_path)


class Probe:
    """One endpoint's request or connection attempt, set up once and repeated.

    HTTP goes through http.client directly: no proxy from the environment, redirects are not
    followed, and every status comes back as a status rather than as an exception. HTTPS
    verifies the certificate against the endpoint's server_name when it has one.
    """

    def __init__(self, endpoint: Endpoint, contexts: TLSContexts | None = None) -> None:
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


class Clock(Protocol):
    """Where the pollers read the time: the time module, or a fake one in tests."""

    def monotonic(self) -> float: ...


class Poller:
    """Polls one endpoint in its own thread until ready, definitive failure, deadline or stop."""

    def __init__(
        self,
        endpoint: Endpoint,
        start: float,
        deadline: float,
        pacing: Pacing,
        stop: threading.Event,
        contexts: TLSContexts,
        clock: Clock | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else time
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
            self._record(problem, self.clock.monotonic(), counts=False)
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
            began = self.clock.monotonic()
            timeout = max(min(self.pacing.request_timeout, self.deadline - began), 0.001)
            attempt = probe.attempt(timeout)
            now = self.clock.monotonic()
            self._record(attempt, now)
            if attempt.ready:
                return
            if attempt.definitive or now >= self.deadline:
                self.failed_definitively = True
                return
            delay = min(max(began + interval - now, 0.0), self.deadline - now)
            if self.stop.wait(delay):
                break
            if self.clock.monotonic() >= self.deadline:
                self.failed_definitively = True
                break
            interval = min(interval * 2, self.pacing.max_interval)
        with self.lock:
            self.result.elapsed = self.clock.monotonic() - self.start


def _stopped_result(poller: Poller, culprit: str, now: float) -> Result:
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
    clock: Clock | None = None,
) -> list[Result]:
    """Poll all endpoints concurrently; return one Result per endpoint, in order."""
    clock = clock if clock is not None else time
    start = clock.monotonic()
    stop = threading.Event()
    changed = threading.Condition()
    pacing = Pacing(request_timeout, interval, max_interval)
    contexts = TLSContexts()
    pollers = [
        Poller(
            endpoint,
            start,
            start + (endpoint.timeout if endpoint.timeout is not None else timeout),
            pacing,
            stop,
            contexts,
            clock,
        )
        for endpoint in endpoints
    ]
    culprit: list[str] = []

    def work(poller: Poller) -> None:
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
        now = clock.monotonic()
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


# --------------------------------------------------------------------------- one call


@dataclass(frozen=True)
class Options:
    """A checked wait: the endpoints and how long and how often to poll them."""

    endpoints: list[Endpoint]
    timeout: float = DEFAULT_TIMEOUT
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    interval: float = DEFAULT_INTERVAL
    max_interval: float = DEFAULT_MAX_INTERVAL
    fail_fast: bool = False


@dataclass
class Outcome:
    """What one wait found: each endpoint's Result, in order, and how long it took."""

    results: list[Result]
    elapsed: float

    @property
    def ready(self) -> bool:
        return all(result.ready for result in self.results)

    def as_dict(self) -> dict[str, Any]:
        """wait_ready's result keys (besides changed and msg)."""
        return {
            "elapsed": round(self.elapsed, 3),
            "endpoints": [result.as_dict() for result in self.results],
        }


def _option(params: Mapping[str, Any], key: str, default: Any) -> Any:
    value = params.get(key)
    return default if value is None else value


def options_from_params(params: Mapping[str, Any]) -> Options:
    """Check wait_ready's options; EndpointError names the first bad one.

    The timing options are checked before the endpoints, as wait_ready always did.
    """
    timeout = float(_option(params, "timeout", DEFAULT_TIMEOUT))
    request_timeout = float(_option(params, "request_timeout", DEFAULT_REQUEST_TIMEOUT))
    interval = float(_option(params, "interval", DEFAULT_INTERVAL))
    max_interval = float(_option(params, "max_interval", DEFAULT_MAX_INTERVAL))
    check_timing(timeout, request_timeout, interval, max_interval)
    return Options(
        endpoints=endpoints_from_params(params.get("endpoints") or []),
        timeout=timeout,
        request_timeout=request_timeout,
        interval=interval,
        max_interval=max_interval,
        fail_fast=bool(params.get("fail_fast")),
    )


def wait_until_ready(options: Options, clock: Clock | None = None) -> Outcome:
    """Poll every endpoint of options at once until each is ready or its deadline passed."""
    clock = clock if clock is not None else time
    start = clock.monotonic()
    results = wait_for_endpoints(
        options.endpoints,
        timeout=options.timeout,
        request_timeout=options.request_timeout,
        interval=options.interval,
        max_interval=options.max_interval,
        fail_fast=options.fail_fast,
        clock=clock,
    )
    return Outcome(results, clock.monotonic() - start)
