"""Render every service role's quadlet units the way the quadlet core writes them.

Run in its own interpreter (the test starts it): it installs Ansible's collection
loader, which must not leak into the other unit tests' imports. Reads a JSON list of
cases ({role, vars}) from the file named by its argument. For each, it finds the role's
call of the quadlet core that deploys (import_role lgtm.stack.quadlet with
quadlet_units), renders the `units` argument of the core's one module call
(tasks/service.yml, lgtm.stack.quadlet_service) with the role's defaults and vars and
the call's vars, and prints it, or the error, with what the core's argument
spec says of the call's rendered vars (call_errors). A case with `probe` instead
renders what preflight notes and reports for that lgtm.stack.host_probe result.
"""

import functools
import json
import sys
from pathlib import Path
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

REPO = Path(__file__).resolve().parents[3]
ROLES = REPO / "roles"
HOST = "h1"


@functools.cache
def load_file(path: Path) -> Any:
    return DataLoader().load_from_file(str(path), trusted_as_template=True)


def load(path: Path) -> dict[str, Any]:
    return dict(load_file(path) or {}) if path.exists() else {}


def core_call(role: str) -> dict[str, Any]:
    """The vars of the role's import of the quadlet core that deploys its units."""
    for path in sorted((ROLES / role / "tasks").glob("*.yml")):
        for task in load_file(path) or []:
            include = task.get("ansible.builtin.import_role") or {}
            variables = task.get("vars") or {}
            if (
                include.get("name") == "lgtm.stack.quadlet"
                and include.get("tasks_from", "main") in ("main", "deploy")
                and "quadlet_units" in variables
                and str(variables.get("quadlet_state", "present")) != "absent"
            ):
                return dict(variables)
    raise LookupError(f"{role}: no call of lgtm.stack.quadlet with quadlet_units")


def service_task(path: Path) -> dict[str, Any]:
    """The arguments of the quadlet_service task in one of the core's task files."""
    for task in load_file(path):
        if "lgtm.stack.quadlet_service" in task:
            return task["lgtm.stack.quadlet_service"]
    raise LookupError(f"{path}: no lgtm.stack.quadlet_service task")


def journal_found(paths: list[str]) -> dict[str, Any]:
    """alloy's registered host_probe of the host's journal directories and machine-id."""
    return {"paths": {path: {"exists": True, "isdir": not path.endswith("-id"),
                             "isfile": path.endswith("-id"), "islink": False}
                      for path in paths}}


def preflight(probe: dict[str, Any]) -> dict[str, Any]:
    """What preflight's host step adds to the problems and its report, for a probe result."""
    scope = {
        **load(ROLES / "preflight/defaults/main.yml"),
        **load(ROLES / "preflight/vars/main.yml"),
        "preflight_probe": probe,
        # The other checks have tests of their own.
        "preflight_unknown_group_problems": [],
        "preflight_group_problems": [],
        "preflight_settings": {"problems": [], "unresolved": []},
        "preflight_host_problems": [],
        "preflight_reach_problems": [],
        "preflight_image_problems": [],
        "inventory_hostname": HOST,
        "preflight_host_services": ["loki"],
    }
    failure, success = load_file(ROLES / "preflight/tasks/report.yml")[:2]
    templar = Templar(loader=DataLoader(), variables=scope)
    problems = templar.template(scope["preflight_problems"])
    report = failure["ansible.builtin.fail"] if problems else success["ansible.builtin.debug"]
    message = report["msg"]
    return {
        "problems": problems,
        "report": templar.template(message),
        "probes_selinux": load_file(ROLES / "preflight/tasks/host.yml")[0][
            "lgtm.stack.host_probe"
        ].get("selinux"),
    }


def call_errors(templar: Templar, call: dict[str, Any]) -> list[str]:
    """What the quadlet core's argument spec says of the call's vars, rendered as Ansible would."""
    spec = load_file(ROLES / "quadlet/meta/argument_specs.yml")["argument_specs"]["main"]
    try:
        params = {name: templar.template(value) for name, value in call.items()}
    except Exception as error:  # noqa: BLE001 - the error text is the result
        return [f"rendering failed: {error}"]
    return list(ArgumentSpecValidator(spec["options"]).validate(params).error_messages)


def render(case: dict[str, Any]) -> dict[str, Any]:
    if "probe" in case:
        return preflight(case["probe"])
    role = case["role"]
    inventory = {
        "inventory_hostname": HOST,
        "groups": {"all": [HOST], "lgtm": [HOST], f"lgtm_{role}": [HOST]},
        "group_names": ["lgtm", f"lgtm_{role}"],
        "hostvars": {HOST: {}},
        "alloy_journal_paths": journal_found(
            ["/var/log/journal", "/run/log/journal", "/etc/machine-id"]
        ),
        **case.get("vars", {}),
    }
    scope = {
        **load(ROLES / "common/defaults/main.yml"),
        **load(ROLES / "network/defaults/main.yml"),
        **load(ROLES / role / "defaults/main.yml"),
        **load(ROLES / role / "vars/main.yml"),
        **load(ROLES / "quadlet/defaults/main.yml"),
        **load(ROLES / "quadlet/vars/main.yml"),
        **inventory,
        "role_path": str(ROLES / role),
        "ansible_search_path": [str(ROLES / role)],
    }
    call = core_call(role)
    scope.update(call)
    scope["hostvars"] = {HOST: dict(scope)}
    templar = Templar(loader=DataLoader(), variables=scope)
    result: dict[str, Any] = {"call_errors": call_errors(templar, call)}
    expression = service_task(ROLES / "quadlet/tasks/service.yml")["units"]
    try:
        result["units"] = templar.template(trust_as_template(expression))
    except Exception as error:  # noqa: BLE001 - the error text is the result
        result["units"] = None
        result["units_error"] = str(error)
    result.update(service_call(templar))
    return result


def service_call(templar: Templar) -> dict[str, Any]:
    """The core's whole quadlet_service call, rendered, through the module's argument spec
    and expansion: what the module would refuse, and what it would add (`expanded`)."""
    from ansible_collections.lgtm.stack.plugins.module_utils import service
    from ansible_collections.lgtm.stack.plugins.modules import quadlet_service

    try:
        # As a whole, as Ansible templates module arguments: omitted options drop out.
        args = templar.template(service_task(ROLES / "quadlet/tasks/service.yml"))
    except Exception as error:  # noqa: BLE001 - the error text is the result
        return {"service_errors": [f"rendering failed: {error}"]}
    validated = ArgumentSpecValidator(quadlet_service.ARGUMENT_SPEC).validate(args)
    errors = list(validated.error_messages)
    if errors:
        return {"service_errors": errors}
    # Files with a validator, as the module gets them (no secret has one).
    checked = [{key: entry.get(key) for key in ("dest", "content", "validate")}
               for entry in args.get("files") or [] if entry.get("validate")]
    try:
        expanded = service.expand(validated.validated_parameters).shown()
    except service.ServiceError as error:
        return {"service_errors": [str(error)]}
    return {"service_errors": [], "expanded": expanded, "validated_files": checked}


def main() -> None:
    _AnsibleCollectionFinder(paths=[str(REPO / "collections")])._install()
    cases = json.loads(Path(sys.argv[1]).read_text())
    json.dump([render(case) for case in cases], sys.stdout, default=str)


if __name__ == "__main__":
    main()
