"""Contract stand-in for Grafana Alloy 1.18.1 (docker.io/grafana/alloy:v1.18.1).

No registry here serves the Alloy image, so the test image `localhost/lgtm-test/alloy:v1.18.1`
runs this program as `/bin/alloy` (root, bash present, as upstream's Debian-based image;
entrypoint `/bin/alloy`, cmd `run /etc/alloy/config.alloy --storage.path=/var/lib/alloy/data`).
It parses the real Alloy configuration syntax, validates it against a schema generated
from upstream's component reference at the pinned tag (gen_schema.py -> schema.json), and
really moves data: what it reads from the journal or receives over OTLP/HTTP and Faro is
forwarded, in the wire formats upstream uses, to the endpoints the config names, so the
tests query the real Loki, Tempo and Mimir/Prometheus for what arrived.

Pinned version: v1.18.1 (2026-08-06), the newest release whose tag is in the grafana/alloy
snapshot reachable here. Newer releases exist upstream (1.21.2, 2026-10-22), but the
schema must come from the pinned tag's own reference, so the pin and the schema move
together.

Upstream sources this follows (read at v1.18.1, not copied):
- Syntax: docs/sources/get-started/configuration-syntax/ (blocks, attributes, expressions,
  operators, references `loki.write.default.receiver`, strings with escapes and backtick
  raw strings, `//` and `/* */` comments) and docs/sources/reference/stdlib/.
- Components: docs/sources/reference/components/** and docs/sources/shared/** (the
  schema), docs/sources/reference/config-blocks/** (logging, http, ...).
- CLI: docs/sources/reference/cli/run.md (flags; `--server.http.listen-addr` defaults to
  127.0.0.1:12345; `--stability.level` generally-available by default;
  `--disable-reporting`) and cli/validate.md (same `--stability.level` and
  `--feature.community-components.enabled` flags; non-zero exit and diagnostics on stderr).
- `/-/ready` and `/-/healthy` (internal/service/http), the exporter targets
  (internal/component/prometheus/exporter/exporter.go: `job` integrations/<name>,
  `instance` the exporter's key), loki.source.journal labels (`__journal_<field>`,
  `__journal_priority_keyword`, a `job` label with the component's name, journal read from
  /var/log/journal and /run/log/journal when `path` is empty, `max_age` 7h),
  faro.receiver (internal/component/faro/receiver: POST /collect answers 202 `ok`, gzip
  bodies, `X-API-Key`, logfmt lines from payload KeyVals, `extra_log_labels` with an
  empty value copying the payload's field).
- Loki push: pkg/push/push.proto (PushRequest/StreamAdapter/EntryAdapter), protobuf with
  snappy block compression as upstream's clients send it;
  https://github.com/google/snappy/blob/main/format_description.txt.
- Prometheus remote write 1.0: https://prometheus.io/docs/specs/prw/remote_write_spec/.
- Client TLS: internal/component/common/config/types.go TLSConfig (`tls_config` of loki.write
  and prometheus.remote_write endpoints, converted to prometheus/common's: a CA replaces the
  system pool, server_name is verified and sent as SNI) and
  internal/component/otelcol/config_tls.go TLSClientArguments (`tls` of otelcol clients, to
  collector configtls: `insecure` without a CA means no TLS settings at all, so an https
  URL is then verified against the system pool and the URL's host); both Validate "at most
  one of ca_pem and ca_file must be configured" and the cert/key pairing. Go's crypto/tls
  and crypto/x509 error texts.
- OTLP/HTTP and OTLP/gRPC: https://opentelemetry.io/docs/specs/otlp/ (binary protobuf and
  JSON bodies, `/v1/traces|logs|metrics`; the `opentelemetry.proto.collector.*.v1`
  services' Export methods), opentelemetry-proto metrics.proto for the metrics conversion;
  gRPC over HTTP/2: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
  (length-prefixed messages, `grpc-status` trailers).

What it does NOT do: the OTLP gRPC *exporter* (otelcol.exporter.otlp) logs and drops
(use otlphttp); the gRPC receiver needs Debian's python3-h2 (in the image; without it the
port is open and connections are closed). Components outside the list below validate but
do nothing at run time (a warning says so).
Implemented at run time: loki.source.journal (through the image's real `journalctl`),
loki.relabel, loki.write, otelcol.receiver.otlp (HTTP with protobuf and JSON bodies; gRPC
unary Export calls over cleartext HTTP/2 through python3-h2, gzip message compression),
otelcol.processor.memory_limiter and .batch (pass-through), otelcol.exporter.otlphttp,
otelcol.exporter.prometheus (gauges, sums, histograms), prometheus.remote_write,
prometheus.scrape, prometheus.exporter.unix (a few /proc collectors),
prometheus.exporter.self, faro.receiver (logs, exceptions, measurements, events).
Client TLS (server verification with ca_pem/ca_file, server_name, insecure_skip_verify,
otelcol's insecure and include_system_ca_certs_pool) on loki.write, prometheus.remote_write
and otelcol.exporter.otlphttp; client certificates and min/max versions validate but are
not used. No clustering, no UI, no live debugging, no WAL, no usage reporting (only logged).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import math
import os
import platform
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Shared with the other stand-ins (installed beside this program in the image): protobuf
# and snappy encoding and the unary gRPC server.
from lgtm_standin import (  # noqa: E402 - the module sits beside this directory in the repo
    GrpcReply,
    GrpcServer,
    snappy_compress,
)
from lgtm_standin import proto_fixed_double as pb_double  # noqa: E402
from lgtm_standin import proto_len as pb_len  # noqa: E402
from lgtm_standin import proto_uint as pb_varint  # noqa: E402

VERSION = "v1.18.1"
SCHEMA_PATHS = [
    Path(os.environ.get("LGTM_ALLOY_SCHEMA", "/nonexistent")),
    Path(__file__).resolve().with_name("schema.json"),
    Path("/usr/share/lgtm-standin/alloy/schema.json"),
]
STAGES = {"experimental": 0, "public-preview": 1, "generally-available": 2}
DOC_STAGES = {"experimental": 0, "public-preview": 1, "general-availability": 2}
START = time.time()


class AlloyError(Exception):
    """A diagnostic with its position, printed as Alloy prints them."""

    def __init__(self, message: str, pos: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos

    def render(self, filename: str) -> str:
        if self.pos:
            return f"Error: {filename}:{self.pos[0]}:{self.pos[1]}: {self.message}"
        return f"Error: {filename}: {self.message}"


def log(level: str, msg: str, **fields: Any) -> None:
    parts = [f"ts={time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}Z", f"level={level}",
             f"msg={json.dumps(msg)}"]
    parts += [f"{key}={json.dumps(str(value))}" for key, value in fields.items()]
    print(" ".join(parts), file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- syntax

@dataclass
class Token:
    kind: str  # ident, string, number, op, eof
    value: Any
    pos: tuple[int, int]


OPERATORS = ["==", "!=", "<=", ">=", "&&", "||", "{", "}", "[", "]", "(", ")", "=", ",", ".",
             "+", "-", "*", "/", "%", "^", "<", ">", "!"]
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "a": "\a", "b": "\b",
           "f": "\f", "v": "\v"}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    index, line, col = 0, 1, 1

    def advance(count: int) -> None:
        nonlocal index, line, col
        for char in text[index:index + count]:
            if char == "\n":
                line, col = line + 1, 1
            else:
                col += 1
        index += count

    while index < len(text):
        char = text[index]
        pos = (line, col)
        if char in " \t\r\n":
            # Newlines separate statements in Alloy; the parser does not need them
            # because every statement starts with an identifier.
            advance(1)
        elif text.startswith("//", index) or char == "#":
            end = text.find("\n", index)
            advance((end if end >= 0 else len(text)) - index)
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            if end < 0:
                raise AlloyError("block comment is not terminated", pos)
            advance(end + 2 - index)
        elif char == '"':
            value, length = _string(text, index, pos)
            tokens.append(Token("string", value, pos))
            advance(length)
        elif char == "`":
            end = text.find("`", index + 1)
            if end < 0:
                raise AlloyError("raw string literal not terminated", pos)
            tokens.append(Token("string", text[index + 1:end], pos))
            advance(end + 1 - index)
        elif char.isdigit():
            match = re.match(r"\d+(\.\d+)?([eE][+-]?\d+)?", text[index:])
            assert match
            literal = match.group(0)
            number: float | int = (float(literal) if any(c in literal for c in ".eE")
                                   else int(literal))
            tokens.append(Token("number", number, pos))
            advance(len(literal))
        elif char.isalpha() or char == "_":
            match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[index:])
            assert match
            tokens.append(Token("ident", match.group(0), pos))
            advance(len(match.group(0)))
        else:
            for op in OPERATORS:
                if text.startswith(op, index):
                    tokens.append(Token("op", op, pos))
                    advance(len(op))
                    break
            else:
                raise AlloyError(f"illegal character {char!r}", pos)
    tokens.append(Token("eof", None, (line, col)))
    return tokens


def _string(text: str, start: int, pos: tuple[int, int]) -> tuple[str, int]:
    out = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == '"':
            return "".join(out), index + 1 - start
        if char == "\n":
            break
        if char == "\\":
            nxt = text[index + 1:index + 2]
            if nxt in ESCAPES:
                out.append(ESCAPES[nxt])
                index += 2
                continue
            if nxt in ("u", "U", "x"):
                width = {"u": 4, "U": 8, "x": 2}[nxt]
                digits = text[index + 2:index + 2 + width]
                if not re.fullmatch(r"[0-9a-fA-F]+", digits) or len(digits) != width:
                    raise AlloyError("invalid escape sequence", pos)
                out.append(chr(int(digits, 16)))
                index += 2 + width
                continue
            raise AlloyError(f"unknown escape sequence \\{nxt}", pos)
        out.append(char)
        index += 1
    raise AlloyError("string literal not terminated", pos)


@dataclass
class Expr:
    kind: str  # literal, list, object, ref, access, index, call, unary, binary
    pos: tuple[int, int]
    value: Any = None
    items: list[Any] = field(default_factory=list)


@dataclass
class Attr:
    name: str
    expr: Expr
    pos: tuple[int, int]


@dataclass
class Block:
    name: str
    label: str | None
    body: list[Attr | Block]
    pos: tuple[int, int]

    @property
    def id(self) -> str:
        return f"{self.name}.{self.label}" if self.label is not None else self.name

    def attrs(self) -> dict[str, Attr]:
        return {item.name: item for item in self.body if isinstance(item, Attr)}

    def blocks(self, name: str) -> list[Block]:
        return [item for item in self.body if isinstance(item, Block) and item.name == name]


BINARY_PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
                     "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "^": 6}


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind: str, value: Any = None) -> Token:
        token = self.tok
        if token.kind != kind or (value is not None and token.value != value):
            wanted = value if value is not None else kind
            got = token.value if token.kind != "eof" else "EOF"
            raise AlloyError(f"expected {wanted}, got {got}", token.pos)
        return self.take()

    def is_op(self, value: str) -> bool:
        return self.tok.kind == "op" and self.tok.value == value

    def body(self, closing: str | None = None) -> list[Attr | Block]:
        items: list[Attr | Block] = []
        while True:
            if closing and self.is_op(closing):
                return items
            if self.tok.kind == "eof":
                if closing:
                    raise AlloyError(f"expected {closing}, got EOF", self.tok.pos)
                return items
            items.append(self.statement())

    def statement(self) -> Attr | Block:
        first = self.expect("ident")
        name = first.value
        if self.is_op("="):
            self.take()
            return Attr(name, self.expression(), first.pos)
        while self.is_op("."):
            self.take()
            name += "." + self.expect("ident").value
        label = None
        if self.tok.kind == "string":
            label = self.take().value
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label):
                raise AlloyError(f"expected block label to be a valid identifier, got {label!r}",
                                 first.pos)
        if not self.is_op("{"):
            raise AlloyError(f"expected = or {{, got {self.tok.value}", self.tok.pos)
        self.take()
        body = self.body("}")
        self.expect("op", "}")
        return Block(name, label, body, first.pos)

    def expression(self, min_prec: int = 1) -> Expr:
        left = self.unary()
        while self.tok.kind == "op" and self.tok.value in BINARY_PRECEDENCE \
                and BINARY_PRECEDENCE[self.tok.value] >= min_prec:
            op = self.take()
            prec = BINARY_PRECEDENCE[op.value]
            right = self.expression(prec if op.value == "^" else prec + 1)
            left = Expr("binary", op.pos, op.value, [left, right])
        return left

    def unary(self) -> Expr:
        if self.is_op("-") or self.is_op("!"):
            op = self.take()
            return Expr("unary", op.pos, op.value, [self.unary()])
        return self.postfix(self.primary())

    def postfix(self, expr: Expr) -> Expr:
        while True:
            if self.is_op("."):
                self.take()
                name = self.expect("ident")
                if expr.kind == "ref":
                    expr = Expr("ref", expr.pos, [*expr.value, name.value])
                else:
                    expr = Expr("access", name.pos, name.value, [expr])
            elif self.is_op("["):
                start = self.take()
                index = self.expression()
                self.expect("op", "]")
                expr = Expr("index", start.pos, None, [expr, index])
            elif self.is_op("("):
                start = self.take()
                args = []
                while not self.is_op(")"):
                    args.append(self.expression())
                    if not self.is_op(")"):
                        self.expect("op", ",")
                self.take()
                expr = Expr("call", start.pos, expr, args)
            else:
                return expr

    def primary(self) -> Expr:
        token = self.tok
        if token.kind in ("string", "number"):
            self.take()
            return Expr("literal", token.pos, token.value)
        if token.kind == "ident":
            self.take()
            if token.value in ("true", "false"):
                return Expr("literal", token.pos, token.value == "true")
            if token.value == "null":
                return Expr("literal", token.pos, None)
            return Expr("ref", token.pos, [token.value])
        if self.is_op("("):
            self.take()
            inner = self.expression()
            self.expect("op", ")")
            return inner
        if self.is_op("["):
            self.take()
            items = []
            while not self.is_op("]"):
                items.append(self.expression())
                if not self.is_op("]"):
                    self.expect("op", ",")
            self.take()
            return Expr("list", token.pos, None, items)
        if self.is_op("{"):
            self.take()
            pairs = []
            while not self.is_op("}"):
                key = self.take()
                if key.kind not in ("ident", "string"):
                    raise AlloyError(f"expected object key, got {key.value}", key.pos)
                self.expect("op", "=")
                pairs.append((key.value, self.expression()))
                if not self.is_op("}"):
                    self.expect("op", ",")
            self.take()
            return Expr("object", token.pos, None, pairs)
        got = token.value if token.kind != "eof" else "EOF"
        raise AlloyError(f"expected expression, got {got}", token.pos)


def parse(text: str) -> list[Attr | Block]:
    return Parser(text).body()


# ---------------------------------------------------------------------------- evaluation

class Capsule:
    """A value that only components exchange (receivers, consumers, rules)."""

    kind = "capsule"


def go_format(fmt: str, args: list[Any]) -> str:
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        verb = match.group(0)
        if verb == "%%":
            return "%"
        value = next(values, None)
        if verb.endswith("d"):
            return str(int(value or 0))
        if verb.endswith("q"):
            return json.dumps(str(value))
        if verb.endswith("f"):
            return f"{float(value or 0):f}"
        return to_text(value)

    return re.sub(r"%[-+ #0-9.]*[a-zA-Z%]", one, fmt)


def to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


STDLIB = {
    "sys.env": lambda name: os.environ.get(name, ""),
    "env": lambda name: os.environ.get(name, ""),
    "string.format": lambda fmt, *args: go_format(fmt, list(args)),
    "format": lambda fmt, *args: go_format(fmt, list(args)),
    "string.join": lambda items, sep: sep.join(items),
    "join": lambda items, sep: sep.join(items),
    "string.to_lower": lambda text: text.lower(),
    "string.to_upper": lambda text: text.upper(),
    "string.trim_space": lambda text: text.strip(),
    "string.split": lambda text, sep: text.split(sep),
    "string.replace": lambda text, old, new: text.replace(old, new),
    "coalesce": lambda *values: next((v for v in values if v not in (None, "", [], {}, 0, False)),
                                     values[-1] if values else None),
    "array.concat": lambda *lists: [item for items in lists for item in items],
    "concat": lambda *lists: [item for items in lists for item in items],
    "encoding.from_json": json.loads,
    "json_decode": json.loads,
    "encoding.from_base64": lambda text: __import__("base64").b64decode(text).decode(),
    "file.path_join": os.path.join,
}
CONSTANTS = {"hostname": socket.gethostname(), "os": sys.platform, "arch": platform.machine()}


class Scope:
    """Resolves references: stdlib, constants, and the exports of declared components."""

    def __init__(self, components: dict[str, Any]) -> None:
        self.components = components  # id -> Component (exports resolved lazily)

    def resolve(self, parts: list[str], pos: tuple[int, int]) -> Any:
        if parts[0] == "constants":
            if len(parts) == 2 and parts[1] in CONSTANTS:
                return CONSTANTS[parts[1]]
            raise AlloyError(f"field {'.'.join(parts[1:])!r} does not exist", pos)
        for length in range(len(parts), 0, -1):
            name = ".".join(parts[:length])
            if name in self.components:
                value: Any = self.components[name]
                rest = parts[length:]
                if not rest:
                    raise AlloyError(f"component {name} cannot be used as a value; "
                                     "reference one of its exported fields", pos)
                value = value.export(rest[0], pos)
                for part in rest[1:]:
                    if not isinstance(value, dict) or part not in value:
                        raise AlloyError(f"field {part!r} does not exist", pos)
                    value = value[part]
                return value
        raise AlloyError(f"component \"{'.'.join(parts)}\" does not exist or is out of scope", pos)


def evaluate(expr: Expr, scope: Scope) -> Any:
    kind = expr.kind
    if kind == "literal":
        return expr.value
    if kind == "list":
        return [evaluate(item, scope) for item in expr.items]
    if kind == "object":
        return {key: evaluate(value, scope) for key, value in expr.items}
    if kind == "ref":
        return scope.resolve(expr.value, expr.pos)
    if kind == "access":
        target = evaluate(expr.items[0], scope)
        if not isinstance(target, dict) or expr.value not in target:
            raise AlloyError(f"field {expr.value!r} does not exist", expr.pos)
        return target[expr.value]
    if kind == "index":
        target, index = (evaluate(item, scope) for item in expr.items)
        try:
            return target[index]
        except (IndexError, KeyError, TypeError):
            raise AlloyError(f"index {index!r} out of range or not found", expr.pos) from None
    if kind == "call":
        callee = expr.value
        if callee.kind != "ref":
            raise AlloyError("expression is not a function", expr.pos)
        name = ".".join(callee.value)
        if name not in STDLIB:
            raise AlloyError(f"function {name!r} does not exist", callee.pos)
        args = [evaluate(item, scope) for item in expr.items]
        try:
            return STDLIB[name](*args)
        except (TypeError, ValueError, AttributeError) as error:
            raise AlloyError(f"{name}: {error}", expr.pos) from None
    if kind == "unary":
        value = evaluate(expr.items[0], scope)
        return (not value) if expr.value == "!" else -value
    if kind == "binary":
        left, right = (evaluate(item, scope) for item in expr.items)
        op = expr.value
        try:
            return {
                "||": lambda: left or right, "&&": lambda: left and right,
                "==": lambda: left == right, "!=": lambda: left != right,
                "<": lambda: left < right, "<=": lambda: left <= right,
                ">": lambda: left > right, ">=": lambda: left >= right,
                "+": lambda: left + right, "-": lambda: left - right,
                "*": lambda: left * right, "/": lambda: left / right,
                "%": lambda: left % right, "^": lambda: left ** right,
            }[op]()
        except TypeError:
            raise AlloyError(f"cannot apply {op} to {type(left).__name__} and "
                             f"{type(right).__name__}", expr.pos) from None
    raise AlloyError(f"unknown expression {kind}", expr.pos)


# ---------------------------------------------------------------------------- schema checks

def load_schema() -> dict[str, Any]:
    for path in SCHEMA_PATHS:
        if path.is_file():
            return json.loads(path.read_text())
    raise SystemExit("alloy stand-in: schema.json not found")


DURATION_RE = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w|y))+$|^0$|^inf(inity)?$")


def literal_type_error(arg_type: str, expr: Expr) -> str | None:
    """Type mismatches visible without evaluating (literals only, as a stand-in can)."""
    if expr.kind not in ("literal", "list", "object"):
        return None
    value = expr.value if expr.kind == "literal" else None
    base = arg_type.split("(", 1)[0]
    got = {"list": "array", "object": "object"}.get(expr.kind) or (
        "bool" if isinstance(value, bool) else "number" if isinstance(value, int | float)
        else "string" if isinstance(value, str) else "null")
    if got == "null":
        return None
    wanted = {"bool": "bool", "boolean": "bool", "number": "number", "int": "number",
              "float": "number", "float64": "number", "string": "string", "secret": "string",
              "duration": "string", "list": "array", "map": "object", "object": "object",
              "attributes": "object"}.get(base)
    if wanted is None:
        return None
    if wanted != got:
        return f"expected {wanted}, got {got}"
    if base == "duration" and isinstance(value, str) and not DURATION_RE.match(value):
        return f"{value!r} is not a valid duration"
    return None


def check_body(items: list[Attr | Block], spec: dict[str, Any], where: str,
               errors: list[AlloyError]) -> None:
    args = spec.get("args", {})
    blocks = spec.get("blocks", {})
    seen: set[str] = set()
    for item in items:
        if isinstance(item, Attr):
            if item.name in seen:
                errors.append(AlloyError(f"attribute {item.name!r} may only be provided once",
                                         item.pos))
            seen.add(item.name)
            if item.name not in args:
                if not spec.get("loose_args"):
                    errors.append(AlloyError(f"unrecognized attribute name {item.name!r}",
                                             item.pos))
                continue
            problem = literal_type_error(args[item.name]["type"], item.expr)
            if problem:
                errors.append(AlloyError(f"{where}.{item.name}: {problem}", item.expr.pos))
        else:
            # Some inner blocks take labels (prometheus.exporter.snmp's `target "name"`);
            # the reference does not say which, so labels are accepted.
            if item.name not in blocks:
                if not spec.get("loose_blocks"):
                    errors.append(AlloyError(f"unrecognized block name {item.name!r}", item.pos))
                continue
            check_body(item.body, blocks[item.name], f"{where}.{item.name}", errors)
    if where.endswith(".tls_config") or (where.startswith("otelcol.") and
                                         where.endswith(".tls")):
        errors += tls_block_errors({item.name: item.expr for item in items
                                    if isinstance(item, Attr)})
    present_blocks = {item.name for item in items if isinstance(item, Block)}
    for name, arg in args.items():
        if arg.get("required") and name not in seen:
            errors.append(AlloyError(f"missing required attribute {name!r}", None))
    for name, block in blocks.items():
        if block.get("required") and name not in present_blocks:
            errors.append(AlloyError(f"missing required block {name!r}", None))


def tls_block_errors(attrs: dict[str, Expr]) -> list[AlloyError]:
    """TLSConfig.Validate / TLSClientArguments.Validate, on what is known before running:
    an attribute counts as set unless it is a literal empty string."""
    present = {name for name, expr in attrs.items()
               if not (expr.kind == "literal" and expr.value == "")}
    errors = [AlloyError(f"at most one of {pem} and {file} must be configured", None)
              for pem, file in (("ca_pem", "ca_file"), ("cert_pem", "cert_file"),
                                ("key_pem", "key_file")) if {pem, file} <= present]
    cert, key = present & {"cert_pem", "cert_file"}, present & {"key_pem", "key_file"}
    if cert and not key:
        errors.append(AlloyError("exactly one of key_pem or key_file must be configured when "
                                 "a client certificate is configured", None))
    elif key and not cert:
        errors.append(AlloyError("exactly one of cert_pem or cert_file must be configured "
                                 "when a client key is configured", None))
    return errors


def validate(items: list[Attr | Block], schema: dict[str, Any], stability: str,
             community: bool) -> list[AlloyError]:
    errors: list[AlloyError] = []
    declared: dict[str, Block] = {}
    components = schema["components"]
    config_blocks = schema["config_blocks"]
    for item in items:
        if isinstance(item, Attr):
            errors.append(AlloyError(f"unrecognized attribute name {item.name!r}", item.pos))
            continue
        if item.name in config_blocks:
            spec = config_blocks[item.name]
            if item.name in ("declare", "import.file", "import.git", "import.http",
                             "import.string", "foreach"):
                errors.append(AlloyError(f"{item.name} blocks are not supported by the "
                                         "lgtm.stack Alloy stand-in", item.pos))
                continue
        elif item.name in components:
            spec = components[item.name]
            if item.label is None:
                errors.append(AlloyError(f"component {item.name!r} must have a label", item.pos))
                continue
        else:
            errors.append(AlloyError(f"unrecognized block name {item.name!r}"
                                     if "." not in item.name else
                                     f"cannot find the definition of component name "
                                     f"{item.name!r}", item.pos))
            continue
        if item.id in declared:
            first = declared[item.id].pos
            errors.append(AlloyError(f"block {item.id} already declared at {first[0]}:{first[1]}",
                                     item.pos))
            continue
        declared[item.id] = item
        stage = DOC_STAGES.get(spec.get("stage", "general-availability"), 2)
        if stage < STAGES[stability]:
            level = [k for k, v in STAGES.items() if v == stage][0]
            errors.append(AlloyError(
                f"component {item.name!r} is at stability level {level!r}, which is below the "
                f"minimum allowed stability level {stability!r}. Use --stability.level command-"
                f"line flag to enable {level} features", item.pos))
        found: list[AlloyError] = []
        check_body(item.body, spec, item.id, found)
        for error in found:
            if error.pos is None:
                error.pos = item.pos
                error.message = f"{item.id}: {error.message}"
        errors += found
    if errors:
        return errors
    # References: every component named exists and exports the field used, and every
    # function is one of the standard library's (values are only known at run time).
    stub = {block_id: _StubComponent(block_id, components.get(block.name, {}))
            for block_id, block in declared.items()}
    scope = Scope(stub)
    functions = set(schema.get("functions", []))
    experimental = set(schema.get("experimental_functions", []))
    for block in declared.values():
        for expr in _expressions(block.body):
            for node in _walk(expr):
                try:
                    if node.kind == "call":
                        name = ".".join(node.value.value) if node.value.kind == "ref" else ""
                        if name not in functions:
                            raise AlloyError(f"function {name!r} does not exist", node.pos)
                        if name in experimental and STAGES[stability] > 0:
                            raise AlloyError(f"{name!r} is at stability level 'experimental', "
                                             "which is below the minimum allowed stability "
                                             f"level {stability!r}", node.pos)
                    elif node.kind == "ref":
                        scope.resolve(node.value, node.pos)
                except AlloyError as error:
                    errors.append(error)
    return errors


def _walk(expr: Expr) -> list[Expr]:
    """The expression's nodes, without the names of called functions."""
    nodes = [expr]
    if expr.kind == "object":
        children = [value for _key, value in expr.items]
    elif expr.kind == "call":
        children = list(expr.items)
    else:
        children = [item for item in expr.items if isinstance(item, Expr)]
    for child in children:
        nodes += _walk(child)
    return nodes


class _StubComponent:
    def __init__(self, component_id: str, spec: dict[str, Any]) -> None:
        self.id = component_id
        self.spec = spec

    def export(self, name: str, pos: tuple[int, int]) -> Any:
        if self.spec.get("loose_exports") or name in self.spec.get("exports", []):
            return Capsule()
        raise AlloyError(f"field {name!r} does not exist in the exports of {self.id}", pos)


def _expressions(items: list[Attr | Block]) -> list[Expr]:
    out: list[Expr] = []
    for item in items:
        if isinstance(item, Attr):
            out.append(item.expr)
        else:
            out += _expressions(item.body)
    return out


# ---------------------------------------------------------------------------- wire formats

def pb_fields(data: bytes) -> list[tuple[int, int, Any]]:
    """Decode one protobuf message level: (field number, wire type, value)."""
    out = []
    index = 0

    def read_varint() -> int:
        nonlocal index
        shift = result = 0
        while True:
            byte = data[index]
            index += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while index < len(data):
        key = read_varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, wire, read_varint()))
        elif wire == 1:
            out.append((number, wire, data[index:index + 8]))
            index += 8
        elif wire == 2:
            length = read_varint()
            out.append((number, wire, data[index:index + length]))
            index += length
        elif wire == 5:
            out.append((number, wire, data[index:index + 4]))
            index += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def go_quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def loki_push_body(streams: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]]) -> bytes:
    body = bytearray()
    for labels, entries in streams.items():
        label_text = "{" + ", ".join(f"{k}={go_quote(v)}" for k, v in labels) + "}"
        stream = bytearray(pb_len(1, label_text.encode()))
        for ts_ns, line in entries:
            timestamp = pb_varint(1, ts_ns // 1_000_000_000) + pb_varint(2, ts_ns % 1_000_000_000)
            stream += pb_len(2, pb_len(1, timestamp) + pb_len(2, line.encode()))
        body += pb_len(1, bytes(stream))
    return snappy_compress(bytes(body))


def remote_write_body(samples: list[tuple[dict[str, str], float, int]]) -> bytes:
    body = bytearray()
    for labels, value, ts_ms in samples:
        series = bytearray()
        for name in sorted(labels):
            series += pb_len(1, pb_len(1, name.encode()) + pb_len(2, labels[name].encode()))
        series += pb_len(2, pb_double(1, value) + pb_varint(2, ts_ms))
        body += pb_len(1, bytes(series))
    return snappy_compress(bytes(body))


# ---------------------------------------------------------------------------- client TLS

class TLSError(OSError):
    """A TLS set-up or verification failure, worded as Go's crypto/tls and crypto/x509."""


def tls_context(ca_pem: str = "", skip_verify: bool = False,
                system_pool: bool = False) -> ssl.SSLContext:
    """A client context trusting only ca_pem (the system store without it, or with
    system_pool), as a Go tls.Config with RootCAs: CAs are anchors, no common-name
    fallback."""
    try:
        context = ssl.create_default_context(cadata=ca_pem or None)
        if ca_pem and system_pool:
            context.load_default_certs()
    except (ssl.SSLError, ValueError):
        raise TLSError("unable to use specified CA cert: no certificate found") from None
    context.verify_flags = (context.verify_flags | ssl.VERIFY_X509_PARTIAL_CHAIN) \
        & ~ssl.VERIFY_X509_STRICT
    context.hostname_checks_common_name = False
    if skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def client_tls(tls: dict[str, Any] | None) -> tuple[ssl.SSLContext | None, str]:
    """(context, server name) from a `tls_config` or otelcol `tls` block's arguments."""
    tls = tls or {}
    ca_pem, ca_file = tls.get("ca_pem") or "", tls.get("ca_file") or ""
    if ca_pem and ca_file:
        raise TLSError("at most one of ca_pem and ca_file must be configured")
    if tls.get("insecure") and not (ca_pem or ca_file):
        return None, ""  # configtls: no TLS settings, Go's defaults
    if ca_file:
        try:
            ca_pem = Path(ca_file).read_text()
        except OSError as error:
            raise TLSError(f"unable to load specified CA cert {ca_file}: open {ca_file}: "
                           f"{(error.strerror or str(error)).lower()}") from None
    context = tls_context(ca_pem, bool(tls.get("insecure_skip_verify")),
                          bool(tls.get("include_system_ca_certs_pool")))
    return context, str(tls.get("server_name") or "")


def go_tls_text(error: ssl.SSLError, name: str) -> str:
    """Go's words for what OpenSSL reports (X509_V_ERR_* codes)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        if error.verify_code in (2, 18, 19, 20, 21):  # no chain to a trusted root
            detail = "certificate signed by unknown authority"
        elif error.verify_code in (9, 10):
            detail = "certificate has expired or is not yet valid"
        elif error.verify_code in (62, 64):  # host name or IP address mismatch
            detail = f"certificate is not valid for {name}"
        else:
            detail = str(error.verify_message)
        return f"tls: failed to verify certificate: x509: {detail}"
    if error.reason == "WRONG_VERSION_NUMBER":
        return "http: server gave HTTP response to HTTPS client"
    return f"tls: {error.reason or error}"


def open_url(request: urllib.request.Request, timeout: float,
             context: ssl.SSLContext | None = None, server_name: str = "") -> Any:
    """urllib's urlopen, verifying https against context and server_name (the URL's host
    when empty), also sent as SNI unless an IP address: Go's tls.Config.ServerName."""
    tls = context or tls_context()
    host = urllib.parse.urlsplit(request.full_url).hostname or ""

    class Connection(http.client.HTTPSConnection):
        def connect(self) -> None:
            http.client.HTTPConnection.connect(self)
            self.sock = tls.wrap_socket(self.sock, server_hostname=server_name or getattr(
                self, "_tunnel_host", None) or self.host)

    class Handler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> Any:
            return self.do_open(Connection, req, context=tls)

    try:
        return urllib.request.build_opener(Handler).open(request, timeout=timeout)
    except urllib.error.URLError as error:
        reason = None if isinstance(error, urllib.error.HTTPError) else error.reason
        if not isinstance(reason, ssl.SSLError):
            raise
        raise TLSError(f'{request.get_method().capitalize()} "{request.full_url}": '
                       f"{go_tls_text(reason, server_name or host)}") from None


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float,
              tls: dict[str, Any] | None = None) -> int:
    """POST, verifying an https URL with the `tls_config`/`tls` block's arguments."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with open_url(request, timeout, *client_tls(tls)) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        detail = error.read()[:300]
        log("warn", "request rejected", url=url, status=error.code, body=detail)
        return error.code


def parse_duration(text: Any, default: float) -> float:
    if text in (None, ""):
        return default
    if isinstance(text, int | float):
        return float(text)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600,
             "d": 86400, "w": 604800, "y": 31536000}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)", str(text)):
        total += float(number) * units[unit]
    return total or default


# ---------------------------------------------------------------------------- runtime

@dataclass
class LogEntry:
    labels: dict[str, str]
    ts_ns: int
    line: str


@dataclass
class OtelPayload:
    signal: str  # traces, logs, metrics
    body: bytes
    content_type: str  # application/x-protobuf or application/json


class Receiver(Capsule):
    def __init__(self, target: Any, kind: str) -> None:
        self.target = target
        self.kind = kind

    def send(self, item: Any) -> None:
        self.target.receive(item)


class Component:
    implemented = True

    def __init__(self, runtime: Runtime, block: Block, spec: dict[str, Any]) -> None:
        self.runtime = runtime
        self.block = block
        self.id = block.id
        self.spec = spec
        self._args: dict[str, Any] | None = None
        self._evaluating = False
        self.receiver = Receiver(self, "receiver")

    # Arguments are evaluated on first use, so references between components resolve
    # in dependency order; a cycle is reported.
    def args(self) -> dict[str, Any]:
        if self._args is None:
            if self._evaluating:
                raise AlloyError(f"cycle detected involving {self.id}", self.block.pos)
            self._evaluating = True
            self._args = self._eval_body(self.block.body)
            self._evaluating = False
        return self._args

    def _eval_body(self, items: list[Attr | Block]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in items:
            if isinstance(item, Attr):
                out[item.name] = evaluate(item.expr, self.runtime.scope)
            else:
                out.setdefault(f"blocks:{item.name}", []).append(self._eval_body(item.body))
        return out

    def block_args(self, name: str) -> list[dict[str, Any]]:
        return self.args().get(f"blocks:{name}", [])

    def export(self, name: str, pos: tuple[int, int]) -> Any:
        if name in ("receiver", "input"):
            return self.receiver
        raise AlloyError(f"field {name!r} does not exist in the exports of {self.id}", pos)

    def start(self) -> None:
        return None

    def receive(self, item: Any) -> None:
        return None

    def thread(self, target: Any, *args: Any) -> None:
        threading.Thread(target=target, args=args, daemon=True, name=self.id).start()


# --- loki ---

PRIORITY_KEYWORDS = ["emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"]


def go_expand(template: str, match: re.Match[str]) -> str:
    def one(ref: re.Match[str]) -> str:
        if ref.group(0) == "$$":
            return "$"
        name = ref.group(1) or ref.group(2)
        try:
            value = match.group(int(name)) if name.isdigit() else match.group(name)
        except (IndexError, re.error):
            return ""
        return value or ""

    return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", one, template)


def relabel(labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus relabeling (model/relabel) as Alloy's `rule` blocks describe it."""
    labels = dict(labels)
    for rule in rules:
        action = str(rule.get("action", "replace")).lower()
        sources = rule.get("source_labels", [])
        separator = rule.get("separator", ";")
        regex = re.compile(f"^(?:{rule.get('regex', '(.*)')})$")
        replacement = rule.get("replacement", "$1")
        target = rule.get("target_label", "")
        value = separator.join(labels.get(name, "") for name in sources)
        if action == "replace":
            match = regex.match(value)
            if not match:
                continue
            name = go_expand(target, match)
            result = go_expand(replacement, match)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                continue
            if result:
                labels[name] = result
            else:
                labels.pop(name, None)
        elif action == "keep":
            if not regex.match(value):
                return None
        elif action == "drop":
            if regex.match(value):
                return None
        elif action == "keepequal":
            if value != labels.get(target, ""):
                return None
        elif action == "dropequal":
            if value == labels.get(target, ""):
                return None
        elif action == "labelmap":
            for name, label_value in list(labels.items()):
                match = regex.match(name)
                if match:
                    labels[go_expand(replacement, match)] = label_value
        elif action == "labeldrop":
            labels = {k: v for k, v in labels.items() if not regex.match(k)}
        elif action == "labelkeep":
            labels = {k: v for k, v in labels.items() if regex.match(k)}
        elif action in ("lowercase", "uppercase"):
            labels[target] = value.lower() if action == "lowercase" else value.upper()
        elif action == "hashmod":
            digest = hashlib.md5(value.encode()).digest()
            labels[target] = str(int.from_bytes(digest[8:], "big") % int(rule.get("modulus", 1)))
    return labels


def forward_logs(targets: list[Any], entry: LogEntry) -> None:
    for target in targets or []:
        if isinstance(target, Receiver):
            target.send(LogEntry(dict(entry.labels), entry.ts_ns, entry.line))


class LokiSourceJournal(Component):
    def start(self) -> None:
        args = self.args()
        paths = [args["path"]] if args.get("path") else ["/var/log/journal", "/run/log/journal"]
        position_dir = self.runtime.storage / self.id
        position_dir.mkdir(parents=True, exist_ok=True)
        for path in paths:
            if Path(path).is_dir():
                self.thread(self.follow, path, position_dir / (path.strip("/").replace("/", "_")))
            else:
                log("warn", "journal directory does not exist", component=self.id, path=path)

    def follow(self, path: str, position: Path) -> None:
        args = self.args()
        max_age = parse_duration(args.get("max_age"), 7 * 3600)
        while not self.runtime.stopping.is_set():
            # --merge: without it --follow implies --boot (this boot only), and the boot
            # id a container sees need not be the one the host's journald records.
            cmd = ["journalctl", f"--directory={path}", "--output=json", "--follow",
                   "--merge", "--no-pager", "--all"]
            cursor = position.read_text().strip() if position.exists() else ""
            if cursor:
                cmd.append(f"--after-cursor={cursor}")
            else:
                cmd.append(f"--since=@{int(time.time() - max_age)}")
            cmd += str(args.get("matches", "")).split()
            log("info", "reading journal", component=self.id, path=path)
            process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
            assert process.stdout is not None
            saved = time.monotonic()
            for line in process.stdout:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                self.handle(record)
                cursor = record.get("__CURSOR", cursor)
                if time.monotonic() - saved > 1:
                    position.write_text(cursor)
                    saved = time.monotonic()
            if cursor:
                position.write_text(cursor)
            stderr = process.stderr.read() if process.stderr else ""
            log("warn", "journalctl exited", component=self.id, code=process.wait(),
                stderr=stderr[-300:])
            self.runtime.stopping.wait(2)

    def handle(self, record: dict[str, Any]) -> None:
        args = self.args()
        labels: dict[str, str] = {}
        for name, value in record.items():
            if isinstance(value, list):
                value = bytes(value).decode(errors="replace") if value and isinstance(
                    value[0], int) else (value[0] if value else "")
            if name.startswith("__") and name not in ("__REALTIME_TIMESTAMP",):
                continue
            labels[f"__journal_{name.lower()}"] = str(value)
        priority = labels.get("__journal_priority")
        if priority and priority.isdigit() and int(priority) < 8:
            labels["__journal_priority_keyword"] = PRIORITY_KEYWORDS[int(priority)]
        labels.update({k: str(v) for k, v in (args.get("labels") or {}).items()})
        labels["job"] = self.id
        rules = args.get("relabel_rules") or []
        result = relabel(labels, rules if isinstance(rules, list) else [])
        if result is None:
            return
        result = {k: v for k, v in result.items() if not k.startswith("__")}
        if not result:
            return
        if args.get("format_as_json"):
            line = json.dumps({k: v for k, v in record.items() if not k.startswith("__")})
        else:
            if "MESSAGE" not in record:
                return  # upstream drops entries without a MESSAGE field
            message = record["MESSAGE"]
            line = bytes(message).decode(errors="replace") if isinstance(message, list) \
                else str(message)
        ts_us = int(record.get("__REALTIME_TIMESTAMP", time.time() * 1e6))
        self.runtime.count("loki_source_journal_entries_total", self.id)
        forward_logs(args.get("forward_to", []), LogEntry(result, ts_us * 1000, line))


class LokiRelabel(Component):
    def export(self, name: str, pos: tuple[int, int]) -> Any:
        if name == "rules":
            return self.block_args("rule")
        return super().export(name, pos)

    def receive(self, item: LogEntry) -> None:
        result = relabel(item.labels, self.block_args("rule"))
        if not result:
            return
        forward_logs(self.args().get("forward_to", []), LogEntry(result, item.ts_ns, item.line))


class LokiWrite(Component):
    def start(self) -> None:
        self.lock = threading.Condition()
        self.queues: list[list[LogEntry]] = []
        for endpoint in self.block_args("endpoint"):
            self.thread(self.sender, endpoint)

    def receive(self, item: LogEntry) -> None:
        external = self.args().get("external_labels") or {}
        item.labels.update({k: str(v) for k, v in external.items()})
        with self.lock:
            for queue in self.queues:
                queue.append(item)
            self.lock.notify_all()

    def sender(self, endpoint: dict[str, Any]) -> None:
        queue: list[LogEntry] = []
        with self.lock:
            self.queues.append(queue)
        wait = parse_duration(endpoint.get("batch_wait"), 1.0)
        headers = {"Content-Type": "application/x-protobuf", "User-Agent": f"Alloy/{VERSION}"}
        headers.update({k: str(v) for k, v in (endpoint.get("headers") or {}).items()})
        if endpoint.get("tenant_id"):
            headers["X-Scope-OrgID"] = endpoint["tenant_id"]
        while not self.runtime.stopping.is_set():
            with self.lock:
                while not queue and not self.runtime.stopping.is_set():
                    self.lock.wait(1)
            self.runtime.stopping.wait(wait)
            with self.lock:
                batch, queue[:] = list(queue), []
            if not batch:
                continue
            streams: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]] = {}
            for entry in batch:
                streams.setdefault(tuple(sorted(entry.labels.items())), []).append(
                    (entry.ts_ns, entry.line))
            body = loki_push_body(streams)
            self.deliver(endpoint, body, headers, len(batch))

    def deliver(self, endpoint: dict[str, Any], body: bytes, headers: dict[str, str],
                count: int) -> None:
        backoff = parse_duration(endpoint.get("min_backoff_period"), 0.5)
        tls = (endpoint.get("blocks:tls_config") or [None])[0]
        last: Any = None
        for _attempt in range(int(endpoint.get("max_backoff_retries", 10)) + 1):
            try:
                status = http_post(endpoint["url"], body, headers,
                                   parse_duration(endpoint.get("remote_timeout"), 10), tls)
                last = None
            except OSError as error:
                log("warn", "error sending batch, will retry", component=self.id, status=-1,
                    error=error)
                status, last = 0, error
            if 200 <= status < 300:
                self.runtime.count("loki_write_sent_entries_total", self.id, count)
                return
            if 400 <= status < 500 and status != 429:
                self.runtime.count("loki_write_dropped_entries_total", self.id, count)
                return
            self.runtime.stopping.wait(backoff)
            backoff = min(backoff * 2, parse_duration(endpoint.get("max_backoff_period"), 300))
        log("error", "final error sending batch", component=self.id, status=status or -1,
            error=last or f"server returned HTTP status {status}")
        self.runtime.count("loki_write_dropped_entries_total", self.id, count)


# --- otelcol ---

def forward_otel(targets: list[Any], payload: OtelPayload) -> None:
    for target in targets or []:
        if isinstance(target, Receiver):
            target.send(payload)


class OtelReceiverOtlp(Component):
    def start(self) -> None:
        for http_args in self.block_args("http"):
            host, port = split_hostport(http_args.get("endpoint", "0.0.0.0:4318"))
            paths = {http_args.get("traces_url_path", "/v1/traces"): "traces",
                     http_args.get("logs_url_path", "/v1/logs"): "logs",
                     http_args.get("metrics_url_path", "/v1/metrics"): "metrics"}
            serve_http(host, port, self.handler(paths), self.id)
        for grpc in self.block_args("grpc"):
            host, port = split_hostport(grpc.get("endpoint", "0.0.0.0:4317"))
            self.thread(self.grpc_serve, host, port)

    def grpc_serve(self, host: str, port: int) -> None:
        """gRPC over cleartext HTTP/2 (h2c with prior knowledge, as OTLP exporters with
        `insecure` connect): unary Export calls of the three OTLP services, through the
        shared lgtm_standin.GrpcServer (python3-h2; without it connections are closed)."""
        server = socket.create_server((host, port), reuse_port=False)
        log("info", "OTLP gRPC server listening", component=self.id, endpoint=f"{host}:{port}")
        GrpcServer(server, self.grpc_call, log, name=self.id).serve()

    def grpc_call(self, path: str, message: bytes, headers: dict[str, str]) -> GrpcReply:
        del headers
        signal_name = GRPC_SERVICES.get(path)
        if signal_name is None:
            return GrpcReply(12, f"unknown service {path}")
        self.runtime.count(f"otelcol_receiver_accepted_{signal_name}_requests_total", self.id)
        output = self.block_args("output")
        forward_otel(output[0].get(signal_name, []) if output else [],
                     OtelPayload(signal_name, message, "application/x-protobuf"))
        # An empty Export*ServiceResponse, then the status in the trailers.
        return GrpcReply()

    def handler(self, paths: dict[str, str]) -> Any:
        component = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's API)
                signal_name = paths.get(self.path.split("?", 1)[0])
                if signal_name is None:
                    self.reply(404, b"404 page not found\n", "text/plain")
                    return
                body = self.body()
                content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
                if content_type not in ("application/x-protobuf", "application/json"):
                    self.reply(415, f"unsupported content type: {content_type}".encode(),
                               "text/plain")
                    return
                component.runtime.count(f"otelcol_receiver_accepted_{signal_name}_requests_total",
                                        component.id)
                output = component.block_args("output")
                forward_otel(output[0].get(signal_name, []) if output else [],
                             OtelPayload(signal_name, body, content_type))
                self.reply(200, b"{}" if content_type == "application/json" else b"",
                           content_type)

        return Handler


GRPC_SERVICES = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export": "traces",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export": "logs",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": "metrics",
}


class OtelPassThrough(Component):
    """memory_limiter and batch: the data passes on unchanged to `output`."""

    def receive(self, item: OtelPayload) -> None:
        output = self.block_args("output")
        forward_otel(output[0].get(item.signal, []) if output else [], item)


class OtelExporterOtlpHttp(Component):
    def start(self) -> None:
        self.pending: list[OtelPayload] = []
        self.wake = threading.Condition()
        self.thread(self.sender)

    def receive(self, item: OtelPayload) -> None:
        with self.wake:
            self.pending.append(item)
            self.wake.notify()

    def url(self, signal_name: str) -> str:
        args = self.args()
        explicit = args.get(f"{signal_name}_endpoint")
        if explicit:
            return explicit
        client = self.block_args("client")[0]
        return client["endpoint"].rstrip("/") + f"/v1/{signal_name}"

    def sender(self) -> None:
        client = self.block_args("client")[0]
        headers = {k: str(v) for k, v in (client.get("headers") or {}).items()}
        compression = client.get("compression", "gzip")
        tls = (client.get("blocks:tls") or [None])[0]
        retry = (self.block_args("retry_on_failure") or [{}])[0]
        while not self.runtime.stopping.is_set():
            with self.wake:
                while not self.pending:
                    self.wake.wait(1)
                item = self.pending.pop(0)
            body = gzip.compress(item.body) if compression == "gzip" else item.body
            request_headers = {"Content-Type": item.content_type,
                               "User-Agent": f"Alloy/{VERSION}", **headers}
            if compression == "gzip":
                request_headers["Content-Encoding"] = "gzip"
            backoff = parse_duration(retry.get("initial_interval"), 5)
            deadline = time.monotonic() + parse_duration(retry.get("max_elapsed_time"), 300)
            # Upstream's names; the stand-in counts requests, not the items in them.
            items = {"traces": "spans", "logs": "log_records",
                     "metrics": "metric_points"}[item.signal]
            while True:
                try:
                    status = http_post(self.url(item.signal), body, request_headers,
                                       parse_duration(client.get("timeout"), 30), tls)
                    error: Any = f"HTTP status {status}"
                except OSError as failure:
                    status, error = 0, failure
                if 200 <= status < 300:
                    self.runtime.count(f"otelcol_exporter_sent_{items}_total", self.id)
                    break
                if (400 <= status < 500 and status != 429) or retry.get("enabled") is False \
                        or time.monotonic() + backoff > deadline:
                    log("error", "Exporting failed. Dropping data.", component=self.id,
                        error=error)
                    self.runtime.count(f"otelcol_exporter_send_failed_{items}_total", self.id)
                    break
                log("warn", "Exporting failed. Will retry the request after interval.",
                    component=self.id, error=error, interval=f"{backoff}s")
                self.runtime.stopping.wait(backoff)
                backoff = min(backoff * 1.5, parse_duration(retry.get("max_interval"), 30))


class OtelExporterOtlpGrpc(Component):
    implemented = False

    def receive(self, item: OtelPayload) -> None:
        log("warn", "OTLP gRPC export is not implemented by this stand-in; dropped",
            component=self.id, signal=item.signal)


def otlp_attributes(data: bytes | list[dict[str, Any]]) -> tuple[str, str]:
    """One KeyValue (protobuf bytes) -> (key, value as text)."""
    assert isinstance(data, bytes)
    key, value = "", ""
    for number, _wire, content in pb_fields(data):
        if number == 1:
            key = content.decode()
        elif number == 2:
            for vnum, vwire, vcontent in pb_fields(content):
                if vnum == 1:
                    value = vcontent.decode()
                elif vnum == 2:
                    value = "true" if vcontent else "false"
                elif vnum == 3:
                    value = str(vcontent - (1 << 64) if vcontent >= 1 << 63 else vcontent)
                elif vnum == 4 and vwire == 1:
                    value = repr(struct.unpack("<d", vcontent)[0])
    return key, value


def sanitize(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_:]", "_", name)
    return "_" + name if name[:1].isdigit() else name


def otlp_metrics_to_samples(payload: OtelPayload) -> list[tuple[dict[str, str], float, int]]:
    """OTLP metrics -> Prometheus samples (gauges, sums, histograms), as the
    prometheus translator names them: dots to underscores, `_total` on monotonic sums."""
    samples: list[tuple[dict[str, str], float, int]] = []
    if payload.content_type == "application/json":
        return otlp_json_metrics(json.loads(payload.body or b"{}"))
    for number, _w, resource_metrics in pb_fields(payload.body):
        if number != 1:
            continue
        resource: dict[str, str] = {}
        scopes = []
        for rnum, _rw, rcontent in pb_fields(resource_metrics):
            if rnum == 1:
                resource = dict(otlp_attributes(kv) for n, _x, kv in pb_fields(rcontent) if n == 1)
            elif rnum == 2:
                scopes.append(rcontent)
        base = resource_labels(resource)
        for scope in scopes:
            for snum, _sw, metric in pb_fields(scope):
                if snum == 2:
                    samples += pb_metric(metric, base)
    return samples


def resource_labels(resource: dict[str, str]) -> dict[str, str]:
    labels = {}
    service = resource.get("service.name", "")
    namespace = resource.get("service.namespace", "")
    if service:
        labels["job"] = f"{namespace}/{service}" if namespace else service
    if resource.get("service.instance.id"):
        labels["instance"] = resource["service.instance.id"]
    return labels


def pb_metric(metric: bytes, base: dict[str, str]) -> list[tuple[dict[str, str], float, int]]:
    name = ""
    out: list[tuple[dict[str, str], float, int]] = []
    parts = pb_fields(metric)
    for number, _w, content in parts:
        if number == 1:
            name = sanitize(content.decode())
    for number, _w, content in parts:
        if number in (5, 7):  # gauge, sum
            monotonic = number == 7 and any(n == 3 and v for n, _x, v in pb_fields(content))
            metric_name = name + ("_total" if monotonic and not name.endswith("_total") else "")
            for dnum, _dw, point in pb_fields(content):
                if dnum != 1:
                    continue
                labels, value, ts = dict(base), 0.0, 0
                for pnum, _pw, pcontent in pb_fields(point):
                    if pnum == 7:
                        key, val = otlp_attributes(pcontent)
                        labels[sanitize(key)] = val
                    elif pnum == 3:
                        ts = struct.unpack("<Q", pcontent)[0] // 1_000_000
                    elif pnum == 4:
                        value = struct.unpack("<d", pcontent)[0]
                    elif pnum == 6:
                        value = float(struct.unpack("<q", pcontent)[0])
                labels["__name__"] = metric_name
                out.append((labels, value, ts or int(time.time() * 1000)))
        elif number == 9:  # histogram
            for dnum, _dw, point in pb_fields(content):
                if dnum != 1:
                    continue
                labels, ts, count, total = dict(base), 0, 0, 0.0
                buckets: list[int] = []
                bounds: list[float] = []
                for pnum, pwire, pcontent in pb_fields(point):
                    if pnum == 9:
                        key, val = otlp_attributes(pcontent)
                        labels[sanitize(key)] = val
                    elif pnum == 3:
                        ts = struct.unpack("<Q", pcontent)[0] // 1_000_000
                    elif pnum == 4:
                        count = struct.unpack("<Q", pcontent)[0]
                    elif pnum == 5:
                        total = struct.unpack("<d", pcontent)[0]
                    elif pnum == 6:
                        buckets += list(struct.unpack(f"<{len(pcontent) // 8}Q", pcontent)) \
                            if pwire == 2 else [struct.unpack("<Q", pcontent)[0]]
                    elif pnum == 7:
                        bounds += list(struct.unpack(f"<{len(pcontent) // 8}d", pcontent)) \
                            if pwire == 2 else [struct.unpack("<d", pcontent)[0]]
                ts = ts or int(time.time() * 1000)
                cumulative = 0
                for index, bucket in enumerate(buckets):
                    cumulative += bucket
                    bound = "+Inf" if index >= len(bounds) else format_float(bounds[index])
                    out.append(({**labels, "__name__": name + "_bucket", "le": bound},
                                float(cumulative), ts))
                out.append(({**labels, "__name__": name + "_sum"}, total, ts))
                out.append(({**labels, "__name__": name + "_count"}, float(count), ts))
    return out


def otlp_json_metrics(data: dict[str, Any]) -> list[tuple[dict[str, str], float, int]]:
    out: list[tuple[dict[str, str], float, int]] = []

    def attrs(items: list[dict[str, Any]]) -> dict[str, str]:
        return {item["key"]: str(next(iter(item.get("value", {}).values()), ""))
                for item in items or []}

    for resource_metrics in data.get("resourceMetrics", []):
        base = resource_labels(attrs(resource_metrics.get("resource", {}).get("attributes")))
        for scope in resource_metrics.get("scopeMetrics", []):
            for metric in scope.get("metrics", []):
                name = sanitize(metric["name"])
                kind = "gauge" if "gauge" in metric else "sum" if "sum" in metric else None
                if kind is None:
                    continue
                if kind == "sum" and metric["sum"].get("isMonotonic") and \
                        not name.endswith("_total"):
                    name += "_total"
                for point in metric[kind].get("dataPoints", []):
                    labels = {**base, **{sanitize(k): v for k, v in
                                         attrs(point.get("attributes")).items()}}
                    labels["__name__"] = name
                    value = float(point.get("asDouble", point.get("asInt", 0)))
                    ts = int(point.get("timeUnixNano", time.time() * 1e9)) // 1_000_000
                    out.append((labels, value, ts))
    return out


def format_float(value: float) -> str:
    return repr(value) if not value.is_integer() else str(int(value)) if abs(value) < 1e15 \
        else repr(value)


class OtelExporterPrometheus(Component):
    def receive(self, item: OtelPayload) -> None:
        if item.signal != "metrics":
            return
        try:
            samples = otlp_metrics_to_samples(item)
        except (ValueError, IndexError, struct.error) as error:
            log("warn", "could not convert OTLP metrics", component=self.id, error=error)
            return
        forward_samples(self.args().get("forward_to", []), samples)


# --- prometheus ---

def forward_samples(targets: list[Any], samples: list[tuple[dict[str, str], float, int]]) -> None:
    for target in targets or []:
        if isinstance(target, Receiver):
            target.send(samples)


class PrometheusRemoteWrite(Component):
    def start(self) -> None:
        self.lock = threading.Condition()
        self.queues: list[list[tuple[dict[str, str], float, int]]] = []
        for endpoint in self.block_args("endpoint"):
            self.thread(self.sender, endpoint)

    def receive(self, item: list[tuple[dict[str, str], float, int]]) -> None:
        external = {k: str(v) for k, v in (self.args().get("external_labels") or {}).items()}
        with self.lock:
            for queue in self.queues:
                queue += [({**labels, **external}, value, ts) for labels, value, ts in item]
            self.lock.notify_all()

    def sender(self, endpoint: dict[str, Any]) -> None:
        queue: list[tuple[dict[str, str], float, int]] = []
        with self.lock:
            self.queues.append(queue)
        queue_config = (endpoint.get("blocks:queue_config") or [{}])[0]
        deadline = parse_duration(queue_config.get("batch_send_deadline"), 5)
        headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                   "X-Prometheus-Remote-Write-Version": "0.1.0",
                   "User-Agent": f"Alloy/{VERSION}"}
        headers.update({k: str(v) for k, v in (endpoint.get("headers") or {}).items()})
        while not self.runtime.stopping.is_set():
            self.runtime.stopping.wait(deadline)
            with self.lock:
                batch, queue[:] = list(queue), []
            if not batch:
                continue
            body = remote_write_body(batch)
            tls = (endpoint.get("blocks:tls_config") or [None])[0]
            for attempt in range(10):
                try:
                    status = http_post(endpoint["url"], body, headers,
                                       parse_duration(endpoint.get("remote_timeout"), 30), tls)
                    error: Any = f"server returned HTTP status {status}"
                except OSError as failure:
                    status, error = 0, failure
                if 200 <= status < 300 or (400 <= status < 500 and status != 429):
                    self.runtime.count("prometheus_remote_storage_samples_total", self.id,
                                       len(batch))
                    if status >= 300:
                        log("error", "non-recoverable error", component=self.id,
                            count=len(batch), err=error)
                        self.runtime.count("prometheus_remote_storage_samples_failed_total",
                                           self.id, len(batch))
                    break
                if attempt == 9:  # upstream retries for ever; the stand-in drops the batch
                    log("error", "Failed to send batch, dropping it", component=self.id,
                        count=len(batch), err=error)
                    self.runtime.count("prometheus_remote_storage_samples_failed_total",
                                       self.id, len(batch))
                    break
                log("warn", "Failed to send batch, retrying", component=self.id, err=error)
                self.runtime.count("prometheus_remote_storage_samples_retried_total", self.id,
                                   len(batch))
                self.runtime.stopping.wait(1)


SAMPLE_RE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+(-?\d+))?\s*$")
LABEL_RE = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_exposition(text: str) -> list[tuple[dict[str, str], float, int | None]]:
    """The Prometheus text format (0.0.4), enough for exporters' output."""
    out: list[tuple[dict[str, str], float, int | None]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = SAMPLE_RE.match(line)
        if not match:
            continue
        labels = {"__name__": match.group(1)}
        if match.group(2):
            for name, value in LABEL_RE.findall(match.group(2)[1:-1]):
                labels[name] = value.replace('\\"', '"').replace("\\n", "\n").replace(
                    "\\\\", "\\")
        raw = match.group(3)
        value = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(raw)
        out.append((labels, value if value is not None else float(raw),
                    int(match.group(4)) if match.group(4) else None))
    return out


class PrometheusScrape(Component):
    def start(self) -> None:
        for target in self.args().get("targets") or []:
            self.thread(self.loop, {k: str(v) for k, v in target.items()})

    def loop(self, target: dict[str, str]) -> None:
        args = self.args()
        interval = parse_duration(args.get("scrape_interval"), 60)
        timeout = parse_duration(args.get("scrape_timeout"), 10)
        # Prometheus spreads first scrapes over the interval by a hash of the target.
        offset = int(hashlib.sha256(json.dumps(target, sort_keys=True).encode()).hexdigest(),
                     16) % max(int(interval * 1000), 1) / 1000
        self.runtime.stopping.wait(min(offset, interval))
        while not self.runtime.stopping.is_set():
            started = time.time()
            self.scrape(target, args, timeout)
            self.runtime.stopping.wait(max(interval - (time.time() - started), 0.1))

    def scrape(self, target: dict[str, str], args: dict[str, Any], timeout: float) -> None:
        scheme = target.get("__scheme__", args.get("scheme", "http"))
        path = target.get("__metrics_path__", args.get("metrics_path", "/metrics"))
        address = target["__address__"]
        host, port = split_hostport(address)
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        url = f"{scheme}://{host}:{port}{path}"
        job = target.get("job", args.get("job_name", self.id))
        base = {k: v for k, v in target.items() if not k.startswith("__")}
        base.setdefault("job", job)
        base.setdefault("instance", address)
        now_ms = int(time.time() * 1000)
        started = time.time()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                parsed = parse_exposition(response.read().decode(errors="replace"))
            up = 1.0
        except (OSError, urllib.error.URLError) as error:
            log("warn", "scrape failed", component=self.id, target=url, error=error)
            parsed, up = [], 0.0
        samples = []
        for labels, value, ts in parsed:
            merged = dict(labels)
            for name, value_text in base.items():
                if name in merged and not args.get("honor_labels"):
                    merged[f"exported_{name}"] = merged[name]
                if name not in merged or not args.get("honor_labels"):
                    merged[name] = value_text
            samples.append((merged, value, ts if ts and args.get("honor_timestamps", True)
                            else now_ms))
        samples += [({**base, "__name__": "up"}, up, now_ms),
                    ({**base, "__name__": "scrape_duration_seconds"}, time.time() - started,
                     now_ms),
                    ({**base, "__name__": "scrape_samples_scraped"}, float(len(parsed)), now_ms)]
        forward_samples(args.get("forward_to", []), samples)


class PrometheusExporter(Component):
    """Exporters serve their metrics on Alloy's own HTTP server, as upstream does at
    /api/v0/component/<id>/metrics, and export a target pointing there."""

    job = ""

    def export(self, name: str, pos: tuple[int, int]) -> Any:
        if name == "targets":
            return [{"__address__": self.runtime.http_addr,
                     "__metrics_path__": f"/api/v0/component/{self.id}/metrics",
                     "instance": CONSTANTS["hostname"], "job": self.job}]
        return super().export(name, pos)

    def metrics(self) -> str:
        return ""


class PrometheusExporterUnix(PrometheusExporter):
    job = "integrations/unix"

    def metrics(self) -> str:
        procfs = Path(self.args().get("procfs_path", "/proc"))
        lines: list[str] = []
        with contextlib.suppress(OSError):
            load = (procfs / "loadavg").read_text().split()
            for index, window in enumerate(("1", "5", "15")):
                lines += [f"# TYPE node_load{window} gauge", f"node_load{window} {load[index]}"]
        with contextlib.suppress(OSError):
            for row in (procfs / "meminfo").read_text().splitlines():
                key, _sep, rest = row.partition(":")
                parts = rest.split()
                if not parts:
                    continue
                value = int(parts[0]) * (1024 if len(parts) > 1 else 1)
                name = "node_memory_" + re.sub(r"[()]", "_", key).strip("_") + \
                    ("_bytes" if len(parts) > 1 else "")
                lines += [f"# TYPE {name} gauge", f"{name} {value}"]
        with contextlib.suppress(OSError):
            lines.append("# TYPE node_cpu_seconds_total counter")
            modes = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
            for row in (procfs / "stat").read_text().splitlines():
                parts = row.split()
                if re.fullmatch(r"cpu\d+", parts[0]):
                    for mode, ticks in zip(modes, parts[1:], strict=False):
                        lines.append(f'node_cpu_seconds_total{{cpu="{parts[0][3:]}",'
                                     f'mode="{mode}"}} {int(ticks) / 100}')
                elif parts[0] == "btime":
                    lines += ["# TYPE node_boot_time_seconds gauge",
                              f"node_boot_time_seconds {parts[1]}"]
        uname = os.uname()
        lines += ["# TYPE node_uname_info gauge",
                  f'node_uname_info{{sysname="{uname.sysname}",release="{uname.release}",'
                  f'machine="{uname.machine}",nodename="{uname.nodename}"}} 1',
                  "# TYPE node_time_seconds gauge", f"node_time_seconds {time.time():.3f}"]
        return "\n".join(lines) + "\n"


class PrometheusExporterSelf(PrometheusExporter):
    job = "integrations/alloy"

    def export(self, name: str, pos: tuple[int, int]) -> Any:
        if name == "targets":
            return [{"__address__": self.runtime.http_addr, "__metrics_path__": "/metrics",
                     "instance": CONSTANTS["hostname"], "job": self.job}]
        return super().export(name, pos)


# --- faro ---

def logfmt(pairs: list[tuple[str, str]]) -> str:
    out = []
    for key, value in pairs:
        if value == "" or re.search(r'[\s="\\]', value) or not value.isprintable():
            value = json.dumps(value)
        out.append(f"{key}={value}")
    return " ".join(out)


def faro_kv(prefix: str, data: dict[str, Any] | None, keys: list[str]) -> list[tuple[str, str]]:
    out = []
    for key in keys:
        value = (data or {}).get(key)
        if value not in (None, ""):
            out.append((prefix + key, to_text(value)))
    return out


def faro_meta(meta: dict[str, Any]) -> list[tuple[str, str]]:
    sdk = meta.get("sdk") or {}
    pairs = faro_kv("sdk_", sdk, ["name", "version"])
    integrations = [f"{i.get('name')}:{i.get('version')}" for i in sdk.get("integrations") or []]
    if integrations:
        pairs.append(("sdk_integrations", ",".join(integrations)))
    pairs += faro_kv("app_", meta.get("app"),
                     ["name", "namespace", "release", "version", "environment"])
    user = meta.get("user") or {}
    pairs += faro_kv("user_", user, ["email", "id", "username"])
    pairs += [(f"user_attr_{k}", to_text(v)) for k, v in sorted((user.get("attributes")
                                                                 or {}).items())]
    session = meta.get("session") or {}
    pairs += faro_kv("session_", session, ["id"])
    pairs += [(f"session_attr_{k}", to_text(v)) for k, v in
              sorted((session.get("attributes") or {}).items())]
    pairs += faro_kv("page_", meta.get("page"), ["id", "url"])
    browser = dict(meta.get("browser") or {})
    if "mobile" in browser:
        browser["mobile"] = to_text(browser["mobile"])
    pairs += faro_kv("browser_", browser, ["name", "version", "os", "mobile", "userAgent",
                                           "language", "viewportWidth", "viewportHeight"])
    pairs += faro_kv("view_", meta.get("view"), ["name"])
    return pairs


def faro_items(payload: dict[str, Any]) -> list[list[tuple[str, str]]]:
    items: list[list[tuple[str, str]]] = []

    def trace(item: dict[str, Any]) -> list[tuple[str, str]]:
        ctx = item.get("trace") or {}
        return faro_kv("", {"traceID": ctx.get("trace_id"), "spanID": ctx.get("span_id")},
                       ["traceID", "spanID"])

    def context(item: dict[str, Any]) -> list[tuple[str, str]]:
        return [(f"context_{k}", to_text(v)) for k, v in sorted((item.get("context")
                                                                 or {}).items())]

    for item in payload.get("logs") or []:
        items.append([("timestamp", str(item.get("timestamp", ""))), ("kind", "log"),
                      *faro_kv("", item, ["message"]), ("level", str(item.get("level", ""))),
                      *context(item), *trace(item)])
    for item in payload.get("exceptions") or []:
        frames = (item.get("stacktrace") or {}).get("frames") or []
        stack = item.get("type", "") + ": " + item.get("value", "") + "".join(
            f"\n  at {f.get('function', '')} ({f.get('filename', '')}:{f.get('lineno', 0)}:"
            f"{f.get('colno', 0)})" for f in frames)
        items.append([("timestamp", str(item.get("timestamp", ""))), ("kind", "exception"),
                      *faro_kv("", item, ["type", "value"]), ("stacktrace", stack),
                      *context(item), *trace(item)])
    for item in payload.get("measurements") or []:
        values = item.get("values") or {}
        items.append([("timestamp", str(item.get("timestamp", ""))), ("kind", "measurement"),
                      *faro_kv("", item, ["type"]),
                      *[(k, f"{float(v):f}") for k, v in sorted(values.items())],
                      *trace(item), *context(item),
                      *[(f"value_{k}", to_text(v)) for k, v in sorted(values.items())]])
    for item in payload.get("events") or []:
        items.append([("timestamp", str(item.get("timestamp", ""))), ("kind", "event"),
                      *faro_kv("", {"event_name": item.get("name"),
                                    "event_domain": item.get("domain")},
                               ["event_name", "event_domain"]),
                      *[(f"event_data_{k}", to_text(v)) for k, v in
                        sorted((item.get("attributes") or {}).items())], *trace(item)])
    return items


class FaroReceiver(Component):
    def start(self) -> None:
        server = (self.block_args("server") or [{}])[0]
        host = server.get("listen_address", "127.0.0.1")
        port = int(server.get("listen_port", 12347))
        serve_http(host, port, self.handler(server), self.id)

    def handler(self, server: dict[str, Any]) -> Any:
        component = self
        api_key = server.get("api_key", "")
        origins = server.get("cors_allowed_origins") or []
        limit = 5 * 1024 * 1024

        class Handler(QuietHandler):
            def cors(self) -> None:
                origin = self.headers.get("Origin", "")
                if origin and ("*" in origins or origin in origins):
                    self.send_header("Access-Control-Allow-Origin", origin)

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/-/ready":
                    self.reply(200, b"ready\n", "text/plain")
                else:
                    self.reply(404, b"404 page not found\n", "text/plain")

            def do_OPTIONS(self) -> None:  # noqa: N802
                self.reply(200 if origins else 405, b"", "text/plain")

            def do_POST(self) -> None:  # noqa: N802
                if self.path.split("?", 1)[0] != "/collect":
                    self.reply(404, b"404 page not found\n", "text/plain")
                    return
                if api_key and self.headers.get("X-API-Key") != api_key:
                    self.reply(401, b"API key not provided or incorrect\n", "text/plain")
                    return
                body = self.body()
                if len(body) > limit:
                    self.reply(413, b"Request Entity Too Large\n", "text/plain")
                    return
                try:
                    payload = json.loads(body)
                except ValueError as error:
                    self.reply(400, f"{error}\n".encode(), "text/plain")
                    return
                component.collect(payload)
                self.reply(202, b"ok", "text/plain")

        return Handler

    def collect(self, payload: dict[str, Any]) -> None:
        args = self.args()
        meta = faro_meta(payload.get("meta") or {})
        extra = {k: str(v) for k, v in (args.get("extra_log_labels") or {}).items()}
        output = self.block_args("output")
        targets = output[0].get("logs", []) if output else []
        for item in faro_items(payload):
            pairs = item + meta
            values = dict(pairs)
            labels = {}
            for name, value in extra.items():
                if value:
                    labels[name] = value
                elif values.get(name):
                    labels[name] = values[name]
            line = json.dumps(values) if args.get("log_format") == "json" else logfmt(pairs)
            self.runtime.count("faro_receiver_logs_total", self.id)
            forward_logs(targets, LogEntry(labels, time.time_ns(), line))


class Unimplemented(Component):
    implemented = False


IMPLEMENTATIONS: dict[str, type[Component]] = {
    "loki.source.journal": LokiSourceJournal,
    "loki.relabel": LokiRelabel,
    "loki.write": LokiWrite,
    "otelcol.receiver.otlp": OtelReceiverOtlp,
    "otelcol.processor.memory_limiter": OtelPassThrough,
    "otelcol.processor.batch": OtelPassThrough,
    "otelcol.exporter.otlphttp": OtelExporterOtlpHttp,
    "otelcol.exporter.otlp": OtelExporterOtlpGrpc,
    "otelcol.exporter.prometheus": OtelExporterPrometheus,
    "prometheus.remote_write": PrometheusRemoteWrite,
    "prometheus.scrape": PrometheusScrape,
    "prometheus.exporter.unix": PrometheusExporterUnix,
    "prometheus.exporter.self": PrometheusExporterSelf,
    "faro.receiver": FaroReceiver,
}


# ---------------------------------------------------------------------------- HTTP

class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Alloy"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return None

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            data = gzip.decompress(data)
        elif encoding == "deflate":
            data = zlib.decompress(data)
        return data

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        cors = getattr(self, "cors", None)
        if cors:
            cors()
        self.end_headers()
        self.wfile.write(body)


def split_hostport(text: str) -> tuple[str, int]:
    host, _sep, port = str(text).rpartition(":")
    return host.strip("[]"), int(port)


def serve_http(host: str, port: int, handler: Any, name: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name=name).start()
    log("info", "HTTP server listening", component=name, addr=f"{host}:{port}")
    return server


class Runtime:
    def __init__(self, items: list[Attr | Block], schema: dict[str, Any], storage: Path,
                 http_addr: str) -> None:
        self.storage = storage
        self.http_addr = http_addr
        self.stopping = threading.Event()
        self.ready = False
        self.counters: dict[tuple[str, str], float] = {}
        self.counter_lock = threading.Lock()
        self.components: dict[str, Component] = {}
        for item in items:
            if isinstance(item, Block) and item.name in schema["components"]:
                implementation = IMPLEMENTATIONS.get(item.name, Unimplemented)
                self.components[item.id] = implementation(self, item,
                                                          schema["components"][item.name])
        self.scope = Scope(self.components)

    def count(self, metric: str, component: str, amount: float = 1) -> None:
        with self.counter_lock:
            key = (metric, component)
            self.counters[key] = self.counters.get(key, 0) + amount

    def self_metrics(self) -> str:
        lines = ["# TYPE alloy_build_info gauge",
                 f'alloy_build_info{{version="{VERSION}",branch="HEAD",revision="lgtm-standin",'
                 f'goversion="none (Python stand-in)"}} 1',
                 "# TYPE alloy_component_controller_running_components gauge",
                 f'alloy_component_controller_running_components{{health_type="healthy"}} '
                 f"{len(self.components)}",
                 "# TYPE process_start_time_seconds gauge",
                 f"process_start_time_seconds {START:.3f}"]
        with self.counter_lock:
            for (metric, component), value in sorted(self.counters.items()):
                lines.append(f'{metric}{{component_id="{component}"}} {value}')
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        for component in self.components.values():
            component.args()
        for component in self.components.values():
            if not component.implemented:
                log("warn", "component is validated but not run by the lgtm.stack stand-in",
                    component=component.id)
            component.start()
        self.ready = True


def http_handler(runtime: Runtime) -> Any:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path == "/-/ready":
                if runtime.ready:
                    self.reply(200, b"Alloy is ready.\n", "text/plain")
                else:
                    self.reply(503, b"Alloy is not ready.\n", "text/plain")
            elif path == "/-/healthy":
                self.reply(200, b"All Alloy components are healthy.\n", "text/plain")
            elif path == "/metrics":
                self.reply(200, runtime.self_metrics().encode(),
                           "text/plain; version=0.0.4; charset=utf-8")
            elif path.startswith("/api/v0/component/") and path.endswith("/metrics"):
                component = runtime.components.get(path[len("/api/v0/component/"):-8])
                if isinstance(component, PrometheusExporter):
                    self.reply(200, component.metrics().encode(),
                               "text/plain; version=0.0.4; charset=utf-8")
                else:
                    self.reply(404, b"404 page not found\n", "text/plain")
            elif path == "/api/v0/web/components":
                body = json.dumps([{"localID": cid, "name": c.block.name,
                                    "health": {"state": "healthy"}}
                                   for cid, c in runtime.components.items()])
                self.reply(200, body.encode(), "application/json")
            else:
                self.reply(404, b"404 page not found\n", "text/plain")

    return Handler


# ---------------------------------------------------------------------------- CLI

RUN_FLAGS = {
    "--server.http.listen-addr": "127.0.0.1:12345", "--storage.path": "data-alloy/",
    "--stability.level": "generally-available", "--config.format": "alloy",
    "--server.http.ui-path-prefix": "/", "--server.http.memory-addr": "alloy.internal:12345",
    "--cluster.node-name": "", "--cluster.join-addresses": "", "--cluster.name": "",
    "--cluster.advertise-address": "", "--config.extra-args": "",
    "--feature.component-shutdown-deadline": "10m",
    "--feature.prometheus.metric-validation-scheme": "legacy",
}
RUN_BOOL_FLAGS = {"--disable-reporting", "--disable-support-bundle", "--cluster.enabled",
                  "--server.http.enable-pprof", "--feature.community-components.enabled",
                  "--config.bypass-conversion-errors", "--cluster.enable-tls",
                  "--feature.prometheus.direct-fanout.enabled", "--server.http.enable-graphql",
                  "--server.http.enable-graphql-playground"}
VALIDATE_FLAGS = {"--stability.level": "generally-available", "--config.format": "alloy",
                  "--config.extra-args": ""}
VALIDATE_BOOL_FLAGS = {"--feature.community-components.enabled",
                       "--config.bypass-conversion-errors"}


def parse_flags(argv: list[str], flags: dict[str, str], bool_flags: set[str]
                ) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = dict(flags)
    values.update({name: False for name in bool_flags})
    positional = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg.startswith("-") and arg != "-":
            name, has_value, value = arg.partition("=")
            name = "--" + name.lstrip("-")
            if name in bool_flags:
                values[name] = value.lower() != "false" if has_value else True
            elif name in flags:
                if not has_value:
                    index += 1
                    if index >= len(argv):
                        raise SystemExit(f"Error: flag needs an argument: {arg}")
                    value = argv[index]
                values[name] = value
            else:
                raise SystemExit(f"Error: unknown flag: {name}")
        else:
            positional.append(arg)
        index += 1
    stability = values.get("--stability.level")
    if stability is not None and stability not in STAGES:
        raise SystemExit(f"Error: invalid value {stability!r} for --stability.level")
    return values, positional


def read_config(path: str) -> tuple[str, str]:
    target = Path(path)
    if target.is_dir():
        files = sorted(target.glob("*.alloy"))
        return "\n".join(file.read_text() for file in files), path
    return target.read_text(), path


def load(path: str, stability: str,
         community: bool) -> tuple[list[Attr | Block], dict[str, Any]]:
    schema = load_schema()
    try:
        text, name = read_config(path)
    except OSError as error:
        print(f"Error: reading config path {path!r}: {error.strerror}", file=sys.stderr)
        raise SystemExit(1) from None
    try:
        items = parse(text)
    except AlloyError as error:
        print(error.render(name), file=sys.stderr)
        raise SystemExit(1) from None
    errors = validate(items, schema, stability, community)
    if errors:
        for error in errors:
            print(error.render(name), file=sys.stderr)
        raise SystemExit(1)
    return items, schema


def cmd_validate(argv: list[str]) -> int:
    values, positional = parse_flags(argv, VALIDATE_FLAGS, VALIDATE_BOOL_FLAGS)
    if len(positional) != 1:
        print("Error: validate requires exactly one path argument", file=sys.stderr)
        return 1
    load(positional[0], values["--stability.level"],
         values["--feature.community-components.enabled"])
    return 0


def cmd_run(argv: list[str]) -> int:
    values, positional = parse_flags(argv, RUN_FLAGS, RUN_BOOL_FLAGS)
    if len(positional) != 1:
        print("Error: run requires exactly one path argument", file=sys.stderr)
        return 1
    items, schema = load(positional[0], values["--stability.level"],
                         values["--feature.community-components.enabled"])
    storage = Path(values["--storage.path"])
    storage.mkdir(parents=True, exist_ok=True)
    host, port = split_hostport(values["--server.http.listen-addr"])
    runtime = Runtime(items, schema, storage, f"{host}:{port}")
    serve_http(host, port, http_handler(runtime), "http")
    if not values["--disable-reporting"]:
        # Upstream reports usage to stats.grafana.org; the stand-in never connects out.
        log("info", "usage reporting enabled: would report to "
                    "https://stats.grafana.org/alloy-usage-report (not sent by the stand-in)")
    try:
        runtime.start()
    except AlloyError as error:
        print(error.render(positional[0]), file=sys.stderr)
        return 1
    log("info", "now listening for http traffic", service="http", addr=f"{host}:{port}")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    runtime.stopping.set()
    log("info", "shutting down")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("Usage: alloy [command]\n\nAvailable Commands:\n  fmt\n  run\n  validate\n"
              "  version", file=sys.stdout)
        return 0
    command, rest = argv[0], argv[1:]
    if command in ("--version", "-v", "version"):
        print(f"alloy, version {VERSION} (branch: HEAD, revision: lgtm-standin)")
        return 0
    if command == "validate":
        return cmd_validate(rest)
    if command == "run":
        return cmd_run(rest)
    if command == "fmt":
        load(rest[-1], "experimental", True)
        return 0
    print(f'Error: unknown command "{command}" for "alloy"', file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
