"""Generate the Tempo stand-in's config schema from upstream's default manifest and Go structs.

Tempo documents its configuration twice: prose with YAML fragments
(`docs/sources/tempo/configuration/_index.md`) and a full default manifest
(`docs/sources/tempo/configuration/manifest.md`), which pkg/docsgen writes by marshalling
`app.NewDefaultConfig()` with yaml.v3: every key the default config prints, with its default.
Neither says which Go type a key has, and the manifest leaves out keys whose default is the
zero value of an `omitempty` field. So the structure comes from a scan of the Go config
structs at the same tag (the "Go facts", as in standins/loki/gen_schema.py), and the
manifest gives the defaults:
  - every yaml key of `app.Config` and the structs under it, with the Go type named in
    yaml's "field X not found in type Y" errors (`<pkg>.plain` and the like where an
    UnmarshalYAML decodes through a local type);
  - each leaf's kind: time.Duration (Go syntax, no `d`) vs model.Duration (Prometheus
    syntax), dskit's flagext.Bytes, strings, lists, maps; lists and maps of structs;
  - each default read from the manifest node at the same path, in the leaf's kind.

Tempo reads its config file with yaml.v2 `UnmarshalStrict` (cmd/tempo/main.go), so the
schema's source block says `"decoder": "yaml.v2-strict"` and the stand-in runs the shared
decoder in yaml.v2 mode.

Beside the schema's "root" the file carries (the decoder reads "root" only):
  - "per_tenant_root": the per-tenant overrides file (`overrides.per_tenant_override_config`)
    decoded by the same Overrides structs;
  - "facts": what the stand-in needs beyond decoding: the checks of `app.Config.CheckConfig`
    behind `-config.verify=true` (each condition over config paths, and the message and
    explanation strings Tempo logs, which are observable output), the receivers used when
    `distributor.receivers` is empty and their default endpoints, and the overrides
    block's decode rules (legacy fallback, extension keys).

Two steps, both reproducible:

    gen_schema.py extract --git-dir DIR --ref v3.0.3 [--out /work/shared-fetched/tempo-3.0.3]
        Copies the manifest and the configuration page out of a git mirror of grafana/tempo
        at a tag, writes the Go facts next to them, and copies upstream's docker-compose
        example configs (examples/). Upstream is AGPL-3.0, so these stay in a data directory
        beside the project and out of this repository.

    gen_schema.py generate [--source DIR] [--out schema.json]
        Writes schema.json (committed next to this script) from that directory. Only names,
        types, defaults and the facts above are kept: no upstream description text.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[4] / "shared-fetched" / "tempo-3.0.3"
MANIFEST = "manifest.md"
MANIFEST_PATH = "docs/sources/tempo/configuration/manifest.md"
INDEX = "_index.md"
INDEX_PATH = "docs/sources/tempo/configuration/_index.md"
GO_FACTS = "go-facts.json"
GENERATOR = "tests/testhost/standins/tempo/gen_schema.py"
TEMPO_MODULE = "github.com/grafana/tempo"
# The Go types the schema starts from: the config file, the per-tenant overrides file, and
# the legacy (flat) overrides the overrides block falls back to.
ROOT = ("cmd/tempo/app", "Config")
PER_TENANT = ("modules/overrides", "perTenantOverrides")
LEGACY_OVERRIDES = ("modules/overrides", "LegacyOverrides")
# Files the facts are read from (besides the struct walk).
CONFIG_GO = "cmd/tempo/app/config.go"
MAIN_GO = "cmd/tempo/main.go"
MODULES_GO = "cmd/tempo/app/modules.go"
DISTRIBUTOR_CONFIG_GO = "modules/distributor/config.go"
DISTRIBUTOR_GO = "modules/distributor/distributor.go"
EXTENSION_GO = "modules/overrides/extension.go"
OVERRIDES_CONFIG_GO = "modules/overrides/config.go"
RUNTIME_OVERRIDES_GO = "modules/overrides/runtime_config_overrides.go"
# The receiver factories Tempo's distributor builds (modules/distributor/receiver/shim.go),
# and where each keeps its default endpoints.
RECEIVER_FACTORIES = {
    "otlp": "vendor/go.opentelemetry.io/collector/receiver/otlpreceiver/factory.go",
    "jaeger": "vendor/github.com/open-telemetry/opentelemetry-collector-contrib/receiver/"
              "jaegerreceiver/factory.go",
    "zipkin": "vendor/github.com/open-telemetry/opentelemetry-collector-contrib/receiver/"
              "zipkinreceiver/factory.go",
}
# Upstream's own example configs, which the schema must take (tests/unit/standins).
EXAMPLE_DIRS = ["example/docker-compose"]

# Go types (as the Go facts print them) -> the schema's short types (the shared decoder's).
GO_LEAF_TYPES = {
    "time.Duration": "duration",
    "model.Duration": "model_duration",
    # dskit's flagext.Bytes (alecthomas/units ParseBase2Bytes): `16KiB`, `63KiB1023B`.
    "flagext.Bytes": "base2_bytes",
    "flagext.StringSliceCSV": "string",
    "flagext.CIDRSliceCSV": "string",
    "flagext.StringSlice": "strings",
    "flagext.Secret": "string",
    "flagext.Time": "string",
    "config.Secret": "string",
    "relabel.Regexp": "string",
    "model.LabelNames": "strings",
    "config.URL": "url",
    "flagext.URLValue": "url",
    "url.URL": "url",
    "[]*relabel.Config": "relabel_configs",
    # dskit's log.Level and log.Format: a name, decoded from a string.
    "log.Level": "string",
    "log.Format": "string",
    # pkg/util/listtomap (metrics_generator.processors): its UnmarshalYAML reads []string.
    "listtomap.ListToMap": "strings",
    # dskit's StringSliceCSVMulti (memberlist.join_members): a comma-separated string or a
    # list of strings; the decoder has no such type, so any YAML is taken.
    "flagext.StringSliceCSVMulti": "any",
    # No list-of-numbers, map-of-bools or timestamp type in the decoder: plain YAML.
    "[]float64": "any",
    "map[string]bool": "any",
    "time.Time": "any",
}
GO_INT_TYPES = {"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16",
                "uint32", "uint64"}
GO_KINDS = {"string": "string", "bool": "bool", "float64": "float", "float32": "float",
            "[]string": "strings", "map[string]string": "map_string",
            "map[string]int": "map_int", "map[string]float64": "map_float",
            "[]time.Duration": "durations",
            **{name: "int" for name in GO_INT_TYPES}}

ZERO = {"string": "", "url": "", "int": 0, "float": 0.0, "bool": False, "duration": 0,
        "model_duration": 0, "bytes": 0, "base2_bytes": 0, "strings": [], "durations": [],
        "map_string": {}, "map_int": {}, "map_float": {}, "relabel_configs": [], "any": None}

DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9,
                  "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9,
                  "w": 7 * 86400 * 10**9, "y": 365 * 86400 * 10**9}
BYTE_UNITS = {"": 1, "b": 1, **{unit + suffix: 1024 ** power
                                for power, unit in enumerate("kmgtpe", start=1)
                                for suffix in ("", "b", "ib")}}


def parse_duration(text: str) -> int:
    """Nanoseconds of a Go or Prometheus duration as the manifest prints it (`2m0s`, `1d`)."""
    if text in ("0", "0s"):
        return 0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    # Exact arithmetic: math.MaxInt64 ns prints as 2562047h47m16.854775807s.
    return round(sum(Fraction(number) * DURATION_UNITS[unit] for number, unit in parts))


def parse_bytes(text: str) -> int:
    """Bytes of a size as the manifest prints one (`63KiB1023B`, `100MB`, `4096`)."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text.replace(" ", ""):
        raise ValueError(f"not a byte size: {text!r}")
    total = Fraction(0)
    for number, unit in parts:
        if unit.lower() not in BYTE_UNITS:
            raise ValueError(f"not a byte size: {text!r}")
        total += Fraction(number) * BYTE_UNITS[unit.lower()]
    return round(total)


# --- the manifest ---------------------------------------------------------------------

def manifest_tree(text: str) -> yaml.MappingNode:
    """The composed YAML of the manifest's one `yaml` fence (scalars kept as text)."""
    match = re.search(r"^```yaml\n(.*?)^```", text, re.M | re.S)
    if match is None:
        raise SystemExit(f"{MANIFEST}: no yaml block")
    node = yaml.compose(match.group(1), Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        raise SystemExit(f"{MANIFEST}: the yaml block is not a mapping")
    return node


def child_node(node: yaml.Node | None, name: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == name:
            return value
    return None


def is_null(node: yaml.Node | None) -> bool:
    return node is None or (isinstance(node, yaml.ScalarNode) and node.style is None
                            and node.value in ("", "~", "null"))


def plain(node: yaml.Node) -> Any:
    """A node as data, by yaml.v3's rules for plain scalars (the manifest's writer)."""
    if isinstance(node, yaml.MappingNode):
        return {key.value: plain(value) for key, value in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [plain(item) for item in node.value]
    if is_null(node):
        return None
    if node.style is not None:
        return node.value
    if node.value in ("true", "false"):
        return node.value == "true"
    if re.fullmatch(r"-?\d+", node.value):
        return int(node.value)
    if re.fullmatch(r"-?\d+\.\d*(e[-+]?\d+)?", node.value):
        return float(node.value)
    return node.value


# --- building the schema ----------------------------------------------------------------

class Builder:
    def __init__(self, facts: dict[str, Any]) -> None:
        self.blocks: dict[str, Any] = facts["blocks"]
        self.notes: dict[str, list[str]] = {}
        # Lists with default entries: the decoder's containers default to empty.
        self.container_defaults: dict[str, Any] = {}

    def note(self, kind: str, text: str) -> None:
        self.notes.setdefault(kind, []).append(text)

    def block(self, path: str, node: yaml.Node | None) -> dict[str, Any]:
        facts = self.blocks.get(path)
        if facts is None:
            raise SystemExit(f"no Go facts for block {path or '<root>'}")
        fields: dict[str, Any] = {}
        for name, info in facts["fields"].items():
            if name == "*":
                # An inline map: yaml.v2 puts every key the struct does not name there; what
                # accepts them is the program's own check (facts), not the decoder.
                self.note("Go struct with an inline map (extra keys go to its own check)",
                          f"{path or '<root>'}: {info['go']}")
                continue
            child = f"{path}.{name}" if path else name
            fields[name] = self.entry(child, info, child_node(node, name))
        if isinstance(node, yaml.MappingNode):
            for key, _value in node.value:
                if key.value not in fields:
                    self.note("manifest key without a Go field", f"{path}.{key.value}")
        result: dict[str, Any] = {"k": "block", "fields": fields}
        if facts.get("type"):
            result["type"] = facts["type"]
        else:
            self.note("block without a Go type name (errors fall back to the path)", path)
        return result

    def entry(self, path: str, info: dict[str, Any], node: yaml.Node | None) -> dict[str, Any]:
        go = info.get("go", "")
        container = info.get("container")
        if go not in GO_LEAF_TYPES and info.get("block"):
            if set(self.blocks.get(path, {}).get("fields", {})) == {"*"}:
                # Only an inline map (Prometheus' config.Headers): any key, any value.
                self.note("Go struct that is only an inline map, decided: any", f"{path}: {go}")
                return {"k": "field", "t": "any", "d": plain(node) if node else None}
            return self.block(path, node)
        if go not in GO_LEAF_TYPES and container:
            suffix = "[]" if container == "slice" else "{}"
            element = self.blocks.get(path + suffix)
            if element is None or set(element["fields"]) in (set(), {"*"}):
                self.note("list or map of a struct that takes any key, decided: any",
                          f"{path}: {go}")
                return {"k": "field", "t": "any", "d": plain(node) if node else None}
            if node is not None and not is_null(node) and node.value:
                # Default entries (storage.trace.block.parquet_dedicated_columns): the
                # decoder's containers default to empty, so the list is kept as a fact.
                self.note("container with default entries (defaults kept under facts)", path)
                self.container_defaults[path] = plain(node)
            return {"k": container, "e": self.block(path + suffix, None)}
        short = self.short(path, info)
        item: dict[str, Any] = {"k": "field", "t": short, "d": self.default(path, short, node)}
        return item

    def short(self, path: str, info: dict[str, Any]) -> str:
        go = info.get("go", "")
        if go in GO_LEAF_TYPES:
            return GO_LEAF_TYPES[go]
        kind = info.get("kind", "")
        if not info.get("custom") and kind in GO_KINDS:
            return GO_KINDS[kind]
        if info.get("text"):
            return "string"
        if info.get("custom"):
            self.note("Go type with its own UnmarshalYAML, decided: any", f"{path}: {go}")
            return "any"
        self.note("Go leaf type without a short type, decided: any", f"{path}: {go} ({kind})")
        return "any"

    def default(self, path: str, short: str, node: yaml.Node | None) -> Any:
        if is_null(node):
            return ZERO[short]
        assert node is not None
        try:
            if short == "any":
                return plain(node)
            if short in ("strings", "durations"):
                if not isinstance(node, yaml.SequenceNode):
                    raise ValueError("not a list")
                items = [str(plain(item)) for item in node.value]
                return items if short == "strings" else [parse_duration(item) for item in items]
            if short.startswith("map_"):
                if not isinstance(node, yaml.MappingNode):
                    raise ValueError("not a map")
                return plain(node)
            if not isinstance(node, yaml.ScalarNode):
                raise ValueError("not a scalar")
            text = node.value
            if short in ("string", "url"):
                return text
            if short == "bool":
                return {"true": True, "false": False}[text]
            if short == "int":
                return int(text)
            if short == "float":
                return float(text)
            if short in ("duration", "model_duration"):
                return parse_duration(text)
            if short in ("bytes", "base2_bytes"):
                return parse_bytes(text)
        except (ValueError, KeyError) as error:
            raise SystemExit(f"{path}: cannot read default {plain(node)!r} as {short}: "
                             f"{error}") from None
        raise SystemExit(f"{path}: no default reader for {short}")


def generate(source: Path) -> tuple[dict[str, Any], dict[str, list[str]]]:
    raw = (source / MANIFEST).read_bytes()
    facts_raw = (source / GO_FACTS).read_bytes()
    facts = json.loads(facts_raw)
    tree = manifest_tree(raw.decode())
    builder = Builder(facts)
    root = builder.block("", tree)
    per_tenant = builder.block(PER_TENANT_PATH, None)
    legacy = builder.block(LEGACY_PATH, None)
    schema = {
        "source": {
            "project": facts["project"],
            "ref": facts["ref"],
            "commit": facts["commit"],
            "file": MANIFEST_PATH,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "go_facts_sha256": hashlib.sha256(facts_raw).hexdigest(),
            "go_sources": facts["go_sources"],
            "generator": GENERATOR,
            # cmd/tempo/main.go: yaml.UnmarshalStrict from go.yaml.in/yaml/v2.
            "decoder": facts["decoder"],
        },
        "root": root,
        "per_tenant_root": per_tenant,
        "legacy_overrides_root": legacy,
        "facts": {
            **facts["facts"],
            "container_defaults": dict(sorted(builder.container_defaults.items())),
        },
    }
    return schema, builder.notes


# Paths under which extract records the extra roots' blocks (not yaml paths of app.Config).
PER_TENANT_PATH = "@per_tenant"
LEGACY_PATH = "@legacy_overrides"


# --- Go facts: a scan of the config structs -----------------------------------------

@dataclass
class GoPackage:
    path: str                      # directory in the repository
    name: str                      # declared package name (what reflect prints)
    types: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (expr, file)
    imports: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> alias -> path
    unmarshal: dict[str, str] = field(default_factory=dict)  # type -> UnmarshalYAML body


class GoSource:
    """Reads Go packages straight from the git mirror at a ref (no work tree needed)."""

    def __init__(self, git_dir: Path, ref: str) -> None:
        self.git_dir = git_dir
        self.ref = ref
        listing = subprocess.run(
            ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", ref],
            check=True, capture_output=True, text=True).stdout.split("\n")
        self.dirs: dict[str, list[str]] = {}
        for path in listing:
            if path.endswith(".go") and not path.endswith("_test.go"):
                self.dirs.setdefault(path.rpartition("/")[0], []).append(path)
        self.packages: dict[str, GoPackage | None] = {}
        self.digests: dict[str, str] = {}
        self.cat = subprocess.Popen(["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def read(self, path: str) -> str:
        assert self.cat.stdin is not None and self.cat.stdout is not None
        self.cat.stdin.write(f"{self.ref}:{path}\n".encode())
        self.cat.stdin.flush()
        header = self.cat.stdout.readline().decode().split()
        if len(header) < 3 or header[1] != "blob":
            raise SystemExit(f"cannot read {path} at {self.ref}: {' '.join(header)}")
        data = self.cat.stdout.read(int(header[2]))
        self.cat.stdout.read(1)
        self.digests[path] = hashlib.sha256(data).hexdigest()
        return data.decode(errors="replace")

    def close(self) -> None:
        if self.cat.stdin is not None:
            self.cat.stdin.close()
        self.cat.wait()

    def directory(self, import_path: str) -> str | None:
        if import_path == TEMPO_MODULE:
            return ""
        if import_path.startswith(TEMPO_MODULE + "/"):
            return import_path[len(TEMPO_MODULE) + 1:]
        if "vendor/" + import_path in self.dirs:
            return "vendor/" + import_path
        return None

    def package(self, import_path: str) -> GoPackage | None:
        if import_path not in self.packages:
            directory = self.directory(import_path)
            self.packages[import_path] = (self.load(directory)
                                          if directory is not None and directory in self.dirs
                                          else None)
        return self.packages[import_path]

    def load(self, directory: str) -> GoPackage:
        package = GoPackage(directory, "")
        for path in sorted(self.dirs[directory]):
            text = strip_comments(self.read(path))
            if re.search(r"^//go:build\s+ignore", text, re.M):
                continue
            match = re.search(r"^package\s+(\w+)", text, re.M)
            if not match or match.group(1) == "main" or match.group(1).endswith("_test"):
                continue
            package.name = match.group(1)
            package.imports[path] = parse_imports(text)
            for name, expr in parse_type_decls(text):
                package.types.setdefault(name, (expr, path))
            for match in re.finditer(
                    r"^func\s*\(\s*\w*\s*\*?\s*(\w+)\s*\)\s*UnmarshalYAML\s*\(\s*\w*\s*"
                    r"func\s*\(\s*(?:interface\s*\{\s*\}|any)\s*\)\s*error\s*\)\s*error\s*\{",
                    text, re.M):
                package.unmarshal[match.group(1)] = brace_body(text, match.end() - 1)
        return package

    def resolve_name(self, package: GoPackage, file: str, qualifier: str) -> GoPackage | None:
        imports = package.imports.get(file, {})
        if qualifier in imports:
            return self.package(imports[qualifier])
        for alias, path in imports.items():
            if alias.startswith("@"):
                # Unaliased import: its name is the package's own declared name.
                loaded = self.package(path)
                if loaded is not None and loaded.name == qualifier:
                    return loaded
        return None


def strip_comments(text: str) -> str:
    out: list[str] = []
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if text.startswith("//", index):
            end = text.find("\n", index)
            index = length if end < 0 else end
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            index = length if end < 0 else end + 2
            out.append(" ")
        elif char in "\"'`":
            end = index + 1
            while end < length and text[end] != char:
                if char != "`" and text[end] == "\\":
                    end += 1
                if char != "`" and text[end] == "\n":
                    break
                end += 1
            out.append(text[index:end + 1])
            index = end + 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


def parse_imports(text: str) -> dict[str, str]:
    """alias -> import path; unaliased imports are keyed `@path` (name known on load)."""
    imports: dict[str, str] = {}
    specs: list[str] = []
    for match in re.finditer(r"^import\s*\((.*?)^\)", text, re.M | re.S):
        specs.extend(match.group(1).splitlines())
    specs.extend(re.findall(r"^import\s+(\S.*\".*\")\s*$", text, re.M))
    for spec in specs:
        match = re.match(r'\s*([\w.]+\s+)?"([^"]+)"', spec)
        if not match:
            continue
        alias, path = (match.group(1) or "").strip(), match.group(2)
        if alias in ("_", "."):
            continue
        imports[alias or "@" + path] = path
    return imports


def brace_body(text: str, start: int) -> str:
    """The text between the brace at `start` and its match, skipping strings."""
    depth = 0
    index = start
    while index < len(text):
        char = text[index]
        if char in "\"'`":
            index = text.find(char, index + 1) if char == "`" else skip_string(text, index)
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:index]
        index += 1
    return text[start + 1:]


def skip_string(text: str, start: int) -> int:
    index = start + 1
    while index < len(text) and text[index] != text[start]:
        index += 2 if text[index] == "\\" else 1
    return index


def type_expr_end(text: str, start: int) -> int:
    """End of a type expression at `start`: through matching braces for struct/interface."""
    index = start
    while index < len(text) and text[index] not in "\n;":
        if text[index] == "{":
            body = brace_body(text, index)
            index += len(body) + 2
            continue
        if text[index] == "`":
            break
        index += 1
    return index


def parse_type_decls(text: str) -> list[tuple[str, str]]:
    decls: list[tuple[str, str]] = []
    for match in re.finditer(r"^type\s+(\w+)\s*(=\s*)?", text, re.M):
        if text[match.end():match.end() + 1] == "(":
            continue
        end = type_expr_end(text, match.end())
        prefix = "=" if match.group(2) else ""
        decls.append((match.group(1), prefix + text[match.end():end].strip()))
    for match in re.finditer(r"^type\s*\(", text, re.M):
        body = paren_body(text, match.end() - 1)
        position = 0
        while position < len(body):
            spec = re.compile(r"\s*(\w+)\s+(=\s*)?").match(body, position)
            if not spec:
                break
            end = type_expr_end(body, spec.end())
            prefix = "=" if spec.group(2) else ""
            decls.append((spec.group(1), prefix + body[spec.end():end].strip()))
            position = end + 1
    return decls


def paren_body(text: str, start: int) -> str:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1:index]
    return text[start + 1:]


def struct_fields(body: str) -> list[tuple[list[str], str, str]]:
    """(names, type expression, tag) per field of a struct body; names empty if embedded."""
    fields = []
    position = 0
    while position < len(body):
        while position < len(body) and body[position] in " \t\n;":
            position += 1
        if position >= len(body):
            break
        end = type_expr_end(body, position)
        spec = body[position:end].strip()
        tag = ""
        rest = body[end:]
        match = re.match(r"\s*`([^`]*)`", rest)
        if match and "\n" not in rest[:match.start(1)]:
            tag = match.group(1)
            end += match.end()
        elif rest.startswith('"'):
            stop = skip_string(body, end)
            tag = json.loads(body[end:stop + 1])
            end = stop + 1
        position = end + 1
        head = re.match(r"(\w+(?:\s*,\s*\w+)*)\s+(\S.*)$", spec, re.S)
        if head and not re.fullmatch(r"\*?[\w.]+", spec):
            names = [name.strip() for name in head.group(1).split(",")]
            fields.append((names, head.group(2).strip(), tag))
        elif spec:
            fields.append(([], spec, tag))
    return fields


def tag_value(tag: str, key: str) -> str | None:
    match = re.search(rf'(?:^|\s){key}:"((?:[^"\\]|\\.)*)"', tag)
    return match.group(1) if match else None


class GoWalker:
    """Walks the config structs from app.Config, as yaml.v2 would decode into them."""

    def __init__(self, source: GoSource) -> None:
        self.source = source
        self.blocks: dict[str, dict[str, Any]] = {}

    def lookup(self, package: GoPackage, file: str, expr: str
               ) -> tuple[GoPackage, str, str, str] | None:
        """A named type expression -> (package, type name, declaration, declaring file)."""
        qualifier, _dot, name = expr.rpartition(".")
        target = package
        if qualifier:
            resolved = self.source.resolve_name(package, file, qualifier)
            if resolved is None:
                return None
            target = resolved
        if name not in target.types:
            return None
        decl, decl_file = target.types[name]
        return target, name, decl, decl_file

    def display(self, package: GoPackage, file: str, expr: str) -> str:
        """The type as reflect prints it: package-qualified by declared package name."""
        expr = expr.strip()
        if expr.startswith("*"):
            return "*" + self.display(package, file, expr[1:])
        if expr.startswith("[]"):
            return "[]" + self.display(package, file, expr[2:])
        if expr.startswith("map["):
            key, value = split_map(expr)
            return f"map[{self.display(package, file, key)}]{self.display(package, file, value)}"
        if re.fullmatch(r"\w+", expr):
            return f"{package.name}.{expr}" if expr in package.types else expr
        if re.fullmatch(r"\w+\.\w+", expr):
            qualifier, name = expr.split(".")
            resolved = self.source.resolve_name(package, file, qualifier)
            return f"{resolved.name if resolved else qualifier}.{name}"
        return re.sub(r"\s+", " ", expr)

    def walk(self, package: GoPackage, file: str, expr: str, path: str, depth: int = 0
             ) -> dict[str, Any]:
        """Field facts for a type: {"go", "block"?, "container"?}; blocks go to self.blocks."""
        expr = expr.strip()
        info: dict[str, Any] = {"go": self.display(package, file, expr).lstrip("*")}
        if depth > 40:
            return info
        bare = expr.lstrip("*")
        if bare.startswith("[]") or bare.startswith("map["):
            element = bare[2:] if bare.startswith("[]") else split_map(bare)[1]
            container = "slice" if bare.startswith("[]") else "map"
            suffix = "[]" if container == "slice" else "{}"
            inner = self.struct_of(package, file, element.lstrip("*"))
            if inner is not None:
                self.record_block(*inner, path + suffix, depth + 1)
                info["container"] = container
                return info
        else:
            target = self.struct_of(package, file, bare)
            if target is not None:
                self.record_block(*target, path, depth + 1)
                info["block"] = True
                return info
        if not bare.startswith(("[]", "map[")):
            found = self.lookup(package, file, bare)
            if found is not None and found[1] not in found[0].unmarshal:
                # `type DedicatedColumns []DedicatedColumn`: a named list or map of structs
                # decodes as its element list; errors name the element struct.
                decl = found[2].lstrip("=").strip()
                if decl.startswith(("[]", "map[")):
                    inner_info = self.walk(found[0], found[3], decl, path, depth + 1)
                    if "container" in inner_info:
                        inner_info["go"] = info["go"]
                        return inner_info
        kind, custom = self.leaf_kind(package, file, bare, 0)
        if kind:
            info["kind"] = kind
        if custom:
            info["custom"] = True  # its own UnmarshalYAML decides what it accepts
            if self.text_unmarshal(package, file, bare):
                info["text"] = True  # ... from a string: a name, a size, a level
        return info

    def text_unmarshal(self, package: GoPackage, file: str, expr: str) -> bool:
        """Whether a type's UnmarshalYAML reads one string (`var s string; unmarshal(&s)`)."""
        found = self.lookup(package, file, expr.lstrip("*"))
        if found is None or found[1] not in found[0].unmarshal:
            return False
        body = found[0].unmarshal[found[1]]
        call = re.search(r"unmarshal\(\s*&(\w+)\s*\)", body)
        return bool(call and re.search(rf"\bvar\s+{call.group(1)}\s+string\b", body))

    def leaf_kind(self, package: GoPackage, file: str, expr: str, depth: int
                  ) -> tuple[str, bool]:
        """The builtin a leaf type is made of (`type Secret string` -> string)."""
        expr = expr.strip().lstrip("*")
        if re.fullmatch(r"\w+", expr) and expr not in package.types:
            return expr, False
        if expr.startswith("[]"):
            inner, custom = self.leaf_kind(package, file, expr[2:], depth + 1)
            return ("[]" + inner if inner else ""), custom
        if expr.startswith("map["):
            key, value = split_map(expr)
            inner, custom = self.leaf_kind(package, file, value, depth + 1)
            return (f"map[{key}]{inner}" if inner else ""), custom
        found = self.lookup(package, file, expr)
        if found is None or depth > 10:
            return "", False
        target, name, decl, decl_file = found
        kind, _decl = self.leaf_kind(target, decl_file, decl.lstrip("="), depth + 1)
        return kind, name in target.unmarshal

    def struct_of(self, package: GoPackage, file: str, expr: str
                  ) -> tuple[GoPackage, str, str, str] | None:
        """(package, file, error type name, struct body) if yaml decodes expr as a mapping."""
        if expr.startswith("struct"):
            return package, file, "", brace_body(expr, expr.index("{"))
        found = self.lookup(package, file, expr)
        if found is None:
            return None
        target, name, decl, decl_file = found
        if name in target.unmarshal:
            return self.unmarshal_target(target, decl_file, name, decl)
        if decl.startswith("="):
            return self.struct_of(target, decl_file, decl[1:].strip())
        if decl.startswith("struct"):
            return target, decl_file, f"{target.name}.{name}", brace_body(decl, decl.index("{"))
        if re.fullmatch(r"\*?[\w.]+", decl):
            # `type X other.Y`: same fields, own (method-less) name.
            inner = self.struct_of(target, decl_file, decl.lstrip("*"))
            if inner is not None:
                return inner[0], inner[1], f"{target.name}.{name}", inner[3]
        return None

    def unmarshal_target(self, package: GoPackage, file: str, name: str, decl: str
                         ) -> tuple[GoPackage, str, str, str] | None:
        """What an UnmarshalYAML decodes into, or None if it is a scalar or opaque decoder."""
        body = package.unmarshal[name]
        call = re.search(r"unmarshal\(\s*\(\s*\*\s*([\w.]+)\s*\)\s*\(", body)
        if call:
            local = re.search(rf"type\s+{re.escape(call.group(1))}\s+(\w[\w.]*)", body)
            if local:
                # `type plain X`: X's fields under the local type's name.
                inner = self.plain_struct(package, file, local.group(1))
                if inner is not None:
                    return inner[0], inner[1], f"{package.name}.{call.group(1)}", inner[3]
                return None
            return self.struct_of(package, file, call.group(1))
        call = re.search(r"unmarshal\(\s*&(\w+)\s*\)", body)
        if call:
            var = call.group(1)
            declared = re.search(rf"\b{var}\s*:=\s*(struct\s*\{{)", body) or re.search(
                rf"\bvar\s+{var}\s+(struct\s*\{{)", body)
            if declared:
                inner_body = brace_body(body, declared.end(1) - 1)
                return package, file, "", inner_body
            typed = re.search(rf"\bvar\s+{var}\s+(\*?[\w.]+)", body) or re.search(
                rf"\b{var}\s*:=\s*&?([\w.]+)\s*\{{", body)
            if typed and typed.group(1) != name:
                return self.struct_of(package, file, typed.group(1).lstrip("*"))
        return None

    def plain_struct(self, package: GoPackage, file: str, expr: str
                     ) -> tuple[GoPackage, str, str, str] | None:
        """The struct behind `type plain X` (X's own UnmarshalYAML is what plain hides)."""
        found = self.lookup(package, file, expr)
        if found is None:
            return None
        target, name, decl, decl_file = found
        if decl.startswith("struct"):
            return target, decl_file, f"{target.name}.{name}", brace_body(decl, decl.index("{"))
        return self.struct_of(target, decl_file, decl.lstrip("=").strip().lstrip("*"))

    def record_block(self, package: GoPackage, file: str, type_name: str, body: str, path: str,
                     depth: int) -> None:
        fields: dict[str, Any] = {}
        self.collect(package, file, body, path, depth, fields)
        self.blocks[path] = {"type": type_name or anonymous_name(self, package, file, body),
                             "fields": fields}

    def collect(self, package: GoPackage, file: str, body: str, path: str, depth: int,
                fields: dict[str, Any]) -> None:
        for names, expr, tag in struct_fields(body):
            yaml_tag = tag_value(tag, "yaml")
            if yaml_tag is None and tag and ":" not in tag:
                yaml_tag = tag  # yaml.v2 reads a bare tag as the yaml tag
            yaml_tag = yaml_tag or ""
            key, *options = yaml_tag.split(",")
            if key == "-":
                continue
            hidden = "hidden" in (tag_value(tag, "doc") or "").split("|")
            if "inline" in options:
                # yaml.v2 merges an inlined struct's fields and ignores its UnmarshalYAML.
                inner = self.plain_struct(package, file, expr.lstrip("*"))
                if inner is not None:
                    self.collect(inner[0], inner[1], inner[3], path, depth + 1, fields)
                else:
                    # An inline map takes every key the struct does not name.
                    fields["*"] = {"go": self.display(package, file, expr), "inline_map": True}
                continue
            for name in names or [expr.lstrip("*").rpartition(".")[2]]:
                if not name[:1].isupper():
                    continue  # unexported: yaml ignores it
                yaml_name = key or name.lower()
                child = f"{path}.{yaml_name}" if path else yaml_name
                info = self.walk(package, file, expr, child, depth)
                # The Go name: CheckConfig's conditions name fields by it.
                info["name"] = name
                if hidden:
                    info["hidden"] = True
                fields[yaml_name] = info


def anonymous_name(walker: GoWalker, package: GoPackage, file: str, body: str) -> str:
    """reflect's String() of an anonymous struct, as yaml errors print it."""
    parts = []
    for names, expr, tag in struct_fields(body):
        shown = walker.display(package, file, expr)
        for name in names or [shown]:
            part = f"{name} {shown}" if names else shown
            if tag:
                if re.fullmatch(r'yaml:"[^"]*"', tag) is None:
                    # Other tags carry upstream prose (doc:"description=..."), which must
                    # not reach the committed schema: leave the type to the path fallback.
                    return ""
                part += " " + json.dumps(tag)
            parts.append(part)
    return "struct { " + "; ".join(parts) + " }"


def split_map(expr: str) -> tuple[str, str]:
    depth = 0
    for index, char in enumerate(expr):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return expr[4:index], expr[index + 1:]
    return expr, ""




# --- facts beyond the structs -----------------------------------------------------------

def go_string(literal: str) -> str:
    """A Go interpreted or raw string literal's value."""
    if literal.startswith("`"):
        return literal[1:-1]
    return json.loads(literal)


STRING = r'"(?:[^"\\]|\\.)*"|`[^`]*`'


class FactReader:
    """Reads CheckConfig, the receiver defaults and the overrides rules from the Go text."""

    def __init__(self, source: GoSource, walker: GoWalker) -> None:
        self.source = source
        self.walker = walker

    def text(self, path: str) -> str:
        return strip_comments(self.source.read(path))

    def const(self, package_dir: str, name: str) -> Any:
        """A package-level constant's value: a string, or a number (`uint(10)`)."""
        for path in sorted(self.source.dirs.get(package_dir, [])):
            text = self.text(path)
            match = re.search(rf"^\s*{name}\s*(?:\w+\s*)?=\s*(?:\w+\()?({STRING}|-?\d+)\)?",
                              text, re.M)
            if match:
                value = match.group(1)
                return int(value) if re.fullmatch(r"-?\d+", value) else go_string(value)
        raise SystemExit(f"{package_dir}: no constant {name}")

    def import_dir(self, imports: dict[str, str], qualifier: str) -> str:
        """The repository directory of an imported package, by alias or by its last element
        (Tempo's packages are named after their directory)."""
        path = imports.get(qualifier) or next(
            (value for key, value in imports.items()
             if key.startswith("@") and value.rpartition("/")[2] == qualifier), None)
        return (self.source.directory(path) or "") if path else ""

    def yaml_path(self, go_path: str) -> str:
        """`c.StorageConfig.Trace.BlocklistPoll` -> `storage.trace.blocklist_poll`."""
        path = ""
        names = go_path.split(".")[1:]
        for index, go_name in enumerate(names):
            fields = self.walker.blocks.get(path, {}).get("fields", {})
            for yaml_name, info in fields.items():
                if info.get("name") == go_name:
                    path = f"{path}.{yaml_name}" if path else yaml_name
                    break
            else:
                # A field yaml does not set (`yaml:"-"`, set by the program while decoding):
                # `$` and its Go name.
                rest = ".".join(names[index:])
                return f"{path}.${rest}" if path else f"${rest}"
        return path

    def condition(self, expr: str, imports: dict[str, str]) -> str:
        """A Go condition over `c.` paths, written over yaml paths (Python-like syntax)."""
        out = expr.strip()

        def path(match: re.Match[str]) -> str:
            return self.yaml_path(match.group(0))

        def const(match: re.Match[str]) -> str:
            if not self.import_dir(imports, match.group(1)):
                return match.group(0)
            return json.dumps(self.const(self.import_dir(imports, match.group(1)),
                                         match.group(2)))

        out = re.sub(r"\bIsSingleBinary\((c\.[\w.]+)\)", r"single_binary(\1)", out)
        out = re.sub(r"\blen\((c\.[\w.]+)\)", r"len(\1)", out)
        out = re.sub(r"\bc(?:\.[A-Z]\w*)+", path, out)
        out = re.sub(r"\b(?!c\.)([a-z]\w*)\.([A-Z]\w*)\b", const, out)
        out = out.replace("&&", "and").replace("||", "or")
        out = re.sub(r"!(?!=)", "not ", out)
        return re.sub(r"\s+", " ", out)

    def warnings(self) -> list[dict[str, Any]]:
        """CheckConfig's checks in order: {"when", "message", "explain"}; a message built at
        run time is {"format", "args"} (Go verbs, args as expressions over config paths)."""
        text = self.text(CONFIG_GO)
        imports = parse_imports(text)
        start = re.search(r"func \(c \*Config\) CheckConfig\(\) \[\]ConfigWarning \{", text)
        if start is None:
            raise SystemExit(f"{CONFIG_GO}: no CheckConfig")
        body = brace_body(text, start.end() - 1)
        named = self.named_warnings(text, imports)
        # `a, b := c.<path>.Validate()`: names the checks below use for its results.
        bindings: dict[str, str] = {}
        for bound in re.finditer(r"\n\t(\w+), (\w+) := (c\.[\w.]+)\.(\w+)\(\)\n", body):
            call = f"{bound.group(4).lower()}({self.yaml_path(bound.group(3))})"
            bindings[bound.group(1)] = f"{call}.warnings"
            bindings[bound.group(2)] = f"{call}.error"
        found: list[dict[str, Any]] = []
        for match in re.finditer(r"\n\t(if|for) (.*?) \{\n", body):
            inner = brace_body(body, match.end() - 2)
            when = self.check_condition(match.group(1), match.group(2), imports, bindings,
                                        text)
            appended = re.search(r"warnings = append\(warnings, (\w+)\)", inner)
            if appended and appended.group(1) in named:
                found.append({"when": when, **named[appended.group(1)]})
                continue
            entry: dict[str, Any] = {"when": when}
            guard = re.search(r"\n\t\tif (.*?) \{\n", inner)
            if match.group(1) == "for" and guard:
                # The check inside the loop, per element.
                entry["if"] = self.loop_guard(guard.group(1))
            for key in ("Message", "Explain"):
                value = re.search(rf"^\s*{key}:\s*(.*),\s*$", inner, re.M)
                entry[key.lower()] = (self.dynamic_text(value.group(1), bindings)
                                      if value else "")
            found.append(entry)
        return found

    def check_condition(self, keyword: str, head: str, imports: dict[str, str],
                        bindings: dict[str, str], text: str) -> str:
        if keyword == "for":
            loop = re.fullmatch(r"(?:\w+, )?(\w+) := range ([\w.]+)", head)
            if loop is None:
                raise SystemExit(f"{CONFIG_GO}: cannot read the loop {head!r}")
            over = loop.group(2)
            over = bindings.get(over) or self.yaml_path(over)
            return f"for {loop.group(1)} in {over}"
        head = re.sub(r"\b(\w+)\b", lambda m: bindings.get(m.group(1), m.group(1)), head)
        head = re.sub(r"!(c\.[\w.]+)\.IsZero\(\)", r"\1 != null", head)
        if re.fullmatch(r"c\.tracesAndOverridesStorageConflict\(\)", head):
            return self.storage_conflict(text, imports)
        return self.condition(head, imports)

    def loop_guard(self, head: str) -> str:
        valid = re.fullmatch(r"!traceql\.IsValidTransformationName\((\w+)\)", head)
        if valid:
            return f"{valid.group(1)} not in {json.dumps(self.transformation_names())}"
        raise SystemExit(f"{CONFIG_GO}: cannot read the loop check {head!r}")

    def storage_conflict(self, text: str, imports: dict[str, str]) -> str:
        """tracesAndOverridesStorageConflict as one condition over both storage blocks."""
        start = re.search(r"func \(c \*Config\) tracesAndOverridesStorageConflict\(\) bool \{",
                          text)
        if start is None:
            raise SystemExit(f"{CONFIG_GO}: no tracesAndOverridesStorageConflict")
        body = brace_body(text, start.end() - 1)
        trace = re.search(r"traceStorage := (c\.[\w.]+)", body)
        other = re.search(r"overridesStorage := (c\.[\w.]+)", body)
        if trace is None or other is None:
            raise SystemExit(f"{CONFIG_GO}: tracesAndOverridesStorageConflict changed")
        trace_path, other_path = self.yaml_path(trace.group(1)), self.yaml_path(other.group(1))
        backend = self.yaml_path(trace.group(1) + ".Backend").rpartition(".")[2]
        alternatives = []
        for case in re.finditer(r"case (\w+)\.(\w+):\s*return traceStorage\.(\w+)\.PathMatches"
                                r"\(overridesStorage\.\w+\)", body):
            value = self.const(self.import_dir(imports, case.group(1)), case.group(2))
            sub = self.yaml_path(f"{trace.group(1)}.{case.group(3)}")
            info = self.walker.blocks[trace_path]["fields"][sub.rpartition(".")[2]]
            package = info["go"].partition(".")[0]
            matches = self.path_matches(f"{self.import_dir(imports, case.group(1))}/{package}")
            parts = [f'{trace_path}.{backend} == "{value}"']
            for go_name in matches:
                yaml_name = self.yaml_path(f"{trace.group(1)}.{case.group(3)}.{go_name}")
                tail = yaml_name[len(trace_path):]
                parts.append(f"{trace_path}{tail} == {other_path}{tail}")
            alternatives.append("(" + " and ".join(parts) + ")")
        if not alternatives:
            raise SystemExit(f"{CONFIG_GO}: tracesAndOverridesStorageConflict has no cases")
        return (f"{trace_path}.{backend} == {other_path}.{backend} and ("
                + " or ".join(alternatives) + ")")

    def path_matches(self, directory: str) -> list[str]:
        """The Go fields a backend config's PathMatches compares."""
        for path in sorted(self.source.dirs.get(directory, [])):
            found = re.search(r"func \(cfg \*Config\) PathMatches\(other \*Config\) bool \{"
                              r"\s*return (.*?)\n", self.text(path))
            if found:
                return re.findall(r"cfg\.(\w+) == other\.\1", found.group(1))
        raise SystemExit(f"{directory}: no PathMatches")

    def dynamic_text(self, expr: str, bindings: dict[str, str]) -> Any:
        """A message built at run time: {"format": Go format, "args": [expressions]}."""
        expr = expr.strip()
        if re.fullmatch(STRING, expr):
            return go_string(expr)
        sprintf = re.fullmatch(rf"fmt\.Sprintf\(({STRING}),\s*(.*)\)", expr, re.S)
        if sprintf:
            return {"format": go_string(sprintf.group(1)),
                    "args": [self.dynamic_arg(arg, bindings)
                             for arg in sprintf.group(2).split(",")]}
        concat = re.fullmatch(rf"({STRING})\s*\+\s*(.*)", expr, re.S)
        if concat:
            rest = self.dynamic_arg(concat.group(2), bindings)
            if isinstance(rest, list):
                # A list of known names joined: the text is fixed.
                return go_string(concat.group(1)) + ", ".join(rest)
            return {"format": go_string(concat.group(1)) + "%s", "args": [rest]}
        return {"format": "%s", "args": [self.dynamic_arg(expr, bindings)]}

    def dynamic_arg(self, expr: str, bindings: dict[str, str]) -> Any:
        expr = expr.strip()
        error = re.fullmatch(r"(\w+)\.Error\(\)", expr)
        if error:
            return bindings.get(error.group(1), error.group(1)) + ".text"
        if re.fullmatch(r'strings\.Join\(traceql\.KnownTransformationNames\(\), ", "\)', expr):
            return self.transformation_names()
        return expr

    def transformation_names(self) -> list[str]:
        """pkg/traceql's knownTransformationNames: "all", then each registered rewriter."""
        text = self.text("pkg/traceql/ast_rewriter.go")
        chain = re.search(r"var defaultTransformations = \[\]namedTransformation\{", text)
        if chain is None or "names[0] = TransformationAll" not in text:
            raise SystemExit("pkg/traceql: the transformation names moved")
        names = [self.const("pkg/traceql", "TransformationAll")]
        for item in re.finditer(r"\{(\w+),", brace_body(text, chain.end() - 1)):
            names.append(self.const("pkg/traceql", item.group(1)))
        return names

    def named_warnings(self, text: str, imports: dict[str, str]) -> dict[str, dict[str, str]]:
        named: dict[str, dict[str, str]] = {}
        for match in re.finditer(r"\n\t(\w+)\s*=\s*ConfigWarning\{", text):
            body = brace_body(text, match.end() - 1)
            values: dict[str, str] = {"message": "", "explain": ""}
            for key in ("Message", "Explain"):
                found = re.search(rf"{key}:\s*({STRING}|fmt\.Sprintf\([^\n]*\)),", body)
                if found is None:
                    continue
                value = found.group(1)
                sprintf = re.fullmatch(rf"fmt\.Sprintf\(({STRING}),\s*(\w+)\.(\w+)\)", value)
                if sprintf:
                    directory = self.import_dir(imports, sprintf.group(2))
                    fmt = go_string(sprintf.group(1))
                    value_text = fmt.replace("%d", str(self.const(directory, sprintf.group(3))))
                else:
                    value_text = go_string(value)
                values[key.lower()] = value_text
            named[match.group(1)] = values
        return named

    def receivers(self) -> dict[str, Any]:
        text = self.text(DISTRIBUTOR_CONFIG_GO)
        match = re.search(r"var defaultReceivers = map\[string\]interface\{\}\{", text)
        if match is None:
            raise SystemExit(f"{DISTRIBUTOR_CONFIG_GO}: no defaultReceivers")
        when_empty = go_map_literal(brace_body(text, match.end() - 1))
        distributor = self.text(DISTRIBUTOR_GO)
        if not re.search(r"if len\(cfgReceivers\) == 0 \{\s*cfgReceivers = defaultReceivers",
                         distributor):
            raise SystemExit(f"{DISTRIBUTOR_GO}: defaultReceivers is no longer the fallback")
        endpoints: dict[str, dict[str, str]] = {}
        for name, path in RECEIVER_FACTORIES.items():
            factory = self.text(path)
            found: dict[str, str] = {}
            for const in re.finditer(rf"\b(default\w*Endpoint)\s*=\s*({STRING})", factory):
                found[const.group(1)] = go_string(const.group(2))
            for assign in re.finditer(rf"(\w+)\.NetAddr\.Endpoint = ({STRING})", factory):
                found[assign.group(1)] = go_string(assign.group(2))
            endpoints[name] = found
        otlp = endpoints["otlp"]
        jaeger = endpoints["jaeger"]
        return {
            # distributor.receivers empty or absent: these receivers, with their protocols
            # at default settings (null).
            "when_empty": when_empty,
            "default_endpoints": {
                "otlp": {"grpc": otlp["grpcCfg"], "http": otlp["httpCfg"]},
                "jaeger": {"grpc": jaeger["defaultGRPCEndpoint"],
                           "thrift_http": jaeger["defaultHTTPEndpoint"],
                           "thrift_binary": jaeger["defaultThriftBinaryEndpoint"],
                           "thrift_compact": jaeger["defaultThriftCompactEndpoint"]},
                "zipkin": {"endpoint": endpoints["zipkin"]["defaultHTTPEndpoint"]},
            },
        }

    def overrides(self) -> dict[str, Any]:
        extension = self.text(EXTENSION_GO)
        unknown = re.search(rf"func \(e \*unknownExtensionKeyError\) Error\(\) string \{{\s*"
                            rf"return fmt\.Sprintf\(({STRING}), e\.key\)", extension)
        config = self.text(OVERRIDES_CONFIG_GO)
        both = re.search(rf"legacyErr != nil \{{\s*return fmt\.Errorf\(({STRING}), "
                         r"err, legacyErr\)", config)
        if unknown is None or both is None:
            raise SystemExit("modules/overrides: the extension or legacy error text moved")
        legacy = re.search(r"type legacyConfig struct \{", config)
        runtime = self.text(RUNTIME_OVERRIDES_GO)
        if (legacy is None
                or not re.search(r"if isExtensionError\(err\) \|\| isExtensionKeyError\(err\) "
                                 r"\{\s*return err", config)
                or not re.search(r"if isExtensionError\(err\) \|\| "
                                 r"!isLegacyExtensionKeyError\(err\) \{\s*return err", runtime)):
            raise SystemExit("modules/overrides: the legacy fallback rules changed")
        legacy_fields = []
        for _names, _expr, tag in struct_fields(brace_body(config, legacy.end() - 1)):
            key = (tag_value(tag, "yaml") or "").split(",")[0]
            if key:
                legacy_fields.append(key)
        registered = re.findall(r"\bRegisterExtension\(", "".join(
            self.text(path) for directory, paths in self.source.dirs.items()
            if not directory.startswith("vendor/") and directory.startswith(("modules", "cmd"))
            for path in paths if "overrides" not in directory))
        return {
            # overrides.defaults (and each tenant in the per-tenant file) keeps keys it does
            # not name in an inline map, then refuses each unregistered one with this message
            # (%q: the key, Go-quoted); stock Tempo registers none.
            "unknown_defaults_key_error": go_string(unknown.group(1)),
            "registered_extensions": len(registered),
            # The overrides block decodes as the new format first; on any other error it
            # retries the legacy flat format (facts.legacy_overrides, inline at
            # `overrides:`); if both fail: this message with both errors (%w, %w). A legacy
            # decode sets the legacy-config warning of -config.verify.
            "both_formats_failed_error": go_string(both.group(1)),
            "new_format_type": self.walker.blocks["overrides"]["type"],
            # `overrides:` in the legacy format: legacy_overrides_root's keys inline, plus
            # these keys of the new format (typed as in root's overrides block).
            "legacy_config_fields": legacy_fields,
            # When the legacy format is tried: in the config file on any error but an
            # extension's own (bad value) or an unknown extension key that is no legacy
            # field name; in the per-tenant file only on an unknown key that is a legacy
            # field name (each tenant then decodes as legacy_overrides_root).
            "config_legacy_fallback": "any error except extension errors and unknown "
                                      "non-legacy extension keys",
            "per_tenant_legacy_fallback": "unknown extension key that is a legacy field name",
        }


def go_map_literal(body: str) -> dict[str, Any]:
    """`"k": map[string]interface{}{...}, "k2": nil` -> data."""
    result: dict[str, Any] = {}
    for match in re.finditer(rf"({STRING}):\s*", body):
        if body[:match.start()].count("{") != body[:match.start()].count("}"):
            continue  # a nested key: read by the recursion below
        rest = body[match.end():]
        if rest.startswith("nil"):
            result[go_string(match.group(1))] = None
        else:
            # `map[string]interface{}{...}`: the literal's brace follows the type's.
            brace = rest.index("{", rest.index("interface{}") + len("interface{}"))
            result[go_string(match.group(1))] = go_map_literal(brace_body(rest, brace))
    return result


def extract(git_dir: Path, ref: str, out: Path) -> None:
    commit = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", f"{ref}^{{commit}}"],
                            check=True, capture_output=True, text=True).stdout.strip()
    out.mkdir(parents=True, exist_ok=True)
    for name, path in ((MANIFEST, MANIFEST_PATH), (INDEX, INDEX_PATH)):
        content = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{ref}:{path}"],
                                 check=True, capture_output=True).stdout
        (out / name).write_bytes(content)
    source = GoSource(git_dir, ref)
    try:
        walker = GoWalker(source)
        for (directory, type_name), path in ((ROOT, ""), (PER_TENANT, PER_TENANT_PATH),
                                              (LEGACY_OVERRIDES, LEGACY_PATH)):
            package = source.package(f"{TEMPO_MODULE}/{directory}")
            if package is None or type_name not in package.types:
                raise SystemExit(f"{directory}: no {type_name} type")
            found = walker.struct_of(package, package.types[type_name][1], type_name)
            if found is None:
                raise SystemExit(f"{directory}: {type_name} is not a struct")
            walker.record_block(*found, path, 0)
        main = strip_comments(source.read(MAIN_GO))
        if not re.search(r"\byaml\.UnmarshalStrict\(buff, config\)", main):
            raise SystemExit(f"{MAIN_GO}: the config is no longer read with UnmarshalStrict")
        yaml_import = parse_imports(main).get("@go.yaml.in/yaml/v2") or parse_imports(main).get(
            "@gopkg.in/yaml.v2")
        if yaml_import is None:
            raise SystemExit(f"{MAIN_GO}: the config is no longer read with yaml v2")
        header = re.search(r'"msg", "(-- CONFIGURATION WARNINGS --)"', main)
        if header is None:
            raise SystemExit(f"{MAIN_GO}: the -config.verify warnings header moved")
        reader = FactReader(source, walker)
        facts = {
            "verify_warnings": reader.warnings(),
            # -config.verify=true: with warnings, this line first, then one per warning
            # (msg=<message>, explain=<explain> when not empty), all at level warn; exit 1.
            "verify_header": header.group(1),
            "single_binary_targets": [reader.const("cmd/tempo/app", "SingleBinary")],
            "receivers": reader.receivers(),
            "overrides": reader.overrides(),
        }
    finally:
        source.close()
    combined = hashlib.sha256("".join(f"{path} {digest}\n" for path, digest
                                      in sorted(source.digests.items())).encode()).hexdigest()
    output = {
        "project": "https://github.com/grafana/tempo",
        "ref": ref,
        "commit": commit,
        "decoder": f"yaml.v2-strict ({yaml_import})",
        "root_type": walker.blocks[""]["type"],
        # Every Go file read, as one digest over "path sha256" lines sorted by path.
        "go_sources": {"files": len(source.digests), "sha256": combined},
        "facts": facts,
        "blocks": dict(sorted(walker.blocks.items())),
    }
    # Not sort_keys: a block's fields stay in Go's order (the manifest's order too).
    (out / GO_FACTS).write_text(json.dumps(output, indent=1) + "\n")
    listing = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", ref, "--",
         *EXAMPLE_DIRS], check=True, capture_output=True, text=True).stdout.split()
    (out / "examples").mkdir(exist_ok=True)
    for path in listing:
        if not re.search(r"(^|/)tempo[^/]*\.ya?ml$", path):
            continue
        content = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{ref}:{path}"],
                                 check=True, capture_output=True).stdout
        (out / "examples" / path.replace("/", "_")).write_bytes(content)
    print(f"extracted {ref} ({commit[:12]}) into {out}: {len(walker.blocks)} Go blocks "
          f"from {len(source.digests)} Go files")


# --- output --------------------------------------------------------------------------

def render_node(node: dict[str, Any], indent: int) -> str:
    """Blocks one key per line, fields on one line each: small, and diffs stay readable."""
    if node["k"] != "block":
        if "e" in node:
            inner = render_node(node["e"], indent)
            rest = {key: value for key, value in node.items() if key != "e"}
            return json.dumps(rest, sort_keys=True, ensure_ascii=False)[:-1] + f', "e": {inner}}}'
        return json.dumps(node, sort_keys=True, ensure_ascii=False)
    pad = " " * (indent + 1)
    head = {key: value for key, value in node.items() if key != "fields"}
    items = [f"{pad}{json.dumps(name)}: {render_node(child, indent + 1)}"
             for name, child in node["fields"].items()]
    body = ",\n".join(items)
    return (json.dumps(head, sort_keys=True, ensure_ascii=False)[:-1] + ', "fields": {\n'
            + body + "}}")


def render(schema: dict[str, Any]) -> str:
    source = json.dumps(schema["source"], indent=2, sort_keys=True).replace("\n", "\n  ")
    facts = json.dumps(schema["facts"], indent=2, sort_keys=True,
                       ensure_ascii=False).replace("\n", "\n  ")
    roots = "".join(f',\n  "{name}": {render_node(schema[name], 1)}'
                    for name in ("root", "per_tenant_root", "legacy_overrides_root"))
    return '{\n  "source": ' + source + roots + ',\n  "facts": ' + facts + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    extract_cmd = commands.add_parser("extract")
    extract_cmd.add_argument("--git-dir", type=Path, required=True)
    extract_cmd.add_argument("--ref", required=True)
    extract_cmd.add_argument("--out", type=Path, default=DEFAULT_SOURCE)
    generate_cmd = commands.add_parser("generate")
    generate_cmd.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    generate_cmd.add_argument("--out", type=Path, default=HERE / "schema.json")
    args = parser.parse_args(argv)
    if args.command == "extract":
        extract(args.git_dir, args.ref, args.out)
        return 0
    schema, notes = generate(args.source)
    for kind, items in sorted(notes.items()):
        print(f"{kind}: {len(items)}")
        for item in items:
            print(f"  {item}")
    text = render(schema)
    json.loads(text)  # what the stand-in will read must be valid JSON
    args.out.write_text(text)
    print(f"wrote {args.out} from {schema['source']['ref']} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
