"""Contract stand-in for Grafana Loki 3.7.6 (docker.io/grafana/loki:3.7.6), single binary.

No registry here serves the Loki image and its source may not enter the repository, so
the test image `localhost/lgtm-test/loki:3.7.6` runs this program as `/usr/bin/loki`
(uid 10001, as upstream's image does; tests/testhost/images/loki.py installs it with the
shebang #!/usr/bin/python3, Debian's python3 and python3-yaml being the only runtime, and
the shared module lgtm_standin beside it). It honours the contract a role relies on,
reproduces the defaults and traps that bite, and really stores what is pushed, so tests
that query it see the lines real clients sent.

Upstream facts this follows (read at tag v3.7.6, not copied):
- Start-up, flags and exit codes: cmd/loki/main.go and health.go (-health before anything
  else, -version, "failed parsing config: ..." exit 1, flag errors exit 2, "validating
  config" exit 1, -verify-config logs "config is valid"); pkg/util/cfg (config file
  loaded with yaml.v2 UnmarshalStrict, errors wrapped with the file name and, without
  -config.expand-env, a hint to use it; drone/envsubst for ${VAR:-default}).
- Config meaning: pkg/loki/config_wrapper.go (common.path_prefix gives wal, compactor,
  rules-temp, tsdb-shipper-active/-cache; common.storage.filesystem gives the chunks and
  rules directories; common.ring and common.replication_factor apply to the ingester
  ring); pkg/loki/loki.go Config.Validate and validation.go ("CONFIG ERROR: ..."),
  pkg/compactor/config.go, pkg/storage/config/schema_config.go, pkg/storage/types.
- Readiness: pkg/loki/loki.go readyHandler ("Ingester not ready: ...") and dskit's
  Lifecycler.CheckReady (min_ready_duration counted from the first check after the
  instance holds tokens, then latched).
- Write path: pkg/loghttp/push (JSON and snappy protobuf logproto.PushRequest, OTLP
  ExportLogsServiceRequest, service_name discovery, the default OTLP resource attributes
  that become index labels), pkg/distributor (validation messages, detected_level from
  field_detection.go, partial acceptance with 400), pkg/validation/validate.go messages,
  pkg/ingester/wal.go (disk usage checked every 10 s against disk_full_threshold, "disk
  usage exceeded threshold, throttling writes", pushes refused with "Ingester is shutting
  down", loki_ingester_wal_disk_full_failures_total) and instance.go (a WAL append that
  fails with ENOSPC keeps the push in memory, counts it and logs "disk full" once; the
  entries reach the chunks at the next flush or at shutdown).
- -health (cmd/loki/health.go) asks -health.url, by default http://localhost:3100/ready
  whatever port the config sets, as upstream does.
- Read path: https://grafana.com/docs/loki/v3.7.x/reference/loki-http-api/ (response
  shapes, start/end/limit/direction, ns timestamps), LogQL docs for the subset below.
- Wire formats: logproto push.proto (PushRequest, Stream, Entry, LabelPairAdapter),
  google.protobuf.Timestamp, opentelemetry-proto logs/v1 and common/v1, the OTLP/HTTP
  JSON mapping; snappy block format (lgtm_standin).

Storage here is the stand-in's own: each push is appended and fsynced as a JSON line to
ingester.wal.dir/standin-wal.jsonl, and moved at each checkpoint (checkpoint_duration)
into <filesystem chunks directory>/<tenant>/standin-chunks.jsonl; both are read back at
start, so what was pushed survives restarts and kill -9 as real Loki's WAL does.

What it does NOT do: LogQL beyond stream selectors, line filters, `| json`, `| logfmt`,
`| drop`, `| keep`, label filters, the range aggregations count_over_time, rate,
bytes_over_time, bytes_rate, the aggregations sum/count/min/max/avg with by/without,
vector(), numbers and + - * / (anything else is a 400 parse error saying so); no ruler,
no real compactor (retention is not applied), no index, no object storage but the
filesystem, no tail websocket, no real gRPC or memberlist (plain TCP listeners so port
checks see them), no fields upstream hides from its reference unless the schema lists
them. It never connects anywhere: analytics reporting is only logged.
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import datetime
import errno
import gzip
import hashlib
import json
import math
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
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
    defaults,
    first,
    format_log,
    get_path,
    go_format_duration,
    go_parse_duration,
    model_parse_duration,
    parse_flags,
    proto_double,
    proto_fields,
    proto_int64,
    proto_string,
    render_config,
    server_tls_context,
    set_path,
    snappy_decompress,
    tenant_problem,
)

VERSION = "3.7.6"
BRANCH = "release-3.7.x"
REVISION = "lgtm-standin"
GO_VERSION = "none (Python stand-in)"
SCHEMA_PATHS = [
    Path(os.environ.get("LGTM_LOKI_SCHEMA", "/nonexistent")),
    Path(__file__).resolve().with_name("schema.json"),
    Path("/usr/share/lgtm-standin/loki/schema.json"),
]
WAL_FILE = "standin-wal.jsonl"
CHUNKS_FILE = "standin-chunks.jsonl"
# pkg/ingester/wal.go monitorDisk: a 10 s ticker. The variable only moves the ticker
# (for test hosts that fill a disk); what happens at each check is the same.
DISK_CHECK_INTERVAL = float(os.environ.get("LGTM_STANDIN_DISK_CHECK_INTERVAL", "10"))
NO_TOKENS = "this instance owns no tokens"

# cmd/loki main flags (ConfigWrapper.RegisterFlags) that are not config fields.
MAIN_FLAGS = {
    "config.file": "string", "config.expand-env": "bool", "verify-config": "bool",
    "print-config-stderr": "bool", "list-targets": "bool", "log-config-reverse-order": "bool",
    "version": "bool", "help": "bool", "h": "bool",
}
DEFAULT_CONFIG_FILE = "config.yaml,config/config.yaml"

# pkg/loki/modules.go: the targets a user may name, and what each one runs.
TARGETS = {
    "all": {"distributor", "ingester", "querier", "query-frontend", "compactor", "ruler",
            "index-gateway"},
    "write": {"distributor", "ingester"},
    "read": {"querier", "query-frontend"},
    "backend": {"compactor", "ruler", "index-gateway", "query-scheduler"},
    "distributor": {"distributor"}, "ingester": {"ingester"}, "querier": {"querier"},
    "query-frontend": {"query-frontend"}, "query-scheduler": {"query-scheduler"},
    "compactor": {"compactor"}, "ruler": {"ruler"}, "index-gateway": {"index-gateway"},
    "table-manager": set(), "ingester-querier": set(), "overrides-exporter": set(),
    "pattern-ingester": set(), "bloom-planner": set(), "bloom-builder": set(),
    "bloom-gateway": set(), "ui": set(), "dataobj-consumer": set(),
}

INDEX_TYPES = ["boltdb-shipper", "tsdb"]
DEPRECATED_INDEX_TYPES = ["aws", "aws-dynamo", "bigtable", "bigtable-hashed", "boltdb",
                          "cassandra", "gcp", "gcp-columnkey", "grpc-store"]
STORAGE_TYPES = ["filesystem", "aws", "alibabacloud", "azure", "bos", "cos", "gcs", "s3",
                 "swift", "noop"]
DEPRECATED_STORAGE_TYPES = ["aws-dynamo", "bigtable", "bigtable-hashed", "cassandra", "gcp",
                            "gcp-columnkey", "grpc-store"]
TESTING_STORAGE_TYPES = ["inmemory"]

# Defaults of lists whose flag registration sets them (the reference page shows them).
DEFAULT_SERVICE_NAME_LABELS = [
    "service", "app", "application", "app_name", "name", "app_kubernetes_io_name",
    "container", "container_name", "k8s_container_name", "component", "workload", "job",
    "k8s_job_name"]
DEFAULT_OTLP_INDEX_ATTRIBUTES = [
    "service.name", "service.namespace", "service.instance.id", "deployment.environment",
    "deployment.environment.name", "cloud.region", "cloud.availability_zone",
    "k8s.cluster.name", "k8s.namespace.name", "k8s.pod.name", "k8s.container.name",
    "container.name", "k8s.replicaset.name", "k8s.deployment.name", "k8s.statefulset.name",
    "k8s.daemonset.name", "k8s.cronjob.name", "k8s.job.name"]
DEFAULT_LEVEL_FIELDS = ["level", "LEVEL", "Level", "Severity", "severity", "SEVERITY", "lvl",
                        "LVL", "Lvl"]
LEVEL_WORDS = {"trace": "trace", "trc": "trace", "debug": "debug", "dbg": "debug",
               "info": "info", "inf": "info", "information": "info", "warn": "warn",
               "wrn": "warn", "warning": "warn", "error": "error", "err": "error",
               "critical": "critical", "fatal": "fatal"}
# field_detection.go levelPatterns: the words looked for in unstructured lines, in order.
LEVEL_PATTERNS = [("trace", "trace"), ("debug", "debug"), ("fatal", "fatal"),
                  ("critical", "critical"), ("error", "error"), ("err", "error"),
                  ("warning", "warn"), ("warn", "warn"), ("info", "info")]
LOG_LEVELS = ("debug", "info", "warn", "error")


def load_schema() -> dict[str, Any]:
    return lgtm_standin.load_schema(SCHEMA_PATHS, "loki")


def decode_config(text: str, schema: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """yaml.v2 UnmarshalStrict (pkg/util/cfg), as Loki decodes its file."""
    return lgtm_standin.decode_config(text, schema, yaml_v2=True)


def flag_table(schema: dict[str, Any]) -> dict[str, tuple[str | None, str]]:
    return lgtm_standin.flag_table(schema, MAIN_FLAGS)


def cfg(config: dict[str, Any], path: str, default: Any = None) -> Any:
    """A config value by dotted path, or `default` where the schema has no such key."""
    value: Any = config
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return default if value is None else value


def has_path(config: dict[str, Any], path: str) -> bool:
    return cfg(config, path, _MISSING) is not _MISSING


_MISSING = object()


def envsubst(text: str) -> str:
    """drone/envsubst as pkg/util/cfg uses it: $VAR, ${VAR}, ${VAR:-default},
    ${VAR-default}, ${VAR:=default}, ${VAR=default}; unset variables become empty."""
    def replace(match: re.Match[str]) -> str:
        if match.group("plain"):
            return os.environ.get(match.group("plain"), "")
        name, op, default = match.group("name"), match.group("op"), match.group("default")
        value = os.environ.get(name)
        if op in (":-", ":="):
            return value if value else default or ""
        if op in ("-", "="):
            return value if value is not None else default or ""
        return value or ""
    pattern = re.compile(r"\$(?:(?P<plain>[A-Za-z_][A-Za-z0-9_]*)|\{(?P<name>[A-Za-z_]"
                         r"[A-Za-z0-9_]*)(?:(?P<op>:-|:=|-|=)(?P<default>[^}]*))?\})")
    return pattern.sub(replace, text)


# --- config: load, common defaults, validation -----------------------------------------

def apply_dynamic(config: dict[str, Any], explicit: set[str]) -> None:
    """config_wrapper.go ApplyDynamicConfig: what common.* and path_prefix fill in, for
    every key the file and the flags left at its default."""
    def fill(path: str, value: Any) -> None:
        if path not in explicit and has_path(config, path):
            set_path(config, path, value)

    prefix = str(cfg(config, "common.path_prefix", "")).rstrip("/")
    if cfg(config, "common.path_prefix", ""):
        fill("ruler.rule_path", f"{prefix}/rules-temp")
        fill("ingester.wal.dir", f"{prefix}/wal")
        fill("compactor.working_directory", f"{prefix}/compactor")
    common_fs = [path for path in explicit if path.startswith("common.storage.filesystem.")]
    if common_fs:
        # applyStorageConfig: the common filesystem store is the chunks store and the
        # ruler's local rule store.
        fill("storage_config.filesystem.directory",
             cfg(config, "common.storage.filesystem.chunks_directory", ""))
        fill("ruler.storage.type", "local")
        fill("ruler.storage.local.directory",
             cfg(config, "common.storage.filesystem.rules_directory", ""))
    common_ring = [path for path in explicit if path.startswith("common.ring.")]
    if common_ring:
        for path in common_ring:
            relative = path.removeprefix("common.ring.")
            fill(f"ingester.lifecycler.ring.{relative}", get_path(config, path))
    elif cfg(config, "memberlist.join_members", []):
        fill("ingester.lifecycler.ring.kvstore.store", "memberlist")
    # common.replication_factor's flag is registered with 3 on a throwaway flag set, so
    # the reference page (and the schema) show 0: 3 is what a config without it gets.
    if "common.replication_factor" not in explicit and has_path(
            config, "common.replication_factor"):
        set_path(config, "common.replication_factor", 3)
    # applyIngesterReplicationFactor: the ingester ring always takes the common one.
    if has_path(config, "ingester.lifecycler.ring.replication_factor") and has_path(
            config, "common.replication_factor"):
        set_path(config, "ingester.lifecycler.ring.replication_factor",
                 cfg(config, "common.replication_factor"))
    periods = cfg(config, "schema_config.configs", []) or []
    if prefix and any(period.get("store") == "tsdb" for period in periods):
        for name, suffix in (("active_index_directory", "active"), ("cache_location", "cache")):
            path = f"storage_config.tsdb_shipper.{name}"
            if has_path(config, path) and not cfg(config, path, ""):
                set_path(config, path, f"{prefix}/tsdb-shipper-{suffix}")
    if prefix and any(period.get("store") == "boltdb-shipper" for period in periods):
        for name, suffix in (("active_index_directory", "active"), ("cache_location", "cache")):
            path = f"storage_config.boltdb_shipper.{name}"
            if has_path(config, path) and not cfg(config, path, ""):
                set_path(config, path, f"{prefix}/boltdb-shipper-{suffix}")


def parse_day(text: str) -> float | None:
    """time.Parse("2006-01-02", text) as seconds since the epoch, or None."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(text)):
        return None
    try:
        return calendar.timegm(time.strptime(str(text), "%Y-%m-%d"))
    except ValueError:
        return None


def go_date_error(text: str) -> str:
    """Go's time.Parse("2006-01-02", text) error for a text that is not such a date."""
    head = f'parsing time "{text}" as "2006-01-02"'
    rest = text
    for element, pattern in (("2006", r"\d{4}"), ("-", "-"), ("01", r"\d{2}"), ("-", "-"),
                             ("02", r"\d{2}")):
        match = re.match(pattern, rest)
        if not match:
            return f'{head}: cannot parse "{rest}" as "{element}"'
        rest = rest[match.end():]
    if rest:
        return f'{head}: extra text: "{rest}"'
    month = int(text[5:7])
    if not 1 <= month <= 12:
        return f'parsing time "{text}": month out of range'
    return f'parsing time "{text}": day out of range'


def period_decode_problem(config: dict[str, Any]) -> str:
    """What PeriodConfig's and DayTime's UnmarshalYAML refuse (aborting the decode)."""
    for period in cfg(config, "schema_config.configs", []) or []:
        day = str(period.get("from", ""))
        if parse_day(day) is None:
            return go_date_error(day)
        version = str(period.get("schema", "")).strip("v")
        if not re.fullmatch(r"[-+]?\d+", version):
            return f'invalid schema version: strconv.Atoi: parsing "{version}": invalid syntax'
    return ""


def active_period(periods: list[dict[str, Any]]) -> int:
    """config.ActivePeriodConfig: the last period whose `from` is not in the future."""
    now = time.time()
    index = 0
    for position, period in enumerate(periods):
        start = parse_day(str(period.get("from", "")))
        if start is not None and start <= now:
            index = position
    return index


def validate_config(config: dict[str, Any]) -> None:
    """The subset of Config.Validate a single-binary filesystem Loki can run into."""
    errors: list[str] = []
    periods = cfg(config, "schema_config.configs", []) or []
    if not periods:
        errors.append("CONFIG ERROR: invalid schema config: must specify at least one schema "
                      "configuration")
    else:
        schema_error = ""
        for index, period in enumerate(periods):
            store = period.get("store", "")
            table_period = cfg(period, "index.period", 0) or 0
            try:
                version = int(str(period.get("schema", "")).strip("v"))
            except ValueError:
                version = 0
            if store == "tsdb" and table_period != 24 * 3600 * 10**9:
                schema_error = ("validating period_config: tsdb must always have periodic "
                                "config for index set to 24h")
            elif version not in (9, 10, 11, 12, 13):
                schema_error = "validating period_config: invalid schema version"
            if index + 1 < len(periods):
                this, following = parse_day(period.get("from", "")), parse_day(
                    periods[index + 1].get("from", ""))
                if this is not None and following is not None and this >= following:
                    schema_error = "from time in schemas must be distinct and in increasing order"
            if schema_error:
                break
        if schema_error:
            errors.append(f"CONFIG ERROR: invalid schema config: {schema_error}")
    if any(item.get("action") == "index_label"
           for item in cfg(config, "limits_config.otlp_config.scope_attributes", []) or []):
        errors.append("CONFIG ERROR: invalid limits_config config: index_label action is only "
                      "supported for resource_attributes")
    threshold = cfg(config, "ingester.wal.disk_full_threshold", 0.9)
    if not 0 <= threshold <= 1:
        errors.append(f"CONFIG ERROR: invalid ingester config: invalid disk full threshold: "
                      f"{threshold:g} (must be between 0 and 1)")
    if cfg(config, "compactor.retention_enabled", False) and not cfg(
            config, "compactor.delete_request_store", ""):
        errors.append("CONFIG ERROR: invalid compactor config: compactor.delete-request-store "
                      "should be configured when retention is enabled")
    for period in periods:
        store, object_store = period.get("store", ""), period.get("object_store", "")
        if store not in INDEX_TYPES + DEPRECATED_INDEX_TYPES + TESTING_STORAGE_TYPES:
            errors.append(f"unrecognized `store` (index) type `{store}`, choose one of: "
                          f"{', '.join(INDEX_TYPES)}")
        named = cfg(config, "storage_config.named_stores", {}) or {}
        known = STORAGE_TYPES + DEPRECATED_STORAGE_TYPES + TESTING_STORAGE_TYPES
        if object_store not in known and not any(
                object_store in (stores or {}) for stores in named.values()
                if isinstance(stores, dict)):
            errors.append(f"unrecognized `object_store` type `{object_store}`, which also does "
                          "not match any named_stores. Choose one of: "
                          f"{', '.join(STORAGE_TYPES)}. Or choose a named_store")
    if periods:
        active = periods[active_period(periods)]
        schema = str(active.get("schema", ""))
        allow_sm = cfg(config, "limits_config.allow_structured_metadata", True)
        try:
            version = int(schema.strip("v"))
        except ValueError:
            errors.append(f"CONFIG ERROR: invalid schema version at schema position "
                          f"{active_period(periods)}")
            version = 13
        if allow_sm and version < 13:
            errors.append(
                "CONFIG ERROR: schema v13 is required to store Structured Metadata and use "
                f"native OTLP ingestion, your schema version is {schema}. Set "
                "`allow_structured_metadata: false` in the `limits_config` section or set the "
                "command line argument `-validation.allow-structured-metadata=false` and "
                "restart Loki. Then proceed to update to schema v13 or newer before "
                "re-enabling this config, search for 'Storage Schema' in the docs for the "
                "schema update procedure")
        if allow_sm and active.get("store") != "tsdb":
            errors.append(
                "CONFIG ERROR: `tsdb` index type is required to store Structured Metadata and "
                "use native OTLP ingestion, your index type is "
                f"`{active.get('store', '')}` (defined in the `store` parameter of the "
                "schema_config). Set `allow_structured_metadata: false` in the "
                "`limits_config` section or set the command line argument "
                "`-validation.allow-structured-metadata=false` and restart Loki. Then proceed "
                "to update the schema to use index type `tsdb` before re-enabling this config, "
                "search for 'Storage Schema' in the docs for the schema update procedure")
    for period in periods:
        if period.get("store") == "tsdb":
            if not cfg(config, "storage_config.tsdb_shipper.active_index_directory", ""):
                errors.append("CONFIG ERROR: `tsdb` index type is configured in at least one "
                              "schema period, however, `storage_config`, `tsdb_shipper`, "
                              "`active_index_directory` is not set, please set this directly "
                              "or set `path_prefix:` in the `common:` section")
            if not cfg(config, "storage_config.tsdb_shipper.cache_location", ""):
                errors.append("CONFIG ERROR: `tsdb` index type is configured in at least one "
                              "schema period, however, `storage_config`, `tsdb_shipper`, "
                              "`cache_location` is not set, please set this directly or set "
                              "`path_prefix:` in the `common:` section")
            break
    if any(period.get("store") in ("tsdb", "boltdb-shipper") for period in periods) and not \
            cfg(config, "compactor.working_directory", ""):
        errors.append("CONFIG ERROR: `compactor:` `working_directory:` is empty, please set a "
                      "valid directory or set `path_prefix:` in the `common:` section")
    if len(errors) > 1:
        raise ConfigError("\n".join(["MULTIPLE CONFIG ERRORS FOUND, PLEASE READ CAREFULLY",
                                     *errors]))
    if errors:
        raise ConfigError(errors[0])


def targets_of(config: dict[str, Any]) -> list[str]:
    return [item.strip() for item in str(cfg(config, "target", "all")).split(",")
            if item.strip()]


# --- wire formats --------------------------------------------------------------------

@dataclass
class Entry:
    ts: int  # nanoseconds
    line: str
    metadata: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class PushStream:
    labels: str
    entries: list[Entry]


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def decode_push_proto(data: bytes) -> list[PushStream]:
    """logproto.PushRequest: streams=1 {labels=1, entries=2 {timestamp=1 {seconds=1,
    nanos=2}, line=2, structuredMetadata=3 {name=1, value=2}}, hash=3}."""
    buf = memoryview(data)
    streams = []
    for number, wire, value in proto_fields(buf, 0, len(buf)):
        if number != 1 or wire != 2:
            continue
        labels = ""
        entries = []
        for s_number, s_wire, s_value in proto_fields(buf, *value):
            if s_number == 1 and s_wire == 2:
                labels = proto_string(buf, s_value)
            elif s_number == 2 and s_wire == 2:
                seconds = nanos = 0
                line = ""
                metadata = []
                for e_number, e_wire, e_value in proto_fields(buf, *s_value):
                    if e_number == 1 and e_wire == 2:
                        for t_number, _t_wire, t_value in proto_fields(buf, *e_value):
                            if t_number == 1:
                                seconds = proto_int64(t_value)
                            elif t_number == 2:
                                nanos = proto_int64(t_value) & 0xFFFFFFFF
                    elif e_number == 2 and e_wire == 2:
                        line = proto_string(buf, e_value)
                    elif e_number == 3 and e_wire == 2:
                        pair = {1: "", 2: ""}
                        for m_number, m_wire, m_value in proto_fields(buf, *e_value):
                            if m_number in pair and m_wire == 2:
                                pair[m_number] = proto_string(buf, m_value)
                        metadata.append((pair[1], pair[2]))
                entries.append(Entry(seconds * 10**9 + nanos, line, metadata))
        streams.append(PushStream(labels, entries))
    return streams


def decode_push_json(data: bytes) -> list[PushStream]:
    """The v1 JSON push body: {"streams": [{"stream": {..}, "values": [["<ns>", "line",
    {structured metadata}]]}]}."""
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"loghttp.PushRequest: ReadObject: {error}") from None
    if not isinstance(body, dict):
        raise BadRequest("loghttp.PushRequest: ReadObjectCB: expect { or n, but found "
                         f"{json.dumps(body)[:1]}")
    streams = []
    for stream in body.get("streams") or []:
        if not isinstance(stream, dict):
            raise BadRequest("loghttp.PushRequest.Streams: ReadObjectCB: expect { or n")
        labels = stream.get("stream") or stream.get("labels") or {}
        if isinstance(labels, dict):
            text = "{" + ", ".join(f'{name}={json.dumps(str(value))}'
                                   for name, value in labels.items()) + "}"
        else:
            text = str(labels)
        entries = []
        for value in stream.get("values") or stream.get("entries") or []:
            if not isinstance(value, list) or len(value) < 2:
                raise BadRequest("loghttp.PushRequest.Streams: []loghttp.LogProtoStream: "
                                 "Values: ReadArray: expect [ timestamp, line ]")
            stamp, line = value[0], value[1]
            try:
                ts = int(stamp)
            except (TypeError, ValueError):
                raise BadRequest(f'loghttp.PushRequest.Streams: unmarshalerDecoder: strconv.'
                                 f'ParseInt: parsing "{stamp}": invalid syntax') from None
            metadata = []
            if len(value) > 2 and isinstance(value[2], dict):
                metadata = [(str(k), str(v)) for k, v in value[2].items()]
            entries.append(Entry(ts, str(line), metadata))
        streams.append(PushStream(text, entries))
    return streams


# OTLP logs (opentelemetry-proto): ExportLogsServiceRequest resource_logs=1 {resource=1
# {attributes=1, dropped_attributes_count=2}, scope_logs=2 {scope=1 {name=1, version=2,
# attributes=3, dropped_attributes_count=4}, log_records=2 {time_unix_nano=1,
# severity_number=2, severity_text=3, body=5, attributes=6, dropped_attributes_count=7,
# flags=8, trace_id=9, span_id=10, observed_time_unix_nano=11}}}.
# AnyValue: string=1, bool=2, int=3, double=4, array=5 {values=1}, kvlist=6 {values=1},
# bytes=7. KeyValue: key=1, value=2.

def otlp_any(buf: memoryview, span: tuple[int, int]) -> Any:
    value: Any = None
    for number, _wire, raw in proto_fields(buf, *span):
        if number == 1:
            value = proto_string(buf, raw)
        elif number == 2:
            value = bool(raw)
        elif number == 3:
            value = proto_int64(raw)
        elif number == 4:
            value = proto_double(raw)
        elif number == 5:
            value = [otlp_any(buf, item) for n, _w, item in proto_fields(buf, *raw) if n == 1]
        elif number == 6:
            value = dict(otlp_kv(buf, item) for n, _w, item in proto_fields(buf, *raw)
                         if n == 1)
        elif number == 7:
            value = bytes(buf[raw[0]:raw[1]])
    return value


def otlp_kv(buf: memoryview, span: tuple[int, int]) -> tuple[str, Any]:
    key, value = "", None
    for number, _wire, raw in proto_fields(buf, *span):
        if number == 1:
            key = proto_string(buf, raw)
        elif number == 2:
            value = otlp_any(buf, raw)
    return key, value


def decode_otlp_proto(data: bytes) -> list[dict[str, Any]]:
    """ExportLogsServiceRequest as plain dicts shaped like the OTLP JSON mapping's."""
    buf = memoryview(data)
    resources = []
    for number, wire, value in proto_fields(buf, 0, len(buf)):
        if number != 1 or wire != 2:
            continue
        resource: dict[str, Any] = {"attributes": {}, "scopes": []}
        for r_number, r_wire, r_value in proto_fields(buf, *value):
            if r_number == 1 and r_wire == 2:
                for a_number, _a_wire, a_value in proto_fields(buf, *r_value):
                    if a_number == 1:
                        key, attribute = otlp_kv(buf, a_value)
                        resource["attributes"][key] = attribute
            elif r_number == 2 and r_wire == 2:
                scope: dict[str, Any] = {"name": "", "version": "", "attributes": {},
                                         "dropped": 0, "records": []}
                for s_number, s_wire, s_value in proto_fields(buf, *r_value):
                    if s_number == 1 and s_wire == 2:
                        for c_number, _c_wire, c_value in proto_fields(buf, *s_value):
                            if c_number == 1:
                                scope["name"] = proto_string(buf, c_value)
                            elif c_number == 2:
                                scope["version"] = proto_string(buf, c_value)
                            elif c_number == 3:
                                key, attribute = otlp_kv(buf, c_value)
                                scope["attributes"][key] = attribute
                            elif c_number == 4:
                                scope["dropped"] = c_value
                    elif s_number == 2 and s_wire == 2:
                        scope["records"].append(decode_otlp_record(buf, s_value))
                resource["scopes"].append(scope)
        resources.append(resource)
    return resources


def decode_otlp_record(buf: memoryview, span: tuple[int, int]) -> dict[str, Any]:
    record: dict[str, Any] = {"time": 0, "observed": 0, "severity_number": 0,
                              "severity_text": "", "body": None, "attributes": {},
                              "dropped": 0, "flags": 0, "trace_id": b"", "span_id": b""}
    for number, _wire, value in proto_fields(buf, *span):
        if number == 1:
            record["time"] = value
        elif number == 11:
            record["observed"] = value
        elif number == 2:
            record["severity_number"] = value
        elif number == 3:
            record["severity_text"] = proto_string(buf, value)
        elif number == 5:
            record["body"] = otlp_any(buf, value)
        elif number == 6:
            key, attribute = otlp_kv(buf, value)
            record["attributes"][key] = attribute
        elif number == 7:
            record["dropped"] = value
        elif number == 8:
            record["flags"] = value
        elif number == 9:
            record["trace_id"] = bytes(buf[value[0]:value[1]])
        elif number == 10:
            record["span_id"] = bytes(buf[value[0]:value[1]])
    return record


def otlp_json_any(value: Any) -> Any:
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [otlp_json_any(item) for item in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return {item.get("key", ""): otlp_json_any(item.get("value"))
                for item in value["kvlistValue"].get("values", [])}
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"])
    return None


def decode_otlp_json(data: bytes) -> list[dict[str, Any]]:
    """The OTLP/HTTP JSON mapping (lowerCamelCase, ids in hex, 64-bit ints as strings)."""
    try:
        body = json.loads(data.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"ReadObjectCB: {error}") from None
    resources = []
    for resource_logs in body.get("resourceLogs") or body.get("resource_logs") or []:
        attributes = {item.get("key", ""): otlp_json_any(item.get("value")) for item in
                      (resource_logs.get("resource") or {}).get("attributes", [])}
        resource: dict[str, Any] = {"attributes": attributes, "scopes": []}
        for scope_logs in resource_logs.get("scopeLogs") or resource_logs.get(
                "scope_logs") or []:
            scope_info = scope_logs.get("scope") or {}
            scope: dict[str, Any] = {
                "name": scope_info.get("name", ""), "version": scope_info.get("version", ""),
                "attributes": {item.get("key", ""): otlp_json_any(item.get("value"))
                               for item in scope_info.get("attributes", [])},
                "dropped": int(scope_info.get("droppedAttributesCount", 0)), "records": []}
            for log in scope_logs.get("logRecords") or scope_logs.get("log_records") or []:
                scope["records"].append({
                    "time": int(log.get("timeUnixNano", 0) or 0),
                    "observed": int(log.get("observedTimeUnixNano", 0) or 0),
                    "severity_number": int(log.get("severityNumber", 0) or 0)
                    if not isinstance(log.get("severityNumber"), str)
                    or log["severityNumber"].isdigit() else 0,
                    "severity_text": log.get("severityText", ""),
                    "body": otlp_json_any(log.get("body")),
                    "attributes": {item.get("key", ""): otlp_json_any(item.get("value"))
                                   for item in log.get("attributes", [])},
                    "dropped": int(log.get("droppedAttributesCount", 0) or 0),
                    "flags": int(log.get("flags", 0) or 0),
                    "trace_id": bytes.fromhex(log.get("traceId", "") or ""),
                    "span_id": bytes.fromhex(log.get("spanId", "") or "")})
            resource["scopes"].append(scope)
        resources.append(resource)
    return resources


def go_float(value: float) -> str:
    """pcommon.Value.AsString of a double: strconv.FormatFloat(v, 'f', -1, 64)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(value, "f")
    return text[:-2] if text.endswith(".0") else text


def otlp_string(value: Any) -> str:
    """pcommon.Value.AsString."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"),
                          default=lambda item: base64.b64encode(item).decode())
    return str(value)


def label_name(name: str) -> str:
    """otlptranslator's label namer: characters outside [a-zA-Z0-9_] become _, a leading
    digit gets a `key_` prefix."""
    normalized = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    if normalized[:1].isdigit():
        normalized = "key_" + normalized
    return normalized


def attribute_labels(name: str, value: Any) -> list[tuple[str, str]]:
    """attributeToLabels: a map flattens into prefix_key labels."""
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            out.extend(attribute_labels(f"{name}_{key}", item))
        return out
    return [(label_name(name), otlp_string(value))]


def format_labels(labels: dict[str, str]) -> str:
    """Prometheus labels.String(): {a="b", c="d"} in name order."""
    return "{" + ", ".join(f"{name}={json.dumps(value, ensure_ascii=False)}"
                           for name, value in sorted(labels.items())) + "}"


# --- LogQL (the subset) ------------------------------------------------------------------

class QueryError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


TOKEN_RE = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<op>\|=|\|~|!=|!~|=~|==|>=|<=|\||=|>|<|\(|\)|\{|\}|,|\+|-|\*|/|%)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<ident>[a-zA-Z_][a-zA-Z0-9_.]*)
""", re.VERBOSE)

RANGE_FUNCTIONS = {"count_over_time", "rate", "bytes_over_time", "bytes_rate"}
AGGREGATIONS = {"sum", "count", "min", "max", "avg"}


def tokenize(query: str) -> list[tuple[str, str, int]]:
    tokens = []
    pos = 0
    while pos < len(query):
        match = TOKEN_RE.match(query, pos)
        if not match:
            raise QueryError(f"parse error at line 1, col {pos + 1}: syntax error: unexpected "
                             f"{query[pos]!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group(0), pos + 1))
        pos = match.end()
    tokens.append(("eof", "", len(query) + 1))
    return tokens


def unquote_string(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    try:
        return json.loads(token)
    except ValueError:
        return token[1:-1].encode().decode("unicode_escape")


class Parser:
    """A recursive-descent parser for the LogQL subset; nodes are plain dicts."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str, int]:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        self.pos += 1
        return token

    def fail(self, token: tuple[str, str, int] | None = None) -> QueryError:
        kind, text, col = token or self.peek()
        shown = "end of input" if kind == "eof" else text
        return QueryError(f"parse error at line 1, col {col}: syntax error: unexpected {shown}")

    def expect(self, text: str) -> None:
        token = self.take()
        if token[1] != text or token[0] in ("string",):
            raise self.fail(token)

    def parse(self) -> dict[str, Any]:
        if self.peek()[0] == "eof":
            raise QueryError("syntax error: unexpected $end")
        node = self.expr(0)
        if self.peek()[0] != "eof":
            raise self.fail()
        return node

    PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2}

    def expr(self, min_precedence: int) -> dict[str, Any]:
        left = self.unary()
        while True:
            kind, text, _col = self.peek()
            precedence = self.PRECEDENCE.get(text) if kind == "op" else None
            if precedence is None or precedence < min_precedence:
                break
            self.take()
            right = self.expr(precedence + 1)
            if left["type"] == "log" or right["type"] == "log":
                raise QueryError("parse error : binary operations are not allowed on log "
                                 "queries, only on metric queries")
            left = {"type": "binary", "op": text, "left": left, "right": right}
        return left

    def unary(self) -> dict[str, Any]:
        kind, text, _col = self.peek()
        if kind == "op" and text == "-":
            self.take()
            operand = self.unary()
            return {"type": "binary", "op": "*", "left": {"type": "number", "value": -1.0},
                    "right": operand}
        return self.primary()

    def primary(self) -> dict[str, Any]:
        kind, text, _col = self.peek()
        if kind == "number":
            self.take()
            return {"type": "number", "value": float(text)}
        if kind == "op" and text == "(":
            self.take()
            node = self.expr(0)
            self.expect(")")
            return node
        if kind == "op" and text == "{":
            return self.log_query()
        if kind == "ident" and text == "vector":
            self.take()
            self.expect("(")
            number = self.take()
            if number[0] != "number":
                raise self.fail(number)
            self.expect(")")
            return {"type": "vector", "value": float(number[1])}
        if kind == "ident" and text in RANGE_FUNCTIONS:
            self.take()
            self.expect("(")
            inner = self.log_query()
            window = self.take()
            if window[0] != "range":
                raise self.fail(window)
            try:
                duration = model_parse_duration(window[1][1:-1].strip())
            except ValueError:
                raise QueryError(f"parse error at line 1, col {window[2]}: not a valid "
                                 f"duration string: {window[1][1:-1]!r}") from None
            self.expect(")")
            return {"type": "range", "function": text, "log": inner, "range": duration}
        if kind == "ident" and text in AGGREGATIONS:
            self.take()
            grouping = self.grouping()
            self.expect("(")
            inner = self.expr(0)
            if inner["type"] == "log":
                raise QueryError("parse error : unexpected log query in a vector aggregation")
            self.expect(")")
            if grouping is None:
                grouping = self.grouping()
            return {"type": "aggregate", "op": text, "inner": inner,
                    "grouping": grouping or ("without", [])}
        if kind == "ident":
            raise QueryError(f"parse error at line 1, col {_col}: syntax error: unexpected "
                             f"IDENTIFIER ({text} is not supported by the lgtm Loki stand-in)")
        raise self.fail()

    def grouping(self) -> tuple[str, list[str]] | None:
        kind, text, _col = self.peek()
        if kind == "ident" and text in ("by", "without"):
            self.take()
            self.expect("(")
            names = []
            while self.peek()[1] != ")":
                name = self.take()
                if name[0] != "ident":
                    raise self.fail(name)
                names.append(name[1])
                if self.peek()[1] == ",":
                    self.take()
            self.expect(")")
            return text, names
        return None

    def log_query(self) -> dict[str, Any]:
        matchers = self.selector()
        stages: list[tuple[str, ...]] = []
        while True:
            kind, text, _col = self.peek()
            if kind == "op" and text in ("|=", "!=", "|~", "!~"):
                self.take()
                value = self.take()
                if value[0] != "string":
                    raise self.fail(value)
                pattern = unquote_string(value[1])
                if text in ("|~", "!~"):
                    try:
                        re.compile(pattern)
                    except re.error as error:
                        raise QueryError(f"parse error : invalid regex {pattern!r}: "
                                         f"{error}") from None
                stages.append(("line", text, pattern))
            elif kind == "op" and text == "|":
                self.take()
                name = self.take()
                if name[0] != "ident":
                    raise self.fail(name)
                if name[1] in ("json", "logfmt"):
                    stages.append(("parser", name[1]))
                    continue
                if name[1] in ("drop", "keep"):
                    stages.append((name[1], *self.label_list()))
                    continue
                op = self.take()
                if op[1] not in ("=", "==", "!=", "=~", "!~"):
                    raise QueryError(f"parse error at line 1, col {name[2]}: syntax error: "
                                     f"unexpected IDENTIFIER ({name[1]} is not supported by "
                                     "the lgtm Loki stand-in)")
                value = self.take()
                if value[0] != "string":
                    raise self.fail(value)
                stages.append(("label", name[1], "=" if op[1] == "==" else op[1],
                               unquote_string(value[1])))
            else:
                break
        return {"type": "log", "matchers": matchers, "stages": stages}

    def label_list(self) -> list[tuple[str, str, str]]:
        """`| drop a, b="x"` and `| keep ...`: names, or matchers on names."""
        items = []
        while True:
            name = self.take()
            if name[0] != "ident":
                raise self.fail(name)
            if self.peek()[1] in ("=", "!=", "=~", "!~"):
                op = self.take()[1]
                value = self.take()
                if value[0] != "string":
                    raise self.fail(value)
                items.append((name[1], op, unquote_string(value[1])))
            else:
                items.append((name[1], "", ""))
            if self.peek()[1] != ",":
                return items
            self.take()

    def selector(self) -> list[tuple[str, str, str]]:
        self.expect("{")
        matchers = []
        while self.peek()[1] != "}":
            name = self.take()
            if name[0] != "ident" or "." in name[1]:
                raise self.fail(name)
            op = self.take()
            if op[1] not in ("=", "!=", "=~", "!~"):
                raise self.fail(op)
            value = self.take()
            if value[0] != "string":
                raise self.fail(value)
            pattern = unquote_string(value[1])
            if op[1] in ("=~", "!~"):
                try:
                    re.compile(pattern)
                except re.error as error:
                    raise QueryError(f"parse error : invalid regex {pattern!r}: {error}") \
                        from None
            matchers.append((name[1], op[1], pattern))
            if self.peek()[1] == ",":
                self.take()
            elif self.peek()[1] != "}":
                raise self.fail()
        self.take()
        if not matchers:
            raise QueryError("parse error : queries require at least one regexp or equality "
                             "matcher that does not have an empty-compatible value. For "
                             "instance, app=~\".*\" does not meet this requirement, but "
                             "app=~\".+\" will")
        if all(matches(matcher, "") for matcher in matchers):
            raise QueryError("parse error : queries require at least one regexp or equality "
                             "matcher that does not have an empty-compatible value. For "
                             "instance, app=~\".*\" does not meet this requirement, but "
                             "app=~\".+\" will")
        return matchers


def parse_query(query: str) -> dict[str, Any]:
    return Parser(query).parse()


def parse_labels(text: str) -> dict[str, str]:
    """syntax.ParseLabels: a selector of equality matchers only."""
    try:
        parser = Parser(text)
        matchers = parser.selector()
        if parser.peek()[0] != "eof":
            raise parser.fail()
    except QueryError as error:
        raise BadRequest(f"couldn't parse labels: {error}") from None
    labels = {}
    for name, op, value in matchers:
        if op != "=":
            raise BadRequest(f"couldn't parse labels: parse error : only = matchers are "
                             f"allowed in stream labels, got {name}{op}")
        labels[name] = value
    return labels


def matches(matcher: tuple[str, str, str], value: str) -> bool:
    _name, op, pattern = matcher
    if op == "=":
        return value == pattern
    if op == "!=":
        return value != pattern
    hit = re.fullmatch(pattern, value) is not None
    return hit if op == "=~" else not hit


def logfmt_pairs(line: str) -> dict[str, str]:
    out = {}
    for match in re.finditer(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)', line):
        value = match.group(2)
        if value.startswith('"'):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        out[label_name(match.group(1))] = value
    return out


def json_labels(line: str) -> dict[str, str] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}_{key}" if prefix else str(key), item)
        elif isinstance(value, list):
            out[label_name(prefix)] = json.dumps(value)
        elif isinstance(value, bool):
            out[label_name(prefix)] = "true" if value else "false"
        elif value is None:
            out[label_name(prefix)] = ""
        else:
            out[label_name(prefix)] = go_float(value) if isinstance(value, float) else str(value)
    walk("", data)
    return out


# --- storage -------------------------------------------------------------------------

class Stream:
    __slots__ = ("labels", "key", "entries", "seen")

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels
        self.key = format_labels(labels)
        self.entries: list[Entry] = []
        self.seen: set[tuple[int, str]] = set()

    def add(self, entry: Entry) -> bool:
        """Loki drops an entry identical (timestamp and line) to one it holds."""
        identity = (entry.ts, entry.line)
        if identity in self.seen:
            return False
        self.seen.add(identity)
        if self.entries and entry.ts < self.entries[-1].ts:
            index = len(self.entries)
            while index > 0 and self.entries[index - 1].ts > entry.ts:
                index -= 1
            self.entries.insert(index, entry)
        else:
            self.entries.append(entry)
        return True


class WriteFailed(Exception):
    pass


class Store:
    """Streams per tenant in memory; every push appended (and fsynced) to a JSON-lines
    log in ingester.wal.dir, moved to chunk files under the filesystem object store's
    directory at each checkpoint (ingester.wal.checkpoint_duration) and at shutdown, both
    read back at start."""

    def __init__(self, wal_dir: str, chunks_dir: str, wal_enabled: bool,
                 log: Callable[..., None]) -> None:
        self.wal_dir = Path(wal_dir)
        self.chunks_dir = Path(chunks_dir)
        self.wal_enabled = wal_enabled
        self.log = log
        self.lock = threading.Lock()
        self.tenants: dict[str, dict[str, Stream]] = {}
        self.wal_handle: Any = None
        # Records a full disk kept out of the WAL: memory only until a flush succeeds.
        self.unlogged: list[str] = []

    def stream(self, tenant: str, labels: dict[str, str]) -> Stream:
        streams = self.tenants.setdefault(tenant, {})
        key = format_labels(labels)
        if key not in streams:
            streams[key] = Stream(dict(labels))
        return streams[key]

    def apply(self, record: dict[str, Any]) -> int:
        count = 0
        for item in record.get("streams", []):
            stream = self.stream(record["tenant"], item["labels"])
            for ts, line, metadata in item["entries"]:
                if stream.add(Entry(ts, line, [tuple(pair) for pair in metadata])):
                    count += 1
        return count

    @staticmethod
    def record(tenant: str, streams: list[tuple[dict[str, str], list[Entry]]]) -> dict[str, Any]:
        return {"tenant": tenant, "streams": [
            {"labels": labels, "entries": [[e.ts, e.line, e.metadata] for e in entries]}
            for labels, entries in streams]}

    def read_lines(self, path: Path) -> int:
        count = 0
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a torn last line after a crash
                count += self.apply(record)
        return count

    def load(self) -> None:
        chunks = 0
        if self.chunks_dir.is_dir():
            for path in sorted(self.chunks_dir.glob(f"*/{CHUNKS_FILE}")):
                chunks += self.read_lines(path)
        wal = self.wal_dir / WAL_FILE
        replayed = self.read_lines(wal) if wal.is_file() else 0
        self.log("info", "recovered from WAL", component="ingester", entries=replayed,
                 chunk_entries=chunks)

    def open(self) -> None:
        if self.wal_enabled:
            self.wal_handle = open(self.wal_dir / WAL_FILE, "a", encoding="utf-8")  # noqa: SIM115 - kept open

    def write(self, tenant: str, streams: list[tuple[dict[str, str], list[Entry]]]) -> bool:
        """Logged, then visible. True when the WAL could not take it for a full disk:
        instance.go keeps such entries in memory (flushed to chunks at the next checkpoint
        or shutdown) and only counts the failure; any other write error refuses the push."""
        record = self.record(tenant, streams)
        text = json.dumps(record, ensure_ascii=False) + "\n"
        with self.lock:
            disk_full = False
            try:
                if self.wal_handle is not None:
                    self.wal_handle.write(text)
                    self.wal_handle.flush()
                    os.fsync(self.wal_handle.fileno())
                else:
                    self.append_chunks(tenant, text)
            except OSError as error:
                self.truncate_torn()
                if error.errno != errno.ENOSPC:
                    raise WriteFailed(f"write {self.wal_dir / WAL_FILE}: "
                                      f"{(error.strerror or str(error)).lower()}") from None
                self.unlogged.append(text)
                disk_full = True
            self.apply(record)
            return disk_full

    def truncate_torn(self) -> None:
        """After a failed append the file may end in half a record: cut it back."""
        if self.wal_handle is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.wal_handle.close()
        path = self.wal_dir / WAL_FILE
        with contextlib.suppress(OSError):
            data = path.read_bytes()
            keep = data[:data.rfind(b"\n") + 1]
            if keep != data:
                with open(path, "r+b") as handle:
                    handle.truncate(len(keep))
        with contextlib.suppress(OSError):
            self.wal_handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open

    def append_chunks(self, tenant: str, text: str) -> None:
        directory = self.chunks_dir / tenant
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / CHUNKS_FILE, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    def checkpoint(self) -> None:
        """Flush what the WAL holds (and what a full disk kept out of it) into the chunk
        files, then start the WAL afresh."""
        if self.wal_handle is None:
            self.flush_unlogged()
            return
        with self.lock:
            wal = self.wal_dir / WAL_FILE
            try:
                text = wal.read_text(encoding="utf-8") + "".join(self.unlogged)
                per_tenant: dict[str, list[str]] = {}
                for line in text.splitlines():
                    with contextlib.suppress(ValueError):
                        per_tenant.setdefault(json.loads(line)["tenant"], []).append(line)
                for tenant, lines in per_tenant.items():
                    self.append_chunks(tenant, "\n".join(lines) + "\n")
                self.unlogged.clear()
                self.wal_handle.close()
                self.wal_handle = open(wal, "w", encoding="utf-8")  # noqa: SIM115 - kept open
                os.fsync(self.wal_handle.fileno())
            except OSError as error:
                # The WAL keeps everything until a checkpoint succeeds; chunk lines written
                # twice are deduplicated at load.
                self.log("warn", "failed to flush chunks", component="ingester", err=error)
                if self.wal_handle.closed:
                    with contextlib.suppress(OSError):
                        self.wal_handle = open(wal, "a", encoding="utf-8")  # noqa: SIM115

    def flush_unlogged(self) -> None:
        """flush_on_shutdown after a full disk (instance.go's flushOnShutdownSwitch): what
        only memory holds goes to the chunk files, if the disk takes it now."""
        with self.lock:
            kept = []
            for text in self.unlogged:
                try:
                    self.append_chunks(json.loads(text)["tenant"], text)
                except OSError as error:
                    self.log("error", "failed to flush chunks", component="ingester", err=error)
                    kept.append(text)
            self.unlogged = kept

    def close(self) -> None:
        if self.unlogged:
            self.flush_unlogged()
        if self.wal_handle is not None:
            with self.lock, contextlib.suppress(OSError, ValueError):
                self.wal_handle.flush()
                os.fsync(self.wal_handle.fileno())
                self.wal_handle.close()


# --- evaluation ------------------------------------------------------------------------

@dataclass
class Row:
    labels: dict[str, str]
    entry: Entry
    stream_labels: dict[str, str] = field(default_factory=dict)


class Evaluator:
    def __init__(self, streams: list[Stream]) -> None:
        self.streams = streams
        self.lines = 0
        self.bytes = 0

    def select(self, node: dict[str, Any], start: int, end: int) -> list[Row]:
        """Entries with start <= ts < end through the pipeline, labelled as queries show
        them: stream labels, structured metadata, parsed labels."""
        rows = []
        for stream in self.streams:
            if not all(matches(m, stream.labels.get(m[0], "")) for m in node["matchers"]):
                continue
            # A snapshot: pushes may insert into the list while a query reads it.
            for entry in stream.entries[:]:
                if not start <= entry.ts < end:
                    continue
                self.lines += 1
                self.bytes += len(entry.line.encode())
                labels = self.pipeline(node["stages"], stream.labels, entry)
                if labels is not None:
                    rows.append(Row(labels, entry, stream.labels))
        return rows

    @staticmethod
    def pipeline(stages: list[tuple[str, ...]], stream_labels: dict[str, str],
                 entry: Entry) -> dict[str, str] | None:
        labels = dict(stream_labels)
        for name, value in entry.metadata:
            labels.setdefault(name, value)
        for stage in stages:
            if stage[0] == "line":
                op, pattern = stage[1], stage[2]
                if op == "|=" and pattern not in entry.line:
                    return None
                if op == "!=" and pattern in entry.line:
                    return None
                if op == "|~" and not re.search(pattern, entry.line):
                    return None
                if op == "!~" and re.search(pattern, entry.line):
                    return None
            elif stage[0] == "parser":
                parsed = json_labels(entry.line) if stage[1] == "json" else \
                    logfmt_pairs(entry.line)
                if parsed is None:
                    labels["__error__"] = "JSONParserErr"
                    continue
                for name, value in parsed.items():
                    labels[f"{name}_extracted" if name in stream_labels else name] = value
            elif stage[0] == "label" and not matches((stage[1], stage[2], stage[3]),
                                                     labels.get(stage[1], "")):
                return None
            elif stage[0] in ("drop", "keep"):
                hits = {name for name, value in labels.items()
                        if any(item[0] == name and (not item[1] or matches(item, value))
                               for item in stage[1:])}
                if stage[0] == "drop":
                    labels = {k: v for k, v in labels.items() if k not in hits}
                else:
                    labels = {k: v for k, v in labels.items() if k in hits}
        return labels

    def eval(self, node: dict[str, Any], ts: int) -> tuple[str, Any]:
        """A metric expression at one instant: ("scalar", float) or ("vector", [(labels,
        value)])."""
        kind = node["type"]
        if kind == "number":
            return "scalar", node["value"]
        if kind == "vector":
            return "vector", [({}, node["value"])]
        if kind == "range":
            window = node["range"]
            rows = self.select(node["log"], ts - window + 1, ts + 1)
            groups: dict[str, tuple[dict[str, str], float]] = {}
            for row in rows:
                key = format_labels(row.labels)
                amount = 1.0 if node["function"] in ("count_over_time", "rate") else float(
                    len(row.entry.line.encode()))
                labels, total = groups.get(key, (row.labels, 0.0))
                groups[key] = (labels, total + amount)
            seconds = window / 1e9
            out = []
            for labels, total in groups.values():
                value = total / seconds if node["function"] in ("rate", "bytes_rate") else total
                out.append(({k: v for k, v in labels.items() if k != "__error__"}, value))
            return "vector", out
        if kind == "aggregate":
            inner_kind, inner = self.eval(node["inner"], ts)
            if inner_kind == "scalar":
                raise QueryError("parse error : unexpected scalar in a vector aggregation")
            mode, names = node["grouping"]
            buckets: dict[str, tuple[dict[str, str], list[float]]] = {}
            for labels, value in inner:
                if mode == "by":
                    kept = {name: labels[name] for name in names if name in labels}
                else:
                    kept = {k: v for k, v in labels.items() if k not in names} if names else {}
                key = format_labels(kept)
                buckets.setdefault(key, (kept, []))[1].append(value)
            op = node["op"]
            result = []
            for kept, values in buckets.values():
                value = {"sum": sum(values), "count": float(len(values)), "min": min(values),
                         "max": max(values), "avg": sum(values) / len(values)}[op]
                result.append((kept, value))
            return "vector", result
        if kind == "binary":
            left_kind, left = self.eval(node["left"], ts)
            right_kind, right = self.eval(node["right"], ts)
            op = node["op"]
            if left_kind == "scalar" and right_kind == "scalar":
                return "scalar", arithmetic(op, left, right)
            if left_kind == "scalar":
                return "vector", [(labels, arithmetic(op, left, value)) for labels, value in right]
            if right_kind == "scalar":
                return "vector", [(labels, arithmetic(op, value, right)) for labels, value in left]
            right_by_key = {format_labels(labels): value for labels, value in right}
            return "vector", [(labels, arithmetic(op, value, right_by_key[format_labels(labels)]))
                              for labels, value in left if format_labels(labels) in right_by_key]
        raise QueryError("parse error : log queries are not metric queries")


def arithmetic(op: str, left: float, right: float) -> float:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        return left / right if right else (math.nan if left == 0 else math.copysign(
            math.inf, left))
    return math.fmod(left, right) if right else math.nan


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return go_float(value) if value != int(value) or abs(value) >= 1e21 else str(int(value))


def json_time(ns: int) -> float | int:
    seconds = ns / 1e9
    return int(seconds) if ns % 10**9 == 0 else round(seconds, 3)


def parse_time(name: str, value: str | None, default: int) -> int:
    """loghttp's timestamp parameters: RFC3339(Nano), float seconds, or an integer
    (seconds with up to 10 digits, else nanoseconds)."""
    if value is None or value == "":
        return default
    if "." in value:
        with contextlib.suppress(ValueError):
            return round(float(value) * 1e9)
    if re.fullmatch(r"-?\d+", value):
        number = int(value)
        return number * 10**9 if len(value.lstrip("-")) <= 10 else number
    with contextlib.suppress(ValueError):
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000
    raise QueryError(f"could not parse '{name}' parameter: parsing time \"{value}\" as "
                     f'"2006-01-02T15:04:05.999999999Z07:00": cannot parse "{value}" as '
                     '"2006"')


def bounds(params: dict[str, list[str]]) -> tuple[int, int]:
    """loghttp determineBounds: end defaults to now, start to `since` (1h) before the end
    or now, whichever is earlier."""
    now = time.time_ns()
    since = 3600 * 10**9
    since_text = first(params, "since")
    if since_text:
        try:
            since = model_parse_duration(since_text)
        except ValueError as error:
            raise QueryError(f"could not parse 'since' parameter: {error}") from None
    end = parse_time("end", first(params, "end"), now)
    start = parse_time("start", first(params, "start"), min(end, now) - since)
    return start, end


def parse_step(value: str | None, start: int, end: int) -> int:
    if not value:
        # loghttp defaultQueryRangeStep: (end-start)/250 seconds, at least 1 s.
        return max(1, (end - start) // 10**9 // 250) * 10**9
    with contextlib.suppress(ValueError):
        return round(float(value) * 1e9)
    try:
        return model_parse_duration(value)
    except ValueError:
        with contextlib.suppress(ValueError):
            return go_parse_duration(value)
    raise QueryError(f'invalid step parameter: cannot parse "{value}" to a valid duration')


def empty_stats(lines: int, size: int, returned: int, seconds: float) -> dict[str, Any]:
    """The shape of Loki's query statistics (the numbers are the stand-in's own)."""
    return {
        "summary": {
            "bytesProcessedPerSecond": int(size / seconds) if seconds else 0,
            "linesProcessedPerSecond": int(lines / seconds) if seconds else 0,
            "totalBytesProcessed": size, "totalLinesProcessed": lines,
            "totalStructuredMetadataBytesProcessed": 0, "totalPostFilterLines": lines,
            "execTime": seconds, "queueTime": 0, "subqueries": 0,
            "totalEntriesReturned": returned, "splits": 0, "shards": 0,
        },
        "querier": {"store": {"totalChunksRef": 0, "totalChunksDownloaded": 0,
                              "chunksDownloadTime": 0, "queryReferencedStructuredMetadata":
                              False, "chunk": {"headChunkBytes": 0, "headChunkLines": 0,
                                               "decompressedBytes": 0,
                                               "decompressedLines": 0, "compressedBytes": 0,
                                               "totalDuplicates": 0}}},
        "ingester": {"totalReached": 1, "totalChunksMatched": 0, "totalBatches": 0,
                     "totalLinesSent": returned,
                     "store": {"chunk": {"headChunkBytes": size, "headChunkLines": lines,
                                         "decompressedBytes": 0, "decompressedLines": 0,
                                         "compressedBytes": 0, "totalDuplicates": 0}}},
        "cache": {},
    }


# --- the running stand-in ----------------------------------------------------------------

class Loki(StandinApp):
    """Config, readiness, the WAL disk check, the store and the HTTP API."""

    level_first = True

    def __init__(self, config: dict[str, Any], schema: dict[str, Any],
                 config_hash: str) -> None:
        super().__init__(cfg(config, "server.log_level", "info"))
        self.log_format = str(cfg(config, "server.log_format", "logfmt"))
        self.config = config
        self.schema = schema
        self.config_hash = config_hash
        self.started = time.time()
        self.targets = targets_of(config)
        self.modules: set[str] = set()
        for target in self.targets:
            self.modules |= TARGETS.get(target, set())
        self.ring_store = str(cfg(config, "ingester.lifecycler.ring.kvstore.store", "consul"))
        self.join_after = cfg(config, "ingester.lifecycler.join_after", 0) / 1e9
        self.min_ready = int(cfg(config, "ingester.lifecycler.min_ready_duration", 15 * 10**9))
        self.ready_since: float | None = None
        self.ready_latched = False
        self.ready_lock = threading.Lock()
        self.wal_dir = str(cfg(config, "ingester.wal.dir", "wal"))
        self.disk_threshold = float(cfg(config, "ingester.wal.disk_full_threshold", 0.9))
        self.disk_throttled = False
        self.disk_full_failures = 0
        self.disk_full_logged = False
        self.buckets: dict[str, tuple[float, float]] = {}
        self.disk_usage = 0.0
        self.store = Store(self.wal_dir, self.chunks_dir(),
                           bool(cfg(config, "ingester.wal.enabled", True)), self.log)
        self.metrics_lock = threading.Lock()
        self.lines_received: dict[tuple[str, str], int] = {}
        self.bytes_received: dict[tuple[str, str, str], int] = {}
        self.discarded: dict[tuple[str, str, str, str], int] = {}
        self.requests: dict[tuple[str, int], int] = {}
        self.http_port = 0
        self.grpc_port = 0

    def serves(self, *modules: str) -> bool:
        return bool(self.modules & set(modules))

    def chunks_dir(self) -> str:
        return str(cfg(self.config, "storage_config.filesystem.directory", "") or
                   cfg(self.config, "common.storage.filesystem.chunks_directory", "") or
                   "./chunks")

    # readiness (dskit Lifecycler.CheckReady, latched once ready)
    def joined(self) -> bool:
        if self.ring_store not in ("inmemory", "memberlist", "multi"):
            # consul/etcd are never reachable here: the instance never gets its tokens.
            return False
        return time.time() >= self.started + self.join_after

    def ready_problem(self) -> str:
        """"" when ready, else the /ready body."""
        if self.stopping.is_set():
            return "Application is stopping"
        if not self.serves("ingester"):
            return ""
        with self.ready_lock:
            if self.ready_latched:
                return ""
            if not self.joined():
                self.ready_since = None
                return f"Ingester not ready: {NO_TOKENS}"
            now = time.monotonic()
            if self.ready_since is None:
                self.ready_since = now
            if (now - self.ready_since) * 1e9 < self.min_ready:
                return (f"Ingester not ready: waiting for {go_format_duration(self.min_ready)} "
                        "after being ready")
            self.ready_latched = True
            return ""

    def replication_problem(self) -> str:
        """dskit's replication strategy: one ingester cannot make a quorum of RF > 2."""
        factor = int(cfg(self.config, "ingester.lifecycler.ring.replication_factor", 1) or 1)
        if not self.joined():
            return "empty ring"
        needed = factor // 2 + 1
        if needed > 1:
            return f"at least {needed} live replicas required, could only find 1 - unhealthy " \
                   "instances: "
        return ""

    # the WAL's disk check (pkg/ingester/wal.go monitorDisk)
    def wal_disk_usage(self) -> float:
        stat = os.statvfs(self.wal_dir)
        total = stat.f_blocks * stat.f_frsize
        free = stat.f_bfree * stat.f_frsize
        return (total - free) / total if total else 0.0

    def check_disk(self) -> None:
        try:
            usage = self.wal_disk_usage()
        except OSError as error:
            self.log("warn", "failed to check disk usage", err=error, component="wal")
            return
        self.disk_usage = usage
        throttled = self.disk_threshold > 0 and usage >= self.disk_threshold
        if throttled == self.disk_throttled:
            return
        self.disk_throttled = throttled
        fields = {"usage_percent": f"{usage * 100:.2f}%",
                  "threshold_percent": f"{self.disk_threshold * 100:.2f}%", "component": "wal"}
        if throttled:
            self.log("warn", "disk usage exceeded threshold, throttling writes", **fields)
            with self.metrics_lock:
                self.disk_full_failures += 1
        else:
            self.log("info", "disk usage below threshold, resuming writes", **fields)

    def background(self) -> None:
        checkpoint = cfg(self.config, "ingester.wal.checkpoint_duration", 300 * 10**9) / 1e9
        next_checkpoint = time.monotonic() + max(checkpoint, 1.0)
        while not self.stopping.wait(DISK_CHECK_INTERVAL):
            if self.store.wal_enabled and self.disk_threshold > 0:
                self.check_disk()
            if time.monotonic() >= next_checkpoint:
                self.store.checkpoint()
                next_checkpoint = time.monotonic() + max(checkpoint, 1.0)

    # lifecycle
    def data_directories(self) -> list[tuple[str, str]]:
        wanted = []
        if self.serves("ingester") and cfg(self.config, "ingester.wal.enabled", True):
            wanted.append(("ingester", self.wal_dir))
        if any(period.get("object_store") == "filesystem"
               for period in cfg(self.config, "schema_config.configs", []) or []):
            wanted.append(("store", self.chunks_dir()))
        for name in ("active_index_directory", "cache_location"):
            directory = cfg(self.config, f"storage_config.tsdb_shipper.{name}", "")
            if directory:
                wanted.append(("store", directory))
        if self.serves("compactor"):
            wanted.append(("compactor", cfg(self.config, "compactor.working_directory", "")))
        if self.serves("ruler") and cfg(self.config, "ruler.storage.type", "") == "local":
            wanted.append(("ruler", cfg(self.config, "ruler.storage.local.directory", "")))
        return [(module, directory) for module, directory in wanted if directory]

    def prepare_directories(self) -> None:
        for module, directory in self.data_directories():
            try:
                Path(directory).mkdir(parents=True, exist_ok=True)
                probe = Path(directory) / ".lgtm-standin-write-check"
                probe.write_text("")
                probe.unlink()
            except OSError as error:
                self.log("error", "error running loki", err=f"error initialising module: "
                         f"{module}: mkdir {directory}: {(error.strerror or '').lower()}")
                raise SystemExit(1) from None

    def start(self) -> None:
        self.log("info", "Starting Loki", version=f"(version={VERSION}, branch={BRANCH}, "
                 f"revision={REVISION})")
        if cfg(self.config, "analytics.reporting_enabled", True):
            # Real Loki reports anonymous usage to Grafana Labs; the stand-in only says so.
            self.log("info", "usage reporting is enabled (analytics.reporting_enabled): real "
                     "Loki would send anonymous usage data to stats.grafana.org; the stand-in "
                     "sends nothing")
        if not cfg(self.config, "auth_enabled", True):
            self.log("info", "multi-tenancy disabled: every request uses the tenant fake")
        self.prepare_directories()
        if self.serves("ingester"):
            self.store.load()
            try:
                self.store.open()
            except OSError as error:
                self.log("error", "error running loki", err=f"error initialising module: "
                         f"ingester: open WAL: {error}")
                raise SystemExit(1) from None
        server = self.config.get("server", {})
        http_sock = self.listen(str(server.get("http_listen_address", "")),
                                int(server.get("http_listen_port", 3100)))
        grpc_sock = self.listen(str(server.get("grpc_listen_address", "")),
                                int(server.get("grpc_listen_port", 9095)))
        self.tcp_only(grpc_sock, "grpc")
        if self.ring_store == "memberlist":
            member = self.listen("", int(cfg(self.config, "memberlist.bind_port", 7946)))
            self.tcp_only(member, "memberlist")
        tls_config = cfg(self.config, "server.http_tls_config", {}) or {}
        tls_keys = ("cert", "key", "client_ca", "cert_file", "key_file", "client_ca_file",
                    "client_auth_type")
        try:
            tls = server_tls_context({key: tls_config.get(key) or "" for key in tls_keys})
        except TLSConfigError as error:
            self.log("error", "error running loki", err=f"error initialising module: server: "
                     f"error generating http tls config: {error}")
            raise SystemExit(1) from None
        self.serve_http(http_sock, Handler, tls)
        self.http_port = http_sock.getsockname()[1]
        self.grpc_port = grpc_sock.getsockname()[1]
        self.log("info", "server listening on addresses", http=http_sock.getsockname()[:2],
                 grpc=grpc_sock.getsockname()[:2], http_tls=tls is not None)
        threading.Thread(target=self.background, daemon=True, name="wal").start()
        self.log("info", "Loki started", startup_time=f"{time.time() - self.started:.3f}s")

    def stop(self) -> None:
        self.log("info", "=== received SIGINT/SIGTERM ===\n*** exiting")
        self.stopping.set()
        self.close_listeners()
        self.store.close()
        self.log("info", "Loki stopped")

    # the write path
    def tenant_of(self, headers: Any) -> tuple[str | None, str]:
        if not cfg(self.config, "auth_enabled", True):
            return "fake", ""
        return tenant_problem(headers.get("X-Scope-OrgID"))

    def limit(self, name: str, default: Any) -> Any:
        return cfg(self.config, f"limits_config.{name}", default)

    def discover_service_name(self, labels: dict[str, str]) -> dict[str, str]:
        names = self.limit("discover_service_name", DEFAULT_SERVICE_NAME_LABELS)
        if "service_name" in labels or not names or "__aggregated_metric__" in labels \
                or "__pattern__" in labels:
            return labels
        value = next((labels[name] for name in names if labels.get(name)), "unknown_service")
        return {**labels, "service_name": value}

    def detected_level(self, labels: dict[str, str], entry: Entry) -> str:
        fields = self.limit("log_level_fields", DEFAULT_LEVEL_FIELDS) or DEFAULT_LEVEL_FIELDS
        metadata = dict(entry.metadata)
        for source in (labels, metadata):
            for name in fields:
                if name in source:
                    return LEVEL_WORDS.get(source[name].lower(), source[name])
        if "severity_number" in metadata:
            try:
                number = int(metadata["severity_number"])
            except ValueError:
                return "info"
            for limit, level in ((0, "unknown"), (4, "trace"), (8, "debug"), (12, "info"),
                                 (16, "warn"), (20, "error"), (24, "fatal")):
                if number <= limit:
                    return level
            return "unknown"
        return level_from_line(entry.line, fields)

    def push(self, tenant: str, streams: list[PushStream], format_name: str,
             labels_ready: bool = False) -> None:
        """The distributor, then the ingester: validate, discover, store."""
        if not streams:
            raise BadRequest("error at least one valid stream is required for ingestion", 422)
        # push.go counts what a request carries as it parses it, before any validation.
        received = sum(len(stream.entries) for stream in streams)
        received_bytes = sum(len(entry.line.encode()) + sum(
            len(name) + len(value) for name, value in entry.metadata)
            for stream in streams for entry in stream.entries)
        retention = int(self.limit("retention_period", 0) or 0) // (3600 * 10**9)
        with self.metrics_lock:
            key = (tenant, format_name)
            self.lines_received[key] = self.lines_received.get(key, 0) + received
            bytes_key = (tenant, format_name, str(retention))
            self.bytes_received[bytes_key] = self.bytes_received.get(bytes_key, 0) + \
                received_bytes
        now = time.time_ns()
        reject_old = self.limit("reject_old_samples", True)
        max_age = self.limit("reject_old_samples_max_age", 7 * 86400 * 10**9)
        grace = self.limit("creation_grace_period", 600 * 10**9)
        max_line = self.limit("max_line_size", 256 * 1024)
        allow_sm = self.limit("allow_structured_metadata", True)
        discover_levels = self.limit("discover_log_levels", True) and allow_sm
        errors: list[str] = []
        accepted: dict[str, tuple[dict[str, str], list[Entry]]] = {}
        for stream in streams:
            if not stream.entries:
                continue
            labels = parse_labels(stream.labels)
            if not labels_ready:
                labels = self.discover_service_name(labels)
            shown = format_labels(labels)
            label_problem = self.label_problem(labels, shown)
            if label_problem:
                errors.append(label_problem)
                with self.metrics_lock:
                    discard = ("invalid_labels", tenant, str(retention), format_name)
                    self.discarded[discard] = self.discarded.get(discard, 0) + len(
                        stream.entries)
                continue
            kept = accepted.setdefault(shown, (labels, []))[1]
            for entry in stream.entries:
                problem = ""
                if reject_old and entry.ts < now - max_age:
                    problem = (f"entry for stream '{shown}' has timestamp too old: "
                               f"{rfc3339(entry.ts)}, oldest acceptable timestamp is: "
                               f"{rfc3339(now - max_age)}")
                    reason = "greater_than_max_sample_age"
                elif entry.ts > now + grace:
                    problem = f"entry for stream '{shown}' has timestamp too new: " \
                              f"{rfc3339(entry.ts)}"
                    reason = "too_far_in_future"
                elif max_line and len(entry.line.encode()) > max_line:
                    problem = (f"max entry size '{max_line}' bytes exceeded for stream "
                               f"'{shown}' while adding an entry with length "
                               f"'{len(entry.line.encode())}' bytes")
                    reason = "line_too_long"
                elif entry.metadata and not allow_sm:
                    problem = (f"stream '{shown}' includes structured metadata, but this "
                               "feature is disallowed. Please see `limits_config."
                               "allow_structured_metadata` or contact your Loki administrator "
                               "to enable it")
                    reason = "disallowed_structured_metadata"
                if problem:
                    errors.append(problem)
                    with self.metrics_lock:
                        discard = (reason, tenant, str(retention), format_name)
                        self.discarded[discard] = self.discarded.get(discard, 0) + 1
                    continue
                metadata = [(label_name(name), value) for name, value in entry.metadata]
                if discover_levels and not any(name == "detected_level"
                                               for name, _v in metadata):
                    level = self.detected_level(labels, Entry(entry.ts, entry.line, metadata))
                    if level:
                        metadata.append(("detected_level", level))
                kept.append(Entry(entry.ts, entry.line, metadata))
        batch = [(labels, entries) for labels, entries in accepted.values() if entries]
        if batch:
            size = sum(len(entry.line.encode()) + sum(len(n) + len(v) for n, v in entry.metadata)
                       for _labels, entries in batch for entry in entries)
            if not self.rate_allows(tenant, size):
                count = sum(len(entries) for _labels, entries in batch)
                with self.metrics_lock:
                    discard = ("rate_limited", tenant, str(retention), format_name)
                    self.discarded[discard] = self.discarded.get(discard, 0) + count
                limit = int(float(self.limit("ingestion_rate_mb", 4.0)) * (1 << 20))
                raise BadRequest(f"ingestion rate limit exceeded for user {tenant} (limit: "
                                 f"{limit} bytes/sec) while attempting to ingest '{count}' "
                                 f"lines totaling '{size}' bytes, reduce log volume or contact "
                                 "your Loki administrator to see if the limit can be increased",
                                 429)
            if self.stopping.is_set() or self.disk_throttled:
                raise BadRequest("rpc error: code = Unknown desc = Ingester is shutting down",
                                 500)
            problem = self.replication_problem()
            if problem:
                raise BadRequest(problem, 500)
            try:
                disk_full = self.store.write(tenant, batch)
            except WriteFailed as error:
                self.log("error", "failed to write to WAL", component="ingester", err=error)
                raise BadRequest(f"rpc error: code = Unknown desc = {error}", 500) from None
            if disk_full:
                with self.metrics_lock:
                    self.disk_full_failures += 1
                    first_time = not self.disk_full_logged
                    self.disk_full_logged = True
                if first_time:
                    self.log("error", "Error writing to WAL, disk full, no further messages "
                             "will be logged for this error")
        if errors:
            raise BadRequest("\n".join(errors))

    def label_problem(self, labels: dict[str, str], shown: str) -> str:
        """The distributor's stream label checks (validation.ValidateLabels)."""
        most = int(self.limit("max_label_names_per_series", 15) or 0)
        if most and len(labels) > most:
            return f"entry for stream '{shown}' has {len(labels)} label names; limit {most}"
        name_limit = int(self.limit("max_label_name_length", 1024) or 0)
        value_limit = int(self.limit("max_label_value_length", 2048) or 0)
        for name, value in sorted(labels.items()):
            if name_limit and len(name) > name_limit:
                return f"stream '{shown}' has label name too long: '{name}'"
            if value_limit and len(value) > value_limit:
                return f"stream '{shown}' has label value too long: '{value}'"
        return ""

    def rate_allows(self, tenant: str, size: int) -> bool:
        """The distributor's per-tenant token bucket (ingestion_rate_mb, burst
        ingestion_burst_size_mb; one distributor, so global and local agree)."""
        rate = float(self.limit("ingestion_rate_mb", 4.0)) * (1 << 20)
        burst = float(self.limit("ingestion_burst_size_mb", 6.0)) * (1 << 20)
        now = time.monotonic()
        with self.metrics_lock:
            tokens, last = self.buckets.get(tenant, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if size > tokens:
                self.buckets[tenant] = (tokens, now)
                return False
            self.buckets[tenant] = (tokens - size, now)
            return True

    def otlp_streams(self, resources: list[dict[str, Any]]) -> list[PushStream]:
        """otlpToLokiPushRequest: resource attributes the OTLP config makes index labels
        (by default those of distributor.otlp_config) label the stream, the rest of the
        attributes and the record's fields become structured metadata."""
        otlp = OTLPConfig.from_config(self.config)
        discover = self.limit("discover_service_name", DEFAULT_SERVICE_NAME_LABELS)
        by_labels: dict[str, PushStream] = {}

        def stream_for(labels: dict[str, str]) -> PushStream:
            text = format_labels(labels)
            return by_labels.setdefault(text, PushStream(text, []))

        for resource in resources:
            stream_labels: dict[str, str] = {}
            resource_metadata: list[tuple[str, str]] = []
            attributes = resource["attributes"]
            has_service = bool(otlp_string(attributes.get("service.name")))
            for key, value in attributes.items():
                action = otlp.action(key, otlp.resource)
                pairs = attribute_labels(key, value)
                if action == "index_label":
                    for name, text in pairs:
                        stream_labels[name] = text
                        if not has_service and discover and name in discover:
                            stream_labels["service_name"] = text
                            has_service = True
                elif action == "structured_metadata":
                    resource_metadata.extend(pairs)
            if not has_service and discover:
                stream_labels["service_name"] = "unknown_service"
            stream_for(stream_labels)
            for scope in resource["scopes"]:
                scope_metadata: list[tuple[str, str]] = []
                for key, value in scope["attributes"].items():
                    if otlp.action(key, otlp.scope) == "structured_metadata":
                        scope_metadata.extend(attribute_labels(key, value))
                if scope["name"]:
                    scope_metadata.append(("scope_name", scope["name"]))
                if scope["version"]:
                    scope_metadata.append(("scope_version", scope["version"]))
                if scope["dropped"]:
                    scope_metadata.append(("scope_dropped_attributes_count",
                                           str(scope["dropped"])))
                for record in scope["records"]:
                    log_labels, entry = otlp_entry(record, otlp, resource_metadata,
                                                   scope_metadata)
                    stream_for({**stream_labels, **log_labels}).entries.append(entry)
        return list(by_labels.values())


class OTLPConfig:
    """limits_config.otlp_config with the global default index attributes applied
    (otlp_config.go ApplyGlobalOTLPConfig and actionForAttribute)."""

    def __init__(self, resource: list[dict[str, Any]], scope: list[dict[str, Any]],
                 log: list[dict[str, Any]], severity_text_as_label: bool) -> None:
        self.resource = resource
        self.scope = scope
        self.log = log
        self.severity_text_as_label = severity_text_as_label

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OTLPConfig:
        defaults_list = cfg(config, "distributor.otlp_config.default_resource_attributes_as_"
                            "index_labels", DEFAULT_OTLP_INDEX_ATTRIBUTES)
        resource = list(cfg(config, "limits_config.otlp_config.resource_attributes."
                                    "attributes_config", []) or [])
        if not cfg(config, "limits_config.otlp_config.resource_attributes.ignore_defaults",
                   False) and defaults_list:
            resource.insert(0, {"action": "index_label", "attributes": defaults_list,
                                "regex": ""})
        return cls(resource, list(cfg(config, "limits_config.otlp_config.scope_attributes",
                                      []) or []),
                   list(cfg(config, "limits_config.otlp_config.log_attributes", []) or []),
                   bool(cfg(config, "limits_config.otlp_config.severity_text_as_label", False)))

    @staticmethod
    def action(attribute: str, configs: list[dict[str, Any]]) -> str:
        for item in configs:
            regex = item.get("regex") or ""
            # relabel.Regexp anchors its expression at both ends.
            if regex and re.fullmatch(regex, attribute):
                return item.get("action") or "structured_metadata"
            if attribute in (item.get("attributes") or []):
                return item.get("action") or "structured_metadata"
        return "structured_metadata"


def otlp_config_problem(config: dict[str, Any]) -> str:
    """AttributesConfig.UnmarshalYAML's refusals (they abort the config decode)."""
    sections = [cfg(config, "limits_config.otlp_config.resource_attributes.attributes_config",
                    []), cfg(config, "limits_config.otlp_config.scope_attributes", []),
                cfg(config, "limits_config.otlp_config.log_attributes", [])]
    for items in sections:
        for item in items or []:
            if (item.get("action") or "structured_metadata") not in (
                    "index_label", "structured_metadata", "drop"):
                return "unsupported action, it must be one of: drop, index_label, " \
                       "structured_metadata"
            if not item.get("attributes") and not item.get("regex"):
                return "attributes or regex must be set"
            if item.get("attributes") and item.get("regex"):
                return "only one of attributes or regex must be set"
            if item.get("regex"):
                try:
                    re.compile(item["regex"])
                except re.error as error:
                    return f"error parsing regexp: {error}"
    return ""


def otlp_entry(record: dict[str, Any], otlp: OTLPConfig,
               resource_metadata: list[tuple[str, str]],
               scope_metadata: list[tuple[str, str]]) -> tuple[dict[str, str], Entry]:
    """otlpLogToPushEntry: the body as the line, attributes and record fields as
    structured metadata (or labels, where the OTLP config says so)."""
    metadata: list[tuple[str, str]] = []
    log_labels: dict[str, str] = {}
    for key, value in record["attributes"].items():
        action = otlp.action(key, otlp.log)
        if action == "structured_metadata":
            metadata.extend(attribute_labels(key, value))
        elif action == "index_label":
            log_labels.update(attribute_labels(key, value))
    if record["time"] and record["observed"]:
        metadata.append(("observed_timestamp", str(record["observed"])))
    if record["severity_number"]:
        metadata.append(("severity_number", str(record["severity_number"])))
    if record["severity_text"]:
        if otlp.severity_text_as_label:
            log_labels["severity_text"] = record["severity_text"]
        metadata.append(("severity_text", record["severity_text"]))
    if record["dropped"]:
        metadata.append(("dropped_attributes_count", str(record["dropped"])))
    if record["flags"]:
        metadata.append(("flags", str(record["flags"])))
    if record["trace_id"]:
        metadata.append(("trace_id", record["trace_id"].hex()))
    if record["span_id"]:
        metadata.append(("span_id", record["span_id"].hex()))
    ts = record["time"] or record["observed"] or time.time_ns()
    line = otlp_string(record["body"])
    return log_labels, Entry(ts, line, metadata + resource_metadata + scope_metadata)


def level_from_line(line: str, fields: list[str]) -> str:
    """extractLogLevelFromLogLine: a JSON or logfmt level field, else a level word."""
    stripped = line.strip()
    value = ""
    if stripped.startswith("{") and stripped.endswith("}"):
        with contextlib.suppress(ValueError):
            data = json.loads(stripped)
            if isinstance(data, dict):
                value = next((str(data[name]) for name in fields if name in data), "")
    elif "=" in line:
        pairs = {}
        for match in re.finditer(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)', line):
            pairs.setdefault(match.group(1).lower(), match.group(2).strip('"'))
        value = next((pairs[name.lower()] for name in fields if name.lower() in pairs), "")
    if value and value.lower() in LEVEL_WORDS:
        return LEVEL_WORDS[value.lower()]
    lower = line.lower()
    best, where = "unknown", len(lower)
    for word, level in LEVEL_PATTERNS:
        for match in re.finditer(re.escape(word), lower):
            before = lower[match.start() - 1] if match.start() else ""
            after = lower[match.end()] if match.end() < len(lower) else ""
            left_ok = not before or before in ' \t\n[({"='
            right_ok = not after or after in ' \t\n[](){}:,!"='
            if left_ok and right_ok:
                if match.start() < where:
                    best, where = level, match.start()
                break
    return best


def rfc3339(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 10**9))


# --- HTTP ------------------------------------------------------------------------------

class Handler(StandinHandler):
    server_version = "loki-standin"

    def send_json(self, status: int, payload: Any) -> None:
        """Compact, as Go's encoders write it."""
        self.send(status, json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
                  "application/json; charset=UTF-8")

    def error(self, status: int, message: str) -> None:
        """Go's http.Error: the message and a newline, as text."""
        self.send(status, message + "\n")

    def route(self) -> None:
        self.body_consumed = False
        app: Loki = self.server.app
        path = unquote(urlsplit(self.path).path)
        # dskit's server.http_path_prefix puts every route under it.
        prefix = str(cfg(app.config, "server.http_path_prefix", "") or "").rstrip("/")
        if prefix:
            if path != prefix and not path.startswith(prefix + "/"):
                self.error(404, "404 page not found")
                return
            path = path[len(prefix):] or "/"
        public = {"/ready": self.ready, "/config": self.config_page,
                  "/services": self.services, "/loki/api/v1/status/buildinfo": self.buildinfo,
                  "/": self.index}
        if cfg(app.config, "server.register_instrumentation", True):
            public["/metrics"] = self.metrics
        if path in public:
            if self.command not in ("GET", "HEAD"):
                self.send(405, "")
                return
            public[path]()
            self.count(path, 200)
            return
        routes: dict[str, tuple[Callable[[str], None], tuple[str, ...]]] = {}
        if app.serves("distributor"):
            routes["/loki/api/v1/push"] = (self.push, ("POST",))
            routes["/api/prom/push"] = (self.push, ("POST",))
            routes["/otlp/v1/logs"] = (self.otlp, ("POST",))
        if app.serves("querier", "query-frontend"):
            routes.update({
                "/loki/api/v1/query": (self.query, ("GET", "POST")),
                "/loki/api/v1/query_range": (self.query_range, ("GET", "POST")),
                "/loki/api/v1/labels": (self.labels, ("GET", "POST")),
                "/loki/api/v1/label": (self.labels, ("GET", "POST")),
                "/loki/api/v1/series": (self.series, ("GET", "POST")),
                "/loki/api/v1/index/stats": (self.index_stats, ("GET", "POST")),
            })
            values = re.fullmatch(r"/loki/api/v1/label/([^/]+)/values", path)
            if values:
                name = values.group(1)
                routes[path] = (lambda tenant: self.label_values(tenant, name), ("GET", "POST"))
        if path not in routes:
            self.error(404, "404 page not found")
            return
        handler, methods = routes[path]
        if self.command not in methods:
            self.send(405, "")
            return
        tenant, problem = app.tenant_of(self.headers)
        if tenant is None:
            self.error(401, problem)
            self.count(path, 401)
            return
        try:
            handler(tenant)
        except QueryError as error:
            self.error(error.status, str(error))
        except BadRequest as error:
            self.error(error.status, str(error))
        except BrokenPipeError:
            pass

    def count(self, route: str, status: int) -> None:
        app: Loki = self.server.app
        with app.metrics_lock:
            app.requests[(route, status)] = app.requests.get((route, status), 0) + 1

    # public pages
    def index(self) -> None:
        self.send(200, "<html><head><title>Loki</title></head><body><h1>Grafana Loki "
                  f"(lgtm contract stand-in {VERSION})</h1></body></html>",
                  "text/html; charset=utf-8")

    def ready(self) -> None:
        problem = self.server.app.ready_problem()
        if problem:
            self.error(503, problem)
        else:
            self.error(200, "ready")

    def services(self) -> None:
        app: Loki = self.server.app
        rows = "\n".join(f"{module} => Running" for module in sorted(app.modules))
        self.send(200, rows + "\n")

    def buildinfo(self) -> None:
        self.send_json(200, {"version": VERSION, "revision": REVISION, "branch": BRANCH,
                             "buildUser": "", "buildDate": "", "goVersion": GO_VERSION})

    def config_page(self) -> None:
        app: Loki = self.server.app
        root = app.schema["root"]
        mode = first(parse_query_string(self.path), "mode")
        if mode == "defaults":
            rendered = render_config(defaults(root), root, None)
        elif mode == "diff":
            rendered = render_config(app.config, root, defaults(root))
        else:
            rendered = render_config(app.config, root, None)
        self.send(200, yaml.safe_dump(rendered, sort_keys=False, allow_unicode=True))

    def metrics(self) -> None:
        app: Loki = self.server.app
        build = (f'branch="{BRANCH}",goarch="amd64",goos="linux",goversion="{GO_VERSION}",'
                 f'revision="{REVISION}",tags="netgo",version="{VERSION}"')
        lines = [
            "# HELP loki_build_info Always 1; the labels name the stand-in's reported build.",
            "# TYPE loki_build_info gauge", f"loki_build_info{{{build}}} 1",
            "# HELP process_start_time_seconds When this process started (Unix seconds).",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {app.started:.3f}",
            "# HELP loki_ingester_wal_disk_full_failures_total WAL writes that failed on a "
            "full disk.",
            "# TYPE loki_ingester_wal_disk_full_failures_total counter",
            f"loki_ingester_wal_disk_full_failures_total {app.disk_full_failures}",
            "# HELP loki_ingester_wal_disk_usage_percent Used fraction (0 to 1) of the WAL's "
            "filesystem.", "# TYPE loki_ingester_wal_disk_usage_percent gauge",
            f"loki_ingester_wal_disk_usage_percent {app.disk_usage:g}",
        ]
        with app.metrics_lock:
            lines += ["# HELP loki_distributor_lines_received_total Log lines accepted, by "
                      "tenant and format.",
                      "# TYPE loki_distributor_lines_received_total counter"]
            lines += [f'loki_distributor_lines_received_total{{format="{fmt}",'
                      f'is_internal_stream="false",policy="",tenant="{t}"}} {n}'
                      for (t, fmt), n in sorted(app.lines_received.items())]
            lines += ["# HELP loki_distributor_bytes_received_total Uncompressed bytes accepted "
                      "(lines and structured metadata), by tenant.",
                      "# TYPE loki_distributor_bytes_received_total counter"]
            lines += [f'loki_distributor_bytes_received_total{{format="{fmt}",'
                      f'is_internal_stream="false",policy="",retention_hours="{hours}",'
                      f'tenant="{t}"}} {n}'
                      for (t, fmt, hours), n in sorted(app.bytes_received.items())]
            lines += ["# HELP loki_discarded_samples_total Log lines refused, by reason and "
                      "tenant.", "# TYPE loki_discarded_samples_total counter"]
            lines += [f'loki_discarded_samples_total{{format="{fmt}",policy="",reason="{r}",'
                      f'retention_hours="{hours}",tenant="{t}"}} {n}'
                      for (r, t, hours, fmt), n in sorted(app.discarded.items())]
            lines += ["# HELP loki_request_duration_seconds_count Requests by route and "
                      "status code (count only).",
                      "# TYPE loki_request_duration_seconds_count counter"]
            lines += [f'loki_request_duration_seconds_count{{route="{route}",status_code='
                      f'"{status}"}} {n}' for (route, status), n in sorted(app.requests.items())]
        with app.store.lock:
            streams = sum(len(s) for s in app.store.tenants.values())
        lines += ["# HELP loki_ingester_memory_streams Streams held now, all tenants.",
                  "# TYPE loki_ingester_memory_streams gauge",
                  f"loki_ingester_memory_streams {streams}"]
        self.send(200, "\n".join(lines) + "\n", "text/plain; version=0.0.4; charset=utf-8")

    # write path
    def body(self) -> bytes:
        # distributor.max_recv_msg_size bounds what a push body may be (0: unbounded).
        limit = int(cfg(self.server.app.config, "distributor.max_recv_msg_size",
                        100 << 20) or 1 << 40)
        data = self.read_body(limit)
        if data is None:
            raise BadRequest(f"request body too large: {self.headers.get('Content-Length')} "
                             f"bytes, limit: {limit} bytes", 413)
        return data

    def push(self, tenant: str) -> None:
        app: Loki = self.server.app
        data = self.body()
        encoding = self.headers.get("Content-Encoding", "")
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            if encoding == "gzip":
                data = gzip.decompress(data)
            elif encoding == "deflate":
                data = zlib.decompress(data, -zlib.MAX_WBITS)
            elif encoding not in ("", "snappy"):
                raise BadRequest(f'Content-Encoding "{encoding}" not supported', 415)
        except (OSError, zlib.error) as error:
            raise BadRequest(str(error)) from None
        if content_type == "application/json":
            streams = decode_push_json(data)
        else:
            try:
                streams = decode_push_proto(snappy_decompress(data, int(cfg(
                    app.config, "distributor.max_decompressed_size", 5 << 30) or 1 << 40)))
            except DecodeError as error:
                raise BadRequest(f"snappy/proto: {error}") from None
        app.push(tenant, streams, "loki")
        self.count("/loki/api/v1/push", 204)
        self.send(204, "")

    def otlp(self, tenant: str) -> None:
        app: Loki = self.server.app
        data = self.body()
        encoding = self.headers.get("Content-Encoding", "")
        try:
            if encoding == "gzip":
                data = gzip.decompress(data)
            elif encoding:
                raise BadRequest(f"unsupported content encoding {encoding}: only gzip, lz4 "
                                 "and zstd are supported", 415)
        except OSError as error:
            raise BadRequest(str(error)) from None
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type == "application/x-protobuf":
            try:
                resources = decode_otlp_proto(data)
            except DecodeError as error:
                raise BadRequest(f"proto: {error}") from None
        elif content_type == "application/json":
            resources = decode_otlp_json(data)
        else:
            raise BadRequest(f"content type: {self.headers.get('Content-Type', '')} is not "
                             "supported", 415)
        streams = [stream for stream in app.otlp_streams(resources) if stream.entries]
        app.push(tenant, streams, "otlp", labels_ready=True)
        self.count("/otlp/v1/logs", 204)
        self.send(204, "")

    # read path
    def tenant_streams(self, tenant: str) -> list[Stream]:
        app: Loki = self.server.app
        problem = app.replication_problem()
        if problem:
            raise QueryError("too many unhealthy instances in the ring" if problem !=
                             "empty ring" else problem, 500)
        with app.store.lock:
            return list(app.store.tenants.get(tenant, {}).values())

    def query_range(self, tenant: str) -> None:
        params = self.params()
        start, end = bounds(params)
        if end < start:
            raise QueryError("end timestamp must not be before or equal to start time")
        self.run_query(tenant, params, start, end, instant=False)

    def query(self, tenant: str) -> None:
        params = self.params()
        stamp = parse_time("time", first(params, "time"), time.time_ns())
        self.run_query(tenant, params, stamp, stamp, instant=True)

    def run_query(self, tenant: str, params: dict[str, list[str]], start: int, end: int,
                  instant: bool) -> None:
        began = time.monotonic()
        text = first(params, "query") or ""
        node = parse_query(text)
        limit_text = first(params, "limit") or "100"
        try:
            limit = int(limit_text)
        except ValueError:
            raise QueryError(f'invalid limit parameter: strconv.ParseInt: parsing '
                             f'"{limit_text}": invalid syntax') from None
        if limit <= 0:
            raise QueryError("limit must be a positive value")
        direction = (first(params, "direction") or "backward").lower()
        if direction not in ("forward", "backward"):
            raise QueryError(f'invalid direction parameter: "{direction}"')
        needs_data = node["type"] not in ("number", "vector") and not (
            node["type"] == "binary" and not uses_logs(node))
        evaluator = Evaluator(self.tenant_streams(tenant) if needs_data else [])
        if node["type"] == "log":
            if instant:
                raise QueryError("log queries are not supported as an instant query type, "
                                 "please change your query to a range query type")
            rows = evaluator.select(node, start, end)
            rows.sort(key=lambda row: row.entry.ts, reverse=direction == "backward")
            rows = rows[:limit]
            # X-Loki-Response-Encoding-Flags: categorize-labels (Grafana's Explore sends
            # it) keeps the stream to its index labels and gives each entry its structured
            # metadata and parsed labels apart.
            flags = [flag.strip() for flag in self.headers.get(
                "X-Loki-Response-Encoding-Flags", "").split(",") if flag.strip()]
            categorize = "categorize-labels" in flags
            groups: dict[str, tuple[dict[str, str], list[list[Any]]]] = {}
            for row in rows:
                shown = row.stream_labels if categorize else row.labels
                value: list[Any] = [str(row.entry.ts), row.entry.line]
                if categorize:
                    metadata = dict(row.entry.metadata)
                    parsed = {name: text for name, text in row.labels.items()
                              if name not in row.stream_labels and name not in metadata}
                    extra: dict[str, Any] = {}
                    if metadata:
                        extra["structuredMetadata"] = metadata
                    if parsed:
                        extra["parsed"] = parsed
                    value.append(extra)
                groups.setdefault(format_labels(shown), (shown, []))[1].append(value)
            result = [{"stream": labels, "values": values}
                      for labels, values in groups.values()]
            data = {"resultType": "streams", "result": result}
            if categorize:
                data["encodingFlags"] = ["categorize-labels"]
            returned = len(rows)
        elif instant:
            kind, value = evaluator.eval(node, start)
            if kind == "scalar":
                data = {"resultType": "scalar", "result": [json_time(start),
                                                           format_value(value)]}
            else:
                data = {"resultType": "vector", "result": [
                    {"metric": labels, "value": [json_time(start), format_value(sample)]}
                    for labels, sample in sorted(value, key=lambda item: format_labels(
                        item[0]))]}
            returned = len(data["result"])
        else:
            step = parse_step(first(params, "step"), start, end)
            if step <= 0:
                raise QueryError("zero or negative query resolution step widths are not "
                                 "accepted. Try a positive integer")
            if (end - start) // step > 11000:
                raise QueryError("exceeded maximum resolution of 11,000 points per timeseries. "
                                 "Try decreasing the query resolution (?step=XX)")
            matrix: dict[str, tuple[dict[str, str], list[list[Any]]]] = {}
            stamp = start
            while stamp <= end:
                kind, value = evaluator.eval(node, stamp)
                points = [({}, value)] if kind == "scalar" else value
                for labels, sample in points:
                    matrix.setdefault(format_labels(labels), (labels, []))[1].append(
                        [json_time(stamp), format_value(sample)])
                stamp += step
            data = {"resultType": "matrix", "result": [
                {"metric": labels, "values": values} for _key, (labels, values)
                in sorted(matrix.items())]}
            returned = len(data["result"])
        data["stats"] = empty_stats(evaluator.lines, evaluator.bytes, returned,
                                    time.monotonic() - began)
        self.send_json(200, {"status": "success", "data": data})

    def selected_streams(self, tenant: str, params: dict[str, list[str]],
                         selectors: list[str]) -> list[Stream]:
        start, end = bounds(params)
        if len(selectors) == 1 and selectors[0].replace(" ", "") == "{}":
            selectors = []  # loghttp: a single {} means every stream
        nodes = []
        for selector in selectors:
            node = parse_query(selector)
            if node["type"] != "log":
                raise QueryError(f"parse error : {selector} is not a stream selector")
            nodes.append(node)
        chosen = []
        for stream in self.tenant_streams(tenant):
            if not any(start <= entry.ts < end for entry in stream.entries):
                continue
            if nodes and not any(all(matches(m, stream.labels.get(m[0], ""))
                                     for m in node["matchers"]) for node in nodes):
                continue
            chosen.append(stream)
        return chosen

    def labels(self, tenant: str) -> None:
        params = self.params()
        selectors = [value for value in params.get("query", []) if value]
        found = self.selected_streams(tenant, params, selectors)
        names = sorted({name for stream in found for name in stream.labels})
        # loghttp.LabelResponse: `data` is omitempty.
        self.send_json(200, {"status": "success", **({"data": names} if names else {})})

    def label_values(self, tenant: str, name: str) -> None:
        params = self.params()
        selectors = [value for value in params.get("query", []) if value]
        found = self.selected_streams(tenant, params, selectors)
        values = sorted({stream.labels[name] for stream in found if name in stream.labels})
        self.send_json(200, {"status": "success", **({"data": values} if values else {})})

    def series(self, tenant: str) -> None:
        params = self.params()
        selectors = [value for value in params.get("match[]", []) + params.get("match", [])
                     if value]
        found = self.selected_streams(tenant, params, selectors)
        self.send_json(200, {"status": "success", "data": sorted(
            (stream.labels for stream in found), key=format_labels)})

    def index_stats(self, tenant: str) -> None:
        params = self.params()
        selectors = [value for value in params.get("query", []) if value]
        found = self.selected_streams(tenant, params, selectors)
        entries = sum(len(stream.entries) for stream in found)
        size = sum(len(entry.line.encode()) for stream in found for entry in stream.entries)
        self.send_json(200, {"streams": len(found), "chunks": len(found), "bytes": size,
                             "entries": entries})


def uses_logs(node: dict[str, Any]) -> bool:
    if node["type"] in ("log", "range"):
        return True
    return any(uses_logs(node[key]) for key in ("left", "right", "inner") if key in node)


def parse_query_string(path: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(path).query, keep_blank_values=True)


# --- main ------------------------------------------------------------------------------

def stderr_log(level: str, msg: str, **fields: Any) -> None:
    """Logging before the config is known: logfmt on stderr, as util_log's default."""
    print(format_log(level, msg, fields, level_first=True), file=sys.stderr, flush=True)


def health(args: list[str]) -> int:
    """cmd/loki/health.go: GET -health.url (default http://localhost:3100/ready)."""
    url = "http://localhost:3100/ready"
    for index, arg in enumerate(args):
        match = re.fullmatch(r"-+health\.url[=:]?(.*)", arg)
        if match:
            if match.group(1):
                url = match.group(1)
            elif index + 1 < len(args) and not args[index + 1].startswith("-"):
                url = args[index + 1]
            break
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        print(f'Health check failed: Get "{url}": {reason}', file=sys.stderr)
        return 1
    if status == 200:
        print("Loki is healthy")
        return 0
    print(f"Loki is unhealthy: status code {status}", file=sys.stderr)
    return 1


def version_text() -> str:
    return (f"loki, version {VERSION} (branch: {BRANCH}, revision: {REVISION})\n"
            f"  build user:       \n  build date:       \n  go version:       {GO_VERSION}\n"
            "  platform:         linux/amd64\n  tags:             netgo")


def print_help(schema: dict[str, Any]) -> None:
    print(f"Usage of /usr/bin/loki (lgtm contract stand-in for Grafana Loki {VERSION}):")
    rows: list[tuple[str, str]] = list(MAIN_FLAGS.items())

    def walk(block: dict[str, Any]) -> None:
        for entry in block["fields"].values():
            if entry["k"] == "block":
                walk(entry)
            elif entry.get("f"):
                rows.append((entry["f"], entry.get("t", "value")))
    walk(schema["root"])
    for name, kind in sorted(rows):
        print(f"  -{name} {kind}")


def load(argv: list[str], schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """main.go up to Validate: (config, main flags, config hash); exits as upstream does."""
    table = flag_table(schema)
    try:
        flags = parse_flags(argv, table)
    except FlagError as error:
        print(error, file=sys.stderr)
        print("Run with -help to get list of available parameters", file=sys.stderr)
        raise SystemExit(2) from None
    for name, value in flags:
        if table[name][0] == "server.log_level" and value not in LOG_LEVELS:
            # dskit's log.Level is a flag.Value whose Set refuses it.
            print(f'invalid value "{value}" for flag -{name}: unrecognized log level '
                  f'"{value}"', file=sys.stderr)
            print("Run with -help to get list of available parameters", file=sys.stderr)
            raise SystemExit(2)
    main_flags = {name: value for name, value in flags if table[name][0] is None}
    if main_flags.get("help") or main_flags.get("h"):
        print_help(schema)
        raise SystemExit(2)
    root = schema["root"]
    config, explicit = defaults(root), set()
    config_hash = ""
    files = str(main_flags.get("config.file", DEFAULT_CONFIG_FILE))
    expand = bool(main_flags.get("config.expand-env", False))
    if files:
        chosen = next((name.strip() for name in files.split(",")
                       if Path(name.strip()).exists()), None)
        if chosen is None:
            print(f"failed parsing config: {files} does not exist, set config.file for custom "
                  "config path", file=sys.stderr)
            raise SystemExit(1)
        hint = "" if expand else (". Use `-config.expand-env=true` flag if you want to "
                                  "expand environment variables in your config file")
        try:
            raw = Path(chosen).read_bytes()
        except OSError as error:
            print(f"failed parsing config: {chosen}: open {chosen}: "
                  f"{(error.strerror or '').lower()}{hint}", file=sys.stderr)
            raise SystemExit(1) from None
        config_hash = hashlib.sha256(raw).hexdigest()
        text = raw.decode("utf-8", errors="replace")
        if expand:
            text = envsubst(text)
        try:
            config, explicit = decode_config(text, schema)
            level = str(cfg(config, "server.log_level", "info"))
            if level not in LOG_LEVELS:
                # dskit's log.Level.UnmarshalYAML: its error aborts the decode.
                raise ConfigError(f'unrecognized log level "{level}"')
            problem = otlp_config_problem(config) or period_decode_problem(config)
            if problem:
                raise ConfigError(problem)
        except ConfigError as error:
            print(f"failed parsing config: {chosen}: {error}{hint}", file=sys.stderr)
            raise SystemExit(1) from None
    for name, value in flags:
        path, kind = table[name]
        if path is None:
            continue
        if kind == "strings":
            get_path(config, path).append(value)
        else:
            set_path(config, path, value)
        explicit.add(path)
    apply_dynamic(config, explicit)
    try:
        validate_config(config)
    except ConfigError as error:
        stderr_log("error", "validating config", err=str(error))
        raise SystemExit(1) from None
    return config, main_flags, config_hash


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(re.fullmatch(r"-+health", arg) for arg in args):
        return health(args)
    if any(arg in ("-version", "--version") for arg in args):
        print(version_text())
        return 0
    schema = load_schema()
    config, main_flags, config_hash = load(args, schema)
    if main_flags.get("print-config-stderr"):
        print(yaml.safe_dump(render_config(config, schema["root"], None), sort_keys=False),
              file=sys.stderr)
    if main_flags.get("verify-config"):
        stderr_log("info", "config is valid")
        return 0
    if main_flags.get("list-targets"):
        for target in sorted(TARGETS):
            print(target)
        return 0
    for target in targets_of(config):
        if target not in TARGETS:
            stderr_log("error", "error initializing loki", err=f"unrecognised module name: "
                       f"{target}")
            return 1
    app = Loki(config, schema, config_hash)
    return app.run_until_signalled()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        sys.exit(2)
