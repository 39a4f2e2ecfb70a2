"""Mimir on a real host: bound where asked, configured as asked, storing what Prometheus writes."""

import json
import time

import pytest
import yaml
from lgtm_molecule import assert_noop_run, container_identity, get, image_for, run_playbook, tunnel

CONTAINER = "lgtm-mimir"
WRITER = "remote-writer"


@pytest.fixture(scope="module")
def mimir_port():
    with tunnel("lgtm-mimir", 9009) as port:
        yield port


def query(port: int, promql: str, at: float | None = None) -> list[dict]:
    params = {"query": promql} if at is None else {"query": promql, "time": f"{at:.3f}"}
    status, body = get(port, "/prometheus/api/v1/query", params)
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def poll_query(port: int, promql: str, timeout: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        result = query(port, promql)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(1)


@pytest.fixture(scope="module")
def remote_writer(host):
    """The real Prometheus, scraping itself and remote-writing to Mimir as a client would."""
    config = (
        "global: {scrape_interval: 2s, external_labels: {writer: lgtm-test}}\n"
        "scrape_configs: [{job_name: writer, static_configs: [{targets: ['localhost:9090']}]}]\n"
        "remote_write: [{url: 'http://lgtm-mimir:9009/api/v1/push'}]\n"
    )
    with host.sudo():
        host.run("mkdir -p /tmp/writer")
        host.run(f"cat > /tmp/writer/prometheus.yml <<'EOF'\n{config}EOF")
        host.run(f"podman rm -f -t 0 {WRITER}")
        started = host.run(
            f"podman run -d --name {WRITER} --network lgtm -v /tmp/writer:/etc/prometheus:ro "
            f"{image_for('prometheus')}"
        )
        assert started.rc == 0, started.stderr
    yield
    with host.sudo():
        host.run(f"podman rm -f -t 0 {WRITER}")


def test_unit_active_and_started_at_boot(root):
    assert root.run("systemctl is-active lgtm-mimir.service").stdout.strip() == "active"
    assert root.file("/run/systemd/generator/multi-user.target.wants/lgtm-mimir.service").exists


def test_unchanged_run_changes_and_restarts_nothing(root):
    assert_noop_run(root, CONTAINER)


def test_ready_and_published_on_loopback_only(root, mimir_port):
    assert get(mimir_port, "/ready")[0] == 200
    ports = json.loads(
        root.run("podman inspect --format '{{json .HostConfig.PortBindings}}' " + CONTAINER).stdout
    )
    assert ports == {"9009/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9009"}]}
    address = root.run("ip -4 -o addr show host0").stdout.split()[3].split("/")[0]
    outside = root.run(f"curl -s -m 3 -o /dev/null http://{address}:9009/ready")
    assert outside.rc == 7, "Mimir must refuse connections on the host's other addresses"


def test_rendered_config_and_files(root):
    config_file = root.file("/etc/lgtm/mimir/mimir.yaml")
    assert (config_file.user, config_file.mode) == ("root", 0o644)
    config = yaml.safe_load(config_file.content_string)
    assert config["limits"]["compactor_blocks_retention_period"] == "7d"
    assert config["limits"]["max_global_exemplars_per_user"] > 0
    assert config["multitenancy_enabled"] is False
    assert config["server"]["http_listen_port"] == 9009
    assert config["usage_stats"]["enabled"] is False
    data = root.file("/var/lib/lgtm/mimir")
    assert (data.uid, data.mode) == (10001, 0o750)
    # Mimir's activity log is in its data volume: its default is under the read-only /.
    assert root.file("/var/lib/lgtm/mimir/metrics-activity.log").uid == 10001


def test_single_tenant_needs_no_org_header(mimir_port):
    status, _body = get(mimir_port, "/prometheus/api/v1/query", {"query": "1"})
    assert status == 200


def test_samples_remote_written_by_prometheus_are_queryable(remote_writer, mimir_port):
    series = poll_query(mimir_port, 'up{writer="lgtm-test", job="writer"}')
    assert series, "Prometheus's remote-written samples never became queryable"
    assert series[0]["value"][1] == "1"


def kept_sample(port: int, promql: str) -> tuple[float, list[dict]]:
    """A sample 30 s old: Prometheus sent it before anything restarts, and never again."""
    deadline = time.monotonic() + 120
    while True:
        kept_at = time.time() - 30
        kept = query(port, promql, kept_at)
        if kept or time.monotonic() > deadline:
            return kept_at, kept
        time.sleep(2)


def process_uid(root) -> int:
    _id, _started, pid = container_identity(root, CONTAINER)
    status = root.file(f"/proc/{pid}/status").content_string
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def test_changed_variable_restarts_mimir_and_keeps_data(root, remote_writer, mimir_port):
    # A sample at a fixed time, old enough (30 s, remote write sends within 5 s) that
    # Prometheus delivered it before the restart and never sends it again: only a Mimir
    # that kept its data can answer for that time after the restart. "Now" cannot tell
    # kept samples from the ones the writer keeps sending.
    promql = 'up{writer="lgtm-test", job="writer"}'
    kept_at, kept = kept_sample(mimir_port, promql)
    assert kept, "no sample 30 s old before the restart"
    before = container_identity(root, CONTAINER)
    result = run_playbook("converge.yml", {"mimir_retention_period": "14d"})
    result.assert_ok()
    assert container_identity(root, CONTAINER) != before
    config = yaml.safe_load(root.file("/etc/lgtm/mimir/mimir.yaml").content_string)
    assert config["limits"]["compactor_blocks_retention_period"] == "14d"
    assert get(mimir_port, "/ready")[0] == 200
    after = query(mimir_port, promql, kept_at)
    assert [(s["metric"], s["value"][1]) for s in after] == [
        (s["metric"], s["value"][1]) for s in kept
    ], "the sample stored before the restart is still there"
    again = run_playbook("converge.yml", {"mimir_retention_period": "14d"})
    again.assert_ok()
    assert again.changed == 0, again.output[-4000:]


def test_data_written_as_root_is_re_owned_and_kept(root, remote_writer, mimir_port):
    # Earlier versions ran Mimir as root (the image's default): mimir_uid 0 reproduces a
    # data directory that root wrote, then the default takes it over.
    as_root = run_playbook("converge.yml", {"mimir_uid": 0})
    as_root.assert_ok()
    assert process_uid(root) == 0
    promql = 'up{writer="lgtm-test", job="writer"}'
    kept_at, kept = kept_sample(mimir_port, promql)
    assert kept, "no sample 30 s old while Mimir ran as root"
    assert root.run("find /var/lib/lgtm/mimir -uid 0 -print -quit").stdout.strip()
    before = container_identity(root, CONTAINER)
    result = run_playbook("converge.yml")
    result.assert_ok()
    assert container_identity(root, CONTAINER) != before
    assert process_uid(root) == 10001
    not_owned = root.run("find /var/lib/lgtm/mimir ! -uid 10001 -print").stdout.split()
    assert not_owned == [], f"still owned by another user: {not_owned[:10]}"
    assert get(mimir_port, "/ready")[0] == 200
    after = query(mimir_port, promql, kept_at)
    assert [(s["metric"], s["value"][1]) for s in after] == [
        (s["metric"], s["value"][1]) for s in kept
    ], "the sample stored as root is still there"
    again = run_playbook("converge.yml")
    again.assert_ok()
    assert again.changed == 0, again.output[-4000:]


def test_invalid_config_extra_fails_and_leaves_mimir(root, mimir_port):
    good = root.file("/etc/lgtm/mimir/mimir.yaml").content_string
    before = container_identity(root, CONTAINER)
    result = run_playbook(
        "converge.yml",
        {"mimir_retention_period": "14d", "mimir_config_extra": {"limits": {"no_such_limit": 1}}},
    )
    assert result.rc != 0
    assert "no_such_limit" in result.output, "Mimir's own message is shown"
    assert root.file("/etc/lgtm/mimir/mimir.yaml").content_string == good
    assert container_identity(root, CONTAINER) == before
    assert get(mimir_port, "/ready")[0] == 200


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"mimir_retention_period": "a year"}, "mimir_retention_period=a year is invalid"),
        ({"mimir_http_port": 0}, "mimir_http_port=0 is invalid"),
        ({"mimir_grpc_port": 9009}, "mimir_http_port, mimir_grpc_port must all differ"),
        ({"mimir_max_exemplars": -1}, "mimir_max_exemplars=-1 is invalid"),
    ],
)
def test_bad_input_fails_before_any_change_naming_the_variable(root, bad, named):
    before = container_identity(root, CONTAINER)
    result = run_playbook("converge.yml", {"mimir_retention_period": "14d", **bad})
    assert result.rc != 0
    assert named in result.output
    assert container_identity(root, CONTAINER) == before
