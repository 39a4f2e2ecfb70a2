# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the stack knows about each of its services, written once.

The endpoint filters, and through the `lgtm.stack.catalog` filter the summary,
preflight, upgrade and firewall roles and tools/argspec_docs.py, read this table.
Role settings keep their literal defaults in each role's defaults/main.yml and
meta/argument_specs.yml; tests/unit/plugins/module_utils/test_catalog.py holds the
three in step. Pure Python: no Ansible import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Port:
    variable: str
    default: int
    # None: the container listens on the same port as the host publishes.
    container_port: int | None = None
    grpc: bool = False
    # Served over TLS when the host sets lgtm_tls_enabled (backends only).
    tls: bool = False


@dataclass(frozen=True)
class Image:
    """A pinned image: `name` is the key of lgtm_upgrade_images, the variable <name>_image."""

    name: str
    # The unit whose Image= line holds it.
    unit: str
    # Whether the upgrade role plans and rolls this pin.
    upgrade: bool = True

    @property
    def variable(self) -> str:
        return f"{self.name}_image"


@dataclass(frozen=True)
class Backup:
    """What a new version migrates, and the backup service that copies it."""

    unit: str
    dir_variable: str
    # The file names the backup service writes.
    pattern: str
    # The image names (Image.name) whose change calls for a snapshot first.
    when_changed: tuple[str, ...]


@dataclass(frozen=True)
class Confinement:
    """How the quadlet core confines one container (plugins/module_utils/hardening.py).

    Every container runs with no new privileges and every capability dropped but the
    ones named here; its root filesystem is read-only unless read_only says otherwise,
    with Podman's tmpfs on /tmp, /var/tmp and /run and the tmpfs mounts named here.
    """

    # Who the process runs as, and why that user (the README's hardening table).
    user: str = "the image's own non-root user"
    # Capabilities it keeps, each with why it needs it.
    capabilities: Mapping[str, str] = field(default_factory=dict)
    read_only: bool = True
    # Paths outside its volumes and /tmp, /var/tmp, /run that it writes, each with why.
    tmpfs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Service:
    name: str
    # The first is the one consumers reach on the lgtm network.
    containers: tuple[str, ...]
    ports: Mapping[str, Port]
    images: tuple[Image, ...] = ()
    # Units besides each container's <container>.container.
    extra_units: tuple[str, ...] = ()
    # Duration settings and their kind (a key of DURATION_KINDS).
    durations: Mapping[str, str] = field(default_factory=dict)
    # The services that connect to this one, as site.yml wires the stack.
    consumers: tuple[str, ...] = ()
    # Generated or given secrets: what the summary calls each, and its path under
    # the service's config directory (<name>_config_dir).
    secrets: Mapping[str, str] = field(default_factory=dict)
    backup: Backup | None = None

    @property
    def container(self) -> str:
        return self.containers[0]

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(f"{name}.container" for name in self.containers) + self.extra_units

    @property
    def tls(self) -> bool:
        return any(port.tls for port in self.ports.values())


# The shapes of durations (module_utils/setting_checks.py checks role settings with them).
DURATION_KINDS: Mapping[str, Mapping[str, str]] = {
    "duration": {
        "pattern": "^([0-9]+(ms|s|m|h|d|w|y))+$",
        "expected": "a duration such as 720h, 30d or 4w",
    },
    "go_duration": {
        "pattern": "^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$",
        "expected": "a duration in hours, minutes or seconds such as 48h or 90m (no d, w or y)",
    },
}

_BACKUP_STAMP = "[0-9]{8}T[0-9]{6}Z"

# In the order published ports are listed (the firewall's rules hash follows it).
SERVICES: Mapping[str, Service] = {service.name: service for service in (
    Service("loki", ("lgtm-loki",),
            {"http": Port("loki_http_port", 3100, tls=True)},
            images=(Image("loki", "lgtm-loki.container"),),
            durations={"loki_retention_period": "duration"},
            consumers=("alloy", "grafana", "prometheus")),
    Service("tempo", ("lgtm-tempo",), {
        "http": Port("tempo_http_port", 3200, tls=True),
        "otlp_grpc": Port("tempo_otlp_grpc_port", 4317, grpc=True, tls=True),
        "otlp_http": Port("tempo_otlp_http_port", 4318, tls=True),
    }, images=(Image("tempo", "lgtm-tempo.container"),),
        durations={"tempo_retention_period": "go_duration"},
        consumers=("alloy", "grafana", "prometheus")),
    Service("mimir", ("lgtm-mimir",),
            {"http": Port("mimir_http_port", 9009, tls=True)},
            images=(Image("mimir", "lgtm-mimir.container"),),
            durations={"mimir_retention_period": "duration"},
            consumers=("alloy", "grafana", "prometheus", "tempo")),
    Service("prometheus", ("lgtm-prometheus",),
            {"http": Port("prometheus_http_port", 9090, 9090, tls=True)},
            images=(Image("prometheus", "lgtm-prometheus.container"),),
            durations={"prometheus_retention_time": "duration",
                       "prometheus_scrape_interval": "duration",
                       "prometheus_evaluation_interval": "duration"},
            consumers=("alloy", "grafana", "tempo")),
    Service("grafana", ("lgtm-grafana",),
            {"http": Port("grafana_http_port", 3000, 3000)},
            images=(Image("grafana", "lgtm-grafana.container"),),
            extra_units=("lgtm-grafana-backup.service",),
            consumers=("prometheus",),
            secrets={"grafana admin password (user admin)": "secrets/admin_password"},
            backup=Backup("lgtm-grafana-backup.service", "grafana_backup_dir",
                          f"^grafana-{_BACKUP_STAMP}[.]db$", ("grafana",))),
    Service("alloy", ("lgtm-alloy",), {
        "http": Port("alloy_http_port", 12345, 12345),
        "otlp_grpc": Port("alloy_otlp_grpc_port", 4317, 4317, grpc=True),
        "otlp_http": Port("alloy_otlp_http_port", 4318, 4318),
        "faro": Port("alloy_faro_port", 12347, 12347),
    }, images=(Image("alloy", "lgtm-alloy.container"),),
        durations={"alloy_journal_max_age": "go_duration", "alloy_scrape_interval": "duration"},
        consumers=("prometheus",)),
    Service("glitchtip", ("lgtm-glitchtip-web", "lgtm-glitchtip-worker", "lgtm-glitchtip-beat",
                          "lgtm-glitchtip-migrate", "lgtm-glitchtip-postgres",
                          "lgtm-glitchtip-valkey"),
            {"http": Port("glitchtip_http_port", 8200, 8000)},
            # Its database and queue before the application.
            images=(Image("glitchtip_postgres", "lgtm-glitchtip-postgres.container"),
                    Image("glitchtip_valkey", "lgtm-glitchtip-valkey.container"),
                    Image("glitchtip", "lgtm-glitchtip-web.container")),
            extra_units=("lgtm-glitchtip-backup.service", "lgtm-glitchtip-backup.timer"),
            secrets={"glitchtip admin password": "secrets/admin_password",
                     "glitchtip postgres password": "secrets/postgres_password",
                     "glitchtip secret key": "secrets/secret_key"},
            # Valkey holds only a queue and a cache.
            backup=Backup("lgtm-glitchtip-backup.service", "glitchtip_backup_dir",
                          f"^glitchtip-{_BACKUP_STAMP}[.]dump$",
                          ("glitchtip", "glitchtip_postgres"))),
    Service("alertmanager", ("lgtm-alertmanager",),
            {"http": Port("alertmanager_http_port", 9093, 9093, tls=True)},
            # The upgrade role does not roll Alertmanager (yet).
            images=(Image("alertmanager", "lgtm-alertmanager.container", upgrade=False),),
            durations={"alertmanager_retention": "go_duration"},
            consumers=("prometheus",)),
)}

_GLITCHTIP_APP = Confinement("5000, the image's user; it writes only uploads/ and /tmp")

# Keyed by container name. No container needs a capability: every one runs as a
# non-root user but Alloy, and listens on ports above 1024 inside its network namespace.
CONFINEMENT: Mapping[str, Confinement] = {
    "lgtm-loki": Confinement("10001, the image's user"),
    "lgtm-tempo": Confinement("10001, the image's user"),
    "lgtm-mimir": Confinement(
        "10001 (mimir_uid): the image runs as root, which Mimir does not need; data "
        "written as root before is re-owned on the way"),
    "lgtm-prometheus": Confinement("65534 (nobody), the image's user"),
    "lgtm-alertmanager": Confinement("65534 (nobody), the image's user"),
    "lgtm-grafana": Confinement("472 (group 0), the image's user"),
    "lgtm-alloy": Confinement(
        "root, the image's user: the journal's files are readable by root and the "
        "systemd-journal group only; without capabilities root reads only what root owns"),
    "lgtm-glitchtip-web": _GLITCHTIP_APP,
    "lgtm-glitchtip-worker": _GLITCHTIP_APP,
    "lgtm-glitchtip-beat": _GLITCHTIP_APP,
    "lgtm-glitchtip-migrate": _GLITCHTIP_APP,
    "lgtm-glitchtip-postgres": Confinement(
        "999 (glitchtip_postgres_uid): the image starts as root only to give its data "
        "directory to postgres, which the role has done"),
    "lgtm-glitchtip-valkey": Confinement(
        "999 (glitchtip_valkey_uid): the image starts as root only to give /data to "
        "valkey, which the role has done"),
}

# site.yml's order: each service after what it depends on.
DEPLOYMENT_ORDER: tuple[str, ...] = ("loki", "tempo", "mimir", "prometheus", "alertmanager",
                                     "glitchtip", "alloy", "grafana")
# The run's summary lists what a user opens first first.
SUMMARY_ORDER: tuple[str, ...] = ("grafana", "loki", "tempo", "mimir", "prometheus",
                                  "alertmanager", "alloy", "glitchtip")
# The internal role holding the host-wide lgtm_* defaults (first in the README's
# variables reference: they are the settings an inventory sets first), and the
# network every service role depends on.
SHARED_ROLE = "common"
NETWORK_ROLE = "network"
# The roles that deploy no service, in the order the README documents them
# (quadlet, like common, is internal).
SUPPORT_ROLES: tuple[str, ...] = ("firewall", "preflight", "summary", "upgrade", "quadlet")

# The metrics stores, in the order one is picked when the inventory does not say.
METRICS_BACKENDS: tuple[str, ...] = ("mimir", "prometheus")


def _in_order(order: tuple[str, ...]) -> list[Service]:
    return [SERVICES[name] for name in order]


def _port(port: Port) -> dict[str, Any]:
    return {"variable": port.variable, "default": port.default,
            "container_port": port.container_port, "grpc": port.grpc, "tls": port.tls}


def table(what: str) -> Any:
    """One view of the catalog as plain lists and dicts (what the roles' templates read)."""
    deployed = _in_order(DEPLOYMENT_ORDER)
    views = {
        "services": lambda: list(DEPLOYMENT_ORDER),
        "summary_order": lambda: list(SUMMARY_ORDER),
        "roles": lambda: [SHARED_ROLE, NETWORK_ROLE, *DEPLOYMENT_ORDER, *SUPPORT_ROLES],
        "containers": lambda: {s.name: list(s.containers) for s in SERVICES.values()},
        "units": lambda: {s.name: list(s.units) for s in SERVICES.values()},
        "ports": lambda: {s.name: {name: _port(port) for name, port in s.ports.items()}
                          for s in SERVICES.values()},
        "tls": lambda: [s.name for s in deployed if s.tls],
        "consumers": lambda: {s.name: sorted(s.consumers) for s in SERVICES.values()},
        "consumes": lambda: {name: [s.name for s in SERVICES.values() if name in s.consumers]
                             for name in SERVICES},
        "duration_kinds": lambda: {kind: dict(spec) for kind, spec in DURATION_KINDS.items()},
        "durations": lambda: {s.name: dict(s.durations) for s in deployed if s.durations},
        "images": lambda: [{"service": s.name, "name": image.name, "variable": image.variable,
                            "unit": image.unit, "upgrade": image.upgrade}
                           for s in deployed for image in s.images],
        "pins": lambda: [{"service": s.name, "name": image.name, "unit": image.unit}
                         for s in deployed for image in s.images if image.upgrade],
        "backups": lambda: {s.name: {"when_changed": list(s.backup.when_changed),
                                     "backup_unit": s.backup.unit,
                                     "dir_variable": s.backup.dir_variable,
                                     "pattern": s.backup.pattern}
                            for s in SERVICES.values() if s.backup},
        "secrets": lambda: {s.name: dict(s.secrets) for s in SERVICES.values() if s.secrets},
        "metrics_backends": lambda: list(METRICS_BACKENDS),
        "confinement": lambda: {name: {"user": c.user, "capabilities": dict(c.capabilities),
                                       "read_only": c.read_only, "tmpfs": dict(c.tmpfs)}
                                for name, c in CONFINEMENT.items()},
    }
    if what not in views:
        raise KeyError(f"the catalog has no {what!r}; it has: {', '.join(sorted(views))}")
    return views[what]()
