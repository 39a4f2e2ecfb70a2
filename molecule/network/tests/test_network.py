"""The network role on a real systemd + Podman host."""

import json

import pytest
from lgtm_molecule import image_for, run_playbook


@pytest.fixture(scope="module")
def network(host):
    result = host.run("podman network inspect lgtm")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)[0]


def test_network_has_dns_and_the_asked_subnet(network):
    assert network["name"] == "lgtm"
    assert network["dns_enabled"] is True
    assert [s["subnet"] for s in network["subnets"]] == ["10.89.42.0/24"]
    assert network["labels"]["lgtm.stack.managed"] == "true"


def test_network_unit_is_active_and_starts_at_boot(host):
    state = host.run("systemctl is-active lgtm-network.service").stdout.strip()
    assert state == "active"
    wanted = host.file("/run/systemd/generator/multi-user.target.wants/lgtm-network.service")
    assert wanted.exists


def test_unit_file_is_root_owned_0644(host):
    unit = host.file("/etc/containers/systemd/lgtm.network")
    assert unit.user == "root" and unit.group == "root"
    assert unit.mode == 0o644
    assert "NetworkName=lgtm" in unit.content_string
    assert "Subnet=10.89.42.0/24" in unit.content_string


@pytest.mark.parametrize("path", ["/etc/lgtm", "/var/lib/lgtm"])
def test_base_directories(host, path):
    directory = host.file(path)
    assert directory.is_directory
    assert directory.user == "root"
    assert directory.mode == 0o755


def test_containers_resolve_each_other_by_name_on_the_network(host):
    """DNS on the network is what lets Grafana reach lgtm-loki by name."""
    image = image_for("testsvc")
    started = host.run(
        f"podman run -d --rm --name dns-target --network lgtm "
        f"--entrypoint /bin/busybox {image} httpd -f -p 8080 -h /etc"
    )
    assert started.rc == 0, started.stderr
    try:
        expected = host.run("podman inspect --format '{{.Config.Hostname}}' dns-target")
        # Poll: the target's httpd needs a moment after `podman run -d` returns.
        lookup = host.run(
            f"podman run --rm --network lgtm --entrypoint /bin/sh {image} -c "
            "'for i in $(seq 100); do busybox wget -q -O - http://dns-target:8080/hostname "
            "&& exit 0; busybox sleep 0.1; done; exit 1'"
        )
        assert lookup.rc == 0, lookup.stderr
        assert lookup.stdout.strip() == expected.stdout.strip() != ""
    finally:
        host.run("podman rm -f -t 0 dns-target")


def test_removal_takes_the_podman_network_away_and_a_new_run_brings_it_back(host):
    removed = run_playbook("converge.yml", {"lgtm_test_network_state": "absent"})
    removed.assert_ok()
    assert host.run("podman network exists lgtm").rc == 1
    assert not host.file("/etc/containers/systemd/lgtm.network").exists
    assert host.file("/var/lib/lgtm").is_directory, "removal keeps the data root"
    again = run_playbook("converge.yml")
    again.assert_ok()
    assert host.run("podman network exists lgtm").rc == 0
    subnet = json.loads(host.run("podman network inspect lgtm").stdout)[0]["subnets"][0]["subnet"]
    assert subnet == "10.89.42.0/24"


def test_the_network_is_applied_once_per_run_and_again_for_other_settings(host):
    result = run_playbook("twice.yml")
    result.assert_ok()
    plays = result.output.split("PLAY [")[1:]
    assert len(plays) == 3, result.output
    first, same, other = plays
    assert "TASK [lgtm.stack.quadlet : Deploy network]" in first
    assert "TASK [lgtm.stack.quadlet" not in same, same
    assert "TASK [lgtm.stack.quadlet : Stop units" in other
    assert host.run("podman network exists lgtm").rc == 1, "the third play's removal ran"
    run_playbook("converge.yml").assert_ok()
    assert host.run("podman network exists lgtm").rc == 0
