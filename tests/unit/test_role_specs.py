"""Each role's argument_specs, defaults and README reference agree."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import argspec_docs  # noqa: E402

ROLES = sorted(path.parts[-3] for path in ROOT.glob("roles/*/meta/argument_specs.yml"))
SERVICES = argspec_docs.catalog.table("services")


def spec_options(role: str) -> dict:
    path = ROOT / "roles" / role / "meta/argument_specs.yml"
    entry_points = yaml.safe_load(path.read_text())["argument_specs"]
    return entry_points[argspec_docs.entry_point(entry_points)]["options"]


def role_defaults(role: str) -> dict:
    path = ROOT / "roles" / role / "defaults/main.yml"
    return yaml.safe_load(path.read_text()) or {} if path.exists() else {}


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_specified_with_the_same_value(role):
    options = spec_options(role)
    for name, value in role_defaults(role).items():
        assert name in options, f"{role}: default {name} is missing from argument_specs"
        if "{{" in str(value):
            continue  # derived defaults are documented in words
        assert options[name].get("default") == value, f"{role}: {name} default differs"


@pytest.mark.parametrize("role", ROLES)
def test_every_optional_spec_entry_has_a_default(role):
    defaults = role_defaults(role)
    for name, option in spec_options(role).items():
        if option.get("required"):
            continue
        assert name in defaults, f"{role}: {name} is in argument_specs but not in defaults"
        assert option.get("description"), f"{role}: {name} has no description"


def test_readme_reference_is_generated_from_the_specs():
    assert argspec_docs.main(["--check"]) == 0


@pytest.mark.parametrize("role", ROLES)
def test_the_defaults_pass_their_own_spec(role):
    """A role run with nothing set must get past its own argument validation."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    options = spec_options(role)
    # Templated defaults are strings to the validator, and required options have no
    # default: give neither, so only literal defaults are judged.
    literal = {name: value for name, value in role_defaults(role).items() if "{{" not in str(value)}
    checked = {name: option for name, option in options.items() if name in literal}
    result = ArgumentSpecValidator(checked).validate(literal)
    assert not result.error_messages, f"{role}: {result.error_messages}"


def test_common_validates_once_per_run_and_values():
    """common and network have no `main` entry point (Ansible would validate it in every
    play); a guard includes the one that has the spec only for unseen values, and the
    signature it compares covers every option of that spec. common has no tasks at all
    (the quadlet core depends on it for its defaults): network and firewall, which every
    run goes through, start with its guard; network's own comes next. In network, both sit
    in once.yml, which its main.yml includes only when either guard would run (one skipped
    task per play)."""
    assert not (ROOT / "roles/common/tasks/main.yml").exists()
    once = "network/tasks/once.yml"
    guards = {"common": ("validate", "common_validated",
                         [(once, 0), ("firewall/tasks/main.yml", 0)]),
              "network": ("deploy", "network_applied", [(once, 1)])}
    conditions = []
    for role, (entry, fact, places) in guards.items():
        folder = ROOT / "roles" / role
        entry_points = yaml.safe_load((folder / "meta/argument_specs.yml").read_text())
        assert list(entry_points["argument_specs"]) == [entry], role
        for path, position in places:
            tasks = yaml.safe_load((ROOT / "roles" / path).read_text())
            guard = tasks[position]
            assert guard["ansible.builtin.include_role"] == {"name": f"lgtm.stack.{role}",
                                                             "tasks_from": entry}, path
            assert guard["when"] == f"{fact} | default('') != {role}_signature", path
        conditions.append(f"{fact} | default('') != {role}_signature")
        assert fact in (folder / "tasks" / f"{entry}.yml").read_text()
    network_main = yaml.safe_load((ROOT / "roles/network/tasks/main.yml").read_text())
    assert len(network_main) == 1
    assert network_main[0]["ansible.builtin.include_tasks"] == "once.yml"
    assert " ".join(network_main[0]["when"].split()) == " or ".join(conditions)
    common_vars = yaml.safe_load((ROOT / "roles/common/vars/main.yml").read_text())
    signature = common_vars["common_signature"]
    named = re.findall(r"\b(lgtm_\w+)\b", signature)
    assert named == list(spec_options("common")), "common_signature names every option, in order"


def test_roles_reading_lgtm_settings_depend_on_common():
    """The service roles, network, firewall and the quadlet core read lgtm_* from common's defaults;
    a service role also brings the network (a role used alone still gets it)."""
    for role in [*SERVICES, "network", "firewall"]:
        meta = yaml.safe_load((ROOT / "roles" / role / "meta/main.yml").read_text())
        deps = [dep["role"] if isinstance(dep, dict) else dep for dep in meta["dependencies"]]
        wanted = ["lgtm.stack.common"] + (["lgtm.stack.network"] if role in SERVICES else [])
        assert deps == wanted, role
    # A role included privately (tasks_from) hands the core variables that refer to lgtm_*:
    # the core reaches common's defaults only through a dependency of its own.
    quadlet = yaml.safe_load((ROOT / "roles/quadlet/meta/main.yml").read_text())
    assert [dep["role"] for dep in quadlet["dependencies"]] == ["lgtm.stack.common"]
    assert not (ROOT / "roles/network/defaults/main.yml").read_text().count("lgtm_")
