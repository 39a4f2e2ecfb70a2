"""Contract stand-in for Grafana Tempo 3.0.3 (docker.io/grafana/tempo:3.0.3), target all.

No registry here serves the Tempo image and its source may not enter the repository, so
the test image `localhost/lgtm-test/tempo:3.0.3` runs this program as `/tempo` (uid
10001, as upstream's image does; tests/testhost/images/tempo.py installs it with Debian's
python3, python3-yaml and python3-h2, and the shared module lgtm_standin beside it). It
honours the contract a role relies on, reproduces the defaults and traps that bite, and
really stores what is sent, so tests that query it see the spans real clients sent.

Upstream facts this follows (read at tag v3.0.3, not copied):
- Start-up and flags: cmd/tempo/main.go. -config.file, -config.expand-env and
  -config.verify are first looked for anywhere on the command line; the file is read with
  yaml.v2 UnmarshalStrict into app.Config ("failed parsing config: failed to parse
  configFile F: yaml: unmarshal errors: ... field ingester not found in type app.Config",
  exit 1); then the real flag set is parsed, where the three are ignored *string* flags, so
  a bare `-config.verify` fails with "flag needs an argument" (usage, exit 2). -version
  prints "tempo, version v3.0.3 ..."; -health GETs -health.url (default
  http://localhost:3200/ready). CheckConfig's warnings are logged after
  "-- CONFIGURATION WARNINGS --"; with -config.verify=true any warning exits 1.
- cmd/tempo/app: readyHandler ("Some services are not Running", "Application is
  stopping", 200 "ready"), statusHandler ("GET /status/config" then "---" and yaml.v2's
  rendering, durations as Go prints them), the query paths under http_api_prefix, /api/echo.
- Receivers: the OpenTelemetry collector's otlp receiver (a protocol given without an
  endpoint listens on localhost:4317 / localhost:4318), OTLP/HTTP /v1/traces with protobuf
  or JSON bodies, OTLP/gRPC TraceService/Export; `tls` under each protocol.
- Query answers: tempopb TraceByIDResponse (v2: {"trace":..., "metrics":...}; an unknown id
  gives the empty message, the v1 path a 404), SearchResponse, SearchTags(V2)Response,
  SearchTagValues(V2)Response. Bytes (trace and span ids) are base64 in these JSON answers,
  as gogo's jsonpb writes protobuf bytes.
- Metrics generator: the service-graphs and span-metrics processors' series names, labels
  and default buckets (configuration manifest), exemplars whose trace_id label is the id in
  hex without leading zeros (tempo's util.TraceIDToHexString), remote write 1.0 with
  exemplars when send_exemplars is set, every registry.collection_interval.
- Retention: backend_worker.compaction.block_retention (per tenant:
  overrides.defaults.compaction.block_retention when set).

What it does NOT do: TraceQL beyond `{}` and `&&`-joined `=`/`!=` comparisons of
resource., span. and unscoped (.) attributes and name/status/kind intrinsics; no TraceQL
metrics, no Kafka, no object storage (only `local`), no blocks (the live-store's WAL file
keeps every trace until retention drops it), no real internal gRPC (port 9095 accepts and
closes connections), no Jaeger or Zipkin protocols (their ports accept and close), no
usage reporting (never connects anywhere but the configured remote-write targets), config
flags only for the few options in CONFIG_FLAGS (the generated schema carries no flag
names). Search finds a trace as soon as it is stored: the delay observed once against the
real binary (services.md) had no established cause and is not reproduced.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
import re
import signal
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lgtm_standin import (  # noqa: E402 - the module sits beside this directory in the repo
    ConfigError,
    DecodeError,
    FlagError,
    GrpcReply,
    GrpcServer,
    StandinApp,
    StandinHandler,
    TLSConfigError,
    expand_env,
    first,
    go_parse_duration,
    otlp_key_value,
    otlp_plain,
    parse_flags,
    proto_expect,
    proto_fields,
    proto_fixed_double,
    proto_len,
    proto_uint,
    render_config,
    server_tls_context,
    snappy_compress,
)
from lgtm_standin import decode_config as decode_schema_config  # noqa: E402
from lgtm_standin import flag_table as schema_flag_table  # noqa: E402
from lgtm_standin import (
    load_schema as load_schema_file,
)

VERSION = "v3.0.3"
BRANCH = "HEAD"
REVISION = "lgtm-standin"
GO_VERSION = "none (Python stand-in)"
SCHEMA_PATHS = [
    Path("/usr/share/lgtm-standin/tempo/schema.json"),
    Path(__file__).resolve().parent / "schema.json",
]
WAL_FILE = "standin-traces.jsonl"
SINGLE_TENANT = "single-tenant"
DEFAULT_HEALTH_URL = "http://localhost:3200/ready"
# The program's own flags (cmd/tempo/main.go); the config.* three are ignored string flags
# in the second parse, which is what makes a bare -config.verify fail.
MAIN_FLAGS = {"version": "bool", "health": "bool", "health.url": "string",
              "mutex-profile-fraction": "int", "block-profile-threshold": "int",
              "config.file": "string", "config.expand-env": "string",
              "config.verify": "string", "help": "bool", "h": "bool"}
# Config flags the stand-in knows by name (upstream registers one per option; the
# generated schema carries none, so any other flag is refused as undefined).
CONFIG_FLAGS = {"target": ("target", "string"),
                "http-api-prefix": ("http_api_prefix", "string"),
                "multitenancy.enabled": ("multitenancy_enabled", "bool"),
                "auth.enabled": ("auth_enabled", "bool"),
                "log.level": ("server.log_level", "string"),
                "log.format": ("server.log_format", "string"),
                "server.http-listen-address": ("server.http_listen_address", "string"),
                "server.http-listen-port": ("server.http_listen_port", "int"),
                "server.grpc-listen-address": ("server.grpc_listen_address", "string"),
                "server.grpc-listen-port": ("server.grpc_listen_port", "int")}
# Modules target all runs in one process (cmd/tempo/app/modules.go), in start order.
ALL_MODULES = ["server", "overrides", "distributor", "live-store", "querier",
               "query-frontend", "metrics-generator", "backend-scheduler", "backend-worker"]
TARGET_MODULES = {
    "all": ALL_MODULES,
    "distributor": ["server", "overrides", "distributor"],
    "live-store": ["server", "overrides", "live-store"],
    "querier": ["server", "overrides", "querier"],
    "query-frontend": ["server", "overrides", "query-frontend"],
    "metrics-generator": ["server", "overrides", "metrics-generator"],
    "backend-scheduler": ["server", "overrides", "backend-scheduler"],
    "backend-worker": ["server", "overrides", "backend-worker"],
}
SPAN_KINDS = ["SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
              "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"]
STATUS_CODES = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]
# The manifest's defaults for the processors' histograms (seconds).
SPAN_METRICS_BUCKETS = [0.002 * 2**power for power in range(14)]
SERVICE_GRAPH_BUCKETS = [0.1 * 2**power for power in range(8)]
TRACE_SERVICE = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# Defaults the stand-in needs even where a schema lacks the key (manifest values).
FALLBACKS: dict[str, Any] = {
    "target": "all", "http_api_prefix": "", "multitenancy_enabled": False,
    "server.http_listen_address": "", "server.http_listen_port": 3200,
    "server.grpc_listen_address": "", "server.grpc_listen_port": 9095,
    "server.log_level": "info", "server.log_format": "logfmt",
    "storage.trace.backend": "", "storage.trace.blocklist_poll": 300 * 10**9,
    "storage.trace.blocklist_poll_concurrency": 50, "storage.trace.cache": "",
    "storage.trace.wal.path": "/var/tempo/wal", "storage.trace.local.path": "",
    "live_store.wal.path": "/var/tempo/live-store/traces",
    "live_store.shutdown_marker_dir": "/var/tempo/live-store/shutdown-marker",
    "live_store.complete_block_timeout": 20 * 60 * 10**9,
    "backend_scheduler.local_work_path": "/var/tempo",
    "backend_scheduler.work.prune_age": 3600 * 10**9,
    "backend_worker.compaction.block_retention": 336 * 3600 * 10**9,
    "backend_worker.compaction.retention_concurrency": 10,
    "backend_worker.compaction.compaction_cycle": 30 * 10**9,
    "metrics_generator.storage.path": "", "metrics_generator.storage.remote_write": [],
    "metrics_generator.registry.collection_interval": 15 * 10**9,
    "metrics_generator.processor.service_graphs.wait": 10 * 10**9,
    "metrics_generator.processor.service_graphs.histogram_buckets": SERVICE_GRAPH_BUCKETS,
    "metrics_generator.processor.span_metrics.histogram_buckets": SPAN_METRICS_BUCKETS,
    "distributor.receivers": {}, "distributor.log_received_spans.enabled": False,
    "distributor.log_discarded_spans.enabled": False,
    "query_frontend.mcp_server.enabled": False,
    "query_frontend.trace_by_id.concurrent_shards": 0,
    "query_frontend.trace_by_id.query_shards": 50,
    "overrides.defaults.metrics_generator.processors": [],
    "overrides.defaults.compaction.block_retention": 0,
    "usage_report.reporting_enabled": True,
}


def load_schema() -> dict[str, Any]:
    return load_schema_file(SCHEMA_PATHS, "tempo")


def cfg(config: dict[str, Any], path: str, default: Any = None) -> Any:
    """A config value by dotted path; the manifest default where the schema has no key."""
    value: Any = config
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return FALLBACKS.get(path, default)
        value = value[part]
    return FALLBACKS.get(path, default) if value is None and path in FALLBACKS else value


def duration_ns(value: Any) -> int:
    """A duration as the decoder left it: ns, or a Go duration string in untyped maps."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value:
        return go_parse_duration(value)
    return 0


def config_warnings(config: dict[str, Any]) -> list[tuple[str, str]]:
    """app.Config.CheckConfig: (message, explanation) for each suspect setting."""
    poll = duration_ns(cfg(config, "storage.trace.blocklist_poll"))
    warnings: list[tuple[str, str]] = []
    if duration_ns(cfg(config, "live_store.complete_block_timeout")) < poll:
        warnings.append(("live_store.complete_block_timeout < storage.trace.blocklist_poll",
                         "You may receive 404s between the time the live-store has flushed a "
                         "trace and the querier is aware of the new block"))
    if duration_ns(cfg(config, "backend_worker.compaction.block_retention")) < poll:
        # Upstream's message names compacted_block_timeout although it compares retention.
        warnings.append(("backend_worker.compaction.compacted_block_timeout < "
                         "storage.trace.blocklist_poll", "Queriers and Backend-workers may "
                         "attempt to read a block that no longer exists"))
    if cfg(config, "backend_worker.compaction.retention_concurrency") == 0:
        warnings.append(("backend_worker.Compactor.RetentionConcurrency must be greater than "
                         "zero. Using default.", "default=10"))
    if cfg(config, "storage.trace.blocklist_poll_concurrency") == 0:
        warnings.append(("c.StorageConfig.Trace.BlocklistPollConcurrency must be greater than "
                         "zero. Using default.", "default=50"))
    if cfg(config, "distributor.log_received_spans.enabled"):
        warnings.append(("Span logging is enabled. This is for debugging only and not "
                         "recommended for production deployments.", ""))
    if cfg(config, "distributor.log_discarded_spans.enabled"):
        warnings.append(("Span logging for discarded traces is enabled. This is for debugging "
                         "only and not recommended for production deployments.", ""))
    if cfg(config, "storage.trace.backend") == "local" and cfg(config, "target") not in (
            "all", "scalable-single-binary"):
        warnings.append(("Local backend will not correctly retrieve traces with a distributed "
                         "deployment unless all components have access to the same disk. You "
                         "should probably be using object storage as a backend.", ""))
    if cfg(config, "query_frontend.mcp_server.enabled"):
        warnings.append(("c.Frontend.MCPServer.Enabled is enabled.", "Querying Tempo with an "
                         "LLM will result in tracing data being sent to the LLM. Review your "
                         "LLM provider's documentation and confirm you are comfortable with "
                         "this."))
    if cfg(config, "storage.trace.cache"):
        warnings.append(("c.StorageConfig.Trace.Cache is deprecated and will be removed in a "
                         "future release.", "Please migrate to the top level cache settings "
                         "config."))
    if (cfg(config, "query_frontend.trace_by_id.concurrent_shards") or 0) > (
            cfg(config, "query_frontend.trace_by_id.query_shards") or 0):
        warnings.append(("c.Frontend.TraceByID.ConcurrentShards greater than query_shards is "
                         "invalid. concurrent_shards will be set to query_shards",
                         "Please remove ConcurrentShards or set it to a value less than or "
                         "equal to QueryShards"))
    if duration_ns(cfg(config, "backend_scheduler.work.prune_age")) <= 2 * poll:
        warnings.append(("c.BackendScheduler.Work.PruneAge must be greater than 2x the "
                         "storage.trace.blocklist_poll duration", "The backend scheduler needs "
                         "not to prune work faster than the block list poll duration"))
    return warnings


# --- OTLP traces: protobuf and JSON to one shape ------------------------------------------

class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def hex_id(raw: bytes) -> str:
    return raw.hex()


def decode_span(buf: memoryview, span: tuple[int, int]) -> dict[str, Any]:
    """opentelemetry.proto.trace.v1.Span as a dict with hex ids and int nanoseconds."""
    out: dict[str, Any] = {"traceId": "", "spanId": "", "parentSpanId": "", "name": "",
                           "kind": 0, "startTimeUnixNano": 0, "endTimeUnixNano": 0,
                           "attributes": [], "status": {}}
    for number, wire, value in proto_fields(buf, span[0], span[1]):
        if number in (1, 2, 4):
            proto_expect(wire, 2, "span id")
            key = {1: "traceId", 2: "spanId", 4: "parentSpanId"}[number]
            out[key] = hex_id(bytes(buf[value[0]:value[1]]))
        elif number == 3 and wire == 2:
            out["traceState"] = bytes(buf[value[0]:value[1]]).decode("utf-8", "replace")
        elif number == 5 and wire == 2:
            out["name"] = bytes(buf[value[0]:value[1]]).decode("utf-8", "replace")
        elif number == 6:
            out["kind"] = value
        elif number in (7, 8):
            out["startTimeUnixNano" if number == 7 else "endTimeUnixNano"] = value
        elif number == 9:
            out["attributes"].append(otlp_key_value(buf, value))
        elif number == 15:
            status: dict[str, Any] = {}
            for field, _wire, item in proto_fields(buf, value[0], value[1]):
                if field == 2:
                    status["message"] = bytes(buf[item[0]:item[1]]).decode("utf-8", "replace")
                elif field == 3:
                    status["code"] = item
            out["status"] = status
    return out


def decode_traces_proto(data: bytes) -> list[dict[str, Any]]:
    """ExportTraceServiceRequest -> resourceSpans with hex ids."""
    buf = memoryview(data)
    batches = []
    for number, wire, value in proto_fields(buf, 0, len(buf)):
        if number != 1:
            continue
        proto_expect(wire, 2, "resource_spans")
        batch: dict[str, Any] = {"resource": {"attributes": []}, "scopeSpans": []}
        for field, fwire, item in proto_fields(buf, value[0], value[1]):
            if field == 1:
                for rfield, _rwire, ritem in proto_fields(buf, item[0], item[1]):
                    if rfield == 1:
                        batch["resource"]["attributes"].append(otlp_key_value(buf, ritem))
            elif field == 2:
                proto_expect(fwire, 2, "scope_spans")
                scope_spans: dict[str, Any] = {"scope": {}, "spans": []}
                for sfield, _swire, sitem in proto_fields(buf, item[0], item[1]):
                    if sfield == 1:
                        for cfield, _cwire, citem in proto_fields(buf, sitem[0], sitem[1]):
                            if cfield in (1, 2):
                                scope_spans["scope"]["name" if cfield == 1 else "version"] = \
                                    bytes(buf[citem[0]:citem[1]]).decode("utf-8", "replace")
                    elif sfield == 2:
                        scope_spans["spans"].append(decode_span(buf, sitem))
                batch["scopeSpans"].append(scope_spans)
        batches.append(batch)
    return batches


def json_id(value: Any) -> str:
    """OTLP/JSON ids are hex (the spec); base64 is what gogo jsonpb writes: take either."""
    text = str(value or "")
    if re.fullmatch(r"[0-9a-fA-F]*", text) and len(text) in (0, 16, 32):
        return text.lower()
    try:
        return base64.b64decode(text, validate=True).hex()
    except ValueError:
        raise BadRequest(f"invalid id {text!r}") from None


def decode_traces_json(data: bytes) -> list[dict[str, Any]]:
    try:
        payload = json.loads(data or b"{}")
    except ValueError as error:
        raise BadRequest(f"failed to unmarshal request body: {error}") from None
    if not isinstance(payload, dict):
        raise BadRequest("failed to unmarshal request body: not an object")
    batches = []
    for batch in payload.get("resourceSpans") or []:
        out: dict[str, Any] = {"resource": {"attributes": list(
            (batch.get("resource") or {}).get("attributes") or [])}, "scopeSpans": []}
        for scope in batch.get("scopeSpans") or []:
            spans = []
            for span in scope.get("spans") or []:
                kind = span.get("kind", 0)
                if isinstance(kind, str):
                    kind = SPAN_KINDS.index(kind) if kind in SPAN_KINDS else 0
                status = dict(span.get("status") or {})
                if isinstance(status.get("code"), str):
                    status["code"] = STATUS_CODES.index(status["code"]) \
                        if status["code"] in STATUS_CODES else 0
                spans.append({
                    "traceId": json_id(span.get("traceId")), "spanId": json_id(span.get("spanId")),
                    "parentSpanId": json_id(span.get("parentSpanId")),
                    "name": str(span.get("name", "")), "kind": int(kind),
                    "startTimeUnixNano": int(span.get("startTimeUnixNano") or 0),
                    "endTimeUnixNano": int(span.get("endTimeUnixNano") or 0),
                    "attributes": list(span.get("attributes") or []), "status": status})
            out["scopeSpans"].append({"scope": scope.get("scope") or {}, "spans": spans})
        batches.append(out)
    return batches


def attributes(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {item.get("key", ""): otlp_plain(item.get("value") or {}) for item in items}


def b64_id(hex_text: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_text)).decode() if hex_text else ""


def api_span(span: dict[str, Any]) -> dict[str, Any]:
    """A stored span as tempopb's JSON: base64 ids, int64 times as strings, enum names."""
    out: dict[str, Any] = {"traceId": b64_id(span["traceId"]), "spanId": b64_id(span["spanId"])}
    if span.get("parentSpanId"):
        out["parentSpanId"] = b64_id(span["parentSpanId"])
    if span.get("traceState"):
        out["traceState"] = span["traceState"]
    out.update({"name": span["name"], "kind": SPAN_KINDS[span["kind"]] if 0 <= span["kind"]
                < len(SPAN_KINDS) else span["kind"],
                "startTimeUnixNano": str(span["startTimeUnixNano"]),
                "endTimeUnixNano": str(span["endTimeUnixNano"])})
    if span.get("attributes"):
        out["attributes"] = span["attributes"]
    status = span.get("status") or {}
    out["status"] = {key: (STATUS_CODES[value] if key == "code" and 0 <= value < 3 else value)
                     for key, value in status.items()}
    return out


def trace_id_hex(text: str) -> str | None:
    """util.HexStringToTraceID: up to 32 hex digits, left-padded with zeros."""
    if not re.fullmatch(r"[0-9a-fA-F]{1,32}", text):
        return None
    return text.lower().rjust(32, "0")


def exemplar_trace_id(hex_text: str) -> str:
    """util.TraceIDToHexString: the id without its leading zeros (what upstream writes)."""
    return hex_text.lstrip("0") or "0"


# --- TraceQL subset ------------------------------------------------------------------------

class QueryError(Exception):
    pass


CONDITION_RE = re.compile(r"""\s*(?P<attr>(resource|span)?\.[\w.\-]+|name|status|kind|
                              rootServiceName|rootName)\s*(?P<op>=~|!=|=)\s*
                              (?P<value>"(?:[^"\\]|\\.)*"|[\w.\-]+)\s*""", re.VERBOSE)


def parse_traceql(query: str) -> list[tuple[str, str, str]]:
    """`{ cond && cond }` -> [(attribute, op, value)]; `{}` -> []."""
    text = query.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise QueryError(f"parse error unexpected {text[:1] or 'EOF'}: the stand-in reads "
                         "only { ... } span selectors")
    inner = text[1:-1].strip()
    if not inner:
        return []
    conditions = []
    for part in inner.split("&&"):
        match = CONDITION_RE.fullmatch(part)
        if not match:
            raise QueryError(f"parse error: the stand-in cannot read {part.strip()!r}")
        value = match.group("value")
        if value.startswith('"'):
            value = json.loads(value)
        # A bare word (a status or kind from STATUS_NAMES) compares as written.
        conditions.append((match.group("attr"), match.group("op"), value))
    return conditions


STATUS_NAMES = {"unset", "ok", "error", "server", "client", "internal", "producer",
                "consumer", "unspecified"}


def span_value(attr: str, span: dict[str, Any], resource: dict[str, Any]) -> list[Any]:
    if attr == "name":
        return [span["name"]]
    if attr == "status":
        return [["unset", "ok", "error"][span.get("status", {}).get("code", 0) % 3]]
    if attr == "kind":
        return [SPAN_KINDS[span["kind"]].removeprefix("SPAN_KIND_").lower()]
    own = attributes(span.get("attributes", []))
    name = attr.split(".", 1)[1]
    if attr.startswith("resource."):
        return [resource[name]] if name in resource else []
    if attr.startswith("span."):
        return [own[name]] if name in own else []
    return [source[name] for source in (own, resource) if name in source]


def condition_holds(condition: tuple[str, str, str], values: list[Any]) -> bool:
    attr, op, wanted = condition
    del attr
    texts = [str(value).lower() if isinstance(value, bool) else str(value) for value in values]
    if op == "=":
        return wanted in texts
    if op == "!=":
        return bool(texts) and wanted not in texts
    return any(re.fullmatch(wanted, text) for text in texts)


# --- storage: the live-store's WAL as JSON lines, append + fsync -------------------------

class Trace:
    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self.batches: list[dict[str, Any]] = []
        self.received = 0

    def spans(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(span, resource attributes) pairs."""
        out = []
        for batch in self.batches:
            resource = attributes(batch["resource"]["attributes"])
            for scope in batch["scopeSpans"]:
                out.extend((span, resource) for span in scope["spans"])
        return out


class Store:
    """Traces per tenant; every push is one fsynced line before it is acknowledged, and
    the file is replayed at start (so kill -9 and restarts keep what was accepted)."""

    def __init__(self, directory: str) -> None:
        self.path = Path(directory) / WAL_FILE
        self.lock = threading.Lock()
        self.tenants: dict[str, dict[str, Trace]] = {}
        self.handle: Any = None

    def apply(self, record: dict[str, Any]) -> None:
        traces = self.tenants.setdefault(record["tenant"], {})
        for trace_id, batches in record["traces"].items():
            trace = traces.get(trace_id)
            if trace is None:
                trace = traces[trace_id] = Trace(trace_id)
            trace.batches.extend(batches)
            trace.received = max(trace.received, record["received"])

    def load(self) -> int:
        count = 0
        if self.path.exists():
            with open(self.path, "rb") as source:
                for line in source:
                    try:
                        self.apply(json.loads(line))
                        count += 1
                    except (ValueError, KeyError):
                        break  # a torn last line from a kill: what follows was never acked
        self.handle = open(self.path, "ab")  # noqa: SIM115 - kept open for appends
        return count

    def write(self, tenant: str, traces: dict[str, list[dict[str, Any]]]) -> None:
        record = {"tenant": tenant, "received": time.time_ns(), "traces": traces}
        line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        with self.lock:
            self.handle.write(line)
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.apply(record)

    def drop_older_than(self, tenant_retention: dict[str, int], default: int) -> int:
        """Retention: traces last written before now - retention go, and the file is
        rewritten without them."""
        now = time.time_ns()
        dropped = 0
        with self.lock:
            for tenant, traces in self.tenants.items():
                limit = now - tenant_retention.get(tenant, default)
                for trace_id in [key for key, trace in traces.items() if trace.received < limit]:
                    del traces[trace_id]
                    dropped += 1
            if dropped:
                scratch = self.path.with_suffix(".tmp")
                with open(scratch, "wb") as out:
                    for tenant, traces in self.tenants.items():
                        for trace_id, trace in traces.items():
                            out.write(json.dumps({"tenant": tenant, "received": trace.received,
                                                  "traces": {trace_id: trace.batches}},
                                                 separators=(",", ":")).encode() + b"\n")
                    out.flush()
                    os.fsync(out.fileno())
                self.handle.close()
                os.replace(scratch, self.path)
                self.handle = open(self.path, "ab")  # noqa: SIM115
        return dropped

    def close(self) -> None:
        with self.lock:
            if self.handle is not None:
                self.handle.close()
                self.handle = None


# --- metrics generator ---------------------------------------------------------------------

class Series:
    def __init__(self) -> None:
        self.value = 0.0
        self.exemplars: list[tuple[str, float, int]] = []


class Generator:
    """The service-graphs and span-metrics processors and their remote write."""

    def __init__(self, app: Tempo) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.series: dict[tuple[tuple[str, str], ...], Series] = {}
        # service graph edges waiting for their other half: (trace, client span id) -> half
        self.pending: dict[tuple[str, str], dict[str, Any]] = {}
        self.sent_batches = 0
        self.failed_batches = 0

    def processors(self, tenant: str) -> list[str]:
        del tenant
        return list(cfg(self.app.config, "overrides.defaults.metrics_generator.processors")
                    or [])

    def add(self, name: str, labels: dict[str, str], value: float,
            exemplar: tuple[str, float, int] | None = None) -> None:
        key = tuple(sorted({"__name__": name, **{k: v for k, v in labels.items() if v}}.items()))
        series = self.series.setdefault(key, Series())
        series.value += value
        if exemplar is not None:
            series.exemplars.append(exemplar)

    def observe(self, name: str, labels: dict[str, str], seconds: float, buckets: list[float],
                exemplar: tuple[str, float, int]) -> None:
        placed = False
        for bound in [*buckets, float("inf")]:
            inside = seconds <= bound
            self.add(f"{name}_bucket", {**labels, "le": format_le(bound)}, 1 if inside else 0,
                     exemplar if inside and not placed else None)
            placed = placed or inside
        self.add(f"{name}_sum", labels, seconds)
        self.add(f"{name}_count", labels, 1)

    def push(self, tenant: str, traces: dict[str, list[dict[str, Any]]]) -> None:
        chosen = self.processors(tenant)
        if not chosen:
            return
        now_ms = time.time_ns() // 10**6
        span_buckets = [float(item) for item in cfg(
            self.app.config, "metrics_generator.processor.span_metrics.histogram_buckets")]
        graph_buckets = [float(item) for item in cfg(
            self.app.config, "metrics_generator.processor.service_graphs.histogram_buckets")]
        with self.lock:
            for trace_id, batches in traces.items():
                trace = Trace(trace_id)
                trace.batches = batches
                for span, resource in trace.spans():
                    seconds = max(0, span["endTimeUnixNano"] - span["startTimeUnixNano"]) / 1e9
                    service = str(resource.get("service.name", ""))
                    exemplar = (exemplar_trace_id(trace_id), seconds, now_ms)
                    status = span.get("status", {}).get("code", 0)
                    if "span-metrics" in chosen:
                        labels = {"service": service, "span_name": span["name"],
                                  "span_kind": SPAN_KINDS[span["kind"] % 6],
                                  "status_code": STATUS_CODES[status % 3]}
                        self.add("traces_spanmetrics_calls_total", labels, 1, exemplar)
                        self.observe("traces_spanmetrics_latency", labels, seconds,
                                     span_buckets, exemplar)
                    if "service-graphs" in chosen:
                        self.graph_half(trace_id, span, service, seconds, status, graph_buckets,
                                        exemplar)

    def graph_half(self, trace_id: str, span: dict[str, Any], service: str, seconds: float,
                   status: int, buckets: list[float], exemplar: tuple[str, float, int]) -> None:
        """A client span and the server span whose parent it is make one edge."""
        if span["kind"] in (3, 4):  # client, producer
            key, side = (trace_id, span["spanId"]), "client"
        elif span["kind"] in (2, 5) and span.get("parentSpanId"):  # server, consumer
            key, side = (trace_id, span["parentSpanId"]), "server"
        else:
            return
        half = self.pending.setdefault(key, {"since": time.monotonic()})
        half[side] = (service, seconds, status)
        if "client" in half and "server" in half:
            del self.pending[key]
            client, server = half["client"], half["server"]
            labels = {"client": client[0], "server": server[0]}
            self.add("traces_service_graph_request_total", labels, 1)
            if client[2] == 2 or server[2] == 2:
                self.add("traces_service_graph_request_failed_total", labels, 1)
            self.observe("traces_service_graph_request_server_seconds", labels, server[1],
                         buckets, exemplar)
            self.observe("traces_service_graph_request_client_seconds", labels, client[1],
                         buckets, exemplar)

    def expire(self) -> None:
        wait = duration_ns(cfg(self.app.config,
                               "metrics_generator.processor.service_graphs.wait")) / 1e9
        now = time.monotonic()
        with self.lock:
            for key in [key for key, half in self.pending.items() if now - half["since"] > wait]:
                side = "client" if "client" in self.pending[key] else "server"
                self.add("traces_service_graph_unpaired_spans_total",
                         {side: self.pending[key][side][0]}, 1)
                del self.pending[key]

    def write_request(self, send_exemplars: bool) -> bytes:
        now_ms = time.time_ns() // 10**6
        body = bytearray()
        with self.lock:
            for key, series in self.series.items():
                payload = b"".join(proto_len(1, proto_len(1, name.encode()) +
                                             proto_len(2, value.encode())) for name, value in key)
                payload += proto_len(2, proto_fixed_double(1, series.value) +
                                     proto_uint(2, now_ms))
                if send_exemplars:
                    for trace_id, value, stamp in series.exemplars:
                        payload += proto_len(3, proto_len(1, proto_len(1, b"trace_id") +
                                                          proto_len(2, trace_id.encode())) +
                                             proto_fixed_double(2, value) + proto_uint(3, stamp))
                body += proto_len(1, payload)
        return bytes(body)

    def collect(self) -> None:
        """One collection: every series (and the exemplars gathered since) to each target."""
        self.expire()
        targets = cfg(self.app.config, "metrics_generator.storage.remote_write") or []
        if not self.series or not targets:
            return
        for target in targets:
            body = snappy_compress(self.write_request(bool(target.get("send_exemplars"))))
            self.send(target, body)
        with self.lock:
            for series in self.series.values():
                series.exemplars.clear()

    def send(self, target: dict[str, Any], body: bytes) -> None:
        url = str(target.get("url", ""))
        headers = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                   "User-Agent": f"Tempo/{VERSION}",
                   "X-Prometheus-Remote-Write-Version": "0.1.0",
                   **{str(k): str(v) for k, v in (target.get("headers") or {}).items()}}
        if self.app.multitenant() and cfg(
                self.app.config, "metrics_generator.storage.remote_write_add_org_id_header", True):
            headers.setdefault("X-Scope-OrgID", self.app.last_tenant)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30,
                                        context=client_tls(target.get("tls_config"))) as answer:
                answer.read()
            self.sent_batches += 1
        except urllib.error.HTTPError as error:
            self.failed_batches += 1
            self.app.log("warn", "Failed to send batch, retrying", remote_name=url,
                         err=f"server returned HTTP status {error.code} {error.reason}: "
                             f"{error.read()[:256].decode(errors='replace').strip()}")
        except (OSError, ValueError) as error:
            self.failed_batches += 1
            self.app.log("warn", "Failed to send batch, retrying", remote_name=url,
                         err=str(getattr(error, "reason", error)))


def format_le(bound: float) -> str:
    if bound == float("inf"):
        return "+Inf"
    text = repr(round(bound, 6))
    return text[:-2] if text.endswith(".0") else text


def client_tls(tls: dict[str, Any] | None) -> ssl.SSLContext | None:
    """prometheus/common's TLSConfig for a remote-write client (ca/ca_file, cert/key files,
    server_name, insecure_skip_verify)."""
    if not tls:
        return None
    context = ssl.create_default_context()
    if tls.get("ca_file"):
        context.load_verify_locations(cafile=tls["ca_file"])
    elif tls.get("ca"):
        context.load_verify_locations(cadata=str(tls["ca"]))
    if tls.get("cert_file") and tls.get("key_file"):
        context.load_cert_chain(tls["cert_file"], tls["key_file"])
    if tls.get("insecure_skip_verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif tls.get("server_name"):
        server_name = str(tls["server_name"])
        wrap = context.wrap_socket

        def wrap_with_name(sock: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs["server_hostname"] = server_name
            return wrap(sock, *args, **kwargs)
        context.wrap_socket = wrap_with_name  # type: ignore[method-assign]
    return context


# --- the application -----------------------------------------------------------------------

def receiver_tls(tls: dict[str, Any] | None, alpn: str) -> ssl.SSLContext | None:
    """configtls.ServerConfig: cert_file/key_file (or inline cert_pem/key_pem), client_ca_file."""
    if not tls:
        return None
    context = server_tls_context({
        "cert_file": tls.get("cert_file", ""), "key_file": tls.get("key_file", ""),
        "cert": tls.get("cert_pem", ""), "key": tls.get("key_pem", ""),
        "client_ca": "", "client_ca_file": tls.get("client_ca_file", ""),
        "client_auth_type": "RequireAndVerifyClientCert" if tls.get("client_ca_file") else ""})
    if context is not None:
        context.set_alpn_protocols([alpn])
    return context


def split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _sep, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)


class Tempo(StandinApp):
    level_first = True

    def __init__(self, config: dict[str, Any], schema: dict[str, Any]) -> None:
        super().__init__(str(cfg(config, "server.log_level")))
        self.log_format = str(cfg(config, "server.log_format"))
        self.config = config
        self.schema = schema
        self.modules = TARGET_MODULES.get(str(cfg(config, "target")), ALL_MODULES)
        self.running: set[str] = set()
        self.store = Store(str(cfg(config, "live_store.wal.path")))
        self.generator = Generator(self)
        self.metrics_lock = threading.Lock()
        self.spans_received: dict[str, int] = {}
        self.bytes_received: dict[str, int] = {}
        self.requests: dict[tuple[str, int], int] = {}
        self.queries_served = threading.Event()
        self.shutdown_requested = threading.Event()
        self.last_tenant = SINGLE_TENANT
        self.started = time.time()

    def multitenant(self) -> bool:
        return bool(cfg(self.config, "multitenancy_enabled")) or bool(
            cfg(self.config, "auth_enabled", False))

    def tenant_of(self, headers: Any) -> tuple[str | None, str]:
        if not self.multitenant():
            return SINGLE_TENANT, ""
        org = headers.get("X-Scope-OrgID") if headers is not None else None
        if not org:
            return None, "no org id"
        return org.split("|")[0], ""

    def ready_problem(self) -> str:
        if self.shutdown_requested.is_set():
            return "Application is stopping"
        missing = [module for module in self.modules if module not in self.running]
        if missing:
            return (f"Some services are not Running:\nRunning: {len(self.running)}\n"
                    f"Starting: {len(missing)}\n")
        return ""

    def data_directories(self) -> list[str]:
        paths = []
        if "live-store" in self.modules:
            paths += [cfg(self.config, "live_store.wal.path"),
                      cfg(self.config, "live_store.shutdown_marker_dir")]
        if "metrics-generator" in self.modules:
            paths.append(cfg(self.config, "metrics_generator.storage.path"))
        if set(self.modules) & {"backend-scheduler"}:
            paths.append(cfg(self.config, "backend_scheduler.local_work_path"))
        paths.append(cfg(self.config, "storage.trace.wal.path"))
        if cfg(self.config, "storage.trace.backend") == "local":
            paths.append(cfg(self.config, "storage.trace.local.path"))
        return [str(path) for path in paths if path]

    def start(self) -> None:
        """Modules come up in order; /ready answers 200 once all of this target's run."""
        prefix = str(cfg(self.config, "http_api_prefix") or "")
        del prefix
        try:
            http_tls = server_tls_context(self.http_tls())
        except TLSConfigError as error:
            self.log("error", "error initialising module: server", err=str(error))
            raise SystemExit(1) from None
        http = self.listen(str(cfg(self.config, "server.http_listen_address")),
                           int(cfg(self.config, "server.http_listen_port")))
        grpc = self.listen(str(cfg(self.config, "server.grpc_listen_address")),
                           int(cfg(self.config, "server.grpc_listen_port")))
        self.serve_http(http, Handler, http_tls)
        self.tcp_only(grpc, "internal gRPC")
        self.log("info", "server listening on addresses",
                 http=f"{http.getsockname()[0]}:{http.getsockname()[1]}",
                 grpc=f"{grpc.getsockname()[0]}:{grpc.getsockname()[1]}")
        self.running.add("server")
        if not cfg(self.config, "usage_report.reporting_enabled"):
            self.log("info", "usage report is disabled")
        threading.Thread(target=self.start_modules, daemon=True, name="modules").start()

    def http_tls(self) -> dict[str, Any]:
        tls = dict(cfg(self.config, "server.http_tls_config", {}) or {})
        for key in ("cert", "key", "client_ca", "cert_file", "key_file", "client_auth_type",
                    "client_ca_file"):
            tls[key] = tls.get(key) or ""
        return tls

    def start_modules(self) -> None:
        for module in self.modules:
            if module == "server":
                continue
            try:
                self.start_module(module)
            except (OSError, ConfigError) as error:
                self.log("error", f"error starting module {module}", err=str(error))
                os.kill(os.getpid(), signal.SIGKILL if self.stopping.is_set() else signal.SIGTERM)
                return
            self.running.add(module)
            self.log("info", "module started", module=module)

    def start_module(self, module: str) -> None:
        if module == "live-store":
            for path in self.data_directories():
                Path(path).mkdir(parents=True, exist_ok=True)
            Path(str(cfg(self.config, "live_store.wal.path"))).mkdir(parents=True,
                                                                     exist_ok=True)
            records = self.store.load()
            self.log("info", "replayed WAL", records=records)
        elif module == "distributor":
            self.start_receivers()
        elif module == "metrics-generator":
            path = cfg(self.config, "metrics_generator.storage.path")
            if path:
                Path(str(path)).mkdir(parents=True, exist_ok=True)
            threading.Thread(target=self.collect_loop, daemon=True, name="generator").start()
        elif module == "backend-worker":
            threading.Thread(target=self.retention_loop, daemon=True, name="retention").start()
        elif module in ("backend-scheduler",):
            path = cfg(self.config, "backend_scheduler.local_work_path")
            if path:
                Path(str(path)).mkdir(parents=True, exist_ok=True)

    def start_receivers(self) -> None:
        """distributor.receivers; when it is empty upstream starts its fallback receivers
        (the schema's facts: OTLP gRPC and Jaeger gRPC/thrift_http). Each protocol without an
        endpoint takes the collector's localhost default. Only OTLP is spoken: other
        receivers' ports accept and close connections."""
        facts = self.schema.get("facts", {}).get("receivers", {})
        receivers = cfg(self.config, "distributor.receivers") or facts.get(
            "when_empty", {"otlp": {"protocols": {"grpc": None}}})
        endpoints = facts.get("default_endpoints", {})
        for name, receiver in receivers.items():
            if name == "otlp":
                continue
            for protocol, settings in ((receiver or {}).get("protocols") or {}).items():
                default = endpoints.get(name, {}).get(protocol)
                endpoint = str((settings or {}).get("endpoint") or default or "")
                if endpoint:
                    self.tcp_only(self.listen(*split_endpoint(endpoint)), f"{name}-{protocol}")
        protocols = (receivers.get("otlp") or {}).get("protocols") or {}
        otlp_defaults = endpoints.get("otlp", {})
        if "http" in protocols:
            http = protocols["http"] or {}
            host, port = split_endpoint(str(http.get("endpoint") or
                                            otlp_defaults.get("http", "localhost:4318")))
            sock = self.listen(host, port)
            self.serve_http(sock, OTLPHandler, receiver_tls(http.get("tls"), "http/1.1"))
            self.log("info", "Starting HTTP server", endpoint=f"{host}:{port}")
        if "grpc" in protocols:
            grpc = protocols["grpc"] or {}
            host, port = split_endpoint(str(grpc.get("endpoint") or
                                            otlp_defaults.get("grpc", "localhost:4317")))
            sock = self.listen(host, port)
            GrpcServer(sock, self.grpc_call, self.log, receiver_tls(grpc.get("tls"), "h2"),
                       "otlp-grpc", self.stopping).start()
            self.log("info", "Starting GRPC server", endpoint=f"{host}:{port}")

    def grpc_call(self, path: str, message: bytes, headers: dict[str, str]) -> GrpcReply:
        if path != TRACE_SERVICE:
            return GrpcReply(12, f"unknown service {path.strip('/').rsplit('/', 1)[0]}")
        tenant, problem = self.tenant_of({"X-Scope-OrgID": headers.get("x-scope-orgid")})
        if tenant is None:
            return GrpcReply(16, problem)
        try:
            batches = decode_traces_proto(message)
        except DecodeError as error:
            return GrpcReply(3, f"proto: {error}")
        self.push(tenant, batches, len(message))
        return GrpcReply()

    def push(self, tenant: str, batches: list[dict[str, Any]], size: int) -> None:
        """Regroups the batches by trace id (as the distributor does), stores, meters."""
        by_trace: dict[str, list[dict[str, Any]]] = {}
        count = 0
        for batch in batches:
            for scope in batch["scopeSpans"]:
                for span in scope["spans"]:
                    if not span["traceId"] or span["traceId"] == "0" * 32:
                        continue
                    count += 1
                    parts = by_trace.setdefault(span["traceId"], [])
                    if not parts or parts[-1]["resource"] is not batch["resource"]:
                        parts.append({"resource": batch["resource"], "scopeSpans": []})
                    scopes = parts[-1]["scopeSpans"]
                    if not scopes or scopes[-1]["scope"] != scope.get("scope", {}):
                        scopes.append({"scope": scope.get("scope", {}), "spans": []})
                    scopes[-1]["spans"].append(span)
        if not by_trace:
            return
        self.store.write(tenant, by_trace)
        self.last_tenant = tenant
        with self.metrics_lock:
            self.spans_received[tenant] = self.spans_received.get(tenant, 0) + count
            self.bytes_received[tenant] = self.bytes_received.get(tenant, 0) + size
        if "metrics-generator" in self.modules:
            self.generator.push(tenant, by_trace)

    def collect_loop(self) -> None:
        interval = duration_ns(cfg(self.config,
                                   "metrics_generator.registry.collection_interval")) / 1e9
        while not self.stopping.wait(interval or 15):
            try:
                self.generator.collect()
            except Exception as error:  # noqa: BLE001 - a failed collection is logged, retried
                self.log("error", "collecting metrics failed", err=repr(error))

    def retention_loop(self) -> None:
        cycle = duration_ns(cfg(self.config, "backend_worker.compaction.compaction_cycle")) / 1e9
        while True:
            self.apply_retention()
            if self.stopping.wait(cycle or 30):
                return

    def retention(self) -> int:
        per_tenant = duration_ns(cfg(self.config, "overrides.defaults.compaction.block_retention"))
        return per_tenant or duration_ns(cfg(self.config,
                                             "backend_worker.compaction.block_retention"))

    def apply_retention(self) -> None:
        dropped = self.store.drop_older_than({}, self.retention())
        if dropped:
            self.log("info", "retention: deleted traces", count=dropped)

    def find(self, tenant: str, trace_id: str) -> Trace | None:
        with self.store.lock:
            return self.store.tenants.get(tenant, {}).get(trace_id)

    def stop(self) -> None:
        """SIGTERM. Reproduced on purpose: Tempo 3.0.3 does not end after it has served
        queries (its backend worker waits on the scheduler, and the query path's shutdown
        deadlocks: grafana/tempo#7967, services.md "Stop"); the container's stop timeout
        kills it, so every restart costs the role's whole tempo_stop_timeout. Without
        queries served it stops cleanly. Accepted traces are already fsynced, so the kill
        loses nothing, as upstream's WAL does not."""
        self.shutdown_requested.set()
        self.log("info", "=== received SIGINT or SIGTERM ===\n*** exiting")
        if self.queries_served.is_set():
            self.log("info", "stopping backend-worker: waiting for the backend scheduler")
            while True:
                time.sleep(3600)
        self.stopping.set()
        self.close_listeners()
        self.store.close()
        self.log("info", "Tempo stopped")


# --- HTTP ----------------------------------------------------------------------------------

class Handler(StandinHandler):
    server_version = "tempo"

    def error(self, status: int, message: str) -> None:
        self.send(status, message.rstrip("\n") + "\n")

    def route(self) -> None:
        app: Tempo = self.server.app
        path = urlsplit(self.path).path
        prefix = str(cfg(app.config, "http_api_prefix") or "").rstrip("/")
        api = path[len(prefix):] if prefix and path.startswith(prefix + "/api/") else path
        status_holder = [200]
        try:
            self.dispatch(app, path, api)
        except QueryError as error:
            status_holder[0] = 400
            self.error(400, str(error))
        except BadRequest as error:
            status_holder[0] = error.status
            self.error(error.status, str(error))
        with app.metrics_lock:
            route = re.sub(r"[0-9a-fA-F]{8,}", "<id>", api)
            key = (route, status_holder[0])
            app.requests[key] = app.requests.get(key, 0) + 1

    def dispatch(self, app: Tempo, path: str, api: str) -> None:
        if path == "/ready":
            problem = app.ready_problem()
            # http.Error appends a newline to every message.
            self.send(503 if problem else 200, (problem or "ready") + "\n")
        elif path == "/metrics":
            self.metrics(app)
        elif path == "/status/config" or path == "/status":
            self.config_page(app)
        elif path in ("/status/version", "/api/status/buildinfo", "/status/buildinfo"):
            if path == "/status/version":
                self.send(200, "GET /status/version\n" + version_text() + "\n", "text/plain")
            else:
                self.send_json(200, {"version": VERSION, "revision": REVISION, "branch": BRANCH,
                                     "buildUser": "", "buildDate": "",
                                     "goVersion": GO_VERSION})
        elif api == "/api/echo":
            self.send(200, "echo", "text/plain; charset=utf-8")
        elif api.startswith("/api/traces/") or api.startswith("/api/v2/traces/"):
            self.trace_by_id(app, api)
        elif api in ("/api/search", "/api/search/tags", "/api/v2/search/tags") or (
                re.fullmatch(r"/api(/v2)?/search/tag/[^/]+/values", api)):
            self.search(app, api)
        else:
            self.send(404, "404 page not found\n")

    def tenant(self, app: Tempo) -> str | None:
        tenant, problem = app.tenant_of(self.headers)
        if tenant is None:
            self.send(401, problem + "\n")
        return tenant

    def config_page(self, app: Tempo) -> None:
        params = self.params()
        mode = first(params, "mode") or ""
        if mode not in ("", "defaults"):
            self.send(500, f"unknown value for mode query parameter: {mode}\n")
            return
        base = app.config if mode == "" else __import__("lgtm_standin").defaults(
            app.schema["root"])
        rendered = render_config(base, app.schema["root"], None)
        text = yaml.safe_dump(rendered, sort_keys=False, default_flow_style=False)
        self.send(200, "GET /status/config\n---\n" + text, "text/plain")

    def metrics(self, app: Tempo) -> None:
        lines = ["# HELP tempo_build_info Always 1; the labels name the stand-in's reported "
                 "build.", "# TYPE tempo_build_info gauge",
                 f'tempo_build_info{{branch="{BRANCH}",goarch="amd64",goos="linux",'
                 f'goversion="{GO_VERSION}",revision="{REVISION}",tags="unknown",'
                 f'version="{VERSION}"}} 1']
        with app.metrics_lock:
            lines += ["# HELP tempo_distributor_spans_received_total Spans accepted, by tenant.",
                      "# TYPE tempo_distributor_spans_received_total counter"]
            lines += [f'tempo_distributor_spans_received_total{{tenant="{tenant}"}} {count}'
                      for tenant, count in sorted(app.spans_received.items())]
            lines += ["# HELP tempo_distributor_bytes_received_total Protobuf bytes accepted, by "
                      "tenant.",
                      "# TYPE tempo_distributor_bytes_received_total counter"]
            lines += [f'tempo_distributor_bytes_received_total{{tenant="{tenant}"}} {count}'
                      for tenant, count in sorted(app.bytes_received.items())]
            lines += ["# HELP tempo_request_duration_seconds_count Requests by route and "
                      "status code (count only).",
                      "# TYPE tempo_request_duration_seconds_count counter"]
            lines += [f'tempo_request_duration_seconds_count{{route="{route}",'
                      f'status_code="{status}"}} {count}'
                      for (route, status), count in sorted(app.requests.items())]
        with app.store.lock:
            live = sum(len(traces) for traces in app.store.tenants.values())
        lines += ["# HELP tempo_live_store_live_traces Traces held in memory now.",
                  "# TYPE tempo_live_store_live_traces gauge",
                  f"tempo_live_store_live_traces {live}",
                  "# HELP tempo_metrics_generator_registry_active_series Series the metrics "
                  "generator holds now.",
                  "# TYPE tempo_metrics_generator_registry_active_series gauge",
                  f"tempo_metrics_generator_registry_active_series {len(app.generator.series)}",
                  "# HELP tempo_metrics_generator_remote_write_batches_total Remote-write "
                  "batches sent, by result (stand-in's own metric).",
                  "# TYPE tempo_metrics_generator_remote_write_batches_total counter",
                  f'tempo_metrics_generator_remote_write_batches_total{{result="success"}} '
                  f"{app.generator.sent_batches}",
                  f'tempo_metrics_generator_remote_write_batches_total{{result="failure"}} '
                  f"{app.generator.failed_batches}"]
        self.send(200, "\n".join(lines) + "\n", "text/plain; version=0.0.4; charset=utf-8")

    def trace_by_id(self, app: Tempo, api: str) -> None:
        tenant = self.tenant(app)
        if tenant is None:
            return
        app.queries_served.set()
        v2 = api.startswith("/api/v2/")
        raw = api.rsplit("/", 1)[1]
        trace_id = trace_id_hex(raw)
        if trace_id is None:
            self.send(400, "invalid traceID: trace IDs can't be larger than 128 bits\n"
                      if len(raw) > 32 else f"invalid traceID: {raw}\n")
            return
        trace = app.find(tenant, trace_id)
        if trace is None:
            if v2:
                self.send_json(200, {"trace": {}, "metrics": {}})
            else:
                self.send(404, "\n")
            return
        batches = [{"resource": batch["resource"], "scopeSpans": [
            {"scope": scope["scope"], "spans": [api_span(span) for span in scope["spans"]]}
            for scope in batch["scopeSpans"]]} for batch in trace.batches]
        if v2:
            self.send_json(200, {"trace": {"resourceSpans": batches},
                                 "metrics": {"inspectedBytes": "0"}, "status": "COMPLETE"})
        else:
            self.send_json(200, {"batches": batches})

    def search(self, app: Tempo, api: str) -> None:
        tenant = self.tenant(app)
        if tenant is None:
            return
        app.queries_served.set()
        params = self.params()
        with app.store.lock:
            traces = list(app.store.tenants.get(tenant, {}).values())
        if api == "/api/search":
            self.send_json(200, search_traces(traces, params))
            return
        pairs = [(scope, name, value) for trace in traces
                 for span, resource in trace.spans()
                 for scope, source in (("resource", resource),
                                       ("span", attributes(span.get("attributes", []))))
                 for name, value in source.items()]
        if api == "/api/search/tags":
            self.send_json(200, {"tagNames": sorted({name for _s, name, _v in pairs}),
                                 "metrics": {}})
        elif api == "/api/v2/search/tags":
            scopes = [{"name": scope, "tags": sorted({n for s, n, _v in pairs if s == scope})}
                      for scope in ("resource", "span")]
            scopes.append({"name": "intrinsic", "tags": [
                "duration", "event:name", "kind", "name", "rootName", "rootServiceName",
                "span:duration", "span:kind", "span:name", "span:status", "status",
                "statusMessage", "traceDuration"]})
            self.send_json(200, {"scopes": scopes, "metrics": {}})
        else:
            name = unquote(api.split("/")[-2])
            bare = re.sub(r"^(resource|span)?\.", "", name)
            scope = name.split(".", 1)[0] if name.startswith(("resource.", "span.")) else None
            values = sorted({str(value) for s, n, value in pairs
                             if n == bare and (scope is None or s == scope)})
            if api.startswith("/api/v2/"):
                self.send_json(200, {"tagValues": [{"type": "string", "value": value}
                                                   for value in values], "metrics": {}})
            else:
                self.send_json(200, {"tagValues": values, "metrics": {}})


def search_traces(traces: list[Trace], params: dict[str, list[str]]) -> dict[str, Any]:
    """/api/search: `tags=k=v k2=v2` (logfmt) or TraceQL `q=`, start/end in seconds."""
    conditions: list[tuple[str, str, str]] = []
    query = first(params, "q")
    if query:
        conditions = parse_traceql(query)
    for match in re.finditer(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S+)', first(params, "tags") or ""):
        value = match.group(2)
        conditions.append(("." + match.group(1), "=",
                           json.loads(value) if value.startswith('"') else value))
    limit = int(first(params, "limit") or 20)
    start = int(first(params, "start") or 0) * 10**9
    end = int(first(params, "end") or 0) * 10**9
    found = []
    for trace in sorted(traces, key=lambda item: -item.received):
        spans = trace.spans()
        if not spans:
            continue
        begin = min(span["startTimeUnixNano"] for span, _r in spans)
        finish = max(span["endTimeUnixNano"] for span, _r in spans)
        if (start and finish < start) or (end and begin > end):
            continue
        matched = [(span, resource) for span, resource in spans
                   if all(condition_holds(cond, span_value(cond[0], span, resource))
                          for cond in conditions)]
        if not matched:
            continue
        root = next((pair for pair in spans if not pair[0].get("parentSpanId")), spans[0])
        found.append({
            "traceID": trace.trace_id.lstrip("0") or "0",
            "rootServiceName": str(root[1].get("service.name", "<root span not yet received>")),
            "rootTraceName": root[0]["name"], "startTimeUnixNano": str(begin),
            "durationMs": (finish - begin) // 10**6,
            "spanSet": {"spans": [{"spanID": span["spanId"],
                                   "startTimeUnixNano": str(span["startTimeUnixNano"]),
                                   "durationNanos": str(span["endTimeUnixNano"] -
                                                        span["startTimeUnixNano"])}
                                  for span, _r in matched[:3]], "matched": len(matched)}})
        if len(found) >= limit:
            break
    for item in found:
        item["spanSets"] = [item["spanSet"]]
    return {"traces": found, "metrics": {"inspectedTraces": len(traces), "inspectedBytes": "0",
                                         "completedJobs": 1, "totalJobs": 1}}


class OTLPHandler(StandinHandler):
    """The otlp receiver's HTTP protocol: POST /v1/traces, protobuf or JSON, gzip allowed."""

    server_version = ""

    def route(self) -> None:
        app: Tempo = self.server.app
        path = urlsplit(self.path).path
        if path != "/v1/traces":
            self.send(404, "404 page not found\n")
            return
        if self.command != "POST":
            self.send(405, f"{self.command} method not allowed, supported: [POST]")
            return
        data = self.read_body(64 << 20) or b""
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                data = gzip.decompress(data)
            elif encoding == "deflate":
                data = zlib.decompress(data)
            elif encoding:
                raise BadRequest(f"{encoding}: unsupported Content-Encoding", 400)
            if content_type == "application/x-protobuf":
                batches = decode_traces_proto(data)
            elif content_type == "application/json":
                batches = decode_traces_json(data)
            else:
                self.send(415, "415 unsupported media type, supported: [application/json, "
                          "application/x-protobuf]")
                return
        except (DecodeError, OSError, zlib.error) as error:
            self.send(400, f"proto: {error}")
            return
        except BadRequest as error:
            self.send(error.status, str(error))
            return
        tenant, problem = app.tenant_of(self.headers)
        if tenant is None:
            self.send(401, problem)
            return
        app.push(tenant, batches, len(data))
        if content_type == "application/json":
            self.send(200, "{}", "application/json")
        else:
            self.send(200, b"", "application/x-protobuf")


# --- main ----------------------------------------------------------------------------------

def version_text() -> str:
    return (f"tempo, version {VERSION} (branch: {BRANCH}, revision: {REVISION})\n"
            f"  build user:       \n  build date:       \n  go version:       {GO_VERSION}\n"
            "  platform:         linux/amd64\n  tags:             unknown")


def health(url: str) -> int:
    """cmd/tempo/health.go: 0 when the URL answers 200, else 1."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return 0 if response.status == 200 else 1
    except (OSError, ValueError) as error:
        print(f"health check failed: {error}", file=sys.stderr)
        return 1


def stderr_log(level: str, msg: str, **fields: Any) -> None:
    from lgtm_standin import format_log
    print(format_log(level, msg, fields, level_first=True), file=sys.stderr, flush=True)


def first_pass(args: list[str]) -> tuple[str, bool, bool]:
    """main.go loadConfig: -config.file, -config.expand-env and -config.verify found
    anywhere (a FlagSet parse retried from every position, errors ignored)."""
    config_file, expand, verify = "", False, False
    for index, arg in enumerate(args):
        if not arg.startswith("-") or arg.startswith("---"):
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        if name == "config.file":
            if has_value:
                config_file = value
            elif index + 1 < len(args):
                config_file = args[index + 1]
        elif name in ("config.expand-env", "config.verify"):
            parsed = True
            if has_value:
                parsed = value.lower() in ("1", "t", "true")
                if value.lower() not in ("1", "t", "true", "0", "f", "false"):
                    continue
            if name == "config.expand-env":
                expand = parsed
            else:
                verify = parsed
    return config_file, expand, verify


def load(args: list[str], schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """loadConfig then the real flag parse; exits as upstream does."""
    config_file, expand, verify = first_pass(args)
    config: dict[str, Any]
    if config_file:
        try:
            raw = Path(config_file).read_text(errors="replace")
        except OSError as error:
            print(f"failed parsing config: failed to read configFile {config_file}: open "
                  f"{config_file}: {(error.strerror or '').lower()}", file=sys.stderr)
            raise SystemExit(1) from None
        if expand:
            raw = expand_env(raw)
        try:
            config, _explicit = decode_schema_config(raw, schema, {"root": "app.Config"},
                                                     yaml_v2=True)
        except ConfigError as error:
            print(f"failed parsing config: failed to parse configFile {config_file}: {error}",
                  file=sys.stderr)
            raise SystemExit(1) from None
    else:
        from lgtm_standin import defaults
        config = defaults(schema["root"])
    table = {**dict(CONFIG_FLAGS), **schema_flag_table(schema, MAIN_FLAGS)}
    try:
        flags = parse_flags(args, table)
    except FlagError as error:
        print(error, file=sys.stderr)
        print("Usage of /tempo:", file=sys.stderr)
        raise SystemExit(2) from None
    main_flags = {name: value for name, value in flags if table[name][0] is None}
    if main_flags.get("help") or main_flags.get("h"):
        print("Usage of /tempo:", file=sys.stderr)
        raise SystemExit(0)
    from lgtm_standin import set_path
    for name, value in flags:
        path = table[name][0]
        if path is not None:
            with contextlib.suppress(KeyError, TypeError):
                set_path(config, path, value)
    return config, main_flags, verify


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    schema = load_schema()
    config, main_flags, verify = load(args, schema)
    if main_flags.get("version"):
        print(version_text())
        return 0
    if main_flags.get("health"):
        return health(str(main_flags.get("health.url") or DEFAULT_HEALTH_URL))
    level = str(cfg(config, "server.log_level"))
    warnings = config_warnings(config)
    # The generated facts carry upstream's texts: they win over the ones written here.
    facts = schema.get("facts", {})
    explains = {item["message"]: item["explain"] for item in facts.get("verify_warnings", [])
                if isinstance(item.get("message"), str) and isinstance(item.get("explain"), str)}
    if warnings and level in ("debug", "info", "warn"):
        stderr_log("warn", facts.get("verify_header", "-- CONFIGURATION WARNINGS --"))
        for message, explain in warnings:
            explain = explains.get(message, explain)
            stderr_log("warn", message, **({"explain": explain} if explain else {}))
    if verify:
        return 1 if warnings else 0
    target = str(cfg(config, "target"))
    if target not in TARGET_MODULES:
        stderr_log("error", "error initialising Tempo", err=f"unrecognised module name: {target}")
        return 1
    app = Tempo(config, schema)
    app.log("info", "Starting Tempo", version=f"(version={VERSION}, branch={BRANCH}, "
            f"revision={REVISION})", target=target)
    return app.run_until_signalled()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        sys.exit(1)
