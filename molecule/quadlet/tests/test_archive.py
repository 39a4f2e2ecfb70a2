"""Images from the controller (lgtm_image_archives) on a host that has no registry.

Each archive holds an image of its own (built on the host from the test image, saved,
fetched, then removed from the host), so the host's store lacks it until a run loads it.
Tests run in file order and build on each other; the last one removes what they made.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from lgtm_molecule import container_identity, image_for, run_playbook

C = "lgtm-testsvc-c"
ARCHIVED = "localhost/lgtm-archive/testsvc:1.35.0"
NEXT = "localhost/lgtm-archive/testsvc:1.35.1"
STAGING = "/var/lib/lgtm/.state/images"
# The valid archive of NEXT, made once for the check-mode and corrupt-archive tests.
NEXT_ARCHIVE: dict[str, Any] = {}


def has_image(host, reference: str) -> bool:
    return host.run(f"podman image exists {reference}").rc == 0


def staged_files(host) -> str:
    return host.run(f"ls -A {STAGING} 2>/dev/null").stdout.strip()


def make_archive(host, reference: str, directory: Path) -> tuple[Path, str, str]:
    """(archive on the controller, its SHA-256, the image's id); the host keeps no copy."""
    build = host.run(
        f"printf 'FROM {image_for('testsvc')}\\nLABEL lgtm.test.archive={reference}\\n' | "
        f"podman build --pull=never -t {reference} -f - /tmp"
    )
    assert build.rc == 0, build.stderr
    image_id = host.run(f"podman image inspect --format '{{{{.Id}}}}' {reference}").stdout.strip()
    saved = host.run(f"podman save -o /root/archive.tar {reference}"
                     " && base64 -w0 /root/archive.tar")
    host.run("rm -f /root/archive.tar")
    assert saved.rc == 0, saved.stderr
    assert host.run(f"podman rmi {reference}").rc == 0
    assert not has_image(host, reference)
    path = directory / (reference.rsplit("/", 1)[-1].replace(":", "-") + ".tar")
    path.write_bytes(base64.b64decode(saved.stdout))
    return path, hashlib.sha256(path.read_bytes()).hexdigest(), image_id


def archives(reference: str, path: Path, sha256: str) -> dict[str, object]:
    return {"lgtm_image_archives": {reference: {"path": str(path), "sha256": sha256}}}


def test_service_runs_from_the_archive_and_the_copy_is_removed(root, tmp_path_factory):
    path, sha256, image_id = make_archive(root, ARCHIVED, tmp_path_factory.mktemp("archives"))
    result = run_playbook("archive.yml", archives(ARCHIVED, path, sha256))
    result.assert_ok()
    page = root.run("curl -sf http://127.0.0.1:18082/index.html").stdout.strip()
    assert page == "lgtm archive page"
    assert root.run(f"podman inspect --format '{{{{.Image}}}}' {C}").stdout.strip() == image_id
    assert staged_files(root) == ""
    # The image is there now: nothing is copied again, nothing changes or restarts.
    before = container_identity(root, C)
    again = run_playbook("archive.yml", archives(ARCHIVED, path, sha256))
    again.assert_ok()
    assert again.changed == 0, again.output[-4000:]
    assert container_identity(root, C) == before


def assert_untouched(root, before: tuple[str, str, int]) -> None:
    assert container_identity(root, C) == before, f"{C} was restarted"
    unit = root.file(f"/etc/containers/systemd/{C}.container").content_string
    assert f"Image={ARCHIVED}" in unit
    assert root.file("/etc/lgtm/testsvc-c/index.html").content_string == "lgtm archive page\n"
    assert not has_image(root, NEXT)
    assert staged_files(root) == ""


def test_check_mode_copies_and_loads_nothing(root, tmp_path_factory):
    path, sha256, _image_id = make_archive(root, NEXT, tmp_path_factory.mktemp("next"))
    NEXT_ARCHIVE.update(path=path, sha256=sha256)
    before = container_identity(root, C)
    result = run_playbook("archive.yml", {**archives(NEXT, path, sha256), "archive_image": NEXT},
                          check=True)
    result.assert_ok()
    assert f"would copy {path} and load {NEXT}" in result.output
    assert_untouched(root, before)


def test_corrupt_archive_fails_naming_the_file_and_leaves_the_service(root, tmp_path_factory):
    path = tmp_path_factory.mktemp("corrupt") / "testsvc-1.35.1.tar"
    data = bytearray(NEXT_ARCHIVE["path"].read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    before = container_identity(root, C)
    # A new pin and a new page: without the bad archive this run would restart the service.
    extra = {**archives(NEXT, path, NEXT_ARCHIVE["sha256"]), "archive_image": NEXT,
             "archive_page": "lgtm next page"}
    result = run_playbook("archive.yml", extra)
    assert result.rc != 0
    assert f"{path} (lgtm_image_archives" in result.output
    assert "a corrupt or different archive; nothing was loaded" in result.output
    assert_untouched(root, before)
    # Cut short with a SHA-256 that matches the cut file: Podman refuses it, and the
    # failure names the controller's file too.
    path.write_bytes(bytes(data[: len(data) // 2]))
    truncated = hashlib.sha256(path.read_bytes()).hexdigest()
    result = run_playbook("archive.yml", {**extra, **archives(NEXT, path, truncated)})
    assert result.rc != 0
    assert f"podman load of {path}" in result.output
    assert_untouched(root, before)


def test_removal_leaves_no_archive_images(root):
    result = run_playbook("archive.yml", {"archive_state": "absent"})
    result.assert_ok()
    assert not root.file(f"/etc/containers/systemd/{C}.container").exists
    assert root.run(f"podman rmi {ARCHIVED}").rc == 0
    assert not has_image(root, ARCHIVED)
