"""The version parsing behind upgrade.yml's major-version guard."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.filter.image import (
    image_change,
    image_tag,
    image_version,
)


@pytest.mark.parametrize(
    ("reference", "tag"),
    [
        ("docker.io/grafana/alloy:v1.18.1", "v1.18.1"),
        ("registry.local:5000/grafana/grafana:13.2.2", "13.2.2"),
        ("registry.local:5000/grafana/grafana", ""),
        ("docker.io/library/postgres:18.1@sha256:" + "a" * 64, "18.1"),
        ("docker.io/library/postgres@sha256:" + "a" * 64, ""),
        ("valkey", ""),
    ],
)
def test_image_tag(reference, tag):
    assert image_tag(reference) == tag


@pytest.mark.parametrize(
    ("reference", "version"),
    [
        ("docker.io/grafana/alloy:v1.18.1", [1, 18, 1]),
        ("localhost/lgtm-test/prometheus:3.5", [3, 5, 0]),
        ("docker.io/library/postgres:18.1", [18, 1, 0]),
        ("localhost/lgtm-test/postgres:18", [18, 0, 0]),
        ("docker.io/grafana/grafana:13.2.2-ubuntu", [13, 2, 2]),
        ("docker.io/grafana/grafana:latest", None),
        ("docker.io/grafana/grafana", None),
        ("docker.io/library/postgres@sha256:" + "b" * 64, None),
        ("docker.io/library/busybox:1.37.0-musl", [1, 37, 0]),
        ("example/app:2024a", None),
    ],
)
def test_image_version(reference, version):
    assert image_version(reference) == version


@pytest.mark.parametrize(
    ("previous", "new", "change"),
    [
        ("docker.io/grafana/alloy:v1.18.1", "docker.io/grafana/alloy:v1.18.1", "none"),
        ("docker.io/grafana/alloy:v1.18.1", "docker.io/grafana/alloy:v1.18.2", "patch"),
        ("docker.io/grafana/alloy:v1.18.1", "mirror.local/grafana/alloy:v1.18.1", "patch"),
        ("docker.io/grafana/alloy:v1.18.1", "docker.io/grafana/alloy:v1.21.0", "minor"),
        ("docker.io/grafana/alloy:v1.18.1", "docker.io/grafana/alloy:v2.0.0", "major"),
        ("docker.io/grafana/grafana:13.2.2", "docker.io/grafana/grafana:14.0.0", "major"),
        ("docker.io/grafana/grafana:14.0.0", "docker.io/grafana/grafana:13.2.2", "major"),
        ("docker.io/library/postgres:18.1", "docker.io/library/postgres:19", "major"),
        ("docker.io/prom/prometheus:v3.5.5", "docker.io/prom/prometheus:3.5", "patch"),
        ("docker.io/grafana/grafana:13.2.2", "docker.io/grafana/grafana:latest", "unknown"),
        ("docker.io/library/postgres:18.1", "docker.io/library/postgres@sha256:" + "c" * 64,
         "unknown"),
    ],
)
def test_image_change(previous, new, change):
    assert image_change(previous, new) == change


@pytest.mark.parametrize("bad", ["", None, 18])
def test_a_reference_must_be_a_string(bad):
    with pytest.raises(AnsibleFilterError, match="image reference"):
        image_change(bad, "docker.io/grafana/alloy:v1.18.1")
