"""What the lgtm contract stand-ins share (Mimir, Loki, Tempo): Go value syntax, a
schema-driven yaml.v2/yaml.v3-like config decoder, Go's flag package, snappy and protobuf
wire decoding, server TLS from a Go-style tls config, go-kit logfmt logging, listeners and
a threaded HTTP server.

Installed into each stand-in image as /usr/lib/python3/dist-packages/lgtm_standin.py
(tests/testhost/images/base.py install_standin_lib); the stand-ins import it by name, so
in the repository tests/testhost/standins/ goes on sys.path.

Upstream sources this follows (read, not copied): Go's time.ParseDuration and
Duration.String, strconv.ParseInt/ParseBool, os.Expand, the flag package; prometheus/common
model.ParseDuration; gopkg.in/yaml.v2 and gopkg.in/yaml.v3 decode.go (resolve rules,
"field X not found in type Y", "cannot unmarshal" messages); the snappy block format
(google/snappy format_description.txt) and the protobuf encoding guide; dskit
server/server.go and prometheus/exporter-toolkit web/tls_config.go (server TLS); go-kit
log's logfmt.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import errno
import json
import math
import os
import re
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

MAX_INT64 = 2**63 - 1


class ConfigError(Exception):
    """A config that the real program refuses at load time (exit 1)."""


class FlagError(Exception):
    """A command line that Go's flag package refuses (exit 2)."""


class FatalYAMLError(Exception):
    """An UnmarshalYAML error: yaml.v3 aborts the whole decode with it."""


# --- Go value syntax -----------------------------------------------------------

GO_DURATION_UNITS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 10**6, "s": 10**9,
                     "m": 60 * 10**9, "h": 3600 * 10**9}
MODEL_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
MODEL_UNITS_MS = [("y", 365 * 86400000), ("w", 7 * 86400000), ("d", 86400000),
                  ("h", 3600000), ("m", 60000), ("s", 1000), ("ms", 1)]


def go_parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds: `720h`, `1h30m`, `1.5s`, `0`; no `d`."""
    orig, rest, negative = text, text, False
    if rest[:1] in ("-", "+"):
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0
    while rest:
        number = re.match(r"(\d*)(?:\.(\d*))?", rest)
        assert number is not None
        whole, frac = number.group(1), number.group(2)
        if not whole and not frac:
            raise ValueError(f'time: invalid duration "{orig}"')
        rest = rest[number.end():]
        unit_match = re.match(r"[^\d.]*", rest)
        assert unit_match is not None
        unit = unit_match.group(0)
        rest = rest[unit_match.end():]
        if not unit:
            raise ValueError(f'time: missing unit in duration "{orig}"')
        if unit not in GO_DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
        scale = GO_DURATION_UNITS[unit]
        total += int(whole or 0) * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        if total > MAX_INT64:
            raise ValueError(f'time: invalid duration "{orig}"')
    return -total if negative else total


def model_parse_duration(text: str) -> int:
    """prometheus/common model.ParseDuration, in nanoseconds: `7d`, `13w`, `1h30m`, `0`."""
    if text == "0":
        return 0
    if not text:
        raise ValueError("empty duration string")
    match = MODEL_DURATION_RE.match(text)
    if not match:
        raise ValueError(f'not a valid duration string: "{text}"')
    total_ms = 0
    for group, (_unit, unit_ms) in zip(match.groups(), MODEL_UNITS_MS, strict=True):
        if group:
            total_ms += int(group) * unit_ms
    if total_ms * 10**6 > MAX_INT64:
        raise ValueError("duration out of range")
    return total_ms * 10**6


BYTE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
              "gb": 10**9, "t": 10**12, "tb": 10**12, "p": 10**15, "pb": 10**15,
              "e": 10**18, "eb": 10**18, "ki": 2**10, "kib": 2**10, "mi": 2**20,
              "mib": 2**20, "gi": 2**30, "gib": 2**30, "ti": 2**40, "tib": 2**40,
              "pi": 2**50, "pib": 2**50, "ei": 2**60, "eib": 2**60}


def parse_bytes(text: str) -> int:
    """go-humanize ParseBytes (flagext.ByteSize): `64MB`, `1.5GiB`, `4096`, `10 kb`."""
    match = re.fullmatch(r"\s*([0-9.,]*)\s*([A-Za-z]*)\s*", text)
    number = match.group(1).replace(",", "") if match else ""
    unit = match.group(2).lower() if match else ""
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{number}": invalid syntax') from None
    if unit not in BYTE_UNITS:
        raise ValueError(f"unhandled size name: {unit}")
    return int(value * BYTE_UNITS[unit])


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def go_format_duration(ns: int) -> str:
    """Go's time.Duration.String: 30s, 2m0s, 13h0m0s, 200ms."""
    if ns == 0:
        return "0s"
    sign, value = ("-" if ns < 0 else ""), abs(ns)
    if value < 1000:
        return f"{sign}{value}ns"
    if value < 10**6:
        return f"{sign}{_fraction(value, 1000)}µs"
    if value < 10**9:
        return f"{sign}{_fraction(value, 10**6)}ms"
    hours, rem = divmod(value, 3600 * 10**9)
    minutes, rem = divmod(rem, 60 * 10**9)
    seconds = _fraction(rem, 10**9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    return f"{sign}{minutes}m{seconds}" if minutes else f"{sign}{seconds}"


def model_format_duration(ns: int) -> str:
    """model.Duration.String: 0s, 30d, 1w, 13h."""
    ms = ns // 10**6
    if ms == 0:
        return "0s"
    out = ""
    for unit, unit_ms in MODEL_UNITS_MS:
        if unit in ("y", "w") and ms % unit_ms:
            continue
        count = ms // unit_ms
        if count:
            out += f"{count}{unit}"
            ms -= count * unit_ms
    return out


def go_parse_int(text: str) -> int:
    """strconv.ParseInt(s, 0, 64): decimal, 0x, 0o, 0b, leading-0 octal, underscores."""
    sign, body = 1, text
    if body[:1] in ("+", "-"):
        sign, body = (-1 if body[0] == "-" else 1), body[1:]
    if not body:
        raise ValueError(text)
    base = 10
    lower = body.lower()
    if lower.startswith(("0x", "0o", "0b")):
        base, body = {"x": 16, "o": 8, "b": 2}[lower[1]], body[2:]
        body = body[1:] if body.startswith("_") else body
    elif len(body) > 1 and body[0] == "0":
        base, body = 8, body[1:]
    if not body or body.startswith("_") or body.endswith("_") or "__" in body:
        raise ValueError(text)
    value = sign * int(body.replace("_", ""), base)
    if not -(2**63) <= value <= MAX_INT64:
        raise ValueError(text)
    return value


def go_parse_bool(text: str) -> bool:
    """strconv.ParseBool."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(text)


def go_expand(text: str, mapping: Any) -> str:
    """Go's os.Expand: $var and ${var}; bad syntax is eaten, a lone $ stays."""
    special = set("*#$@!?-0123456789")
    out: list[str] = []
    i = 0
    j = 0
    while j < len(text):
        if text[j] == "$" and j + 1 < len(text):
            out.append(text[i:j])
            rest = text[j + 1:]
            name, width = "", 0
            if rest[0] == "{":
                if len(rest) > 2 and rest[1] in special and rest[2] == "}":
                    name, width = rest[1], 3
                else:
                    close = rest.find("}", 1)
                    if close == 1:
                        width = 2
                    elif close == -1:
                        width = 1
                    else:
                        name, width = rest[1:close], close + 1
            elif rest[0] in special:
                name, width = rest[0], 1
            else:
                match = re.match(r"[A-Za-z0-9_]*", rest)
                assert match is not None
                name = match.group(0)
                width = len(name)
            if name:
                out.append(mapping(name))
            elif width == 0:
                out.append("$")
            j += width
            i = j + 1
        j += 1
    out.append(text[i:])
    return "".join(out)


def expand_env(text: str) -> str:
    """Mimir's and Tempo's expandEnvironmentVariables: ${VAR:default}, newlines dropped."""
    def lookup(key: str) -> str:
        name, _colon, default = key.partition(":")
        value = os.environ.get(name, "")
        if value == "" and ":" in key:
            value = default
        return value.replace("\n", "")
    return go_expand(text, lookup)


# --- schema and config decoding (yaml.v3 with KnownFields, yaml.v2 UnmarshalStrict) --

# Go type names for the schema's value types, as "cannot unmarshal ... into T" names
# them; a stand-in passes its own where its program's types differ.
GO_TYPE_NAMES = {
    "string": "string", "url": "flagext.URLValue", "int": "int", "float": "float64",
    "bool": "bool", "duration": "time.Duration", "model_duration": "model.Duration",
    "strings": "[]string", "durations": "[]time.Duration", "map_string": "map[string]string",
    "map_int": "map[string]int", "map_float": "map[string]float64",
    "relabel_configs": "[]*relabel.Config", "bytes": "flagext.ByteSize",
}
RELABEL_FIELDS = {"source_labels": "strings", "separator": "string", "regex": "string",
                  "modulus": "int", "target_label": "string", "replacement": "string",
                  "action": "string"}
RELABEL_ACTIONS = {"replace", "keep", "drop", "keepequal", "dropequal", "hashmod", "labelmap",
                   "labeldrop", "labelkeep", "lowercase", "uppercase"}
SECRET_NAME = re.compile(r"(secret|password|token|account_key|sse_.*key)(?!.*(_file|_path)$)")


def load_schema(paths: list[Path], program: str) -> dict[str, Any]:
    """The first schema.json that exists among `paths` (generated from upstream's reference)."""
    for path in paths:
        if path.is_file():
            return json.loads(path.read_text())
    raise SystemExit(f"{program} stand-in: schema.json not found in {[str(p) for p in paths]}")


def defaults(block: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, entry in block["fields"].items():
        if entry["k"] == "block":
            out[name] = defaults(entry)
        elif entry["k"] == "slice":
            out[name] = []
        elif entry["k"] == "map":
            out[name] = {}
        else:
            value = entry.get("d")
            out[name] = list(value) if isinstance(value, list) else (
                dict(value) if isinstance(value, dict) else value)
    return out


def resolve_scalar(node: yaml.ScalarNode) -> tuple[str, Any]:
    """yaml.v3's resolve() for plain scalars; quoted and block scalars are strings."""
    value = node.value
    if node.style is not None:
        return "!!str", value
    if value in ("", "~", "null", "Null", "NULL"):
        return "!!null", None
    if value in ("true", "True", "TRUE"):
        return "!!bool", True
    if value in ("false", "False", "FALSE"):
        return "!!bool", False
    with contextlib.suppress(ValueError):
        return "!!int", go_parse_int(value)
    if re.fullmatch(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", value):
        return "!!float", float(value)
    if value in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"):
        return "!!float", math.inf
    if value in ("-.inf", "-.Inf", "-.INF"):
        return "!!float", -math.inf
    if value in (".nan", ".NaN", ".NAN"):
        return "!!float", math.nan
    return "!!str", value


class ConfigDecoder:
    """Decodes a composed YAML tree against the schema as yaml.v3 (KnownFields) or yaml.v2
    (UnmarshalStrict) would into the program's structs.

    The two differ where a stand-in can see it: yaml.v2 takes any integer into a
    time.Duration (as nanoseconds) where yaml.v3 takes none but 0, and they word a
    duplicate key differently.
    """

    def __init__(self, schema: dict[str, Any], type_names: dict[str, str] | None = None,
                 yaml_v2: bool = False) -> None:
        self.schema = schema
        self.type_names = {**GO_TYPE_NAMES, **(type_names or {})}
        self.yaml_v2 = yaml_v2
        self.errors: list[str] = []
        self.explicit: set[str] = set()

    def terror(self, node: yaml.Node, go_type: str) -> None:
        if isinstance(node, yaml.MappingNode):
            shown = "!!map"
        elif isinstance(node, yaml.SequenceNode):
            shown = "!!seq"
        else:
            tag = resolve_scalar(node)[0]
            value = node.value
            value = f" `{value[:7]}...`" if len(value) > 10 else f" `{value}`"
            shown = tag + value
        self.errors.append(f"line {node.start_mark.line + 1}: cannot unmarshal {shown} "
                           f"into {go_type}")

    @staticmethod
    def block_type(block: dict[str, Any], path: str) -> str:
        return block.get("type") or path

    def mapping_items(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
        """Pairs in order with merge keys (<<) applied and duplicate keys reported."""
        items: list[tuple[yaml.Node, yaml.Node]] = []
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "<<" and key.style is None:
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        merged.extend(self.mapping_items(source))
                continue
            items.append((key, value))
        seen: dict[str, int] = {}
        for key, _value in items:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in seen and self.yaml_v2:
                    self.errors.append(f"line {line}: key {json.dumps(key.value)} already "
                                       "set in map")
                elif key.value in seen:
                    self.errors.append(f"line {line}: mapping key {json.dumps(key.value)} "
                                       f"already defined at line {seen[key.value]}")
                seen.setdefault(key.value, line)
        own = {key.value for key, _value in items if isinstance(key, yaml.ScalarNode)}
        kept = [pair for pair in merged
                if not (isinstance(pair[0], yaml.ScalarNode) and pair[0].value in own)]
        return kept + items

    def decode_block(self, node: yaml.Node, block: dict[str, Any], path: str,
                     target: dict[str, Any]) -> None:
        if isinstance(node, yaml.ScalarNode) and resolve_scalar(node)[0] == "!!null":
            return
        if not isinstance(node, yaml.MappingNode):
            self.terror(node, self.block_type(block, path))
            return
        for key, value in self.mapping_items(node):
            name = key.value if isinstance(key, yaml.ScalarNode) else ""
            entry = block["fields"].get(name)
            if entry is None:
                self.errors.append(f"line {key.start_mark.line + 1}: field {name} not found "
                                   f"in type {self.block_type(block, path)}")
                continue
            child = f"{path}.{name}" if path else name
            if entry["k"] == "block":
                self.decode_block(value, entry, child, target[name])
                continue
            ok, decoded = self.decode_entry(value, entry, child)
            if ok:
                target[name] = decoded
                self.explicit.add(child)

    def decode_entry(self, node: yaml.Node, entry: dict[str, Any], path: str) -> tuple[bool, Any]:
        kind = entry["k"]
        is_null = isinstance(node, yaml.ScalarNode) and resolve_scalar(node)[0] == "!!null"
        if kind in ("slice", "map"):
            if is_null:
                return True, [] if kind == "slice" else {}
            container = yaml.SequenceNode if kind == "slice" else yaml.MappingNode
            if not isinstance(node, container):
                self.terror(node, f"[]{path}" if kind == "slice" else f"map[string]{path}")
                return False, None
            if kind == "slice":
                items = []
                for item in node.value:
                    decoded_item = defaults(entry["e"])
                    self.decode_block(item, entry["e"], path, decoded_item)
                    items.append(decoded_item)
                return True, items
            mapping = {}
            for key, item in self.mapping_items(node):
                decoded_item = defaults(entry["e"])
                self.decode_block(item, entry["e"], path, decoded_item)
                mapping[key.value] = decoded_item
            return True, mapping
        field_type = entry["t"]
        if is_null:
            # yaml.v3 leaves scalars at their default on null and empties lists and maps.
            if field_type in ("strings", "durations", "relabel_configs"):
                return True, []
            if field_type.startswith("map_"):
                return True, {}
            return False, None
        return self.decode_value(node, field_type, path)

    def decode_value(self, node: yaml.Node, field_type: str, path: str) -> tuple[bool, Any]:
        if field_type == "any":
            # A value whose structure the schema does not give (interface{}, foreign
            # config types): taken as plain YAML data.
            return True, yaml.safe_load(yaml.serialize(node))
        go_type = self.type_names[field_type]
        if field_type in ("strings", "durations"):
            if not isinstance(node, yaml.SequenceNode):
                self.terror(node, go_type)
                return False, None
            element = "string" if field_type == "strings" else "duration"
            values = []
            for item in node.value:
                if isinstance(item, yaml.ScalarNode) and resolve_scalar(item)[0] == "!!null":
                    values.append("" if element == "string" else 0)
                    continue
                ok, value = self.decode_value(item, element, path)
                if ok:
                    values.append(value)
            return True, values
        if field_type.startswith("map_"):
            if not isinstance(node, yaml.MappingNode):
                self.terror(node, go_type)
                return False, None
            element = {"map_string": "string", "map_int": "int", "map_float": "float"}[field_type]
            mapping = {}
            for key, item in self.mapping_items(node):
                ok, value = self.decode_value(item, element, path)
                if ok:
                    mapping[key.value] = value
            return True, mapping
        if field_type == "relabel_configs":
            return self.decode_relabel_configs(node)
        if not isinstance(node, yaml.ScalarNode):
            # Types with their own UnmarshalYAML decode through a string first.
            self.terror(node, "string" if field_type in ("model_duration", "bytes") else go_type)
            return False, None
        tag, resolved = resolve_scalar(node)
        if field_type in ("string", "url"):
            return True, node.value
        if field_type == "bytes":
            # flagext.ByteSize: any scalar as text, then humanize.ParseBytes; its error
            # aborts the decode like model.Duration's.
            try:
                return True, parse_bytes(node.value)
            except ValueError as error:
                raise FatalYAMLError(str(error)) from None
        if field_type == "model_duration":
            # model.Duration's own UnmarshalYAML: any scalar as text, then ParseDuration;
            # its error aborts the whole decode (no line number), as upstream's does.
            try:
                return True, model_parse_duration(node.value)
            except ValueError as error:
                raise FatalYAMLError(str(error)) from None
        if field_type == "int":
            if tag == "!!int":
                return True, resolved
            if tag == "!!float" and math.isfinite(resolved) and abs(resolved) <= MAX_INT64:
                return True, int(resolved)
        elif field_type == "float":
            if tag in ("!!int", "!!float"):
                return True, float(resolved)
        elif field_type == "bool":
            if tag == "!!bool":
                return True, resolved
            if tag == "!!str" and resolved in ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON"):
                return True, True
            if tag == "!!str" and resolved in ("n", "N", "no", "No", "NO", "off", "Off", "OFF"):
                return True, False
        elif field_type == "duration":
            if tag == "!!int" and (resolved == 0 or self.yaml_v2):
                return True, resolved
            if tag == "!!str":
                with contextlib.suppress(ValueError):
                    return True, go_parse_duration(resolved)
        self.terror(node, go_type)
        return False, None

    def decode_relabel_configs(self, node: yaml.Node) -> tuple[bool, Any]:
        if not isinstance(node, yaml.SequenceNode):
            self.terror(node, "[]*relabel.Config")
            return False, None
        configs = []
        for item in node.value:
            if not isinstance(item, yaml.MappingNode):
                self.terror(item, "relabel.plain")
                continue
            config: dict[str, Any] = {}
            for key, value in self.mapping_items(item):
                field_type = RELABEL_FIELDS.get(key.value)
                if field_type is None:
                    self.errors.append(f"line {key.start_mark.line + 1}: field {key.value} "
                                       "not found in type relabel.plain")
                    continue
                ok, decoded = self.decode_value(value, field_type, "relabel")
                if ok:
                    config[key.value] = decoded
            action = str(config.get("action", "replace")).lower()
            if action not in RELABEL_ACTIONS:
                raise FatalYAMLError(f"unknown relabel action {json.dumps(action)}")
            configs.append(config)
        return True, configs


def decode_config(text: str, schema: dict[str, Any], type_names: dict[str, str] | None = None,
                  yaml_v2: bool = False) -> tuple[dict[str, Any], set[str]]:
    """Returns the config (defaults overlaid with the file) and the paths the file set."""
    root = schema["root"]
    config = defaults(root)
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"yaml: {line}{error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"yaml: {error}") from None
    decoder = ConfigDecoder(schema, type_names, yaml_v2)
    if documents and documents[0] is not None:
        try:
            decoder.decode_block(documents[0], root, "", config)
        except FatalYAMLError as error:
            raise ConfigError(str(error)) from None
    if decoder.errors:
        raise ConfigError("yaml: unmarshal errors:\n  " + "\n  ".join(decoder.errors))
    return config, decoder.explicit


def get_path(config: dict[str, Any], path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = value[part]
    return value


def set_path(config: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    target = config
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = value


def schema_entry(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    block = schema["root"]
    entry: dict[str, Any] | None = None
    for part in path.split("."):
        if block is None or block.get("k") != "block" or part not in block["fields"]:
            return None
        entry = block["fields"][part]
        block = entry if entry["k"] == "block" else None
    return entry


def leaf_paths(block: dict[str, Any], prefix: str) -> list[str]:
    paths = []
    for name, entry in block["fields"].items():
        path = f"{prefix}.{name}"
        paths.extend(leaf_paths(entry, path) if entry["k"] == "block" else [path])
    return paths


# --- command line (Go's flag package) -------------------------------------------

def flag_table(schema: dict[str, Any], main_flags: dict[str, str]
               ) -> dict[str, tuple[str | None, str]]:
    """Flag name -> (config path or None, value type); main_flags are the program's own."""
    table: dict[str, tuple[str | None, str]] = {}

    def walk(block: dict[str, Any], prefix: str) -> None:
        for name, entry in block["fields"].items():
            path = f"{prefix}.{name}" if prefix else name
            if entry["k"] == "block":
                walk(entry, path)
            elif entry.get("f") and entry["k"] == "field":
                table[entry["f"]] = (path, entry["t"])
    walk(schema["root"], "")
    for name, kind in main_flags.items():
        table[name] = (None, kind)
    return table


def parse_flag_value(kind: str, value: str) -> Any:
    if kind == "bool":
        return go_parse_bool(value)
    if kind == "int":
        return go_parse_int(value)
    if kind == "float":
        return float(value)
    if kind == "duration":
        return go_parse_duration(value)
    if kind == "model_duration":
        return model_parse_duration(value)
    if kind == "durations":
        return [go_parse_duration(item) for item in value.split(",")]
    if kind == "bytes":
        return parse_bytes(value)
    return value


def parse_flags(args: list[str], table: dict[str, tuple[str | None, str]]
                ) -> list[tuple[str, Any]]:
    """Go's FlagSet.Parse: -f, --f, -f=v, -f v (not for bools); stops at the first non-flag."""
    parsed: list[tuple[str, Any]] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if len(arg) < 2 or arg[0] != "-":
            break
        minuses = 2 if arg[1] == "-" else 1
        if arg == "--":
            break
        name = arg[minuses:]
        if not name or name[0] in "-=":
            raise FlagError(f"bad flag syntax: {arg}")
        index += 1
        value: str | None = None
        if "=" in name[1:]:
            name, value = name.split("=", 1)
        if name not in table:
            raise FlagError(f"flag provided but not defined: -{name}")
        kind = table[name][1]
        if kind == "bool":
            try:
                parsed.append((name, go_parse_bool(value) if value is not None else True))
            except ValueError:
                raise FlagError(f'invalid boolean value "{value}" for -{name}: '
                                "parse error") from None
            continue
        if value is None:
            if index >= len(args):
                raise FlagError(f"flag needs an argument: -{name}")
            value = args[index]
            index += 1
        try:
            parsed.append((name, parse_flag_value(kind, value)))
        except ValueError as error:
            # Go's built-in flag types say "parse error"; model.Duration says why.
            reason = str(error) if kind == "model_duration" else "parse error"
            raise FlagError(f'invalid value "{value}" for flag -{name}: {reason}') from None
    return parsed


def config_file_parameter(args: list[str]) -> tuple[str, bool]:
    """main.go parseConfigFileParameter: find -config.file/-config.expand-env anywhere."""
    config_file, expand = "", False
    for index, arg in enumerate(args):
        name = arg.lstrip("-") if arg.startswith("-") and arg[:3] != "---" else ""
        name, has_value, value = name.partition("=")
        if name == "config.file":
            if has_value:
                config_file = value
            elif index + 1 < len(args):
                config_file = args[index + 1]
        elif name == "config.expand-env":
            with contextlib.suppress(ValueError):
                expand = go_parse_bool(value) if has_value else True
    return config_file, expand


# --- snappy (block format) and protobuf wire format ------------------------------

class DecodeError(Exception):
    pass


def read_uvarint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise DecodeError("unexpected end of data in varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("varint too long")


def snappy_decompress(data: bytes, max_length: int) -> bytes:
    """Snappy block format: a varint length, then literals and back-references."""
    length, pos = read_uvarint(data, 0)
    if length > max_length:
        raise DecodeError(f"decompressed length {length} exceeds the limit of {max_length}")
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal; lengths over 60 follow the tag in 1-4 bytes
            size = tag >> 2
            if size >= 60:
                extra = size - 59
                if pos + extra > len(data):
                    raise DecodeError("corrupt snappy literal")
                size = int.from_bytes(data[pos:pos + extra], "little")
                pos += extra
            size += 1
            if pos + size > len(data):
                raise DecodeError("corrupt snappy literal")
            out += data[pos:pos + size]
            pos += size
            continue
        if kind == 1:  # copy, 1-byte offset
            if pos >= len(data):
                raise DecodeError("corrupt snappy copy")
            size = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        else:  # copy, 2- or 4-byte little-endian offset
            width = 2 if kind == 2 else 4
            if pos + width > len(data):
                raise DecodeError("corrupt snappy copy")
            size = (tag >> 2) + 1
            offset = int.from_bytes(data[pos:pos + width], "little")
            pos += width
        if offset == 0 or offset > len(out):
            raise DecodeError("corrupt snappy copy offset")
        start = len(out) - offset
        if size <= offset:
            out += out[start:start + size]
        else:  # overlapping copy repeats the last `offset` bytes
            for index in range(size):
                out.append(out[start + index])
        if len(out) > length:
            raise DecodeError("snappy data longer than its header says")
    if len(out) != length:
        raise DecodeError(f"snappy data is {len(out)} bytes, its header says {length}")
    return bytes(out)


def proto_fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value): value is an int, or (start, end) for bytes."""
    pos = start
    while pos < end:
        key, pos = read_uvarint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise DecodeError("invalid field number 0")
        if wire == 0:
            value, pos = read_uvarint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise DecodeError("truncated fixed64")
            value = int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wire == 2:
            size, pos = read_uvarint(buf, pos)
            if pos + size > end:
                raise DecodeError("truncated length-delimited field")
            value = (pos, pos + size)
            pos += size
        elif wire == 5:
            if pos + 4 > end:
                raise DecodeError("truncated fixed32")
            value = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")
        yield number, wire, value


def proto_int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def proto_double(bits: int) -> float:
    return struct.unpack("<d", bits.to_bytes(8, "little"))[0]


def proto_string(buf: memoryview, span: tuple[int, int]) -> str:
    try:
        return bytes(buf[span[0]:span[1]]).decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("invalid UTF-8 in a string") from None


def proto_expect(wire: int, wanted: int, what: str) -> None:
    if wire != wanted:
        raise DecodeError(f"{what}: wrong wire type {wire}")


# --- server TLS, listeners, logging and HTTP ----------------------------------------

TENANT_CHARS = re.compile(r"^[a-zA-Z0-9!\-_.*'()]+$")


# exporter-toolkit's client_auth_type values that Python's ssl can honour.
CLIENT_AUTH = {"": ssl.CERT_NONE, "NoClientCert": ssl.CERT_NONE,
               "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
               "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
UNVERIFIED_CLIENT_AUTH = {"RequestClientCert", "RequireAnyClientCert", "RequireClientCert"}
# Go's net/http: a TLS record header that looks like one of these is a plain HTTP request.
PLAIN_HTTP_STARTS = (b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO")


class TLSConfigError(ConfigError):
    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = f"server.http_tls_config.{key}"


def server_tls_context(tls: dict[str, Any]) -> ssl.SSLContext | None:
    """dskit serves HTTPS when a certificate and a key are both set (path or inline PEM);
    errors are ConfigToTLSConfig's, naming the key. None: plain HTTP."""
    if not ((tls["cert_file"] or tls["cert"]) and (tls["key_file"] or tls["key"])):
        return None
    pem: dict[str, bytes] = {}
    for name in ("cert", "key", "client_ca"):
        path = tls[f"{name}_file"]
        try:
            pem[name] = Path(path).read_bytes() if path else str(tls[name]).encode()
        except OSError as error:
            reason = f"open {path}: {(error.strerror or str(error)).lower()}"
            raise TLSConfigError(reason if name == "client_ca" else
                                 f"failed to read {name}_file ({path}): {reason}",
                                 f"{name}_file") from None
    auth = tls["client_auth_type"]
    if auth in UNVERIFIED_CLIENT_AUTH:
        raise TLSConfigError(f"client_auth_type {auth} is not implemented by the stand-in",
                             "client_auth_type")
    if auth not in CLIENT_AUTH:
        raise TLSConfigError(f"invalid ClientAuth: {auth}", "client_auth_type")
    if pem["client_ca"] and CLIENT_AUTH[auth] == ssl.CERT_NONE:
        raise TLSConfigError("client CA's have been configured without a Client Auth Policy",
                             "client_auth_type")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # Go's default for servers
    context.set_alpn_protocols(["http/1.1"])
    paths = [tls["cert_file"], tls["key_file"]]
    # load_cert_chain reads files only: inline PEM goes through a private scratch directory.
    with tempfile.TemporaryDirectory() if not all(paths) else contextlib.nullcontext("") \
            as scratch:
        for index, name in enumerate(("cert", "key")):
            if not paths[index]:
                paths[index] = str(Path(scratch) / name)
                Path(paths[index]).write_bytes(pem[name])
        try:
            context.load_cert_chain(paths[0], paths[1])
        except ssl.SSLError as error:
            reason = "tls: private key does not match public key" \
                if error.reason == "KEY_VALUES_MISMATCH" else error.reason or str(error)
            raise TLSConfigError(f"failed to load X509KeyPair: {reason}",
                                 "cert_file/key_file") from None
    if pem["client_ca"]:
        # Go's AppendCertsFromPEM skips what it cannot parse: an empty pool refuses everyone.
        with contextlib.suppress(ssl.SSLError, ValueError):
            context.load_verify_locations(cadata=pem["client_ca"].decode(errors="replace"))
    context.verify_mode = CLIENT_AUTH[auth]
    return context


class StandinHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sock: socket.socket, app: Any, handler: type[BaseHTTPRequestHandler],
                 tls: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.tls = tls
        self.address_family = sock.family
        super().__init__(sock.getsockname()[:2], handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock

    def finish_request(self, request: Any, client_address: Any) -> None:
        """With TLS, the handshake runs in the connection's thread, as Go's does."""
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            request.settimeout(10)
            if request.recv(5, socket.MSG_PEEK) in PLAIN_HTTP_STARTS:
                request.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n"
                                b"Client sent an HTTP request to an HTTPS server.\n")
                return
            conn = self.tls.wrap_socket(request, server_side=True)
        except OSError as error:
            self.app.log("debug", f"http: TLS handshake error from "
                         f"{client_address[0]}:{client_address[1]}: {error}")
            return
        conn.settimeout(None)
        try:
            super().finish_request(conn, client_address)
        finally:
            with contextlib.suppress(OSError):
                conn.close()


class StandinHandler(BaseHTTPRequestHandler):
    """Responses, bodies and parameters as Go's net/http serves them; subclasses route()."""

    protocol_version = "HTTP/1.1"
    server_version = "lgtm-standin"
    server: StandinHTTPServer
    body_consumed = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - upstream signature
        self.server.app.log("debug", "http request", request=format % args)

    # responses
    def send(self, status: int, body: bytes | str, content_type: str = "text/plain; "
             "charset=utf-8") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        if not getattr(self, "body_consumed", True) and (
                int(self.headers.get("Content-Length") or 0) > 0
                or "chunked" in self.headers.get("Transfer-Encoding", "").lower()):
            # An unread request body would be taken for the next request on this connection.
            self.close_connection = True
            self.send_header("Connection", "close")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, status: int, payload: Any) -> None:
        self.send(status, json.dumps(payload, allow_nan=False), "application/json")

    def read_body(self, limit: int) -> bytes | None:
        self.body_consumed = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > limit:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def params(self) -> dict[str, list[str]]:
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        if self.command == "POST" and "application/x-www-form-urlencoded" in \
                self.headers.get("Content-Type", ""):
            body = self.read_body(10 * 1024 * 1024) or b""
            for key, values in parse_qs(body.decode(), keep_blank_values=True).items():
                query.setdefault(key, []).extend(values)
        return query

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.route()

    def do_POST(self) -> None:  # noqa: N802
        self.route()

    def do_HEAD(self) -> None:  # noqa: N802
        self.route()

    def do_DELETE(self) -> None:  # noqa: N802
        self.route()

    def do_PUT(self) -> None:  # noqa: N802
        self.route()

    def route(self) -> None:
        raise NotImplementedError


def tenant_problem(org: str | None, federation: bool = False) -> tuple[str | None, str]:
    """dskit's tenant resolution from X-Scope-OrgID: (tenant, "") or (None, the error)."""
    if not org:
        return None, "no org id"
    tenants = org.split("|")
    if len(tenants) > 1 and not federation:
        return None, "multiple org IDs present"
    for tenant in tenants:
        if len(tenant) > 150:
            return None, "tenant ID is too long: max 150 characters"
        if tenant in (".", "..") or not TENANT_CHARS.match(tenant):
            bad = next((c for c in tenant if not TENANT_CHARS.match(c)), tenant)
            return None, f"tenant ID '{tenant}' contains unsupported character '{bad}'"
    return tenants[0], ""


LOG_LEVELS = ["debug", "info", "warn", "error"]


def logfmt_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if re.search(r'[\s"=]', text) else text


def format_log(level: str, msg: str, fields: dict[str, Any], level_first: bool = False,
               log_format: str = "logfmt") -> str:
    """One go-kit log line: logfmt (or JSON) with ts, caller, level and msg."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    head = [("level", level), ("ts", now)] if level_first else [("ts", now), ("level", level)]
    head.insert(2 if level_first else 1, ("caller", "standin"))
    pairs = [*head, ("msg", msg), *((key, str(value)) for key, value in fields.items())]
    if log_format == "json":
        return json.dumps(dict(pairs))
    parts = [f"{key}={value}" for key, value in head]
    parts.append(f"msg={json.dumps(msg)}")
    parts.extend(f"{key}={logfmt_value(value)}" for key, value in fields.items())
    return " ".join(parts)


class StandinApp:
    """What a running stand-in shares: go-kit logfmt logging on stderr, listeners that
    fail as Go's net.Listen does, plain TCP listeners for protocols not spoken here, and
    the HTTP servers and sockets to close at stop."""

    def __init__(self, log_level: str) -> None:
        self.level = str(log_level).lower()
        self.servers: list[Any] = []
        self.sockets: list[socket.socket] = []
        self.stopping = threading.Event()
        self.log_lock = threading.Lock()

    # go-kit's field order differs by program: Mimir writes ts first, Loki level first.
    level_first = False
    # server.log_format: "logfmt" or "json".
    log_format = "logfmt"

    def log(self, level: str, msg: str, **fields: Any) -> None:
        if LOG_LEVELS.index(level) < LOG_LEVELS.index(
                self.level if self.level in LOG_LEVELS else "info"):
            return
        line = format_log(level, msg, fields, self.level_first, self.log_format)
        with self.log_lock:
            print(line, file=sys.stderr, flush=True)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def run_until_signalled(self) -> int:
        """Starts, and stops on the first SIGTERM or SIGINT, as the programs' main does."""
        signalled = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_args: signalled.set())
        self.start()
        while not signalled.wait(3600):
            pass
        self.stop()
        return 0

    def listen(self, address: str, port: int) -> socket.socket:
        """Like Go's net.Listen("tcp", addr): an empty address is every interface, v4 and v6."""
        candidates: list[tuple[int, str]] = []
        if not address:
            candidates = [(socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")]
        else:
            with contextlib.suppress(OSError):
                info = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0]
                candidates = [(info[0], info[4][0])]
            candidates = candidates or [(socket.AF_INET, address)]
        last_error: OSError | None = None
        for family, host in candidates:
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)
            except OSError as error:
                last_error = error
                continue
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and not address:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                sock.bind((host, port))
            except OSError as error:
                sock.close()
                last_error = error
                if error.errno == errno.EADDRINUSE:
                    break
                continue
            sock.listen(128)
            self.sockets.append(sock)
            return sock
        reason = last_error.strerror if last_error else "no usable address"
        self.log("error", "error initialising module: server",
                 err=f"listen tcp {address}:{port}: bind: {reason}")
        raise SystemExit(1)

    def tcp_only(self, sock: socket.socket, what: str) -> None:
        """gRPC and memberlist are not spoken here: accept and close, so port checks pass."""
        def serve() -> None:
            while not self.stopping.is_set():
                try:
                    conn = sock.accept()[0]
                except OSError:
                    return
                self.log("debug", f"closing {what} connection: not implemented by the stand-in")
                conn.close()
        threading.Thread(target=serve, daemon=True, name=what).start()

    def serve_http(self, sock: socket.socket, handler: type[BaseHTTPRequestHandler],
                   tls: ssl.SSLContext | None) -> StandinHTTPServer:
        httpd = StandinHTTPServer(sock, self, handler, tls)
        self.servers.append(httpd)
        threading.Thread(target=httpd.serve_forever, daemon=True, name="http").start()
        return httpd

    def close_listeners(self) -> None:
        for httpd in self.servers:
            httpd.shutdown()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


def first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def render_config(config: dict[str, Any], block: dict[str, Any],
                  base: dict[str, Any] | None) -> dict[str, Any]:
    """The /config page: durations as Go prints them, secrets masked, optionally a diff."""
    out: dict[str, Any] = {}
    for name, entry in block["fields"].items():
        value = config.get(name)
        if entry["k"] == "block":
            child = render_config(value, entry, None if base is None else base[name])
            if child or base is None:
                out[name] = child
            continue
        if base is not None and base.get(name) == value:
            continue
        kind = entry.get("t")
        if kind == "duration" and isinstance(value, int):
            value = go_format_duration(value)
        elif kind == "model_duration" and isinstance(value, int):
            value = model_format_duration(value)
        elif kind == "durations" and isinstance(value, list):
            value = [go_format_duration(item) for item in value]
        elif kind == "string" and value and SECRET_NAME.search(name):
            value = "********"
        out[name] = value
    return out


# --- main --------------------------------------------------------------------------


# --- protobuf and snappy encoding, OTLP values (Tempo's generator, OTLP receivers) --------

def proto_varint(value: int) -> bytes:
    """A base-128 varint; negative int64 values take ten bytes as two's complement."""
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


def proto_len(field_no: int, payload: bytes) -> bytes:
    return proto_varint(field_no << 3 | 2) + proto_varint(len(payload)) + payload


def proto_uint(field_no: int, value: int) -> bytes:
    return proto_varint(field_no << 3) + proto_varint(value)


def proto_fixed_double(field_no: int, value: float) -> bytes:
    return proto_varint(field_no << 3 | 1) + struct.pack("<d", value)


def snappy_compress(data: bytes) -> bytes:
    """Snappy block format with literal elements only: valid snappy, no back-references
    (every decoder accepts it; the size saving does not matter to a test)."""
    out = bytearray(proto_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start:start + 65536]
        length = len(chunk) - 1
        if length < 60:
            out.append(length << 2)
        elif length < 256:
            out += bytes([60 << 2, length])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", length)
        out += chunk
    return bytes(out)


def otlp_any_value(buf: memoryview, span: tuple[int, int]) -> Any:
    """opentelemetry.proto.common.v1.AnyValue as its OTLP/JSON object ({"stringValue": ...})."""
    for number, _wire, value in proto_fields(buf, span[0], span[1]):
        if number == 1:
            return {"stringValue": proto_string(buf, value)}
        if number == 2:
            return {"boolValue": bool(value)}
        if number == 3:
            return {"intValue": str(proto_int64(value))}
        if number == 4:
            return {"doubleValue": proto_double(value)}
        if number == 5:
            return {"arrayValue": {"values": [
                otlp_any_value(buf, item) for field, _wire, item
                in proto_fields(buf, value[0], value[1]) if field == 1]}}
        if number == 6:
            return {"kvlistValue": {"values": [
                otlp_key_value(buf, item) for field, _wire, item
                in proto_fields(buf, value[0], value[1]) if field == 1]}}
        if number == 7:
            return {"bytesValue": base64.b64encode(bytes(buf[value[0]:value[1]])).decode()}
    return {}


def otlp_key_value(buf: memoryview, span: tuple[int, int]) -> dict[str, Any]:
    """opentelemetry.proto.common.v1.KeyValue as OTLP/JSON."""
    key, value = "", {}
    for number, _wire, item in proto_fields(buf, span[0], span[1]):
        if number == 1:
            key = proto_string(buf, item)
        elif number == 2:
            value = otlp_any_value(buf, item)
    return {"key": key, "value": value}


def otlp_plain(value: dict[str, Any]) -> Any:
    """An OTLP/JSON AnyValue as a plain Python value (for matching and labels)."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [otlp_plain(item) for item in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return {item["key"]: otlp_plain(item.get("value", {}))
                for item in value["kvlistValue"].get("values", [])}
    for key in ("boolValue", "doubleValue", "bytesValue"):
        if key in value:
            return value[key]
    return None


# --- gRPC over HTTP/2 (unary calls) --------------------------------------------------

class GrpcReply:
    """A unary call's answer: status 0 with a serialized message, or an error status."""

    def __init__(self, status: int = 0, message: str = "", body: bytes = b"") -> None:
        self.status = status
        self.message = message
        self.body = body


class GrpcServer:
    """Unary gRPC calls over HTTP/2 (https://github.com/grpc/grpc/blob/master/doc/
    PROTOCOL-HTTP2.md: length-prefixed messages, grpc-status trailers), cleartext h2c with
    prior knowledge or TLS with ALPN h2. Needs Debian's python3-h2 (in the images that
    serve gRPC); without it every connection is closed, so the port is still open.

    `call(path, message, headers)` gets the decompressed request message and returns a
    GrpcReply; `log(level, msg, **fields)` is the program's own logger (Alloy's and the
    StandinApp's differ), `stopping` ends the accept loop."""

    def __init__(self, sock: socket.socket, call: Any, log: Any,
                 tls: ssl.SSLContext | None = None, name: str = "grpc",
                 stopping: threading.Event | None = None) -> None:
        self.sock = sock
        self.call = call
        self.log = log
        self.tls = tls
        self.name = name
        self.stopping = stopping or threading.Event()

    def start(self) -> None:
        threading.Thread(target=self.serve, daemon=True, name=self.name).start()

    def serve(self) -> None:
        try:
            import h2.connection  # noqa: F401 - Debian's python3-h2
            speaks_h2 = True
        except ImportError:
            # Without an HTTP/2 library the port is open (port checks see it) and every
            # connection is closed.
            speaks_h2 = False
            host, port = self.sock.getsockname()[:2]
            self.log("warn", "gRPC needs python3-h2: connections are closed",
                     endpoint=f"{host}:{port}")
        while not self.stopping.is_set():
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            if not speaks_h2:
                conn.close()
                continue
            threading.Thread(target=self.connection, args=(conn,), daemon=True,
                             name=f"{self.name}-conn").start()

    def connection(self, raw: socket.socket) -> None:
        import h2.config
        import h2.connection
        import h2.events
        import h2.exceptions

        conn_sock: socket.socket = raw
        if self.tls is not None:
            try:
                raw.settimeout(10)
                conn_sock = self.tls.wrap_socket(raw, server_side=True)
                conn_sock.settimeout(None)
            except OSError as error:
                self.log("debug", "grpc: TLS handshake error", err=str(error))
                raw.close()
                return
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        streams: dict[int, dict[str, Any]] = {}
        with conn_sock:
            try:
                conn_sock.sendall(conn.data_to_send())
                while True:
                    data = conn_sock.recv(65536)
                    if not data:
                        return
                    for event in conn.receive_data(data):
                        if isinstance(event, h2.events.RequestReceived):
                            streams[event.stream_id] = {"headers": dict(event.headers),
                                                        "body": bytearray()}
                        elif isinstance(event, h2.events.DataReceived):
                            if event.stream_id in streams:
                                streams[event.stream_id]["body"] += event.data
                            conn.acknowledge_received_data(event.flow_controlled_length,
                                                           event.stream_id)
                        elif isinstance(event, h2.events.StreamEnded):
                            stream = streams.pop(event.stream_id, None)
                            if stream is not None:
                                self.answer(conn, event.stream_id, stream["headers"],
                                            bytes(stream["body"]))
                        elif isinstance(event, h2.events.ConnectionTerminated):
                            conn_sock.sendall(conn.data_to_send())
                            return
                    outgoing = conn.data_to_send()
                    if outgoing:
                        conn_sock.sendall(outgoing)
            except (OSError, h2.exceptions.ProtocolError) as error:
                self.log("debug", "grpc: connection closed", err=str(error))

    def answer(self, conn: Any, stream_id: int, headers: dict[str, str], body: bytes) -> None:
        conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc")])
        reply: GrpcReply
        if len(body) < 5:
            reply = GrpcReply(13, "grpc: received message without a length prefix")
        else:
            compressed, length = body[0], struct.unpack(">I", body[1:5])[0]
            message = body[5:5 + length]
            reply = GrpcReply()
            if compressed:
                if headers.get("grpc-encoding") != "gzip":
                    reply = GrpcReply(12, "grpc: Decompressor is not installed for "
                                          f"grpc-encoding \"{headers.get('grpc-encoding')}\"")
                else:
                    import gzip
                    try:
                        message = gzip.decompress(message)
                    except OSError as error:
                        reply = GrpcReply(13, f"grpc: failed to decompress: {error}")
            if reply.status == 0:
                try:
                    reply = self.call(headers.get(":path", ""), message, headers)
                except Exception as error:  # noqa: BLE001 - a call's bug is the caller's 13
                    self.log("error", "grpc call failed", err=repr(error))
                    reply = GrpcReply(13, str(error))
        if reply.status == 0:
            conn.send_data(stream_id, b"\x00" + struct.pack(">I", len(reply.body)) + reply.body)
        trailers = [("grpc-status", str(reply.status))]
        if reply.message:
            trailers.append(("grpc-message", reply.message))
        conn.send_headers(stream_id, trailers, end_stream=True)
