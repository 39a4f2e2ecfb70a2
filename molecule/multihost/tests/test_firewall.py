"""Only the inventory's consumers reach a service published beyond loopback; a port scan
from a host outside the inventory finds nothing but sshd on any stack host."""

import os
import re

import pytest
import testinfra
from lgtm_molecule import container_identity, instance, run_playbook

testinfra_hosts = ["lgtm-mh-store"]
STORE, READER, APP, OUTSIDER = "lgtm-mh-store", "lgtm-mh-grafana", "lgtm-mh-app", "lgtm-mh-outsider"


def other(name: str):
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}")


def loki_status(client, address: str) -> str:
    """HTTP status from Loki's /ready as `client` sees it; 000 when no connection is made.

    Loki on the store serves TLS (test_multihost.py checks its certificate); here only
    whether a connection is let through counts.
    """
    result = client.run(f"curl -sk -o /dev/null -m 3 -w '%{{http_code}}' https://{address}:3100/ready")
    return result.stdout.strip()


@pytest.fixture(scope="module")
def store_address() -> str:
    return str(instance(STORE)["address"])


def test_loki_listens_only_on_the_private_address(root, store_address):
    listening = root.run("ss -Hltn 'sport = :3100' | awk '{print $4}'").stdout.split()
    assert f"{store_address}:3100" in listening
    assert not [item for item in listening if item.startswith(("0.0.0.0:", "*:", "[::]:"))]


@pytest.mark.parametrize("consumer", [READER, APP])
def test_the_consumers_connect(consumer, store_address):
    assert loki_status(other(consumer), store_address) == "200"


def test_the_store_itself_connects(root, store_address):
    assert loki_status(root, store_address) == "200"


def test_a_host_outside_the_inventory_does_not(store_address):
    assert loki_status(other(OUTSIDER), store_address) == "000"


def test_rules_live_in_their_own_table_hooked_before_dnat(root):
    table = root.run("nft list table inet lgtm_stack")
    assert table.rc == 0, table.stderr
    # nft names priority -150 "mangle"; Podman's DNAT runs at dstnat (-100), after it.
    assert re.search(r"hook prerouting priority (-150|mangle);", table.stdout), table.stdout
    assert re.search(r'comment "[0-9a-f]{64}"', table.stdout)
    unit = root.run("systemctl is-enabled lgtm-firewall.service")
    assert unit.stdout.strip() == "enabled"


@pytest.mark.parametrize("target", [STORE, READER, APP])
def test_only_ssh_is_open_to_the_outsider(target):
    """Every port an inventory host listens on, probed from the outsider: only sshd answers."""
    scanned = other(target)
    address = str(instance(target)["address"])
    ports = sorted({int(line.rsplit(":", 1)[1]) for line in
                    scanned.run("ss -Hltn | awk '{print $4}'").stdout.split()
                    if not line.startswith(("127.", "[::1]"))})
    probe = (
        "import socket,sys\n"
        "open_ports=[]\n"
        "for port in map(int, sys.argv[2:]):\n"
        "    s=socket.socket(); s.settimeout(2)\n"
        "    if s.connect_ex((sys.argv[1], port))==0: open_ports.append(port)\n"
        "    s.close()\n"
        "print(' '.join(map(str, open_ports)))\n"
    )
    outsider = other(OUTSIDER)
    outsider.run(f"cat > /tmp/probe.py <<'EOF'\n{probe}EOF")
    result = outsider.run(f"python3 /tmp/probe.py {address} {' '.join(map(str, ports))}")
    assert result.rc == 0, result.stderr
    assert len(ports) > 1, "the host publishes no stack port to scan"
    assert result.stdout.split() == ["22"]


def firewall_invocation(root) -> str:
    shown = root.run("systemctl show --property=InvocationID,ActiveState lgtm-firewall.service")
    assert "ActiveState=active" in shown.stdout, shown.stdout
    return shown.stdout


def test_the_hosts_own_tables_are_left_alone(root, store_address):
    root.run("nft add table inet host_rules && nft add chain inet host_rules input "
             "'{ type filter hook input priority 0; policy accept; }'")
    before = container_identity(root, "lgtm-loki")
    loader = firewall_invocation(root)
    outsider_address = str(instance(OUTSIDER)["address"])
    result = run_playbook("firewall.yml", {"firewall_allowed_clients": [outsider_address]})
    result.assert_ok()
    assert result.changed > 0
    assert root.run("nft list table inet host_rules").rc == 0
    assert loki_status(other(OUTSIDER), store_address) == "200"
    assert container_identity(root, "lgtm-loki") == before, "a firewall change restarts no service"
    # Replaced in one nft transaction: the unit was not restarted, whose stop
    # would have deleted the table before its start loaded the new one.
    assert firewall_invocation(root) == loader
    # Back to the inventory's consumers only.
    result = run_playbook("firewall.yml")
    result.assert_ok()
    assert loki_status(other(OUTSIDER), store_address) == "000"
    assert firewall_invocation(root) == loader
    root.run("nft delete table inet host_rules")


def test_rules_unit_is_enabled_for_boot_before_the_network(root):
    """What systemd will do at the next boot, as systemd sees it (nothing here reboots)."""
    unit = root.file("/etc/systemd/system/lgtm-firewall.service").content_string
    assert "Before=network-pre.target" in unit
    assert "WantedBy=sysinit.target" in unit
    assert root.run("systemctl is-enabled lgtm-firewall.service").stdout.strip() == "enabled"
    shown = root.run("systemctl show -p WantedBy -p Before lgtm-firewall.service").stdout
    loaded = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    assert "sysinit.target" in loaded.get("WantedBy", "").split(), shown
    assert "network-pre.target" in loaded.get("Before", "").split(), shown


def test_a_unit_on_a_private_address_waits_for_it_before_it_starts(root, store_address):
    unit = root.file("/etc/containers/systemd/lgtm-loki.container").content_string
    assert "After=network-online.target" in unit
    assert f'grep -qF " {store_address}/"' in unit
    generated = root.run("systemctl cat lgtm-loki.service").stdout
    assert "ExecStartPre=/usr/bin/timeout 90" in generated
