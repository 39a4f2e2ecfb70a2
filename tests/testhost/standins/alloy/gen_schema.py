"""Generate the Alloy stand-in's component schema from upstream's component reference.

Upstream Alloy documents every component in `docs/sources/reference/components/<ns>/<name>.md`
(and the top-level config blocks in `docs/sources/reference/config-blocks/*.md`): a front
matter with the stability stage (`labels.stage`), an `## Arguments` table, a `## Blocks`
table giving the block hierarchy (`grpc` > `keepalive` > [`server_parameters`][anchor])
with a section per block holding its own arguments table (often included from
`docs/sources/shared/reference/components/*.md` through `{{< docs/shared lookup=... >}}`),
and an `## Exported fields` table. The stand-in (alloy.py) validates `config.alloy`
against the schema made from these tables, so a component, argument or block that the
pinned version does not document is rejected, and a required one that is missing is too.
Both steps read the documentation straight out of a git mirror of grafana/alloy at the tag:

    gen_schema.py schema --git-dir /work/.mirror/grafana+alloy/repo --ref v1.18.1
        Writes schema.json next to this script (committed): facts only, the names,
        types and required flags of each component's arguments and blocks, its
        exports and stage, and the stdlib's function names (docs/sources/reference/stdlib).
        Components whose documentation has no parseable table keep `"loose_*": true` for
        the part that could not be read (the stand-in then accepts anything there rather
        than invent rules).

    gen_schema.py examples --git-dir /work/.mirror/grafana+alloy/repo --ref v1.18.1
        Copies upstream's own example configs (the components' `## Example` sections)
        to /work/shared/alloy-1.18/examples.json, the shared data directory beside the
        project, for the stand-in's tests to validate when present. They are upstream's
        text, so they never enter this repository: the command refuses an --out inside it.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
DEFAULT_EXAMPLES = REPO.parent / "shared" / "alloy-1.18" / "examples.json"
COMPONENTS = "docs/sources/reference/components"
CONFIG_BLOCKS = "docs/sources/reference/config-blocks"
STDLIB = "docs/sources/reference/stdlib"
STDLIB_GO = "syntax/internal/stdlib/stdlib.go"
SHARED = "docs/sources/shared"

SHARED_RE = re.compile(r'\{\{<\s*docs/shared\s+lookup="([^"]+)".*?>\}\}')
HEADING_RE = re.compile(r"^(#{2,6})\s+(.*?)\s*$")
LINK_DEF_RE = re.compile(r"^\[([^\]]+)\]:\s*#(\S+)\s*$")


class Docs:
    def __init__(self, git_dir: Path, ref: str) -> None:
        self.git_dir = git_dir
        self.ref = ref

    def show(self, path: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "show", f"{self.ref}:{path}"],
            check=True, capture_output=True, text=True).stdout

    def ls(self, path: str) -> list[str]:
        out = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "ls-tree", "-r", "--name-only", self.ref, path],
            check=True, capture_output=True, text=True).stdout
        return [line for line in out.splitlines() if line.endswith(".md")]

    def commit(self) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "rev-parse", f"{self.ref}^{{commit}}"],
            check=True, capture_output=True, text=True).stdout.strip()

    def expand(self, text: str, depth: int = 0) -> str:
        """Inline `docs/shared` includes (they hold most block tables)."""
        if depth > 5:
            return text

        def include(match: re.Match[str]) -> str:
            lookup = match.group(1).lstrip("/")
            try:
                body = self.show(f"{SHARED}/{lookup}")
            except subprocess.CalledProcessError:
                return ""
            return self.expand(strip_front_matter(body)[1], depth + 1)

        return SHARED_RE.sub(include, text)


def strip_front_matter(text: str) -> tuple[str, str]:
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end > 0:
            return text[4:end], text[end + 4:]
    return "", text


def stage_of(front: str) -> str:
    match = re.search(r"^\s*stage:\s*(\S+)", front, re.MULTILINE)
    return match.group(1) if match else "general-availability"


def title_of(front: str) -> str:
    match = re.search(r"^title:\s*(\S+)", front, re.MULTILINE)
    return match.group(1).strip("'\"") if match else ""


def slug(heading: str) -> str:
    """Hugo's anchor of a heading, enough for the component pages' headings."""
    text = heading.lower().replace("`", "")
    text = re.sub(r"[^a-z0-9 _.-]", "", text)
    return text.strip().replace(" ", "-").replace(".", "")


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    found = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if line.startswith("|") and index + 1 < len(lines) and re.match(
                r"^\|?\s*:?-{3,}", lines[index + 1].strip()):
            header = [cell.lower() for cell in cells(line)]
            rows = []
            index += 2
            while index < len(lines) and lines[index].strip().startswith("|"):
                rows.append(cells(lines[index]))
                index += 1
            found.append((header, rows))
            continue
        index += 1
    return found


def first_code(cell: str) -> str:
    match = re.search(r"`([^`]+)`", cell)
    return match.group(1) if match else cell.strip()


def argument_table(text: str) -> dict[str, dict[str, Any]] | None:
    """Arguments from every `Name | Type | ... | Required` table in a section."""
    args: dict[str, dict[str, Any]] = {}
    seen = False
    for header, rows in tables(text):
        if not header or header[0] != "name" or "type" not in header:
            continue
        seen = True
        type_col = header.index("type")
        req_col = header.index("required") if "required" in header else None
        for row in rows:
            if len(row) <= type_col:
                continue
            name = first_code(row[0])
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                continue
            required = req_col is not None and len(row) > req_col and row[req_col].lower() == "yes"
            args[name] = {"type": first_code(row[type_col]), "required": required}
    return args if seen else None


def sections(body: str) -> list[tuple[int, str, str]]:
    """(level, heading, text until the next heading of the same or a higher level)."""
    lines = body.splitlines()
    heads = []
    in_code = False
    for number, line in enumerate(lines):
        # CommonMark: a fence with an info string opens a block but never closes one
        # (faro.receiver.md has a block opened twice).
        fence = line.strip()
        if fence.startswith("```"):
            in_code = not in_code or fence.strip("`") != ""
        match = None if in_code else HEADING_RE.match(line)
        if match:
            heads.append((number, len(match.group(1)), match.group(2)))
    out = []
    for position, (number, level, heading) in enumerate(heads):
        end = len(lines)
        for later_number, later_level, _later_title in heads[position + 1:]:
            if later_level <= level:
                end = later_number
                break
        out.append((level, heading, "\n".join(lines[number + 1:end])))
    return out


def own_text(text: str) -> str:
    """A section's text before its first sub-heading."""
    lines = []
    for line in text.splitlines():
        if HEADING_RE.match(line):
            break
        lines.append(line)
    return "\n".join(lines)


def find_block(node: dict[str, Any], path: list[str]) -> dict[str, Any] | None:
    """The block a heading names: by its full path, else the first block of its name."""
    current: dict[str, Any] | None = node
    for part in path:
        current = current["blocks"].get(part) if current else None
    if current is not None:
        return current
    for child in node["blocks"].values():
        if path and path[-1] in child["blocks"]:
            return child["blocks"][path[-1]]
        found = find_block(child, path[-1:])
        if found is not None:
            return found
    return None


def add_block_rows(node: dict[str, Any], text: str, links: dict[str, str],
                   by_anchor: dict[str, str]) -> bool:
    """Blocks from a `Block | Description | Required` table, under `node`."""
    parsed_any = False
    for header, rows in tables(text):
        # Argument tables (they have a Type column) sit in the same sections.
        if not header or header[0] not in ("block", "name", "hierarchy") or "type" in header:
            continue
        req_col = header.index("required") if "required" in header else len(header) - 1
        for row in rows:
            cell = row[0].replace(".", " > ") if header[0] == "hierarchy" else row[0]
            parts = [first_code(part) for part in cell.split(">")]
            if not parts or not all(re.fullmatch(r"[a-z_][a-z0-9_.]*", p) for p in parts):
                continue
            ref = re.search(r"\]\[([^\]]+)\]\s*$", cell.strip())
            inline = re.search(r"\]\(#([^)]+)\)\s*$", cell.strip())
            anchor = (links.get(ref.group(1).strip("`"), ref.group(1)) if ref
                      else inline.group(1) if inline else parts[-1])
            required = len(row) > req_col and row[req_col].strip().lower() == "yes"
            parent = node
            for part in parts[:-1]:
                parent = parent["blocks"].setdefault(
                    part, {"args": {}, "blocks": {}, "required": False, "loose_args": True})
            leaf = parent["blocks"].setdefault(parts[-1], {"args": {}, "blocks": {}})
            leaf["required"] = required
            section = by_anchor.get(slug(anchor)) or by_anchor.get(slug(parts[-1]))
            args = argument_table(own_text(section)) if section is not None else None
            if args is None and section is not None and (
                    "support any arguments" in section or "configured fully through" in section
                    or "has no arguments" in section):
                args = {}
            if args is None:
                leaf["loose_args"] = True
            else:
                leaf.pop("loose_args", None)
                leaf["args"] = args
            parsed_any = True
    return parsed_any


def parse_component(docs: Docs, path: str) -> tuple[str, dict[str, Any]] | None:
    front, body = strip_front_matter(docs.show(path))
    name = title_of(front) or Path(path).stem
    if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*", name):
        return None
    body = docs.expand(body)
    all_sections = sections(body)
    schema: dict[str, Any] = {"stage": stage_of(front), "args": {}, "blocks": {}, "exports": []}
    by_anchor: dict[str, str] = {}
    for _level, heading, text in all_sections:
        by_anchor.setdefault(slug(heading), text)
    arguments = next((text for level, heading, text in all_sections
                      if level == 2 and heading.strip().lower() == "arguments"), None)
    if arguments is not None:
        args = argument_table(own_text(arguments))
        if args is None:
            args = argument_table(arguments)
        if args is None and "support any arguments" not in arguments \
                and "doesn't support any arguments" not in arguments \
                and "does not support any arguments" not in arguments:
            schema["loose_args"] = True
        schema["args"] = args or {}
    else:
        schema["loose_args"] = True
    blocks_text = next((text for level, heading, text in all_sections
                        if level == 2 and heading.strip().lower() == "blocks"), None)
    if blocks_text is not None:
        matches = (LINK_DEF_RE.match(line.strip()) for line in body.splitlines())
        links = {m.group(1).strip("`"): m.group(2) for m in matches if m}
        parsed_any = add_block_rows(schema, own_text(blocks_text), links, by_anchor)
        # A block's own section may list that block's inner blocks in a table of its own
        # (`openshift` > `tls`): those rows hang under the block the heading names.
        for _level, heading, text in sections(blocks_text):
            parent = find_block(schema, [first_code(part) for part in heading.split(">")])
            if parent is not None:
                parsed_any |= add_block_rows(parent, own_text(text), links, by_anchor)
        if not parsed_any and "doesn't support any blocks" not in blocks_text \
                and "does not support any blocks" not in blocks_text:
            schema["loose_blocks"] = True
    exported = next((text for level, heading, text in all_sections
                     if level == 2 and heading.strip().lower().startswith("exported fields")), None)
    if exported is not None:
        for header, rows in tables(exported):
            if header and header[0] == "name":
                schema["exports"] += [first_code(row[0]) for row in rows if row]
        if not schema["exports"] and "doesn't export any fields" not in exported \
                and "does not export any fields" not in exported:
            schema["loose_exports"] = True
    return name, schema


def generate(docs: Docs) -> dict[str, Any]:
    components: dict[str, Any] = {}
    for path in docs.ls(COMPONENTS):
        if path.endswith("_index.md"):
            continue
        parsed = parse_component(docs, path)
        if parsed:
            components[parsed[0]] = parsed[1]
    config_blocks: dict[str, Any] = {}
    for path in docs.ls(CONFIG_BLOCKS):
        if path.endswith("_index.md"):
            continue
        parsed = parse_component(docs, path)
        if parsed:
            config_blocks[parsed[0]] = parsed[1]
    functions: set[str] = set()
    for path in docs.ls(STDLIB):
        namespace = Path(path).stem
        if namespace in ("_index", "constants"):
            continue
        _front, body = strip_front_matter(docs.show(path))
        names = [match.group(1) for match in re.finditer(
            r"^##\s+`?([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)`?\s*$", body, re.MULTILINE)
            if not match.group(1).lower().startswith("example")]
        # One function per page (coalesce, json_path) has no function headings.
        functions |= {name if "." in name else f"{namespace}.{name}" for name in names} \
            or {namespace}
    # The deprecated global names (`env`, `concat`, ...) still work and upstream's own
    # examples use them; they are only listed in the stdlib's source.
    source = docs.show(STDLIB_GO)
    deprecated = re.search(r"DeprecatedIdentifiers = map\[string\]any\{(.*?)\n\}", source,
                           re.DOTALL)
    experimental = re.search(r"ExperimentalIdentifiers = map\[string\]bool\{(.*?)\n\}", source,
                             re.DOTALL)
    if deprecated:
        functions |= set(re.findall(r'^\s*"([a-z0-9_]+)":', deprecated.group(1), re.MULTILINE))
    return {
        "source": {"repository": "https://github.com/grafana/alloy", "ref": docs.ref,
                   "commit": docs.commit(),
                   "paths": [COMPONENTS, CONFIG_BLOCKS, SHARED, STDLIB, STDLIB_GO]},
        "functions": sorted(functions),
        "experimental_functions": sorted(re.findall(
            r'"([a-z0-9_.]+)":\s*true', experimental.group(1))) if experimental else [],
        "components": dict(sorted(components.items())),
        "config_blocks": dict(sorted(config_blocks.items())),
    }


def examples(docs: Docs) -> dict[str, Any]:
    """Every complete example (an `alloy` code block, `<PLACEHOLDERS>` only in strings) in the
    `## Example` sections of the component reference, for the stand-in's tests (written
    outside the repository, see the module's docstring)."""
    found: dict[str, list[str]] = {}
    for path in docs.ls(COMPONENTS):
        _front, body = strip_front_matter(docs.show(path))
        collecting = False
        for level, heading, text in sections(body):
            if level != 2:
                continue
            # Some pages put each example under its own level-2 heading after `## Example`.
            if heading.lower().startswith("example"):
                collecting = True
            elif heading.lower().startswith(("compatible components", "technical details")):
                collecting = False
            if not collecting:
                continue
            for block in re.findall(r"```alloy\n(.*?)```", text, re.DOTALL):
                # Placeholders inside strings (`url = "<LOKI_URL>"`) still parse.
                outside_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', block)
                if not re.search(r"<[A-Z_]+>", outside_strings):
                    found.setdefault(Path(path).stem, []).append(block)
    return {"source": {"repository": "https://github.com/grafana/alloy", "ref": docs.ref,
                       "commit": docs.commit(), "license": "Apache-2.0", "paths": [COMPONENTS]},
            "examples": dict(sorted(found.items()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, default_out in (("schema", HERE / "schema.json"), ("examples", DEFAULT_EXAMPLES)):
        command = commands.add_parser(name)
        command.add_argument("--git-dir", type=Path,
                             default=Path("/work/.mirror/grafana+alloy/repo"))
        command.add_argument("--ref", default="v1.18.1")
        command.add_argument("--out", type=Path, default=default_out)
    options = parser.parse_args(argv)
    docs = Docs(options.git_dir, options.ref)
    if options.command == "schema":
        schema = generate(docs)
        options.out.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n")
        print(f"{len(schema['components'])} components, {len(schema['config_blocks'])} config "
              f"blocks from {options.ref} -> {options.out}", file=sys.stderr)
        return 0
    out = options.out.resolve()
    if out.is_relative_to(REPO):
        parser.error(f"{out} is inside the repository; upstream's examples stay outside it")
    found = examples(docs)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(found, indent=1) + "\n")
    print(f"{sum(map(len, found['examples'].values()))} examples from {options.ref} -> {out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
