"""Prometheus on a real host: bound where asked, scraping, receiving remote write, reloading.

Tests run in file order and build on each other: CURRENT holds the variables the
host was last converged with, so each later run changes only what it means to.
"""

import json
import time
import uuid

import pytest
import yaml
from lgtm_molecule import container_identity, get, image_kind, run_playbook, tunnel

CONTAINER = "lgtm-prometheus"
UNIT_FILE = "/etc/containers/systemd/lgtm-prometheus.container"
CONFIG = "/etc/lgtm/prometheus/prometheus.yml"
RULES = "/etc/lgtm/prometheus/rules/lgtm.yml"
RULE_TESTS = "/etc/lgtm/prometheus/rules/tests/lgtm.yml"
DATA = "/var/lib/lgtm/prometheus"
SENDER = "lgtm-test-sender"
RUN_ID = uuid.uuid4().hex[:12]

EXTRA_TARGET = {
    "job": "lgtm-extra",
    "targets": ["localhost:9090"],
    "labels": {"team": "lgtm-test"},
    "metrics_path": "/metrics",
    "scheme": "http",
    "scrape_interval": "5s",
}
# What the host was converged with last (on top of converge.yml's own vars).
CURRENT: dict[str, object] = {}


@pytest.fixture(scope="module")
def port():
    with tunnel("lgtm-prometheus", 9090) as local_port:
        yield local_port


def api(port: int, path: str, params: dict[str, str] | None = None):
    status, body = get(port, path, params)
    assert status == 200, body
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return answer["data"]


def query(port: int, promql: str) -> list[dict]:
    return api(port, "/api/v1/query", {"query": promql})["result"]


def poll(check, timeout: float = 90, interval: float = 0.5):
    """Scrapes and remote write land within seconds; poll with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def active_targets(port: int, job: str) -> list[dict]:
    targets = api(port, "/api/v1/targets", {"state": "active"})["activeTargets"]
    return [target for target in targets if target["labels"].get("job") == job]


def targets_up(port: int, job: str) -> list[dict]:
    return [target for target in active_targets(port, job) if target["health"] == "up"]


def converge(extra: dict[str, object]):
    """Converge with CURRENT plus extra; on success extra becomes part of CURRENT."""
    wanted = {**CURRENT, **extra}
    result = run_playbook("converge.yml", wanted)
    if result.rc == 0:
        CURRENT.clear()
        CURRENT.update(wanted)
    return result


def exec_flags(root) -> list[str]:
    lines = [
        line
        for line in root.file(UNIT_FILE).content_string.splitlines()
        if line.startswith("Exec=")
    ]
    assert len(lines) == 1, lines
    return lines[0].removeprefix("Exec=").split()


def running_args(root) -> list[str]:
    out = root.run(f"podman inspect --format '{{{{json .Args}}}}' {CONTAINER}").stdout
    return json.loads(out)


def test_unit_active_and_started_at_boot(root):
    assert root.run("systemctl is-active lgtm-prometheus.service").stdout.strip() == "active"
    assert root.file(
        "/run/systemd/generator/multi-user.target.wants/lgtm-prometheus.service"
    ).exists


def test_ready_and_published_on_loopback_only(root, port):
    status, body = get(port, "/-/ready")
    assert status == 200 and b"Ready" in body, body
    ports = json.loads(
        root.run("podman inspect --format '{{json .HostConfig.PortBindings}}' " + CONTAINER).stdout
    )
    assert ports == {"9090/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9090"}]}
    host_address = root.run("ip -4 -o addr show host0").stdout.split()[3].split("/")[0]
    from_outside = root.run(f"curl -s -m 3 -o /dev/null http://{host_address}:9090/-/ready")
    assert from_outside.rc == 7, (
        "Prometheus must refuse connections on the host's other addresses"
    )


def test_files_owners_and_modes(root):
    for path in (CONFIG, RULES, RULE_TESTS):
        config = root.file(path)
        assert (config.user, config.group, config.mode) == ("root", "root", 0o644), path
    for path in ("/etc/lgtm/prometheus", "/etc/lgtm/prometheus/rules"):
        directory = root.file(path)
        assert (directory.user, directory.mode) == ("root", 0o755), path
    data = root.file(DATA)
    assert (data.uid, data.gid, data.mode) == (65534, 65534, 0o750)
    wal = root.file(f"{DATA}/wal")
    assert wal.is_directory and wal.uid == 65534, "Prometheus writes its TSDB as uid 65534"


def otlp_receiver_expected(root) -> bool:
    image = root.run("podman inspect --format '{{.ImageName}}' " + CONTAINER).stdout.strip()
    assert image, "the container runs an image"
    return image_kind(root, image) != "packaged"


def test_unit_and_running_container_carry_the_flags(root):
    flags = exec_flags(root)
    for flag in (
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        "--storage.tsdb.retention.time=90d",
        "--web.listen-address=:9090",
        "--web.enable-lifecycle",
        "--web.enable-remote-write-receiver",
        "--enable-feature=exemplar-storage",
    ):
        assert flag in flags, flag
    # Debian's build has no OTLP endpoint: converge.yml turns it off for an image whose own
    # label says it is that build, and only then.
    assert ("--web.enable-otlp-receiver" in flags) is otlp_receiver_expected(root)
    assert running_args(root) == flags
    volumes = root.run(
        "podman inspect --format '{{range .Mounts}}{{.Source}}>{{.Destination}}>{{.RW}} {{end}}' "
        + CONTAINER
    ).stdout.split()
    assert "/etc/lgtm/prometheus>/etc/prometheus>false" in volumes
    assert f"{DATA}>/prometheus>true" in volumes


def test_rendered_config_and_rules(root):
    config = yaml.safe_load(root.file(CONFIG).content_string)
    assert config["global"] == {"scrape_interval": "5s", "evaluation_interval": "15s"}
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert config["scrape_configs"] == [
        {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
        {
            "job_name": "alertmanager",
            "static_configs": [
                {"targets": ["lgtm-alertmanager:9093"], "labels": {"host": "lgtm-prometheus"}}
            ],
        },
    ]
    assert config["remote_write"] == []
    # The inventory's Alertmanager, on the same host: its container on the lgtm network.
    assert config["alerting"] == {
        "alertmanagers": [{"static_configs": [{"targets": ["lgtm-alertmanager:9093"]}]}]
    }
    rules = yaml.safe_load(root.file(RULES).content_string)
    assert [group["name"] for group in rules["groups"]] == [
        "lgtm-stack",
        "lgtm-data",
        "lgtm-ingest",
        "lgtm-test",
    ]
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert alerts["TargetDown"]["expr"] == "up == 0"
    assert alerts["TargetDown"]["for"] == "5m"
    # Go templates reach Prometheus untouched by Ansible; thresholds are filled in.
    assert alerts["TargetDown"]["annotations"]["summary"] == (
        "{{ $labels.job }} on {{ or $labels.host $labels.instance }} is down"
    )
    assert alerts["DataFilesystemLow"]["expr"].endswith("< 10")
    assert 'mountpoint="/var/lib/alloy/data"' in alerts["DataFilesystemLow"]["expr"]
    assert alerts["LgtmTestAlwaysFiring"]["expr"] == "vector(1)"
    tests = yaml.safe_load(root.file(RULE_TESTS).content_string)
    assert tests["rule_files"] == ["../lgtm.yml"]
    assert len(tests["tests"]) == 4


def test_alert_rules_are_loaded(root, port):
    groups = api(port, "/api/v1/rules")["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert loaded["TargetDown"]["duration"] == 300
    assert "PrometheusConfigReloadFailed" in loaded
    assert groups[0]["file"] == "/etc/prometheus/rules/lgtm.yml"


def test_self_scrape_target_is_up(root, port):
    up = poll(lambda: targets_up(port, "prometheus"))
    assert up, active_targets(port, "prometheus")
    assert up[0]["labels"]["instance"] == "localhost:9090"
    assert up[0]["scrapeInterval"] == "5s"
    assert poll(lambda: query(port, 'up{job="prometheus"} == 1'))


SENDER_CONFIG = f"""\
global:
  scrape_interval: 1s
  external_labels:
    lgtm_sender: "{RUN_ID}"
scrape_configs:
  - job_name: lgtm-sender
    static_configs:
      - targets: ["localhost:9090"]
remote_write:
  - url: http://lgtm-prometheus:9090/api/v1/write
    queue_config:
      batch_send_deadline: 1s
"""


def test_sample_remote_written_by_a_real_prometheus_is_queryable(root, port):
    """A second real Prometheus (agent mode) on the lgtm network remote-writes to this one."""
    image = root.run(f"podman inspect --format '{{{{.ImageName}}}}' {CONTAINER}").stdout.strip()
    root.run(f"podman rm -f -t 0 {SENDER}")
    root.run("rm -rf /tmp/lgtm-sender && mkdir -p /tmp/lgtm-sender")
    root.run(f"cat > /tmp/lgtm-sender/prometheus.yml <<'EOF'\n{SENDER_CONFIG}EOF")
    # --no-hosts: the test host is itself named lgtm-prometheus, and Podman copies its
    # /etc/hosts (127.0.1.1 lgtm-prometheus) into containers, shadowing the network's DNS.
    started = root.run(
        f"podman run -d --name {SENDER} --network lgtm --no-hosts --security-opt label=disable "
        f"-v /tmp/lgtm-sender:/etc/prometheus:ro {image} "
        "--config.file=/etc/prometheus/prometheus.yml --agent "
        "--storage.agent.path=/prometheus/agent"
    )
    assert started.rc == 0, started.stderr
    try:
        series = f'up{{lgtm_sender="{RUN_ID}", job="lgtm-sender"}}'
        found = poll(lambda: query(port, series))
        assert found, root.run(f"podman logs --tail 30 {SENDER}").stderr
        assert found[0]["value"][1] == "1"
    finally:
        root.run(f"podman rm -f -t 0 {SENDER}")
        root.run("rm -rf /tmp/lgtm-sender")


def test_otlp_metric_from_the_opentelemetry_sdk_is_stored(root, port):
    if not otlp_receiver_expected(root):
        pytest.skip("the image is Debian's Prometheus build, which has no OTLP receiver")
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"http://127.0.0.1:{port}/api/v1/otlp/v1/metrics"),
        export_interval_millis=60_000,
    )
    provider = MeterProvider(
        resource=Resource.create({"service.name": f"lgtm-test-{RUN_ID}"}), metric_readers=[reader]
    )
    provider.get_meter("lgtm.test").create_counter("lgtm_test_requests").add(3)
    provider.force_flush()
    provider.shutdown()
    # OTLP's service.name becomes the job label.
    assert poll(lambda: query(port, f'{{job="lgtm-test-{RUN_ID}"}}'))


def test_scrape_change_reloads_without_restart(root, port):
    before = container_identity(root, CONTAINER)
    reloaded_at = float(
        query(port, "prometheus_config_last_reload_success_timestamp_seconds")[0]["value"][1]
    )
    result = converge({"prometheus_scrape_targets": [EXTRA_TARGET]})
    result.assert_ok()
    assert result.changed > 0
    assert container_identity(root, CONTAINER) == before, "a scrape change must reload, not restart"
    up = poll(lambda: targets_up(port, "lgtm-extra"))
    assert up, active_targets(port, "lgtm-extra")
    assert up[0]["labels"]["team"] == "lgtm-test"
    # The gauge is read through Prometheus's own scrape of itself: the reload shows once
    # the next self-scrape has stored it (a single read raced that scrape).
    last_reload = "prometheus_config_last_reload_success_timestamp_seconds"
    assert poll(lambda: float(query(port, last_reload)[0]["value"][1]) > reloaded_at, 60), (
        query(port, last_reload), reloaded_at)
    assert query(port, "prometheus_config_last_reload_successful")[0]["value"][1] == "1"


def test_retention_change_restarts_and_keeps_data(root, port):
    kept = f'count_over_time(up{{lgtm_sender="{RUN_ID}"}}[1h])'
    assert query(port, kept), "the remote-written series is stored"
    before = container_identity(root, CONTAINER)
    result = converge({"prometheus_retention_time": "30d"})
    result.assert_ok()
    assert container_identity(root, CONTAINER) != before
    assert "--storage.tsdb.retention.time=30d" in exec_flags(root)
    assert "--storage.tsdb.retention.time=30d" in running_args(root)
    assert get(port, "/-/ready")[0] == 200
    assert query(port, kept), "stored samples survive the restart"
    assert poll(lambda: targets_up(port, "lgtm-extra")), "it restarts with the reloaded config"
    again = converge({})
    again.assert_ok()
    assert again.changed == 0, (
        again.output[-3000:]
        + root.run("journalctl -u lgtm-prometheus.service --no-pager -n 60").stdout
    )


def test_invalid_config_extra_fails_and_leaves_prometheus_running(root, port):
    good = root.file(CONFIG).content_string
    before = container_identity(root, CONTAINER)
    result = run_playbook(
        "converge.yml",
        {**CURRENT, "prometheus_config_extra": {"global": {"scrape_interval": "ten seconds"}}},
    )
    assert result.rc != 0
    # promtool's own message about the candidate.
    assert "not a valid duration string" in result.output, result.output[-4000:]
    assert "ten seconds" in result.output
    assert root.file(CONFIG).content_string == good
    assert container_identity(root, CONTAINER) == before
    assert get(port, "/-/ready")[0] == 200
    assert query(port, "prometheus_config_last_reload_successful")[0]["value"][1] == "1"


def test_failing_rule_test_fails_the_play_before_anything_goes_live(root, port):
    """A rule change that breaks its own unit test (fires after 1m, the test expects 5m)."""
    rules = root.file(RULES).content_string
    config = root.file(CONFIG).content_string
    before = container_identity(root, CONTAINER)
    faster = [group for group in yaml.safe_load(rules)["groups"] if group["name"] != "lgtm-test"]
    faster[0]["rules"][0]["for"] = "1m"
    # Handed back through -e, the Go templates must stay out of Ansible's hands.
    for group in faster:
        for rule in group["rules"]:
            for key, text in rule.get("annotations", {}).items():
                rule["annotations"][key] = "{% raw %}" + text + "{% endraw %}"
    result = run_playbook(
        "converge.yml",
        {**CURRENT, "prometheus_alert_rules": faster, "prometheus_scrape_targets": []},
    )
    assert result.rc != 0
    assert "FAILED" in result.output and "alertname: TargetDown, time: 5m" in result.output, (
        result.output[-4000:]
    )
    assert root.file(RULES).content_string == rules
    assert root.file(CONFIG).content_string == config, "nothing goes live, not even other files"
    assert container_identity(root, CONTAINER) == before
    loaded = {
        rule["name"]: rule
        for group in api(port, "/api/v1/rules")["groups"]
        for rule in group["rules"]
    }
    assert loaded["TargetDown"]["duration"] == 300


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"prometheus_retention_time": "90 days"}, "prometheus_retention_time=90 days is invalid"),
        ({"prometheus_scrape_interval": "often"}, "prometheus_scrape_interval=often is invalid"),
        ({"prometheus_http_port": 70000}, "prometheus_http_port=70000 is invalid"),
        (
            {"prometheus_scrape_targets": [{**EXTRA_TARGET, "job": "prometheus"}]},
            "job names unique",
        ),
        ({"prometheus_remote_write": [{"url": "lgtm-mimir:9009"}]}, "prometheus_remote_write="),
        ({"prometheus_remote_write": [{"url": "http://m", "no_such_key": 1}]}, "no_such_key"),
        ({"prometheus_otlp_receiver": "maybe"}, "prometheus_otlp_receiver"),
    ],
)
def test_bad_variable_fails_before_any_change_naming_it(root, bad, named):
    before = container_identity(root, CONTAINER)
    config = root.file(CONFIG).content_string
    result = run_playbook("converge.yml", {**CURRENT, **bad})
    assert result.rc != 0
    assert named in result.output, result.output[-3000:]
    assert container_identity(root, CONTAINER) == before
    assert root.file(CONFIG).content_string == config


def test_unchanged_run_changes_and_restarts_nothing(root):
    before = container_identity(root, CONTAINER)
    result = run_playbook("converge.yml", CURRENT)
    result.assert_ok()
    assert result.changed == 0, result.output[-4000:]
    assert container_identity(root, CONTAINER) == before
