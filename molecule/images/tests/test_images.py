"""Test images keep the upstream images' contracts (docs/services.md in shared docs)."""

import json
import time

import pytest
from lgtm_molecule import image_kind

LOCAL = "localhost/lgtm-test"
IMAGES = {
    # image: (user, entrypoint, cmd) as the upstream image declares them
    "testsvc:1.35.0": ("10001:10001", ["/bin/busybox", "httpd", "-f", "-v"], None),
    "loki:3.7.6": ("10001:10001", ["/usr/bin/loki"], ["-config.file=/etc/loki/local-config.yaml"]),
    "prometheus:3.5": (
        "65534:65534",
        ["/bin/prometheus"],
        ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
    ),
    "alertmanager:0.33": (
        "65534:65534",
        ["/bin/alertmanager"],
        ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"],
    ),
    "postgres:18": ("0:0", ["docker-entrypoint.sh"], ["postgres"]),
    "valkey:9": ("0:0", ["docker-entrypoint.sh"], ["valkey-server"]),
}

LOKI_CONFIG = """\
auth_enabled: false
server: {http_listen_port: 3100}
common:
  path_prefix: /loki
  replication_factor: 1
  ring: {kvstore: {store: inmemory}}
  storage: {filesystem: {chunks_directory: /loki/chunks, rules_directory: /loki/rules}}
schema_config:
  configs:
    - {from: "2024-01-01", store: tsdb, object_store: filesystem, schema: v13,
       index: {prefix: index_, period: 24h}}
"""


def run_ok(host, command):
    result = host.run(command)
    assert result.rc == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_image_config_matches_upstream_contract(root, image):
    config = json.loads(run_ok(root, f"podman image inspect {LOCAL}/{image}"))[0]["Config"]
    user, entrypoint, cmd = IMAGES[image]
    assert config["User"] == user
    assert config["Entrypoint"] == entrypoint
    if cmd is not None:
        assert config["Cmd"] == cmd
    if image_kind(root, f"{LOCAL}/{image}") != "upstream":
        # Built here: it says what it is. (A real image loaded from an archive has no
        # such label, and is judged real by the scenarios for that very reason.)
        assert config["Labels"]["lgtm.stack.test-image.kind"] in ("stand-in", "packaged")


def test_loki_verify_config_accepts_good_and_rejects_unknown_keys(root):
    root.run("mkdir -p /tmp/loki && chmod 755 /tmp/loki")
    root.run(f"cat > /tmp/loki/good.yaml <<'EOF'\n{LOKI_CONFIG}EOF")
    root.run("sed 's/auth_enabled/no_such_key/' /tmp/loki/good.yaml > /tmp/loki/bad.yaml")
    base = f"podman run --rm -v /tmp/loki:/etc/loki:ro {LOCAL}/loki:3.7.6"
    assert root.run(f"{base} -config.file=/etc/loki/good.yaml -verify-config").rc == 0
    bad = root.run(f"{base} -config.file=/etc/loki/bad.yaml -verify-config")
    assert bad.rc != 0 and "no_such_key" in bad.stdout + bad.stderr


def test_loki_default_command_has_a_valid_config(root):
    # The image's CMD names a config it ships: it starts with no arguments at all.
    image = f"{LOCAL}/loki:3.7.6"
    config = json.loads(run_ok(root, f"podman image inspect {image}"))[0]["Config"]
    checked = root.run(f"podman run --rm {image} {' '.join(config['Cmd'])} -verify-config")
    assert checked.rc == 0, checked.stdout + checked.stderr


def test_prometheus_runs_as_nobody_and_gets_ready(root):
    run_ok(root, f"podman run -d --name prom -p 127.0.0.1:19090:9090 {LOCAL}/prometheus:3.5")
    try:
        ready = root.run(
            "curl -sf --retry 60 --retry-delay 1 --retry-all-errors http://127.0.0.1:19090/-/ready"
        )
        assert ready.rc == 0 and "Ready" in ready.stdout
        assert run_ok(root, "podman top prom huser user").split()[-1] == "nobody"
        checked = run_ok(
            root,
            f"podman run --rm --entrypoint /bin/promtool {LOCAL}/prometheus:3.5 "
            "check config /etc/prometheus/prometheus.yml",
        )
        assert "SUCCESS" in checked
    finally:
        root.run("podman rm -f -t 0 prom")


def test_postgres_initialises_an_empty_dir_from_a_password_file(root):
    root.run("rm -rf /tmp/pgdata && mkdir -p /tmp/pgdata /tmp/pgsecret")
    root.run("printf 'pw-from-file' > /tmp/pgsecret/password")
    run_ok(
        root,
        "podman run -d --name pg -e POSTGRES_PASSWORD_FILE=/run/pg/password "
        "-e POSTGRES_DB=glitchtip -v /tmp/pgsecret:/run/pg:ro "
        f"-v /tmp/pgdata:/var/lib/postgresql {LOCAL}/postgres:18",
    )
    try:
        # On the container's network address: the socket and 127.0.0.1 are trusted without
        # a password, as in the official image, so only a network login proves the password.
        networks = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        address = run_ok(root, f"podman inspect --format '{networks}' pg").strip()
        assert address and not address.startswith("127."), address
        query = (
            "for i in $(seq 100); do podman exec -e PGPASSWORD=pw-from-file pg "
            f"psql -h {address} -U postgres -d glitchtip -tAc 'select 42' && exit 0; "
            "sleep 0.2; done; exit 1"
        )
        assert run_ok(root, query).strip().splitlines()[-1] == "42"
        data = root.file("/tmp/pgdata/18/docker")
        assert (data.uid, data.mode) == (999, 0o700)
        wrong = root.run(
            f"podman exec -e PGPASSWORD=wrong pg psql -h {address} -U postgres -c 'select 1'"
        )
        assert wrong.rc != 0, "network logins need the password"
        assert "password authentication failed" in wrong.stderr
    finally:
        root.run("podman rm -f -t 0 pg")


def test_postgres_refuses_to_initialise_without_a_password(root):
    root.run("rm -rf /tmp/pgempty && mkdir /tmp/pgempty")
    result = root.run(f"podman run --rm -v /tmp/pgempty:/var/lib/postgresql {LOCAL}/postgres:18")
    assert result.rc != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_valkey_answers_without_protected_mode_as_uid_999(root):
    run_ok(root, f"podman run -d --name vk {LOCAL}/valkey:9")
    try:
        pong = root.run(
            "for i in $(seq 50); do podman exec vk valkey-cli -h 127.0.0.1 ping "
            "&& exit 0; sleep 0.1; done; exit 1"
        )
        assert pong.stdout.strip().splitlines()[-1] == "PONG"
        assert run_ok(root, "podman top vk huser").split()[-1] == "999"
        mode = run_ok(root, "podman exec vk valkey-cli config get protected-mode")
        assert mode.split() == ["protected-mode", "no"]
    finally:
        root.run("podman rm -f -t 0 vk")


# --- Mimir: the contract stand-in (tests/testhost/standins/mimir) --------------------

MIMIR = f"{LOCAL}/mimir:2.17.11"
# What a single-host role renders: one tenant, RF 1, every path on the data volume.
MIMIR_SINGLE_TENANT = """\
multitenancy_enabled: false
server:
  http_listen_port: 9009
ingester:
  ring:
    replication_factor: 1
blocks_storage:
  tsdb: {dir: /data/tsdb}
  filesystem: {dir: /data/blocks}
  bucket_store: {sync_dir: /data/tsdb-sync}
compactor: {data_dir: /data/compactor}
ruler: {rule_path: /data/rules}
ruler_storage:
  filesystem: {dir: /data/ruler-storage}
usage_stats: {enabled: false}
"""
PROMETHEUS_REMOTE_WRITE = """\
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["localhost:9090"]
remote_write:
  - url: http://lgtm-mimir:9009/api/v1/push
    queue_config: {batch_send_deadline: 1s}
"""


def write_files(root, directory, files):
    run_ok(root, f"rm -rf {directory} && mkdir -p {directory} && chmod 755 {directory}")
    for name, content in files.items():
        path = f"{directory}/{name}"
        run_ok(root, f"cat > {path} <<'EOF'\n{content}EOF\nchmod 644 {path}")


def poll(root, command, done, timeout=90.0):
    """Run `command` until done(stdout) holds; bounded, returns every output seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = root.run(command).stdout
        seen.append(out)
        if done(out):
            return seen
        time.sleep(0.25)
    raise AssertionError(f"{command!r} never satisfied the check; last outputs: {seen[-3:]}")


def up_series(out):
    """The `up` series with job=prometheus in a query answer, if any."""
    try:
        result = json.loads(out)["data"]["result"]
    except (ValueError, KeyError, TypeError):
        return None
    return next((item for item in result if item["metric"].get("job") == "prometheus"), None)


def test_mimir_image_keeps_the_upstream_contract(root):
    if image_kind(root, MIMIR) != "stand-in":
        pytest.skip("checks the Mimir stand-in; this image is not one")
    config = json.loads(run_ok(root, f"podman image inspect {MIMIR}"))[0]["Config"]
    assert config["Entrypoint"] == ["/bin/mimir"]
    assert config["User"] in ("0:0", "0", "root")
    assert (
        "contract stand-in for docker.io/grafana/mimir:2.17.11"
        in config["Labels"]["lgtm.stack.test-image"]
    )
    version = run_ok(root, f"podman run --rm {MIMIR} -version")
    assert version.startswith("Mimir, version 2.17.11")


def test_mimir_stores_what_the_real_prometheus_remote_writes(root):
    write_files(root, "/tmp/mimir-e2e/mimir", {"mimir.yaml": MIMIR_SINGLE_TENANT})
    write_files(root, "/tmp/mimir-e2e/prom", {"prometheus.yml": PROMETHEUS_REMOTE_WRITE})
    run_ok(root, "mkdir -p /tmp/mimir-e2e/data")
    root.run("podman network create lgtm-mimir-e2e")
    query = "curl -s -G http://127.0.0.1:19009/prometheus/api/v1/query --data-urlencode query=up"
    try:
        run_ok(
            root,
            "podman run -d --name lgtm-mimir --network lgtm-mimir-e2e "
            "-p 127.0.0.1:19009:9009 -v /tmp/mimir-e2e/mimir:/etc/mimir:ro "
            f"-v /tmp/mimir-e2e/data:/data {MIMIR} "
            "-config.file=/etc/mimir/mimir.yaml -target=all",
        )
        run_ok(
            root,
            "podman run -d --name lgtm-prom --network lgtm-mimir-e2e "
            "-v /tmp/mimir-e2e/prom:/etc/prometheus:ro "
            f"{LOCAL}/prometheus:3.5",
        )
        seen = poll(root, query, up_series)
        series = up_series(seen[-1])
        assert series["metric"]["instance"] == "localhost:9090"
        assert series["value"][1] == "1"
        stamp = series["value"][0]
        # Stored on the data volume (the ingester's TSDB dir), and reloaded at start:
        # the sample seen before a restart is still there after it.
        assert root.file("/tmp/mimir-e2e/data/tsdb/anonymous/standin-samples.jsonl").size > 0
        run_ok(root, "podman restart -t 10 lgtm-mimir")
        poll(root, "curl -s http://127.0.0.1:19009/ready", lambda out: out.strip() == "ready")
        again = poll(root, f"{query} --data-urlencode time={stamp}", up_series)
        assert up_series(again[-1])["value"] == [stamp, "1"]
    finally:
        root.run("podman rm -f -t 0 lgtm-prom lgtm-mimir")
        root.run("podman network rm lgtm-mimir-e2e")


def test_mimir_refuses_an_unknown_key_before_listening(root):
    write_files(
        root,
        "/tmp/mimir-bad",
        {
            "mimir.yaml": MIMIR_SINGLE_TENANT.replace(
                "  http_listen_port: 9009\n", "  http_listen_port: 9009\n  no_such_key: 1\n"
            )
        },
    )
    result = root.run(
        f"podman run --rm -v /tmp/mimir-bad:/etc/mimir:ro {MIMIR} "
        "-config.file=/etc/mimir/mimir.yaml"
    )
    assert result.rc == 1
    assert "field no_such_key not found in type server.Config" in result.stderr


def test_mimir_defaults_port_8080_and_multitenancy(root):
    # No server block and no multitenancy_enabled: upstream's defaults apply.
    write_files(
        root,
        "/tmp/mimir-defaults",
        {
            "mimir.yaml": "usage_stats: {enabled: false}\n"
            "ingester: {ring: {replication_factor: 1}}\n"
        },
    )
    try:
        run_ok(
            root,
            "podman run -d --name lgtm-mimir-defaults -p 127.0.0.1:18080:8080 "
            f"-p 127.0.0.1:19010:9009 -v /tmp/mimir-defaults:/etc/mimir:ro {MIMIR} "
            "-config.file=/etc/mimir/mimir.yaml",
        )
        statuses = poll(
            root,
            "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18080/ready",
            lambda out: out == "200",
        )
        assert "503" in statuses, f"/ready answers 503 while starting: {statuses}"
        assert root.run("curl -s http://127.0.0.1:19010/ready").rc != 0, "nothing on 9009"
        query = "http://127.0.0.1:18080/prometheus/api/v1/query?query=up"
        denied = root.run(f"curl -s -w ' %{{http_code}}' {query}").stdout
        assert denied == "no org id\n 401"
        allowed = run_ok(root, f"curl -s -H 'X-Scope-OrgID: team-a' {query}")
        assert json.loads(allowed)["status"] == "success"
    finally:
        root.run("podman rm -f -t 0 lgtm-mimir-defaults")


def test_alertmanager_amtool_checks_configs_and_the_image_keeps_upstreams_paths(root):
    image = f"{LOCAL}/alertmanager:0.33"
    config = json.loads(run_ok(root, f"podman image inspect {image}"))[0]["Config"]
    assert config["WorkingDir"] == "/alertmanager"
    # The example config upstream's image ships is valid, as is a webhook receiver;
    # an unknown key fails with amtool's message and a non-zero exit.
    run_ok(root, f"podman run --rm --entrypoint /bin/amtool {image} check-config "
                 "/etc/alertmanager/alertmanager.yml")
    root.run("mkdir -p /tmp/am && chmod 755 /tmp/am")
    root.run("printf 'route: {receiver: hook}\\nreceivers:\\n  - name: hook\\n"
             "    webhook_configs: [{url: \"http://127.0.0.1:9/\"}]\\n' > /tmp/am/good.yml")
    root.run("sed 's/url:/no_such_key:/' /tmp/am/good.yml > /tmp/am/bad.yml")
    base = f"podman run --rm -v /tmp/am:/tmp/am:ro --entrypoint /bin/amtool {image} check-config"
    assert root.run(f"{base} /tmp/am/good.yml").rc == 0
    bad = root.run(f"{base} /tmp/am/bad.yml")
    assert bad.rc != 0
    assert "no_such_key" in bad.stdout + bad.stderr
    listing = run_ok(root, f"podman run --rm --entrypoint /bin/ls {image} -ldn /alertmanager")
    assert listing.split()[2:4] == ["65534", "65534"], "the data directory belongs to nobody"
