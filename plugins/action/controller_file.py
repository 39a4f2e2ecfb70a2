# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a file on the controller from the task's own process.

ansible.builtin.copy delegated to localhost builds and runs a module in a new Python
process for every call (0.7 s of an unchanged site.yml for the summary alone); this
compares and writes in place, atomically, with the mode it is given.
"""

from __future__ import annotations

import os
import stat
import tempfile
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.lgtm.stack.plugins.module_utils import files

ARGUMENT_SPEC: dict[str, Any] = {
    "dest": {"type": "path", "required": True},
    "content": {"type": "str", "required": True},
    "mode": {"type": "str", "default": "0600"},
    "directory_mode": {"type": "str", "default": "0700"},
}


def octal_mode(name: str, value: str) -> int:
    try:
        return files.parse_mode(value, name)
    except files.ConfigError as error:
        raise AnsibleActionFail(f"{error} (an octal mode such as 0600)") from None


def current(path: str) -> tuple[bytes | None, int | None]:
    """The file's bytes and permission bits, or None for a file that is not there."""
    try:
        with open(path, "rb") as handle:
            return handle.read(), stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    except FileNotFoundError:
        return None, None


def write(path: str, data: bytes, mode: int) -> None:
    """Replace the file at once: a reader sees the old content or the new, never a part."""
    directory = os.path.dirname(path) or "."
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".controller_file.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(
        self, tmp: str | None = None, task_vars: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(ARGUMENT_SPEC)
        dest = os.path.expanduser(params["dest"])
        mode = octal_mode("mode", params["mode"])
        directory_mode = octal_mode("directory_mode", params["directory_mode"])
        data = params["content"].encode()

        directory = os.path.dirname(dest)
        missing_directory = bool(directory) and not os.path.isdir(directory)
        try:
            before, before_mode = (None, None) if missing_directory else current(dest)
        except OSError as error:
            raise AnsibleActionFail(f"cannot read {dest} on the controller: {error}") from error
        changed = missing_directory or before != data or before_mode != mode
        result.update(changed=changed, dest=dest)
        if self._task.diff and before != data:
            result["diff"] = {"before_header": dest, "after_header": dest,
                              "before": (before or b"").decode(errors="replace"),
                              "after": params["content"]}
        if not changed or self._task.check_mode:
            return result
        try:
            if missing_directory:
                os.makedirs(directory, mode=directory_mode, exist_ok=True)
            if before == data:
                os.chmod(dest, mode)
            else:
                write(dest, data, mode)
        except OSError as error:
            raise AnsibleActionFail(f"cannot write {dest} on the controller: {error}") from error
        return result
