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
    guards = {"common": ("validate", "common_validated", "common_signature",
                         [(once, 0), ("firewall/tasks/main.yml", 0)]),
              "network": ("deploy", "network_applied", "common_network_signature",
                          [(once, 1)])}
    conditions = []
    for role, (entry, fact, signature_name, places) in guards.items():
        folder = ROOT / "roles" / role
        entry_points = yaml.safe_load((folder / "meta/argument_specs.yml").read_text())
        assert list(entry_points["argument_specs"]) == [entry], role
        for path, position in places:
            tasks = yaml.safe_load((ROOT / "roles" / path).read_text())
            guard = tasks[position]
            assert guard["ansible.builtin.include_role"] == {"name": f"lgtm.stack.{role}",
                                                             "tasks_from": entry}, path
            assert guard["when"] == f"{fact} | default('') != {signature_name}", path
        conditions.append(f"{fact} | default('') != {signature_name}")
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
    """The service roles, network, firewall and the quadlet core read lgtm_* from common's defaults.
    A service role does not depend on network: the quadlet core brings it (see below)."""
    for role in [*SERVICES, "network", "firewall"]:
        meta = yaml.safe_load((ROOT / "roles" / role / "meta/main.yml").read_text())
        deps = [dep["role"] if isinstance(dep, dict) else dep for dep in meta["dependencies"]]
        assert deps == ["lgtm.stack.common"], role
    # A role included privately (tasks_from) hands the core variables that refer to lgtm_*:
    # the core reaches common's defaults only through a dependency of its own.
    quadlet = yaml.safe_load((ROOT / "roles/quadlet/meta/main.yml").read_text())
    assert [dep["role"] for dep in quadlet["dependencies"]] == ["lgtm.stack.common"]
    assert not (ROOT / "roles/network/defaults/main.yml").read_text().count("lgtm_")


def test_the_core_brings_the_network_once_per_run_in_the_task_a_service_skips_anyway():
    """Every service's call of the quadlet core starts with one task that an unchanged run
    skips: its condition holds the network role's guard (for every service but the network
    itself, which deploys through the core), and the file it includes runs network's once.yml
    under the same guard. common_network_signature, compared there, lives in common's vars (a
    service role does not load network's), covers everything network applies, and assumes
    network_state's default."""
    guard = ("common_validated | default('') != common_signature"
             " or network_applied | default('') != common_network_signature")
    deploy = yaml.safe_load((ROOT / "roles/quadlet/tasks/deploy.yml").read_text())
    first = deploy[0]
    assert first["ansible.builtin.include_tasks"] == "prepare.yml"
    assert f"(quadlet_service != 'network' and ({guard}))" in " ".join(first["when"].split())
    prepare = yaml.safe_load((ROOT / "roles/quadlet/tasks/prepare.yml").read_text())
    (network,) = [task for task in prepare if "ansible.builtin.include_role" in task]
    include = {"name": "lgtm.stack.network", "tasks_from": "once"}
    assert network["ansible.builtin.include_role"] == include
    assert network["when"] == ["quadlet_service != 'network'", guard]
    assert "common_network_signature" not in (ROOT / "roles/network/vars/main.yml").read_text()
    common_vars = yaml.safe_load((ROOT / "roles/common/vars/main.yml").read_text())
    signature = common_vars["common_network_signature"]
    network_default = yaml.safe_load((ROOT / "roles/network/defaults/main.yml").read_text())
    assert f"network_state | default('{network_default['network_state']}')" in signature
    unit_inputs = set(re.findall(r"\b(lgtm_\w+)\b",
                                 (ROOT / "roles/network/vars/main.yml").read_text()))
    deploy_inputs = set(re.findall(r"\b(lgtm_\w+)\b",
                                   (ROOT / "roles/network/tasks/deploy.yml").read_text()))
    assert unit_inputs | deploy_inputs <= set(re.findall(r"\b(lgtm_\w+)\b", signature))


def test_the_network_s_call_of_the_core_sets_every_input_a_service_s_call_could_leak():
    """The core runs the network role from inside a service's call (its first task), where
    that service's import vars (its config files, endpoints, TLS...) are in scope: the
    network's own call must name every input of the core's spec, at its default where the
    network has nothing to say, or it would deploy the service's files under the network
    (a loki scenario failed so: "unit lgtm-loki.container is not in units"). The paths of
    the core's own directories are not a role's to set."""
    spec = yaml.safe_load((ROOT / "roles/quadlet/meta/argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    tasks = yaml.safe_load((ROOT / "roles/network/tasks/deploy.yml").read_text())
    (call,) = [task for task in tasks if "ansible.builtin.import_role" in task]
    given = call["vars"]
    paths = {"quadlet_unit_dir", "quadlet_state_dir", "quadlet_candidate_dir"}
    assert set(options) - paths == set(given)
    network_own = {"quadlet_service", "quadlet_state", "quadlet_directories", "quadlet_units"}
    for name in set(given) - network_own:
        assert given[name] == options[name]["default"], name
