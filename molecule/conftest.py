"""Shared fixtures and helpers for every scenario's testinfra tests."""

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "molecule" / "shared"))
# The tests reuse the collection's own helpers (tls_client); tests/setup.sh makes the link.
sys.path.insert(0, str(REPO_ROOT / "collections"))


@pytest.fixture
def root(host):
    """The test host as root (scenarios may log in as an ordinary user)."""
    with host.sudo():
        yield host
