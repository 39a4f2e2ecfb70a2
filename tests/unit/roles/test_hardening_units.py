"""Every role's containers, rendered as the quadlet core writes them, run confined.

The scenario (molecule/stack, test_hardening.py) reads the running processes; this
renders every unit of every role, for variants the scenarios do not deploy too, and
checks the keys that confine it and the users that are not the image's.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils.catalog import SERVICES
from role_vars import run_helper

OFF = {"lgtm_container_hardening": False}
CASES: list[dict[str, Any]] = (
    [{"role": role} for role in SERVICES]
    + [{"role": "glitchtip", "vars": {"glitchtip_image": "docker.io/glitchtip/glitchtip:5.1"}}]
    + [{"role": role, "vars": OFF} for role in SERVICES]
)
# Containers whose image would start them as root: the role names the user instead.
USERS = {
    "lgtm-mimir.container": "10001:10001",
    "lgtm-glitchtip-postgres.container": "999:999",
    "lgtm-glitchtip-valkey.container": "999:999",
}
CONFINING = ("NoNewPrivileges", "DropCapability", "AddCapability", "ReadOnly", "Tmpfs")


def ident(case: dict[str, Any]) -> str:
    return case["role"] + (" " + json.dumps(case["vars"]) if "vars" in case else "")


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return run_helper("render_units.py", CASES)


def containers(outcome: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert "units_error" not in outcome, outcome.get("units_error")
    return {
        unit["name"]: unit["sections"]["Container"]
        for unit in outcome["units"]
        if unit["name"].endswith(".container")
    }


@pytest.mark.parametrize("index", range(len(CASES)), ids=[ident(case) for case in CASES])
def test_every_container_is_confined_unless_turned_off(rendered, index):
    found = containers(rendered[index])
    assert found, ident(CASES[index])
    for name, container in found.items():
        confining = {key: container[key] for key in CONFINING if key in container}
        if CASES[index].get("vars") == OFF:
            assert confining == {}, name
        else:
            assert confining == {
                "NoNewPrivileges": True,
                "DropCapability": "all",
                "ReadOnly": True,
            }, name
        if name in USERS:
            assert container["User"] == USERS[name], name
        else:
            assert "User" not in container, f"{name}: runs as its image's user"


def test_mimir_re_owns_its_data_and_writes_its_activity_log_there():
    roles = Path(__file__).resolve().parents[3] / "roles"
    tasks = (roles / "mimir/tasks/main.yml").read_text()
    data_dir = tasks.split('- path: "{{ mimir_data_dir }}"', 1)[1].split("quadlet_config_files")[0]
    assert "recurse: true" in data_dir
    assert "filepath: /data/metrics-activity.log" in (roles / "mimir/vars/main.yml").read_text()


@pytest.mark.parametrize("index", range(len(CASES)), ids=[ident(case) for case in CASES])
def test_every_roles_call_of_the_core_passes_its_argument_spec(rendered, index):
    # Ansible validates these only when the role runs; a key the core does not declare
    # (quadlet_directories[].recurse once) failed the mimir scenario before this test.
    assert rendered[index]["call_errors"] == []
