"""lgtm.stack.controller_file: compares and writes on the controller, honours check mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.playbook.play_context import PlayContext
from ansible_collections.lgtm.stack.plugins.action.controller_file import ActionModule


def run(args: dict[str, Any], check: bool = False, diff: bool = False) -> dict[str, Any]:
    task = mock.MagicMock(args=args, check_mode=check, diff=diff, async_val=0,
                          action="lgtm.stack.controller_file")
    action = ActionModule(task, SimpleNamespace(_shell=mock.MagicMock()), PlayContext(),
                          loader=None, templar=None, shared_loader_obj=None)
    return action.run(task_vars={})


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_a_new_file_and_its_directory(tmp_path: Path) -> None:
    dest = tmp_path / "summary" / "demo.yml"
    result = run({"dest": str(dest), "content": "a: 1\n"})
    assert result["changed"] is True
    assert dest.read_text() == "a: 1\n"
    assert mode_of(dest) == 0o600
    assert mode_of(dest.parent) == 0o700


def test_same_content_and_mode_changes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "demo.yml"
    run({"dest": str(dest), "content": "a: 1\n"})
    before = dest.stat().st_ino
    result = run({"dest": str(dest), "content": "a: 1\n"})
    assert result["changed"] is False
    assert dest.stat().st_ino == before


def test_new_content_replaces_the_file(tmp_path: Path) -> None:
    dest = tmp_path / "demo.yml"
    run({"dest": str(dest), "content": "a: 1\n"})
    result = run({"dest": str(dest), "content": "a: 2\n"}, diff=True)
    assert result["changed"] is True
    assert dest.read_text() == "a: 2\n"
    assert result["diff"]["before"] == "a: 1\n" and result["diff"]["after"] == "a: 2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["demo.yml"], "no temporary file is left"


def test_a_wrong_mode_alone_is_mended(tmp_path: Path) -> None:
    dest = tmp_path / "demo.yml"
    dest.write_text("a: 1\n")
    os.chmod(dest, 0o644)
    result = run({"dest": str(dest), "content": "a: 1\n"})
    assert result["changed"] is True
    assert mode_of(dest) == 0o600


def test_check_mode_reports_and_writes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "new" / "demo.yml"
    result = run({"dest": str(dest), "content": "a: 1\n"}, check=True)
    assert result["changed"] is True
    assert not dest.parent.exists()


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o755)
    run({"dest": str(directory / "demo.yml"), "content": "x\n"})
    assert mode_of(directory) == 0o755


@pytest.mark.parametrize("args, message", [
    ({"dest": "/tmp/x", "content": "x", "mode": "rw"}, "mode 'rw' is not an octal number"),
    ({"dest": "/tmp/x", "content": "x", "mode": "77777"}, "mode '77777' is out of range"),
    ({"content": "x"}, "dest"),
    ({"dest": "/tmp/x", "content": "x", "owner": "root"}, "owner"),
])
def test_bad_arguments_fail_naming_them(args: dict[str, Any], message: str) -> None:
    with pytest.raises(AnsibleActionFail, match=message):
        run(args)


def test_an_unwritable_directory_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AnsibleActionFail, match="cannot (read|write) .* on the controller"):
        run({"dest": str(blocker / "demo.yml"), "content": "x\n"})
