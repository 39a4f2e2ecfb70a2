"""A scanner of Go source for the config-schema generators (loki/, tempo/gen_schema.py).

It reads Go packages straight from a git mirror at a ref and walks config structs the way
yaml.v2 decodes into them: the Go type names yaml errors print, which fields are hidden,
what each leaf type is made of, and which types decode themselves (UnmarshalYAML). It is
no full Go parser: it knows the declarations config structs are written with.

What else the generators share lives here too, so their schemas are made alike: the
schema kinds of Go builtins and the parsers of durations and sizes defaults are printed
with (Loki, Tempo), schema.json's layout and the `extract`/`generate` command line
(Loki, Tempo, Mimir).

Generator-side only: the stand-in images do not install it, and it reads upstream code
only from the mirror, so nothing upstream enters this repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

# --- Go values and kinds: what the generators make schema fields and defaults of ------

GO_INT_TYPES = {"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16",
                "uint32", "uint64"}
# The builtin kinds of Go types -> the schema's short types (the shared decoder's).
GO_KINDS = {"string": "string", "bool": "bool", "float64": "float", "float32": "float",
            "[]string": "strings", "map[string]string": "map_string",
            "map[string]int": "map_int", "map[string]float64": "map_float",
            **{name: "int" for name in GO_INT_TYPES}}

ZERO = {"string": "", "url": "", "int": 0, "float": 0.0, "bool": False, "duration": 0,
        "model_duration": 0, "bytes": 0, "base2_bytes": 0, "strings": [], "durations": [],
        "map_string": {}, "map_int": {}, "map_float": {}, "relabel_configs": [], "any": None}

DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9,
                  "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9,
                  "w": 7 * 86400 * 10**9, "y": 365 * 86400 * 10**9}
# Both byte-size types Loki uses (and Tempo's defaults) read KB and KiB alike as 1024.
BYTE_UNITS = {"": 1, "b": 1, **{unit + suffix: 1024 ** power
                                for power, unit in enumerate("kmgtpe", start=1)
                                for suffix in ("", "b", "ib")}}


def parse_duration(text: str) -> int:
    """Nanoseconds of a Go or Prometheus duration as a reference prints it (`1h30m`, `7d`)."""
    if text in ("0", "0s"):
        return 0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    # Exact arithmetic: math.MaxInt64 ns prints as 2562047h47m16.854775807s.
    return round(sum(Fraction(number) * DURATION_UNITS[unit] for number, unit in parts))


def parse_bytes(text: str) -> int:
    """Bytes of a size as a reference prints one (`1536KB`, `16KiB`, `63KiB1023B`)."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text.replace(" ", ""):
        raise ValueError(f"not a byte size: {text!r}")
    total = Fraction(0)
    for number, unit in parts:
        if unit.lower() not in BYTE_UNITS:
            raise ValueError(f"not a byte size: {text!r}")
        total += Fraction(number) * BYTE_UNITS[unit.lower()]
    return round(total)


# --- the scanner --------------------------------------------------------------------

@dataclass
class GoPackage:
    path: str                      # directory in the repository
    name: str                      # declared package name (what reflect prints)
    types: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (expr, file)
    imports: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> alias -> path
    unmarshal: dict[str, str] = field(default_factory=dict)  # type -> UnmarshalYAML body


class GoSource:
    """Reads Go packages straight from the git mirror at a ref (no work tree needed)."""

    def __init__(self, git_dir: Path, ref: str, module: str,
                 local_modules: tuple[str, ...] = ()) -> None:
        self.git_dir = git_dir
        self.ref = ref
        # The repository's own module path: its import paths are its directories.
        self.module = module
        # Prefixes of nested modules go.mod replaces with directories of the repository
        # (Loki's pkg/push, ...): mapped only where the directory exists, after vendor/.
        self.local_modules = local_modules
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
        """The repository directory of an import path, or None if it is not in the tree."""
        if import_path == self.module:
            return ""
        if import_path.startswith(self.module + "/"):
            return import_path[len(self.module) + 1:]
        if "vendor/" + import_path in self.dirs:
            return "vendor/" + import_path
        for prefix in self.local_modules:
            if import_path.startswith(prefix + "/"):
                local = import_path[len(prefix) + 1:]
                return local if local in self.dirs else None
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
    """Walks config structs from a root type, as yaml.v2 would decode into them.

    Two behaviours are opt-in, so that each generator's facts stay what they were:
    `named_containers` walks a named list or map type (`type X []Y`) as its element
    list, and `field_names` records each field's Go name next to its facts.
    """

    def __init__(self, source: GoSource, named_containers: bool = False,
                 field_names: bool = False) -> None:
        self.source = source
        self.named_containers = named_containers
        self.field_names = field_names
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
        if self.named_containers and not bare.startswith(("[]", "map[")):
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
                if self.field_names:
                    # The Go name: conditions in Go code (Tempo's CheckConfig) name it.
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


# --- the generators' output and command line -----------------------------------------

def render_node(node: dict[str, Any], indent: int, ensure_ascii: bool = False) -> str:
    """Blocks one key per line, fields on one line each: small, and diffs stay readable.

    Mimir's schema was first written with json's ASCII escapes, Loki's and Tempo's with
    UTF-8 text: `ensure_ascii` keeps each committed file as it is.
    """
    if node["k"] != "block":
        if "e" in node:
            inner = render_node(node["e"], indent, ensure_ascii)
            rest = {key: value for key, value in node.items() if key != "e"}
            return (json.dumps(rest, sort_keys=True, ensure_ascii=ensure_ascii)[:-1]
                    + f', "e": {inner}}}')
        return json.dumps(node, sort_keys=True, ensure_ascii=ensure_ascii)
    pad = " " * (indent + 1)
    head = {key: value for key, value in node.items() if key != "fields"}
    items = [f"{pad}{json.dumps(name)}: {render_node(child, indent + 1, ensure_ascii)}"
             for name, child in node["fields"].items()]
    body = ",\n".join(items)
    return (json.dumps(head, sort_keys=True, ensure_ascii=ensure_ascii)[:-1]
            + ', "fields": {\n' + body + "}}")


def render_source(schema: dict[str, Any]) -> str:
    """The "source" member (where the schema came from), indented to sit at the top level."""
    return json.dumps(schema["source"], indent=2, sort_keys=True).replace("\n", "\n  ")


def render_root(schema: dict[str, Any], ensure_ascii: bool = False) -> str:
    """schema.json with one root block (Loki's and Mimir's; Tempo adds roots and facts)."""
    return ('{\n  "source": ' + render_source(schema) + ',\n  "root": '
            + render_node(schema["root"], 1, ensure_ascii) + "\n}\n")


Generate = Callable[[Path], tuple[dict[str, Any], dict[str, list[str]]]]


def generator_main(argv: list[str] | None, doc: str | None, default_source: Path,
                   default_out: Path, extract: Callable[[Path, str, Path], None],
                   generate: Generate, render: Callable[[dict[str, Any]], str]) -> int:
    """`extract --git-dir --ref [--out]` and `generate [--source] [--out]`, as each
    generator's docstring describes them; generate prints its notes, then the file."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    extract_cmd = commands.add_parser("extract")
    extract_cmd.add_argument("--git-dir", type=Path, required=True)
    extract_cmd.add_argument("--ref", required=True)
    extract_cmd.add_argument("--out", type=Path, default=default_source)
    generate_cmd = commands.add_parser("generate")
    generate_cmd.add_argument("--source", type=Path, default=default_source)
    generate_cmd.add_argument("--out", type=Path, default=default_out)
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
