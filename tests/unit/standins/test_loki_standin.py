"""The Loki contract stand-in (tests/testhost/standins/loki/loki.py), in process and as a
process.

Config loading and validation against the schema generated from upstream's reference
(with upstream's messages and exit codes), the push decoders (JSON, snappy protobuf,
OTLP from the real opentelemetry-sdk exporter), the LogQL subset, readiness, the WAL's
disk check, and storage that survives SIGTERM and kill -9, all against the real HTTP
server on 127.0.0.1. The end-to-end check with the stand-in's image on a real test host
is the loki Molecule scenario.

The protobuf push bodies are built by hand from logproto's push.proto and the protobuf
encoding guide (no Loki client library exists on PyPI); the OTLP bodies come from the
real opentelemetry-sdk.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
STANDINS = REPO / "tests/testhost/standins"
STANDIN = STANDINS / "loki/loki.py"
SCHEMA_FILE = STANDINS / "loki/schema.json"

sys.path.insert(0, str(STANDINS))  # lgtm_standin, as the image installs it
spec = importlib.util.spec_from_file_location("loki_standin", STANDIN)
assert spec is not None and spec.loader is not None
loki = importlib.util.module_from_spec(spec)
sys.modules["loki_standin"] = loki
spec.loader.exec_module(loki)

SCHEMA = loki.load_schema()

# What roles/loki renders (vars/main.yml loki_config_base with the defaults), with the
# data under a directory the test chooses.
ROLE_CONFIG = """\
auth_enabled: false
server:
  http_listen_port: 3100
  grpc_listen_port: 9095
  log_level: info
common:
  path_prefix: {data}
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
  storage:
    filesystem:
      chunks_directory: {data}/chunks
      rules_directory: {data}/rules
schema_config:
  configs:
  - from: '2024-04-01'
    store: tsdb
    object_store: filesystem
    schema: v13
    index:
      prefix: index_
      period: 24h
compactor:
  working_directory: {data}/compactor
  retention_enabled: true
  delete_request_store: filesystem
limits_config:
  retention_period: 720h
analytics:
  reporting_enabled: false
"""


def role_config(data: Path | str = "/loki", extra: str = "") -> str:
    return ROLE_CONFIG.format(data=data) + extra


def load_text(text: str) -> dict[str, Any]:
    config, explicit = loki.decode_config(text, SCHEMA)
    loki.apply_dynamic(config, explicit)
    return config


def config_error(text: str) -> str:
    with pytest.raises(loki.ConfigError) as raised:
        loki.validate_config(load_text(text))
    return str(raised.value)


# --- config --------------------------------------------------------------------------

def test_schema_names_its_upstream_source() -> None:
    source = SCHEMA["source"]
    assert source["ref"] == "v3.7.6"
    assert source["project"] == "https://github.com/grafana/loki"
    assert SCHEMA["root"]["type"] == "loki.ConfigWrapper"


def test_defaults_that_bite() -> None:
    config, explicit = loki.decode_config("", SCHEMA)
    loki.apply_dynamic(config, explicit)
    assert config["auth_enabled"] is True
    assert config["server"]["http_listen_port"] == 3100
    assert config["server"]["grpc_listen_port"] == 9095
    assert config["server"]["http_listen_address"] == ""
    assert config["analytics"]["reporting_enabled"] is True
    # common.replication_factor defaults to 3 and the ingester ring always takes it.
    assert config["common"]["replication_factor"] == 3
    assert config["ingester"]["lifecycler"]["ring"]["replication_factor"] == 3
    assert config["ingester"]["lifecycler"]["ring"]["kvstore"]["store"] == "consul"
    assert config["ingester"]["lifecycler"]["min_ready_duration"] == 15 * 10**9
    assert config["limits_config"]["reject_old_samples_max_age"] == 7 * 86400 * 10**9
    assert config["ingester"]["wal"]["dir"] == "wal"


def test_path_prefix_and_common_config_fill_the_data_paths() -> None:
    config = load_text(role_config("/loki"))
    assert config["ingester"]["wal"]["dir"] == "/loki/wal"
    assert config["compactor"]["working_directory"] == "/loki/compactor"
    assert config["ruler"]["rule_path"] == "/loki/rules-temp"
    assert config["storage_config"]["filesystem"]["directory"] == "/loki/chunks"
    assert config["storage_config"]["tsdb_shipper"]["active_index_directory"] == \
        "/loki/tsdb-shipper-active"
    assert config["storage_config"]["tsdb_shipper"]["cache_location"] == \
        "/loki/tsdb-shipper-cache"
    assert config["ingester"]["lifecycler"]["ring"]["kvstore"]["store"] == "inmemory"
    assert config["ingester"]["lifecycler"]["ring"]["replication_factor"] == 1
    # What the file sets itself wins over what path_prefix would give.
    explicit_wal = role_config("/loki", "ingester:\n  wal:\n    dir: /elsewhere\n")
    assert load_text(explicit_wal)["ingester"]["wal"]["dir"] == "/elsewhere"
    loki.validate_config(load_text(role_config()))


def test_unknown_keys_and_wrong_types_are_refused_with_line_and_type() -> None:
    with pytest.raises(loki.ConfigError) as raised:
        loki.decode_config(role_config(extra="") .replace(
            "  retention_period: 720h\n", "  retention_period: 720h\n  no_such_limit: 1\n"),
            SCHEMA)
    assert "yaml: unmarshal errors:\n  line 31: field no_such_limit not found in type " \
           "validation.plain" in str(raised.value)
    with pytest.raises(loki.ConfigError) as raised:
        loki.decode_config("server:\n  http_listen_port: abc\nbogus: 1\n", SCHEMA)
    assert "line 2: cannot unmarshal !!str `abc` into int" in str(raised.value)
    assert "line 3: field bogus not found in type loki.ConfigWrapper" in str(raised.value)
    with pytest.raises(loki.ConfigError) as raised:
        loki.decode_config("limits_config:\n  retention_period: banana\n", SCHEMA)
    assert str(raised.value) == 'not a valid duration string: "banana"'
    # yaml.v2 takes a plain integer into a time.Duration as nanoseconds.
    config, _explicit = loki.decode_config(
        "ingester:\n  lifecycler:\n    min_ready_duration: 5\n", SCHEMA)
    assert config["ingester"]["lifecycler"]["min_ready_duration"] == 5
    config, _explicit = loki.decode_config("limits_config:\n  max_line_size: 64KB\n", SCHEMA)
    assert config["limits_config"]["max_line_size"] == 64000


def test_meaning_is_checked_like_upstream() -> None:
    assert config_error(role_config().replace("  delete_request_store: filesystem\n", "")) == \
        "CONFIG ERROR: invalid compactor config: compactor.delete-request-store should be " \
        "configured when retention is enabled"
    old_schema = config_error(role_config().replace("schema: v13", "schema: v12"))
    assert old_schema.startswith("CONFIG ERROR: schema v13 is required to store Structured "
                                 "Metadata and use native OTLP ingestion, your schema version "
                                 "is v12.")
    # Structured metadata off: v12 is accepted again.
    loki.validate_config(load_text(role_config(extra="").replace(
        "schema: v13", "schema: v12").replace(
        "  retention_period: 720h\n",
        "  retention_period: 720h\n  allow_structured_metadata: false\n")))
    boltdb = config_error(role_config().replace("store: tsdb", "store: boltdb-shipper"))
    assert "`tsdb` index type is required to store Structured Metadata" in boltdb
    assert "unrecognized `store` (index) type `bogus`" in config_error(
        role_config().replace("store: tsdb", "store: bogus"))
    several = config_error(role_config().replace("schema: v13", "schema: v12").replace(
        "  delete_request_store: filesystem\n", ""))
    assert several.startswith("MULTIPLE CONFIG ERRORS FOUND, PLEASE READ CAREFULLY\n")
    assert "must specify at least one schema configuration" in config_error("")
    assert config_error(role_config().replace("period: 24h", "period: 168h")) == \
        "CONFIG ERROR: invalid schema config: validating period_config: tsdb must always " \
        "have periodic config for index set to 24h"
    assert config_error(role_config().replace("schema: v13", "schema: v14")) == \
        "CONFIG ERROR: invalid schema config: validating period_config: invalid schema version"
    # PeriodConfig's and DayTime's own decoding refuse these before any validation.
    assert loki.period_decode_problem(load_text(role_config().replace(
        "schema: v13", "schema: vx"))) == \
        'invalid schema version: strconv.Atoi: parsing "x": invalid syntax'
    assert loki.period_decode_problem(load_text(role_config().replace(
        "from: '2024-04-01'", "from: 2024-4-1"))) == \
        'parsing time "2024-4-1" as "2006-01-02": cannot parse "4-1" as "01"'
    no_prefix = role_config().replace("  path_prefix: /loki\n", "").replace(
        "  working_directory: /loki/compactor\n", "")
    assert "`tsdb_shipper`, `active_index_directory` is not set" in config_error(no_prefix)


def run_loki(*args: str, cwd: Path, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(STANDIN), *args], capture_output=True,
                          text=True, cwd=cwd, timeout=60, check=False,
                          env={**os.environ, **(env or {})})


def test_verify_config_exit_codes_and_messages(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(role_config(tmp_path / "data"))
    result = run_loki(f"-config.file={good}", "-verify-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("level=info ")
    assert 'msg="config is valid"' in result.stderr
    assert not (tmp_path / "data").exists(), "verification touches no data directory"

    bad = tmp_path / "bad.yaml"
    bad.write_text(role_config(tmp_path / "data").replace(
        "  retention_period: 720h\n", "  retention_period: 720h\n  no_such_limit: 1\n"))
    result = run_loki(f"-config.file={bad}", "-verify-config", cwd=tmp_path)
    assert result.returncode == 1
    assert f"failed parsing config: {bad}: yaml: unmarshal errors:\n  line 31: field " \
           "no_such_limit not found in type validation.plain. Use `-config.expand-env=true` " \
           "flag if you want to expand environment variables in your config file" \
           in result.stderr

    banana = tmp_path / "banana.yaml"
    banana.write_text(role_config().replace("retention_period: 720h", "retention_period: banana"))
    result = run_loki(f"-config.file={banana}", "-verify-config", cwd=tmp_path)
    assert result.returncode == 1
    assert 'not a valid duration string: "banana"' in result.stderr

    retention = tmp_path / "retention.yaml"
    retention.write_text(role_config().replace("  delete_request_store: filesystem\n", ""))
    result = run_loki(f"-config.file={retention}", "-verify-config", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("level=error ")
    assert 'msg="validating config" err="CONFIG ERROR: invalid compactor config: ' \
           'compactor.delete-request-store should be configured when retention is enabled"' \
           in result.stderr

    # Missing TLS files are not noticed by verification, only at start.
    tls = tmp_path / "tls.yaml"
    tls.write_text(role_config().replace(
        "  log_level: info\n", "  log_level: info\n  http_tls_config:\n    cert_file: "
        "/nonexistent/server.crt\n    key_file: /nonexistent/server.key\n"))
    result = run_loki(f"-config.file={tls}", "-verify-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    result = run_loki(f"-config.file={good}", "-no-such-flag", cwd=tmp_path)
    assert result.returncode == 2
    assert "flag provided but not defined: -no-such-flag" in result.stderr

    result = run_loki("-config.file=/nonexistent.yaml", "-verify-config", cwd=tmp_path)
    assert result.returncode == 1
    assert "failed parsing config: /nonexistent.yaml does not exist, set config.file for " \
           "custom config path" in result.stderr

    result = run_loki("-version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("loki, version 3.7.6 ")


def test_expand_env_and_schema_flags(tmp_path: Path) -> None:
    templated = tmp_path / "env.yaml"
    templated.write_text(role_config().replace("retention_period: 720h",
                                               "retention_period: ${RETENTION:-336h}"))
    result = run_loki(f"-config.file={templated}", "-verify-config", cwd=tmp_path)
    assert result.returncode == 1, "without -config.expand-env the text stays literal"
    result = run_loki(f"-config.file={templated}", "-config.expand-env=true", "-verify-config",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert loki.envsubst("${RETENTION:-336h}") == ("336h" if not os.environ.get("RETENTION")
                                                   else os.environ["RETENTION"])
    chatty = tmp_path / "chatty.yaml"
    chatty.write_text(role_config().replace("log_level: info", "log_level: chatty"))
    result = run_loki(f"-config.file={chatty}", "-verify-config", cwd=tmp_path)
    assert result.returncode == 1 and 'unrecognized log level "chatty"' in result.stderr
    result = run_loki(f"-config.file={templated}", "-log.level=chatty", cwd=tmp_path)
    assert result.returncode == 2
    assert 'invalid value "chatty" for flag -log.level: unrecognized log level "chatty"' \
        in result.stderr
    table = loki.flag_table(SCHEMA)
    flags = loki.parse_flags(["-target=read", "-log.level=debug", "-verify-config"], table)
    assert dict(flags) == {"target": "read", "log.level": "debug", "verify-config": True}
    with pytest.raises(loki.FlagError):
        loki.parse_flags(["-config.expand-env=maybe"], table)


# --- wire formats ----------------------------------------------------------------------

def uvarint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_bytes(number: int, payload: bytes) -> bytes:
    return uvarint(number << 3 | 2) + uvarint(len(payload)) + payload


def pb_varint(number: int, value: int) -> bytes:
    return uvarint(number << 3) + uvarint(value)


def push_request(streams: list[tuple[str, list[tuple[int, str, dict[str, str]]]]]) -> bytes:
    """logproto.PushRequest as Promtail, Alloy's loki.write and Grafana send it."""
    out = b""
    for labels, entries in streams:
        body = pb_bytes(1, labels.encode())
        for ts, line, metadata in entries:
            stamp = pb_varint(1, ts // 10**9) + pb_varint(2, ts % 10**9)
            entry = pb_bytes(1, stamp) + pb_bytes(2, line.encode())
            for name, value in metadata.items():
                entry += pb_bytes(3, pb_bytes(1, name.encode()) + pb_bytes(2, value.encode()))
            body += pb_bytes(2, entry)
        out += pb_bytes(1, body)
    return out


def snappy_literals(data: bytes) -> bytes:
    """A valid snappy block stream made only of literals (format_description.txt, 2.1)."""
    out = bytearray(uvarint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start:start + 65536]
        size = len(chunk) - 1
        if size < 60:
            out.append(size << 2)
        elif size < 256:
            out += bytes([60 << 2, size])
        else:
            out += bytes([61 << 2]) + size.to_bytes(2, "little")
        out += chunk
    return bytes(out)


def test_protobuf_push_request_decoding() -> None:
    entry = (1_700_000_000_123_456_789, "hello", {"trace_id": "abc"})
    body = push_request([('{job="a", env="dev"}', [entry])])
    streams = loki.decode_push_proto(loki.snappy_decompress(snappy_literals(body), 1 << 20))
    assert len(streams) == 1
    assert streams[0].labels == '{job="a", env="dev"}'
    entry = streams[0].entries[0]
    assert (entry.ts, entry.line, entry.metadata) == (1_700_000_000_123_456_789, "hello",
                                                      [("trace_id", "abc")])


def test_level_and_service_name_discovery() -> None:
    fields = loki.DEFAULT_LEVEL_FIELDS
    assert loki.level_from_line("ts=1 level=warn msg=x", fields) == "warn"
    assert loki.level_from_line('{"level":"ERROR","msg":"x"}', fields) == "error"
    assert loki.level_from_line("something failed with error code 3", fields) == "error"
    assert loki.level_from_line("nothing to see", fields) == "unknown"
    app = loki.Loki(load_text(role_config()), SCHEMA, "hash")
    assert app.discover_service_name({"job": "j"}) == {"job": "j", "service_name": "j"}
    assert app.discover_service_name({"app": "a", "job": "j"})["service_name"] == "a"
    assert app.discover_service_name({"x": "y"})["service_name"] == "unknown_service"
    assert app.discover_service_name({"service_name": "s", "job": "j"}) == {
        "service_name": "s", "job": "j"}


# --- LogQL -------------------------------------------------------------------------------

def make_streams() -> list[Any]:
    first_stream = loki.Stream({"job": "api", "env": "prod"})
    second_stream = loki.Stream({"job": "db", "env": "dev"})
    for index in range(4):
        first_stream.add(loki.Entry(1000 + index, f"api line {index} level=info",
                                    [("detected_level", "info")]))
    second_stream.add(loki.Entry(1001, '{"level":"error","msg":"boom","code":7}', []))
    return [first_stream, second_stream]


def test_log_queries_selectors_and_filters() -> None:
    evaluator = loki.Evaluator(make_streams())

    def lines(query: str) -> list[str]:
        return [row.entry.line for row in evaluator.select(loki.parse_query(query), 0, 10**6)]

    assert len(lines('{job="api"}')) == 4
    assert len(lines('{job=~"api|db"}')) == 5
    assert lines('{job=~".+", env!="prod"}') == ['{"level":"error","msg":"boom","code":7}']
    assert lines('{job!~"a.*", env="dev"}') == ['{"level":"error","msg":"boom","code":7}']
    assert lines('{job="api"} |= "line 2"') == ["api line 2 level=info"]
    assert len(lines('{job="api"} != "line 2"')) == 3
    assert lines('{job="api"} |~ "line [13]" !~ "3"') == ["api line 1 level=info"]
    assert lines('{job="db"} | json | code="7"') == ['{"level":"error","msg":"boom","code":7}']
    assert lines('{job="api"} | logfmt | level="warn"') == []
    # The end is exclusive, the start inclusive.
    assert len(evaluator.select(loki.parse_query('{job="api"}'), 1001, 1003)) == 2


def test_metric_queries() -> None:
    evaluator = loki.Evaluator(make_streams())
    kind, vector = evaluator.eval(loki.parse_query("vector(1)+vector(1)"), 10**12)
    assert (kind, vector) == ("vector", [({}, 2.0)])
    kind, value = evaluator.eval(loki.parse_query("1 + 2 * 3"), 10**12)
    assert (kind, value) == ("scalar", 7.0)
    query = 'sum by (env) (count_over_time({job=~".+"} [1m]))'
    kind, vector = evaluator.eval(loki.parse_query(query), 2000)
    assert sorted(vector, key=lambda item: item[0]["env"]) == [({"env": "dev"}, 1.0),
                                                               ({"env": "prod"}, 4.0)]
    # Grafana's logs volume query.
    volume = 'sum by (level, detected_level) (count_over_time({job=~".+"} | drop __error__, ' \
             '__error_details__ [1m]))'
    kind, vector = evaluator.eval(loki.parse_query(volume), 2000)
    assert sorted(vector, key=lambda item: item[1]) == [({}, 1.0), ({"detected_level": "info"},
                                                                    4.0)]
    kept = loki.parse_query('sum by (env) (count_over_time({job=~".+"} | keep env="dev" [1m]))')
    assert sorted(evaluator.eval(kept, 2000)[1], key=lambda item: item[1]) == [
        ({"env": "dev"}, 1.0), ({}, 4.0)]
    kind, vector = evaluator.eval(loki.parse_query('rate({job="api"}[2s])'), 2000)
    assert kind == "vector" and vector[0][1] == 2.0
    for bad in ('{job="api"', "topk(1, x)", '{job=~".*"}', '{env!="prod"}', "sum(", ""):
        with pytest.raises(loki.QueryError):
            loki.parse_query(bad)


# --- the real HTTP server ----------------------------------------------------------------

class Running:
    """A client of one stand-in: in process (`app` set) or as a process (port only)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.app = app
        self.base = f"http://127.0.0.1:{port if port is not None else app.http_port}"

    def request(self, path: str, data: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        request = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def push_json(self, streams: list[dict[str, Any]],
                  headers: dict[str, str] | None = None) -> tuple[int, str]:
        return self.request("/loki/api/v1/push", json.dumps({"streams": streams}).encode(),
                            {"Content-Type": "application/json", **(headers or {})})

    def query_range(self, query: str, headers: dict[str, str] | None = None,
                    **params: str) -> tuple[int, Any]:
        status, body = self.request("/loki/api/v1/query_range?" + urllib.parse.urlencode(
            {"query": query, **params}), headers=headers)
        with contextlib.suppress(ValueError):
            return status, json.loads(body)
        return status, body

    def lines(self, query: str, **params: str) -> list[str]:
        status, body = self.query_range(query, **params)
        assert status == 200, body
        return [line for stream in body["data"]["result"] for _ts, line in stream["values"]]

    def wait_ready(self) -> list[tuple[int, str]]:
        seen = []
        for _attempt in range(2000):
            status, body = self.request("/ready")
            seen.append((status, body))
            if status == 200:
                return seen
            time.sleep(0.01)
        raise AssertionError(f"never ready: {seen[-3:]}")


TEST_SERVER = """
server:
  http_listen_address: 127.0.0.1
  http_listen_port: 0
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: 0
ingester:
  lifecycler:
    min_ready_duration: 0s
"""


@pytest.fixture
def start(tmp_path: Path):  # noqa: ANN201 - fixture factory
    apps = []

    def starter(text: str | None = None, overrides: str = TEST_SERVER) -> Running:
        base = role_config(tmp_path / "data") if text is None else text
        base = base.replace("server:\n  http_listen_port: 3100\n  grpc_listen_port: 9095\n",
                            "server:\n")
        config, explicit = loki.decode_config(merge_yaml(base, overrides), SCHEMA)
        loki.apply_dynamic(config, explicit)
        loki.validate_config(config)
        app = loki.Loki(config, SCHEMA, "hash")
        app.start()
        apps.append(app)
        return Running(app)

    yield starter
    for app in apps:
        if not app.stopping.is_set():
            app.stop()


def merge_yaml(base: str, overrides: str) -> str:
    import yaml

    def merge(left: Any, right: Any) -> Any:
        if isinstance(left, dict) and isinstance(right, dict):
            return {**left, **{key: merge(left.get(key), value) for key, value in right.items()}}
        return right
    return yaml.safe_dump(merge(yaml.safe_load(base) or {}, yaml.safe_load(overrides) or {}),
                          sort_keys=False)


def now_ns() -> str:
    return str(time.time_ns())


def test_ready_waits_min_ready_duration_after_joining(start: Any) -> None:
    running = start(overrides=TEST_SERVER.replace("min_ready_duration: 0s",
                                                  "min_ready_duration: 300ms"))
    status, body = running.request("/ready")
    # The counter starts at the first check after the ring join, so that one is a 503.
    assert (status, body) == (503, "Ingester not ready: waiting for 300ms after being ready\n")
    seen = running.wait_ready()
    assert seen[-1] == (200, "ready\n")
    assert running.request("/ready") == (200, "ready\n"), "readiness latches"


def test_ready_never_comes_without_a_reachable_ring(start: Any, tmp_path: Path) -> None:
    # The ring's default kvstore is consul, which nothing here serves.
    running = start(role_config(tmp_path / "data").replace("      store: inmemory\n",
                                                           "      store: consul\n"))
    for _attempt in range(3):
        assert running.request("/ready") == (503, "Ingester not ready: this instance owns no "
                                                  "tokens\n")
    status, body = running.push_json([{"stream": {"job": "x"}, "values": [[now_ns(), "l"]]}])
    assert status == 500 and "empty ring" in body


def test_tenancy_auth_enabled_by_default(start: Any, tmp_path: Path) -> None:
    running = start(role_config(tmp_path / "data").replace("auth_enabled: false\n", ""))
    running.wait_ready()
    stream = [{"stream": {"job": "t"}, "values": [[now_ns(), "tenant line"]]}]
    assert running.push_json(stream) == (401, "no org id\n")
    assert running.query_range('{job="t"}') == (401, "no org id\n")
    assert running.push_json(stream, {"X-Scope-OrgID": "team-a"}) == (204, "")
    status, body = running.query_range('{job="t"}', {"X-Scope-OrgID": "team-a"})
    assert status == 200 and body["data"]["result"][0]["values"][0][1] == "tenant line"
    status, body = running.query_range('{job="t"}', {"X-Scope-OrgID": "team-b"})
    assert status == 200 and body["data"]["result"] == []
    assert running.request("/ready")[0] == 200, "public endpoints need no tenant"


def test_json_push_query_labels_and_metrics(start: Any) -> None:
    running = start()
    running.wait_ready()
    stamp = now_ns()
    assert running.push_json([{"stream": {"job": "web", "run": "r1"},
                               "values": [[stamp, "level=warn something odd"]]}]) == (204, "")
    status, body = running.query_range('{job="web", run="r1"}')
    assert status == 200
    data = body["data"]
    assert data["resultType"] == "streams" and "summary" in data["stats"]
    assert data["result"] == [{"stream": {"job": "web", "run": "r1", "service_name": "web",
                                          "detected_level": "warn"},
                               "values": [[stamp, "level=warn something odd"]]}]
    labels = json.loads(running.request("/loki/api/v1/labels")[1])
    assert labels == {"status": "success", "data": ["job", "run", "service_name"]}
    values = json.loads(running.request("/loki/api/v1/label/service_name/values")[1])
    assert values["data"] == ["web"]
    series = json.loads(running.request("/loki/api/v1/series?" + urllib.parse.urlencode(
        {"match[]": '{job="web"}'}))[1])
    assert series["data"] == [{"job": "web", "run": "r1", "service_name": "web"}]
    health = json.loads(running.request("/loki/api/v1/query?" + urllib.parse.urlencode(
        {"query": "vector(1)+vector(1)"}))[1])
    assert health["data"]["resultType"] == "vector"
    assert health["data"]["result"][0]["value"][1] == "2"
    count = json.loads(running.request("/loki/api/v1/query?" + urllib.parse.urlencode(
        {"query": 'sum by (job) (count_over_time({job="web"}[5m]))'}))[1])
    assert count["data"]["result"] == [{"metric": {"job": "web"},
                                        "value": count["data"]["result"][0]["value"]}]
    assert count["data"]["result"][0]["value"][1] == "1"
    metrics = running.request("/metrics")[1]
    assert 'loki_build_info{' in metrics and 'version="3.7.6"' in metrics
    assert 'loki_distributor_lines_received_total{format="loki",is_internal_stream="false",' \
           'policy="",tenant="fake"} 1' in metrics
    assert "loki_ingester_wal_disk_full_failures_total 0" in metrics


def test_push_errors(start: Any) -> None:
    running = start()
    running.wait_ready()
    status, body = running.request("/loki/api/v1/push", b'{"streams": [', {
        "Content-Type": "application/json"})
    assert status == 400 and body.strip()
    old = str(time.time_ns() - 8 * 86400 * 10**9)
    status, body = running.push_json([{"stream": {"job": "old"},
                                       "values": [[old, "too old"], [now_ns(), "fresh"]]}])
    assert status == 400
    assert body.startswith("entry for stream '{job=\"old\", service_name=\"old\"}' has timestamp "
                           "too old: ")
    assert ", oldest acceptable timestamp is: " in body
    assert running.lines('{job="old"}') == ["fresh"], "the valid entries of a request are kept"
    metrics = running.request("/metrics")[1]
    # Lines are counted as received before validation; the rejected one as discarded.
    assert 'loki_distributor_lines_received_total{format="loki",is_internal_stream="false",' \
           'policy="",tenant="fake"} 2' in metrics
    assert 'loki_discarded_samples_total{format="loki",policy="",reason="greater_than_max_' \
           'sample_age",retention_hours="720",tenant="fake"} 1' in metrics
    status, body = running.request("/otlp/v1/logs", b"", {
        "Content-Type": "application/x-protobuf"})
    assert status == 422
    assert body == "error at least one valid stream is required for ingestion\n"
    status, body = running.query_range('{job="old"')
    assert status == 400 and "parse error" in body


def test_push_body_limit(start: Any, tmp_path: Path) -> None:
    running = start(merge_yaml(role_config(tmp_path / "data"),
                               "distributor: {max_recv_msg_size: 200}\n"))
    running.wait_ready()
    small = [{"stream": {"job": "size"}, "values": [[now_ns(), "x"]]}]
    assert running.push_json(small) == (204, "")
    large = [{"stream": {"job": "size"}, "values": [[now_ns(), "x" * 300]]}]
    status, body = running.push_json(large)
    assert status == 413 and "limit: 200 bytes" in body


def test_rate_and_label_limits(start: Any, tmp_path: Path) -> None:
    running = start(merge_yaml(role_config(tmp_path / "data"), "limits_config: "
                               "{ingestion_rate_mb: 0.001, ingestion_burst_size_mb: 0.002}\n"))
    running.wait_ready()
    # The bucket starts full (2097 bytes); a push larger than the burst never fits. Its
    # size counts structured metadata: detected_level=unknown adds 21 bytes.
    small = [{"stream": {"job": "rate"}, "values": [[now_ns(), "x" * 100]]}]
    assert running.push_json(small) == (204, "")
    large = [{"stream": {"job": "rate"}, "values": [[now_ns(), "y" * 3000]]}]
    status, body = running.push_json(large)
    assert status == 429
    assert body == ("ingestion rate limit exceeded for user fake (limit: 1048 bytes/sec) while "
                    "attempting to ingest '1' lines totaling '3021' bytes, reduce log volume or "
                    "contact your Loki administrator to see if the limit can be increased\n")
    # 15 labels plus the discovered service_name are one too many.
    many = {f"l{index:02d}": "v" for index in range(15)}
    status, body = running.push_json([{"stream": many, "values": [[now_ns(), "z"]]}])
    assert status == 400 and "has 16 label names; limit 15" in body


def test_protobuf_push_with_structured_metadata(start: Any) -> None:
    running = start()
    running.wait_ready()
    stamp = time.time_ns()
    entry = (stamp, "checkout ok", {"trace_id": "0af7651916cd43dd"})
    body = push_request([('{app="shop", job="alloy"}', [entry])])
    status, text = running.request("/loki/api/v1/push", snappy_literals(body),
                                   {"Content-Type": "application/x-protobuf"})
    assert (status, text) == (204, "")
    status, result = running.query_range('{service_name="shop"}')
    assert status == 200
    assert result["data"]["result"][0]["stream"] == {
        "app": "shop", "job": "alloy", "service_name": "shop", "trace_id": "0af7651916cd43dd",
        "detected_level": "unknown"}
    labels = json.loads(running.request("/loki/api/v1/labels")[1])["data"]
    assert "trace_id" not in labels and "detected_level" not in labels
    # Grafana's Explore asks for the labels by kind.
    status, result = running.query_range('{service_name="shop"} | logfmt', {
        "X-Loki-Response-Encoding-Flags": "categorize-labels"})
    assert status == 200
    assert result["data"]["encodingFlags"] == ["categorize-labels"]
    [stream] = result["data"]["result"]
    assert stream["stream"] == {"app": "shop", "job": "alloy", "service_name": "shop"}
    assert stream["values"] == [[str(stamp), "checkout ok", {"structuredMetadata": {
        "trace_id": "0af7651916cd43dd", "detected_level": "unknown"}}]]


def test_otlp_logs_from_the_opentelemetry_sdk(start: Any) -> None:
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    running = start()
    running.wait_ready()
    provider = LoggerProvider(resource=Resource.create({
        "service.name": "checkout", "service.namespace": "shop",
        "deployment.environment": "test", "host.name": "box1"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(
        OTLPLogExporter(endpoint=f"{running.base}/otlp/v1/logs")))
    provider.get_logger("lgtm.unit").emit(body="paid", severity_number=SeverityNumber.WARN,
                                          severity_text="WARN", attributes={"order": 42})
    provider.shutdown()
    status, body = running.query_range('{service_name="checkout"}')
    assert status == 200, body
    [stream] = body["data"]["result"]
    assert stream["values"][0][1] == "paid"
    labels = stream["stream"]
    assert labels["service_namespace"] == "shop"
    assert labels["deployment_environment"] == "test"
    assert labels["host_name"] == "box1"
    assert labels["severity_text"] == "WARN" and labels["severity_number"] == "13"
    assert labels["scope_name"] == "lgtm.unit" and labels["order"] == "42"
    assert labels["detected_level"] == "warn"
    index = json.loads(running.request("/loki/api/v1/labels")[1])["data"]
    assert "service_name" in index and "service_namespace" in index
    assert "deployment_environment" in index
    assert "host_name" not in index and "severity_text" not in index
    assert "scope_name" not in index
    metrics = running.request("/metrics")[1]
    assert 'loki_distributor_lines_received_total{format="otlp",is_internal_stream="false",' \
           'policy="",tenant="fake"} 1' in metrics


def test_otlp_json_is_accepted(start: Any) -> None:
    running = start()
    running.wait_ready()
    body = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "jsonsvc"}}]},
        "scopeLogs": [{"scope": {"name": "s"}, "logRecords": [
            {"timeUnixNano": now_ns(), "body": {"stringValue": "from json"},
             "attributes": [{"key": "n", "value": {"intValue": "5"}}]}]}]}]}
    status, text = running.request("/otlp/v1/logs", json.dumps(body).encode(),
                                   {"Content-Type": "application/json"})
    assert (status, text) == (204, "")
    assert running.lines('{service_name="jsonsvc"}') == ["from json"]


def test_otlp_config_moves_attributes(start: Any, tmp_path: Path) -> None:
    otlp = """
limits_config:
  otlp_config:
    resource_attributes:
      attributes_config:
      - action: index_label
        attributes: [host.name]
      - action: drop
        regex: secret\\..*
    log_attributes:
    - action: drop
      attributes: [noise]
    severity_text_as_label: true
"""
    text = merge_yaml(role_config(tmp_path / "data"), otlp)
    running = start(text)
    running.wait_ready()
    attributes = [{"key": "service.name", "value": {"stringValue": "svc"}},
                  {"key": "host.name", "value": {"stringValue": "box"}},
                  {"key": "secret.token", "value": {"stringValue": "hidden"}},
                  {"key": "team", "value": {"stringValue": "ops"}}]
    body = {"resourceLogs": [{"resource": {"attributes": attributes}, "scopeLogs": [
        {"logRecords": [{"timeUnixNano": now_ns(), "severityText": "ERROR",
                         "body": {"stringValue": "configured"},
                         "attributes": [{"key": "noise", "value": {"stringValue": "x"}}]}]}]}]}
    assert running.request("/otlp/v1/logs", json.dumps(body).encode(),
                           {"Content-Type": "application/json"}) == (204, "")
    status, result = running.query_range('{host_name="box", severity_text="ERROR"}')
    assert status == 200
    [stream] = result["data"]["result"]
    assert stream["stream"]["team"] == "ops", "an unlisted resource attribute is metadata"
    assert "secret_token" not in stream["stream"] and "noise" not in stream["stream"]
    index = json.loads(running.request("/loki/api/v1/labels")[1])["data"]
    assert index == ["host_name", "service_name", "severity_text"]
    bad = merge_yaml(role_config(tmp_path / "data"), otlp.replace("action: drop\n      attr",
                                                                  "action: keep\n      attr"))
    bad_file = tmp_path / "bad-otlp.yaml"
    bad_file.write_text(bad)
    result = run_loki(f"-config.file={bad_file}", "-verify-config", cwd=tmp_path)
    assert result.returncode == 1
    assert "unsupported action, it must be one of: drop, index_label, structured_metadata" \
        in result.stderr


def test_full_wal_disk_throttles_pushes_and_recovers(start: Any, capsys: Any) -> None:
    running = start()
    running.wait_ready()
    app = running.app
    usage = {"value": 0.95}
    app.wal_disk_usage = lambda: usage["value"]
    app.check_disk()
    log = capsys.readouterr().err
    assert 'level=warn ' in log
    assert 'msg="disk usage exceeded threshold, throttling writes" usage_percent=95.00% ' \
           'threshold_percent=90.00%' in log
    stream = [{"stream": {"job": "full"}, "values": [[now_ns(), "refused"]]}]
    assert running.push_json(stream) == (500, "rpc error: code = Unknown desc = Ingester is "
                                              "shutting down\n")
    assert "loki_ingester_wal_disk_full_failures_total 1" in running.request("/metrics")[1]
    assert running.request("/ready") == (200, "ready\n")
    usage["value"] = 0.5
    app.check_disk()
    assert 'msg="disk usage below threshold, resuming writes"' in capsys.readouterr().err
    assert running.push_json(stream) == (204, "")
    assert running.lines('{job="full"}') == ["refused"]


class FailingFile:
    """A WAL file whose writes fail with one errno."""

    closed = False

    def __init__(self, real: Any, code: int) -> None:
        self.real = real
        self.code = code

    def write(self, _text: str) -> int:
        raise OSError(self.code, os.strerror(self.code))

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self.real.fileno()

    def close(self) -> None:
        self.closed = True


def test_a_full_disk_under_the_wal_is_counted_and_the_push_kept(start: Any, capsys: Any,
                                                                tmp_path: Path) -> None:
    running = start()
    running.wait_ready()
    store = running.app.store
    real = store.wal_handle
    for line in ("kept in memory 1", "kept in memory 2"):
        # After a failed append the store reopens its file: fail that one too.
        store.wal_handle = FailingFile(real, errno.ENOSPC)
        stream = [{"stream": {"job": "enospc"}, "values": [[now_ns(), line]]}]
        assert running.push_json(stream) == (204, ""), "instance.go only counts the failure"
    assert sorted(running.lines('{job="enospc"}')) == ["kept in memory 1", "kept in memory 2"]
    assert "loki_ingester_wal_disk_full_failures_total 2" in running.request("/metrics")[1]
    log = capsys.readouterr().err
    assert log.count("Error writing to WAL, disk full, no further messages will be logged "
                     "for this error") == 1
    # Any other write error refuses the push and stores nothing.
    store.wal_handle = FailingFile(real, errno.EIO)
    status, body = running.push_json([{"stream": {"job": "eio"},
                                       "values": [[now_ns(), "refused"]]}])
    assert status == 500 and "input/output error" in body
    assert running.lines('{job="eio"}') == []
    assert running.request("/ready")[0] == 200, "still serving"
    # A clean shutdown flushes what only memory held; the next start has it.
    running.app.stop()
    again = start()
    assert sorted(again.lines('{job="enospc"}')) == ["kept in memory 1", "kept in memory 2"]


def test_replication_factor_3_on_one_ingester_fails_writes(start: Any, tmp_path: Path) -> None:
    running = start(role_config(tmp_path / "data").replace("  replication_factor: 1\n", ""))
    running.wait_ready()
    status, body = running.push_json([{"stream": {"job": "rf"}, "values": [[now_ns(), "x"]]}])
    assert status == 500 and "at least 2 live replicas required, could only find 1" in body


def test_tls_from_the_server_config(start: Any, tmp_path: Path) -> None:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key", "-out",
                    "server.crt", "-days", "2", "-subj", "/CN=loki.test", "-addext",
                    "subjectAltName=IP:127.0.0.1"], cwd=tmp_path, check=True,
                   capture_output=True)
    tls = TEST_SERVER.replace("  grpc_listen_port: 0\n", "  grpc_listen_port: 0\n"
                              f"  http_tls_config:\n    cert_file: {tmp_path}/server.crt\n"
                              f"    key_file: {tmp_path}/server.key\n")
    running = start(overrides=tls)
    context = ssl.create_default_context(cafile=str(tmp_path / "server.crt"))
    url = f"https://127.0.0.1:{running.app.http_port}/ready"
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        # min_ready_duration 0s: ready at the first check.
        assert (response.status, response.read()) == (200, b"ready\n")
    plain = running.request("/ready")
    assert plain == (400, "Client sent an HTTP request to an HTTPS server.\n")
    # Missing files pass -verify-config (see above) but fail the start.
    missing = TEST_SERVER.replace("  grpc_listen_port: 0\n", "  grpc_listen_port: 0\n"
                                  "  http_tls_config:\n    cert_file: /nonexistent.crt\n"
                                  "    key_file: /nonexistent.key\n")
    with pytest.raises(SystemExit) as raised:
        start(overrides=missing)
    assert raised.value.code == 1


def test_labels_and_series_edge_cases(start: Any) -> None:
    running = start()
    running.wait_ready()
    assert json.loads(running.request("/loki/api/v1/labels")[1]) == {"status": "success"}
    old = str(time.time_ns() - 2 * 3600 * 10**9)
    assert running.push_json([{"stream": {"job": "a"}, "values": [[old, "two hours ago"]]},
                              {"stream": {"job": "b"}, "values": [[now_ns(), "now"]]}]) == \
        (204, "")
    series = json.loads(running.request("/loki/api/v1/series?match[]={}")[1])
    assert series["data"] == [{"job": "b", "service_name": "b"}], "the last hour by default"
    since = json.loads(running.request("/loki/api/v1/series?since=3h")[1])
    assert [item["job"] for item in since["data"]] == ["a", "b"]
    status, body = running.query_range('{job="a"}', start="bogus")
    assert status == 400 and "could not parse 'start' parameter" in body
    forward = running.lines('{job=~"a|b"}', since="3h", direction="forward")
    assert forward == ["two hours ago", "now"]
    assert running.lines('{job=~"a|b"}', since="3h", limit="1") == ["now"]


def test_server_path_prefix_and_instrumentation(start: Any) -> None:
    running = start(overrides=TEST_SERVER.replace(
        "  grpc_listen_port: 0\n", "  grpc_listen_port: 0\n  http_path_prefix: /logs\n"
        "  register_instrumentation: false\n"))
    assert running.request("/ready") == (404, "404 page not found\n")
    assert running.request("/logs/ready") == (200, "ready\n")
    assert running.request("/logs/metrics")[0] == 404
    status, _body = running.request("/logs/loki/api/v1/labels")
    assert status == 200


def test_data_directories_created_at_start(start: Any, tmp_path: Path) -> None:
    start()
    data = tmp_path / "data"
    assert sorted(path.name for path in data.iterdir()) == [
        "chunks", "compactor", "rules", "tsdb-shipper-active", "tsdb-shipper-cache", "wal"]
    for path in data.iterdir():
        assert path.stat().st_uid == os.getuid()


# --- as a process: restarts, kill -9, SIGTERM, -health ------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.config = tmp_path / "loki.yaml"
        self.config.write_text(merge_yaml(role_config(tmp_path / "data"), f"""
server: {{http_listen_address: 127.0.0.1, http_listen_port: {self.port},
         grpc_listen_address: 127.0.0.1, grpc_listen_port: {free_port()}}}
ingester: {{lifecycler: {{min_ready_duration: 0s}}}}
"""))
        self.tmp_path = tmp_path
        self.proc: subprocess.Popen[str] | None = None
        self.running = Running(None, self.port)

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(STANDIN), f"-config.file={self.config}"],
                                     cwd=self.tmp_path, stderr=subprocess.PIPE, text=True)
        for _attempt in range(3000):
            with contextlib.suppress(OSError):
                if self.running.request("/ready")[0] == 200:
                    return
            assert self.proc.poll() is None, self.proc.communicate()[1]
            time.sleep(0.01)
        raise AssertionError("the stand-in never became ready")

    def stop(self, sig: int) -> tuple[int, str]:
        assert self.proc is not None
        self.proc.send_signal(sig)
        _out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, err


def test_logs_survive_sigterm_and_kill_9(tmp_path: Path) -> None:
    process = Process(tmp_path)
    process.start()
    try:
        assert process.running.push_json([{"stream": {"job": "durable"},
                                           "values": [[now_ns(), "before sigterm"]]}])[0] == 204
        code, err = process.stop(signal.SIGTERM)
        assert code == 0, err
        assert "received SIGINT/SIGTERM" in err
        process.start()
        assert process.running.lines('{job="durable"}') == ["before sigterm"]
        assert process.running.push_json([{"stream": {"job": "durable"},
                                           "values": [[now_ns(), "before kill"]]}])[0] == 204
        process.stop(signal.SIGKILL)
        process.start()
        assert sorted(process.running.lines('{job="durable"}')) == ["before kill",
                                                                    "before sigterm"]
        health = run_loki("-health", f"-health.url=http://127.0.0.1:{process.port}/ready",
                          cwd=tmp_path)
        assert (health.returncode, health.stdout) == (0, "Loki is healthy\n")
    finally:
        if process.proc is not None and process.proc.poll() is None:
            process.stop(signal.SIGKILL)
    down = run_loki("-health", f"-health.url=http://127.0.0.1:{process.port}/ready",
                    cwd=tmp_path)
    assert down.returncode == 1 and "Health check failed" in down.stderr
