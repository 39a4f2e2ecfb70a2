"""lgtm.stack.check_settings: every setting of a host's roles in one pass, each problem named."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.template import Templar, trust_as_template
from ansible_collections.lgtm.stack.plugins.action.check_settings import ActionModule

PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


def check(roles: list[str], **settings: Any) -> dict[str, Any]:
    task = mock.MagicMock(args={"roles": roles}, check_mode=False, diff=False, async_val=0,
                          action="lgtm.stack.check_settings")
    templar = Templar(loader=DataLoader(), variables=settings)
    action = ActionModule(task, SimpleNamespace(_shell=mock.MagicMock()), PlayContext(),
                          loader=DataLoader(), templar=templar, shared_loader_obj=None)
    return action.run(task_vars=settings)


def test_settings_that_fit_are_no_problem() -> None:
    result = check(["common", "network", "loki"], lgtm_listen_address="10.0.0.5",
                   loki_http_port=3100, loki_retention_period="30d")
    assert result["problems"] == [] and result["unresolved"] == []
    assert result["changed"] is False


def test_only_what_is_set_is_checked_not_the_defaults() -> None:
    assert check(["common", "loki", "grafana"])["problems"] == []


def test_a_value_of_the_wrong_type_is_named_with_its_role() -> None:
    (problem,) = check(["common", "loki"], loki_http_port="not a port")["problems"]
    assert problem.startswith("loki: ") and "loki_http_port" in problem


def test_an_unknown_choice_is_named() -> None:
    (problem,) = check(["common"], lgtm_metrics_backend="influx")["problems"]
    assert problem.startswith("common: ") and "lgtm_metrics_backend" in problem
    assert "influx" in problem


def test_a_value_that_cannot_be_templated_is_named_once() -> None:
    result = check(["common", "grafana"],
                   grafana_admin_password=trust_as_template(
                       "{{ lookup('ansible.builtin.file', '/nonexistent/pw') }}"),
                   grafana_http_port=trust_as_template("{{ undefined_port_variable }}"))
    assert sorted(result["unresolved"]) == ["grafana_admin_password", "grafana_http_port"]
    assert len(result["problems"]) == 2
    assert all(" cannot be resolved (a lookup or template in its value fails: " in problem
               for problem in result["problems"])
    assert any(problem.startswith("grafana_admin_password ") for problem in result["problems"])


def test_a_templated_value_is_checked_for_what_it_becomes() -> None:
    result = check(["common"], backend="influx",
                   lgtm_metrics_backend=trust_as_template("{{ backend }}"))
    (problem,) = result["problems"]
    assert "lgtm_metrics_backend" in problem and "influx" in problem


@pytest.mark.parametrize(("setting", "value"), [
    ("loki_retention_period", "thirty days"),
    ("tempo_retention_period", "2d"),
    ("mimir_retention_period", "forever"),
])
def test_a_malformed_duration_is_named_with_the_shape_wanted(setting: str, value: str) -> None:
    service = setting.split("_", 1)[0]
    (problem,) = check(["common", service], **{setting: value})["problems"]
    assert problem.startswith(f"{service}: {setting}={value} is invalid: a duration")


def test_a_duration_of_a_role_the_host_does_not_run_is_not_checked() -> None:
    assert check(["common", "loki"], tempo_retention_period="2d")["problems"] == []


def test_tls_texts_must_be_pem_when_tls_is_on_for_a_host_serving_it() -> None:
    problems = check(["common", "loki"], lgtm_tls_enabled=True, lgtm_tls_certificate=PEM_CERT,
                     lgtm_tls_private_key="not a key", lgtm_tls_ca_certificate="")["problems"]
    assert [problem.split(" ", 1)[0] for problem in problems] == [
        "lgtm_tls_private_key", "lgtm_tls_ca_certificate"]
    assert all("because lgtm_tls_enabled is true and this host runs loki" in problem
               for problem in problems)
    assert not any("not a key" in problem for problem in problems), "the key is never shown"


def test_tls_off_or_no_tls_service_needs_no_texts() -> None:
    assert check(["common", "loki"], lgtm_tls_enabled=False)["problems"] == []
    assert check(["common", "glitchtip"], lgtm_tls_enabled=True)["problems"] == []
    assert check(["common", "loki"], lgtm_tls_enabled=True, lgtm_tls_certificate=PEM_CERT,
                 lgtm_tls_private_key=PEM_KEY, lgtm_tls_ca_certificate=PEM_CERT)["problems"] == []


def test_an_unknown_role_fails_the_task() -> None:
    with pytest.raises(AnsibleActionFail, match="lokki not among"):
        check(["common", "lokki"])
