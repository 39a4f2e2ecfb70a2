"""The hash over a planned write (quadlet.hash_paths with files.Plan.overlay()) equals the
hash of the disk after that write: a unit's hash label is known before its files change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils import files, quadlet
from test_files import Module


def tree(tmp_path: Path) -> Path:
    """A config directory as a converged host has it: two files, a subdirectory, a link."""
    conf = tmp_path / "conf"
    (conf / "rules").mkdir(parents=True)
    (conf / "config.yaml").write_text("retention: 720h\n")
    (conf / "rules" / "a.yaml").write_text("groups: []\n")
    (conf / "old.yaml").write_text("gone soon\n")
    os.symlink("config.yaml", conf / "link.yaml")
    for path in (conf / "config.yaml", conf / "rules" / "a.yaml", conf / "old.yaml"):
        path.chmod(0o644)
    return conf


def entry(dest: Path, content: str, mode: str = "0644") -> dict:
    return {"dest": str(dest), "content": content, "owner": "root", "group": "root",
            "mode": mode}


def directory(path: Path, mode: str) -> dict:
    return {"path": str(path), "owner": "root", "group": "root", "mode": mode}


def predicted_and_written(plan: files.Plan, roots: list[str]) -> tuple[str, str]:
    predicted = quadlet.hash_paths(roots, plan.overlay())
    files.write(Module(), plan)
    return predicted, quadlet.hash_paths(roots)


def test_every_kind_of_change_is_predicted(tmp_path):
    conf = tree(tmp_path)
    roots = [str(conf), str(conf / "config.yaml"), str(tmp_path / "new.yaml")]
    plan = files.plan(
        directories=[
            directory(conf / "rules", "0750"),        # mode only
            directory(conf / "extra" / "deep", "0700"),  # new, with a new parent
        ],
        files=[
            entry(conf / "config.yaml", "retention: 240h\n"),       # content
            entry(conf / "rules" / "a.yaml", "groups: []\n", "0600"),  # mode only
            entry(conf / "rules" / "b.yaml", "groups: [b]\n"),      # new in a hashed directory
            entry(conf / "extra" / "deep" / "c.yaml", "c\n"),       # new in a new directory
            entry(tmp_path / "new.yaml", "root file\n"),            # a root that is new
        ],
        secrets=[{"path": str(conf / "token"), "length": 24, "mode": "0400"}],
        remove=[str(conf / "old.yaml")],
    )
    before = quadlet.hash_paths(roots[:2])
    predicted, written = predicted_and_written(plan, roots)
    assert predicted == written
    assert quadlet.hash_paths(roots[:2]) != before


@pytest.mark.parametrize("change", ["content", "mode", "new file", "removal", "directory mode"])
def test_each_change_alone_moves_the_hash_where_the_write_does(tmp_path, change):
    conf = tree(tmp_path)
    roots = [str(conf)]
    before = quadlet.hash_paths(roots)
    options: dict = {
        "content": {"files": [entry(conf / "config.yaml", "retention: 1h\n")]},
        "mode": {"files": [entry(conf / "config.yaml", "retention: 720h\n", "0640")]},
        "new file": {"files": [entry(conf / "rules" / "z.yaml", "z\n")]},
        "removal": {"remove": [str(conf / "old.yaml")]},
        "directory mode": {"directories": [directory(conf / "rules", "0700")]},
    }[change]
    plan = files.plan(**options)
    predicted, written = predicted_and_written(plan, roots)
    assert predicted == written != before


def test_nothing_planned_is_the_plain_hash(tmp_path):
    conf = tree(tmp_path)
    plan = files.plan(files=[entry(conf / "config.yaml", "retention: 720h\n")])
    assert plan.overlay() == {}
    assert quadlet.hash_paths([str(conf)], plan.overlay()) == quadlet.hash_paths([str(conf)])


def test_a_secret_kept_with_a_new_mode_hashes_its_current_content(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cret-kept-as-it-is")
    secret.chmod(0o600)
    plan = files.plan(secrets=[{"path": str(secret), "mode": "0400"}])
    assert [item.written for item in plan.secrets] == [False]
    predicted, written = predicted_and_written(plan, [str(secret)])
    assert predicted == written


def test_a_removed_root_is_missing(tmp_path):
    conf = tree(tmp_path)
    plan = files.plan(remove=[str(conf / "old.yaml")])
    with pytest.raises(quadlet.MissingPathError, match="will not exist"):
        quadlet.hash_paths([str(conf / "old.yaml")], plan.overlay())


def test_a_missing_root_not_planned_is_missing(tmp_path):
    with pytest.raises(quadlet.MissingPathError, match="does not exist"):
        quadlet.hash_paths([str(tmp_path / "nowhere")], {})


def test_a_planned_path_given_with_a_trailing_slash_still_counts(tmp_path):
    conf = tree(tmp_path)
    plan = files.plan(files=[entry(conf / "rules" / "n.yaml", "n\n")])
    predicted = quadlet.hash_paths([str(conf) + "/"], plan.overlay())
    files.write(Module(), plan)
    assert predicted == quadlet.hash_paths([str(conf) + "/"])
