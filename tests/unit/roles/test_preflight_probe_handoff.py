"""Roles that read preflight's probe instead of asking the host again.

site.yml's preflight probes the firewall's unit and rules file (preflight_firewall_paths)
so that a host which never had a guard skips the firewall's own probe, and the journal
directories Alloy mounts (preflight_journal_paths). Both sides name those paths: they
must agree (for the firewall with the default firewall_config_dir and with one set in
the inventory), or a leftover guard would go unnoticed and a journal unmounted.
"""

import pytest
from role_vars import render_cases

HOST = "a"
CUSTOM_DIR = {"firewall_config_dir": "/srv/lgtm/fw"}
UNIT = "/etc/systemd/system/lgtm-firewall.service"
RULES = "/etc/lgtm/firewall/lgtm-stack.nft"


def probe(**exists: bool) -> dict:
    """A preflight_probe result as lgtm.stack.host_probe registers it."""
    paths = {"/run/systemd/system": {"exists": True, "isdir": True}}
    paths |= {path: {"exists": found, "isdir": False} for path, found in exists.items()}
    return {"paths": paths, "commands": []}


def case(role: str, render: list[str], hostvars: dict | None = None) -> dict:
    # Preflight has no dependencies: it sees no role's defaults, only the inventory.
    return {"role": role, "host": HOST, "hosts": {HOST: ["loki"]},
            "hostvars": {HOST: hostvars or {}}, "render": render,
            "common_defaults": role != "preflight"}


def values(cases: dict[str, dict]) -> dict[str, dict]:
    results = render_cases(list(cases.values()))
    out = {}
    for name, result in zip(cases, results):  # noqa: B905 - same length
        for variable, outcome in result.items():
            assert outcome["error"] == "", (name, variable, outcome["error"])
        out[name] = {variable: outcome["value"] for variable, outcome in result.items()}
    return out


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict]:
    skip = ["firewall_nothing_to_remove", "firewall_wanted"]
    return values({
        "preflight default": case("preflight", ["preflight_firewall_paths"]),
        "preflight custom": case("preflight", ["preflight_firewall_paths"], CUSTOM_DIR),
        "firewall default": case("firewall", ["firewall_unit_file", "firewall_rules_file"]),
        "firewall custom": case("firewall", ["firewall_unit_file", "firewall_rules_file"],
                                CUSTOM_DIR),
        "nothing found": case("firewall", skip,
                              {"preflight_probe": probe(**{UNIT: False, RULES: False})}),
        "unit found": case("firewall", skip,
                           {"preflight_probe": probe(**{UNIT: True, RULES: False})}),
        "rules found": case("firewall", skip,
                            {"preflight_probe": probe(**{UNIT: False, RULES: True})}),
        "no preflight": case("firewall", skip),
        "other paths probed": case("firewall", skip,
                                   {**CUSTOM_DIR,
                                    "preflight_probe": probe(**{UNIT: False, RULES: False})}),
    })


@pytest.mark.parametrize("variant", ["default", "custom"])
def test_preflight_probes_the_paths_the_firewall_keeps_its_guard_at(rendered, variant):
    firewall = rendered[f"firewall {variant}"]
    assert rendered[f"preflight {variant}"]["preflight_firewall_paths"] == [
        firewall["firewall_unit_file"], firewall["firewall_rules_file"]]


def test_a_host_preflight_found_no_guard_on_skips_the_removal_path(rendered):
    assert rendered["nothing found"] == {"firewall_nothing_to_remove": True,
                                         "firewall_wanted": False}


@pytest.mark.parametrize("found", ["unit found", "rules found"])
def test_a_leftover_unit_or_rules_file_is_removed(rendered, found):
    assert rendered[found]["firewall_nothing_to_remove"] is False


@pytest.mark.parametrize("unknown", ["no preflight", "other paths probed"])
def test_without_preflight_s_answer_the_firewall_probes_itself(rendered, unknown):
    assert rendered[unknown]["firewall_nothing_to_remove"] is False


JOURNAL = ["/var/log/journal", "/run/log/journal", "/etc/machine-id"]
ALLOY = ["alloy_journal_seen_by_preflight", "alloy_journal_mounts", "alloy_journal_candidates"]


def alloy_case(**hostvars: object) -> dict:
    return {"role": "alloy", "host": HOST, "hosts": {HOST: ["alloy"]},
            "hostvars": {HOST: hostvars}, "render": ALLOY}


@pytest.fixture(scope="module")
def journal() -> dict[str, dict]:
    volatile = {"/var/log/journal": False, "/run/log/journal": True, "/etc/machine-id": True}
    persistent = {"/var/log/journal": True, "/run/log/journal": False, "/etc/machine-id": True}
    return values({
        "preflight": case("preflight", ["preflight_journal_paths"]),
        "seen by preflight": alloy_case(preflight_probe=probe(**volatile)),
        "alone": alloy_case(alloy_journal_paths={"paths": probe(**persistent)["paths"]}),
        "preflight without the journal": alloy_case(
            preflight_probe=probe(**{UNIT: False}),
            alloy_journal_paths={"paths": probe(**persistent)["paths"]}),
        "journal off": alloy_case(alloy_journal_enabled=False,
                                  preflight_probe=probe(**persistent)),
    })


def test_preflight_probes_the_journal_paths_alloy_mounts(journal):
    assert journal["preflight"]["preflight_journal_paths"] == JOURNAL
    assert journal["alone"]["alloy_journal_candidates"] == JOURNAL


def test_alloy_mounts_what_preflight_found_without_asking_again(journal):
    seen = journal["seen by preflight"]
    assert seen["alloy_journal_seen_by_preflight"] is True
    assert seen["alloy_journal_mounts"] == ["/run/log/journal", "/etc/machine-id"]


@pytest.mark.parametrize("name", ["alone", "preflight without the journal"])
def test_without_preflight_s_answer_alloy_mounts_what_its_own_probe_found(journal, name):
    assert journal[name]["alloy_journal_seen_by_preflight"] is False
    assert journal[name]["alloy_journal_mounts"] == ["/var/log/journal", "/etc/machine-id"]


def test_no_journal_mounts_when_the_journal_is_off(journal):
    assert journal["journal off"]["alloy_journal_mounts"] == []
