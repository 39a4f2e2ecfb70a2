"""The stack split across hosts: wiring across the network, then upgrade.yml rolling pins.

Runs after test_firewall.py (pytest takes files in order): the upgrade tests change
the running Alloy image, so they come last.
"""

import base64
import json
import os
import re
import shlex
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest
import testinfra
import yaml
from lgtm_molecule import (
    TEMPO_HEALTH_SOURCE,
    container_identity,
    get,
    instance,
    poll,
    run_playbook,
    tunnel,
)

testinfra_hosts = ["lgtm-mh-store"]
STORE, GRAFANA, APP = "lgtm-mh-store", "lgtm-mh-grafana", "lgtm-mh-app"
RUN_ID = uuid.uuid4().hex[:12]
ALLOY_HOSTS = [GRAFANA, APP]
UPSTREAM = os.environ.get("LGTM_TEST_IMAGES") == "upstream"
BASE = "docker.io/grafana/alloy:v1.18.1" if UPSTREAM else "localhost/lgtm-test/alloy:v1.18.1"
NEXT = "localhost/lgtm-test/alloy:v1.18.2"
BROKEN = "localhost/lgtm-test/alloy:v1.18.3"


def roll_order() -> list[str]:
    """The Alloy hosts in the order a serial play takes them: the inventory's order."""
    with open(os.environ["MOLECULE_INVENTORY_FILE"]) as inventory:
        members = list(yaml.safe_load(inventory)["lgtm"]["hosts"])
    return [name for name in members if name in (GRAFANA, APP)]


def host_results(output: str) -> list[tuple[str, str, dict]]:
    """(task title, host, result) of each ok/changed line, in the order the run printed
    them; the result is what -v prints after "=>" ({} without it)."""
    events = []
    task = ""
    for line in output.splitlines():
        if line.startswith("TASK [") and "]" in line:
            task = line[len("TASK ["):line.rindex("]")]
            continue
        match = re.match(r"(?:ok|changed): \[([^\]\s]+)(?:.*?=> (\{.*\}))?", line)
        if match:
            try:
                result = json.loads(match.group(2) or "{}")
            except ValueError:
                result = {"unparsed": match.group(2)}
            events.append((task, match.group(1), result))
    return events


def first_event(events: list[tuple[str, str, dict]], task_end: str, host: str) -> tuple[int, dict]:
    """Index and result of the first ok/changed result of `host` for a task whose title ends so."""
    for index, (task, name, result) in enumerate(events):
        if name == host and task.endswith(task_end):
            return index, result
    raise AssertionError(f"no ok/changed result of {host} for a task ending {task_end!r}")


def other(name: str):
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}")


def address(name: str) -> str:
    return str(instance(name)["address"])


@pytest.fixture(scope="module")
def grafana():
    password = other(GRAFANA).run("cat /etc/lgtm/grafana/secrets/admin_password").stdout.strip()
    assert password
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    with tunnel(GRAFANA, 3000, address(GRAFANA)) as port:

        def call(path: str, body: object = None) -> tuple[int, object]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}",
                data=None if body is None else json.dumps(body).encode(),
                headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=15) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                return error.code, error.read()[:500]

        yield call


@pytest.fixture(scope="module")
def loki_port():
    with tunnel(STORE, 3100, address(STORE)) as port:
        yield port


def ca_file() -> str:
    """The test CA that signed the store's certificate (prepare.yml)."""
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "tls", "ca.crt")


def store_tls() -> tuple[str, str]:
    return ca_file(), address(STORE)


def running(name: str, container: str) -> tuple[str, datetime]:
    """(image, start time) of a container on a host."""
    template = "{{.ImageName}}|{{.State.StartedAt}}"
    inspect = other(name).run(f"podman inspect --format '{template}' {container}")
    assert inspect.rc == 0, inspect.stderr
    image, started = inspect.stdout.strip().split("|")
    stamp, _dot, fraction = started.split(" +")[0].partition(".")
    return image, datetime.fromisoformat(f"{stamp}.{fraction[:6]:0<6}").replace(tzinfo=UTC)


def alloy_state(name: str) -> tuple[str, datetime, str]:
    """(image, start time, readiness status) of Alloy on a host."""
    host = other(name)
    image, when = running(name, "lgtm-alloy")
    ready = host.run(f"curl -s -o /dev/null -m 5 -w '%{{http_code}}' http://{address(name)}:12345/-/ready")
    return image, when, ready.stdout.strip()


def build_alloy(name: str, tag: str, extra: str, base: str = BASE) -> None:
    """A new image from the test image (no registry needed): what a new pin would pull."""
    host = other(name)
    context = "/tmp/lgtm-build-" + tag.rsplit("/", 1)[1].replace(":", "-")
    containerfile = f'FROM {base}\nLABEL org.lgtm-stack.test-upgrade="{tag}"\n{extra}\n'
    host.run(f"mkdir -p {context} && cat > {context}/Containerfile <<'EOF'\n{containerfile}EOF")
    built = host.run(f"podman build --pull=never --tag {tag} {context}")
    assert built.rc == 0, built.stderr[-2000:]


def test_grafana_datasources_are_healthy_across_hosts(grafana):
    status, datasources = grafana("/api/datasources")
    assert status == 200, datasources
    by_uid = {ds["uid"]: ds for ds in datasources}
    for uid, port in (("lgtm-loki", 3100), ("lgtm-tempo", 3200), ("lgtm-mimir", 9009),
                      ("lgtm-prometheus", 9090)):
        # https: the store serves TLS, and health below means Grafana verified it.
        assert by_uid[uid]["url"].startswith(f"https://{address(STORE)}:{port}"), by_uid[uid]
        status, health = grafana(f"/api/datasources/uid/{uid}/health")
        assert status == 200 and health["status"] == "OK", (
            uid, health, TEMPO_HEALTH_SOURCE if uid == "lgtm-tempo" else "")


def test_alloy_on_the_app_host_ships_its_journal_to_the_store(loki_port):
    app = other(APP)
    message = f"multihost-{RUN_ID}"
    ran = app.run(f"systemd-run --unit=lgtm-mh-probe --collect --wait -- echo {message}")
    assert ran.rc == 0, ran.stderr
    query = f'{{service_unit="lgtm-mh-probe.service"}} |= "{message}"'

    def lines() -> list[tuple[dict[str, str], str]]:
        status, body = get(loki_port, "/loki/api/v1/query_range", {
            "query": query, "start": str(int((time.time() - 3600) * 1e9)), "limit": "10"},
            tls=store_tls())
        assert status == 200, body[:500]
        return [(stream["stream"], line)
                for stream in json.loads(body)["data"]["result"] for _ts, line in stream["values"]]

    found = poll(lines)
    assert found, "the app host's journal line never reached Loki on the store"
    labels, line = found[0]
    assert line == message
    assert labels["host"] == app.run("hostname").stdout.strip()


# Each port is dialled from a host its firewall lets in: Alertmanager's only consumer is
# Prometheus on the store itself.
@pytest.mark.parametrize(("port", "path", "client"), [
    (3100, "/ready", GRAFANA), (3200, "/ready", GRAFANA), (9009, "/ready", GRAFANA),
    (4318, "/v1/traces", GRAFANA), (9090, "/-/ready", GRAFANA), (9093, "/-/ready", STORE)])
def test_the_store_serves_tls_that_its_ca_and_address_verify(port, path, client):
    """The test CA and the store's address verify every backend port; another name, no CA
    or plain HTTP do not get an answer from the service."""
    consumer = other(client)
    with open(ca_file(), encoding="ascii") as ca:
        pem = ca.read()
    assert consumer.run(f"printf '%s' {shlex.quote(pem)} > /tmp/lgtm-test-ca.crt").rc == 0
    url = f"https://{address(STORE)}:{port}{path}"
    verified = consumer.run(
        f"curl -s -o /dev/null -w '%{{http_code}}' -m 5 --cacert /tmp/lgtm-test-ca.crt {url}")
    assert verified.rc == 0, (url, verified.stderr)
    assert verified.stdout.strip() in ("200", "405"), verified.stdout
    # curl exit 60: the certificate is not trusted (system CAs) / does not name what was dialled.
    assert consumer.run(f"curl -s -o /dev/null -m 5 {url}").rc == 60
    wrong_name = consumer.run(f"curl -s -o /dev/null -m 5 --cacert /tmp/lgtm-test-ca.crt "
                              f"--resolve lgtm-mh-store:{port}:{address(STORE)} https://lgtm-mh-store:{port}{path}")
    assert wrong_name.rc == 60, wrong_name.stderr
    plain = consumer.run(f"curl -s -m 5 http://{address(STORE)}:{port}{path}")
    assert "HTTPS" in plain.stdout or plain.rc != 0, plain.stdout


def test_the_private_key_is_readable_by_the_service_user_only():
    store = other(STORE)
    for service, uid in (("loki", 10001), ("tempo", 10001), ("mimir", 10001), ("prometheus", 65534),
                         ("alertmanager", 65534)):
        key = store.file(f"/etc/lgtm/{service}/tls/server.key")
        assert key.mode == 0o400 and key.uid == uid, (service, oct(key.mode), key.uid)


def test_prometheus_scrapes_and_alerts_over_tls(grafana):
    """Prometheus on the store scrapes its TLS neighbours (and itself) by container name,
    verifying the store's address, and reaches Alertmanager the same way."""

    def targets() -> dict[str, str] | None:
        status, body = grafana("/api/datasources/proxy/uid/lgtm-prometheus/api/v1/targets")
        assert status == 200, body
        health = {f"{t['labels']['job']}@{t['labels'].get('host', '')}": t["health"]
                  for t in body["data"]["activeTargets"]}
        return health if health and all(value == "up" for value in health.values()) else None

    health = poll(targets)
    assert health, "some scrape target stayed down"
    for job in ("loki", "tempo", "mimir", "alertmanager"):
        assert health.get(f"{job}@{STORE}") == "up", health
    assert health.get("prometheus@") == "up", health
    status, body = grafana("/api/datasources/proxy/uid/lgtm-prometheus/api/v1/alertmanagers")
    assert status == 200, body
    active = [item["url"] for item in body["data"]["activeAlertmanagers"]]
    assert active == ["https://lgtm-alertmanager:9093/api/v2/alerts"], active


def test_a_trace_sent_to_the_app_host_reaches_tempo_over_tls(grafana):
    """App host Alloy -> store Tempo (OTLP over TLS); Grafana reads it back through its
    datasource proxy (TLS again)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    with tunnel(APP, 4318, address(APP)) as otlp_port:
        provider = TracerProvider(resource=Resource.create({"service.name": f"multihost-{RUN_ID}"}))
        provider.add_span_processor(SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=f"http://127.0.0.1:{otlp_port}/v1/traces")))
        with provider.get_tracer("lgtm.stack.test").start_as_current_span("tls-probe") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
        provider.shutdown()

    def found() -> object:
        status, body = grafana(f"/api/datasources/proxy/uid/lgtm-tempo/api/v2/traces/{trace_id}")
        return body if status == 200 else None

    assert poll(found), "the trace never reached Tempo on the store"


def test_a_pin_given_as_an_extra_var_is_refused():
    before = {name: container_identity(other(name), "lgtm-alloy") for name in ALLOY_HOSTS}
    result = run_playbook("upgrade.yml", {"alloy_image": NEXT})
    assert result.rc != 0
    assert "alloy_image given as extra vars (-e)" in result.output, result.output[-3000:]
    assert {name: container_identity(other(name), "lgtm-alloy") for name in ALLOY_HOSTS} == before


def test_a_major_jump_fails_before_any_change_naming_the_variable():
    before = {name: container_identity(other(name), "lgtm-alloy") for name in ALLOY_HOSTS}
    major = "localhost/lgtm-test/alloy:v2.0.0"
    result = run_playbook("upgrade.yml", {"lgtm_upgrade_images": {"alloy": major}})
    assert result.rc != 0
    assert (f"alloy_image: {BASE} -> {major} is a major upgrade; set lgtm_upgrade_allow_major=true"
            in result.output), result.output[-3000:]
    assert result.changed == 0
    assert {name: container_identity(other(name), "lgtm-alloy") for name in ALLOY_HOSTS} == before


def test_a_new_pin_rolls_host_by_host():
    for name in ALLOY_HOSTS:
        build_alloy(name, NEXT, "")
    started = time.time()
    # -v: each task's result follows its ok/changed line (the readiness wait's, below).
    result = run_playbook("upgrade.yml", {"lgtm_upgrade_images": {"alloy": NEXT}}, verbosity=1)
    result.assert_ok()
    states = {name: alloy_state(name) for name in ALLOY_HOSTS}
    for name, (image, when, ready) in states.items():
        assert (image, ready) == (NEXT, "200"), name
        assert when.timestamp() > started - 5, f"{name}: Alloy was not restarted"
    # serial: 1 - the second host switched only after the first was ready: the first
    # host's readiness wait succeeded before the second host's switch began.
    first, second = roll_order()
    assert states[first][1] < states[second][1]
    events = host_results(result.output)
    # The quadlet core's one call deploys, reconciles and waits: its result holds the wait's.
    first_ready, deployed = first_event(events, "quadlet : Deploy alloy", first)
    waited = deployed.get("wait") or {}
    # The wait's own result, not only its "ok": a failure reported as ok (failed_when) is not ready.
    assert waited.get("endpoints") and all(item["ready"] for item in waited["endpoints"]), waited
    second_switch = first_event(events, "Note the service being switched | alloy", second)[0]
    assert first_ready < second_switch, (first_ready, second_switch)
    # A run with the pins already deployed changes nothing.
    before = {name: container_identity(other(name), "lgtm-alloy") for name in ALLOY_HOSTS}
    again = run_playbook("upgrade.yml", {"lgtm_upgrade_images": {"alloy": NEXT}})
    again.assert_ok()
    assert again.changed == 0, again.output[-3000:]
    assert {name: container_identity(other(name), "lgtm-alloy") for name in ALLOY_HOSTS} == before


def test_a_broken_pin_is_rolled_back_and_stops_the_roll():
    for name in ALLOY_HOSTS:
        build_alloy(name, BROKEN, 'ENTRYPOINT ["/bin/false"]')
    first, second = roll_order()
    untouched = container_identity(other(second), "lgtm-alloy")
    result = run_playbook("upgrade.yml", {"lgtm_upgrade_images": {"alloy": BROKEN},
                                          "lgtm_upgrade_wait_timeout": 20})
    assert result.rc != 0
    expected = (f"{first}: alloy {BROKEN} did not become ready; rolled back to {NEXT}; "
                "the roll stops here")
    assert expected in result.output, result.output[-4000:]
    image, _when, ready = alloy_state(first)
    assert (image, ready) == (NEXT, "200")
    assert container_identity(other(second), "lgtm-alloy") == untouched, "the roll went on"
    unit = other(second).file("/etc/containers/systemd/lgtm-alloy.container").content_string
    assert f"Image={NEXT}" in unit


GRAFANA_BASE = ("docker.io/grafana/grafana:13.2.2" if UPSTREAM
                else "localhost/lgtm-test/grafana:13.2.2")
GRAFANA_NEXT = "localhost/lgtm-test/grafana:13.2.3"
GRAFANA_BROKEN = "localhost/lgtm-test/grafana:13.2.4"
GRAFANA_BACKUPS = "/var/backups/lgtm/grafana"


def grafana_backups() -> set[str]:
    return set(other(GRAFANA).run(f"ls {GRAFANA_BACKUPS}").stdout.split())


def test_grafana_is_snapshotted_before_its_switch(grafana):
    build_alloy(GRAFANA, GRAFANA_NEXT, "", GRAFANA_BASE)
    before = grafana_backups()
    # Alloy stays on the pin it runs now; only Grafana moves.
    result = run_playbook("upgrade.yml",
                          {"lgtm_upgrade_images": {"alloy": NEXT, "grafana": GRAFANA_NEXT}})
    result.assert_ok()
    new = grafana_backups() - before
    assert len(new) == 1, new
    written = int(other(GRAFANA).run(f"stat -c %Y {GRAFANA_BACKUPS}/{new.pop()}").stdout)
    image, started = running(GRAFANA, "lgtm-grafana")
    assert image == GRAFANA_NEXT
    assert written <= started.timestamp(), "the snapshot was taken after the switch"
    assert grafana("/api/health")[0] == 200


def test_a_broken_grafana_pin_is_rolled_back_with_its_snapshot(grafana):
    uid = f"mh-keep-{RUN_ID}"
    status, body = grafana("/api/dashboards/db", {
        "dashboard": {"uid": uid, "title": f"kept {RUN_ID}", "panels": []}, "overwrite": True})
    assert status == 200, body
    # A new version that wrecks the database on its way down: only the snapshot has the dashboard.
    build_alloy(GRAFANA, GRAFANA_BROKEN,
                'ENTRYPOINT ["/bin/sh", "-c", "rm -f /var/lib/grafana/grafana.db; exit 1"]',
                GRAFANA_BASE)
    result = run_playbook("upgrade.yml", {
        "lgtm_upgrade_images": {"alloy": NEXT, "grafana": GRAFANA_BROKEN},
        "lgtm_upgrade_wait_timeout": 30})
    assert result.rc != 0
    expected = (f"{GRAFANA}: grafana {GRAFANA_BROKEN} did not become ready; rolled back to "
                f"{GRAFANA_NEXT}, snapshot restored")
    assert expected in result.output, result.output[-4000:]
    assert running(GRAFANA, "lgtm-grafana")[0] == GRAFANA_NEXT
    status, body = grafana(f"/api/dashboards/uid/{uid}")
    assert status == 200, body
