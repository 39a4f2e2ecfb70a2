"""Alertmanager next to Prometheus: the stack's alerts reach the receiver the user configured.

The receiver is a webhook on the test host itself (converge.yml), its URL with a token in
a secret file; a tiny listener started here as a transient systemd unit records what
Alertmanager posts. The always-firing rule comes from prometheus_alert_rules_extra.
"""

import json

import pytest
from lgtm_molecule import container_identity, get, poll, run_playbook, tunnel

CONTAINER = "lgtm-alertmanager"
CONFIG = "/etc/lgtm/alertmanager/alertmanager.yml"
SECRET = "/etc/lgtm/alertmanager/secrets/webhook_url"
DATA = "/var/lib/lgtm/alertmanager"
TOKEN = "lgtm-test-webhook-token"
LISTENER_UNIT = "lgtm-test-webhook"
RECEIVED = "/tmp/lgtm-webhook/received.jsonl"

LISTENER = """\
import http.server
import json
import sys

ADDRESS, PORT, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(OUT, "a") as out:
            out.write(json.dumps({"path": self.path, "body": json.loads(body)}) + "\\n")
        self.send_response(200)
        self.end_headers()


http.server.HTTPServer((ADDRESS, PORT), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def am_port():
    with tunnel("lgtm-prometheus", 9093) as local_port:
        yield local_port


@pytest.fixture(scope="module")
def prom_port():
    with tunnel("lgtm-prometheus", 9090) as local_port:
        yield local_port


def prom_api(port: int, path: str) -> dict:
    status, body = get(port, path)
    assert status == 200, body
    return json.loads(body)["data"]


def host_address(host) -> str:
    return host.run("ip -4 -o addr show host0").stdout.split()[3].split("/")[0]


def test_unit_active_ready_and_published_on_loopback_only(root, am_port):
    assert root.run(f"systemctl is-active {CONTAINER}.service").stdout.strip() == "active"
    status, body = get(am_port, "/-/ready")
    assert status == 200, body
    ports = json.loads(
        root.run("podman inspect --format '{{json .HostConfig.PortBindings}}' " + CONTAINER).stdout
    )
    assert ports == {"9093/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9093"}]}


def test_files_owners_modes_and_no_secret_in_the_config(root):
    config = root.file(CONFIG)
    assert (config.user, config.gid, config.mode) == ("root", 65534, 0o640)
    assert "url_file: /etc/alertmanager/secrets/webhook_url" in config.content_string
    assert TOKEN not in config.content_string
    secret = root.file(SECRET)
    assert (secret.uid, secret.mode) == (65534, 0o400)
    assert TOKEN in secret.content_string
    data = root.file(DATA)
    assert (data.uid, data.mode) == (65534, 0o750)
    flags = root.run(f"podman inspect --format '{{{{json .Args}}}}' {CONTAINER}").stdout
    assert "--cluster.listen-address=" in json.loads(flags), "a single instance gossips with no one"


def test_prometheus_sends_to_the_alertmanager_of_the_inventory(prom_port):
    def active():
        return prom_api(prom_port, "/api/v1/alertmanagers")["activeAlertmanagers"]

    found = poll(active, timeout=60)
    assert [entry["url"] for entry in found] == ["http://lgtm-alertmanager:9093/api/v2/alerts"]


def test_prometheus_scrapes_the_alertmanager(prom_port):
    def up():
        targets = prom_api(prom_port, "/api/v1/targets?state=active")["activeTargets"]
        return [
            t for t in targets if t["labels"].get("job") == "alertmanager" and t["health"] == "up"
        ]

    found = poll(up, timeout=90)
    assert found, "the alertmanager job is up"
    assert found[0]["labels"]["host"] == "lgtm-prometheus"


def test_firing_alert_reaches_the_configured_webhook(root, am_port):
    address = host_address(root)
    root.run(f"systemctl stop {LISTENER_UNIT}.service")
    root.run("rm -rf /tmp/lgtm-webhook && mkdir -p /tmp/lgtm-webhook")
    root.run(f"cat > /tmp/lgtm-webhook/listener.py <<'EOF'\n{LISTENER}EOF")
    started = root.run(
        f"systemd-run --unit={LISTENER_UNIT} --collect python3 /tmp/lgtm-webhook/listener.py "
        f"{address} 18093 {RECEIVED}"
    )
    assert started.rc == 0, started.stderr
    try:

        def delivered():
            lines = root.run(f"cat {RECEIVED} 2>/dev/null").stdout.splitlines()
            posts = [json.loads(line) for line in lines]
            return [
                (post, alert)
                for post in posts
                for alert in post["body"]["alerts"]
                if alert["labels"].get("alertname") == "LgtmTestAlwaysFiring"
            ]

        found = poll(delivered, timeout=180, interval=2)
        assert found, (
            root.run(f"journalctl -u {CONTAINER}.service --no-pager -n 40").stdout
            + root.run(f"journalctl -u {LISTENER_UNIT}.service --no-pager -n 20").stdout
        )
        post, alert = found[0]
        # The URL came from the secret file, token included.
        assert post["path"] == f"/alerts?token={TOKEN}"
        assert post["body"]["receiver"] == "lgtm-test-webhook"
        assert post["body"]["groupLabels"] == {"alertname": "LgtmTestAlwaysFiring"}
        assert alert["status"] == "firing"
        assert alert["labels"] == {
            "alertname": "LgtmTestAlwaysFiring",
            "severity": "none",
            "lgtm_test": "prometheus-scenario",
        }
        status, body = get(am_port, "/api/v2/alerts")
        assert status == 200
        assert any(a["labels"]["alertname"] == "LgtmTestAlwaysFiring" for a in json.loads(body))
    finally:
        root.run(f"systemctl stop {LISTENER_UNIT}.service")


def test_bad_receiver_fails_with_amtools_message_and_keeps_the_running_config(root, am_port):
    good = root.file(CONFIG).content_string
    before = container_identity(root, CONTAINER)
    bad = [
        {
            "name": "lgtm-test-webhook",
            "webhook_configs": [
                {"url_file": "/etc/alertmanager/secrets/webhook_url", "no_such_key": True}
            ],
        }
    ]
    result = run_playbook("converge.yml", {"alertmanager_receivers": bad})
    assert result.rc != 0
    assert "no_such_key" in result.output and "FAILED" in result.output, result.output[-4000:]
    assert TOKEN not in result.output
    assert root.file(CONFIG).content_string == good
    assert container_identity(root, CONTAINER) == before
    assert get(am_port, "/-/ready")[0] == 200


def test_webhook_token_is_never_printed(root):
    """At -vv module arguments and results show: the secret's value must not."""
    before = container_identity(root, CONTAINER)
    result = run_playbook("converge.yml", check=True, verbosity=2)
    result.assert_ok()
    assert result.changed == 0, result.output[-4000:]
    assert TOKEN not in result.output
    assert container_identity(root, CONTAINER) == before
