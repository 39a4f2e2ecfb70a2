"""Each Molecule scenario declares the test images its hosts use (lgtm_test_images).

The harness builds only what a scenario declares, and run-all reports a scenario as
BLOCKED by exactly those images: an image used but not declared would be missing on the
host, one declared but unknown would block the scenario for nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(path.parent.name for path in (REPO / "molecule").glob("*/molecule.yml"))
RECIPES = REPO / "tests" / "testhost" / "images"
USED = re.compile(r"localhost/lgtm-test/([a-z0-9-]+):")


def recipe_names() -> set[str]:
    # Recipe names as written in the recipe modules (importing them needs the harness).
    names: set[str] = set()
    for module in RECIPES.glob("*.py"):
        names.update(re.findall(r'\bname="([a-z0-9-]+)"', module.read_text()))
    return names


def declared(scenario: str) -> list[str]:
    config = yaml.safe_load((REPO / "molecule" / scenario / "molecule.yml").read_text())
    images: list[str] = []
    for platform in config["platforms"]:
        assert "lgtm_test_images" in platform, f"{scenario}: {platform['name']} declares none"
        images += platform["lgtm_test_images"]
    return images


def used(scenario: str) -> set[str]:
    found: set[str] = set()
    for path in (REPO / "molecule" / scenario).rglob("*"):
        if path.is_file() and path.suffix in (".yml", ".yaml", ".py"):
            found.update(USED.findall(path.read_text()))
    return found


def test_every_scenario_is_checked() -> None:
    assert {"loki", "images", "stack", "network"} <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_declares_every_test_image_it_uses(scenario: str) -> None:
    missing = used(scenario) - set(declared(scenario))
    assert not missing, f"molecule/{scenario} uses but does not declare {sorted(missing)}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_declares_only_known_images(scenario: str) -> None:
    unknown = set(declared(scenario)) - recipe_names()
    assert not unknown, f"molecule/{scenario} declares images with no recipe: {sorted(unknown)}"
