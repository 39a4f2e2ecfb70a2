"""Every role's units, rendered as the quadlet core writes them, carry the right SELinux label.

These test hosts cannot enforce SELinux (systemd-nspawn containers on a host without
it), so enforcing mode is checked here, by rendering: the labels are written on every
host, whatever its SELinux mode, and Podman applies them where SELinux is on. Each
bind mount of a container that keeps label separation must carry Z when no other
container of the same call of the core mounts it (or a directory inside or above it),
z when another does; a container with label separation off must carry none.
"""

import json
import posixpath
from typing import Any

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils.catalog import SERVICES
from role_vars import run_helper

GLITCHTIP_5 = {"glitchtip_image": "docker.io/glitchtip/glitchtip:5.1"}
CASES: list[dict[str, Any]] = [{"role": role} for role in SERVICES] + [
    {"role": "glitchtip", "vars": GLITCHTIP_5},
    {"role": "alloy", "vars": {"alloy_journal_enabled": False}},
]


def ident(case: dict[str, Any]) -> str:
    return case["role"] + (" " + json.dumps(case["vars"]) if "vars" in case else "")


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return run_helper("render_units.py", CASES)


def volumes(unit: dict[str, Any]) -> list[str]:
    value = unit["sections"].get("Container", {}).get("Volume", [])
    return value if isinstance(value, list) else [value]


def bind_mounts(unit: dict[str, Any]) -> list[tuple[str, list[str]]]:
    found = []
    for volume in volumes(unit):
        parts = volume.split(":")
        if parts[0].startswith("/"):
            found.append(
                (posixpath.normpath(parts[0]), parts[2].split(",") if len(parts) == 3 else [])
            )
    return found


def separated(unit: dict[str, Any]) -> bool:
    return unit["sections"].get("Container", {}).get("SecurityLabelDisable") is not True


def inside(first: str, second: str) -> bool:
    return first == second or first.startswith(second + "/") or second.startswith(first + "/")


@pytest.mark.parametrize("index", range(len(CASES)), ids=[ident(case) for case in CASES])
def test_every_bind_mount_carries_its_label(rendered, index):
    outcome = rendered[index]
    assert "units_error" not in outcome, outcome.get("units_error")
    units = [unit for unit in outcome["units"] if unit["name"].endswith(".container")]
    mounts = [
        (unit["name"], source)
        for unit in units
        if separated(unit)
        for source, _options in bind_mounts(unit)
    ]
    checked = 0
    for unit in units:
        for source, options in bind_mounts(unit):
            labels = [option for option in options if option in ("z", "Z")]
            if not separated(unit):
                assert labels == [], f"{unit['name']}: {source} relabelled with separation off"
                continue
            shared = any(other != unit["name"] and inside(path, source) for other, path in mounts)
            assert labels == ["z" if shared else "Z"], f"{unit['name']}: {source} {options}"
            checked += 1
    # Every role mounts something a label goes on, except Alloy reading the journal.
    assert checked or CASES[index] == {"role": "alloy"}


def by_name(outcome: dict[str, Any]) -> dict[str, list[str]]:
    return {unit["name"]: volumes(unit) for unit in outcome["units"]}


def test_glitchtip_web_and_worker_share_uploads_and_keep_the_rest_private(rendered):
    for outcome in (
        rendered[CASES.index({"role": "glitchtip"})],
        rendered[CASES.index({"role": "glitchtip", "vars": GLITCHTIP_5})],
    ):
        units = by_name(outcome)
        assert units["lgtm-glitchtip-web.container"] == [
            "/var/lib/lgtm/glitchtip/uploads:/code/uploads:z"
        ]
        assert units["lgtm-glitchtip-worker.container"] == [
            "/var/lib/lgtm/glitchtip/uploads:/code/uploads:z"
        ]
        assert units["lgtm-glitchtip-postgres.container"] == [
            "/var/lib/lgtm/glitchtip/postgres:/var/lib/postgresql:Z"
        ]
        assert units["lgtm-glitchtip-migrate.container"] == [
            "/etc/lgtm/glitchtip/scripts:/etc/lgtm-glitchtip:ro,Z"
        ]


def test_read_only_options_are_kept_with_the_label(rendered):
    assert by_name(rendered[CASES.index({"role": "loki"})])["lgtm-loki.container"] == [
        "/etc/lgtm/loki:/etc/loki:ro,Z",
        "/var/lib/lgtm/loki:/loki:Z",
    ]


def test_alloy_reads_the_journal_without_label_separation_and_relabels_nothing(rendered):
    unit = rendered[CASES.index({"role": "alloy"})]["units"][0]
    assert unit["sections"]["Container"]["SecurityLabelDisable"] is True
    assert volumes(unit) == [
        "/etc/lgtm/alloy:/etc/alloy:ro",
        "/var/lib/lgtm/alloy:/var/lib/alloy/data",
        "/var/log/journal:/var/log/journal:ro",
        "/run/log/journal:/run/log/journal:ro",
        "/etc/machine-id:/etc/machine-id:ro",
    ]


def test_alloy_without_the_journal_keeps_label_separation(rendered):
    unit = rendered[CASES.index({"role": "alloy", "vars": {"alloy_journal_enabled": False}})][
        "units"
    ][0]
    assert "SecurityLabelDisable" not in unit["sections"]["Container"]
    assert volumes(unit) == [
        "/etc/lgtm/alloy:/etc/alloy:ro,Z",
        "/var/lib/lgtm/alloy:/var/lib/alloy/data:Z",
    ]


PROBES = {
    "enforcing, nothing missing": {"mode": "enforcing", "library": True, "container_policy": True},
    "enforcing, both missing": {"mode": "enforcing", "library": False, "container_policy": False},
    "permissive, both missing": {"mode": "permissive", "library": False, "container_policy": False},
    "disabled": {"mode": "disabled", "library": True, "container_policy": False},
}


@pytest.fixture(scope="module")
def preflight() -> dict[str, dict[str, Any]]:
    cases = [{"probe": {"selinux": seen}} for seen in PROBES.values()]
    outcomes = run_helper("render_units.py", cases)
    return dict(zip(PROBES, outcomes))  # noqa: B905 - one outcome per case, checked


def test_preflight_asks_the_host_for_selinux_and_reports_its_mode(preflight):
    assert all(outcome["probes_selinux"] is True for outcome in preflight.values())
    assert preflight["disabled"]["problems"] == []
    assert preflight["disabled"]["report"].endswith("can be deployed (SELinux disabled)")
    assert preflight["permissive, both missing"]["problems"] == []
    assert preflight["enforcing, nothing missing"]["report"].endswith("(SELinux enforcing)")


def test_preflight_fails_an_enforcing_host_naming_what_is_missing(preflight):
    outcome = preflight["enforcing, both missing"]
    assert len(outcome["problems"]) == 2
    assert "is not ready for the stack" in outcome["report"]
    assert "python3-libselinux" in outcome["report"] and "container-selinux" in outcome["report"]
    assert outcome["report"].endswith("(SELinux enforcing)")
