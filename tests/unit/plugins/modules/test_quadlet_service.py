"""quadlet_service's main() end to end against a fake host: systemctl, podman and quadlet that
keep state between calls (a started unit runs a container carrying its unit's hash label), so
a converge, an unchanged second run, a change, check mode and each phase's failure can be
seen in the files, the calls made and the result.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils import quadlet, service
from ansible_collections.lgtm.stack.plugins.modules import quadlet_service

IMAGE = "docker.io/grafana/loki:3.5.0"
IMAGE_ID = "1" * 64
SECRET = "s3cret-value-never-shown"
KEY = "-----BEGIN PRIVATE KEY-----\nnever-shown\n-----END PRIVATE KEY-----\n"
MUTATING = ("systemctl start", "systemctl restart", "systemctl stop", "systemctl daemon-reload",
            "systemctl enable", "podman kill")

# One script for the three programs: argv[0]'s name says which. State is a JSON file.
FAKE = r'''#!{python}
import json, os, re, sys
state_path, unit_dir = {state!r}, {units!r}
with open(state_path) as handle:
    state = json.load(handle)
program, args = os.path.basename(sys.argv[0]), sys.argv[1:]
state["calls"].append(program + " " + " ".join(args))
rc, out = 0, ""

def unit_of(service):
    stem = service[:-len(".service")]
    path = os.path.join(unit_dir, stem + ".container")
    text = open(path).read() if os.path.exists(path) else ""
    label = re.search(r"lgtm\.stack\.config-hash=(\w+)", text)
    name = re.search(r"^ContainerName=(.*)$", text, re.M)
    return (name.group(1) if name else "systemd-" + stem), (label.group(1) if label else None)

if program == "systemctl":
    verb = args[0]
    if verb == "is-active":
        active = state["active"].get(args[1], False)
        out, rc = ("active\n", 0) if active else ("inactive\n", 3)
    elif verb == "show" and args[1] == "--property=Id,UnitFileState,ActiveState":
        out = "\n".join(
            "Id={{}}\nActiveState={{}}\nUnitFileState={{}}\n".format(
                name, *(("active", "enabled") if state["timers"].get(name) else ("inactive", "")))
            for name in args[2:])
    elif verb == "show":
        out = "".join("LoadState=loaded\nNeedDaemonReload=no\n" for _ in args[2:])
    elif verb == "enable":
        state["timers"][args[-1]] = True
    elif verb in ("start", "restart"):
        if os.environ.get("FAKE_START_FAIL"):
            rc = 1
        else:
            container, label = unit_of(args[1])
            state["active"][args[1]] = True
            state["containers"][container] = {{"label": label, "image": {image_id!r}}}
    elif verb == "stop":
        state["active"][args[1]] = False
    elif verb == "status":
        out, rc = "Active: failed\n", 3
elif program == "podman":
    if args[0] == "--version":
        out = "podman version 5.4.2\n"
    elif args[:2] == ["container", "inspect"]:
        found = state["containers"].get(args[-1])
        if found is None:
            out, rc = "Error: no such container\n", 125
        else:
            labels = {{"lgtm.stack.config-hash": found["label"]}} if found["label"] else {{}}
            out = json.dumps([{{"Config": {{"Labels": labels}}, "Image": found["image"]}}])
    elif args[:2] == ["image", "inspect"]:
        out = {image_id!r} + "\n"
elif program == "quadlet":
    if os.environ.get("FAKE_QUADLET_FAIL"):
        sys.stderr.write(os.environ["FAKE_QUADLET_FAIL"] + "\n")
        rc = 1
    else:
        for name in sorted(os.listdir(os.environ["QUADLET_UNIT_DIRS"])):
            if name.endswith(".container"):
                out += "---" + name[:-len(".container")] + ".service---\n[Service]\n\n"
with open(state_path, "w") as handle:
    json.dump(state, handle)
sys.stdout.write(out)
sys.exit(rc)
'''


class Host:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.units = tmp / "units"
        self.etc = tmp / "etc" / "loki"
        self.data = tmp / "data" / "loki"
        self.state_file = tmp / "fake-state.json"
        self.run_dir = tmp / "run-systemd-system"
        for directory in (self.bin, self.units, self.run_dir):
            directory.mkdir(parents=True)
        self.state_file.write_text(
            json.dumps({"active": {}, "containers": {}, "timers": {}, "calls": []}))
        script = FAKE.format(python=sys.executable, state=str(self.state_file),
                             units=str(self.units), image_id=IMAGE_ID)
        for program in ("systemctl", "podman", "quadlet", "journalctl"):
            (self.bin / program).write_text(script)
            (self.bin / program).chmod(0o755)

    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def calls(self) -> list[str]:
        return self.state()["calls"]

    def mutating(self) -> list[str]:
        return [call for call in self.calls() if call.startswith(MUTATING)]

    def forget_calls(self) -> None:
        state = self.state()
        state["calls"] = []
        self.state_file.write_text(json.dumps(state))

    def tree(self) -> dict[str, tuple[int, bytes | None]]:
        seen = {}
        for top in (self.tmp / "etc", self.tmp / "data", self.units, self.tmp / "state"):
            for path in sorted(top.rglob("*")) if top.exists() else ():
                info = os.lstat(path)
                seen[str(path)] = (info.st_mode, path.read_bytes() if path.is_file() else None)
        return seen


@pytest.fixture
def host(tmp_path, monkeypatch):
    fake = Host(tmp_path)
    monkeypatch.setenv("PATH", str(fake.bin))
    monkeypatch.delenv("FAKE_QUADLET_FAIL", raising=False)
    monkeypatch.delenv("FAKE_START_FAIL", raising=False)
    monkeypatch.setattr(quadlet_service, "SYSTEMD_RUN_DIR", str(fake.run_dir))
    return fake


@pytest.fixture
def listening():
    """A TCP port that accepts connections: a ready endpoint."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def loki(host: Host, port: int, retention: str = "720h", **extra) -> dict:
    validator = f"{shlex.quote(sys.executable)} -c " + shlex.quote(
        "import sys; text = open(sys.argv[1]).read();"
        " sys.exit('bad retention' if 'retention: bad' in text else 0)"
    ) + " %s"
    params = {
        "name": "loki",
        "directories": [{"path": str(host.etc)}, {"path": str(host.data), "mode": "0750"}],
        "secrets": [{"path": str(host.etc / "token"), "value": SECRET, "mode": "0400",
                     "unit": "lgtm-loki.container"}],
        "files": [
            {"dest": str(host.etc / "config.yaml"), "content": f"retention: {retention}\n",
             "validate": validator, "unit": "lgtm-loki.container"},
            {"dest": str(host.etc / "runtime.yaml"), "content": "overrides: {}\n",
             "unit": "lgtm-loki.container", "action": "reload"},
        ],
        "reload": {"reload_signal": "HUP"},
        "units": [{"name": "lgtm-loki.container", "sections": {
            "Container": {"Image": IMAGE, "ContainerName": "lgtm-loki"},
            "Install": {"WantedBy": "multi-user.target"}}}],
        "wait": {"timeout": 5, "endpoints": [{"name": "loki", "host": "127.0.0.1",
                                              "port": port}]},
        "unit_dir": str(host.units),
        "state_dir": str(host.tmp / "state"),
        "candidate_dir": str(host.tmp / "state" / "candidates"),
        "quadlet_binary": str(host.bin / "quadlet"),
    }
    params.update(extra)
    return params


@pytest.fixture
def run(run_module):
    def _run(params, check=False, diff=False):
        result, output = run_module(quadlet_service.main, check=check, diff=diff, **params)
        assert SECRET not in output
        assert "never-shown" not in output
        return result

    return _run


def test_first_run_converges_in_order_and_the_second_changes_nothing(host, run, listening):
    first = run(loki(host, listening))
    assert first["changed"] is True
    assert first["dry_run"] == ["lgtm-loki.container"]
    assert first["validated"] == [str(host.etc / "config.yaml")]
    assert host.mutating() == ["systemctl daemon-reload", "systemctl start lgtm-loki.service"]
    assert first["wait"]["endpoints"][0]["ready"] is True
    unit_text = (host.units / "lgtm-loki.container").read_text()
    label = quadlet.labels_of(quadlet.parse_unit(unit_text))[quadlet.CONFIG_HASH_LABEL]
    assert first["units"][0]["config_hash"] == label
    assert host.state()["containers"]["lgtm-loki"]["label"] == label
    # The same text and label quadlet_unit writes for the same unit and restart files.
    expected, _digest = quadlet.unit_text(
        "lgtm-loki.container", loki(host, listening)["units"][0]["sections"],
        [str(host.etc / "config.yaml"), str(host.etc / "token")])
    assert unit_text == expected
    assert (host.etc / "token").read_text() == SECRET
    assert oct(os.stat(host.etc / "token").st_mode & 0o777) == "0o400"

    host.forget_calls()
    second = run(loki(host, listening))
    assert second["changed"] is False
    assert host.mutating() == []
    assert second["dry_run"] == []
    assert [action["action"] for action in second["reconcile"]["actions"]] == ["none"]
    # No validator and no quadlet on an unchanged run.
    assert not [call for call in host.calls() if call.startswith("quadlet")]


def test_a_changed_config_restarts_and_check_mode_says_so_first(host, run, listening):
    run(loki(host, listening))
    before = host.tree()
    host.forget_calls()
    predicted = run(loki(host, listening, retention="240h"), check=True, diff=True)
    assert host.tree() == before
    assert host.mutating() == []
    assert predicted["changed"] is True
    assert predicted["files"] == [str(host.etc / "config.yaml")]
    assert predicted["validated"] == []
    assert predicted["reconcile"]["restarted"] == ["lgtm-loki.service"]
    assert [d["after"] for d in predicted["diff"] if d["after_header"].endswith("config.yaml")] \
        == ["retention: 240h\n"]

    done = run(loki(host, listening, retention="240h"))
    assert done["reconcile"]["restarted"] == ["lgtm-loki.service"]
    assert done["units"][0]["config_hash"] == predicted["units"][0]["config_hash"]
    assert host.mutating() == ["systemctl daemon-reload", "systemctl restart lgtm-loki.service"]
    # A label-only change is not dry-run again.
    assert done["dry_run"] == []


def test_a_reload_file_reloads_and_is_not_in_the_hash(host, run, listening):
    run(loki(host, listening))
    host.forget_calls()
    params = loki(host, listening)
    params["files"][1]["content"] = "overrides: {tenant: {}}\n"
    result = run(params)
    assert [a["action"] for a in result["reconcile"]["actions"]] == ["reload"]
    assert host.mutating() == ["podman kill --signal HUP lgtm-loki"]
    assert result["units"][0]["changed"] is False


def test_a_bad_candidate_replaces_no_file_and_restarts_nothing(host, run, listening):
    run(loki(host, listening))
    params = loki(host, listening, retention="bad")
    params["directories"].append({"path": str(host.tmp / "etc" / "new")})
    params["secrets"][0]["value"] = "another-secret-value"
    before = host.tree()
    host.forget_calls()
    result = run(params)
    assert result["failed"] is True
    assert result["phase"] == "validate"
    assert str(host.etc / "config.yaml") in result["msg"]
    assert "bad retention" in result["msg"]
    assert host.mutating() == []
    # Directories and secrets come first, validators may need them; files and units wait.
    after = host.tree()
    assert set(after) - set(before) == {str(host.tmp / "etc" / "new")}
    changed = sorted(path for path in before if after[path] != before[path])
    assert changed == [str(host.etc / "token")]
    # The secret's unit restarts once a good config is given, not before.
    host.forget_calls()
    fixed = run(loki(host, listening, secrets=params["secrets"]))
    assert fixed["reconcile"]["restarted"] == ["lgtm-loki.service"]


def test_a_validator_may_mount_a_directory_the_same_call_creates(host, run, listening):
    mounted = host.tmp / "etc" / "loki" / "rules"
    params = loki(host, listening)
    params["directories"].append({"path": str(mounted)})
    params["files"][0]["validate"] = (
        f"{shlex.quote(sys.executable)} -c "
        + shlex.quote(
            f"import os, sys; sys.exit(0 if os.path.isdir({str(mounted)!r}) else 'no dir')"
        )
        + " %s"
    )
    result = run(params)
    assert result.get("failed") is not True, result.get("msg")
    assert result["validated"] == [str(host.etc / "config.yaml")]


def test_a_unit_quadlet_rejects_changes_nothing(host, run, listening, monkeypatch):
    run(loki(host, listening))
    params = loki(host, listening, retention="1h")
    params["units"][0]["sections"]["Container"]["Exec"] = "-config.expand-env=true"
    before = host.tree()
    monkeypatch.setenv("FAKE_QUADLET_FAIL", "unsupported key 'Exec'")
    result = run(params)
    assert result["phase"] == "units"
    assert "unsupported key" in result["msg"]
    assert host.tree() == before


def test_an_interrupted_run_is_finished_by_the_next(host, run, listening, monkeypatch):
    run(loki(host, listening))
    monkeypatch.setenv("FAKE_START_FAIL", "1")
    failed = run(loki(host, listening, retention="48h"))
    assert failed["phase"] == "reconcile"
    assert "lgtm-loki.service" in failed["msg"]
    # The files and the unit are written; the container still runs the old label.
    assert failed["units"][0]["changed"] is True
    monkeypatch.delenv("FAKE_START_FAIL")
    host.forget_calls()
    finished = run(loki(host, listening, retention="48h"))
    assert finished["units"][0]["changed"] is False
    assert finished["reconcile"]["restarted"] == ["lgtm-loki.service"]
    assert host.mutating() == ["systemctl restart lgtm-loki.service"]


def test_not_ready_names_the_endpoint_and_the_phase(host, run):
    params = loki(host, closed_port())
    params["wait"]["timeout"] = 0.5
    result = run(params)
    assert result["phase"] == "wait"
    assert "loki" in result["msg"]
    assert result["reconcile"]["actions"][0]["action"] == "start"


def test_a_failing_secret_names_its_path_not_its_value(host, run, listening):
    params = loki(host, listening)
    params["secrets"][0]["path"] = str(host.tmp / "nowhere" / "token")
    result = run(params)
    assert result["phase"] == "plan"
    assert str(host.tmp / "nowhere" / "token") in result["msg"]


def test_tls_adds_its_files_first_and_checks_over_https(host, run, serve):
    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    base = serve(Health)
    tls_dir = host.etc / "tls"
    params = loki(host, 1)
    params["wait"] = {"timeout": 0.3, "endpoints": [{"name": "loki", "url": base + "/ready"}]}
    params["tls"] = {"enabled": True, "dir": str(tls_dir), "owner": "root",
                     "unit": "lgtm-loki.container", "server_name": "10.0.0.5",
                     "certificate": "CERT\n", "private_key": KEY, "ca_certificate": "CA\n"}
    result = run(params)
    shown = result["expanded"]
    assert shown["tls_files"] == [str(tls_dir / n) for n in ("server.crt", "server.key", "ca.crt")]
    assert shown["units"]["lgtm-loki.container"]["restart_on"] == [
        str(tls_dir / "server.crt"), str(tls_dir / "server.key"),
        str(host.etc / "config.yaml"), str(host.etc / "token")]
    assert shown["endpoints"] == [{"name": "loki", "url": base.replace("http:", "https:")
                                   + "/ready", "ca_path": str(tls_dir / "ca.crt"),
                                   "server_name": "10.0.0.5"}]
    # The plain-HTTP server cannot answer a TLS handshake: the check really went over https.
    assert result["phase"] == "wait"
    assert (tls_dir / "server.key").read_text() == KEY
    assert oct(os.stat(tls_dir / "server.key").st_mode & 0o777) == "0o400"

    params["tls"]["enabled"] = False
    params["wait"]["endpoints"][0]["url"] = base + "/ready"
    params["wait"]["timeout"] = 5
    off = run(params)
    assert off["removed"] == [str(tls_dir)]
    assert not tls_dir.exists()
    assert off["wait"]["endpoints"][0]["ready"] is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["units"].append(dict(p["units"][0])), "given more than once"),
        (lambda p: p["files"][0].update(unit="lgtm-other.container"), "is not in units"),
        (lambda p: p.update(reload={}), "neither reload_signal nor reload_url"),
        (lambda p: p.update(tls={"enabled": True, "dir": "/x"}), "tls.certificate"),
    ],
)
def test_bad_settings_fail_before_anything(host, run, listening, change, message):
    params = loki(host, listening)
    change(params)
    result = run(params)
    assert result["phase"] == "expand"
    assert message in result["msg"]
    assert host.tree() == {}
    assert host.calls() == []


def test_the_disk_wins_over_the_planned_hash(host, run, listening, monkeypatch):
    """Should the prediction miss a change, the label is still the one the written files give."""
    run(loki(host, listening))
    monkeypatch.setattr(quadlet_service.service.files.Plan, "overlay", lambda self: {})
    changed = run(loki(host, listening, retention="12h"))
    monkeypatch.undo()
    monkeypatch.setenv("PATH", str(host.bin))
    monkeypatch.setattr(quadlet_service, "SYSTEMD_RUN_DIR", str(host.run_dir))
    assert changed["reconcile"]["restarted"] == ["lgtm-loki.service"]
    host.forget_calls()
    again = run(loki(host, listening, retention="12h"))
    assert again["changed"] is False
    assert host.mutating() == []


def test_directories_and_secrets_alone_touch_no_unit_and_no_systemd(host, run, listening):
    """GlitchTip's first call: its env files are built from the secrets this writes."""
    params = loki(host, listening)
    only = {key: params[key] for key in ("name", "directories", "secrets", "candidate_dir",
                                         "unit_dir", "state_dir")}
    del only["secrets"][0]["unit"]
    first = run(only)
    assert first["changed"] is True, first
    assert (host.etc / "token").read_text() == SECRET
    assert host.calls() == []
    assert "reconcile" not in first
    assert run(only)["changed"] is False


def with_env(host: Host, port: int, password: str | None = None) -> dict:
    """An env file composed on the host from a secret generated there (GlitchTip's)."""
    params = loki(host, port)
    params["secrets"].append({"path": str(host.etc / "db_password"), "value": password,
                              "length": 40})
    params["files"].append({
        "dest": str(host.etc / "app.env"), "mode": "0600", "unit": "lgtm-loki.container",
        "content": "PASSWORD=@PW@\nDATABASE_URL=postgres://app:@PW_URL@@db/app\n",
        "fill": [{"placeholder": "@PW@", "secret": str(host.etc / "db_password")},
                 {"placeholder": "@PW_URL@", "secret": str(host.etc / "db_password"),
                  "encoding": "url"}]})
    return params


def test_fill_composes_a_file_from_a_secret_generated_on_the_host(host, run, listening):
    first = run(with_env(host, listening))
    assert first["changed"] is True, first.get("msg")
    generated = (host.etc / "db_password").read_text()
    assert len(generated) == 40
    assert (host.etc / "app.env").read_text() == (
        f"PASSWORD={generated}\nDATABASE_URL=postgres://app:{generated}@db/app\n")
    # The composed file is secret: neither its content nor the value is returned.
    assert generated not in json.dumps(first)
    host.forget_calls()
    again = run(with_env(host, listening), diff=True)
    assert again["changed"] is False
    assert host.mutating() == []


def test_fill_follows_a_given_secret_and_restarts_the_unit(host, run, listening):
    run(with_env(host, listening))
    host.forget_calls()
    changed = run(with_env(host, listening, password="p/ss:w@rd 1"), diff=True)
    assert changed["changed"] is True
    assert (host.etc / "app.env").read_text() == (
        "PASSWORD=p/ss:w@rd 1\nDATABASE_URL=postgres://app:p%2Fss%3Aw%40rd%201@db/app\n")
    assert "p/ss:w@rd" not in json.dumps(changed)
    assert all(item.get("before_header") != str(host.etc / "app.env")
               for item in changed.get("diff", []))
    assert [a["action"] for a in changed["reconcile"]["actions"]] == ["restart"]


def test_fill_in_check_mode_writes_nothing_and_reports_the_change(host, run, listening):
    result = run(with_env(host, listening), check=True)
    assert result["changed"] is True
    assert not (host.etc / "db_password").exists() and not (host.etc / "app.env").exists()


def test_fill_naming_a_path_outside_the_secrets_fails_before_writing(host, run, listening):
    params = with_env(host, listening)
    params["files"][-1]["fill"][0]["secret"] = "/etc/shadow"
    result = run(params)
    assert result["failed"] is True and result["phase"] == "plan"
    assert "@PW@ names /etc/shadow" in result["msg"]
    assert not host.etc.exists() or not any(host.etc.iterdir())


def test_check_mode_polls_only_a_service_that_would_not_change(host, run):
    """The service answering now is the one before the change: no verdict on the new one."""
    unready = closed_port()
    run(loki(host, unready, wait={"timeout": 0.2, "endpoints": []}))
    params = loki(host, unready, retention="1h")
    params["wait"]["timeout"] = 0.2
    changed = run(params, check=True)
    assert changed.get("failed") is not True, changed.get("msg")
    assert changed["wait"] == {"skipped": "check mode: the service would change first"}
    unchanged = run(loki(host, unready, wait={"timeout": 0.2, "endpoints": [
        {"name": "loki", "host": "127.0.0.1", "port": unready}]}), check=True)
    assert unchanged["phase"] == "wait"


# --- timers: a backup's script, service and timer in the same call ---------------------

TIMER = "lgtm-loki-backup.timer"


def with_timer(host: Host, port: int, schedule: str = "daily") -> dict:
    systemd = host.tmp / "etc" / "systemd"
    params = loki(host, port)
    params["directories"].append({"path": str(systemd)})
    params["files"] += [
        {"dest": str(host.etc / "backup.sh"), "content": "#!/bin/sh\n", "mode": "0755",
         "action": "none"},
        {"dest": str(systemd / "lgtm-loki-backup.service"), "action": "none",
         "content": f"[Service]\nType=oneshot\nExecStart={host.etc}/backup.sh\n"},
        {"dest": str(systemd / TIMER), "action": "none",
         "content": f"[Timer]\nOnCalendar={schedule}\n"},
    ]
    params["timers"] = [TIMER]
    return params


def test_a_timer_is_enabled_with_the_service_and_then_left_alone(host, listening, run):
    result = run(with_timer(host, listening))
    assert result["timers"] == {"daemon_reloaded": False, "started": [TIMER]}
    # One daemon-reload for units and timer files alike (the reconcile's), then the timer.
    assert host.mutating() == ["systemctl daemon-reload", "systemctl start lgtm-loki.service",
                               f"systemctl enable --now {TIMER}"]
    host.forget_calls()
    again = run(with_timer(host, listening))
    assert again["changed"] is False
    assert again["timers"] == {"daemon_reloaded": False, "started": []}
    assert host.mutating() == []


def test_a_changed_schedule_reloads_systemd_and_restarts_nothing(host, listening, run):
    run(with_timer(host, listening))
    host.forget_calls()
    result = run(with_timer(host, listening, schedule="weekly"))
    assert result["changed"] is True
    assert result["timers"] == {"daemon_reloaded": True, "started": []}
    assert host.mutating() == ["systemctl daemon-reload"]


def test_a_timer_stopped_by_hand_is_started_again(host, listening, run):
    run(with_timer(host, listening))
    state = host.state()
    state["timers"][TIMER] = False
    host.state_file.write_text(json.dumps(state))
    host.forget_calls()
    result = run(with_timer(host, listening))
    assert result["changed"] is True
    assert host.mutating() == [f"systemctl enable --now {TIMER}"]


def test_check_mode_predicts_the_timer_and_starts_nothing(host, listening, run):
    run(loki(host, listening))
    host.forget_calls()
    result = run(with_timer(host, listening), check=True)
    assert result["changed"] is True
    assert result["timers"]["started"] == [TIMER]
    assert host.mutating() == []
    assert not (host.tmp / "etc" / "systemd" / TIMER).exists()


def test_a_failing_enable_names_the_timer_and_the_phase(host, listening, run):
    run(loki(host, listening))
    real = host.bin / "real"
    real.mkdir()
    (host.bin / "systemctl").rename(real / "systemctl")
    (host.bin / "systemctl").write_text(
        "#!/bin/sh\n"
        "case \"$1\" in enable) echo 'Unit file is masked.' >&2; exit 1;; esac\n"
        f"exec {real / 'systemctl'} \"$@\"\n")
    (host.bin / "systemctl").chmod(0o755)
    result = run(with_timer(host, listening))
    assert result["failed"] is True
    assert result["phase"] == "timers"
    assert TIMER in result["msg"] and "masked" in result["msg"]


# --- prune: files no longer declared in a directory go (Grafana's dashboards) ----------

def with_dashboards(host: Host, port: int, names: list[str]) -> dict:
    boards = host.tmp / "etc" / "dashboards"
    params = loki(host, port)
    params["directories"].append({"path": str(boards), "prune": "*.json"})
    params["files"] += [{"dest": str(boards / f"{name}.json"), "content": "{}\n",
                         "action": "none"} for name in names]
    return params


def test_prune_removes_only_undeclared_matching_files(host, listening, run):
    run(with_dashboards(host, listening, ["a", "b"]))
    boards = host.tmp / "etc" / "dashboards"
    (boards / "notes.txt").write_text("kept: not *.json\n")
    host.forget_calls()
    checked = run(with_dashboards(host, listening, ["a"]), check=True)
    assert checked["changed"] is True
    assert checked["removed"] == [str(boards / "b.json")]
    assert (boards / "b.json").exists()
    result = run(with_dashboards(host, listening, ["a"]))
    assert result["removed"] == [str(boards / "b.json")]
    assert sorted(path.name for path in boards.iterdir()) == ["a.json", "notes.txt"]
    # Nothing restarts for it, and the next run has nothing to remove.
    assert host.mutating() == []
    again = run(with_dashboards(host, listening, ["a"]))
    assert again["changed"] is False and again["removed"] == []


def test_a_timer_named_without_its_suffix_is_the_same_timer(host, listening, run):
    """The core passes quadlet_timers[].name as it is (lgtm-loki-backup)."""
    params = with_timer(host, listening)
    params["timers"] = ["lgtm-loki-backup"]
    assert run(params)["timers"]["started"] == [TIMER]
    host.forget_calls()
    again = run(with_timer(host, listening, schedule="weekly") | {"timers": ["lgtm-loki-backup"]})
    assert again["timers"] == {"daemon_reloaded": True, "started": []}


def test_the_podman_version_is_asked_again_only_when_the_binary_changes(host, run, listening):
    run(loki(host, listening))
    host.forget_calls()
    run(loki(host, listening))
    assert "podman --version" not in host.calls(), "remembered in the state directory"
    cache = host.tmp / "state" / "podman-version"
    assert cache.read_text().endswith("\npodman version 5.4.2\n")
    # An upgrade replaces the binary: a new file, a new identity.
    podman = host.bin / "podman"
    replaced = podman.read_bytes()
    podman.unlink()
    podman.write_bytes(replaced)
    podman.chmod(0o755)
    result = run(loki(host, listening))
    assert host.calls().count("podman --version") == 1
    assert result["podman_version"] == "5.4.2"


# --- state: absent, the removal in the same call ---------------------------------------


def two_units(host: Host, port: int) -> dict:
    params = loki(host, port)
    params["units"].append({"name": "lgtm-loki-sidecar.container", "sections": {
        "Container": {"Image": IMAGE, "ContainerName": "lgtm-loki-sidecar"}}})
    return params


def test_absent_stops_in_reverse_removes_the_units_and_keeps_the_data(host, run, listening):
    run(two_units(host, listening))
    host.forget_calls()
    result = run({**two_units(host, listening), "state": "absent"})
    assert result["changed"] is True
    stops = [call for call in host.calls() if call.startswith("systemctl stop")]
    assert stops == ["systemctl stop lgtm-loki-sidecar.service", "systemctl stop lgtm-loki.service"]
    assert not (host.units / "lgtm-loki.container").exists()
    assert not (host.units / "lgtm-loki-sidecar.container").exists()
    assert "systemctl daemon-reload" in host.calls()
    assert host.etc.is_dir() and host.data.is_dir(), "data outlives the service"
    assert result["removed"] == []
    host.forget_calls()
    again = run({**two_units(host, listening), "state": "absent"})
    assert again["changed"] is False
    assert host.mutating() == []


def test_absent_with_remove_data_removes_the_directories(host, run, listening):
    run(loki(host, listening))
    (host.data / "chunks").mkdir()
    result = run({**loki(host, listening), "state": "absent", "remove_data": True})
    assert sorted(result["removed"]) == sorted([str(host.etc), str(host.data)])
    assert not host.etc.exists() and not host.data.exists()


def test_absent_in_check_mode_reports_and_removes_nothing(host, run, listening):
    run(loki(host, listening))
    before = host.tree()
    host.forget_calls()
    result = run({**loki(host, listening), "state": "absent", "remove_data": True}, check=True)
    assert result["changed"] is True
    assert result["reconcile"]["actions"][0]["action"] == "stop"
    assert host.tree() == before
    assert host.mutating() == []


# --- secrets[].postgres: the database password carried before anything reads it ---------


@pytest.fixture
def carried(monkeypatch):
    """postgres.carry's calls (its own logic has test_postgres_password.py); each answers
    as the test sets: answer["outcome"], or answer["errors"][0] raised."""
    calls: list[dict] = []
    answer: dict = {"outcome": {"changed": False, "running": True, "login": "ok"}, "errors": []}

    def carry(module, container, user, password, database="postgres"):
        calls.append({"container": container, "user": user, "password": password,
                      "database": database, "check": module.check_mode})
        errors: list[Exception] = answer["errors"]
        if errors:
            raise errors[0]
        return dict(answer["outcome"])

    monkeypatch.setattr(service.postgres, "carry", carry)
    return calls, answer


def with_database(host: Host, port: int, password: str | None = None) -> dict:
    params = with_env(host, port, password)
    params["secrets"][-1]["postgres"] = {"container": "lgtm-db", "user": "app"}
    return params


def test_the_password_as_the_call_leaves_it_is_carried_every_run(host, run, listening, carried):
    calls, _answer = carried
    first = run(with_database(host, listening))
    generated = (host.etc / "db_password").read_text()
    assert calls[-1] == {"container": "lgtm-db", "user": "app", "password": generated,
                         "database": "postgres", "check": False}
    assert first["postgres"][0]["login"] == "ok"
    again = run(with_database(host, listening))
    assert len(calls) == 2 and again["changed"] is False
    assert generated not in json.dumps(first) + json.dumps(again)


def test_a_refused_password_set_is_a_change_and_in_check_mode_only_reported(
        host, run, listening, carried):
    calls, answer = carried
    run(with_database(host, listening))
    answer["outcome"] = {"changed": True, "running": True,
                         "login": "password authentication failed"}
    predicted = run(with_database(host, listening, password="n3w"), check=True)
    assert predicted["changed"] is True and calls[-1]["check"] is True
    assert calls[-1]["password"] == "n3w", "the value the call would write"
    assert (host.etc / "db_password").read_text() != "n3w"


def test_a_failing_alter_role_stops_before_the_files_and_the_units(host, run, listening, carried):
    _calls, answer = carried
    run(with_database(host, listening))
    env_before = (host.etc / "app.env").read_text()
    host.forget_calls()
    answer["errors"].append(service.postgres.PostgresError(
        "setting the password of app in lgtm-db failed"))
    result = run(with_database(host, listening, password="n3w"))
    assert result["failed"] is True and result["phase"] == "postgres"
    assert "lgtm-db" in result["msg"]
    assert (host.etc / "app.env").read_text() == env_before
    assert host.mutating() == []
