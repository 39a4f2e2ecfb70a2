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

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

REPO = Path(__file__).resolve().parents[3]
ROLES = REPO / "roles"


def load(path: Path) -> dict[str, Any]:
    # Ansible's loader marks the file's strings as trusted templates, as a play would.
    return dict(DataLoader().load_from_file(str(path), trusted_as_template=True) or {})


def scope(case: dict[str, Any]) -> dict[str, Any]:
    groups: dict[str, list[str]] = {"all": [], "lgtm": []}
    for host, services in case["hosts"].items():
        groups["all"].append(host)
        groups["lgtm"].append(host)
        for service in services:
            groups.setdefault(f"lgtm_{service}", []).append(host)
    host = case["host"]
    hostvars = case.get("hostvars", {})
    role = ROLES / case["role"]
    # Every service role depends on lgtm.stack.common and sees its defaults.
    return {
        **load(ROLES / "common/defaults/main.yml"),
        **load(role / "defaults/main.yml"),
        **load(role / "vars/main.yml"),
        **hostvars.get(host, {}),
        "hostvars": hostvars,
        "groups": groups,
        "inventory_hostname": host,
        "group_names": sorted(group for group, members in groups.items()
                              if host in members and group != "all"),
        "ansible_managed": "Ansible managed",
        "role_path": str(role),
        "ansible_search_path": [str(role)],
    }


def render(variables: dict[str, Any], name: str) -> dict[str, Any]:
    templar = Templar(loader=DataLoader(), variables=variables)
    try:
        return {"value": templar.template(trust_as_template("{{ " + name + " }}")), "error": ""}
    except Exception as error:  # noqa: BLE001 - the error text is the result
        return {"value": None, "error": str(error)}


def main() -> None:
    _AnsibleCollectionFinder(paths=[str(REPO / "collections")])._install()
    results = []
    for case in json.loads(Path(sys.argv[1]).read_text()):
        variables = scope(case)
        results.append({name: render(variables, name) for name in case["render"]})
    json.dump(results, sys.stdout, default=str)


if __name__ == "__main__":
    main()
