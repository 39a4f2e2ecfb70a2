"""Test images keep the upstream images' contracts (docs/services.md in shared docs)."""

import json

import pytest

LOCAL = "localhost/lgtm-test"
IMAGES = {
    # image: (user, entrypoint, cmd) as the upstream image declares them
    "testsvc:1.35.0": ("10001:10001", ["/bin/busybox", "httpd", "-f", "-v"], None),
    "loki:3.7.6": ("10001:10001", ["/usr/bin/loki"], ["-config.file=/etc/loki/local-config.yaml"]),
    "tempo:3.0.3": ("10001:10001", ["/tempo"], None),
    "prometheus:3.5": ("65534:65534", ["/bin/prometheus"],
                       ["--config.file=/etc/prometheus/prometheus.yml",
                        "--storage.tsdb.path=/prometheus"]),
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


@pytest.fixture
def root(host):
    with host.sudo():
        yield host


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
    assert "lgtm.stack.test-image" in config["Labels"], "test images say what they are"


def test_loki_verify_config_accepts_good_and_rejects_unknown_keys(root):
    root.run("mkdir -p /tmp/loki && chmod 755 /tmp/loki")
    root.run(f"cat > /tmp/loki/good.yaml <<'EOF'\n{LOKI_CONFIG}EOF")
    root.run("sed 's/auth_enabled/no_such_key/' /tmp/loki/good.yaml > /tmp/loki/bad.yaml")
    base = f"podman run --rm -v /tmp/loki:/etc/loki:ro {LOCAL}/loki:3.7.6"
    assert root.run(f"{base} -config.file=/etc/loki/good.yaml -verify-config").rc == 0
    bad = root.run(f"{base} -config.file=/etc/loki/bad.yaml -verify-config")
    assert bad.rc != 0 and "no_such_key" in bad.stdout + bad.stderr


def test_tempo_verify_flag_needs_its_argument(root):
    # Upstream's trap: the bare flag exits 2 ("flag needs an argument").
    assert root.run(f"podman run --rm {LOCAL}/tempo:3.0.3 -config.verify").rc == 2
    assert "tempo, version v3.0.3" in run_ok(root, f"podman run --rm {LOCAL}/tempo:3.0.3 -version")


def test_prometheus_runs_as_nobody_and_gets_ready(root):
    run_ok(root, f"podman run -d --name prom -p 127.0.0.1:19090:9090 {LOCAL}/prometheus:3.5")
    try:
        ready = root.run("curl -sf --retry 60 --retry-delay 1 --retry-all-errors "
                         "http://127.0.0.1:19090/-/ready")
        assert ready.rc == 0 and "Ready" in ready.stdout
        assert run_ok(root, "podman top prom huser user").split()[-1] == "nobody"
        checked = run_ok(root, f"podman run --rm --entrypoint /bin/promtool {LOCAL}/prometheus:3.5 "
                               "check config /etc/prometheus/prometheus.yml")
        assert "SUCCESS" in checked
    finally:
        root.run("podman rm -f -t 0 prom")


def test_postgres_initialises_an_empty_dir_from_a_password_file(root):
    root.run("rm -rf /tmp/pgdata && mkdir -p /tmp/pgdata /tmp/pgsecret")
    root.run("printf 'pw-from-file' > /tmp/pgsecret/password")
    run_ok(root, "podman run -d --name pg -e POSTGRES_PASSWORD_FILE=/run/pg/password "
                 "-e POSTGRES_DB=glitchtip -v /tmp/pgsecret:/run/pg:ro "
                 f"-v /tmp/pgdata:/var/lib/postgresql {LOCAL}/postgres:18")
    try:
        query = ("for i in $(seq 100); do podman exec -e PGPASSWORD=pw-from-file pg "
                 "psql -h 127.0.0.1 -U postgres -d glitchtip -tAc 'select 42' && exit 0; "
                 "sleep 0.2; done; exit 1")
        assert run_ok(root, query).strip().splitlines()[-1] == "42"
        data = root.file("/tmp/pgdata/18/docker")
        assert (data.uid, data.mode) == (999, 0o700)
        wrong = root.run("podman exec -e PGPASSWORD=wrong pg "
                         "psql -h 127.0.0.1 -U postgres -c 'select 1'")
        assert wrong.rc != 0, "network logins need the password"
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
        pong = root.run("for i in $(seq 50); do podman exec vk valkey-cli -h 127.0.0.1 ping "
                        "&& exit 0; sleep 0.1; done; exit 1")
        assert pong.stdout.strip().splitlines()[-1] == "PONG"
        assert run_ok(root, "podman top vk huser").split()[-1] == "999"
        mode = run_ok(root, "podman exec vk valkey-cli config get protected-mode")
        assert mode.split() == ["protected-mode", "no"]
    finally:
        root.run("podman rm -f -t 0 vk")
