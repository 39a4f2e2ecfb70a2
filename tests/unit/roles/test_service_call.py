"""Every role's call of the quadlet core, rendered as Ansible would, is one the module
takes: its argument spec and its expansion accept it, with TLS off and on, and the
expansion puts the TLS files first in the restart list of the unit that serves TLS.
"""

import json
from typing import Any

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils.catalog import SERVICES
from role_vars import run_helper

TLS = {
    "lgtm_tls_enabled": True,
    "lgtm_tls_certificate": "-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n",
    "lgtm_tls_private_key": "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n",
    "lgtm_tls_ca_certificate": "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n",
}
CASES: list[dict[str, Any]] = (
    [{"role": role} for role in SERVICES] + [{"role": role, "vars": TLS} for role in SERVICES]
)


def ident(case: dict[str, Any]) -> str:
    return case["role"] + (" tls" if "vars" in case else "")


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return run_helper("render_units.py", CASES)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[ident(case) for case in CASES])
def test_the_module_takes_the_call(rendered, index):
    outcome = rendered[index]
    assert outcome["service_errors"] == [], json.dumps(outcome["service_errors"])


@pytest.mark.parametrize("index", range(len(SERVICES)), ids=list(SERVICES))
def test_tls_files_come_first_in_the_serving_unit_s_restart_list(rendered, index):
    plain = rendered[index]["expanded"]
    tls = rendered[len(SERVICES) + index]["expanded"]
    assert plain["tls_files"] == []
    if not tls["tls_files"]:
        return  # a service that serves no TLS of its own
    certificate, key, ca = tls["tls_files"]
    serving = [name for name, unit in tls["units"].items() if certificate in unit["restart_on"]]
    assert len(serving) == 1
    restart_on = tls["units"][serving[0]]["restart_on"]
    assert restart_on[:2] == [certificate, key]
    assert ca not in restart_on
    assert restart_on[2:] == plain["units"][serving[0]]["restart_on"]
    assert all(endpoint["url"].startswith("https://") for endpoint in tls["endpoints"]
               if "url" in endpoint and endpoint.get("ca_path") == ca)
