"""Helpers for testinfra tests that drive more Ansible runs against a scenario's hosts."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PlayResult:
    rc: int
    output: str
    changed: int
    failed: int

    def assert_ok(self) -> None:
        assert self.rc == 0, self.output[-6000:]


def run_playbook(playbook: str, extra_vars: dict[str, object] | None = None,
                 check: bool = False) -> PlayResult:
    """Run a playbook of the current scenario against Molecule's inventory."""
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(ephemeral / "ansible.cfg"))
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
           str(scenario / playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd += ["--check", "--diff"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=scenario,
                          check=False)
    output = proc.stdout + proc.stderr
    changed = sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output))
    failed = sum(int(n) for n in re.findall(r"\bfailed=(\d+)", output))
    return PlayResult(rc=proc.returncode, output=output, changed=changed, failed=failed)


# What the scenarios run: locally built test images, or with LGTM_TEST_IMAGES=upstream
# (a machine that can pull) the upstream images they stand for.
TEST_IMAGES = {
    "testsvc": ("localhost/lgtm-test/testsvc:1.35.0", "docker.io/library/busybox:1.37.0"),
}


def image_for(name: str) -> str:
    local, upstream = TEST_IMAGES[name]
    return upstream if os.environ.get("LGTM_TEST_IMAGES") == "upstream" else local


def container_identity(host, name: str) -> tuple[str, str, int]:
    """(container id, StartedAt, PID): all change when the container restarts."""
    template = "{{.Id}} {{.State.StartedAt}}|{{.State.Pid}}"
    result = host.run(f"podman inspect --format '{template}' {name}")
    assert result.rc == 0, result.stderr
    head, pid = result.stdout.strip().rsplit("|", 1)
    container_id, started = head.split(" ", 1)
    return container_id, started, int(pid)
