"""Preflight's checks of the inventory's groups, rendered as the play renders them."""

import pytest
from role_vars import render_cases

UNCLUSTERED = "each would run an unclustered Alertmanager"


def preflight_case(host: str, hosts: dict[str, list[str]],
                   render: str = "preflight_group_problems") -> dict:
    return {"role": "preflight", "host": host, "hosts": hosts, "render": [render]}


@pytest.fixture(scope="module")
def outcomes() -> dict[str, list[str]]:
    cases = {
        "one": preflight_case("a", {"a": ["alertmanager", "prometheus"], "b": ["prometheus"]}),
        "two, on one of them": preflight_case(
            "b", {"a": ["alertmanager"], "b": ["alertmanager", "prometheus"]}),
        "two, on a host without one": preflight_case(
            "c", {"a": ["alertmanager"], "b": ["alertmanager"], "c": ["prometheus"]}),
        "none": preflight_case("a", {"a": ["prometheus"]}),
        "unknown": preflight_case("a", {"a": ["lokki", "loki"]},
                                  render="preflight_unknown_group_problems"),
        "known": preflight_case("a", {"a": ["loki", "grafana"]},
                                render="preflight_unknown_group_problems"),
    }
    results = render_cases(list(cases.values()))
    rendered = {}
    for (name, case), result in zip(cases.items(), results):  # noqa: B905 - same length
        (variable,) = case["render"]
        assert result[variable]["error"] == ""
        rendered[name] = result[variable]["value"]
    return rendered


def test_more_than_one_alertmanager_fails_saying_why(outcomes):
    (problem,) = outcomes["two, on one of them"]
    assert problem.startswith("lgtm_alertmanager has 2 hosts (a, b): ")
    assert UNCLUSTERED in problem
    assert "once per host" in problem and "not supported yet" in problem


def test_one_alertmanager_or_none_is_fine(outcomes):
    assert outcomes["one"] == []
    assert outcomes["none"] == []


def test_reported_by_the_alertmanager_hosts_only(outcomes):
    assert outcomes["two, on a host without one"] == []


def test_a_group_naming_no_service_is_named_with_the_known_ones(outcomes):
    (problem,) = outcomes["unknown"]
    assert problem.startswith("inventory group lgtm_lokki names no service site.yml deploys")
    assert "(known: lgtm_loki, lgtm_tempo," in problem
    assert outcomes["known"] == []
