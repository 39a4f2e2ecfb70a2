"""Fault drills (issue 8) on a real test host running a stack deployed by site.yml.

Each drill breaks something the way it breaks in production (bad input, a killed
process, a bad config, two operators at once, a scan from the network) and asserts
what the stack promises afterwards. Waits are bounded polls, never fixed sleeps.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml
from lgtm_molecule import PlayResult, container_identity, instance, poll, run_playbook

testinfra_hosts = ["lgtm-drills"]
TARGET, SCANNER = "lgtm-drills", "lgtm-drills-scanner"
RUN_ID = uuid.uuid4().hex[:12]

# Each service: its container, where it answers "ready" on the host, and the expected body.
SERVICES: dict[str, tuple[str, str]] = {
    "lgtm-loki": ("http://127.0.0.1:3100/ready", "ready"),
    "lgtm-tempo": ("http://127.0.0.1:3200/ready", "ready"),
    "lgtm-mimir": ("http://127.0.0.1:9009/ready", "ready"),
    "lgtm-prometheus": ("http://127.0.0.1:9090/-/ready", "Ready"),
    "lgtm-grafana": ("http://127.0.0.1:3000/api/health", "ok"),
    "lgtm-alloy": ("http://127.0.0.1:12345/-/ready", "ready"),
}
UNITS = ["lgtm-network.service"] + [f"{name}.service" for name in SERVICES]


def other(name: str):
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}")


def answers(root, url: str, body: str) -> bool:
    result = root.run(f"curl -fsS -m 5 {url}")
    return result.rc == 0 and body in result.stdout


def all_ready(root) -> list[str]:
    """The services that do not answer ready (empty when all do)."""
    return [name for name, (url, body) in SERVICES.items() if not answers(root, url, body)]


# --- state of the host ---------------------------------------------------------

# Config and unit files by content; under the data root, the directories the roles
# own by owner and mode (their contents are the services' live data, which changes
# by itself while they run); every unit by state and start time.
STATE_SCRIPT = r"""
find /etc/lgtm /etc/containers/systemd -xdev -type f -print0 | sort -z | xargs -0 sha256sum
find /etc/lgtm /etc/containers/systemd -xdev -printf '%p %u %g %m\n' | sort
find /var/lib/lgtm -maxdepth 1 -printf '%p %u %g %m\n' | sort
systemctl list-units --all --no-legend --plain 'lgtm-*' | sort
systemctl show -p Id,ActiveState,SubState,MainPID,NRestarts 'lgtm-*' | sort
systemctl show -p Id,ActiveEnterTimestampMonotonic 'lgtm-*' | sort
"""


def host_state(root) -> str:
    result = root.run(STATE_SCRIPT)
    assert result.rc == 0, result.stderr
    return result.stdout


def site(
    extra_vars: dict[str, object] | None = None,
    tags: str | None = None,
    inventory: dict[str, object] | None = None,
) -> PlayResult:
    """site.yml against the scenario's hosts; `inventory` is merged in as a second source."""
    args: list[str] = ["--tags", tags] if tags else []
    with tempfile.TemporaryDirectory() as tmp:
        if inventory is not None:
            extra = Path(tmp) / "extra.yml"
            extra.write_text(yaml.safe_dump(inventory))
            args += ["-i", str(extra)]
        return run_playbook("converge.yml", extra_vars, extra_args=args)


# --- drill 1: bad input ----------------------------------------------------------

BAD_INPUTS: list[tuple[str, dict[str, object], dict[str, object] | None, str]] = [
    # (id, extra vars, extra inventory, what the message must name)
    ("type-int", {"loki_http_port": "three thousand"}, None, "loki_http_port"),
    (
        "type-bool",
        {"prometheus_remote_write_receiver": "sometimes"},
        None,
        "prometheus_remote_write_receiver",
    ),
    ("type-list", {"grafana_users": "operator"}, None, "grafana_users"),
    (
        "type-list-of-dict",
        {"loki_schema_configs": {"from": "2024-04-01"}},
        None,
        "loki_schema_configs",
    ),
    ("type-dict", {"loki_config_extra": "limits_config: {}"}, None, "loki_config_extra"),
    ("choice", {"loki_log_level": "chatty"}, None, "loki_log_level"),
    ("choice-network", {"lgtm_metrics_backend": "influxdb"}, None, "lgtm_metrics_backend"),
    (
        "choice-in-list",
        {"tempo_metrics_generator_processors": ["span-metrics", "magic"]},
        None,
        "tempo_metrics_generator_processors",
    ),
    ("port-clash", {"mimir_http_port": 3100}, None, "mimir_http_port"),
    ("port-taken-by-sshd", {"grafana_http_port": 22}, None, "grafana_http_port=22"),
    ("unknown-service-group", {}, {"lgtm_lokki": {"hosts": {TARGET: None}}}, "lgtm_lokki"),
    ("listen-address-absent", {"lgtm_listen_address": "192.0.2.10"}, None, "lgtm_listen_address"),
    (
        "service-listen-address-absent",
        {"loki_listen_address": "192.0.2.11"},
        None,
        "loki_http_port",
    ),
    (
        "retention-malformed",
        {"loki_retention_period": "thirty days"},
        None,
        "loki_retention_period=thirty days",
    ),
    ("retention-go-duration", {"tempo_retention_period": "2d"}, None, "tempo_retention_period=2d"),
    (
        "retention-prometheus",
        {"prometheus_retention_time": "90 days"},
        None,
        "prometheus_retention_time",
    ),
    ("retention-mimir", {"mimir_retention_period": "forever"}, None, "mimir_retention_period"),
    # A second Loki elsewhere that only listens on loopback: this host's Prometheus
    # scrapes every Loki and could not reach it (the run used to fail halfway).
    (
        "backend-on-another-host-only-on-loopback",
        {},
        {"lgtm_loki": {"hosts": {SCANNER: None}}},
        f"loki runs on '{SCANNER}' but is published only on 127.0.0.1 (lgtm_listen_address)",
    ),
    (
        "missing-secret-source",
        {"grafana_admin_password": "{{ lookup('ansible.builtin.file', '/nonexistent/grafana') }}"},
        None,
        "grafana_admin_password",
    ),
]


@pytest.mark.parametrize(
    ("extra_vars", "inventory", "named"),
    [pytest.param(v, i, n, id=ident) for ident, v, i, n in BAD_INPUTS],
)
def test_bad_input_fails_in_preflight_before_any_change(root, extra_vars, inventory, named):
    """The whole site.yml, not --tags preflight: should preflight let a bad input through,
    the later plays would run and the state comparison would show what they changed."""
    before = host_state(root)
    result = site(extra_vars, inventory=inventory)
    assert result.rc != 0, result.output[-3000:]
    assert "Preflight, every host before any host changes" in result.output
    assert "is not ready for the stack" in result.output, result.output[-3000:]
    report = result.output[result.output.index("is not ready for the stack") :]
    assert named in report.split("\n", 1)[0], report[:2000]
    # No later play started (any_errors_fatal stops the run at preflight).
    assert "PLAY [Network and base directories]" not in result.output
    assert host_state(root) == before


# --- drill 2: kill -9 of each service's main process -------------------------------


def loki_push_status(root, line: str) -> int:
    """The push API's JSON form, as Loki's HTTP clients send it; the HTTP status."""
    payload = {
        "streams": [
            {"stream": {"job": "drills", "run": RUN_ID}, "values": [[str(time.time_ns()), line]]}
        ]
    }
    result = root.run(
        "curl -sS -m 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' "
        f"-X POST --data-binary {json.dumps(json.dumps(payload))} "
        "http://127.0.0.1:3100/loki/api/v1/push"
    )
    return int(result.stdout.strip() or 0)


def loki_push(root, line: str) -> None:
    status = loki_push_status(root, line)
    assert status == 204, f"Loki answered the push with {status}"


def loki_has(root, line: str) -> bool:
    query = f'{{job="drills",run="{RUN_ID}"}}'
    start = time.time_ns() - 3 * 3600 * 10**9
    result = root.run(
        "curl -fsS -m 10 -G http://127.0.0.1:3100/loki/api/v1/query_range "
        f"--data-urlencode 'query={query}' --data-urlencode start={start} "
        "--data-urlencode limit=5000"
    )
    return result.rc == 0 and line in result.stdout


def sample_at(root, base: str, query: str, at: float) -> list[Any]:
    """The result of an instant query evaluated at `at` (a sample written before then)."""
    result = root.run(
        f"curl -fsS -m 10 -G {base}/api/v1/query --data-urlencode 'query={query}' "
        f"--data-urlencode time={at:.3f}"
    )
    if result.rc != 0:
        return []
    return json.loads(result.stdout)["data"]["result"]


def grafana_admin(root) -> str:
    return root.file("/etc/lgtm/grafana/secrets/admin_password").content_string.strip()


def grafana_call(root, method: str, path: str, body: dict[str, object] | None = None):
    data = (
        f"-H 'Content-Type: application/json' --data-binary {json.dumps(json.dumps(body))}"
        if body
        else ""
    )
    result = root.run(
        f'curl -sS -m 10 -u admin:"$(cat /etc/lgtm/grafana/secrets/admin_password)" '
        f"-X {method} {data} -w '\\n%{{http_code}}' http://127.0.0.1:3000{path}"
    )
    text, _newline, status = result.stdout.rpartition("\n")
    return int(status or 0), text


def main_pid(root, container: str) -> int:
    result = root.run(f"podman inspect --format '{{{{.State.Pid}}}}' {container}")
    assert result.rc == 0, result.stderr
    return int(result.stdout.strip())


def n_restarts(root, container: str) -> int:
    return int(root.run(f"systemctl show -P NRestarts {container}.service").stdout.strip())


@pytest.fixture(scope="module")
def written_before(host) -> dict[str, Any]:
    """Data in every store before any drill kills anything (module-wide: the reboot
    and full-disk drills read it back too). The scenario logs in as root."""
    root = host
    assert poll(lambda: not all_ready(root), 300), all_ready(root)
    line = f"written before the drills {RUN_ID}"
    loki_push(root, line)
    assert poll(lambda: loki_has(root, line), 60), "the line is stored"
    at = time.time()
    assert poll(lambda: sample_at(root, "http://127.0.0.1:9090", 'up{job="prometheus"}', at), 90)
    # Prometheus remote-writes to Mimir: the same moment must be there too.
    assert poll(
        lambda: sample_at(root, "http://127.0.0.1:9009/prometheus", 'up{job="prometheus"}', at), 120
    )
    login = f"drill{RUN_ID}"
    status, text = grafana_call(
        root,
        "POST",
        "/api/admin/users",
        {
            "name": "Drill",
            "login": login,
            "email": f"{login}@lgtm.test",
            "password": uuid.uuid4().hex,
        },
    )
    assert status == 200, text
    return {"line": line, "at": at, "login": login}


@pytest.mark.parametrize("container", list(SERVICES))
def test_kill_9_restarts_the_service_with_its_data(root, written_before, container):
    others = {name: container_identity(root, name) for name in SERVICES if name != container}
    pid = main_pid(root, container)
    restarts = n_restarts(root, container)
    assert root.run(f"kill -9 {pid}").rc == 0
    # The unit's Restart=always brings it back; bounded, since start-up takes a while.
    assert poll(lambda: n_restarts(root, container) > restarts, 120), f"{container} not restarted"
    url, body = SERVICES[container]
    assert poll(lambda: answers(root, url, body), 300), f"{container} not ready again"
    assert main_pid(root, container) != pid
    assert root.run(f"systemctl is-active {container}.service").stdout.strip() == "active"
    if container == "lgtm-loki":
        assert poll(lambda: loki_has(root, written_before["line"]), 60), "Loki lost the line"
    elif container == "lgtm-prometheus":
        assert sample_at(
            root, "http://127.0.0.1:9090", 'up{job="prometheus"}', written_before["at"]
        )
    elif container == "lgtm-mimir":
        assert poll(
            lambda: sample_at(
                root,
                "http://127.0.0.1:9009/prometheus",
                'up{job="prometheus"}',
                written_before["at"],
            ),
            60,
        )
    elif container == "lgtm-grafana":
        status, text = grafana_call(
            root, "GET", f"/api/users/lookup?loginOrEmail={written_before['login']}"
        )
        assert status == 200, text
    # Everything else kept running through it: the same containers, none restarted.
    assert {name: container_identity(root, name) for name in others} == others
    assert not all_ready(root) or poll(lambda: not all_ready(root), 120)


# --- drill 3: a bad config per service ------------------------------------------------

BAD_CONFIGS = [
    # (id, tag, container, config file, vars, what the failure names)
    (
        "loki-unknown-key",
        "loki",
        "lgtm-loki",
        "/etc/lgtm/loki/loki.yaml",
        {"loki_config_extra": {"limits_config": {"no_such_limit_drill": 1}}},
        "no_such_limit_drill",
    ),
    (
        "tempo-unknown-key",
        "tempo",
        "lgtm-tempo",
        "/etc/lgtm/tempo/tempo.yaml",
        {"tempo_config_extra": {"distributor": {"no_such_key_drill": 1}}},
        "no_such_key_drill",
    ),
    (
        "mimir-unknown-key",
        "mimir",
        "lgtm-mimir",
        "/etc/lgtm/mimir/mimir.yaml",
        {"mimir_config_extra": {"limits": {"no_such_limit_drill": 1}}},
        "no_such_limit_drill",
    ),
    (
        "prometheus-rule-syntax",
        "prometheus",
        "lgtm-prometheus",
        "/etc/lgtm/prometheus/rules/lgtm.yml",
        {
            "prometheus_alert_rules": [
                {
                    "name": "drill",
                    "rules": [{"alert": "Broken", "expr": "rate(up[5m) > (", "for": "1m"}],
                }
            ]
        },
        "Broken",
    ),
    (
        "alloy-syntax",
        "alloy",
        "lgtm-alloy",
        "/etc/lgtm/alloy/config.alloy",
        {"alloy_config_extra": 'prometheus.exporter.self "d" {\n  no_such_argument_drill = 1\n}'},
        "no_such_argument_drill",
    ),
    # Grafana has no checker of its own for grafana.ini; the role's shape check is the gate.
    (
        "grafana-ini-shape",
        "grafana",
        "lgtm-grafana",
        "/etc/lgtm/grafana/config/grafana.ini",
        {"grafana_ini_extra": {"server": "not a section"}},
        "grafana_ini_extra",
    ),
]


@pytest.mark.parametrize(
    ("tag", "container", "config", "extra_vars", "named"),
    [pytest.param(*rest, id=ident) for ident, *rest in BAD_CONFIGS],
)
def test_bad_config_fails_and_the_old_service_keeps_answering(
    root, tag, container, config, extra_vars, named
):
    """Only the service's own play runs (--tags): the others are not what is drilled."""
    before = container_identity(root, container)
    good = root.file(config).content_string if config else None
    state = host_state(root)
    result = site(extra_vars, tags=tag)
    assert result.rc != 0, result.output[-3000:]
    assert named in result.output, result.output[-3000:]
    assert container_identity(root, container) == before, f"{container} was restarted"
    if config:
        assert root.file(config).content_string == good
    url, body = SERVICES[container]
    assert answers(root, url, body)
    assert host_state(root) == state


# --- drill 7: nothing listens beyond the configured address ----------------------------

SCAN = r"""
import asyncio, json, sys

async def probe(address, port, gate, found):
    async with gate:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), 2)
        except (OSError, asyncio.TimeoutError):
            return
        found.append(port)
        writer.close()

async def main(address):
    gate, found = asyncio.Semaphore(512), []
    await asyncio.gather(*(probe(address, port, gate, found) for port in range(1, 65536)))
    print(json.dumps(sorted(found)))

asyncio.run(main(sys.argv[1]))
"""


def test_a_scan_of_every_tcp_port_from_another_host_finds_only_sshd(root):
    """Every service publishes on 127.0.0.1 (the default listen address), so from the
    network only sshd answers: Podman, aardvark-dns and the containers add nothing."""
    address = str(instance(TARGET)["address"])
    scanner = other(SCANNER)
    scanner.run(f"cat > /tmp/scan.py <<'EOF'\n{SCAN}\nEOF")
    result = scanner.run(f"timeout 600 python3 /tmp/scan.py {address}")
    assert result.rc == 0, result.stderr
    assert json.loads(result.stdout) == [22]
    # The same services do listen on the host: the scan would have found a leak.
    listening = root.run("ss -Hltn | awk '{print $4}'").stdout.split()
    assert "127.0.0.1:3100" in listening and "127.0.0.1:3000" in listening


# --- drill 5: two plays at once on one host ---------------------------------------------


def test_two_plays_at_once_leave_the_host_consistent(root):
    """Both started together with the same real change (Loki's retention): both succeed
    (every step decides from the host's state, so the later writer finds the work done),
    and a following run changes nothing. No lock is needed for this outcome."""
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(ephemeral / "ansible.cfg"))
    retention = f"{400 + int(RUN_ID[:2], 16)}h"
    change = {"loki_retention_period": retention}
    # Loki's play only (with the always-tagged preflight and summary): the other
    # plays would be no-ops here that cost minutes each on a 2-core machine.
    cmd = [
        "ansible-playbook",
        "-i",
        os.environ["MOLECULE_INVENTORY_FILE"],
        str(scenario / "converge.yml"),
        "-e",
        json.dumps(change),
        "--tags",
        "loki",
    ]
    plays = [
        subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=scenario
        )
        for _copy in range(2)
    ]
    outputs = [play.communicate(timeout=1800)[0] for play in plays]
    codes = [play.returncode for play in plays]
    for code, output in zip(codes, outputs, strict=True):
        assert code == 0, output[-4000:]
    assert any(re.search(r"\bchanged=[1-9]", output) for output in outputs)
    assert poll(lambda: not all_ready(root), 300), all_ready(root)
    again = site(change, tags="loki")
    again.assert_ok()
    assert again.changed == 0, again.output[-4000:]
    config = yaml.safe_load(root.file("/etc/lgtm/loki/loki.yaml").content_string)
    assert config["limits_config"]["retention_period"] == retention


# --- drill 4: a reboot of the test host -------------------------------------------------

TESTHOST = Path(__file__).resolve().parents[3] / "tests" / "testhost" / "testhost.py"


def run_testhost(*args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, str(TESTHOST), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def monotonic(root, unit: str, prop: str) -> int:
    return int(root.run(f"systemctl show -P {prop} {unit}").stdout.strip() or 0)


def test_a_reboot_brings_the_stack_back_in_order_without_ansible(root, written_before):
    """systemd-nspawn exits with 133 when its guest reboots; the test-host supervisor
    boots the same tree again on the bridge. Nothing of Ansible runs here."""
    reboots = next(h["reboots"] for h in json.loads(run_testhost("list")) if h["name"] == TARGET)
    boot_id = root.run("cat /proc/sys/kernel/random/boot_id").stdout.strip()
    # Delayed by a second so this SSH session ends cleanly before the host goes down.
    assert root.run("systemd-run --on-active=1 systemctl reboot").rc == 0
    run_testhost("wait", TARGET, "--reboots", str(reboots + 1), timeout=600)

    def current_boot_id() -> str:
        return root.run("cat /proc/sys/kernel/random/boot_id").stdout.strip()

    assert poll(current_boot_id, 60)
    assert current_boot_id() != boot_id
    assert poll(lambda: not all_ready(root), 600), all_ready(root)
    # Network first: every service started after the lgtm network was up.
    network_up = monotonic(root, "lgtm-network.service", "ActiveEnterTimestampMonotonic")
    assert network_up > 0
    for container in SERVICES:
        started = monotonic(root, f"{container}.service", "InactiveExitTimestampMonotonic")
        assert started >= network_up, f"{container} started before the network"
        assert root.run(f"systemctl is-active {container}.service").stdout.strip() == "active"
    # The host is reachable from its neighbour again, at the same address.
    address = str(instance(TARGET)["address"])
    assert other(SCANNER).run(f"timeout 5 bash -c '</dev/tcp/{address}/22'").rc == 0
    assert poll(lambda: loki_has(root, written_before["line"]), 120), "Loki lost the line"
    assert poll(
        lambda: sample_at(
            root, "http://127.0.0.1:9090", 'up{job="prometheus"}', written_before["at"]
        ),
        60,
    )
    status, text = grafana_call(
        root, "GET", f"/api/users/lookup?loginOrEmail={written_before['login']}"
    )
    assert status == 200, text


# --- drill 6: a full disk under one service's data -------------------------------------

LOKI_DATA = "/var/lib/lgtm/loki"


def loki_metric(root, name: str) -> float:
    result = root.run(f"curl -fsS -m 10 http://127.0.0.1:3100/metrics | grep '^{name} '")
    return float(result.stdout.split()[1]) if result.rc == 0 and result.stdout else 0.0


def test_a_full_data_disk_is_reported_and_loses_nothing_stored(root, written_before):
    """Loki's data dir on its own small tmpfs: filled up, Loki reports the failed
    writes, the play names the full filesystem, and what was stored stays readable."""
    assert root.run("systemctl stop lgtm-loki.service").rc == 0
    moved = root.run(
        f"set -e; mkdir -p /root/loki-data; cp -a {LOKI_DATA}/. /root/loki-data/; "
        f"mount -t tmpfs -o size=64m,mode=0750,uid=10001,gid=0 drill-loki {LOKI_DATA}; "
        f"cp -a /root/loki-data/. {LOKI_DATA}/"
    )
    assert moved.rc == 0, moved.stderr
    try:
        assert root.run("systemctl start lgtm-loki.service").rc == 0
        assert poll(lambda: answers(root, *SERVICES["lgtm-loki"]), 300)
        assert poll(lambda: loki_has(root, written_before["line"]), 60)
        # Fill what is left (root is not limited on tmpfs either) and write on.
        root.run(f"dd if=/dev/zero of={LOKI_DATA}/filler bs=1M status=none")
        assert root.run(f"df --output=avail -k {LOKI_DATA} | tail -1").stdout.strip() == "0"
        failures = loki_metric(root, "loki_ingester_wal_disk_full_failures_total")
        full_line = f"written to a full disk {RUN_ID}"
        statuses = [loki_push_status(root, f"{full_line} {n} " + "x" * 4000) for n in range(50)]
        # Loki reports it either way upstream documents: a push refused with a 5xx (the
        # client retries it later), or the push taken and the WAL failure counted.
        assert any(status >= 500 for status in statuses) or poll(
            lambda: loki_metric(root, "loki_ingester_wal_disk_full_failures_total") > failures,
            60,
        ), f"Loki does not report the full disk (push answers {sorted(set(statuses))})"
        journal = "journalctl -u lgtm-loki.service --since -5min"
        assert poll(
            lambda: root.run(f"{journal} | grep -qi 'no space left\\|disk full'").rc == 0, 60
        ), "nothing in Loki's log says the disk is full"
        assert answers(root, *SERVICES["lgtm-loki"])
        assert loki_has(root, written_before["line"])
        # The play stops at preflight, naming the full data directory, before changing it.
        result = site(tags="loki")
        assert result.rc != 0
        assert "is not ready for the stack" in result.output, result.output[-3000:]
        assert f"{LOKI_DATA} (loki_data_dir) has 0 MiB free" in result.output, result.output[-3000:]
        # Space again: the earlier data is still there and new writes work.
        assert root.run(f"rm -f {LOKI_DATA}/filler").rc == 0
        after = f"written after space came back {RUN_ID}"
        # Loki keeps refusing (5xx) until its ingester retries the WAL; a client retries.
        assert poll(lambda: loki_push_status(root, after) == 204, 120), "no write taken again"
        assert poll(lambda: loki_has(root, after), 60)
        assert loki_has(root, written_before["line"])
    finally:
        root.run(f"rm -f {LOKI_DATA}/filler")
        root.run("systemctl stop lgtm-loki.service")
        # Back onto the host's own disk, exactly as the tmpfs holds it now.
        root.run(
            f"rm -rf /root/loki-data && mkdir /root/loki-data && "
            f"cp -a {LOKI_DATA}/. /root/loki-data/ && umount {LOKI_DATA} && "
            f"find {LOKI_DATA} -mindepth 1 -delete && cp -a /root/loki-data/. {LOKI_DATA}/ && "
            "rm -rf /root/loki-data"
        )
        root.run("systemctl start lgtm-loki.service")
    assert poll(lambda: answers(root, *SERVICES["lgtm-loki"]), 300)
    assert loki_has(root, written_before["line"])
