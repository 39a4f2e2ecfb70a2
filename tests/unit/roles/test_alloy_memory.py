"""Alloy's container memory limit and the OTLP memory limiter sized from it, rendered
as the play renders them (the config file and the unit's sections)."""

import re

import pytest
from role_vars import render_cases

RENDER = ["alloy_config", "alloy_unit_sections"]


def alloy_case(**settings: object) -> dict:
    return {"role": "alloy", "host": "h", "hosts": {"h": ["alloy", "loki", "tempo", "mimir"]},
            "hostvars": {"h": dict(settings)}, "render": RENDER}


CASES = {
    "defaults": alloy_case(),
    "512m at 50%": alloy_case(alloy_memory_limit="512m", alloy_otlp_memory_limit_percentage=50),
    "2g at 90%": alloy_case(alloy_memory_limit="2g", alloy_otlp_memory_limit_percentage=90),
    "64m at 10%": alloy_case(alloy_memory_limit="64m", alloy_otlp_memory_limit_percentage=10),
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict]:
    results = render_cases(list(CASES.values()))
    outcome = {}
    for name, result in zip(CASES, results):  # noqa: B905 - same length, checked in render_cases
        assert {var: value["error"] for var, value in result.items()} == dict.fromkeys(RENDER, "")
        outcome[name] = {var: value["value"] for var, value in result.items()}
    return outcome


def limiter(config: str) -> dict[str, str]:
    block = re.search(r'otelcol\.processor\.memory_limiter "default" \{\n(.*?)\n  output', config,
                      re.DOTALL)
    assert block, config
    return dict(re.findall(r'^  (\w+) += (.+)$', block.group(1), re.MULTILINE))


@pytest.mark.parametrize(("name", "limit", "spike", "memory"), [
    ("defaults", 819, 204, "1g"),
    ("512m at 50%", 256, 64, "512m"),
    ("2g at 90%", 1843, 460, "2g"),
    ("64m at 10%", 6, 1, "64m"),
])
def test_limiter_is_sized_from_the_container_limit(rendered, name, limit, spike, memory):
    assert limiter(rendered[name]["alloy_config"]) == {
        "check_interval": '"1s"', "limit": f'"{limit}MiB"', "spike_limit": f'"{spike}MiB"'}
    assert f"--memory={memory}" in rendered[name]["alloy_unit_sections"]["Container"]["PodmanArgs"]


def test_nothing_is_a_share_of_what_alloy_finds(rendered):
    for outcome in rendered.values():
        assert "percentage" not in outcome["alloy_config"]
