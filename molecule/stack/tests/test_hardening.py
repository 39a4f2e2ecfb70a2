"""Every container of the stack runs confined, read from its running process.

What the units say is rendered and checked by tests/unit/roles/test_hardening_units.py;
this reads what the kernel applied to each container's main process on the test host:
its effective capabilities, the no-new-privileges flag, its user, and that its root
filesystem refuses a write.
"""

import pytest
from lgtm_molecule import container_identity

# The stack scenario's running containers (the migrate unit has exited by now) and their
# real user ids; Alloy reads the host's journal as root, with no capability.
USERS = {
    "lgtm-loki": 10001, "lgtm-tempo": 10001, "lgtm-mimir": 10001, "lgtm-prometheus": 65534,
    "lgtm-alertmanager": 65534,
    "lgtm-alloy": 0, "lgtm-grafana": 472, "lgtm-glitchtip-postgres": 999,
    "lgtm-glitchtip-valkey": 999, "lgtm-glitchtip-web": 5000, "lgtm-glitchtip-worker": 5000,
}
CONTAINERS = list(USERS)


def status(root, pid: int) -> dict[str, str]:
    text = root.file(f"/proc/{pid}/status").content_string
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_every_running_container_of_the_stack_is_checked(root):
    running = root.run(
        "podman ps --filter label=lgtm.stack.service --format '{{.Names}}'"
    ).stdout.split()
    assert sorted(running) == sorted(CONTAINERS)


@pytest.mark.parametrize("name", CONTAINERS)
def test_no_capabilities_and_no_new_privileges(root, name):
    _id, _started, pid = container_identity(root, name)
    seen = status(root, pid)
    assert int(seen["CapEff"], 16) == 0, f"{name}: CapEff {seen['CapEff']}"
    assert int(seen["CapPrm"], 16) == 0, f"{name}: CapPrm {seen['CapPrm']}"
    assert int(seen["CapBnd"], 16) == 0, f"{name}: CapBnd {seen['CapBnd']}"
    assert seen["NoNewPrivs"].strip() == "1", name
    real_uid = int(seen["Uid"].split()[0])
    assert real_uid == USERS[name], f"{name} runs as {real_uid}"


@pytest.mark.parametrize("name", CONTAINERS)
def test_the_root_filesystem_refuses_a_write(root, name):
    _id, _started, pid = container_identity(root, name)
    # Through /proc/<pid>/root the path resolves in the container's own mounts, so even
    # the host's root meets the container's read-only root filesystem.
    probe = f"/proc/{pid}/root/lgtm-hardening-probe"
    result = root.run(f"touch {probe}")
    if result.rc == 0:
        root.run(f"rm -f {probe}")
    assert result.rc != 0, f"{name}: / is writable"
    assert "Read-only file system" in result.stderr, result.stderr
