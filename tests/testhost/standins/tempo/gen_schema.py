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

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

# The shared scanner is in standins/, which is not on the path when this runs as a
# script or is loaded by path (the unit tests): the stand-ins find lgtm_standin alike.
if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from goscan import GO_KINDS as BASE_GO_KINDS
from goscan import (
    ZERO,
    GoSource,
    GoWalker,
    brace_body,
    generator_main,
    parse_bytes,
    parse_duration,
    parse_imports,
    render_node,
    render_source,
    strip_comments,
    struct_fields,
    tag_value,
)

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
# The builtin kinds of Go types -> short types (goscan's), plus Tempo's list of durations.
GO_KINDS = {**BASE_GO_KINDS, "[]time.Duration": "durations"}


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
    source = GoSource(git_dir, ref, TEMPO_MODULE)
    try:
        # Tempo's config has named list types (`type DedicatedColumns []DedicatedColumn`),
        # and CheckConfig's warning conditions name fields by their Go names.
        walker = GoWalker(source, named_containers=True, field_names=True)
        roots = ((ROOT, ""), (PER_TENANT, PER_TENANT_PATH), (LEGACY_OVERRIDES, LEGACY_PATH))
        for (directory, type_name), path in roots:
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


def render(schema: dict[str, Any]) -> str:
    source = render_source(schema)
    facts = json.dumps(schema["facts"], indent=2, sort_keys=True,
                       ensure_ascii=False).replace("\n", "\n  ")
    roots = "".join(f',\n  "{name}": {render_node(schema[name], 1)}'
                    for name in ("root", "per_tenant_root", "legacy_overrides_root"))
    return '{\n  "source": ' + source + roots + ',\n  "facts": ' + facts + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    return generator_main(argv, __doc__, DEFAULT_SOURCE, HERE / "schema.json", extract,
                          generate, render)


if __name__ == "__main__":
    sys.exit(main())
