# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP(S) connections from the managed host that verify a chosen TLS server name.

Clients on the same host reach a service at a container name or at 127.0.0.1, while its
certificate names the host's address. These helpers verify the certificate against a given
CA file and a given name, which is also sent as SNI, instead of the host in the URL. The
rest is plain http.client: no proxy from the environment, no redirects followed, and every
HTTP status comes back as a status.

Stdlib only, shared by the wait_ready and quadlet_reconcile modules.
"""

# Managed hosts may run Python 3.9 (ansible-core's minimum), where "str | None"
# annotations only work as postponed annotations.
from __future__ import annotations

import http.client
import ssl
import urllib.parse
from dataclasses import dataclass

# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH_CODES = (62, 64)


def client_context(validate_certs: bool = True, ca_path: str | None = None) -> ssl.SSLContext:
    """A TLS client context that verifies against ca_path (else the system trust store).

    Raises OSError (ssl.SSLError included) when ca_path cannot be loaded as PEM CA
    certificates.
    """
    if validate_certs:
        context = ssl.create_default_context(cafile=ca_path)
        # Python 3.13 turned on strict X.509 checks by default, which refuse a CA without
        # a keyUsage extension, as plain "openssl req -x509" makes them. The services'
        # clients are Go, which accepts such a CA; readiness must not fail where they work.
        # Chain, expiry and name are verified all the same.
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        return context
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class ServerNameHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose handshake uses server_name instead of the host it connects to.

    The name is sent as SNI and, when the context checks host names, the certificate must
    hold it: a DNS name is matched against the DNS subjectAltNames, an IP address against the
    IP ones (Python's ssl sends no SNI for an address). Without server_name this is a plain
    HTTPSConnection. The Host header still names the host connected to.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        timeout: float,
        context: ssl.SSLContext,
        server_name: str | None = None,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.server_name = server_name

    def connect(self) -> None:
        if not self.server_name:
            super().connect()
            return
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)


@dataclass(frozen=True)
class Target:
    """Where an http(s) URL points: scheme, host, port and request target (path?query)."""

    scheme: str
    host: str
    port: int | None
    path: str

    @property
    def is_https(self) -> bool:
        return self.scheme == "https"


def parse_url(url: str) -> Target:
    """Split an http or https URL; raises ValueError for anything else or a bad port."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"url scheme must be http or https, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"url {url!r} has no host")
    port = parts.port  # ValueError for a port that is not a number or out of range
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path)


def open_connection(
    target: Target,
    timeout: float,
    context: ssl.SSLContext | None = None,
    server_name: str | None = None,
) -> http.client.HTTPConnection:
    """A connection (not yet connected) for a target; context and server_name apply to https.

    Without a context, https verifies against the system trust store.
    """
    if target.is_https:
        return ServerNameHTTPSConnection(
            target.host,
            target.port,
            timeout=timeout,
            context=context if context is not None else client_context(),
            server_name=server_name,
        )
    return http.client.HTTPConnection(target.host, target.port, timeout=timeout)


def verification_failure(
    exc: ssl.SSLCertVerificationError, server_name: str | None = None, option: str = "server_name"
) -> str:
    """Describe a certificate verification failure.

    A name mismatch without a server name given points at the option that sets one, since
    the usual cause is a certificate issued for another name than the host in the URL.
    """
    detail = exc.verify_message or exc.reason or str(exc)
    message = f"TLS certificate verification failed: {detail}"
    if exc.verify_code in _NAME_MISMATCH_CODES and not server_name:
        message += f" (set {option} to the name the certificate holds)"
    return message
