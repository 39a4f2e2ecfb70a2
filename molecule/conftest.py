"""Lets every scenario's testinfra tests import the shared helpers."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "shared"))
