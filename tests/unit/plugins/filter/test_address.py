"""The address filters every service role uses for PublishPort and readiness URLs."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.filter.address import client_host, publish_port


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("127.0.0.1", 3100), "127.0.0.1:3100:3100"),
        (("10.8.0.11", 8200, 8000), "10.8.0.11:8200:8000"),
        (("::1", "3200"), "[::1]:3200:3200"),
        (("[fd00::5]", 9009), "[fd00::5]:9009:9009"),
        (("0.0.0.0", 4317), "0.0.0.0:4317:4317"),
    ],
)
def test_publish_port(args, expected):
    assert publish_port(*args) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("::", "[::1]"),
     ("fd00::5", "[fd00::5]"), ("10.8.0.11", "10.8.0.11")],
)
def test_client_host(address, expected):
    assert client_host(address) == expected


@pytest.mark.parametrize("bad", ["localhost", "10.0.0.300", ""])
def test_not_an_address_fails_clearly(bad):
    with pytest.raises(AnsibleFilterError, match="is not an IP address"):
        publish_port(bad, 3100)
