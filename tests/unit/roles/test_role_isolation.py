"""No role reads another role's directory.

A role that reaches into a sibling through role_path (or a relative path) breaks when
roles are installed or overridden one by one; what roles share is in the catalog
(the lgtm.stack.catalog filter) or passed as variables. Including another role by name
(include_role, dependencies) is not reading its directory.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir())
# role_path followed by a way up: role_path ~ '/../x', "{{ role_path }}/../x", role_path | dirname.
UP_FROM_ROLE_PATH = re.compile(r"role_path\s*(~\s*['\"][^'\"]*\.\.|}}[^\s'\"]*\.\.|\|\s*dirname)")
# A relative path into a sibling: ../loki/..., ../../roles/loki/...
SIBLING = re.compile(r"\.\./(?:\.\./)*(?:roles/)?(" + "|".join(map(re.escape, ROLES)) + r")/")
# The collection's roles directory by any other name.
ROLES_DIR = re.compile(r"(playbook_dir|ansible_collections?|collection_path)[^\n]*roles/")


def reads_another_role(line: str) -> bool:
    code = line.split("#", 1)[0] if line.lstrip().startswith("#") else line
    return bool(UP_FROM_ROLE_PATH.search(code) or SIBLING.search(code) or ROLES_DIR.search(code))


def role_files() -> list[Path]:
    return sorted(path for path in (ROOT / "roles").rglob("*")
                  if path.is_file() and path.suffix in (".yml", ".yaml", ".j2", ".py", ".sh"))


@pytest.mark.parametrize("line", [
    "  {%- set spec = lookup('ansible.builtin.file', role_path ~ '/../' ~ role ~ '/x.yml') -%}",
    "src: \"{{ role_path }}/../loki/templates/loki.yaml.j2\"",
    "dir: \"{{ role_path | dirname }}\"",
    "src: ../../roles/grafana/files/dashboard.json",
    "src: ../tempo/defaults/main.yml",
    "lookup('file', playbook_dir ~ '/roles/loki/meta/argument_specs.yml')",
])
def test_the_scan_sees_each_way_in(line):
    assert reads_another_role(line)


@pytest.mark.parametrize("line", [
    "src: \"{{ role_path }}/files/alloy.river\"",
    "  ansible.builtin.include_role: {name: lgtm.stack.quadlet}",
    "# The patterns are the quadlet core's (roles/quadlet/tasks/service.yml).",
    "preflight_role_specs: \"{{ 'specs' | lgtm.stack.catalog }}\"",
])
def test_the_scan_lets_own_files_and_includes_be(line):
    assert not reads_another_role(line)


def test_no_role_reads_another_role_s_directory():
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in role_files()
             for number, line in enumerate(path.read_text().splitlines(), start=1)
             if reads_another_role(line)]
    assert found == []
