"""Each role's argument_specs, defaults and README reference agree."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import argspec_docs  # noqa: E402

ROLES = sorted(path.parts[-3] for path in ROOT.glob("roles/*/meta/argument_specs.yml"))


def spec_options(role: str) -> dict:
    spec = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


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
