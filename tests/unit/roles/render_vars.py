"""Render some of a role's vars for an inventory, as a play would, and print them as JSON.

Run in its own interpreter (tests/unit/roles/role_vars.py starts it): it installs
Ansible's collection loader, which must not leak into the other unit tests' imports.
Reads a JSON list of cases from the file named by its argument; each case names the
role, the inventory (host -> services and host -> vars), the host it renders for and
the vars to render. Prints, per case, each var's value and error (one of them empty).
"""

import json
import sys
from pathlib import Path
from typing import Any

from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

# The wiring renderer beside this file loads role files, builds the inventory's groups and
# renders a var the same way.
from render_wiring import REPO, ROLES, load, magic
from render_wiring import render as render_pair


def scope(case: dict[str, Any]) -> dict[str, Any]:
    host = case["host"]
    hostvars = case.get("hostvars", {})
    role = ROLES / case["role"]
    # Every service role depends on lgtm.stack.common and sees its defaults; preflight
    # does not (a case says so with "common_defaults": false).
    common = load(ROLES / "common/defaults/main.yml") if case.get("common_defaults", True) else {}
    return {
        **common,
        **load(role / "defaults/main.yml"),
        **load(role / "vars/main.yml"),
        **hostvars.get(host, {}),
        **magic({"hosts": case["hosts"], "hostvars": hostvars, "consumer": host}),
        "ansible_managed": "Ansible managed",
        "role_path": str(role),
        "ansible_search_path": [str(role)],
    }


def render(variables: dict[str, Any], name: str) -> dict[str, Any]:
    value, error = render_pair(variables, name)
    return {"value": value, "error": error}


def main() -> None:
    _AnsibleCollectionFinder(paths=[str(REPO / "collections")])._install()
    results = []
    for case in json.loads(Path(sys.argv[1]).read_text()):
        variables = scope(case)
        results.append({name: render(variables, name) for name in case["render"]})
    json.dump(results, sys.stdout, default=str)


if __name__ == "__main__":
    main()
