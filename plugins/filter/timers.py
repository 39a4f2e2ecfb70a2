# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A scheduled job's three files (script, oneshot service, timer) for the quadlet core."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

SYSTEMD_DIR = "/etc/systemd/system"


def service_text(timer: Mapping[str, Any]) -> str:
    after = list(timer.get("after") or [])
    return "".join([
        "[Unit]\n",
        f"Description={timer['description']} (lgtm.stack)\n",
        f"After={' '.join(after)}\n" if after else "",
        "\n[Service]\nType=oneshot\n",
        f"ExecStart={timer.get('command') or timer['script']['path']}\n",
    ])


def timer_text(timer: Mapping[str, Any]) -> str:
    return (
        "[Unit]\n"
        f"Description={timer['description']} {timer['schedule']} (lgtm.stack)\n"
        "\n[Timer]\n"
        f"OnCalendar={timer['schedule']}\n"
        "# A run missed while the host was off happens at the next boot.\n"
        "Persistent=true\n"
        "RandomizedDelaySec=10min\n"
        "\n[Install]\n"
        "WantedBy=timers.target\n"
    )


def timer_files(timers: Any) -> list[dict[str, Any]]:
    """For each timer (name, description, schedule, script {path, content}, command,
    after): its script, <name>.service and <name>.timer as quadlet_config_files entries
    that restart nothing (the module's `timers` option enables the timer)."""
    if not isinstance(timers, list) or not all(isinstance(t, Mapping) for t in timers):
        raise AnsibleFilterError("timer_files takes a list of timers (mappings)")
    entries: list[dict[str, Any]] = []
    for timer in timers:
        missing = [key for key in ("name", "description", "schedule", "script")
                   if not timer.get(key)]
        if missing or not isinstance(timer["script"], Mapping):
            raise AnsibleFilterError(
                f"timer {timer.get('name')!r} needs name, description, schedule and script"
                f" (path, content); missing {', '.join(missing) or 'script.path'}")
        script = timer["script"]
        entries += [
            {"dest": script["path"], "content": script.get("content", ""), "mode": "0755",
             "action": "none"},
            {"dest": f"{SYSTEMD_DIR}/{timer['name']}.service", "content": service_text(timer),
             "mode": "0644", "action": "none"},
            {"dest": f"{SYSTEMD_DIR}/{timer['name']}.timer", "content": timer_text(timer),
             "mode": "0644", "action": "none"},
        ]
    return entries


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"timer_files": timer_files}
