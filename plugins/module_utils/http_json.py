# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small JSON client for a service's HTTP API, from the managed host.

Shared by the grafana_users and glitchtip_bootstrap modules (issue 19). Every HTTP status
comes back as a status, with the answer decoded (JSON, else text); only a request that
gets no answer at all raises, with RequestFailed, which each caller turns into its own
error. Headers and bodies never enter that message, so passwords sent in them cannot leak.

Stdlib only.
"""

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

import base64
import http.cookiejar
import json
import urllib.error
import urllib.request
from typing import Any, NamedTuple

# How much of an answer that is not JSON is kept: enough for an error message.
TEXT_LIMIT = 500


class RequestFailed(Exception):
    """No HTTP answer (refused, unreachable, timed out); the message names method and URL."""


class Reply(NamedTuple):
    status: int
    payload: Any
    headers: dict[str, str]


def basic_auth(login: str, password: str) -> str:
    """The value of an Authorization header for HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def decode(raw: bytes) -> Any:
    """JSON when the body parses as JSON, None when empty, else its text (cut short)."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")[:TEXT_LIMIT]


class JsonClient:
    """Requests to one base URL; with a cookie jar, a session's cookies are kept and sent."""

    def __init__(
        self, url: str, timeout: float, cookies: http.cookiejar.CookieJar | None = None
    ) -> None:
        self.base = url.rstrip("/")
        self.timeout = timeout
        # No proxy: the services run on this host, and a proxy from the environment would
        # not reach them.
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if cookies is not None:
            handlers.append(urllib.request.HTTPCookieProcessor(cookies))
        self.opener = urllib.request.build_opener(*handlers)

    def url(self, path: str) -> str:
        """A path below the base URL; an absolute URL (a pagination link) as it is."""
        return path if path.startswith(("http://", "https://")) else self.base + path

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send body (when not None) as JSON; any status is a Reply, no answer RequestFailed."""
        url = self.url(path)
        sent = {"Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=sent, method=method)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                status, raw, received = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, received = error.code, error.read(), error.headers
        except (urllib.error.URLError, OSError) as error:
            raise RequestFailed(f"{method} {url} failed: {error}") from None
        return Reply(status, decode(raw), dict(received or {}))
