"""The service catalog against what the roles hold literally.

Ports, images and durations have their defaults in each role's defaults/main.yml
and meta/argument_specs.yml (argument validation and ansible-doc need them there);
the catalog names them once for everything else. These tests keep the three in
step, and the generated role_specs.py in step with the argument specs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.filter.catalog import catalog
from ansible_collections.lgtm.stack.plugins.module_utils import catalog as cat
from ansible_collections.lgtm.stack.plugins.module_utils.role_specs import ROLE_SPECS

ROOT = Path(__file__).resolve().parents[4]
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir())
SERVICES = list(cat.SERVICES)


def spec_options(role: str) -> dict[str, Any]:
    spec = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    entry_points = spec["argument_specs"]
    # common and network keep their settings in their one guarded entry point.
    return entry_points["main" if "main" in entry_points else next(iter(entry_points))]["options"]


def role_defaults(role: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text()) or {}


def role_text(role: str) -> str:
    return "\n".join(path.read_text() for path in sorted((ROOT / "roles" / role).rglob("*"))
                     if path.is_file() and path.suffix in (".yml", ".j2"))


def literal(role: str, variable: str) -> tuple[Any, Any]:
    """The default of `variable` in the role's argument spec and in its defaults/main.yml."""
    options, defaults = spec_options(role), role_defaults(role)
    assert variable in options, f"{role}: {variable} is not in meta/argument_specs.yml"
    assert variable in defaults, f"{role}: {variable} is not in defaults/main.yml"
    return options[variable].get("default"), defaults[variable]


def test_every_role_and_service_is_known():
    assert sorted(cat.table("roles")) == ROLES
    assert sorted(cat.DEPLOYMENT_ORDER) == sorted(SERVICES) == sorted(cat.SUMMARY_ORDER)


def site_plays() -> list[dict]:
    return yaml.safe_load((ROOT / "playbooks/site.yml").read_text())


def imported_roles(plays: list[dict]) -> dict[str, dict]:
    """site.yml's roles that its plays import as tasks, by name without the namespace."""
    return {task["ansible.builtin.import_role"]["name"].removeprefix("lgtm.stack."):
            task["ansible.builtin.import_role"] for play in plays
            for task in play.get("tasks", []) if "ansible.builtin.import_role" in task}


def test_the_deployment_order_is_site_yml_s():
    plays = site_plays()
    roles = [role["role"].removeprefix("lgtm.stack.") for play in plays
             for role in play.get("roles", [])] + list(imported_roles(plays))
    assert [role for role in roles if role in SERVICES] == list(cat.DEPLOYMENT_ORDER)


def test_site_yml_skips_only_the_role_validation_preflight_repeats():
    """A service play imports its role without Ansible's argument validation, which
    preflight (tags always) ran against the same specs for every host; the roles that
    preflight does not check keep theirs."""
    plays = site_plays()
    imported = imported_roles(plays)
    assert sorted(imported) == sorted(SERVICES)
    assert all(role["rolespec_validate"] is False for role in imported.values())
    assert "always" in plays[0]["roles"][0]["tags"]
    assert plays[0]["roles"][0]["role"] == "lgtm.stack.preflight"


@pytest.mark.parametrize("service", SERVICES)
def test_port_defaults_are_the_roles(service):
    for name, port in cat.SERVICES[service].ports.items():
        spec_default, default = literal(service, port.variable)
        assert spec_default == default == port.default, f"{service} port {name}"
        assert spec_options(service)[port.variable]["type"] == "int"


@pytest.mark.parametrize("service", SERVICES)
def test_image_defaults_are_the_roles(service):
    images = cat.SERVICES[service].images
    assert images, f"{service} pins no image"
    declared = {name for name in role_defaults(service) if name.endswith("_image")}
    assert {image.variable for image in images} == declared
    text = role_text(service)
    for image in images:
        spec_default, default = literal(service, image.variable)
        assert spec_default == default and ":" in default, f"{image.variable} is not pinned"
        assert ROLE_SPECS[service][image.variable]["default"] == default
        assert image.unit.removesuffix(".container") in cat.SERVICES[service].containers
        assert f"'ContainerName': '{image.unit.removesuffix('.container')}'" in text \
            or f"ContainerName: {image.unit.removesuffix('.container')}" in text


@pytest.mark.parametrize("service", SERVICES)
def test_containers_are_the_roles(service):
    text = role_text(service)
    for container in cat.SERVICES[service].containers:
        assert re.search(rf"ContainerName'?: '?{container}\b", text), container


@pytest.mark.parametrize("service", SERVICES)
def test_durations_are_the_roles_and_checked_alike(service):
    """Each duration setting exists with a well-formed default, and the role's own
    quadlet check uses the kind preflight checks it with."""
    durations = cat.SERVICES[service].durations
    checks = dict(re.findall(r'\{variable: (\w+), value: "[^"]*", kind: (\w*duration)\}',
                             role_text(service)))
    assert checks == dict(durations)
    for variable, kind in durations.items():
        spec_default, default = literal(service, variable)
        assert spec_default == default
        assert re.match(cat.DURATION_KINDS[kind]["pattern"], str(default)), variable


@pytest.mark.parametrize("service", [name for name in SERVICES if cat.SERVICES[name].backup])
def test_backups_are_the_roles(service):
    backup = cat.SERVICES[service].backup
    spec_default, default = literal(service, backup.dir_variable)
    assert spec_default == default
    assert backup.unit in cat.SERVICES[service].units
    assert f"{backup.unit.removesuffix('.service')}" in role_text(service)
    images = {image.name for image in cat.SERVICES[service].images}
    assert set(backup.when_changed) <= images


@pytest.mark.parametrize("service", [name for name in SERVICES if cat.SERVICES[name].secrets])
def test_secret_files_are_the_roles(service):
    assert f"{service}_config_dir" in spec_options(service)
    text = role_text(service)
    for path in cat.SERVICES[service].secrets.values():
        assert path.split("/")[-1] in text, path


def test_consumers_are_services():
    for service in cat.SERVICES.values():
        assert set(service.consumers) <= set(SERVICES) - {service.name}
    assert set(cat.METRICS_BACKENDS) <= set(SERVICES)


def test_role_specs_are_the_argument_specs_without_descriptions():
    def without(options: dict[str, Any]) -> dict[str, Any]:
        return {name: {key: (without(value) if key == "options" and isinstance(value, dict)
                             else value)
                       for key, value in option.items() if key != "description"}
                for name, option in options.items()}

    assert sorted(ROLE_SPECS) == ROLES
    for role in ROLES:
        # Same options, same order (preflight lists and checks them in this order).
        assert json.dumps(ROLE_SPECS[role]) == json.dumps(without(spec_options(role))), role


@pytest.mark.parametrize("view", ["services", "summary_order", "roles", "containers", "units",
                                  "ports", "tls", "consumers", "consumes", "duration_kinds",
                                  "durations", "images", "pins", "backups", "secrets",
                                  "metrics_backends", "specs"])
def test_every_view_is_plain_data(view):
    value = catalog(view)
    assert value
    assert json.loads(json.dumps(value)) == value


def test_views_roles_read():
    assert catalog("tls") == ["loki", "tempo", "mimir", "prometheus", "alertmanager"]
    assert catalog("consumes")["grafana"] == ["loki", "tempo", "mimir", "prometheus"]
    assert [pin["name"] for pin in catalog("pins")] == [
        "loki", "tempo", "mimir", "prometheus", "glitchtip_postgres", "glitchtip_valkey",
        "glitchtip", "alloy", "grafana"]
    assert catalog("ports")["glitchtip"]["http"] == {
        "variable": "glitchtip_http_port", "default": 8200, "container_port": 8000,
        "grpc": False, "tls": False}


def test_a_copy_each_time():
    catalog("specs")["loki"].clear()
    catalog("ports")["loki"].clear()
    assert catalog("specs")["loki"] and catalog("ports")["loki"]


def test_an_unknown_view_names_the_known_ones():
    with pytest.raises(AnsibleFilterError, match="no 'port'.*ports.*specs"):
        catalog("port")
