"""postgres_password against a fake podman: inspect, a login on the network address with
the password in the environment, ALTER ROLE on stdin only when authentication failed."""

from __future__ import annotations

import json
import sys

import pytest
from ansible_collections.lgtm.stack.plugins.modules import postgres_password

PASSWORD = "n3w-pass'word"
# Behaviour from the environment: FAKE_RUNNING, FAKE_LOGIN (ok, auth, other), FAKE_ALTER_RC.
FAKE = r'''#!{python}
import json, os, sys
log = {log!r}
args = sys.argv[1:]
entry = {{"args": args, "PGPASSWORD": os.environ.get("PGPASSWORD")}}
if "--interactive" in args:
    entry["stdin"] = sys.stdin.read()
with open(log, "a") as handle:
    handle.write(json.dumps(entry) + "\n")
if args[:2] == ["container", "inspect"]:
    running = os.environ.get("FAKE_RUNNING", "true")
    if running == "missing":
        sys.stderr.write("Error: no such container\n"); sys.exit(125)
    print(running + " 10.89.0.5")
elif args[0] == "exec" and "--interactive" in args:
    sys.exit(int(os.environ.get("FAKE_ALTER_RC", "0")))
elif args[0] == "exec":
    login = os.environ.get("FAKE_LOGIN", "ok")
    if login == "auth":
        sys.stderr.write("psql: error: FATAL:  password authentication failed"
                         ' for user "glitchtip"\n')
        sys.exit(2)
    if login == "other":
        sys.stderr.write("psql: error: connection refused\n"); sys.exit(2)
    print(" 1")
'''


@pytest.fixture
def podman(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.jsonl"
    script = bin_dir / "podman"
    script.write_text(FAKE.format(python=sys.executable, log=str(log)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    for name in ("FAKE_RUNNING", "FAKE_LOGIN", "FAKE_ALTER_RC"):
        monkeypatch.delenv(name, raising=False)

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return calls


@pytest.fixture
def run(run_module):
    def _run(check: bool = False, **given: str):
        password = given or {"password": PASSWORD}
        result, output = run_module(postgres_password.main, check=check,
                                    container="lgtm-glitchtip-postgres", user="glitchtip",
                                    **password)
        assert PASSWORD not in output
        return result

    return _run


def test_a_password_that_logs_in_changes_nothing(podman, run):
    result = run()
    assert result["changed"] is False and result["login"] == "ok"
    login = podman()[1]
    # On the network address, the password in the environment only.
    assert "--host=10.89.0.5" in login["args"]
    assert login["PGPASSWORD"] == PASSWORD
    assert not any(PASSWORD in arg for call in podman() for arg in call["args"])
    assert len(podman()) == 2


def test_a_refused_password_is_set_on_stdin(podman, run, monkeypatch):
    monkeypatch.setenv("FAKE_LOGIN", "auth")
    result = run()
    assert result["changed"] is True
    alter = podman()[2]
    assert alter["stdin"] == "ALTER ROLE \"glitchtip\" PASSWORD 'n3w-pass''word';\n"
    assert not any(PASSWORD in arg for arg in alter["args"])


def test_check_mode_predicts_and_sets_nothing(podman, run, monkeypatch):
    monkeypatch.setenv("FAKE_LOGIN", "auth")
    result = run(check=True)
    assert result["changed"] is True
    assert len(podman()) == 2


@pytest.mark.parametrize("running", ["false", "missing"])
def test_no_running_container_nothing_to_carry(podman, run, monkeypatch, running):
    monkeypatch.setenv("FAKE_RUNNING", running)
    result = run()
    assert result == {**result, "changed": False, "running": False}
    assert len(podman()) == 1


def test_another_login_failure_is_reported_and_changes_nothing(podman, run, monkeypatch):
    monkeypatch.setenv("FAKE_LOGIN", "other")
    result = run()
    assert result["changed"] is False
    assert result["login"] == "psql: error: connection refused"


def test_a_failing_alter_fails_naming_the_role(podman, run, monkeypatch):
    monkeypatch.setenv("FAKE_LOGIN", "auth")
    monkeypatch.setenv("FAKE_ALTER_RC", "1")
    result = run()
    assert result["failed"] is True
    assert "glitchtip" in result["msg"] and "lgtm-glitchtip-postgres" in result["msg"]


def test_a_password_file_is_read_on_the_host(podman, run, monkeypatch, tmp_path):
    secret = tmp_path / "postgres_password"
    secret.write_text(PASSWORD)
    monkeypatch.setenv("FAKE_LOGIN", "auth")
    result = run(password_file=str(secret))
    assert result["changed"] is True
    assert podman()[1]["PGPASSWORD"] == PASSWORD
    assert podman()[2]["stdin"] == "ALTER ROLE \"glitchtip\" PASSWORD 'n3w-pass''word';\n"


def test_a_password_file_not_written_yet_tries_nothing(podman, run, tmp_path):
    result = run(password_file=str(tmp_path / "none"))
    assert result["changed"] is False and result["running"] is False
    assert "nothing to carry" in result["msg"]
    assert podman() == []


def test_password_and_password_file_are_one_or_the_other(podman, run, tmp_path):
    result = run(password=PASSWORD, password_file=str(tmp_path / "x"))
    assert result["failed"] is True and "mutually exclusive" in result["msg"]


def test_without_podman_there_is_no_container_to_carry_into(run, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run()
    assert result == {**result, "changed": False, "running": False}
    assert "failed" not in result
