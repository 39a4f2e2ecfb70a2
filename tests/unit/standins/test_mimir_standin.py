"""The Mimir contract stand-in (tests/testhost/standins/mimir/mimir.py), in process.

Config validation against the schema generated from upstream's descriptor, the remote
write decoding (snappy block format and protobuf), the PromQL subset, and the real HTTP
server on 127.0.0.1. The end-to-end check with a real Prometheus remote-writing into the
stand-in's image is in molecule/images/tests/test_images.py.

The payloads here are built by hand from the format specs (snappy's
format_description.txt, the protobuf encoding guide, prometheus' remote.proto): good
enough to pin the decoder's behaviour; the real Prometheus checks it for real.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
STANDIN = REPO / "tests/testhost/standins/mimir/mimir.py"
UPSTREAM_EXAMPLES = REPO.parent / "shared" / "mimir-2.17" / "examples"

sys.path.insert(0, str(STANDIN.parent.parent))  # lgtm_standin, as the image installs it
spec = importlib.util.spec_from_file_location("mimir_standin", STANDIN)
assert spec is not None and spec.loader is not None
mimir = importlib.util.module_from_spec(spec)
sys.modules["mimir_standin"] = mimir
spec.loader.exec_module(mimir)
# The Go value helpers live in the shared module the stand-in imports.
shared = sys.modules["lgtm_standin"]

SCHEMA = mimir.load_schema()


def decode(text: str) -> dict[str, Any]:
    return mimir.decode_config(text, SCHEMA)[0]


def config_error(text: str) -> str:
    with pytest.raises(mimir.ConfigError) as raised:
        decode(text)
    return str(raised.value)


# --- config validation -------------------------------------------------------------

def test_schema_names_its_upstream_source() -> None:
    source = SCHEMA["source"]
    assert source["ref"] == "mimir-2.17.4"
    assert source["project"] == "https://github.com/grafana/mimir"
    assert len(source["sha256"]) == 64


@pytest.mark.skipif(not UPSTREAM_EXAMPLES.is_dir(),
                    reason=f"upstream examples not present in {UPSTREAM_EXAMPLES}")
@pytest.mark.parametrize("name", ["play-with-grafana-mimir.yaml", "demo.yaml",
                                  "single-process-config-blocks.yaml",
                                  "single-process-config-blocks-gossip-1.yaml",
                                  "single-process-config-blocks-gossip-2.yaml",
                                  "single-process-config-blocks-tls.yaml"])
def test_upstream_example_configs_load_and_validate(name: str) -> None:
    config, explicit = mimir.decode_config((UPSTREAM_EXAMPLES / name).read_text(), SCHEMA)
    mimir.inherit_common(config, explicit, SCHEMA)
    mimir.validate_config(config)


def test_defaults_that_bite_come_from_the_descriptor() -> None:
    config = decode("")
    assert config["multitenancy_enabled"] is True
    assert config["server"]["http_listen_port"] == 8080
    assert config["server"]["http_listen_address"] == ""
    assert config["server"]["grpc_listen_port"] == 9095
    assert config["usage_stats"]["enabled"] is True
    assert config["limits"]["max_global_exemplars_per_user"] == 0
    assert config["ingester"]["ring"]["replication_factor"] == 3
    assert config["blocks_storage"]["tsdb"]["dir"] == "./tsdb/"
    assert config["target"] == "all"


def test_unknown_keys_are_refused_at_every_depth_with_line_and_type() -> None:
    message = config_error("server:\n  http_listen_port: 9009\n  no_such_key: 1\n"
                           "ingester:\n  ring:\n    kvstore:\n      bogus: x\nfoo: 1\n")
    assert "line 3: field no_such_key not found in type server.Config" in message
    assert "line 7: field bogus not found in type ingester.ring.kvstore" in message
    assert "line 8: field foo not found in type mimir.Config" in message


def test_wrong_types_are_refused() -> None:
    assert "cannot unmarshal !!str `abc` into int" in config_error(
        "server:\n  http_listen_port: abc\n")
    assert "cannot unmarshal !!str `maybe` into bool" in config_error(
        "multitenancy_enabled: maybe\n")
    assert "cannot unmarshal !!map into string" in config_error("target: {a: b}\n")
    assert "cannot unmarshal !!str `x` into []string" in config_error(
        "memberlist:\n  join_members: x\n")
    assert "into server.Config" in config_error("server: 8080\n")
    # yaml.v3's friendliness: yes/no for bools, integral floats for ints.
    assert decode("multitenancy_enabled: no\n")["multitenancy_enabled"] is False
    # A quoted number is a string, and an int field refuses it.
    assert "cannot unmarshal !!str `9009` into int" in config_error(
        "server:\n  http_listen_port: '9009'\n")


def test_durations_follow_their_go_types() -> None:
    # time.Duration fields take Go durations (no d/w units) or a plain 0 ...
    config = decode("blocks_storage:\n  tsdb:\n    retention_period: 720h\n"
                    "server:\n  graceful_shutdown_timeout: 1h30m\n  http_server_read_timeout: 0\n")
    assert config["blocks_storage"]["tsdb"]["retention_period"] == 720 * 3600 * 10**9
    assert config["server"]["graceful_shutdown_timeout"] == 5400 * 10**9
    assert config["server"]["http_server_read_timeout"] == 0
    assert "cannot unmarshal !!str `13w` into time.Duration" in config_error(
        "blocks_storage:\n  tsdb:\n    retention_period: 13w\n")
    assert "cannot unmarshal !!str `7x` into time.Duration" in config_error(
        "server:\n  graceful_shutdown_timeout: 7x\n")
    assert "cannot unmarshal !!int `5` into time.Duration" in config_error(
        "server:\n  graceful_shutdown_timeout: 5\n")
    # ... while the model.Duration limits take Prometheus-style ones.
    for text, seconds in (("7d", 7 * 86400), ("13w", 13 * 7 * 86400), ("720h", 720 * 3600),
                          ("1h30m", 5400), ("0", 0), ("1y", 365 * 86400)):
        config = decode(f"limits:\n  compactor_blocks_retention_period: {text}\n")
        assert config["limits"]["compactor_blocks_retention_period"] == seconds * 10**9
    assert config_error("limits:\n  compactor_blocks_retention_period: 7x\n") == \
        'not a valid duration string: "7x"'
    assert config_error("limits:\n  compactor_blocks_retention_period: 1h7d\n") == \
        'not a valid duration string: "1h7d"'


def test_yaml_syntax_errors_and_duplicate_keys() -> None:
    assert config_error("server: [1\n").startswith("yaml: line 2:")
    assert 'line 3: mapping key "http_listen_port" already defined at line 2' in config_error(
        "server:\n  http_listen_port: 1\n  http_listen_port: 2\n")


def test_expand_env_like_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGTM_PORT", "9009")
    monkeypatch.delenv("LGTM_UNSET", raising=False)
    assert mimir.expand_env("a: ${LGTM_PORT}\nb: $LGTM_PORT\n") == "a: 9009\nb: 9009\n"
    # A lone $ stays; the bad syntax ${} is eaten (Go os.Expand).
    assert mimir.expand_env("${LGTM_UNSET:fallback} ${LGTM_UNSET} $ ${}x") == "fallback  $ x"
    assert mimir.expand_env("${LGTM_PORT:1}") == "9009"


def test_common_storage_is_inherited_and_overlapping_paths_are_refused() -> None:
    text = "common:\n  storage:\n    backend: filesystem\n    filesystem:\n      dir: /data\n"
    config, explicit = mimir.decode_config(text, SCHEMA)
    mimir.inherit_common(config, explicit, SCHEMA)
    assert config["blocks_storage"]["filesystem"]["dir"] == "/data"
    assert config["ruler_storage"]["filesystem"]["dir"] == "/data"
    with pytest.raises(mimir.ConfigError, match="blocks storage filesystem directory "
                       '"/data" cannot overlap with the configured ruler storage'):
        mimir.validate_config(config)
    config, explicit = mimir.decode_config(text + "blocks_storage:\n  storage_prefix: blocks\n"
                                           "  tsdb:\n    dir: /tsdb\n", SCHEMA)
    mimir.inherit_common(config, explicit, SCHEMA)
    mimir.validate_config(config)


def run_standin(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The image has lgtm_standin in dist-packages; here it comes from standins/.
    env = {**os.environ, "PYTHONPATH": str(STANDIN.parent.parent)}
    return subprocess.run([sys.executable, str(STANDIN), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=30, check=False, env=env)


def test_exit_codes_and_messages_are_upstreams(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  http_listen_prot: 9009\n")
    result = run_standin(f"-config.file={bad}", cwd=tmp_path)
    assert result.returncode == 1
    assert f"error loading config from {bad}: Error parsing config file: yaml: unmarshal " \
           "errors:\n  line 2: field http_listen_prot not found in type server.Config" \
           in result.stderr
    # Flags are parsed after the config file: an unknown one exits 2.
    result = run_standin("-no.such-flag=1", cwd=tmp_path)
    assert result.returncode == 2
    assert "flag provided but not defined: -no.such-flag" in result.stderr
    result = run_standin("-version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("Mimir, version 2.17.11 (branch: release-2.17")
    assert run_standin("--version", cwd=tmp_path).returncode == 0
    assert run_standin("-help", cwd=tmp_path).returncode == 2
    result = run_standin("-config.file=/nonexistent.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "no such file or directory" in result.stderr
    result = run_standin("-target=nope", "-server.http-listen-port=0",
                         "-server.grpc-listen-port=0", cwd=tmp_path)
    assert result.returncode == 1 and "unrecognised module name: nope" in result.stderr


@pytest.mark.parametrize(("parent", "reason"), [("missing-dir", "no such file or directory"),
                                                ("a-file", "not a directory")])
def test_an_activity_file_it_cannot_create_stops_it_like_mimir(
        tmp_path: Path, parent: str, reason: str) -> None:
    # Root writes anywhere: only a parent that is missing or not a directory stops it here.
    (tmp_path / "a-file").write_text("")
    target = tmp_path / parent / "metrics-activity.log"
    result = run_standin(f"-activity-tracker.filepath={target}", "-server.http-listen-port=0",
                         "-server.grpc-listen-port=0", "-usage-stats.enabled=false",
                         cwd=tmp_path)
    assert result.returncode == 1
    assert ("error initialising module: activity-tracker: failed to create activity file: "
            f"open {target}: {reason}") in result.stderr
    assert "Application started" not in result.stderr


def test_listing_modules_creates_no_activity_file(tmp_path: Path) -> None:
    result = run_standin("-modules", cwd=tmp_path)
    assert result.returncode == 0 and "ingester" in result.stdout
    assert not (tmp_path / "metrics-activity.log").exists()


def test_config_expand_env_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "mimir.yaml"
    config.write_text("server:\n  http_listen_port: ${LGTM_TEST_UNSET_PORT:notaport}\n")
    monkeypatch.delenv("LGTM_TEST_UNSET_PORT", raising=False)
    expanded = run_standin(f"-config.file={config}", "-config.expand-env=true", "-version",
                           cwd=tmp_path)
    assert expanded.returncode == 1
    assert "cannot unmarshal !!str `notaport` into int" in expanded.stderr
    literal = run_standin(f"-config.file={config}", "-version", cwd=tmp_path)
    assert literal.returncode == 1 and "`${LGTM_...`" in literal.stderr


def test_go_flag_parsing() -> None:
    table = mimir.flag_table(SCHEMA)
    parsed = mimir.parse_flags(["-target=all", "--server.http-listen-port", "9009",
                                "-auth.multitenancy-enabled=false", "-config.expand-env",
                                "positional", "-ignored"], table)
    assert parsed == [("target", "all"), ("server.http-listen-port", 9009),
                      ("auth.multitenancy-enabled", False), ("config.expand-env", True)]
    with pytest.raises(mimir.FlagError, match="flag needs an argument: -target"):
        mimir.parse_flags(["-target"], table)
    with pytest.raises(mimir.FlagError, match='invalid value "7d" for flag '
                       "-blocks-storage.tsdb.retention-period: parse error"):
        mimir.parse_flags(["-blocks-storage.tsdb.retention-period=7d"], table)
    assert mimir.parse_flags(["-compactor.blocks-retention-period=7d"], table) == \
        [("compactor.blocks-retention-period", 7 * 86400 * 10**9)]


def test_go_duration_helpers() -> None:
    assert shared.go_parse_duration("1.5s") == 1_500_000_000
    assert shared.go_parse_duration("-2m") == -120 * 10**9
    for bad in ("", "7d", "5", "h", ".h"):
        with pytest.raises(ValueError):
            shared.go_parse_duration(bad)
    assert shared.go_format_duration(120 * 10**9) == "2m0s"
    assert shared.go_format_duration(13 * 3600 * 10**9) == "13h0m0s"
    assert shared.go_format_duration(200 * 10**6) == "200ms"
    assert shared.model_format_duration(30 * 86400 * 10**9) == "30d"


# --- remote write decoding: snappy block format and protobuf -------------------------

def uvarint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 fields carry negatives as 10-byte two's complement
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
    return uvarint(number << 3 | 0) + uvarint(value)


def pb_double(number: int, value: float | bytes) -> bytes:
    raw = value if isinstance(value, bytes) else struct.pack("<d", value)
    return uvarint(number << 3 | 1) + raw


def label(name: str, value: str) -> bytes:
    return pb_bytes(1, pb_bytes(1, name.encode()) + pb_bytes(2, value.encode()))


def sample(value: float | bytes, stamp: int) -> bytes:
    return pb_bytes(2, pb_double(1, value) + pb_varint(2, stamp))


def timeseries(labels: dict[str, str], samples: list[tuple[float | bytes, int]],
               exemplars: tuple[tuple[dict[str, str], float, int], ...] = ()) -> bytes:
    body = b"".join(label(k, v) for k, v in labels.items())
    body += b"".join(sample(v, t) for v, t in samples)
    for ex_labels, value, stamp in exemplars:
        inner = b"".join(label(k, v) for k, v in ex_labels.items())
        body += pb_bytes(3, inner + pb_double(2, value) + pb_varint(3, stamp))
    return pb_bytes(1, body)


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


STALE = struct.pack("<Q", 0x7FF0000000000002)


def test_snappy_literals_and_copies() -> None:
    data = bytes(range(256)) * 300
    assert mimir.snappy_decompress(snappy_literals(data), 1 << 20) == data
    # "abcd" then 8 bytes copied from offset 4, once with a 1-byte and once with a 2-byte
    # offset element (2.2.1 and 2.2.2), overlapping the output as snappy allows.
    assert mimir.snappy_decompress(b"\x0c\x0cabcd\x11\x04", 100) == b"abcd" * 3
    assert mimir.snappy_decompress(b"\x0c\x0cabcd\x1e\x04\x00", 100) == b"abcd" * 3
    # A 4-byte offset copy (2.2.3) of one byte repeated: run-length encoding.
    assert mimir.snappy_decompress(b"\x0c\x00a\x2b\x01\x00\x00\x00", 100) == b"a" * 12
    for corrupt in (b"\x05\x0cab", b"\x04\x11\x04", b"\x08\x0cabcd", b"\x80"):
        with pytest.raises(mimir.DecodeError):
            mimir.snappy_decompress(corrupt, 100)
    with pytest.raises(mimir.DecodeError, match="exceeds the limit"):
        mimir.snappy_decompress(snappy_literals(b"x" * 200), 100)


def test_write_request_decoding() -> None:
    payload = (timeseries({"__name__": "up", "job": "prometheus"},
                          [(1.0, 1700000000000), (STALE, 1700000015000), (-0.5, -5)],
                          (({"trace_id": "abc"}, 2.5, 1700000000001),))
               + pb_bytes(3, pb_varint(1, 1) + pb_bytes(2, b"up") + pb_bytes(4, b"help")))
    request = mimir.decode_write_request(payload)
    series = request["series"][0]
    assert series["labels"] == [("__name__", "up"), ("job", "prometheus")]
    assert series["samples"] == [(1700000000000, 1.0), (1700000015000, None), (-5, -0.5)]
    assert series["exemplars"] == [(1700000000001, 2.5, {"trace_id": "abc"})]
    assert request["metadata"] == [{"type": 1, "name": "up", "help": "help", "unit": ""}]
    with pytest.raises(mimir.DecodeError):
        mimir.decode_write_request(b"\x0a\x05\x0a")
    with pytest.raises(mimir.DecodeError, match="wire type"):
        mimir.decode_write_request(b"\x0b")


# --- PromQL subset -------------------------------------------------------------------

def make_tenant() -> Any:
    tenant = mimir.Tenant("t")
    for labels, points in (({"__name__": "up", "job": "prometheus", "instance": "a"},
                            [(1000, 1.0), (61000, 1.0)]),
                           ({"__name__": "up", "job": "node", "instance": "b"},
                            [(1000, 0.0)]),
                           ({"__name__": "x", "job": "node"}, [(1000, 5.0), (30000, None)])):
        series = mimir.Store._series(tenant, labels)
        for stamp, value in points:
            series.stamps.append(stamp)
            series.values.append(value)
    return tenant


def evaluate(query: str, stamp: int) -> tuple[str, Any]:
    return mimir.Evaluator(make_tenant(), 300 * 10**9).eval(mimir.parse_query(query), stamp)


def test_queries_the_subset_answers() -> None:
    assert evaluate("1+1", 0) == ("scalar", 2.0)
    assert evaluate("2 * (3 - 1) ^ 2 / 4", 0) == ("scalar", 2.0)
    assert evaluate("-2^2", 0) == ("scalar", -4.0)
    assert math.isinf(evaluate("1/0", 0)[1])
    kind, vector = evaluate('up{job="prometheus"}', 2000)
    assert kind == "vector" and [v for _labels, v in vector] == [1.0]
    assert len(evaluate("up", 2000)[1]) == 2
    assert len(evaluate('{__name__=~"u.", job!="node"}', 2000)[1]) == 1
    assert evaluate('up{job!~"prom.*"}', 2000)[1][0][0]["instance"] == "b"
    assert evaluate("count(up)", 2000)[1] == [({}, 2.0)]
    assert sorted(evaluate("sum by (job) (up)", 2000)[1], key=str) == \
        [({"job": "node"}, 0.0), ({"job": "prometheus"}, 1.0)]
    assert evaluate("up * 10", 301000)[1] == [({"job": "prometheus", "instance": "a"}, 10.0)]
    # Lookback is 5 minutes; a staleness marker ends a series at once.
    assert evaluate("up", 1000 + 300_000)[1] == [
        ({"__name__": "up", "job": "prometheus", "instance": "a"}, 1.0)]
    assert evaluate("x", 20000)[1] and not evaluate("x", 31000)[1]


@pytest.mark.parametrize(("query", "fragment"), [
    ("rate(up[5m])", "not supported by the lgtm Mimir stand-in"),
    ("up > 1", "not supported"),
    ("up offset 5m", "not supported"),
    ("{}", "vector selector must contain at least one non-empty matcher"),
    ('{job=""}', "vector selector must contain at least one non-empty matcher"),
    ("sum(", "parse error"),
    ("up{job=}", "parse error"),
    ("", "no expression found in input"),
])
def test_queries_outside_the_subset_are_bad_data(query: str, fragment: str) -> None:
    with pytest.raises(mimir.QueryError) as raised:
        mimir.parse_query(query)
    assert fragment in str(raised.value)
    assert raised.value.error_type == "bad_data" and raised.value.status == 400


def test_sample_values_are_formatted_like_prometheus() -> None:
    assert [mimir.format_float(v) for v in (2.0, 0.5, 1e21, 1e-7, math.nan, -math.inf)] == \
        ["2", "0.5", "1000000000000000000000", "0.0000001", "NaN", "-Inf"]


# --- the real HTTP server ------------------------------------------------------------

class Running:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.base = f"http://127.0.0.1:{app.http_port}"

    def request(self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None,
                method: str | None = None) -> tuple[int, str]:
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {},
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def push(self, payload: bytes, tenant: str | None = "team-a") -> tuple[int, str]:
        headers = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                   "X-Prometheus-Remote-Write-Version": "0.1.0"}
        if tenant:
            headers["X-Scope-OrgID"] = tenant
        return self.request("/api/v1/push", snappy_literals(payload), headers)

    def query(self, query: str, tenant: str | None = "team-a", **params: str) -> tuple[int, Any]:
        headers = {"X-Scope-OrgID": tenant} if tenant else {}
        status, body = self.request("/prometheus/api/v1/query?" + urllib.parse.urlencode(
            {"query": query, **params}), headers=headers)
        with contextlib.suppress(ValueError):
            return status, json.loads(body)
        return status, body

    def wait_ready(self, timeout: float = 15.0) -> list[int]:
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.request("/ready")[0]
            seen.append(status)
            if status == 200:
                return seen
            time.sleep(0.05)
        raise AssertionError(f"never ready: {seen[-5:]}")


@pytest.fixture
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - fixture factory
    monkeypatch.chdir(tmp_path)  # the relative default data paths land here
    apps = []

    def starter(text: str, min_ready: str = "0s") -> Running:
        # Readiness comes from the config alone: upstream's 15 s min_ready_duration is
        # shortened here unless the test's own text sets the ring.
        loaded = yaml.safe_load(text) or {}
        ring = loaded.setdefault("ingester", {}).setdefault("ring", {})
        ring.setdefault("min_ready_duration", min_ready)
        config, explicit = mimir.decode_config(
            yaml.safe_dump(loaded)
            + "\nserver: {http_listen_address: 127.0.0.1, http_listen_port: 0, "
            "grpc_listen_address: 127.0.0.1, grpc_listen_port: 0}\n"
            "memberlist: {bind_port: 0, bind_addr: [127.0.0.1]}\n"
            "usage_stats: {enabled: false}\n", SCHEMA)
        mimir.inherit_common(config, explicit, SCHEMA)
        mimir.validate_config(config)
        app = mimir.Mimir(config, explicit, SCHEMA, "hash")
        app.start()
        apps.append(app)
        return Running(app)

    yield starter
    for app in apps:
        app.stop()


SINGLE_TENANT = "multitenancy_enabled: false\ningester: {ring: {replication_factor: 1}}\n"
MULTI_TENANT = "ingester: {ring: {replication_factor: 1}}\n"


def test_ready_is_503_then_200(start: Any) -> None:
    running = start(SINGLE_TENANT, min_ready="1s")
    status, body = running.request("/ready")
    assert (status, body) == (503, "Ingester not ready: waiting for 1s after being ready\n")
    seen = running.wait_ready()
    assert seen[0] == 503 and seen[-1] == 200
    assert running.request("/ready") == (200, "ready\n")


def test_ready_waits_upstreams_min_ready_duration_from_the_first_check(start: Any) -> None:
    # No ring settings given: upstream's 15 s apply, counted from the first check that
    # found the ingester in its ring, then latched.
    running = start(SINGLE_TENANT, min_ready="15s")
    assert running.app.min_ready == 15 * 10**9
    assert running.request("/ready")[0] == 503
    first = running.app.ready_since
    assert first is not None
    assert running.request("/ready") == (
        503, "Ingester not ready: waiting for 15s after being ready\n")
    assert running.app.ready_since == first, "the window counts from the first check"
    running.app.ready_since = first - 15  # the 15 s have passed
    assert running.request("/ready") == (200, "ready\n")
    running.app.ready_since = time.monotonic()  # latched: later checks need no new wait
    assert running.request("/ready") == (200, "ready\n")


def test_observe_period_keeps_the_ingester_joining(start: Any) -> None:
    running = start("multitenancy_enabled: false\ningester:\n  ring:\n    replication_factor: 1\n"
                    "    observe_period: 1s\n    min_ready_duration: 0s\n"
                    "    instance_addr: 127.0.0.1\n    instance_port: 9095\n")
    assert running.request("/ready") == (
        503, "Ingester not ready: instance 127.0.0.1:9095 in state JOINING\n")
    payload = timeseries({"__name__": "j"}, [(1.0, int(time.time() * 1000))])
    assert running.push(payload, tenant=None) == (500, "empty ring\n")
    seen = running.wait_ready()
    assert seen[-1] == 200
    assert running.push(payload, tenant=None)[0] == 200


@pytest.mark.parametrize("store", ["consul", "etcd"])
def test_a_ring_store_it_cannot_reach_never_becomes_ready(start: Any, store: str) -> None:
    running = start("multitenancy_enabled: false\ningester:\n  ring:\n"
                    f"    replication_factor: 1\n    kvstore: {{store: {store}}}\n")
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        assert running.request("/ready") == (
            503, "Ingester not ready: this instance owns no tokens\n")
        time.sleep(0.1)
    payload = timeseries({"__name__": "n"}, [(1.0, int(time.time() * 1000))])
    assert running.push(payload, tenant=None) == (500, "empty ring\n")


def test_multitenancy_is_on_by_default(start: Any) -> None:
    running = start(MULTI_TENANT)
    running.wait_ready()
    payload = timeseries({"__name__": "m", "job": "j"}, [(3.0, int(time.time() * 1000))])
    assert running.push(payload, tenant=None) == (401, "no org id\n")
    assert running.query("m", tenant=None) == (401, "no org id\n")
    assert running.push(payload, tenant="team-a")[0] == 200
    status, body = running.query("m", tenant="team-a")
    assert status == 200 and body["data"]["result"][0]["value"][1] == "3"
    assert running.query("m", tenant="team-b")[1]["data"]["result"] == []
    # Public endpoints need no tenant.
    assert running.request("/prometheus/api/v1/status/buildinfo")[0] == 200
    assert "cortex_build_info{" in running.request("/metrics")[1]


def test_pushed_samples_are_queryable_and_survive_a_restart(start: Any, tmp_path: Path) -> None:
    running = start(SINGLE_TENANT)
    running.wait_ready()
    now = int(time.time() * 1000)
    payload = (timeseries({"__name__": "up", "job": "prometheus", "instance": "localhost:9090"},
                          [(1.0, now - 15000), (1.0, now)],
                          (({"trace_id": "abc"}, 1.0, now),))
               + pb_bytes(3, pb_varint(1, 2) + pb_bytes(2, b"up") + pb_bytes(4, b"up help")))
    assert running.push(payload, tenant=None) == (200, "")
    status, body = running.query('up{job="prometheus"}', tenant=None)
    assert status == 200 and body["status"] == "success"
    assert body["data"]["resultType"] == "vector"
    assert body["data"]["result"][0]["metric"] == {"__name__": "up", "job": "prometheus",
                                                   "instance": "localhost:9090"}
    assert running.query("count(up)", tenant=None)[1]["data"]["result"][0]["value"][1] == "1"
    # Grafana's health check: POST form, instant `1+1` at time 4.
    status, text = running.request("/prometheus/api/v1/query", b"query=1%2B1&time=4",
                                   {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and json.loads(text)["data"] == {"resultType": "scalar",
                                                          "result": [4, "2"]}
    series = json.loads(running.request("/prometheus/api/v1/series?match[]=up")[1])
    assert series["data"] == [{"__name__": "up", "instance": "localhost:9090",
                               "job": "prometheus"}]
    assert json.loads(running.request("/prometheus/api/v1/labels")[1])["data"] == \
        ["__name__", "instance", "job"]
    assert json.loads(running.request("/prometheus/api/v1/label/job/values")[1])["data"] == \
        ["prometheus"]
    metadata = json.loads(running.request("/prometheus/api/v1/metadata")[1])["data"]
    assert metadata == {"up": [{"type": "gauge", "help": "up help", "unit": ""}]}
    start_s, end_s = (now - 30000) / 1000, now / 1000
    ranged = json.loads(running.request(
        f"/prometheus/api/v1/query_range?query=up&start={start_s}&end={end_s}&step=15")[1])
    assert ranged["data"]["resultType"] == "matrix"
    assert [v for _stamp, v in ranged["data"]["result"][0]["values"]][-1] == "1"
    # Exemplars are dropped unless max_global_exemplars_per_user > 0 (the default is 0).
    exemplars = json.loads(running.request("/prometheus/api/v1/query_exemplars?query=up")[1])
    assert exemplars["data"] == []
    bad = running.query("rate(up[5m])", tenant=None)
    assert bad[0] == 400 and bad[1]["errorType"] == "bad_data"
    wal = tmp_path / "tsdb" / "anonymous" / "standin-samples.jsonl"
    assert wal.is_file()
    running.app.stop()
    again = start(SINGLE_TENANT)
    again.wait_ready()
    status, body = again.query('up{job="prometheus"}', tenant=None)
    assert body["data"]["result"][0]["value"][1] == "1"


def test_exemplars_are_kept_when_the_limit_allows(start: Any) -> None:
    running = start(SINGLE_TENANT + "limits: {max_global_exemplars_per_user: 10}\n")
    running.wait_ready()
    now = int(time.time() * 1000)
    payload = timeseries({"__name__": "req_total"}, [(1.0, now)],
                         (({"trace_id": "abc"}, 1.0, now),))
    assert running.push(payload, tenant=None)[0] == 200
    result = json.loads(running.request("/prometheus/api/v1/query_exemplars?query=req_total")[1])
    assert result["data"][0]["exemplars"][0]["labels"] == {"trace_id": "abc"}


def test_push_validation_like_mimir(start: Any) -> None:
    running = start(SINGLE_TENANT)
    running.wait_ready()
    now = int(time.time() * 1000)
    assert running.push(timeseries({"job": "x"}, [(1.0, now)]), tenant=None)[0] == 400
    assert running.push(timeseries({"__name__": "a"}, [(1.0, now)]), tenant=None)[0] == 200
    status, body = running.push(timeseries({"__name__": "a"}, [(1.0, now - 60000)]),
                                tenant=None)
    assert status == 400 and "err-mimir-sample-out-of-order" in body
    status, body = running.request("/api/v1/push", b"not snappy at all",
                                   {"Content-Encoding": "snappy"})
    assert status == 400
    status, body = running.request("/api/v1/push", b"", {
        "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"})
    assert status == 415 and "remote write 2.0" in body


def test_replication_factor_3_on_one_ingester_fails_like_mimir(start: Any) -> None:
    running = start("multitenancy_enabled: false\n")
    running.wait_ready()
    status, body = running.push(timeseries({"__name__": "a"}, [(1.0, int(time.time() * 1000))]),
                                tenant=None)
    assert status == 500 and "at least 2 live replicas required, could only find 1" in body
    status, body = running.query("a", tenant=None)
    assert status == 500 and body["errorType"] == "internal"
    assert running.query("1+1", tenant=None)[1]["data"]["result"][1] == "2"


def test_config_and_services_pages(start: Any) -> None:
    running = start(SINGLE_TENANT)
    status, text = running.request("/config")
    assert status == 200
    shown = yaml.safe_load(text)
    assert shown["multitenancy_enabled"] is False
    assert shown["server"]["http_server_write_timeout"] == "2m0s"
    diff = yaml.safe_load(running.request("/config?mode=diff")[1])
    assert diff["multitenancy_enabled"] is False and "target" not in diff
    status, page = running.request("/services")
    assert status == 200 and "ingester" in page


def test_out_of_order_window_and_replay_keep_samples_in_time_order(start: Any) -> None:
    config = SINGLE_TENANT + "limits: {out_of_order_time_window: 10m}\n"
    running = start(config)
    running.wait_ready()
    now = int(time.time() * 1000)
    assert running.push(timeseries({"__name__": "o"}, [(2.0, now)]), tenant=None)[0] == 200
    assert running.push(timeseries({"__name__": "o"}, [(1.0, now - 60000)]),
                        tenant=None)[0] == 200
    path = (f"/prometheus/api/v1/query_range?query=o&start={(now - 60000) / 1000}"
            f"&end={now / 1000}&step=60")
    values = json.loads(running.request(path)[1])["data"]["result"][0]["values"]
    assert [v for _stamp, v in values] == ["1", "2"]
    running.app.stop()
    again = start(config)
    again.wait_ready()
    values = json.loads(again.request(path)[1])["data"]["result"][0]["values"]
    assert [v for _stamp, v in values] == ["1", "2"]


def test_the_activity_file_is_created_in_the_working_directory_and_sized(
        start: Any, tmp_path: Path) -> None:
    activity = tmp_path / "metrics-activity.log"  # the default, relative to the cwd
    activity.write_text("left by an earlier run")
    start(SINGLE_TENANT + "activity_tracker: {max_entries: 3}\n")
    assert activity.read_bytes() == bytes(3 * 1024)


def test_an_empty_activity_file_path_turns_the_tracker_off(start: Any, tmp_path: Path) -> None:
    start(SINGLE_TENANT + "activity_tracker: {filepath: ''}\n")
    assert not (tmp_path / "metrics-activity.log").exists()
