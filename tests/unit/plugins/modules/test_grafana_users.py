"""lgtm.stack.grafana_users against the Grafana contract stand-in on 127.0.0.1.

The stand-in runs as a subprocess (tests/unit/standins/test_grafana_standin.py's Grafana),
and the admin password reset runs the stand-in's own CLI, as the role runs Grafana's
through `podman exec`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lgtm.stack.plugins.modules import grafana_users

STANDIN_TESTS = Path(__file__).resolve().parents[2] / "standins"
sys.path.insert(0, str(STANDIN_TESTS))
from test_grafana_standin import PROGRAM, Grafana  # noqa: E402 - after its directory is on sys.path

ADMIN_PASSWORD = "first-password"
OPERATOR = {"login": "operator", "name": "Operator", "email": "op@example.org", "role": "Editor"}


class Setup:
    def __init__(self, grafana: Grafana, tmp: Path) -> None:
        self.grafana = grafana
        self.admin_file = tmp / "admin_password"
        self.admin_file.write_text(ADMIN_PASSWORD)
        self.users_dir = tmp / "users"
        self.users_dir.mkdir()
        self.reset_command = [sys.executable, str(PROGRAM), "cli", "--homepath", str(grafana.home),
                              "--config", str(grafana.config), "admin", "reset-admin-password",
                              "--password-from-stdin"]

    def params(self, users: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        return {"url": f"http://127.0.0.1:{self.grafana.port}", "admin_user": "admin",
                "admin_password_file": str(self.admin_file), "reset_command": self.reset_command,
                "users_dir": str(self.users_dir), "users": users or [], **extra}

    def password(self, login: str, value: str) -> None:
        (self.users_dir / login).write_text(value)

    def user(self, login: str) -> tuple[int, Any]:
        return self.grafana.get(f"/api/users/lookup?loginOrEmail={login}",
                                ("admin", self.admin_file.read_text()))

    def roles(self) -> dict[str, str]:
        users = self.grafana.get("/api/org/users", ("admin", self.admin_file.read_text()))[1]
        return {entry["login"]: entry["role"] for entry in users}


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    grafana = Grafana(tmp_path)
    # The CLI finds the database through GF_PATHS_DATA, as in the image.
    monkeypatch.setenv("GF_PATHS_DATA", str(grafana.data))
    assert grafana.start({"GF_SECURITY_ADMIN_PASSWORD": ADMIN_PASSWORD}) is None
    yield Setup(grafana, tmp_path)
    grafana.stop()


def test_creates_users_then_changes_nothing(setup: Setup, run_module) -> None:
    setup.password("operator", "operator-pw")
    setup.password("viewer", "viewer-pw")
    users = [OPERATOR, {"login": "viewer"}]
    result, output = run_module(grafana_users.main, **setup.params(users))
    assert result["changed"] is True
    assert result["changes"] == ["user:operator:created", "user:operator:role",
                                 "user:viewer:created"]
    status, found = setup.user("operator")
    assert status == 200 and (found["name"], found["email"]) == ("Operator", "op@example.org")
    assert setup.roles()["operator"] == "Editor" and setup.roles()["viewer"] == "Viewer"
    assert setup.grafana.get("/api/user", ("operator", "operator-pw"))[0] == 200
    assert "operator-pw" not in output and ADMIN_PASSWORD not in output

    again, _output = run_module(grafana_users.main, **setup.params(users))
    assert (again["changed"], again["changes"]) == (False, [])


def test_drift_in_profile_role_and_password_is_brought_back(setup: Setup, run_module) -> None:
    setup.password("operator", "operator-pw")
    run_module(grafana_users.main, **setup.params([OPERATOR]))
    setup.password("operator", "rotated-pw")
    changed = dict(OPERATOR, name="Operations", role="Admin")
    result, output = run_module(grafana_users.main, **setup.params([changed]))
    assert result["changes"] == ["user:operator:profile", "user:operator:role",
                                 "user:operator:password"]
    assert setup.user("operator")[1]["name"] == "Operations"
    assert setup.roles()["operator"] == "Admin"
    assert setup.grafana.get("/api/user", ("operator", "rotated-pw"))[0] == 200
    assert "rotated-pw" not in output


def test_rotated_admin_password_is_reset_through_the_cli(setup: Setup, run_module) -> None:
    setup.admin_file.write_text("second-password")
    result, output = run_module(grafana_users.main, **setup.params())
    assert result["changes"] == ["admin:password-reset"]
    assert setup.grafana.get("/api/user", ("admin", "second-password"))[0] == 200
    assert "second-password" not in output
    again, _output = run_module(grafana_users.main, **setup.params())
    assert again["changed"] is False


def test_refused_admin_password_without_reset_command_fails_naming_the_file(
        setup: Setup, run_module) -> None:
    setup.admin_file.write_text("second-password")
    result, output = run_module(grafana_users.main, **setup.params(reset_command=[]))
    assert result["failed"] is True
    assert str(setup.admin_file) in result["msg"] and "second-password" not in output


def test_check_mode_reports_and_changes_nothing(setup: Setup, run_module) -> None:
    setup.password("operator", "operator-pw")
    result, _output = run_module(grafana_users.main, check=True, **setup.params([OPERATOR]))
    assert result["changes"] == ["user:operator:created", "user:operator:role"]
    assert setup.user("operator")[0] == 404

    setup.admin_file.write_text("second-password")
    pending, _output = run_module(grafana_users.main, check=True, **setup.params([OPERATOR]))
    assert pending["changes"] == ["admin:password-reset"]
    assert setup.grafana.get("/api/user", ("admin", ADMIN_PASSWORD))[0] == 200


def test_absent_user_is_removed_once(setup: Setup, run_module) -> None:
    setup.password("operator", "operator-pw")
    run_module(grafana_users.main, **setup.params([OPERATOR]))
    gone = {"login": "operator", "state": "absent"}
    result, _output = run_module(grafana_users.main, **setup.params([gone]))
    assert result["changes"] == ["user:operator:removed"]
    assert setup.user("operator")[0] == 404
    again, _output = run_module(grafana_users.main, **setup.params([gone]))
    assert again["changed"] is False


def test_missing_password_file_fails_naming_it_after_what_was_done(
        setup: Setup, run_module) -> None:
    setup.password("operator", "operator-pw")
    result, _output = run_module(grafana_users.main,
                                 **setup.params([OPERATOR, {"login": "nobody"}]))
    assert result["failed"] is True
    assert str(setup.users_dir / "nobody") in result["msg"]
    assert result["changes"] == ["user:operator:created", "user:operator:role"]


def test_a_login_listed_twice_fails_before_any_change(setup: Setup, run_module) -> None:
    setup.password("operator", "operator-pw")
    result, _output = run_module(grafana_users.main, **setup.params([OPERATOR, OPERATOR]))
    assert result["failed"] is True and "operator" in result["msg"]
    assert setup.user("operator")[0] == 404
