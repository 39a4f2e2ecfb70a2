"""Runs the rendering helpers (render_vars.py, render_units.py) in an interpreter of their own."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def run_helper(helper: str, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One outcome per case from the helper script of this directory named `helper`."""
    with tempfile.TemporaryDirectory() as folder:
        cases_file = Path(folder) / "cases.json"
        cases_file.write_text(json.dumps(cases))
        done = subprocess.run([sys.executable, str(HERE / helper), str(cases_file)],
                              capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(results) == len(cases), "one outcome per case"
    return results


def render_cases(cases: list[dict[str, Any]]) -> list[dict[str, dict[str, Any]]]:
    """Per case, each var named in its `render` list: {"value": ..., "error": ...}."""
    return run_helper("render_vars.py", cases)
