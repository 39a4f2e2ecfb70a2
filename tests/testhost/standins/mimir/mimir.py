"""Contract stand-in for Grafana Mimir 2.17.11 (docker.io/grafana/mimir:2.17.11), monolithic mode.

No registry here serves the Mimir image and its source is too large to build here, so the
test image `localhost/lgtm-test/mimir:2.17.11` runs this program as `/bin/mimir` (root,
as upstream's distroless image does; tests/testhost/images.py installs it there with the
shebang #!/usr/bin/python3, Debian's python3 and python3-yaml being the only runtime). It
honours the contract a role relies on, reproduces the defaults that bite, and really
stores what is remote-written, so tests that query it see real data from a real
Prometheus.

Pinned version: 2.17.11, the newest 2.17.x patch release (2026-05-15, grafana/mimir#12039;
CHANGELOG.md). 2.17 is the last line before 3.0, which prefers Kafka-based ingest
storage; monolithic 2.17 is the simple single-host choice (docs/services.md). The config
schema comes from tag mimir-2.17.4, whose cmd/mimir/config-descriptor.json is identical
to 2.17.0's and to the head of release-2.17 in January 2026; the 2.17.5-2.17.11 changelog
entries are dependency updates and bug fixes without config changes.

Upstream sources this follows (read at the tags above, not copied):
- Config reference and its generated descriptor (schema.json, made by gen_schema.py):
  https://grafana.com/docs/mimir/v2.17.x/configure/configuration-parameters/
  https://github.com/grafana/mimir/blob/mimir-2.17.4/cmd/mimir/config-descriptor.json
- Start-up order, exit codes and messages: cmd/mimir/main.go (config loaded with yaml.v3
  KnownFields before flags are parsed: config errors exit 1, flag errors and -help exit 2;
  -config.expand-env with ${VAR:default}); yaml.v3 decode rules (the vendored
  gopkg.in/yaml.v3) for "field X not found in type Y" and "cannot unmarshal" messages;
  pkg/mimir/mimir.go Config.Validate (overlapping filesystem paths, bucket configs);
  pkg/util/activitytracker (the activity-tracker module creates, truncates and sizes
  activity_tracker.filepath, relative to the working directory, at start; a module init
  error ends the run: "error running application", exit 1);
  pkg/util/version (-version text, buildinfo JSON); pkg/api/api.go (routes, which need
  a tenant); dskit ring replication strategy (RF 3 on one ingester rejects writes).
- Readiness: pkg/mimir/mimir.go readyHandler ("Some services are not Running:", then
  "Ingester not ready: ...") and dskit's Lifecycler.CheckReady (no tokens until the ring's
  kvstore is reached, JOINING for ingester.ring.observe_period, then
  ingester.ring.min_ready_duration, 15 s by default, counted from the first check that
  found the instance ACTIVE, then latched); no timer of the stand-in's own.
- HTTP API: https://grafana.com/docs/mimir/v2.17.x/references/http-api/ and the
  Prometheus API it serves: https://prometheus.io/docs/prometheus/latest/querying/api/
- Remote write 1.0: https://prometheus.io/docs/specs/prw/remote_write_spec/ with
  prompb types.proto; snappy block format:
  https://github.com/google/snappy/blob/main/format_description.txt; protobuf wire
  format: https://protobuf.dev/programming-guides/encoding/
- Grafana's Prometheus datasource health check is an instant query of `1+1`
  (grafana/grafana pkg/promlib/healthcheck.go) and reads /api/v1/status/buildinfo.
- Server TLS: dskit server/server.go (HTTPS when server.http_tls_config has a certificate
  and a key, as file paths or inline PEM; "error generating http tls config: ...") and
  prometheus/exporter-toolkit web/tls_config.go ConfigToTLSConfig ("failed to read
  cert_file (path): ...", client_auth_type names); Go's net/http answers a plain HTTP
  request on a TLS port with 400 "Client sent an HTTP request to an HTTPS server.".

What it does NOT do: no PromQL beyond vector selectors with label matchers, sum/count/
min/max/avg/group (by/without), number literals and arithmetic of scalars and of a vector
with a scalar (anything else is a 400 bad_data saying so); no native histograms (accepted,
counted, not stored), no remote write 2.0 or OTLP (415/501), no ruler, Alertmanager,
compactor, store-gateway or object storage (blocks are never uploaded; samples live in
memory and in a JSON-lines log under blocks_storage.tsdb.dir, the ingester's WAL
directory, and are reloaded at start); no retention, rate limits, HA dedupe or real gRPC
and memberlist (plain TCP listeners so port checks see them); no fields upstream hides
from its reference (doc:"hidden", deprecated), which real Mimir still accepts. Server TLS
covers the HTTP port only (not gRPC), without tls_cipher_suites/tls_min_version (TLS 1.2
and up) and without the client_auth_type values that request a client certificate without
verifying it. It never connects anywhere: usage reporting is only logged.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime
import hashlib
import json
import math
import os
import re
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

try:
    import lgtm_standin
except ModuleNotFoundError:  # run from the repository: the shared module is in standins/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import lgtm_standin
from lgtm_standin import (
    ConfigError,
    DecodeError,
    FlagError,
    StandinApp,
    StandinHandler,
    TLSConfigError,
    config_file_parameter,
    defaults,
    expand_env,
    first,
    get_path,
    go_format_duration,
    leaf_paths,
    model_parse_duration,
    parse_flags,
    proto_double,
    proto_expect,
    proto_fields,
    proto_int64,
    proto_string,
    render_config,
    schema_entry,
    server_tls_context,
    set_path,
    snappy_decompress,
    tenant_problem,
)

VERSION = "2.17.11"
BRANCH = "release-2.17"
REVISION = "lgtm-standin"
GO_VERSION = "none (Python stand-in)"
APPLICATION = "Grafana Mimir"
USAGE_STATS_URL = "https://stats.grafana.org/mimir-usage-report"
SCHEMA_PATHS = [
    Path(os.environ.get("LGTM_MIMIR_SCHEMA", "/nonexistent")),
    Path(__file__).resolve().with_name("schema.json"),
    Path("/usr/share/lgtm-standin/mimir/schema.json"),
]
WAL_FILE = "standin-samples.jsonl"
STALE_NAN_BITS = 0x7FF0000000000002  # Prometheus' staleness marker
MAX_POINTS = 11000  # Prometheus' limit of points per series in a range query

# pkg/mimir/modules.go: registered modules, the user-visible ones and their dependencies.
VISIBLE_MODULES = [
    "alertmanager", "all", "backend", "block-builder", "block-builder-scheduler", "compactor",
    "continuous-test", "distributor", "flusher", "ingester", "memberlist-kv",
    "overrides-exporter", "querier", "query-frontend", "query-scheduler", "read", "ruler",
    "store-gateway", "write",
]
INVISIBLE_MODULES = [
    "api", "active-groups-cleanup-service", "activity-tracker", "cost-attribution-service",
    "distributor-service", "ingester-partitions-ring", "ingester-ring", "ingester-service",
    "overrides", "query-frontend-codec", "query-frontend-topic-offsets-reader",
    "query-frontend-tripperware", "query-planner", "queryable", "ruler-storage",
    "runtime-config", "sanity-check", "server", "store-queryable", "tenant-federation",
    "usage-stats", "vault",
]
MODULE_DEPS = {
    "api": ["server"],
    "alertmanager": ["api", "memberlist-kv", "overrides", "vault"],
    "block-builder": ["api", "overrides"],
    "block-builder-scheduler": ["api"],
    "compactor": ["api", "memberlist-kv", "overrides", "vault"],
    "continuous-test": ["api"],
    "cost-attribution-service": ["api", "overrides"],
    "distributor": ["distributor-service", "api", "active-groups-cleanup-service", "vault"],
    "distributor-service": ["ingester-ring", "ingester-partitions-ring", "overrides", "vault",
                            "cost-attribution-service"],
    "flusher": ["overrides", "api"],
    "ingester": ["ingester-service", "api", "active-groups-cleanup-service", "vault"],
    "ingester-partitions-ring": ["memberlist-kv", "ingester-ring", "api"],
    "ingester-ring": ["api", "runtime-config", "memberlist-kv", "vault"],
    "ingester-service": ["ingester-ring", "ingester-partitions-ring", "overrides",
                         "runtime-config", "memberlist-kv", "cost-attribution-service"],
    "memberlist-kv": ["api", "vault"],
    "overrides": ["runtime-config"],
    "overrides-exporter": ["overrides", "memberlist-kv", "vault"],
    "querier": ["tenant-federation", "vault"],
    "query-frontend": ["query-frontend-tripperware", "memberlist-kv", "vault"],
    "query-frontend-topic-offsets-reader": ["ingester-partitions-ring"],
    "query-frontend-tripperware": ["api", "overrides", "query-frontend-codec",
                                   "query-frontend-topic-offsets-reader", "query-planner"],
    "query-planner": ["api", "activity-tracker"],
    "query-scheduler": ["api", "overrides", "memberlist-kv", "vault"],
    "queryable": ["overrides", "distributor-service", "ingester-ring",
                  "ingester-partitions-ring", "api", "store-queryable", "memberlist-kv",
                  "query-planner"],
    "ruler": ["distributor-service", "store-queryable", "ruler-storage", "vault",
              "query-planner"],
    "ruler-storage": ["overrides"],
    "runtime-config": ["api"],
    "server": ["activity-tracker", "sanity-check", "usage-stats"],
    "store-gateway": ["api", "overrides", "memberlist-kv", "vault"],
    "store-queryable": ["overrides", "memberlist-kv"],
    "tenant-federation": ["queryable"],
    "backend": ["query-scheduler", "ruler", "store-gateway", "compactor", "alertmanager",
                "overrides-exporter"],
    "read": ["query-frontend", "querier"],
    "write": ["distributor", "ingester"],
    "all": ["query-frontend", "querier", "ingester", "distributor", "store-gateway", "ruler",
            "compactor"],
}

# Flags of cmd/mimir/main.go that are not config fields.
MAIN_FLAGS = {
    "config.file": "string", "config.expand-env": "bool", "mem-ballast-size-bytes": "int",
    "debug.mutex-profile-fraction": "int", "debug.block-profile-rate": "int",
    "log.rate-limit-enabled": "bool", "log.rate-limit-logs-per-second": "float",
    "log.rate-limit-logs-burst-size": "int", "version": "bool", "modules": "bool",
    "help": "bool", "h": "bool", "help-all": "bool",
}

# Mimir's own Go type names where they differ from the shared ones.
GO_TYPE_NAMES = {"durations": "tsdb.DurationList"}


def load_schema() -> dict[str, Any]:
    return lgtm_standin.load_schema(SCHEMA_PATHS, "mimir")


def decode_config(text: str, schema: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """yaml.v3 with KnownFields (cmd/mimir/main.go), Mimir's Go type names."""
    return lgtm_standin.decode_config(text, schema, GO_TYPE_NAMES)


def flag_table(schema: dict[str, Any]) -> dict[str, tuple[str | None, str]]:
    return lgtm_standin.flag_table(schema, MAIN_FLAGS)


def inherit_common(config: dict[str, Any], explicit: set[str], schema: dict[str, Any]) -> None:
    """common.storage.* is the default of blocks_, ruler_ and alertmanager_storage.*."""
    common = schema["root"]["fields"]["common"]["fields"]["storage"]
    for path in leaf_paths(common, "common.storage"):
        if path not in explicit:
            continue
        relative = path.removeprefix("common.storage.")
        for section in ("blocks_storage", "ruler_storage", "alertmanager_storage"):
            target = f"{section}.{relative}"
            if target not in explicit and schema_entry(schema, target) is not None:
                set_path(config, target, get_path(config, path))


def module_closure(targets: list[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(targets)
    while stack:
        module = stack.pop()
        if module not in seen:
            seen.add(module)
            stack.extend(MODULE_DEPS.get(module, []))
    return seen


def targets_of(config: dict[str, Any]) -> list[str]:
    return [item.strip() for item in str(config["target"]).split(",") if item.strip()]


def paths_overlap(first: str, second: str) -> bool:
    first_base, first_name = os.path.split(first)
    second_base, second_name = os.path.split(second)
    if first_base == second_base:
        return first_name == second_name or not first_name or not second_name
    return first.startswith(second) or second.startswith(first)


def validate_config(config: dict[str, Any]) -> None:
    targets = set(targets_of(config))

    def enabled(*modules: str) -> bool:
        return bool(targets & set(modules))

    blocks, ruler_store, am_store = (config["blocks_storage"], config["ruler_storage"],
                                     config["alertmanager_storage"])
    bucket_errors = []
    bucket_checks = [("ruler storage", ruler_store, enabled("all", "ruler", "backend")
                      and ruler_store["backend"] != "local"),
                     ("alertmanager storage", am_store, enabled("alertmanager", "backend")
                      and am_store["backend"] != "local")]
    for name, store, active in bucket_checks:
        if not active or store["backend"] != blocks["backend"]:
            continue
        if store["storage_prefix"] != blocks["storage_prefix"]:
            continue
        backend = store["backend"]
        same = {
            "s3": lambda s: s["s3"]["bucket_name"],
            "gcs": lambda s: s["gcs"]["bucket_name"],
            "azure": lambda s: (s["azure"]["container_name"], s["azure"]["account_name"]),
            "swift": lambda s: (s["swift"]["container_name"], s["swift"]["project_name"]),
        }.get(backend)
        if same is not None and same(store) == same(blocks):
            what = {"s3": "S3 bucket name", "gcs": "GCS bucket name",
                    "azure": "Azure container and account names",
                    "swift": "Swift container and project names"}[backend]
            verb = "the ones" if backend in ("azure", "swift") else "the one"
            bucket_errors.append(f"{name}: {what} and storage prefix cannot be the same as "
                                 f"{verb} used in blocks storage config")
    if bucket_errors:
        raise ConfigError("invalid bucket config: " + "; ".join(bucket_errors))

    paths: list[tuple[str, str, str]] = []
    if enabled("all", "write", "read", "backend", "ingester", "querier", "store-gateway",
               "compactor", "ruler") and blocks["backend"] == "filesystem":
        directory = blocks["filesystem"]["dir"]
        paths.append(("blocks storage filesystem directory", directory,
                      os.path.join(directory, blocks["storage_prefix"])))
    if enabled("all", "ingester", "write"):
        paths.append(("tsdb directory", blocks["tsdb"]["dir"], blocks["tsdb"]["dir"]))
    if enabled("all", "store-gateway", "backend"):
        sync = blocks["bucket_store"]["sync_dir"]
        paths.append(("bucket store sync directory", sync, sync))
    if enabled("all", "compactor", "backend"):
        data = config["compactor"]["data_dir"]
        paths.append(("compactor data directory", data, data))
    if enabled("all", "ruler", "backend"):
        rule_path = config["ruler"]["rule_path"]
        paths.append(("ruler data directory", rule_path, rule_path))
        if ruler_store["backend"] == "filesystem":
            directory = ruler_store["filesystem"]["dir"]
            paths.append(("ruler storage filesystem directory", directory,
                          os.path.join(directory, "rules")))
        if ruler_store["backend"] == "local":
            directory = ruler_store["local"]["directory"]
            paths.append(("ruler storage local directory", directory, directory))
    if enabled("alertmanager", "backend"):
        data = config["alertmanager"]["data_dir"]
        paths.append(("alertmanager data directory", data, data))
        if am_store["backend"] == "filesystem":
            directory = am_store["filesystem"]["dir"]
            name = "alertmanager storage filesystem directory"
            paths.append((name, directory, os.path.join(directory, "alerts")))
            paths.append((name, directory, os.path.join(directory, "alertmanager")))
        if am_store["backend"] == "local":
            local = am_store["local"]["path"]
            paths.append(("alertmanager storage local directory", local, local))
    absolute = [(name, value, os.path.abspath(check)) for name, value, check in paths]
    for first_name, first_value, first_path in absolute:
        for second_name, second_value, second in absolute:
            if first_name != second_name and paths_overlap(first_path, second):
                raise ConfigError(
                    f"the configured {first_name} {json.dumps(first_value)} cannot overlap "
                    f"with the configured {second_name} {json.dumps(second_value)}; please "
                    "set different paths, also ensuring one is not a subdirectory of the "
                    "other one")

    timeout = config["querier"]["timeout"]
    write_timeout = config["server"]["http_server_write_timeout"]
    if timeout > write_timeout:
        raise ConfigError(f"querier timeout ({go_format_duration(timeout)}) must be lower than "
                          f"or equal to HTTP server write timeout "
                          f"({go_format_duration(write_timeout)})")


# --- snappy (block format) and protobuf (remote write 1.0) ------------------------


def decode_labels(buf: memoryview, span: tuple[int, int]) -> tuple[str, str]:
    name = value = ""
    for number, wire, field_value in proto_fields(buf, *span):
        if number in (1, 2):
            proto_expect(wire, 2, "label")
            if number == 1:
                name = proto_string(buf, field_value)
            else:
                value = proto_string(buf, field_value)
    return name, value


def decode_write_request(data: bytes) -> dict[str, Any]:
    """prometheus.WriteRequest: timeseries=1 (labels=1, samples=2, exemplars=3,
    histograms=4), metadata=3 (type=1, metric_family_name=2, help=4, unit=5)."""
    buf = memoryview(data)
    series: list[dict[str, Any]] = []
    metadata: list[dict[str, Any]] = []
    for number, wire, value in proto_fields(buf, 0, len(buf)):
        if number == 1:
            proto_expect(wire, 2, "timeseries")
            item: dict[str, Any] = {"labels": [], "samples": [], "exemplars": [],
                                    "histograms": 0}
            for t_number, t_wire, t_value in proto_fields(buf, *value):
                if t_number == 1:
                    proto_expect(t_wire, 2, "labels")
                    item["labels"].append(decode_labels(buf, t_value))
                elif t_number == 2:
                    proto_expect(t_wire, 2, "samples")
                    sample_value, stamp, stale = 0.0, 0, False
                    for s_number, s_wire, s_value in proto_fields(buf, *t_value):
                        if s_number == 1:
                            proto_expect(s_wire, 1, "sample value")
                            sample_value = proto_double(s_value)
                            stale = s_value == STALE_NAN_BITS
                        elif s_number == 2:
                            proto_expect(s_wire, 0, "sample timestamp")
                            stamp = proto_int64(s_value)
                    item["samples"].append((stamp, None if stale else sample_value))
                elif t_number == 3:
                    proto_expect(t_wire, 2, "exemplars")
                    labels: list[tuple[str, str]] = []
                    ex_value, ex_stamp = 0.0, 0
                    for e_number, e_wire, e_value in proto_fields(buf, *t_value):
                        if e_number == 1:
                            proto_expect(e_wire, 2, "exemplar labels")
                            labels.append(decode_labels(buf, e_value))
                        elif e_number == 2:
                            proto_expect(e_wire, 1, "exemplar value")
                            ex_value = proto_double(e_value)
                        elif e_number == 3:
                            proto_expect(e_wire, 0, "exemplar timestamp")
                            ex_stamp = proto_int64(e_value)
                    item["exemplars"].append((ex_stamp, ex_value, dict(labels)))
                elif t_number == 4:
                    item["histograms"] += 1
            series.append(item)
        elif number == 3:
            proto_expect(wire, 2, "metadata")
            meta = {"type": 0, "name": "", "help": "", "unit": ""}
            for m_number, m_wire, m_value in proto_fields(buf, *value):
                if m_number == 1:
                    meta["type"] = m_value
                elif m_number in (2, 4, 5) and m_wire == 2:
                    meta[{2: "name", 4: "help", 5: "unit"}[m_number]] = proto_string(buf, m_value)
            metadata.append(meta)
    return {"series": series, "metadata": metadata}


METADATA_TYPES = {0: "unknown", 1: "counter", 2: "gauge", 3: "histogram", 4: "gaugehistogram",
                  5: "summary", 6: "info", 7: "stateset"}
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


# --- storage ----------------------------------------------------------------------

class Series:
    __slots__ = ("labels", "ref", "stamps", "values", "exemplars")

    def __init__(self, labels: dict[str, str], ref: int) -> None:
        self.labels = labels
        self.ref = ref  # the series' number in the tenant's sample log
        self.stamps: list[int] = []
        self.values: list[float | None] = []  # None is a staleness marker
        self.exemplars: list[tuple[int, float, dict[str, str]]] = []

    def at(self, stamp: int, lookback: int) -> float | None:
        """The value an instant query at `stamp` sees: newest in (stamp-lookback, stamp]."""
        index = bisect.bisect_right(self.stamps, stamp) - 1
        if index < 0 or self.stamps[index] <= stamp - lookback:
            return None
        return self.values[index]

    def has_samples(self, start: int, end: int) -> bool:
        index = bisect.bisect_left(self.stamps, start)
        return index < len(self.stamps) and self.stamps[index] <= end


class PushRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Tenant:
    def __init__(self, name: str) -> None:
        self.name = name
        self.series: dict[tuple[tuple[str, str], ...], Series] = {}
        self.metadata: dict[str, list[dict[str, str]]] = {}
        self.exemplar_count = 0
        self.next_ref = 1
        self.logged: set[int] = set()  # refs whose labels are in the log already


def _encode_value(value: float | None) -> Any:
    if value is None:
        return "stale"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


def _decode_value(value: Any) -> float | None:
    if value == "stale":
        return None
    return float(value)


class Store:
    """Samples per tenant in memory, appended to <tsdb.dir>/<tenant>/standin-samples.jsonl.

    One JSON line per push, like a WAL record: {"n": [[ref, labels]] for series new to the
    log, "s": [[ref, ts_ms, value]], "e": [[ref, ts_ms, value, labels]] for exemplars};
    values are numbers or "NaN", "+Inf", "-Inf", "stale" (Prometheus' staleness marker).
    """

    def __init__(self, config: dict[str, Any], log: Any) -> None:
        self.config = config
        self.log = log
        self.dir = Path(config["blocks_storage"]["tsdb"]["dir"])
        self.tenants: dict[str, Tenant] = {}
        self.lock = threading.Lock()
        self.samples_total = 0
        self.received: dict[str, int] = {}
        self.received_exemplars: dict[str, int] = {}
        self.discarded: dict[tuple[str, str], int] = {}
        self.histograms_dropped = 0

    def tenant(self, name: str) -> Tenant:
        if name not in self.tenants:
            self.tenants[name] = Tenant(name)
        return self.tenants[name]

    def load(self) -> None:
        if not self.dir.is_dir():
            return
        for path in sorted(self.dir.glob(f"*/{WAL_FILE}")):
            tenant = self.tenant(path.parent.name)
            refs: dict[int, Series] = {}
            count = 0
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a torn last line after a crash
                    for ref, labels in record.get("n", []):
                        refs[ref] = self._series(tenant, labels, ref)
                        tenant.logged.add(ref)
                    for ref, stamp, value in record.get("s", []):
                        series = refs[ref]
                        if series.stamps and stamp <= series.stamps[-1]:
                            # Taken inside the out-of-order window: back into its place.
                            index = bisect.bisect_left(series.stamps, stamp)
                            if series.stamps[index] != stamp:
                                series.stamps.insert(index, stamp)
                                series.values.insert(index, _decode_value(value))
                        else:
                            series.stamps.append(stamp)
                            series.values.append(_decode_value(value))
                        count += 1
                    for ref, stamp, value, labels in record.get("e", []):
                        refs[ref].exemplars.append((stamp, _decode_value(value) or 0.0, labels))
                        tenant.exemplar_count += 1
            self.samples_total += count
            self.log("info", "replayed stored samples", user=tenant.name, samples=count,
                     series=len(tenant.series))

    @staticmethod
    def _series(tenant: Tenant, labels: dict[str, str], ref: int | None = None) -> Series:
        key = tuple(sorted(labels.items()))
        series = tenant.series.get(key)
        if series is None:
            ref = ref if ref is not None else tenant.next_ref
            tenant.next_ref = max(tenant.next_ref, ref + 1)
            series = tenant.series[key] = Series(dict(key), ref)
        return series

    def push(self, tenant_name: str, request: dict[str, Any]) -> None:
        limits = self.config["limits"]
        now_ms = int(time.time() * 1000)
        future_limit = now_ms + limits["creation_grace_period"] // 10**6
        past_grace = limits["past_grace_period"] // 10**6
        ooo_window = limits["out_of_order_time_window"] // 10**6
        max_exemplars = limits["max_global_exemplars_per_user"] or 0
        first_error: PushRejected | None = None
        record: dict[str, list[Any]] = {"n": [], "s": [], "e": []}
        with self.lock:
            tenant = self.tenant(tenant_name)
            for meta in request["metadata"]:
                entry = {"type": METADATA_TYPES.get(meta["type"], "unknown"),
                         "help": meta["help"], "unit": meta["unit"]}
                family = tenant.metadata.setdefault(meta["name"], [])
                if entry not in family:
                    family.append(entry)
            for item in request["series"]:
                self.histograms_dropped += item["histograms"]
                samples = len(item["samples"])
                self.received[tenant_name] = self.received.get(tenant_name, 0) + samples
                try:
                    labels = self._validate_labels(item["labels"], limits)
                except PushRejected as error:
                    first_error = first_error or error
                    self._discard(error, tenant_name, samples)
                    continue
                key = tuple(sorted(labels.items()))
                if key not in tenant.series and len(tenant.series) >= (
                        limits["max_global_series_per_user"] or math.inf):
                    error = PushRejected(400, "per-user series limit of "
                                         f"{limits['max_global_series_per_user']} exceeded "
                                         "(err-mimir-max-series-per-user)")
                    first_error = first_error or error
                    self._discard(error, tenant_name, samples)
                    continue
                series = self._series(tenant, labels)
                if series.ref not in tenant.logged:
                    record["n"].append([series.ref, series.labels])
                    tenant.logged.add(series.ref)
                stored: list[tuple[int, Any]] = []
                for stamp, value in sorted(item["samples"], key=lambda pair: pair[0]):
                    problem = None
                    if stamp > future_limit:
                        problem = "received a sample whose timestamp is too far in the future " \
                                  "(err-mimir-too-far-in-future)"
                    elif past_grace and stamp < now_ms - past_grace:
                        problem = "received a sample whose timestamp is too far in the past " \
                                  "(err-mimir-too-far-in-past)"
                    elif series.stamps and stamp < series.stamps[-1] - ooo_window:
                        problem = "the sample has been rejected because another sample with " \
                                  "a more recent timestamp has already been ingested and " \
                                  "out-of-order samples are not allowed " \
                                  "(err-mimir-sample-out-of-order)"
                    elif series.stamps and stamp == series.stamps[-1]:
                        last = series.values[-1]
                        if last == value or (last is not None and value is not None
                                             and math.isnan(last) and math.isnan(value)):
                            continue  # an identical resend is not an error
                        problem = "the sample has been rejected because another sample with " \
                                  "the same timestamp, but a different value, has already " \
                                  "been ingested (err-mimir-sample-duplicate-timestamp)"
                    elif series.stamps and stamp < series.stamps[-1]:
                        # Inside the out-of-order window: insert in place.
                        index = bisect.bisect_left(series.stamps, stamp)
                        if series.stamps[index] == stamp:
                            continue
                        series.stamps.insert(index, stamp)
                        series.values.insert(index, value)
                        stored.append((stamp, _encode_value(value)))
                        continue
                    if problem:
                        error = PushRejected(400, f"{problem}. The affected sample has "
                                             f"timestamp {stamp} and is from series "
                                             f"{format_labels(labels)}")
                        first_error = first_error or error
                        reason = problem.rsplit("(err-mimir-", 1)[1].rstrip(")")
                        self.discarded[(reason, tenant_name)] = \
                            self.discarded.get((reason, tenant_name), 0) + 1
                        continue
                    series.stamps.append(stamp)
                    series.values.append(value)
                    stored.append((stamp, _encode_value(value)))
                exemplars = []
                if max_exemplars > 0:
                    for stamp, value, ex_labels in item["exemplars"]:
                        if tenant.exemplar_count >= max_exemplars:
                            break
                        series.exemplars.append((stamp, value, ex_labels))
                        tenant.exemplar_count += 1
                        exemplars.append([series.ref, stamp, _encode_value(value), ex_labels])
                    self.received_exemplars[tenant_name] = \
                        self.received_exemplars.get(tenant_name, 0) + len(exemplars)
                self.samples_total += len(stored)
                record["s"].extend([series.ref, stamp, value] for stamp, value in stored)
                record["e"].extend(exemplars)
            if any(record.values()):
                self._append(tenant_name, {key: value for key, value in record.items() if value})
        if first_error is not None:
            raise first_error

    def _discard(self, error: PushRejected, tenant: str, count: int) -> None:
        message = str(error)
        reason = message.rsplit("(err-mimir-", 1)[1].split(")")[0] if "(err-mimir-" in message \
            else "invalid"
        self.discarded[(reason, tenant)] = self.discarded.get((reason, tenant), 0) + count

    def _append(self, tenant: str, record: dict[str, Any]) -> None:
        directory = self.dir / tenant
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / WAL_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")

    @staticmethod
    def _validate_labels(pairs: list[tuple[str, str]], limits: dict[str, Any]) -> dict[str, str]:
        labels: dict[str, str] = {}
        for name, value in pairs:
            if name in labels:
                raise PushRejected(400, f"received a series with duplicate label name, label: "
                                   f"'{name}' series: '{format_pairs(pairs)}' "
                                   "(err-mimir-duplicate-label-names)")
            labels[name] = value
        if not labels.get("__name__"):
            raise PushRejected(400, "received series has no metric name "
                               "(err-mimir-missing-metric-name)")
        if not METRIC_NAME_RE.match(labels["__name__"]):
            raise PushRejected(400, "received a series with invalid metric name: "
                               f"'{labels['__name__']}' (err-mimir-metric-name-invalid)")
        if len(labels) > limits["max_label_names_per_series"]:
            raise PushRejected(400, "received a series whose number of labels exceeds the "
                               f"limit (actual: {len(labels)}, limit: "
                               f"{limits['max_label_names_per_series']}) series: "
                               f"'{format_pairs(pairs)}' (err-mimir-max-label-names-per-series)")
        for name, value in labels.items():
            if not LABEL_NAME_RE.match(name):
                raise PushRejected(400, f"received a series with an invalid label: '{name}' "
                                   f"series: '{format_pairs(pairs)}' (err-mimir-label-invalid)")
            if len(name) > limits["max_label_name_length"]:
                raise PushRejected(400, f"received a series whose label name length exceeds "
                                   f"the limit, label: '{name}' (err-mimir-label-name-too-long)")
            if len(value) > limits["max_label_value_length"]:
                raise PushRejected(400, "received a series whose label value length exceeds "
                                   f"the limit, label: '{name}' "
                                   "(err-mimir-label-value-too-long)")
        return labels


def format_labels(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items())
                     if key != "__name__")
    return f"{name}{{{rest}}}"


def format_pairs(pairs: list[tuple[str, str]]) -> str:
    return format_labels(dict(pairs))


# --- PromQL subset ------------------------------------------------------------------

class QueryError(Exception):
    def __init__(self, message: str, error_type: str = "bad_data", status: int = 400) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.status = status


AGGREGATIONS = {"sum", "count", "min", "max", "avg", "group"}
UNSUPPORTED_AGGREGATIONS = {"stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
                            "limitk", "limit_ratio"}
BINARY_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2, "atan2": 2, "^": 3}
UNSUPPORTED_BINARY = {"==", "!=", ">", "<", ">=", "<=", "and", "or", "unless"}
TOKEN_RE = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_:]))
  | (?P<duration>\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^(){}\[\],=<>@])
""", re.VERBOSE)


def tokenize(query: str) -> list[tuple[str, str, int]]:
    tokens = []
    pos = 0
    while pos < len(query):
        match = TOKEN_RE.match(query, pos)
        if match is None:
            raise QueryError(f"1:{pos + 1}: parse error: unexpected character: "
                             f"{json.dumps(query[pos])}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, match.group(0), pos + 1))
        pos = match.end()
    tokens.append(("eof", "", len(query) + 1))
    return tokens


def unquoteproto_string(token: str) -> str:
    if token[0] == "`":
        return token[1:-1]
    body = token[1:-1]
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a",
               "b": "\b", "f": "\f", "v": "\v"}
    out = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            nxt = body[index + 1]
            if nxt in escapes:
                out.append(escapes[nxt])
                index += 2
                continue
            width = {"x": 2, "u": 4, "U": 8}.get(nxt)
            if width:
                out.append(chr(int(body[index + 2:index + 2 + width], 16)))
                index += 2 + width
                continue
        out.append(char)
        index += 1
    return "".join(out)


def parse_number(text: str) -> float:
    lower = text.lower()
    if lower.startswith("0x"):
        return float(int(text, 16))
    if lower in ("inf", "+inf"):
        return math.inf
    if lower == "-inf":
        return -math.inf
    if lower == "nan":
        return math.nan
    return float(text)


class Parser:
    """Recursive descent over the subset; errors look like Prometheus' parser's."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str, int]:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self) -> tuple[str, str, int]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def fail(self, message: str, token: tuple[str, str, int] | None = None) -> QueryError:
        token = token or self.peek()
        return QueryError(f"1:{token[2]}: parse error: {message}")

    def unsupported(self, what: str, token: tuple[str, str, int] | None = None) -> QueryError:
        token = token or self.peek()
        return QueryError(f"1:{token[2]}: {what} is valid PromQL but not supported by the "
                          "lgtm Mimir stand-in (it supports vector selectors, sum/count/min/"
                          "max/avg/group and scalar arithmetic)")

    def expect(self, value: str) -> None:
        token = self.take()
        if token[1] != value:
            shown = "end of input" if token[0] == "eof" else json.dumps(token[1])
            raise self.fail(f"unexpected {shown}, expected {json.dumps(value)}", token)

    def parse(self) -> dict[str, Any]:
        if self.peek()[0] == "eof":
            raise QueryError("1:1: parse error: no expression found in input")
        node = self.expression(0)
        token = self.peek()
        if token[0] != "eof":
            if token[1] in UNSUPPORTED_BINARY:
                raise self.unsupported(f"the operator {json.dumps(token[1])}")
            raise self.fail(f"unexpected {json.dumps(token[1])}")
        return node

    def expression(self, min_precedence: int) -> dict[str, Any]:
        left = self.unary()
        while True:
            token = self.peek()
            op = token[1] if token[0] in ("op", "ident") else ""
            if op in UNSUPPORTED_BINARY and token[0] in ("op", "ident"):
                raise self.unsupported(f"the operator {json.dumps(op)}")
            precedence = BINARY_PRECEDENCE.get(op)
            if precedence is None or precedence < min_precedence or (
                    token[0] == "ident" and op != "atan2"):
                return left
            self.take()
            if self.peek()[1] in ("on", "ignoring", "bool", "group_left", "group_right"):
                raise self.unsupported(f"the modifier {json.dumps(self.peek()[1])}")
            # ^ is right-associative, the others left-associative.
            right = self.expression(precedence if op == "^" else precedence + 1)
            left = {"type": "binary", "op": op, "left": left, "right": right}

    def unary(self) -> dict[str, Any]:
        token = self.peek()
        if token[1] in ("-", "+") and token[0] == "op":
            self.take()
            operand = self.expression(BINARY_PRECEDENCE["^"])
            if token[1] == "+":
                return operand
            return {"type": "binary", "op": "*", "left": {"type": "number", "value": -1.0},
                    "right": operand}
        return self.postfix(self.primary())

    def postfix(self, node: dict[str, Any]) -> dict[str, Any]:
        token = self.peek()
        if token[1] == "[":
            raise self.unsupported("a range vector or subquery")
        if token[1] in ("offset", "@"):
            raise self.unsupported(f"the modifier {json.dumps(token[1])}")
        return node

    def primary(self) -> dict[str, Any]:
        token = self.take()
        kind, text = token[0], token[1]
        if kind == "number":
            return {"type": "number", "value": parse_number(text)}
        if kind == "ident" and text.lower() in ("inf", "nan") and self.peek()[1] != "{":
            return {"type": "number", "value": parse_number(text)}
        if kind == "string":
            raise self.unsupported("a string literal", token)
        if kind == "duration":
            raise self.unsupported("a duration literal", token)
        if text == "(":
            inner = self.expression(0)
            self.expect(")")
            return {"type": "paren", "expr": inner}
        if text == "{":
            return self.selector(None, token)
        if kind == "ident":
            if text in AGGREGATIONS:
                return self.aggregation(text, token)
            if text in UNSUPPORTED_AGGREGATIONS:
                raise self.unsupported(f"the aggregation {text}()", token)
            if self.peek()[1] == "(":
                raise self.unsupported(f"the function {text}()", token)
            if self.peek()[1] == "{":
                self.take()
                return self.selector(text, token)
            return {"type": "selector", "matchers": [("__name__", "=", text)]}
        shown = "end of input" if kind == "eof" else json.dumps(text)
        raise self.fail(f"unexpected {shown}", token)

    def label_list(self) -> list[str]:
        self.expect("(")
        names = []
        while self.peek()[1] != ")":
            token = self.take()
            if token[0] != "ident" or not LABEL_NAME_RE.match(token[1]):
                raise self.fail(f"unexpected {json.dumps(token[1])} in grouping opts, "
                                "expected label", token)
            names.append(token[1])
            if self.peek()[1] == ",":
                self.take()
            elif self.peek()[1] != ")":
                raise self.fail(f"unexpected {json.dumps(self.peek()[1])} in grouping opts, "
                                "expected \",\" or \")\"")
        self.take()
        return names

    def aggregation(self, name: str, token: tuple[str, str, int]) -> dict[str, Any]:
        grouping: tuple[str, list[str]] | None = None
        if self.peek()[1] in ("by", "without"):
            grouping = (self.take()[1], self.label_list())
        self.expect("(")
        if self.peek()[1] == ")":
            raise self.fail("no arguments for aggregate expression provided", token)
        inner = self.expression(0)
        if self.peek()[1] == ",":
            raise self.fail(f"wrong number of arguments for aggregate expression {name}")
        self.expect(")")
        if self.peek()[1] in ("by", "without"):
            if grouping is not None:
                raise self.fail("unexpected grouping after grouping")
            grouping = (self.take()[1], self.label_list())
        return {"type": "aggregation", "op": name, "expr": inner, "grouping": grouping}

    def selector(self, name: str | None, start: tuple[str, str, int]) -> dict[str, Any]:
        matchers: list[tuple[str, str, Any]] = []
        if name is not None:
            matchers.append(("__name__", "=", name))
        while self.peek()[1] != "}":
            label = self.take()
            if label[0] != "ident" or not LABEL_NAME_RE.match(label[1]):
                raise self.fail(f"unexpected {json.dumps(label[1])} in label matching, "
                                "expected label", label)
            op = self.take()
            if op[1] not in ("=", "!=", "=~", "!~"):
                raise self.fail(f"unexpected {json.dumps(op[1])} in label matching, "
                                "expected label matching operator", op)
            value = self.take()
            if value[0] != "string":
                raise self.fail(f"unexpected {json.dumps(value[1])} in label matching, "
                                "expected string", value)
            text = unquoteproto_string(value[1])
            if op[1] in ("=~", "!~"):
                try:
                    pattern: Any = re.compile(text, re.DOTALL)
                except re.error as error:
                    raise self.fail(f"invalid regular expression {json.dumps(text)}: {error}",
                                    value) from None
                matchers.append((label[1], op[1], pattern))
            else:
                matchers.append((label[1], op[1], text))
            if self.peek()[1] == ",":
                self.take()
            elif self.peek()[1] != "}":
                raise self.fail(f"unexpected {json.dumps(self.peek()[1])} in label matching, "
                                "expected \",\" or \"}\"")
        self.take()
        if name is not None and any(m[0] == "__name__" for m in matchers[1:]):
            raise self.fail(f"metric name must not be set twice: {json.dumps(name)}", start)
        if all(matcher_matches(m, "") for m in matchers):
            raise self.fail("vector selector must contain at least one non-empty matcher",
                            start)
        return {"type": "selector", "matchers": matchers}


def matcher_matches(matcher: tuple[str, str, Any], value: str) -> bool:
    op, expected = matcher[1], matcher[2]
    if op == "=":
        return value == expected
    if op == "!=":
        return value != expected
    found = expected.fullmatch(value) is not None
    return found if op == "=~" else not found


def selectors_of(node: dict[str, Any]) -> list[list[tuple[str, str, Any]]]:
    if node["type"] == "selector":
        return [node["matchers"]]
    found = []
    for key in ("expr", "left", "right"):
        if key in node:
            found.extend(selectors_of(node[key]))
    return found


def parse_query(query: str) -> dict[str, Any]:
    return Parser(query).parse()


def arithmetic(op: str, left: float, right: float) -> float:
    try:
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            if right == 0:
                if left == 0 or math.isnan(left):
                    return math.nan
                return math.copysign(math.inf, left) * math.copysign(1, right)
            return left / right
        if op == "%":
            return math.fmod(left, right) if right != 0 else math.nan
        if op == "atan2":
            return math.atan2(left, right)
        return math.pow(left, right)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


class Evaluator:
    def __init__(self, tenant: Tenant | None, lookback_ns: int) -> None:
        self.series = list(tenant.series.values()) if tenant else []
        self.lookback = lookback_ns // 10**6

    def select(self, matchers: list[tuple[str, str, Any]]) -> list[Series]:
        return [series for series in self.series
                if all(matcher_matches(m, series.labels.get(m[0], "")) for m in matchers)]

    def eval(self, node: dict[str, Any], stamp: int) -> tuple[str, Any]:
        """('scalar', float) or ('vector', [(labels, value)])."""
        kind = node["type"]
        if kind == "number":
            return "scalar", node["value"]
        if kind == "paren":
            return self.eval(node["expr"], stamp)
        if kind == "selector":
            vector = []
            for series in self.select(node["matchers"]):
                value = series.at(stamp, self.lookback)
                if value is not None:
                    vector.append((series.labels, value))
            return "vector", vector
        if kind == "aggregation":
            return self.aggregate(node, stamp)
        left_kind, left = self.eval(node["left"], stamp)
        right_kind, right = self.eval(node["right"], stamp)
        op = node["op"]
        if left_kind == "scalar" and right_kind == "scalar":
            return "scalar", arithmetic(op, left, right)
        if left_kind == "vector" and right_kind == "vector":
            raise QueryError("binary operations between two instant vectors are valid PromQL "
                             "but not supported by the lgtm Mimir stand-in")
        result = []
        if left_kind == "vector":
            for labels, value in left:
                result.append((drop_name(labels), arithmetic(op, value, right)))
        else:
            for labels, value in right:
                result.append((drop_name(labels), arithmetic(op, left, value)))
        return "vector", result

    def aggregate(self, node: dict[str, Any], stamp: int) -> tuple[str, Any]:
        kind, inner = self.eval(node["expr"], stamp)
        if kind != "vector":
            raise QueryError("expected type instant vector in aggregation expression, "
                             "got scalar")
        groups: dict[tuple[tuple[str, str], ...], list[float]] = {}
        grouping = node["grouping"]
        for labels, value in inner:
            if grouping is None:
                key: dict[str, str] = {}
            elif grouping[0] == "by":
                key = {name: labels[name] for name in grouping[1] if labels.get(name)}
            else:
                key = {name: val for name, val in labels.items()
                       if name not in grouping[1] and name != "__name__"}
            groups.setdefault(tuple(sorted(key.items())), []).append(value)
        op = node["op"]
        result = []
        for key, values in groups.items():
            if op == "sum":
                total = math.fsum(values) if all(math.isfinite(v) for v in values) \
                    else sum(values)
            elif op == "count":
                total = float(len(values))
            elif op == "min":
                total = min(values, key=lambda v: (math.isnan(v), v))
            elif op == "max":
                total = max(values, key=lambda v: (not math.isnan(v), v))
            elif op == "avg":
                total = sum(values) / len(values)
            else:
                total = 1.0
            result.append((dict(key), total))
        return "vector", result


def drop_name(labels: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in labels.items() if name != "__name__"}


def format_float(value: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64), as Prometheus renders sample values."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_time(stamp_ms: int) -> float | int:
    return stamp_ms // 1000 if stamp_ms % 1000 == 0 else stamp_ms / 1000


def parse_time_param(name: str, value: str | None, default_ms: int) -> int:
    if value is None or value == "":
        return default_ms
    with contextlib.suppress(ValueError):
        seconds = float(value)
        if math.isfinite(seconds):
            return round(seconds * 1000)
    with contextlib.suppress(ValueError):
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return round(parsed.timestamp() * 1000)
    raise QueryError(f'invalid parameter "{name}": cannot parse "{value}" to a valid timestamp')


def parse_step(value: str | None) -> int:
    if not value:
        raise QueryError('invalid parameter "step": cannot parse "" to a valid duration')
    try:
        seconds = float(value)
        step = round(seconds * 1000)
    except ValueError:
        try:
            step = model_parse_duration(value) // 10**6
        except ValueError:
            raise QueryError(f'invalid parameter "step": cannot parse "{value}" to a valid '
                             "duration") from None
    if step <= 0:
        raise QueryError("zero or negative query resolution step widths are not accepted. "
                         "Try a positive integer")
    return step


# --- HTTP ------------------------------------------------------------------------


class Mimir(StandinApp):
    """The running stand-in: config, store, readiness and the HTTP API."""

    def __init__(self, config: dict[str, Any], explicit: set[str], schema: dict[str, Any],
                 config_hash: str) -> None:
        super().__init__(config["server"]["log_level"])
        self.config = config
        self.explicit = explicit
        self.schema = schema
        self.config_hash = config_hash
        self.started = time.time()
        # Readiness follows the configured components (pkg/mimir/mimir.go readyHandler):
        # every module Running (set at the end of start()), then the ingester's ring
        # lifecycler (dskit Lifecycler.CheckReady): it holds tokens only when its ring's
        # kvstore is reachable (memberlist or inmemory here; consul and etcd never are),
        # stays JOINING for ingester.ring.observe_period, and answers ready only
        # ingester.ring.min_ready_duration after the first check that found all that,
        # then stays ready (latched).
        ring = config["ingester"]["ring"]
        self.ring_store = str(ring["kvstore"]["store"])
        if self.ring_store == "multi":
            self.ring_store = str(ring["kvstore"]["multi"]["primary"])
        self.observe_period = int(ring["observe_period"]) / 1e9
        self.min_ready = int(ring["min_ready_duration"])
        self.modules_running = False
        self.running_since = 0.0
        self.ready_since: float | None = None
        self.ready_latched = False
        self.ready_lock = threading.Lock()
        self.store = Store(config, self.log)
        self.requests: dict[tuple[str, int], int] = {}
        self.requests_lock = threading.Lock()
        self.targets = targets_of(config)
        self.modules = module_closure(self.targets)
        self.prefix = "/" + str(config["api"]["prometheus_http_prefix"]).strip("/")
        self.http_port = 0

    def is_ready(self) -> bool:
        return not self.ready_problem()

    def ring_problem(self) -> str:
        """Why the ingester is not an ACTIVE member of its ring yet ("" when it is)."""
        if not self.modules_running:
            return "this instance owns no tokens"
        if self.ring_store not in ("memberlist", "inmemory"):
            # consul/etcd are never reachable here: the instance never gets its tokens.
            return "this instance owns no tokens"
        if time.monotonic() < self.running_since + self.observe_period:
            ring = self.config["ingester"]["ring"]
            address = (f"{ring['instance_addr'] or '127.0.0.1'}:"
                       f"{ring['instance_port'] or self.config['server']['grpc_listen_port']}")
            return f"instance {address} in state JOINING"
        return ""

    def ingester_problem(self) -> str:
        """dskit Lifecycler.CheckReady for the ingester ("" when ready)."""
        problem = self.ring_problem()
        if problem:
            self.ready_since = None
            return problem
        now = time.monotonic()
        if self.ready_since is None:
            self.ready_since = now
        if (now - self.ready_since) * 1e9 < self.min_ready:
            return f"waiting for {go_format_duration(self.min_ready)} after being ready"
        self.ready_latched = True
        return ""

    def ready_problem(self) -> str:
        """"" when ready, else the /ready body (without its trailing newline)."""
        if self.stopping.is_set():
            return "Some services are not Running:\nStopping: 1"
        if not self.modules_running:
            return f"Some services are not Running:\nStarting: {len(self.modules)}"
        if not self.serves("ingester"):
            return ""
        with self.ready_lock:
            if self.ready_latched:
                return ""
            problem = self.ingester_problem()
        return f"Ingester not ready: {problem}" if problem else ""

    def serves(self, *modules: str) -> bool:
        return bool(self.modules & set(modules))

    # lifecycle
    def prepare_directories(self) -> None:
        """Directories the modules create at start; a read-only or wrong mount fails here."""
        wanted = []
        if self.serves("ingester"):
            wanted.append(("ingester", self.config["blocks_storage"]["tsdb"]["dir"]))
        if self.serves("store-gateway"):
            wanted.append(("store-gateway",
                           self.config["blocks_storage"]["bucket_store"]["sync_dir"]))
        if self.serves("compactor"):
            wanted.append(("compactor", self.config["compactor"]["data_dir"]))
        if self.serves("ruler"):
            wanted.append(("ruler", self.config["ruler"]["rule_path"]))
        blocks = self.config["blocks_storage"]
        if blocks["backend"] == "filesystem" and self.serves("ingester", "compactor"):
            wanted.append(("ingester", os.path.join(blocks["filesystem"]["dir"],
                                                    blocks["storage_prefix"])))
        for module, directory in wanted:
            try:
                Path(directory).mkdir(parents=True, exist_ok=True)
                probe = Path(directory) / ".lgtm-standin-write-check"
                probe.write_text("")
                probe.unlink()
            except OSError as error:
                self.log("error", "module failed", module=module,
                         err=f"failed to create directory {directory}: {error}")
                raise SystemExit(1) from None

    def create_activity_tracker(self) -> None:
        """The activity-tracker module's file, before the modules that depend on it.

        The image's working directory is /, so with the default ./metrics-activity.log a
        read-only root file system or a user that cannot write / stops Mimir here.
        """
        tracker = self.config["activity_tracker"]
        filepath = str(tracker["filepath"])
        if not filepath or not self.serves("activity-tracker"):
            return
        step = "create activity file: open"
        try:
            fd = os.open(os.path.join(os.getcwd(), filepath),
                         os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o600)
            try:
                step = "truncate activity file: truncate"
                os.ftruncate(fd, int(tracker["max_entries"]) * 1024)
            finally:
                os.close(fd)
        except OSError as error:
            reason = (error.strerror or str(error)).lower()
            self.log("error", "error running application",
                     err=f"error initialising module: activity-tracker: failed to {step} "
                     f"{filepath}: {reason}")
            raise SystemExit(1) from None

    def uses_memberlist(self) -> bool:
        rings = ["distributor.ring", "ingester.ring", "compactor.sharding_ring",
                 "store_gateway.sharding_ring", "ruler.ring"]
        return any(get_path(self.config, f"{ring}.kvstore.store") == "memberlist"
                   for ring in rings)

    def start(self) -> None:
        self.log("info", "Starting application",
                 version=f"(version={VERSION}, branch={BRANCH}, revision={REVISION})")
        if self.config["usage_stats"]["enabled"]:
            # Real Mimir reports anonymous usage to Grafana Labs; the stand-in only says so.
            self.log("info", "usage stats reporting is enabled (usage_stats.enabled): real "
                     f"Mimir would send anonymous usage data to {USAGE_STATS_URL}; the "
                     "stand-in sends nothing", installation_mode=self.config["usage_stats"][
                         "installation_mode"])
        if not self.config["multitenancy_enabled"]:
            self.log("info", "multitenancy disabled: every request uses the tenant",
                     tenant=self.config["no_auth_tenant"])
        self.create_activity_tracker()
        self.prepare_directories()
        self.store.load()
        server = self.config["server"]
        http_sock = self.listen(server["http_listen_address"], server["http_listen_port"])
        grpc_sock = self.listen(server["grpc_listen_address"], server["grpc_listen_port"])
        self.tcp_only(grpc_sock, "grpc")
        if self.uses_memberlist():
            bind = (self.config["memberlist"].get("bind_addr") or [""])[0]
            member_sock = self.listen("" if bind == "0.0.0.0" else bind,
                                      self.config["memberlist"]["bind_port"])
            self.tcp_only(member_sock, "memberlist")
        try:
            tls = server_tls_context(server["http_tls_config"])
        except TLSConfigError as error:
            self.log("error", "error initialising module: server", config=error.key,
                     err=f"error generating http tls config: {error}")
            raise SystemExit(1) from None
        self.serve_http(http_sock, Handler, tls)
        self.http_port = http_sock.getsockname()[1]
        self.log("info", "server listening on addresses",
                 http=http_sock.getsockname()[:2], grpc=grpc_sock.getsockname()[:2],
                 http_tls=tls is not None)
        self.running_since = time.monotonic()
        self.modules_running = True
        self.log("info", "Application started")

    def stop(self) -> None:
        self.stopping.set()
        self.log("info", "=== received SIGINT/SIGTERM ===\n*** exiting")
        self.close_listeners()

    # request helpers
    def count_request(self, route: str, status: int) -> None:
        with self.requests_lock:
            self.requests[(route, status)] = self.requests.get((route, status), 0) + 1

    def tenant_of(self, headers: Any) -> tuple[str | None, str]:
        """(tenant, error): dskit's HTTP auth middleware, or the fixed no-auth tenant."""
        if not self.config["multitenancy_enabled"]:
            return self.config["no_auth_tenant"], ""
        return tenant_problem(headers.get("X-Scope-OrgID"),
                              self.config["tenant_federation"]["enabled"])


class Handler(StandinHandler):
    server_version = "mimir-standin"

    def api_error(self, error: QueryError) -> None:
        self.send_json(error.status, {"status": "error", "errorType": error.error_type,
                                      "error": str(error)})

    def route(self) -> None:
        self.body_consumed = False
        app = self.server.app
        path = unquote(urlsplit(self.path).path)
        prefix = app.prefix
        public = {
            "/": self.index, "/ready": self.ready, "/metrics": self.metrics,
            "/config": self.config_page, "/services": self.services,
            "/api/v1/status/buildinfo": self.buildinfo,
            f"{prefix}/api/v1/status/buildinfo": self.buildinfo,
        }
        tenant_routes: dict[str, tuple[Any, tuple[str, ...]]] = {}
        if app.serves("distributor"):
            tenant_routes["/api/v1/push"] = (self.push, ("POST",))
            tenant_routes["/otlp/v1/metrics"] = (self.otlp, ("POST",))
        if app.serves("querier", "query-frontend"):
            for name, handler, methods in (
                    ("query", self.query, ("GET", "POST")),
                    ("query_range", self.query_range, ("GET", "POST")),
                    ("series", self.series, ("GET", "POST", "DELETE")),
                    ("labels", self.labels, ("GET", "POST")),
                    ("query_exemplars", self.exemplars, ("GET", "POST")),
                    ("metadata", self.metadata, ("GET",))):
                tenant_routes[f"{prefix}/api/v1/{name}"] = (handler, methods)
        label_values = re.fullmatch(re.escape(prefix) + r"/api/v1/label/([^/]+)/values", path)
        if label_values and app.serves("querier", "query-frontend"):
            name = label_values.group(1)
            tenant_routes[path] = (lambda tenant: self.label_values(tenant, name), ("GET",))
        if path in public:
            if self.command not in ("GET", "HEAD"):
                self.send(405, "")
                return
            public[path]()
            app.count_request(path, 200)
            return
        if path not in tenant_routes:
            self.send(404, "404 page not found\n")
            return
        handler, methods = tenant_routes[path]
        if self.command not in methods:
            self.send(405, "")
            return
        tenant, problem = app.tenant_of(self.headers)
        if tenant is None:
            self.send(401, problem + "\n")
            app.count_request(path, 401)
            return
        if app.stopping.is_set() or (app.serves("ingester") and app.ring_problem()):
            # Before the ingester has joined its ring the distributor and querier have
            # nothing to talk to, as in real Mimir during start-up.
            self.send(500, "empty ring\n")
            app.count_request(path, 500)
            return
        try:
            handler(tenant)
        except QueryError as error:
            self.api_error(error)

    # public pages
    def index(self) -> None:
        links = ["/config", "/config?mode=diff", "/services", "/ready", "/metrics",
                 f"{self.server.app.prefix}/api/v1/status/buildinfo"]
        items = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links)
        self.send(200, f"<html><head><title>Grafana Mimir</title></head><body><h1>Grafana "
                  f"Mimir (lgtm contract stand-in {VERSION})</h1><ul>{items}</ul></body></html>",
                  "text/html; charset=utf-8")

    def ready(self) -> None:
        problem = self.server.app.ready_problem()
        if problem:
            self.send(503, problem + "\n")
        else:
            self.send(200, "ready\n")

    def services(self) -> None:
        app = self.server.app
        state = "Running" if app.modules_running and not app.stopping.is_set() else "Starting"
        rows = "".join(f"<tr><td>{name}</td><td>{state}</td></tr>"
                       for name in sorted(app.modules))
        self.send(200, "<html><head><title>Services' status</title></head><body><h1>Services' "
                  f"status</h1><table><tr><th>Service</th><th>Status</th></tr>{rows}</table>"
                  "</body></html>", "text/html; charset=utf-8")

    def buildinfo(self) -> None:
        config = self.server.app.config
        self.send_json(200, {"status": "success", "data": {
            "application": APPLICATION, "version": VERSION, "revision": REVISION,
            "branch": BRANCH, "goVersion": GO_VERSION,
            "features": {
                "ruler_config_api": str(config["ruler"]["enable_api"]).lower(),
                "alertmanager_config_api": str(config["alertmanager"]["enable_api"]).lower(),
                "query_sharding": str(config["frontend"]["parallelize_shardable_queries"])
                .lower(),
                "federated_rules": str(config["ruler"]["tenant_federation"]["enabled"]).lower(),
            }}})

    def config_page(self) -> None:
        app = self.server.app
        mode = parse_qs(urlsplit(self.path).query).get("mode", [""])[0]
        root = app.schema["root"]
        if mode == "defaults":
            rendered = render_config(defaults(root), root, None)
        elif mode == "diff":
            rendered = render_config(app.config, root, defaults(root))
        else:
            rendered = render_config(app.config, root, None)
        self.send(200, yaml.safe_dump(rendered, sort_keys=False, allow_unicode=True),
                  "text/plain; charset=utf-8")

    def metrics(self) -> None:
        app = self.server.app
        store = app.store
        labels = (f'branch="{BRANCH}",goversion="{GO_VERSION}",revision="{REVISION}",'
                  f'version="{VERSION}"')
        lines = [
            "# HELP cortex_build_info Always 1; the labels name the stand-in's reported build.",
            "# TYPE cortex_build_info gauge", f"cortex_build_info{{{labels}}} 1",
            "# HELP mimir_build_info Always 1; the labels name the stand-in's reported build.",
            "# TYPE mimir_build_info gauge", f"mimir_build_info{{{labels}}} 1",
            "# HELP cortex_config_hash Always 1; the label is the sha256 of the loaded config.",
            "# TYPE cortex_config_hash gauge",
            f'cortex_config_hash{{sha256="{app.config_hash}"}} 1',
            "# HELP process_start_time_seconds When this process started (Unix seconds).",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {app.started:.3f}",
            "# HELP cortex_distributor_received_samples_total Samples accepted per tenant.",
            "# TYPE cortex_distributor_received_samples_total counter",
        ]
        with store.lock:
            for user, count in sorted(store.received.items()):
                lines.append(f'cortex_distributor_received_samples_total{{user="{user}"}} '
                             f"{count}")
            lines += ["# HELP cortex_distributor_received_exemplars_total Exemplars accepted per "
                      "tenant.",
                      "# TYPE cortex_distributor_received_exemplars_total counter"]
            for user, count in sorted(store.received_exemplars.items()):
                lines.append(f'cortex_distributor_received_exemplars_total{{user="{user}"}} '
                             f"{count}")
            lines += ["# HELP cortex_discarded_samples_total Samples refused, by reason, tenant.",
                      "# TYPE cortex_discarded_samples_total counter"]
            for (reason, user), count in sorted(store.discarded.items()):
                lines.append(f'cortex_discarded_samples_total{{reason="{reason}",user="{user}"}}'
                             f" {count}")
            series = sum(len(t.series) for t in store.tenants.values())
            lines += [
                "# HELP cortex_ingester_memory_series Series held now, all tenants.",
                "# TYPE cortex_ingester_memory_series gauge",
                f"cortex_ingester_memory_series {series}",
                "# HELP cortex_ingester_memory_users Tenants holding series now.",
                "# TYPE cortex_ingester_memory_users gauge",
                f"cortex_ingester_memory_users {len(store.tenants)}",
                "# HELP mimir_standin_samples_total Samples the lgtm stand-in holds (all "
                "tenants, replayed ones included).",
                "# TYPE mimir_standin_samples_total counter",
                f"mimir_standin_samples_total {store.samples_total}",
                "# HELP mimir_standin_histograms_dropped_total Native histogram samples "
                "accepted but not stored by the stand-in.",
                "# TYPE mimir_standin_histograms_dropped_total counter",
                f"mimir_standin_histograms_dropped_total {store.histograms_dropped}",
            ]
        lines += ["# HELP cortex_request_duration_seconds_count Requests served by route and "
                  "status code (count only).",
                  "# TYPE cortex_request_duration_seconds_count counter"]
        with app.requests_lock:
            for (route, status), count in sorted(app.requests.items()):
                lines.append(f'cortex_request_duration_seconds_count{{route="{route}",'
                             f'status_code="{status}"}} {count}')
        self.send(200, "\n".join(lines) + "\n", "text/plain; version=0.0.4; charset=utf-8")

    # write path
    def push(self, tenant: str) -> None:
        app = self.server.app
        limit = app.config["distributor"]["max_recv_msg_size"]
        content_type = self.headers.get("Content-Type", "")
        if "io.prometheus.write.v2.request" in content_type.lower():
            self.read_body(limit)
            app.count_request("/api/v1/push", 415)
            self.send(415, "remote write 2.0 (io.prometheus.write.v2.Request) is not "
                      "implemented by the lgtm Mimir stand-in; send remote write 1.0 "
                      "(prometheus.WriteRequest)\n")
            return
        body = self.read_body(limit)
        if body is None:
            app.count_request("/api/v1/push", 413)
            self.send(413, "the incoming push request has been rejected because its message "
                      f"size is larger than the allowed limit of {limit} bytes "
                      "(err-mimir-distributor-max-write-message-size)\n")
            return
        try:
            request = decode_write_request(snappy_decompress(body, limit))
        except DecodeError as error:
            app.count_request("/api/v1/push", 400)
            self.send(400, f"failed to decode the remote write request (snappy-compressed "
                      f"prometheus.WriteRequest expected): {error}\n")
            return
        replication = app.config["ingester"]["ring"]["replication_factor"]
        if replication > 1:
            # dskit's replication strategy: a quorum of RF/2+1 ingesters must be alive,
            # and a monolithic Mimir has one.
            status_message = (f"at least {replication // 2 + 1} live replicas required, could "
                              "only find 1")
            app.count_request("/api/v1/push", 500)
            self.send(500, status_message + "\n")
            return
        try:
            app.store.push(tenant, request)
        except PushRejected as error:
            app.count_request("/api/v1/push", error.status)
            self.send(error.status, f"{error}\n")
            return
        app.count_request("/api/v1/push", 200)
        self.send(200, "")

    def otlp(self, tenant: str) -> None:
        self.read_body(self.server.app.config["distributor"]["max_recv_msg_size"])
        self.send(501, "OTLP metrics ingestion is not implemented by the lgtm Mimir stand-in\n")

    # read path
    def evaluator(self, tenant: str) -> Evaluator:
        app = self.server.app
        if app.config["ingester"]["ring"]["replication_factor"] > 1:
            raise QueryError("too many unhealthy instances in the ring", "internal", 500)
        with app.store.lock:
            return Evaluator(app.store.tenants.get(tenant),
                             app.config["querier"]["lookback_delta"])

    def query(self, tenant: str) -> None:
        params = self.params()
        now = int(time.time() * 1000)
        stamp = parse_time_param("time", first(params, "time"), now)
        node = parse_query(first(params, "query") or "")
        kind, value = self.evaluator_for(tenant, node).eval(node, stamp)
        app = self.server.app
        app.count_request(f"{app.prefix}/api/v1/query", 200)
        if kind == "scalar":
            data = {"resultType": "scalar", "result": [format_time(stamp), format_float(value)]}
        else:
            data = {"resultType": "vector", "result": [
                {"metric": labels, "value": [format_time(stamp), format_float(sample)]}
                for labels, sample in sorted(value, key=lambda item: sorted(item[0].items()))]}
        self.send_json(200, {"status": "success", "data": data})

    def evaluator_for(self, tenant: str, node: dict[str, Any]) -> Evaluator:
        if not selectors_of(node):
            # Pure number arithmetic (Grafana's `1+1` health check) touches no ingester.
            return Evaluator(None, 0)
        return self.evaluator(tenant)

    def query_range(self, tenant: str) -> None:
        params = self.params()
        start = parse_time_param("start", first(params, "start"), -1)
        end = parse_time_param("end", first(params, "end"), -1)
        if start == -1 or end == -1:
            missing = "start" if start == -1 else "end"
            raise QueryError(f'invalid parameter "{missing}": cannot parse "" to a valid '
                             "timestamp")
        if end < start:
            raise QueryError("end timestamp must not be before start time")
        step = parse_step(first(params, "step"))
        if (end - start) // step > MAX_POINTS:
            raise QueryError("exceeded maximum resolution of 11,000 points per timeseries. "
                             "Try decreasing the query resolution (?step=XX)")
        node = parse_query(first(params, "query") or "")
        evaluator = self.evaluator_for(tenant, node)
        matrix: dict[tuple[tuple[str, str], ...], list[list[Any]]] = {}
        stamp = start
        while stamp <= end:
            kind, value = evaluator.eval(node, stamp)
            points = [({}, value)] if kind == "scalar" else value
            for labels, sample in points:
                matrix.setdefault(tuple(sorted(labels.items())), []).append(
                    [format_time(stamp), format_float(sample)])
            stamp += step
        self.send_json(200, {"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": dict(key), "values": values} for key, values in sorted(matrix.items())]}})

    def matched_series(self, tenant: str, params: dict[str, list[str]],
                       required: bool) -> list[Series]:
        matches = params.get("match[]", [])
        if required and not matches:
            raise QueryError("no match[] parameter provided")
        start = parse_time_param("start", first(params, "start"), -(2**62))
        end = parse_time_param("end", first(params, "end"), 2**62)
        evaluator = self.evaluator(tenant)
        selected: dict[int, Series] = {}
        if matches:
            for match in matches:
                node = parse_query(match)
                if node["type"] != "selector":
                    raise QueryError(f"invalid parameter \"match[]\": {match!r} is not a "
                                     "vector selector")
                for series in evaluator.select(node["matchers"]):
                    selected[id(series)] = series
        else:
            selected = {id(series): series for series in evaluator.series}
        return [series for series in selected.values() if series.has_samples(start, end)]

    def series(self, tenant: str) -> None:
        found = self.matched_series(tenant, self.params(), required=True)
        self.send_json(200, {"status": "success", "data": sorted(
            (series.labels for series in found), key=lambda labels: sorted(labels.items()))})

    def labels(self, tenant: str) -> None:
        found = self.matched_series(tenant, self.params(), required=False)
        names = sorted({name for series in found for name in series.labels})
        self.send_json(200, {"status": "success", "data": names})

    def label_values(self, tenant: str, name: str) -> None:
        if not LABEL_NAME_RE.match(name):
            raise QueryError(f'invalid label name: "{name}"')
        found = self.matched_series(tenant, self.params(), required=False)
        values = sorted({series.labels[name] for series in found if name in series.labels})
        self.send_json(200, {"status": "success", "data": values})

    def exemplars(self, tenant: str) -> None:
        params = self.params()
        now = int(time.time() * 1000)
        start = parse_time_param("start", first(params, "start"), now - 3600_000)
        end = parse_time_param("end", first(params, "end"), now)
        node = parse_query(first(params, "query") or "")
        evaluator = self.evaluator(tenant)
        result = []
        seen: set[int] = set()
        for matchers in selectors_of(node):
            for series in evaluator.select(matchers):
                if id(series) in seen:
                    continue
                seen.add(id(series))
                points = [{"labels": labels, "value": format_float(value),
                           "timestamp": format_time(stamp)}
                          for stamp, value, labels in series.exemplars if start <= stamp <= end]
                if points:
                    result.append({"seriesLabels": series.labels, "exemplars": points})
        self.send_json(200, {"status": "success", "data": result})

    def metadata(self, tenant: str) -> None:
        params = self.params()
        app = self.server.app
        with app.store.lock:
            tenant_state = app.store.tenants.get(tenant)
            metadata = dict(tenant_state.metadata) if tenant_state else {}
        metric = first(params, "metric")
        if metric:
            metadata = {metric: metadata[metric]} if metric in metadata else {}
        limit = int(first(params, "limit") or -1)
        if limit >= 0:
            metadata = dict(list(sorted(metadata.items()))[:limit])
        self.send_json(200, {"status": "success", "data": metadata})


def print_help(schema: dict[str, Any], show_all: bool) -> None:
    """A usage listing in the shape of Mimir's -help (flag, type, default)."""
    print(f"Usage of /bin/mimir (lgtm contract stand-in for Grafana Mimir {VERSION}):")
    rows: list[tuple[str, str, Any]] = []

    def walk(block: dict[str, Any]) -> None:
        for entry in block["fields"].values():
            if entry["k"] == "block":
                walk(entry)
            elif entry.get("f") and (show_all or not entry.get("c")):
                rows.append((entry["f"], entry.get("t", "value"), entry.get("d")))
    walk(schema["root"])
    for name, kind in MAIN_FLAGS.items():
        rows.append((name, kind, None))
    for name, kind, default in sorted(rows):
        shown = f" (default {default!r})" if default not in (None, "", [], {}) else ""
        print(f"  -{name} {kind}{shown}")


def print_modules() -> None:
    dependents: dict[str, set[str]] = {}
    for module in VISIBLE_MODULES:
        for dependency in module_closure([module]) - {module}:
            dependents.setdefault(dependency, set()).add(module)
    for module in VISIBLE_MODULES:
        suffix = f" (in: {', '.join(sorted(dependents[module]))})" if module in dependents \
            else ""
        print(module + suffix)


def load(argv: list[str], schema: dict[str, Any]
         ) -> tuple[dict[str, Any], set[str], dict[str, Any], str]:
    """main.go up to Validate: returns (config, explicit paths, main flags, config hash).

    Exits as upstream does: 1 for config load and validation errors, 2 for flags and -help.
    """
    config_file, expand = config_file_parameter(argv)
    root = schema["root"]
    config, explicit = defaults(root), set()
    config_hash = ""
    if config_file:
        try:
            raw = Path(config_file).read_bytes()
        except OSError as error:
            print(f"error loading config from {config_file}: Error reading config file: "
                  f"open {config_file}: {(error.strerror or str(error)).lower()}",
                  file=sys.stderr)
            raise SystemExit(1) from None
        config_hash = hashlib.sha256(raw).hexdigest()
        text = raw.decode("utf-8", errors="replace")
        if expand:
            text = expand_env(text)
        try:
            config, explicit = decode_config(text, schema)
        except ConfigError as error:
            print(f"error loading config from {config_file}: Error parsing config file: "
                  f"{error}", file=sys.stderr)
            raise SystemExit(1) from None
    table = flag_table(schema)
    try:
        flags = parse_flags(argv, table)
    except FlagError as error:
        print(error, file=sys.stderr)
        print("Run with -help to get a list of available parameters", file=sys.stderr)
        raise SystemExit(2) from None
    main_flags: dict[str, Any] = {}
    for name, value in flags:
        path, kind = table[name]
        if path is None:
            main_flags[name] = value
        elif kind == "strings":
            # flagext.StringSlice.Set appends, to what the config file gave too.
            get_path(config, path).append(value)
            explicit.add(path)
        else:
            set_path(config, path, value)
            explicit.add(path)
    if main_flags.get("help") or main_flags.get("h") or main_flags.get("help-all"):
        print_help(schema, bool(main_flags.get("help-all")))
        raise SystemExit(2)
    if main_flags.get("version"):
        print(f"Mimir, version {VERSION} (branch: {BRANCH}, revision: {REVISION})\n"
              f"  go version:       {GO_VERSION}\n  platform:         linux/amd64")
        raise SystemExit(0)
    inherit_common(config, explicit, schema)
    try:
        validate_config(config)
    except ConfigError as error:
        print(f"error validating config: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    return config, explicit, main_flags, config_hash


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    schema = load_schema()
    config, explicit, main_flags, config_hash = load(args, schema)
    known = set(VISIBLE_MODULES) | set(INVISIBLE_MODULES)
    if main_flags.get("modules"):
        print_modules()
        return 0
    app = Mimir(config, explicit, schema, config_hash)
    for target in targets_of(config):
        if target not in known:
            app.log("error", "initializing application", err=f"unrecognised module name: "
                    f"{target}")
            return 1
    return app.run_until_signalled()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # -help piped into head
        sys.exit(2)
