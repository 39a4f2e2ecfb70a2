"""Golden test: the unit text and config-hash label quadlet_unit writes stay byte-identical.

A host converged by an earlier version of the collection must see the same text and the
same lgtm.stack.config-hash label from the new code, or every container restarts once
(issue 19, item 4). The expected outputs in golden/quadlet_unit_render.json were captured
from quadlet_unit before its rendering moved to plugins/module_utils (issue 19, item 3),
where quadlet.unit_text() now makes them for the old module and the new one alike; never
regenerate them to make this test pass.

restart_on paths are relative to a fixed tree built here (the hash covers the path text,
the relative paths inside directories, contents and mode bits), so the hash is the same on
every machine.
"""

import json
import os
from pathlib import Path

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils import quadlet
from ansible_collections.lgtm.stack.plugins.modules import quadlet_unit

GOLDEN = Path(__file__).parent / "golden" / "quadlet_unit_render.json"

LOKI_SECTIONS = {
    "Unit": {
        "Description": "Grafana Loki (lgtm.stack)",
        "Requires": "lgtm-network.service",
        "After": "lgtm-network.service",
    },
    "Container": {
        "Image": "docker.io/grafana/loki:3.5.0",
        "ContainerName": "lgtm-loki",
        "Network": "lgtm.network",
        "PublishPort": ["127.0.0.1:3100:3100"],
        "Volume": ["/etc/lgtm/loki:/etc/loki:ro", "/var/lib/lgtm/loki:/loki"],
        "Exec": "-config.file=/etc/loki/loki.yaml",
        "StopTimeout": 30,
        "Label": "lgtm.stack.service=loki",
        "PodmanArgs": "--memory=1g",
    },
    "Service": {"Restart": "always", "TimeoutStartSec": 300, "TimeoutStopSec": 60},
    "Install": {"WantedBy": "multi-user.target"},
}

# Inputs as the role passes them to lgtm.stack.quadlet_unit (units.yml): restart_on is the
# unit's own list, then its restart-class config files, then its secrets.
CASES = {
    "container_restart_on_files_and_dir": {
        "name": "lgtm-loki.container",
        "sections": LOKI_SECTIONS,
        "restart_on": ["conf/tls/server.crt", "conf/tls/server.key", "conf/loki.yaml", "conf"],
    },
    # The pre-flight dry run's form: no restart_on, the hash covers the definition only.
    "container_definition_only": {"name": "lgtm-tempo.container", "sections": LOKI_SECTIONS},
    "container_extra_labels_bools_nulls_stale_hash": {
        "name": "lgtm-grafana.container",
        "sections": {
            "Unit": {"Description": "Grafana", "Wants": None},
            "Container": {
                "Image": "docker.io/grafana/grafana:12.3.0",
                "Label": ["a=b", "lgtm.stack.config-hash=stale", "c=d e"],
                "ReadOnly": True,
                "Notify": False,
                "Environment": ["GF_A=1", None, "GF_B=x y"],
                "Ulimit": 1.5,
            },
            "Service": {"Restart": "always"},
        },
        "restart_on": ["conf/secret"],
        "restart_on_extra": ["sha256-of-something"],
    },
    "oneshot_container": {
        "name": "lgtm-glitchtip-migrate.container",
        "sections": {
            "Container": {
                "Image": "docker.io/glitchtip/glitchtip:5.1",
                "Exec": "./manage.py migrate",
            },
            "Service": {"Type": "oneshot", "RemainAfterExit": "yes"},
        },
        "restart_on": ["conf/loki.yaml"],
    },
    "network": {
        "name": "lgtm.network",
        "sections": {"Unit": {"Description": "lgtm network"}, "Network": {"NetworkName": "lgtm"}},
    },
    "volume_empty_section": {"name": "lgtm-data.volume", "sections": {"Volume": {}}},
}


def build_tree(root):
    """The restart_on files, with fixed contents and modes."""
    conf = root / "conf"
    (conf / "tls").mkdir(parents=True)
    files = {
        "conf/loki.yaml": ("auth_enabled: false\nserver:\n  http_listen_port: 3100\n", 0o644),
        "conf/tls/server.crt": ("-----BEGIN CERTIFICATE-----\nMIIB\n", 0o644),
        "conf/tls/server.key": ("-----BEGIN PRIVATE KEY-----\nMIIE\n", 0o400),
        "conf/secret": ("s3cr3t", 0o600),
    }
    for rel, (text, mode) in files.items():
        (root / rel).write_text(text)
        os.chmod(root / rel, mode)
    os.symlink("server.crt", conf / "tls" / "link.crt")
    os.chmod(conf / "tls", 0o755)
    os.chmod(conf, 0o755)


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A tree at fixed relative paths, a fake podman and quadlet, systemd 'running'."""
    build_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podman").write_text("#!/bin/sh\necho 'podman version 5.4.2'\n")
    (bin_dir / "quadlet").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("podman", "quadlet"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    run_dir = tmp_path / "run-systemd-system"
    run_dir.mkdir()
    monkeypatch.setattr(quadlet_unit, "SYSTEMD_RUN_DIR", str(run_dir))
    (tmp_path / "units").mkdir()
    return tmp_path


def module_outputs(run_module, host):
    """Each case's content and config_hash as quadlet_unit's main() writes and returns them."""
    result, _output = run_module(
        quadlet_unit.main,
        units=list(CASES.values()),
        dir=str(host / "units"),
        validate=False,
        quadlet_binary=str(host / "bin" / "quadlet"),
    )
    assert not result.get("failed"), result.get("msg")
    outputs = {}
    for case, unit in zip(CASES, result["units"], strict=True):
        written = (host / "units" / CASES[case]["name"]).read_text()
        assert written == unit["content"]
        outputs[case] = {"content": unit["content"], "config_hash": unit.get("config_hash")}
    return outputs


def test_module_renders_the_golden_units(run_module, host):
    golden = json.loads(GOLDEN.read_text())
    assert module_outputs(run_module, host) == golden


def test_unit_text_renders_the_golden_units(host):
    """module_utils' unit_text(), which every module calls, gives the same bytes."""
    golden = json.loads(GOLDEN.read_text())
    for case, unit in CASES.items():
        content, config_hash = quadlet.unit_text(
            unit["name"], unit["sections"], unit.get("restart_on", ()),
            unit.get("restart_on_extra", ()),
        )
        assert {"content": content, "config_hash": config_hash} == golden[case], case


def test_only_the_hash_label_differs():
    golden = json.loads(GOLDEN.read_text())["container_definition_only"]["content"]
    relabelled = golden.replace("config-hash=46b8", "config-hash=0000")
    assert quadlet.only_hash_label_differs(golden, relabelled)
    assert not quadlet.only_hash_label_differs(None, relabelled)
    assert not quadlet.only_hash_label_differs(golden, relabelled.replace("=30", "=31"))


def test_restart_on_is_refused_for_a_network():
    with pytest.raises(ValueError, match="only supported for .container units, not lgtm.network"):
        quadlet.unit_text("lgtm.network", {"Network": {}}, ["conf"])
