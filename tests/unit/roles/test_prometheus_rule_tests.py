"""Prometheus' alert rule tests run in the validators of the rules and of their tests:
each, once the core has put its candidate's path in (printf-style) and split it as
run_command does, mounts the candidate where the tests expect it and carries the other
file, byte for byte, in the environment."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from role_vars import run_helper

RULES = "/etc/lgtm/prometheus/rules/lgtm.yml"
TESTS = "/etc/lgtm/prometheus/rules/tests/lgtm.yml"
CANDIDATE = "/var/lib/lgtm/.state/candidates/prometheus/.check-x/abc-lgtm.yml"


@pytest.fixture(scope="module")
def files() -> list[dict[str, dict[str, Any]]]:
    outcomes = run_helper("render_units.py", [
        {"role": "prometheus"},
        {"role": "prometheus", "vars": {"prometheus_alert_rule_tests": []}},
    ])
    return [{entry["dest"]: entry for entry in outcome["validated_files"]}
            for outcome in outcomes]


def argv(entry: dict[str, Any]) -> list[str]:
    return shlex.split(entry["validate"] % CANDIDATE)


def env(args: list[str]) -> str:
    prefix = "--env=LGTM_OTHER="
    return next(arg for arg in args if arg.startswith(prefix))[len(prefix):]


def test_the_rules_validator_checks_them_and_runs_the_tests_as_they_will_be(files):
    entries = files[0]
    args = argv(entries[RULES])
    assert f"--volume={CANDIDATE}:/tmp/lgtm/rules/lgtm.yml:ro" in args
    # The rules hold '%' (printf in annotations): doubled for the core, single here.
    assert "%" in entries[RULES]["content"]
    assert env(args) == entries[TESTS]["content"]
    script = args[-1]
    assert script.startswith("/bin/promtool check rules /tmp/lgtm/rules/lgtm.yml && ")
    assert 'printf %s "$LGTM_OTHER" > /tmp/lgtm/rules/tests/lgtm.yml' in script
    assert script.endswith("cd /tmp/lgtm/rules/tests && /bin/promtool test rules lgtm.yml")


def test_the_tests_validator_runs_them_against_the_rules_as_they_will_be(files):
    entries = files[0]
    args = argv(entries[TESTS])
    assert f"--volume={CANDIDATE}:/tmp/lgtm/rules/tests/lgtm.yml:ro" in args
    assert env(args) == entries[RULES]["content"]
    assert args[-1] == ('printf %s "$LGTM_OTHER" > /tmp/lgtm/rules/lgtm.yml'
                        " && cd /tmp/lgtm/rules/tests && /bin/promtool test rules lgtm.yml")


def test_without_tests_the_rules_are_only_checked(files):
    entries = files[1]
    assert TESTS not in entries
    args = argv(entries[RULES])
    assert args[-3:] == ["check", "rules", "/tmp/candidate.yml"]
    assert f"--volume={CANDIDATE}:/tmp/candidate.yml:ro" in args
