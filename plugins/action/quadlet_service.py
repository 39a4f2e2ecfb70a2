# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lgtm.stack.quadlet_service's controller half: the role's setting checks, then the module.

A role's checks (checks: variable, value, kind or valid) ran as an assert task of their
own before its deploy call; here they run on the controller in the same task, before
anything is sent to the host, so an unchanged run pays one task per service, not two.
A failing check fails the task with every problem named, and the host is not contacted.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash
from ansible_collections.lgtm.stack.plugins.module_utils import setting_checks


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(
        self, tmp: str | None = None, task_vars: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        module_args = dict(self._task.args)
        checks = module_args.pop("checks", None) or []
        if module_args.get("state") == "absent":
            checks = []  # removal needs no settings checked, and must not be held up by one
        if not isinstance(checks, list):
            raise AnsibleActionFail("checks must be a list of setting checks")
        try:
            problems = setting_checks.problems(checks)
        except setting_checks.CheckError as error:
            raise AnsibleActionFail(f"checks: {error}") from None
        if problems:
            result.update(failed=True, phase="checks", problems=problems,
                          msg="; ".join(problems))
            return result
        result = merge_hash(result, self._execute_module(
            module_name="lgtm.stack.quadlet_service", module_args=module_args,
            task_vars=task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)  # noqa: SLF001 - as ansible's own
        return result
