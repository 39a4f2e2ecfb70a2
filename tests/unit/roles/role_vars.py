"""Renders roles' vars through render_vars.py, in an interpreter of its own."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HELPER = Path(__file__).with_name("render_vars.py")


def render_cases(cases: list[dict[str, Any]]) -> list[dict[str, dict[str, Any]]]:
    """Per case, each var named in its `render` list: {"value": ..., "error": ...}."""
    with tempfile.TemporaryDirectory() as folder:
        cases_file = Path(folder) / "cases.json"
        cases_file.write_text(json.dumps(cases))
        done = subprocess.run([sys.executable, str(HELPER), str(cases_file)],
                              capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results: list[dict[str, dict[str, Any]]] = json.loads(done.stdout)
    assert len(results) == len(cases), "one outcome per case"
    return results
