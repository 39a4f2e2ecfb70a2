"""End-to-end tests of quadlet_reconcile's main() against fake systemctl/podman/journalctl."""

import json
import shlex
import shutil
import ssl
import stat
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.lgtm.stack.plugins.module_utils import quadlet
from ansible_collections.lgtm.stack.plugins.modules import quadlet_reconcile

HASH = "a" * 64
OTHER_HASH = "b" * 64
IMAGE = "docker.io/grafana/loki:3.5.0"
IMAGE_ID = "1" * 64
NEW_IMAGE_ID = "2" * 64
MUTATING = (
    "systemctl start",
    "systemctl restart",
    "systemctl stop",
    "systemctl daemon-reload",
    "podman kill",
)


def fake_script(name, log, responses):
    """A shell script logging its argv and answering by glob patterns over "$*"."""
    lines = [
        "#!/bin/sh",
        f"printf '%s\\n' {shlex.quote(name)}\" $*\" >> {shlex.quote(str(log))}",
        'case "$*" in',
    ]
    for pattern, output, rc in responses:
        case = "*".join(shlex.quote(part) for part in pattern.split("*"))
        lines.append(f"    {case}) printf '%s' {shlex.quote(output)}; exit {rc} ;;")
    lines += ["esac", "exit 0", ""]
    return "\n".join(lines)


class Host:
    """Fake host: unit dir, state dir and the fake executables' answers."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.log = tmp_path / "calls.log"
        self.log.touch()
        self.units = tmp_path / "units"
        self.units.mkdir()
        self.state_dir = tmp_path / "state"
        self.active: dict[str, str] = {}
        self.containers: dict[str, dict] = {}
        self.images: dict[str, str] = {}
        self.systemctl_fail: dict[str, str] = {}
        self.show = "LoadState=loaded\nNeedDaemonReload=no\n"

    def write_unit(self, name, config_hash=HASH, **container):
        sections = {"Container": {"Image": IMAGE, **container}}
        if config_hash:
            sections = quadlet.with_config_hash_label(sections, config_hash)
        (self.units / name).write_text(quadlet.render_unit(sections, "test"))

    def container(self, name, config_hash=HASH, image_id=IMAGE_ID):
        labels = {quadlet.CONFIG_HASH_LABEL: config_hash} if config_hash else {}
        self.containers[name] = {
            "Name": name,
            "Image": image_id,
            "ImageName": IMAGE,
            "State": {"Running": True},
            "Config": {"Labels": labels},
        }

    def install(self):
        systemctl = [
            (f"is-active {svc}", state + "\n", 0 if state == "active" else 3)
            for svc, state in self.active.items()
        ]
        systemctl += [(f"{verb} {svc}", "", 1) for svc, verb in self.systemctl_fail.items()]
        systemctl += [("show *", self.show, 0)]
        systemctl += [
            ("status *", "lgtm-loki.service - Grafana Loki\n   Active: failed\n", 3),
            ("is-active *", "inactive\n", 3),
        ]
        podman = [
            (f"container inspect --format json {name}", json.dumps([data]), 0)
            for name, data in self.containers.items()
        ]
        podman += [
            (f"image inspect --format {{{{.Id}}}} {ref}", image_id + "\n", 0)
            for ref, image_id in self.images.items()
        ]
        podman += [
            ("container inspect *", "Error: no such container\n", 125),
            ("image inspect *", "Error: image not known\n", 125),
        ]
        journal = [("-u *", 'Nov 23 loki[1]: level=error msg="bad config"\n', 0)]
        for name, responses in (
            ("systemctl", systemctl),
            ("podman", podman),
            ("journalctl", journal),
        ):
            path = self.bin / name
            path.write_text(fake_script(name, self.log, responses))
            path.chmod(0o755)
        self.log.write_text("")

    def calls(self):
        return self.log.read_text().splitlines()

    def mutating_calls(self):
        return [c for c in self.calls() if c.startswith(MUTATING)]


@pytest.fixture
def host(tmp_path, monkeypatch):
    h = Host(tmp_path)
    run_dir = tmp_path / "run-systemd-system"
    run_dir.mkdir()
    h.run_dir = run_dir
    monkeypatch.setattr(quadlet_reconcile, "SYSTEMD_RUN_DIR", str(run_dir))
    monkeypatch.setenv("PATH", str(h.bin))
    return h


@pytest.fixture
def run(host, capsys):
    def _run(units, check=False, install=True, **params):
        if install:
            host.install()
        args = {
            "units": units,
            "dir": str(host.units),
            "state_dir": str(host.state_dir),
            **params,
        }
        if check:
            args["_ansible_check_mode"] = True
        with patch_module_args(args), pytest.raises(SystemExit) as exc:
            quadlet_reconcile.main()
        result = json.loads(capsys.readouterr().out)
        assert exc.value.code == (1 if result.get("failed") else 0)
        return result

    return _run


LOKI = [{"name": "lgtm-loki.container"}]


def running_loki(host, config_hash=HASH, image_id=IMAGE_ID):
    host.write_unit("lgtm-loki.container")
    host.active["lgtm-loki.service"] = "active"
    host.container("systemd-lgtm-loki", config_hash=config_hash, image_id=image_id)
    host.images[IMAGE] = IMAGE_ID


def test_not_active_is_started(host, run):
    host.write_unit("lgtm-loki.container")
    result = run(LOKI)
    assert result["changed"] is True
    assert result["actions"] == [
        {
            "name": "lgtm-loki.container",
            "service": "lgtm-loki.service",
            "action": "start",
            "reason": "not running",
        }
    ]
    assert result["restarted"] == []
    assert host.mutating_calls() == ["systemctl start lgtm-loki.service"]


def test_hash_label_differs_restarts(host, run):
    running_loki(host, config_hash=OTHER_HASH)
    result = run(LOKI)
    assert result["changed"] is True
    assert result["actions"][0]["action"] == "restart"
    assert result["actions"][0]["reason"] == "config-hash label differs"
    assert result["restarted"] == ["lgtm-loki.service"]
    assert host.mutating_calls() == ["systemctl restart lgtm-loki.service"]


def test_container_without_label_restarts(host, run):
    running_loki(host, config_hash=None)
    assert run(LOKI)["actions"][0]["action"] == "restart"


def test_same_state_does_nothing(host, run):
    running_loki(host)
    result = run(LOKI)
    assert result["changed"] is False
    assert result["actions"][0]["action"] == "none"
    assert result["restarted"] == []
    assert host.mutating_calls() == []
    calls = host.calls()
    assert "podman container inspect --format json systemd-lgtm-loki" in calls
    assert f"podman image inspect --format {{{{.Id}}}} {IMAGE}" in calls


def test_image_id_differs_restarts(host, run):
    running_loki(host, image_id=NEW_IMAGE_ID)
    result = run(LOKI)
    assert result["actions"][0]["action"] == "restart"
    assert result["actions"][0]["reason"] == "image changed"
    assert host.mutating_calls() == ["systemctl restart lgtm-loki.service"]


def test_sha256_prefixed_ids_compare_equal(host, run):
    running_loki(host, image_id="sha256:" + IMAGE_ID)
    assert run(LOKI)["changed"] is False


def test_unknown_image_does_not_restart(host, run):
    running_loki(host)
    host.images.clear()  # e.g. not pulled yet
    assert run(LOKI)["changed"] is False


def test_units_sharing_an_image_ask_for_its_id_once(host, run):
    for name in ("lgtm-web", "lgtm-worker"):
        host.write_unit(f"{name}.container")
        host.active[f"{name}.service"] = "active"
        host.container(f"systemd-{name}")
    host.images[IMAGE] = IMAGE_ID
    result = run([{"name": "lgtm-web.container"}, {"name": "lgtm-worker.container"}])
    assert result["changed"] is False
    assert [c for c in host.calls() if c.startswith("podman image inspect")] == [
        f"podman image inspect --format {{{{.Id}}}} {IMAGE}"
    ]


def test_a_missing_image_is_asked_for_again(host, run):
    for name in ("lgtm-web", "lgtm-worker"):
        host.write_unit(f"{name}.container")
        host.active[f"{name}.service"] = "active"
        host.container(f"systemd-{name}")
    run([{"name": "lgtm-web.container"}, {"name": "lgtm-worker.container"}])
    assert len([c for c in host.calls() if c.startswith("podman image inspect")]) == 2


def test_container_name_from_unit_file_and_option(host, run):
    host.write_unit("lgtm-loki.container", ContainerName="lgtm-loki")
    host.active["lgtm-loki.service"] = "active"
    host.container("lgtm-loki")
    host.container("custom", config_hash=OTHER_HASH)
    host.images[IMAGE] = IMAGE_ID
    assert run(LOKI)["changed"] is False
    assert "podman container inspect --format json lgtm-loki" in host.calls()
    result = run([{"name": "lgtm-loki.container", "container_name": "custom"}])
    assert result["restarted"] == ["lgtm-loki.service"]


def test_active_but_container_missing_warns(host, run):
    host.write_unit("lgtm-loki.container")
    host.active["lgtm-loki.service"] = "active"
    result = run(LOKI)
    assert result["actions"][0]["action"] == "restart"
    assert "found no container" in json.dumps(result["warnings"])


def reload_unit(host, **reload):
    conf = host.tmp / "prometheus"
    conf.mkdir(exist_ok=True)
    (conf / "rules.yml").write_text("groups: []\n")
    host.write_unit("lgtm-prometheus.container")
    host.active["lgtm-prometheus.service"] = "active"
    host.container("systemd-lgtm-prometheus")
    host.images[IMAGE] = IMAGE_ID
    return [{"name": "lgtm-prometheus.container", "reload_on": [str(conf)], **reload}], conf


def test_reload_signal_then_nothing(host, run):
    units, conf = reload_unit(host, reload_signal="HUP")
    state_file = host.state_dir / "lgtm-prometheus.reload-hash"

    result = run(units)
    assert result["changed"] is True
    assert result["actions"][0]["action"] == "reload"
    assert result["actions"][0]["reason"] == "reload files changed"
    assert result["restarted"] == []
    assert host.mutating_calls() == ["podman kill --signal HUP systemd-lgtm-prometheus"]
    assert state_file.read_text().strip() == quadlet.hash_paths([str(conf)])
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600

    again = run(units)
    assert again["changed"] is False
    assert again["actions"][0]["action"] == "none"
    assert host.mutating_calls() == []

    (conf / "rules.yml").write_text("groups: [a]\n")
    third = run(units)
    assert third["actions"][0]["action"] == "reload"
    assert state_file.read_text().strip() == quadlet.hash_paths([str(conf)])


def test_start_records_reload_hash(host, run):
    units, conf = reload_unit(host, reload_signal="HUP")
    host.active.clear()
    result = run(units)
    assert result["actions"][0]["action"] == "start"
    assert host.mutating_calls() == ["systemctl start lgtm-prometheus.service"]
    state_file = host.state_dir / "lgtm-prometheus.reload-hash"
    assert state_file.read_text().strip() == quadlet.hash_paths([str(conf)])


def test_restart_satisfies_reload(host, run):
    units, _conf = reload_unit(host, reload_signal="HUP")
    host.container("systemd-lgtm-prometheus", config_hash=OTHER_HASH)
    result = run(units)
    assert result["actions"][0]["action"] == "restart"
    assert host.mutating_calls() == ["systemctl restart lgtm-prometheus.service"]
    assert run(units)["changed"] is True  # fake container still has the old label...
    host.container("systemd-lgtm-prometheus")  # ...until it really restarted
    assert run(units)["changed"] is False


class _ReloadHandler(BaseHTTPRequestHandler):
    posts: list[str] = []
    status = 200

    def do_POST(self):  # noqa: N802 - name given by BaseHTTPRequestHandler
        type(self).posts.append(self.path)
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def reload_server():
    _ReloadHandler.posts = []
    _ReloadHandler.status = 200
    server = HTTPServer(("127.0.0.1", 0), _ReloadHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _ReloadHandler
    server.shutdown()
    server.server_close()


def test_reload_url(host, run, reload_server):
    server, handler = reload_server
    url = f"http://127.0.0.1:{server.server_address[1]}/-/reload"
    units, _conf = reload_unit(host, reload_url=url)
    result = run(units)
    assert result["actions"][0]["action"] == "reload"
    assert handler.posts == ["/-/reload"]
    assert host.mutating_calls() == []
    assert (host.state_dir / "lgtm-prometheus.reload-hash").exists()
    assert run(units)["changed"] is False
    assert handler.posts == ["/-/reload"]


def test_reload_url_error_fails_without_recording(host, run, reload_server):
    server, handler = reload_server
    handler.status = 500
    url = f"http://127.0.0.1:{server.server_address[1]}/-/reload"
    units, _conf = reload_unit(host, reload_url=url)
    result = run(units)
    assert result["failed"] is True
    assert "HTTP 500" in result["msg"]
    assert not (host.state_dir / "lgtm-prometheus.reload-hash").exists()


# The host fixture narrows PATH to the fakes: find openssl first.
OPENSSL = shutil.which("openssl") or "openssl"
CERT_NAME = "stack.example"
CERT_ADDRESS = "192.0.2.10"


@pytest.fixture(scope="module")
def reload_tls(tmp_path_factory):
    """A throw-away CA and a certificate for CERT_NAME and CERT_ADDRESS (not 127.0.0.1)."""
    work = tmp_path_factory.mktemp("reload-tls")
    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    commands = [
        f"req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj '/CN=reconcile test CA'"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
        f"req {key} -keyout server.key -out server.csr -subj /CN={CERT_NAME}",
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem"
        " -days 2 -extfile ext.cnf",
    ]
    (work / "ext.cnf").write_text(
        f"subjectAltName=DNS:{CERT_NAME},IP:{CERT_ADDRESS}\nextendedKeyUsage=serverAuth\n"
    )
    for command in commands:
        subprocess.run([OPENSSL, *shlex.split(command)], cwd=work, check=True, capture_output=True)
    return {"ca": work / "ca.pem", "cert": work / "server.pem", "key": work / "server.key"}


@pytest.fixture
def tls_reload_server(reload_tls):
    """An HTTPS reload endpoint on 127.0.0.1 serving the certificate for CERT_NAME."""
    _ReloadHandler.posts = []
    _ReloadHandler.status = 200
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(reload_tls["cert"], reload_tls["key"])
    server = HTTPServer(("127.0.0.1", 0), _ReloadHandler)
    # Handshakes happen in accept(); a failed one is an OSError the server skips.
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/-/reload", _ReloadHandler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("server_name", [CERT_NAME, CERT_ADDRESS])
def test_https_reload_url_verified_against_ca_and_server_name(
    host, run, tls_reload_server, reload_tls, server_name
):
    url, handler = tls_reload_server
    units, _conf = reload_unit(
        host, reload_url=url, reload_ca_path=str(reload_tls["ca"]), reload_server_name=server_name
    )
    result = run(units)
    assert result.get("failed") is not True, result.get("msg")
    assert result["actions"][0]["action"] == "reload"
    assert handler.posts == ["/-/reload"]
    assert (host.state_dir / "lgtm-prometheus.reload-hash").exists()


@pytest.mark.parametrize(
    ("server_name", "expected"),
    [
        (
            "other.example",
            "TLS certificate verification failed: Hostname mismatch, certificate is not valid"
            " for 'other.example'.",
        ),
        (
            None,
            "TLS certificate verification failed: IP address mismatch, certificate is not valid"
            " for '127.0.0.1'. (set reload_server_name to the name the certificate holds)",
        ),
    ],
)
def test_https_reload_url_with_wrong_server_name_fails_clearly(
    host, run, tls_reload_server, reload_tls, server_name, expected
):
    url, handler = tls_reload_server
    units, _conf = reload_unit(host, reload_url=url, reload_ca_path=str(reload_tls["ca"]))
    if server_name is not None:
        units[0]["reload_server_name"] = server_name
    result = run(units)
    assert result["failed"] is True
    assert result["msg"] == f"reloading lgtm-prometheus.service: POST {url} failed: {expected}"
    assert handler.posts == []
    assert not (host.state_dir / "lgtm-prometheus.reload-hash").exists()


def test_https_reload_url_without_the_ca_fails(host, run, tls_reload_server):
    url, handler = tls_reload_server
    units, _conf = reload_unit(host, reload_url=url, reload_server_name=CERT_NAME)
    result = run(units)
    assert result["failed"] is True
    assert "TLS certificate verification failed: unable to get local issuer" in result["msg"]
    assert handler.posts == []


def test_https_reload_ca_path_that_is_no_pem_fails(host, run, tls_reload_server):
    url, handler = tls_reload_server
    bogus = host.tmp / "ca.pem"
    bogus.write_text("not a certificate\n")
    units, _conf = reload_unit(host, reload_url=url, reload_ca_path=str(bogus))
    result = run(units)
    assert result["failed"] is True
    assert f"cannot load reload_ca_path '{bogus}'" in result["msg"]
    assert handler.posts == []


@pytest.mark.parametrize("key", ["reload_ca_path", "reload_server_name"])
def test_reload_tls_options_need_a_reload_url(host, run, key):
    units, _conf = reload_unit(host, reload_signal="HUP", **{key: "x"})
    result = run(units)
    assert result["failed"] is True
    assert f"missing parameter(s) required by '{key}': reload_url" in result["msg"]


def test_reload_url_must_be_http(host, run):
    units, _conf = reload_unit(host, reload_url="ftp://127.0.0.1/-/reload")
    result = run(units)
    assert result["failed"] is True
    assert "reload_url: url scheme must be http or https" in result["msg"]


def test_reload_on_needs_a_method(host, run):
    units, _conf = reload_unit(host)
    result = run(units)
    assert result["failed"] is True
    assert "reload_on needs exactly one of reload_signal or reload_url" in result["msg"]


def test_reload_signal_and_url_are_exclusive(host, run):
    units, _conf = reload_unit(host, reload_signal="HUP", reload_url="http://127.0.0.1:1/")
    result = run(units)
    assert result["failed"] is True
    assert "mutually exclusive" in result["msg"]


def test_check_mode_reports_without_acting(host, run):
    units, _conf = reload_unit(host, reload_signal="HUP")
    host.write_unit("lgtm-loki.container")
    host.write_unit("lgtm-tempo.container")
    host.active["lgtm-tempo.service"] = "active"
    host.container("systemd-lgtm-tempo", config_hash=OTHER_HASH)
    result = run(
        units + LOKI + [{"name": "lgtm-tempo.container"}, {"name": "lgtm-new.container"}],
        check=True,
        daemon_reload=True,
    )
    assert result["changed"] is True
    assert [a["action"] for a in result["actions"]] == ["reload", "start", "restart", "start"]
    assert result["restarted"] == ["lgtm-tempo.service"]
    assert result["daemon_reloaded"] is False
    assert host.mutating_calls() == []
    assert not host.state_dir.exists()


def test_daemon_reload_runs_first(host, run):
    running_loki(host)
    result = run(LOKI, daemon_reload=True)
    assert result["daemon_reloaded"] is True
    assert result["changed"] is False
    assert host.calls()[0] == "systemctl daemon-reload"


def test_start_failure_shows_status_and_journal(host, run):
    host.write_unit("lgtm-loki.container")
    host.systemctl_fail["lgtm-loki.service"] = "start"
    result = run(LOKI)
    assert result["failed"] is True
    assert "systemctl start lgtm-loki.service failed" in result["msg"]
    assert "Active: failed" in result["msg"]
    assert 'msg="bad config"' in result["msg"]
    assert "journalctl -u lgtm-loki.service --no-pager -n 30" in host.calls()
    assert result["actions"][0]["action"] == "start"


def test_stopped_unit_is_stopped(host, run):
    running_loki(host)
    result = run([{"name": "lgtm-loki.container", "state": "stopped"}])
    assert result["actions"][0]["action"] == "stop"
    assert host.mutating_calls() == ["systemctl stop lgtm-loki.service"]
    host.active.clear()
    assert run([{"name": "lgtm-loki.container", "state": "stopped"}])["changed"] is False


def test_network_unit_only_started(host, run):
    (host.units / "lgtm.network").write_text("[Network]\n")
    result = run([{"name": "lgtm.network"}])
    assert result["actions"][0]["service"] == "lgtm-network.service"
    assert host.mutating_calls() == ["systemctl start lgtm-network.service"]
    host.active["lgtm-network.service"] = "active"
    assert run([{"name": "lgtm.network"}])["changed"] is False
    assert not [c for c in host.calls() if c.startswith("podman")]


def test_missing_unit_file_fails(host, run):
    result = run(LOKI)
    assert result["failed"] is True
    assert "lgtm-loki.container" in result["msg"]
    assert "does not exist" in result["msg"]


def test_no_systemd_fails(host, run):
    host.run_dir.rmdir()
    result = run(LOKI)
    assert result["failed"] is True
    assert result["msg"].startswith("systemd is not running on this host")


def test_missing_podman_fails_clearly(host, run):
    running_loki(host)
    host.install()
    (host.bin / "podman").unlink()
    result = run(LOKI, install=False)
    assert result["failed"] is True
    assert result["msg"] == "Podman is not installed: install podman >= 4.4"


@pytest.mark.parametrize(
    "show",
    ["LoadState=loaded\nNeedDaemonReload=yes\n", "LoadState=not-found\nNeedDaemonReload=no\n"],
    ids=["unit-file-newer-than-loaded", "unit-never-loaded"],
)
def test_stale_systemd_view_is_reloaded_without_being_asked(host, run, show):
    """A run that wrote a unit and died before daemon-reload is finished by the next one."""
    running_loki(host)
    host.show = show
    result = run(LOKI, daemon_reload=False)
    assert result["daemon_reloaded"] is True
    assert "systemctl daemon-reload" in host.mutating_calls()


def test_current_systemd_view_is_not_reloaded(host, run):
    running_loki(host)
    result = run(LOKI, daemon_reload=False)
    assert result["daemon_reloaded"] is False
    assert host.mutating_calls() == []


# --- oneshot jobs (a migration that must finish before the service starts) -----------

MIGRATE = [{"name": "lgtm-glitchtip-migrate.container"}]
RUN_STATE = "lgtm-glitchtip-migrate.run-hash"


def write_oneshot(host, config_hash=HASH, remain="yes"):
    sections = {
        "Container": {"Image": IMAGE, "ContainerName": "lgtm-glitchtip-migrate"},
        "Service": {"Type": "oneshot", "RemainAfterExit": remain},
    }
    sections = quadlet.with_config_hash_label(sections, config_hash)
    (host.units / "lgtm-glitchtip-migrate.container").write_text(
        quadlet.render_unit(sections, "test")
    )
    host.images[IMAGE] = IMAGE_ID


def test_oneshot_not_run_is_started_and_its_run_recorded(host, run):
    write_oneshot(host)
    result = run(MIGRATE)
    assert result["actions"][0]["action"] == "start"
    assert host.mutating_calls() == ["systemctl start lgtm-glitchtip-migrate.service"]
    state_file = host.state_dir / RUN_STATE
    assert state_file.read_text().strip() == quadlet.run_hash(HASH, IMAGE_ID)
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600


def test_oneshot_that_ran_with_this_unit_and_image_is_left_alone(host, run):
    write_oneshot(host)
    run(MIGRATE)
    host.active["lgtm-glitchtip-migrate.service"] = "active"
    result = run(MIGRATE)
    assert result["changed"] is False
    assert result["actions"][0]["reason"] == "ran with the current unit and image"
    assert host.mutating_calls() == []
    # It leaves no container behind: nothing to inspect (and so no warning about one).
    assert not any("container inspect" in call for call in host.calls())


@pytest.mark.parametrize("change", ["unit", "image"])
def test_oneshot_runs_again_when_its_unit_or_image_changed(host, run, change):
    write_oneshot(host)
    run(MIGRATE)
    host.active["lgtm-glitchtip-migrate.service"] = "active"
    if change == "unit":
        write_oneshot(host, config_hash=OTHER_HASH)
    else:
        host.images[IMAGE] = NEW_IMAGE_ID
    result = run(MIGRATE)
    assert result["actions"][0] == {
        "name": "lgtm-glitchtip-migrate.container",
        "service": "lgtm-glitchtip-migrate.service",
        "action": "restart",
        "reason": "unit or image changed since its last run",
    }
    assert host.mutating_calls() == ["systemctl restart lgtm-glitchtip-migrate.service"]
    expected = quadlet.run_hash(
        OTHER_HASH if change == "unit" else HASH, NEW_IMAGE_ID if change == "image" else IMAGE_ID
    )
    assert (host.state_dir / RUN_STATE).read_text().strip() == expected


def test_oneshot_active_without_a_recorded_run_runs_again(host, run):
    write_oneshot(host)
    host.active["lgtm-glitchtip-migrate.service"] = "active"
    assert run(MIGRATE)["actions"][0]["action"] == "restart"


def test_failed_oneshot_records_nothing(host, run):
    write_oneshot(host)
    host.systemctl_fail["lgtm-glitchtip-migrate.service"] = "start"
    result = run(MIGRATE)
    assert result["failed"] is True
    assert not (host.state_dir / RUN_STATE).exists()


def test_oneshot_needs_remain_after_exit(host, run):
    write_oneshot(host, remain="no")
    result = run(MIGRATE)
    assert result["failed"] is True
    assert "RemainAfterExit=yes" in result["msg"]
    assert host.mutating_calls() == []


def test_oneshot_check_mode_reports_without_recording(host, run):
    write_oneshot(host)
    result = run(MIGRATE, check=True)
    assert result["changed"] is True
    assert result["actions"][0]["action"] == "start"
    assert host.mutating_calls() == []
    assert not (host.state_dir / RUN_STATE).exists()
