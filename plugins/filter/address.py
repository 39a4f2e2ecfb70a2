# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn a listen address into what Podman and HTTP clients on the host need.

Every service role publishes ports on a listen address and then waits for the service
on the host itself; IPv6 addresses need brackets in both places, and a wildcard
address is not something a client can connect to.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError

WILDCARD_CLIENT = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def _address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(value).strip("[]"))
    except ValueError:
        raise AnsibleFilterError(f"{value!r} is not an IP address") from None


def _bracketed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return f"[{address}]" if address.version == 6 else str(address)


def publish_port(address: Any, host_port: Any, container_port: Any = None) -> str:
    """PublishPort value: 127.0.0.1:3100:3100, or [::1]:3100:3100 for IPv6."""
    target = host_port if container_port is None else container_port
    return f"{_bracketed(_address(address))}:{int(host_port)}:{int(target)}"


def client_host(address: Any) -> str:
    """Host part of a URL that reaches a service published on `address` from the same host."""
    parsed = _address(address)
    return _bracketed(_address(WILDCARD_CLIENT.get(str(parsed), str(parsed))))


def tls_server_name(address: Any, override: Any = "", inventory_address: Any = "") -> str:
    """The name clients verify in a service's TLS certificate.

    The operator's name when given; else the address the service is published on, or,
    published on every interface, the address the inventory reaches the host at.
    """
    if override:
        return str(override)
    parsed = _address(address)
    if parsed.is_unspecified:
        if not inventory_address:
            raise AnsibleFilterError(
                f"a service published on {parsed} needs lgtm_tls_server_name or ansible_host "
                f"for the name in its TLS certificate")
        return str(inventory_address)
    return str(parsed)


# How long a unit waits at boot for its listen address (a VPN interface may come up
# well after network-online.target); below the roles' TimeoutStartSec.
ADDRESS_WAIT_SECONDS = 90


def _published_addresses(publish: Any) -> list[str]:
    values = publish if isinstance(publish, list) else [publish]
    found = []
    for value in values:
        text = str(value)
        if text.startswith("["):
            address = text[1:text.index("]")]
        elif text.count(":") == 2:
            address = text.split(":", 1)[0]
        else:
            continue  # host:container or container only: every address
        parsed = _address(address)
        if not (parsed.is_loopback or parsed.is_unspecified) and address not in found:
            found.append(address)
    return found


def _appended(section: dict[str, Any], key: str, values: list[str]) -> None:
    current = section.get(key)
    existing = [] if current is None else current if isinstance(current, list) else [current]
    section[key] = existing + [value for value in values if value not in existing]


def wait_for_listen_address(sections: Any) -> dict[str, Any]:
    """Unit sections that wait at boot until every non-loopback published address exists.

    Podman cannot publish on an address the host does not have yet, and a VPN or
    secondary interface may get its address after network-online.target.
    """
    if not isinstance(sections, dict):
        raise AnsibleFilterError(f"unit sections must be a mapping, got {type(sections).__name__}")
    addresses = _published_addresses(sections.get("Container", {}).get("PublishPort", []))
    if not addresses:
        return sections
    result = {name: dict(section) for name, section in sections.items()}
    unit = result.setdefault("Unit", {})
    _appended(unit, "Wants", ["network-online.target"])
    _appended(unit, "After", ["network-online.target"])
    service = result.setdefault("Service", {})
    _appended(service, "ExecStartPre", [
        f"/usr/bin/timeout {ADDRESS_WAIT_SECONDS} /bin/sh -c "
        f"'until ip -o address show | grep -qF \" {address}/\"; do sleep 0.5; done'"
        for address in addresses
    ])
    return result


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"publish_port": publish_port, "client_host": client_host,
                "tls_server_name": tls_server_name,
                "wait_for_listen_address": wait_for_listen_address}
