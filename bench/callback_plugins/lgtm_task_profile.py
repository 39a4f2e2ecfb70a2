"""Wall time per task of a playbook run, written as JSON for bench/stack_converge.py.

A task's time is from its start to the start of the next task (or the end of the run),
so tasks running on many hosts at once count once, as the user waits for them. Tasks
are keyed by role and name and summed: an included task file run for eight services
shows up as one line with its total. Enabled only by the benchmark:
ANSIBLE_CALLBACKS_ENABLED=lgtm_task_profile, output path in LGTM_TASK_PROFILE.

It also counts module calls on the hosts by play (LGTM_MODULE_CALLS): every task result
that is not skipped, of an action that runs a module on the host, i.e. not one the
controller does alone (assert, set_fact, include_*, ...). site.yml has a play per
service, so this is per service, the quadlet core's calls included.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: lgtm_task_profile
    type: aggregate
    short_description: wall time per task, as JSON, for the lgtm.stack benchmarks
    description: Sums each task's wall time by role and name and writes it to LGTM_TASK_PROFILE.
"""


# Actions that never send a module to the host: ansible.builtin's and the collection's
# own action plugins that work on the controller alone.
CONTROLLER_ACTIONS = frozenset(
    f"{prefix}{name}"
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for name in ("assert", "set_fact", "debug", "fail", "include_tasks", "include_role",
                 "import_tasks", "import_role", "meta", "validate_argument_spec",
                 "include_vars", "add_host", "group_by", "set_stats", "pause", "noop")
) | {"lgtm.stack.check_settings", "lgtm.stack.controller_file"}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "lgtm_task_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._current: str | None = None
        self._started = 0.0
        self._totals: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._calls: dict[str, int] = {}
        self._play = ""

    def _close_current(self) -> None:
        if self._current is not None:
            elapsed = time.monotonic() - self._started
            self._totals[self._current] = self._totals.get(self._current, 0.0) + elapsed
            self._counts[self._current] = self._counts.get(self._current, 0) + 1
        self._current = None

    def _open(self, task: Any) -> None:
        self._close_current()
        role = task._role.get_name() if task._role else ""  # noqa: SLF001 - no public accessor
        name = task.get_name()
        self._current = name if not role or name.startswith(role) else f"{role} : {name}"
        self._started = time.monotonic()

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._open(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._open(task)

    def _count_call(self, result: Any) -> None:
        task = result._task  # noqa: SLF001 - no public accessor
        if task.action in CONTROLLER_ACTIONS:
            return
        # A loop's items each run the module: its result holds them.
        items = result._result.get("results")  # noqa: SLF001
        count = len([item for item in items if not item.get("skipped")]) if isinstance(
            items, list) else 1
        self._calls[self._play] = self._calls.get(self._play, 0) + count

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._play = play.get_name()

    def v2_runner_on_ok(self, result: Any) -> None:
        self._count_call(result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._count_call(result)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close_current()
        calls_path = os.environ.get("LGTM_MODULE_CALLS")
        if calls_path:
            with open(calls_path, "w", encoding="utf-8") as handle:
                json.dump(self._calls, handle, indent=1, sort_keys=True)
        path = os.environ.get("LGTM_TASK_PROFILE")
        if not path:
            return
        rows = [{"task": name, "seconds": round(seconds, 3), "runs": self._counts[name]}
                for name, seconds in sorted(self._totals.items(), key=lambda kv: -kv[1])]
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)
