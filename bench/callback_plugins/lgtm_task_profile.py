"""Wall time per task of a playbook run, written as JSON for bench/stack_converge.py.

A task's time is from its start to the start of the next task (or the end of the run),
so tasks running on many hosts at once count once, as the user waits for them. Tasks
are keyed by role and name and summed: an included task file run for eight services
shows up as one line with its total. Enabled only by the benchmark:
ANSIBLE_CALLBACKS_ENABLED=lgtm_task_profile, output path in LGTM_TASK_PROFILE.
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

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close_current()
        path = os.environ.get("LGTM_TASK_PROFILE")
        if not path:
            return
        rows = [{"task": name, "seconds": round(seconds, 3), "runs": self._counts[name]}
                for name, seconds in sorted(self._totals.items(), key=lambda kv: -kv[1])]
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)
