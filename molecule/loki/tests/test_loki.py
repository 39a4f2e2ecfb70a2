"""Loki on a real host: bound where asked, configured as asked, and really storing logs."""

import json
import time
import urllib.parse
import urllib.request
import uuid

import pytest
import yaml
from lgtm_molecule import (
    PlayResult,
    assert_noop_run,
    container_identity,
    get,
    run_playbook,
    tunnel,
)

CONTAINER = "lgtm-loki"
RUN_ID = uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def loki_port():
    with tunnel("lgtm-loki", 3100) as port:
        yield port


def query_lines(port: int, logql: str) -> list[str]:
    now = time.time_ns()
    status, body = get(
        port,
        "/loki/api/v1/query_range",
        {"query": logql, "start": str(now - 3600 * 10**9), "end": str(now + 60 * 10**9)},
    )
    assert status == 200, body
    return [line for stream in json.loads(body)["data"]["result"] for _ts, line in stream["values"]]


def poll_lines(port: int, logql: str, wanted: str, timeout: float = 60) -> list[str]:
    """Ingested lines become queryable within moments; poll with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        lines = query_lines(port, logql)
        if any(wanted in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def test_unit_active_and_started_at_boot(root):
    assert root.run("systemctl is-active lgtm-loki.service").stdout.strip() == "active"
    assert root.file("/run/systemd/generator/multi-user.target.wants/lgtm-loki.service").exists


def test_unchanged_run_changes_and_restarts_nothing(root):
    assert_noop_run(root, CONTAINER)


def test_ready_and_published_on_loopback_only(root, loki_port):
    assert get(loki_port, "/ready") == (200, b"ready\n")
    ports = json.loads(
        root.run("podman inspect --format '{{json .HostConfig.PortBindings}}' " + CONTAINER).stdout
    )
    assert ports == {"3100/tcp": [{"HostIp": "127.0.0.1", "HostPort": "3100"}]}
    host_address = root.run("ip -4 -o addr show host0").stdout.split()[3].split("/")[0]
    from_outside = root.run(f"curl -s -m 3 -o /dev/null http://{host_address}:3100/ready")
    assert from_outside.rc == 7, "Loki must refuse connections on the host's other addresses"


def test_files_owners_and_modes(root):
    config = root.file("/etc/lgtm/loki/loki.yaml")
    assert (config.user, config.group, config.mode) == ("root", "root", 0o644)
    data = root.file("/var/lib/lgtm/loki")
    assert (data.uid, data.mode) == (10001, 0o750)
    assert root.file("/var/lib/lgtm/loki/compactor").exists, "Loki writes its data as uid 10001"


def test_rendered_config_carries_retention_and_ports(root):
    config = yaml.safe_load(root.file("/etc/lgtm/loki/loki.yaml").content_string)
    assert config["limits_config"]["retention_period"] == "720h"
    assert config["compactor"]["retention_enabled"] is True
    assert config["server"]["http_listen_port"] == 3100
    assert config["schema_config"]["configs"][0]["schema"] == "v13"
    assert config["analytics"]["reporting_enabled"] is False


def push_line(port: int, line: str) -> None:
    """The push API's JSON form, as Loki's HTTP clients send it."""
    payload = {
        "streams": [
            {"stream": {"job": "lgtm-test", "run": RUN_ID}, "values": [[str(time.time_ns()), line]]}
        ]
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/loki/api/v1/push",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204


STREAM = f'{{job="lgtm-test", run="{RUN_ID}"}}'


def test_push_api_line_is_returned_by_query_range(loki_port):
    line = f"pushed line {RUN_ID}"
    push_line(loki_port, line)
    assert line in poll_lines(loki_port, STREAM, line)


def test_otlp_log_from_the_opentelemetry_sdk_is_stored(loki_port):
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    provider = LoggerProvider(resource=Resource.create({"service.name": f"lgtm-test-{RUN_ID}"}))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(
            OTLPLogExporter(endpoint=f"http://127.0.0.1:{loki_port}/otlp/v1/logs")
        )
    )
    body = f"otlp line {RUN_ID}"
    provider.get_logger("lgtm.test").emit(
        body=body, severity_number=SeverityNumber.INFO, severity_text="INFO"
    )
    provider.shutdown()
    assert body in poll_lines(loki_port, f'{{service_name="lgtm-test-{RUN_ID}"}}', body)


def test_changed_variable_restarts_loki_only_and_keeps_data(root, loki_port):
    kept = f"before restart {RUN_ID}"
    push_line(loki_port, kept)
    assert kept in poll_lines(loki_port, STREAM, kept)
    network_before = root.run(
        "systemctl show -p ActiveEnterTimestampMonotonic lgtm-network.service"
    ).stdout
    before = container_identity(root, CONTAINER)
    result = run_playbook("converge.yml", {"loki_retention_period": "336h"})
    result.assert_ok()
    assert container_identity(root, CONTAINER) != before
    assert (
        root.run("systemctl show -p ActiveEnterTimestampMonotonic lgtm-network.service").stdout
        == network_before
    )
    config = yaml.safe_load(root.file("/etc/lgtm/loki/loki.yaml").content_string)
    assert config["limits_config"]["retention_period"] == "336h"
    assert get(loki_port, "/ready")[0] == 200
    assert kept in poll_lines(loki_port, STREAM, kept), "stored logs survive the restart"
    again = run_playbook("converge.yml", {"loki_retention_period": "336h"})
    again.assert_ok()
    assert again.changed == 0, again.output[-4000:]


def test_invalid_config_extra_fails_and_leaves_loki_and_its_data(root, loki_port):
    kept = f"before bad config {RUN_ID}"
    push_line(loki_port, kept)
    assert kept in poll_lines(loki_port, STREAM, kept)
    good = root.file("/etc/lgtm/loki/loki.yaml").content_string
    before = container_identity(root, CONTAINER)
    result = run_playbook(
        "converge.yml",
        {
            "loki_retention_period": "336h",
            "loki_config_extra": {"limits_config": {"no_such_limit": 1}},
        },
    )
    assert result.rc != 0
    assert "no_such_limit" in result.output, "the validator's own message is shown"
    assert root.file("/etc/lgtm/loki/loki.yaml").content_string == good
    assert container_identity(root, CONTAINER) == before
    assert get(loki_port, "/ready")[0] == 200
    assert kept in query_lines(loki_port, STREAM), "stored logs are untouched"


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"loki_retention_period": "thirty days"}, "loki_retention_period=thirty days is invalid"),
        ({"loki_http_port": 70000}, "loki_http_port=70000 is invalid"),
        ({"loki_http_port": 9095}, "loki_http_port, loki_grpc_port must all differ"),
        ({"loki_auth_enabled": "maybe"}, "loki_auth_enabled"),
        ({"loki_log_level": "chatty"}, "loki_log_level"),
        ({"lgtm_image_archives": ["/srv/loki.tar"]}, "lgtm_image_archives"),
        ({"lgtm_image_archives": {"docker.io/grafana/loki:3.7.6": {"path": "/srv/loki.tar"}}},
         "lgtm_image_archives['docker.io/grafana/loki:3.7.6'].sha256 is missing"),
        ({"lgtm_image_archives": {"docker.io/grafana/loki:3.7.6": {"path": "/srv/loki.tar",
                                                                   "sha256": "0" * 63}}},
         "lgtm_image_archives['docker.io/grafana/loki:3.7.6'].sha256 must be 64 hex digits"),
    ],
)
def test_bad_input_fails_before_any_change_naming_the_variable(root, bad, named):
    before = container_identity(root, CONTAINER)
    config = root.file("/etc/lgtm/loki/loki.yaml").content_string
    result = run_playbook("converge.yml", bad)
    assert result.rc != 0
    assert named in result.output
    assert container_identity(root, CONTAINER) == before
    assert root.file("/etc/lgtm/loki/loki.yaml").content_string == config


def preflight(tmp_path, extra_vars: dict[str, object]) -> PlayResult:
    groups = tmp_path / "groups.yml"
    groups.write_text(yaml.safe_dump({"lgtm_loki": {"hosts": {"lgtm-loki": None}}}))
    return run_playbook("preflight.yml", extra_vars, extra_args=["-i", str(groups)])


def test_preflight_names_an_image_that_nothing_provides(root, tmp_path):
    absent = "localhost/lgtm-test/loki:0.0.1-absent"
    assert root.run(f"podman image exists {absent}").rc == 1
    # The host has its image: nothing to provide, pulls or not.
    preflight(tmp_path, {"lgtm_image_pull": False}).assert_ok()
    # Missing, no archive, pulls allowed: left to the pull (no registry is asked).
    preflight(tmp_path, {"loki_image": absent}).assert_ok()
    # Missing, no archive, no pulls: named with its variable.
    result = preflight(tmp_path, {"loki_image": absent, "lgtm_image_pull": False})
    assert result.rc != 0
    assert f"{absent} (loki_image) is not on this host, has no archive" in result.output
    # An archive that is not on the controller is named, pulls or not.
    archive = tmp_path / "loki.tar"
    given = {absent: {"path": str(archive), "sha256": "0" * 64}}
    result = preflight(tmp_path, {"loki_image": absent, "lgtm_image_archives": given})
    assert result.rc != 0
    named = f"its archive {archive} (lgtm_image_archives) is not a file on the controller"
    assert named in result.output
    # With the file there, the archive provides the image.
    archive.write_bytes(b"an archive")
    preflight(tmp_path, {"loki_image": absent, "lgtm_image_archives": given,
                         "lgtm_image_pull": False}).assert_ok()
