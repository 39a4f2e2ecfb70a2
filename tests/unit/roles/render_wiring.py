"""Render, for one consumer host, what preflight predicts and what the roles' wiring does.

Run in its own interpreter (the test starts it): it installs Ansible's collection
loader, which must not leak into the other unit tests' imports. Reads a JSON list of
cases from the file named by its argument; prints, per case, the preflight problems
and the error (or none) of each of the consumer role's vars that call the endpoint
filters.
"""

import functools
import json
import re
import sys
from pathlib import Path
from typing import Any

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

REPO = Path(__file__).resolve().parents[3]
ROLES = REPO / "roles"


@functools.cache
def load_file(path: Path) -> Any:
    # Ansible's loader marks the file's strings as trusted templates, as a play would.
    return DataLoader().load_from_file(str(path), trusted_as_template=True)


def load(path: Path) -> dict[str, Any]:
    return dict(load_file(path) or {})


def magic(case: dict[str, Any]) -> dict[str, Any]:
    groups: dict[str, list[str]] = {"all": [], "lgtm": []}
    for host, services in case["hosts"].items():
        groups["all"].append(host)
        groups["lgtm"].append(host)
        for service in services:
            groups.setdefault(f"lgtm_{service}", []).append(host)
    consumer = case["consumer"]
    return {
        "hostvars": case["hostvars"],
        "groups": groups,
        "inventory_hostname": consumer,
        "group_names": sorted(group for group, members in groups.items()
                              if consumer in members and group != "all"),
    }


def render(variables: dict[str, Any], name: str) -> tuple[Any, str]:
    templar = Templar(loader=DataLoader(), variables=variables)
    try:
        return templar.template(trust_as_template("{{ " + name + " }}")), ""
    except Exception as error:  # noqa: BLE001 - the error text is the result
        return None, str(error)


@functools.cache
def wired_vars(role: str) -> tuple[str, ...]:
    """The role's vars that its tasks or templates use and that call the endpoint
    filters, directly or through other vars: what the play actually renders.
    (An intermediate var behind an override's `if` is never rendered.) Once per role:
    it reads the role's tasks and templates."""
    role_vars = load(ROLES / role / "vars/main.yml")
    texts = {name: json.dumps(value) for name, value in role_vars.items()}
    refs = {name: {other for other in texts if other != name and re.search(rf"\b{other}\b", text)}
            for name, text in texts.items()}

    def calls_endpoint(name: str, seen: frozenset[str] = frozenset()) -> bool:
        return "lgtm.stack.endpoint" in texts[name] or any(
            calls_endpoint(other, seen | {name}) for other in refs[name] - seen)

    users = "\n".join(path.read_text() for folder in ("tasks", "templates", "handlers")
                      for path in sorted((ROLES / role / folder).rglob("*")) if path.is_file())
    return tuple(name for name in texts
                 if calls_endpoint(name) and re.search(rf"\b{name}\b", users))


def main() -> None:
    _AnsibleCollectionFinder(paths=[str(REPO / "collections")])._install()
    results = []
    for case in json.loads(Path(sys.argv[1]).read_text()):
        inventory = {**case["hostvars"].get(case["consumer"], {}), **magic(case)}
        preflight = {**load(ROLES / "preflight/defaults/main.yml"),
                     **load(ROLES / "preflight/vars/main.yml"), **inventory,
                     "role_path": str(ROLES / "preflight")}
        problems, error = render(preflight, "preflight_reach_problems")
        role = case["role"]
        # Every service role depends on lgtm.stack.common and sees its defaults.
        scope = {**load(ROLES / "common/defaults/main.yml"),
                 **load(ROLES / role / "defaults/main.yml"),
                 **load(ROLES / role / "vars/main.yml"), **inventory,
                 "role_path": str(ROLES / role), "ansible_search_path": [str(ROLES / role)]}
        wiring = {name: render(scope, name)[1] for name in wired_vars(role)}
        results.append({"problems": problems, "preflight_error": error, "wiring": wiring})
    json.dump(results, sys.stdout, default=str)


if __name__ == "__main__":
    main()
