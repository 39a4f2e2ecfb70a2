# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a service of the stack runs, seen from one host, derived from the inventory.

Groups `lgtm_<service>` say which hosts run a service. A consumer on the same host
reaches it by its container name on the `lgtm` network and its container port; a
consumer elsewhere needs the other host's listen address and published port. A
backend published only on loopback cannot be reached from another host: that is a
wiring mistake to report, not a URL to hand out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.filter.address import tls_server_name
from ansible_collections.lgtm.stack.plugins.module_utils.catalog import (
    METRICS_BACKENDS,
    SERVICES,
    Port,
)

# Ports, containers and metrics stores: the catalog's (plugins/module_utils/catalog.py).


def _members(groups: Mapping[str, Any], service: str) -> list[str]:
    members = groups.get(f"lgtm_{service}") or []
    return [str(name) for name in members]


def _host_vars(hostvars: Mapping[str, Any], host: str) -> Mapping[str, Any]:
    try:
        return hostvars[host]
    except KeyError:
        message = f"host {host!r} is in a lgtm_* group but not in hostvars"
        raise AnsibleFilterError(message) from None


def _int_port(value: Any, variable: str, host: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        message = f"{variable} on {host!r} must be a port number, got {value!r}"
        raise AnsibleFilterError(message) from None
    if not 1 <= port <= 65535:
        raise AnsibleFilterError(f"{variable} on {host!r} must be between 1 and 65535, got {port}")
    return port


def _listen_address(service: str, backend: str, backend_vars: Mapping[str, Any]) -> tuple[
        str, ipaddress.IPv4Address | ipaddress.IPv6Address]:
    variable = f"{service}_listen_address"
    if variable in backend_vars:
        raw = backend_vars[variable]
    else:
        variable = "lgtm_listen_address"
        raw = backend_vars.get(variable, "127.0.0.1")
    try:
        return variable, ipaddress.ip_address(str(raw).strip("[]"))
    except ValueError:
        message = f"{variable} on {backend!r} is not an IP address: {raw!r}"
        raise AnsibleFilterError(message) from None


def _remote_address(service: str, backend: str, backend_vars: Mapping[str, Any],
                    consumer: str) -> str:
    variable, address = _listen_address(service, backend, backend_vars)
    if address.is_loopback:
        raise AnsibleFilterError(
            f"{service} runs on {backend!r} but is published only on {address} ({variable}), which "
            f"{consumer!r} cannot reach: set {variable} for {backend!r} to an address {consumer!r} "
            f"can connect to (for example its private or VPN interface)")
    if address.is_unspecified:
        # Published on every interface: connect to whatever the inventory connects to.
        return str(backend_vars.get("ansible_host") or backend)
    return f"[{address}]" if address.version == 6 else str(address)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _tls(service: str, spec: Port, backend: str, backend_vars: Mapping[str, Any]) -> dict[str, str]:
    """What a client needs to verify `backend`'s certificate, or {} when it serves plain HTTP.

    Every client checks the certificate against the same name, whether it dials the
    container name on the same host or the published address from another host.
    """
    if not (spec.tls and _truthy(backend_vars.get("lgtm_tls_enabled", False))):
        return {}
    ca_pem = str(backend_vars.get("lgtm_tls_ca_certificate") or "")
    if "-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise AnsibleFilterError(
            f"lgtm_tls_enabled is true on {backend!r} but lgtm_tls_ca_certificate there is not a "
            f"PEM certificate: its clients need the CA that signed its certificate")
    server_name = tls_server_name(_listen_address(service, backend, backend_vars)[1],
                                  backend_vars.get("lgtm_tls_server_name") or "",
                                  backend_vars.get("ansible_host") or backend)
    return {"ca": ca_pem, "server_name": server_name}


def _check_names(service: str, port: str) -> Port:
    if service not in SERVICES:
        known_names = ", ".join(sorted(SERVICES))
        raise AnsibleFilterError(f"unknown service {service!r}; known: {known_names}")
    known = SERVICES[service]
    if port not in known.ports:
        raise AnsibleFilterError(
            f"{service} has no port {port!r}; it has: {', '.join(sorted(known.ports))}")
    return known.ports[port]


def _reach(hostvars: Mapping[str, Any], service: str, spec: Port, backend: str,
           consumer: str) -> tuple[str, dict[str, str]]:
    backend_vars = _host_vars(hostvars, backend)
    if backend == consumer:
        number = spec.container_port or _int_port(
            backend_vars.get(spec.variable, spec.default), spec.variable, backend)
        address = SERVICES[service].container
    else:
        number = _int_port(backend_vars.get(spec.variable, spec.default), spec.variable, backend)
        address = _remote_address(service, backend, backend_vars, consumer)
    tls = _tls(service, spec, backend, backend_vars)
    if spec.grpc:
        return f"{address}:{number}", tls
    return f"{'https' if tls else 'http'}://{address}:{number}", tls


def _backend(groups: Mapping[str, Any], service: str, inventory_hostname: str) -> str:
    members = _members(groups, service)
    if not members:
        return ""
    # Its own instance when it runs one, else the first host of the group.
    return inventory_hostname if inventory_hostname in members else members[0]


def endpoint(hostvars: Mapping[str, Any], service: str, groups: Mapping[str, Any],
             inventory_hostname: str, port: str = "http") -> str:
    """URL (or host:port for gRPC) at which `inventory_hostname` reaches `service`, or ""."""
    spec = _check_names(service, port)
    backend = _backend(groups, service, inventory_hostname)
    return _reach(hostvars, service, spec, backend, inventory_hostname)[0] if backend else ""


def endpoint_tls(hostvars: Mapping[str, Any], service: str, groups: Mapping[str, Any],
                 inventory_hostname: str, port: str = "http") -> dict[str, str]:
    """{ca, server_name} to verify the instance `endpoint` picks; {} for plain HTTP or none."""
    spec = _check_names(service, port)
    backend = _backend(groups, service, inventory_hostname)
    return _reach(hostvars, service, spec, backend, inventory_hostname)[1] if backend else {}


def endpoints(hostvars: Mapping[str, Any], service: str, groups: Mapping[str, Any],
              inventory_hostname: str, port: str = "http") -> list[dict[str, Any]]:
    """Every instance of `service`, as [{host, url, tls}], seen from `inventory_hostname`."""
    spec = _check_names(service, port)
    found = []
    for backend in _members(groups, service):
        url, tls = _reach(hostvars, service, spec, backend, inventory_hostname)
        found.append({"host": backend, "url": url, "tls": tls})
    return found


def _lenient_port(value: Any) -> int:
    # Like Jinja's int filter: a malformed port is the argument specs' to report.
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def published_ports(hostvars: Mapping[str, Any], inventory_hostname: str,
                    groups: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every host port `inventory_hostname` publishes, as [{service, variable, port, address}].

    One entry per port of each service in whose lgtm_<service> group the host is, with the
    port its variable sets (else the role default) and the address it is published on
    (<service>_listen_address, else lgtm_listen_address, else 127.0.0.1). Tempo's OTLP
    ports are left out on a host running Alloy, which owns them there.
    """
    own_vars = _host_vars(hostvars, inventory_hostname)
    runs = {service for service in SERVICES if inventory_hostname in _members(groups, service)}
    found = []
    for service, known in SERVICES.items():
        if service not in runs:
            continue
        address = str(own_vars.get(f"{service}_listen_address",
                                   own_vars.get("lgtm_listen_address", "127.0.0.1"))).strip("[]")
        for name, spec in known.ports.items():
            if service == "tempo" and name.startswith("otlp_") and "alloy" in runs:
                continue
            found.append({"service": service, "variable": spec.variable, "address": address,
                          "port": _lenient_port(own_vars.get(spec.variable, spec.default))})
    return found


def metrics_backend(groups: Mapping[str, Any], override: Any = "") -> str:
    """The metrics store consumers write to and query: Mimir when present, else Prometheus."""
    if override:
        if override not in METRICS_BACKENDS:
            raise AnsibleFilterError(
                f"lgtm_metrics_backend must be one of {', '.join(METRICS_BACKENDS)} or empty, "
                f"got {override!r}")
        return str(override)
    for candidate in METRICS_BACKENDS:
        if _members(groups, candidate):
            return candidate
    return ""


def unreachable(hostvars: Mapping[str, Any], groups: Mapping[str, Any], inventory_hostname: str,
                needs: Any, metrics_override: Any = "") -> list[str]:
    """Why `inventory_hostname` cannot reach what it needs, as messages; [] when it can.

    Each need is {service, by, every (all instances, else the one `endpoint` picks),
    port}; service "metrics" stands for the metrics store (`metrics_backend`). The
    messages are the ones the roles' own wiring would fail with, prefixed by `by` (the
    consumer), so a pre-flight check can report them all before anything changes.
    """
    problems: list[str] = []
    for need in needs or []:
        service = str(need["service"])
        try:
            if service == "metrics":
                service = metrics_backend(groups, metrics_override)
                if not service:
                    continue
            spec = _check_names(service, str(need.get("port") or "http"))
            backends = (_members(groups, service) if need.get("every")
                        else [_backend(groups, service, inventory_hostname)])
            for backend in (backend for backend in backends if backend):
                _reach(hostvars, service, spec, backend, inventory_hostname)
        except AnsibleFilterError as exc:
            message = f"{need.get('by') or service}: {exc.message}"
            if message not in problems:
                problems.append(message)
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"endpoint": endpoint, "endpoint_tls": endpoint_tls, "endpoints": endpoints,
                "metrics_backend": metrics_backend, "published_ports": published_ports,
                "unreachable": unreachable}
