"""Helpers for testinfra tests that drive more Ansible runs against a scenario's hosts."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ansible_collections.lgtm.stack.plugins.module_utils import tls_client


@dataclass
class PlayResult:
    rc: int
    output: str
    changed: int
    failed: int

    def assert_ok(self) -> None:
        assert self.rc == 0, self.output[-6000:]


def run_playbook(
    playbook: str,
    extra_vars: dict[str, object] | None = None,
    check: bool = False,
    verbosity: int = 0,
    extra_args: list[str] | None = None,
) -> PlayResult:
    """Run a playbook of the current scenario against Molecule's inventory.

    `verbosity` adds -v flags: module arguments and results show from -vv on, which is
    where a secret that is not no_log would leak. `extra_args` go to ansible-playbook
    as they are (`--tags`, a second `-i`).
    """
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(ephemeral / "ansible.cfg"))
    cmd = [
        "ansible-playbook",
        "-i",
        os.environ["MOLECULE_INVENTORY_FILE"],
        str(scenario / playbook),
    ]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd += ["--check", "--diff"]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    cmd += extra_args or []
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=scenario, check=False)
    output = proc.stdout + proc.stderr
    changed = sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output))
    failed = sum(int(n) for n in re.findall(r"\bfailed=(\d+)", output))
    return PlayResult(rc=proc.returncode, output=output, changed=changed, failed=failed)


def poll(fetch: Callable[[], Any], timeout: float = 90, interval: float = 1.0) -> Any:
    """Call fetch() until it returns something truthy or the deadline passes; the last result.

    What the scenarios wait for (ingestion, a restart, a roll) has no event to wait on
    from outside the host: a bounded poll stands for readiness, never a fixed sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(interval)


# Said by every assertion that Grafana finds its Tempo datasource healthy: where the
# stand-in's answer comes from.
TEMPO_HEALTH_SOURCE = (
    "Grafana's Tempo datasource health is its backend CheckHealth (pkg/tsdb/tempo/tempo.go, "
    "since grafana/grafana#111668, 12.3): GET <url>/api/echo, status 200 is healthy; read at "
    "commit 15c1214f, not tied to a 13.2.x tag; see tests/testhost/standins/grafana/grafana.py"
)


# What the scenarios run: locally built test images, or with LGTM_TEST_IMAGES=upstream
# (a machine that can pull) the upstream images they stand for.
TEST_IMAGES = {
    "testsvc": ("localhost/lgtm-test/testsvc:1.35.0", "docker.io/library/busybox:1.37.0"),
    "prometheus": ("localhost/lgtm-test/prometheus:3.5", "docker.io/prom/prometheus:v3.5.0"),
}


def image_for(name: str) -> str:
    local, upstream = TEST_IMAGES[name]
    return upstream if os.environ.get("LGTM_TEST_IMAGES") == "upstream" else local


# The labels every locally built test image carries (tests/testhost/images/store.py).
TEST_IMAGE_LABEL = "lgtm.stack.test-image"
TEST_IMAGE_KIND_LABEL = "lgtm.stack.test-image.kind"


def image_labels(host, image: str) -> dict[str, str]:
    """The image's own labels on the test host ({} when the host does not have it yet)."""
    result = host.run(f"podman image inspect --format '{{{{json .Labels}}}}' {image}")
    if result.rc != 0:
        return {}
    return json.loads(result.stdout) or {}


def image_kind(host, image: str) -> str:
    """What runs in the image, judged by its own label, never by how it got to the host:
    "stand-in" (a contract stand-in written here), "packaged" (the real program as a
    package registry builds it), or "upstream" (no test-image label: upstream's own image,
    pulled or loaded from an archive, or one the host will pull)."""
    labels = image_labels(host, image)
    if TEST_IMAGE_LABEL not in labels:
        return "upstream"
    return labels.get(TEST_IMAGE_KIND_LABEL, "stand-in")


def assert_noop_run(host, container: str, extra_vars: dict[str, object] | None = None) -> None:
    """A run with what the host already has reports nothing changed and restarts nothing."""
    before = container_identity(host, container)
    result = run_playbook("converge.yml", extra_vars)
    result.assert_ok()
    assert result.changed == 0, result.output[-4000:]
    assert container_identity(host, container) == before, f"{container} was restarted"


def container_identity(host, name: str) -> tuple[str, str, int]:
    """(container id, StartedAt, PID): all change when the container restarts."""
    template = "{{.Id}} {{.State.StartedAt}}|{{.State.Pid}}"
    result = host.run(f"podman inspect --format '{template}' {name}")
    assert result.rc == 0, result.stderr
    head, pid = result.stdout.strip().rsplit("|", 1)
    container_id, started = head.split(" ", 1)
    return container_id, started, int(pid)


def instance(name: str) -> dict[str, object]:
    """Address, user and key of a scenario's test host, as create.yml recorded them."""
    config = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "instance_config.yml"
    for entry in yaml.safe_load(config.read_text()):
        if entry["instance"] == name:
            return entry
    raise KeyError(f"no instance {name} in {config}")


@contextlib.contextmanager
def tunnel(instance_name: str, remote_port: int, remote_host: str = "127.0.0.1") -> Iterator[int]:
    """Forward a local port to a port the test host binds on its loopback only.

    Real clients (OpenTelemetry SDKs, ...) run here, where the test venv is; the
    service stays bound where the role put it. Yields the local port.
    """
    target = instance(instance_name)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            "ssh",
            "-N",
            "-i",
            str(target["identity_file"]),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            f"127.0.0.1:{local_port}:{remote_host}:{remote_port}",
            f"{target['user']}@{target['address']}",
        ],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", local_port), 0.5),
            ):
                break
            assert process.poll() is None, "ssh tunnel exited"
            assert time.monotonic() < deadline, "ssh tunnel did not open"
            time.sleep(0.05)
        yield local_port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # Seen once in CI (2026-12-07, stack): the request through the tunnel had
            # been answered, and ssh was still there 10 s after SIGTERM. The test is done;
            # the tunnel must not outlive it.
            process.kill()
            process.wait(timeout=10)


def get(
    port: int,
    path: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    tls: tuple[str, str] | None = None,
) -> tuple[int, bytes]:
    """GET through a tunnel's local port; any HTTP status is returned, not raised.

    With `tls` (CA file, server name) the service speaks HTTPS and its certificate is
    verified against that CA and name, as its real clients do, not against 127.0.0.1.
    """
    target = path + ("?" + urllib.parse.urlencode(params) if params else "")
    if tls:
        ca_file, server_name = tls
        context = tls_client.client_context(ca_path=ca_file)
        connection = http.client.HTTPSConnection(server_name, port, timeout=10, context=context)
        connection.sock = context.wrap_socket(
            socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname=server_name)
        try:
            connection.request("GET", target, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{target}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
