"""lgtm.stack.quadlet_service's action plugin: the role's checks first, the host only after."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.playbook.play_context import PlayContext
from ansible_collections.lgtm.stack.plugins.action.quadlet_service import ActionModule

CALL = {"name": "loki", "units": [{"name": "lgtm-loki.container", "sections": {}}]}


def run(args: dict[str, Any]) -> tuple[dict[str, Any], mock.MagicMock]:
    task = mock.MagicMock(args=args, check_mode=False, diff=False, async_val=0,
                          action="lgtm.stack.quadlet_service")
    connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir=None))
    action = ActionModule(task, connection, PlayContext(), loader=None, templar=None,
                          shared_loader_obj=None)
    execute = mock.MagicMock(return_value={"changed": False, "units": []})
    with mock.patch.object(action, "_execute_module", execute), \
            mock.patch.object(action, "_remove_tmp_path"):
        return action.run(task_vars={}), execute


def test_passing_checks_reach_the_module_without_the_checks() -> None:
    checks = [{"variable": "loki_http_port", "value": "3100", "kind": "port"}]
    result, execute = run({**CALL, "checks": checks})
    assert result.get("failed") is not True
    execute.assert_called_once()
    sent = execute.call_args.kwargs
    assert sent["module_name"] == "lgtm.stack.quadlet_service"
    assert sent["module_args"] == CALL, "the checks stay on the controller"


def test_failing_checks_name_every_problem_and_never_contact_the_host() -> None:
    checks = [{"variable": "loki_http_port", "value": "70000", "kind": "port"},
              {"variable": "loki_retention_period", "value": "thirty days", "kind": "duration"},
              {"variable": "loki_grpc_port", "value": "9095", "kind": "port"}]
    result, execute = run({**CALL, "checks": checks})
    assert result["failed"] is True and result["phase"] == "checks"
    assert [problem.split("=")[0] for problem in result["problems"]] == [
        "loki_http_port", "loki_retention_period"]
    assert "loki_http_port=70000 is invalid" in result["msg"]
    execute.assert_not_called()


def test_no_checks_is_the_module_alone() -> None:
    _result, execute = run(dict(CALL))
    assert execute.call_args.kwargs["module_args"] == CALL


@pytest.mark.parametrize("checks", [[{"value": "x"}], "loki_http_port"])
def test_malformed_checks_fail_the_task(checks: Any) -> None:
    with pytest.raises(AnsibleActionFail, match="checks"):
        run({**CALL, "checks": checks})


def test_removal_is_not_held_up_by_a_bad_setting() -> None:
    checks = [{"variable": "loki_http_port", "value": "70000", "kind": "port"}]
    result, execute = run({**CALL, "state": "absent", "checks": checks})
    assert result.get("failed") is not True
    assert execute.call_args.kwargs["module_args"] == {**CALL, "state": "absent"}
