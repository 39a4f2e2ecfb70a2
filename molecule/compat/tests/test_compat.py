"""A stack converged by an earlier commit of the collection (prepare.yml), then run with
this checkout's site.yml: upgrading the collection changes nothing and restarts nothing
(issue 19, item 4)."""

from __future__ import annotations

import re

from lgtm_molecule import run_playbook

# The services of the inventory's groups (molecule.yml), each running at least one container.
SERVICES = {"loki", "tempo", "mimir", "prometheus", "alertmanager", "grafana", "alloy", "glitchtip"}


def running_containers(host) -> dict[str, tuple[str, str, str]]:
    """Name -> (service label, container id, StartedAt) of every container the stack runs."""
    fields = '{{.Names}}|{{index .Labels "lgtm.stack.service"}}|{{.ID}}|{{.StartedAt}}'
    result = host.run(f"podman ps --filter label=lgtm.stack.service --format '{fields}'")
    assert result.rc == 0, result.stderr
    found = {}
    for line in result.stdout.splitlines():
        name, service, container_id, started = line.split("|", 3)
        found[name] = (service, container_id, started)
    return found


def changed_tasks(output: str) -> list[str]:
    """`TASK [...]` headers followed by a changed result, for the failure message."""
    tasks = []
    current = ""
    for line in output.splitlines():
        header = re.match(r"TASK \[(.*)\]", line)
        if header:
            current = header.group(1)
        elif line.startswith("changed:") and current not in tasks:
            tasks.append(current)
    return tasks


def test_upgrade_over_a_converged_stack_changes_and_restarts_nothing(host):
    before = running_containers(host)
    services = {service for service, *_identity in before.values()}
    assert services == SERVICES, f"the base commit's converge left {sorted(before)}"

    result = run_playbook("converge.yml")
    result.assert_ok()
    assert result.changed == 0, (f"changed on upgrade: {changed_tasks(result.output)}\n"
                                 + result.output[-4000:])
    after = running_containers(host)
    restarted = sorted(name for name in before if after.get(name) != before[name])
    assert not restarted, f"restarted on upgrade: {restarted}"
