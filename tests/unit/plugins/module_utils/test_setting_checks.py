"""The roles' shape checks (lgtm.stack.setting_problems): each failing setting named."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.filter.settings import setting_problems
from ansible_collections.lgtm.stack.plugins.module_utils import catalog, setting_checks


def check(variable: str, value: object, kind: str) -> dict[str, object]:
    return {"variable": variable, "value": value, "kind": kind}


@pytest.mark.parametrize(("value", "ok"), [
    (1, True), (65535, True), ("3100", True), (0, False), (65536, False), ("31OO", False),
    (-1, False), ("", False), (None, False),
])
def test_ports(value, ok):
    assert (setting_problems([check("loki_http_port", value, "port")]) == []) is ok


def test_a_bad_port_is_named_with_its_value_and_what_is_expected():
    assert setting_problems([check("loki_http_port", 70000, "port")]) == [
        "loki_http_port=70000 is invalid: a port number from 1 to 65535"]


@pytest.mark.parametrize(("kind", "value", "ok"), [
    ("duration", "720h", True), ("duration", "30d", True), ("duration", "1h30m", True),
    ("duration", "thirty days", False), ("duration", "", False), ("duration", "2.5h", False),
    ("go_duration", "48h", True), ("go_duration", "1.5h", True), ("go_duration", "2d", False),
    ("size", "", True), ("size", "512m", True), ("size", "2g", True), ("size", "2gb", False),
    ("size", "lots", False),
])
def test_kinds(kind, value, ok):
    assert (setting_problems([check("x", value, kind)]) == []) is ok


def test_duration_shapes_are_the_catalog_s():
    for kind, shape in catalog.DURATION_KINDS.items():
        assert setting_checks.KINDS[kind] == shape


@pytest.mark.parametrize(("valid", "ok"), [
    (True, True), ("True", True), ("yes", True), (False, False), ("False", False), ("", False),
])
def test_own_valid_as_ansible_reads_a_boolean(valid, ok):
    entry = {"variable": "grafana_users", "value": "admin", "valid": valid,
             "expected": "distinct logins"}
    found = setting_problems([entry])
    assert found == ([] if ok else ["grafana_users=admin is invalid: distinct logins"])


def test_every_failing_setting_is_reported_at_once():
    found = setting_problems([
        check("loki_retention_period", "thirty days", "duration"),
        check("loki_http_port", 3100, "port"),
        check("loki_memory_limit", "lots", "size"),
    ])
    assert [message.split("=")[0] for message in found] == [
        "loki_retention_period", "loki_memory_limit"]


def test_ports_that_clash_are_named_with_their_values():
    found = setting_problems([
        check("loki_http_port", 3100, "port"), check("loki_grpc_port", "3100", "port")])
    assert found == ["loki_http_port, loki_grpc_port must all differ; got 3100, 3100"]


def test_different_ports_pass():
    assert setting_problems([
        check("a_port", 3100, "port"), check("b_port", 9095, "port")]) == []


@pytest.mark.parametrize("checks", [
    "loki_http_port",
    [{"value": 1, "kind": "port"}],
    [{"variable": "x", "value": 1, "kind": "colour"}],
    [{"variable": "x", "value": 1, "valid": True}],
])
def test_a_malformed_check_is_the_role_s_bug_and_says_so(checks):
    with pytest.raises(AnsibleFilterError):
        setting_problems(checks)
