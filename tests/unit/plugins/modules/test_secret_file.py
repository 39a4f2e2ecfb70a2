"""secret_file keeps one secret per file: given, kept, or generated once; never echoed."""

import functools
import os
import stat

import pytest
from ansible_collections.lgtm.stack.plugins.modules import secret_file


@pytest.fixture
def run(run_module):
    return functools.partial(run_module, secret_file.main)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_generates_once_then_keeps(tmp_path, run):
    path = tmp_path / "admin_password"
    first, output = run(path=str(path))
    secret = path.read_text()
    assert first["changed"] and first["generated"]
    assert len(secret) == 32 and secret.isalnum()
    assert secret not in output
    assert mode_of(path) == 0o600
    again, _output = run(path=str(path))
    assert not again["changed"] and not again["generated"]
    assert path.read_text() == secret


def test_generated_secrets_differ(tmp_path, run):
    run(path=str(tmp_path / "a"), length=24)
    run(path=str(tmp_path / "b"), length=24)
    a, b = (tmp_path / "a").read_text(), (tmp_path / "b").read_text()
    assert len(a) == len(b) == 24
    assert a != b


def test_given_value_replaces_and_is_not_returned(tmp_path, run):
    path = tmp_path / "secret"
    run(path=str(path))
    result, output = run(path=str(path), value="correct horse battery staple")
    assert result["changed"] and result["written"] and not result["generated"]
    assert path.read_text() == "correct horse battery staple"
    assert "horse" not in output
    unchanged, _output = run(path=str(path), value="correct horse battery staple")
    assert not unchanged["changed"]


def test_empty_file_gets_a_secret(tmp_path, run):
    path = tmp_path / "secret"
    path.write_text("")
    result, _output = run(path=str(path))
    assert result["generated"] and len(path.read_text()) == 32


def test_check_mode_writes_nothing(tmp_path, run):
    path = tmp_path / "secret"
    result, _output = run(check=True, path=str(path))
    assert result["changed"] and result["generated"]
    assert not path.exists()
    path.write_text("old")
    result, _output = run(check=True, path=str(path), value="new")
    assert result["changed"] and path.read_text() == "old"


def test_mode_change_alone_is_a_change(tmp_path, run):
    path = tmp_path / "secret"
    run(path=str(path))
    result, _output = run(path=str(path), mode="0400")
    assert result["changed"] and not result["written"]
    assert mode_of(path) == 0o400


def test_no_temporary_file_left(tmp_path, run):
    run(path=str(tmp_path / "secret"), value="x" * 40)
    assert sorted(os.listdir(tmp_path)) == ["secret"]


@pytest.mark.parametrize(("params", "message"), [
    ({"length": 8}, "length must be between"),
    ({"path_in_missing_dir": True}, "does not exist"),
])
def test_bad_input_fails(tmp_path, run, params, message):
    path = tmp_path / ("missing/secret" if params.pop("path_in_missing_dir", False) else "secret")
    result, _output = run(path=str(path), **params)
    assert result["failed"] and message in result["msg"]
    assert not path.exists()


def test_a_written_secret_has_its_directory_s_selinux_context_before_it_appears(
    tmp_path, run, fake_selinux
):
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    result = run(path=str(secrets_dir / "admin_password"))[0]
    assert result["written"]
    # The first call labels the temporary file; later ones come from the file attributes.
    path, inode, context = fake_selinux[0]
    assert os.path.dirname(path) == str(secrets_dir) and path != str(secrets_dir / "admin_password")
    assert inode == os.stat(secrets_dir / "admin_password").st_ino
    assert context == ["system_u", "object_r", "container_file_t", "s0:secrets"]
