# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every setting of the roles a host runs, checked on the controller in one task.

What the preflight role did in six tasks (a loop resolving each setting, a loop of
validate_argument_spec, and set_fact steps for durations and TLS texts) is one pass
here: no module, no host, no template compiled per setting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.lgtm.stack.plugins.module_utils import catalog, setting_checks
from ansible_collections.lgtm.stack.plugins.module_utils.role_specs import ROLE_SPECS

ARGUMENT_SPEC: dict[str, Any] = {
    "roles": {"type": "list", "elements": "str", "required": True},
}
TLS_TEXTS = (
    ("lgtm_tls_certificate", "-----BEGIN CERTIFICATE-----"),
    ("lgtm_tls_private_key", "PRIVATE KEY-----"),
    ("lgtm_tls_ca_certificate", "-----BEGIN CERTIFICATE-----"),
)
UNRESOLVED_DETAIL = 300


def without_defaults(options: Mapping[str, Any]) -> dict[str, Any]:
    """The roles' defaults (some are templates) are theirs to apply: only what is set is checked."""
    return {name: {key: value for key, value in option.items() if key != "default"}
            for name, option in options.items()}


def spec_problems(role: str, values: Mapping[str, Any]) -> list[str]:
    options = ROLE_SPECS[role]
    given = {name: values[name] for name in options if name in values}
    validation = ArgumentSpecValidator(without_defaults(options)).validate(given)
    return [f"{role}: {message}" for message in validation.error_messages]


def duration_problems(services: Sequence[str], values: Mapping[str, Any]) -> list[str]:
    """Durations as the roles' own checks judge them (setting_checks), named by service."""
    problems = []
    for service in services:
        durations = catalog.SERVICES[service].durations if service in catalog.SERVICES else {}
        for name, kind in durations.items():
            if name not in values:
                continue
            passed, expected = setting_checks.check_one(
                {"variable": name, "value": values[name], "kind": kind})
            if not passed:
                problems.append(f"{service}: {name}={values[name]} is invalid: {expected}")
    return problems


def tls_problems(services: Sequence[str], values: Mapping[str, Any]) -> list[str]:
    serving = [name for name in services
               if name in catalog.SERVICES and catalog.SERVICES[name].tls]
    names = ["lgtm_tls_enabled"] + [name for name, _marker in TLS_TEXTS]
    if not serving or any(name in values and values[name] is UNRESOLVED for name in names):
        return []
    if not setting_checks.truthy(values.get("lgtm_tls_enabled", False)):
        return []
    return [f'{name} must be PEM text containing "{marker}" because lgtm_tls_enabled is true'
            f" and this host runs {', '.join(serving)}"
            for name, marker in TLS_TEXTS if marker not in str(values.get(name) or "")]


class Unresolved:
    """A setting whose template or lookup fails; noted once, never checked further."""


UNRESOLVED = Unresolved()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def resolve(self, names: Sequence[str], task_vars: Mapping[str, Any]
                ) -> tuple[dict[str, Any], list[str], list[str]]:
        """Each setting this host has, templated alone so a failure names it."""
        values: dict[str, Any] = {}
        unresolved: list[str] = []
        problems: list[str] = []
        for name in names:
            if name not in task_vars:
                continue
            try:
                values[name] = self._templar.template(task_vars[name])
            except Exception as error:  # noqa: BLE001 - any failure of a template is the user's
                values[name] = UNRESOLVED
                unresolved.append(name)
                detail = str(error).splitlines()[0] if str(error) else type(error).__name__
                if len(detail) > UNRESOLVED_DETAIL:
                    detail = detail[:UNRESOLVED_DETAIL - 3] + "..."
                problems.append(f"{name} cannot be resolved (a lookup or template in its"
                                f" value fails: {detail})")
        return values, unresolved, problems

    def run(
        self, tmp: str | None = None, task_vars: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(ARGUMENT_SPEC)
        roles = list(dict.fromkeys(params["roles"]))
        unknown = [role for role in roles if role not in ROLE_SPECS]
        if unknown:
            raise AnsibleActionFail(
                f"roles: {', '.join(unknown)} not among {', '.join(ROLE_SPECS)}")
        names = [name for role in roles for name in ROLE_SPECS[role]]
        values, unresolved, problems = self.resolve(names, task_vars or {})
        resolved = {name: value for name, value in values.items() if value is not UNRESOLVED}
        for role in roles:
            problems += spec_problems(role, resolved)
        problems += duration_problems(roles, resolved)
        problems += tls_problems(roles, values)
        result.update(changed=False, problems=problems, unresolved=unresolved)
        return result
