"""The address filters every service role uses for PublishPort and readiness URLs."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.filter.address import (
    client_host,
    publish_port,
    tls_server_name,
    wait_for_listen_address,
)


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


LOKI_SECTIONS = {
    "Unit": {"Description": "Loki", "After": "lgtm-network.service"},
    "Container": {"Image": "loki", "PublishPort": "127.0.0.1:3100:3100"},
    "Service": {"Restart": "always"},
}


def with_publish(publish):
    return {**LOKI_SECTIONS, "Container": {**LOKI_SECTIONS["Container"], "PublishPort": publish}}


@pytest.mark.parametrize("publish", ["127.0.0.1:3100:3100", "0.0.0.0:3100:3100", "[::1]:3100:3100",
                                     "[::]:3100:3100", "3100:3100", []])
def test_loopback_and_wildcard_units_are_unchanged(publish):
    sections = with_publish(publish)
    assert wait_for_listen_address(sections) == sections


def test_private_address_waits_for_the_address_and_the_network():
    result = wait_for_listen_address(with_publish(["10.8.0.11:3100:3100", "[fd00::5]:3101:3101",
                                                   "10.8.0.11:9095:9095"]))
    assert result["Unit"]["After"] == ["lgtm-network.service", "network-online.target"]
    assert result["Unit"]["Wants"] == ["network-online.target"]
    waits = result["Service"]["ExecStartPre"]
    assert len(waits) == 2
    assert '" 10.8.0.11/"' in waits[0] and '" fd00::5/"' in waits[1]
    prefix = "/usr/bin/timeout 90 /bin/sh -c 'until ip -o address show"
    assert all(w.startswith(prefix) for w in waits)
    assert "$" not in "".join(waits) and "%" not in "".join(waits), "no systemd specifiers"
    assert LOKI_SECTIONS["Unit"]["After"] == "lgtm-network.service", "the input is not modified"


def test_unit_sections_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError):
        wait_for_listen_address("Unit")


@pytest.mark.parametrize(("address", "override", "inventory_address", "expected"), [
    ("10.8.0.2", "", "store", "10.8.0.2"),
    ("[fd00::2]", "", "store", "fd00::2"),
    ("10.8.0.2", "logs.example.internal", "store", "logs.example.internal"),
    ("0.0.0.0", "", "store.example.internal", "store.example.internal"),
])
def test_tls_server_name(address, override, inventory_address, expected):
    assert tls_server_name(address, override, inventory_address) == expected


def test_tls_server_name_of_a_wildcard_needs_a_name():
    with pytest.raises(AnsibleFilterError, match="lgtm_tls_server_name"):
        tls_server_name("::")
