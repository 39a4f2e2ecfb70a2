"""Images from archives on the controller: the shape of lgtm_image_archives, the images
units run, and which missing images nothing can provide."""

import pytest
from ansible_collections.lgtm.stack.plugins.filter.image_archive import (
    image_archive_problems,
    image_source_problems,
    unit_images,
)

SHA = "ab" * 32
LOKI = "docker.io/grafana/loki:3.7.6"
KEY = f"lgtm_image_archives['{LOKI}']"
TAR = "/srv/loki.tar"


def test_a_usable_value_has_no_problems():
    assert image_archive_problems({}) == []
    assert image_archive_problems({LOKI: {"path": TAR, "sha256": SHA.upper()}}) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([TAR], "lgtm_image_archives must be a dict"),
        ({LOKI: TAR}, f"{KEY} must be a dict with path and sha256"),
        ({LOKI: {"path": TAR}}, f"{KEY}.sha256 is missing"),
        ({LOKI: {"path": TAR, "sha256": "abc"}}, f"{KEY}.sha256 must be 64 hex"),
        ({LOKI: {"path": TAR, "sha256": "g" * 64}}, "sha256 must be 64 hex digits"),
        ({LOKI: {"path": TAR, "sha256": SHA[1:]}}, "sha256 must be 64 hex digits"),
        ({LOKI: {"path": "loki.tar", "sha256": SHA}}, f"{KEY}.path must be the absolute"),
        ({LOKI: {"sha256": SHA}}, ".path must be the absolute path"),
        ({LOKI: {"path": TAR, "sha256": SHA, "size": 1}}, "unknown keys size"),
        ({"docker.io/grafana/loki@sha256:" + SHA: {"path": TAR, "sha256": SHA}},
         "pinned by digest cannot come from an archive"),
        ({"docker.io/grafana/loki": {"path": TAR, "sha256": SHA}}, "needs a tag"),
        ({" " + LOKI: {"path": TAR, "sha256": SHA}}, "without spaces"),
    ],
)
def test_each_problem_names_the_variable_and_key(value, expected):
    problems = image_archive_problems(value)
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_a_registry_port_is_not_taken_for_a_tag():
    reference = "registry.local:5000/grafana/loki"
    problems = image_archive_problems({reference: {"path": "/a", "sha256": SHA}})
    assert problems and "needs a tag" in problems[0]


def test_unit_images_in_order_once_each():
    units = [
        {"name": "a.container",
         "sections": {"Unit": {"Description": "x"}, "Container": {"Image": LOKI}}},
        {"name": "b.network", "sections": {"Network": {"Subnet": "10.0.0.0/24"}}},
        {"name": "c.container", "sections": {"Container": {"Image": "docker.io/library/valkey:8"}}},
        {"name": "d.container", "sections": {"Container": {"Image": LOKI}}},
    ]
    assert unit_images(units) == [LOKI, "docker.io/library/valkey:8"]
    assert unit_images([]) == []


def test_source_problems(tmp_path):
    archive = tmp_path / "loki.tar"
    archive.write_bytes(b"x")
    images = [
        {"variable": "loki_image", "image": LOKI},
        {"variable": "grafana_image", "image": "docker.io/grafana/grafana:13.2.2"},
        {"variable": "alloy_image", "image": "docker.io/grafana/alloy:v1.18.1"},
    ]
    present, absent, error = {"rc": 0}, {"rc": 1}, {"rc": 125}
    archives = {LOKI: {"path": str(archive), "sha256": SHA}}
    # Present, or absent with an archive on the controller, or an error: nothing to say.
    assert image_source_problems(images, [absent, present, error], archives, False) == []
    # Absent without an archive: fine while pulls may fetch it, a problem naming it when not.
    assert image_source_problems(images, [absent, absent, present], archives, True) == []
    problems = image_source_problems(images, [absent, absent, present], archives, False)
    assert len(problems) == 1
    grafana = "docker.io/grafana/grafana:13.2.2 (grafana_image)"
    assert problems[0].startswith(f"{grafana} is not on this host")
    assert "lgtm_image_pull is false" in problems[0]
    # An archive the controller does not have is named, with or without pulls.
    archive.unlink()
    problems = image_source_problems(images, [absent, present, present], archives, True)
    assert problems == [f"{LOKI} (loki_image) is not on this host and its archive {archive} "
                        "(lgtm_image_archives) is not a file on the controller"]
    # No probes (nothing asked): no problems.
    assert image_source_problems(images, [], archives, False) == []
