"""Shared fixtures and helpers for every scenario's testinfra tests."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "shared"))


@pytest.fixture
def root(host):
    """The test host as root (scenarios may log in as an ordinary user)."""
    with host.sudo():
        yield host
