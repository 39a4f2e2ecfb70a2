"""module_utils/files: what config_files' and secret_file's tests do not reach through the modules.

A whole service's directories, secrets and files planned before anything is written;
a failed candidate stopping directories and secrets too; the plan's view of re-owning.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils import files

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changes file ownership")


class Module:
    """The part of AnsibleModule files uses: check mode, run_command, SELinux off."""

    def __init__(self, check_mode: bool = False) -> None:
        self.check_mode = check_mode
        self.commands: list[str] = []

    def run_command(self, command: str) -> tuple[int, str, str]:
        self.commands.append(command)
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr

    def selinux_enabled(self) -> bool:
        return False


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def snapshot(top: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every path beneath top with its mode, owner and content: what a write would change."""
    seen = {}
    for path in sorted(top.rglob("*")):
        info = os.lstat(path)
        content = path.read_bytes() if path.is_file() else None
        seen[str(path)] = (stat.S_IMODE(info.st_mode), info.st_uid, content)
    return seen


def service(tmp_path: Path, checker: str | None = None) -> dict:
    """One service's options: a new directory tree, a secret and two files inside it."""
    conf = tmp_path / "etc/lgtm/grafana"
    spec = {
        "directories": [
            {"path": str(conf), "owner": "root", "group": "root", "mode": "0755"},
            {"path": str(conf / "secrets"), "owner": "root", "group": "root", "mode": "0700"},
        ],
        "secrets": [{"path": str(conf / "secrets/admin_password"), "mode": "0400"}],
        "files": [
            {
                "dest": str(conf / name),
                "content": text,
                "owner": "root",
                "group": "root",
                "mode": "0644",
                "validate": checker and f"{checker} %s",
            }
            for name, text in (("grafana.ini", "[server]\n"), ("datasources.yaml", "a: 1\n"))
        ],
        "remove": [str(tmp_path / "old.conf")],
        "candidate_dir": str(tmp_path / "candidates"),
    }
    (tmp_path / "old.conf").write_text("left over\n")
    return spec


def test_a_whole_service_is_planned_without_writing_anything(tmp_path):
    spec = service(tmp_path)
    before = snapshot(tmp_path)
    plan = files.plan(**spec)
    assert snapshot(tmp_path) == before, "planning only reads"
    conf = tmp_path / "etc/lgtm/grafana"
    summary = plan.summary()
    # The files and the secret lie in directories that do not exist yet: planned is enough.
    assert summary["directories"] == [str(conf), str(conf / "secrets")]
    assert summary["secrets"] == [
        {
            "path": str(conf / "secrets/admin_password"),
            "changed": True,
            "generated": True,
            "written": True,
        }
    ]
    assert summary["files"] == [str(conf / "grafana.ini"), str(conf / "datasources.yaml")]
    assert summary["removed"] == [str(tmp_path / "old.conf")]
    assert plan.changed
    assert [diff["after"] for diff in plan.diffs()] == ["[server]\n", "a: 1\n"]


def test_writing_the_plan_gives_what_it_said_and_a_new_plan_is_empty(tmp_path):
    spec = service(tmp_path)
    plan = files.plan(**spec)
    [secret] = plan.secrets
    files.write(Module(), plan)
    conf = tmp_path / "etc/lgtm/grafana"
    # The secret generated in the plan (in memory) is the one written, with its mode.
    assert (conf / "secrets/admin_password").read_text() == secret.content
    assert mode_of(conf / "secrets/admin_password") == 0o400
    assert mode_of(conf / "secrets") == 0o700
    assert (conf / "grafana.ini").read_text() == "[server]\n"
    assert not (tmp_path / "old.conf").exists()
    again = files.plan(**spec)
    assert not again.changed
    assert again.summary()["secrets"][0] == {
        "path": str(conf / "secrets/admin_password"),
        "changed": False,
        "generated": False,
        "written": False,
    }


def test_a_failed_candidate_writes_no_file_and_removes_nothing(tmp_path):
    checker = tmp_path / "check.sh"
    checker.write_text('#!/bin/sh\nif grep -q "a: 1" "$1"; then echo "no a" >&2; exit 2; fi\n')
    checker.chmod(0o755)
    spec = service(tmp_path, str(checker))
    before = snapshot(tmp_path)
    module = Module()
    with pytest.raises(files.ConfigError) as failed:
        files.apply(
            module,
            **{key: spec[key] for key in ("directories", "files", "remove", "candidate_dir")},
        )
    assert "datasources.yaml failed validation (exit 2): no a" in str(failed.value)
    assert len(module.commands) == 2, "every candidate is judged, not only up to the first"
    # The directories exist (a validator may mount them); no file is written or removed.
    after = snapshot(tmp_path)
    candidates = str(tmp_path / "candidates")
    assert [path for path in after if path.startswith(candidates)] == [candidates]
    del after[candidates]
    directories = {entry["path"] for entry in spec["directories"]}
    parents = {str(tmp_path / "etc"), str(tmp_path / "etc/lgtm")}
    assert {path for path in after if path not in before} == directories | parents
    assert {path: after[path] for path in before} == before


def test_check_mode_validates_nothing_and_writes_nothing(tmp_path):
    spec = service(tmp_path, "false")
    before = snapshot(tmp_path)
    module = Module(check_mode=True)
    plan = files.plan(**spec)
    assert files.validate(module, plan) == []
    files.write(module, plan)
    assert module.commands == []
    assert snapshot(tmp_path) == before


def test_a_secret_never_shows_in_a_plan_s_repr(tmp_path):
    plan = files.plan(
        secrets=[{"path": str(tmp_path / "token"), "value": "hunter2-hunter2"}],
        files=[
            {
                "dest": str(tmp_path / "key"),
                "secret_content": "PRIVATE-KEY",
                "owner": "root",
                "group": "root",
                "mode": "0400",
            }
        ],
    )
    shown = repr(plan)
    assert "hunter2" not in shown and "PRIVATE-KEY" not in shown
    assert plan.diffs() == [], "a secret file is never diffed"


def test_a_secret_s_mode_alone_is_a_change(tmp_path):
    path = tmp_path / "token"
    files.write(Module(), files.plan(secrets=[{"path": str(path), "value": "v" * 20}]))
    assert mode_of(path) == 0o600
    plan = files.plan(secrets=[{"path": str(path), "value": "v" * 20, "mode": "0440"}])
    assert plan.summary()["secrets"][0]["changed"] and not plan.secrets[0].written
    files.write(Module(), plan)
    assert mode_of(path) == 0o440 and path.read_text() == "v" * 20


@needs_root
def test_the_plan_sees_a_file_that_re_owning_its_directory_would_change(tmp_path):
    """Re-owning a data directory also re-owns a file in it that should stay root's."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "root.conf").write_text("x\n")
    os.chmod(data / "root.conf", 0o644)
    spec = {
        "directories": [
            {"path": str(data), "owner": "10001", "group": "10001", "mode": "0750", "recurse": True}
        ],
        "files": [
            {
                "dest": str(data / "root.conf"),
                "content": "x\n",
                "owner": "root",
                "group": "root",
                "mode": "0644",
            }
        ],
    }
    plan = files.plan(**spec)
    assert plan.summary()["files"] == [str(data / "root.conf")]
    files.write(Module(), plan)
    assert (os.stat(data / "root.conf").st_uid, os.stat(data).st_uid) == (0, 10001)
    assert not files.plan(**spec).changed


def test_a_file_may_lie_in_a_parent_that_creating_a_directory_creates(tmp_path):
    """makedirs creates the parents too, so the plan must count them as to exist."""
    conf = tmp_path / "etc/tempo"
    spec = {
        "directories": [
            {"path": str(conf / "overrides"), "owner": "root", "group": "root", "mode": "0755"}
        ],
        "files": [
            {
                "dest": str(conf / "tempo.yaml"),
                "content": "a: 1\n",
                "owner": "root",
                "group": "root",
                "mode": "0644",
            }
        ],
    }
    plan = files.plan(**spec)
    assert plan.summary()["files"] == [str(conf / "tempo.yaml")]
    files.write(Module(), plan)
    assert (conf / "tempo.yaml").read_text() == "a: 1\n"
    with pytest.raises(files.ConfigError, match="the directory of .*/etc/other/x does not exist"):
        files.plan(files=[{**spec["files"][0], "dest": str(tmp_path / "etc/other/x")}])
