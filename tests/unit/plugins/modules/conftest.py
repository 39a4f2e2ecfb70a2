"""Modules run on managed hosts: keep them in module mode whatever else the session imported.

Importing controller code (filter plugins import ansible.errors) flips ansible-core's
process-wide `is_controller` switch, after which module warnings go to the controller's
display instead of the module result.
"""

import pytest
from ansible.module_utils import _internal


@pytest.fixture(autouse=True)
def module_side(monkeypatch):
    monkeypatch.setattr(_internal, "is_controller", False)
