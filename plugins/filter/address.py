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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"publish_port": publish_port, "client_host": client_host}
