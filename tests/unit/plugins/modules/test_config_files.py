"""config_files: directories and files in one call; all candidates validated before any write."""

import functools
import json
import os
import stat

import pytest
from ansible_collections.lgtm.stack.plugins.modules import config_files

# The tests run as root (these machines' CI): ownership changes are real.
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changes file ownership")


@pytest.fixture
def run(run_module):
    return functools.partial(run_module, config_files.main)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_creates_directories_and_files_then_changes_nothing(tmp_path, run):
    conf = tmp_path / "etc/loki"
    spec = {
        "directories": [{"path": str(conf)}, {"path": str(tmp_path / "data"), "mode": "0750"}],
        "files": [{"dest": str(conf / "config.yaml"), "content": "a: 1\n"}],
    }
    first, _output = run(**spec)
    assert first["changed"]
    assert first["directories"] == [str(conf), str(tmp_path / "data")]
    assert first["files"] == [str(conf / "config.yaml")]
    assert (conf / "config.yaml").read_text() == "a: 1\n"
    assert mode_of(conf) == 0o755 and mode_of(tmp_path / "data") == 0o750
    assert mode_of(conf / "config.yaml") == 0o644
    again, _output = run(**spec)
    assert not again["changed"]
    assert again["directories"] == again["files"] == again["removed"] == []


@needs_root
def test_owner_and_mode_are_kept_and_repaired(tmp_path, run):
    dest = tmp_path / "server.key"
    spec = {
        "files": [{"dest": str(dest), "secret_content": "KEY", "owner": "10001", "mode": "0400"}]
    }
    run(**spec)
    assert (os.stat(dest).st_uid, mode_of(dest)) == (10001, 0o400)
    os.chmod(dest, 0o644)
    repaired, _output = run(**spec)
    assert repaired["changed"] and repaired["files"] == [str(dest)]
    assert mode_of(dest) == 0o400
    assert dest.read_text() == "KEY"


def test_a_bad_candidate_leaves_every_live_file_alone(tmp_path, run):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("old good\n")
    bad.write_text("old bad\n")
    checker = tmp_path / "check.sh"
    # Refuses any candidate containing "broken".
    checker.write_text(
        '#!/bin/sh\nif grep -q broken "$1"; then echo "line 1: broken" >&2; exit 3; fi\n'
    )
    checker.chmod(0o755)
    candidates = tmp_path / "candidates"
    result, _output = run(
        files=[
            {"dest": str(good), "content": "new good\n", "validate": f"{checker} %s"},
            {"dest": str(bad), "content": "broken\n", "validate": f"{checker} %s"},
        ],
        candidate_dir=str(candidates),
    )
    assert result["failed"]
    assert f"{bad} failed validation (exit 3): line 1: broken" in result["msg"]
    assert "No live file was changed" in result["msg"]
    assert good.read_text() == "old good\n" and bad.read_text() == "old bad\n"
    assert mode_of(candidates) == 0o700
    assert list(candidates.iterdir()) == []  # candidates do not linger


def test_each_call_validates_in_a_directory_of_its_own(tmp_path, run):
    """A second play at once must not see, validate or remove this call's candidate."""
    dest = tmp_path / "loki.yaml"
    seen = tmp_path / "seen"
    checker = tmp_path / "check.sh"
    checker.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {seen}\n')
    checker.chmod(0o755)
    candidates = tmp_path / "candidates"
    for content in ("a: 1\n", "a: 2\n"):
        run(
            files=[{"dest": str(dest), "content": content, "validate": f"{checker} %s"}],
            candidate_dir=str(candidates),
        )
    first, second = seen.read_text().splitlines()
    assert os.path.basename(first) == os.path.basename(second)
    assert os.path.dirname(first) != os.path.dirname(second)
    assert os.path.dirname(os.path.dirname(first)) == str(candidates)
    assert list(candidates.iterdir()) == []


def test_validation_runs_only_for_a_change(tmp_path, run):
    dest = tmp_path / "config.yaml"
    marker = tmp_path / "validated"
    spec = {
        "files": [{"dest": str(dest), "content": "x\n", "validate": f"touch {marker} %s"}],
        "candidate_dir": str(tmp_path / "candidates"),
    }
    run(**spec)
    assert marker.exists()
    marker.unlink()
    unchanged, _output = run(**spec)
    assert not unchanged["changed"]
    assert not marker.exists()


def test_check_mode_writes_nothing_and_diffs_only_plain_files(tmp_path, run):
    conf = tmp_path / "conf"
    result, output = run(
        check=True,
        diff=True,
        directories=[{"path": str(conf)}],
        files=[
            {"dest": str(conf / "config.yaml"), "content": "retention: 7d\n"},
            {
                "dest": str(conf / "server.key"),
                "secret_content": "PRIVATE-KEY-TEXT",
                "mode": "0400",
            },
        ],
    )
    assert result["changed"]
    assert result["files"] == [str(conf / "config.yaml"), str(conf / "server.key")]
    assert not conf.exists()
    assert [entry["after"] for entry in result["diff"]] == ["retention: 7d\n"]
    assert "PRIVATE-KEY-TEXT" not in output


def test_a_validation_failure_of_a_secret_does_not_print_it(tmp_path, run):
    result, output = run(
        files=[{"dest": str(tmp_path / "key"), "secret_content": "hunter2", "validate": "cat %s"}],
        candidate_dir=str(tmp_path / "c"),
    )
    assert not result.get("failed")  # cat succeeds
    result, output = run(
        files=[
            {
                "dest": str(tmp_path / "key"),
                "secret_content": "hunter3",
                "validate": "grep -v hunter %s",
            }
        ],
        candidate_dir=str(tmp_path / "c"),
    )
    assert result["failed"] and "output not shown" in result["msg"]
    assert "hunter3" not in output


def test_remove_takes_directories_with_their_content(tmp_path, run):
    tls = tmp_path / "tls"
    tls.mkdir()
    (tls / "server.crt").write_text("cert")
    result, _output = run(remove=[str(tls), str(tmp_path / "never-there")])
    assert result["changed"] and result["removed"] == [str(tls)]
    assert not tls.exists()
    again, _output = run(remove=[str(tls)])
    assert not again["changed"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"files": [{"dest": "/nonexistent-dir/x", "content": "a"}]},
            "the directory of /nonexistent-dir/x",
        ),
        ({"files": [{"dest": "{tmp}/x", "content": "a", "secret_content": "b"}]}, "exactly one of"),
        ({"files": [{"dest": "{tmp}/x", "content": "a", "mode": "rw"}]}, "is not an octal number"),
        (
            {"files": [{"dest": "{tmp}/x", "content": "a", "owner": "no-such-user-x"}]},
            "'no-such-user-x' does not exist",
        ),
        (
            {"files": [{"dest": "{tmp}/x", "content": "a", "validate": "true"}]},
            "candidate_dir is required",
        ),
        (
            {
                "files": [{"dest": "{tmp}/x", "content": "a", "validate": "true"}],
                "candidate_dir": "{tmp}/c",
            },
            "must contain %s",
        ),
    ],
)
def test_bad_settings_fail_naming_the_problem(tmp_path, run, params, message):
    rendered = json.loads(json.dumps(params).replace("{tmp}", str(tmp_path)))
    result, _output = run(**rendered)
    assert result["failed"]
    assert message in result["msg"]
    assert not (tmp_path / "x").exists()


def test_a_written_file_has_its_directory_s_selinux_context_before_it_appears(
    tmp_path, run, fake_selinux
):
    volume = tmp_path / "dashboards"
    spec = {"directories": [{"path": str(volume)}],
            "files": [{"dest": str(volume / "new.json"), "content": "{}\n"}]}
    result, _output = run(**spec)
    assert result["changed"]
    [(path, inode, context)] = fake_selinux
    # Set on the temporary file in the same directory, which then became the file.
    assert os.path.dirname(path) == str(volume) and path != str(volume / "new.json")
    assert inode == os.stat(volume / "new.json").st_ino
    assert context == ["system_u", "object_r", "container_file_t", "s0:dashboards"]
    fake_selinux.clear()
    run(**spec)
    assert fake_selinux == [], "nothing written, nothing labelled"


def owners(*paths):
    return [(os.lstat(path).st_uid, os.lstat(path).st_gid) for path in paths]


def root_owned_tree(tmp_path):
    """A data directory written as root, with a link out of it to a file it must not touch."""
    outside = tmp_path / "outside.txt"
    outside.write_text("not Mimir's")
    data = tmp_path / "data"
    (data / "tsdb/01ABC").mkdir(parents=True)
    (data / "tsdb/01ABC/chunks").write_text("samples")
    (data / "wal").write_text("records")
    (data / "tsdb/link").symlink_to(outside)
    for path in (outside, data, data / "tsdb", data / "tsdb/01ABC", data / "tsdb/01ABC/chunks",
                 data / "wal"):
        os.lchown(path, 0, 0)
    os.lchown(data / "tsdb/link", 0, 0)
    beneath = [data / "tsdb", data / "tsdb/01ABC", data / "tsdb/01ABC/chunks", data / "wal",
               data / "tsdb/link"]
    return data, beneath, outside


def reown_spec(data):
    return {"directories": [{"path": str(data), "owner": "10001", "group": "10001",
                             "mode": "0750", "recurse": True}]}


@needs_root
def test_recurse_reowns_everything_beneath_without_following_links(tmp_path, run):
    data, beneath, outside = root_owned_tree(tmp_path)
    os.chmod(data / "wal", 0o600)
    result, _output = run(**reown_spec(data))
    assert result["changed"] and result["reowned"] == [str(data)]
    assert owners(data, *beneath) == [(10001, 10001)] * (1 + len(beneath))
    assert owners(outside) == [(0, 0)], "the link itself is re-owned, not its target"
    assert mode_of(data) == 0o750
    assert mode_of(data / "wal") == 0o600, "modes beneath are the service's own"
    again, _output = run(**reown_spec(data))
    assert not again["changed"] and again["reowned"] == []


@needs_root
def test_recurse_does_not_walk_beneath_a_directory_that_has_its_owner(tmp_path, run):
    data, beneath, _outside = root_owned_tree(tmp_path)
    os.lchown(data, 10001, 10001)
    os.chmod(data, 0o700)  # only the mode is off: the directory is changed, nothing beneath
    result, _output = run(**reown_spec(data))
    assert result["changed"] and result["directories"] == [str(data)]
    assert result["reowned"] == []
    assert mode_of(data) == 0o750
    assert owners(*beneath) == [(0, 0)] * len(beneath), "a walk would have re-owned these"


@needs_root
def test_recurse_in_check_mode_reports_and_touches_nothing(tmp_path, run):
    data, beneath, _outside = root_owned_tree(tmp_path)
    result, _output = run(check=True, **reown_spec(data))
    assert result["changed"] and result["reowned"] == [str(data)]
    assert owners(data, *beneath) == [(0, 0)] * (1 + len(beneath))


@needs_root
def test_recurse_finishes_what_an_interrupted_run_left(tmp_path, run, monkeypatch):
    data, beneath, _outside = root_owned_tree(tmp_path)
    real_lchown, calls = os.lchown, []

    def interrupted(path, uid, gid):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(5, "Input/output error", path)
        real_lchown(path, uid, gid)

    monkeypatch.setattr(os, "lchown", interrupted)
    failed, _output = run(**reown_spec(data))
    assert failed["failed"] and "Input/output error" in failed["msg"]
    assert sorted(owners(*beneath)) == [(0, 0)] * 3 + [(10001, 10001)] * 2
    assert owners(data) == [(0, 0)], "the directory is re-owned last: the next run walks again"
    monkeypatch.setattr(os, "lchown", real_lchown)
    result, _output = run(**reown_spec(data))
    assert result["reowned"] == [str(data)]
    assert owners(data, *beneath) == [(10001, 10001)] * (1 + len(beneath))


@needs_root
def test_without_recurse_only_the_directory_is_reowned(tmp_path, run):
    data, beneath, _outside = root_owned_tree(tmp_path)
    spec = reown_spec(data)
    del spec["directories"][0]["recurse"]
    result, _output = run(**spec)
    assert result["directories"] == [str(data)] and result["reowned"] == []
    assert owners(data) == [(10001, 10001)]
    assert owners(*beneath) == [(0, 0)] * len(beneath)
