# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain systemd timers kept enabled and running, in the service's own call.

A role's scheduled job (a backup) is a script, a oneshot service and a timer, written
as ordinary files of the call (`files`, in /etc/systemd/system); this step makes
systemd see a changed unit file (one daemon-reload, unless the reconcile did one)
and keeps each timer enabled and active. One `systemctl show` reads them all; a timer
that is both already is left alone, so an unchanged run changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol


class TimerError(Exception):
    """systemctl failed; the message names the timer."""


class Host(Protocol):
    check_mode: bool

    def get_bin_path(self, arg: str, required: bool = False) -> str | None: ...

    def run_command(self, args: list[str]) -> tuple[int, Any, Any]: ...


def timer_unit(name: str) -> str:
    """A timer's unit name, given with or without `.timer`."""
    return name if name.endswith(".timer") else f"{name}.timer"


def unit_files(names: Sequence[str]) -> set[str]:
    """The file names of each timer and of the service it starts (same base name)."""
    found = set()
    for name in names:
        base = timer_unit(name)[: -len(".timer")]
        found.update({f"{base}.timer", f"{base}.service"})
    return found


def files_changed(names: Sequence[str], changed_paths: Sequence[str]) -> bool:
    """Whether a changed file of the call is one of these timers' unit files."""
    wanted = unit_files(names)
    return any(os.path.basename(path) in wanted for path in changed_paths)


def parse_show(text: str) -> list[dict[str, str]]:
    """`systemctl show` output for several units: blocks of key=value, blank-separated."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _sep, value = line.partition("=")
        current[key] = value
    if current:
        blocks.append(current)
    return blocks


def ensure(host: Host, names: Sequence[str], reload_needed: bool) -> dict[str, Any]:
    """Reload systemd if asked, then enable and start every timer not both already."""
    result: dict[str, Any] = {"changed": False, "daemon_reloaded": False, "started": []}
    if not names:
        return result
    systemctl = host.get_bin_path("systemctl")
    if not systemctl:
        raise TimerError("systemctl was not found; timers need systemd")

    def run(args: list[str], what: str) -> str:
        rc, out, err = host.run_command([systemctl, *args])
        if rc != 0:
            raise TimerError(f"{what} failed (rc={rc}): {str(err or out).strip()}")
        return str(out)

    if reload_needed:
        result["changed"] = True
        if not host.check_mode:
            run(["daemon-reload"], "systemctl daemon-reload")
            result["daemon_reloaded"] = True
    wanted = [timer_unit(name) for name in names]
    shown = parse_show(run(["show", "--property=Id,UnitFileState,ActiveState", *wanted],
                           "systemctl show " + " ".join(wanted)))
    if len(shown) != len(wanted):
        raise TimerError(f"systemctl show gave {len(shown)} answers for {len(wanted)} timers")
    for name, state in zip(wanted, shown):  # noqa: B905 - lengths checked above
        if state.get("UnitFileState") == "enabled" and state.get("ActiveState") == "active":
            continue
        result["started"].append(name)
        result["changed"] = True
        if not host.check_mode:
            run(["enable", "--now", name], f"systemctl enable --now {name}")
    return result
