"""Unit tests of the TLS client helpers shared by wait_ready and quadlet_reconcile.

The handshakes themselves are tested against real TLS servers in the modules' tests.
"""

import http.client
import ssl

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils import tls_client


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9090/-/reload", ("http", "127.0.0.1", 9090, "/-/reload")),
        ("https://[::1]:3100/ready?x=1", ("https", "::1", 3100, "/ready?x=1")),
        ("https://stack.example", ("https", "stack.example", None, "/")),
    ],
)
def test_parse_url(url: str, expected: tuple[str, str, "int | None", str]) -> None:
    target = tls_client.parse_url(url)
    assert (target.scheme, target.host, target.port, target.path) == expected
    assert target.is_https == (expected[0] == "https")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/", "url scheme must be http or https"),
        ("http:///path", "has no host"),
        ("http://127.0.0.1:99999/", "out of range"),
    ],
)
def test_parse_url_rejects(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tls_client.parse_url(url)


def test_client_context_verifies_by_default() -> None:
    context = tls_client.client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_client_context_without_validation() -> None:
    context = tls_client.client_context(validate_certs=False)
    assert context.verify_mode == ssl.CERT_NONE
    assert context.check_hostname is False


def test_client_context_with_a_bad_ca_file_raises_oserror(tmp_path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(OSError):
        tls_client.client_context(ca_path=str(bogus))


def test_open_connection_picks_the_class_by_scheme() -> None:
    plain = tls_client.open_connection(tls_client.parse_url("http://127.0.0.1:1/"), 1.0)
    assert isinstance(plain, http.client.HTTPConnection)
    assert not isinstance(plain, http.client.HTTPSConnection)
    secure = tls_client.open_connection(
        tls_client.parse_url("https://127.0.0.1:1/"), 1.0, server_name="stack.example"
    )
    assert isinstance(secure, tls_client.ServerNameHTTPSConnection)
    assert secure.server_name == "stack.example"
    assert (secure.host, secure.port, secure.timeout) == ("127.0.0.1", 1, 1.0)


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code = code
    exc.verify_message = message
    return exc


def test_verification_failure_points_at_the_option_on_a_name_mismatch() -> None:
    exc = _verify_error(64, "IP address mismatch, certificate is not valid for '127.0.0.1'.")
    assert tls_client.verification_failure(exc, None, "reload_server_name") == (
        "TLS certificate verification failed: IP address mismatch, certificate is not valid for"
        " '127.0.0.1'. (set reload_server_name to the name the certificate holds)"
    )


def test_verification_failure_without_hint_when_a_name_was_given_or_the_ca_is_wrong() -> None:
    mismatch = _verify_error(62, "Hostname mismatch, certificate is not valid for 'x'.")
    assert tls_client.verification_failure(mismatch, "x") == (
        "TLS certificate verification failed: Hostname mismatch, certificate is not valid for 'x'."
    )
    unknown = _verify_error(20, "unable to get local issuer certificate")
    assert tls_client.verification_failure(unknown) == (
        "TLS certificate verification failed: unable to get local issuer certificate"
    )
