"""The quadlet core's container hardening and the catalog's confinement table."""

import re
from pathlib import Path

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils import hardening
from ansible_collections.lgtm.stack.plugins.module_utils.catalog import (
    CONFINEMENT,
    SERVICES,
    Confinement,
)

README = Path(__file__).resolve().parents[4] / "README.md"


def unit(name: str, **container: object) -> dict:
    return {"name": name, "sections": {"Unit": {"Description": name}, "Container": container}}


def test_a_known_container_gets_the_catalogs_confinement():
    [result] = hardening.harden([unit("lgtm-loki.container", Image="i", ContainerName="lgtm-loki")])
    assert result["sections"]["Container"] == {
        "Image": "i",
        "ContainerName": "lgtm-loki",
        "NoNewPrivileges": True,
        "DropCapability": "all",
        "ReadOnly": True,
    }
    assert result["sections"]["Unit"] == {"Description": "lgtm-loki.container"}


def test_capabilities_and_tmpfs_the_confinement_names_are_written(monkeypatch):
    monkeypatch.setitem(
        hardening.CONFINEMENT,  # type: ignore[arg-type]
        "c",
        Confinement(capabilities={"NET_BIND_SERVICE": "port 80", "CHOWN": "x"},
                    tmpfs={"/var/cache/x": "cache", "/var/log/x": "log"}),
    )
    [result] = hardening.harden([unit("c.container", ContainerName="c")])
    container = result["sections"]["Container"]
    assert container["AddCapability"] == "CHOWN NET_BIND_SERVICE"
    assert container["Tmpfs"] == ["/var/cache/x", "/var/log/x"]


def test_a_writable_root_gets_no_tmpfs_and_no_read_only(monkeypatch):
    monkeypatch.setitem(hardening.CONFINEMENT, "c",  # type: ignore[arg-type]
                        Confinement(read_only=False, tmpfs={"/x": "y"}))
    [result] = hardening.harden([unit("c.container", ContainerName="c")])
    assert "ReadOnly" not in result["sections"]["Container"]
    assert "Tmpfs" not in result["sections"]["Container"]


def test_an_unknown_container_gets_the_strictest_set():
    [result] = hardening.harden([unit("mine.container", Image="i")])
    assert result["sections"]["Container"]["ReadOnly"] is True
    assert "AddCapability" not in result["sections"]["Container"]


def test_a_key_the_role_sets_is_kept():
    [result] = hardening.harden([unit("a.container", ContainerName="lgtm-loki", ReadOnly=False)])
    assert result["sections"]["Container"]["ReadOnly"] is False
    assert result["sections"]["Container"]["NoNewPrivileges"] is True


def test_turned_off_or_not_a_container_nothing_changes():
    units = [unit("a.container", ContainerName="lgtm-loki"),
             {"name": "n.network", "sections": {"Network": {}}}]
    assert hardening.harden(units, enabled=False) == units
    assert hardening.harden(units)[1] == units[1]


def test_a_container_unit_without_a_container_section_is_named():
    with pytest.raises(hardening.HardeningError, match="x.container"):
        hardening.harden([{"name": "x.container", "sections": {"Unit": {}}}])


def test_the_catalog_confines_every_container_it_knows():
    known = {container for service in SERVICES.values() for container in service.containers}
    assert set(CONFINEMENT) == known


def test_the_readme_table_names_every_containers_user():
    text = README.read_text()
    table = text.split("### Hardening", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `([a-z-]+)` \| (.+?) \|", "|" + table, re.M)
    }
    assert rows == {name: confined.user for name, confined in CONFINEMENT.items()}
