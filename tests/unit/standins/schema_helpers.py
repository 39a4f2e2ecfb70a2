"""What the generated-schema tests share (test_loki_schema.py, test_tempo_schema.py).

Both schemas are written by a gen_schema.py in the shared compact format (Mimir's), read
by the same stand-in decoder (lgtm_standin), and must be what their generator makes from
the fetched upstream data. Imported by name: pytest puts this directory on sys.path for
the test modules beside it (there is no package here).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
STANDINS = REPO / "tests/testhost/standins"

# The decoder types the schemas may use: Mimir's, plus Loki's byte sizes and "any" for
# values a reference gives no structure for (see loki/gen_schema.py). Tempo's uses the same.
KNOWN_TYPES = {"string", "url", "int", "float", "bool", "duration", "model_duration",
               "strings", "durations", "map_string", "map_int", "map_float",
               "relabel_configs", "bytes", "base2_bytes", "any"}
ENTRY_KEYS = {"k", "t", "d", "f", "c", "e", "type", "fields"}


def load(name: str, path: Path) -> ModuleType:
    """A module from its file, registered under `name` (the stand-ins are not packages)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def entry(root: dict[str, Any], path: str) -> dict[str, Any]:
    """The schema node at a dotted yaml path; list and map elements are stepped through."""
    node = root
    for part in path.split("."):
        if node["k"] in ("slice", "map"):
            node = node["e"]
        node = node["fields"][part]
    return node


def walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every node under `node` with its path (`[]` marks a list or map element)."""
    found = [(path, node)]
    if node["k"] == "block":
        for name, child in node["fields"].items():
            found += walk(child, f"{path}.{name}" if path else name)
    elif "e" in node:
        found += walk(node["e"], path + "[]")
    return found


def check_reproduced(gen_schema: ModuleType, inputs: tuple[str, ...], schema_file: Path,
                     extract_hint: str) -> None:
    """The committed schema is what the generator makes from the fetched upstream data;
    skipped where that data is not on this machine (it is never in the repository)."""
    source = gen_schema.DEFAULT_SOURCE
    if not all((source / name).is_file() for name in inputs):
        pytest.skip(f"fetched upstream data not present in {source} ({extract_hint})")
    schema, _notes = gen_schema.generate(source)
    assert gen_schema.render(schema) == schema_file.read_text()
